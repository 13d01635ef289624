"""Training settings: one typed object the library takes and the command line builds."""

from __future__ import annotations

import dataclasses

OPTIMIZERS = ("adam", "sgd", "rmsprop", "adadelta")
SCHEDULES = ("constant", "cosine", "onecycle", "linear")
AUGMENTATIONS = ("none", "flip", "flip-crop", "flip-rotate-zoom", "flip-crop-scale", "flip-crop-cutout")
DISTRIBUTE = ("auto", "mirrored", "none")
PRECISIONS = ("auto", "float32", "bfloat16", "float16")
FLIPS = ("random", "alternate")


@dataclasses.dataclass
class TrainConfig:
    model: str
    data: str
    model_options: dict = dataclasses.field(default_factory=dict)   # passed to the model builder
    epochs: int = 30
    batch_size: int = 128
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    momentum: float = 0.9              # sgd (Nesterov); rmsprop runs without momentum
    schedule: str = "constant"
    warmup_fraction: float = 0.25      # onecycle, linear: share of the steps spent rising to the peak rate
    weight_decay: float = 0.0          # decoupled, applied by the optimizer
    label_smoothing: float = 0.0
    lookahead: bool = False            # airbench's weight averaging (edgecls/train/callbacks.py, Lookahead)
    whiten_bias_epochs: int = 0        # train the frozen whitening stem's bias for the first N epochs (airbench: 3)
    augment: str = "none"
    crop_pixels: int | None = None     # the crop's largest shift in pixels; None: 1/8 of the side (4 on CIFAR-10)
    flips: str = "random"              # random | alternate (airbench: each image's side switches every epoch)
    input_size: int | None = None      # square side the images are decoded to; None keeps the source size (CIFAR)
    val_fraction: float = 0.1          # held out of train when the data has no val/ split
    limit: int | None = None           # use at most this many training images (quick runs)
    seed: int = 0
    early_stopping_patience: int = 8   # on val_accuracy, restoring the best weights
    reduce_lr_patience: int = 4        # reduce-on-plateau, constant schedule only
    reduce_lr_factor: float = 0.2
    min_learning_rate: float = 1e-6
    class_map: str | None = None
    # Two-phase transfer learning: after ``epochs`` with the base frozen, unfreeze part of it and continue.
    fine_tune_epochs: int = 0
    fine_tune_learning_rate: float = 1e-5
    unfreeze_last: int | None = None        # the last N layers of the base ...
    unfreeze_from: str | None = None        # ... or from this layer name on ...
    unfreeze_fraction: float | None = None  # ... or the top fraction of its layers (0.1 = "top 10%")
    distribute: str = "auto"                # auto: MirroredStrategy when several GPUs are visible
    deterministic: bool = False             # deterministic TensorFlow ops (slower)
    # Compute type (variables stay float32): auto is float16 on a GPU, else float32. bfloat16 trained resnet9-s
    # 1.7x as fast on a CPU with native bfloat16 (AVX512_BF16; bench/precision.py). model.keras is always float32.
    precision: str = "auto"
    recipe: str | None = None               # the recipe this config came from, for the record

    def __post_init__(self) -> None:
        from edgecls.errors import EdgeclsError

        for field, choices in (("optimizer", OPTIMIZERS), ("schedule", SCHEDULES), ("augment", AUGMENTATIONS),
                               ("distribute", DISTRIBUTE), ("precision", PRECISIONS), ("flips", FLIPS)):
            value = getattr(self, field)
            if value not in choices:
                raise EdgeclsError(f"{field} must be one of {', '.join(choices)}; received {value!r}")
        if self.epochs < 1 or self.batch_size < 1:
            raise EdgeclsError(f"epochs and batch size must be positive; received {self.epochs}, {self.batch_size}")
        if self.whiten_bias_epochs < 0:
            raise EdgeclsError(f"whiten bias epochs must be 0 or more; received {self.whiten_bias_epochs}")
        if self.crop_pixels is not None and self.crop_pixels < 1:
            raise EdgeclsError(f"crop pixels must be a positive whole number; received {self.crop_pixels}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise EdgeclsError(f"val fraction must be in [0, 1); received {self.val_fraction}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        from edgecls.errors import EdgeclsError

        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise EdgeclsError(f"unknown training setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**values)
