"""The ``addconst`` layer kind, registered only by the tests: y = min(x + add, ACT_MAX), no weights.

One module per part, nothing else in the tree: spec.py (the model file's ``[[layers]]`` table),
plan.py (the arithmetic plan: sizes, calls, functions, memory, template, twin, multiplications),
twin.py (the NumPy twin) and addconst.c.j2 (the C). Importing this package registers the kind.
"""

from . import plan, spec, twin  # noqa: F401  (registration)
