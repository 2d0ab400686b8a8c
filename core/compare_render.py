"""``cosell compare`` as JSON, CSV and one self-contained HTML page (inline CSS and SVG, no script, no
external asset, every text escaped). Renders a :class:`cosell.compare.Comparison`; adds no money up."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from decimal import Decimal
from html import escape
from pathlib import Path
from typing import Any

from .compare import Comparison, DealTreatment, PartnerComparison, ProgramTotals
from .money import show
from .textsafe import CsvWriter, spreadsheet_cell

CHART_PARTNERS = 40
"""Partners the chart shows: those whose earnings move most (the tables list every one)."""


def amount(value: Decimal | None) -> str | None:
    """An amount or percentage as JSON and CSV give it: a plain decimal with two places."""
    return None if value is None else f"{value:.2f}"


def labels(comparison: Comparison) -> list[str]:
    """How tables head each program: its file name, with the folder when two files share a name."""
    names = [Path(p.file).name for p in comparison.programs]
    return [
        p.file if names.count(name) > 1 else name for p, name in zip(comparison.programs, names, strict=True)
    ]


def notes(comparison: Comparison) -> list[str]:
    """Each program's notes, headed by its label: what its run would say of the approvals it leaves out."""
    return [
        f"{name}: {note}"
        for name, p in zip(labels(comparison), comparison.programs, strict=True)
        for note in p.notes
    ]


def treatment_text(result: DealTreatment) -> str:
    if not result.present:
        return "no line"
    words = ", ".join(word.replace("_", " ") for word in result.treatment) or "paid"
    return f"{show(result.amount)} ({words})"


def moved_first(partners: Sequence[PartnerComparison]) -> list[PartnerComparison]:
    """Partners whose earnings move most first (then tier changes, then by id)."""
    return sorted(partners, key=lambda p: (-max(abs(d) for d in p.differences), not p.tier_changes, p.id))


# --- JSON --------------------------------------------------------------------------------------------


def to_json(comparison: Comparison) -> str:
    document = {
        "period": comparison.period.key,
        "programs": [
            {"file": p.file, "name": p.name, "totals": _totals_json(p.totals), "notes": list(p.notes)}
            for p in comparison.programs
        ],
        "partners": [
            {
                "id": p.id,
                "name": p.name,
                "results": [
                    {
                        "tier": r.tier,
                        "tier_shown": r.tier_shown,
                        "score": amount(r.score),
                        "earnings": amount(r.earnings),
                    }
                    for r in p.results
                ],
            }
            for p in comparison.partners
        ],
        "deals": [
            {
                "id": d.deal_id,
                "name": d.deal_name,
                "partner_id": d.partner_id,
                "results": [
                    {"amount": amount(r.amount) if r.present else None, "treatment": list(r.treatment)}
                    for r in d.results
                ],
            }
            for d in comparison.deals
        ],
    }
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def _totals_json(totals: ProgramTotals) -> dict[str, Any]:
    return {
        "incentives": amount(totals.incentives),
        "by_kind": {kind: amount(value) for kind, value in totals.by_kind.items()},
        "period_earnings": amount(totals.period_earnings),
        "in_budget": amount(totals.in_budget),
        "program_budget": amount(totals.budget),
        "budget_used_pct": amount(totals.budget_used_pct),
        "won_revenue": amount(totals.won_revenue),
        "pct_of_won_revenue": amount(totals.pct_of_won_revenue),
        "won_margin": amount(totals.won_margin),
        "pct_of_won_margin": amount(totals.pct_of_won_margin),
        "partners_by_tier": dict(totals.partners_by_tier),
        "exited": totals.exited,
    }


# --- CSV ---------------------------------------------------------------------------------------------

CSV_COLUMNS = ("partner_id", "name", "program", "file", "tier", "score", "earnings", "difference")


def to_csv(comparison: Comparison) -> str:
    """One row per partner and program, in the order given; ``difference`` is earnings less the base's."""
    buffer = io.StringIO()
    writer = CsvWriter(buffer)
    writer.writerow(CSV_COLUMNS)
    for partner in comparison.partners:
        for program, result, difference in zip(
            comparison.programs, partner.results, partner.differences, strict=True
        ):
            cells = (partner.id, partner.name, program.name, program.file, result.tier_shown)
            writer.writerow(
                [spreadsheet_cell(c) for c in cells]
                + [amount(result.score), amount(result.earnings), amount(difference)]
            )
    return buffer.getvalue()


# --- HTML --------------------------------------------------------------------------------------------

