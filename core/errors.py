"""One exception family; each error says where it happened and the CLI maps it to an exit code."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class CosellError(Exception):
    """Base of every error cosell reports to a user. ``exit_code`` follows SPEC's CLI table."""

    exit_code = 1
    causes: tuple[BaseException, ...] = ()
    """Exceptions behind this error (a plugin's own exception) whose tracebacks go to the log."""

    def __init__(self, message: str, *, where: str | None = None, hint: str | None = None) -> None:
        self.message = message
        self.where = where
        self.hint = hint
        super().__init__(self.render())

    def render(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


@dataclass(frozen=True, slots=True)
class Problem:
    """One bad value: where it is (``file:line``, a record id or a key path) and what is wrong."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class ProblemsError(CosellError):
    """Several problems found in one pass; all are reported together."""

    exit_code = 2
    title = "problems"

    def __init__(self, problems: Sequence[Problem], *, title: str | None = None) -> None:
        self.problems = tuple(problems)
        if title:
            self.title = title
        super().__init__(f"{len(self.problems)} {self.title}")

    def render(self) -> str:
        lines = [f"{len(self.problems)} {self.title}:"] if len(self.problems) != 1 else []
        lines += [str(p) for p in self.problems]
        return "\n".join(lines)


class ProgramError(ProblemsError):
    """The program file is invalid (exit 2)."""

    title = "program errors"


class InputError(ProblemsError):
    """Input records are invalid (exit 2); nothing has been written."""

    title = "input errors"


class ConfigError(CosellError):
    """Bad settings or command-line arguments (exit 2)."""

    exit_code = 2


class PluginError(CosellError):
    """A plugin is broken or raised while the run computed (exit 2, nothing written)."""

    exit_code = 2

    def __init__(self, plugin: str, message: str, *, hint: str | None = None) -> None:
        self.plugin = plugin
        super().__init__(message, where=f"plugin {plugin!r}", hint=hint)


class PeriodError(CosellError):
    """A period that cannot be run: closed, older than the latest, or of the wrong kind (exit 2)."""

    exit_code = 2


class UnreachableError(CosellError):
    """The CRM or the ledger could not be reached or refused the credentials, after retries (exit 4)."""

    exit_code = 4


class LockHeldError(CosellError):
    """Another run holds the period (exit 5)."""

    exit_code = 5


class FinishedWithFailures(CosellError):
    """The run finished but some writes were refused or a ``finished`` hook raised (exit 3)."""

    exit_code = 3

    def __init__(
        self,
        failures: Sequence[str],
        *,
        report: object | None = None,
        causes: Sequence[BaseException] = (),
    ) -> None:
        self.failures = tuple(failures)
        self.report = report
        self.causes = tuple(causes)
        super().__init__(f"finished with {len(self.failures)} failure(s)")

    def render(self) -> str:
        return "\n".join([f"finished with {len(self.failures)} failure(s):", *self.failures])
