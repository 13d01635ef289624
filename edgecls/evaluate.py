"""``evaluate(model, data)``: the full classification report of a .tflite file, a .keras file or a run folder.

A .tflite file is run by the edge runtime (no TensorFlow); Keras models need the [train] extra.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np

from edgecls.data import DataOptions, load_dataset
from edgecls.data.decode import decode_split
from edgecls.errors import EdgeclsError
from edgecls.metrics import classification_report


class _Predictor:
    """Labels, input size and a batch predict function for either kind of model."""

    def __init__(self, path: Path, threads: int | None = None):
        self.path = path
        if path.suffix == ".tflite":
            from edgecls.runtime import Classifier

            classifier = Classifier(path, threads)
            self.labels, self.size, self.fit = classifier.labels, classifier.size, classifier.meta.input.fit
            self.predict = classifier.predict
            return
        from edgecls.models.checks import load_model
        from edgecls.train import runs

        run_dir = path if path.is_dir() else path.parent
        info = runs.read_run(run_dir)
        model_path = path / runs.MODEL if path.is_dir() else path
        model = load_model(model_path)
        self.labels, self.size, self.fit = info.classes, info.input_size, info.fit
        self.predict = lambda x: model.predict(x.astype(np.float32), batch_size=256, verbose=0)


class Predictions(NamedTuple):
    probs: np.ndarray     # one row per image, columns in ``labels`` order
    y: np.ndarray         # the true classes as indices into ``labels``
    labels: list[str]     # the model's labels
    skipped: int          # images that could not be read


def predict_split(model: str | Path, data: str, split: str = "test", limit: int | None = None,
                  threads: int | None = None, class_map: str | None = None) -> Predictions:
    """The model's probabilities on a dataset split and the true classes, both in the model's label order."""
    predictor = _Predictor(Path(model), threads)
    dataset = load_dataset(data, DataOptions(class_map=class_map, progress=False))
    part = dataset.split(split)
    if limit and limit < len(part):
        from edgecls.data.dataset import stratified_sample

        part = part.subset(stratified_sample(part.labels, limit, 0))
    missing = [c for c in dataset.classes if c not in predictor.labels]
    if missing:
        raise EdgeclsError(f"{data}: classes {', '.join(missing)} are unknown to {model} (it knows "
                           f"{', '.join(predictor.labels)})")
    pixels, labels, skipped = decode_split(part, predictor.size, predictor.fit)
    for path, reason in skipped:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    # Map the data's class indices onto the model's label order.
    remap = np.array([predictor.labels.index(c) for c in dataset.classes])
    return Predictions(predictor.predict(pixels), remap[labels], list(predictor.labels), len(skipped))


def evaluate(model: str | Path, data: str, split: str = "test", limit: int | None = None,
             threads: int | None = None, class_map: str | None = None) -> dict:
    """Accuracy, macro / weighted precision, recall and F1, loss, per-class figures and the confusion matrix."""
    found = predict_split(model, data, split, limit, threads, class_map)
    report = classification_report(found.y, found.probs.argmax(axis=1), found.labels, found.probs)
    report.update(model=str(model), data=data, split=split, skipped=found.skipped)
    return report
