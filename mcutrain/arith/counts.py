"""The data of a multiplication count (mcutrain/results/multiplications.py explains the formulas): the two
conventions (the paper's, the device's) and one layer's count per phase. Here, in the arithmetic package,
because every layer kind's plan returns its own count (LayerPlan.multiplications)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Convention:
    name: str
    backward_first_layer: bool   # count dx of the input layer
    update_lr_per_input: bool    # count lr * x_i (n_in a layer) when the update multiplies
    bn_per_unit: int             # multiplications of batch norm a unit a sample (when batch norm is on)


PAPER = Convention("paper", backward_first_layer=True, update_lr_per_input=False, bn_per_unit=3)
DEVICE = Convention("device", backward_first_layer=False, update_lr_per_input=True, bn_per_unit=3)


@dataclass(frozen=True)
class LayerCount:
    n_in: int
    n_out: int
    forward: int
    backward: int
    update: int
    batch_norm: int

    @property
    def total(self) -> int:
        return self.forward + self.backward + self.update + self.batch_norm
