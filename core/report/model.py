"""Every figure of the program report, read from the ledger alone.

The report is one JSON-ready document (``build``): the JSON form prints it, the CSV form flattens it and
the HTML page draws it, so the three carry the same numbers. Money is summed exactly (line cents, the
recorded Decimal facts) and shown rounded half-up to cents; ratios to four places. A figure the period's
run did not record (it ran before the report's facts were kept) is None, shown "not recorded": never 0.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ..errors import ConfigError
from ..ledger import Ledger
from ..money import round_cents
from ..periods import Period
from ..results import LineKind, exited_label
from ..settlement import OWED, PENDING, PROJECTED, STATUSES, Settlement
from ..settlement_ledger import settlements_in
from .facts import EXITED, median, recorded

ZERO = Decimal(0)
NEAR = Decimal("0.9")
"""A partner is near the next tier when its score and every requirement reach 90 % of what it needs."""
RATIO = Decimal("0.0001")
TOP = 10
"""How many partners the "highest incentive cost per margin dollar" list shows."""


MDF = "mdf"
BUDGET = "budget"
"""The JSON names of two figures whose word is also a built-in line kind's: the period's lines outside
period earnings, and the program budget figures. They name figures of the report, never a kind: which
lines count where is decided by the recorded LineKind flags alone."""


def money(value: Decimal | None) -> str | None:
    return None if value is None else f"{round_cents(value):.2f}"


def ratio(part: Decimal | None, whole: Decimal | None) -> str | None:
    """part ÷ whole to four places; None when either is unknown or the whole is 0."""
    if part is None or whole is None or whole == 0:
        return None
    return f"{(part / whole).quantize(RATIO, rounding=ROUND_HALF_UP)}"


def _decimal(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def _left(status: str | None, exit_on: str | None, end: str) -> bool:
    """The partner had left the program by ``end`` (an ISO day), as ``Partner.left_by`` decides it at the
    run: exiting or exited, its exit on or before that day."""
    return status is not None and status != "active" and exit_on is not None and exit_on <= end


@dataclass
class _Partner:
    """One partner's figures for the report's period, as read."""

    id: str
    name: str
    score: Decimal
    eligible: str
    assigned: str
    kinds: dict[str, Decimal] = field(default_factory=dict)


@dataclass
class _Period:
    """One period as read: line totals by kind, tier counts, and the report's facts by column (None:
    not recorded). ``partners`` is read for the report's period only."""

    key: str
    status: str
    kinds: Mapping[str, LineKind]
    program: Mapping[str, Any]
    doc: Mapping[str, Any] | None
    end: str
    """The period's last day (ISO)."""
    by_kind: dict[str, Decimal] = field(default_factory=dict)
    tier_counts: dict[str, int] = field(default_factory=dict)
    partners: dict[str, _Partner] = field(default_factory=dict)
    columns: dict[str, list[Any]] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    exited: dict[str, int] | None = None
    """Tier → how many of the partners assigned it had left the program by the period's end (they hold
    no tier any more); None when the run did not record the partners' exits."""

    def read_partners(self) -> None:
        """Parse the partners' recorded facts (only the report's own period needs them)."""
        if self.doc is not None:
            self.columns = json.loads(self.doc["partners"])
            self.rows = {pid: i for i, pid in enumerate(self.columns["id"])}

    def total(self, name: str) -> Any:
        """The period's recorded program-wide ``name``; None when not recorded."""
        return None if self.doc is None else self.doc["totals"][name]

    def earns(self, kind: str) -> bool:
        """Lines of ``kind`` count in period earnings (MDF does not); an undeclared kind counts."""
        declared = self.kinds.get(kind)
        return declared is None or declared.period_earnings

    def against_budget(self, kind: str) -> bool:
        """Lines of ``kind`` count against the program budget: kinds inside it, and the adjustments
        that scale them (an undeclared kind counts)."""
        declared = self.kinds.get(kind)
        return declared is None or declared.in_budget or declared.adjustment

    def facts(self, partner: _Partner, name: str) -> Any:
        """The partner's recorded ``name``; None when not recorded."""
        return self.fact(partner.id, name)

    def fact(self, partner_id: str, name: str) -> Any:
        row, column = self.rows.get(partner_id), self.columns.get(name)
        return None if row is None or column is None else column[row]

    def left(self, partner_id: str) -> bool:
        """The partner had left the program by the period's end (False when its exit was not recorded)."""
        return _left(self.fact(partner_id, "status"), self.fact(partner_id, "exit_on"), self.end)

    def count_exited(self, assigned: Iterable[tuple[str, str]]) -> None:
        """:attr:`exited` from the partners' recorded exits: ``assigned`` is (partner id, tier assigned)."""
        if self.doc is None:
            return
        self.exited = {}
        for pid, tier in assigned:
            if self.left(pid):
                self.exited[tier] = self.exited.get(tier, 0) + 1


