"""The report's three forms, from the one document ``model.build`` makes: JSON (the document itself),
CSV (the same figures, one a row) and one self-contained HTML page (inline CSS, inline SVG charts, a
small inline script that sorts the partners table; nothing fetched)."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from html import escape
from typing import Any

from ..textsafe import CsvWriter, spreadsheet_cell
from . import charts
from .model import BUDGET, MDF

PERCENT = Decimal("0.01")
"""A percentage's places on the page: a ratio's four."""

FORMATS = ("html", "json", "csv")
NOT_RECORDED = "not recorded"


def render(report: Mapping[str, Any], format: str) -> str:
    if format == "json":
        return json.dumps(report, indent=2, ensure_ascii=False) + "\n"
    if format == "csv":
        return as_csv(report)
    return as_html(report)


# --- CSV --------------------------------------------------------------------------------------------

CSV_COLUMNS = ("period", "scope", "id", "figure", "value")


def _flat(prefix: str, value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping):
        for key, inner in value.items():
            yield from _flat(f"{prefix}.{key}" if prefix else str(key), inner)
    elif isinstance(value, list):
        yield (
            prefix,
            "; ".join(
                " ".join(f"{v}" for v in item.values()) if isinstance(item, Mapping) else f"{item}"
                for item in value
            ),
        )
    else:
        yield prefix, value


def csv_rows(report: Mapping[str, Any]) -> Iterator[tuple[str, str, str, str, Any]]:
    """(period, scope, id, figure, value): every figure of the JSON document, one a row. An empty value
    is a figure the period's run did not record."""
    period = report["period"]
    for totals in report["trend"]:
        for figure, value in _flat("", {k: v for k, v in totals.items() if k != "period"}):
            yield totals["period"], "program", "", figure, value
    for tier in report["tiers"]:
        for figure, value in _flat("", {k: v for k, v in tier.items() if k != "name"}):
            yield period, "tier", tier["name"], figure, value
    for row in report["partners"]:
        for figure, value in _flat("", {k: v for k, v in row.items() if k != "id"}):
            yield period, "partner", row["id"], figure, value
    for row in report["campaigns"]:
        for figure, value in _flat("", {k: v for k, v in row.items() if k != "campaign"}):
            yield period, "campaign", row["campaign"], figure, value
    for name, rows in report["watch"].items():
        for i, row in enumerate(rows):
            key = row.get("id") or row.get("partner_id") or str(i)
            for figure, value in _flat("", row):
                yield (
                    period,
                    f"watch:{name}",
                    f"{key}" if "deal_id" not in row else f"{key}/{row['deal_id']}",
                    figure,
                    value,
                )

    governance = report["governance"]
    yield period, "governance", "", "adjustments_paid_total", governance["adjustments_paid_total"]
    for figure, value in _flat("pending_approval", governance["pending_approval"]):
        yield period, "governance", "", figure, value
    for name in ("adjustments_paid", "tier_exceptions"):
        for row in governance[name]:
            for figure, value in _flat("", {k: v for k, v in row.items() if k != "id"}):
                yield period, f"governance:{name}", f"{row['id']}", figure, value


def as_csv(report: Mapping[str, Any]) -> str:
    out = io.StringIO()
    writer = CsvWriter(out)
    writer.writerow(CSV_COLUMNS)
    for row in csv_rows(report):
        writer.writerow([spreadsheet_cell("" if v is None else str(v)) for v in row])
    return out.getvalue()


# --- HTML -------------------------------------------------------------------------------------------

