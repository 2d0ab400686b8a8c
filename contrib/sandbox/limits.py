"""The CRMs' documented rate limits, held by the sandbox when asked (``--rate-limits real``).

HubSpot (private app, Professional/Enterprise): 190 requests per rolling 10 seconds per portal, and the
CRM search endpoints 4 requests a second per token; a request over either is answered 429 with HubSpot's
``policyName`` (``TEN_SECONDLY_ROLLING``, ``SECONDLY``) and counts against the burst window like any
other. Salesforce: the ``Sforce-Limit-Info`` daily count, and 403 ``REQUEST_LIMIT_EXCEEDED`` once the
day's allowance is spent. Without it (``none``, the default) every request is answered at once.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

RATE_LIMITS = ("none", "real")
"""The values ``--rate-limits`` accepts."""

HUBSPOT_BURST = 190
HUBSPOT_BURST_SECONDS = 10.0
HUBSPOT_SEARCH_PER_SECOND = 4


class RateLimitsError(ValueError):
    """A ``--rate-limits`` value the sandbox does not know."""


@dataclass
class RateLimits:
    """Rolling windows of the requests answered so far. ``clock`` is monotonic seconds."""

    real: bool = False
    clock: Callable[[], float] = time.monotonic
    _burst: deque[float] = field(default_factory=deque)
    _search: deque[float] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def parse(cls, text: str | None) -> RateLimits:
        if text is None or text == "none":
            return cls()
        if text == "real":
            return cls(real=True)
        raise RateLimitsError(f"unknown rate limits {text!r}: give one of {', '.join(RATE_LIMITS)}")

    @property
    def name(self) -> str:
        return "real" if self.real else "none"

    def hubspot_refusal(self, *, search: bool) -> str | None:
        """The policy a HubSpot request is refused by (``TEN_SECONDLY_ROLLING`` or ``SECONDLY``), or
        None when it may be answered. Every request counts in the burst window, refused or not."""
        if not self.real:
            return None
        with self._lock:
            now = self.clock()
            _drop_older(self._burst, now - HUBSPOT_BURST_SECONDS)
            over_burst = len(self._burst) >= HUBSPOT_BURST
            self._burst.append(now)
            if over_burst:
                return "TEN_SECONDLY_ROLLING"
            if search:
                _drop_older(self._search, now - 1.0)
                if len(self._search) >= HUBSPOT_SEARCH_PER_SECOND:
                    return "SECONDLY"
                self._search.append(now)
            return None


def _drop_older(window: deque[float], cutoff: float) -> None:
    while window and window[0] <= cutoff:
        window.popleft()
