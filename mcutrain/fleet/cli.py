"""`mcutrain fleet ...`: federated training of a fleet of boards with Flower (README, "A fleet of boards")."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from ..errors import McutrainError, ToolMissingError

split_option = click.option("--split", type=click.Choice(["iid", "dirichlet"]), default="dirichlet", show_default=True,
                            help="How the training set is shared: iid, or non-IID by label (Dirichlet).")
alpha_option = click.option("--alpha", type=float, default=0.5, show_default=True,
                            help="Dirichlet concentration of --split dirichlet (small: few classes per client).")


def _fail(exc: McutrainError) -> None:
    click.echo(f"error: {exc}", err=True)
    sys.exit(exc.exit_code)


def _need_flwr() -> None:
    try:
        import flwr  # noqa: F401
    except ImportError:
        raise ToolMissingError("the fleet commands need Flower: pip install 'mcutrain[fleet]' "
                               "(scripts/setup.sh installs it)") from None


@click.group()
def fleet() -> None:
    """Federated training of many boards (Flower): integer federated averaging, bit-exact with the twins."""


def _print_rounds(report: dict[str, Any]) -> None:
    for r in report["round_log"]:
        board = f", boards {r['board_accuracy'] * 100:.2f}%" if r.get("board_accuracy") is not None else ""
        click.echo(f"round {r['round']}: clients {r['clients']} ({r['failed']} left out), {r['samples']} samples, "
                   f"global test accuracy {r['accuracy'] * 100:.2f}%{board}, state {r['state_crc32']}")


@fleet.command()
@click.argument("model", type=click.Path(path_type=Path), default=Path("examples/fleet_demo.toml"))
@click.option("--boards", type=click.IntRange(1, 16), default=4, show_default=True, help="Emulated boards (QEMU).")
@click.option("--rounds", type=click.IntRange(1), default=5, show_default=True)
@split_option
@alpha_option
@click.option("--local-epochs", type=click.IntRange(1), default=1, show_default=True,
              help="Passes over its shard each client trains in a round.")
@click.option("--round-timeout", type=float, default=None, help="Seconds after which a board is left out of a round.")
@click.option("--eval-samples", type=click.IntRange(0), default=500, show_default=True,
              help="Test images each board evaluates every round (its slice of the test set; 0 = the whole slice). "
                   "The global accuracy is the twin's on the whole test set.")
@click.option("--build-dir", type=click.Path(path_type=Path), default=None)
@click.option("--report", "report_path", type=click.Path(path_type=Path), default=None, help="Write a JSON report.")
@click.option("-q", "--quiet", is_flag=True)
def demo(model: Path, boards: int, rounds: int, split: str, alpha: float, local_epochs: int,
         round_timeout: float | None, eval_samples: int, build_dir: Path | None, report_path: Path | None,
         quiet: bool) -> None:
    """BOARDS emulated boards train MODEL together for ROUNDS Flower rounds on non-IID shards; every board's
    round is checked bit-exact against its twin and the final global state against the all-twin simulation."""
    from .run import run_boards

    try:
        _need_flwr()
        report = run_boards(model, boards=boards, rounds=rounds, split=split, alpha=alpha, local_epochs=local_epochs,
                            build_dir=build_dir, quiet=quiet, round_timeout=round_timeout,
                            eval_samples=eval_samples)
    except McutrainError as exc:
        _fail(exc)
        return
    if report_path is not None:
        report_path.write_text(json.dumps(report, indent=2) + "\n")
    if not quiet:
        click.echo(f"{boards} emulated boards ({report['board']}), shards {report['shard_sizes']} ({split})")
        _print_rounds(report)
        click.echo(f"bit-exact: {report['bit_exact_rounds']} of {report['client_rounds']} board rounds equal to their "
                   f"twin's; final global state {report['final_state_crc32']} "
                   f"{'equal to' if report['equal_to_twin_simulation'] else 'DIFFERENT FROM'} the all-twin "
                   f"simulation's ({report['twin_final_state_crc32']}); {report['seconds']['total']:.0f} s")
    if not report["equal_to_twin_simulation"] or report["bit_exact_rounds"] != report["client_rounds"]:
        sys.exit(10)


@fleet.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--clients", type=click.IntRange(1), default=100, show_default=True)
@click.option("--rounds", type=click.IntRange(1), default=5, show_default=True)
@split_option
@alpha_option
@click.option("--local-epochs", type=click.IntRange(1), default=1, show_default=True)
@click.option("--report", "report_path", type=click.Path(path_type=Path), default=None)
@click.option("-q", "--quiet", is_flag=True)
def sim(model: Path, clients: int, rounds: int, split: str, alpha: float, local_epochs: int,
        report_path: Path | None, quiet: bool) -> None:
    """CLIENTS twin clients (the boards' bit-exact NumPy twins) in one process, through Flower's server."""
    from .run import load_fleet_data, simulate

    try:
        _need_flwr()
        _, data = load_fleet_data(model)
        final, strategy = simulate(data, clients, rounds, split=split, alpha=alpha, local_epochs=local_epochs,
                                   quiet=quiet)
    except McutrainError as exc:
        _fail(exc)
        return
    report = {"clients": clients, "rounds": rounds, "split": split, "round_log": [r.as_dict() for r in strategy.log]}
    if report_path is not None:
        report_path.write_text(json.dumps(report, indent=2) + "\n")
    if not quiet:
        _print_rounds(report)


@fleet.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--rounds", type=click.IntRange(1), default=5, show_default=True)
@click.option("--min-clients", type=click.IntRange(1), default=2, show_default=True,
              help="Clients to wait for before each round.")
@click.option("--address", default="0.0.0.0:8080", show_default=True, help="Where the Flower server listens.")
@click.option("--round-timeout", type=float, default=None, help="Seconds after which a client is left out of a round.")
@click.option("--local-epochs", type=click.IntRange(1), default=1, show_default=True)
@click.option("--board-eval", is_flag=True, help="Also evaluate each round's global state on the clients' boards.")
@click.option("--report", "report_path", type=click.Path(path_type=Path), default=None)
@click.option("-q", "--quiet", is_flag=True)
def server(model: Path, rounds: int, min_clients: int, address: str, round_timeout: float | None, local_epochs: int,
           board_eval: bool, report_path: Path | None, quiet: bool) -> None:
    """Run the Flower server for MODEL: integer federated averaging, global test accuracy per round (twin)."""
    from .run import load_fleet_data
    from .strategy import IntegerFedAvg

    try:
        _need_flwr()
        import flwr

        _, data = load_fleet_data(model)
        strategy = IntegerFedAvg(data, min_clients=min_clients, local_epochs=local_epochs, eval_on_clients=board_eval,
                                 quiet=quiet)
        flwr.server.start_server(server_address=address, strategy=strategy,
                                 config=flwr.server.ServerConfig(num_rounds=rounds, round_timeout=round_timeout))
    except McutrainError as exc:
        _fail(exc)
        return
    import zlib

    report = {"rounds": rounds, "round_log": [r.as_dict() for r in strategy.log],
              "final_state_crc32": f"{zlib.crc32(strategy.global_state):08x}"}
    if report_path is not None:
        report_path.write_text(json.dumps(report, indent=2) + "\n")
    if not quiet:
        _print_rounds(report)
        click.echo(f"final global state {report['final_state_crc32']}")


@fleet.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--port", default=None, help="Serial port or pyserial URL of the board (flashed with MODEL's firmware).")
@click.option("--emulate", is_flag=True, help="Build MODEL and boot an emulated board (QEMU) for this client.")
@click.option("--twin", is_flag=True, help="No board: the NumPy twin trains (simulation).")
@click.option("--server", "server_address", default="127.0.0.1:8080", show_default=True)
@click.option("--client-id", type=click.IntRange(0), required=True, help="This client's shard, 0..CLIENTS-1.")
@click.option("--clients", type=click.IntRange(1), required=True, help="Clients sharing the training set.")
@split_option
@alpha_option
@click.option("--build-dir", type=click.Path(path_type=Path), default=None)
@click.option("-q", "--quiet", is_flag=True)
def client(model: Path, port: str | None, emulate: bool, twin: bool, server_address: str, client_id: int,
           clients: int, split: str, alpha: float, build_dir: Path | None, quiet: bool) -> None:
    """A Flower client for one board: each round loads the global state on the board, trains its shard over the
    serial link (checked bit-exact against the twin) and returns the state."""
    from contextlib import ExitStack

    from .backend import BoardBackend, TwinBackend
    from .client import FleetClient
    from .run import emulator_connect, load_fleet_data, shards_of

    try:
        _need_flwr()
        if sum((port is not None, emulate, twin)) != 1:
            raise McutrainError("give exactly one of --port PORT, --emulate or --twin")
        if client_id >= clients:
            raise McutrainError(f"--client-id {client_id} is not below --clients {clients}")
        from flwr.client import start_client

        _, data = load_fleet_data(model)
        shard = shards_of(data, clients, split, alpha)[client_id]
        with ExitStack() as stack:
            backend: Any
            if twin:
                backend = TwinBackend(data)
            elif emulate:
                from ..job import build_firmware, start_emulator

                _, proj, elf = build_firmware(model, None, build_dir, quiet=quiet)
                from concurrent.futures import ThreadPoolExecutor

                keeper = ThreadPoolExecutor(max_workers=1)
                stack.callback(keeper.shutdown)
                emu = start_emulator(proj, elf)
                stack.callback(emu.stop)
                backend = BoardBackend(data, emulator_connect(emu, keeper))
            else:
                from ..job import reopen_port

                backend = BoardBackend(data, reopen_port(str(port)))
            stack.callback(backend.close)
            fc = FleetClient(client_id, backend, shard, n_clients=clients, quiet=quiet)
            start_client(server_address=server_address, client=fc, insecure=True, max_retries=30, max_wait_time=60.0)
    except McutrainError as exc:
        _fail(exc)


@fleet.command()
@click.argument("model", type=click.Path(path_type=Path), default=Path("examples/fleet_demo.toml"))
@click.option("-o", "--out", type=click.Path(path_type=Path), default=Path("docs/results.md"), show_default=True,
              help="Markdown file whose fleet section is (re)written; the rest is kept.")
@click.option("--rounds", type=click.IntRange(1), default=5, show_default=True)
@click.option("--clients", default="4,100", show_default=True, help="Fleet sizes, comma-separated.")
@alpha_option
def results(model: Path, out: Path, rounds: int, clients: str, alpha: float) -> None:
    """Accuracy by round of simulated fleets (twins), IID and non-IID, against one board on all the data."""
    from .results import write_results

    try:
        _need_flwr()
        sizes = [int(c) for c in clients.split(",")]
        if not sizes or min(sizes) < 1:
            raise ValueError
    except ValueError:
        _fail(McutrainError(f"--clients {clients!r}: write fleet sizes like 4,100"))
        return
    except McutrainError as exc:
        _fail(exc)
        return
    cmd = f"mcutrain fleet results {model} -o {out} --rounds {rounds} --clients {clients} --alpha {alpha}"
    try:
        write_results(model, out, cmd, rounds=rounds, clients=sizes, alpha=alpha, log=lambda s: click.echo(s, err=True))
    except McutrainError as exc:
        _fail(exc)
        return
    click.echo(f"wrote the fleet section of {out}")
