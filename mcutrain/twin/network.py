"""The twin network: the device's training step and inference, in vectorized integers."""

from __future__ import annotations

import numpy as np

from ..arith.plan import ArithPlan
from ..arith.prng import XorShiftStream
from . import conv, dense, pool  # noqa: F401 (registers the conv2d, dense, maxpool and flatten twins)
from .layer import StateDigest, TwinLayer, twin_class
from .loss import squared_hinge_error
from .schedule import StepSchedule


class TwinNetwork(StateDigest):
    """Bit-exact model of the generated C: same seed and sample order, same bits."""

    def __init__(self, plan: ArithPlan) -> None:
        self.plan = plan
        # each layer's kind has its twin class (registered with mcutrain/twin/layer.py: register_twin)
        self.layers: list[TwinLayer] = [twin_class(plan, lp)(plan, lp) for lp in plan.layers]
        self.rng: XorShiftStream | None = None
        self.schedule = StepSchedule(plan)
        self.last_hinge = 0

    def start(self, seed: int, samples_per_epoch: int) -> None:
        """mt_session_start: seed the generator, initialise weights, reset the schedule."""
        capacity = max(1, *(lp.n_in * lp.draws_per_row for lp in self.plan.layers))
        self.rng = XorShiftStream(seed, capacity=min(capacity, 1 << 17))
        for layer in self.layers:
            layer.init(self.rng)
        self.schedule.reset(samples_per_epoch)
        self.batch_count = 0
        self.spe = samples_per_epoch
        self.epoch_left = samples_per_epoch

    def train_step(self, x: np.ndarray, label: int) -> int:
        """mt_train_step on one decoded sample (int, Q(A)); returns the prediction made before the update."""
        assert self.rng is not None, "start() first"
        h = np.asarray(x, dtype=np.int64)
        for layer in self.layers:
            h = layer.forward_train(h, self.rng)
        pred = int(np.argmax(h))
        delta, self.last_hinge = squared_hinge_error(h, label, self.plan)
        first = self.first_trainable  # back-propagation stops there: the layers before it are frozen
        for k in range(len(self.layers) - 1, first - 1, -1):
            delta_in = self.layers[k].train_backward(delta, self.rng, self.schedule.lr_exp, k > first)
            if delta_in is not None:
                delta = delta_in
        if self.plan.batch_shift:
            self._end_of_step_batch()
        self.schedule.advance()
        return pred

    @property
    def first_trainable(self) -> int:
        """The first layer that learns (``trainable = false`` layers come first; model files check it)."""
        return self.plan.first_trainable

    def _end_of_step_batch(self) -> None:
        """Apply the accumulated updates after batch_size samples, or at the end of an epoch (a shorter
        last batch, still divided by batch_size)."""
        self.batch_count += 1
        if self.spe:
            self.epoch_left -= 1
        if self.batch_count == self.plan.batch_size or (self.spe and self.epoch_left == 0):
            for layer in self.layers:
                layer.apply_batch()
            self.batch_count = 0
            if self.spe and self.epoch_left == 0:
                self.epoch_left = self.spe

    def infer(self, x: np.ndarray) -> np.ndarray:
        """mt_infer on a batch (N, n_inputs): deterministic signs, argmax (first maximum)."""
        h = np.asarray(x, dtype=np.int64)
        for layer in self.layers:
            h = layer.infer(h)
        return np.argmax(h, axis=-1)

    def state_bytes(self) -> bytes:
        """Weights of every layer, zero padding to 4 bytes, biases of every layer that has one, then the
        batch-norm state of every layer that has one (docs/arithmetic.md, section 7)."""
        return (b"".join(layer.state_bytes() for layer in self.layers) + bytes(self.plan.state_pad)
                + b"".join(layer.bias_bytes() for layer in self.layers)
                + b"".join(layer.bn_bytes() for layer in self.layers))
