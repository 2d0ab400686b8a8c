"""Hypothesis strategies that draw a whole program (every number it takes, with its boundaries) and the
records of a period, for the property and metamorphic tests.

A program is drawn as a plain dict of program keys (what ``cosell.testing.program`` takes), so a test can
change one number, scale the money or rename ids before building it. Records are drawn as plain dicts too
(``Data``), for the same reason, and built with the builders of ``cosell.testing``.
"""

from __future__ import annotations

import decimal
import os
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from cosell.engine import Computation
from cosell.program import LoadedProgram
from cosell.records import Activity, Deal, MdfClaim, Partner
from cosell.testing import activity, compute_period, deal, mdf_claim, partner, program

# Fast and database-free: compute_period only, no example database (a run here is the run in CI).
# COSELL_PROPERTY_EXAMPLES raises the count for a longer hunt.
FAST = settings(
    max_examples=int(os.environ.get("COSELL_PROPERTY_EXAMPLES", "40")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

PARTNERS = ("P1", "P2", "P3", "P4")
Q2 = ("2026-05-10", "2026-06-30")
Q3 = ("2026-07-01", "2026-07-15", "2026-08-01", "2026-08-20", "2026-09-10", "2026-09-30")
Q4 = ("2026-10-01", "2026-10-20")
DAYS = Q2 + Q3 + Q4
# Deal and claim amounts come from a small grid (so won revenue, pipeline and claims often land exactly
# on a quota, a requirement or an MDF budget) or anywhere up to the largest sane deal.
GRID = ("0", "1000", "2500", "10000", "0.01")
ACTIVITY_TARGET = 4  # joint_activities target: 0..4 activities score exactly 0, 25, 50, 75, 100
MONEY_METRICS = frozenset({"sourced_pipeline", "won_revenue"})


def money(largest: str = "10000000") -> st.SearchStrategy[Decimal]:
    return st.decimals(
        min_value=0, max_value=Decimal(largest), places=2, allow_nan=False, allow_infinity=False
    )


def amounts() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(GRID), money("2000000").map(str))


def around(*boundaries: str, largest: str = "10000000") -> st.SearchStrategy[str]:
    """A money value: 0, one of the boundaries given, anything in between, or the largest sane value."""
    return st.one_of(st.sampled_from(("0", *boundaries, largest)), money(largest).map(str))


def rates(largest: str = "1") -> st.SearchStrategy[str]:
    """A rate or factor: 0, the largest sane value, or anything between, to 4 places."""
    return st.one_of(
        st.sampled_from(("0", largest)),
        st.decimals(min_value=0, max_value=Decimal(largest), places=4).map(str),
    )


@st.composite
def program_docs(draw: st.DrawFn) -> dict[str, Any]:
    """A program's keys: every section drawn or left out, every number drawn with its boundaries."""
    doc: dict[str, Any] = {"fx": {"EUR": "1.08"}, "qualified_stages": ["Proposal"]}
    scores = [0, 25, 50, 75, 100]
    mins = sorted(set(draw(st.lists(st.sampled_from([*scores, 10, 60]), min_size=0, max_size=2))) - {0})
    tiers = []
    for i, min_score in enumerate([0, *mins]):
        tier: dict[str, Any] = {"name": f"T{i}", "min_score": min_score}
        if draw(st.integers(0, 4)):  # left out (a rate of 0) one time in five
            tier["commission_rate"] = draw(rates())
        if draw(st.booleans()):
            tier["quota"] = draw(around(*GRID[1:4], "3500"))
        if draw(st.booleans()):
            tier["mdf_budget"] = draw(around(*GRID[1:4]))
        if i and draw(st.booleans()):
            metric = draw(st.sampled_from(["won_revenue", "sourced_pipeline", "qualified_opportunities"]))
            needed = (
                draw(around(*GRID[1:4], "3500")) if metric in MONEY_METRICS else str(draw(st.integers(0, 3)))
            )
            tier["requires"] = {metric: needed}
        tiers.append(tier)
    doc["tiers"] = tiers
    if draw(st.booleans()):
        metrics: dict[str, Any] = {
            "joint_activities": {"weight": draw(st.sampled_from([0, 1, 2])), "target": ACTIVITY_TARGET}
        }
        if draw(st.booleans()):
            metrics["sourced_pipeline"] = {
                "weight": draw(st.sampled_from([0, 1])),
                "target": draw(st.sampled_from(["0.01", "2500", "10000"])),
            }
        if draw(st.booleans()):
            metrics["deal_velocity_days"] = {"weight": 1, "target": 30, "better": "lower"}
        doc["scoring"] = {"metrics": metrics}
    if draw(st.booleans()):
        doc["demotion_grace_periods"] = draw(st.integers(0, 2))
    if draw(st.booleans()):
        payouts: dict[str, Any] = {}
        if draw(st.booleans()):
            payouts["baseline_per_qualified_opportunity"] = draw(around("100", largest="100000"))
        if draw(st.booleans()):
            payouts["signing_bonus"] = draw(around("1000", largest="100000"))
        roles = draw(st.lists(st.sampled_from(["sourced", "cosell", "influenced"]), unique=True))
        if roles:
            payouts["role_multipliers"] = {role: draw(rates("3")) for role in roles}
        bands = draw(
            st.lists(
                st.tuples(st.sampled_from(["0", "0.5", "1", "1.5", "2.5"]), rates("3")),
                max_size=3,
                unique_by=lambda band: band[0],
            )
        )
        if bands:
            payouts["accelerators"] = [
                {"attainment": a, "multiplier": str(Decimal(1) + Decimal(m))} for a, m in bands
            ]
        milestones = []
        if draw(st.booleans()):
            milestones.append({"name": "first_win", "kind": "first_win", "amount": draw(around("2500"))})
        if draw(st.booleans()):
            milestones.append(
                {
                    "name": "demos",
                    "kind": "activities",
                    "type": "joint_demo",
                    "count": draw(st.sampled_from(["1", "2", "3", "0.5"])),
                    "amount": draw(around("500")),
                }
            )
        if milestones:
            payouts["milestones"] = milestones
        doc["payouts"] = payouts
    if draw(st.booleans()):
        guard: dict[str, Any] = {}
        if draw(st.booleans()):
            guard["max_discount_pct"] = draw(st.sampled_from(["0", "25", "100", "12.5"]))
        if draw(st.booleans()):
            guard["min_margin_pct"] = draw(st.sampled_from(["0", "30", "100", "-5"]))
            guard["margin_floor_factor"] = draw(rates())
        elif draw(st.booleans()):
            guard["margin_floor_factor"] = draw(rates())  # a factor without a floor: no floor
        doc["guardrails"] = guard
    if draw(st.booleans()):
        caps: dict[str, Any] = {}
        if draw(st.booleans()):
            caps["per_partner"] = draw(around("500", "2500", "10000"))
        if draw(st.booleans()):
            caps["program_budget"] = draw(around("1000", "10000"))
        doc["caps"] = caps
    if draw(st.booleans()):
        doc["clawback_window_days"] = draw(st.sampled_from([0, 10, 19, 20, 21, 120]))
    if draw(st.booleans()):
        doc["mdf"] = {
            "release_on_approval": draw(st.sampled_from(["0", "0.5", "1", "0.333"])),
            "release_pipeline_multiple": draw(st.sampled_from(["0", "1", "3", "2.5"])),
        }
    if draw(st.booleans()):
        doc["wind_down_days"] = draw(st.sampled_from([0, 19, 20, 21, 90]))
    return doc


@dataclass(frozen=True)
class Data:
    """The records of a drawn period, as builder arguments (so a test can scale or rename them)."""

    partners: list[dict[str, Any]] = field(default_factory=list)
    deals: list[dict[str, Any]] = field(default_factory=list)
    activities: list[dict[str, Any]] = field(default_factory=list)
    claims: list[dict[str, Any]] = field(default_factory=list)

    def build(self) -> tuple[list[Partner], list[Deal], list[Activity], list[MdfClaim]]:
        return (
            [partner(**p) for p in self.partners],
            [deal(**d) for d in self.deals],
            [activity(**a) for a in self.activities],
            [mdf_claim(**c) for c in self.claims],
        )

    def with_records(self, **changes: list[dict[str, Any]]) -> Data:
        return replace(self, **changes)


@st.composite
def datas(draw: st.DrawFn, closing: tuple[str, ...] = Q3) -> Data:
    """Records over 2026-Q2 to 2026-Q4; deals close mostly on the ``closing`` days."""
    people = []
    for pid in PARTNERS:
        p: dict[str, Any] = {"id": pid, "joined_on": draw(st.sampled_from(("2025-01-01", *DAYS)))}
        status = draw(st.sampled_from(["active", "active", "exiting", "exited"]))
        if status != "active":
            p |= {"status": status, "exit_on": draw(st.sampled_from(DAYS))}
        people.append(p)
    deals = []
    for i in range(draw(st.integers(0, 10))):
        who = draw(st.lists(st.sampled_from(PARTNERS), min_size=1, max_size=3, unique=True))
        shares = draw(st.sampled_from(["none", "split", "one"]))
        involvements = []
        for n, pid in enumerate(who):
            role = draw(st.sampled_from(["sourced", "cosell", "influenced"]))
            share = None
            if shares == "split":
                share = str((Decimal(1) / len(who)).quantize(Decimal("0.01"), rounding=decimal.ROUND_DOWN))
            elif shares == "one" and n == 0:
                share = draw(st.sampled_from(["0", "0.25", "1"]))
            involvements.append((pid, role, share))
        created = draw(st.sampled_from([d for d in DAYS[:6] if d <= max(closing)]))
        outcome = draw(st.sampled_from(["open", "won", "won", "lost"]))
        # Mostly closed inside the period being run (2026-Q3), where the payout rules bite.
        days = [d for d in (closing if draw(st.integers(0, 4)) else DAYS) if d >= created] or [created]
        closed = draw(st.sampled_from(days))
        d: dict[str, Any] = {
            "id": f"D{i}",
            "amount": draw(amounts()),
            "partners": involvements,
            "created_on": created,
            "currency": draw(st.sampled_from(["USD", "USD", "EUR"])),
            "campaign": draw(st.sampled_from([None, "Launch"])),
        }
        if outcome == "won":
            d["won_on"] = closed
            if draw(st.booleans()):
                # Mostly refunded in 2026-Q3: the refund of a deal won before it is a clawback.
                later = [x for x in (Q3 if draw(st.integers(0, 3)) else DAYS) if x >= closed]
                d["refunded_on"] = draw(st.sampled_from(later or [closed]))
        elif outcome == "lost":
            d["lost_on"] = closed
        else:
            d["stage"] = draw(st.sampled_from(["Proposal", "Discovery"]))
        for key, values in (
            ("discount_pct", ["0", "12.5", "25", "25.01", "100"]),
            ("margin_pct", ["-5", "0", "29.99", "30", "100"]),
        ):
            if draw(st.integers(0, 2)):
                d[key] = draw(st.sampled_from(values))
        deals.append(d)
    acts = [
        {
            "id": f"A{i}",
            "partner_id": draw(st.sampled_from(PARTNERS)),
            "type": draw(st.sampled_from(["joint_demo", "training"])),
            "occurred_on": draw(st.sampled_from(DAYS)),
            "quantity": draw(st.sampled_from(["1", "1", "2", "0.5"])),
        }
        for i in range(draw(st.integers(0, 8)))
    ]
    claims = []
    for i in range(draw(st.integers(0, 4))):
        c: dict[str, Any] = {
            "id": f"M{i}",
            "partner_id": draw(st.sampled_from(PARTNERS)),
            "campaign": draw(st.sampled_from(["Launch", "Other"])),
            "amount": draw(amounts()),
            "status": draw(st.sampled_from(["approved", "approved", "paid", "submitted", "rejected"])),
        }
        if c["status"] in ("approved", "paid"):
            c["approved_on"] = draw(st.sampled_from(DAYS))
        claims.append(c)
    return Data(people, deals, acts, claims)


def build_program(doc: dict[str, Any]) -> LoadedProgram:
    return program(**doc)


def compute_strictly(loaded: LoadedProgram, data: Data) -> Computation:
    """Compute the period with the decimal context trapping any float mixed into a Decimal operation."""
    with decimal.localcontext() as ctx:
        ctx.traps[decimal.FloatOperation] = True
        return compute_period(loaded, *data.build())


CAP_KINDS = frozenset({"cap", "budget"})


def pre_cap_total(lines: Any) -> Decimal:
    """A partner's lines subject to the cap, before the cap and the budget."""
    return sum((ln.amount for ln in lines if not ln.uncapped and ln.kind not in CAP_KINDS), Decimal(0))


def capped_total(lines: Any) -> Decimal:
    """A partner's lines subject to the cap, after the cap and the budget."""
    return sum((ln.amount for ln in lines if not ln.uncapped or ln.kind in CAP_KINDS), Decimal(0))


def renamed(data: Data, partners: dict[str, str], deals: dict[str, str]) -> Data:
    """The records with partner and deal ids replaced (and every reference to them)."""
    return Data(
        [{**p, "id": partners[p["id"]]} for p in data.partners],
        [
            {
                **d,
                "id": deals[d["id"]],
                "partners": [(partners[pid], role, share) for pid, role, share in d["partners"]],
            }
            for d in data.deals
        ],
        [{**a, "partner_id": partners[a["partner_id"]]} for a in data.activities],
        [{**c, "partner_id": partners[c["partner_id"]]} for c in data.claims],
    )


def lines_back(result: Computation, partners: dict[str, str], deals: dict[str, str]) -> list[tuple[Any, ...]]:
    """The lines with the old ids put back, in their order."""
    old_partner = {new: old for old, new in partners.items()}
    old_deal = {new: old for old, new in deals.items()}
    return [
        (old_partner[ln.partner_id], ln.kind, old_deal.get(ln.deal_id or ""), ln.amount, ln.withheld)
        for ln in result.all_lines()
    ]
