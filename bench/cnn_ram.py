"""RAM of model files: the planner's figures and the linker's .data + .bss (issue 12, "RAM of a CNN").

    python bench/cnn_ram.py examples/mnist_cnn.toml examples/cifar10_cnn.toml ...

For each model: the planner's static bytes (every buffer of the generated C and the runtime), its figure with
the stack estimate (``ram.planned_use_bytes``), with the whole stack reservation (``ram.planned_bytes``, what must
fit the board or ``ram_budget``), the bytes of feature maps (activations, errors, masks, QBP codes) and the
linker's .data + .bss of the built firmware (arm-none-eabi-size). Builds in a temporary directory.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from mcutrain.build.project import build, write_project
from mcutrain.model import check_against_data, load_model

MAP_KINDS = ("activations", "errors", "masks", "qbp_codes", "input", "feature_maps")


def _sections(elf: Path) -> dict[str, int]:
    out = subprocess.run(["arm-none-eabi-size", "-A", str(elf)], capture_output=True, text=True, check=True).stdout
    return {ln.split()[0]: int(ln.split()[1]) for ln in out.splitlines() if ln.startswith(".")}


def measure(path: Path, workdir: Path, link: bool = True) -> dict[str, int | str]:
    spec = load_model(path)
    first = spec.layers[0]
    n_in = spec.n_inputs or (first.height * first.width * first.channels if hasattr(first, "height") else 784)
    spec = check_against_data(spec, n_in, 10)
    proj = write_project(spec, workdir / path.stem)
    ram = proj.generated.manifest["ram"]
    maps = sum(b["bytes"] for b in ram["buffers"] if b["kind"] in MAP_KINDS)
    row: dict[str, int | str] = {"model": path.name, "static": ram["static_bytes"],
                                 "planned_use": ram["planned_use_bytes"], "planned": ram["planned_bytes"],
                                 "maps": maps}
    if link:
        sec = _sections(build(proj))
        row["linked"] = sec[".data"] + sec.get(".bss", 0)
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", type=Path)
    ap.add_argument("--no-link", action="store_true", help="planner figures only (no build)")
    args = ap.parse_args(argv)
    print("| model | planner static B | planner + stack estimate B | planned (stack reserved) B | feature maps B "
          "| linker .data+.bss B |")
    print("|---|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for m in args.models:
            r = measure(m, Path(tmp), link=not args.no_link)
            print(f"| {r['model']} | {r['static']} | {r['planned_use']} | {r['planned']} | {r['maps']} "
                  f"| {r.get('linked', '-')} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
