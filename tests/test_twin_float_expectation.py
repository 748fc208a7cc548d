"""The float reference (mcutrain/reference/float_mlp.py, FloatMLP, float64) and the integer twin
(mcutrain/twin/, bit-exact with the device) agree in expectation on a small network, 12-6-3.

Both start from the same latent weights (float w = W_int / 2^LW * W0 with the float's W0 set to the
twin's power of two 2^-weight_shift), see the same input and label, and are run over many independent
random streams (twin: xorshift32 seeds; float: one NumPy generator). Compared:

- forward: the mean over the weight sampling of the pre-activations (a linear 12-6 twin against the
  exact expectation x @ w), of the hidden outputs and of the network outputs (12-6-3 twin against the
  mean of FloatMLP's sampled forward); the deterministic modes exactly;
- one training step: the mean change of every latent weight (twin: integer change x W0 / 2^LW;
  float: FloatMLP's change) for every integer weight mode, with quantized back-propagation on
  (update rounded to nearest, or stochastically with 8-bit latents) and off.

Exactness of the setup: the inputs are multiples of 2^(s0 + s1) / 2^A, so every forward shift of the
twin is exact and, for the same sampled weights, its activations, outputs and errors are exactly the
float's (dyadic numbers, exact in float64 too). What remains is the sampling (same distributions, by
docs/arithmetic.md sections 4 and 6) and the rounding of the update to latent units: unbiased with
stochastic rounding, within half a latent unit per shifted term with rounding to nearest (one term a
weight with quantized back-propagation, one per set bit of the input without). Clipping is excluded:
a guard asserts that no weight of either side reached its clip range.

Tolerance: |mean_twin - mean_float| <= rounding bound + K_SE standard errors of the difference of
the two means (each element; the standard error from both samples' variances). K_SE = 5: about 1200
compared elements make a spurious failure at 5 standard errors improbable (~1e-3 under normality),
while a real bias of a few standard errors per element is still caught, as the checks below show.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from mcutrain.arith.plan import ArithPlan, make_dense_plan
from mcutrain.reference import FloatMLP
from mcutrain.twin import TwinNetwork

SIZES = (12, 6, 3)
LABEL = 1
K_SE = 5.0
N_STEPS = 2000       # independent streams per stochastic configuration and side
N_FORWARD = 4000     # independent weight samplings for the forward comparison
EPS = 1e-12          # float64 slack (every value here is dyadic and exact; kept for safety)

# Q(8) inputs, multiples of 8 = 2^(s0 + s1) (s0 = 2, s1 = 1 for 12-6-3), up to 0.5; one zero input
# (an inactive row: no draws, no update) and one exact power of two (64 = 0.25: its quantized value
# is certain, so its updates vary only through the weight sampling).
X_INT = np.array([8, 24, 0, 64, 40, 88, 16, 128, 56, 104, 72, 120], dtype=np.int64)
# starting latent weights in units of W0 / 2^6 (8-bit latents), |w| <= 44/64 W0: far enough from
# the clip range that one step does not reach it (asserted), and about a third of them beyond the
# ternary_det thresholds +-W0/2; 16-bit latents use the same values x 2^8
_g = np.random.default_rng(20240)
W_UNITS6 = [_g.integers(-28, 45, (12, 6)), _g.integers(-44, 45, (6, 3))]  # layer 0 leaning positive: live ReLUs


@dataclass(frozen=True)
class Steps:
    """Changes of every layer's weights in real units, one row per independent step."""
    dw: list[np.ndarray]          # per layer (n, n_in, n_out)
    rounding_bound: list[np.ndarray]  # per layer (n_in, n_out): largest bias of the mean from rounding


def plan_of(mode: str, qbp: bool, rounding: str = "nearest", latent_bits: int = 16, scale: int = 0) -> ArithPlan:
    """The 12-6-3 plan; with weight_scale_shift = `scale`, the learning rate is 2^(-6 - 2 scale) so that the
    larger steps of the larger outputs stay clear of the clip range."""
    return make_dense_plan(list(SIZES), weights=mode, qbp=qbp, update_rounding=rounding, latent_bits=latent_bits,
                           weight_scale_shift=scale, lr_start=-6 - 2 * scale)


def inputs(scale: int) -> np.ndarray:
    """X_INT, doubled with weight_scale_shift = 1 (W0 x 2: s0 = 1, s1 = 0, outputs x 8): large outputs,
    so that the squared hinge's zero branch (margin <= 0) is taken in a good part of the steps."""
    return X_INT << scale


def start_weights(plan: ArithPlan) -> list[np.ndarray]:
    """The twin's starting latent weights (integers, W0 = 2^LW)."""
    return [w << (plan.latent_shift - 6) for w in W_UNITS6]


