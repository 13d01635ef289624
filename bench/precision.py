"""Training throughput of registered models in float32 against mixed bfloat16 on this CPU.

    python bench/precision.py [--models resnet9-xs,resnet9-s,resnet9] [--batch 256] [--steps 12] [--size 32]

Each (model, precision) pair trains in a fresh process (the Keras policy is global) on random pixels with the fast
recipes' optimizer, SGD-Nesterov: a few warm-up steps, then --steps timed steps. Prints images per second and the
speed-up, and whether the CPU reports native bfloat16 (AVX512_BF16 or AMX); without it bfloat16 is emulated.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHILD = """
import time
import numpy as np
from edgecls._tf import keras, tf
from edgecls.models import create_model
from edgecls.models.precision import compute_policy

k = keras()
with compute_policy({policy!r}):
    model = create_model({model!r}, ({size}, {size}, 3), 10)
    model.compile(optimizer=k.optimizers.SGD(0.05, momentum=0.9, nesterov=True), loss="categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = (rng.random(({batch} * 4, {size}, {size}, 3)) * 255).astype("float32")
    y = k.utils.to_categorical(rng.integers(0, 10, len(x)), 10)
    ds = tf().data.Dataset.from_tensor_slices((x, y)).batch({batch}).repeat()
    model.fit(ds, steps_per_epoch=3, epochs=1, verbose=0)
    start = time.perf_counter()
    model.fit(ds, steps_per_epoch={steps}, epochs=1, verbose=0)
    print({steps} * {batch} / (time.perf_counter() - start))
"""


def images_per_second(model: str, policy: str, batch: int, steps: int, size: int) -> float:
    code = CHILD.format(model=model, policy=policy, batch=batch, steps=steps, size=size)
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, cwd=ROOT)
    if done.returncode:
        raise SystemExit(f"{model} in {policy} failed: {done.stderr.strip().splitlines()[-1]}")
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="resnet9-xs,resnet9-s,resnet9")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--size", type=int, default=32)
    args = parser.parse_args()
    from edgecls.models.precision import cpu_has_bfloat16

    print(f"native bfloat16 on this CPU: {'yes' if cpu_has_bfloat16() else 'no'}; batch {args.batch}, "
          f"{args.size}x{args.size}, {args.steps} timed steps")
    print("| model | float32 img/s | bfloat16 img/s | speed-up |")
    print("|---|---:|---:|---:|")
    for model in args.models.split(","):
        f32 = images_per_second(model, "float32", args.batch, args.steps, args.size)
        bf16 = images_per_second(model, "mixed_bfloat16", args.batch, args.steps, args.size)
        print(f"| {model} | {f32:.0f} | {bf16:.0f} | {bf16 / f32:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
