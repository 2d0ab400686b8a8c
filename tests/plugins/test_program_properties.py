"""Properties over drawn programs as well as drawn records: every number a program takes, with its
boundaries (0, exactly a threshold or band, the largest sane value, the section left out), must keep the
rules' invariants. Every computation runs with floats trapped (decimal.FloatOperation)."""

from __future__ import annotations

import copy
import decimal
import json
from decimal import Decimal
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cosell.engine import Computation
from cosell.ledger import Ledger
from cosell.money import round_cents
from cosell.pluginmanager import Plugins
from cosell.program import Program
from cosell.testing import run_program
from program_strategies import (
    FAST,
    Q2,
    Data,
    build_program,
    capped_total,
    compute_strictly,
    datas,
    pre_cap_total,
    program_docs,
)

CENT = Decimal("0.01")
ROLES = ("sourced", "cosell", "influenced")


def expected_commission(result: Computation, partner_id: str, deal_id: str) -> Decimal:
    """amount × share × role multiplier × the assigned tier's rate (× the factor under the margin floor),
    rounded half-up: the commission rule computed again from the program, by hand."""
    program = result.context.program
    facts = next(f for f in result.facts if f.id == partner_id)
    involvement = next(pd for pd in facts.deals if pd.deal.id == deal_id)
    standing = next(s for s in result.standings if s.partner_id == partner_id)
    tier = program.tier(standing.tier.assigned)
    assert tier is not None
    multiplier = program.payouts.role_multiplier(involvement.role) if program.payouts else Decimal(1)
    amount = involvement.deal.amount * involvement.share * multiplier * tier.commission_rate
    if under_floor(program, involvement.deal.margin_pct):
        assert program.guardrails is not None and program.guardrails.margin_floor_factor is not None
        amount *= program.guardrails.margin_floor_factor
    return round_cents(amount)


def withheld(result: Computation, partner_id: str, deal_id: str) -> bool:
    """A won deal pays 0 past the discount limit (strictly above it), when won after an exiting partner's
    wind-down, or when refunded inside the clawback window in the period it was won."""
    program = result.context.program
    deal = next(pd.deal for f in result.facts for pd in f.deals if pd.deal.id == deal_id)
    who = next(f.partner for f in result.facts if f.id == partner_id)
    assert deal.closed_on is not None
    limit = program.guardrails.max_discount_pct if program.guardrails else None
    if limit is not None and deal.discount_pct is not None and deal.discount_pct > limit:
        return True
    days, exit_on = program.wind_down_days, who.exit_on
    if (
        who.status != "active"
        and exit_on is not None
        and days is not None
        and (deal.closed_on - exit_on).days > days
    ):
        return True
    window = program.clawback_window_days
    refund = deal.refunded_on
    return (
        window is not None
        and refund is not None
        and refund in result.context.period
        and (refund - deal.closed_on).days <= window
    )


def under_floor(program: Program, margin: Decimal | None) -> bool:
    guard = program.guardrails
    return bool(
        guard and guard.min_margin_pct is not None and margin is not None and margin < guard.min_margin_pct
    )


def expected_accelerator(result: Computation, partner_id: str) -> Decimal | None:
    """The accelerator by hand: the highest band reached × the guarded commission not under the floor."""
    program = result.context.program
    standing = next(s for s in result.standings if s.partner_id == partner_id)
    tier = program.tier(standing.tier.assigned)
    bands = program.payouts.accelerators if program.payouts else ()
    if tier is None or tier.quota == 0 or not bands:
        return None
    won = standing.metrics["won_revenue"]
    assert won is not None
    reached = [b for b in bands if won / tier.quota >= b.attainment]
    if not reached:
        return None
    band = max(reached, key=lambda b: b.attainment)
    base = sum(
        (
            ln.amount
            for ln in result.lines[partner_id]
            if ln.kind == "commission" and not ln.withheld and "margin_floor" not in ln.tags
        ),
        Decimal(0),
    )
    return None if base == 0 else round_cents((band.multiplier - 1) * base)


