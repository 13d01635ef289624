"""TFLite Metadata for edgecls models: the schema MediaPipe Tasks and the TFLite Task Library read.

``populate`` stores a ``ModelMetadata`` flatbuffer (metadata_schema.fbs, file identifier "M001") in a new
model Buffer named by a ``Model.metadata`` entry "TFLITE_METADATA", and appends the associated files
(``labels.txt``, ``edgecls.json``) as an uncompressed zip after the model flatbuffer, as the TFLite metadata
populator does. The metadata tables are written by hand with ``flatbuffers.Builder``: each helper below
names the slot numbers of its table in metadata_schema.fbs (schema 1.5.0; every field used here exists since
1.0.0, hence ``min_parser_version`` "1.0.0"). ``read_model_metadata`` decodes what ``populate`` wrote.
"""

from __future__ import annotations

import io
import json
import zipfile

import flatbuffers
import numpy as np
from flatbuffers.table import Table

from edgecls import metadata as md
from edgecls.errors import EdgeclsError

try:
    from ai_edge_litert import schema_py_generated as schema
except ImportError:  # pragma: no cover - TensorFlow ships the same generated module
    from tensorflow.lite.python import schema_py_generated as schema

METADATA_NAME = "TFLITE_METADATA"
MIN_PARSER_VERSION = "1.0.0"
AUTHOR = "edgecls"
# Enums of metadata_schema.fbs.
DESCRIPTIONS, TENSOR_AXIS_LABELS = 1, 2                 # AssociatedFileType
COLOUR_SPACES = {"rgb": 1, "gray": 2, "grayscale": 2}   # ColorSpaceType (0 = UNKNOWN)
FEATURE_PROPERTIES, IMAGE_PROPERTIES = 1, 2             # ContentProperties union
NORMALIZATION_OPTIONS = 1                               # ProcessUnitOptions union
# TensorType of the TFLite schema -> numpy dtype.
TENSOR_TYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 6: np.bool_, 7: np.int16,
                9: np.int8}


# ---- writing: one helper per metadata table ---------------------------------------------------------------

def _table(b: flatbuffers.Builder, fields: list) -> int:
    """A table from (slot, kind, value) triples; offsets (strings, vectors, tables) must be built already."""
    b.StartObject(max(slot for slot, _, _ in fields) + 1)
    for slot, kind, value in fields:
        if value is not None:
            {"off": b.PrependUOffsetTRelativeSlot, "i8": b.PrependInt8Slot, "u8": b.PrependUint8Slot,
             "u32": b.PrependUint32Slot}[kind](slot, value, 0)
    return b.EndObject()


def _vector(b: flatbuffers.Builder, offsets: list[int]) -> int:
    b.StartVector(4, len(offsets), 4)
    for off in reversed(offsets):
        b.PrependUOffsetTRelative(off)
    return b.EndVector()


def _floats(b: flatbuffers.Builder, values) -> int:
    return b.CreateNumpyVector(np.asarray(values, dtype="<f4"))


def _string(b: flatbuffers.Builder, s: str | None) -> int | None:
    return None if s is None else b.CreateString(s)


def _associated_file(b, name: str, description: str, file_type: int) -> int:
    # AssociatedFile: name 0, description 1, type 2, locale 3, version 4
    return _table(b, [(0, "off", _string(b, name)), (1, "off", _string(b, description)), (2, "i8", file_type)])


def _image_content(b, colour_space: int, width: int, height: int) -> int:
    # ImageSize: width 0, height 1; ImageProperties: color_space 0, default_size 1;
    # Content: content_properties_type 0, content_properties 1, range 2
    size = _table(b, [(0, "u32", width), (1, "u32", height)])
    props = _table(b, [(0, "i8", colour_space), (1, "off", size)])
    return _table(b, [(0, "u8", IMAGE_PROPERTIES), (1, "off", props)])


def _feature_content(b) -> int:
    props = _table(b, [(0, "off", None)])                                           # FeatureProperties: no fields
    return _table(b, [(0, "u8", FEATURE_PROPERTIES), (1, "off", props)])


