"""How a Keras model becomes a .tflite file: one object per flavour, built by a named constructor,
applied to a TFLiteConverter in one place."""

from __future__ import annotations

import dataclasses
from typing import Callable, Iterable

from edgecls.errors import EdgeclsError

IO_TYPES = ("int8", "uint8", "float32")


@dataclasses.dataclass(frozen=True)
class Quantization:
    format: str
    optimize: bool = False
    float16: bool = False
    representative: Callable[[], Iterable] | None = None
    input_type: str = "float32"
    output_type: str = "float32"
    per_channel: bool = True

    @classmethod
    def for_float32(cls) -> "Quantization":
        return cls("fp32")

    @classmethod
    def for_float16(cls) -> "Quantization":
        """float16 weights, float32 compute on CPUs (GPU delegates run it in half precision)."""
        return cls("fp16", optimize=True, float16=True)

    @classmethod
    def for_dynamic(cls) -> "Quantization":
        """int8 weights, float activations quantized on the fly: no calibration data needed."""
        return cls("dynamic", optimize=True)

    @classmethod
    def for_int8(cls, representative: Callable[[], Iterable], input_type: str = "uint8",
                 output_type: str = "uint8", per_channel: bool = True) -> "Quantization":
        """Full-integer: weights and activations int8, ranges calibrated on ``representative`` samples.
        uint8 input by default: the model takes 0..255 pixels, which then pass in exactly (scale 1)."""
        for name, value in (("input type", input_type), ("output type", output_type)):
            if value not in IO_TYPES:
                raise EdgeclsError(f"int8 {name} must be one of {', '.join(IO_TYPES)}; received {value!r}")
        return cls("int8", optimize=True, representative=representative, input_type=input_type,
                   output_type=output_type, per_channel=per_channel)

    def apply(self, converter) -> None:
        from edgecls._tf import tf

        t = tf()
        if self.optimize:
            converter.optimizations = [t.lite.Optimize.DEFAULT]
        if self.float16:
            converter.target_spec.supported_types = [t.float16]
        if self.representative is not None:
            converter.representative_dataset = self.representative
            converter.target_spec.supported_ops = [t.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_input_type = getattr(t, self.input_type)
            converter.inference_output_type = getattr(t, self.output_type)
            if not self.per_channel:
                converter._experimental_disable_per_channel = True