def build(
    ledger: Ledger, period: Period, before: int, installed_kinds: Mapping[str, LineKind]
) -> dict[str, Any]:
    """The report of ``period`` and the ``before`` periods before it that the ledger holds."""
    if before < 0:
        raise ConfigError(
            f"--periods: {before} is negative; give how many earlier periods to show (0 or more)"
        )
    held = dict(ledger.periods())
    if period.key not in held:
        known = ", ".join(sorted(held)) or "none"
        raise ConfigError(
            f"--period: the ledger holds no run of {period.key} (periods run: {known})",
            hint="run the period first with `cosell run`",
        )
    earlier = sorted(key for key in held if key < period.key)
    keys = [*(earlier[-before:] if before else []), period.key]
    periods = _read(ledger, keys, held, installed_kinds)
    shown = periods[-1]
    trend = [_totals(p) for p in periods]
    previous: dict[str, str] = {}
    if shown.doc is None and earlier:
        # Not recorded with the run: the tier a partner came from is the one the period before assigned.
        previous = {row[0]: row[4] for row in ledger.report_standings(earlier[-1])}
    partners = _partners(shown, previous)
    leaving = [pid for pid in shown.partners if shown.fact(pid, "status") in ("exiting", "exited")]
    settlements = settlements_in(ledger, period, leaving)
    names = {row["id"]: row["name"] for row in partners}
    return {
        "program": shown.program.get("program"),
        "currency": shown.program.get("currency"),
        "period": period.key,
        "status": shown.status,
        "periods": keys,
        "recorded": shown.doc is not None,
        "totals": trend[-1],
        "trend": trend,
        "tiers": _tiers(shown),
        "partners": partners,
        "campaigns": _campaigns(periods),
        "watch": _watch(shown, partners, settlements),
        "governance": _governance(
            ledger, period, names, partners, settled=shown.status == "closed" or period.key != max(held)
        ),
    }


# --- reading ----------------------------------------------------------------------------------------


def _read(
    ledger: Ledger, keys: Sequence[str], held: Mapping[str, str], installed_kinds: Mapping[str, LineKind]
) -> list[_Period]:
    programs = {key: json.loads(text) for key, text in ledger.statement_run_data(keys).items()}
    periods: dict[str, _Period] = {}
    latest_kinds = dict(installed_kinds)
    for key in sorted(programs):
        latest_kinds = {k["name"]: LineKind(**k) for k in programs[key].get("line_kinds", ())}
    for key in keys:
        program = programs.get(key, {})
        kinds = {k["name"]: LineKind(**k) for k in program.get("line_kinds", ())} or latest_kinds
        periods[key] = _Period(
            key, held[key], kinds, program, recorded(program), Period.parse(key).end.isoformat()
        )
    for key, kind, cents in ledger.report_kind_totals(keys):
        periods[key].by_kind[kind] = Decimal(cents) / 100
    for key, tier, count in ledger.report_tier_counts(keys):
        periods[key].tier_counts[tier] = count
    shown = periods[keys[-1]]
    shown.read_partners()
    for pid, name, score, eligible, assigned in ledger.report_standings(shown.key):
        shown.partners[pid] = _Partner(pid, name, Decimal(score), eligible, assigned)
    for pid, kind, cents in ledger.report_partner_kinds(shown.key):
        partner = shown.partners.get(pid) or shown.partners.setdefault(pid, _Partner(pid, "", ZERO, "", ""))
        partner.kinds[kind] = Decimal(cents) / 100
    shown.count_exited((pid, partner.assigned) for pid, partner in shown.partners.items())
    for p in periods.values():
        if p is shown or p.doc is None:
            continue
        if EXITED in p.doc["totals"]:
            p.exited = dict(p.doc["totals"][EXITED])
        else:  # recorded before the count was kept: from the partners' recorded exits
            p.read_partners()
            p.count_exited((row[0], row[4]) for row in ledger.report_standings(p.key))
            p.columns, p.rows = {}, {}
    return [periods[key] for key in keys]


