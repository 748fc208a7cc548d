"""The validated contents of a model file (docs/contracts.md, "Model file (TOML) schema").

Everything here is a frozen dataclass and is only ever built by
:func:`mcutrain.model.load.load_model` (or by tests), after every key has been
checked. Layers form a small class hierarchy keyed by ``kind``: a new layer kind
is a subclass of :class:`LayerSpec` decorated with :func:`register_layer`, with
its own ``from_toml`` validation.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ..arith.modes import WEIGHT_MODES  # noqa: F401 (re-exported; defined once, in mcutrain/arith/modes.py)
from ..arith.registry import registrar
from .reader import Table

ENCODINGS: tuple[str, ...] = ("bits", "u4", "u8")
LOSSES: tuple[str, ...] = ("squared_hinge",)
ACTIVATIONS: tuple[str, ...] = ("relu", "linear")

MAX_INPUT_BYTES = 65535
"""A sample larger than one frame travels in `Q` parts whose offset is a u16 (docs/protocol.md, "Samples
larger than one frame"); host/messages.py MAX_SAMPLE_BYTES."""

HASH_FORMAT = 4  # 2: [data] pool, [arithmetic] weight_scale_shift and update_rounding; 3: latents saturate to
#                  [-W0, W0 - 1] (speed) / dense layers' bias and batch_norm (devmodes); 4: both
"""Bumped whenever the canonical form hashed by :meth:`ModelSpec.model_hash` changes."""


@dataclass(frozen=True)
class BuiltinDataset:
    """A data set known by name, whose shape is known without loading it."""

    name: str
    n_inputs: int
    n_classes: int


BUILTIN_DATASETS: dict[str, BuiltinDataset] = {
    "mnist": BuiltinDataset("mnist", n_inputs=28 * 28, n_classes=10),
    "cifar10": BuiltinDataset("cifar10", n_inputs=32 * 32 * 3, n_classes=10),   # mcutrain/data/cifar10.py
    "svhn": BuiltinDataset("svhn", n_inputs=32 * 32 * 3, n_classes=10),         # mcutrain/data/svhn.py
    "digits": BuiltinDataset("digits", n_inputs=28 * 28, n_classes=10),        # mcutrain/data/digits.py
}


def input_bytes(encoding: str, n_inputs: int) -> int:
    """Bytes of one encoded sample (docs/contracts.md, "Input encodings")."""
    if encoding == "bits":
        return (n_inputs + 7) // 8
    if encoding == "u4":
        return (n_inputs + 1) // 2
    if encoding == "u8":
        return n_inputs
    raise ValueError(f"unknown input encoding {encoding!r}; expected one of {', '.join(ENCODINGS)}")


@dataclass(frozen=True)
class DataSpec:
    """The ``[data]`` table."""

    dataset: str               # as written in the file: a built-in name or a path
    path: Path | None          # the path resolved against the model file's folder; None for a built-in
    encoding: str              # bits | u4 | u8
    threshold: int             # bits: pixel >= threshold -> 1
    train_samples: int         # 0 = all, else the first N
    test_samples: int          # 0 = all, else the first N
    pool: int = 1              # host-side average pooling of square images, pool x pool pixels -> 1

    @property
    def builtin(self) -> BuiltinDataset | None:
        return BUILTIN_DATASETS.get(self.dataset) if self.path is None else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "path": None if self.path is None else str(self.path),
            "encoding": self.encoding,
            "threshold": self.threshold,
            "train_samples": self.train_samples,
            "test_samples": self.test_samples,
            "pool": self.pool,
        }


@dataclass(frozen=True)
class LayerSpec:
    """Base of the layer kinds. Subclasses set ``kind`` and implement the methods below."""

    kind: ClassVar[str] = ""
    keys: ClassVar[tuple[str, ...]] = ("kind",)
    can_be_output: ClassVar[bool] = False
    """Whether the kind can be the last layer, whose outputs are the class scores of the loss."""

    @classmethod
    def from_toml(cls, table: Table, index: int, n_layers: int) -> LayerSpec | None:
        """Validate one ``[[layers]]`` table (its ``kind`` already read); None if it has problems."""
        raise NotImplementedError

    def out_features(self, in_features: int) -> int:
        """The number of outputs given the number of inputs."""
        raise NotImplementedError

    def output_units(self) -> int:
        """The number of class scores, for a kind that can be the last layer (``can_be_output``)."""
        raise TypeError(f"a {self.kind!r} layer cannot be the last layer (can_be_output is false)")

    def to_dict(self) -> dict[str, Any]:
        """The layer as in the model file (``kind`` first); also its part of the model hash."""
        return {"kind": self.kind, **dataclasses.asdict(self)}


