"""The partner statement as one static HTML page: inline CSS, charts as inline SVG, no script, no
external asset, every text escaped. It renders ``PartnerStatement``s; it adds no money up itself."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from html import escape
from typing import TYPE_CHECKING

from ..money import show, show_number
from ..periods import Period
from .document import CHART_PERIODS
from .facts import StatementSection
from .model import ZERO, LineGroup, PartnerStatement, PeriodTotal, StatementLine, TierGoal, number

if TYPE_CHECKING:
    from ..program import Program
    from ..results import MetricDefinition, ScorePart
    from .document import StatementDocument

PERCENT = Decimal("0.1")
"""A percentage's places on the page: one, rounded half-up from the exact fraction."""
BAR_WIDTH = 240
"""Width in px of a metric's bar at 100% of its target: a bar is fraction × BAR_WIDTH wide."""
BAR_HEIGHT = 12

CSS = """
:root { --ink: #1b2430; --muted: #5d6877; --rule: #dfe4ea; --soft: #f5f7fa; --accent: #1f5fbf;
  --good: #1d7f4a; --neg: #a8321f; --warn-bg: #fff7e6; --warn: #8a5a00; }
* { box-sizing: border-box; }
html { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body { margin: 0 auto; max-width: 980px; padding: 40px 32px 64px; color: var(--ink); background: #fff;
  font: 15px/1.5 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
h1 { font-size: 26px; margin: 2px 0 4px; font-weight: 650; letter-spacing: -0.01em; }
h2 { font-size: 21px; margin: 0; font-weight: 650; }
h3 { font-size: 13px; margin: 30px 0 10px; text-transform: uppercase; letter-spacing: 0.06em;
  color: var(--muted); font-weight: 650; }
h4 { font-size: 15px; margin: 0 0 6px; font-weight: 650; }
p { margin: 6px 0; }
.eyebrow { font-size: 12px; text-transform: uppercase; letter-spacing: 0.08em; color: var(--accent);
  font-weight: 650; }
.meta, .muted, .note { color: var(--muted); }
.meta { font-size: 14px; }
small, .small { font-size: 12.5px; }
code { font: 12.5px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; color: var(--muted); }
header.doc { border-bottom: 2px solid var(--ink); padding-bottom: 16px; margin-bottom: 8px; }
.notice { background: var(--warn-bg); color: var(--warn); border: 1px solid #f1d9a6; border-radius: 6px;
  padding: 10px 14px; margin: 14px 0 0; font-size: 14px; }
section.partner { padding-top: 28px; margin-top: 28px; border-top: 1px solid var(--rule); }
section.partner:first-of-type { border-top: 0; margin-top: 0; }
.partner-head { display: flex; align-items: baseline; gap: 12px; flex-wrap: wrap; }
.partner-head .id { color: var(--muted); font-size: 14px; }
.badge { display: inline-block; border-radius: 999px; padding: 1px 10px; font-size: 12.5px; font-weight: 600;
  background: #e8effb; color: var(--accent); border: 1px solid #c9d8f2; }
.badge.withheld { background: var(--soft); color: var(--muted); border-color: var(--rule); margin-left: 6px; }
.cards { display: grid; grid-template-columns: repeat(4, 1fr); gap: 12px; margin: 18px 0 4px; }
.card { border: 1px solid var(--rule); border-radius: 8px; padding: 12px 14px; background: var(--soft); }
.card .label { font-size: 12px; text-transform: uppercase; letter-spacing: 0.06em; color: var(--muted); }
.card .value { font-size: 22px; font-weight: 650; font-variant-numeric: tabular-nums; margin-top: 2px; }
.card .sub { font-size: 12.5px; color: var(--muted); }
table { width: 100%; border-collapse: collapse; font-size: 14px; }
th, td { text-align: left; vertical-align: top; padding: 7px 10px; border-bottom: 1px solid var(--rule); }
thead th { font-size: 12px; text-transform: uppercase; letter-spacing: 0.05em; color: var(--muted);
  font-weight: 650; border-bottom: 1.5px solid var(--ink); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.bar { width: 1%; white-space: nowrap; }
.neg { color: var(--neg); }
tr.group th { background: var(--soft); font-size: 13px; font-weight: 650; padding-top: 9px; }
tr.group th .kind { font-weight: 400; }
tr.subtotal th, tr.subtotal td { font-weight: 650; border-top: 1.5px solid var(--ink); }
tr.subtotal .small { font-weight: 400; }
tr.adjustment th { font-weight: 600; }
tr.adjustment th .small, tr.subtotal th .small { font-weight: 400; }
tr.total th, tr.total td { font-weight: 700; font-size: 15.5px; border-top: 2px solid var(--ink);
  border-bottom: 2px solid var(--ink); }
tr.quiet th, tr.quiet td { color: var(--muted); font-weight: 400; }
.formula { font-size: 13.5px; color: var(--muted); margin-top: 8px; font-variant-numeric: tabular-nums; }
.tier { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
.box { border: 1px solid var(--rule); border-radius: 8px; padding: 12px 14px; }
.box ul { margin: 4px 0 0; padding-left: 0; list-style: none; }
.box li { padding: 2px 0 2px 22px; position: relative; }
.box li::before { position: absolute; left: 0; font-weight: 700; }
.box li.met::before { content: "✓"; color: var(--good); }
.box li.unmet::before { content: "○"; color: var(--neg); }
.section-totals { display: flex; gap: 28px; flex-wrap: wrap; margin: 0 0 10px; font-size: 14px; }
.section-totals b { font-variant-numeric: tabular-nums; }
footer { margin-top: 40px; padding-top: 12px; border-top: 1px solid var(--rule); color: var(--muted);
  font-size: 12.5px; }
.card.lead { background: #eef4fd; border-color: #c9d8f2; }
.card.projected { background: #fff; border-style: dashed; }
.progress { height: 12px; border-radius: 6px; background: #e6ebf1; overflow: hidden; margin: 6px 0 4px; }
.progress span { display: block; height: 100%; background: var(--accent); border-radius: 6px; }
.progress.done span { background: var(--good); }
.progress.small { height: 6px; margin: 3px 0 0; max-width: 240px; }
.benefits-box { margin: 8px 0 12px; }
.box .benefits-box { margin: 10px 0 0; }
ul.benefits, .box ul.benefits { margin: 4px 0 0; padding-left: 20px; list-style: disc; }
.box ul.benefits li { padding: 1px 0; }
.box ul.benefits li::before { content: none; }
.deal { font-weight: 600; }
.deal-id { color: var(--muted); font-size: 12px; margin-left: 4px; }
.badge.projected { background: #fff; color: var(--warn); border: 1px dashed #d9b566; margin-left: 6px; }
svg.chart { width: 100%; max-width: 620px; height: auto; display: block; margin: 4px 0 8px; }
svg.bar { max-width: 100%; height: auto; }
.table-scroll { overflow-x: auto; }
@media (max-width: 720px) { .cards { grid-template-columns: repeat(2, 1fr); } .tier { grid-template-columns: 1fr; } }
@media (max-width: 560px) {
  body { padding: 18px 12px 40px; font-size: 14px; }
  h1 { font-size: 21px; }
  .cards { gap: 8px; }
  .card { padding: 10px; }
  .card .value { font-size: 18px; }
  th, td { padding: 6px 5px; }
  table { font-size: 13px; }
  .wide { display: none; }
}
@page { size: A4; margin: 16mm 14mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 10.5pt; }
  section.partner { break-before: page; border-top: 0; margin-top: 0; padding-top: 0; }
  section.partner:first-of-type { break-before: auto; }
  tr, .card, .box { break-inside: avoid; }
  thead { display: table-header-group; }
  h3 { break-after: avoid; }
}
"""


