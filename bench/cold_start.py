"""Cold start of `edgecls classify` on one photo against the Python floor it stands on.

    python bench/cold_start.py [--runs 20] [--image examples/dog.jpg] [--model M.tflite]

Runs each command --runs times as a fresh process and prints the median and min wall time (ms):
`python -c "import numpy, PIL.Image"` (what any such tool pays), the same plus the LiteRT interpreter import,
and `edgecls classify` from process start to printed label.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def wall_ms(cmd: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append((time.perf_counter() - start) * 1000)
    return times


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--image", default=str(ROOT / "examples" / "dog.jpg"))
    parser.add_argument("--model")
    args = parser.parse_args(argv)
    py = sys.executable
    classify = [py, "-m", "edgecls", "classify", args.image] + (["--model", args.model] if args.model else [])
    commands = {
        'python -c "import numpy, PIL.Image"': [py, "-c", "import numpy, PIL.Image"],
        "... + ai_edge_litert.interpreter": [py, "-c", "import numpy, PIL.Image, ai_edge_litert.interpreter"],
        "edgecls classify " + Path(args.image).name: classify,
    }
    wall_ms(classify, 2)  # warm the file cache once
    print(f"| command | median ms | min ms | runs |\n|---|---:|---:|---:|")
    for name, cmd in commands.items():
        t = wall_ms(cmd, args.runs)
        print(f"| `{name}` | {statistics.median(t):.0f} | {min(t):.0f} | {args.runs} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