CSS = """
:root { --ink: #1b2430; --muted: #5d6877; --rule: #dfe4ea; --soft: #f5f7fa; --up: #1d7f4a; --down: #a8321f; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1040px; padding: 36px 32px 64px; color: var(--ink);
  font: 14px/1.5 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 13px; margin: 32px 0 10px; text-transform: uppercase; letter-spacing: 0.06em;
  color: var(--muted); }
.meta, .muted { color: var(--muted); }
table { width: 100%; border-collapse: collapse; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--rule); vertical-align: top; }
th { font-size: 12px; color: var(--muted); font-weight: 600; background: var(--soft); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.total td { font-weight: 650; border-top: 2px solid var(--ink); }
.up { color: var(--up); } .down { color: var(--down); }
svg text { font: 12px -apple-system, "Segoe UI", Roboto, Arial, sans-serif; fill: var(--ink); }
.wide { overflow-x: auto; } .wide table { font-size: 12.5px; } .wide th, .wide td { padding: 5px 6px; }
.legend span { display: inline-block; margin-right: 16px; }
.swatch { display: inline-block; width: 10px; height: 10px; margin-right: 5px; vertical-align: -1px; }
"""
COLORS = ("#1f5fbf", "#d07a12", "#6a3fb5", "#1d7f4a", "#a8321f")
"""The bar colour of each variant in the chart (cycled past five)."""


def to_html(comparison: Comparison) -> str:
    names = labels(comparison)
    currency = escape(comparison.currency)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Program comparison, {escape(comparison.period.key)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>Program comparison, {escape(comparison.period.key)}</h1>",
        f'<p class="meta">The same records and ledger history computed under {len(names)} programs; '
        f"amounts in {currency}. Nothing was stored or written back. The first program is the base: "
        "differences are each variant less the base.</p>",
        "<h2>Programs</h2>",
        _programs_table(comparison, names),
        _notes(comparison),
        "<h2>Change in period earnings per partner</h2>",
        _chart(comparison, names),
        "<h2>Partners</h2>",
        f'<div class="wide">{_partners_table(comparison, names)}</div>',
        "<h2>Partners whose tier changes</h2>",
        _tier_changes(comparison, names),
        "<h2>Deals whose treatment changes</h2>",
        _deals_table(comparison, names),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _head(cells: Sequence[str], numeric_from: int = 1) -> str:
    return (
        "<tr>"
        + "".join(
            f'<th class="num">{escape(c)}</th>' if i >= numeric_from else f"<th>{escape(c)}</th>"
            for i, c in enumerate(cells)
        )
        + "</tr>"
    )


def _row(cells: Sequence[str], numeric_from: int = 1, css: str = "") -> str:
    attr = f' class="{css}"' if css else ""
    return (
        f"<tr{attr}>"
        + "".join(
            f'<td class="num">{escape(c)}</td>' if i >= numeric_from else f"<td>{escape(c)}</td>"
            for i, c in enumerate(cells)
        )
        + "</tr>"
    )


def program_rows(comparison: Comparison) -> list[tuple[str, list[str], bool]]:
    """The figures of the programs table (label, one cell per program, a total row?), shared by the
    terminal table and the page."""
    totals = [p.totals for p in comparison.programs]

    def money(value: Decimal | None) -> str:
        return "—" if value is None else show(value)

    def percent(value: Decimal | None) -> str:
        return "—" if value is None else f"{value:.2f} %"

    rows: list[tuple[str, list[str], bool]] = [("Program", [p.name for p in comparison.programs], False)]
    for kind, line_kind in comparison.kinds.items():
        rows.append((line_kind.title, [show(t.by_kind[kind]) for t in totals], False))
    rows += [
        ("Total incentives", [show(t.incentives) for t in totals], True),
        ("Period earnings (MDF left out)", [show(t.period_earnings) for t in totals], False),
        ("Inside the program budget, before it applies", [show(t.in_budget) for t in totals], False),
        ("Program budget set (caps.program_budget)", [money(t.budget) for t in totals], False),
        ("Share of the budget asked for", [percent(t.budget_used_pct) for t in totals], False),
        ("Won revenue", [show(t.won_revenue) for t in totals], False),
        ("Incentives as % of won revenue", [percent(t.pct_of_won_revenue) for t in totals], False),
        ("Won gross margin (deals with a margin)", [show(t.won_margin) for t in totals], False),
        ("Incentives as % of won gross margin", [percent(t.pct_of_won_margin) for t in totals], False),
    ]
    tiers = list(dict.fromkeys(name for t in totals for name in t.partners_by_tier))
    for tier in tiers:
        rows.append((f"Partners at {tier}", [str(t.partners_by_tier.get(tier, 0)) for t in totals], False))
    rows.append(("Partners exited (no tier)", [str(t.exited) for t in totals], False))
    return rows


def _programs_table(comparison: Comparison, names: Sequence[str]) -> str:
    rows = [_head(["", *names])]
    for label, cells, total in program_rows(comparison):
        rows.append(_row([label, *cells], css="total" if total else ""))
    return "<table>" + "".join(rows) + "</table>"


def _notes(comparison: Comparison) -> str:
    said = notes(comparison)
    if not said:
        return ""
    return "<ul>" + "".join(f"<li>{escape(note)}</li>" for note in said) + "</ul>"


def _signed(value: Decimal) -> str:
    return ("+" if value > 0 else "") + show(value)


def _chart(comparison: Comparison, names: Sequence[str]) -> str:
    """Horizontal bars, one per variant and partner, left of the axis for a loss and right for a gain."""
    partners = moved_first(comparison.partners)[:CHART_PARTNERS]
    variants = len(comparison.programs) - 1
    if not partners or all(d == 0 for p in partners for d in p.differences):
        return '<p class="muted">No partner earns a different amount under any variant.</p>'
    largest = max(abs(d) for p in partners for d in p.differences)
    label_w, value_w, half = 220, 110, 300
    bar_h, gap = 14, 10
    row_h = variants * bar_h + gap
    width = label_w + 2 * half + value_w
    axis = label_w + half
    height = len(partners) * row_h + 10
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="Change in period earnings per partner">',
        f'<line x1="{axis}" y1="0" x2="{axis}" y2="{height}" stroke="#5d6877" stroke-width="1"/>',
    ]
    for i, partner in enumerate(partners):
        top = i * row_h + 5
        name = partner.name if len(partner.name) <= 28 else partner.name[:27] + "…"
        out.append(
            f'<text x="{label_w - 8}" y="{top + row_h / 2 - gap / 2 + 4:.1f}" text-anchor="end">'
            f'{escape(name)} <tspan fill="#5d6877">{escape(partner.id)}</tspan></text>'
        )
        for v, difference in enumerate(partner.differences[1:]):
            y = top + v * bar_h
            length = float(abs(difference) / largest) * half
            x = axis if difference >= 0 else axis - length
            color = COLORS[v % len(COLORS)]
            out.append(
                f'<rect x="{x:.1f}" y="{y + 1}" width="{max(length, 0.5):.1f}" height="{bar_h - 2}" '
                f'fill="{color}"><title>{escape(names[v + 1])}: {escape(_signed(difference))}</title></rect>'
            )
            text_x = axis + half + 6
            out.append(f'<text x="{text_x}" y="{y + bar_h - 3}">{escape(_signed(difference))}</text>')
    out.append("</svg>")
    legend = "".join(
        f'<span><i class="swatch" style="background:{COLORS[v % len(COLORS)]}"></i>'
        f"{escape(name)} less {escape(names[0])}</span>"
        for v, name in enumerate(names[1:])
    )
    more = len(comparison.partners) - len(partners)
    note = f'<p class="muted">{more} more partner(s) move less; the table below lists every one.</p>'
    return f'<p class="legend">{legend}</p>' + "".join(out) + (note if more > 0 else "")


