"""The invariance table of issue 11: final weights and test accuracy of the bit-exact twin, by weight mode.

    MCUTRAIN_DATA_DIR=../shared/data python bench/invariance.py            # print the markdown table
    MCUTRAIN_DATA_DIR=../shared/data python bench/invariance.py -o F.md    # and write it to F.md

For each model file (examples/mnist_demo.toml and examples/mnist_bias_bn.toml) and every weight
mode x quantized back-propagation on/off, and float32: the twin trains as `mcutrain train` trains
the device (same encoding, seed, sample order, epochs; mcutrain.results.modes_table.twin_session), then
prints final_state_crc32 (CRC-32 of the final state bytes, as the device reports it) and the test
accuracy. A variant the planner refuses is a row with its message. The twin is tied to the C by the
host-compiled-C and QEMU bit-exactness tests, so equal rows before and after a refactoring mean the
same device behaviour.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mcutrain.host.session import sample_order  # noqa: E402

from mcutrain.arith.plan import PlanError, plan_from_spec  # noqa: E402
from mcutrain.data import decode, encode, load_dataset  # noqa: E402
from mcutrain.model import check_against_data, load_model  # noqa: E402
from mcutrain.results.modes_table import variant  # noqa: E402
from mcutrain.twin import make_twin  # noqa: E402

MODELS = (ROOT / "examples" / "mnist_demo.toml", ROOT / "examples" / "mnist_bias_bn.toml")
INTEGER_MODES = ("binary", "sign", "ternary", "ternary_det")


def row(spec, ds, weights: str, qbp: bool) -> tuple[str, str]:
    """(final_state_crc32 as 8 hex digits, test accuracy) of one variant; ("refused", message) if refused."""
    v = variant(spec, weights, qbp)
    try:
        plan = plan_from_spec(v)
    except PlanError as exc:
        return "refused", str(exc)
    enc, thr, a, n_in = v.data.encoding, v.data.threshold, v.arithmetic.activation_frac_bits, v.n_inputs
    x_train = decode(encode(ds.x_train, enc, thr), enc, n_in, a)
    x_test = decode(encode(ds.x_test, enc, thr), enc, n_in, a)
    net = make_twin(plan)
    net.start(v.seed, len(x_train))
    for idx in sample_order(v.seed, len(x_train), v.training.epochs):
        net.train_step(x_train[idx], int(ds.y_train[idx]))
    acc = float((net.infer(x_test) == ds.y_test).mean())
    return f"{net.digest():08x}", f"{100 * acc:.2f}%"


def table() -> str:
    lines = ["| model | weights | QBP | final_state_crc32 | test accuracy |", "|---|---|---|---|---|"]
    for path in MODELS:
        spec = load_model(path)
        ds = load_dataset(spec.data)
        spec = check_against_data(spec, ds.x_train.shape[1], ds.n_classes)
        cases = [(w, q) for w in INTEGER_MODES for q in (True, False)] + [("float32", False)]
        for weights, qbp in cases:
            t0 = time.monotonic()
            crc, acc = row(spec, ds, weights, qbp)
            print(f"{path.name} {weights} qbp={qbp}: {crc} {acc} ({time.monotonic() - t0:.0f} s)", file=sys.stderr)
            lines.append(f"| {path.name} | {weights} | {'on' if qbp else 'off'} | {crc} | {acc} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--out", type=Path, help="write the table to this file as well")
    args = ap.parse_args()
    text = table()
    print(text, end="")
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
