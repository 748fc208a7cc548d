"""Checkpoints of the devmodes state on the emulated board: biases and batch-norm statistics travel in
the state bytes, mini-batch models are checkpointed at batch boundaries only (docs/arithmetic.md,
section 5.7). A board reset mid-session restores the last checkpoint and the session stays bit-exact
with the twin, which trains without interruption."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import session_with_board_reset, small_model
from mcutrain.host.checkpoint_cadence import check_checkpoint_cadence

from mcutrain.cli import main
from mcutrain.errors import McutrainError
from mcutrain.job import build_firmware


@pytest.mark.parametrize("batch,every,epoch", [(1, 7, 601), (4, 300, 600), (4, 8, 0), (32, 1000, 1000),
                                               (32, 2000, 1000), (4, 0, 601)])
def test_cadences_on_batch_boundaries_pass(batch: int, every: int, epoch: int) -> None:
    check_checkpoint_cadence(batch, every, epoch)


@pytest.mark.parametrize("batch,every,epoch,why", [(4, 6, 600, "not a multiple of the model's batch_size 4"),
                                                   (32, 64, 1000, "shorter mini-batch"),
                                                   (32, 1024, 1000, "shorter mini-batch")])
def test_cadences_inside_a_batch_are_refused(batch: int, every: int, epoch: int, why: str) -> None:
    with pytest.raises(McutrainError, match=why):
        check_checkpoint_cadence(batch, every, epoch)


def test_train_refuses_a_mid_batch_cadence(tmp_path: Path) -> None:
    model = small_model(tmp_path, weights="sign", train=600, test=100, pool=2, encoding="u4",
                        extra="batch_size = 4")
    res = CliRunner().invoke(main, ["train", str(model), "--checkpoint-every", "6", "--quiet",
                                    "--build-dir", str(tmp_path / "b")])
    assert res.exit_code == 1 and "multiple of the model's batch_size 4" in res.output
    assert not (tmp_path / "b").exists()  # refused before anything was generated


def _bias_bn(text: str) -> str:
    text = text.replace('activation = "relu"', 'activation = "relu"\nbatch_norm = true')
    return text.replace('activation = "linear"', 'activation = "linear"\nbias = true')


def _biases(text: str) -> str:
    text = text.replace('activation = "relu"', 'activation = "relu"\nbias = true')
    return text.replace('activation = "linear"', 'activation = "linear"\nbias = true')


@pytest.mark.qemu
@pytest.mark.parametrize("weights,extra,edit,kill_at,replayed", [
    # batch 1: batch norm in the hidden layer, a bias in the output layer; restored at 300
    ("ternary", "", _bias_bn, 500, 450),
    # mini-batches of 4, biases, two epochs: restored at 900, mid second epoch (epoch_left = 300)
    ("sign", "batch_size = 4\nepochs = 2", _biases, 1000, 950),
])
def test_board_reset_restores_the_new_state(tmp_path: Path, weights: str, extra: str,
                                            edit, kill_at: int, replayed: int) -> None:
    model = small_model(tmp_path, weights=weights, train=600, test=200, pool=2, encoding="u4", units=32,
                        extra=extra)
    model.write_text(edit(model.read_text()))
    spec, proj, elf = build_firmware(model, None, tmp_path / "b", quiet=True)
    res, killed = session_with_board_reset(spec, proj, elf, kill_at=kill_at, digest_every=50)
    assert killed and res.recoveries == 1
    samples_of_digests = [d[0] for d in res.digests]
    assert samples_of_digests.count(replayed) == 2  # trained before the reset and again after the restore
    assert res.bit_exact is True and res.weights_equal is True and res.predictions_equal is True
    assert not res.digest_mismatches