def qbp_range_to_dict(d: dict[str, Any]) -> None:
    """A layer's ``qbp_exponent_range`` as in the model file: absent when it is the [training] one (so model
    hashes of files without the key are unchanged), else a list."""
    if d.get("qbp_exponent_range") is None:
        d.pop("qbp_exponent_range", None)
    else:
        d["qbp_exponent_range"] = list(d["qbp_exponent_range"])


LAYER_KINDS: dict[str, type[LayerSpec]] = {}
"""kind -> class; filled by :func:`register_layer`."""


register_layer = registrar(LAYER_KINDS, "layer")
"""Class decorator: make a layer class the one for its ``kind``."""

QBP_EXPONENT_LIMIT = 31


def read_qbp_range(table: Table) -> tuple[bool, tuple[int, int] | None]:
    """A layer's own ``qbp_exponent_range = [lo, hi]`` (docs/arithmetic.md, section 6): (ok, range), the
    range None when the key is absent (the layer uses the [training] one)."""
    name = "qbp_exponent_range"
    value = table.raw(name, None)
    if value is None:
        return True, None
    lim = QBP_EXPONENT_LIMIT
    if (not isinstance(value, list) or len(value) != 2
            or any(isinstance(v, bool) or not isinstance(v, int) for v in value)
            or not -lim <= value[0] <= value[1] <= lim):
        table.problem(name, value, f"expected two integers [lo, hi] with -{lim} <= lo <= hi <= {lim}, e.g. [-4, 3] "
                                   "(or remove the key: the layer then uses [training] qbp_exponent_range)")
        return False, None
    return True, (int(value[0]), int(value[1]))


@register_layer
@dataclass(frozen=True)
class DenseLayerSpec(LayerSpec):
    """A fully connected layer with binarized or ternarized weights, and optionally a bias."""

    kind: ClassVar[str] = "dense"
    keys: ClassVar[tuple[str, ...]] = ("kind", "units", "activation", "bias", "batch_norm", "trainable",
                                       "qbp_exponent_range")
    can_be_output: ClassVar[bool] = True

    units: int
    activation: str            # relu (hidden layers) | linear (the last layer)
    bias: bool = False         # an integer bias per unit, updated by the shifted error (docs/arithmetic.md)
    batch_norm: bool = False   # shift-based batch normalization before the activation (docs/arithmetic.md)
    trainable: bool = True     # false: frozen, its weights the signs of its (pretrained) latents, never updated
    qbp_exponent_range: tuple[int, int] | None = None  # the layer's own QBP range; None: [training]'s

    @classmethod
    def from_toml(cls, table: Table, index: int, n_layers: int) -> DenseLayerSpec | None:
        last = index == n_layers - 1
        units = table.integer("units", lo=1, hi=65535)
        activation = table.string("activation", "linear" if last else "relu", choices=ACTIVATIONS)
        bias = table.boolean("bias", False)
        batch_norm = table.boolean("batch_norm", False)
        trainable = table.boolean("trainable", True)
        ok, qr = read_qbp_range(table)
        table.finish(cls.keys)
        if units is None or activation is None or bias is None or batch_norm is None or trainable is None or not ok:
            return None
        return cls(units=units, activation=activation, bias=bias, batch_norm=batch_norm, trainable=trainable,
                   qbp_exponent_range=qr)

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        if self.trainable:
            del d["trainable"]  # the default: model hashes of files without the key are unchanged
        qbp_range_to_dict(d)
        return d

    def out_features(self, in_features: int) -> int:
        return self.units

    def output_units(self) -> int:
        return self.units


@dataclass(frozen=True)
class TrainingSpec:
    """The ``[training]`` table. Learning rates are exponents: lr = 2^learning_rate."""

    weights: str = "binary"                       # binary (stochastic) | sign (deterministic) binary connect,
    #                                               ternary (stochastic) | ternary_det (deterministic) ternary
    #                                               connect, float32 (baseline)
    quantized_backprop: bool = True               # binary/sign only; float32: false (its default), true is refused
    qbp_exponent_range: tuple[int, int] = (-8, 7)
    learning_rate: int = -6
    lr_decay_every_epochs: int = 1                # 0 = constant
    lr_decay_shift: int = 1
    lr_min: int = -12
    epochs: int = 1
    batch_size: int = 1
    loss: str = "squared_hinge"

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["qbp_exponent_range"] = list(self.qbp_exponent_range)
        return d