def w0_real(plan: ArithPlan) -> list[float]:
    return [2.0 ** -layer.weight_shift for layer in plan.layers]


def float_net(plan: ArithPlan, seed: int) -> FloatMLP:
    """FloatMLP with the twin's starting weights and power-of-two W0 (float64, real units)."""
    net = FloatMLP(list(SIZES), weights=plan.weights, qbp=plan.qbp, lr=2.0 ** plan.lr_start, seed=seed)
    net.w0 = w0_real(plan)
    net.W = [w / plan.w0 * w0 for w, w0 in zip(start_weights(plan), net.w0, strict=False)]
    return net


def twin_seeds(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(1, 2**32, n, dtype=np.uint64)


def twin_steps(plan: ArithPlan, n: int, seed: int, x: np.ndarray = X_INT) -> Steps:
    """n training steps of the twin (TwinNetwork.train_step), each from the starting weights with its own
    xorshift32 seed; the integer weight changes in real units, and the rounding bound of their mean."""
    net = TwinNetwork(plan)
    net.start(1, 0)  # samples_per_epoch 0: the learning rate stays 2^lr_start
    assert net.rng is not None
    start = start_weights(plan)
    dw = [np.zeros((n, *w.shape), dtype=np.int64) for w in start]
    popcount = [np.zeros((n, w.shape[0])) for w in start]
    for k, s in enumerate(twin_seeds(n, seed)):
        for layer, w in zip(net.layers, start, strict=False):
            layer.W = w.copy()
        net.rng.state = int(s)
        net.train_step(x, LABEL)
        for i, (layer, w) in enumerate(zip(net.layers, start, strict=False)):
            dw[i][k] = layer.W - w
            x_in = layer._x  # the layer's input in this step
            popcount[i][k] = sum((x_in >> b) & 1 for b in range(plan.act_bits))
    for layer, w, d in zip(net.layers, start, dw, strict=False):  # no clipping: strictly inside [-W0, W0 - 1]
        after = w + d
        assert after.min() > -plan.w0 and after.max() < plan.w0 - 1, f"layer {layer.layer.index} clipped"
    unit = [w0 / plan.w0 for w0 in w0_real(plan)]  # one latent unit in real units
    if plan.qbp and plan.stochastic_update:
        terms = [np.zeros(w.shape[0]) for w in start]  # unbiased: E[(d + rr) >> s] = d 2^-s (s <= 16 here)
    elif plan.qbp:
        terms = [np.ones(w.shape[0]) for w in start]  # one shift_round per weight
    else:
        terms = [p.mean(axis=0) for p in popcount]  # one shift_round per set bit of the input
    bound = [0.5 * u * np.repeat(t[:, None], w.shape[1], axis=1) for u, t, w in zip(unit, terms, start, strict=False)]
    return Steps([d * u for d, u in zip(dw, unit, strict=False)], bound)


def float_steps(plan: ArithPlan, n: int, seed: int, x_int: np.ndarray = X_INT) -> list[np.ndarray]:
    """n training steps of FloatMLP (batch 1) from the starting weights, its generator running on."""
    net = float_net(plan, seed)
    start = [w.copy() for w in net.W]
    dw = [np.zeros((n, *w.shape)) for w in start]
    x = x_int[None, :] / 2.0**plan.act_frac
    y = np.array([LABEL])
    for k in range(n):
        net.W = [w.copy() for w in start]
        net.train_batch(x, y)
        for i, w in enumerate(start):
            dw[i][k] = net.W[i] - w
    for w, d, w0 in zip(start, dw, net.w0, strict=False):
        assert np.abs(w + d).max() < w0, "the float reference clipped a weight"
    return dw


def deviation_in_se(a: np.ndarray, b: np.ndarray, bound: np.ndarray | float = 0.0) -> np.ndarray:
    """Per element (axis 0 = independent samples): by how many standard errors of the difference of
    the two sample means |mean(a) - mean(b)| exceeds the allowed bias `bound`; 0 within it, inf where
    both samples are constant and differ by more than the bound."""
    diff = np.abs(a.mean(axis=0) - b.mean(axis=0))
    se = np.sqrt(a.var(axis=0, ddof=1) / len(a) + b.var(axis=0, ddof=1) / len(b))
    excess = np.maximum(diff - bound - EPS, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(excess == 0, 0.0, np.where(se > 0, excess / se, np.inf))


def max_deviation(twin: Steps, flt: list[np.ndarray], *, scale: float = 1.0, use_bound: bool = True) -> float:
    """The largest deviation (in standard errors) over every weight of every layer."""
    return max(float(deviation_in_se(t, scale * f, b if use_bound else 0.0).max())
               for t, f, b in zip(twin.dw, flt, twin.rounding_bound, strict=False))


# -- forward --------------------------------------------------------------------------------------
def twin_forward(plan: ArithPlan, n: int, seed: int) -> list[np.ndarray]:
    """n forward passes of the twin's training path (DenseTwin.forward_train, layer after layer, as
    TwinNetwork.train_step runs them), each with its own seed; every layer's output in real units."""
    net = TwinNetwork(plan)
    net.start(1, 0)
    assert net.rng is not None
    for layer, w in zip(net.layers, start_weights(plan), strict=False):
        layer.W = w
    out = [np.zeros((n, layer.n_out)) for layer in plan.layers]
    for k, s in enumerate(twin_seeds(n, seed)):
        net.rng.state = int(s)
        h = X_INT
        for i, layer in enumerate(net.layers):
            h = layer.forward_train(h, net.rng)
            out[i][k] = h
    return [o / plan.one for o in out]


def float_forward(plan: ArithPlan, n: int, seed: int, x_int: np.ndarray = X_INT) -> list[np.ndarray]:
    """n sampled forward passes of FloatMLP (its training-time weight sampling)."""
    net = float_net(plan, seed)
    x = x_int[None, :] / 2.0**plan.act_frac
    out = [np.zeros((n, size)) for size in SIZES[1:]]
    for k in range(n):
        hs = net.forward(x, [net._sampled(i) for i in range(len(net.W))])
        for i in range(len(out)):
            out[i][k] = hs[i + 1][0]
    return out


@pytest.mark.parametrize("mode", ["binary", "ternary"])
def test_expected_preactivations_are_x_times_w(mode: str) -> None:
    """A linear 12-6 twin: the mean of its sampled pre-activations is x @ w exactly (E[w_b] = w for
    |w| <= W0 in both binary and ternary connect), within K_SE standard errors."""
    plan = make_dense_plan(list(SIZES[:2]), weights=mode, qbp=True)
    assert plan.layers[0].weight_shift == 2 and not plan.layers[0].relu
    z = twin_forward(plan, N_FORWARD, seed=1)[0]
    w = W_UNITS6[0] / 64 * 2.0 ** -plan.layers[0].weight_shift
    expected = (X_INT / 2.0**plan.act_frac) @ w
    se = z.std(axis=0, ddof=1) / np.sqrt(len(z))
    dev = np.abs(z.mean(axis=0) - expected) / se
    assert dev.max() < K_SE, (dev, z.mean(axis=0), expected)
    # the comparison sees a wrong scale of the weights: 1.5 x the expectation is far outside
    assert (np.abs(z.mean(axis=0) - 1.5 * expected) / se).max() > 2 * K_SE


@pytest.mark.parametrize("mode", ["binary", "ternary"])
def test_expected_forward_outputs_agree(mode: str) -> None:
    """12-6-3: the mean hidden outputs (after the ReLU) and network outputs over the weight sampling,
    twin against FloatMLP's sampled forward."""
    plan = plan_of(mode, qbp=True)
    twin = twin_forward(plan, N_FORWARD, seed=2)
    flt = float_forward(plan, N_FORWARD, seed=3)
    for t, f in zip(twin, flt, strict=False):
        assert deviation_in_se(t, f).max() < K_SE, (t.mean(axis=0), f.mean(axis=0))
    assert deviation_in_se(twin[1], 2 * flt[1]).max() > K_SE  # a doubled output is seen


@pytest.mark.parametrize("mode", ["sign", "ternary_det"])
def test_deterministic_forward_is_the_floats_exactly(mode: str) -> None:
    plan = plan_of(mode, qbp=True)
    for t, f in zip(twin_forward(plan, 3, seed=4), float_forward(plan, 3, seed=5), strict=False):
        assert np.array_equal(t, f)


# -- one training step ----------------------------------------------------------------------------
CASES = [
    # (mode, qbp, update rounding, latent bits, weight_scale_shift)
    *[(m, True, "nearest", 16, 0) for m in ("binary", "ternary", "sign", "ternary_det")],
    *[(m, True, "stochastic", 8, 0) for m in ("binary", "ternary", "sign", "ternary_det")],
    *[(m, False, "nearest", 16, 0) for m in ("binary", "ternary", "sign", "ternary_det")],
    # large outputs: the hinge's zero branch in part of the steps (sign / ternary_det: in all, no update)
    ("binary", True, "stochastic", 8, 1), ("ternary", True, "nearest", 16, 1), ("binary", False, "nearest", 16, 1),
]


def _n(mode: str, qbp: bool) -> int:
    return N_STEPS if qbp or mode in ("binary", "ternary") else 5  # sign / ternary_det without QBP: no draws


@pytest.mark.parametrize(("mode", "qbp", "rounding", "latent_bits", "scale"), CASES)
def test_expected_weight_update_agrees(mode: str, qbp: bool, rounding: str, latent_bits: int, scale: int) -> None:
    plan = plan_of(mode, qbp, rounding, latent_bits, scale)
    n = _n(mode, qbp)
    if scale:  # the case does what it is for: some margins are zero in some steps, not in all
        y = float_forward(plan, 500, seed=12, x_int=inputs(scale))[1]
        t = np.where(np.arange(SIZES[-1]) == LABEL, 1.0, -1.0)
        hinge_off = (t * y >= 1).mean(axis=0)
        assert 0.1 < hinge_off.max() and hinge_off.min() < 0.9, hinge_off
    twin = twin_steps(plan, n, seed=10, x=inputs(scale))
    flt = float_steps(plan, n, seed=11, x_int=inputs(scale))
    for t in twin.dw:  # the step moved weights, and by more than the rounding allows
        assert np.abs(t.mean(axis=0)).max() > 10 * max(float(b.max()) for b in twin.rounding_bound) + EPS
    assert max_deviation(twin, flt) < K_SE
    # the same comparison fails for the float update doubled (a wrong learning-rate or W0 scale)
    assert max_deviation(twin, flt, scale=2.0) > K_SE
    if n == 5:  # deterministic: every step is the same, on both sides
        for t, f in zip(twin.dw, flt, strict=False):
            assert np.all(t == t[0]) and np.all(f == f[0])


def test_biased_update_rounding_is_detected() -> None:
    """8-bit latents, where one step moves a weight by a few latent units: rounding to nearest biases the
    mean update by up to half a unit, which the comparison sees when no rounding bound is allowed; the
    stochastic rounding of the same plan passes without any bound (it is unbiased)."""
    for rounding, should_pass in (("nearest", False), ("stochastic", True)):
        plan = plan_of("sign", True, rounding, 8)
        twin = twin_steps(plan, N_STEPS, seed=20)
        flt = float_steps(plan, N_STEPS, seed=21)
        dev = max_deviation(twin, flt, use_bound=False)
        assert (dev < K_SE) == should_pass, (rounding, dev)
        if not should_pass:
            # seen also where the update varies (not only where both sides are constant and se = 0)
            varying = [deviation_in_se(t, f)[t.var(axis=0) > 0] for t, f in zip(twin.dw, flt, strict=False)]
            assert max(float(v.max()) for v in varying) > 2 * K_SE
            # and with its rounding bound, rounding to nearest is within the tolerance
            assert max_deviation(twin, flt) < K_SE


def report() -> None:
    """Print every comparison's largest deviation (python tests/test_twin_float_expectation.py)."""
    print("forward (max |mean difference| / SE; no bound)")
    for mode in ("binary", "ternary"):
        plan = make_dense_plan(list(SIZES[:2]), weights=mode, qbp=True)
        z = twin_forward(plan, N_FORWARD, seed=1)[0]
        expected = (X_INT / 2.0**plan.act_frac) @ (W_UNITS6[0] / 64 * 2.0 ** -plan.layers[0].weight_shift)
        pre = (np.abs(z.mean(axis=0) - expected) / (z.std(axis=0, ddof=1) / np.sqrt(len(z)))).max()
        plan = plan_of(mode, qbp=True)
        outs = [deviation_in_se(t, f).max() for t, f in zip(twin_forward(plan, N_FORWARD, seed=2),
                                                              float_forward(plan, N_FORWARD, seed=3), strict=False)]
        print(f"  {mode:8s} pre-activations {pre:.2f}  hidden {outs[0]:.2f}  outputs {outs[1]:.2f}")
    print("one step (max over the 90 weights, in SE): raw | beyond the rounding bound | float x 2 | bound/|mean|")
    for mode, qbp, rounding, bits, scale in [*CASES, ("sign", True, "nearest", 8, 0)]:
        plan = plan_of(mode, qbp, rounding, bits, scale)
        n = _n(mode, qbp)
        twin = twin_steps(plan, n, seed=10, x=inputs(scale))
        flt = float_steps(plan, n, seed=11, x_int=inputs(scale))
        raw = max_deviation(twin, flt, use_bound=False)
        top = max(float(np.abs(t.mean(axis=0)).max()) for t in twin.dw)
        rel = max(float(b.max()) for b in twin.rounding_bound) / top
        print(f"  {mode:11s} qbp={qbp!s:5s} {rounding:10s} latent {bits:2d} scale {scale} n={n:5d}: {raw:8.2f} | "
              f"{max_deviation(twin, flt):6.2f} | {max_deviation(twin, flt, scale=2.0):8.1f} | {rel:.4f}")


if __name__ == "__main__":
    report()
