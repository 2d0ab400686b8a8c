"""The report's charts, drawn by matplotlib's SVG backend into text the page holds inline.

Text stays text (``svg.fonttype: none``), so no font is embedded or fetched; the SVG has no script and
no link. Every label is drawn as written: matplotlib's math text is off. Plotted values are floats: a chart shows magnitudes, every exact figure is in the tables.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from typing import Any

MOST_POINTS = 2000
"""The scatter of partners shows the partners with the highest earnings, at most this many."""


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("svg")
    matplotlib.rcParams.update(
        {
            "svg.fonttype": "none",
            "svg.hashsalt": "cosell",  # the same report twice gives the same page
            # Labels come from the CRM and the program (campaigns, kinds, tiers): "$1M Push ($50k MDF)"
            # is text, never TeX math, which would drop its dollar signs or fail to parse.
            "text.parse_math": False,
            "font.family": "sans-serif",
            "font.size": 9,
            "axes.spines.top": False,
            "axes.spines.right": False,
        }
    )
    import matplotlib.pyplot as plt

    return plt


def _svg(plt: Any, figure: Any) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(figure)
    text = buffer.getvalue()
    text = text[text.index("<svg") :]  # the XML prolog and doctype do not belong inside HTML
    # A fixed pixel size would overflow a narrow screen: the page's CSS sizes the chart instead.
    return re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', r'<svg\1 role="img"', text, count=1)


def _number(text: str | None) -> float:
    return float(text) if text is not None else 0.0


def incentives_by_kind(trend: Sequence[Mapping[str, Any]]) -> str:
    """Stacked bars: each period's lines by kind (MDF included)."""
    plt = _pyplot()
    kinds = sorted({kind for t in trend for kind in t["by_kind"]})
    periods = [t["period"] for t in trend]
    figure, axes = plt.subplots(figsize=(6, 3))
    positive = [0.0] * len(periods)
    negative = [0.0] * len(periods)
    for kind in kinds:
        values = [_number(t["by_kind"].get(kind)) for t in trend]
        bottoms = [negative[i] if v < 0 else positive[i] for i, v in enumerate(values)]
        axes.bar(periods, values, bottom=bottoms, label=kind)
        for i, v in enumerate(values):
            if v < 0:
                negative[i] += v
            else:
                positive[i] += v
    axes.axhline(0, color="#444", linewidth=0.6)
    axes.set_ylabel("amount")
    axes.set_title("Incentives by kind per period")
    if kinds:
        axes.legend(fontsize=7, frameon=False, loc="center left", bbox_to_anchor=(1, 0.5))
    return _svg(plt, figure)


def tier_distribution(trend: Sequence[Mapping[str, Any]], tiers: Sequence[str]) -> str:
    """Stacked bars: how many partners hold each tier, per period, and on top (grey) how many had left
    the program (they hold none)."""
    plt = _pyplot()
    names = list(tiers) + sorted({n for t in trend for n in t["tiers"]} - set(tiers))
    periods = [t["period"] for t in trend]
    figure, axes = plt.subplots(figsize=(6, 3))
    bottom = [0] * len(periods)
    for name in names:
        counts = [t["tiers"].get(name, 0) for t in trend]
        axes.bar(periods, counts, bottom=bottom, label=name)
        bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    exited = [t.get("exited") or 0 for t in trend]
    if any(exited):
        axes.bar(periods, exited, bottom=bottom, label="Exited", color="#b8bfc8", hatch="//")
        names.append("Exited")
    axes.set_ylabel("partners")
    axes.set_title("Tier distribution per period")
    if names:
        axes.legend(fontsize=7, frameon=False, loc="center left", bbox_to_anchor=(1, 0.5))
    return _svg(plt, figure)


def pipeline_against_earnings(partners: Sequence[Mapping[str, Any]]) -> str:
    """One point per partner: sourced pipeline against earnings (the partners earning most, at most
    ``MOST_POINTS``)."""
    plt = _pyplot()
    shown = sorted(partners, key=lambda r: -_number(r["earnings"]))[:MOST_POINTS]
    figure, axes = plt.subplots(figsize=(6, 3.4))
    axes.scatter(
        [_number(r["sourced_pipeline"]) for r in shown],
        [_number(r["earnings"]) for r in shown],
        s=14,
        alpha=0.7,
    )
    axes.set_xlabel("sourced pipeline")
    axes.set_ylabel("earnings")
    title = "Sourced pipeline against earnings, per partner"
    if len(partners) > len(shown):
        title += f" (the {len(shown):,} earning most)"
    axes.set_title(title)
    return _svg(plt, figure)


def mdf_against_pipeline(campaigns: Sequence[Mapping[str, Any]]) -> str:
    """Grouped bars per campaign: MDF funded and the pipeline the campaign brought."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6, 3))
    names = [c["campaign"] for c in campaigns]
    positions = list(range(len(names)))
    axes.bar(
        [x - 0.2 for x in positions], [_number(c["funded"]) for c in campaigns], width=0.4, label="MDF funded"
    )
    axes.bar([x + 0.2 for x in positions], [_number(c["pipeline"]) for c in campaigns], width=0.4,
             label="pipeline brought")  # fmt: skip
    axes.set_xticks(positions, names, rotation=30, ha="right")
    axes.set_title("MDF funded against the pipeline it brought, per campaign")
    if not names:
        axes.text(
            0.5, 0.5, "no MDF funded in these periods", ha="center", va="center", transform=axes.transAxes
        )
    axes.legend(fontsize=7, frameon=False)
    return _svg(plt, figure)


def cost_trend(trend: Sequence[Mapping[str, Any]]) -> str:
    """Lines: incentive cost as a share of won revenue and of won gross margin, per period."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6, 3))
    periods = [t["period"] for t in trend]
    for key, label in (("cost_of_revenue", "of won revenue"), ("cost_of_margin", "of won gross margin")):
        points = [(i, float(t[key]) * 100) for i, t in enumerate(trend) if t[key] is not None]
        axes.plot([i for i, _ in points], [v for _, v in points], marker="o", label=label)
    axes.set_xticks(range(len(periods)), periods)
    axes.set_ylabel("%")
    axes.set_title("Incentive cost as % of won revenue and margin")
    axes.legend(fontsize=7, frameon=False)
    return _svg(plt, figure)
