"""Pieces both CRM connectors share: retries that honour Retry-After, and incremental-sync cursors.

Retries are bounded by time, not by a small count: under a 30 % fault storm five attempts still lose
about 0.2 % of calls, while a time budget keeps trying as long as a scheduled run can afford to.
"""

from __future__ import annotations

import logging
import random
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_delay

from cosell.errors import ConfigError, UnreachableError

if TYPE_CHECKING:
    from cosell.ledger import Ledger

log = logging.getLogger("cosell.connectors")
T = TypeVar("T")


class TransientError(Exception):
    """A call that may succeed if tried again: a connection error, a 5xx, a rate limit.

    ``retry_after`` is the server's Retry-After in seconds, when it gave one."""

    def __init__(self, message: str, *, retry_after: float | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds (the delta-seconds form; an HTTP date is treated as 'soon')."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return 1.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long to keep trying one call, and the backoff when the server gives no Retry-After."""

    budget_seconds: float = 60.0
    """About a minute: a CRM that does not answer for that long is down, not slow (exit 4); a run
    that can afford to wait longer sets the connector's ``retry_budget_seconds``."""
    initial_wait: float = 0.5
    max_wait: float = 30.0

    def wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, TransientError) and exc.retry_after is not None:
            return min(exc.retry_after, self.max_wait)
        backoff = min(self.max_wait, self.initial_wait * 2 ** (state.attempt_number - 1))
        return random.uniform(0, backoff)  # full jitter

    def call(self, what: str, fn: Callable[[], T]) -> T:
        """Run ``fn``, retrying TransientError until the time budget is spent; then UnreachableError (exit 4)."""

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.warning("%s: %s; retrying (attempt %d)", what, exc, state.attempt_number + 1)

        retrying = Retrying(
            retry=retry_if_exception_type(TransientError),
            stop=stop_after_delay(self.budget_seconds),
            wait=self.wait,
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            return retrying(fn)
        except TransientError as exc:
            raise UnreachableError(
                f"{what}: still failing after {self.budget_seconds:.0f} s of retries: {exc}",
                hint="the next run resumes: writes not confirmed stay in the outbox",
            ) from None


def checked_ca_bundle(variable: str, path: str) -> str:
    """``path`` when it is a readable file holding at least one CA certificate (PEM); otherwise
    ConfigError (exit 2) naming ``variable`` (``SF_CA_BUNDLE``, ``HUBSPOT_CA_BUNDLE``, ...) and the path,
    before any call: a CA file that cannot be used is a configuration error, not an outage."""
    hint = f"set {variable} to a PEM file of the CA to trust (a sandbox's ca_bundle, or your proxy's CA)"
    try:
        ssl.create_default_context(cafile=path)
    except OSError as exc:  # missing, unreadable, a folder (ssl.SSLError is an OSError: caught below first)
        if isinstance(exc, ssl.SSLError):
            raise ConfigError(f"{variable} names {path}, which holds no CA certificate", hint=hint) from None
        raise ConfigError(f"{variable} names {path}, which cannot be read: {exc.strerror or exc}", hint=hint) from None
    return path


def tls_not_trusted(what: str, server: str, variable: str) -> UnreachableError:
    """The answer to a TLS handshake the CA bundle in use does not trust: said at once, not retried
    (another attempt meets the same certificate)."""
    return UnreachableError(
        f"{what}: the TLS certificate of {server}'s server was not trusted",
        hint=f"set {variable} to the CA file to trust (a sandbox's ca_bundle, or your proxy's CA)",
    )


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where an incremental read of one stream stopped: the newest modification stamp seen.

    Reads ask for records modified at or after ``value - overlap``, so records written in the same
    second as the last one read (or committed late by the CRM) are never missed; the snapshot upsert
    makes the records read twice harmless.
    """

    connector: str
    stream: str
    value: datetime | None
    overlap: timedelta = timedelta(minutes=5)

    @classmethod
    def load(cls, ledger: Ledger, connector: str, stream: str, overlap: timedelta | None = None) -> Cursor:
        text = ledger.cursor(connector, stream)
        value = datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None
        return cls(connector, stream, value, overlap if overlap is not None else timedelta(minutes=5))

    @property
    def since(self) -> datetime | None:
        """The lower bound of the next read, or None for a full read."""
        return None if self.value is None else self.value - self.overlap

    def advanced(self, seen: datetime | None) -> Cursor:
        if seen is None or (self.value is not None and seen <= self.value):
            return self
        return Cursor(self.connector, self.stream, seen.astimezone(UTC), self.overlap)

    def save(self, ledger: Ledger) -> None:
        if self.value is not None:
            ledger.set_cursor(self.connector, self.stream, self.value.astimezone(UTC).isoformat().replace("+00:00", "Z"))


