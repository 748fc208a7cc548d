"""Exceptions of mcutrain.

Every error the tool reports to a user derives from :class:`McutrainError`;
``exit_code`` is the process exit status the command line uses for it.
"""


class McutrainError(Exception):
    """Base class of all mcutrain errors."""

    exit_code = 1


class UnknownBoardError(McutrainError):
    """A board name that is not in the registry (:mod:`mcutrain.build.boards`)."""

    exit_code = 2


class ToolMissingError(McutrainError):
    """An external program (compiler, emulator, PlatformIO) is not installed."""

    exit_code = 3


class BuildError(McutrainError):
    """A PlatformIO build, test or upload failed or timed out."""

    exit_code = 9


class ModelFileError(McutrainError):
    """A model file (TOML) that cannot be used as it is.

    The message names the file, the key (a dotted path such as ``layers[1].units``),
    the bad value and the fix. ``problems`` lists every problem found, as
    ``(key, value, fix)``; the first one is also in ``key``, ``value`` and ``fix``.
    A ``value`` of :data:`MISSING` means the key is absent.
    """

    exit_code = 2
    line: int | None = None      # set for TOML syntax errors
    column: int | None = None

    def __init__(
        self,
        path: object,
        key: str,
        value: object,
        fix: str,
        *,
        more: list[tuple[str, object, str]] | None = None,
    ) -> None:
        self.path = str(path)
        self.key = key
        self.value = value
        self.fix = fix
        self.problems: list[tuple[str, object, str]] = [(key, value, fix), *(more or [])]
        lines = [describe_problem(k, v, f) for k, v, f in self.problems]
        if len(lines) == 1:
            message = f"{self.path}: {lines[0]}"
        else:
            message = f"{self.path}: {len(lines)} problems:\n" + "\n".join(f"  - {ln}" for ln in lines)
        super().__init__(message)


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


MISSING: object = _Missing()


def describe_problem(key: str, value: object, fix: str) -> str:
    """One line ``key = value: fix`` (TOML spelling of the value)."""
    if not key:
        return fix
    if value is MISSING:
        return f"{key} is missing: {fix}"
    shown = toml_repr(value)
    if len(shown) > 80:
        shown = shown[:76] + " ..."
    return f"{key} = {shown}: {fix}"


def toml_repr(value: object) -> str:
    """A value spelled as in a TOML file (for error messages)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_repr(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_repr(v)}" for k, v in value.items()) + "}"
    return repr(value)


class DataError(McutrainError):
    """A data set that cannot be loaded; the message names the path and the fix."""

    exit_code = 2


# --- serial link and emulator (mcutrain.host) ---------------------------------


class PortMissingError(McutrainError):
    """The serial port (or socket URL) to the device cannot be opened.

    The message lists the serial ports pyserial can see.
    """

    exit_code = 4


class DeviceSilentError(McutrainError):
    """The device did not answer within the time allowed."""

    exit_code = 5


class ModelMismatchError(McutrainError):
    """The firmware on the device was built for another model (hash differs)."""

    exit_code = 6


class ProtocolError(McutrainError):
    """A malformed, unknown or unexpected message on the serial link."""

    exit_code = 7


class EmulatorError(McutrainError):
    """QEMU is missing, or failed to start, or exited early."""

    exit_code = 8
