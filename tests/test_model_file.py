"""Model files: the schema of docs/contracts.md, every validation error, the model hash."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcutrain.errors import McutrainError, ModelFileError
from mcutrain.model import (
    LAYER_KINDS,
    DenseLayerSpec,
    LayerSpec,
    ModelSpec,
    TrainingSpec,
    check_against_data,
    load_model,
    register_layer,
)
from mcutrain.model.toml_text import mlp_layers_toml

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"

BASE = """\
[model]
name = "t"
board = "netduinoplus2"
seed = 1

[data]
dataset = "mnist"
encoding = "bits"
threshold = 128
train_samples = 0
test_samples = 0

""" + mlp_layers_toml([100]) + """
[training]
weights = "binary"
quantized_backprop = true
qbp_exponent_range = [-8, 7]
learning_rate = -6
lr_decay_every_epochs = 1
lr_decay_shift = 1
lr_min = -12
epochs = 1
batch_size = 1
loss = "squared_hinge"

[arithmetic]
activation_frac_bits = 8
error_frac_bits = 12
latent_bits = 16
"""

BASE_HASH = "232ccbbf2caa7dd4"


def edit(text: str, *changes: tuple[str, str]) -> str:
    """Replace whole lines: each `old` must be one or more complete lines of `text`, found once."""
    for old, new in changes:
        pattern = re.compile(r"(?m)^" + re.escape(old) + ("" if old.endswith("\n") else "$"))
        assert len(pattern.findall(text)) == 1, f"{old!r} must be found once, as whole lines"
        text = pattern.sub(new.replace("\\", "\\\\"), text)
    return text


def write(tmp_path: Path, text: str, name: str = "model.toml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def load_text(tmp_path: Path, text: str) -> ModelSpec:
    return load_model(write(tmp_path, text))


def error_of(tmp_path: Path, text: str) -> ModelFileError:
    with pytest.raises(ModelFileError) as info:
        load_text(tmp_path, text)
    return info.value


def assert_names(err: ModelFileError, key: str, value: str, fix: str) -> None:
    """The message names the file, the key, the value (as written in TOML) and the fix."""
    msg = str(err)
    assert "model.toml" in msg, msg
    assert f"{key} = {value}" in msg, msg
    assert fix in msg, msg
    assert err.exit_code == 2
    assert isinstance(err, McutrainError)
    assert any(k == key for k, _, _ in err.problems)


# ----------------------------------------------------------------------------------------------
# valid files


def test_base_file_loads(tmp_path: Path) -> None:
    spec = load_text(tmp_path, BASE)
    assert spec.name == "t" and spec.board == "netduinoplus2" and spec.seed == 1
    assert spec.data.dataset == "mnist" and spec.data.path is None and spec.data.builtin is not None
    assert spec.layers == (DenseLayerSpec(100, "relu"), DenseLayerSpec(10, "linear"))
    assert spec.n_inputs == 784 and spec.n_classes == 10 and spec.input_bytes == 98
    assert spec.layer_sizes() == [784, 100, 10]
    assert spec.training.qbp_exponent_range == (-8, 7)
    assert spec.source == (tmp_path / "model.toml").resolve()


def test_examples_load() -> None:
    # the lead retunes the hyperparameters: check the shape of the examples, not their values
    demo = load_model(EXAMPLES / "mnist_demo.toml")
    long = load_model(EXAMPLES / "mnist_long.toml")
    for spec in (demo, long):
        sizes = spec.layer_sizes()
        assert sizes[0] == 784 // spec.data.pool**2 and sizes[-1] == 10 and len(sizes) >= 3
        assert spec.data.dataset == "mnist" and spec.input_bytes <= 253
        assert spec.training.weights in ("binary", "sign") and spec.training.quantized_backprop
        assert len(spec.model_hash()) == 16
    assert long.data.train_samples == 0 and long.data.test_samples == 0
    assert demo.data.test_samples == 0


def test_minimal_file_takes_the_defaults(tmp_path: Path) -> None:
    text = """