# --- figures ------------------------------------------------------------------------------------------


def _earnings(p: _Period, partner: _Partner) -> Decimal:
    return sum((amount for kind, amount in partner.kinds.items() if p.earns(kind)), ZERO)


def _mdf(p: _Period, partner: _Partner) -> Decimal:
    return sum((amount for kind, amount in partner.kinds.items() if not p.earns(kind)), ZERO)


def _campaign_rows(p: _Period) -> Iterable[tuple[str, Decimal, Decimal, Decimal, Decimal]]:
    for campaign, funded, released, pending, pipeline in p.total("campaigns") or ():
        yield campaign, Decimal(funded), Decimal(released), Decimal(pending), Decimal(pipeline)


def _totals(p: _Period) -> dict[str, Any]:
    """A period's program-wide figures."""
    by_kind = p.by_kind
    earnings = sum((a for k, a in by_kind.items() if p.earns(k)), ZERO)
    mdf = sum((a for k, a in by_kind.items() if not p.earns(k)), ZERO)
    in_budget = sum((a for k, a in by_kind.items() if p.against_budget(k)), ZERO)
    outside = {k: a for k, a in by_kind.items() if not p.against_budget(k)}
    budget = _decimal(p.program.get("program_budget"))
    won_revenue = _decimal(p.total("won_revenue"))
    won_margin = _decimal(p.total("won_margin"))
    won = _decimal(p.total("won_deals"))
    lost = _decimal(p.total("lost_deals"))
    campaigns = None if p.doc is None else list(_campaign_rows(p))
    held = dict(p.tier_counts)
    for tier, n in (p.exited or {}).items():
        held[tier] = held.get(tier, 0) - n
    funded = None if campaigns is None else sum((c[1] for c in campaigns), ZERO)
    pipeline = None if campaigns is None else sum((c[4] for c in campaigns), ZERO)
    return {
        "period": p.key,
        "status": p.status,
        "recorded": p.doc is not None,
        # the partners in the program, as the tiers count them: those that had left are in EXITED
        "partners": sum(held.values()),
        "earnings": money(earnings),
        MDF: money(mdf),
        "incentives": money(earnings + mdf),
        "by_kind": {kind: money(by_kind[kind]) for kind in sorted(by_kind)},
        BUDGET: {
            "program_budget": money(budget),
            "in_budget": money(in_budget),
            "used": ratio(in_budget, budget),
            # what the period paid besides: adjustments the governance body decided, clawbacks, MDF
            "outside_budget": money(sum(outside.values(), ZERO)),
            "outside_by_kind": {kind: money(outside[kind]) for kind in sorted(outside)},
        },
        "won_revenue": money(won_revenue),
        "won_margin": money(won_margin),
        "margin_known_revenue": money(_decimal(p.total("margin_known_revenue"))),
        "cost_of_revenue": ratio(earnings + mdf, won_revenue),
        "cost_of_margin": ratio(earnings + mdf, won_margin),
        "sourced_pipeline": money(_decimal(p.total("sourced_pipeline"))),
        "won_deals": None if won is None else int(won),
        "lost_deals": None if lost is None else int(lost),
        "joint_win_rate": ratio(won, None if won is None or lost is None else won + lost),
        "median_velocity_days": _days(_decimal(p.total("median_days_to_win"))),
        "mdf_funded": money(funded),
        "mdf_released": money(mdf),
        "mdf_pending": money(None if campaigns is None else sum((c[3] for c in campaigns), ZERO)),
        "campaign_pipeline": money(pipeline),
        "pipeline_per_mdf_dollar": ratio(pipeline, funded),
        "tiers": {tier: n for tier, n in sorted(held.items()) if n},
        EXITED: None if p.exited is None else sum(p.exited.values()),
    }


