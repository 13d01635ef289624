"""The name registry behind models, data sources and formats, and atomic file writes."""

from __future__ import annotations

import os

import pytest

from edgecls import fileio
from edgecls.errors import EdgeclsError
from edgecls.registry import Registry


@pytest.fixture
def models() -> Registry:
    registry = Registry("model")
    for name in ("resnet18", "resnet34", "mobilenet_v2", "tiny_cnn"):
        registry.register(name)(lambda _name=name: _name)
    return registry


def test_register_returns_the_entry_and_get_finds_it():
    registry = Registry("format")

    @registry.register("int8")
    def int8():
        return "int8 converter"

    assert int8() == "int8 converter"        # the decorator hands back the function unchanged
    assert registry.get("int8") is int8
    assert "int8" in registry and "fp16" not in registry


def test_names_are_sorted_and_filtered_by_pattern(models):
    assert models.names() == ["mobilenet_v2", "resnet18", "resnet34", "tiny_cnn"]
    assert list(models) == models.names()
    assert models.names("resnet*") == ["resnet18", "resnet34"]
    assert models.names("*net*") == ["mobilenet_v2", "resnet18", "resnet34"]
    assert models.names("vgg*") == []


def test_duplicate_registration_is_refused(models):
    with pytest.raises(ValueError, match=r"model 'resnet18' is registered twice"):
        models.register("resnet18")(lambda: None)
    assert models.get("resnet18")() == "resnet18"  # the first entry survives


def test_unknown_name_suggests_the_closest_and_lists_all(models):
    with pytest.raises(EdgeclsError) as caught:
        models.get("resnet19")
    message = str(caught.value)
    assert message.startswith("unknown model 'resnet19'.")
    assert "Did you mean 'resnet18'?" in message
    assert message.endswith("Choose from: mobilenet_v2, resnet18, resnet34, tiny_cnn")
    assert "\n" not in message


def test_unknown_name_without_a_close_match_has_no_suggestion(models):
    with pytest.raises(EdgeclsError) as caught:
        models.get("xyz")
    assert "Did you mean" not in str(caught.value)
    assert "Choose from: mobilenet_v2, resnet18, resnet34, tiny_cnn" in str(caught.value)


# --- fileio -------------------------------------------------------------------------------------------------------

def test_write_bytes_replaces_the_file_and_creates_folders(tmp_path):
    path = tmp_path / "runs" / "a" / "model.tflite"
    fileio.write_bytes(path, b"first")
    fileio.write_bytes(path, b"second")
    assert path.read_bytes() == b"second"
    assert os.listdir(path.parent) == ["model.tflite"]


def test_failure_inside_atomic_path_leaves_the_old_file_and_no_temp_file(tmp_path):
    path = tmp_path / "model.tflite"
    path.write_bytes(b"old")
    seen = []
    with pytest.raises(RuntimeError, match="interrupted"):
        with fileio.atomic_path(path) as tmp:
            seen.append(tmp)
            assert tmp.parent == path.parent and tmp.suffix == ".tflite" and tmp != path
            tmp.write_bytes(b"half a mod")
            raise RuntimeError("interrupted")
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["model.tflite"]
    assert not seen[0].exists()


def test_write_bytes_failing_at_the_rename_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "labels.txt"
    path.write_bytes(b"old")

    def fail(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(fileio.os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        fileio.write_bytes(path, b"new")
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["labels.txt"]


def test_write_json_and_text(tmp_path):
    fileio.write_json(tmp_path / "meta.json", {"classes": ["a", "b"]})
    fileio.write_text(tmp_path / "labels.txt", "a\nb\n")
    assert (tmp_path / "meta.json").read_text() == '{\n  "classes": [\n    "a",\n    "b"\n  ]\n}\n'
    assert (tmp_path / "labels.txt").read_text() == "a\nb\n"