CSS = """
:root { --ink: #1b2430; --muted: #5d6877; --rule: #dfe4ea; --soft: #f5f7fa; --accent: #1f5fbf;
  --neg: #a8321f; --warn-bg: #fff7e6; --warn: #8a5a00; }
* { box-sizing: border-box; }
html { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body { margin: 0 auto; max-width: 1200px; padding: 28px 28px 56px; color: var(--ink); background: #fff;
  font: 14px/1.45 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
h1 { font-size: 25px; margin: 2px 0 4px; }
h2 { font-size: 13px; margin: 30px 0 10px; text-transform: uppercase; letter-spacing: 0.06em;
  color: var(--muted); border-bottom: 1px solid var(--rule); padding-bottom: 4px; }
h3 { font-size: 14.5px; margin: 16px 0 6px; }
.eyebrow { font-size: 12px; text-transform: uppercase; letter-spacing: 0.08em; color: var(--accent); font-weight: 650; }
.meta, .muted, .nr { color: var(--muted); }
.nr { font-style: italic; }
header { border-bottom: 2px solid var(--ink); padding-bottom: 12px; }
.notice { background: var(--warn-bg); color: var(--warn); border: 1px solid #f1d9a6; border-radius: 6px;
  padding: 8px 12px; margin: 12px 0 0; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(205px, 1fr)); gap: 10px; }
.card { border: 1px solid var(--rule); border-radius: 8px; padding: 10px 12px; background: var(--soft);
  break-inside: avoid; }
.card .label { font-size: 11.5px; text-transform: uppercase; letter-spacing: 0.05em; color: var(--muted); }
.card .value { font-size: 20px; font-weight: 650; font-variant-numeric: tabular-nums; }
.card .sub { font-size: 12px; color: var(--muted); }
table { width: 100%; border-collapse: collapse; font-size: 13px; }
th, td { text-align: left; padding: 5px 6px; border-bottom: 1px solid var(--rule); vertical-align: top; }
thead th { font-size: 11px; text-transform: uppercase; letter-spacing: 0.03em; color: var(--muted);
  border-bottom: 1.5px solid var(--ink); vertical-align: bottom; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.date { white-space: nowrap; }
.neg { color: var(--neg); }
.wide { overflow-x: auto; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 14px; }
figure.chart { margin: 0; border: 1px solid var(--rule); border-radius: 8px; padding: 8px; break-inside: avoid; }
figure.chart svg { width: 100%; height: auto; display: block; }
.lists { display: grid; grid-template-columns: repeat(auto-fit, minmax(480px, 1fr)); gap: 4px 20px; }
.lists section { break-inside: avoid; }
.lists section.full { grid-column: 1 / -1; }
.empty { color: var(--muted); font-style: italic; margin: 4px 0 10px; }
table.sortable th button { all: unset; cursor: pointer; }
table.sortable th button:focus-visible { outline: 2px solid var(--accent); }
table.sortable th[aria-sort="ascending"] button::after { content: " ▲"; }
table.sortable th[aria-sort="descending"] button::after { content: " ▼"; }
.badge { border-radius: 999px; padding: 0 8px; font-size: 11.5px; background: #e8effb; color: var(--accent); }
.badge.demoted { background: #fbe9e6; color: var(--neg); }
.badge.grace { background: var(--warn-bg); color: var(--warn); }
.badge.exception { background: #f3e8fb; color: #6b2d91; }
.badge.exited { background: #eceff3; color: var(--muted); }
@media print {
  body { max-width: none; padding: 0; font-size: 11px; }
  .charts { grid-template-columns: 1fr 1fr; }
  table.sortable th button::after { content: "" !important; }
  thead { display: table-header-group; }
  tr { break-inside: avoid; }
}
"""

