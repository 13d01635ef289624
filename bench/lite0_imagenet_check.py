"""Is EfficientNet-Lite0's ImageNet import right? Real photos, the full 1000-class head, and its int8 TFLite twin.

Classifies the 160 Animals-10 sample photos (../shared/datasets/animals10-sample.zip) with the float Keras model and
counts, per class, how many photos have an ImageNet class of the right family (dog breeds for dog, ...) at top 1 and
within the top 5; then converts the model to full-integer TFLite (calibrated on 50 photos of the train split) and
says how often it agrees with the float model. ``--compare`` also scores the conventions the checkpoint was NOT
trained with (PyTorch's symmetric padding, other input normalizations), the evidence for the builder's choices.

Needs ../shared and ``pip install 'edgecls[train,lite0]'``. Run: python bench/lite0_imagenet_check.py [--compare]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from edgecls.data import load_dataset
from edgecls.data.dataset import stratified_sample
from edgecls.data.decode import decode_split

SHARED = Path(__file__).resolve().parents[2] / "shared"
SIZE = 224
CALIBRATION = 50
# ImageNet-1k class indices (0-based, no background) of each Animals-10 class's family.
FAMILIES = {
    "dog": range(151, 269),                     # Chihuahua .. Mexican hairless: the dog breeds
    "horse": (339, 603),                        # sorrel, horse cart
    "elephant": (101, 385, 386),                # tusker, Indian elephant, African elephant
    "butterfly": range(321, 327),               # admiral .. lycaenid
    "chicken": (7, 8),                          # cock, hen
    "cat": range(281, 286),                     # tabby, tiger cat, Persian, Siamese, Egyptian cat
    "cow": (345, 346, 347),                     # ox, water buffalo, bison
    "sheep": (348, 349),                        # ram, bighorn
    "spider": range(72, 78),                    # black and gold garden spider .. wolf spider
    "squirrel": (335,),                         # fox squirrel
}


def photos(shared: Path):
    """All sample photos centre-cropped to SIZE, their class names, and which of them calibrate int8."""
    data = load_dataset(str(shared / "datasets" / "animals10-sample.zip"))
    arrays = {name: decode_split(split, (SIZE, SIZE)) for name, split in data.splits.items()}
    calibration = arrays["train"][0][stratified_sample(arrays["train"][1], CALIBRATION, seed=0)]
    pixels = np.concatenate([arrays[n][0] for n in ("train", "test")])
    labels = np.concatenate([arrays[n][1] for n in ("train", "test")])
    return pixels, [data.classes[i] for i in labels], calibration


def score(probs: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
    """Per photo: right family at top 1, within the top 5, and the probability the model gives that family."""
    top5 = np.argsort(-probs, axis=1)[:, :5]
    family = [np.isin(np.arange(probs.shape[1]), list(FAMILIES[n])) for n in names]
    return {"top1": np.array([f[t[0]] for f, t in zip(family, top5)]),
            "top5": np.array([f[t].any() for f, t in zip(family, top5)]),
            "mass": np.array([p[f].sum() for p, f in zip(probs, family)])}


def tflite_probs(flat: bytes, pixels: np.ndarray) -> np.ndarray:
    from edgecls.runtime.classifier import dequantize, quantize
    from edgecls.runtime.interpreter import interpreter_class

    interpreter = interpreter_class()(model_content=flat, num_threads=2)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    rows = []
    for x in pixels:
        interpreter.set_tensor(inp["index"], quantize(x[None].astype(np.float32), inp))
        interpreter.invoke()
        rows.append(dequantize(interpreter.get_tensor(out["index"])[0], out))
    return np.stack(rows)


def summary(s: dict[str, np.ndarray]) -> str:
    n = len(s["top1"])
    return (f"top-1 family {s['top1'].sum()}/{n}, top-5 family {s['top5'].sum()}/{n}, "
            f"mean family probability {s['mass'].mean():.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=SHARED)
    parser.add_argument("--compare", action="store_true", help="also score the conventions not chosen")
    args = parser.parse_args()

    from edgecls.convert.converter import representative_data, to_tflite
    from edgecls.convert.quantization import Quantization
    from edgecls.models.efficientnet_lite import MEAN, STD, efficientnet_lite, lite0_checkpoint

    labels = (args.shared / "weights" / "imagenet_labels.txt").read_text().splitlines()[1:]  # drop "background"
    pixels, names, calibration = photos(args.shared)
    model = efficientnet_lite("lite0", weights="imagenet", input_shape=(SIZE, SIZE, 3))
    probs = model.predict(pixels.astype(np.float32), batch_size=16, verbose=0)
    float_score = score(probs, names)

    start = time.perf_counter()
    flat = to_tflite(model, Quantization.for_int8(representative_data(calibration)))
    int8_probs = tflite_probs(flat, pixels)
    int8_score = score(int8_probs, names)
    seconds = time.perf_counter() - start

    print(f"EfficientNet-Lite0, ImageNet weights from {lite0_checkpoint().name}, {len(names)} Animals-10 photos, "
          f"centre crop {SIZE}x{SIZE}")
    print(f"{'class':<10} {'photos':>6} {'top-1':>6} {'top-5':>6} {'int8 top-1':>11} {'int8 top-5':>11}  "
          "most frequent float top-1")
    for cls in FAMILIES:
        rows = [i for i, n in enumerate(names) if n == cls]
        top = np.bincount(probs[rows].argmax(axis=1), minlength=probs.shape[1]).argmax()
        print(f"{cls:<10} {len(rows):>6} {float_score['top1'][rows].sum():>6} {float_score['top5'][rows].sum():>6} "
              f"{int8_score['top1'][rows].sum():>11} {int8_score['top5'][rows].sum():>11}  {labels[top].split(',')[0]}")
    print(f"{'total':<10} {len(names):>6} {float_score['top1'].sum():>6} {float_score['top5'].sum():>6} "
          f"{int8_score['top1'].sum():>11} {int8_score['top5'].sum():>11}")
    same = probs.argmax(axis=1) == int8_probs.argmax(axis=1)
    top5, int8_top5 = np.argsort(-probs)[:, :5], np.argsort(-int8_probs)[:, :5]
    overlap = np.mean([len(set(a) & set(b)) / 5 for a, b in zip(top5, int8_top5)])
    print(f"float vs int8 TFLite ({len(flat) / 1e6:.1f} MB, calibrated on {len(calibration)} train-split photos, "
          f"{seconds:.0f} s): same top-1 class {same.sum()}/{len(same)}, top-5 overlap {overlap:.0%}, "
          f"mean total-variation distance {np.abs(probs - int8_probs).sum(axis=1).mean() / 2:.3f}")
    print(f"float: {summary(float_score)}")
    if not args.compare:
        return
    symmetric = efficientnet_lite("lite0", weights="imagenet", input_shape=(SIZE, SIZE, 3), padding="symmetric")
    alternatives = {"padding symmetric (PyTorch k//2)": (symmetric, pixels.astype(np.float32))}
    # Other normalizations, through the chosen model: feed x' such that (x' - MEAN) / STD is the other one's output.
    x = pixels.astype(np.float32)
    imagenet = (x / 255.0 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    alternatives["normalization ImageNet mean/std"] = (model, MEAN + STD * imagenet)
    alternatives["normalization (x - 127.5) / 127.5"] = (model, MEAN + STD * (x - 127.5) / 127.5)
    alternatives["normalization x / 255"] = (model, MEAN + STD * x / 255.0)
    for what, (m, inputs) in alternatives.items():
        print(f"{what}: {summary(score(m.predict(inputs.astype(np.float32), batch_size=16, verbose=0), names))}")


if __name__ == "__main__":
    main()
