"""PlatformIO custom test runner for mcutrain's C unit tests (no Unity, no
download).

Every folder ``test/test_<suite>/`` is one suite: a ``main()`` using the
macros of ``test/mt_test.h``. The program prints, one line each::

    TEST <name> PASS
    TEST <name> FAIL <file>:<line> <message>
    TEST <name> SKIP [<message>]
    SUMMARY <n> passed, <m> failed

and ends with exit status 0 (all passed) or 1. On the host env it runs as a
process; on a board env ``test_testing_command`` runs it in QEMU with
semihosting, so the exit status comes back through QEMU. A suite without a
SUMMARY line (crash, fault, hang killed by the timeout) is reported as errored,
naming the test that was running.
"""

import re
import signal

import click
from platformio.public import TestCase, TestCaseSource, TestRunnerBase, TestStatus
from platformio.test.exception import UnitTestError
from platformio.test.runners.readers.native import NativeTestOutputReader

# exit statuses with a meaning of their own
_EXIT_MEANINGS = {
    124: "timed out (killed by `timeout`)",
    137: "killed (SIGKILL after the timeout)",
    125: "a fault handler ran (HardFault/BusFault/UsageFault ...; MT_EXIT_FAULT)",
    134: "QEMU aborted (e.g. lockup; semihosting not enabled?)",
}


# messages QEMU's device models print on stderr (they can land inside a line)
_EMULATOR_MESSAGES = ("Timer with period zero, disabling",)


def _strip_emulator_noise(line):
    """The line without a message of QEMU's own (stderr) glued onto it, e.g.
    "TEST t_hangqemu-system-arm: terminating on signal 15"."""
    for message in _EMULATOR_MESSAGES:
        line = line.replace(message, "")
    return re.split(r"qemu(?:-system-\w+)?:", line)[0].strip()


class ProgramExitError(UnitTestError):
    """The test program (or QEMU) ended with a non-zero status."""

    def __init__(self, return_code):
        self.return_code = return_code
        if return_code < 0:
            try:
                what = f"was killed by signal {signal.Signals(-return_code).name}"
            except ValueError:
                what = f"was killed by signal {-return_code}"
        else:
            what = f"exited with status {return_code}"
            if return_code in _EXIT_MEANINGS:
                what += f": {_EXIT_MEANINGS[return_code]}"
        super().__init__(f"the test program {what}")


class _ProgramReader(NativeTestOutputReader):
    """PlatformIO's reader reports exit status 1 as "signal SIGHUP" (it takes
    abs() of the status); keep the sign and the number."""

    @staticmethod
    def raise_for_status(return_code):
        raise ProgramExitError(return_code)


class CustomTestRunner(TestRunnerBase):
    TEST_RE = re.compile(
        r"^TEST\s+(?P<name>\S+)\s+(?P<status>PASS|FAIL|SKIP)\b"
        r"(?:\s+(?P<file>[^\s:]+):(?P<line>\d+))?"
        r"(?:\s+(?P<message>.*))?$"
    )
    STARTED_RE = re.compile(r"^TEST\s+(?P<name>\S+)")
    SUMMARY_RE = re.compile(r"^SUMMARY\s+(?P<passed>\d+)\s+passed,\s+(?P<failed>\d+)\s+failed")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._summary = None
        self._last_lines = []

    # ---- parsing ---------------------------------------------------------
    def on_testing_line_output(self, line):
        if self.options and self.options.verbose:
            click.echo(line, nl=False)
        line = _strip_emulator_noise(line)
        if not line:
            return
        self._last_lines = (self._last_lines + [line])[-5:]

        match = self.TEST_RE.match(line)
        if match:
            data = match.groupdict()
            source = None
            if data.get("file"):
                source = TestCaseSource(filename=data["file"], line=int(data["line"]))
            case = TestCase(
                name=data["name"],
                status=TestStatus.from_string(data["status"]),
                message=(data.get("message") or "").strip() or None,
                stdout=line,
                source=source,
            )
            self.test_suite.add_case(case)
            if not (self.options and self.options.verbose):
                click.echo(case.humanize())
            return

        match = self.SUMMARY_RE.match(line)
        if match:
            self._summary = (int(match.group("passed")), int(match.group("failed")))
            self.test_suite.on_finish()

    # ---- testing stage ---------------------------------------------------
    def stage_testing(self):
        if self.options and self.options.without_testing:
            return None
        error = None
        click.secho("Testing...", bold=True)
        try:
            # Both mcutrain platforms are "not embedded": the program runs as
            # a process (host) or through test_testing_command (QEMU).
            _ProgramReader(self).begin()
        except UnitTestError as exc:
            error = exc
        # a trailing partial line, e.g. "TEST name" of a test that crashed
        # (cut where the emulator's own stderr message was glued onto it)
        tail = _strip_emulator_noise(self._testing_output_buffer)
        if tail:
            self._last_lines = (self._last_lines + [tail])[-5:]

        if self._summary is None:
            running = None
            for line in reversed(self._last_lines):
                if self.TEST_RE.match(line):
                    break  # the last test finished
                started = self.STARTED_RE.match(line)
                if started:
                    running = started.group("name")
                    break
            reason = str(error) if error else "the program ended without a SUMMARY line"
            message = reason + (f"; test `{running}` was running" if running else "")
            self.test_suite.add_case(
                TestCase(
                    name=f"{self.test_suite.env_name}:{self.test_suite.test_name}",
                    status=TestStatus.ERRORED,
                    message=message,
                    exception=UnitTestError(message),
                )
            )
            click.secho(message, fg="red", err=True)
            return None

        passed, failed = self._summary
        counted_pass = self.test_suite.get_status_nums(TestStatus.PASSED)
        counted_fail = self.test_suite.get_status_nums(TestStatus.FAILED)
        problems = []
        if (passed, failed) != (counted_pass, counted_fail):
            problems.append(
                f"SUMMARY says {passed} passed, {failed} failed but "
                f"{counted_pass} passed and {counted_fail} failed were reported"
            )
        if error is not None and not (failed > 0 and getattr(error, "return_code", None) == 1):
            problems.append(str(error))
        if error is None and failed > 0:
            problems.append("tests failed but the program exited with status 0")
        for problem in problems:
            self.test_suite.add_case(
                TestCase(
                    name=f"{self.test_suite.env_name}:{self.test_suite.test_name}",
                    status=TestStatus.ERRORED,
                    message=problem,
                    exception=UnitTestError(problem),
                )
            )
            click.secho(problem, fg="red", err=True)
        return None