def render(doc: StatementDocument) -> str:
    """``--format html``: the page from the ledger alone."""
    return page(
        doc.statements,
        period=doc.period,
        status=doc.status,
        program=doc.program,
        currency=doc.currency,
        definitions=doc.definitions,
    )


def render_html(
    statements: Sequence[PartnerStatement],
    *,
    period: str,
    status: str,
    program: Program | None,
    definitions: Mapping[str, MetricDefinition],
) -> str:
    """The page for statements built with a program at hand: its name and currency head the page."""
    return page(
        statements,
        period=period,
        status=status,
        program=program.program if program else None,
        currency=program.currency if program else None,
        definitions=definitions,
    )


def page(
    statements: Sequence[PartnerStatement],
    *,
    period: str,
    status: str,
    program: str | None,
    currency: str | None,
    definitions: Mapping[str, MetricDefinition],
) -> str:
    """The whole page: a header for the program and period, then one section per partner."""
    the_period = Period.parse(period)
    title = f"Partner statement, {period}" + (f" — {program}" if program else "")
    head = [
        '<header class="doc">',
        '<div class="eyebrow">Partner statement</div>',
        f"<h1>{_e(program or 'Partner incentives')}, {_e(period)}</h1>",
        f'<p class="meta">{_e(the_period.start.isoformat())} to {_e(the_period.end.isoformat())} · period '
        f"{_e(status)}"
        + (f" · amounts in {_e(currency)}" if currency else " · amounts in the program currency")
        + "</p>",
    ]
    if statements and not any(s.targets_known for s in statements):
        head.append(
            '<p class="notice">Targets are unavailable: they were not recorded by the run that stored '
            "this period (a ledger written before cosell recorded the score's targets and the tier goals). "
            "Metric values are shown without targets, weights or bars, and what the next tier needs is "
            "left out. Run the period again to record them.</p>"
        )
    head.append("</header>")
    body = [_partner(s, definitions, currency) for s in statements]
    if not body:
        body = ['<p class="muted">The ledger holds no partner for this period.</p>']
    footer = (
        "<footer>Every amount is rounded to cents"
        + (f" and in {_e(currency)}" if currency else "")
        + ". Period earnings are the sum of the period's lines, MDF left out; the per-partner cap applies "
        "first, then the program budget. Produced by cosell from its ledger.</footer>"
    )
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{_e(title)}</title>",
            f"<style>{CSS}</style>",
            "</head>",
            "<body>",
            *head,
            *body,
            footer,
            "</body>",
            "</html>",
            "",
        ]
    )


