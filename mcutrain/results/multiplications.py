"""Multiplications per training sample of a dense network, per layer and phase, by formula.

One implementation for the paper's count (docs/results.md, issue 3 result 3) and the benchmark's
"by formula" column (mcutrain/bench/matrix.py). Per dense layer with n_in x n_out weights and
n = n_in*n_out:

- forward  z = x W:              n with float32 weights; 0 with binary/ternary weights (a product with
                                  +-W0 or 0 is a sign flip or nothing; W0 is folded into a shift/scale)
- backward dx = delta W^T:        n with float32 weights, 0 with binary/ternary; the paper counts it for
                                  every layer, the device computes it from the second layer on only
- update   dW = x^T delta:        n, and 0 with quantized back-propagation (x_q = +-2^k: a shift);
                                  the device also counts lr * x_i (n_in) where it multiplies
- batch norm:                     3 a unit (the paper's count: scale of the forward pass, and two in
                                  its backward pass), 0 without batch norm or with the shift-based form

The paper's convention (``PAPER``) reproduces its MNIST figures: 784-1024-1024-1024-10 with batch
norm, batch 200: full precision 3 x 2,910,208 + 3 x 3,082 = 8,739,870 a sample (1.748e9 a batch),
ternary + quantized backprop 9,246 a sample (1.85e6 a batch). The device's convention (``DEVICE``)
is the benchmark's upper bound for float32 SGD at batch 1 (all inputs non-zero).
Weight sampling (a comparison with a random number) is not a multiplication in either count.
"""

from __future__ import annotations

from typing import Any

from ..arith.counts import DEVICE, PAPER, Convention, LayerCount  # noqa: F401 (re-exported)

FLOAT_MODES = ("float32",)


def count_layers(sizes: list[int] | tuple[int, ...], *, quantized_weights: bool, qbp: bool, batch_norm: bool,
                 conv: Convention = PAPER) -> list[LayerCount]:
    """Per layer counts a training sample of a dense network given as [n_inputs, units, ...].
    quantized_weights: binary or ternary (any sampling)."""
    from ..arith.plan import dense_layers, make_plan  # noqa: PLC0415

    # the layers' kinds count (LayerPlan.multiplications); only the sizes are read from this plan
    plan = make_plan(sizes[0], dense_layers(len(sizes) - 1, units=sizes[1:]), weights="float32")
    return count_plan(plan.layers, quantized_weights=quantized_weights, qbp=qbp, batch_norm=batch_norm, conv=conv)


def count_plan(layers: Any, *, quantized_weights: bool, qbp: bool, batch_norm: bool,
               conv: Convention = PAPER) -> list[LayerCount]:
    """Per layer counts a training sample of planned layers (mcutrain/arith/layers.py), each by its kind."""
    return [layer.multiplications(quantized_weights=quantized_weights, qbp=qbp, batch_norm=batch_norm, conv=conv)
            for layer in layers]


def training_total(sizes: list[int] | tuple[int, ...], *, quantized_weights: bool, qbp: bool, batch_norm: bool,
                   conv: Convention = PAPER) -> int:
    return sum(c.total for c in count_layers(sizes, quantized_weights=quantized_weights, qbp=qbp,
                                             batch_norm=batch_norm, conv=conv))


def inference_total(sizes: list[int] | tuple[int, ...], *, quantized_weights: bool) -> int:
    """Weight multiplications of one inference (batch norm folded at inference is not counted)."""
    return 0 if quantized_weights else sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))


def formula_text(conv: Convention) -> str:
    bwd = "every layer" if conv.backward_first_layer else "from the second layer on"
    lr = " + n_in (lr x_i)" if conv.update_lr_per_input else ""
    return (f"forward n_in n_out (0 binary/ternary); backward n_in n_out, {bwd} (0 binary/ternary); "
            f"update n_in n_out{lr} (0 with quantized back-propagation); batch norm {conv.bn_per_unit} n_out "
            "(0 without)")
