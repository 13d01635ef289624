"""Mixed precision: the Keras policy a training run computes in, and the float32 model it saves.

Variables stay float32 under a mixed policy; only the arithmetic runs in bfloat16 or float16. The saved model
and everything exported from it are float32, so a file trained on a GPU or a bfloat16 CPU loads and converts
anywhere the same way.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from edgecls.models.checks import walk_layers

POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}


def cpu_has_bfloat16(cpuinfo: str | Path = "/proc/cpuinfo") -> bool:
    """Whether the CPU multiplies bfloat16 natively (AVX512_BF16 or AMX); False where that cannot be read."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return False
    flags = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags.update(line.partition(":")[2].split())
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def resolve_policy(precision: str, has_gpu: bool) -> str:
    """The Keras policy name for a ``precision`` setting: auto is float16 on a GPU, float32 elsewhere."""
    if precision == "auto":
        return "mixed_float16" if has_gpu else "float32"
    return POLICIES[precision]


def precision_warning(policy: str, has_gpu: bool, native_bfloat16: bool) -> str | None:
    """A one-line warning when the chosen policy will run slower than float32 here."""
    if has_gpu:
        return None
    if policy == "mixed_bfloat16" and not native_bfloat16:
        return ("warning: this CPU has no native bfloat16 (AVX512_BF16 or AMX); bfloat16 training will be slower "
                "than float32 here")
    if policy == "mixed_float16":
        return "warning: float16 without a GPU is emulated and slower than float32; bfloat16 is the CPU choice"
    return None


@contextlib.contextmanager
def compute_policy(policy: str):
    """Build models under ``policy`` inside the block; the previous global policy comes back afterwards."""
    from edgecls._tf import keras

    mp = keras().mixed_precision
    before = mp.global_policy().name
    mp.set_global_policy(policy)
    try:
        yield
    finally:
        mp.set_global_policy(before)


def _float32_config(value):
    """A model config with every layer's dtype policy replaced by float32 (nested models included)."""
    if isinstance(value, list):
        return [_float32_config(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        if key == "dtype" and isinstance(item, dict) and item.get("class_name") in ("Policy", "DTypePolicy"):
            out[key] = "float32"
        elif key == "dtype" and isinstance(item, str) and item.startswith("mixed_"):
            out[key] = "float32"
        else:
            out[key] = _float32_config(item)
    return out


def as_float32(model):
    """``model`` itself when it computes in float32 everywhere, else a float32 copy holding the same weights."""
    if all(layer.dtype_policy.name == "float32" for layer in walk_layers(model)):
        return model
    with compute_policy("float32"):
        copy = type(model).from_config(_float32_config(model.get_config()))
    copy.set_weights(model.get_weights())
    return copy