def _partner(
    s: PartnerStatement,
    definitions: Mapping[str, MetricDefinition],
    currency: str | None,
) -> str:
    money_unit = f" {currency}" if currency else ""
    scale = f"of {show_number(s.scale)}" if s.scale is not None else "targets unavailable"
    tier_card, tier_sub = s.assigned or "—", "eligible " + (s.eligible or "—")
    if s.left_on is not None:
        tier_card, tier_sub = "Exited", f"was {s.assigned}, left on {s.left_on.isoformat()}"
    elif s.exception is not None:
        tier_sub += f", held by exception until {s.exception.until}"
    elif s.eligible and s.eligible != s.assigned:
        tier_sub += ", kept under the demotion grace"
    outside = [g.title for g in s.other_groups]
    payable_sub = "period earnings" + (f" + {', '.join(outside)}" if outside else "")
    parts = [
        f'<section class="partner" id="partner-{_e(s.partner_id)}">',
        '<div class="partner-head">',
        f"<h2>{_e(s.name or 'Partner ' + s.partner_id)}</h2>",
        f'<span class="id">{_e(s.partner_id)}</span>' if s.name else "",
        f'<span class="badge">{_e(s.tier_shown)}</span>' if s.assigned else "",
        "</div>",
        '<div class="cards">',
        _card(
            "Total payable", show(s.payable), f"{currency + ', ' if currency else ''}{payable_sub}", "lead"
        ),
        _card("Period earnings", show(s.earnings), "MDF left out"),
        *(
            _card(x.card.label, show(x.card.amount) if x.card.amount is not None else "", x.card.text)
            for x in s.sections
            if x.card is not None
        ),
        _card("Tier", tier_card, tier_sub),
        _card("Score", f"{s.score:.2f}", scale),
        _card(
            "Projected",
            show(s.projected),
            "open deals, if won: not paid" + (f"; {note}" if (note := s.projection_note()) else ""),
            "projected",
        )
        if s.projections
        else "",
        "</div>",
        "<h3>Tier</h3>",
        _tier(s),
        "<h3>Earnings by period</h3>",
        _history(s, money_unit),
        "<h3>Payout lines</h3>",
        _lines_table(s, money_unit),
        *_sections(s, money_unit),
        *_projections(s, money_unit),
        "<h3>Score</h3>",
        _score_table(s, definitions, currency),
        "</section>",
    ]
    return "\n".join(p for p in parts if p)


def _card(label: str, value: str, sub: str, css: str = "") -> str:
    return (
        f'<div class="card{" " + css if css else ""}"><div class="label">{_e(label)}</div><div class="value">{_e(value)}</div>'
        f'<div class="sub">{_e(sub)}</div></div>'
    )


