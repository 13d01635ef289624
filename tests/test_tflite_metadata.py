"""TFLite Metadata (metadata_schema.fbs) written into converted models and read back."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from edgecls import metadata as md

pytestmark = pytest.mark.tf

LABELS = ["blue", "green", "red"]


def make_meta(fmt: str) -> md.ModelMetadata:
    return md.ModelMetadata("tiny-test", LABELS, md.InputSpec(24, 24), format=fmt,
                            recipe={"model": "tiny-test", "epochs": 1, "classes": LABELS},
                            accuracy={"top1": 0.75, "keras_top1": 0.8, "count": 12, "data": "colours"},
                            command="edgecls convert run", edgecls_version="9.9.9")


@pytest.fixture(scope="module")
def converted():
    """Unpopulated fp32 and int8 (uint8 in/out) flatbuffers of a tiny untrained model."""
    from edgecls.convert.converter import to_tflite
    from edgecls.convert.quantization import Quantization
    from edgecls.models import create_model

    model = create_model("tiny-test", (24, 24, 3), 3)
    rng = np.random.default_rng(0)

    def representative():
        for _ in range(8):
            yield [rng.integers(0, 256, (1, 24, 24, 3)).astype(np.float32)]

    return {"fp32": to_tflite(model, Quantization.for_float32()),
            "int8": to_tflite(model, Quantization.for_int8(representative, "uint8", "uint8"))}


def run(flat: bytes, pixels: np.ndarray):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=flat)
    interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    interpreter.set_tensor(detail["index"], pixels.astype(detail["dtype"]))
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"]), detail


def metadata_entries(flat: bytes) -> list[tuple[str, int]]:
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(flat, 0)
    return [(model.Metadata(i).Name().decode(), model.Metadata(i).Buffer()) for i in range(model.MetadataLength())]


@pytest.mark.parametrize("fmt", ["fp32", "int8"])
def test_populated_model_runs_like_the_original(converted, fmt):
    from edgecls.tflite_metadata import populate

    flat = converted[fmt]
    populated = populate(flat, make_meta(fmt))
    pixels = np.random.default_rng(1).integers(0, 256, (1, 24, 24, 3))
    before, detail = run(flat, pixels)
    after, _ = run(populated, pixels)
    np.testing.assert_array_equal(before, after)
    assert detail["dtype"] == (np.float32 if fmt == "fp32" else np.uint8)


@pytest.mark.parametrize("fmt", ["fp32", "int8"])
def test_metadata_entries_are_added_and_kept(converted, fmt):
    from edgecls.tflite_metadata import METADATA_NAME, populate

    old = [name for name, _ in metadata_entries(converted[fmt])]
    assert {"min_runtime_version", "CONVERSION_METADATA"} <= set(old)
    entries = metadata_entries(populate(converted[fmt], make_meta(fmt)))
    assert [name for name, _ in entries] == old + [METADATA_NAME]


@pytest.mark.parametrize("fmt", ["fp32", "int8"])
def test_metadata_round_trips(converted, fmt):
    from edgecls.tflite_metadata import TENSOR_AXIS_LABELS, populate, read_model_metadata

    d = read_model_metadata(populate(converted[fmt], make_meta(fmt)))
    assert d["name"] == "tiny-test" and d["author"] == "edgecls" and d["version"] == "9.9.9"
    assert d["min_parser_version"] == "1.0.0"
    assert "top-1 0.7500" in d["description"] and "edgecls convert run" in d["description"]
    assert [f["name"] for f in d["associated_files"]] == [md.JSON_NAME]
    (image,), (probs,) = d["inputs"], d["outputs"]
    assert image["image"] == {"colour": "rgb", "width": 24, "height": 24}
    assert image["stats"] == {"min": [0.0] * 3, "max": [255.0] * 3}
    if fmt == "fp32":
        assert image["normalization"] == {"mean": [0.0] * 3, "std": [1.0] * 3}
        assert probs["stats"] == {"min": [0.0], "max": [1.0]}
    else:  # uint8 input: the pixels go in as they are, so no normalization unit
        assert "normalization" not in image
        assert probs["stats"]["min"] == [0.0] and probs["stats"]["max"][0] >= 250
    assert probs["name"] == "probability" and probs["labels_file"] == md.LABELS_NAME
    assert probs["associated_files"][0]["type"] == TENSOR_AXIS_LABELS


def test_associated_files_are_an_uncompressed_zip_after_the_flatbuffer(converted, tmp_path):
    from edgecls.tflite_metadata import populate

    populated = populate(converted["int8"], make_meta("int8"))
    with zipfile.ZipFile(io.BytesIO(populated)) as z:
        assert z.namelist() == [md.LABELS_NAME, md.JSON_NAME]
        assert all(info.compress_type == zipfile.ZIP_STORED for info in z.infolist())
        assert z.read(md.LABELS_NAME).decode().splitlines() == LABELS
    path = tmp_path / "m.tflite"
    path.write_bytes(populated)
    meta = md.read(path)  # edgecls's own reader, unchanged
    assert meta.labels == LABELS and meta.format == "int8" and meta.accuracy["top1"] == 0.75
    assert (meta.input.width, meta.input.height, list(meta.input.mean)) == (24, 24, [0.0, 0.0, 0.0])


def test_metadata_buffer_is_an_m001_flatbuffer_and_buffers_stay_aligned(converted):
    from ai_edge_litert import schema_py_generated as schema

    from edgecls.tflite_metadata import METADATA_NAME, populate

    populated = populate(converted["fp32"], make_meta("fp32"))
    model = schema.Model.GetRootAs(populated, 0)
    index = dict(metadata_entries(populated))[METADATA_NAME]
    data = model.Buffers(index).DataAsNumpy().tobytes()
    assert data[4:8] == b"M001" and populated[4:8] == b"TFL3"
    for i in range(model.BuffersLength()):
        buf = model.Buffers(i)
        if buf.DataLength():
            start = buf._tab.Vector(buf._tab.Offset(4))
            assert start % 16 == 0, f"buffer {i} starts at {start}"


def test_populating_twice_replaces_the_metadata(converted):
    from edgecls.tflite_metadata import METADATA_NAME, populate, read_model_metadata

    once = populate(converted["int8"], make_meta("int8"))
    again = make_meta("int8")
    again.accuracy = {"top1": 0.5, "count": 3, "data": "elsewhere"}
    twice = populate(once, again)
    names = [name for name, _ in metadata_entries(twice)]
    assert names.count(METADATA_NAME) == 1 and names == [name for name, _ in metadata_entries(once)]
    assert len(twice) < len(once) + 200  # the old zip is not carried along
    assert "top-1 0.5000" in read_model_metadata(twice)["description"]
    with zipfile.ZipFile(io.BytesIO(twice)) as z:
        assert z.namelist() == [md.LABELS_NAME, md.JSON_NAME]
    pixels = np.random.default_rng(2).integers(0, 256, (1, 24, 24, 3))
    np.testing.assert_array_equal(run(twice, pixels)[0], run(converted["int8"], pixels)[0])


def test_files_without_schema_metadata_read_as_empty(converted):
    from edgecls.tflite_metadata import read_model_metadata

    assert read_model_metadata(converted["fp32"]) == {}
    assert read_model_metadata(md.attach(converted["fp32"], make_meta("fp32"))) == {}