def _partners_table(comparison: Comparison, names: Sequence[str]) -> str:
    head = ["Partner"]
    for i, name in enumerate(names):
        head += [f"{name}: tier", "score", "earnings"] + (["difference"] if i else [])
    rows = [_head(head)]
    for partner in moved_first(comparison.partners):
        cells = [f"{partner.name} ({partner.id})"]
        for i, (result, difference) in enumerate(zip(partner.results, partner.differences, strict=True)):
            cells += [result.tier_shown, f"{result.score:.2f}", show(result.earnings)]
            if i:
                cells.append(_signed(difference))
        rows.append(_row(cells))
    return "<table>" + "".join(rows) + "</table>"


def _tier_changes(comparison: Comparison, names: Sequence[str]) -> str:
    moved = [p for p in comparison.partners if p.tier_changes]
    if not moved:
        return '<p class="muted">Every partner holds the same tier under each program.</p>'
    rows = [_head(["Partner", *names], numeric_from=99)]
    for partner in moved:
        rows.append(_row([f"{partner.name} ({partner.id})", *(r.tier_shown for r in partner.results)], 99))
    return "<table>" + "".join(rows) + "</table>"


def _deals_table(comparison: Comparison, names: Sequence[str]) -> str:
    if not comparison.deals:
        return (
            '<p class="muted">Every deal is treated alike under each program (withheld, under the margin '
            "floor, accelerated or not); only amounts may differ.</p>"
        )
    rows = [_head(["Deal", "Partner", *names], numeric_from=99)]
    for deal in comparison.deals:
        label = f"{deal.deal_name} ({deal.deal_id})" if deal.deal_name else deal.deal_id
        rows.append(_row([label, deal.partner_id, *(treatment_text(r) for r in deal.results)], 99))
    return "<table>" + "".join(rows) + "</table>"