def _score_table(
    s: PartnerStatement, definitions: Mapping[str, MetricDefinition], currency: str | None
) -> str:
    rows = []
    if s.targets_known:
        head = (
            "<thead><tr><th>Metric</th><th class='num'>Value</th><th class='num'>Target</th>"
            "<th class='num'>Reached</th><th class='num wide'>Weight</th><th class='wide'>Against target</th>"
            "</tr></thead>"
        )
        for part in s.parts:
            target = ("≤ " if part.better == "lower" else "") + _metric_value(
                part.metric, part.target, definitions
            )
            rows.append(
                f"<tr><td>{_metric_name(part.metric, definitions)}</td>"
                f"<td class='num'>{_e(_metric_value(part.metric, part.value, definitions))}</td>"
                f"<td class='num'>{_e(target)}</td><td class='num'>{_e(_percent(part.fraction))}</td>"
                f"<td class='num wide'>{_e(show_number(part.weight))}</td><td class='bar wide'>{_bar(part)}</td></tr>"
            )
        for name, value in s.other_metrics:
            rows.append(
                f"<tr><td>{_metric_name(name, definitions)}</td>"
                f"<td class='num'>{_e(_metric_value(name, value, definitions))}</td>"
                "<td class='num muted' colspan='2'>not scored</td><td class='wide'></td><td class='wide'></td></tr>"
            )
    else:
        head = "<thead><tr><th>Metric</th><th class='num'>Value</th><th>Target</th></tr></thead>"
        for name, value in s.other_metrics:
            rows.append(
                f"<tr><td>{_metric_name(name, definitions)}</td>"
                f"<td class='num'>{_e(_metric_value(name, value, definitions))}</td>"
                "<td class='muted'>unavailable</td></tr>"
            )
    table = f"<table class='score'>{head}<tbody>{''.join(rows)}</tbody></table>"
    if (given_by := s.scored_by_text()) is not None:
        formula = f"score = {s.score:.2f}, {given_by}"
    elif s.parts and s.scale is not None:
        terms = " + ".join(f"{show_number(p.weight)} × {_fraction_text(p.fraction)}" for p in s.parts)
        total = sum((p.weight for p in s.parts), Decimal(0))
        formula = (
            f"score = {show_number(s.scale)} × ({terms}) ÷ {show_number(total)} = {s.score:.2f}, "
            "each metric reaching at most its target"
        )
    elif s.targets_known:
        formula = f"score = {s.score:.2f} (the program has no scoring section)"
    else:
        formula = f"score = {s.score:.2f}, as the ledger holds it"
    table += f"<p class='formula'>{_e(formula)}</p>"
    if s.score_note:
        table += f"<p class='notice'>{_e(s.score_note)}</p>"
    return table


def _bar(part: ScorePart) -> str:
    width = part.fraction * BAR_WIDTH
    color = "#1d7f4a" if part.fraction >= 1 else "#1f5fbf"
    label = f"{part.metric}: {_percent(part.fraction)} of target"
    return (
        f'<svg class="bar" width="{BAR_WIDTH + 2}" height="{BAR_HEIGHT + 4}" '
        f'viewBox="0 0 {BAR_WIDTH + 2} {BAR_HEIGHT + 4}" role="img" aria-label="{_e(label)}" '
        f'data-fraction="{_e(_fraction_text(part.fraction))}">'
        f'<rect x="0" y="2" width="{BAR_WIDTH}" height="{BAR_HEIGHT}" rx="3" fill="#e6ebf1"/>'
        f'<rect class="fill" x="0" y="2" width="{width:.2f}" height="{BAR_HEIGHT}" rx="3" fill="{color}"/>'
        f'<line x1="{BAR_WIDTH}" y1="0" x2="{BAR_WIDTH}" y2="{BAR_HEIGHT + 4}" stroke="#5d6877" '
        'stroke-width="1.5"/></svg>'
    )


