"""The Keras side of the comparison: ``model.predict`` on one image and per image on a batch, and top-1.

Only used when a .keras file is benchmarked; TensorFlow is imported inside (the [train] extra). The figures
sit beside the TFLite rows so users see what the edge runtime buys at batch 1.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from edgecls.bench.measure import (LatencyRequest, latency_stats, ms, peak_rss_mb, random_pixels, runtime_name,
                                   tidy, timed)
from edgecls.errors import EdgeclsError

BATCH_RUNS = 10  # the batched figure is a p50 over at most this many batches: each one is 256 images


def run_info(path: str | Path):
    """Classes, input size and fit of a .keras file, from the config.json of its run folder."""
    from edgecls.train import runs

    path = Path(path)
    if not (path.parent / runs.CONFIG).is_file():
        raise EdgeclsError(f"{path}: a .keras model needs its run folder's {runs.CONFIG} beside it "
                           "(the --out folder of `edgecls train`)")
    return runs.read_run(path.parent)


def load(path: str | Path):
    from edgecls._tf import keras  # MissingExtraError naming the [train] extra when TensorFlow is absent

    try:
        return keras().models.load_model(path, safe_mode=True, compile=False)
    except (OSError, ValueError) as exc:
        raise EdgeclsError(f"{path}: not a loadable Keras model ({str(exc).strip().splitlines()[0]})") from None


def keras_predict(path: str | Path):
    """A batch predict function (N x H x W x 3 uint8 -> probabilities) for accuracy."""
    model = load(path)
    return lambda pixels: model.predict(pixels.astype(np.float32), batch_size=256, verbose=0)


def time_keras(request: LatencyRequest) -> dict:
    """Inside the worker: like time_tflite, with ``model.predict`` on one image, then per image on a batch."""
    from edgecls._tf import tf

    info = run_info(request.model)
    base = peak_rss_mb()
    tf().config.threading.set_intra_op_parallelism_threads(request.threads)
    start = time.perf_counter_ns()
    model = load(request.model)
    init = time.perf_counter_ns() - start
    pixels = request.pixels if request.pixels is not None else random_pixels(info.input_size, request.seed)
    one = pixels[None].astype(np.float32)
    predict = model.predict

    start = time.perf_counter_ns()
    predict(one, verbose=0)
    first = time.perf_counter_ns() - start
    timed(lambda: predict(one, verbose=0), request.warmup)
    result = {"init_ms": ms(init), "first_ms": ms(first), **latency_stats(timed(lambda: predict(one, verbose=0),
                                                                               request.runs))}
    batch = np.repeat(one, request.batch, axis=0)
    predict(batch, batch_size=request.batch, verbose=0)  # warm-up at the batch shape
    per_batch = timed(lambda: predict(batch, batch_size=request.batch, verbose=0), min(request.runs, BATCH_RUNS))
    result["batch_ms"] = float(np.median(per_batch)) / 1e6 / request.batch
    if request.jpeg is not None:
        from edgecls.data.images import load_image

        def photo():
            x = load_image(request.jpeg, info.input_size, info.fit, name="<bench image>")
            predict(x[None].astype(np.float32), verbose=0)

        result["e2e_p50_ms"] = float(np.median(timed(photo, request.runs))) / 1e6
    result.update(peak_mb=peak_rss_mb(), base_mb=base, input_dtype="float32",
                  runtime=runtime_name("tensorflow"))
    return tidy(result)
