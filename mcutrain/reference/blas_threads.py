"""Limit the BLAS under NumPy to n threads at run time (the machine is shared).

Environment variables work only before NumPy loads; this calls the OpenBLAS set-threads function of
the library already loaded into the process (found in /proc/self/maps), and returns whether it did.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

_SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads", "openblas_set_num_threads64_",
            "openblas_set_num_threads")


def _loaded_openblas() -> list[str]:
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return []
    return sorted({line.split()[-1] for line in maps.splitlines() if "openblas" in line.lower() and "/" in line})


def limit_blas_threads(n: int = 1) -> bool:
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)
    import numpy  # noqa: F401  (loads the BLAS)
    done = False
    for lib in _loaded_openblas():
        try:
            handle = ctypes.CDLL(lib)
        except OSError:
            continue
        for name in _SETTERS:
            fn = getattr(handle, name, None)
            if fn is not None:
                fn(ctypes.c_int(n))
                done = True
                break
    return done
