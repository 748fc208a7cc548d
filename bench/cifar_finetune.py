"""CIFAR-10 classes learned on the device that pretraining never saw (issue 14): pretrain a CNN model's network
on the twin on classes 0-7 only, fine-tune the whole network on a device shard of all ten classes, and
compare with the pretrained state and with training from scratch (mcutrain/results/cifar_finetune.py).
With --device, one fine-tuning on the emulated board for a prefix of the shard, verified bit-exact.

    MCUTRAIN_DATA_DIR=../shared/data OMP_NUM_THREADS=1 python bench/cifar_finetune.py examples/cifar10_cnn.toml \
        --shard 5000 --seeds 1 2 3 --device 500 -o docs/results.md
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mcutrain.data.datasets import load_dataset  # noqa: E402
from mcutrain.model import check_against_data, load_model  # noqa: E402
from mcutrain.results import cifar_finetune as cf  # noqa: E402


def with_sizes(text: str, train: int, test: int) -> str:
    """The model file's text with data.train_samples / test_samples set (each must be there once)."""
    for key, value in (("train_samples", train), ("test_samples", test)):
        pat = re.compile(rf"^{key}\s*=.*$", re.M)
        if len(pat.findall(text)) != 1:
            raise SystemExit(f"{key} must appear exactly once in the model file")
        text = pat.sub(f"{key} = {value}", text)
    return text


def device_run(model: Path, state: Path, prefix: int, test: int, workdir: Path) -> dict:
    """`mcutrain train` of the model on the first ``prefix`` shard images, from ``state``, verified; the report."""
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / model.name
    path.write_text(with_sizes(model.read_text(), prefix, test))
    report = workdir / "device-report.json"
    report.unlink(missing_ok=True)
    mcutrain = Path(sys.executable).parent / "mcutrain"
    t0 = time.monotonic()
    subprocess.run([str(mcutrain), "train", str(path), "--init", str(state), "--verify", "--quiet",
                    "--digest-every", str(max(1, prefix // 5)), "--report", str(report)], check=True)
    r = json.loads(report.read_text())
    r["wall_total_seconds"] = time.monotonic() - t0
    return r


def device_note(r: dict, prefix: int, test: int, model: Path, state: Path, seed: int) -> str:
    return (f"On the emulated board (netduinoplus2, QEMU): `mcutrain train {model.name} --init {state} --verify` "
            f"with train_samples = {prefix}, test_samples = {test} (the first {prefix} images of the shard, the "
            f"session's own order for the model file's seed {seed}; the twin figures above use the whole shard): "
            f"bit-exact: {'yes' if r.get('bit_exact') else 'NO'} ({r.get('digests_checked')} digests, the test "
            f"predictions, the final weights); device test accuracy {r.get('test_accuracy', 0) * 100:.2f}% on "
            f"{test} images (twin {r.get('twin_test_accuracy', 0) * 100:.2f}%); "
            f"training {r.get('train_seconds', 0):.0f} s "
            f"({r.get('train_samples_per_second', 0):.1f} samples/s), evaluation {r.get('eval_seconds', 0):.0f} s, "
            f"wall {r['wall_total_seconds']:.0f} s with build and twin; {r.get('link_bytes', 0)} bytes over the "
            "link.")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("--shard", type=int, default=5000, help="device training images (the first of the set)")
    ap.add_argument("--old-classes", type=int, default=8, help="pretraining sees labels 0..N-1")
    ap.add_argument("--pretrain-images", type=int, default=0, help="old-class images to pretrain on (0 = all)")
    ap.add_argument("--test", type=int, default=0, help="test images (0 = all)")
    ap.add_argument("--epochs", type=int, default=1, help="fine-tuning epochs over the shard")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1])
    ap.add_argument("--state", type=Path, default=ROOT / "build" / "cifar-finetune" / "pretrained.state")
    ap.add_argument("--device", type=int, default=0, metavar="N",
                    help="also fine-tune on the emulated board on the first N shard images, verified")
    ap.add_argument("--device-test", type=int, default=200, help="test images of the device run")
    ap.add_argument("-o", "--output", type=Path, help="write the section into this results file")
    ap.add_argument("--json", type=Path, help="write the figures as JSON here")
    a = ap.parse_args(argv)
    spec = load_model(a.model)
    full = load_dataset(dataclasses.replace(spec.data, train_samples=0, test_samples=0))
    spec = check_against_data(spec, full.n_inputs, full.n_classes)
    p = cf.measure(spec, full, a.state, shard=a.shard, seeds=a.seeds, old_classes=a.old_classes,
                   pretrain_images=a.pretrain_images, test=a.test, epochs=a.epochs,
                   log=lambda s: print(s, file=sys.stderr, flush=True))
    note = ""
    if a.device:
        r = device_run(a.model, a.state, a.device, a.device_test, a.state.parent / "device")
        note = device_note(r, a.device, a.device_test, a.model, a.state.relative_to(ROOT)
                           if a.state.is_relative_to(ROOT) else a.state, spec.seed)
        print(note, file=sys.stderr)
    args = " ".join(argv if argv is not None else sys.argv[1:])
    body = cf.render(p, f"MCUTRAIN_DATA_DIR=../shared/data OMP_NUM_THREADS=1 python bench/cifar_finetune.py {args}",
                     note)
    print(body)
    if a.json:
        a.json.write_text(json.dumps(dataclasses.asdict(p), indent=1))
    if a.output:
        cf.write_section(a.output, body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
