"""Generated C compiled for the host agrees with the NumPy twin bit for bit.

Every weight mode, with and without quantized back-propagation, odd sizes and
three layers: train predictions, hinge statistics, weight digests after every
50 samples, PRNG states, eval predictions and the final state bytes are equal.
"""

from __future__ import annotations

import dataclasses
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from mcutrain.arith.plan import make_dense_plan
from mcutrain.codegen.render import RenderInputs, render_sources, write_sources
from mcutrain.twin import TwinNetwork

DRIVER = Path(__file__).parent / "c" / "twin_driver.c"
CORE = Path(__file__).resolve().parent.parent / "firmware" / "core"
RUNTIME = [str(CORE / "crc.c")]  # the shared runtime of all generated code (mt_runtime.h is header-only)
CFLAGS = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic"]


def mnist_bits(n: int, data_dir: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    d = np.load(data_dir / "mnist.npz")
    x = d["x_train"].reshape(-1, 784)[:n]
    return np.packbits(x >= 128, axis=1, bitorder="little"), (x >= 128).astype(np.int64) * 256, d["y_train"][:n]



def compile_driver(plan, tmp: Path, encoding: str = "bits", sample_bytes: int = 98,
                   flags: list[str] | None = None) -> Path:
    """The generated C of `plan` with the test driver, compiled by the host's gcc into tmp/driver."""
    if shutil.which("gcc") is None:
        pytest.fail("gcc is needed for this test: apt-get install gcc")
    write_sources(render_sources(RenderInputs(plan, "t", "0123456789abcdef", encoding, sample_bytes)), tmp)
    exe = tmp / "driver"
    subprocess.run(["gcc", *(CFLAGS if flags is None else flags), "-I", str(tmp), "-I", str(CORE),
                    str(tmp / "mt_model.c"), *RUNTIME, str(DRIVER), "-o", str(exe)], check=True)
    return exe

def twin_with_one_weight_flipped(plan) -> TwinNetwork:
    """A twin whose first latent weight of the last layer is -W-1 instead of W once started (another value
    of the latent range [-W0, W0 - 1]): a one-weight mutant the comparison must catch."""
    net = TwinNetwork(plan)
    start = net.start

    def start_then_flip(seed: int, spe: int) -> None:
        start(seed, spe)
        w = net.layers[-1].W
        w[0, 0] = -w[0, 0] - 1

    net.start = start_then_flip  # type: ignore[method-assign]
    return net


def run_and_compare(exe: Path, net, enc: np.ndarray, x: np.ndarray, y: np.ndarray, *, seed: int, spe: int, n: int,
                    every: int, n_eval: int) -> tuple[bytes, list[tuple[int, int]]]:
    """Run the compiled driver and the twin on the same samples; assert every output equal.

    Returns the final state bytes and the (prediction, hinge) of each training step."""
    stdin = struct.pack("<5I", seed, spe, n, every, n_eval)
    stdin += b"".join(bytes([int(y[i])]) + enc[i].tobytes() for i in range(n))
    stdin += b"".join(enc[i].tobytes() for i in range(n_eval))
    lines = subprocess.run([str(exe)], input=stdin, capture_output=True, check=True).stdout.decode().splitlines()
    net.start(seed, spe)
    train, digests = [], []
    for i in range(n):
        pred = net.train_step(x[i], int(y[i]))
        train.append((pred, net.last_hinge))
        if (i + 1) % every == 0:
            digests.append((i + 1, net.digest(), net.prng_state))

    c_train = [tuple(int(v) for v in ln.split()[1:]) for ln in lines if ln.startswith("T ")]
    c_dig = [(int(a), int(b, 16), int(c, 16)) for _, a, b, c in (ln.split() for ln in lines if ln.startswith("D "))]
    c_eval = [int(ln.split()[1]) for ln in lines if ln.startswith("E ")]
    c_state = bytes.fromhex(next(ln for ln in lines if ln.startswith("S ")).split()[1])
    assert c_train == train
    assert c_dig == digests
    assert c_eval == [int(p) for p in net.infer(x[:n_eval])]
    assert c_state == net.state_bytes()
    return c_state, train


@pytest.mark.parametrize(
    "weights,qbp,sizes,seed,latent_bits,rounding",
    [
        ("binary", True, [100, 10], 7, 16, "nearest"),
        ("sign", True, [100, 10], 8, 16, "nearest"),
        ("binary", False, [64, 10], 9, 16, "nearest"),
        ("sign", False, [33, 17, 10], 10, 16, "nearest"),
        ("binary", True, [33, 17, 10], 0xDEADBEEF, 16, "nearest"),
        ("binary", True, [100, 10], 11, 8, "stochastic"),
        ("sign", True, [33, 17, 10], 12, 8, "stochastic"),
        ("sign", True, [64, 10], 13, 8, "nearest"),
        ("binary", True, [31, 10], 14, 12, "stochastic"),
        ("binary", True, [100, 10], 15, 8, "stochastic_shared"),
        ("sign", True, [33, 17, 10], 16, 8, "stochastic_shared"),
        ("binary", True, [31, 9, 10], 17, 12, "stochastic_shared"),
        ("sign", True, [64, 10], 18, 16, "stochastic_shared"),
        ("ternary", True, [100, 10], 15, 16, "nearest"),
        ("ternary", False, [33, 17, 10], 16, 16, "nearest"),
        ("ternary", True, [33, 17, 10], 17, 8, "stochastic"),
        ("ternary_det", True, [100, 10], 18, 16, "nearest"),
        ("ternary_det", False, [33, 17, 10], 19, 16, "nearest"),
        ("ternary_det", True, [33, 17, 10], 20, 8, "stochastic"),
        ("ternary", True, [31, 10], 21, 12, "stochastic"),
        ("ternary_det", True, [33, 17, 10], 22, 8, "stochastic_shared"),
    ],
)
def test_generated_c_matches_twin(tmp_path: Path, data_dir: Path, weights: str, qbp: bool,
                                  sizes: list[int], seed: int, latent_bits: int, rounding: str) -> None:
    n, n_eval, spe, every = 400, 150, 150, 50
    enc, x, y = mnist_bits(n, data_dir)
    plan = make_dense_plan([784, *sizes], weights=weights, qbp=qbp, lr_start=-7, lr_min=-9, latent_bits=latent_bits,
                           update_rounding=rounding)
    exe = compile_driver(plan, tmp_path)
    net = TwinNetwork(plan)
    c_state, train = run_and_compare(exe, net, enc, x, y, seed=seed, spe=spe, n=n, every=every, n_eval=n_eval)
    # the check can fail: the same twin with one latent weight changed after the start is told apart
    with pytest.raises(AssertionError):
        run_and_compare(exe, twin_with_one_weight_flipped(plan), enc, x, y, seed=seed, spe=spe, n=n, every=every,
                        n_eval=n_eval)


@pytest.mark.parametrize("weights", ["sign", "ternary"])
def test_constant_learning_rate_builds_and_matches_twin(tmp_path: Path, data_dir: Path, weights: str) -> None:
    """lr_decay_every_epochs = 0 (a constant learning rate) generated `k < 0` on an unsigned counter, which
    -Werror=type-limits refused; it builds now, and over more than one epoch the rate stays constant in C and
    twin alike (a decaying twin is told apart)."""
    n, n_eval, spe, every = 300, 100, 100, 50
    enc, x, y = mnist_bits(n, data_dir)
    kw = dict(weights=weights, qbp=True, lr_start=-6, lr_min=-9, latent_bits=8, update_rounding="stochastic")
    plan = make_dense_plan([784, 17, 10], lr_decay_every_epochs=0, **kw)
    exe = compile_driver(plan, tmp_path)
    run_and_compare(exe, TwinNetwork(plan), enc, x, y, seed=5, spe=spe, n=n, every=every, n_eval=n_eval)
    with pytest.raises(AssertionError):
        run_and_compare(exe, TwinNetwork(make_dense_plan([784, 17, 10], lr_decay_every_epochs=1, **kw)), enc, x, y,
                        seed=5, spe=spe, n=n, every=every, n_eval=n_eval)


@pytest.mark.parametrize(
    "weights,qbp,sizes,biases,latent_bits,rounding",
    [
        ("binary", True, [33, 17, 10], (True, True, True), 16, "nearest"),
        ("sign", False, [33, 17, 10], (False, True, True), 16, "nearest"),
        ("ternary", True, [31, 10], (True, True), 8, "stochastic"),
        ("ternary_det", True, [33, 17, 10], (True, False, True), 12, "stochastic"),
        # 8-bit latents, 784 x 33 + 33 x 10 = 26202 bytes of weights: 2 bytes of padding before the biases
        ("sign", True, [33, 10], (True, True), 8, "stochastic"),
        ("sign", True, [33, 17, 10], (True, False, True), 8, "stochastic_shared"),
        ("ternary", True, [31, 10], (True, True), 8, "stochastic_shared"),
    ],
)
def test_generated_c_with_biases_matches_twin(tmp_path: Path, data_dir: Path, weights: str, qbp: bool,
                                              sizes: list[int], biases: tuple[bool, ...], latent_bits: int,
                                              rounding: str) -> None:
    """Biases (int32, in the state after the weights) are updated and saved bit for bit like the twin's."""
    n, n_eval, spe, every = 400, 150, 150, 50
    enc, x, y = mnist_bits(n, data_dir)
    plan = make_dense_plan([784, *sizes], weights=weights, qbp=qbp, lr_start=-6, lr_min=-8, latent_bits=latent_bits,
                           update_rounding=rounding, biases=biases)
    exe = compile_driver(plan, tmp_path)
    net = TwinNetwork(plan)
    c_state, _ = run_and_compare(exe, net, enc, x, y, seed=31, spe=spe, n=n, every=every, n_eval=n_eval)
    assert len(c_state) == plan.state_bytes
    # the biases moved (the test would pass vacuously if they stayed at zero)
    tail = np.frombuffer(c_state[plan.state_bytes - 4 * sum(la.n_out for la in plan.layers if la.bias):], "<i4")
    assert np.count_nonzero(tail) > len(tail) // 2
    assert c_state[plan.latent_bytes * plan.n_weights:][:plan.state_pad] == bytes(plan.state_pad)


@pytest.mark.parametrize(
    "weights,qbp,sizes,biases,latent_bits,rounding,batch,spe",
    [
        ("binary", True, [33, 17, 10], (True, True, True), 16, "nearest", 8, 150),
        ("sign", True, [100, 10], (False, False), 8, "stochastic", 4, 150),  # int16 accumulators
        ("ternary", True, [31, 10], (True, True), 8, "stochastic", 16, 150),
        ("ternary_det", False, [33, 17, 10], (False, True, False), 16, "nearest", 32, 150),
        ("sign", False, [64, 10], (True, True), 16, "nearest", 2, 0),         # no epoch boundary
        ("ternary", True, [33, 17, 10], (False, False, False), 12, "stochastic", 256, 150),  # int32, epoch flush
    ],
)
def test_generated_c_with_mini_batches_matches_twin(tmp_path: Path, data_dir: Path, weights: str, qbp: bool,
                                                    sizes: list[int], biases: tuple[bool, ...], latent_bits: int,
                                                    rounding: str, batch: int, spe: int) -> None:
    """Mini-batches: summed clamped updates applied with a shift every batch_size samples and at the end of
    every epoch (150 samples: a short last batch), bit for bit like the twin."""
    n, n_eval, every = 400, 150, 50
    enc, x, y = mnist_bits(n, data_dir)
    plan = make_dense_plan([784, *sizes], weights=weights, qbp=qbp, lr_start=-4, lr_min=-6, latent_bits=latent_bits,
                           update_rounding=rounding, biases=biases, batch_size=batch)
    assert plan.batch_acc_ctype == ("int16_t" if batch * 2 * plan.w0 < 2**15 else "int32_t")
    exe = compile_driver(plan, tmp_path)
    net = TwinNetwork(plan)
    c_state, train = run_and_compare(exe, net, enc, x, y, seed=41, spe=spe, n=n, every=every, n_eval=n_eval)
    # the weights moved away from their initial values (the batches were applied)
    start = TwinNetwork(plan)
    start.start(41, spe)
    assert c_state != start.state_bytes()


@pytest.mark.parametrize(
    "weights,qbp,sizes,bn,biases,latent_bits,rounding",
    [
        ("ternary", True, [33, 17, 10], (True, True, True), None, 8, "stochastic"),
        ("binary", True, [64, 10], (True, False), (False, True), 16, "nearest"),
        ("sign", False, [33, 10], (False, True), (True, False), 8, "nearest"),  # 8-bit latents: padding
        ("ternary_det", True, [31, 10], (True, True), None, 12, "stochastic"),
    ],
)
def test_generated_c_with_batch_norm_matches_twin(tmp_path: Path, data_dir: Path, weights: str, qbp: bool,
                                                  sizes: list[int], bn: tuple[bool, ...],
                                                  biases: tuple[bool, ...] | None, latent_bits: int,
                                                  rounding: str) -> None:
    """Batch norm without multiplications: the running statistics, beta and every prediction bit for bit."""
    n, n_eval, spe, every = 400, 150, 150, 50
    enc, x, y = mnist_bits(n, data_dir)
    plan = make_dense_plan([784, *sizes], weights=weights, qbp=qbp, lr_start=-6, lr_min=-8, latent_bits=latent_bits,
                           update_rounding=rounding, biases=biases, batch_norm=bn)
    plan = dataclasses.replace(plan, bn_momentum_shift=4)  # statistics that move fast: more of them is tested
    exe = compile_driver(plan, tmp_path)
    net = TwinNetwork(plan)
    c_state, _ = run_and_compare(exe, net, enc, x, y, seed=51, spe=spe, n=n, every=every, n_eval=n_eval)
    assert len(c_state) == plan.state_bytes
    bn_words = np.frombuffer(c_state[plan.state_bytes - 4 * plan.n_bn_words:], "<i4")
    layer = next(la for la in net.layers if la.bn is not None)
    k = layer.layer.n_out
    mu, dev, beta = bn_words[:k], bn_words[k:2 * k], bn_words[2 * k:3 * k]
    assert np.count_nonzero(mu) > k // 2 and np.count_nonzero(beta) > k // 2   # statistics and beta moved
    assert (dev >= plan.bn_dev_min).all() and len(np.unique(dev)) > 1
    assert (layer.bn.scale_exponents() != 0).any()  # the power-of-two scaling is exercised, not only centring


@pytest.mark.parametrize(
    "sizes,encoding,seed,lr,wss,opt",
    [
        ([100, 10], "bits", 21, (-7, -9), 0, "-O2"),
        ([33, 17, 10], "bits", 22, (-6, -8), 1, "-O2"),
        ([64, 10], "u4", 23, (-5, -9), 0, "-O2"),
        ([31, 10], "u8", 0xDEADBEEF, (-6, -6), 1, "-O2"),
        ([33, 17, 10], "u4", 24, (-6, -8), 0, "-O0"),
        ([33, 17, 10], "u8", 25, (-6, -8), 1, "-O3"),
    ],
)
def test_generated_float32_c_matches_float32_twin(tmp_path: Path, data_dir: Path, sizes: list[int], encoding: str,
                                                  seed: int, lr: tuple[int, int], wss: int, opt: str) -> None:
    """The float baseline: the same bits on the host's IEEE single (SSE) as in the NumPy float32 twin, whatever
    the optimisation level; the learning rate decays every 150 samples."""
    from mcutrain.data import decode, encode
    from mcutrain.twin import Float32Twin, make_twin

    n, n_eval, spe, every = 400, 150, 150, 50
    d = np.load(data_dir / "mnist.npz")
    pixels, y = d["x_train"].reshape(-1, 784)[:n], d["y_train"][:n]
    enc = encode(pixels, encoding, 128)
    x = decode(enc, encoding, 784, 8)
    plan = make_dense_plan([784, *sizes], weights="float32", lr_start=lr[0], lr_min=lr[1], weight_scale_shift=wss)
    flags = [f for f in CFLAGS if f != "-O2"] + [opt, "-ffp-contract=off"]
    exe = compile_driver(plan, tmp_path, encoding, enc.shape[1], flags)
    net = make_twin(plan)
    assert isinstance(net, Float32Twin)
    c_state, train = run_and_compare(exe, net, enc, x, y, seed=seed, spe=spe, n=n, every=every, n_eval=n_eval)
    assert len(c_state) == 4 * sum(a * b for a, b in zip([784, *sizes][:-1], sizes, strict=True))
    w = np.frombuffer(c_state, dtype="<f4")
    assert np.isfinite(w).all() and len(np.unique(w)) > len(w) // 2   # real-valued weights, not a few levels
    # it learns: the online accuracy of the last 200 samples is far above chance
    assert np.mean([p == int(t) for (p, _), t in zip(train[-200:], y[-200:], strict=True)]) > 0.2
