"""What a statement needs that only the run knows, recorded with the run.

A run stores, next to its lines and standings, each partner's score parts (metric, value, target,
weight, fraction, better) with the scale, the tier goals the statement shows (the tier held under the
demotion grace, the next tier: min_score and every ``requires``), the program's per-partner cap and
budget figures, and the line kinds' declarations. A statement of a closed period renders from these,
so editing the program file afterwards changes no statement. The ledger keeps them as JSON text
(docs/ledger.md); this module makes and reads that text.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..results import LineKind, ScorePart

if TYPE_CHECKING:
    from ..program import Program
    from ..results import PartnerStanding


@dataclass(frozen=True, slots=True)
class GoalRecord:
    """A tier a partner aims at: its min_score and every ``requires`` (metric, needed value).
    ``keep``: the tier is held under the demotion grace and the partner is not eligible for it."""

    tier: str
    min_score: Decimal
    requires: tuple[tuple[str, Decimal], ...]
    keep: bool = False


@dataclass(frozen=True, slots=True)
class PartnerRecord:
    """One partner's recorded score parts and tier goals."""

    parts: tuple[ScorePart, ...]
    scale: Decimal | None
    """The program's scoring scale; None when the program has no scoring section."""
    goals: tuple[GoalRecord, ...]
    top_tier: bool


@dataclass(frozen=True, slots=True)
class RunRecord:
    """What a run records for its statements: program-wide figures and the line kinds."""

    program: str
    currency: str
    per_partner_cap: Decimal | None
    program_budget: Decimal | None
    line_kinds: tuple[LineKind, ...]
    mdf_release_multiple: Decimal | None = None
    partners: Mapping[str, PartnerRecord] = field(default_factory=dict)


# --- at run time ------------------------------------------------------------------------------------


def partner_record(
    program: Program, score: Decimal, parts: Sequence[ScorePart], eligible: str, assigned: str
) -> PartnerRecord:
    """The score's own parts, and the goals of the tier held under grace and of the tier above."""
    scale = program.scoring.scale if program.scoring else None
    if not assigned:
        return PartnerRecord(tuple(parts), scale, (), False)
    rank = program.tier_rank(assigned)
    goals = []

    def goal(index: int, *, keep: bool = False) -> GoalRecord:
        tier = program.tiers[index]
        return GoalRecord(tier.name, tier.min_score, tuple(tier.requires.items()), keep)

    if program.tier(assigned) is not None and program.tier_rank(eligible) < rank:
        goals.append(goal(rank, keep=True))
    top = rank + 1 >= len(program.tiers)
    if not top:
        goals.append(goal(rank + 1))
    return PartnerRecord(tuple(parts), scale, tuple(goals), top)


def run_record(
    program: Program, standings: Iterable[PartnerStanding], line_kinds: Iterable[LineKind]
) -> RunRecord:
    """What a run of ``program`` records for the statements of its standings."""
    caps = program.caps
    return RunRecord(
        program=program.program,
        currency=program.currency,
        per_partner_cap=caps.per_partner if caps else None,
        program_budget=caps.program_budget if caps else None,
        line_kinds=tuple(line_kinds),
        mdf_release_multiple=program.mdf.release_pipeline_multiple if program.mdf else None,
        partners={
            st.partner_id: partner_record(
                program, st.score.value, st.score.parts, st.tier.eligible, st.tier.assigned
            )
            for st in standings
        },
    )


# --- as the ledger stores it ------------------------------------------------------------------------


def _number(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _decimal(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def encode_run(record: RunRecord) -> str:
    """The run-wide part as JSON text (program, currency, cap and budget figures, line kinds)."""
    return json.dumps(
        {
            "program": record.program,
            "currency": record.currency,
            "per_partner_cap": _number(record.per_partner_cap),
            "program_budget": _number(record.program_budget),
            "line_kinds": [asdict(kind) for kind in record.line_kinds],
            "mdf_release_multiple": _number(record.mdf_release_multiple),
        },
        sort_keys=True,
    )


def encode_partner(record: PartnerRecord) -> str:
    """One partner's part as JSON text (score parts, scale, tier goals)."""
    return json.dumps(
        {
            "parts": [
                {
                    "metric": p.metric,
                    "value": _number(p.value),
                    "target": str(p.target),
                    "weight": str(p.weight),
                    "fraction": str(p.fraction),
                    "better": p.better,
                }
                for p in record.parts
            ],
            "scale": _number(record.scale),
            "goals": [
                {
                    "tier": g.tier,
                    "min_score": str(g.min_score),
                    "requires": [[metric, str(needed)] for metric, needed in g.requires],
                    "keep": g.keep,
                }
                for g in record.goals
            ],
            "top_tier": record.top_tier,
        },
        sort_keys=True,
    )


def decode_run(text: str, partners: Mapping[str, str]) -> RunRecord:
    """The record :func:`encode_run` and :func:`encode_partner` wrote."""
    doc: dict[str, Any] = json.loads(text)
    return RunRecord(
        program=doc["program"],
        currency=doc["currency"],
        per_partner_cap=_decimal(doc["per_partner_cap"]),
        program_budget=_decimal(doc["program_budget"]),
        line_kinds=tuple(LineKind(**kind) for kind in doc["line_kinds"]),
        mdf_release_multiple=_decimal(doc["mdf_release_multiple"]),
        partners={pid: decode_partner(body) for pid, body in partners.items()},
    )


def decode_partner(text: str) -> PartnerRecord:
    doc: dict[str, Any] = json.loads(text)
    return PartnerRecord(
        parts=tuple(
            ScorePart(
                p["metric"],
                _decimal(p["value"]),
                Decimal(p["target"]),
                Decimal(p["weight"]),
                Decimal(p["fraction"]),
                p["better"],
            )
            for p in doc["parts"]
        ),
        scale=_decimal(doc["scale"]),
        goals=tuple(
            GoalRecord(
                g["tier"],
                Decimal(g["min_score"]),
                tuple((m, Decimal(n)) for m, n in g["requires"]),
                g["keep"],
            )
            for g in doc["goals"]
        ),
        top_tier=doc["top_tier"],
    )


def encode(record: RunRecord) -> tuple[str, dict[str, str]]:
    """The record as ``Ledger.record_run`` stores it: (program-wide text, partner id → text)."""
    return encode_run(record), {pid: encode_partner(p) for pid, p in record.partners.items()}
