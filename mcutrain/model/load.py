"""Reading and validating model files (docs/contracts.md, "Model file (TOML) schema").

:func:`load_model` checks every key before anything else runs and reports all
problems of a file in one :class:`~mcutrain.errors.ModelFileError`. What can only
be checked against the data (the number of classes of a ``.npz`` or IDX data
set) is checked by :func:`check_against_data` once the data is read.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import os
import re
import tomllib
from pathlib import Path

from ..arith.plan import UPDATE_ROUNDINGS
from ..errors import McutrainError, ModelFileError
from .reader import REQUIRED, Problems, Table, suggest, type_name
from .spec import (
    BUILTIN_DATASETS,
    ENCODINGS,
    LAYER_KINDS,
    LOSSES,
    MAX_INPUT_BYTES,
    WEIGHT_MODES,
    ArithmeticSpec,
    DataSpec,
    DenseLayerSpec,
    LayerSpec,
    ModelSpec,
    TrainingSpec,
    input_bytes,
)

TOP_KEYS = ("model", "data", "layers", "training", "arithmetic")
MODEL_KEYS = ("name", "board", "seed", "ram_budget")
DATA_KEYS = ("dataset", "encoding", "threshold", "train_samples", "test_samples", "pool")
TRAINING_KEYS = tuple(f.name for f in dataclasses.fields(TrainingSpec))
ARITHMETIC_KEYS = tuple(f.name for f in dataclasses.fields(ArithmeticSpec))

SEED_MAX = (1 << 32) - 1
LR_EXPONENT_RANGE = (-20, 0)
QBP_EXPONENT_LIMIT = 31
ACT_FRAC_RANGE = (1, 14)        # 1.0 = 2^A must fit below the hidden saturation 2^15 - 1
ERR_FRAC_RANGE = (1, 16)
LATENT_BITS_RANGE = (8, 16)
MAX_BATCH_SIZE = 4096            # mini-batches: powers of two up to this (the accumulator proof decides the rest)
ACT_EXPONENT_MAX = 15           # hidden activations are integers below 2^15
MIN_FRAC_FOR_ENCODING = {"u8": 8, "u4": 4, "bits": 0}

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_POW2_RE = re.compile(r"^\s*2\s*(?:\^|\*\*)\s*\(?\s*([+-]?\d+)\s*\)?\s*$")
_TOML_POS_RE = re.compile(r"\(at line (\d+), column (\d+)\)")
_TRAINING_DEFAULTS = TrainingSpec()
_ARITHMETIC_DEFAULTS = ArithmeticSpec()


def load_model(path: str | os.PathLike[str]) -> ModelSpec:
    """Read, parse and validate a model file; raise ModelFileError naming every problem."""
    path = Path(path)
    doc = _parse(path, _read(path))
    problems = Problems(path)
    spec = _build(doc, path, problems)
    problems.raise_if_any()
    assert spec is not None
    if spec.n_inputs is not None:
        check_input_bytes(spec)
        check_plan(spec)
    return spec


def check_against_data(spec: ModelSpec, n_inputs: int, n_classes: int) -> ModelSpec:
    """Check a model against the shape of its data; return it with ``n_inputs`` filled in.

    Raises ModelFileError when the last layer's units differ from the number of
    classes, or when the fixed-point plan does not hold for this input size.
    """
    where = spec.source or "<model>"
    last = len(spec.layers) - 1
    if spec.n_inputs is not None and spec.n_inputs != n_inputs:
        raise ModelFileError(
            where, "data.dataset", spec.data.dataset,
            f"this data set has {n_inputs} inputs per sample, not the {spec.n_inputs} of the built-in "
            f"{spec.data.dataset}; name the data set's file instead")
    if n_inputs < 1:
        raise ModelFileError(where, "data.dataset", spec.data.dataset,
                             "the data set has no inputs per sample; give one with at least one pixel")
    if not 2 <= n_classes <= 255:
        raise ModelFileError(
            where, "data.dataset", spec.data.dataset,
            f"the data set has {n_classes} classes; the device supports 2 to 255 (labels 0..254)")
    if spec.n_classes != n_classes:
        raise ModelFileError(
            where, f"layers[{last}].units", spec.n_classes,
            f"the last layer needs one unit per class: the data set has {n_classes} classes "
            f"(labels 0..{n_classes - 1}), set units = {n_classes}")
    checked = dataclasses.replace(spec, n_inputs=n_inputs)
    check_input_bytes(checked)
    check_plan(checked)
    return checked


def check_input_bytes(spec: ModelSpec) -> None:
    """An encoded sample must fit the protocol's sample parts (MAX_INPUT_BYTES); the fix names the encodings that
    fit."""
    fix = _input_bytes_fix(spec.layer_sizes()[0], spec.data.encoding)
    if fix is not None:
        raise ModelFileError(spec.source or "<model>", "data.encoding", spec.data.encoding, fix)


def _input_bytes_fix(n: int, enc: str) -> str | None:
    need = input_bytes(enc, n)
    if need <= MAX_INPUT_BYTES:
        return None
    fits = [f'"{e}" ({input_bytes(e, n)} bytes)' for e in ENCODINGS if input_bytes(e, n) <= MAX_INPUT_BYTES]
    return (f"{n} inputs take {need} bytes a sample in {enc}, but the link carries at most {MAX_INPUT_BYTES} bytes "
            "a sample (sample parts with a u16 offset); "
            + (f"use encoding = {' or '.join(fits)}" if fits else
               f"this data set has too many inputs for the link (at most {8 * MAX_INPUT_BYTES} with bits)"))


def check_plan(spec: ModelSpec) -> None:
    """Build the plan the generator builds (mcutrain.arith.plan.plan_from_spec: the fixed-point range proof)
    and report a failure as a model-file problem."""
    from ..arith.plan import PlanError, plan_from_spec

    a = spec.arithmetic
    sizes = spec.layer_sizes()
    try:
        plan_from_spec(spec)
    except PlanError as e:
        text = str(e)
        m = re.match(r"(layers\[\d+\])", text)
        key, value = (m.group(1), sizes) if m else ("arithmetic", a.to_dict())
        raise ModelFileError(spec.source or "<model>", key, value, text) from None


# ---------------------------------------------------------------------------------------------
# reading and parsing


def _read(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ModelFileError(path, "", None, "no such model file; check the path") from None
    except IsADirectoryError:
        raise ModelFileError(path, "", None, "this is a folder; give the path of a .toml model file") from None
    except OSError as e:
        raise ModelFileError(path, "", None, f"cannot read the file ({e.strerror}); check its permissions") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        err = ModelFileError(path, "", None, f"line {line}: the file is not UTF-8 text; save it as UTF-8")
        err.line = line
        raise err from None


def _parse(path: Path, text: str) -> dict[str, object]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        line: int | None = getattr(e, "lineno", None)
        column: int | None = getattr(e, "colno", None)
        reason = getattr(e, "msg", None) or str(e)
        m = _TOML_POS_RE.search(str(e))
        if m and line is None:
            line, column = int(m.group(1)), int(m.group(2))
        reason = _TOML_POS_RE.sub("", reason).strip()
        if line is not None:
            lines = text.splitlines()
            shown = f" in {lines[line - 1].strip()!r}" if 0 < line <= len(lines) else ""
            where = f"line {line}, column {column}"
            fix = f"invalid TOML at {where}{shown}: {reason}; fix the syntax there"
        else:
            fix = f"invalid TOML: {str(e)}; fix the syntax"
        err = ModelFileError(path, "", None, fix)
        err.line, err.column = line, column
        raise err from None


# ---------------------------------------------------------------------------------------------
# validation


def _build(doc: dict[str, object], path: Path, problems: Problems) -> ModelSpec | None:
    top = Table(doc, "", problems)
    model_t = top.table("model", required=True)
    data_t = top.table("data", required=True)
    layers_raw = top.raw(
        "layers", REQUIRED,
        required_fix='add [[layers]] tables; the last one is kind = "dense", activation = "linear", '
                     "units = the number of classes")
    training_t = top.table("training", required=False)
    arithmetic_t = top.table("arithmetic", required=False)

    name, board, seed = _model_table(model_t, path) if model_t else (None, None, None)
    ram_budget = _ram_budget(model_t, board) if model_t else None
    data = _data_table(data_t, path) if data_t else None
    layers = _layers(layers_raw, problems)
    training = _training_table(training_t) if training_t else None
    arithmetic = _arithmetic_table(arithmetic_t, data) if arithmetic_t else None

    builtin = data.builtin if data else None
    if data and builtin:
        fix = _input_bytes_fix(builtin.n_inputs // (data.pool * data.pool), data.encoding)
        if fix is not None:
            problems.add("data.encoding", data.encoding, fix)
    if layers:
        _check_network(layers, problems, builtin.name if builtin else None,
                       builtin.n_classes if builtin else None)
    if training and layers:
        _check_frozen(layers, training.weights, problems)
    if training and arithmetic:
        _check_qbp_range(training, arithmetic, problems)
        _check_layer_qbp_ranges(layers, arithmetic, problems)
        if training.weights == "float32":
            for k, layer in enumerate(layers):
                for key in ("bias", "batch_norm"):
                    if getattr(layer, key, False):
                        problems.add(f"layers[{k}].{key}", True,
                                     f"{key} is implemented for the integer weight modes only; the float32 "
                                     "baseline has none: remove the key or set it to false")
        if training.weights == "float32" and arithmetic.update_rounding != "nearest":
            problems.add("arithmetic.update_rounding", arithmetic.update_rounding,
                         'stochastic rounding of the shifted fixed-point update belongs to the binarized modes; '
                         'the float32 baseline rounds as IEEE single: remove the key or set it to "nearest"')
    top.finish(TOP_KEYS)

    if (problems or name is None or board is None or seed is None or data is None or not layers
            or training is None or arithmetic is None):
        return None
    return ModelSpec(
        name=name, board=board, seed=seed, data=data, ram_budget=ram_budget,
        layers=tuple(layer for layer in layers if layer is not None),
        training=training, arithmetic=arithmetic, source=path.resolve(),
        n_inputs=builtin.n_inputs // (data.pool * data.pool) if builtin else None,
    )


def _model_table(t: Table, path: Path) -> tuple[str | None, str | None, int | None]:
    default_name = re.sub(r"[^A-Za-z0-9._-]", "-", path.stem).lstrip("._-")[:64] or "model"
    name = t.string("name", default_name)
    if name is not None and not _NAME_RE.match(name):
        t.problem("name", name, "expected 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit")
        name = None
    board = t.string("board", required_fix='add board = "<name>" (a board from `mcutrain boards`)')
    if board is not None:
        fix = _board_problem(board)
        if fix is not None:
            t.problem("board", board, fix)
            board = None
    seed = t.integer("seed", 1, lo=1, hi=SEED_MAX, why="the device's xorshift32 generator needs a nonzero u32")
    t.finish(MODEL_KEYS)
    return name, board, seed


def _ram_budget(t: Table, board: str | None) -> int | None:
    """[model] ram_budget in bytes (an integer, "128K", or a chip preset), checked against the board."""
    from ..build.boards import get_board, parse_ram_budget, ram_budget_problem

    value = t.raw("ram_budget", None)
    if value is None:
        return None
    try:
        budget = parse_ram_budget(value)
    except ValueError as exc:
        t.problem("ram_budget", value, str(exc))
        return None
    problem = ram_budget_problem(budget, get_board(board)) if board is not None else None
    if problem is not None:
        t.problem("ram_budget", value, f"{budget} bytes: {problem}")
        return None
    return budget


def _board_problem(board: str) -> str | None:
    """None if `board` is a known board, else the fix.

    HOOK: the board registry is mcutrain.build.boards (another part of the project). While
    that module does not exist, every board name is accepted here and checked later.
    """
    try:
        boards = importlib.import_module("mcutrain.build.boards")
    except ModuleNotFoundError as e:
        if e.name == "mcutrain.build.boards":
            return None
        raise
    get_board = getattr(boards, "get_board", None)
    if get_board is None:
        return None
    try:
        get_board(board)
    except (McutrainError, KeyError, ValueError) as e:
        text = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
        return text or "unknown board; `mcutrain boards` lists the known ones"
    return None


def _data_table(t: Table, path: Path) -> DataSpec | None:
    dataset = t.string(
        "dataset", required_fix='add dataset = "mnist" (or the path of a .npz file or of a folder of IDX files)')
    encoding = t.string("encoding", "bits", choices=ENCODINGS)
    threshold = t.integer("threshold", 128, lo=1, hi=255)
    train_samples = t.integer("train_samples", 0, lo=0, why="0 means all")
    test_samples = t.integer("test_samples", 0, lo=0, why="0 means all")
    pool = t.integer("pool", 1, lo=1, hi=4, why="average pooling of square images on the host, 1 = none")
    t.finish(DATA_KEYS)
    resolved: Path | None = None
    if dataset is not None and dataset not in BUILTIN_DATASETS:
        resolved = _resolve_dataset(t, dataset, path)
        if resolved is None:
            dataset = None
    if (dataset is None or encoding is None or threshold is None or train_samples is None
            or test_samples is None or pool is None):
        return None
    return DataSpec(dataset=dataset, path=resolved, encoding=encoding, threshold=threshold,
                    train_samples=train_samples, test_samples=test_samples, pool=pool)


def _resolve_dataset(t: Table, dataset: str, model_path: Path) -> Path | None:
    """The absolute path of a data set named by path (relative to the model file's folder)."""
    p = Path(dataset).expanduser()
    if not p.is_absolute():
        p = model_path.resolve().parent / p
    p = Path(os.path.normpath(p))
    builtins = ", ".join(BUILTIN_DATASETS)
    if not p.exists():
        fix = (f"no such file or folder ({p}); expected a built-in data set ({builtins}), "
               "a .npz file or a folder of IDX files (relative paths start at the model file's folder)")
        near = suggest(dataset, BUILTIN_DATASETS)
        if near is not None and "/" not in dataset:
            fix += f"; did you mean {near}?"
        t.problem("dataset", dataset, fix)
        return None
    if p.is_file() and p.suffix.lower() != ".npz" and not p.name.lower().endswith((".tar.gz", ".tgz", ".tar")):
        t.problem("dataset", dataset,
                  f"{p} is a file but not a .npz; expected a .npz file (x_train, y_train, x_test, y_test), "
                  "a CIFAR-10 python archive (.tar.gz) or a folder of the four IDX files")
        return None
    return p


def _layers(raw: object, problems: Problems) -> list[LayerSpec | None]:
    if raw is REQUIRED:
        return []
    if isinstance(raw, dict):
        problems.add("layers", raw, "expected an array of tables: write each layer under its own [[layers]] "
                                    "(two brackets), not [layers]")
        return []
    if not isinstance(raw, list) or not raw:
        problems.add("layers", raw, "expected one or more [[layers]] tables")
        return []
    out: list[LayerSpec | None] = []
    kinds = tuple(LAYER_KINDS)
    for i, item in enumerate(raw):
        key = f"layers[{i}]"
        if not isinstance(item, dict):
            problems.add(key, item, f"expected a table (got a TOML {type_name(item)}); write [[layers]] "
                                    "followed by kind = ..., units = ...")
            out.append(None)
            continue
        t = Table(item, key, problems)
        kind = t.string("kind", required_fix=f"add kind = \"dense\" (the kinds are {', '.join(kinds)})",
                        choices=kinds)
        out.append(LAYER_KINDS[kind].from_toml(t, i, len(raw)) if kind is not None else None)
    return out


def _check_frozen(layers: list[LayerSpec | None], weights: str, problems: Problems) -> None:
    """``trainable = false``: frozen layers come first (back-propagation stops at the first trainable
    layer), the last layer learns, a frozen layer has binary or ternary weights and no batch norm."""
    frozen = [not getattr(layer, "trainable", True) for layer in layers]
    if not any(frozen):
        return
    first_trainable = frozen.index(False) if False in frozen else len(layers)
    for k, f in enumerate(frozen):
        key = f"layers[{k}].trainable"
        if f and k == len(layers) - 1:
            problems.add(key, False, "the last layer must learn: set trainable = true (or remove the key)")
        elif f and k > first_trainable:
            problems.add(key, False, f"frozen layers must come first (back-propagation stops at the first "
                                     f"trainable layer, layers[{first_trainable}]): freeze layers 0..{k - 1} "
                                     "too, or set trainable = true")
        elif f and weights == "float32":
            problems.add(key, False, "a frozen layer keeps its weights as packed signs, which the float32 "
                                     "baseline has none of: remove the key or pick an integer weight mode")
        elif f and getattr(layers[k], "batch_norm", False):
            problems.add(key, False, "a frozen layer with batch_norm is not implemented: set batch_norm = false "
                                     "or trainable = true")


def _check_network(layers: list[LayerSpec | None], problems: Problems,
                   dataset: str | None, n_classes: int | None) -> None:
    last = len(layers) - 1
    for i, layer in enumerate(layers[:-1]):
        if isinstance(layer, DenseLayerSpec) and layer.activation != "relu":
            problems.add(f"layers[{i}].activation", layer.activation,
                         'hidden layers must use relu; set activation = "relu"')
    layer = layers[last]
    if layer is None:
        return
    if not layer.can_be_output:
        outputs = ", ".join(k for k, c in LAYER_KINDS.items() if c.can_be_output)
        problems.add(f"layers[{last}].kind", layer.kind,
                     f"a {layer.kind} layer cannot be the last layer; end with a layer of a kind that gives the "
                     f'class scores ({outputs}), e.g. dense with activation = "linear" and one unit per class')
        return
    if getattr(layer, "activation", "linear") != "linear":
        problems.add(f"layers[{last}].activation", layer.activation,
                     'the last layer gives the class scores of the hinge loss; set activation = "linear"')
    if n_classes is not None and layer.output_units() != n_classes:
        problems.add(f"layers[{last}].units", layer.output_units(),
                     f"the last layer needs one unit per class: {dataset} has {n_classes} classes, "
                     f"set units = {n_classes}")


def _exponent(t: Table, name: str, default: int) -> int | None:
    """A power-of-two exponent: an integer (-6) or a string ("2^-6")."""
    lo, hi = LR_EXPONENT_RANGE
    value = t.raw(name, default)
    expected = f'expected a power-of-two exponent from {lo} to {hi}: an integer such as -6, or the string "2^-6"'
    exp: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        exp = value
    elif isinstance(value, str):
        m = _POW2_RE.match(value)
        if m is None:
            t.problem(name, value, expected)
            return None
        exp = int(m.group(1))
    elif isinstance(value, float) and math.isfinite(value) and value > 0:
        k = math.log2(value)
        if k.is_integer():
            t.problem(name, value, f"{expected}; {value} is 2^{int(k)}, so write {int(k)}")
        else:
            t.problem(name, value, f"{expected}; {value} is not a power of two, the nearest is 2^{round(k)}")
        return None
    else:
        t.problem(name, value, f"{expected} (got a TOML {type_name(value)})")
        return None
    if not lo <= exp <= hi:
        hint = f" (did you mean {-exp}?)" if 0 < exp <= -lo else ""
        t.problem(name, value, expected + hint)
        return None
    return exp


def _qbp_range(t: Table) -> tuple[int, int] | None:
    name = "qbp_exponent_range"
    value = t.raw(name, list(_TRAINING_DEFAULTS.qbp_exponent_range))
    lim = QBP_EXPONENT_LIMIT
    fix = f"expected two integers [lo, hi] with -{lim} <= lo <= hi <= {lim}, e.g. [-8, 7]"
    if (not isinstance(value, list) or len(value) != 2
            or any(isinstance(v, bool) or not isinstance(v, int) for v in value)):
        t.problem(name, value, fix)
        return None
    lo, hi = value
    if not -lim <= lo <= hi <= lim:
        t.problem(name, value, fix)
        return None
    return lo, hi


def _training_table(t: Table) -> TrainingSpec | None:
    d = _TRAINING_DEFAULTS
    weights = t.string("weights", d.weights, choices=WEIGHT_MODES)
    # float32 is conventional SGD on the inputs as they are: no quantized back-propagation (default false)
    qbp = t.boolean("quantized_backprop", False if weights == "float32" else d.quantized_backprop)
    if weights == "float32" and qbp:
        t.problem("quantized_backprop", qbp,
                  'quantized back-propagation (inputs rounded to powers of two) belongs to the binarized modes; '
                  'the float32 baseline multiplies by the inputs as they are: remove the key or set it to false')
        qbp = None
    qbp_range = _qbp_range(t)
    lr = _exponent(t, "learning_rate", d.learning_rate)
    decay_every = t.integer("lr_decay_every_epochs", d.lr_decay_every_epochs, lo=0, hi=65535,
                            why="0 keeps the learning rate constant")
    decay_shift = t.integer("lr_decay_shift", d.lr_decay_shift, lo=0, hi=20)
    # absent, lr_min is the default floor, or the starting rate when that is lower
    lr_min = _exponent(t, "lr_min", d.lr_min if lr is None else min(d.lr_min, lr))
    if lr is not None and lr_min is not None and lr_min > lr:
        t.problem("lr_min", t.data.get("lr_min", lr_min),
                  f"lr_min is the floor of the decaying learning rate; it must be <= learning_rate ({lr})")
        lr_min = None
    epochs = t.integer("epochs", d.epochs, lo=1, hi=100000)
    batch_size = t.integer("batch_size", d.batch_size, lo=1, hi=MAX_BATCH_SIZE)
    if batch_size is not None and batch_size & (batch_size - 1):
        t.problem("batch_size", batch_size,
                  "batch_size must be a power of two (the batch mean is a shift): "
                  f"{1 << (batch_size.bit_length() - 1)} or {1 << batch_size.bit_length()}")
        batch_size = None
    if batch_size is not None and batch_size != 1 and weights == "float32":
        t.problem("batch_size", batch_size,
                  "mini-batches are implemented for the integer weight modes; the float32 baseline streams: "
                  "set batch_size = 1")
        batch_size = None
    loss = t.string("loss", d.loss, choices=LOSSES)
    t.finish(TRAINING_KEYS)
    if (weights is None or qbp is None or qbp_range is None or lr is None or decay_every is None
            or decay_shift is None or lr_min is None or epochs is None or batch_size is None or loss is None):
        return None
    return TrainingSpec(
        weights=weights, quantized_backprop=qbp, qbp_exponent_range=qbp_range, learning_rate=lr,
        lr_decay_every_epochs=decay_every, lr_decay_shift=decay_shift, lr_min=lr_min, epochs=epochs,
        batch_size=batch_size, loss=loss)


def _arithmetic_table(t: Table, data: DataSpec | None) -> ArithmeticSpec | None:
    d = _ARITHMETIC_DEFAULTS
    act = t.integer("activation_frac_bits", d.activation_frac_bits, lo=ACT_FRAC_RANGE[0], hi=ACT_FRAC_RANGE[1],
                    why="1.0 must fit below the activation limit 2^15")
    err = t.integer("error_frac_bits", d.error_frac_bits, lo=ERR_FRAC_RANGE[0], hi=ERR_FRAC_RANGE[1])
    latent = t.integer("latent_bits", d.latent_bits, lo=LATENT_BITS_RANGE[0], hi=LATENT_BITS_RANGE[1],
                       why="latent weights are stored as int8 (8) or int16 (9 to 16)")
    wss = t.integer("weight_scale_shift", d.weight_scale_shift, lo=0, hi=4,
                    why="W0 is the paper's Glorot value times 2^weight_scale_shift")
    rounding = t.string("update_rounding", d.update_rounding, choices=UPDATE_ROUNDINGS)
    t.finish(ARITHMETIC_KEYS)
    if act is not None and data is not None:
        need = MIN_FRAC_FOR_ENCODING[data.encoding]
        if act < need:
            t.problem("activation_frac_bits", act,
                      f'{data.encoding} inputs are decoded as pixel << (activation_frac_bits - {need}); '
                      f'with encoding = "{data.encoding}" it must be >= {need} (or choose another encoding)')
            act = None
    if act is None or err is None or latent is None or wss is None or rounding is None:
        return None
    return ArithmeticSpec(activation_frac_bits=act, error_frac_bits=err, latent_bits=latent,
                          weight_scale_shift=wss, update_rounding=rounding)


def _check_layer_qbp_ranges(layers: list[LayerSpec | None], arithmetic: ArithmeticSpec, problems: Problems) -> None:
    """A layer's own qbp_exponent_range must overlap the exponents an activation can have, as the global one."""
    a = arithmetic.activation_frac_bits
    for k, layer in enumerate(layers):
        qr = getattr(layer, "qbp_exponent_range", None)
        if qr is not None and (qr[1] + a < 0 or qr[0] + a > ACT_EXPONENT_MAX):
            problems.add(f"layers[{k}].qbp_exponent_range", list(qr),
                         f"the range must overlap the exponents an activation can have, {-a} to "
                         f"{ACT_EXPONENT_MAX - a} with activation_frac_bits = {a}")


def _check_qbp_range(training: TrainingSpec, arithmetic: ArithmeticSpec, problems: Problems) -> None:
    lo, hi = training.qbp_exponent_range
    a = arithmetic.activation_frac_bits
    if hi + a < 0 or lo + a > ACT_EXPONENT_MAX:
        problems.add("training.qbp_exponent_range", [lo, hi],
                     f"the range must overlap the exponents an activation can have, {-a} to "
                     f"{ACT_EXPONENT_MAX - a} with activation_frac_bits = {a}")