def _tier(s: PartnerStatement) -> str:
    out = [
        "<p>Assigned <b>"
        + _e(s.tier_shown if s.assigned else "—")
        + "</b>, eligible <b>"
        + _e(s.eligible or "—")
        + "</b>.</p>",
        f"<p class='muted small'>{_e(s.reason)}</p>",
    ]
    left = s.left_text()
    if left is not None:
        # a partner that has left holds no tier: nothing it brings, no tier to aim at
        out.append(f"<p>{_e(left)}.</p>")
        return "\n".join(out)
    if s.assigned and s.benefits is None and s.goals is not None:
        out.append("<p class='muted small'>Tier benefits: not recorded for this period.</p>")
    elif s.assigned and s.benefits:
        out.append(_benefits(f"What {s.assigned} brings", s.benefits, "held"))
    if s.goals is None:
        out.append("<p class='muted'>What the next tier needs: not recorded.</p>")
        return "\n".join(out)
    boxes = [_goal(goal, s.benefits) for goal in s.goals]
    if s.top_tier:
        boxes.append(
            f"<div class='box'><h4>Highest tier</h4><p class='muted'><b>{_e(s.assigned)}</b> is the program's "
            "highest tier.</p></div>"
        )
    out.append(f"<div class='tier'>{''.join(boxes)}</div>")
    return "\n".join(out)


def _goal(goal: TierGoal, held: Sequence[str] | None) -> str:
    """The tier aimed at: a progress bar of the conditions met, every condition with its own bar, and
    what the tier adds."""
    needs = goal.needs()
    met = goal.met_count
    done = met == len(needs)
    bars = [goal.score_progress, *(r.progress for r in goal.requirements)]
    items = "".join(
        f"<li class='{'met' if ok else 'unmet'}'>{_e(text)}{_progress(fraction, small=True)}</li>"
        for (text, ok), fraction in zip(needs, bars, strict=True)
    )
    summary = f"{met} of {len(needs)} condition{'' if len(needs) == 1 else 's'} met"
    added = goal.added_benefits(held)
    extra = ""
    if added:
        extra = _benefits(f"What {goal.tier} adds", added, "next")
    elif added is None and not goal.keep:
        extra = "<p class='muted small'>Its benefits: not recorded for this period.</p>"
    return (
        f"<div class='box goal' data-tier='{_e(goal.tier)}'><h4>{_e(goal.heading())}</h4>"
        f"{_progress(Decimal(met) / Decimal(len(needs)), done=done, label=summary)}"
        f"<div class='small muted'>{_e(summary)}</div><ul>{items}</ul>{extra}</div>"
    )


def _progress(fraction: Decimal, *, small: bool = False, done: bool | None = None, label: str = "") -> str:
    complete = fraction >= 1 if done is None else done
    css = "progress" + (" small" if small else "") + (" done" if complete else "")
    percent = (max(min(fraction, Decimal(1)), Decimal(0)) * 100).quantize(PERCENT, ROUND_HALF_UP)
    return (
        f"<div class='{css}' role='progressbar' aria-valuemin='0' aria-valuemax='100' "
        f"aria-valuenow='{percent}' aria-label='{_e(label or _percent(fraction))}'>"
        f"<span style='width:{percent}%'></span></div>"
    )


def _benefits(title: str, benefits: Sequence[str], css: str) -> str:
    items = "".join(f"<li>{_e(b)}</li>" for b in benefits)
    return f"<div class='benefits-box {css}'><b>{_e(title)}</b><ul class='benefits'>{items}</ul></div>"


CHART_WIDTH, CHART_HEIGHT = 560, 190
CHART_TOP, CHART_BOTTOM = 22, 34
"""Room above the bars for their amounts and below them for the periods' names."""


