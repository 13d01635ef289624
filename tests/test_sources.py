"""Class-folder datasets from folders and archives, class maps, splits, decoding with skips, and `edgecls data info`."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from edgecls.cli import cli
from edgecls.data import DataOptions, load_dataset
from edgecls.data.dataset import stratified_sample, stratified_split
from edgecls.data.decode import decode_split
from edgecls.errors import EdgeclsError

COLOURS = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255)}
CLASSES = sorted(COLOURS)


def png(colour, size=(24, 24)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


def class_files(per_class: int = 4, prefix: str = "", names: dict | None = None) -> dict[str, bytes]:
    """{relative path: bytes} for ``per_class`` solid-colour images per class folder."""
    names = names or {c: c for c in COLOURS}
    return {f"{prefix}{names[c]}/{i}.png": png(colour) for c, colour in COLOURS.items() for i in range(per_class)}


def split_files(prefix: str = "") -> dict[str, bytes]:
    """train/ (2 per class), val/ (1) and test/ (1): 4 per class in all, like class_files()."""
    files = {}
    for c, colour in COLOURS.items():
        for split, count in (("train", 2), ("val", 1), ("test", 1)):
            files.update({f"{prefix}{split}/{c}/{i}.png": png(colour) for i in range(count)})
    return files


# Files a dataset picks up from macOS, Finder and editors; none of them may become an image or a class.
JUNK = {
    "red/.hidden.png": png((9, 9, 9)),
    ".cache/purple/0.png": png((9, 9, 9)),
    "__MACOSX/red/._0.png": b"\x00\x05\x16\x07AppleDouble",
    "red/._1.png": b"\x00\x05\x16\x07AppleDouble",
    ".DS_Store": b"\x00\x00\x00\x01Bud1",
}


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def write_zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return path


def write_tar(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def totals(dataset) -> list[int]:
    return np.sum([np.bincount(s.labels, minlength=dataset.num_classes) for s in dataset.splits.values()],
                  axis=0).tolist()


def split_counts(dataset) -> dict[str, list[int]]:
    return {name: np.bincount(s.labels, minlength=dataset.num_classes).tolist() for name, s in dataset.splits.items()}


def assert_labels_match_pixels(dataset) -> None:
    """Decode every split and check each image's colour is its class's colour (reads work, labels line up)."""
    for split in dataset.splits.values():
        pixels, labels, skipped = decode_split(split, (8, 8), workers=2)
        assert skipped == []
        assert len(pixels) == len(split)
        for image, label in zip(pixels, labels):
            assert (image == COLOURS[dataset.classes[label]]).all()


# --- sources ------------------------------------------------------------------------------------------------------

def build(tmp_path: Path, kind: str) -> Path:
    if kind == "folder":
        return write_tree(tmp_path / "colours", class_files())
    if kind == "zip":
        return write_zip(tmp_path / "colours.zip", {**class_files(prefix="colours/"),
                                                    "__MACOSX/colours/red/._0.png": b"\x00\x05\x16\x07"})
    if kind == "tar.gz":
        return write_tar(tmp_path / "colours.tar.gz", class_files(prefix="./colours/"))
    if kind == "splits":
        return write_tree(tmp_path / "colours", split_files())
    if kind == "splits.zip":
        return write_zip(tmp_path / "colours.zip", split_files(prefix="colours/"))
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["folder", "zip", "tar.gz"])
def test_single_folder_sources_give_the_same_dataset(tmp_path, kind):
    dataset = load_dataset(str(build(tmp_path, kind)))
    assert dataset.classes == CLASSES
    assert split_counts(dataset) == {"train": [3, 3, 3], "test": [1, 1, 1]}
    assert_labels_match_pixels(dataset)


@pytest.mark.parametrize("kind", ["splits", "splits.zip"])
def test_split_folders_are_kept(tmp_path, kind):
    dataset = load_dataset(str(build(tmp_path, kind)))
    assert dataset.classes == CLASSES
    assert split_counts(dataset) == {"train": [2, 2, 2], "val": [1, 1, 1], "test": [1, 1, 1]}
    assert totals(dataset) == [4, 4, 4]
    assert_labels_match_pixels(dataset)


def test_split_folder_names_are_matched_loosely(tmp_path):
    files = {name.replace("val/", "Validation/").replace("train/", "TRAINING/"): data
             for name, data in split_files().items()}
    dataset = load_dataset(str(write_tree(tmp_path / "d", files)))
    assert split_counts(dataset) == {"train": [2, 2, 2], "val": [1, 1, 1], "test": [1, 1, 1]}


def test_split_folders_without_train_are_refused(tmp_path):
    files = {n: d for n, d in split_files().items() if not n.startswith("train/")}
    with pytest.raises(EdgeclsError, match=r"no train/"):
        load_dataset(str(write_tree(tmp_path / "d", files)))


def test_hidden_files_and_macos_debris_are_ignored(tmp_path):
    for source in (write_tree(tmp_path / "colours", {**class_files(), **JUNK}),
                   write_zip(tmp_path / "colours.zip", {**class_files(), **JUNK})):
        dataset = load_dataset(str(source))
        assert dataset.classes == CLASSES
        assert totals(dataset) == [4, 4, 4]
        paths = [p for s in dataset.splits.values() for p in s.paths]
        assert not [p for p in paths if "__MACOSX" in p or "/." in p or "!." in p]


def test_stratified_test_split_is_reproducible_per_seed(tmp_path):
    root = str(write_tree(tmp_path / "colours", class_files(per_class=10)))

    def test_paths(seed):
        dataset = load_dataset(root, DataOptions(seed=seed))
        assert split_counts(dataset) == {"train": [8, 8, 8], "test": [2, 2, 2]}
        assert not set(dataset.split("train").paths) & set(dataset.split("test").paths)
        return dataset.split("test").paths

    assert test_paths(1) == test_paths(1)
    assert test_paths(1) != test_paths(2)


def test_test_fraction_is_applied_per_class(tmp_path):
    root = str(write_tree(tmp_path / "colours", class_files(per_class=10)))
    dataset = load_dataset(root, DataOptions(test_fraction=0.5))
    assert split_counts(dataset) == {"train": [5, 5, 5], "test": [5, 5, 5]}


# --- class maps ---------------------------------------------------------------------------------------------------

ITALIAN = {"red": "cane", "green": "gatto", "blue": "ragno"}


def animals(tmp_path) -> str:
    return str(write_tree(tmp_path / "animals10", class_files(names=ITALIAN)))


def folder_of(path: str) -> str:
    return Path(path).parent.name


def test_animals10_folders_are_mapped_to_english(tmp_path):
    dataset = load_dataset(animals(tmp_path))
    assert dataset.classes == ["cat", "dog", "spider"]
    english = {"cane": "dog", "gatto": "cat", "ragno": "spider"}
    for split in dataset.splits.values():
        assert [dataset.classes[label] for label in split.labels] == [english[folder_of(p)] for p in split.paths]


def test_class_map_none_keeps_folder_names(tmp_path):
    assert load_dataset(animals(tmp_path), DataOptions(class_map="none")).classes == ["cane", "gatto", "ragno"]


def test_auto_map_needs_every_folder_covered(tmp_path):
    root = write_tree(tmp_path / "d", class_files(names={"red": "cane", "green": "gatto", "blue": "unicorno"}))
    assert load_dataset(str(root)).classes == ["cane", "gatto", "unicorno"]


def test_json_class_map(tmp_path):
    root = str(write_tree(tmp_path / "colours", class_files()))
    mapping = tmp_path / "map.json"
    mapping.write_text(json.dumps({"red": "rosso", "green": "verde"}))  # blue is not in it and keeps its name
    dataset = load_dataset(root, DataOptions(class_map=str(mapping)))
    assert dataset.classes == ["blue", "rosso", "verde"]
    for split in dataset.splits.values():
        names = [dataset.classes[label] for label in split.labels]
        assert names == [{"red": "rosso", "green": "verde"}.get(folder_of(p), folder_of(p)) for p in split.paths]


def test_missing_class_map_file_is_an_error(tmp_path):
    root = str(write_tree(tmp_path / "colours", class_files()))
    missing = str(tmp_path / "nope.json")
    with pytest.raises(EdgeclsError, match=r"class map must be .*received '.*nope\.json'"):
        load_dataset(root, DataOptions(class_map=missing))


@pytest.mark.parametrize("content", ["{not json", '["a", "b"]', '{"red": 1}'])
def test_malformed_class_map_file_is_an_error(tmp_path, content):
    root = str(write_tree(tmp_path / "colours", class_files()))
    mapping = tmp_path / "map.json"
    mapping.write_text(content)
    with pytest.raises(EdgeclsError, match=r"map\.json: not a JSON object of folder -> class names"):
        load_dataset(root, DataOptions(class_map=str(mapping)))


# --- bad sources --------------------------------------------------------------------------------------------------

def test_images_at_unrelated_depths_are_refused_in_one_line(tmp_path):
    root = write_tree(tmp_path / "mixed", {"red/0.png": png((255, 0, 0)), "more/blue/0.png": png((0, 0, 255)),
                                           "x/y/green/0.png": png((0, 255, 0))})
    with pytest.raises(EdgeclsError) as caught:
        load_dataset(str(root))
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{root}: class folders sit under several parents")
    assert "expected <class>/ or train|val|test/<class>/" in message


def test_nonexistent_path_is_refused_naming_it(tmp_path):
    missing = str(tmp_path / "no-such-data")
    with pytest.raises(EdgeclsError, match=r"received '.*no-such-data'") as caught:
        load_dataset(missing)
    assert "\n" not in str(caught.value)


def test_a_file_that_is_no_archive_is_refused(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(EdgeclsError, match=r"notes\.txt: not a folder, \.zip or \.tar archive"):
        load_dataset(str(path))


def test_a_folder_without_images_is_refused(tmp_path):
    root = write_tree(tmp_path / "empty", {"readme.txt": b"nothing here"})
    with pytest.raises(EdgeclsError, match=r"empty: no image files found"):
        load_dataset(str(root))


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_cifar_prefix_dispatches_to_the_cifar_loader(monkeypatch, name):
    from edgecls.data import cifar

    calls = []
    monkeypatch.setattr(cifar, "load_cifar", lambda *args, **kwargs: calls.append((args, kwargs)) or "dataset")
    assert load_dataset(f"{name}:/somewhere/cifar.tar.gz", DataOptions(progress=False)) == "dataset"
    assert calls == [((name, "/somewhere/cifar.tar.gz"), {"progress": False})]


def test_cifar_prefix_with_a_missing_path_names_it(tmp_path):
    missing = tmp_path / "no-cifar-here.tar.gz"
    with pytest.raises(EdgeclsError, match=r"no-cifar-here\.tar\.gz: no such file or folder") as caught:
        load_dataset(f"cifar10:{missing}")
    assert "\n" not in str(caught.value)


# --- decoding -----------------------------------------------------------------------------------------------------

def noisy_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(buffer, "JPEG")
    return buffer.getvalue()


def test_decode_split_skips_and_reports_unusable_files(tmp_path):
    jpeg = noisy_jpeg()
    bad = {"train/red/bad.jpg": jpeg[: len(jpeg) // 2], "train/green/empty.png": b"",
           "train/blue/notes.jpg": b"shopping list: eggs, milk\n"}
    root = write_tree(tmp_path / "colours", {**split_files(), **bad})
    train = load_dataset(str(root)).split("train")
    assert len(train) == 9

    pixels, labels, skipped = decode_split(train, (8, 8), workers=3)
    assert len(pixels) == len(labels) == 6
    assert np.bincount(labels).tolist() == [2, 2, 2]
    for image, label in zip(pixels, labels):
        assert (image == COLOURS[CLASSES[label]]).all()
    reasons = dict(skipped)
    assert len(skipped) == 3
    assert sorted(reasons) == sorted(f"{root}/{name}" for name in bad)
    assert "truncated" in reasons[f"{root}/train/red/bad.jpg"]
    assert reasons[f"{root}/train/green/empty.png"] == "empty file"
    assert reasons[f"{root}/train/blue/notes.jpg"] == "not an image Pillow can read"


def test_decode_split_refuses_an_unknown_fit_instead_of_skipping_everything(tmp_path):
    train = load_dataset(str(write_tree(tmp_path / "colours", split_files()))).split("train")
    with pytest.raises(EdgeclsError, match=r"fit must be one of"):
        decode_split(train, (8, 8), fit="pad")


# --- edgecls data info --------------------------------------------------------------------------------------------

def test_data_info_prints_classes_with_counts(tmp_path):
    root = write_tree(tmp_path / "colours", class_files())
    result = CliRunner().invoke(cli, ["data", "info", str(root)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "colours: 3 classes, 12 images"
    assert lines[1].split() == ["class", "train", "test", "total"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[2:5]}
    assert rows == {c: ["3", "1", "4"] for c in CLASSES}
    assert "image size: width 24-24, height 24-24" in lines


def test_data_info_json_has_the_documented_keys(tmp_path):
    root = write_tree(tmp_path / "colours", {**class_files(), "red/broken.png": b"not a png"})
    result = CliRunner().invoke(cli, ["data", "info", str(root), "--json", "--class-map", "none"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert set(info) == {"name", "classes", "splits", "total", "balance", "width", "height", "unreadable"}
    assert info["classes"] == CLASSES
    assert info["total"] == 13
    assert {name: sum(counts) for name, counts in info["splits"].items()} == {"train": 10, "test": 3}
    assert info["balance"] == pytest.approx(4 / 5)
    assert info["width"] == [24, 24] and info["height"] == [24, 24]
    assert info["unreadable"] == [[f"{root}/red/broken.png", "not an image Pillow can read"]]


def test_data_info_reports_unreadable_files_in_text(tmp_path):
    root = write_tree(tmp_path / "colours", {**class_files(), "red/broken.png": b""})
    result = CliRunner().invoke(cli, ["data", "info", str(root)])
    assert result.exit_code == 0, result.output
    assert f"unreadable: {root}/red/broken.png: empty file" in result.stdout
    assert "1 unreadable file(s) would be skipped" in result.stdout


# --- stratified helpers -------------------------------------------------------------------------------------------

def test_stratified_split_keeps_every_class_on_both_sides():
    labels = np.array([0] * 10 + [1] * 5 + [2] * 2 + [3])
    keep, held = stratified_split(labels, 0.2, seed=0)
    assert sorted(np.concatenate([keep, held]).tolist()) == list(range(len(labels)))
    assert set(labels[keep]) == {0, 1, 2, 3}          # a class of one stays on the training side
    assert set(labels[held]) == {0, 1, 2}
    assert np.bincount(labels[held]).tolist() == [2, 1, 1]
    again = stratified_split(labels, 0.2, seed=0)
    assert keep.tolist() == again[0].tolist() and held.tolist() == again[1].tolist()
    assert held.tolist() != stratified_split(labels, 0.2, seed=1)[1].tolist()


@pytest.mark.parametrize("labels, count", [
    (np.array([0] * 100 + [1] * 100 + [2] * 2), 4),   # rounding gives 2 + 2 + 1 picks; trimming must spare class 2
    (np.array([0] * 10 + [1] * 10 + [2]), 6),          # a class of one is still sampled
    (np.repeat([2, 0, 1], 30), 9),
])
def test_stratified_sample_keeps_every_class(labels, count):
    sample = stratified_sample(labels, count, seed=0)
    assert len(sample) <= count
    assert len(set(sample.tolist())) == len(sample)
    assert set(labels[sample]) == set(labels)
    assert sample.tolist() == stratified_sample(labels, count, seed=0).tolist()


def test_stratified_sample_is_proportional_and_seeded():
    labels = np.array([0] * 60 + [1] * 30 + [2] * 10)
    sample = stratified_sample(labels, 20, seed=0)
    assert np.bincount(labels[sample]).tolist() == [12, 6, 2]
    assert sample.tolist() != stratified_sample(labels, 20, seed=1).tolist()
    assert stratified_sample(labels, 500, seed=0).tolist() == list(range(100))
