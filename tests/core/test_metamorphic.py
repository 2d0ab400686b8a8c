"""Metamorphic tests: changes to the input that must not change the money, or change it in a known way.

- Every amount and money threshold × 10 gives every line × 10: exactly so before rounding, so within a
  cent for a line computed from the records; a line computed from other rounded lines (accelerator, cap,
  budget) carries their rounding too, and is held to the sum of theirs.
- Renaming partners and deals changes no amount: exactly, line by line, when the new ids sort as the old
  ones did; partner by partner when they do not (the budget's leftover cents go by partner id, so a
  partner's budget line may then move by one cent, and their sum does not).
- Reordering the rows of the CSV files changes no line. (The records drawn never name one partner twice
  on a deal with two different shares: the rules say which role such a partner keeps, not which share,
  and today the first row's share wins, so there the order of `deal_partners.csv` does change money.)
"""

from __future__ import annotations

import copy
import csv
import tempfile
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from cosell.connectors.files.reader import read_folder
from cosell.engine import Computation
from cosell.records import RecordSet
from cosell.results import PayoutLine
from cosell.testing import compute_period
from program_strategies import (
    FAST,
    MONEY_METRICS,
    Data,
    build_program,
    compute_strictly,
    datas,
    lines_back,
    program_docs,
    renamed,
)

TEN = Decimal(10)
CENT = Decimal("0.01")
PRIMARY = frozenset({"commission", "baseline", "signing_bonus", "milestone", "mdf", "clawback"})


def times_ten(value: Any) -> str:
    return str(Decimal(value) * TEN)


def scaled_program(doc: dict[str, Any]) -> dict[str, Any]:
    """Every money amount and money threshold of a program × 10."""
    doc = copy.deepcopy(doc)
    for tier in doc["tiers"]:
        for key in ("mdf_budget", "quota"):
            if key in tier:
                tier[key] = times_ten(tier[key])
        for metric, needed in tier.get("requires", {}).items():
            if metric in MONEY_METRICS:
                tier["requires"][metric] = times_ten(needed)
    for metric, target in doc.get("scoring", {}).get("metrics", {}).items():
        if metric in MONEY_METRICS:
            target["target"] = times_ten(target["target"])
    payouts = doc.get("payouts", {})
    for key in ("baseline_per_qualified_opportunity", "signing_bonus"):
        if key in payouts:
            payouts[key] = times_ten(payouts[key])
    for milestone in payouts.get("milestones", ()):
        milestone["amount"] = times_ten(milestone["amount"])
    caps = doc.get("caps", {})
    for key in ("per_partner", "program_budget"):
        if key in caps:
            caps[key] = times_ten(caps[key])
    return doc


def scaled_data(data: Data) -> Data:
    return data.with_records(
        deals=[{**d, "amount": times_ten(d["amount"])} for d in data.deals],
        claims=[{**c, "amount": times_ten(c["amount"])} for c in data.claims],
    )


KEY_TAGS = ("mdf_claim:", "mdf_stage:", "milestone:")


def line_key(line: PayoutLine) -> tuple[str, str, str | None, tuple[str, ...]]:
    return (
        line.partner_id,
        line.kind,
        line.deal_id,
        tuple(sorted(t for t in line.tags if t.startswith(KEY_TAGS))),
    )


def amounts_by_key(result: Computation) -> dict[tuple[str, str, str | None, tuple[str, ...]], Decimal]:
    out: dict[tuple[str, str, str | None, tuple[str, ...]], Decimal] = {}
    for line in result.all_lines():
        out[line_key(line)] = out.get(line_key(line), Decimal(0)) + line.amount
    return out


def tolerances(result: Computation) -> dict[str, dict[str, Decimal]]:
    """How far, at the original scale, each kind of a partner's lines may move under × 10: a cent for a line
    computed from the records; for the accelerator, cap and budget, the rounding of the lines they are
    computed from (``(multiplier − 1) ×`` the commission's, the capped lines', every partner's)."""
    program = result.context.program
    bands = program.payouts.accelerators if program.payouts else ()
    top = max((b.multiplier for b in bands), default=Decimal(1)) - 1
    out: dict[str, dict[str, Decimal]] = {}
    for pid, lines in result.lines.items():
        commissions = sum(1 for ln in lines if ln.kind == "commission")
        capped = sum(1 for ln in lines if ln.kind in PRIMARY and not ln.uncapped)
        accelerator = CENT + top * CENT * commissions
        out[pid] = {"accelerator": accelerator, "cap": CENT * capped + accelerator}
    everyone = sum((t["cap"] for t in out.values()), Decimal(0))
    for t in out.values():
        t["budget"] = CENT + 2 * t["cap"] + everyone
    return out


@FAST
@given(program_docs(), datas())
def test_ten_times_every_amount_and_money_threshold_gives_ten_times_every_line(doc, data):
    base = compute_strictly(build_program(doc), data)
    scaled = compute_strictly(build_program(scaled_program(doc)), scaled_data(data))
    # Money metrics and their targets and thresholds scale together: scores and tiers do not move.
    assert [(s.partner_id, s.score.value, s.tier.assigned) for s in base.standings] == [
        (s.partner_id, s.score.value, s.tier.assigned) for s in scaled.standings
    ]
    before, after = amounts_by_key(base), amounts_by_key(scaled)
    allowed = tolerances(base)
    for key in before.keys() | after.keys():
        pid, kind = key[0], key[1]
        tolerance = allowed[pid].get(kind, CENT) if kind not in PRIMARY else CENT
        moved = abs(after.get(key, Decimal(0)) / TEN - before.get(key, Decimal(0)))
        assert moved <= tolerance, (key, before.get(key), after.get(key), tolerance)
    projected = {(p.partner_id, p.deal_id): p.amount for p in base.projections}
    for p in scaled.projections:
        assert abs(p.amount / TEN - projected[p.partner_id, p.deal_id]) <= CENT


