"""Model files: TOML -> validated :class:`ModelSpec` (docs/contracts.md, "Model file (TOML) schema")."""

from . import spatial  # noqa: F401  (registers the conv2d, maxpool and flatten kinds; spec.py holds dense)
from .load import check_against_data, check_input_bytes, check_plan, load_model
from .spec import (
    BUILTIN_DATASETS,
    LAYER_KINDS,
    MAX_INPUT_BYTES,
    ArithmeticSpec,
    DataSpec,
    DenseLayerSpec,
    LayerSpec,
    ModelSpec,
    TrainingSpec,
    input_bytes,
    register_layer,
)

__all__ = [
    "BUILTIN_DATASETS",
    "LAYER_KINDS",
    "MAX_INPUT_BYTES",
    "ArithmeticSpec",
    "DataSpec",
    "DenseLayerSpec",
    "LayerSpec",
    "ModelSpec",
    "TrainingSpec",
    "check_against_data",
    "check_input_bytes",
    "check_plan",
    "input_bytes",
    "load_model",
    "register_layer",
]
