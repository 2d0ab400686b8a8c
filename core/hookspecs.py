"""The hooks cosell calls, in the order a run calls them.

A plugin is any module or object with functions decorated ``@hookimpl`` (``from cosell import
hookimpl``) whose names are these. An implementation may declare any subset of a hook's arguments.
Every hook below is called by the engine implementation by implementation, in pluggy's order
(``tryfirst`` ones first, ``trylast`` ones last, otherwise the most recently registered first), so
that an error or a wrong result can name the plugin it came from. Built-in rules are ``tryfirst``, so
third-party implementations of the payout hooks see the built-in lines.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from pydantic import BaseModel

    from .connector import ConnectorSpec
    from .context import PartnerFacts, RunContext, RunReport
    from .results import (
        LineKind,
        MetricDefinition,
        PartnerStanding,
        PayoutLine,
        Projection,
        Score,
        TierDecision,
    )

PROJECT = "cosell"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def cosell_plugin_settings() -> tuple[str, type[BaseModel]] | None:
    """Declare the settings this plugin reads from the program's ``plugins:`` section.

    Return ``(key, Model)``: the program's ``plugins.<key>`` entry is validated by the pydantic
    ``Model`` (errors name the file and line) and reaches hooks as ``context.setting(key, Model)``
    (a ``Model``, or None when the program has no entry and the model cannot be built from its
    defaults). An entry under ``plugins:`` that no installed plugin declares is a program error;
    ``cosell schema`` lists each model under ``plugins:``.
    """


@hookspec
def cosell_register_connectors(register: Callable[[ConnectorSpec], None]) -> None:
    """Register connectors: call ``register(ConnectorSpec(name, factory, description))`` for each."""


@hookspec
def cosell_metric_definitions() -> Iterable[MetricDefinition]:
    """Name the metrics this plugin computes in ``cosell_metrics``.

    Called once per run, before any record is read, so that a program naming a metric no plugin
    provides is refused up front. Two plugins defining the same name is an error naming both.
    """
    return ()


@hookspec
def cosell_line_kinds() -> Iterable[LineKind]:
    """Declare the kinds of payout line this plugin produces, each with its treatment.

    Called once per run, before any record is read. A line whose kind its plugin did not declare
    (or that another plugin declared: the built-in kinds belong to the built-in rules) stops the run.
    Two plugins declaring one kind is an error naming both.
    """
    return ()


@hookspec
def cosell_run_started(context: RunContext) -> None:
    """Called once the records are loaded and converted, before anything is computed."""


@hookspec
def cosell_metrics(partner: PartnerFacts, context: RunContext) -> Mapping[str, Decimal | None]:
    """Compute this plugin's metrics for one partner over the period.

    ``partner`` holds the partner and every record that involves it; ``context`` the program, the
    period and a read-only view of the ledger's history. Return ``{metric name: value}`` for the
    names this plugin declared; ``None`` means undefined (it scores 0). Called once per partner.
    """
    return {}


@hookspec(firstresult=True)
def cosell_score(
    partner: PartnerFacts, metrics: Mapping[str, Decimal | None], context: RunContext
) -> Score | None:
    """Score one partner from its metrics. The first implementation returning a Score wins."""


@hookspec(firstresult=True)
def cosell_tier(
    partner: PartnerFacts, score: Score, metrics: Mapping[str, Decimal | None], context: RunContext
) -> TierDecision | None:
    """Decide the partner's eligible and assigned tier. The first implementation returning one wins.

    Earlier periods' tiers are in ``context.history.tiers_of(partner_id)``. The run then lifts the
    decision by the approved tier exceptions in force (never a partner that has left the program), and
    fills a ``previous`` left None with the tier held before (the ledger's, else the CRM's).
    """


@hookspec
def cosell_payout_lines(
    partner: PartnerFacts,
    standing: PartnerStanding,
    lines: tuple[PayoutLine, ...],
    context: RunContext,
) -> Iterable[PayoutLine] | None:
    """Add payout lines for one partner and the period.

    ``lines`` holds the lines the implementations called before this one produced for the partner
    (built-in rules run first, in SPEC order: signing bonus, baseline, commission, accelerator,
    milestones, clawbacks, MDF). Every line's kind must be one this plugin declares in
    ``cosell_line_kinds`` (its treatment by the cap, the budget and the CRM fields comes from there);
    amounts must be rounded to cents (``cosell.money.round_cents``); every line needs a one-line
    explanation a partner can read; a ``deal_id`` must name a deal of the run's records.
    """


@hookspec
def cosell_projections(
    partner: PartnerFacts, standing: PartnerStanding, context: RunContext
) -> Iterable[Projection] | None:
    """What each open deal would pay this partner if won on the period's last day (never paid)."""


