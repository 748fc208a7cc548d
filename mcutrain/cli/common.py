"""What the command modules share: the error exit and the command line as typed."""

from __future__ import annotations

import sys
from typing import NoReturn

import click

from ..errors import McutrainError


def fail(exc: McutrainError) -> NoReturn:
    """Print the error and exit with its exit code (docs: `mcutrain --help`)."""
    click.echo(f"error: {exc}", err=True)
    sys.exit(exc.exit_code)


def invocation() -> str:
    """The running subcommand as typed: `mcutrain NAME` and the options not left at their defaults."""
    from click.core import ParameterSource

    ctx = click.get_current_context()
    parts = ["mcutrain", ctx.info_name or ""]
    for p in ctx.command.params:
        if not isinstance(p, click.Option) or ctx.get_parameter_source(p.name or "") != ParameterSource.COMMANDLINE:
            continue
        v = ctx.params[p.name or ""]
        flag = max(p.opts, key=len)
        if p.is_flag:
            parts.append(flag)
        else:
            parts += [f"{flag} {x}" for x in (v if p.multiple else (v,))]
    return " ".join(parts)