@FAST
@given(program_docs(), datas())
def test_every_line_is_whole_cents_and_every_total_is_the_sum_of_its_lines(doc, data):
    result = compute_strictly(build_program(doc), data)
    for line in result.all_lines():
        assert isinstance(line.amount, Decimal) and line.amount == line.amount.quantize(CENT), line
        assert line.amount.as_tuple().exponent >= -2, line
        assert line.explanation
    for projection in result.projections:
        assert isinstance(projection.amount, Decimal) and projection.amount == projection.amount.quantize(
            CENT
        )
    for pid, lines in result.lines.items():
        assert result.earnings(pid) == sum((ln.amount for ln in lines if ln.kind != "mdf"), Decimal(0))


@FAST
@given(program_docs(), datas())
def test_every_commission_line_is_amount_share_multiplier_rate_and_floor_factor(doc, data):
    result = compute_strictly(build_program(doc), data)
    paid: dict[tuple[str, str], int] = {}
    for line in result.all_lines():
        if line.kind != "commission":
            continue
        assert line.deal_id is not None
        paid[line.partner_id, line.deal_id] = paid.get((line.partner_id, line.deal_id), 0) + 1
        assert line.withheld == withheld(result, line.partner_id, line.deal_id), line
        if line.withheld:
            assert line.amount == 0
        else:
            assert line.amount == expected_commission(result, line.partner_id, line.deal_id), line
    period = result.context.period
    won_here = {
        (f.id, pd.deal.id)
        for f in result.facts
        for pd in f.deals
        if pd.deal.status == "won" and pd.deal.closed_on is not None and pd.deal.closed_on in period
    }
    assert paid == dict.fromkeys(won_here, 1)


@FAST
@given(program_docs(), datas())
def test_the_accelerator_pays_the_highest_band_reached_on_commission_not_under_the_floor(doc, data):
    result = compute_strictly(build_program(doc), data)
    for pid, lines in result.lines.items():
        accelerator = [ln.amount for ln in lines if ln.kind == "accelerator"]
        expected = expected_accelerator(result, pid)
        assert accelerator == ([] if expected is None else [expected])


ZERO_KNOBS = (
    "commission_rate",
    "margin_floor_factor",
    "sourced",
    "cosell",
    "influenced",
    "accelerator_multiplier",
    "baseline",
    "signing_bonus",
    "milestones",
    "mdf_budget",
    "release_on_approval",
    "per_partner",
    "program_budget",
)


def set_zero(doc: dict[str, Any], knob: str) -> dict[str, Any]:
    """The program with one number set to zero (its neutral value 1 for an accelerator multiplier)."""
    doc = copy.deepcopy(doc)
    payouts = doc.setdefault("payouts", {})
    if knob == "commission_rate":
        for tier in doc["tiers"]:
            tier["commission_rate"] = "0"
    elif knob == "margin_floor_factor":
        doc["guardrails"] = {**doc.get("guardrails", {}), "min_margin_pct": "30", "margin_floor_factor": "0"}
    elif knob in ROLES:
        payouts["role_multipliers"] = {**payouts.get("role_multipliers", {}), knob: "0"}
    elif knob == "accelerator_multiplier":
        payouts["accelerators"] = [
            {**band, "multiplier": "1"} for band in payouts.get("accelerators", [{"attainment": "0"}])
        ]
        for tier in doc["tiers"]:
            tier.setdefault("quota", "1000")
    elif knob in ("baseline", "signing_bonus"):
        payouts["baseline_per_qualified_opportunity" if knob == "baseline" else knob] = "0"
    elif knob == "milestones":
        payouts["milestones"] = [
            {"name": "first_win", "kind": "first_win", "amount": "0"},
            {"name": "demos", "kind": "activities", "type": "joint_demo", "count": "1", "amount": "0"},
        ]
    elif knob == "mdf_budget":
        for tier in doc["tiers"]:
            tier["mdf_budget"] = "0"
        doc.setdefault("mdf", {"release_on_approval": "0.5", "release_pipeline_multiple": "0"})
    elif knob == "release_on_approval":
        doc["mdf"] = {"release_on_approval": "0", "release_pipeline_multiple": "1000"}
    elif knob in ("per_partner", "program_budget"):
        doc["caps"] = {**doc.get("caps", {}), knob: "0"}
    return doc