def _governance(
    ledger: Ledger,
    period: Period,
    names: Mapping[str, str],
    partners: Sequence[Mapping[str, Any]],
    *,
    settled: bool,
) -> dict[str, Any]:
    """The governance body's decisions as they bear on the period, read from the ledger as it holds them
    now (``cosell adjust list``, ``cosell tier-override list``): the adjustments the period's run paid,
    those still pending approval that a run of the period or a later one may pay, and the approved tier
    exceptions in force in the period, with whether its run held the partner at the exception's tier.
    Of a period that can no longer be run (``settled``), an exception approved after its run is not in
    force: no run of the period will apply it."""
    run = ledger.latest_run(period.key) if settled else None
    adjustments = ledger.adjustments()
    # a withdrawn one the period's stored lines still pay is paid until the period is run again
    paid = [a for a in adjustments if a.state in ("applied", "withdrawn") and a.applied_period == period.key]
    pending = [a for a in adjustments if a.state == "pending" and _not_later(a.period, period)]
    held = {(r["id"], r["tier"]) for r in partners if r["movement"] == "exception"}
    exceptions = [
        e
        for e in ledger.tier_exceptions(state="approved")
        if (until := _period_of(e.until)) is not None
        and until.kind == period.kind
        and until.start >= period.start
        and (run is None or (e.decided_at is not None and e.decided_at < run.started_at))
    ]
    return {
        "adjustments_paid": [
            {
                "id": a.id,
                "partner_id": a.partner_id,
                "name": names.get(a.partner_id, ""),
                "amount": money(a.amount),
                "reason": a.reason,
                "period": a.period,
                "deal_id": a.deal_id,
                "proposed_by": a.proposed_by,
                # None: the program's threshold approved it on proposal (`adjust list`: program threshold)
                "approved_by": a.decided_by,
                # withdrawn since the run: the next run of the period no longer pays it
                "withdrawn": a.state == "withdrawn",
            }
            for a in paid
        ],
        "adjustments_paid_total": money(sum((a.amount for a in paid), ZERO)),
        "pending_approval": {
            "count": len(pending),
            "amount": money(sum((a.amount for a in pending), ZERO)),
        },
        "tier_exceptions": [
            {
                "id": e.id,
                "partner_id": e.partner_id,
                "name": names.get(e.partner_id, ""),
                "tier": e.tier,
                "until": e.until,
                "reason": e.reason,
                "proposed_by": e.proposed_by,
                "approved_by": e.decided_by,
                "held": (e.partner_id, e.tier) in held,
            }
            for e in exceptions
        ],
    }


def _period_of(key: str) -> Period | None:
    try:
        return Period.parse(key)
    except ValueError:
        return None


def _not_later(key: str | None, period: Period) -> bool:
    """An adjustment of ``key`` (None: of no period) may be paid by a run of ``period`` or of one before
    it: its period is not a later one."""
    named = None if key is None else _period_of(key)
    return named is None or named.start <= period.end


def _days(value: Decimal | None) -> str | None:
    return None if value is None else f"{value.quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)}"


def _ranks(p: _Period) -> dict[str, int]:
    return {tier["name"]: i for i, tier in enumerate((p.doc or {}).get("tiers", ()))}


def _movement(
    previous: str | None, partner: _Partner, ranks: Mapping[str, int], exception: str | None
) -> str:
    """exception (held by an approved tier exception), promoted, demoted, grace (kept above the tier it is
    eligible for), held, or new."""
    if exception is not None:
        return "exception"
    if ranks.get(partner.eligible, 0) < ranks.get(partner.assigned, 0):
        return "grace"
    if previous is None:
        return "new"
    if previous == partner.assigned:
        return "held"
    if previous in ranks and partner.assigned in ranks:
        return "promoted" if ranks[partner.assigned] > ranks[previous] else "demoted"
    return "changed"


