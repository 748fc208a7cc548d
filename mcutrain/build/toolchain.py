"""Finding external tools and running PlatformIO without its registry.

PlatformIO normally downloads ``tool-scons`` (and platforms, toolchains, Unity)
from its registry. This module makes a PlatformIO core directory usable
offline: :func:`ensure_pio_core` builds ``packages/tool-scons`` from the SCons
Python package that is already installed, and :func:`pio_env` gives the
environment that keeps PlatformIO away from the network (telemetry and upgrade
checks off). The firmware is built with project-local platforms
(``firmware/platforms/mcutrain-arm`` and ``mcutrain-host``) that take the
compilers from ``PATH``, so nothing else needs downloading.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..errors import BuildError, ToolMissingError

#: Environment variable that overrides the PlatformIO core directory.
CORE_DIR_ENV = "MCUTRAIN_PIO_CORE"

#: Default PlatformIO core directory (kept apart from a user's ~/.platformio).
DEFAULT_CORE_DIR = Path("~/.cache/mcutrain/pio-core")

#: How to install each external tool (shown in ToolMissingError).
_INSTALL_HINTS = {
    "arm-none-eabi-gcc": "apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi",
    "arm-none-eabi-objcopy": "apt-get install binutils-arm-none-eabi",
    "arm-none-eabi-objdump": "apt-get install binutils-arm-none-eabi",
    "arm-none-eabi-size": "apt-get install binutils-arm-none-eabi",
    "arm-none-eabi-nm": "apt-get install binutils-arm-none-eabi",
    "qemu-system-arm": "apt-get install qemu-system-arm",
    "pio": "pip install platformio==6.2.0",
    "platformio": "pip install platformio==6.2.0",
    "scons": "pip install scons",
    "gcc": "apt-get install gcc",
    "cc": "apt-get install gcc",
}


def install_hint(name: str) -> str:
    """The command that installs tool ``name`` (Debian / PyPI)."""
    if name in _INSTALL_HINTS:
        return _INSTALL_HINTS[name]
    if name.startswith("arm-none-eabi-"):
        return "apt-get install gcc-arm-none-eabi binutils-arm-none-eabi"
    return f"install {name} and put it on PATH"


def find_tool(name: str) -> str:
    """Absolute path of program ``name`` on PATH.

    Raises :class:`ToolMissingError` naming the tool and how to install it.
    """
    path = shutil.which(name)
    if path is None:
        raise ToolMissingError(
            f"{name} not found on PATH; install it with: {install_hint(name)}"
        )
    return path


def pio_command() -> list[str]:
    """Argument vector prefix that runs PlatformIO.

    Prefers ``python -m platformio`` of the running interpreter (works in a
    virtualenv whose bin/ is not on PATH), else ``pio`` from PATH.
    """
    try:
        import platformio  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
    except ImportError:
        return [find_tool("pio")]
    return [sys.executable, "-m", "platformio"]


# --------------------------------------------------------------------------
# PlatformIO core directory
# --------------------------------------------------------------------------


def pio_core_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The PlatformIO core directory mcutrain uses (``$MCUTRAIN_PIO_CORE``
    or ``~/.cache/mcutrain/pio-core``); ``environ`` defaults to os.environ."""
    value = (os.environ if environ is None else environ).get(CORE_DIR_ENV)
    return Path(value).expanduser() if value else DEFAULT_CORE_DIR.expanduser()


def pio_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for running PlatformIO offline.

    ``base`` defaults to ``os.environ``. Sets PLATFORMIO_CORE_DIR (see
    :func:`pio_core_dir`; MCUTRAIN_PIO_CORE is read from ``base``) and turns
    telemetry and the upgrade check off (each of them otherwise may wait
    about 61 s for an unreachable server).
    """
    env = dict(os.environ if base is None else base)
    env["PLATFORMIO_CORE_DIR"] = str(pio_core_dir(env))
    env["PLATFORMIO_SETTING_ENABLE_TELEMETRY"] = "no"
    env["PLATFORMIO_SETTING_CHECK_PLATFORMIO_INTERVAL"] = "3650"
    env["PLATFORMIO_DISABLE_UPGRADE_CHECK"] = "true"
    env.setdefault("PYTHONIOENCODING", "utf-8")
    return env


def _required_scons_version() -> tuple[str, str]:
    """(requirements, version) PlatformIO asks for, e.g. ('~4.41101.0', '4.41101.0')."""
    try:
        from platformio.dependencies import (  # pylint: disable=import-outside-toplevel
            get_core_dependencies,
        )
    except ImportError as exc:
        raise ToolMissingError(
            f"PlatformIO is not installed; install it with: {install_hint('pio')}"
        ) from exc
    requirements = str(get_core_dependencies()["tool-scons"]).strip()
    version = requirements.lstrip("~^=<>! ").split(",")[0].strip()
    return requirements, version


def _scons_package_dir() -> tuple[Path, str]:
    try:
        import SCons  # pylint: disable=import-outside-toplevel
    except ImportError as exc:
        raise ToolMissingError(
            f"the SCons Python package is not installed; install it with: "
            f"{install_hint('scons')}"
        ) from exc
    return Path(SCons.__file__).resolve().parent, str(getattr(SCons, "__version__", "?"))


_SCONS_LAUNCHER = '''\
"""SCons launcher for PlatformIO (written by mcutrain.build.toolchain)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import SCons.Script  # noqa: E402

