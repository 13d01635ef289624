"""The command line: help for every command, classify's contract, and no TensorFlow on the edge path."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from edgecls.cli import COMMANDS, cli

ROOT = Path(__file__).resolve().parents[1]
DOG = ROOT / "examples" / "dog.jpg"


def run_edgecls(*args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **(env or {})}, timeout=300)


@pytest.mark.parametrize("command", [[], *[[name] for name in COMMANDS], ["data", "info"], ["models", "list"]])
def test_help_of_every_command(command):
    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output


def test_unknown_command_suggests_the_closest():
    result = CliRunner().invoke(cli, ["clasify"])
    assert result.exit_code == 2 and "Did you mean 'classify'" in result.output


def test_classify_the_example_with_the_bundled_model():
    from edgecls.runtime import Classifier, default_model_path

    expected = Classifier(default_model_path()).classify(DOG, top_k=1).top[0]
    assert expected.label == "dog"  # the README's first command promises it
    result = run_edgecls("-m", "edgecls", "classify", str(DOG))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{DOG}: {expected.label} {expected.score:.3f}\n"


def test_classify_never_imports_tensorflow():
    result = run_edgecls("-X", "importtime", "-m", "edgecls", "classify", "--json", str(DOG))
    assert result.returncode == 0, result.stderr
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert "numpy" in imported and "PIL.Image" in imported  # the check itself works
    assert not {m for m in imported if m.split(".")[0] in ("tensorflow", "tf_keras", "keras")}


def make_mixed_folder(folder: Path) -> None:
    """17 good images of several formats and sizes, plus a corrupt JPEG, an empty file and a text file."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(17):
        size = (int(rng.integers(20, 300)), int(rng.integers(20, 300)))
        image = Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
        image.save(folder / f"good{i:02d}.{['jpg', 'png', 'bmp'][i % 3]}")
    (folder / "corrupt.jpg").write_bytes((folder / "good00.jpg").read_bytes()[:40])
    (folder / "empty.png").write_bytes(b"")
    (folder / "notes.txt").write_text("not an image")


def test_a_batch_with_bad_files_classifies_the_rest(tmp_path):
    make_mixed_folder(tmp_path / "photos")
    result = run_edgecls("-m", "edgecls", "classify", "--json", "--top-k", "3", str(tmp_path / "photos"))
    assert result.returncode == 3
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    good = [r for r in rows if "top" in r]
    bad = [r for r in rows if "error" in r]
    assert len(rows) == 20 and len(good) == 17 and len(bad) == 3
    assert all(len(r["top"]) == 3 and r["top"][0]["score"] >= r["top"][1]["score"] for r in good)
    assert {Path(r["path"]).name for r in bad} == {"corrupt.jpg", "empty.png", "notes.txt"}
    errors = [line for line in result.stderr.splitlines() if line.startswith("edgecls: error:")]
    assert len(errors) == 3
    assert any("empty.png: empty file" in e for e in errors)
    assert any("notes.txt: not an image" in e for e in errors)


def test_classify_globs_and_plain_output(tmp_path):
    make_mixed_folder(tmp_path / "photos")
    result = run_edgecls("-m", "edgecls", "classify", str(tmp_path / "photos" / "good0*.png"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 3 and all(line.split(": ")[1].split()[0] for line in lines)


def test_a_missing_or_bad_model_is_one_line(tmp_path):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a flatbuffer")
    for model in (bad, tmp_path / "missing.tflite"):
        result = run_edgecls("-m", "edgecls", "classify", "--model", str(model), str(DOG))
        assert result.returncode == 1
        assert f"edgecls: error: {model}" in result.stderr and "Traceback" not in result.stderr


def test_console_script_is_installed():
    exe = shutil.which("edgecls", path=str(Path(sys.executable).parent))
    assert exe, "the edgecls console script is not installed beside this Python"
    result = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "edgecls" in result.stdout


def test_key_value_reads_json_values_and_keeps_other_text():
    from edgecls.cli.options import key_value

    assert key_value("widths=[96,320,320]") == ("widths", [96, 320, 320])
    assert key_value("alpha=0.35") == ("alpha", 0.35)
    assert key_value("weights=null") == ("weights", None)
    assert key_value("head=dense") == ("head", "dense")
    assert key_value("path=a=b") == ("path", "a=b")
    for bad in ("head", "=dense"):
        with pytest.raises(ValueError, match="expected KEY=VALUE"):
            key_value(bad)


def test_train_rejects_a_model_option_without_a_value_before_doing_anything(tmp_path):
    result = CliRunner().invoke(cli, ["train", "--model", "tiny-test", "--model-option", "head", "--data", "cifar10",
                                      "--out", str(tmp_path / "run")])
    assert result.exit_code == 2 and "expected KEY=VALUE; received 'head'" in result.output
    assert not (tmp_path / "run").exists()
