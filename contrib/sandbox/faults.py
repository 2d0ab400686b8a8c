"""Fault injection: rate limits, outages, latency, dropped connections, rejected records and HubSpot
pages short or empty with a next.

Syntax (``--faults``): comma-separated ``kind=value`` items::

    429=0.3,503=0.1,latency=50ms,stop_after=500,invalid=ID1;ID2,locked=ID3,retry_after=1,gaps=0.5

Which requests fail is a pure function of the seed and the request's number, so a run with the
same seed and the same request sequence sees the same faults.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s)?\s*$")


class FaultSpecError(ValueError):
    """A ``--faults`` string or dict that cannot be understood."""


@dataclass(frozen=True)
class Faults:
    """The faults in force. Rates are shares of requests (0..1)."""

    rate_429: float = 0.0
    rate_503: float = 0.0
    latency_s: float = 0.0
    stop_after: int | None = None
    invalid: frozenset[str] = field(default_factory=frozenset)
    locked: frozenset[str] = field(default_factory=frozenset)
    retry_after: int = 1
    gaps: float = 0.0
    """HubSpot: about this share of the places in search and list results are left out of the pages
    (see :meth:`gaps_before`), which then come back short of the limit, or empty, with a next."""

    def gaps_before(self, seed: int, record_id: str) -> int:
        """How many places HubSpot's search and list answers leave out before this record: as many as
        the draws in a row below :attr:`gaps` (at most 200), the same in every answer."""
        count = 0
        while self.gaps > 0 and count < 200:
            digest = hashlib.blake2b(f"{seed}:gap:{record_id}:{count}".encode(), digest_size=8).digest()
            if int.from_bytes(digest, "big") / 2**64 >= self.gaps:
                break
            count += 1
        return count

    def decide(self, seed: int, counter: int) -> int | None:
        """The status (429 or 503) the ``counter``-th request is answered with, or None."""
        if self.rate_429 <= 0 and self.rate_503 <= 0:
            return None
        digest = hashlib.blake2b(f"{seed}:{counter}".encode(), digest_size=8).digest()
        u = int.from_bytes(digest, "big") / 2**64
        if u < self.rate_429:
            return 429
        if u < self.rate_429 + self.rate_503:
            return 503
        return None

    def as_dict(self) -> dict[str, Any]:
        return {
            "429": self.rate_429,
            "503": self.rate_503,
            "latency_ms": round(self.latency_s * 1000, 3),
            "stop_after": self.stop_after,
            "invalid": sorted(self.invalid),
            "locked": sorted(self.locked),
            "retry_after": self.retry_after,
            "gaps": self.gaps,
        }


def _rate(kind: str, value: Any) -> float:
    try:
        rate = float(value)
    except (TypeError, ValueError) as exc:
        raise FaultSpecError(f"{kind}: expected a share between 0 and 1, got {value!r}") from exc
    if not 0.0 <= rate <= 1.0:
        raise FaultSpecError(f"{kind}: expected a share between 0 and 1, got {value!r}")
    return rate


def _duration(value: Any) -> float:
    if isinstance(value, int | float):
        return float(value) / 1000.0
    m = _DURATION.match(str(value))
    if not m:
        raise FaultSpecError(f"latency: expected e.g. 50ms or 0.2s, got {value!r}")
    number = float(m.group(1))
    return number if m.group(2) == "s" else number / 1000.0


def _ids(value: Any) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset(v.strip() for v in re.split(r"[;|]", value) if v.strip())
    return frozenset(str(v) for v in value)


def parse_faults(spec: str | Mapping[str, Any] | Faults | None) -> Faults:
    """Parse ``spec`` (a ``--faults`` string, a dict with the same keys, or ``Faults``)."""
    if spec is None:
        return Faults()
    if isinstance(spec, Faults):
        return spec
    items: dict[str, Any]
    if isinstance(spec, str):
        items = {}
        for part in spec.split(","):
            part = part.strip()
            if not part:
                continue
            if "=" not in part:
                raise FaultSpecError(f"expected kind=value, got {part!r}")
            key, value = part.split("=", 1)
            items[key.strip()] = value.strip()
    else:
        items = {str(k): v for k, v in spec.items()}
    kwargs: dict[str, Any] = {}
    for key, value in items.items():
        if key == "429":
            kwargs["rate_429"] = _rate(key, value)
        elif key == "503":
            kwargs["rate_503"] = _rate(key, value)
        elif key in ("latency", "latency_ms"):
            kwargs["latency_s"] = _duration(value)
        elif key == "stop_after":
            if value is None or value == "":
                kwargs["stop_after"] = None
            else:
                try:
                    kwargs["stop_after"] = int(value)
                except (TypeError, ValueError) as exc:
                    raise FaultSpecError(f"stop_after: expected a whole number, got {value!r}") from exc
        elif key == "gaps":
            kwargs["gaps"] = _rate(key, value)
            if kwargs["gaps"] >= 1.0:
                raise FaultSpecError(f"gaps: expected a share below 1 (every place left out), got {value!r}")
        elif key == "invalid":
            kwargs["invalid"] = _ids(value)
        elif key == "locked":
            kwargs["locked"] = _ids(value)
        elif key == "retry_after":
            try:
                kwargs["retry_after"] = int(value)
            except (TypeError, ValueError) as exc:
                raise FaultSpecError(f"retry_after: expected whole seconds, got {value!r}") from exc
        else:
            raise FaultSpecError(
                f"unknown fault kind {key!r} "
                "(known: 429, 503, latency, stop_after, invalid, locked, retry_after, gaps)"
            )
    faults = Faults(**kwargs)
    if faults.rate_429 + faults.rate_503 > 1.0:
        raise FaultSpecError("429 and 503 shares add up to more than 1")
    return faults
