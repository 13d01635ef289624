"""Does MediaPipe Tasks' ImageClassifier give the same top-1 labels as edgecls for one of its .tflite models?

    python bench/mediapipe_check.py MODEL.tflite [--data ../shared/datasets/cifar10-jpeg.zip] [--per-class 2]
        [--at-input-size]

Takes the first --per-class images of every class of the --split split (edgecls' own data loader), and classifies
each with edgecls' Classifier and with MediaPipe's ImageClassifier (max_results=1), which reads only the model's
TFLite Metadata (labels, normalization). MediaPipe gets the original decoded image (full size, RGB, EXIF applied)
and does its own resizing. Its default is to stretch the whole image to the input size, while edgecls centre-crops
(fit "crop"), so MediaPipe is given a region of interest (ImageProcessingOptions.region_of_interest): the same
centred box of the model's aspect ratio that edgecls crops. A square image for a square model is taken whole.
Scores still differ a little wherever the image is resized: MediaPipe resamples with its own bilinear warp, without
the antialiasing of edgecls' Pillow resize, so a top-1 can flip on a large photo whose top two classes are close.
With --at-input-size both are given the same image already fitted to the model's input by edgecls, so neither
resamples: that separates "does MediaPipe read the file as edgecls does" (labels, normalization, quantization,
the graph) from the two resizers. Prints a Markdown table and the agreement. Needs ``pip install mediapipe ai-edge-litert pillow numpy``;
never imports TensorFlow.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
try:
    import edgecls  # noqa: F401  (installed in this environment)
except ImportError:
    sys.path.insert(0, str(ROOT))


def crop_box(width: int, height: int, size: tuple[int, int]) -> tuple[float, float, float, float]:
    """(left, top, right, bottom), normalized: the centred box of ``size``'s aspect ratio that edgecls crops."""
    target, aspect = size[0] / size[1], width / height
    if aspect > target:
        half = target / aspect / 2
        return 0.5 - half, 0.0, 0.5 + half, 1.0
    half = aspect / target / 2
    return 0.0, 0.5 - half, 1.0, 0.5 + half


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "datasets" / "cifar10-jpeg.zip"))
    parser.add_argument("--split", default="test")
    parser.add_argument("--per-class", type=int, default=2)
    parser.add_argument("--at-input-size", action="store_true",
                        help="Give both the image fitted to the model's input by edgecls (no resizing by either).")
    args = parser.parse_args(argv)

    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions
    from mediapipe.tasks.python.components.containers.rect import RectF
    from mediapipe.tasks.python.vision import ImageClassifier, ImageClassifierOptions, ImageProcessingOptions

    from edgecls.data import load_dataset
    from edgecls.data.images import load_image
    from edgecls.runtime import Classifier
    from edgecls.runtime.classifier import Category

    classifier = Classifier(args.model)
    crop = classifier.meta.input.fit == "crop"
    options = ImageClassifierOptions(base_options=BaseOptions(model_asset_path=str(args.model)), max_results=1)
    dataset = load_dataset(args.data)
    split = dataset.split(args.split)
    if split.read is None:
        sys.exit("this check needs a source of image files (a folder or archive), not pre-decoded pixels")
    picks = [int(i) for c in range(dataset.num_classes) for i in np.flatnonzero(split.labels == c)[:args.per_class]]

    rows, same = [], 0
    with ImageClassifier.create_from_options(options) as mp_classifier:
        for i in picks:
            data, name = split.read(i), split.paths[i]
            ours = classifier.classify(data, top_k=1, name=name).top[0]
            pixels = np.ascontiguousarray(load_image(data, name=name))  # original size, RGB, EXIF applied
            if args.at_input_size:
                pixels = np.ascontiguousarray(classifier.prepare(data, name))
                probs, _ = classifier.probabilities(pixels)
                ours = Category(classifier.labels[int(probs.argmax())], float(probs.max()))
            h, w = pixels.shape[:2]
            roi = None
            if crop and w * classifier.size[1] != h * classifier.size[0]:
                left, top, right, bottom = crop_box(w, h, classifier.size)
                roi = ImageProcessingOptions(region_of_interest=RectF(left=left, top=top, right=right, bottom=bottom))
            image = mp.Image(image_format=mp.ImageFormat.SRGB, data=pixels)
            found = mp_classifier.classify(image, roi).classifications[0].categories
            if found:
                theirs = found[0]
                label = theirs.category_name or theirs.display_name or classifier.labels[theirs.index]
                mp_cell = f"{label} ({theirs.score:.3f})"
            else:
                label, mp_cell = None, "(none)"
            agree = label == ours.label
            same += agree
            rows.append(f"| {name.split('!')[-1]} | {ours.label} ({ours.score:.3f}) | {mp_cell} "
                        f"| {'yes' if agree else '**no**'} |")

    if "tensorflow" in sys.modules:
        print("error: TensorFlow was imported; this check must run on the device-side install", file=sys.stderr)
        return 1
    print(f"model: {args.model}\ndata: {args.data} ({args.split}, {args.per_class} per class)\n"
          f"mediapipe: {mp.__version__}; edgecls fit: {classifier.meta.input.fit} to "
          f"{classifier.size[0]}x{classifier.size[1]}\n")
    print("| image | edgecls label (score) | MediaPipe label (score) | same? |\n|---|---|---|---|")
    print("\n".join(rows))
    print(f"\nagreement: {same}/{len(picks)} top-1 labels")
    return 0


if __name__ == "__main__":
    sys.exit(main())
