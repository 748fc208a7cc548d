"""The CNN accuracy examples (docs/results.md, "CNN accuracy with the integer twin") fit the RAM they are named
for, by the planner's figure (what `mcutrain generate` refuses above): the 128 KB ones the default board, the
256 KB ones a 262,144-byte budget; and the 256 KB ones need that budget (they are over the default board)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from mcutrain.arith.plan import plan_from_spec
from mcutrain.build.boards import board_for
from mcutrain.codegen.memory import plan_memory
from mcutrain.model import load_model

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
KB128, KB256 = 131_072, 262_144


def _planned(name: str) -> tuple[int, int]:
    spec = load_model(EXAMPLES / name)
    board = board_for(spec.board, getattr(spec, "ram_budget", None))
    return plan_memory(plan_from_spec(spec), board, spec.input_bytes).total(), board.ram_bytes


@pytest.mark.parametrize("name", ["mnist_cnn_best.toml", "mnist_cnn_best_l16.toml", "cifar10_cnn_128k.toml",
                                  "cifar10_cnn_128k_l16.toml", "cifar10_cnn_128k_w18.toml",
                                  "cifar10_cnn_128k_l16_w14.toml", "mnist_cnn_l16_w18.toml"])
def test_128k_examples_fit_the_default_board(name: str) -> None:
    planned, board_ram = _planned(name)
    assert board_ram == KB128 and planned <= KB128, f"{name}: {planned:,} bytes planned"


@pytest.mark.parametrize("name", ["cifar10_cnn_256k.toml", "cifar10_cnn_256k_l16_wide.toml",
                                  "cifar10_cnn_256k_w29.toml", "cifar10_cnn_256k_l16_w23.toml"])
def test_256k_examples_fit_a_256k_budget_only(name: str) -> None:
    planned, _ = _planned(name)
    assert KB128 < planned <= KB256, f"{name}: {planned:,} bytes planned"


def test_the_widest_examples_are_the_widest_that_fit() -> None:
    """w18 (8-bit), w14 and w23 (16-bit) are the widest w-2w-4w networks of their files' shape under their budget:
    one filter more in every layer is over (the planner's figure)."""
    for name, budget in (("cifar10_cnn_128k_w18.toml", KB128), ("cifar10_cnn_128k_l16_w14.toml", KB128),
                         ("mnist_cnn_l16_w18.toml", KB128),
                         ("cifar10_cnn_256k_w29.toml", KB256), ("cifar10_cnn_256k_l16_w23.toml", KB256)):
        spec = load_model(EXAMPLES / name)
        w = spec.layers[0].filters
        wider = dataclasses.replace(spec, layers=[
            dataclasses.replace(la, filters=la.filters // w * (w + 1),
                                channels=la.channels if i == 0 else la.channels // w * (w + 1))
            if la.kind == "conv2d" else la for i, la in enumerate(spec.layers)])
        board = board_for(spec.board, getattr(spec, "ram_budget", None))
        assert board.ram_bytes == budget
        assert plan_memory(plan_from_spec(spec), board, spec.input_bytes).total() <= budget
        assert plan_memory(plan_from_spec(wider), board, wider.input_bytes).total() > budget, name


def test_16_bit_latents_are_what_the_l16_examples_change() -> None:
    base, l16 = load_model(EXAMPLES / "cifar10_cnn_128k.toml"), load_model(EXAMPLES / "cifar10_cnn_256k_l16.toml")
    assert (base.arithmetic.latent_bits, l16.arithmetic.latent_bits) == (8, 16)
    assert [la.to_dict() for la in base.layers] == [la.to_dict() for la in l16.layers]
    assert base.training == l16.training