[model]
board = "netduinoplus2"
[data]
dataset = "mnist"
[[layers]]
kind = "dense"
units = 32
[[layers]]
kind = "dense"
units = 10
"""
    spec = load_model(write(tmp_path, text, name="my model.toml"))
    full = load_text(tmp_path, edit(BASE, ("units = 100", "units = 32")))
    assert spec.name == "my-model"
    assert spec.seed == 1
    assert spec.layers == (DenseLayerSpec(32, "relu"), DenseLayerSpec(10, "linear"))
    assert spec.training == full.training and spec.arithmetic == full.arithmetic and spec.data == full.data


def test_learning_rate_as_string(tmp_path: Path) -> None:
    def training(old: str, new: str) -> TrainingSpec:
        return load_text(tmp_path, edit(BASE, (old, new))).training

    assert training("learning_rate = -6", 'learning_rate = "2^-6"').learning_rate == -6
    assert training("learning_rate = -6", 'learning_rate = "2**-7"').learning_rate == -7
    assert training("learning_rate = -6", 'learning_rate = " 2^(-8) "').learning_rate == -8
    assert training("lr_min = -12", 'lr_min = "2^-10"').lr_min == -10


def test_lr_min_default_follows_a_lower_learning_rate(tmp_path: Path) -> None:
    spec = load_text(tmp_path, edit(BASE, ("lr_min = -12\n", ""), ("learning_rate = -6", "learning_rate = -14")))
    assert spec.training.lr_min == -14


def test_to_dict_is_json(tmp_path: Path) -> None:
    spec = load_text(tmp_path, BASE)
    d = json.loads(json.dumps(spec.to_dict()))
    assert d["layers"] == [{"kind": "dense", "units": 100, "activation": "relu", "bias": False, "batch_norm": False},
                           {"kind": "dense", "units": 10, "activation": "linear", "bias": False, "batch_norm": False}]
    assert d["training"]["qbp_exponent_range"] == [-8, 7]
    assert d["model"] == {"name": "t", "board": "netduinoplus2", "seed": 1}
    assert d["n_inputs"] == 784 and d["n_classes"] == 10


# ----------------------------------------------------------------------------------------------
# file-level errors


def test_malformed_toml_names_line_and_column(tmp_path: Path) -> None:
    err = error_of(tmp_path, edit(BASE, ("seed = 1", "seed = = 1")))
    assert err.line == 4 and err.column is not None
    msg = str(err)
    assert "model.toml" in msg and "line 4, column" in msg and "seed = = 1" in msg and "fix the syntax" in msg


def test_unclosed_table_header(tmp_path: Path) -> None:
    err = error_of(tmp_path, edit(BASE, ("[training]", "[training")))
    assert err.line == BASE.splitlines().index("[training]") + 1 and "invalid TOML" in str(err)


def test_not_utf8(tmp_path: Path) -> None:
    p = tmp_path / "model.toml"
    p.write_bytes(BASE.encode() + b"# \xff\xfe\n")
    line = len(BASE.splitlines()) + 1
    expected = rf"model\.toml: line {line}: the file is not UTF-8 text; save it as UTF-8"
    with pytest.raises(ModelFileError, match=expected):
        load_model(p)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match=r"nope\.toml: no such model file; check the path"):
        load_model(tmp_path / "nope.toml")


# ----------------------------------------------------------------------------------------------
# unknown keys


@pytest.mark.parametrize(("old", "new", "key", "value", "near"), [
    ("learning_rate = -6", "learnig_rate = -6", "training.learnig_rate", "-6", "learning_rate"),
    ("units = 100", "unit = 100", "layers[0].unit", "100", "units"),
    ("threshold = 128", "treshold = 128", "data.treshold", "128", "threshold"),
    ("latent_bits = 16", "latent_bit = 16", "arithmetic.latent_bit", "16", "latent_bits"),
    ("[training]", "[traning]", "traning", "{weights", "training"),
])
def test_unknown_key_suggests(tmp_path: Path, old: str, new: str, key: str, value: str, near: str) -> None:
    err = error_of(tmp_path, edit(BASE, (old, new)))
    assert_names(err, key, value, f"unknown key; did you mean {near}?")


def test_unknown_key_without_near_match(tmp_path: Path) -> None:
    err = error_of(tmp_path, edit(BASE, ("seed = 1", "seed = 1\ncolour = \"red\"")))
    assert_names(err, "model.colour", '"red"',
                 "unknown key; remove it (the keys of [model] are name, board, seed, ram_budget)")


# ----------------------------------------------------------------------------------------------
# wrong types


@pytest.mark.parametrize(("old", "new", "key", "value", "fix"), [
    ("units = 100", 'units = "100"', "layers[0].units", '"100"', "expected an integer from 1 to 65535 "
     "(got a TOML string); write 100 without quotes"),
    ("units = 100", "units = 100.0", "layers[0].units", "100.0", "(got a TOML float); write 100 without the decimal"),
    ("seed = 1", "seed = true", "model.seed", "true", "(got a TOML boolean)"),
    ("quantized_backprop = true", 'quantized_backprop = "yes"', "training.quantized_backprop", '"yes"',
     "expected true or false (got a TOML string)"),
    ('board = "netduinoplus2"', "board = 2", "model.board", "2", "expected a string"),
    ('weights = "binary"', "weights = 1", "training.weights", "1",
     "expected one of binary, sign, ternary, ternary_det, float32 (a quoted string"),
    ("epochs = 1", "epochs = [1]", "training.epochs", "[1]", "expected an integer from 1 to 100000"),
    ("learning_rate = -6", "learning_rate = true", "training.learning_rate", "true", "(got a TOML boolean)"),
    ('learning_rate = -6', 'learning_rate = "fast"', "training.learning_rate", '"fast"',
     'an integer such as -6, or the string "2^-6"'),
    ("learning_rate = -6", "learning_rate = 0.015625", "training.learning_rate", "0.015625",
     "0.015625 is 2^-6, so write -6"),
    ("learning_rate = -6", "learning_rate = 0.01", "training.learning_rate", "0.01",
     "0.01 is not a power of two, the nearest is 2^-7"),
    ("qbp_exponent_range = [-8, 7]", "qbp_exponent_range = -8", "training.qbp_exponent_range", "-8",
     "expected two integers [lo, hi]"),
    ("qbp_exponent_range = [-8, 7]", "qbp_exponent_range = [-8, 7.0]", "training.qbp_exponent_range",
     "[-8, 7.0]", "expected two integers [lo, hi]"),
])
def test_bad_type(tmp_path: Path, old: str, new: str, key: str, value: str, fix: str) -> None:
    assert_names(error_of(tmp_path, edit(BASE, (old, new))), key, value, fix)


def test_section_of_wrong_type(tmp_path: Path) -> None:
    text = "arithmetic = 3\n" + BASE.split("[arithmetic]")[0]
    assert_names(error_of(tmp_path, text), "arithmetic", "3", "expected a table: write [arithmetic]")


def test_layers_as_a_single_table(tmp_path: Path) -> None:
    text = BASE.split("[[layers]]")[0] + '[layers]\nkind = "dense"\nunits = 10\n'
    err = error_of(tmp_path, text)
    assert_names(err, "layers", '{kind = "dense", units = 10}', "write each layer under its own [[layers]]")


# ----------------------------------------------------------------------------------------------
# ranges


@pytest.mark.parametrize(("old", "new", "key", "value", "fix"), [
    ("units = 100", "units = 0", "layers[0].units", "0", "expected an integer from 1 to 65535"),
    ("seed = 1", "seed = 0", "model.seed", "0", "expected an integer from 1 to 4294967295"),
    ("seed = 1", "seed = 4294967296", "model.seed", "4294967296", "expected an integer from 1 to 4294967295"),
    ("threshold = 128", "threshold = 0", "data.threshold", "0", "expected an integer from 1 to 255"),
    ("threshold = 128", "threshold = 256", "data.threshold", "256", "expected an integer from 1 to 255"),
    ("train_samples = 0", "train_samples = -5", "data.train_samples", "-5", "expected an integer >= 0 (0 means all)"),
    ("epochs = 1", "epochs = 0", "training.epochs", "0", "expected an integer from 1 to 100000"),
    ("learning_rate = -6", "learning_rate = -21", "training.learning_rate", "-21", "exponent from -20 to 0"),
    ("learning_rate = -6", "learning_rate = 6", "training.learning_rate", "6", "(did you mean -6?)"),
    ("learning_rate = -6", 'learning_rate = "2^3"', "training.learning_rate", '"2^3"', "exponent from -20 to 0"),
    ("lr_min = -12", "lr_min = -4", "training.lr_min", "-4", "it must be <= learning_rate (-6)"),
    ("lr_decay_shift = 1", "lr_decay_shift = -1", "training.lr_decay_shift", "-1", "expected an integer from 0 to 20"),
    ("lr_decay_every_epochs = 1", "lr_decay_every_epochs = -1", "training.lr_decay_every_epochs", "-1",
     "(0 keeps the learning rate constant)"),
    ("qbp_exponent_range = [-8, 7]", "qbp_exponent_range = [7, -8]", "training.qbp_exponent_range", "[7, -8]",
     "expected two integers [lo, hi] with -31 <= lo <= hi <= 31"),
    ("qbp_exponent_range = [-8, 7]", "qbp_exponent_range = [-8, 7, 9]", "training.qbp_exponent_range",
     "[-8, 7, 9]", "expected two integers [lo, hi]"),
    ("qbp_exponent_range = [-8, 7]", "qbp_exponent_range = [-30, -20]", "training.qbp_exponent_range",
     "[-30, -20]", "the range must overlap the exponents an activation can have, -8 to 7"),
    ("latent_bits = 16", "latent_bits = 7", "arithmetic.latent_bits", "7", "expected an integer from 8 to 16"),
    ("latent_bits = 16", "latent_bits = 17", "arithmetic.latent_bits", "17", "stored as int8 (8) or int16 (9 to 16)"),
    ("activation_frac_bits = 8", "activation_frac_bits = 15", "arithmetic.activation_frac_bits", "15",
     "expected an integer from 1 to 14"),
    ("error_frac_bits = 12", "error_frac_bits = 0", "arithmetic.error_frac_bits", "0",
     "expected an integer from 1 to 16"),
])
def test_bad_range(tmp_path: Path, old: str, new: str, key: str, value: str, fix: str) -> None:
    assert_names(error_of(tmp_path, edit(BASE, (old, new))), key, value, fix)


@pytest.mark.parametrize(("encoding", "frac", "ok"), [
    ("u8", 8, True), ("u8", 7, False), ("u4", 4, True), ("u4", 3, False), ("bits", 1, True),
])
def test_frac_bits_against_encoding(tmp_path: Path, encoding: str, frac: int, ok: bool) -> None:
    _small_npz(tmp_path / "small.npz")  # 25 inputs: every encoding fits in a frame
    text = edit(BASE, ('encoding = "bits"', f'encoding = "{encoding}"'), ('dataset = "mnist"', 'dataset = "small.npz"'),
                ("units = 10", "units = 3"), ("activation_frac_bits = 8", f"activation_frac_bits = {frac}"))
    if ok:
        spec = load_text(tmp_path, text)
        assert spec.arithmetic.activation_frac_bits == frac and spec.data.encoding == encoding
    else:
        need = 8 if encoding == "u8" else 4
        assert_names(error_of(tmp_path, text), "arithmetic.activation_frac_bits", str(frac),
                     f'with encoding = "{encoding}" it must be >= {need}')


@pytest.mark.parametrize("encoding", ["u4", "u8"])
def test_encoded_sample_must_fit_the_link(tmp_path: Path, encoding: str) -> None:
    """Samples larger than one frame travel in sample parts (protocol v3), up to 65535 bytes (a u16 offset)."""
    spec = load_text(tmp_path, edit(BASE, ('encoding = "bits"', f'encoding = "{encoding}"')))
    assert spec.input_bytes == (392 if encoding == "u4" else 784)  # full-size MNIST: 2 or 4 frames a sample
    _small_npz(tmp_path / "wide.npz", shape=(30, 20))
    spec = load_text(tmp_path, edit(BASE, ('encoding = "bits"', f'encoding = "{encoding}"'),
                                    ('dataset = "mnist"', 'dataset = "wide.npz"'), ("units = 10", "units = 3")))
    limit = 2 * 65535 if encoding == "u4" else 65535  # the most inputs whose encoding fits
    assert check_against_data(spec, limit, 3).input_bytes == 65535
    with pytest.raises(ModelFileError, match=f"{limit + 1} inputs take 65536 bytes a sample in {encoding}, but "
                       "the link carries at most 65535 bytes a sample .* use encoding = \"bits\""):
        check_against_data(spec, limit + 1, 3)


def test_bad_encoding(tmp_path: Path) -> None:
    assert_names(error_of(tmp_path, edit(BASE, ('encoding = "bits"', 'encoding = "u16"'))),
                 "data.encoding", '"u16"', "expected one of bits, u4, u8")


# ----------------------------------------------------------------------------------------------
# weight mode, layers, batch size, loss, board, data set


def test_bad_weight_mode(tmp_path: Path) -> None:
    err = error_of(tmp_path, edit(BASE, ('weights = "binary"', 'weights = "quaternary"')))
    assert_names(err, "training.weights", '"quaternary"', "expected one of binary, sign, ternary")
    err = error_of(tmp_path, edit(BASE, ('weights = "binary"', 'weights = "binray"')))
    assert_names(err, "training.weights", '"binray"',
                 "expected one of binary, sign, ternary, ternary_det, float32 (did you mean binary?)")


def test_dense_bias(tmp_path: Path) -> None:
    text = edit(BASE, ('units = 100\nactivation = "relu"', 'units = 100\nactivation = "relu"\nbias = true'))
    spec = load_text(tmp_path, text)
    assert spec.layer_biases() == (True, False)
    assert spec.model_hash() != load_text(tmp_path, BASE).model_hash()  # compiled in: hashed
    err = error_of(tmp_path, edit(text, ("bias = true", "bias = 1")))
    assert_names(err, "layers[0].bias", "1", "expected true or false")
    err = error_of(tmp_path, edit(text, ('weights = "binary"', 'weights = "float32"'),
                                  ("quantized_backprop = true", "")))
    assert_names(err, "layers[0].bias", "true", "integer weight modes only")


def test_dense_batch_norm(tmp_path: Path) -> None:
    text = edit(BASE, ('units = 100\nactivation = "relu"', 'units = 100\nactivation = "relu"\nbatch_norm = true'))
    spec = load_text(tmp_path, text)
    assert spec.layer_batch_norm() == (True, False) and spec.layer_biases() == (False, False)
    assert spec.model_hash() != load_text(tmp_path, BASE).model_hash()
    err = error_of(tmp_path, edit(text, ("batch_norm = true", "batch_norm = true\nbias = true")))
    assert "layers[0]" in str(err) and "beta" in str(err) and "remove bias = true" in str(err)
    err = error_of(tmp_path, edit(text, ("batch_size = 1", "batch_size = 4")))
    assert "use batch_size = 1" in str(err)


@pytest.mark.parametrize("mode", ["ternary", "ternary_det"])
def test_ternary_weight_modes_are_accepted(tmp_path: Path, mode: str) -> None:
    spec = load_text(tmp_path, edit(BASE, ('weights = "binary"', f'weights = "{mode}"')))
    assert spec.training.weights == mode and spec.training.quantized_backprop is True
    binary = load_text(tmp_path, BASE)
    assert spec.model_hash() != binary.model_hash()  # the weight mode is compiled in: it is hashed


def test_last_layer_must_be_linear(tmp_path: Path) -> None:
    err = error_of(tmp_path, edit(BASE, ('units = 10\nactivation = "linear"', 'units = 10\nactivation = "relu"')))
    assert_names(err, "layers[1].activation", '"relu"', 'set activation = "linear"')


def test_last_layer_needs_one_unit_per_class(tmp_path: Path) -> None:
    err = error_of(tmp_path, edit(BASE, ("units = 10", "units = 12")))
    assert_names(err, "layers[1].units", "12", "mnist has 10 classes, set units = 10")


def test_hidden_layer_must_be_relu(tmp_path: Path) -> None:
    err = error_of(tmp_path, edit(BASE, ('units = 100\nactivation = "relu"', 'units = 100\nactivation = "linear"')))
    assert_names(err, "layers[0].activation", '"linear"', 'hidden layers must use relu; set activation = "relu"')


def test_unknown_layer_kind(tmp_path: Path) -> None:
    err = error_of(tmp_path, edit(BASE, ('kind = "dense"\nunits = 100', 'kind = "conv"\nunits = 100')))
    assert_names(err, "layers[0].kind", '"conv"', "expected one of dense")


def test_layer_kind_missing(tmp_path: Path) -> None:
    err = error_of(tmp_path, edit(BASE, ('kind = "dense"\nunits = 100', "units = 100")))
    assert "layers[0].kind is missing: add kind = \"dense\"" in str(err)


def test_no_layers(tmp_path: Path) -> None:
    err = error_of(tmp_path, BASE.split("[[layers]]")[0] + BASE.split('activation = "linear"\n')[1])
    assert "layers is missing: add [[layers]] tables" in str(err)


def test_batch_size_is_a_power_of_two(tmp_path: Path) -> None:
    assert load_text(tmp_path, edit(BASE, ("batch_size = 1", "batch_size = 32"))).training.batch_size == 32
    err = error_of(tmp_path, edit(BASE, ("batch_size = 1", "batch_size = 200")))
    assert_names(err, "training.batch_size", "200", "must be a power of two")
    assert "128 or 256" in str(err)
    err = error_of(tmp_path, edit(BASE, ("batch_size = 1", "batch_size = 0")))
    assert_names(err, "training.batch_size", "0", "1")
    err = error_of(tmp_path, edit(BASE, ("batch_size = 1", "batch_size = 4"),
                                  ('weights = "binary"', 'weights = "float32"'), ("quantized_backprop = true", "")))
    assert_names(err, "training.batch_size", "4", "set batch_size = 1")


def test_bad_loss(tmp_path: Path) -> None:
    assert_names(error_of(tmp_path, edit(BASE, ('loss = "squared_hinge"', 'loss = "hinge"'))),
                 "training.loss", '"hinge"', "expected one of squared_hinge")


def test_unknown_board(tmp_path: Path) -> None:
    err = error_of(tmp_path, edit(BASE, ('board = "netduinoplus2"', 'board = "no-such-board"')))
    assert_names(err, "model.board", '"no-such-board"', "netduinoplus2")


def test_missing_board(tmp_path: Path) -> None:
    err = error_of(tmp_path, edit(BASE, ('board = "netduinoplus2"\n', "")))
    assert "model.board is missing: add board = " in str(err)


def test_bad_name(tmp_path: Path) -> None:
    err = error_of(tmp_path, edit(BASE, ('name = "t"', 'name = "a b"')))
    assert_names(err, "model.name", '"a b"', "expected 1 to 64 letters, digits")


def test_unknown_dataset_name(tmp_path: Path) -> None:
    err = error_of(tmp_path, edit(BASE, ('dataset = "mnist"', 'dataset = "mnsit"')))
    assert_names(err, "data.dataset", '"mnsit"', "no such file or folder")
    assert "did you mean mnist?" in str(err)


def test_dataset_not_npz(tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_text("1,2\n")
    err = error_of(tmp_path, edit(BASE, ('dataset = "mnist"', 'dataset = "data.csv"')))
    assert_names(err, "data.dataset", '"data.csv"', "expected a .npz file")


def test_all_problems_are_reported_together(tmp_path: Path) -> None:
    err = error_of(tmp_path, edit(BASE, ("seed = 1", "seed = 0"), ("units = 100", "units = 0"),
                                  ("batch_size = 1", "batch_size = 6"), ("epochs = 1", "epocs = 1")))
    keys = [k for k, _, _ in err.problems]
    assert keys == ["model.seed", "layers[0].units", "training.batch_size", "training.epocs"]
    assert str(err).startswith(f"{tmp_path / 'model.toml'}: 4 problems:\n  - model.seed = 0:")


def test_fixed_point_plan_failure_is_a_model_file_error(tmp_path: Path) -> None:
    # 3000 hidden units x the largest error overflow the int32 backward accumulator
    err = error_of(tmp_path, edit(BASE, ("units = 100", "units = 3000")))
    assert err.key == "layers[0]" and "overflows the int32 backward accumulator" in str(err)


# ----------------------------------------------------------------------------------------------
# data set paths and check_against_data


def _small_npz(path: Path, n_classes: int = 3, shape: tuple[int, ...] = (5, 5)) -> None:
    rng = np.random.default_rng(0)
    np.savez(path, x_train=rng.integers(0, 256, (20, *shape), dtype=np.uint8),
             y_train=np.arange(20) % n_classes, x_test=rng.integers(0, 256, (6, *shape), dtype=np.uint8),
             y_test=np.arange(6) % n_classes)


def test_relative_dataset_path_resolves_against_the_model_folder(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "models" / "data").mkdir(parents=True)
    _small_npz(tmp_path / "models" / "data" / "small.npz")
    model = write(tmp_path / "models", edit(BASE, ('dataset = "mnist"', 'dataset = "data/small.npz"'),
                                            ("units = 10", "units = 3")))
    monkeypatch.chdir(tmp_path)  # somewhere else than the model's folder
    spec = load_model(model)
    assert spec.data.path == (tmp_path / "models" / "data" / "small.npz").resolve()
    assert spec.data.dataset == "data/small.npz"
    assert spec.n_inputs is None
    with pytest.raises(ValueError, match="check_against_data"):
        spec.model_hash()
    checked = check_against_data(spec, 25, 3)
    assert checked.n_inputs == 25 and checked.input_bytes == 4 and len(checked.model_hash()) == 16


def test_check_against_data_wrong_class_count(tmp_path: Path) -> None:
    _small_npz(tmp_path / "small.npz")
    spec = load_text(tmp_path, edit(BASE, ('dataset = "mnist"', 'dataset = "small.npz"'), ("units = 10", "units = 4")))
    with pytest.raises(ModelFileError) as info:
        check_against_data(spec, 25, 3)
    assert_names(info.value, "layers[1].units", "4", "the data set has 3 classes (labels 0..2), set units = 3")


def test_check_against_data_builtin_shape(tmp_path: Path) -> None:
    spec = load_text(tmp_path, BASE)
    assert check_against_data(spec, 784, 10) == spec
    with pytest.raises(ModelFileError, match="data.dataset"):
        check_against_data(spec, 100, 10)


# ----------------------------------------------------------------------------------------------
# the model hash


def test_hash_is_pinned(tmp_path: Path) -> None:
    # the canonical form is part of the device contract: change HASH_FORMAT (and this value) with it
    spec = load_text(tmp_path, BASE)
    assert spec.model_hash() == BASE_HASH
    assert spec.canonical_json() == (
        '{"arithmetic":{"activation_frac_bits":8,"error_frac_bits":12,"latent_bits":16,'
        '"update_rounding":"nearest","weight_scale_shift":0},"board":"netduinoplus2",'
        '"encoding":"bits","format":4,"layers":[{"activation":"relu","batch_norm":false,"bias":false,"kind":"dense",'
        '"units":100},{"activation":"linear","batch_norm":false,"bias":false,"kind":"dense","units":10}],"n_inputs":784,"pool":1,"training":{"batch_size":1,'
        '"learning_rate":-6,"loss":"squared_hinge","lr_decay_every_epochs":1,"lr_decay_shift":1,"lr_min":-12,'
        '"qbp_exponent_range":[-8,7],"quantized_backprop":true,"weights":"binary"}}')


def test_hash_ignores_layout_comments_and_key_order(tmp_path: Path) -> None:
    a = load_text(tmp_path, BASE).model_hash()
    reordered = edit(BASE, ('weights = "binary"\nquantized_backprop = true',
                            'quantized_backprop = true   # QBP\nweights = "binary"'))
    b = load_text(tmp_path, "# a comment\n\n" + reordered).model_hash()
    assert a == b
    assert load_text(tmp_path, edit(BASE, ("learning_rate = -6", 'learning_rate = "2^-6"'))).model_hash() == a


@pytest.mark.parametrize(("old", "new"), [
    ('name = "t"', 'name = "other"'),
    ("seed = 1", "seed = 12345"),
    ("train_samples = 0", "train_samples = 1000"),
    ("test_samples = 0", "test_samples = 500"),
    ("epochs = 1", "epochs = 7"),
    ("threshold = 128", "threshold = 64"),
])
def test_hash_ignores_what_the_host_applies(tmp_path: Path, old: str, new: str) -> None:
    assert load_text(tmp_path, edit(BASE, (old, new))).model_hash() == load_text(tmp_path, BASE).model_hash()


@pytest.mark.parametrize(("old", "new"), [
    ("units = 100", "units = 101"),
    ('weights = "binary"', 'weights = "sign"'),
    ("quantized_backprop = true", "quantized_backprop = false"),
    ("qbp_exponent_range = [-8, 7]", "qbp_exponent_range = [-8, 6]"),
    ("learning_rate = -6", "learning_rate = -7"),
    ("lr_decay_every_epochs = 1", "lr_decay_every_epochs = 0"),
    ("lr_decay_shift = 1", "lr_decay_shift = 2"),
    ("lr_min = -12", "lr_min = -11"),
    ("activation_frac_bits = 8", "activation_frac_bits = 9"),
    ("error_frac_bits = 12", "error_frac_bits = 11"),
    ("latent_bits = 16", "latent_bits = 15"),
    ('[[layers]]\nkind = "dense"\nunits = 100', '[[layers]]\nkind = "dense"\nunits = 64\n'
                                                '[[layers]]\nkind = "dense"\nunits = 100'),
])
def test_hash_changes_with_the_code_and_arithmetic(tmp_path: Path, old: str, new: str) -> None:
    assert load_text(tmp_path, edit(BASE, (old, new))).model_hash() != load_text(tmp_path, BASE).model_hash()


def test_hash_changes_with_the_input_size_and_encoding(tmp_path: Path) -> None:
    _small_npz(tmp_path / "small.npz")
    text = edit(BASE, ('dataset = "mnist"', 'dataset = "small.npz"'), ("units = 10", "units = 3"))
    spec = load_text(tmp_path, text)
    hashes = {check_against_data(spec, 25, 3).model_hash(), check_against_data(spec, 26, 3).model_hash()}
    for enc in ("u4", "u8"):
        other = load_text(tmp_path, edit(text, ('encoding = "bits"', f'encoding = "{enc}"')))
        hashes.add(check_against_data(other, 25, 3).model_hash())
    assert len(hashes) == 4


# ----------------------------------------------------------------------------------------------
# the layer registry


def test_layer_registry() -> None:
    assert LAYER_KINDS["dense"] is DenseLayerSpec
    assert issubclass(DenseLayerSpec, LayerSpec)

    @dataclass(frozen=True)
    class Again(LayerSpec):
        kind = "dense"

    with pytest.raises(ValueError, match="new, non-empty kind"):
        register_layer(Again)
    assert LAYER_KINDS["dense"] is DenseLayerSpec


# ----------------------------------------------------------------------------------------------
# any value in any place: a spec or a ModelFileError, never another exception

KEYS = [line.split(" = ")[0] for line in BASE.splitlines() if " = " in line and not line.startswith("kind")]

toml_values = st.one_of(
    st.integers(-(2**40), 2**40).map(str),
    st.floats(allow_nan=False, allow_infinity=False, width=32).map(lambda f: repr(float(f))),
    st.booleans().map(lambda b: "true" if b else "false"),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=12).map(json.dumps),
    st.lists(st.integers(-40, 40), max_size=3).map(lambda v: "[" + ", ".join(map(str, v)) + "]"),
    st.sampled_from(['"2^-6"', '"2^x"', '"u4"', '"u8"', '"sign"', '"relu"', '"linear"', "{}", "inf", "nan"]),
)


@given(key_index=st.integers(0, len(KEYS) - 1), value=toml_values)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_value_gives_a_spec_or_a_model_file_error(tmp_path: Path, key_index: int, value: str) -> None:
    key = KEYS[key_index]
    lines = BASE.splitlines()
    i = next(j for j, line in enumerate(lines) if line.startswith(key + " = "))
    lines[i] = f"{key} = {value}"
    try:
        spec = load_text(tmp_path, "\n".join(lines) + "\n")
    except ModelFileError as e:
        assert "model.toml" in str(e)
        return
    assert isinstance(spec.seed, int) and not math.isnan(spec.seed)
    if spec.n_inputs is not None:  # a value of dataset naming a folder leaves the input size to the data
        assert len(spec.model_hash()) == 16


# ----------------------------------------------------------------------------------------------
# the float32 baseline


def test_float32_weights_are_accepted_without_quantized_backprop(tmp_path: Path) -> None:
    text = edit(BASE, ('weights = "binary"', 'weights = "float32"'), ("quantized_backprop = true", ""))
    spec = load_text(tmp_path, text)
    assert spec.training.weights == "float32" and spec.training.quantized_backprop is False
    explicit = load_text(tmp_path, edit(BASE, ('weights = "binary"', 'weights = "float32"'),
                                        ("quantized_backprop = true", "quantized_backprop = false")))
    assert explicit.model_hash() == spec.model_hash()
    assert spec.model_hash() != load_text(tmp_path, BASE).model_hash()


def test_float32_refuses_quantized_backprop_and_stochastic_update(tmp_path: Path) -> None:
    err = error_of(tmp_path, edit(BASE, ('weights = "binary"', 'weights = "float32"')))
    assert_names(err, "training.quantized_backprop", "true", "set it to false")
    err = error_of(tmp_path, edit(BASE, ('weights = "binary"', 'weights = "float32"'),
                                  ("quantized_backprop = true", ""),
                                  ("latent_bits = 16", 'latent_bits = 16\nupdate_rounding = "stochastic"')))
    assert_names(err, "arithmetic.update_rounding", '"stochastic"', 'set it to "nearest"')


# ----------------------------------------------------------------------------------------------
# update_rounding = "stochastic_shared" (docs/arithmetic.md, section 5)


def test_shared_update_rounding_is_a_new_hash_and_needs_quantized_backprop(tmp_path: Path) -> None:
    base = load_text(tmp_path, BASE)
    shared = load_text(tmp_path, edit(BASE, ("latent_bits = 16",
                                             'latent_bits = 16\nupdate_rounding = "stochastic_shared"')))
    assert shared.arithmetic.update_rounding == "stochastic_shared"
    assert shared.model_hash() != base.model_hash()
    from mcutrain.arith.plan import PlanError, make_dense_plan

    with pytest.raises(PlanError, match="stochastic_shared needs quantized_backprop = true"):
        make_dense_plan([784, 32, 10], qbp=False, update_rounding="stochastic_shared")
    with pytest.raises(PlanError, match="use batch_size = 1 or update_rounding = stochastic"):
        make_dense_plan([784, 32, 10], update_rounding="stochastic_shared", batch_size=4)
    err = error_of(tmp_path, edit(BASE, ("latent_bits = 16", 'latent_bits = 16\nupdate_rounding = "shared"')))
    assert_names(err, "arithmetic.update_rounding", '"shared"', "stochastic_shared")


def test_load_checks_the_plan_the_generator_builds(tmp_path: Path) -> None:
    """Loading builds the generator's own plan (plan_from_spec): a setting only that plan reads, such as
    stochastic update rounding without quantized back-propagation, is a model-file error at load time,
    not a failure later in `mcutrain generate`."""
    err = error_of(tmp_path, edit(BASE, ("quantized_backprop = true", "quantized_backprop = false"),
                                  ("latent_bits = 16", 'latent_bits = 16\nupdate_rounding = "stochastic"')))
    msg = str(err)
    assert "model.toml" in msg and "update_rounding = stochastic needs quantized_backprop = true" in msg, msg
    assert err.exit_code == 2 and any(k == "arithmetic" for k, _, _ in err.problems)