SORT_SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("thead th").forEach(function (th, column) {
    var button = th.querySelector("button");
    if (!button) return;
    button.addEventListener("click", function () {
      var ascending = th.getAttribute("aria-sort") !== "ascending";
      table.querySelectorAll("thead th").forEach(function (other) { other.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      var numeric = th.classList.contains("num");
      function key(row) {
        var cell = row.cells[column], text = cell.getAttribute("data-sort");
        if (text === null) text = cell.textContent;
        if (!numeric) return text.toLowerCase();
        var n = parseFloat(text);
        return isNaN(n) ? -Infinity : n;
      }
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        return (x < y ? -1 : x > y ? 1 : 0) * (ascending ? 1 : -1);
      });
      var fragment = document.createDocumentFragment();
      rows.forEach(function (row) { fragment.appendChild(row); });
      body.appendChild(fragment);
    });
  });
});
"""


def _nr() -> str:
    return f'<span class="nr">{NOT_RECORDED}</span>'


def _none(recorded: bool) -> str:
    """A figure without a value: "not recorded" when the run did not record it, else a dash (no deal
    won, no margin known, nothing to divide by)."""
    return '<span class="muted">–</span>' if recorded else _nr()


def _money(value: str | None, recorded: bool = False) -> str:
    if value is None:
        return _none(recorded)
    amount = Decimal(value)
    text = f"{amount:,.2f}"
    return f'<span class="neg">{text}</span>' if amount < 0 else text


def _percent(value: str | None, recorded: bool = False) -> str:
    """A ratio (rounded half-up to four places from the exact one) as a percentage with two places: the
    same figure, never rounded again (0.1305 is 13.05 %, not 13.0 %)."""
    if value is None:
        return _none(recorded)
    return f"{(Decimal(value) * 100).quantize(PERCENT, ROUND_HALF_UP):,f} %"


def _plain(value: Any, recorded: bool = False) -> str:
    return _none(recorded) if value is None else escape(f"{value}")


def _card(label: str, value: str, sub: str = "") -> str:
    sub_html = f'<div class="sub">{sub}</div>' if sub else ""
    return f'<div class="card"><div class="label">{escape(label)}</div><div class="value">{value}</div>{sub_html}</div>'


def _headline(report: Mapping[str, Any]) -> str:
    t = report["totals"]
    r = t["recorded"]
    budget = t[BUDGET]
    trend = report["trend"]
    cost_trend = " → ".join(_percent(x["cost_of_revenue"], x["recorded"]) for x in trend)
    kinds = ", ".join(f"{escape(k)} {_money(v, r)}" for k, v in t["by_kind"].items()) or "no lines"
    budget_sub = (
        f"{_money(budget['in_budget'], r)} inside the budget of {_money(budget['program_budget'], r)} "
        f"({_percent(budget['used'], r)}); {_outside(t)}"
        if budget["program_budget"] is not None
        else f"no program budget; {_outside(t)}"
    )
    cards = [
        _card(
            "Total incentives",
            _money(t["incentives"], r),
            f"earnings {_money(t['earnings'], r)} + MDF {_money(t[MDF], r)}",
        ),
        _card("Against the budget", _percent(budget["used"], r), budget_sub),
        _card("Cost / won revenue", _percent(t["cost_of_revenue"], r), f"trend {cost_trend}"),
        _card(
            "Cost / won gross margin",
            _percent(t["cost_of_margin"], r),
            f"margin known on {_money(t['margin_known_revenue'], r)} of revenue",
        ),
        _card("Partner-sourced pipeline", _money(t["sourced_pipeline"], r)),
        _card("Won revenue", _money(t["won_revenue"], r), f"gross margin {_money(t['won_margin'], r)}"),
        _card(
            "Joint win rate",
            _percent(t["joint_win_rate"], r),
            f"{_plain(t['won_deals'], r)} won, {_plain(t['lost_deals'], r)} lost",
        ),
        _card(
            "Median velocity",
            _plain(t["median_velocity_days"], r) + (" days" if t["median_velocity_days"] else ""),
            "created to won",
        ),
        _card(
            "MDF funded",
            _money(t["mdf_funded"], r),
            f"released {_money(t['mdf_released'], r)}, pending {_money(t['mdf_pending'], r)}",
        ),
        _card(
            "Pipeline per MDF dollar",
            _plain(t["pipeline_per_mdf_dollar"], r),
            f"campaign pipeline {_money(t['campaign_pipeline'], r)}",
        ),
    ]
    return f'<div class="cards">{"".join(cards)}</div><p class="meta">By kind: {kinds}.</p>'


def _outside(totals: Mapping[str, Any]) -> str:
    """What the period paid outside the program budget, by kind, and the total cost with it: the budget's
    percentage alone would hide what the governance body decided to pay besides."""
    r = totals["recorded"]
    outside = totals[BUDGET]["outside_by_kind"]
    parts = ", ".join(f"{escape(k)} {_money(v, r)}" for k, v in outside.items()) or "nothing"
    return f"outside it: {parts}; total cost {_money(totals['incentives'], r)}"


def _who(approved_by: str | None) -> str:
    return "by the program's threshold" if approved_by is None else escape(approved_by)


_WITHDRAWN = " (withdrawn: the next run of the period no longer pays it)"
"""After the reason of an adjustment the period's stored lines pay that was withdrawn since."""