@FAST
@given(program_docs(), datas())
def test_a_zero_rate_factor_multiplier_or_amount_pays_zero_through_it(doc, data):
    for knob in ZERO_KNOBS:
        pays_zero_through(set_zero(doc, knob), data, knob)


def pays_zero_through(doc: dict[str, Any], data: Data, knob: str) -> None:
    result = compute_strictly(build_program(doc), data)
    lines = result.all_lines()
    roles = {(f.id, pd.deal.id): pd.role for f in result.facts for pd in f.deals}

    def amounts(kind: str, where: Any = lambda ln: True) -> set[Decimal]:
        return {ln.amount for ln in lines if ln.kind == kind and where(ln)}

    if knob == "commission_rate":
        assert amounts("commission") <= {0} and amounts("accelerator") == set()
    elif knob == "margin_floor_factor":
        floored = amounts("commission", lambda ln: "margin_floor" in ln.tags)
        assert floored <= {0}
        for pid in result.lines:  # no accelerator through a deal under the floor
            assert [ln.amount for ln in result.lines[pid] if ln.kind == "accelerator"] == (
                [] if (e := expected_accelerator(result, pid)) is None else [e]
            )
        program = result.context.program
        for line in lines:
            if line.kind == "commission" and not line.withheld:
                deal = next(pd.deal for f in result.facts for pd in f.deals if pd.deal.id == line.deal_id)
                assert ("margin_floor" in line.tags) == under_floor(program, deal.margin_pct)
    elif knob in ROLES:
        assert amounts("commission", lambda ln: roles[ln.partner_id, ln.deal_id] == knob) <= {0}
    elif knob == "accelerator_multiplier":
        assert amounts("accelerator") <= {0}
    elif knob == "baseline":
        assert amounts("baseline") <= {0}
    elif knob == "signing_bonus":
        assert amounts("signing_bonus") <= {0}
    elif knob == "milestones":
        assert amounts("milestone") <= {0}
    elif knob == "mdf_budget":
        assert amounts("mdf") <= {0}
    elif knob == "release_on_approval":
        assert amounts("mdf", lambda ln: "mdf_stage:approval" in ln.tags) <= {0}
    elif knob == "per_partner":
        for partner_lines in result.lines.values():
            assert capped_total(partner_lines) == min(pre_cap_total(partner_lines), Decimal(0))
    elif knob == "program_budget":
        for partner_lines in result.lines.values():
            assert capped_total(partner_lines) <= 0


RAISE_KNOBS = (
    "commission_rate",
    "role_multiplier",
    "accelerator_multiplier",
    "margin_floor_factor",
    "baseline",
    "signing_bonus",
    "milestone",
)


def raised(doc: dict[str, Any], knob: str, by: Decimal, which: int) -> dict[str, Any]:
    """The program with one rate, multiplier or amount raised by ``by`` (from its default when left out)."""
    doc = copy.deepcopy(doc)
    payouts = doc.get("payouts")

    def up(mapping: dict[str, Any], key: str, default: str = "0", most: str | None = None) -> None:
        # rates stay fractions (at most 1) and multipliers at most 10, as the program file requires
        value = Decimal(mapping.get(key, default)) + by
        mapping[key] = str(value if most is None else min(value, Decimal(most)))

    if knob == "commission_rate":
        up(doc["tiers"][which % len(doc["tiers"])], "commission_rate", most="1")
    elif knob == "margin_floor_factor" and doc.get("guardrails", {}).get("margin_floor_factor") is not None:
        up(doc["guardrails"], "margin_floor_factor", most="1")
    elif payouts is None:
        assume(False)
    elif knob == "role_multiplier":
        multipliers = payouts.setdefault("role_multipliers", {})
        up(multipliers, ROLES[which % 3], default="1", most="10")
    elif knob == "accelerator_multiplier" and payouts.get("accelerators"):
        up(payouts["accelerators"][which % len(payouts["accelerators"])], "multiplier", most="10")
    elif knob in ("baseline", "signing_bonus") and knob in payouts:
        up(payouts, "baseline_per_qualified_opportunity" if knob == "baseline" else knob)
    elif knob == "milestone" and payouts.get("milestones"):
        up(payouts["milestones"][which % len(payouts["milestones"])], "amount")
    else:
        assume(False)
    return doc