@hookspec
def cosell_adjustments(
    lines: Mapping[str, tuple[PayoutLine, ...]], context: RunContext
) -> Iterable[PayoutLine] | None:
    """Adjust every partner's lines at once (caps, then budget).

    ``lines`` maps partner id to all its lines so far, including the adjustments of implementations
    called before this one; return the new adjustment lines (usually negative). The built-in cap is
    ``tryfirst``, and is called after the implementation of every plugin declaring a kind inside the cap
    (``capped``), whatever its marks, so the cap counts the capped lines added here too; the plugin of
    the budget step (an ``adjustment`` kind outside the program budget) is called after every other
    whatever their ``tryfirst``/``trylast`` marks, so the budget always sees the final capped totals.
    """


@hookspec
def cosell_run_finished(context: RunContext, report: RunReport) -> None:
    """Called after write-back. An exception here is reported and the run exits 3; nothing is undone."""


def all_hook_names() -> tuple[str, ...]:
    return tuple(name for name, value in globals().items() if name.startswith("cosell_") and callable(value))


@hookspec
def cosell_cli_commands(register: Callable[..., None]) -> None:
    """Add commands to the ``cosell`` command line.

    Call ``register(command, name=None)`` for each: ``command`` is a function that typer turns into a
    command (its parameters annotated as for any typer command; a ``CosellError`` it raises becomes
    the exit code and located message, an unexpected exception exit 1 with the traceback logged, as
    for cosell's own commands), or a ``typer.Typer`` app, added as a group of sub-commands. ``name``
    defaults to the function's name. A name that cosell or another plugin already uses is an error
    naming the plugin. Called once when the command line starts, before any program is read.
    """


# The statement hooks (appended here, after the run's hooks)
if TYPE_CHECKING:
    from collections.abc import Sequence

    from .results import LedgerLine
    from .statements import StatementDocument, StatementSection


@hookspec
def cosell_statement_renderers(
    register: Callable[[str, Callable[[StatementDocument], str | bytes]], None],
) -> None:
    """Register statement formats: ``register(name, renderer)``, where ``renderer`` takes a
    ``cosell.statements.StatementDocument`` (the period's statements as the ledger holds them) and
    returns the text ``cosell statement --format name`` prints, or the bytes of a file it writes (only
    with ``--output`` or ``--per-partner``). cosell registers csv, json, html, terminal and xlsx itself; a
    name registered twice is an error naming the plugin."""


@hookspec
def cosell_statement_sections(
    partner_id: str,
    partner: PartnerFacts,
    lines: Sequence[PayoutLine],
    earlier_lines: Sequence[LedgerLine],
    context: RunContext,
) -> Iterable[StatementSection] | None:
    """Called once per partner when a run (or ``cosell explain``) has computed its lines: return the
    sections this plugin adds to the partner's statement (``cosell.statements.StatementSection``: a
    title, figures, a table, pending items, the lines of the plugin's kinds). The run records them in
    the ledger, and every statement format shows them the same way, from the ledger alone.
    ``earlier_lines`` are the partner's lines of earlier periods (``cosell.results.EarlierLines``), read
    from the ledger when first used; ``earlier_lines.of_kinds(kinds)`` (or ``context.history``'s
    questions) reads only the kinds the plugin needs."""


# The settlement hook (appended here, after the statement hooks)
if TYPE_CHECKING:
    from .settlement import SettlementPart


@hookspec
def cosell_settlement(
    partner: PartnerFacts, standing: PartnerStanding, lines: Sequence[PayoutLine], context: RunContext
) -> SettlementPart | None:
    """Called once per partner that is exiting or has exited (status ``exiting`` or ``exited``), when a
    run has computed its lines: return what this rule says about the partner's exit as of the period's
    end (``cosell.settlement.SettlementPart``): items paid in the wind-down, owed at a known later run,
    projected (owed only if something happens in time), or at risk (may be taken back), and the last day
    the rule can still earn the partner anything. ``lines`` are the partner's lines of the period; earlier
    ones are in ``context.history``. The run records the parts; ``cosell settlement`` shows them."""


# The report hook (appended here, after the statement hooks)
if TYPE_CHECKING:
    from .report.facts import ReportFacts


@hookspec
def cosell_report_facts(
    partner: PartnerFacts,
    standing: PartnerStanding,
    lines: Sequence[PayoutLine],
    context: RunContext,
) -> ReportFacts | None:
    """Called once per partner when a run stores its results: return what this plugin knows of the
    partner's period for the program report (``cosell.report.ReportFacts``: won revenue and margin,
    sourced pipeline, deals won and lost, days to win, quota attainment, deals a guardrail withheld
    or floored, market-development funds per campaign), leaving None what is not its to give. The run
    records the answers in the ledger; ``cosell report`` reads them from there. Two plugins giving the
    same field is an error naming the second."""