def _normalization(b, mean, std) -> int:
    # NormalizationOptions: mean 0, std 1; ProcessUnit: options_type 0, options 1
    options = _table(b, [(0, "off", _floats(b, mean)), (1, "off", _floats(b, std))])
    return _table(b, [(0, "u8", NORMALIZATION_OPTIONS), (1, "off", options)])


def _stats(b, lo, hi) -> int:
    return _table(b, [(0, "off", _floats(b, hi)), (1, "off", _floats(b, lo))])      # Stats: max 0, min 1


def _tensor(b, name, description, content, process_units=(), stats=None, files=()) -> int:
    # TensorMetadata: name 0, description 1, dimension_names 2, content 3, process_units 4, stats 5, associated_files 6
    return _table(b, [(0, "off", _string(b, name)), (1, "off", _string(b, description)), (3, "off", content),
                      (4, "off", _vector(b, list(process_units)) if process_units else None), (5, "off", stats),
                      (6, "off", _vector(b, list(files)) if files else None)])


# ---- what the model's tensors are -------------------------------------------------------------------------

def _io_tensor(model, which: str):
    sub = model.Subgraphs(0)
    index = sub.Inputs(0) if which == "input" else sub.Outputs(0)
    tensor = sub.Tensors(index)
    q = tensor.Quantization()
    quant = (float(q.Scale(0)), int(q.ZeroPoint(0))) if q is not None and q.ScaleLength() else (0.0, 0)
    return np.dtype(TENSOR_TYPES.get(tensor.Type(), np.float32)), quant


def _in_domain(values, dtype, quant) -> list[float]:
    """Real values as the tensor holds them: unchanged for floats, quantized and clipped for integers."""
    values = np.asarray(values, np.float64)
    if np.issubdtype(dtype, np.floating):
        return values.tolist()
    scale, zero_point = quant
    q = np.round(values / scale + zero_point) if scale else np.round(values)
    info = np.iinfo(dtype)
    return np.clip(q, info.min, info.max).tolist()


def describe(meta: md.ModelMetadata) -> str:
    """One paragraph for ModelMetadata.description: what the model is, its recipe, command and accuracy."""
    text = (f"{meta.name} image classifier: {len(meta.labels)} classes, {meta.format}, "
            f"made by edgecls {meta.edgecls_version}.".replace(" .", "."))
    recipe = {k: v for k, v in meta.recipe.items() if isinstance(v, (str, int, float, bool)) and k != "command"}
    if recipe:
        text += " Recipe: " + ", ".join(f"{k}={v}" for k, v in recipe.items()) + "."
    if meta.command:
        text += f" Command: {meta.command}"
    a = meta.accuracy
    if "top1" in a:
        text += f" Accuracy: top-1 {a['top1']:.4f}"
        text += f" (Keras {a['keras_top1']:.4f})" if "keras_top1" in a else ""
        text += f" on {a.get('count', '?')} images of {a.get('data', '?')}."
    return text


