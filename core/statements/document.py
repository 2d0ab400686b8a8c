"""A period's statements as the ledger holds them, and the renderers that turn them into text.

Everything here reads the ledger alone: the lines, the standings and what each run recorded for its
statements (score parts, tier goals, cap and budget figures, line kinds). A format is a renderer
registered under a name, by cosell itself (csv, json, html, terminal) or by a plugin through the
``cosell_statement_renderers`` hook.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Literal

from ..errors import ConfigError
from ..periods import Period
from ..results import LineKind
from .facts import RunRecord, decode_run
from .model import ZERO, PartnerStatement, PeriodTotal, StatementLine, declared, installed_line_kinds

if TYPE_CHECKING:
    from ..ledger import Ledger
    from ..program import Program
    from ..results import LedgerLine, MetricDefinition, Projection

CHART_PERIODS = 8
"""Periods a statement's chart shows: this one and those before it (the year to date counts every period
of the year)."""


@dataclass(frozen=True, slots=True)
class StatementDocument:
    """What every renderer gets: the period's (or one partner's) statements and stored lines."""

    period: str
    status: Literal["open", "closed"]
    partner_id: str | None
    lines: tuple[LedgerLine, ...]
    """The lines in stored order (one partner's, if ``partner_id`` is given)."""
    statements: tuple[PartnerStatement, ...]
    """One per partner with a standing or a line, by partner id."""
    program: str | None
    """The program's name, as the run recorded it; None when not recorded."""
    currency: str | None
    recorded: bool
    """False when the period's run stored no statement data (a ledger written before version 3)."""
    definitions: Mapping[str, MetricDefinition] = field(default_factory=dict)


def ledger_statements(
    ledger: Ledger, period: str, partner_id: str | None, record: RunRecord | None = None
) -> list[PartnerStatement]:
    """One statement per partner with a standing or a line in the period (only ``partner_id``, if given),
    built from what the run recorded (``record``)."""
    standings = {s.partner_id: s for s in ledger.standings(period) if partner_id in (None, s.partner_id)}
    lines: dict[str, list[StatementLine]] = {}
    for line in ledger.lines(period, partner_id):
        lines.setdefault(line.partner_id, []).append(line)
    projections: dict[str, list[Projection]] = {}
    for projection in ledger.projections(period):
        if partner_id in (None, projection.partner_id):
            projections.setdefault(projection.partner_id, []).append(projection)
    totals = period_totals(ledger, period, partner_id, record)
    out = []
    for pid in sorted(set(standings) | set(lines)):
        standing = standings.get(pid)
        out.append(
            PartnerStatement.build(
                pid,
                period,
                score=standing.score if standing else ZERO,
                eligible=standing.eligible if standing else "",
                assigned=standing.assigned if standing else "",
                reason=standing.reason if standing else "the ledger holds no standing for this partner",
                name=standing.name if standing and standing.name else None,
                metrics=standing.metrics if standing else {},
                lines=lines.get(pid, ()),
                record=record.partners.get(pid) if record else None,
                run=record,
                standing_recorded=standing is not None,
                projections=projections.get(pid, ()),
                earlier=totals.get(pid, ()),
            )
        )
    return out


def period_totals(
    ledger: Ledger, period: str, partner_id: str | None, record: RunRecord | None = None
) -> dict[str, list[PeriodTotal]]:
    """Per partner, the totals of the earlier periods the chart and the year to date need (the
    ``CHART_PERIODS`` - 1 before this one and every earlier one of its year), oldest first: a period
    appears where the partner has lines in it. The lines of the ids a partner had before a CRM merge
    (``record``: what the period's run recorded) count for it."""
    current = {
        former: pid
        for pid, partner in (record.partners.items() if record else ())
        if partner_id in (None, pid)
        for former in partner.former_ids
    }
    this = Period.parse(period)
    earlier = [
        Period.parse(p) for p, _ in ledger.periods() if p != period and Period.parse(p).kind == this.kind
    ]
    earlier = [p for p in earlier if p < this]
    wanted = sorted(
        {*earlier[-(CHART_PERIODS - 1) :], *(p for p in earlier if p.start.year == this.start.year)}
    )
    keys = [p.key for p in wanted]
    recorded_kinds = {
        p: {k["name"]: LineKind(**k) for k in json.loads(text)["line_kinds"]}
        for p, text in ledger.statement_run_data(keys).items()
    }
    out: dict[str, list[PeriodTotal]] = {}
    for key in keys:
        kinds = recorded_kinds.get(key) or installed_line_kinds()
        earnings: dict[str, Decimal] = {}
        outside: dict[str, Decimal] = {}
        lines = ledger.lines(key, partner_id)
        for former in current if partner_id is not None else ():
            lines += ledger.lines(key, former)
        for line in lines:
            into = earnings if declared(kinds, line.kind).period_earnings else outside
            pid = current.get(line.partner_id, line.partner_id)
            into[pid] = into.get(pid, ZERO) + line.amount
        for pid in sorted(set(earnings) | set(outside)):
            out.setdefault(pid, []).append(PeriodTotal(key, earnings.get(pid, ZERO), outside.get(pid, ZERO)))
    return out


def recorded(ledger: Ledger, period: str) -> RunRecord | None:
    """What the period's run recorded for its statements; None for a run stored before version 3."""
    stored = ledger.statement_data(period)
    return None if stored is None else decode_run(*stored)


def document(
    ledger: Ledger,
    period: str,
    partner_id: str | None,
    program: Program | None = None,
    definitions: Mapping[str, MetricDefinition] | None = None,
) -> StatementDocument:
    """The period's statements from the ledger. ConfigError (exit 2) for a period the ledger has no run
    for, or a partner it does not hold. ``program`` only names the program and its currency when the
    run recorded neither (targets and tier goals are never taken from it)."""
    status = ledger.period_status(period)
    if status is None:
        raise ConfigError(f"the ledger has no run for period {period}")
    lines = ledger.lines(period, partner_id)
    if (
        partner_id is not None
        and not lines
        and not any(s.partner_id == partner_id for s in ledger.standings(period))
    ):
        raise ConfigError(not_in_run(ledger, period, partner_id))
    record = recorded(ledger, period)
    return StatementDocument(
        period=period,
        status=status,
        partner_id=partner_id,
        lines=tuple(lines),
        statements=tuple(ledger_statements(ledger, period, partner_id, record)),
        program=record.program if record else program.program if program else None,
        currency=record.currency if record else program.currency if program else None,
        recorded=record is not None,
        definitions=definitions or {},
    )


def not_in_run(ledger: Ledger, period: str, partner_id: str) -> str:
    """Why the period's run holds no such partner, as far as the ledger tells (``cosell statement`` and
    ``cosell settlement`` say the same): a partner joining after a period's last day is left out of its
    run, and the ledger keeps no word of it, only the later periods the partner is in (the first of them
    named when none before ``period`` holds it)."""
    said = f"no partner {partner_id!r} in {period}'s run"
    why = "(a partner joining after a period's last day is not in its run)"
    keys = [key for key, _ in ledger.periods()]
    holding = (k for k in keys if any(s.partner_id == partner_id for s in ledger.standings(k)))
    first = next(holding, None)
    if first is not None and period in keys and keys.index(first) > keys.index(period):
        return f"{said}: its first period in the ledger is {first} {why}"
    return f"{said} {why}"


def by_partner(lines: Sequence[LedgerLine]) -> dict[str, list[LedgerLine]]:
    """Stored lines per partner, in stored order."""
    out: dict[str, list[LedgerLine]] = {}
    for line in lines:
        out.setdefault(line.partner_id, []).append(line)
    return out