def _governance(report: Mapping[str, Any]) -> str:
    g = report["governance"]
    pending = g["pending_approval"]
    paid = g["adjustments_paid"]
    summary = (
        f'<p class="meta">Adjustments paid this period: {len(paid):,}, {_money(g["adjustments_paid_total"])} '
        "(outside the per-partner cap and the program budget). Pending approval: "
        f"{pending['count']:,}, {_money(pending['amount'])}. As <code>cosell adjust list</code> and "
        "<code>cosell tier-override list</code> show them.</p>"
    )
    parts = [
        _list("Adjustments paid this period", "No adjustment was paid this period.",
              [("Id", "num"), ("Partner", ""), ("Name", ""), ("Amount", "num"), ("Reason", ""),
               ("Proposed by", ""), ("Approved by", "")],
              [[f"{a['id']}", escape(a["partner_id"]), escape(a["name"]), _money(a["amount"]),
                escape(a["reason"] + (_WITHDRAWN if a["withdrawn"] else "")), escape(a["proposed_by"]), _who(a["approved_by"])]
               for a in paid], full=True),
        _list("Tier exceptions in force", "No tier exception is in force this period.",
              [("Id", "num"), ("Partner", ""), ("Name", ""), ("Tier held", ""), ("Until", "date"),
               ("Reason", ""), ("Approved by", ""), ("Held by the run", "")],
              [[f"{e['id']}", escape(e["partner_id"]), escape(e["name"]), escape(e["tier"]), escape(e["until"]),
                escape(e["reason"]), _plain(e["approved_by"]),
                "yes" if e["held"] else '<span class="muted">no: earned, left, or approved after the run</span>']
               for e in g["tier_exceptions"]], full=True),
    ]  # fmt: skip
    return f'{summary}<div class="lists">{"".join(parts)}</div>'


def _table(columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[str]], *, sortable: bool = False,
           table_id: str = "") -> str:  # fmt: skip
    """``columns``: (title, css class); ``rows``: cells already escaped (a cell may be a ``<td ...>``)."""
    heads = "".join(
        f'<th class="{cls}">'
        + (f'<button type="button">{escape(title)}</button>' if sortable else escape(title))
        + "</th>"
        for title, cls in columns
    )
    body = "".join(
        "<tr>"
        + "".join(
            c if c.startswith("<td") else f'<td class="{cls}">{c}</td>'
            for c, (_, cls) in zip(row, columns, strict=True)
        )
        + "</tr>"
        for row in rows
    )
    attributes = (' class="sortable"' if sortable else "") + (f' id="{table_id}"' if table_id else "")
    return f'<div class="wide"><table{attributes}><thead><tr>{heads}</tr></thead><tbody>{body}</tbody></table></div>'


def _sorted_cell(value: str | None, shown: Callable[[str | None], str]) -> str:
    return f'<td class="num" data-sort="{escape(value or "")}">{shown(value)}</td>'


def _trend(report: Mapping[str, Any]) -> str:
    columns = [("Period", ""), ("Status", ""), ("Partners", "num"), ("Earnings", "num"), ("MDF", "num"),
               ("Won revenue", "num"), ("Cost / revenue", "num"), ("Cost / margin", "num"),
               ("Sourced pipeline", "num"), ("Win rate", "num"), ("Median days", "num")]  # fmt: skip
    rows = [
        [escape(t["period"]), escape(t["status"]), f"{t['partners']:,}", _money(t["earnings"], t["recorded"]), _money(t[MDF], t["recorded"]),
         _money(t["won_revenue"], t["recorded"]), _percent(t["cost_of_revenue"], t["recorded"]), _percent(t["cost_of_margin"], t["recorded"]),
         _money(t["sourced_pipeline"], t["recorded"]), _percent(t["joint_win_rate"], t["recorded"]), _plain(t["median_velocity_days"], t["recorded"])]
        for t in report["trend"]
    ]  # fmt: skip
    return _table(columns, rows)