def _partners(p: _Period, previous_tiers: Mapping[str, str]) -> list[dict[str, Any]]:
    ranks = _ranks(p)
    rows = []
    for partner in sorted(p.partners.values(), key=lambda x: x.id):
        previous = p.facts(partner, "previous") if p.doc is not None else previous_tiers.get(partner.id)
        earnings, mdf = _earnings(p, partner), _mdf(p, partner)
        won_revenue = _decimal(p.facts(partner, "won_revenue"))
        won_margin = _decimal(p.facts(partner, "won_margin"))
        won, lost = p.facts(partner, "won_deals"), p.facts(partner, "lost_deals")
        days = p.facts(partner, "days_to_win")
        left = p.left(partner.id)
        rows.append(
            {
                "id": partner.id,
                "name": partner.name,
                "tier": partner.assigned,
                "previous_tier": previous,
                "eligible_tier": partner.eligible,
                "movement": "exited"
                if left
                else _movement(previous, partner, ranks, p.facts(partner, "exception")),
                "tier_shown": exited_label(partner.assigned)
                if left
                else p.facts(partner, "exception") or partner.assigned,
                "score": f"{partner.score:.2f}",
                "earnings": money(earnings),
                MDF: money(mdf),
                "sourced_pipeline": money(_decimal(p.facts(partner, "sourced_pipeline"))),
                "won_revenue": money(won_revenue),
                "won_margin": money(won_margin),
                "won_deals": won,
                "lost_deals": lost,
                "win_rate": None
                if won is None or lost is None
                else ratio(Decimal(won), Decimal(won + lost)) or "0.0000",
                "velocity_days": None if days is None else _days(median(days)),
                "attainment": ratio(_decimal(p.facts(partner, "attainment")), Decimal(1)),
                "cost_per_margin_dollar": ratio(earnings + mdf, won_margin),
                "status": p.facts(partner, "status"),
                "exit_on": p.facts(partner, "exit_on"),
            }
        )
    return rows


def _tiers(p: _Period) -> list[dict[str, Any]]:
    """Each tier with how many partners hold it: a partner that has left the program holds none (the
    totals count it as exited)."""
    counts: dict[str, int] = defaultdict(int)
    for partner in p.partners.values():
        if not p.left(partner.id):
            counts[partner.assigned] += 1
    listed = (p.doc or {}).get("tiers")
    if listed is None:
        return [{"name": name, "partners": n, "benefits": None} for name, n in sorted(counts.items())]
    rows = [
        {
            "name": t["name"],
            "min_score": t["min_score"],
            "partners": counts.get(t["name"], 0),
            "benefits": t["benefits"],
        }
        for t in listed
    ]
    shown = {t["name"] for t in listed}  # every partner is counted, in a tier the list lacks too
    rows += [
        {"name": name, "min_score": None, "partners": n, "benefits": None}
        for name, n in sorted(counts.items())
        if name not in shown
    ]
    return rows


def _campaigns(periods: Sequence[_Period]) -> list[dict[str, Any]]:
    """Per campaign over the periods shown: funded, paid, and the pipeline it brought; what is still
    pending at the end of the report's period."""
    totals: dict[str, list[Decimal]] = {}
    for p in periods:
        for campaign, funded, released, pending, pipeline in _campaign_rows(p):
            row = totals.setdefault(campaign, [ZERO, ZERO, ZERO, ZERO])
            row[0] += funded
            row[1] += released
            row[3] += pipeline
            if p is periods[-1]:
                row[2] += pending
    return [
        {
            "campaign": campaign,
            "funded": money(funded),
            "released": money(released),
            "pending": money(pending),
            "pipeline": money(pipeline),
            "pipeline_per_mdf_dollar": ratio(pipeline, funded),
        }
        for campaign, (funded, released, pending, pipeline) in sorted(totals.items())
    ]


def _lacks(partner: _Partner, nxt: Mapping[str, Any]) -> tuple[bool, list[dict[str, Any]]]:
    """(near: score and every requirement at 90 % or more of the next tier's, what it lacks)."""
    lacks = []
    min_score = Decimal(nxt["min_score"])
    near = partner.score >= NEAR * min_score
    if partner.score < min_score:
        lacks.append({"what": "score", "value": f"{partner.score:.2f}", "needed": nxt["min_score"]})
    for metric, value, needed in nxt["requires"]:
        have = _decimal(value)
        if have is None or have < Decimal(needed):
            lacks.append({"what": metric, "value": value, "needed": needed})
            near = near and have is not None and have >= NEAR * Decimal(needed)
    return near and bool(lacks), lacks