def build_metadata(meta: md.ModelMetadata, input_dtype, input_quant, output_dtype, output_quant=(0.0, 0)) -> bytes:
    """The ModelMetadata flatbuffer (identifier "M001") for an edgecls image classifier."""
    input_dtype, output_dtype = np.dtype(input_dtype), np.dtype(output_dtype)
    spec = meta.input
    mean, std = np.asarray(spec.mean, np.float64), np.asarray(spec.std, np.float64)
    b = flatbuffers.Builder(1024)
    units = [_normalization(b, spec.mean, spec.std)] if np.issubdtype(input_dtype, np.floating) else []
    image = _tensor(
        b, "image", f"RGB image of {spec.width}x{spec.height} pixels (0..255); edgecls fits photos of another "
                    f"shape by '{spec.fit}'. Normalization (pixel - mean) / std with mean {list(spec.mean)} "
                    f"and std {list(spec.std)}" + (": the model scales pixels itself." if not mean.any()
                                                   and (std == 1).all() else "."),
        _image_content(b, COLOUR_SPACES.get(spec.colour.lower(), 0), spec.width, spec.height), units,
        _stats(b, _in_domain((0.0 - mean) / std, input_dtype, input_quant),
               _in_domain((255.0 - mean) / std, input_dtype, input_quant)))
    labels = _associated_file(b, md.LABELS_NAME, "Labels of the output classes, one a line.", TENSOR_AXIS_LABELS)
    probs = _tensor(b, "probability", f"Probabilities of the {len(meta.labels)} labels respectively.",
                    _feature_content(b), (), _stats(b, _in_domain([0.0], output_dtype, output_quant),
                                                    _in_domain([1.0], output_dtype, output_quant)), [labels])
    # SubGraphMetadata: name 0, description 1, input_tensor_metadata 2, output_tensor_metadata 3, ...
    subgraph = _table(b, [(0, "off", _string(b, meta.name)), (2, "off", _vector(b, [image])),
                          (3, "off", _vector(b, [probs]))])
    fields = _associated_file(b, md.JSON_NAME, f"edgecls metadata ({meta.schema}): labels, input, recipe, "
                                               "accuracy and provenance as JSON.", DESCRIPTIONS)
    # ModelMetadata: name 0, description 1, version 2, subgraph_metadata 3, author 4, license 5,
    # associated_files 6, min_parser_version 7
    root = _table(b, [(0, "off", _string(b, meta.name)), (1, "off", _string(b, describe(meta))),
                      (2, "off", _string(b, meta.edgecls_version or "0")), (3, "off", _vector(b, [subgraph])),
                      (4, "off", _string(b, AUTHOR)), (6, "off", _vector(b, [fields])),
                      (7, "off", _string(b, MIN_PARSER_VERSION))])
    b.Finish(root, file_identifier=b"M001")
    return bytes(b.Output())


# ---- the model flatbuffer ---------------------------------------------------------------------------------

class _AlignedBuffer:
    """Packs a BufferT with its data 16-byte aligned, as the TFLite schema asks (force_align: 16)."""

    def __init__(self, data):
        self.data = None if data is None else np.asarray(data, np.uint8).tobytes()

    def Pack(self, b):
        data = None
        if self.data:
            b.StartVector(1, len(self.data), 16)
            b.head -= len(self.data)
            b.Bytes[b.head:b.head + len(self.data)] = self.data
            data = b.EndVector()
        schema.BufferStart(b)
        if data is not None:
            schema.BufferAddData(b, data)
        return schema.BufferEnd(b)


def populate(model: bytes, meta: md.ModelMetadata, input_dtype=None, input_quant=None, output_dtype=None) -> bytes:
    """The model with TFLite Metadata and its associated files. A previous TFLITE_METADATA entry is replaced,
    other metadata entries and all buffers are kept; dtypes and quantization default to the model's own."""
    root = schema.Model.GetRootAs(model, 0)
    out_dtype, out_quant = _io_tensor(root, "output")
    in_dtype, in_quant = _io_tensor(root, "input")
    m = schema.ModelT.InitFromObj(root)
    if any(buf.offset > 1 for buf in m.buffers or []):
        raise EdgeclsError(f"{meta.name}: models with external buffers (over 2 GB) cannot carry metadata")
    flat_meta = build_metadata(meta, in_dtype if input_dtype is None else input_dtype,
                               in_quant if input_quant is None else input_quant,
                               out_dtype if output_dtype is None else output_dtype, out_quant)
    m.buffers = [_AlignedBuffer(buf.data) for buf in m.buffers or []]
    m.metadata = m.metadata or []
    entry = next((e for e in m.metadata if e.name in (METADATA_NAME, METADATA_NAME.encode())), None)
    if entry is None:
        entry = schema.MetadataT()
        entry.name, entry.buffer = METADATA_NAME, len(m.buffers)
        m.buffers.append(None)
        m.metadata.append(entry)
    m.buffers[entry.buffer] = _AlignedBuffer(np.frombuffer(flat_meta, np.uint8))
    b = flatbuffers.Builder(len(model) + len(flat_meta) + 4096)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    out = io.BytesIO()
    out.write(b.Output())
    # Offsets in the zip count from the start of the file, as in files from the TFLite metadata populator.
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        for name, text in ((md.LABELS_NAME, "\n".join(meta.labels) + "\n"),
                           (md.JSON_NAME, json.dumps(meta.to_dict(), indent=1))):
            z.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), text)
    return out.getvalue()


# ---- reading ----------------------------------------------------------------------------------------------