def _partners(report: Mapping[str, Any]) -> str:
    columns = [("Partner", ""), ("Name", ""), ("Tier", ""), ("Movement", ""), ("Score", "num"),
               ("Earnings", "num"), ("MDF", "num"), ("Sourced pipeline", "num"), ("Won revenue", "num"),
               ("Win rate", "num"), ("Velocity (days)", "num"), ("Quota attainment", "num"),
               ("Cost / margin $", "num")]  # fmt: skip
    rows = []
    rec: bool = report["recorded"]

    def money(v: str | None) -> str:
        return _money(v, rec)

    def percent(v: str | None) -> str:
        return _percent(v, rec)

    def plain(v: str | None) -> str:
        return _plain(v, rec)

    def attainment(v: str | None) -> str:
        return percent(v) if v is not None or not rec else '<span class="muted">no quota</span>'

    def cost(v: str | None) -> str:
        return plain(v) if v is not None or not rec else "–"

    for r in report["partners"]:
        movement = r["movement"]
        previous = (
            f' <span class="muted">from {escape(r["previous_tier"])}</span>'
            if movement in ("promoted", "demoted") and r["previous_tier"]
            else ""
        )
        rows.append([
            escape(r["id"]), escape(r["name"]), escape(r["tier_shown"]),
            f'<td><span class="badge {escape(movement)}">{escape(movement)}</span>{previous}</td>',
            _sorted_cell(r["score"], plain), _sorted_cell(r["earnings"], money), _sorted_cell(r[MDF], money),
            _sorted_cell(r["sourced_pipeline"], money), _sorted_cell(r["won_revenue"], money),
            _sorted_cell(r["win_rate"], percent), _sorted_cell(r["velocity_days"], plain),
            _sorted_cell(r["attainment"], attainment), _sorted_cell(r["cost_per_margin_dollar"], cost),
        ])  # fmt: skip
    return _table(columns, rows, sortable=True, table_id="partners")


def _list(
    title: str,
    empty: str,
    columns: Sequence[tuple[str, str]],
    rows: Sequence[Sequence[str]],
    *,
    full: bool = False,
) -> str:
    """A watch list; ``full`` takes the page's whole width (a table too wide for half of it)."""
    body = _table(columns, rows) if rows else f'<p class="empty">{escape(empty)}</p>'
    css = ' class="full"' if full else ""
    return f"<section{css}><h3>{escape(title)}</h3>{body}</section>"


def _watch(report: Mapping[str, Any]) -> str:
    w = report["watch"]

    def lacks(row: Mapping[str, Any]) -> str:
        return "; ".join(
            f"{escape(x['what'])} {_plain(x['value'])} of {escape(x['needed'])}" for x in row["lacks"]
        )

    parts = [
        _list("In demotion grace", "No partner is held above the tier it is eligible for.",
              [("Partner", ""), ("Name", ""), ("Holds", ""), ("Eligible for", "")],
              [[escape(r["id"]), escape(r["name"]), escape(r["tier"]), escape(r["eligible_tier"])] for r in w["grace"]]),
        _list("Within 10 % of the next tier", "No partner is within 10 % of the next tier.",
              [("Partner", ""), ("Name", ""), ("Tier", ""), ("Next", ""), ("What it lacks", "")],
              [[escape(r["id"]), escape(r["name"]), escape(r["tier"]), escape(r["next_tier"]), lacks(r)] for r in w["near_next_tier"]]),
        _list("Exiting partners and what is still owed", "No partner is exiting.",
              [("Partner", ""), ("Name", ""), ("Exit on", "date"), ("Paid", "num"), ("Owed", "num"), ("May still be owed", "num"),
               ("Pending approval", "num"), ("May be taken back", "num")],
              [[escape(r["id"]), escape(r["name"]), _plain(r["exit_on"]), _money(r["paid"]), _money(r["owed"]),
                _money(r["projected"]), _money(r["pending_approval"]), _money(r["at_risk"])] for r in w["exiting"]], full=True),
        _list("Deals withheld or floored by the guardrails", "No deal was withheld or floored this period.",
              [("Partner", ""), ("Deal", ""), ("Amount × share", "num"), ("Discount %", "num"), ("Margin %", "num"), ("Action", "")],
              [[escape(r["partner_id"]), escape(f"{r['deal_name']} ({r['deal_id']})"), _money(r["amount"]),
                _plain(r["discount_pct"]), _plain(r["margin_pct"]), escape(r["action"])] for r in w["guarded_deals"]]),
        _list("Discounting pattern per partner", "No guardrail acted this period.",
              [("Partner", ""), ("Name", ""), ("Withheld", "num"), ("Floored", "num"), ("Mean discount %", "num"), ("Max discount %", "num")],
              [[escape(r["id"]), escape(r["name"]), f"{r['withheld']}", f"{r['floored']}", _plain(r["mean_discount_pct"]),
                _plain(r["max_discount_pct"])] for r in w["discount_pattern"]]),
        _list("Highest incentive cost per dollar of margin", "No partner has won margin recorded this period.",
              [("Partner", ""), ("Name", ""), ("Incentives", "num"), ("Won margin", "num"), ("Cost / margin $", "num")],
              [[escape(r["id"]), escape(r["name"]), _money(r["incentives"]), _money(r["won_margin"]),
                _plain(r["cost_per_margin_dollar"])] for r in w["highest_cost_per_margin_dollar"]]),
    ]  # fmt: skip
    return f'<div class="lists">{"".join(parts)}</div>'