def _watch(
    p: _Period, partners: Sequence[Mapping[str, Any]], settlements: Mapping[str, Settlement | None]
) -> dict[str, Any]:
    start = Period.parse(p.key).start.isoformat()
    rows = {row["id"]: row for row in partners}
    grace = [
        {"id": r["id"], "name": r["name"], "tier": r["tier"], "eligible_tier": r["eligible_tier"]}
        for r in partners
        if r["movement"] == "grace"
    ]
    near, exiting, withheld = [], [], []
    pattern: dict[str, dict[str, Any]] = {}
    for partner in p.partners.values():
        nxt = p.facts(partner, "next")
        if nxt is not None and partner.eligible == partner.assigned and not p.left(partner.id):
            is_near, lacks = _lacks(partner, nxt)
            if is_near:
                near.append({"id": partner.id, "name": partner.name, "tier": partner.assigned,
                             "next_tier": nxt["tier"], "lacks": lacks})  # fmt: skip
        status, exit_on = p.facts(partner, "status"), p.facts(partner, "exit_on")
        settlement = settlements.get(partner.id)
        if settlement is None:  # none recorded: what the report's facts say may still be paid
            pending = sum((Decimal(c[3]) for c in p.facts(partner, "campaigns") or ()), ZERO)
            still = pending + Decimal(p.facts(partner, "projected") or "0")
        else:
            still = sum((settlement.total(s) for s in (OWED, PROJECTED, PENDING)), ZERO)
        # A partner that left before the period and is owed nothing has no place on the list.
        if status in ("exiting", "exited") and (
            status == "exiting" or (exit_on or "") >= start or still != 0
        ):
            # the totals of its exit settlement (`cosell settlement`), as they are named there
            owed: dict[str, str | None] = {
                s: None if settlement is None else money(settlement.total(s)) for s in STATUSES
            }
            exiting.append({"id": partner.id, "name": partner.name, "status": status, "exit_on": exit_on,
                            "tier_shown": rows[partner.id]["tier_shown"], **owed})  # fmt: skip
        for deal_id, deal_name, amount, discount, margin, action in p.facts(partner, "guarded") or ():
            withheld.append({"partner_id": partner.id, "deal_id": deal_id, "deal_name": deal_name,
                             "amount": money(Decimal(amount)), "discount_pct": discount, "margin_pct": margin,
                             "action": action})  # fmt: skip
            seen = pattern.setdefault(partner.id, {"withheld": 0, "floored": 0, "discounts": []})
            seen[action] = seen.get(action, 0) + 1
            if discount is not None:
                seen["discounts"].append(Decimal(discount))
    discounting = []
    for pid, seen in sorted(pattern.items()):
        discounts: list[Decimal] = seen["discounts"]
        discounting.append({
            "id": pid, "name": rows[pid]["name"] if pid in rows else "",
            "withheld": seen["withheld"], "floored": seen["floored"],
            "mean_discount_pct": _days(sum(discounts, ZERO) / len(discounts)) if discounts else None,
            "max_discount_pct": f"{max(discounts)}" if discounts else None,
        })  # fmt: skip
    costly = sorted(
        (r for r in partners if r["cost_per_margin_dollar"] is not None),
        key=lambda r: (-Decimal(r["cost_per_margin_dollar"]), r["id"]),
    )[:TOP]
    return {
        "grace": grace,
        "near_next_tier": sorted(near, key=lambda r: r["id"]),
        "exiting": sorted(exiting, key=lambda r: r["id"]),
        "guarded_deals": sorted(withheld, key=lambda r: (r["partner_id"], r["deal_id"])),
        "discount_pattern": discounting,
        "highest_cost_per_margin_dollar": [
            {
                "id": r["id"],
                "name": r["name"],
                "incentives": money(Decimal(r["earnings"]) + Decimal(r[MDF])),
                "won_margin": r["won_margin"],
                "cost_per_margin_dollar": r["cost_per_margin_dollar"],
            }
            for r in costly
        ],
    }
