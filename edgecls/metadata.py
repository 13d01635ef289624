"""What a converted model says about itself: labels, input, preprocessing, provenance and accuracy.

The fields travel inside the .tflite file as a zip of associated files appended to the flatbuffer
(``labels.txt`` and ``edgecls.json``), the place TFLite metadata keeps associated files. The interpreter
ignores the trailing bytes; anyone can list them with ``unzip -l model.tflite``. Reading needs only the
standard library, so the edge runtime never needs TensorFlow to know what a model means.
"""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile
from pathlib import Path

from edgecls.errors import EdgeclsError

SCHEMA = "edgecls/1"
JSON_NAME = "edgecls.json"
LABELS_NAME = "labels.txt"


@dataclasses.dataclass
class InputSpec:
    width: int
    height: int
    colour: str = "rgb"                 # channel order the model expects
    fit: str = "crop"                   # how a photo of another shape is brought to width x height
    # The model takes 0..255 pixels and scales them itself (a Rescaling layer inside the graph), so the
    # caller's normalization is the identity: value = (pixel - mean) / std with mean 0 and std 1.
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)


@dataclasses.dataclass
class ModelMetadata:
    name: str
    labels: list[str]
    input: InputSpec
    format: str = "fp32"
    tta: str = "none"                   # "flip" / "flip-shift": the graph itself averages views (convert/tta.py)
    recipe: dict = dataclasses.field(default_factory=dict)
    accuracy: dict = dataclasses.field(default_factory=dict)
    command: str = ""
    edgecls_version: str = ""
    schema: str = SCHEMA

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelMetadata":
        d = dict(d)
        spec = d.pop("input")
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(input=InputSpec(**spec), **{k: v for k, v in d.items() if k in known})


def attach(model: bytes, meta: ModelMetadata) -> bytes:
    """Return the flatbuffer with the metadata zip appended."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr(LABELS_NAME, "\n".join(meta.labels) + "\n")
        z.writestr(JSON_NAME, json.dumps(meta.to_dict(), indent=1))
    return model + buf.getvalue()


def read(path: str | Path) -> ModelMetadata | None:
    """The metadata of a .tflite file, or None when it carries none (a file edgecls did not make)."""
    try:
        with zipfile.ZipFile(path) as z:
            if JSON_NAME not in z.namelist():
                return None
            return ModelMetadata.from_dict(json.loads(z.read(JSON_NAME)))
    except zipfile.BadZipFile:
        return None
    except (KeyError, TypeError, ValueError) as exc:
        raise EdgeclsError(f"{path}: unreadable edgecls metadata ({exc})") from None
    except OSError as exc:
        raise EdgeclsError(f"{path}: cannot read ({exc.strerror or exc})") from None
