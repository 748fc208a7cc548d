"""Model-file text that programs write (the benchmark's models, the tests' small models): the ``[[layers]]``
tables of an MLP, written once."""

from __future__ import annotations

from collections.abc import Sequence


def mlp_layers_toml(hidden: Sequence[int], classes: int = 10, *, hidden_extra: str = "",
                    output_extra: str = "") -> str:
    """``[[layers]]`` tables: dense ReLU layers of ``hidden`` units, then a dense linear output of ``classes``;
    ``hidden_extra`` / ``output_extra`` are more ``key = value`` lines of each hidden / the output table."""
    tables = [f'[[layers]]\nkind = "dense"\nunits = {units}\nactivation = "relu"\n{hidden_extra}' for units in hidden]
    tables.append(f'[[layers]]\nkind = "dense"\nunits = {classes}\nactivation = "linear"\n{output_extra}')
    return "\n".join(t if t.endswith("\n") else t + "\n" for t in tables)