def _partners_count(report: Mapping[str, Any]) -> str:
    """The partners table's rows, counted as the trend counts them: those in the program, then those
    that have left it (listed too, as Exited)."""
    rows, exited = len(report["partners"]), report["totals"]["exited"]
    return f"{rows - exited:,} and {exited:,} exited" if exited else f"{rows:,}"


def _tiers(report: Mapping[str, Any]) -> str:
    rows = []
    for t in report["tiers"]:
        benefits = t.get("benefits")
        shown = (
            "; ".join(escape(b) for b in benefits) if benefits else '<span class="muted">none listed</span>'
        )
        rows.append([escape(t["name"]), f"{t['partners']:,}", shown])
    exited = report["totals"]["exited"]
    if exited:
        gone = '<span class="muted">none: a partner that has left the program holds no tier</span>'
        rows.append(['<span class="muted">Exited</span>', f"{exited:,}", gone])
    return _table([("Tier", ""), ("Partners", "num"), ("Benefits beyond money", "")], rows)


def _charts(report: Mapping[str, Any]) -> str:
    trend = report["trend"]
    drawn = [
        charts.incentives_by_kind(trend),
        charts.tier_distribution(trend, [t["name"] for t in report["tiers"]]),
        charts.pipeline_against_earnings(report["partners"]),
        charts.mdf_against_pipeline(report["campaigns"]),
        charts.cost_trend(trend),
    ]
    return (
        '<div class="charts">' + "".join(f'<figure class="chart">{svg}</figure>' for svg in drawn) + "</div>"
    )


def as_html(report: Mapping[str, Any]) -> str:
    program = escape(report["program"] or "Partner program")
    unrecorded = [t["period"] for t in report["trend"] if not t["recorded"]]
    notice = (
        f'<p class="notice">{escape(", ".join(unrecorded))}: run before cosell recorded the report\'s figures; '
        f"revenue, margin, pipeline, win rate, velocity and MDF per campaign read “{NOT_RECORDED}” there. "
        "Lines, tiers and scores are complete.</p>"
        if unrecorded
        else ""
    )
    periods = " · ".join(escape(p) for p in report["periods"])
    currency = escape(report["currency"] or "")
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{program}: program report {escape(report['period'])}</title><style>{CSS}</style></head><body>"
        f'<header><div class="eyebrow">Program report · {escape(report["period"])} ({escape(report["status"])})</div>'
        f'<h1>{program}</h1><div class="meta">Periods shown: {periods}. Amounts in {currency}.</div>{notice}</header>'
        f"<h2>Headline</h2>{_headline(report)}"
        f"<h2>Trend</h2>{_trend(report)}"
        f"<h2>Charts</h2>{_charts(report)}"
        f"<h2>Governance</h2>{_governance(report)}"
        f"<h2>Watch lists</h2>{_watch(report)}"
        f"<h2>Tiers</h2>{_tiers(report)}"
        f"<h2>Partners ({_partners_count(report)})</h2>"
        '<p class="meta">Click a column title to sort.</p>'
        f"{_partners(report)}"
        f"<script>{SORT_SCRIPT}</script></body></html>\n"
    )
