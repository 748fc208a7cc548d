"""The learning-rate schedule every twin shares (docs/arithmetic.md, section 5.9)."""

from __future__ import annotations

from ..arith.plan import ArithPlan


class StepSchedule:
    """lr = 2^lr_exp; every lr_decay_every_epochs x samples_per_epoch steps lr_exp drops by
    lr_decay_shift, never below lr_min. The device counts down instead of dividing."""

    def __init__(self, plan: ArithPlan) -> None:
        self.plan = plan
        self.reset(0)

    def reset(self, samples_per_epoch: int) -> None:
        self.samples = 0
        self.lr_exp = self.plan.lr_start
        self.period = samples_per_epoch * self.plan.lr_decay_every_epochs
        self.countdown = self.period

    def advance(self) -> bool:
        """Count one training step; True when the learning rate changed."""
        self.samples += 1
        if self.period == 0:
            return False
        self.countdown -= 1
        if self.countdown:
            return False
        self.countdown = self.period
        self.lr_exp = max(self.plan.lr_min, self.lr_exp - self.plan.lr_decay_shift)
        return True
