"""The `mcutrain` command line (click). Exit codes: `mcutrain --help` (0 ok, McutrainError.exit_code otherwise).

One module per group of commands: build.py (generate, pio, boards), train.py (train), link.py (emulate, soak),
device.py (ports, monitor), report.py (report), state.py (pretrain, export, personalize),
tables.py (bench, modes-table, mults-table, paper-table).
The work is in the rest of the package (mcutrain/job.py for a training job); nothing imports this package back.
"""

from __future__ import annotations

import click

from .. import __version__
from .build import boards, generate, pio
from .cnn import cnn_results
from .device import monitor, ports
from .exit_codes import epilog
from .link import emulate, soak
from .report import report
from .state import export, personalize, pretrain
from .tables import bench, modes_table, mults_table, paper_table
from .train import train


@click.group(epilog=epilog())
@click.version_option(__version__)
def main() -> None:
    """Train binarized neural networks on microcontrollers with additions and shifts."""


for _command in (generate, pio, boards, bench, modes_table, mults_table, paper_table, train, ports, monitor, report,
                 emulate, soak, pretrain, export, personalize, cnn_results):
    main.add_command(_command)


def _register_fleet_commands() -> None:
    from ..fleet.cli import fleet  # the fleet package imports Flower only when a fleet command runs

    main.add_command(fleet)


_register_fleet_commands()