SCons.Script.main()
'''


def _tool_scons_is_current(pkg_dir: Path, version: str, scons_version: str) -> bool:
    try:
        manifest = json.loads((pkg_dir / "package.json").read_text(encoding="utf-8"))
        meta = json.loads((pkg_dir / ".piopm").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        manifest.get("version") == version
        and manifest.get("mcutrain_scons_version") == scons_version
        and meta.get("version") == version
        and (meta.get("spec") or {}).get("owner") == "platformio"
        and (pkg_dir / "scons.py").is_file()
        and (pkg_dir / "SCons" / "Script" / "__init__.py").is_file()
    )


def ensure_pio_core(core_dir: Path) -> None:
    """Make ``core_dir`` a PlatformIO core directory that needs no download.

    Creates ``core_dir/packages/tool-scons`` from the installed SCons package:
    a copy of the ``SCons`` package, a ``scons.py`` launcher, ``package.json``
    (name, version PlatformIO requires, ``"system": "*"``) and a ``.piopm``
    whose spec names owner ``platformio`` (without the owner PlatformIO does
    not recognise it and goes to the registry). Idempotent and safe against a
    concurrent call: the package is assembled in a temporary folder and
    renamed into place.
    """
    core_dir = Path(core_dir).expanduser()
    requirements, version = _required_scons_version()
    scons_src, scons_version = _scons_package_dir()
    packages = core_dir / "packages"
    pkg_dir = packages / "tool-scons"
    if _tool_scons_is_current(pkg_dir, version, scons_version):
        return
    packages.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tool-scons-", dir=packages))
    tmp.chmod(0o755)
    try:
        shutil.copytree(
            scons_src, tmp / "SCons", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
        (tmp / "scons.py").write_text(_SCONS_LAUNCHER, encoding="utf-8")
        manifest = {
            "name": "tool-scons",
            "version": version,
            "description": "SCons build tool, copied from the installed SCons "
            "Python package by mcutrain (offline PlatformIO set-up)",
            "system": "*",
            "mcutrain_scons_version": scons_version,
        }
        (tmp / "package.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        piopm = {
            "type": "tool",
            "name": "tool-scons",
            "version": version,
            "spec": {
                "owner": "platformio",
                "id": None,
                "name": "tool-scons",
                "requirements": requirements,
                "uri": None,
            },
        }
        (tmp / ".piopm").write_text(json.dumps(piopm), encoding="utf-8")
        if pkg_dir.exists():
            if _tool_scons_is_current(pkg_dir, version, scons_version):
                return  # another process finished first
            old = packages / f".tool-scons-old-{os.getpid()}-{time.monotonic_ns()}"
            try:
                os.rename(pkg_dir, old)
            except FileNotFoundError:
                pass
            else:
                shutil.rmtree(old, ignore_errors=True)
        try:
            os.rename(tmp, pkg_dir)
        except OSError:
            # lost a race with a concurrent ensure_pio_core: keep the winner's
            if not _tool_scons_is_current(pkg_dir, version, scons_version):
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------
# Running PlatformIO
# --------------------------------------------------------------------------


def kill_process_group(proc: subprocess.Popen, grace: float = 3.0) -> None:
    """End ``proc`` and every process in its group (it must have been started
    with ``start_new_session=True``): SIGTERM, then SIGKILL after ``grace``."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=grace)
            # the leader is gone; children in its group may linger: one more
            # SIGKILL to the group is harmless if it is already empty
            if sig == signal.SIGTERM:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            return
        except subprocess.TimeoutExpired:
            continue


def run_pio(
    args: Sequence[str],
    project_dir: str | os.PathLike,
    *,
    timeout: float | None = 900,
    env: Mapping[str, str] | None = None,
    capture: bool = True,
    check: bool = True,
) -> subprocess.CompletedProcess:
    """Run ``pio ARGS`` in ``project_dir`` offline and return the result.

    The core directory of :func:`pio_env` is prepared first
    (:func:`ensure_pio_core`). PlatformIO runs in its own process group, which
    is killed as a whole on timeout or interrupt, so an emulator started by
    ``pio test``/``upload`` cannot outlive it. With ``capture`` the combined
    stdout/stderr is in ``result.stdout``. With ``check`` a non-zero exit
    raises :class:`BuildError` carrying the output's tail.
    """
    run_env = pio_env(env)
    ensure_pio_core(Path(run_env["PLATFORMIO_CORE_DIR"]))
    cmd = [*pio_command(), *args]
    proc = subprocess.Popen(  # pylint: disable=consider-using-with
        cmd,
        cwd=str(project_dir),
        env=run_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE if capture else None,
        stderr=subprocess.STDOUT if capture else None,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        kill_process_group(proc)
        out, _ = proc.communicate()
        raise BuildError(
            f"`pio {' '.join(args)}` did not finish within {timeout} s "
            f"(killed)\n{_tail(out)}"
        ) from exc
    except BaseException:
        kill_process_group(proc)
        raise
    else:
        # pio itself has ended; anything left in its group (an emulator) goes too
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    result = subprocess.CompletedProcess(cmd, proc.returncode, out, None)
    if check and proc.returncode != 0:
        raise BuildError(
            f"`pio {' '.join(args)}` failed with exit code {proc.returncode}\n{_tail(out)}"
        )
    return result


def _tail(text: str | None, lines: int = 40) -> str:
    if not text:
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])
