"""``python -m edgecls.bench.worker``: one latency measurement per process (see measure.py).

Reads a LatencyRequest as JSON on stdin and prints one JSON line on stdout: the result, or {"error": ...}.
"""

from __future__ import annotations

import json
import sys

from edgecls.bench.measure import LatencyRequest, time_tflite
from edgecls.errors import EdgeclsError


def main() -> int:
    try:
        request = LatencyRequest.from_json(sys.stdin.read())
        if request.model.endswith(".keras"):
            from edgecls.bench.keras import time_keras

            result = time_keras(request)
        else:
            result = time_tflite(request)
    except EdgeclsError as exc:
        print(json.dumps({"error": str(exc)}), flush=True)
        return 1
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