def _field(t: Table, slot: int) -> int:
    return t.Offset(4 + 2 * slot)


def _str(t: Table, slot: int) -> str | None:
    o = _field(t, slot)
    return t.String(o + t.Pos).decode() if o else None


def _sub(t: Table, slot: int) -> Table | None:
    o = _field(t, slot)
    return Table(t.Bytes, t.Indirect(o + t.Pos)) if o else None


def _tables(t: Table | None, slot: int) -> list[Table]:
    o = _field(t, slot) if t is not None else 0
    if not o:
        return []
    start = t.Vector(o)
    return [Table(t.Bytes, t.Indirect(start + 4 * i)) for i in range(t.VectorLen(o))]


def _float_list(t: Table | None, slot: int) -> list[float]:
    o = _field(t, slot) if t is not None else 0
    return t.GetVectorAsNumpy(flatbuffers.number_types.Float32Flags, o).tolist() if o else []


def _scalar(t: Table | None, slot: int, flags, default=0):
    o = _field(t, slot) if t is not None else 0
    return t.Get(flags, o + t.Pos) if o else default


def _read_tensor(t: Table) -> dict:
    d = {"name": _str(t, 0), "description": _str(t, 1)}
    content = _sub(t, 3)
    if _scalar(content, 0, flatbuffers.number_types.Uint8Flags) == IMAGE_PROPERTIES:
        props = _sub(content, 1)
        size = _sub(props, 1)
        space = _scalar(props, 0, flatbuffers.number_types.Int8Flags)
        d["image"] = {"colour": {1: "rgb", 2: "gray"}.get(space, "unknown"),
                      "width": _scalar(size, 0, flatbuffers.number_types.Uint32Flags),
                      "height": _scalar(size, 1, flatbuffers.number_types.Uint32Flags)}
    for unit in _tables(t, 4):
        if _scalar(unit, 0, flatbuffers.number_types.Uint8Flags) == NORMALIZATION_OPTIONS:
            options = _sub(unit, 1)
            d["normalization"] = {"mean": _float_list(options, 0), "std": _float_list(options, 1)}
    stats = _sub(t, 5)
    if stats is not None:
        d["stats"] = {"min": _float_list(stats, 1), "max": _float_list(stats, 0)}
    d["associated_files"] = [_read_file(f) for f in _tables(t, 6)]
    labels = [f["name"] for f in d["associated_files"] if f["type"] == TENSOR_AXIS_LABELS]
    if labels:
        d["labels_file"] = labels[0]
    return d


def _read_file(t: Table) -> dict:
    return {"name": _str(t, 0), "description": _str(t, 1), "type": _scalar(t, 2, flatbuffers.number_types.Int8Flags)}


def read_model_metadata(data: bytes) -> dict:
    """The TFLite Metadata of a model (bytes of a .tflite file) as a dict; {} when it has none."""
    try:
        model = schema.Model.GetRootAs(data, 0)
        entries = [model.Metadata(i) for i in range(model.MetadataLength())]
        entry = next((e for e in entries if e.Name() and e.Name().decode() == METADATA_NAME), None)
        if entry is None:
            return {}
        buf = model.Buffers(entry.Buffer()).DataAsNumpy().tobytes()
    except Exception as exc:  # a truncated or foreign file fails anywhere in the generated accessors
        raise EdgeclsError(f"not a TFLite model ({type(exc).__name__}: {exc})") from None
    if not flatbuffers.util.BufferHasIdentifier(buf, 0, b"M001"):
        raise EdgeclsError(f"{METADATA_NAME} is not a metadata_schema M001 flatbuffer")
    root = Table(buf, flatbuffers.encode.Get(flatbuffers.packer.uoffset, buf, 0))
    out = {"name": _str(root, 0), "description": _str(root, 1), "version": _str(root, 2), "author": _str(root, 4),
           "license": _str(root, 5), "min_parser_version": _str(root, 7),
           "associated_files": [_read_file(f) for f in _tables(root, 6)]}
    subgraphs = _tables(root, 3)
    if subgraphs:
        out["inputs"] = [_read_tensor(t) for t in _tables(subgraphs[0], 2)]
        out["outputs"] = [_read_tensor(t) for t in _tables(subgraphs[0], 3)]
    return out