@FAST
@given(
    program_docs(),
    datas(),
    st.sampled_from(RAISE_KNOBS),
    st.sampled_from(["0.0001", "0.01", "0.5", "1", "1000"]),
    st.integers(0, 5),
)
def test_raising_a_rate_multiplier_or_amount_never_lowers_a_partners_pre_cap_total(
    doc, data, knob, by, which
):
    before = compute_strictly(build_program(doc), data)
    after = compute_strictly(build_program(raised(doc, knob, Decimal(by), which)), data)
    assert [s.tier.assigned for s in before.standings] == [s.tier.assigned for s in after.standings]
    for pid, lines in before.lines.items():
        assert pre_cap_total(after.lines[pid]) >= pre_cap_total(lines), pid


@FAST
@given(program_docs(), datas())
def test_the_cap_brings_each_partner_to_it_and_the_budget_is_shared_to_the_cent(doc, data):
    result = compute_strictly(build_program(doc), data)
    caps = result.context.program.caps
    cap = caps.per_partner if caps else None
    budget = caps.program_budget if caps else None
    after_cap = {}
    for pid, lines in result.lines.items():
        pre = pre_cap_total(lines)
        cap_lines = [ln.amount for ln in lines if ln.kind == "cap"]
        if cap is not None and pre > cap:
            assert cap_lines == [cap - pre]
        else:
            assert cap_lines == []
        after_cap[pid] = pre + sum(cap_lines, Decimal(0))
        assert cap is None or capped_total(lines) <= cap
    finals = {pid: capped_total(lines) for pid, lines in result.lines.items()}
    positive = {pid: total for pid, total in after_cap.items() if total > 0}
    if budget is not None and sum(positive.values(), Decimal(0)) > budget:
        assert sum((finals[pid] for pid in positive), Decimal(0)) == budget
        assert all(0 <= finals[pid] <= after_cap[pid] for pid in positive)
    else:
        assert all(ln.kind != "budget" for ln in result.all_lines())
    if budget is not None:
        assert sum((t for t in finals.values() if t > 0), Decimal(0)) <= budget


def statements(doc: dict[str, Any], data: Data, *, reverse: bool) -> tuple[str, str]:
    partners, deals, acts, claims = data.build()
    if reverse:
        partners, deals, acts, claims = partners[::-1], deals[::-1], acts[::-1], claims[::-1]
    with Ledger.connect("sqlite://") as ledger, decimal.localcontext() as ctx:
        ctx.traps[decimal.FloatOperation] = True
        run = run_program(
            build_program(doc),
            partners,
            deals,
            acts,
            claims,
            ledger=ledger,
            plugins=Plugins(entry_points=False),
        )
        return run.statement_csv, run.statement_json


def unordered(statement: tuple[str, str]) -> tuple[list[str], str]:
    """A statement with the order of lines inside a partner (and a kind) left out: the csv rows sorted,
    the json's lines of each partner sorted."""
    csv_text, json_text = statement
    doc = json.loads(json_text)
    for p in doc["partners"]:
        p["lines"].sort(key=lambda ln: json.dumps(ln, sort_keys=True))
    return sorted(csv_text.splitlines()), json.dumps(doc, sort_keys=True)


@settings(FAST, max_examples=12)
@given(program_docs(), datas())
def test_the_same_input_gives_byte_identical_statements_and_any_order_the_same_lines(doc, data):
    first = statements(doc, data, reverse=False)
    assert first == statements(doc, data, reverse=False)
    # The records of a CRM or a CSV folder come in no promised order, and the rules say nothing about
    # the order of lines of one kind: in another order the statement holds the very same lines (the
    # lines of one kind follow the order in which the records were read).
    assert unordered(first) == unordered(statements(doc, data, reverse=True))


