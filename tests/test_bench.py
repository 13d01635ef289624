"""edgecls bench and report: structure and behaviour only. A benchmark is not a test, so nothing here is timed:
the runs are tiny (--runs 3) and the assertions are about tables, files, schemas and errors."""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import HAS_TF, write_colour_dataset

from edgecls.bench.accuracy import add_deltas, class_remap
from edgecls.bench.measure import latency_stats
from edgecls.bench.results import SCHEMA, format_table, load_results, merge_report, notes
from edgecls.bench.runner import name_apart
from edgecls.cli import cli, main
from edgecls.errors import EdgeclsError

ROOT = Path(__file__).resolve().parents[1]
HEADER = "Format | Size MB | Top-1 | Δ | p50 ms | p90 ms | FPS | Peak MB"
TINY = ["--runs", "3", "--warmup", "1"]

# Run in a subprocess, so this test process never imports TensorFlow.
BUILD_MODELS = """
import json
import sys
from pathlib import Path
import numpy as np
from edgecls import metadata as md
from edgecls.convert.converter import representative_data, to_tflite
from edgecls.convert.quantization import Quantization
from edgecls.models import create_model

out = Path(sys.argv[1])
model = create_model("tiny-test", (24, 24, 3), 3)
calibration = np.random.default_rng(0).integers(0, 256, (8, 24, 24, 3)).astype(np.uint8)
for fmt, q in (("fp32", Quantization.for_float32()), ("int8", Quantization.for_int8(representative_data(calibration)))):
    meta = md.ModelMetadata("tiny-test", ["blue", "green", "red"], md.InputSpec(24, 24), format=fmt)
    (out / f"tiny-test-{fmt}.tflite").write_bytes(md.attach(to_tflite(model, q), meta))
(out / "run").mkdir()
model.save(out / "run" / "model.keras")
(out / "run" / "config.json").write_text(json.dumps({"model": "tiny-test", "classes": ["blue", "green", "red"],
    "input_size": [24, 24], "fit": "crop", "data": "colours", "config": {}, "command": "pytest"}))
"""


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> list[Path]:
    if not HAS_TF:
        pytest.skip("needs TensorFlow to build the fixture models: pip install 'edgecls[train]'")
    out = tmp_path_factory.mktemp("bench-models")
    done = subprocess.run([sys.executable, "-c", BUILD_MODELS, str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return [out / "tiny-test-fp32.tflite", out / "tiny-test-int8.tflite"]


@pytest.fixture(scope="session")
def colours(tmp_path_factory) -> Path:
    return write_colour_dataset(tmp_path_factory.mktemp("bench-data") / "colours")


@pytest.fixture(scope="session")
def bundle(tiny_models, colours, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "bench.tar.gz"
    result = CliRunner().invoke(cli, ["bench", *map(str, tiny_models), "--data", str(colours), "--limit", "9",
                                      "--bundle", str(out)])
    assert result.exit_code == 0, result.output
    return out


def poisoned_env(tmp_path: Path, how: str = "exit") -> dict:
    """PYTHONPATH shadowing tensorflow, tf_keras and keras: importing one exits with 97 (or raises ImportError),
    in this process's children and in the bench workers they start."""
    body = {"exit": "import os, sys\nsys.stderr.write('POISON: {0} was imported\\n')\nos._exit(97)\n",
            "missing": "raise ImportError(\"No module named '{0}'\", name='{0}')\n"}[how]
    for name in ("tensorflow", "tf_keras", "keras"):
        (tmp_path / "poison" / name).mkdir(parents=True, exist_ok=True)
        (tmp_path / "poison" / name / "__init__.py").write_text(body.format(name))
    return {**os.environ, "PYTHONPATH": str(tmp_path / "poison")}


def run_edgecls(args: list[str], env: dict, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-X", "importtime", "-m", "edgecls", *args], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=300)


def imported(stderr: str) -> set[str]:
    return {line.split("|")[-1].strip() for line in stderr.splitlines() if line.startswith("import time:")}


def table_rows(output: str) -> list[list[str]]:
    lines = [line for line in output.splitlines() if line.startswith("| ") and HEADER not in line]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]


@pytest.mark.parametrize("command", ["bench", "report"])
def test_help(command):
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0 and "Usage: " in result.output


@pytest.mark.tf
def test_bench_with_data_prints_the_table_and_writes_json_csv_plot(tiny_models, colours, tmp_path):
    out = {kind: tmp_path / f"bench.{kind}" for kind in ("json", "csv", "png")}
    result = CliRunner().invoke(cli, ["bench", *map(str, tiny_models), "--data", str(colours), "--threads", "1,2",
                                      *TINY, "--json", str(out["json"]), "--csv", str(out["csv"]),
                                      "--plot", str(out["png"])])
    assert result.exit_code == 0, result.output
    assert HEADER in result.stdout
    rows = table_rows(result.stdout)
    assert [(r[1], r[9]) for r in rows] == [("fp32", "1"), ("fp32", "2"), ("int8", "1"), ("int8", "2")]

    doc = json.loads(out["json"].read_text())
    assert doc["schema"] == SCHEMA
    assert {"device", "machine", "settings", "created", "results"} <= doc.keys()
    assert {"platform", "machine", "cpu_count", "cpu_features", "python", "runtime"} <= doc["machine"].keys()
    assert doc["settings"]["runs"] == 3 and doc["settings"]["threads"] == [1, 2] and doc["settings"]["warmup"] == 1
    assert len(doc["results"]) == 4
    for r in doc["results"]:
        assert r["count"] == 18 and 0 <= r["top1"] <= 1
        assert r["p50_ms"] <= r["p90_ms"] <= r["p99_ms"] and r["fps"] > 0 and r["peak_mb"] > 0
        assert r["init_ms"] >= 0 and r["e2e_p50_ms"] > 0 and r["size_bytes"] == Path(r["path"]).stat().st_size
    fp32 = [r for r in doc["results"] if r["format"] == "fp32"]
    int8 = [r for r in doc["results"] if r["format"] == "int8"]
    assert all(r["delta"] == 0 and r["input_dtype"] == "float32" for r in fp32)
    assert all(r["delta"] == pytest.approx(r["top1"] - fp32[0]["top1"]) and r["input_dtype"] == "uint8" for r in int8)

    with out["csv"].open() as f:
        records = list(csv.DictReader(f))
    assert len(records) == 4 and records[0]["device"] == doc["device"] and records[2]["format"] == "int8"
    assert out["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.tf
def test_two_trained_models_of_one_name_keep_their_own_rows_and_deltas(tiny_models, colours, tmp_path):
    other = tmp_path / "other-run"
    other.mkdir()
    (other / tiny_models[1].name).write_bytes(tiny_models[1].read_bytes())
    files = [*map(str, tiny_models), str(other / tiny_models[1].name)]
    result = CliRunner().invoke(cli, ["bench", *files, "--data", str(colours), *TINY,
                                      "--json", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "r.json").read_text())["results"]
    here, there = f"tiny-test ({tiny_models[0].parent.name})", "tiny-test (other-run)"
    assert [(r["name"], r["format"]) for r in rows] == [(here, "fp32"), (here, "int8"), (there, "int8")]
    assert rows[1]["delta"] == pytest.approx(rows[1]["top1"] - rows[0]["top1"]) and rows[2]["delta"] is None
    assert [r[0] for r in table_rows(result.stdout)] == [here, here, there]


@pytest.mark.tf
def test_latency_only_without_data(tiny_models, tmp_path):
    result = CliRunner().invoke(cli, ["bench", str(tiny_models[1]), *TINY, "--json", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.output
    (row,) = json.loads((tmp_path / "r.json").read_text())["results"]
    assert row["top1"] is None and row["delta"] is None and row["count"] == 0
    assert row["p50_ms"] > 0 and row["e2e_p50_ms"] > 0  # sample inputs and a JPEG still give every latency
    assert table_rows(result.stdout)[0][3:5] == ["—", "—"]


@pytest.mark.tf
def test_keras_comparison_sits_beside_the_tflite_rows(tiny_models, tmp_path):
    keras_file = tiny_models[0].parent / "run" / "model.keras"
    result = CliRunner().invoke(cli, ["bench", str(tiny_models[0]), str(keras_file), *TINY,
                                      "--json", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.output
    assert f"| Model | {HEADER} | Threads | E2E p50 ms | Batch-256 ms/img |" in result.stdout
    keras_row, fp32_row = json.loads((tmp_path / "r.json").read_text())["results"]  # Keras first: the reference
    assert keras_row["format"] == "keras" and keras_row["batch_ms"] > 0
    assert keras_row["runtime"].startswith("tensorflow")
    assert fp32_row["format"] == "fp32" and fp32_row["batch_ms"] is None


@pytest.mark.tf
def test_bundle_from_bundle_report_round_trip_never_imports_tensorflow(bundle, tmp_path):
    with tarfile.open(bundle) as tar:
        names = set(tar.getnames())
    assert {"manifest.json", "models/tiny-test-fp32.tflite", "models/tiny-test-int8.tflite", "data-24x24.npz",
            "image.jpg"} <= names
    env = poisoned_env(tmp_path)
    pi = run_edgecls(["bench", "--from-bundle", str(bundle), "--device", "Raspberry Pi 4", *TINY,
                      "--json", "pi4.json"], env, tmp_path)
    assert pi.returncode == 0, pi.stderr[-2000:]
    desktop = CliRunner().invoke(cli, ["bench", "--from-bundle", str(bundle), "--device", "Desktop", *TINY,
                                       "--json", str(tmp_path / "desktop.json")])
    assert desktop.exit_code == 0, desktop.output
    report = run_edgecls(["report", "pi4.json", "desktop.json", "--out", "report.md", "--plot", "report.png"],
                         env, tmp_path)
    assert report.returncode == 0, report.stderr[-2000:]
    for done in (pi, report):
        modules = imported(done.stderr)
        assert "numpy" in modules  # the check itself works
        assert not {m for m in modules if m.split(".")[0] in ("tensorflow", "tf_keras", "keras")}

    pi4 = json.loads((tmp_path / "pi4.json").read_text())
    assert pi4["device"] == "Raspberry Pi 4" and pi4["settings"]["limit"] == 9
    assert {r["count"] for r in pi4["results"]} == {9} and pi4["results"][0]["path"].startswith("bench.tar.gz/")
    markdown = (tmp_path / "report.md").read_text()
    assert f"| Device | Model | {HEADER} |" in markdown
    assert sum(line.startswith("| Raspberry Pi 4 |") for line in markdown.splitlines()) == 2
    assert sum(line.startswith("| Desktop |") for line in markdown.splitlines()) == 2
    assert (tmp_path / "report.png").read_bytes()[:4] == b"\x89PNG"


def write_tar(path: Path, members: dict[str, bytes], kind: dict[str, bytes] | None = None) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, blob in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
        for name, target in (kind or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return path


def fake_bundle(model: bytes, listed_sha: str) -> dict[str, bytes]:
    buf = io.BytesIO()
    np.savez_compressed(buf, pixels=np.zeros((3, 24, 24, 3), np.uint8), labels=np.arange(3),
                        classes=np.array(["blue", "green", "red"]))
    data = buf.getvalue()
    manifest = {"schema": "edgecls-bundle/1", "models": [{"file": "models/m.tflite", "sha256": listed_sha}],
                "data": {"source": "x", "count": 3, "classes": ["blue", "green", "red"],
                         "files": [{"file": "data-24x24.npz", "sha256": hashlib.sha256(data).hexdigest(),
                                    "width": 24, "height": 24, "fit": "crop", "count": 3}]},
                "image": {"file": "image.jpg", "sha256": hashlib.sha256(b"jpeg").hexdigest()}}
    return {"manifest.json": json.dumps(manifest).encode(), "models/m.tflite": model, "data-24x24.npz": data,
            "image.jpg": b"jpeg"}


def run_main(args: list[str], capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    return exit_info.value.code, capsys.readouterr().err


def test_tampered_bundle_is_a_one_line_error(tmp_path, capsys):
    archive = write_tar(tmp_path / "bad.tar.gz", fake_bundle(b"altered", hashlib.sha256(b"original").hexdigest()))
    code, err = run_main(["bench", "--from-bundle", str(archive)], capsys)
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("edgecls: error: ")
    assert "models/m.tflite does not match the manifest" in err


def test_a_manifest_naming_a_file_outside_the_bundle_is_refused(tmp_path, capsys):
    outside = tmp_path / "outside.tflite"
    outside.write_bytes(b"model")
    members = fake_bundle(b"model", hashlib.sha256(b"model").hexdigest())
    manifest = json.loads(members["manifest.json"])
    manifest["models"][0]["file"] = str(outside)
    members["manifest.json"] = json.dumps(manifest).encode()
    code, err = run_main(["bench", "--from-bundle", str(write_tar(tmp_path / "b.tar.gz", members))], capsys)
    assert code == 1 and err.count("\n") == 1 and "which the archive does not hold" in err


@pytest.mark.parametrize("member", ["../escaped.txt", "/tmp/edgecls-absolute.txt", "models/../../escaped.txt",
                                    "link"])
def test_unsafe_bundle_member_is_refused(tmp_path, capsys, member):
    good = fake_bundle(b"model", hashlib.sha256(b"model").hexdigest())
    links = {"link": "/etc/passwd"} if member == "link" else {}
    extra = {} if links else {member: b"escape"}
    archive = write_tar(tmp_path / "evil.tar.gz", {**good, **extra}, links)
    code, err = run_main(["bench", "--from-bundle", str(archive)], capsys)
    assert code == 1 and err.count("\n") == 1
    assert "refusing unsafe bundle member" in err
    assert not any(p.exists() for p in (tmp_path / "escaped.txt", tmp_path.parent / "escaped.txt",
                                        Path("/tmp/edgecls-absolute.txt")))


def test_keras_model_without_tensorflow_names_the_extra(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.keras").write_bytes(b"not really a model")
    (run / "config.json").write_text(json.dumps({"model": "tiny-test", "classes": ["a", "b"], "input_size": [24, 24],
                                                 "fit": "crop", "data": "x", "config": {}, "command": ""}))
    done = subprocess.run([sys.executable, "-m", "edgecls", "bench", str(run / "model.keras"), *TINY],
                          capture_output=True, text=True, env=poisoned_env(tmp_path, "missing"), timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (f"edgecls: error: {run / 'model.keras'}: tensorflow is not "
                                                    "installed; run `pip install 'edgecls[train]'`")


def test_a_non_model_file_is_a_one_line_error(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("hello")
    code, err = run_main(["bench", str(tmp_path / "notes.txt"), *TINY], capsys)
    assert code == 1 and err.count("\n") == 1 and "bench takes .tflite files" in err


@pytest.mark.parametrize("args, message", [
    ([], "no models given"),
    (["M", "--threads", "1,x"], "expected positive integers"),
    (["M", "--threads", "0"], "expected positive integers"),
    (["M", "--plot", "p.png"], "--plot needs top-1 figures"),
    (["M", "--bundle", "b.tar.gz"], "--bundle needs MODELS and --data"),
])
def test_usage_errors(tmp_path, capsys, args, message):
    model = tmp_path / "m.tflite"
    model.write_bytes(b"x")
    code, err = run_main(["bench", *(str(model) if a == "M" else str(tmp_path / a) if "." in a else a
                                     for a in args)], capsys)
    assert code in (1, 2) and message in err


def test_report_refuses_a_file_of_another_schema(tmp_path, capsys):
    (tmp_path / "other.json").write_text(json.dumps({"accuracy": 0.9}))
    code, err = run_main(["report", str(tmp_path / "other.json")], capsys)
    assert code == 1 and err.count("\n") == 1 and "expected an `edgecls bench --json` file" in err
    with pytest.raises(EdgeclsError):
        load_results(tmp_path / "missing.json")


# Pure pieces: statistics, deltas, class matching, the table and its notes.

def test_latency_stats_from_known_timings():
    stats = latency_stats([i * 1_000_000 for i in range(1, 101)])  # 1..100 ms
    assert stats["p50_ms"] == pytest.approx(50.5) and stats["p90_ms"] == pytest.approx(90.1)
    assert stats["p99_ms"] == pytest.approx(99.01) and stats["mean_ms"] == pytest.approx(50.5)
    assert stats["std_ms"] == pytest.approx(np.std(np.arange(1, 101), ddof=1))
    assert stats["fps"] == pytest.approx(1000 / 50.5)


def test_deltas_are_against_the_fp32_sibling_of_the_same_name():
    rows = add_deltas([{"name": "a", "format": "fp32", "top1": 0.9}, {"name": "a", "format": "int8", "top1": 0.85},
                       {"name": "b", "format": "int8", "top1": 0.7}, {"name": "a", "format": "int8", "top1": None}])
    assert [r["delta"] for r in rows] == [0, pytest.approx(-0.05), None, None]


def test_files_sharing_a_name_and_format_are_told_apart_by_folder_or_else_by_file():
    def rows(*paths):
        return [{"name": "m", "format": fmt, "path": path} for path, fmt in paths]
    same = name_apart(rows(("a/m-fp32.tflite", "fp32"), ("a/m-int8.tflite", "int8"), ("b/m.keras", "keras")))
    assert [r["name"] for r in same] == ["m", "m", "m"]  # one trained model's formats: left alone
    two = name_apart(rows(("a/m-int8.tflite", "int8"), ("a/m-fp32.tflite", "fp32"), ("b/m-int8.tflite", "int8")))
    assert [r["name"] for r in two] == ["m (a)", "m (a)", "m (b)"]
    one_folder = name_apart(rows(("a/x.tflite", "int8"), ("a/y.tflite", "int8")))
    assert [r["name"] for r in one_folder] == ["m (x)", "m (y)"]
    same_folder_names = name_apart(rows(("a/out/m-int8.tflite", "int8"), ("b/out/m-int8.tflite", "int8")))
    assert [r["name"] for r in same_folder_names] == ["m (a/out)", "m (b/out)"]


def test_classes_are_matched_by_name():
    assert class_remap(["cat", "dog"], ["dog", "cat", "fox"], "m").tolist() == [1, 0]
    assert class_remap(["cat", "dog"], ["0", "1"], "m").tolist() == [0, 1]  # a model without labels
    with pytest.raises(EdgeclsError, match="the data's classes cow are not among"):
        class_remap(["cat", "cow"], ["cat", "dog"], "m")


def row(fmt: str, threads: int, p50: float, **kw) -> dict:
    return {"name": "net", "format": fmt, "threads": threads, "p50_ms": p50, "p90_ms": p50, "fps": 1000 / p50,
            "size_bytes": 1_500_000, "top1": 0.9, "delta": 0.0, "peak_mb": 40.0, "e2e_p50_ms": None, **kw}


def test_table_shows_slower_int8_and_slower_threads_honestly():
    rows = [row("fp32", 1, 2.0), row("fp32", 2, 3.0), row("int8", 1, 2.5), row("int8", 2, 2.02)]
    table = format_table(rows)
    assert table.splitlines()[0] == f"| Model | {HEADER} | Threads | E2E p50 ms |"
    assert [r[5] for r in table_rows(table)] == ["2.000", "3.000", "2.500", "2.020"]  # in the given order
    found = notes(rows)
    assert any("int8 is slower than fp32 at 1 thread" in n for n in found)
    assert any("fp32 is slower at 2 threads than at 1" in n for n in found)
    assert not any("int8 is slower at 2 threads" in n for n in found)  # 2.02 < 2.5


def test_merge_report_has_a_device_column(tmp_path):
    for device, p50 in (("Pi 4", 9.0), ("Desktop", 1.0)):
        doc = {"schema": SCHEMA, "device": device, "machine": {}, "settings": {}, "created": "",
               "results": [row("int8", 1, p50, batch_ms=None)]}
        (tmp_path / f"{device}.json").write_text(json.dumps(doc))
    report = merge_report([tmp_path / "Pi 4.json", tmp_path / "Desktop.json"])
    assert f"| Device | Model | {HEADER} |" in report.markdown
    assert [r[0] for r in table_rows(report.markdown) if r[0] in ("Pi 4", "Desktop")] == ["Pi 4", "Desktop"]
    assert [(r["device"], r["p50_ms"]) for r in report.rows] == [("Pi 4", 9.0), ("Desktop", 1.0)]


def test_the_cpu_s_speed_features_are_recorded_and_described(tmp_path):
    from edgecls.bench.results import cpu_features, describe_device

    x86 = "processor\t: 0\nflags\t\t: fpu sse2 avx2 fma avx512f avx512_vnni amx_tile amx_int8 ht\nprocessor\t: 1\n"
    assert cpu_features(x86) == ["avx2", "fma", "avx512f", "avx512_vnni", "amx_tile", "amx_int8"]
    arm = "Features\t: fp asimd evtstrm aes crc32 asimddp\nModel\t: Raspberry Pi 5\n"
    assert cpu_features(arm) == ["asimd", "asimddp"]
    assert cpu_features("model name : mystery\n") == []
    doc = {"device": "Desktop", "machine": {"cpu_model": "AMD EPYC", "cpu_features": ["avx2", "fma"]},
           "settings": {}, "created": ""}
    assert describe_device(doc).startswith("- **Desktop**: AMD EPYC (avx2 fma), ")
    doc["machine"].pop("cpu_features")   # files written before the field existed
    assert describe_device(doc).startswith("- **Desktop**: AMD EPYC, ")


@pytest.mark.tf
def test_size_probe_writes_one_int8_graph_per_size_and_sizes_a_transfer_base_with_its_input(tmp_path):
    """bench/size_probe.py: a custom model at 16 and 24, and MobileNetV2 at 32 with its base at 32 too (no Resizing
    to the default 96 in the graph); run in a subprocess so this process never imports TensorFlow."""
    from edgecls.runtime.inspect import inspect_model

    script = str(ROOT / "bench" / "size_probe.py")
    for args in (["tiny-test", "16", "24"], ["mobilenetv2", "32", "--option", "weights=null", "--option", "alpha=0.35"]):
        done = subprocess.run([sys.executable, script, *args, "--classes", "3", "--out", str(tmp_path)],
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
    for name, side in (("tiny-test-16", 16), ("tiny-test-24", 24), ("mobilenetv2-32", 32)):
        info = inspect_model(tmp_path / f"{name}-int8.tflite")
        assert info["inputs"][0]["shape"] == [1, side, side, 3] and info["inputs"][0]["dtype"] == "uint8"
        assert info["outputs"][0]["shape"] == [1, 3]
        assert not any(op.startswith("RESIZE") for op in info["operators"]), name


def test_airbench_reference_trains_a_step_and_refuses_data_that_is_not_cifar10(tmp_path):
    """bench/airbench_reference.py end to end on 1,030 random 32x32 images in CIFAR-10's class folders (one step
    of 1,024), and a one-line error for a dataset with other classes. It needs PyTorch, which edgecls does not."""
    if importlib.util.find_spec("torch") is None:
        pytest.skip("needs PyTorch (bench/airbench_reference.py is a yardstick outside edgecls' dependencies)")
    from PIL import Image

    classes = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
    rng = np.random.default_rng(0)
    for split, per_class in (("train", 103), ("test", 3)):
        for name in classes:
            folder = tmp_path / "c10" / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    script = str(ROOT / "bench" / "airbench_reference.py")
    done = subprocess.run([sys.executable, script, "--data", str(tmp_path / "c10"), "--epochs", "1"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "train (1030, 3, 32, 32)  test (30, 3, 32, 32)" in done.stdout
    assert "test accuracy, TTA flip + shifts (6 views): " in done.stdout

    done = subprocess.run([sys.executable, script, "--data", str(write_colour_dataset(tmp_path / "colours"))],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 2 and done.stderr.strip() == (
        f"error: {tmp_path / 'colours'}: classes blue, green, red, not CIFAR-10's")


def test_ensemble_scores_each_file_and_their_average_as_evaluate_does(tiny_models, colours, tmp_path):
    """bench/ensemble.py: one row per file, top-1 equal to `edgecls evaluate`'s, and one for the pair; a missing
    file is a one-line error and exit 2."""
    from edgecls.evaluate import evaluate

    script = str(ROOT / "bench" / "ensemble.py")
    done = subprocess.run([sys.executable, script, *map(str, tiny_models), "--data", str(colours)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = {r[0]: float(r[1]) for r in table_rows(done.stdout) if r[0] not in ("models", "---")}
    fp32, int8 = (m.stem for m in tiny_models)
    assert set(rows) == {fp32, int8, f"{fp32} + {int8}"}
    for model in tiny_models:
        assert rows[model.stem] == pytest.approx(evaluate(model, str(colours))["accuracy"], abs=1e-4)

    missing = tmp_path / "nowhere.tflite"
    done = subprocess.run([sys.executable, script, str(tiny_models[0]), str(missing), "--data", str(colours)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines()[-1].startswith("error: ") and str(missing) in done.stderr


def test_predict_split_and_evaluate_agree_and_count_an_unreadable_image(tiny_models, tmp_path, capsys):
    """edgecls.evaluate: the probabilities and true classes come in the model's label order; an unreadable test
    file is named on stderr, counted as skipped and left out, and evaluate's accuracy is that of the predictions."""
    from edgecls.evaluate import evaluate, predict_split

    data = write_colour_dataset(tmp_path / "colours", per_class=4)
    (data / "test" / "red" / "broken.png").write_bytes(b"not a png")
    found = predict_split(tiny_models[1], str(data))
    assert found.labels == ["blue", "green", "red"] and found.skipped == 1
    assert "broken.png" in capsys.readouterr().err
    assert found.probs.shape == (12, 3) and np.bincount(found.y).tolist() == [4, 4, 4]  # 13 files, 12 readable
    report = evaluate(tiny_models[1], str(data))
    assert report["skipped"] == 1
    assert report["accuracy"] == pytest.approx(float((found.probs.argmax(axis=1) == found.y).mean()))
