"""Which input size fits a latency budget? Full-integer .tflite graphs of one registered model at several sizes.

    python bench/size_probe.py mobilenetv2 128 144 160 --option alpha=1.0 --option head=dense --out runs/probe
    edgecls bench runs/probe/*.tflite --threads 2 --runs 200 --warmup 20

Builds the model with its input at each size (transfer models see it directly, no Resizing layer; the same graph
`edgecls convert --input-size N` exports from a model trained with base_size N), leaves the weights as they are
(untrained head; ImageNet bases need ../shared/weights/install-keras-cache for weights=imagenet, the default) and
converts it to int8 calibrated on random pixels. The accuracy of these files means nothing; their latency is the
trained model's, since the graph and the tensor shapes are the same. Needs ``pip install 'edgecls[train]'``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from edgecls.cli.options import key_value

CALIBRATION = 20


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a registered model (edgecls models)")
    parser.add_argument("sizes", nargs="+", type=int, help="square input sizes in pixels")
    parser.add_argument("--option", action="append", type=key_value, default=[], help="model option key=value")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--out", default="runs/size-probe")
    args = parser.parse_args(argv)

    from edgecls.convert.converter import representative_data, to_tflite
    from edgecls.convert.quantization import Quantization
    from edgecls.fileio import write_bytes
    from edgecls.models.registry import create_model, list_models

    options = dict(args.option)
    transfer = any(entry.kind == "transfer" for entry in list_models(args.model))
    rng = np.random.default_rng(0)
    for size in args.sizes:
        if transfer:
            options["base_size"] = size
        model = create_model(args.model, (size, size, 3), args.classes, **options)
        pixels = rng.integers(0, 256, (CALIBRATION, size, size, 3)).astype(np.float32)
        path = Path(args.out) / f"{args.model}-{size}-int8.tflite"
        write_bytes(path, to_tflite(model, Quantization.for_int8(representative_data(pixels))))
        print(f"{size}x{size}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