def _history(s: PartnerStatement, money_unit: str) -> str:
    """The chart of what each period paid (the last ones the ledger holds), then the same as a table with
    the year to date."""
    shown = s.periods[-CHART_PERIODS:]
    rows = "".join(
        f"<tr class='{'current' if p.period == s.period else 'earlier'}'><th>{_e(p.period)}</th>"
        f"{_amount_cell(p.earnings)}<td class='num wide'>{_e(show(p.outside_earnings))}</td>"
        f"{_amount_cell(p.payable)}</tr>"
        for p in reversed(s.periods)
    )
    ytd = s.year_to_date
    if ytd is not None:
        rows = (
            f"<tr class='subtotal'><th>{_e(ytd.period)}</th>{_amount_cell(ytd.earnings)}"
            f"<td class='num wide'>{_e(show(ytd.outside_earnings))}</td>{_amount_cell(ytd.payable, money_unit)}</tr>"
            + rows
        )
    table = (
        "<table class='history'><thead><tr><th>Period</th><th class='num'>Earnings</th>"
        "<th class='num wide'>MDF and other</th><th class='num'>Payable</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )
    return _chart(shown, s.period) + table


def _chart(periods: Sequence[PeriodTotal], current: str) -> str:
    """A bar a period, as tall as what it paid (earnings and MDF stacked; a negative total below the
    line), its amount above it and its name below."""
    if not periods:
        return ""
    slot = CHART_WIDTH / max(len(periods), 4)
    bar = slot * 0.56
    plot = CHART_HEIGHT - CHART_TOP - CHART_BOTTOM
    up = max([max(p.earnings, ZERO) + max(p.outside_earnings, ZERO) for p in periods] + [ZERO])
    down = max([-(min(p.earnings, ZERO) + min(p.outside_earnings, ZERO)) for p in periods] + [ZERO])
    span = up + down if up + down > ZERO else Decimal(1)  # all periods at 0: bars of no height
    zero = CHART_TOP + float(up / span) * plot

    def height(amount: Decimal) -> float:
        return float(abs(amount) / span) * plot

    shapes = [
        f"<line x1='0' y1='{zero:.1f}' x2='{CHART_WIDTH}' y2='{zero:.1f}' stroke='#9aa4b2' stroke-width='1'/>"
    ]
    for i, p in enumerate(periods):
        x = i * slot + (slot - bar) / 2
        top, bottom = zero, zero
        for amount, fill, part in (
            (p.earnings, "#1f5fbf", "earnings"),
            (p.outside_earnings, "#2a9d8f", "outside-earnings"),
        ):
            h = height(amount)
            if amount > 0:
                top -= h
                y = top
            elif amount < 0:
                y = bottom
                bottom += h
            else:
                continue
            shapes.append(
                f"<rect class='{part}' x='{x:.1f}' y='{y:.1f}' width='{bar:.1f}' height='{h:.1f}' "
                f"fill='{fill if amount > 0 else '#a8321f'}'><title>{_e(p.period)} {part}: {_e(show(amount))}</title></rect>"
            )
        label_y = max(top - 6, 12)
        weight = " font-weight='700'" if p.period == current else ""
        shapes.append(
            f"<text x='{x + bar / 2:.1f}' y='{label_y:.1f}' text-anchor='middle' font-size='12'{weight} "
            f"fill='#1b2430'>{_e(_short(p.payable))}</text>"
        )
        shapes.append(
            f"<text x='{x + bar / 2:.1f}' y='{CHART_HEIGHT - 12}' text-anchor='middle' font-size='12'{weight} "
            f"fill='#5d6877'>{_e(p.period)}</text>"
        )
    label = "Payable per period: " + "; ".join(f"{p.period} {show(p.payable)}" for p in periods)
    return (
        f"<svg class='chart' viewBox='0 0 {CHART_WIDTH} {CHART_HEIGHT}' role='img' aria-label='{_e(label)}' "
        f">{''.join(shapes)}</svg>"
        "<p class='small muted'><span style='color:#1f5fbf'>■</span> period earnings "
        "<span style='color:#2a9d8f'>■</span> MDF and other lines outside earnings "
        "<span style='color:#a8321f'>■</span> negative (a clawback)</p>"
    )


def _short(amount: Decimal) -> str:
    """An amount for a chart label: 48.4k, 1.2M, 950, rounded half-up (2.50 is 3, 999.50 is 1k)."""
    whole = amount.quantize(Decimal(1), ROUND_HALF_UP)
    if abs(whole) < 1_000:
        return "0" if whole == 0 else f"{whole}"
    thousands = (amount / 1_000).quantize(Decimal("0.1"), ROUND_HALF_UP)
    if abs(thousands) < 1_000:
        text = f"{thousands}k"
    else:
        text = f"{(amount / 1_000_000).quantize(Decimal('0.1'), ROUND_HALF_UP)}M"
    return text.replace(".0k", "k").replace(".0M", "M")


def _projections(s: PartnerStatement, money_unit: str) -> list[str]:
    """The open deals and what each would pay if won by the period's end: marked projected, never paid,
    counted in no total."""
    if not s.projections:
        return []
    note = s.projection_note()
    beside = "" if note is None else f"<div class='small muted'>{_e(note)}</div>"
    rows = "".join(
        f"<tr class='projection'><td>{_deal_cell(s, p.deal_id)}<div class='small muted'>{_e(s.with_deal_names(p.explanation))}"
        f"</div></td><td class='num'>{_e(show(p.amount))}"
        f"<span class='badge {'withheld' if p.withheld else 'projected'}'>"
        f"{'withheld' if p.withheld else 'projected'}</span></td></tr>"
        for p in s.projections
    )
    return [
        "<h3>Projected from open deals</h3>",
        "<p class='small muted'>What each open deal would pay if it were won by the period's end, at this "
        "period's tier. Projected, not paid: in no total of this statement.</p>",
        f"<table class='lines projections'><thead><tr><th>Deal</th><th class='num' style='width:30%'>"
        f"If won</th></tr></thead><tbody>{rows}<tr class='subtotal quiet'><th>Projected, not paid{beside}</th>"
        f"<td class='num'>{_e(show(s.projected) + money_unit)}</td></tr></tbody></table>",
    ]


def _deal_cell(s: PartnerStatement, deal_id: str) -> str:
    name = s.deal_name(deal_id)
    if name is None:
        return f"<span class='deal'>{_e(deal_id)}</span>"
    return f"<span class='deal'>{_e(name)}</span><span class='deal-id'>{_e(deal_id)}</span>"


def _lines_table(s: PartnerStatement, money_unit: str) -> str:
    adj = s.adjustments
    head = "<thead><tr><th>Line</th><th class='num' style='width:24%'>Amount</th></tr></thead>"
    earning = [g for g in s.groups if not g.adjustment]
    rows: list[str] = []
    for group in earning:
        rows.extend(_group_rows(s, group))
    if not earning:
        rows.append("<tr class='quiet'><td colspan='2'>No payout lines this period.</td></tr>")
    split = ""
    # the kinds whose lines the cap never touches: clawbacks, approved adjustments, a plugin's
    outside = [g.title for g in earning if any(ln.uncapped for ln in g.lines)]
    if adj.outside_caps:
        split = (
            f"<div class='small muted'>{_e(show(adj.capped_subtotal))} subject to the cap; "
            f"{_e(show(adj.outside_caps))} outside it ({_e(', '.join(outside).lower())})</div>"
        )
    rows.append(
        f"<tr class='subtotal'><th>Subtotal before the cap and budget{split}</th>{_amount_cell(adj.subtotal)}</tr>"
    )
    # the adjustment counting in the program budget is the cap (applied first); the other, the budget
    cap_lines = tuple(ln for g in s.groups if g.adjustment and _in_budget(g) for ln in g.lines)
    budget_lines = tuple(ln for g in s.groups if g.adjustment and not _in_budget(g) for ln in g.lines)
    rows.append(_adjustment_row(s, "Per-partner cap", adj.cap_text(), adj.cap, cap_lines))
    rows.append(_adjustment_row(s, "Program budget", adj.budget_text(), adj.budget, budget_lines))
    rows.append(
        f"<tr class='total'><th>Period earnings <span class='small muted'>(MDF left out)</span></th>"
        f"{_amount_cell(adj.earnings, money_unit)}</tr>"
    )
    for group in s.other_groups:
        rows.append(
            f"<tr class='adjustment'><th>+ {_e(group.title)} <span class='small muted'>paid this period, "
            f"below</span></th>{_amount_cell(group.total)}</tr>"
        )
    rows.append(
        "<tr class='total payable'><th>Total payable <span class='small muted'>(period earnings"
        + (" + " + ", ".join(_e(g.title) for g in s.other_groups) if s.other_groups else "")
        + f")</span></th>{_amount_cell(s.payable, money_unit)}</tr>"
    )
    return f"<table class='lines'>{head}<tbody>{''.join(rows)}</tbody></table>"


def _in_budget(group: LineGroup) -> bool:
    return group.declaration is not None and group.declaration.in_budget


def _group_rows(s: PartnerStatement, group: LineGroup) -> list[str]:
    count = len(group.lines)
    rows = [
        f"<tr class='group'><th>{_e(group.title)} <span class='kind small muted'>"
        f"<code>{_e(group.kind)}</code> · {count} line{'' if count == 1 else 's'}</span></th>"
        f"<th class='num{' neg' if group.total < 0 else ''}'>{_e(show(group.total))}</th></tr>"
    ]
    rows.extend(_line_row(s, line) for line in group.lines)
    return rows


def _line_row(s: PartnerStatement, line: StatementLine) -> str:
    withheld = "<span class='badge withheld'>withheld</span>" if line.withheld else ""
    deal = f"<div>{_deal_cell(s, line.deal_id)}</div>" if line.deal_id else ""
    return (
        f"<tr><td>{deal}{_e(s.with_deal_names(line.explanation))}{withheld}</td>"
        f"{_amount_cell(line.amount)}</tr>"
    )


def _adjustment_row(
    s: PartnerStatement, title: str, plain: str, amount: Decimal | None, lines: Sequence[StatementLine]
) -> str:
    if amount is None:
        return (
            f"<tr class='adjustment quiet'><th>{_e(title)}<div class='small'>{_e(plain)}</div></th>"
            "<td class='num'>—</td></tr>"
        )
    detail = "".join(
        f"<div class='small muted'>{_e(s.with_deal_names(ln.explanation))}</div>" for ln in lines
    )
    return (
        f"<tr class='adjustment'><th>{_e(title)}<div class='small'>{_e(plain)}</div>{detail}</th>"
        f"{_amount_cell(amount)}</tr>"
    )


def _sections(s: PartnerStatement, money_unit: str) -> list[str]:
    """The plugins' sections, then the lines outside period earnings that no section shows."""
    out = []
    shown: set[str] = set()
    for section in s.sections:
        shown.update(section.kinds)
        out += [f"<h3>{_e(section.title)}</h3>", _section(s, section, s.lines_of(section.kinds), money_unit)]
    for group in s.other_groups:
        if group.kind not in shown:
            out += [f"<h3>{_e(group.title)}</h3>", _section_lines(s, group.title, group.lines, money_unit)]
    return out


def _section(
    s: PartnerStatement, section: StatementSection, lines: Sequence[StatementLine], money_unit: str
) -> str:
    if not section.rows and not lines and not section.pending:
        return f"<p class='muted'>{_e(section.empty)}</p>"
    out = []
    if section.totals:
        spans = "".join(
            f"<span>{_e(t.label)} <b>{_e(show(t.amount) + money_unit if t.amount is not None else t.text)}</b></span>"
            for t in section.totals
        )
        out.append(f"<div class='section-totals'>{spans}</div>")
    if section.rows:
        head = "".join(f"<th>{_e(c)}</th>" for c in section.columns)
        body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in section.rows)
        out.append(
            f"<div class='table-scroll'><table class='section'><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table></div>"
        )
    if section.pending:
        items = "".join(
            f"<li class='unmet'><b>{_e(p.label)} pending</b> {_e(show(p.amount) if p.amount is not None else '')}"
            f"<div class='small muted'>{_e(p.text)}</div></li>"
            for p in section.pending
        )
        out.append(f"<div class='box' style='margin-top:14px'><ul>{items}</ul></div>")
    if lines:
        out.append(_section_lines(s, section.title, lines, money_unit))
    return "\n".join(out)


