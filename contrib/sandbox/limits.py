"""The CRMs' documented rate limits, held by the sandbox when asked (``--rate-limits real``).

HubSpot (private app, Professional/Enterprise): 190 requests per rolling 10 seconds per portal, and the
CRM search endpoints 4 requests a second per token; a request over either is answered 429 with HubSpot's
``policyName`` (``TEN_SECONDLY_ROLLING``, ``SECONDLY``) and counts against the burst window like any
other. Salesforce: the ``Sforce-Limit-Info`` daily count, and 403 ``REQUEST_LIMIT_EXCEEDED`` once the
day's allowance is spent. Without it (``none``, the default) every request is answered at once.

HubSpot's answers to CRM requests other than searches carry its rate-limit headers, as a private app gets
them: ``X-HubSpot-RateLimit-Max`` (the burst limit), ``-Remaining`` (what is left of it in the current
window, this request counted), ``-Interval-Milliseconds`` (the window) and the daily ``-Daily`` and
``-Daily-Remaining``. With real limits they are the windows' own counts; without, the window is never
spent (Remaining stays at Max).
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
HUBSPOT_DAILY = 1_000_000
"""A private app's daily allowance on an Enterprise portal."""


class RateLimitsError(ValueError):
    """A ``--rate-limits`` value the sandbox does not know."""


@dataclass
class RateLimits:
    """Rolling windows of the requests answered so far. ``clock`` is monotonic seconds."""

    real: bool = False
    clock: Callable[[], float] = time.monotonic
    burst: int = HUBSPOT_BURST
    """Requests allowed per rolling window (tests set fewer to reach the limit fast)."""
    _daily_used: int = 0
    _burst: deque[float] = field(default_factory=deque)
    _search: deque[float] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def parse(cls, text: str | None, *, burst: int = HUBSPOT_BURST) -> RateLimits:
        if text is None or text == "none":
            return cls(burst=burst)
        if text == "real":
            return cls(real=True, burst=burst)
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
            over_burst = len(self._burst) >= self.burst
            self._burst.append(now)
            self._daily_used += 1
            if over_burst:
                return "TEN_SECONDLY_ROLLING"
            if search:
                _drop_older(self._search, now - 1.0)
                if len(self._search) >= HUBSPOT_SEARCH_PER_SECOND:
                    return "SECONDLY"
                self._search.append(now)
            return None

    def hubspot_headers(self) -> dict[str, str]:
        """HubSpot's rate-limit headers as they stand after the requests counted so far."""
        with self._lock:
            _drop_older(self._burst, self.clock() - HUBSPOT_BURST_SECONDS)
            remaining = max(0, self.burst - len(self._burst)) if self.real else self.burst
            return {
                "X-HubSpot-RateLimit-Max": str(self.burst),
                "X-HubSpot-RateLimit-Remaining": str(remaining),
                "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(HUBSPOT_BURST_SECONDS * 1000)),
                "X-HubSpot-RateLimit-Daily": str(HUBSPOT_DAILY),
                "X-HubSpot-RateLimit-Daily-Remaining": str(max(0, HUBSPOT_DAILY - self._daily_used)),
            }


def _drop_older(window: deque[float], cutoff: float) -> None:
    while window and window[0] <= cutoff:
        window.popleft()