@dataclass(frozen=True)
class ArithmeticSpec:
    """The ``[arithmetic]`` table: the fixed-point formats (docs/arithmetic.md)."""

    activation_frac_bits: int = 8                 # A: activations and inputs are Q(A)
    error_frac_bits: int = 12                     # E: errors are Q(E)
    latent_bits: int = 16                         # latent weights in +-2^(latent_bits-2); int8 if <= 8
    weight_scale_shift: int = 0                   # W0 = 2^weight_scale_shift x the Glorot W0 (arithmetic.md)
    update_rounding: str = "nearest"              # nearest | stochastic | stochastic_shared: rounding of the update

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class ModelSpec:
    """A whole, validated model file."""

    name: str
    board: str
    seed: int
    data: DataSpec
    layers: tuple[LayerSpec, ...]
    training: TrainingSpec = field(default_factory=TrainingSpec)
    arithmetic: ArithmeticSpec = field(default_factory=ArithmeticSpec)
    source: Path | None = None
    n_inputs: int | None = None
    """Known for built-in data sets; for a file, set by ``check_against_data`` once the data is read."""
    ram_budget: int | None = None
    """[model] ram_budget in bytes: plan and link for this much RAM instead of the board's (None: all of it)."""

    @property
    def n_classes(self) -> int:
        return self.layers[-1].output_units()

    @property
    def input_bytes(self) -> int:
        return input_bytes(self.data.encoding, self._known_inputs())

    def layer_sizes(self) -> list[int]:
        """[n_inputs, outputs of layer 0, outputs of layer 1, ...]."""
        sizes = [self._known_inputs()]
        for layer in self.layers:
            sizes.append(layer.out_features(sizes[-1]))
        return sizes

    def layer_biases(self) -> tuple[bool, ...]:
        """Whether each layer has a bias."""
        return tuple(bool(getattr(layer, "bias", False)) for layer in self.layers)

    def layer_trainable(self) -> tuple[bool, ...]:
        """Whether each layer learns (``trainable = false``: frozen)."""
        return tuple(bool(getattr(layer, "trainable", True)) for layer in self.layers)

    def layer_batch_norm(self) -> tuple[bool, ...]:
        """Whether each layer has batch normalization."""
        return tuple(bool(getattr(layer, "batch_norm", False)) for layer in self.layers)

    def _known_inputs(self) -> int:
        if self.n_inputs is None:
            raise ValueError(
                f"the number of inputs of {self.data.dataset!r} is known only once the data is read; "
                "call mcutrain.model.check_against_data(spec, n_inputs, n_classes) first")
        return self.n_inputs

    def hash_payload(self) -> dict[str, Any]:
        """What the model hash covers: everything compiled into the firmware or the twin's arithmetic.

        Left out, because they change neither the generated code nor the arithmetic
        of a training step: the model name, the seed (sent in the ``S`` message),
        the epoch count (the host's loop), and the data: which data set, its
        subset sizes and the ``bits`` threshold (all applied on the host).
        """
        training = self.training.to_dict()
        del training["epochs"]
        return {
            "format": HASH_FORMAT,
            "board": self.board,
            "n_inputs": self._known_inputs(),
            "encoding": self.data.encoding,
            "pool": self.data.pool,
            "layers": [layer.to_dict() for layer in self.layers],
            "training": training,
            "arithmetic": self.arithmetic.to_dict(),
            # the linker script's RAM length; only when set, so models without one keep their hash
            **({"ram_budget": self.ram_budget} if self.ram_budget is not None else {}),
        }

    def canonical_json(self) -> str:
        return json.dumps(self.hash_payload(), sort_keys=True, separators=(",", ":"), ensure_ascii=True)

    def model_hash(self) -> str:
        """16 hex characters: the first 8 bytes of the sha256 of :meth:`canonical_json`."""
        return hashlib.sha256(self.canonical_json().encode("ascii")).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        """Everything in the model file, JSON-ready (for the build manifest)."""
        return {
            "source": None if self.source is None else str(self.source),
            "model": {"name": self.name, "board": self.board, "seed": self.seed,
                      **({"ram_budget": self.ram_budget} if self.ram_budget is not None else {})},
            "data": self.data.to_dict(),
            "layers": [layer.to_dict() for layer in self.layers],
            "training": self.training.to_dict(),
            "arithmetic": self.arithmetic.to_dict(),
            "n_inputs": self.n_inputs,
            "n_classes": self.n_classes,
        }