def _section_lines(s: PartnerStatement, title: str, lines: Sequence[StatementLine], money_unit: str) -> str:
    total = sum((ln.amount for ln in lines), Decimal(0))
    rows = "".join(_line_row(s, line) for line in lines)
    return (
        "<table class='lines' style='margin-top:14px'><thead><tr>"
        f"<th>Line</th><th class='num' style='width:24%'>Amount</th></tr></thead><tbody>{rows}"
        f"<tr class='subtotal'><th>{_e(title)}: paid this period</th>"
        f"{_amount_cell(total, money_unit)}</tr></tbody></table>"
    )


def _amount_cell(amount: Decimal, unit: str = "") -> str:
    css = "num neg" if amount < 0 else "num"
    return f"<td class='{css}'>{_e(show(amount) + unit)}</td>"


def _metric_name(name: str, definitions: Mapping[str, MetricDefinition]) -> str:
    title = name.replace("_", " ").capitalize()
    definition = definitions.get(name)
    about = f"<div class='small muted'>{_e(definition.description)}</div>" if definition else ""
    return f"{_e(title)} <code class='wide'>{_e(name)}</code>{about}"


def _metric_value(name: str, value: Decimal | None, definitions: Mapping[str, MetricDefinition]) -> str:
    if value is None:
        return "undefined"
    definition = definitions.get(name)
    if definition is not None and definition.money:
        return show(value)
    return number(value)


def _percent(fraction: Decimal) -> str:
    """The exact fraction as a percentage, rounded half-up once to one place (12.25 % reads 12.3%)."""
    return f"{(fraction * 100).quantize(PERCENT, ROUND_HALF_UP).normalize():f}%"


def _fraction_text(fraction: Decimal) -> str:
    return f"{fraction:.4f}".rstrip("0").rstrip(".") or "0"


def _e(text: str) -> str:
    return escape(text, quote=True)