@FAST
@given(program_docs(), datas())
def test_renaming_partners_and_deals_in_the_same_order_changes_no_line(doc, data):
    partners = {p["id"]: f"partner-{p['id']}" for p in data.partners}
    deals = {d["id"]: f"opportunity-{d['id']}" for d in data.deals}
    loaded = build_program(doc)
    base = compute_strictly(loaded, data)
    other = compute_strictly(loaded, renamed(data, partners, deals))
    assert lines_back(base, {p: p for p in partners}, {d: d for d in deals}) == lines_back(
        other, partners, deals
    )


@FAST
@given(program_docs(), datas())
def test_renaming_partners_and_deals_in_reverse_order_changes_no_partners_amounts(doc, data):
    ids = [p["id"] for p in data.partners]
    partners = dict(zip(ids, reversed(ids), strict=True))
    deal_ids = [d["id"] for d in data.deals]
    deals = dict(zip(deal_ids, reversed(deal_ids), strict=True))
    loaded = build_program(doc)
    base = compute_strictly(loaded, data)
    other = compute_strictly(loaded, renamed(data, partners, deals))
    for pid in ids:
        # a partner that joins after the period has no lines (it is not in the period's run)
        mine = base.lines.get(pid, ())
        theirs = other.lines.get(partners[pid], ())
        assert Counter((ln.kind, ln.amount) for ln in mine if ln.kind != "budget") == Counter(
            (ln.kind, ln.amount) for ln in theirs if ln.kind != "budget"
        )
        budget = sum((ln.amount for ln in mine if ln.kind == "budget"), Decimal(0))
        assert abs(budget - sum((ln.amount for ln in theirs if ln.kind == "budget"), Decimal(0))) <= CENT
    assert sum((ln.amount for ln in base.all_lines()), Decimal(0)) == sum(
        (ln.amount for ln in other.all_lines()), Decimal(0)
    )


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


DEAL_COLUMNS = (
    "id", "name", "amount", "currency", "stage", "status", "created_on", "closed_on",
    "discount_pct", "margin_pct", "campaign", "refunded_on",
)  # fmt: skip


def write_folder(folder: Path, data: Data, order: dict[str, list[int]]) -> None:
    """The records as the files connector's CSV folder, each file's rows in the order given."""
    partners, deals, acts, claims = data.build()
    tables: dict[str, tuple[list[str], list[list[Any]]]] = {
        "partners.csv": (
            ["id", "name", "joined_on", "status", "exit_on"],
            [[p.id, p.name, p.joined_on, p.status, p.exit_on] for p in partners],
        ),
        "deals.csv": (list(DEAL_COLUMNS), [[getattr(d, c) for c in DEAL_COLUMNS] for d in deals]),
        "deal_partners.csv": (
            ["deal_id", "partner_id", "role", "share"],
            [[d.id, i.partner_id, i.role, i.share] for d in deals for i in d.partners],
        ),
        "activities.csv": (
            ["id", "partner_id", "type", "occurred_on", "quantity"],
            [[a.id, a.partner_id, a.type, a.occurred_on, a.quantity] for a in acts],
        ),
        "mdf_claims.csv": (
            ["id", "partner_id", "campaign", "amount", "status", "approved_on"],
            [[c.id, c.partner_id, c.campaign, c.amount, c.status, c.approved_on] for c in claims],
        ),
    }
    for name, (header, rows) in tables.items():
        positions = order.get(name, list(range(len(rows))))
        with (folder / name).open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(header)
            writer.writerows([_cell(v) for v in rows[i]] for i in positions)


def row_counts(data: Data) -> dict[str, int]:
    return {
        "partners.csv": len(data.partners),
        "deals.csv": len(data.deals),
        "deal_partners.csv": sum(len(d["partners"]) for d in data.deals),
        "activities.csv": len(data.activities),
        "mdf_claims.csv": len(data.claims),
    }


def computed_from_folder(doc: dict[str, Any], data: Data, order: dict[str, list[int]]) -> Computation:
    loaded = build_program(doc)
    with tempfile.TemporaryDirectory() as folder:
        write_folder(Path(folder), data, order)
        records: RecordSet = read_folder(Path(folder), loaded.program)
    return compute_period(loaded, records.partners, records.deals, records.activities, records.mdf_claims)


def sorted_lines(result: Computation) -> list[tuple[Any, ...]]:
    return sorted(
        (ln.partner_id, ln.kind, ln.deal_id or "", ln.amount, ln.withheld, ln.explanation, sorted(ln.tags))
        for ln in result.all_lines()
    )


@FAST
@given(program_docs(), datas(), st.data())
def test_reordering_the_rows_of_the_csv_files_changes_no_line(doc, data, draw):
    in_order = computed_from_folder(doc, data, {})
    shuffled = {
        name: draw.draw(st.permutations(range(count)), label=name) for name, count in row_counts(data).items()
    }
    other = computed_from_folder(doc, data, shuffled)
    # The lines of one kind follow the order the records were read in: the rules give them no order.
    assert sorted_lines(in_order) == sorted_lines(other)
    assert sorted(in_order.projections, key=repr) == sorted(other.projections, key=repr)
    assert in_order.standings == other.standings
