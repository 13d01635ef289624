"""``convert(run_dir, formats, out_dir)``: every requested TFLite flavour, verified against the Keras model."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Callable

import numpy as np

from edgecls import __version__
from edgecls import metadata as md
from edgecls.convert.quantization import Quantization
from edgecls.tflite_metadata import populate
from edgecls.data import DataOptions, load_dataset
from edgecls.data.dataset import stratified_sample
from edgecls.data.decode import decode_split
from edgecls.errors import EdgeclsError
from edgecls.fileio import write_bytes, write_json
from edgecls.registry import Registry
from edgecls.train import runs


@dataclasses.dataclass(frozen=True)
class ConvertOptions:
    formats: tuple[str, ...] = ("int8",)
    calibration_samples: int = 500
    verify_samples: int = 1000
    input_type: str = "uint8"
    output_type: str = "uint8"
    per_channel: bool = True
    threshold: float = 0.01            # largest top-1 drop against Keras before a format is flagged
    strict: bool = False               # a flagged format is an error instead of a warning
    data: str | None = None            # overrides the run's own data source
    seed: int = 0
    qat_epochs: int = 2
    qat_learning_rate: float = 1e-4
    qat_limit: int | None = None       # fine-tune QAT on at most this many training images
    input_size: int | None = None      # export at this square input instead of the training size (resize.py)
    tta: str = "none"                  # test-time augmentation in the exported graph (tta.py): none | flip


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def representative_data(calibration: np.ndarray):
    """The converter's calibration callback: one float32 image (batch 1) at a time.

    The first sample gets one black and one white pixel, so the calibrated input range is exactly 0..255
    and a uint8 input passes raw pixels with scale 1 and zero point 0, as clients such as MediaPipe assume
    (they feed raw pixels to uint8 inputs and ignore the input's quantization parameters).
    """
    def samples():
        for i, x in enumerate(calibration):
            x = x.astype(np.float32)
            if i == 0:
                x = x.copy()
                x[0, 0], x[-1, -1] = 0.0, 255.0
            yield [x[None]]

    return samples


def _int8(calibration, o):
    return Quantization.for_int8(representative_data(calibration), o.input_type, o.output_type, o.per_channel)


@dataclasses.dataclass(frozen=True)
class Format:
    """How one flavour is made: its Quantization from (calibration pixels, options), and for QAT a
    fine-tuning step that turns the Keras model into a quantization-aware one first."""

    quantization: Callable
    quantization_aware: bool = False


QUANTIZERS: Registry[Format] = Registry("format")
QUANTIZERS.register("fp32")(Format(lambda calibration, o: Quantization.for_float32()))
QUANTIZERS.register("fp16")(Format(lambda calibration, o: Quantization.for_float16()))
QUANTIZERS.register("dynamic")(Format(lambda calibration, o: Quantization.for_dynamic()))
QUANTIZERS.register("int8")(Format(_int8))
QUANTIZERS.register("qat")(Format(_int8, quantization_aware=True))
FORMATS = ("fp32", "fp16", "dynamic", "int8", "qat")


def to_tflite(model, quantization: Quantization) -> bytes:
    from edgecls._tf import tf

    converter = tf().lite.TFLiteConverter.from_keras_model(model)
    quantization.apply(converter)
    try:
        return converter.convert()
    except Exception as exc:  # the converter raises many unrelated types; keep the first line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise EdgeclsError(f"{model.name}: TFLite conversion to {quantization.format} failed ({first})") from None


def _model_and_run(source: Path):
    """A run folder, or a .keras file inside one (its config.json gives labels, input size and data)."""
    from edgecls.models.checks import load_model

    run_dir = source if source.is_dir() else source.parent
    if not source.is_dir() and source.suffix != ".keras":
        raise EdgeclsError(f"{source}: expected a run folder or a .keras model")
    info = runs.read_run(run_dir)
    model_path = run_dir / runs.MODEL if source.is_dir() else source
    return load_model(model_path), info


def _qat_model(model, info: runs.RunInfo, options: ConvertOptions):
    from edgecls.convert.qat import QatOptions, quantization_aware
    from edgecls.train.config import TrainConfig
    from edgecls.train.trainer import prepare_data

    config = TrainConfig.from_dict({**info.config, "data": options.data or info.data,
                                    "limit": options.qat_limit or info.config.get("limit"),
                                    "input_size": options.input_size or info.config.get("input_size")})
    _, _, arrays = prepare_data(config)
    x, y = arrays["train"]
    qat = QatOptions(options.qat_epochs, options.qat_learning_rate, config.batch_size)
    log(f"qat: fine-tuning {qat.epochs} epoch(s) at {qat.learning_rate:g} on {len(y)} images")
    return quantization_aware(model, x, y, len(info.classes), qat, config.label_smoothing, config.augment, log)


def convert(source: str | Path, out_dir: str | Path, options: ConvertOptions = ConvertOptions(),
            command: str = "") -> list[dict]:
    """Write ``<model>-<format>.tflite`` for every format into ``out_dir``, check each on held-out images
    against the Keras model, and write manifest.json beside them."""
    from edgecls.runtime.classifier import Classifier

    out_dir = Path(out_dir)
    formats = [QUANTIZERS.get(fmt) for fmt in options.formats]  # unknown names fail before any work
    model, info = _model_and_run(Path(source))
    if options.input_size and (options.input_size,) * 2 != tuple(info.input_size):
        from edgecls.convert.resize import with_input_size

        log(f"{info.model}: exported at {options.input_size}x{options.input_size} "
            f"(trained at {info.input_size[0]}x{info.input_size[1]})")
        model = with_input_size(model, options.input_size)
        info = dataclasses.replace(info, input_size=(options.input_size, options.input_size))
    from edgecls.convert.tta import with_tta

    exported = with_tta(model, options.tta)  # fails on an unknown name before any work
    data = options.data or info.data
    dataset = load_dataset(data, DataOptions(class_map=info.config.get("class_map"), seed=options.seed,
                                             progress=False))
    if dataset.classes != info.classes:
        raise EdgeclsError(f"{data}: its classes {dataset.classes} differ from the model's {info.classes}")
    train = dataset.split("train")
    calib = train.subset(stratified_sample(train.labels, options.calibration_samples, options.seed))
    calibration, _, _ = decode_split(calib, info.input_size, info.fit)
    held = dataset.split("test" if "test" in dataset.splits else "train")
    held = held.subset(stratified_sample(held.labels, options.verify_samples, options.seed + 1))
    x_check, y_check, _ = decode_split(held, info.input_size, info.fit)
    keras_pred = exported.predict(x_check.astype(np.float32), batch_size=256, verbose=0).argmax(axis=1)
    keras_top1 = float((keras_pred == y_check).mean())

    manifest = []
    for fmt, spec in zip(options.formats, formats):
        # QAT fine-tunes the plain model (tfmot cannot annotate a nested one); the TTA wrapper goes on after.
        source_model = (with_tta(_qat_model(model, info, options), options.tta) if spec.quantization_aware
                        else exported)
        flat = to_tflite(source_model, spec.quantization(calibration, options))
        meta = md.ModelMetadata(
            name=info.model, labels=info.classes,
            input=md.InputSpec(info.input_size[0], info.input_size[1], fit=info.fit),
            format=fmt, tta=options.tta, recipe=info.config, command=command or info.command,
            edgecls_version=__version__)
        path = out_dir / f"{info.model}-{fmt}.tflite"
        write_bytes(path, populate(flat, meta))
        classifier = Classifier(path)
        pred = classifier.predict(x_check).argmax(axis=1)
        top1 = float((pred == y_check).mean())
        meta.accuracy = {"top1": top1, "keras_top1": keras_top1, "agreement": float((pred == keras_pred).mean()),
                         "count": int(len(y_check)), "data": data}
        write_bytes(path, populate(flat, meta))
        entry = {"format": fmt, "path": path.name, "size_bytes": path.stat().st_size, "top1": top1, "count": len(y_check),
                 "keras_top1": keras_top1, "agreement": meta.accuracy["agreement"],
                 "input_dtype": np.dtype(classifier.input["dtype"]).name,
                 "output_dtype": np.dtype(classifier.output["dtype"]).name}
        manifest.append(entry)
        log(f"{fmt:8s} {path}  {entry['size_bytes'] / 1e6:.2f} MB  top-1 {top1:.4f} (Keras {keras_top1:.4f}, "
            f"agreement {entry['agreement']:.4f}, {len(y_check)} images)")
        _check_drop(path, fmt, top1, keras_top1, options)
    write_json(out_dir / "manifest.json", manifest)
    return manifest


def _check_drop(path: Path, fmt: str, top1: float, keras_top1: float, options: ConvertOptions) -> None:
    """A format that lost more than the threshold is reported loudly, or is an error with --strict."""
    if keras_top1 - top1 <= options.threshold:
        return
    advice = "try QAT (--formats qat)" if fmt != "qat" else "try a lower --qat-lr or more QAT epochs"
    message = (f"{path}: {fmt} top-1 {top1:.4f} is {100 * (keras_top1 - top1):.1f} points below float "
               f"({keras_top1:.4f}); try more calibration samples (--calibration-samples), per-channel weights, "
               f"or {advice}")
    if options.strict:
        raise EdgeclsError(message)
    log(f"WARNING: {message}")
