"""Learning-rate schedules of the float reference, per epoch.

- exponential (the paper's): lr_e = lr_start (lr_end / lr_start)^(e / (epochs - 1)), from lr_start at
  the first epoch to lr_end at the last one (lr <- lr (lr_end/lr_start)^(1/epochs) per epoch in the
  paper's code reaches lr_end one epoch later; the difference is one epoch's decay).
- pow2-step: lr_e = 2^-(shift + e // every), floored at 2^-min_shift: a shift, as on the device.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ExpDecay:
    lr_start: float
    lr_end: float
    epochs: int

    def __call__(self, epoch: int) -> float:
        if self.epochs <= 1:
            return self.lr_start
        return self.lr_start * (self.lr_end / self.lr_start) ** (min(epoch, self.epochs - 1) / (self.epochs - 1))


@dataclass(frozen=True)
class Pow2Step:
    shift: int
    every: int = 1
    min_shift: int = 30

    def __call__(self, epoch: int) -> float:
        return 2.0 ** -min(self.shift + epoch // max(1, self.every), self.min_shift)
