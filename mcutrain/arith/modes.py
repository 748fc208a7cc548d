"""The names of the weight modes and of the update roundings, defined once.

The model file (`[training] weights`, `[arithmetic] update_rounding`), the arithmetic plan, the float
reference, the benchmark and the modes table all read these tuples; docs/arithmetic.md defines what
each mode and rounding computes. This module imports nothing, so every part can use it.
"""

from __future__ import annotations

WEIGHT_MODES: tuple[str, ...] = ("binary", "sign", "ternary", "ternary_det", "float32")
"""Every weight mode of a model file: binary connect (stochastic `binary`, deterministic `sign`),
ternary connect (stochastic `ternary`, deterministic `ternary_det`), and the float32 baseline."""

FLOAT_MODE = "float32"
"""The float32 baseline: multiplications, no quantized back-propagation, IEEE single rounding."""

QUANTIZED_MODES: tuple[str, ...] = tuple(m for m in WEIGHT_MODES if m != FLOAT_MODE)
"""The integer modes: a product with a weight is an addition, a subtraction or nothing."""

BINARY_MODES: tuple[str, ...] = ("binary", "sign")
"""Binary connect: weights +-W0."""

TERNARY_MODES: tuple[str, ...] = ("ternary", "ternary_det")
"""Ternary connect: weights -W0, 0, +W0."""

UPDATE_ROUNDINGS: tuple[str, ...] = ("nearest", "stochastic", "stochastic_shared")
"""Rounding of the shifted weight update (docs/arithmetic.md, section 5)."""
