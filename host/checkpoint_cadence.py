"""Checkpoints of mini-batch models fall on batch boundaries (docs/arithmetic.md, section 5.7).

The batch accumulators and the batch counter are not in a checkpoint: the device saves the state
bytes and the schedule, and a checkpoint restores bit-exactly only where the accumulators are all
zero, i.e. right after a batch was applied. Batches end every ``batch_size`` steps and at the end
of every epoch (a shorter last batch), so a cadence of ``checkpoint_every`` steps hits only
boundaries when it is a multiple of the batch size and the epoch is a multiple of the batch size too,
or when the cadence is a multiple of the epoch.
"""

from __future__ import annotations

from ..errors import McutrainError


def check_checkpoint_cadence(batch_size: int, checkpoint_every: int, samples_per_epoch: int) -> None:
    """Refuse a checkpoint cadence that could checkpoint in the middle of a mini-batch."""
    if checkpoint_every <= 0 or batch_size <= 1:
        return
    if samples_per_epoch > 0 and checkpoint_every % samples_per_epoch == 0:
        return  # every checkpoint ends an epoch, which ends a batch
    if checkpoint_every % batch_size != 0:
        raise McutrainError(
            f"--checkpoint-every {checkpoint_every} is not a multiple of the model's batch_size {batch_size}: "
            "a checkpoint in the middle of a mini-batch would lose its accumulated updates; use a multiple "
            f"of {batch_size}")
    if samples_per_epoch % batch_size != 0:
        raise McutrainError(
            f"an epoch of {samples_per_epoch} samples ends with a shorter mini-batch (batch_size {batch_size}), "
            f"so --checkpoint-every {checkpoint_every} would checkpoint in the middle of a batch in later epochs; "
            f"use a multiple of {samples_per_epoch} or a number of training samples that is a multiple of "
            f"{batch_size}")
