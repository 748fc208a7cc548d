"""Generated C compiled for the host agrees with the NumPy twin bit for bit.

Every weight mode, with and without quantized back-propagation, odd sizes and
three layers: train predictions, hinge statistics, weight digests after every
50 samples, PRNG states, eval predictions and the final state bytes are equal.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from mcutrain.arith.plan import make_plan
from mcutrain.codegen.render import RenderInputs, render_sources, write_sources
from mcutrain.twin import TwinNetwork

DRIVER = Path(__file__).parent / "c" / "twin_driver.c"
CFLAGS = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic"]


def mnist_bits(n: int, data_dir: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    d = np.load(data_dir / "mnist.npz")
    x = d["x_train"].reshape(-1, 784)[:n]
    return np.packbits(x >= 128, axis=1, bitorder="little"), (x >= 128).astype(np.int64) * 256, d["y_train"][:n]


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
    ],
)
def test_generated_c_matches_twin(tmp_path: Path, data_dir: Path, weights: str, qbp: bool,
                                  sizes: list[int], seed: int, latent_bits: int, rounding: str) -> None:
    if shutil.which("gcc") is None:
        pytest.fail("gcc is needed for this test: apt-get install gcc")
    n, n_eval, spe, every = 400, 150, 150, 50
    enc, x, y = mnist_bits(n, data_dir)
    plan = make_plan([784, *sizes], weights=weights, qbp=qbp, lr_start=-7, lr_min=-9, latent_bits=latent_bits,
                     update_rounding=rounding)
    write_sources(render_sources(RenderInputs(plan, "t", "0123456789abcdef", "bits", 98)), tmp_path)
    exe = tmp_path / "driver"
    subprocess.run(["gcc", *CFLAGS, "-I", str(tmp_path), str(tmp_path / "mt_model.c"), str(DRIVER),
                    "-o", str(exe)], check=True)
    stdin = struct.pack("<5I", seed, spe, n, every, n_eval)
    stdin += b"".join(bytes([int(y[i])]) + enc[i].tobytes() for i in range(n))
    stdin += b"".join(enc[i].tobytes() for i in range(n_eval))
    lines = subprocess.run([str(exe)], input=stdin, capture_output=True, check=True).stdout.decode().splitlines()

    net = TwinNetwork(plan)
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
    # the check can fail: the twin is not trivially equal to a different seed's run
    other = TwinNetwork(plan)
    other.start(seed ^ 1, spe)
    assert other.state_bytes() != net.state_bytes() or n == 0