@settings(FAST, max_examples=15)
@given(program_docs(), datas(closing=Q2), st.sampled_from([None, 0, 20, 50, 51, 120]))
def test_a_refund_inside_the_window_takes_back_exactly_the_commission_paid_before(doc, data, window):
    loaded = build_program({**doc, "clawback_window_days": window})
    window = loaded.program.clawback_window_days
    partners, deals, acts, claims = data.build()
    with Ledger.connect("sqlite://") as ledger, decimal.localcontext() as ctx:
        ctx.traps[decimal.FloatOperation] = True
        plugins = Plugins(entry_points=False)
        q2 = run_program(
            loaded, partners, deals, acts, claims, ledger=ledger, plugins=plugins, period="2026-Q2"
        )
        q3 = run_program(
            loaded, partners, deals, acts, claims, ledger=ledger, plugins=plugins, period="2026-Q3"
        )
    paid = {}
    for line in q2.lines:
        if line.kind == "commission" and line.deal_id is not None:
            paid[line.partner_id, line.deal_id] = paid.get((line.partner_id, line.deal_id), 0) + line.amount
    expected = {}
    for d in deals:
        refund, won = d.refunded_on, d.closed_on
        if d.status != "won" or refund is None or won is None or window is None:
            continue
        if (
            refund.isoformat() >= "2026-07-01"
            and refund.isoformat() <= "2026-09-30"
            and (refund - won).days <= window
        ):
            for pid in {i.partner_id for i in d.partners}:
                if paid.get((pid, d.id), 0) != 0:
                    expected[pid, d.id] = -paid[pid, d.id]
    clawed = {(ln.partner_id, ln.deal_id): ln.amount for ln in q3.lines if ln.kind == "clawback"}
    assert clawed == expected
    for line in q3.lines:
        assert line.kind != "clawback" or line.uncapped


@FAST
@given(program_docs(), datas())
def test_signing_bonus_baseline_and_milestones_pay_what_the_program_says(doc, data):
    result = compute_strictly(build_program(doc), data)
    program, period = result.context.program, result.context.period
    payouts = program.payouts
    for facts in result.facts:
        p = facts.partner
        exit_on = p.exit_on if p.status != "active" else None
        last = min(period.end, exit_on) if exit_on is not None else period.end
        got = {
            (ln.kind, *sorted(ln.tags)): ln.amount for ln in result.lines[facts.id] if ln.kind != "commission"
        }
        want: dict[tuple[str, ...], Decimal] = {}
        if payouts and payouts.signing_bonus is not None and p.joined_on in period:
            want["signing_bonus",] = payouts.signing_bonus
        qualified = [
            pd
            for pd in facts.deals
            if pd.role == "sourced"
            and period.start <= pd.deal.created_on <= last
            and (pd.deal.status == "won" or pd.deal.stage in program.qualified_stages)
        ]
        if payouts and payouts.baseline_per_qualified_opportunity is not None and qualified:
            want["baseline",] = payouts.baseline_per_qualified_opportunity * len(qualified)
        for milestone in payouts.milestones if payouts else ():
            if last < period.start:
                continue
            tag = f"milestone:{milestone.name}"
            if milestone.kind == "activities":
                assert milestone.count is not None
                done = sum(
                    (
                        a.quantity
                        for a in facts.activities
                        if a.type == milestone.type and period.start <= a.occurred_on <= last
                    ),
                    Decimal(0),
                )
                if done >= milestone.count:
                    want["milestone", tag] = milestone.amount
                continue
            window = program.clawback_window_days
            wins = sorted(
                (pd.deal.closed_on, pd.deal.id)
                for pd in facts.deals
                if pd.deal.status == "won"
                and pd.deal.closed_on is not None
                and not (
                    window is not None
                    and pd.deal.refunded_on is not None
                    and pd.deal.refunded_on <= period.end
                    and (pd.deal.refunded_on - pd.deal.closed_on).days <= window
                )
            )
            if wins and period.start <= wins[0][0] <= last:
                want["milestone", tag] = milestone.amount
        assert {k: v for k, v in got.items() if k[0] in ("signing_bonus", "baseline", "milestone")} == want
