"""The ledger: periods, runs, payout lines, tier history, the CRM snapshot, sync cursors and the outbox.

SQLAlchemy Core (no ORM) over a SQLite file by default, or PostgreSQL by URL. Money is stored as integer
cents, scores and metric values as exact decimal text, never as a float column. The schema is versioned in
``cosell_schema`` and migrated by :data:`MIGRATIONS`. docs/ledger.md explains every table and column.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import operator
import os
import re
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from itertools import chain, count, groupby, islice, repeat
from operator import itemgetter
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any, Literal, TypeVar, cast

import orjson
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.pool import StaticPool

from .errors import ConfigError, LockHeldError, PeriodError, UnreachableError
from .fields import FieldWrite, ObjectName, RecordKey
from .gc_pause import gc_paused
from .governance import Refusal, named, not_approver, over_threshold, same_person
from .money import show, to_cents
from .periods import Period, PeriodKind
from .results import (
    ApprovedAdjustment,
    History,
    LedgerLine,
    PartnerStanding,
    PayoutLine,
    Projection,
    TierException,
    TierRecord,
    frozen_mapping,
)
from .runrecords import PluginVersion, RunProvenance
from .slotted import from_columns

__all__ = [
    "ADJUSTMENT_STATES",
    "CONNECT_RETRY_DELAYS",
    "DEFAULT_URL",
    "MIGRATIONS",
    "TIER_EXCEPTION_STATES",
    "AdjustmentEvent",
    "Ledger",
    "OutboxItem",
    "StoredAdjustment",
    "StoredDiscard",
    "StoredRun",
    "StoredStanding",
    "StoredTierException",
    "decode_json",
    "encode_json",
    "schema_version",
]

DEFAULT_URL = "sqlite:///cosell.db"
"""The ledger when neither ``--ledger`` nor ``COSELL_LEDGER`` names one: a file in the working folder."""

CONNECT_RETRY_DELAYS: tuple[float, ...] = (0.5, 1.0)
"""Seconds to wait before each retry of a failed first connection (credentials refused: no retry)."""

SQLITE_BUSY_SECONDS = 30.0
"""How long a SQLite statement waits for another process's write transaction before giving up."""

_CHUNK = 5_000
"""Rows per executemany call: bounded memory for 1.5 M lines, few round trips."""

_LOCK_POLL_SECONDS = 0.1

PeriodStatus = Literal["open", "closed"]

# ---------------------------------------------------------------------------------------------------
# Tables (docs/ledger.md says why each one is as it is)
# ---------------------------------------------------------------------------------------------------
# The bulk tables (lines, standings, projections, outbox) carry no foreign keys on purpose: their only
# writer is record_run, which inserts the period and run rows in the same transaction, and per-row FK
# checks made COPY of 1.5 M lines 3.5 times slower on PostgreSQL.

metadata = sa.MetaData()

# Ids and keys compare byte-wise on both backends, so "ordered by id" is the same order everywhere
# (PostgreSQL's default collation would sort 'a' < 'B' by locale; SQLite's BINARY and "C" do not).
_Key = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")

schema_table = sa.Table(
    "cosell_schema",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.CheckConstraint("id = 1", name="cosell_schema_one_row"),
)

periods_table = sa.Table(
    "cosell_periods",
    metadata,
    sa.Column("period", _Key, primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("starts_on", sa.Date, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("closed_at", sa.Text, nullable=True),
    sa.Column("discarded_at", sa.Text, nullable=True),
    sa.CheckConstraint("kind IN ('quarter', 'month')", name="cosell_periods_kind"),
    sa.CheckConstraint("status IN ('open', 'closed')", name="cosell_periods_status"),
    sa.Index("cosell_periods_starts_on", "starts_on"),
)
"""``discarded_at`` (version 5): set by ``cosell discard`` while the period holds no results, cleared
by its next run; a discarded period is not the latest period and has no status."""

runs_table = sa.Table(
    "cosell_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("period", _Key, sa.ForeignKey("cosell_periods.period"), nullable=False),
    sa.Column("program", sa.Text, nullable=False),
    sa.Column("connector", sa.Text, nullable=False),
    sa.Column("target", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("started_at", sa.Text, nullable=False),
    sa.Column("finished_at", sa.Text, nullable=True),
    sa.Column("summary", sa.Text, nullable=True),
    sa.Column("tier_exceptions", sa.Text, nullable=True),
    sa.Index("cosell_runs_period", "period"),
)
"""``started_at``: when the run started, before it read the ledger's history (a run stored before version
10: when it stored). ``tier_exceptions`` (version 10): the JSON list of the ids of the approved tier
exceptions in force that the run's history held, the ones it applied; None for a run stored before."""

lines_table = sa.Table(
    "cosell_lines",
    metadata,
    sa.Column("period", _Key, primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("run_id", sa.Integer, nullable=False),
    sa.Column("partner_id", _Key, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("deal_id", _Key, nullable=True),
    sa.Column("amount_cents", sa.BigInteger, nullable=False),
    sa.Column("explanation", sa.Text, nullable=False),
    sa.Column("withheld", sa.Boolean, nullable=False),
    sa.Column("uncapped", sa.Boolean, nullable=False),
    sa.Column("tags", sa.Text, nullable=False),
    sa.Index("cosell_lines_partner", "period", "partner_id"),
)
_UNTAGGED: sa.ColumnElement[str] = sa.literal_column("'[]'")
"""``tags`` of a line without tags. A literal, not a parameter: the partial index below serves only
queries whose condition spells it the same way."""
_lines_kind_index = sa.Index("cosell_lines_kind", lines_table.c.kind, lines_table.c.period,
                             lines_table.c.partner_id, lines_table.c.deal_id)  # fmt: skip
_lines_tagged_index = sa.Index(
    "cosell_lines_tagged",
    lines_table.c.period,
    lines_table.c.partner_id,
    sqlite_where=lines_table.c.tags != _UNTAGGED,
    postgresql_where=lines_table.c.tags != _UNTAGGED,
)
"""Version 7: the history's questions (docs/decisions.md, "History answers questions"): the lines of some
kinds and the deals they name (``cosell_lines_kind``, which alone answers which deals a kind paid), and
the few lines that carry tags (``cosell_lines_tagged``, partial: untagged lines are not in it)."""

standings_table = sa.Table(
    "cosell_standings",
    metadata,
    sa.Column("period", _Key, primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("run_id", sa.Integer, nullable=False),
    sa.Column("partner_id", _Key, nullable=False),
    sa.Column("score", sa.Text, nullable=False),
    sa.Column("eligible", sa.Text, nullable=False),
    sa.Column("assigned", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("metrics", sa.Text, nullable=False),
    sa.Column("partner_name", sa.Text, nullable=False),
    sa.UniqueConstraint("period", "partner_id", name="cosell_standings_partner"),
)

projections_table = sa.Table(
    "cosell_projections",
    metadata,
    sa.Column("period", _Key, primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("run_id", sa.Integer, nullable=False),
    sa.Column("partner_id", _Key, nullable=False),
    sa.Column("deal_id", _Key, nullable=False),
    sa.Column("amount_cents", sa.BigInteger, nullable=False),
    sa.Column("explanation", sa.Text, nullable=False),
    sa.Column("withheld", sa.Boolean, nullable=False),
)

outbox_table = sa.Table(
    "cosell_outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.Integer, nullable=False),
    sa.Column("target", sa.Text, nullable=False),
    sa.Column("object", sa.Text, nullable=False),
    sa.Column("record_id", _Key, nullable=False),
    sa.Column("field_values", sa.Text, nullable=False),
    sa.Column("old_values", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("error", sa.Text, nullable=True),
    sa.CheckConstraint("status IN ('pending', 'done', 'failed', 'superseded')", name="cosell_outbox_status"),
    sa.Index("cosell_outbox_target_status", "target", "status", "id"),
    sa.Index("cosell_outbox_run", "run_id"),
)
_ACCOUNT: sa.ColumnElement[str] = sa.literal_column("'account'")
"""``object`` of an account's row. A literal, not a parameter: the partial index below serves only queries
whose condition spells it the same way."""
_outbox_accounts_index = sa.Index(
    "cosell_outbox_accounts",
    outbox_table.c.target,
    outbox_table.c.record_id,
    sqlite_where=outbox_table.c.object == _ACCOUNT,
    postgresql_where=outbox_table.c.object == _ACCOUNT,
)
"""Version 9: the accounts each target was ever written (``planned_account_ids``), read by every run to
find the partners it no longer computes, without reading the deals' rows (a million a run, at most)."""

snapshot_table = sa.Table(
    "cosell_snapshot",
    metadata,
    sa.Column("connector", _Key, primary_key=True),
    sa.Column("object", _Key, primary_key=True),
    sa.Column("record_id", _Key, primary_key=True),
    sa.Column("payload", sa.Text, nullable=False),
)

cursors_table = sa.Table(
    "cosell_cursors",
    metadata,
    sa.Column("connector", _Key, primary_key=True),
    sa.Column("stream", _Key, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

generation_table = sa.Table(
    "cosell_generation",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("value", sa.BigInteger, nullable=False),
    sa.CheckConstraint("id = 1", name="cosell_generation_one_row"),
)
"""One row counting every change to lines, standings (tier history) and period status: a run that read
history at generation N stores only if the ledger is still at N (docs/ledger.md, "Overlapping runs")."""

statement_runs_table = sa.Table(
    "cosell_statement_runs",
    metadata,
    sa.Column("period", _Key, primary_key=True),
    sa.Column("run_id", sa.Integer, nullable=False),
    sa.Column("data", sa.Text, nullable=False),
)
"""Version 3: what the period's latest run recorded for its statements, program-wide (JSON: the program's
name and currency, the per-partner cap and budget figures, the line kinds' declarations)."""

statement_partners_table = sa.Table(
    "cosell_statement_partners",
    metadata,
    sa.Column("period", _Key, primary_key=True),
    sa.Column("partner_id", _Key, primary_key=True),
    sa.Column("run_id", sa.Integer, nullable=False),
    sa.Column("data", sa.Text, nullable=False),
)
"""Version 3: per partner, what its statement needs (JSON: the score parts with the scale, the tier goals)."""

ADJUSTMENT_STATES = ("pending", "approved", "rejected", "applied", "withdrawn")


def _states_check(states: Sequence[str], name: str) -> sa.CheckConstraint:
    return sa.CheckConstraint(f"state IN ({', '.join(repr(s) for s in states)})", name=name)


def _decision_columns() -> list[sa.Column[Any]]:
    """The columns of a proposal decided by people (adjustments, tier exceptions): its state, who proposed
    it, the approvers named then, who decided it, when and why."""
    return [
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("proposed_by", sa.Text, nullable=False),
        sa.Column("proposed_at", sa.Text, nullable=False),
        sa.Column("approvers", sa.Text, nullable=True),
        sa.Column("decided_by", sa.Text, nullable=True),
        sa.Column("decided_at", sa.Text, nullable=True),
        sa.Column("decision_reason", sa.Text, nullable=True),
    ]


def _adjustments(meta: sa.MetaData, states: Sequence[str]) -> sa.Table:
    return sa.Table(
        "cosell_adjustments",
        meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("partner_id", _Key, nullable=False),
        sa.Column("amount_cents", sa.BigInteger, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("period", _Key, nullable=True),
        sa.Column("deal_id", _Key, nullable=True),
        *_decision_columns(),
        sa.Column("applied_period", _Key, nullable=True),
        sa.Column("applied_run", sa.Integer, nullable=True),
        _states_check(states, "cosell_adjustments_state"),
        sa.Index("cosell_adjustments_state", "state"),
    )


adjustments_table = _adjustments(metadata, ADJUSTMENT_STATES)
"""Version 4: adjustments the governance body proposes and approves (``cosell adjust``). ``approvers``
is the JSON list the program named when it was proposed (None: no list); ``decided_by`` is None for one
the program's threshold approved. Rows are never deleted; every change is also an event below. Version 12
adds the state ``withdrawn`` (``cosell adjust withdraw``): ``decided_by`` stays who approved it, and
``applied_period`` the open period whose lines still pay it until that period's next run."""

adjustment_events_table = sa.Table(
    "cosell_adjustment_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("adjustment_id", sa.Integer, sa.ForeignKey("cosell_adjustments.id"), nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("actor", sa.Text, nullable=True),
    sa.Column("at", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("run_id", sa.Integer, nullable=True),
    sa.Index("cosell_adjustment_events_adjustment", "adjustment_id", "id"),
)
"""Version 4: every state change of an adjustment, append-only (proposed, approved, rejected, applied,
unapplied; reapplied when a rerun of the period pays it again), with who (None: the program's threshold or
a run), when and why."""

TIER_EXCEPTION_STATES = ("pending", "approved", "rejected", "withdrawn")


def _tier_exceptions(meta: sa.MetaData, states: Sequence[str]) -> sa.Table:
    return sa.Table(
        "cosell_tier_exceptions",
        meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("partner_id", _Key, nullable=False),
        sa.Column("tier", sa.Text, nullable=False),
        sa.Column("until", _Key, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        *_decision_columns(),
        _states_check(states, "cosell_tier_exceptions_state"),
        sa.Index("cosell_tier_exceptions_state", "state"),
    )


tier_exceptions_table = _tier_exceptions(metadata, TIER_EXCEPTION_STATES)
"""Version 6: tier exceptions the governance body proposes and approves (``cosell tier-override``): the
partner holds at least ``tier`` through the period ``until``. An approved one ends by itself after
``until``, unless withdrawn (version 12: ``cosell tier-override withdraw``). Rows are never deleted; every
change is also an event below."""

tier_exception_events_table = sa.Table(
    "cosell_tier_exception_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("exception_id", sa.Integer, sa.ForeignKey("cosell_tier_exceptions.id"), nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("actor", sa.Text, nullable=True),
    sa.Column("at", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("run_id", sa.Integer, nullable=True),
    sa.Index("cosell_tier_exception_events_exception", "exception_id", "id"),
)
"""Version 6: every state change of a tier exception, append-only (proposed, approved, rejected), with
who, when and why."""

run_records_table = sa.Table(
    "cosell_run_records",
    metadata,
    sa.Column("run_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("program_text", sa.Text, nullable=False),
    sa.Column("program_sha256", sa.Text, nullable=False),
    sa.Column("cosell_version", sa.Text, nullable=False),
    sa.Column("plugins", sa.Text, nullable=False),
    sa.Column("records_digest", sa.Text, nullable=False),
    sa.Column("earnings", sa.Text, nullable=False),
)
"""Version 5: what each run computed with (``cosell runs``): the program file's text and sha256, cosell's
and every plugin's version (JSON list), the records' digest, each partner's period earnings (JSON object
of decimal strings). One row per run recorded since version 5; runs before have none."""

run_variants_table = sa.Table(
    "cosell_run_variants",
    metadata,
    sa.Column("run_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("sha256", sa.Text, nullable=False),
)
"""Version 8: under a pilot, the variant program a run computed its test arm with: the name the program
gives it (``pilot.variant``), its text and sha256. One row per such run."""

discards_table = sa.Table(
    "cosell_discards",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("period", _Key, nullable=False),
    sa.Column("run_id", sa.Integer, nullable=True),
    sa.Column("discarded_by", sa.Text, nullable=False),
    sa.Column("discarded_at", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("line_count", sa.Integer, nullable=False),
    sa.Column("partners", sa.Text, nullable=False),
    sa.Column("superseded_writes", sa.Integer, nullable=False),
    sa.Column("unapplied", sa.Text, nullable=False),
)
"""Version 5: every ``cosell discard``: the period, its latest run, who, when and why, how many lines it
removed and per partner their count and total (JSON: partner → [count, cents]), the outbox rows it
superseded and the adjustments it sent back to approved (JSON list of ids). Never deleted."""

crm_tiers_table = sa.Table(
    "cosell_crm_tiers",
    metadata,
    sa.Column("partner_id", _Key, primary_key=True),
    sa.Column("tier", sa.Text, nullable=True),
    sa.Column("period", _Key, nullable=False),
    sa.Column("run_id", sa.Integer, nullable=False),
)
"""Version 11: each partner's tier field as the first stored run that read the partner found it (None:
empty), with that run and its period; never changed or deleted after (a discard keeps it). A run starts
a partner with no tier in an earlier period from this, not from the field as read now, which holds what
cosell has written there since (docs/decisions.md, "A partner's first tier is the CRM's as cosell first
read it")."""

_VERSION_1_TABLES = (
    schema_table,
    runs_table,
    lines_table,
    standings_table,
    projections_table,
    outbox_table,
    snapshot_table,
    cursors_table,
)


# ---------------------------------------------------------------------------------------------------
# Schema versions
# ---------------------------------------------------------------------------------------------------

Migration = Callable[[Connection], None]


_version_1 = sa.MetaData()
_periods_version_1 = sa.Table(
    "cosell_periods",
    _version_1,
    sa.Column("period", _Key, primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("starts_on", sa.Date, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("closed_at", sa.Text, nullable=True),
    sa.CheckConstraint("kind IN ('quarter', 'month')", name="cosell_periods_kind"),
    sa.CheckConstraint("status IN ('open', 'closed')", name="cosell_periods_status"),
    sa.Index("cosell_periods_starts_on", "starts_on"),
)
"""``cosell_periods`` as version 1 made it (version 5 adds ``discarded_at``)."""
_runs_version_1 = sa.Table(
    "cosell_runs",
    _version_1,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("period", _Key, sa.ForeignKey("cosell_periods.period"), nullable=False),
    sa.Column("program", sa.Text, nullable=False),
    sa.Column("connector", sa.Text, nullable=False),
    sa.Column("target", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("started_at", sa.Text, nullable=False),
    sa.Column("finished_at", sa.Text, nullable=True),
    sa.Column("summary", sa.Text, nullable=True),
    sa.Index("cosell_runs_period", "period"),
)
"""``cosell_runs`` as version 1 made it (version 10 adds ``tier_exceptions``)."""
_lines_version_1 = sa.Table(
    "cosell_lines",
    _version_1,
    sa.Column("period", _Key, primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("run_id", sa.Integer, nullable=False),
    sa.Column("partner_id", _Key, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("deal_id", _Key, nullable=True),
    sa.Column("amount_cents", sa.BigInteger, nullable=False),
    sa.Column("explanation", sa.Text, nullable=False),
    sa.Column("withheld", sa.Boolean, nullable=False),
    sa.Column("uncapped", sa.Boolean, nullable=False),
    sa.Column("tags", sa.Text, nullable=False),
    sa.Index("cosell_lines_partner", "period", "partner_id"),
)
"""``cosell_lines`` as version 1 made it (version 7 adds two indexes)."""
_outbox_version_1 = sa.Table(
    "cosell_outbox",
    _version_1,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.Integer, nullable=False),
    sa.Column("target", sa.Text, nullable=False),
    sa.Column("object", sa.Text, nullable=False),
    sa.Column("record_id", _Key, nullable=False),
    sa.Column("field_values", sa.Text, nullable=False),
    sa.Column("old_values", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("error", sa.Text, nullable=True),
    sa.CheckConstraint("status IN ('pending', 'done', 'failed', 'superseded')", name="cosell_outbox_status"),
    sa.Index("cosell_outbox_target_status", "target", "status", "id"),
    sa.Index("cosell_outbox_run", "run_id"),
)
"""``cosell_outbox`` as version 1 made it (version 9 adds an index)."""


_adjustments_version_4 = _adjustments(sa.MetaData(), ("pending", "approved", "rejected", "applied"))
"""``cosell_adjustments`` as version 4 made it (version 12 adds the state ``withdrawn``)."""
_tier_exceptions_version_6 = _tier_exceptions(sa.MetaData(), ("pending", "approved", "rejected"))
"""``cosell_tier_exceptions`` as version 6 made it (version 12 adds the state ``withdrawn``)."""


def _migrate_to_1(conn: Connection) -> None:
    # The other version-1 tables are unchanged since, so their definitions are today's. When a later
    # version changes one of them, copy its version-1 definition here first, as for cosell_periods.
    _periods_version_1.create(conn)
    _runs_version_1.create(conn)
    _lines_version_1.create(conn)
    _outbox_version_1.create(conn)
    metadata.create_all(
        conn, tables=[t for t in _VERSION_1_TABLES if t not in (lines_table, outbox_table, runs_table)]
    )


def _migrate_to_2(conn: Connection) -> None:
    # Version 2: the generation counter, so overlapping runs of different periods cannot store results
    # computed from history another run has changed since.
    generation_table.create(conn)
    conn.execute(generation_table.insert().values(id=1, value=0))


def _migrate_to_3(conn: Connection) -> None:
    # Version 3: what each run records for its statements, so that a statement renders from the ledger
    # alone. Periods run before have no rows here: their statements say "not recorded".
    statement_runs_table.create(conn)
    statement_partners_table.create(conn)


def _migrate_to_4(conn: Connection) -> None:
    # Version 4: adjustments and their append-only events (``cosell adjust``).
    _adjustments_version_4.create(conn)
    adjustment_events_table.create(conn)


def _migrate_to_5(conn: Connection) -> None:
    # Version 5: run records (the program text, versions and records digest of every run), discards, and
    # the periods' discarded_at. Runs before have no record: `cosell runs` says "not recorded".
    conn.execute(sa.text("ALTER TABLE cosell_periods ADD COLUMN discarded_at TEXT"))
    run_records_table.create(conn)
    discards_table.create(conn)


def _migrate_to_6(conn: Connection) -> None:
    # Version 6: tier exceptions and their append-only events (``cosell tier-override``).
    _tier_exceptions_version_6.create(conn)
    tier_exception_events_table.create(conn)


def _migrate_to_7(conn: Connection) -> None:
    # Version 7: indexes for the history's questions (the lines of some kinds, the tagged lines), so that
    # a run reads what its rules ask, not every line ever stored.
    _lines_kind_index.create(conn)
    _lines_tagged_index.create(conn)


def _migrate_to_8(conn: Connection) -> None:
    # Version 8: the variant program of a pilot's run, so that its past periods are explained and
    # compared with the variant that computed them. Runs before have none: today's file stands in.
    run_variants_table.create(conn)


def _migrate_to_9(conn: Connection) -> None:
    # Version 9: the accounts each write-back target was written, apart from the deals' rows, so that a
    # run finds the accounts it wrote and no longer computes (docs/decisions.md, "Accounts that are no
    # longer partners are cleared, once").
    _outbox_accounts_index.create(conn)


def _migrate_to_10(conn: Connection) -> None:
    # Version 10: the tier exceptions each run applied, so that the explain of its closed period applies
    # those, not every one approved before the run stored. Runs before have none recorded: the explain
    # of their periods takes the exceptions approved before the run started.
    conn.execute(sa.text("ALTER TABLE cosell_runs ADD COLUMN tier_exceptions TEXT"))


def _migrate_to_11(conn: Connection) -> None:
    # Version 11: each partner's tier field as cosell first read it, so that a rerun (or a run after a
    # discard) does not start the partner from the tier cosell itself wrote there. Partners read before
    # have none recorded: their next stored run records the field as it reads it then.
    crm_tiers_table.create(conn)


def _migrate_to_12(conn: Connection) -> None:
    # Version 12: adjustments and tier exceptions may be withdrawn (``cosell adjust withdraw``,
    # ``cosell tier-override withdraw``): their state's CHECK constraint admits ``withdrawn``.
    for table, states in (
        (adjustments_table, ADJUSTMENT_STATES),
        (tier_exceptions_table, TIER_EXCEPTION_STATES),
    ):
        name = f"{table.name}_state"
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text(f"ALTER TABLE {table.name} DROP CONSTRAINT {name}"))
            check = ", ".join(repr(s) for s in states)
            conn.execute(
                sa.text(f"ALTER TABLE {table.name} ADD CONSTRAINT {name} CHECK (state IN ({check}))")
            )
            continue
        # SQLite alters no constraint: the table is made again with its rows. Its events refer to it, so
        # their foreign keys are checked at commit, once every row is back (a row missing fails it).
        conn.execute(sa.text("PRAGMA defer_foreign_keys = ON"))
        columns = ", ".join(c.name for c in table.columns)
        conn.execute(sa.text(f"CREATE TEMP TABLE cosell_rebuilt AS SELECT {columns} FROM {table.name}"))
        conn.execute(sa.text(f"DROP TABLE {table.name}"))
        table.create(conn)
        conn.execute(
            sa.text(f"INSERT INTO {table.name} ({columns}) SELECT {columns} FROM cosell_rebuilt ORDER BY id")
        )
        conn.execute(sa.text("DROP TABLE cosell_rebuilt"))


MIGRATIONS: list[tuple[int, Migration]] = [
    (1, _migrate_to_1),
    (2, _migrate_to_2),
    (3, _migrate_to_3),
    (4, _migrate_to_4),
    (5, _migrate_to_5),
    (6, _migrate_to_6),
    (7, _migrate_to_7),
    (8, _migrate_to_8),
    (9, _migrate_to_9),
    (10, _migrate_to_10),
    (11, _migrate_to_11),
    (12, _migrate_to_12),
]
"""Ordered (version, function) pairs; each function brings a ledger from the version before to its own."""


def schema_version() -> int:
    """The schema version this code writes (the last migration's)."""
    return MIGRATIONS[-1][0]


# ---------------------------------------------------------------------------------------------------
# JSON with exact decimals
# ---------------------------------------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"cannot store a {type(value).__name__} in the ledger: {value!r}")


def _json_hook(obj: dict[str, Any]) -> Any:
    if len(obj) == 1:
        key, value = next(iter(obj.items()))
        if key == "$decimal" and isinstance(value, str):
            return Decimal(value)
        if key == "$date" and isinstance(value, str):
            return date.fromisoformat(value)
        if key == "$datetime" and isinstance(value, str):
            return datetime.fromisoformat(value)
    return obj


_ENCODER = json.JSONEncoder(default=_json_default, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
_DECODER = json.JSONDecoder(object_hook=_json_hook)
_PLAIN_DECODER = json.JSONDecoder()
# Built once: json.dumps and json.loads build an encoder or decoder per call when given options, which
# cost as much as the text itself on the snapshot's small payloads (tens of thousands a CRM read).


def encode_json(value: Any) -> str:
    """JSON text in which a Decimal is ``{"$decimal": "12.30"}`` (exact, digits kept), a date
    ``{"$date": ...}`` and a datetime ``{"$datetime": ...}``; tuples become lists, sets sorted lists."""
    return _ENCODER.encode(value)


def decode_json(text: str) -> Any:
    """The inverse of :func:`encode_json`: decimals, dates and datetimes come back as such."""
    # A text with no object whose first key starts with "$" has nothing for the hook to turn back: it
    # decodes without a Python call per object (most CRM payloads hold only strings).
    return _DECODER.decode(text) if '{"$' in text else _PLAIN_DECODER.decode(text)


# ---------------------------------------------------------------------------------------------------
# Public value types
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One planned write of the managed fields of one record, as the outbox holds it."""

    id: int
    run_id: int
    target: str
    status: str
    write: FieldWrite
    error: str | None


@dataclass(frozen=True, slots=True)
class StoredStanding:
    """A partner's score, tiers and metrics for one period, as the ledger holds them."""

    period: str
    partner_id: str
    score: Decimal
    eligible: str
    assigned: str
    metrics: Mapping[str, Decimal | None]
    reason: str
    name: str = ""


# ---------------------------------------------------------------------------------------------------
# URLs and errors
# ---------------------------------------------------------------------------------------------------

_QUERY_SECRET = re.compile(r"(?i)\b(password|sslpassword|passfile)=[^&]*")
_RAW_PASSWORD = re.compile(r"(://[^:/@?#]*:)[^@]*@")


def _mask_url(url: URL) -> str:
    text = url.render_as_string(hide_password=True)
    return _QUERY_SECRET.sub(r"\1=***", text)


def _mask_raw(text: str) -> str:
    return _RAW_PASSWORD.sub(r"\1***@", text)


def _utc_now() -> str:
    # Audit only (when a run started, when a period was closed): never part of a computed result.
    return _utc_text(datetime.now(UTC))


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


T = TypeVar("T")


def _chunks(items: Iterable[T], size: int = _CHUNK) -> Iterator[list[T]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def _period_key(period: str) -> str:
    try:
        return Period.parse(period).key
    except ValueError as exc:
        raise PeriodError(str(exc)) from None


_TAGS_JSON = json.JSONEncoder(ensure_ascii=False)


def _tags_text(tags: frozenset[str]) -> str:
    return _TAGS_JSON.encode(sorted(tags)) if tags else "[]"


def _tags_of(text: str) -> frozenset[str]:
    return frozenset(json.loads(text)) if text != "[]" else frozenset()


def _metrics_text(metrics: Mapping[str, Decimal | None]) -> str:
    return json.dumps(
        {k: (None if v is None else str(v)) for k, v in metrics.items()},
        ensure_ascii=False,
        separators=(",", ":"),
    )


def _metrics_of(text: str) -> Mapping[str, Decimal | None]:
    raw: dict[str, str | None] = json.loads(text)
    return frozen_mapping({k: (None if v is None else Decimal(v)) for k, v in raw.items()})


_VALUES_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
"""What ``json.dumps(values, ensure_ascii=False, separators=(",", ":"))`` does."""


def _values_text_once() -> Callable[[Mapping[str, str | None]], str]:
    """``_values_text``, converting each read-only mapping (which writes share) once: kept by object,
    for as long as the writes live (one ``record_run``). Any other mapping is converted every time."""
    texts: dict[int, str] = {}

    def text(values: Mapping[str, str | None]) -> str:
        if type(values) is not MappingProxyType:
            return _values_text(values)
        found = texts.get(id(values))
        if found is None:
            found = texts[id(values)] = _values_text(values)
        return found

    return text


def _values_text(values: Mapping[str, str | None]) -> str:
    """``values`` as JSON text, as ``json.dumps(values, ensure_ascii=False, separators=(",", ":"))``
    writes it, by orjson (a quarter of the time: 0.14 s for 457,000 writes). Values are text or None as
    a rule. A number (a CRM's old value, finite as JSON's are) keeps its value, though orjson may spell
    it otherwise (``0.00001`` for ``1e-05``). A mapping orjson does not take (the shared read-only
    mappings of ``none_for``) goes through the standard encoder."""
    try:
        return orjson.dumps(values).decode()
    except TypeError:  # orjson.JSONEncodeError is one
        return _VALUES_JSON.encode(dict(values))


# ---------------------------------------------------------------------------------------------------
# The ledger
# ---------------------------------------------------------------------------------------------------


class Ledger:
    """A connection to one ledger database. Open with :meth:`connect`; close with :meth:`close` (or use
    it as a context manager). Every method runs in its own short transaction; :meth:`record_run` writes a
    whole run in one."""

    url: str
    """The ledger's URL with any password masked: safe to print."""

    def __init__(self, engine: Engine, url: str, *, sqlite_path: Path | None, pg_schema: str | None) -> None:
        self._engine = engine
        self.url = url
        self._sqlite_path = sqlite_path
        self._pg = engine.dialect.name == "postgresql"
        self._pg_schema = pg_schema
        self._memory_locks: dict[str, threading.Lock] = {}
        self._memory_locks_guard = threading.Lock()
        self._pg_holds: dict[tuple[int, str], tuple[Connection, int, str]] = {}
        self._exists = True
        self._empty: Engine | None = None
        self._deferred_holds: dict[str, Callable[[], None]] = {}
        self._checkpointer: threading.Thread | None = None
        self._closed = False

    # -- opening and closing ------------------------------------------------------------------------

    @classmethod
    def connect(cls, url: str | None = None, *, create: bool = True, upgrade: bool = True) -> Ledger:
        """Open (creating or migrating) the ledger at ``url``; None → env ``COSELL_LEDGER``, else
        ``sqlite:///cosell.db`` in the working folder. A bad URL raises ConfigError; a server that cannot
        be reached or refuses the credentials raises UnreachableError naming the masked URL.

        With ``create=False`` a ledger that does not exist yet is not created on open: reads answer as
        for an empty ledger (:attr:`exists` is False), and the SQLite file, its lock files or the tables
        appear with the first write. A run refused for its program or input so leaves nothing behind.

        With ``upgrade=False`` a ledger of an older schema version is refused (ConfigError) instead of
        migrated: for commands that must leave the ledger as they found it (``cosell compare``)."""
        raw = url or os.environ.get("COSELL_LEDGER") or DEFAULT_URL
        parsed = _parse_url(raw)
        masked = _mask_url(parsed)
        backend = parsed.get_backend_name()
        sqlite_path: Path | None = None
        engine: Engine
        if backend == "sqlite":
            db = parsed.database or ""
            memory = db in ("", ":memory:") or parsed.query.get("mode") == "memory"
            if not memory and not db.startswith("file:"):
                sqlite_path = Path(db).expanduser().absolute()
                if not sqlite_path.parent.is_dir():
                    raise ConfigError(
                        f"cannot open the ledger at {masked}: folder {sqlite_path.parent} does not exist"
                    )
                # Absolute, so that a later chdir cannot point new pool connections at another file.
                parsed = parsed.set(database=str(sqlite_path))
                masked = _mask_url(parsed)
            engine = _sqlite_engine(parsed, memory=memory)
        else:
            engine = _postgres_engine(parsed)
        ledger = cls(engine, masked, sqlite_path=sqlite_path, pg_schema=None)
        try:
            if not create and sqlite_path is not None and not sqlite_path.exists():
                ledger._exists = False  # opening would create the file: wait for the first write
            else:
                ledger._first_contact()
                ledger._open_schema(create, upgrade)
        except BaseException:
            engine.dispose()
            raise
        return ledger

    @classmethod
    def open_existing(cls, url: str | None = None) -> Ledger:
        """The ledger for a command that reads or changes what runs stored: never created. ConfigError
        (exit 2) when there is no ledger at ``url`` yet."""
        ledger = cls.connect(url, create=False)
        if not ledger.exists:
            ledger.close()
            raise ConfigError(
                f"there is no ledger at {ledger.url} yet", hint="run `cosell run` first, or give --ledger"
            )
        return ledger

    def close(self) -> None:
        self._wait_for_checkpoint()
        self._closed = True
        self._engine.dispose()
        if self._empty is not None:
            self._empty.dispose()

    def _connect(self, engine: Engine | None = None) -> Connection:
        """A connection of ``engine`` (the ledger's own by default). Refused once the ledger is closed: a
        connection taken then would belong to no pool :meth:`close` empties, and stay open until garbage
        collected."""
        self._refuse_if_closed()
        return (engine or self._engine).connect()

    def _refuse_if_closed(self) -> None:
        if self._closed:
            raise RuntimeError(f"the ledger at {self.url} is closed")

    @property
    def exists(self) -> bool:
        """False while a ledger opened with ``create=False`` has nothing stored (no file, no tables)."""
        return self._exists

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Ledger({self.url!r})"

    def _first_contact(self) -> None:
        delays = list(CONNECT_RETRY_DELAYS)
        while True:
            try:
                with self._connect() as conn:
                    if self._pg:
                        self._pg_schema = conn.execute(sa.text("SELECT current_schema()")).scalar_one()
                        if self._pg_schema is None:
                            path = conn.execute(sa.text("SHOW search_path")).scalar_one()
                            raise ConfigError(
                                f"the ledger at {self.url}: no schema of its search_path ({path}) exists",
                                hint="create it first (CREATE SCHEMA name;), or fix search_path in the URL",
                            )
                return
            except DBAPIError as exc:
                if not self._pg:  # not a database file, permissions, ...: retrying will not help
                    problem = _environment_problem(exc)
                    if problem is not None:
                        raise ConfigError(f"the ledger at {self.url} {problem[0]}", hint=problem[1]) from None
                    reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
                    raise ConfigError(f"cannot open the ledger at {self.url}: {reason}") from None
                refused = _credentials_refused(exc)
                if refused or not delays:
                    raise self._unreachable(exc) from None
                time.sleep(delays.pop(0))

    def _unreachable(self, exc: DBAPIError) -> UnreachableError:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else type(exc).__name__
        for secret in _secrets_of(self._engine.url):
            reason = reason.replace(secret, "***")
        return UnreachableError(
            f"cannot reach the ledger at {self.url}: {reason}",
            hint="check that the database server is running and the URL and credentials are right",
        )

    # -- transactions --------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except DBAPIError as exc:
            if _is_connection_problem(exc, postgres=self._pg):
                raise self._unreachable(exc) from None
            problem = _environment_problem(exc)
            if problem is not None:
                raise ConfigError(f"the ledger at {self.url} {problem[0]}", hint=problem[1]) from None
            raise

    @contextlib.contextmanager
    def _read(self, *, stored: bool = False) -> Iterator[Connection]:
        """A read transaction: every query in it sees the ledger as of one moment (SQLite's transactions
        do; on PostgreSQL, whose default lets each statement see what committed before it, the read is
        REPEATABLE READ). ``stored`` reads the database even before the ledger exists in it."""
        self._refuse_if_closed()  # before making the in-memory engine a ledger not created yet reads
        engine = self._engine if self._exists or stored else self._empty_engine()
        with self._guard(), self._connect(engine) as conn:
            if conn.dialect.name == "postgresql":
                conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    def _empty_engine(self) -> Engine:
        # A ledger not created yet answers reads as an empty one: the current schema in memory.
        if self._empty is None:
            self._empty = sa.create_engine(
                "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
            )
            with self._empty.begin() as conn:
                metadata.create_all(conn)
                conn.execute(schema_table.insert().values(id=1, version=schema_version()))
                conn.execute(generation_table.insert().values(id=1, value=0))
        return self._empty

    def _create(self) -> None:
        """Create the ledger (file, tables) on its first write, then take the period locks that
        :meth:`hold_period` deferred until there was a file to lock."""
        if self._sqlite_path is not None and not self._sqlite_path.parent.is_dir():
            raise ConfigError(
                f"cannot create the ledger at {self.url}: folder {self._sqlite_path.parent} does not exist"
            )
        self._first_contact()
        self._migrate()
        self._exists = True
        for take in list(self._deferred_holds.values()):
            take()

    @contextlib.contextmanager
    def _write(self, *, serial: bool = False, bulk: bool = False) -> Iterator[Connection]:
        """A write transaction: BEGIN IMMEDIATE on SQLite (takes the write lock up front, so it waits for
        another writer instead of failing half-way, and so serialises every writer). On PostgreSQL,
        ``serial`` takes a transaction-scoped advisory lock, so that the checks of record_run and
        close_period (closed? older than the latest?) cannot race another process's run.

        ``bulk``: the transaction writes many rows (a run's lines, its outbox marked done). On a SQLite
        file its commit does not copy them from the write-ahead log into the database file as well (an
        automatic checkpoint, seconds for a million rows, while the run waits): a thread of its own
        copies them after the commit, while the run goes on (see :meth:`_checkpoint_in_background`)."""
        if not self._exists:
            self._create()
        deferred = bulk and self._sqlite_path is not None
        with self._transaction(serial=serial, checkpoint=not deferred) as conn:
            yield conn
        if deferred:
            self._checkpoint_in_background()

    @contextlib.contextmanager
    def _transaction(self, *, serial: bool, checkpoint: bool = True) -> Iterator[Connection]:
        with self._guard(), self._connect() as conn:
            conn.execution_options(cosell_write=True)
            driver = None if checkpoint else conn.connection.driver_connection
            if driver is not None:
                driver.execute("PRAGMA wal_autocheckpoint=0")  # this connection's commits only
            try:
                with conn.begin():
                    if self._pg and serial:
                        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(self._pg_key("ledger"))))
                    yield conn
            finally:
                if driver is not None:
                    with contextlib.suppress(sqlite3.Error):  # a broken connection leaves the pool anyway
                        driver.execute(f"PRAGMA wal_autocheckpoint={SQLITE_AUTOCHECKPOINT_PAGES}")

    def _checkpoint_in_background(self) -> None:
        """Copy what the write-ahead log holds into the SQLite file, in a thread: SQLite does the work
        without Python's lock, so the run's next steps go on meanwhile. A passive checkpoint waits for
        no one (what a reader still reads stays in the log for a later checkpoint), and nothing is at
        stake in it: every commit is in the log already, and the next checkpoint (at the latest, the
        one SQLite makes when the last connection closes) copies whatever this one did not."""
        self._wait_for_checkpoint()
        assert self._sqlite_path is not None
        self._checkpointer = threading.Thread(
            target=_checkpoint, args=(self._sqlite_path,), name="cosell-ledger-checkpoint", daemon=True
        )
        self._checkpointer.start()

    def _wait_for_checkpoint(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.join()
            self._checkpointer = None

    def _pg_key(self, name: str) -> int:
        digest = hashlib.blake2b(f"cosell:{self._pg_schema}:{name}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big", signed=True)

    # -- schema --------------------------------------------------------------------------------------

    def _open_schema(self, create: bool, upgrade: bool = True) -> None:
        with self._read(stored=True) as conn:
            version = self._checked_version(conn)
        if version == 0 and not create:
            self._exists = False  # tables appear with the first write
            return
        if 0 < version < schema_version() and not upgrade:
            raise ConfigError(
                f"the ledger at {self.url} has schema version {version}, older than this cosell's "
                f"({schema_version()}), and this command changes nothing in it",
                hint="any command that stores (cosell run, cosell sync) upgrades it first",
            )
        self._migrate()

    def _checked_version(self, conn: Connection) -> int:
        try:
            version = _stored_version(conn)
        except _BadVersion as exc:
            raise ConfigError(
                f"the ledger at {self.url} holds schema version {exc.args[0]!r} in cosell_schema, not a "
                "number: it was not written by cosell, or it is damaged",
                hint="restore it from a backup, or point --ledger at another database",
            ) from None
        if version == 0:
            foreign = [t.name for t in metadata.sorted_tables if sa.inspect(conn).has_table(t.name)]
            if foreign:
                self._refuse_foreign(foreign)
        self._refuse_newer(version)
        return version

    def _refuse_foreign(self, names: Sequence[str]) -> None:
        raise ConfigError(
            f"the database at {self.url} has tables cosell did not create ({', '.join(sorted(names))}) "
            "and no cosell schema version",
            hint="point --ledger at another database, or another PostgreSQL schema (search_path)",
        )

    def _migrate(self) -> None:
        with self._read(stored=True) as conn:
            version = self._checked_version(conn)
        if version == schema_version():
            return
        with self._transaction(serial=True) as conn:
            version = self._checked_version(conn)  # another process may have migrated meanwhile
            for target, migrate in MIGRATIONS:
                if target <= version:
                    continue
                migrate(conn)
                if version == 0:
                    conn.execute(schema_table.insert().values(id=1, version=target))
                else:
                    conn.execute(schema_table.update().values(version=target))
                version = target

    def _refuse_newer(self, version: int) -> None:
        if version > schema_version():
            raise ConfigError(
                f"the ledger at {self.url} has schema version {version}, newer than this cosell knows "
                f"({schema_version()})",
                hint="upgrade cosell, or point --ledger at another database",
            )

    # -- periods -------------------------------------------------------------------------------------

    def period_kind(self) -> PeriodKind | None:
        """The kind of period this ledger holds (quarters or months), None while it holds none."""
        with self._read() as conn:
            return _period_kind(conn)

    def period_status(self, period: str) -> Literal["open", "closed"] | None:
        """``open`` or ``closed``; None for a period with no run, or whose results were discarded."""
        with self._read() as conn:
            if _discarded_at(conn, period) is not None:
                return None
            return _period_status(conn, period)

    def latest_period_with_lines(self) -> str | None:
        """The latest period a run has been recorded in (its lines, standings and projections; a period
        whose run produced no line counts too: its account fields were written all the same)."""
        with self._read() as conn:
            return _latest_period(conn)

    def closed_periods(self) -> frozenset[str]:
        with self._read() as conn:
            return _closed_periods(conn)

    def periods(self) -> list[tuple[str, str]]:
        """(period, status) of every period with a recorded run whose results are kept, oldest first."""
        p = periods_table
        with self._read() as conn:
            rows = conn.execute(
                sa.select(p.c.period, p.c.status).where(p.c.discarded_at.is_(None)).order_by(p.c.starts_on)
            ).all()
        return [(r.period, r.status) for r in rows]

    def check_writable(self) -> None:
        """Raise ConfigError when a run could not store its results here (a read-only file or folder, a
        read-only server such as a standby), so that it is refused before computing. Writes nothing."""
        path = self._sqlite_path
        if path is not None:
            for item in (path, path.parent) if path.exists() else (path.parent,):
                # Write bits too, not only access(): root may write anything, but a file marked
                # read-only says it is not to be written.
                if not os.access(item, os.W_OK) or not item.stat().st_mode & 0o222:
                    what = "file" if item == path else "folder"
                    raise ConfigError(
                        f"the ledger at {self.url} is read-only: its {what} {item} is not writable",
                        hint="make it writable, or point --ledger at another file",
                    )
        if self._pg:
            with self._guard(), self._connect() as conn:
                read_only = conn.execute(sa.text("SELECT current_setting('transaction_read_only')")).scalar()
            if read_only == "on":
                raise ConfigError(
                    f"the ledger at {self.url} is read-only (a standby server, or "
                    "default_transaction_read_only is on)",
                    hint="point --ledger at the primary server, with a role that may write",
                )
        if not self._exists:
            return
        # A write that changes nothing, rolled back: the server (or SQLite) says whether it may write.
        with self._guard(), self._connect() as conn:
            conn.execution_options(cosell_write=True)
            transaction = conn.begin()
            try:
                conn.execute(generation_table.update().values(value=generation_table.c.value))
            finally:
                transaction.rollback()

    def generation(self) -> int:
        """The ledger's generation: bumped by every change to lines, standings or period status. Read it
        before :meth:`history` and give it to :meth:`record_run`, which stores only if it has not moved."""
        with self._read() as conn:
            return _generation(conn)

    def check_runnable(self, period: Period) -> None:
        """Raise PeriodError when ``period`` may not be run: the ledger holds the other kind of period,
        the period is closed, or it is older than the latest period with lines."""
        with self._read() as conn:
            _check_runnable(conn, period)

    def check_currency(self, currency: str, running: str | None = None) -> None:
        """Raise ConfigError when a period the ledger keeps was run in another program currency: its
        lines are amounts in that currency, which a run in ``currency`` would read as its own (a
        clawback would take back 100 USD as 100 EUR). The period being run (``running``) does not count:
        its lines are replaced."""
        sr, p = statement_runs_table, periods_table
        with self._read() as conn:
            rows = conn.execute(
                sa.select(sr.c.period, sr.c.data)
                .join(p, p.c.period == sr.c.period)
                .where(p.c.discarded_at.is_(None))
                .order_by(p.c.starts_on)
            ).all()
        for row in rows:
            kept = json.loads(row.data).get("currency")
            if kept is not None and kept != currency and row.period != running:
                raise ConfigError(
                    f"the program's currency is {currency}, but this ledger's lines of {row.period} are in "
                    f"{kept}: a ledger keeps one currency",
                    hint=(
                        f"run the program in {kept}, or use another ledger for a program in {currency} "
                        f"(or, while {row.period} is open and the latest, discard it: cosell discard)"
                    ),
                )

    def closed_at(self, period: str) -> str | None:
        """When ``period`` was closed (UTC, ISO 8601, as ``cosell_periods.closed_at`` holds it), or None
        while it is open or has no run."""
        p = periods_table
        with self._read() as conn:
            row = conn.execute(sa.select(p.c.status, p.c.closed_at).where(p.c.period == period)).first()
        return None if row is None or row.status != "closed" else str(row.closed_at)

    def close_period(
        self, period: Period, *, even_if_unsent: bool = False, wait_seconds: float = 10.0
    ) -> str | None:
        """Close ``period``: it is never rewritten again. Idempotent; PeriodError when it has no run, or
        when its latest run did not finish writing back (its unsent writes could never be sent after:
        a closed period is not run again) unless ``even_if_unsent``. Holds the period's lock as a run
        does, so a run of the period cannot store or write back meanwhile. Returns what was left unsent
        when ``even_if_unsent`` closed it anyway, else None."""
        again = f"run cosell close --period {period.key}"
        with self.hold_period(period.key, wait_seconds, again), self._write(serial=True) as conn:
            status = _period_status(conn, period.key)
            if status is None:
                raise PeriodError(f"period {period.key} has no run in this ledger: nothing to close")
            discarded = _discarded_at(conn, period.key)
            if discarded is not None:
                raise PeriodError(
                    f"period {period.key}: its results were discarded on {discarded[:10]}: nothing to close",
                    hint=f"run {period.key} again first",
                )
            if status == "closed":
                return None
            still = [i for i, paid in _withdrawn_still_paid(conn) if paid == period.key]
            if still:
                raise PeriodError(
                    f"period {period.key}: its latest run still pays {named(still)}, withdrawn since: "
                    "closed, it would pay it for good",
                    hint=f"run {period.key} again first: the rerun no longer pays it",
                )
            unsent = _unfinished_write_back(conn, period.key)
            if unsent is not None and not even_if_unsent:
                raise PeriodError(
                    f"period {period.key}: {unsent}",
                    hint=(
                        f"run {period.key} again first (it resends what is unsent), or close it anyway "
                        "with --even-if-unsent"
                    ),
                )
            conn.execute(
                periods_table.update()
                .where(periods_table.c.period == period.key)
                .values(status="closed", closed_at=_utc_now())
            )
            _bump_generation(conn)
            return unsent

    # -- one run at a time ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def hold_period(self, period: str, wait_seconds: float = 10.0, again: str = "run") -> Iterator[None]:
        """Hold ``period`` for one run; a second holder (any process) waits up to ``wait_seconds``, then
        gets LockHeldError, whose hint says to ``again`` again once the other holder is done (the command
        the user runs again: ``run``, or e.g. ``run cosell close --period 2026-Q3``). The lock dies with
        the process that holds it."""
        key = _period_key(period)
        with self._hold(
            key, f"period:{key}", wait_seconds, lambda holder: self._held(key, holder, again), f"period {key}"
        ):
            yield

    @contextlib.contextmanager
    def hold_target(self, target: str, wait_seconds: float = 10.0) -> Iterator[None]:
        """Hold the write-back to ``target`` (an outbox target: an output folder, a CRM org), from planning
        a run's writes against what it holds to sending them. Runs of two periods may overlap, but their
        write-backs to one target may not: the later one would plan against values the earlier one is
        about to overwrite, and each would send the other's rows. (What another run wrote after this one
        read the target is read again from the target: :meth:`outbox_mark`.) As :meth:`hold_period`
        otherwise."""
        token = "target-" + hashlib.sha256(target.encode()).hexdigest()[:16]

        def held(holder: str) -> LockHeldError:
            return LockHeldError(
                f"another run is writing back to {target}{holder}",
                hint="wait for it to finish, then run again",
            )

        with self._hold(token, token, wait_seconds, held, f"the write-back to {target}"):
            yield

    @contextlib.contextmanager
    def _hold(
        self,
        token: str,
        pg_name: str,
        wait_seconds: float,
        held: Callable[[str], LockHeldError],
        what: str,
    ) -> Iterator[None]:
        """A lock named ``token`` (a file beside a SQLite ledger, ``pg_name``'s advisory lock on PostgreSQL);
        ``what`` names what it holds, for :meth:`confirm_held`."""
        if self._pg:
            with self._hold_postgres(pg_name, wait_seconds, held, what):
                yield
        elif self._sqlite_path is not None and not self._exists:
            # No file to lock beside yet: the lock is taken when the first write creates the ledger
            # (a run refused before storing anything leaves no file). Two first runs racing are then
            # told apart by the generation record_run checks.
            with contextlib.ExitStack() as stack:
                self._deferred_holds[token] = lambda: stack.enter_context(
                    self._hold_file(token, wait_seconds, held)
                )
                try:
                    yield
                finally:
                    self._deferred_holds.pop(token, None)
        elif self._sqlite_path is not None:
            with self._hold_file(token, wait_seconds, held):
                yield
        else:
            with self._hold_memory(token, wait_seconds, held):
                yield

    def _held(self, period: str, holder: str = "", again: str = "run") -> LockHeldError:
        return LockHeldError(
            f"another run holds period {period}{holder}",
            hint=f"wait for it to finish, then {again} again",
        )

    @contextlib.contextmanager
    def _hold_postgres(
        self, name: str, wait_seconds: float, held: Callable[[str], LockHeldError], what: str
    ) -> Iterator[None]:
        # A session advisory lock on a dedicated connection: PostgreSQL drops it when that session ends,
        # including when the process holding it is killed, and also when the server closes the session
        # (idle_session_timeout, pg_terminate_backend): :meth:`confirm_held` asks that connection again.
        lock_key = self._pg_key(name)
        hold = (threading.get_ident(), name)
        deadline = time.monotonic() + wait_seconds
        with self._guard(), self._connect() as conn:
            while True:
                got = conn.execute(sa.select(sa.func.pg_try_advisory_lock(lock_key))).scalar_one()
                if got:  # the session says whose it is, for a waiter's message (pg_stat_activity)
                    conn.execute(sa.select(sa.func.set_config("application_name", _PG_HOLDER, False)))
                conn.commit()
                if got:
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise held(_pg_holder_of(conn, lock_key))
                time.sleep(min(_LOCK_POLL_SECONDS, remaining))
            self._pg_holds[hold] = (conn, lock_key, what)
            try:
                yield
            finally:
                self._pg_holds.pop(hold, None)
                try:
                    conn.execute(sa.select(sa.func.pg_advisory_unlock(lock_key)))
                    conn.commit()
                except (DBAPIError, sa.exc.InvalidRequestError):
                    conn.invalidate()  # closing the session releases the lock all the same

    def confirm_held(self, consequence: str = "nothing more is sent") -> None:
        """That the locks this thread holds (:meth:`hold_period`, :meth:`hold_target`) are held still;
        LockHeldError (exit 5) saying ``consequence`` when one is gone. Only a PostgreSQL lock can be
        lost while its holder runs: it lives in a session, which the server may close (an
        idle_session_timeout, pg_terminate_backend, a pooler), and another run may then take it. Asking
        also keeps the session from going idle during a write-back."""
        me = threading.get_ident()
        for (thread, _), (conn, lock_key, what) in list(self._pg_holds.items()):
            if thread != me:
                continue
            try:
                still = conn.execute(
                    _HOLDS_LOCK, {"hi": (lock_key >> 32) & 0xFFFFFFFF, "lo": lock_key & 0xFFFFFFFF}
                )
                found = still.scalar_one()
                conn.commit()
            except DBAPIError:
                found = 0
                with contextlib.suppress(DBAPIError, sa.exc.InvalidRequestError):
                    conn.rollback()
            if not found:
                raise LockHeldError(
                    f"the ledger's lock on {what} was lost (the database closed the session): {consequence}",
                    hint="run again; a PostgreSQL ledger needs a session the server keeps open for the whole "
                    "run (no idle_session_timeout shorter than a run, no transaction-pooling PgBouncer)",
                )

    def confirm_pending(self, target: str, ids: Sequence[int]) -> None:
        """That the outbox rows ``ids`` are all pending still; LockHeldError (exit 5) when another run
        superseded (or sent) some of them meanwhile: its writes are the ones to land, not these."""
        if not ids:
            return
        o = outbox_table
        found = 0
        with self._read() as conn:
            for chunk in _chunks(_id_ranges(ids), 200):
                found += conn.execute(
                    sa.select(sa.func.count()).where(
                        o.c.status == "pending", sa.or_(*(o.c.id.between(low, high) for low, high in chunk))
                    )
                ).scalar_one()
        if found != _distinct_count(ids):
            raise LockHeldError(
                f"another run stored writes for {target} while this one was sending them (this run's "
                "pending writes were superseded): nothing more is sent",
                hint="the later run's writes are the ones to land: let it finish, then run again to check",
            )

    @contextlib.contextmanager
    def _hold_file(
        self, token: str, wait_seconds: float, held: Callable[[str], LockHeldError]
    ) -> Iterator[None]:
        # flock on '<db>.<token>.lock': the kernel drops it when the process dies. The file is left in
        # place (removing it would let two processes lock two different files of the same name).
        import fcntl

        assert self._sqlite_path is not None
        # Named after the real file: a symlink (or another spelling of the path) to the same ledger
        # must take the same lock.
        real = self._sqlite_path.resolve()
        path = real.with_name(f"{real.name}.{token}.lock")
        deadline = time.monotonic() + wait_seconds
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise held(_holder_of(path)) from None
                    time.sleep(min(_LOCK_POLL_SECONDS, remaining))
            try:
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def _hold_memory(
        self, token: str, wait_seconds: float, held: Callable[[str], LockHeldError]
    ) -> Iterator[None]:
        with self._memory_locks_guard:
            lock = self._memory_locks.setdefault(token, threading.Lock())
        if not lock.acquire(timeout=max(wait_seconds, 0.0)):
            raise held("")
        try:
            yield
        finally:
            lock.release()

    # -- history -------------------------------------------------------------------------------------

    def history(
        self, before: Period, allowed: Callable[[ApprovedAdjustment | TierException], bool] | None = None
    ) -> History:
        """What rules may look back at before ``before``: the periods strictly before it, closed periods,
        due adjustments and tier exceptions in force. Tier records and payout lines are read when a
        rule first asks for them, each question in one query for every partner (docs/decisions.md,
        "History answers questions"); a question asked after another run or a close changed the ledger
        raises LockHeldError, so that every answer is what reading all at once would have given.

        ``allowed`` says of each due adjustment and tier exception in force whether the run may use it
        (its program's governance would have approved it: ``cosell.governance.ApprovalCheck``); the
        history holds only those. A period that can no longer be run holds what its run used."""
        p = periods_table
        with self._read() as conn:
            earlier = tuple(
                conn.execute(
                    sa.select(p.c.period).where(p.c.starts_on < before.start).order_by(p.c.starts_on)
                )
                .scalars()
                .all()
            )
            closed = _closed_periods(conn)
            adjustments = _due_adjustments(conn, before)
            exceptions = _tier_exceptions_in_force(conn, before)
            if _settled(conn, before, closed):
                # A period that can no longer be run (`cosell explain` of it): what its run had, not
                # what was approved since (paid, or in force, in a later period)
                adjustments = _applied_in(conn, before, adjustments)
                exceptions = _tier_exceptions_applied(conn, before)
            elif allowed is not None:
                adjustments = tuple(a for a in adjustments if allowed(a))
                exceptions = tuple(e for e in exceptions if allowed(e))
            crm_tiers = _crm_tiers(conn)
            generation = _generation(conn)
        if not earlier:  # nothing to look back at: no later read
            return History(
                closed_periods=closed,
                adjustments=adjustments,
                tier_exceptions=exceptions,
                crm_tiers=crm_tiers,
            )
        return _LedgerHistory(self, before, earlier, generation, closed, adjustments, exceptions, crm_tiers)

    @contextlib.contextmanager
    def _history_read(self, before: Period, generation: int) -> Iterator[Connection]:
        """A read for a history made at ``generation``; LockHeldError when the ledger has moved since."""
        with self._read() as conn, gc_paused():
            yield conn
            # Read after the answer: a generation unchanged now was unchanged when the answer was read.
            if _generation(conn) != generation:
                raise _ledger_moved(conn, before)

    # -- a run ---------------------------------------------------------------------------------------

    def record_run(
        self,
        *,
        period: Period,
        program: str,
        connector: str,
        target: str,
        lines: Sequence[PayoutLine],
        standings: Sequence[PartnerStanding],
        projections: Sequence[Projection],
        writes: Sequence[FieldWrite],
        generation: int | None = None,
        statement: tuple[str, Mapping[str, str]] | None = None,
        adjustments: Sequence[int] = (),
        provenance: RunProvenance | None = None,
        tier_exceptions: Sequence[int] | None = None,
        started_at: datetime | None = None,
        reopened: Sequence[Refusal] = (),
        crm_tiers: Mapping[str, str | None] | None = None,
    ) -> int:
        """Store one run of ``period`` in one transaction: its lines, standings and projections replace the
        period's previous ones, and ``writes`` become pending outbox rows that supersede the target's older
        pending rows. Returns the run id. PeriodError when the period may not be run.

        ``generation`` is what :meth:`generation` said before the run read its history: when another run
        or a close has changed the ledger since, nothing is stored and LockHeldError (exit 5) says so.

        ``statement`` is what the run records for its statements: (program-wide JSON text, partner id →
        JSON text), as ``cosell.statements.facts`` makes them; the ledger keeps the text as it is.

        ``adjustments`` are the ids of the approved adjustments the lines pay: they become ``applied`` to
        the period in this same transaction (one this period's earlier run paid and this one does not goes
        back to ``approved``).

        ``provenance`` is what the run computed with (program text, versions, records digest, earnings):
        kept in ``cosell_run_records`` for ``cosell runs``.

        ``tier_exceptions`` are the ids of the tier exceptions the run's history held (``History``):
        the explain of the period, once it can no longer be run, applies exactly those. ``started_at`` is
        when the run started, before it read its history (None: now).

        ``reopened`` are the approvals the run's program's governance would not have given (the run
        neither paid nor applied them): each adjustment or tier exception still approved goes back to
        ``pending``, with a ``reopened`` event naming the run and why, for an approver to decide again.

        ``crm_tiers`` are the partners' tier fields as the run read them (partner id → text, None when
        empty): those of partners with none recorded yet are recorded, the others left as first read."""
        key = period.key
        self.confirm_held("nothing stored")
        with self._write(serial=True, bulk=True) as conn:
            if generation is not None and _generation(conn) != generation:
                raise _ledger_moved(conn, period)
            _check_runnable(conn, period)
            _bump_generation(conn)
            if _period_status(conn, key) is None:
                conn.execute(
                    periods_table.insert().values(
                        period=key, kind=period.kind, starts_on=period.start, status="open", closed_at=None
                    )
                )
            else:  # a period whose results were discarded holds results again
                conn.execute(
                    periods_table.update().where(periods_table.c.period == key).values(discarded_at=None)
                )
            inserted = conn.execute(
                runs_table.insert().values(
                    period=key,
                    program=program,
                    connector=connector,
                    target=target,
                    status="computed",
                    started_at=_utc_now() if started_at is None else _utc_text(started_at),
                    tier_exceptions=None
                    if tier_exceptions is None
                    else json.dumps(sorted(set(tier_exceptions))),
                )
            ).inserted_primary_key
            assert inserted is not None
            run_id = int(inserted[0])
            if provenance is not None:
                conn.execute(run_records_table.insert().values(run_id=run_id, **_provenance_row(provenance)))
                if provenance.variant_text is not None:
                    conn.execute(
                        run_variants_table.insert().values(
                            run_id=run_id,
                            source=provenance.variant_source or "",
                            text=provenance.variant_text,
                            sha256=provenance.variant_sha256 or "",
                        )
                    )
            for table in (
                lines_table,
                standings_table,
                projections_table,
                statement_runs_table,
                statement_partners_table,
            ):
                conn.execute(table.delete().where(table.c.period == key))
            _apply_adjustments(conn, key, run_id, adjustments)
            _reopen(conn, run_id, reopened)
            # The period and the run id, the same in every row, are bound once a statement (``fixed``).
            fixed = {"period": key, "run_id": run_id}
            if statement is not None:
                run_data, partner_data = statement
                conn.execute(statement_runs_table.insert().values(period=key, run_id=run_id, data=run_data))
                self._bulk_insert(conn, statement_partners_table, sorted(partner_data.items()), fixed=fixed)
            self._bulk_insert(
                conn,
                lines_table,
                (
                    (
                        seq,
                        ln.partner_id,
                        ln.kind,
                        ln.deal_id,
                        to_cents(ln.amount),
                        ln.explanation,
                        ln.withheld,
                        ln.uncapped,
                        _tags_text(ln.tags),
                    )
                    for seq, ln in enumerate(lines)
                ),
                fixed=fixed,
            )
            self._bulk_insert(
                conn,
                standings_table,
                (
                    (
                        seq,
                        st.partner_id,
                        str(st.score.value),
                        st.tier.eligible,
                        st.tier.assigned,
                        st.tier.reason,
                        _metrics_text(st.metrics),
                        st.name,
                    )
                    for seq, st in enumerate(standings)
                ),
                fixed=fixed,
            )
            if crm_tiers:
                self._record_crm_tiers(conn, key, run_id, crm_tiers)
            self._bulk_insert(
                conn,
                projections_table,
                (
                    (seq, p.partner_id, p.deal_id, to_cents(p.amount), p.explanation, p.withheld)
                    for seq, p in enumerate(projections)
                ),
                fixed=fixed,
            )
            conn.execute(
                outbox_table.update()
                .where(outbox_table.c.target == target, outbox_table.c.status == "pending")
                .values(status="superseded")
            )
            # The old values of records the target does not hold yet are one shared mapping per set of
            # fields (None each): written once as text, not once a write.
            shared_text = _values_text_once()
            self._bulk_insert(
                conn,
                outbox_table,
                ((w.object, w.record_id, _values_text(w.values), shared_text(w.old)) for w in writes),
                skip=("id",),
                fixed={"run_id": run_id, "target": target, "status": "pending", "error": None},
            )
        return int(run_id)

    def _record_crm_tiers(
        self, conn: Connection, period: str, run_id: int, crm_tiers: Mapping[str, str | None]
    ) -> None:
        """Record the tier fields of the partners the ledger has none for (the first run to read them)."""
        ct = crm_tiers_table
        known = {row[0] for row in _raw_rows(conn.execute(sa.select(ct.c.partner_id)))}
        self._bulk_insert(
            conn,
            ct,
            ((pid, tier, period, run_id) for pid, tier in sorted(crm_tiers.items()) if pid not in known),
        )

    def crm_tiers(self) -> Mapping[str, str | None]:
        """Each partner's tier field as the first stored run that read it found it (None: empty), by
        partner id; a partner no stored run has read is not in it."""
        with self._read() as conn:
            return _crm_tiers(conn)

    def finish_run(self, run_id: int, status: str, summary: Mapping[str, Any] | None = None) -> None:
        """Record how a run ended (``done``, ``failed``, ``finished_with_failures``, ...) and its summary
        (JSON; Decimal values are kept exact)."""
        with self._write() as conn:
            result = conn.execute(
                runs_table.update()
                .where(runs_table.c.id == run_id)
                .values(
                    status=status,
                    finished_at=_utc_now(),
                    summary=None if summary is None else encode_json(dict(summary)),
                )
            )
            if result.rowcount == 0:
                raise ValueError(f"no run {run_id} in the ledger")

    def mark_interrupted_runs(self, held: str) -> list[int]:
        """Mark ``interrupted`` the runs left ``computed`` by a process that died before finishing: those
        of ``held`` (the period the caller holds) and of every period whose lock nobody holds now.
        Returns their ids."""
        r = runs_table
        with self._read() as conn:
            periods = set(conn.execute(sa.select(r.c.period).where(r.c.status == "computed")).scalars())
        marked: list[int] = []
        for period in sorted(periods):
            if period == held:
                marked += self._mark_interrupted(period)
                continue
            try:
                with self.hold_period(period, wait_seconds=0):
                    marked += self._mark_interrupted(period)
            except LockHeldError:
                continue  # its run is still going
        return marked

    def _mark_interrupted(self, period: str) -> list[int]:
        r = runs_table
        with self._write() as conn:
            query = sa.select(r.c.id).where(r.c.period == period, r.c.status == "computed")
            ids = list(conn.execute(query).scalars())
            conn.execute(r.update().where(r.c.id.in_(ids)).values(status="interrupted"))
        return ids

    def run(self, run_id: int) -> dict[str, Any] | None:
        """A run's row (id, period, program, connector, target, status, started_at, finished_at, summary)."""
        with self._read() as conn:
            row = conn.execute(sa.select(runs_table).where(runs_table.c.id == run_id)).first()
        if row is None:
            return None
        out = dict(row._mapping)
        out["summary"] = None if out["summary"] is None else decode_json(out["summary"])
        return out

    # -- adjustments ---------------------------------------------------------------------------------

    def propose_adjustment(
        self,
        *,
        partner_id: str,
        amount: Decimal,
        reason: str,
        by: str,
        period: Period | None = None,
        deal_id: str | None = None,
        approvers: Sequence[str] | None = None,
        threshold: Decimal | None = None,
    ) -> StoredAdjustment:
        """Store a proposed adjustment (``pending``). ``approvers`` is the program's list of who may approve
        it (kept with it); when ``threshold`` is given and ``|amount|`` is at or below it, the program
        approves it at once, unless with the partner's other adjustments the threshold approved and not
        yet paid for good (:meth:`threshold_outstanding`) it would move more than the threshold. PeriodError
        when ``period`` is of the other kind than the ledger's periods."""
        now = _utc_now()
        with self._write() as conn:
            kind = _period_kind(conn)
            if period is not None and kind is not None and kind != period.kind:
                raise PeriodError(
                    f"--period {period.key} is a {period.kind}, but this ledger holds {kind}s",
                    hint=f"name a {kind}",
                )
            automatic = (
                threshold is not None
                and abs(amount) <= threshold
                and over_threshold(partner_id, _threshold_outstanding(conn, partner_id), amount, threshold)
                is None
            )
            inserted = conn.execute(
                adjustments_table.insert().values(
                    partner_id=partner_id,
                    amount_cents=to_cents(amount),
                    reason=reason,
                    period=None if period is None else period.key,
                    deal_id=deal_id,
                    state="approved" if automatic else "pending",
                    proposed_by=by,
                    proposed_at=now,
                    approvers=None if approvers is None else json.dumps(list(approvers)),
                    decided_at=now if automatic else None,
                )
            ).inserted_primary_key
            assert inserted is not None
            adjustment_id = int(inserted[0])
            _adjustment_event(conn, adjustment_id, "proposed", by, now, reason)
            if automatic:
                assert threshold is not None
                why = f"at or below the program's require_approval_over of {show(threshold)}"
                _adjustment_event(conn, adjustment_id, "approved", None, now, why)
            return _stored_adjustment(conn, adjustment_id)

    def approve_adjustment(
        self,
        adjustment_id: int,
        *,
        by: str,
        approvers: Sequence[str] | None = None,
        governed: bool = False,
    ) -> StoredAdjustment:
        """Approve a pending adjustment. ConfigError (nothing changes) when it is not pending, when ``by``
        proposed it, or when ``by`` is not among the approvers: ``approvers`` when given (the program's
        list now), else the list kept from its proposal. With ``governed``, ``approvers`` is the list of
        the program the ledger pays under (:meth:`governing_run`), None meaning it names none."""
        with self._write() as conn:
            _approve(conn, _ADJUSTMENTS, adjustment_id, by, approvers, governed)
            return _stored_adjustment(conn, adjustment_id)

    def threshold_outstanding(self, partner_id: str, before: int | None = None) -> list[tuple[int, Decimal]]:
        """The (id, amount) of the adjustments of ``partner_id`` a program's threshold approved that are not
        paid for good yet: approved, or paid in a period that can still be run (open and the latest).
        With ``before``, only those of a lower id."""
        with self._read() as conn:
            found = _threshold_outstanding(conn, partner_id)
        return [(i, amount) for i, amount in found if before is None or i < before]

    def withdraw_adjustment(
        self,
        adjustment_id: int,
        *,
        by: str,
        reason: str,
        approvers: Sequence[str] | None = None,
        governed: bool = False,
    ) -> StoredAdjustment:
        """Withdraw an approved adjustment not yet paid for good: it pays nothing from now on. Decided as
        an approval is (never by its proposer; only by one of ``approvers``, under the rules of
        :meth:`approve_adjustment`). ConfigError when it is not approved nor applied; PeriodError when it
        was paid in a period that can no longer be run (closed, or older than the latest). One paid in
        the open latest period keeps its ``applied_period`` until that period's next run no longer pays it."""
        with self._write() as conn:
            row = _decidable(conn, _ADJUSTMENTS, adjustment_id, ("approved", "applied"), "withdraw")
            _check_decider(_ADJUSTMENTS, row, by, approvers, governed, "withdraw")
            if row.state == "applied" and _settled(
                conn, Period.parse(row.applied_period), _closed_periods(conn)
            ):
                raise PeriodError(
                    f"adjustment {adjustment_id} was paid in {row.applied_period} (run {row.applied_run}), which "
                    f"{_cannot_run_again(conn, row.applied_period)}: it is not withdrawn",
                    hint="propose a counter-adjustment (cosell adjust propose with the opposite amount)",
                )
            _withdraw(conn, _ADJUSTMENTS, adjustment_id, by, reason)
            return _stored_adjustment(conn, adjustment_id)

    def reject_adjustment(self, adjustment_id: int, *, by: str, reason: str) -> StoredAdjustment:
        """Reject a pending adjustment: it never pays. ConfigError when it is not pending."""
        with self._write() as conn:
            _reject(conn, _ADJUSTMENTS, adjustment_id, by, reason)
            return _stored_adjustment(conn, adjustment_id)

    def adjustments(self, state: str | None = None) -> list[StoredAdjustment]:
        """Every adjustment (in one state, if given), oldest first."""
        a = adjustments_table
        query = sa.select(a.c.id).order_by(a.c.id)
        if state is not None:
            query = query.where(a.c.state == state)
        with self._read() as conn:
            return [_stored_adjustment(conn, i) for i in conn.execute(query).scalars()]

    def never_applied(self, period: Period) -> tuple[str, ...]:
        """What a run of ``period`` says of approved adjustments and tier exceptions that name a period of
        the other kind (approved before the ledger held a period, so nothing refused them): no run of
        ``period``'s kind pays such an adjustment or applies such an exception. One sentence each; an
        exception only while its last period is not over before ``period`` starts."""
        a, t = adjustments_table, tier_exceptions_table
        with self._read() as conn:
            adjustments = conn.execute(
                sa.select(a.c.id, a.c.period)
                .where(a.c.state == "approved", a.c.period.is_not(None))
                .order_by(a.c.id)
            ).all()
            exceptions = conn.execute(
                sa.select(t.c.id, t.c.until).where(t.c.state == "approved").order_by(t.c.id)
            ).all()
        kind = period.kind
        said = [
            f"adjustment {r.id} names {r.period}, a {named.kind}, but this ledger runs {kind}s: no run pays "
            f"it; propose it again for a {kind}"
            for r in adjustments
            if (named := Period.parse(r.period)).kind != kind
        ]
        said += [
            f"tier exception {r.id} runs until {r.until}, a {until.kind}, but this ledger runs {kind}s: it "
            f"never applies; propose it again until a {kind}"
            for r in exceptions
            if (until := Period.parse(r.until)).kind != kind and until.end >= period.start
        ]
        return tuple(said)

    def withdrawn_notes(self, period: Period) -> tuple[str, ...]:
        """What a run of ``period`` says of the withdrawn adjustments its earlier run paid: it no longer
        pays them."""
        a = adjustments_table
        with self._read() as conn:
            rows = conn.execute(
                sa.select(a.c.id, a.c.decision_reason)
                .where(a.c.state == "withdrawn", a.c.applied_period == period.key)
                .order_by(a.c.id)
            ).all()
            events = {
                r.id: [e for e in _events(conn, _ADJUSTMENTS, r.id) if e.action == "withdrawn"][-1]
                for r in rows
            }
        return tuple(
            f"adjustment {r.id} was withdrawn by {events[r.id].actor} ({events[r.id].reason}): this run no "
            f"longer pays it; the period's previous run did"
            for r in rows
        )

    def adjustment_events(self, adjustment_id: int) -> list[AdjustmentEvent]:
        """An adjustment's state changes, oldest first."""
        with self._read() as conn:
            return _events(conn, _ADJUSTMENTS, adjustment_id)

    # -- tier exceptions (cosell tier-override): approved as adjustments are ---------------------------

    def propose_tier_exception(
        self,
        *,
        partner_id: str,
        tier: str,
        until: Period,
        reason: str,
        by: str,
        approvers: Sequence[str] | None = None,
    ) -> StoredTierException:
        """Store a proposed tier exception (``pending``): ``partner_id`` is to hold at least ``tier``
        through ``until``. PeriodError when ``until`` is of the other kind than the ledger's periods or
        before its latest period run (the exception would never apply)."""
        now = _utc_now()
        with self._write() as conn:
            kind = _period_kind(conn)
            if kind is not None and kind != until.kind:
                raise PeriodError(
                    f"--until {until.key} is a {until.kind}, but this ledger holds {kind}s",
                    hint=f"name a {kind}",
                )
            _check_applies(conn, until, "--until")
            inserted = conn.execute(
                tier_exceptions_table.insert().values(
                    partner_id=partner_id,
                    tier=tier,
                    until=until.key,
                    reason=reason,
                    state="pending",
                    proposed_by=by,
                    proposed_at=now,
                    approvers=None if approvers is None else json.dumps(list(approvers)),
                )
            ).inserted_primary_key
            assert inserted is not None
            exception_id = int(inserted[0])
            _event(conn, _TIER_EXCEPTIONS, exception_id, "proposed", by, now, reason)
            return _stored_tier_exception(conn, exception_id)

    def approve_tier_exception(
        self,
        exception_id: int,
        *,
        by: str,
        approvers: Sequence[str] | None = None,
        governed: bool = False,
    ) -> StoredTierException:
        """Approve a pending tier exception, under the rules of :meth:`approve_adjustment` (never by its
        proposer; only by one of ``approvers``, else of the list kept from its proposal)."""
        with self._write() as conn:
            until = conn.execute(
                sa.select(tier_exceptions_table.c.until).where(tier_exceptions_table.c.id == exception_id)
            ).scalar_one_or_none()
            if until is not None:  # (an unknown id: _approve says so)
                _check_applies(conn, Period.parse(until), f"tier exception {exception_id}: its last period")
            _approve(conn, _TIER_EXCEPTIONS, exception_id, by, approvers, governed)
            return _stored_tier_exception(conn, exception_id)

    def withdraw_tier_exception(
        self,
        exception_id: int,
        *,
        by: str,
        reason: str,
        approvers: Sequence[str] | None = None,
        governed: bool = False,
    ) -> StoredTierException:
        """Withdraw a pending or approved tier exception that no period which can no longer be run (closed,
        or older than the latest) applied: no run applies it from now on. Decided as an approval is (never
        by its proposer; only by one of ``approvers``). ConfigError when it is rejected or withdrawn;
        PeriodError when such a period applied it."""
        with self._write() as conn:
            row = _decidable(conn, _TIER_EXCEPTIONS, exception_id, ("pending", "approved"), "withdraw")
            _check_decider(_TIER_EXCEPTIONS, row, by, approvers, governed, "withdraw")
            applied = _settled_applying(conn, exception_id)
            if applied is not None:
                raise PeriodError(
                    f"tier exception {exception_id} was applied in {applied}, which "
                    f"{_cannot_run_again(conn, applied)}: it is not withdrawn",
                    hint="it ends by itself after its last period; an adjustment corrects what it paid",
                )
            _withdraw(conn, _TIER_EXCEPTIONS, exception_id, by, reason)
            return _stored_tier_exception(conn, exception_id)

    def reject_tier_exception(self, exception_id: int, *, by: str, reason: str) -> StoredTierException:
        """Reject a pending tier exception: it never applies. ConfigError when it is not pending."""
        with self._write() as conn:
            _reject(conn, _TIER_EXCEPTIONS, exception_id, by, reason)
            return _stored_tier_exception(conn, exception_id)

    def tier_exceptions(
        self, state: str | None = None, partner_id: str | None = None
    ) -> list[StoredTierException]:
        """Every tier exception (in one state, of one partner, if given), oldest first."""
        t = tier_exceptions_table
        query = sa.select(t.c.id).order_by(t.c.id)
        if state is not None:
            query = query.where(t.c.state == state)
        if partner_id is not None:
            query = query.where(t.c.partner_id == partner_id)
        with self._read() as conn:
            return [_stored_tier_exception(conn, i) for i in conn.execute(query).scalars()]

    def tier_exception_events(self, exception_id: int) -> list[AdjustmentEvent]:
        """A tier exception's state changes, oldest first."""
        with self._read() as conn:
            return _events(conn, _TIER_EXCEPTIONS, exception_id)

    # -- run records and discards (version 5) --------------------------------------------------------

    def runs(self, period: str | None = None) -> list[StoredRun]:
        """Every recorded run (of ``period``, if given), oldest first, each with what it computed with
        (``provenance`` None for a run recorded before version 5)."""
        query = _runs_query()
        if period is not None:
            query = query.where(runs_table.c.period == period)
        with self._read() as conn:
            return [_stored_run(row) for row in conn.execute(query)]

    def stored_run(self, run_id: int) -> StoredRun | None:
        """One run with what it computed with; None when the ledger has no such run."""
        with self._read() as conn:
            row = conn.execute(_runs_query().where(runs_table.c.id == run_id)).first()
        return None if row is None else _stored_run(row)

    def latest_run(self, period: str) -> StoredRun | None:
        """The run whose results the period holds (its latest); None when it holds none (never run, or
        discarded)."""
        r = runs_table
        with self._read() as conn:
            if _period_status(conn, period) is None or _discarded_at(conn, period) is not None:
                return None
            run_id = conn.execute(sa.select(sa.func.max(r.c.id)).where(r.c.period == period)).scalar()
        return None if run_id is None else self.stored_run(int(run_id))

    def governing_run(self) -> StoredRun | None:
        """The latest run that recorded the program it computed with: the program the ledger pays under,
        whose governance approves adjustments and tier exceptions (docs/governance.md). None before any
        run recorded its program."""
        with self._read() as conn:
            run_id = conn.execute(sa.select(sa.func.max(run_records_table.c.run_id))).scalar()
        return None if run_id is None else self.stored_run(int(run_id))

    def program_digests(self) -> dict[int, str | None]:
        """Run id → the sha256 of the program it computed with (None: recorded before version 5)."""
        r, rec = runs_table, run_records_table
        with self._read() as conn:
            rows = conn.execute(
                sa.select(r.c.id, rec.c.program_sha256).select_from(r.outerjoin(rec, rec.c.run_id == r.c.id))
            ).all()
        return {int(row.id): row.program_sha256 for row in rows}

    def discard_period(
        self, period: Period, *, by: str, reason: str, wait_seconds: float = 10.0
    ) -> StoredDiscard:
        """Remove the results (lines, standings, projections, statement data) of ``period``, which must be
        open and the ledger's latest period, holding the period's lock as a run does. The period's pending
        outbox rows become ``superseded``; the adjustments its run paid go back to ``approved``. What was
        removed is kept in ``cosell_discards``. PeriodError when the period may not be discarded."""
        key = period.key
        again = f"run cosell discard --period {key}"
        with self.hold_period(key, wait_seconds, again), self._write(serial=True) as conn:
            _check_discardable(conn, key)
            now = _utc_now()
            r, li, o, a = runs_table, lines_table, outbox_table, adjustments_table
            run_ids = list(
                conn.execute(sa.select(r.c.id).where(r.c.period == key).order_by(r.c.id)).scalars()
            )
            high, low = _cents_sum(li.c.amount_cents)
            partners = {
                row.partner_id: (int(row.lines), _cents_total(row.high, row.low))
                for row in conn.execute(
                    sa.select(
                        li.c.partner_id,
                        sa.func.count().label("lines"),
                        high.label("high"),
                        low.label("low"),
                    )
                    .where(li.c.period == key)
                    .group_by(li.c.partner_id)
                    .order_by(li.c.partner_id)
                )
            }
            for table in (
                lines_table,
                standings_table,
                projections_table,
                statement_runs_table,
                statement_partners_table,
            ):
                conn.execute(table.delete().where(table.c.period == key))
            superseded = 0
            for chunk in _chunks(run_ids, 500):
                superseded += conn.execute(
                    o.update()
                    .where(o.c.run_id.in_(chunk), o.c.status == "pending")
                    .values(status="superseded")
                ).rowcount
            latest_run = run_ids[-1] if run_ids else None
            unapplied = list(
                conn.execute(
                    sa.select(a.c.id)
                    .where(a.c.state == "applied", a.c.applied_period == key)
                    .order_by(a.c.id)
                ).scalars()
            )
            for withdrawn, paid in _withdrawn_still_paid(conn):
                if paid == key:  # its line is gone with the period's lines
                    conn.execute(
                        a.update().where(a.c.id == withdrawn).values(applied_period=None, applied_run=None)
                    )
                    why = f"withdrawn, and the results of {key} were discarded: {reason}"
                    _adjustment_event(conn, withdrawn, "unapplied", by, now, why, latest_run)
            for adjustment_id in unapplied:
                conn.execute(
                    a.update()
                    .where(a.c.id == adjustment_id)
                    .values(state="approved", applied_period=None, applied_run=None)
                )
                why = f"the results of {key} were discarded: {reason}"
                _adjustment_event(conn, adjustment_id, "unapplied", by, now, why, latest_run)
            conn.execute(periods_table.update().where(periods_table.c.period == key).values(discarded_at=now))
            _bump_generation(conn)
            inserted = conn.execute(
                discards_table.insert().values(
                    period=key,
                    run_id=latest_run,
                    discarded_by=by,
                    discarded_at=now,
                    reason=reason,
                    line_count=sum(count for count, _ in partners.values()),
                    partners=json.dumps({pid: list(v) for pid, v in partners.items()}, separators=(",", ":")),
                    superseded_writes=superseded,
                    unapplied=json.dumps(unapplied),
                )
            ).inserted_primary_key
            assert inserted is not None
            return _stored_discards(conn, int(inserted[0]))[0]

    def discards(self) -> list[StoredDiscard]:
        """Every discard, oldest first."""
        with self._read() as conn:
            return _stored_discards(conn)

    # -- the write-back outbox -----------------------------------------------------------------------

    def pending_writes(
        self, target: str, stored: tuple[int, Sequence[FieldWrite]] | None = None
    ) -> list[OutboxItem]:
        """The writes planned for ``target`` and not yet confirmed, oldest first.

        ``stored`` is a run's id and the writes it just stored (``record_run``): when the target's
        pending rows are exactly that run's, all of them, their items hold those writes rather than
        their rows' JSON read back (a run writing back a million records reads only their ids)."""
        o = outbox_table
        with self._read() as conn:
            if stored is not None:
                run_id, writes = stored
                ids = _stored_ids(conn, target, run_id, len(writes))
                if ids is not None:
                    return [
                        OutboxItem(row_id, run_id, target, "pending", write, None)
                        for row_id, write in zip(ids, writes, strict=True)
                    ]
            rows = conn.execute(
                sa.select(o).where(o.c.target == target, o.c.status == "pending").order_by(o.c.id)
            ).all()
        return _outbox_items(rows)

    def outbox_mark(self, target: str) -> int:
        """Where ``target``'s outbox stands: the id of its oldest row not sent yet, or the id the next row
        will take. A run notes it before reading the target; rows from it on are writes the read may not
        have seen land (see :meth:`keys_written_since`)."""
        o = outbox_table
        with self._read() as conn:
            oldest = conn.execute(
                sa.select(sa.func.min(o.c.id)).where(o.c.target == target, o.c.status == "pending")
            ).scalar()
            if oldest is not None:
                return int(oldest)
            last = conn.execute(sa.select(sa.func.max(o.c.id)).where(o.c.target == target)).scalar()
        return 0 if last is None else int(last) + 1

    def keys_written_since(self, target: str, mark: int) -> set[RecordKey]:
        """The records of ``target``'s outbox rows from ``mark`` on that were sent or are still to be
        (any run's): what another run wrote back while this one read the target may not be in what it
        read. Refused and superseded rows changed nothing."""
        o = outbox_table
        with self._read() as conn:
            rows = conn.execute(
                sa.select(o.c.object, o.c.record_id)
                .where(o.c.target == target, o.c.id >= mark, o.c.status.in_(("pending", "done")))
                .distinct()
            ).all()
        return {(str(row.object), str(row.record_id)) for row in rows}

    def planned_account_ids(self, target: str) -> set[str]:
        """The ids of every account an outbox row for ``target`` names, whatever became of the row (one
        left pending or superseded may have landed before its run was killed): the accounts cosell may
        have written there."""
        o = outbox_table
        with self._read() as conn:
            return _first_column(
                conn.execute(
                    sa.select(o.c.record_id).where(o.c.target == target, o.c.object == _ACCOUNT).distinct()
                )
            )

    def projected_deal_ids(self, period: str) -> set[str]:
        """The deals ``period``'s results project (Projected or Withheld): the deals whose projection
        its latest run planned, read from its projections, not from the outbox's deal rows."""
        pr = projections_table
        query = sa.select(pr.c.deal_id).where(pr.c.period == period)
        # Plain rows, each deal once by the set (a run's open deals, 400,000 say): SELECT DISTINCT costs SQLite
        # a temporary b-tree, 2.5 × the read at 190,000 rows
        with self._read() as conn:
            return _first_column(conn.execute(query))

    def paid_deal_ids(self, period: str, kinds: Collection[str]) -> set[str]:
        """The deals ``period``'s stored lines of ``kinds`` name (the index on kind and period answers it
        alone): before a rerun of the period, the deals its previous run paid."""
        li = lines_table
        if not kinds:
            return set()
        query = sa.select(li.c.deal_id).where(
            li.c.kind.in_(sorted(kinds)), li.c.period == period, li.c.deal_id.is_not(None)
        )
        with self._read() as conn:
            return _first_column(conn.execute(query))

    def unconfirmed_deal_ids(self, target: str) -> set[str]:
        """The deals ``target``'s latest run planned writes for that the target did not confirm (refused,
        or left pending by a run that stopped before it finished); none when that run finished without
        a failure, the common case, which costs one look at the runs."""
        return set(self.unconfirmed_deals(target))

    def unconfirmed_deals(self, target: str) -> dict[str, bool]:
        """``unconfirmed_deal_ids``, each told whether its unconfirmed write cleared every field it
        wrote (a deal the run meant to clear, Earned included: the next run clears it still, though its
        lines no longer name the deal). Reads the values of the latest run's unconfirmed deal rows only,
        and none when that run finished without a failure."""
        r, o = runs_table, outbox_table
        with self._read() as conn:
            latest = conn.execute(
                sa.select(r.c.id, r.c.status).where(r.c.target == target).order_by(r.c.id.desc()).limit(1)
            ).first()
            if latest is None or latest.status == "done":
                return {}
            rows = conn.execute(
                sa.select(o.c.record_id, o.c.field_values)
                .where(
                    o.c.target == target,
                    o.c.status.in_(("pending", "failed")),  # served by (target, status, id)
                    o.c.run_id == latest.id,
                    o.c.object == "deal",
                )
                .order_by(o.c.id)  # a deal's last row tells
            )
            return {
                str(rid): all(value is None for value in orjson.loads(text).values())
                for rid, text in _raw_rows(rows)
            }

    def discarded_deal_ids(self, target: str, period: str) -> set[str]:
        """The deals whose fields on ``target`` may show results of ``period`` that ``cosell discard``
        removed, while no run of the period has stored since: every deal an outbox row of the period's
        runs names that the target did not refuse (sent, or left pending or superseded: such a row may
        have landed). The lines and projections that would say what those runs paid and projected are
        gone with the discard; the period's next run treats these deals as the previous run of an open
        period paid them. Empty, at the cost of one look at the period, unless its results are
        discarded."""
        r, o = runs_table, outbox_table
        with self._read() as conn:
            if _discarded_at(conn, period) is None:
                return set()
            runs = sa.select(r.c.id).where(r.c.period == period, r.c.target == target).scalar_subquery()
            rows = conn.execute(
                sa.select(o.c.record_id)
                .where(
                    o.c.target == target,
                    o.c.object == "deal",
                    o.c.run_id.in_(runs),
                    o.c.status.in_(("pending", "done", "superseded")),
                )
                .distinct()
            )
            return {str(row[0]) for row in _raw_rows(rows)}

    def pending_ids(
        self, target: str, stored: tuple[int, Sequence[FieldWrite]] | None = None
    ) -> tuple[Sequence[int], Sequence[FieldWrite]]:
        """``pending_writes`` as the rows' ids and their writes, in the same order: what sending them
        needs. A run's own writes (``stored``), pending all of them, come back as given with their ids as
        a range: no item is built per write."""
        if stored is not None:
            run_id, writes = stored
            with self._read() as conn:
                ids = _stored_ids(conn, target, run_id, len(writes))
            if ids is not None:
                return ids, writes
        items = self.pending_writes(target)
        return [item.id for item in items], [item.write for item in items]

    def mark_written(self, ids: Sequence[int]) -> None:
        """The target confirmed these writes: status ``done``. Ids that follow one another (a run's
        rows are numbered in a row) are marked by range, a few statements for a million writes."""
        if not ids:
            return
        with self._write(bulk=len(ids) >= _BULK_ROWS) as conn:
            _mark_done(conn, ids)

    @contextlib.contextmanager
    def marking_written(self, ids: Sequence[int]) -> Iterator[Callable[[], bool]]:
        """Mark ``ids`` written while the block sends them, in a transaction that commits only when the
        block calls the function it is given, once the target confirmed every write. The marking is
        the database's own work (on SQLite, seconds for a million rows, made without Python's lock):
        in a thread of its own, it goes on beside the sending. The function returns True once the
        rows are marked; False when they were not (a row another run superseded meanwhile, say): the
        caller then marks them with :meth:`mark_written`, which leaves such rows alone. A block that ends
        without calling it, or by an exception, rolls the marking back: the rows stay pending.

        Meant for a target written at once in a few seconds (an output folder): the transaction holds
        the ledger's write lock for as long as the block sends."""
        decided = threading.Event()
        confirmed = marked = False
        # As :meth:`_write` does for a bulk transaction, the commit leaves copying the rows into the
        # SQLite file to a thread of its own.
        deferred = len(ids) >= _BULK_ROWS and self._sqlite_path is not None

        def mark() -> None:
            nonlocal marked
            try:
                with self._transaction(serial=False, checkpoint=not deferred) as conn:
                    count = _mark_done(conn, ids)
                    decided.wait()
                    if not confirmed or count != _distinct_count(ids):
                        raise _Undone  # rolls the transaction back
                marked = True
            except Exception:  # _Undone, or the database's error, which mark_written meets again
                pass

        thread = threading.Thread(target=mark, name="cosell-ledger-mark", daemon=True)
        thread.start()

        def commit() -> bool:
            nonlocal confirmed
            confirmed = True
            decided.set()
            thread.join()
            return marked

        try:
            yield commit
        finally:
            decided.set()
            thread.join()
            if marked and deferred:
                self._checkpoint_in_background()

    def mark_failed(self, failures: Mapping[int, str]) -> None:
        """The target refused these writes: status ``failed``, with the target's error text."""
        if not failures:
            return
        stmt = (
            outbox_table.update()
            .where(outbox_table.c.id == sa.bindparam("b_id"), outbox_table.c.status == "pending")
            .values(status="failed", error=sa.bindparam("b_error"))
        )
        with self._write() as conn:
            for chunk in _chunks(failures.items()):
                conn.execute(stmt, [{"b_id": i, "b_error": e} for i, e in chunk])

    def outbox(self, run_id: int | None = None) -> list[OutboxItem]:
        """Every outbox row (or a run's), in the order they were planned."""
        o = outbox_table
        query = sa.select(o).order_by(o.c.id)
        if run_id is not None:
            query = query.where(o.c.run_id == run_id)
        with self._read() as conn:
            rows = conn.execute(query).all()
        return _outbox_items(rows)

    # -- reading results back ------------------------------------------------------------------------

    def lines(self, period: str, partner_id: str | None = None) -> list[LedgerLine]:
        """A period's payout lines (one partner's, if given), in stored order."""
        li = lines_table
        query = sa.select(*_line_columns()).where(li.c.period == period)
        if partner_id is not None:
            query = query.where(li.c.partner_id == partner_id)
        with self._read() as conn:
            return list(_LineBuilder().read(conn.execute(query.order_by(li.c.seq))))

    def has_standing(self, period: str, partner_id: str) -> bool:
        """Whether the run of ``period`` stored a standing (score, tier) for ``partner_id``."""
        s = standings_table
        query = sa.select(s.c.partner_id).where(s.c.period == period, s.c.partner_id == partner_id).limit(1)
        with self._read() as conn:
            return conn.execute(query).first() is not None

    def standings(self, period: str) -> list[StoredStanding]:
        s = standings_table
        with self._read() as conn:
            rows = conn.execute(sa.select(s).where(s.c.period == period).order_by(s.c.seq)).all()
        return [
            StoredStanding(
                period=r.period,
                partner_id=r.partner_id,
                score=Decimal(r.score),
                eligible=r.eligible,
                assigned=r.assigned,
                metrics=_metrics_of(r.metrics),
                reason=r.reason,
                name=r.partner_name,
            )
            for r in rows
        ]

    def statement_data(
        self, period: str, partner_ids: Collection[str] | None = None
    ) -> tuple[str, dict[str, str]] | None:
        """What the period's run recorded for its statements: (program-wide JSON text, partner id →
        JSON text), of the partners ``partner_ids`` only when given (those it recorded); None when the
        run stored none (it ran before schema version 3)."""
        sr, sp = statement_runs_table, statement_partners_table
        with self._read() as conn:
            run = conn.execute(sa.select(sr.c.data).where(sr.c.period == period)).scalar_one_or_none()
            if run is None:
                return None
            query = sa.select(sp.c.partner_id, sp.c.data).where(sp.c.period == period)
            if partner_ids is None:
                rows = conn.execute(query).all()
            else:
                rows = [
                    row
                    for chunk in _chunks(sorted(set(partner_ids)), 500)
                    for row in conn.execute(query.where(sp.c.partner_id.in_(chunk))).all()
                ]
        return run, {r.partner_id: r.data for r in rows}

    def projections(self, period: str) -> list[Projection]:
        pr = projections_table
        with self._read() as conn:
            rows = conn.execute(sa.select(pr).where(pr.c.period == period).order_by(pr.c.seq)).all()
        return [
            Projection(
                partner_id=r.partner_id,
                deal_id=r.deal_id,
                amount=_cents_to_decimal(r.amount_cents),
                explanation=r.explanation,
                withheld=bool(r.withheld),
            )
            for r in rows
        ]

    # -- statements over several periods -------------------------------------------------------------

    def statement_run_data(self, periods: Sequence[str]) -> dict[str, str]:
        """Period → the program-wide text its run recorded for its statements (the line kinds among
        it), for the periods that have one."""
        sr = statement_runs_table
        with self._read() as conn:
            rows = conn.execute(sa.select(sr.c.period, sr.c.data).where(sr.c.period.in_(list(periods)))).all()
        return {r.period: r.data for r in rows}

    # -- the program report (``cosell report``) -----------------------------------------------------

    def report_kind_totals(self, periods: Sequence[str]) -> list[tuple[str, str, int]]:
        """(period, kind, Σ cents) of the periods' lines, summed by the database."""
        ln = lines_table
        query = (
            sa.select(ln.c.period, ln.c.kind, *_cents_sum(ln.c.amount_cents))
            .where(ln.c.period.in_(list(periods)))
            .group_by(ln.c.period, ln.c.kind)
        )
        with self._read() as conn:
            return [(r[0], r[1], _cents_total(r[2], r[3])) for r in conn.execute(query)]

    def report_tier_counts(self, periods: Sequence[str]) -> list[tuple[str, str, int]]:
        """(period, assigned tier, partners) of the periods' standings, counted by the database."""
        st = standings_table
        query = (
            sa.select(st.c.period, st.c.assigned, sa.func.count())
            .where(st.c.period.in_(list(periods)))
            .group_by(st.c.period, st.c.assigned)
        )
        with self._read() as conn:
            return [(r[0], r[1], int(r[2])) for r in conn.execute(query)]

    def report_partner_kinds(self, period: str) -> list[tuple[str, str, int]]:
        """(partner id, kind, Σ cents) of the period's lines, summed by the database."""
        ln = lines_table
        query = (
            sa.select(ln.c.partner_id, ln.c.kind, *_cents_sum(ln.c.amount_cents))
            .where(ln.c.period == period)
            .group_by(ln.c.partner_id, ln.c.kind)
        )
        with self._read() as conn:
            return [(r[0], r[1], _cents_total(r[2], r[3])) for r in conn.execute(query)]

    def report_standings(self, period: str) -> list[tuple[str, str, str, str, str]]:
        """(partner id, partner name, score text, eligible tier, assigned tier) of the period's standings,
        in their order."""
        st = standings_table
        query = (
            sa.select(st.c.partner_id, st.c.partner_name, st.c.score, st.c.eligible, st.c.assigned)
            .where(st.c.period == period)
            .order_by(st.c.seq)
        )
        with self._read() as conn:
            return [(r[0], r[1], r[2], r[3], r[4]) for r in conn.execute(query)]

    # -- CRM snapshot and sync cursors ---------------------------------------------------------------

    def snapshot_upsert(
        self, connector: str, obj: str, records: Iterable[tuple[str, Mapping[str, Any]]]
    ) -> int:
        """Insert or replace records (id, payload) of ``connector``'s ``obj``; returns how many were given.
        Payloads are stored as JSON by :func:`encode_json` (Decimal, date and datetime values come back
        as such from :meth:`snapshot`)."""
        count = 0
        with self._write() as conn:
            if self._pg:
                # COPY into a scratch table, then one INSERT ... ON CONFLICT per chunk: an order of
                # magnitude faster than row-by-row executemany over the network.
                conn.exec_driver_sql(
                    'CREATE TEMPORARY TABLE cosell_snapshot_in (record_id text COLLATE "C", payload text) '
                    "ON COMMIT DROP"
                )
            for chunk in _chunks(records):
                # One id twice in a chunk: the last payload wins, as it would over two calls.
                rows = {rid: encode_json(payload) for rid, payload in chunk}
                count += len(chunk)
                if self._pg:
                    _copy(conn, "cosell_snapshot_in", ("record_id", "payload"), rows.items())
                    conn.execute(
                        sa.text(
                            "INSERT INTO cosell_snapshot (connector, object, record_id, payload) "
                            "SELECT :connector, :object, record_id, payload FROM cosell_snapshot_in "
                            "ON CONFLICT (connector, object, record_id) "
                            "DO UPDATE SET payload = EXCLUDED.payload"
                        ),
                        {"connector": connector, "object": obj},
                    )
                    conn.exec_driver_sql("TRUNCATE cosell_snapshot_in")
                else:
                    conn.exec_driver_sql(
                        "INSERT INTO cosell_snapshot (connector, object, record_id, payload) "
                        "VALUES (?, ?, ?, ?) ON CONFLICT (connector, object, record_id) "
                        "DO UPDATE SET payload = excluded.payload",
                        [(connector, obj, rid, payload) for rid, payload in rows.items()],
                    )
        return count

    def snapshot_delete(self, connector: str, obj: str, ids: Iterable[str]) -> int:
        """Remove records (deleted in the CRM); returns how many were there."""
        s = snapshot_table
        deleted = 0
        with self._write() as conn:
            for chunk in _chunks(ids, 500):
                result = conn.execute(
                    s.delete().where(s.c.connector == connector, s.c.object == obj, s.c.record_id.in_(chunk))
                )
                deleted += result.rowcount
        return deleted

    def snapshot(self, connector: str, obj: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every stored record of ``connector``'s ``obj``, ordered by id (byte-wise), read in pages."""
        for rid, payload in self.snapshot_texts(connector, obj):
            yield rid, decode_json(payload)

    def snapshot_texts(self, connector: str, obj: str) -> Iterator[tuple[str, str]]:
        """As :meth:`snapshot`, each payload as the JSON text it is stored as (:func:`encode_json`'s),
        not decoded: for comparing with what a read brings."""
        s = snapshot_table
        last: str | None = None
        while True:
            query = sa.select(s.c.record_id, s.c.payload).where(s.c.connector == connector, s.c.object == obj)
            if last is not None:
                query = query.where(s.c.record_id > last)
            with self._read() as conn:
                rows = conn.execute(query.order_by(s.c.record_id).limit(_CHUNK)).all()
            yield from rows
            if len(rows) < _CHUNK:
                return
            last = rows[-1][0]

    def snapshot_count(self, connector: str, obj: str) -> int:
        s = snapshot_table
        with self._read() as conn:
            query = sa.select(sa.func.count()).select_from(s)
            return int(conn.execute(query.where(s.c.connector == connector, s.c.object == obj)).scalar_one())

    def cursor(self, connector: str, stream: str) -> str | None:
        c = cursors_table
        with self._read() as conn:
            value = conn.execute(
                sa.select(c.c.value).where(c.c.connector == connector, c.c.stream == stream)
            ).scalar_one_or_none()
        return cast("str | None", value)

    def set_cursor(self, connector: str, stream: str, value: str) -> None:
        stmt = self._upsert(cursors_table, ["connector", "stream"], ["value"])
        with self._write() as conn:
            conn.execute(stmt, [{"connector": connector, "stream": stream, "value": value}])

    def state(self, connector: str, name: str) -> str | None:
        """A connector's own value (a Bulk job id, when the last full read was): kept in the cursors
        table beside the read positions, under names no stream takes (docs/ledger.md)."""
        return self.cursor(connector, name)

    def set_state(self, connector: str, name: str, value: str) -> None:
        self.set_cursor(connector, name, value)

    def snapshot_ids(self, connector: str, obj: str) -> set[str]:
        """The ids of every stored record of ``connector``'s ``obj`` (payloads are not read)."""
        s = snapshot_table
        with self._read() as conn:
            rows = conn.execute(sa.select(s.c.record_id).where(s.c.connector == connector, s.c.object == obj))
            return {str(rid) for (rid,) in rows}

    def _bulk_insert(
        self,
        conn: Connection,
        table: sa.Table,
        rows: Iterable[tuple[Any, ...]],
        skip: tuple[str, ...] = (),
        fixed: Mapping[str, Any] | None = None,
    ) -> None:
        """Insert plain tuples (in the table's column order, less ``skip`` and ``fixed``): COPY on
        PostgreSQL, multi-row INSERTs on SQLite. No per-row SQLAlchemy work: 1.5 M lines must go in
        within seconds. ``fixed`` holds the columns every row has the same value in (the period, the
        run id), by name: the rows leave them out."""
        fixed = fixed or {}
        columns = tuple(c.name for c in table.columns if c.name not in skip and c.name not in fixed)
        if self._pg:
            values = tuple(fixed.values())
            _copy(conn, table.name, (*fixed, *columns), ((*values, *row) for row in rows) if values else rows)
            return
        _sqlite_insert(conn, table.name, columns, rows, tuple(fixed.items()))

    def _upsert(self, table: sa.Table, keys: list[str], updated: list[str]) -> sa.Executable:
        if self._pg:
            pg_stmt = pg_dialect.insert(table)
            return pg_stmt.on_conflict_do_update(
                index_elements=keys, set_={c: pg_stmt.excluded[c] for c in updated}
            )
        lite_stmt = sqlite_dialect.insert(table)
        return lite_stmt.on_conflict_do_update(
            index_elements=keys, set_={c: lite_stmt.excluded[c] for c in updated}
        )


# ---------------------------------------------------------------------------------------------------
# The history a run reads, question by question
# ---------------------------------------------------------------------------------------------------


_Ordered = tuple[tuple[int, ...], tuple[LedgerLine, ...]]
_set = object.__setattr__  # History is a frozen dataclass: its own state is set past its __setattr__
"""A partner's lines of one kind with their places in the history (period rank, then stored order)."""


class _LedgerHistory(History):
    """:class:`History` answered from the ledger: each question reads, the first time it is asked, the
    answer for every partner in one query, kept for the rest of the run. ``tiers`` and ``lines`` (and the
    questions without a kind) read everything, as before version 7, for plugins that ask for it."""

    __slots__ = (
        "_all_lines",
        "_all_tiers",
        "_before",
        "_by_kind",
        "_first_seen",
        "_fx",
        "_generation",
        "_last",
        "_ledger",
        "_named",
        "_naming",
        "_on_deals",
        "_paid",
        "_periods",
        "_periods_with",
        "_rank",
        "_seen_periods",
        "_tagged",
    )
    _ledger: Ledger
    _before: Period
    _periods: tuple[str, ...]
    _rank: dict[str, int]
    _generation: int
    _all_lines: Mapping[str, tuple[LedgerLine, ...]] | None
    _all_tiers: Mapping[str, tuple[TierRecord, ...]] | None
    _by_kind: dict[str, dict[str, _Ordered]]
    _paid: dict[str, dict[str, frozenset[str]]]
    _periods_with: dict[frozenset[str], dict[str, frozenset[str]]]
    _tagged: dict[str, dict[str, tuple[LedgerLine, ...]]]
    _last: dict[int, dict[str, tuple[TierRecord, ...]]]
    _on_deals: dict[frozenset[str], Mapping[str, tuple[LedgerLine, ...]]]
    _naming: dict[frozenset[str], dict[str, tuple[LedgerLine, ...]]]
    _named: dict[str, frozenset[str]]
    _first_seen: dict[str, tuple[int, int]]
    _seen_periods: int
    _fx: Mapping[str, Mapping[str, Decimal]] | None

    def __init__(
        self,
        ledger: Ledger,
        before: Period,
        periods: tuple[str, ...],
        generation: int,
        closed_periods: frozenset[str],
        adjustments: tuple[ApprovedAdjustment, ...],
        tier_exceptions: tuple[TierException, ...],
        crm_tiers: Mapping[str, str | None],
    ) -> None:
        # The data fields ``tiers`` and ``lines`` are properties here; the others are set as History sets them.
        object.__setattr__(self, "closed_periods", closed_periods)
        object.__setattr__(self, "adjustments", adjustments)
        object.__setattr__(self, "tier_exceptions", tier_exceptions)
        object.__setattr__(self, "crm_tiers", crm_tiers)
        _set(self, "_ledger", ledger)
        _set(self, "_before", before)
        _set(self, "_periods", periods)
        _set(self, "_rank", {period: i for i, period in enumerate(periods)})
        _set(self, "_generation", generation)
        _set(self, "_all_lines", None)
        _set(self, "_all_tiers", None)
        _set(self, "_by_kind", {})
        _set(self, "_paid", {})
        _set(self, "_periods_with", {})
        _set(self, "_tagged", {})
        _set(self, "_last", {})
        _set(self, "_on_deals", {})
        _set(self, "_naming", {})
        _set(self, "_named", {})
        _set(self, "_first_seen", {})
        _set(self, "_seen_periods", 0)
        _set(self, "_fx", None)

    def __repr__(self) -> str:
        return f"<History before {self._before.key}: {len(self._periods)} period(s) in {self._ledger.url}>"

    def allowing(self, allowed: Callable[[ApprovedAdjustment | TierException], bool]) -> History:
        # The view reads the ledger at this history's generation and shares the answers kept per
        # question (they do not depend on the adjustments or tier exceptions): each is read once.
        view = object.__new__(_LedgerHistory)
        _set(view, "closed_periods", self.closed_periods)
        _set(view, "adjustments", tuple(a for a in self.adjustments if allowed(a)))
        _set(view, "tier_exceptions", tuple(e for e in self.tier_exceptions if allowed(e)))
        _set(view, "crm_tiers", self.crm_tiers)
        for name in _LedgerHistory.__slots__:
            _set(view, name, getattr(self, name))
        return view

    def _read(self) -> contextlib.AbstractContextManager[Connection]:
        return self._ledger._history_read(self._before, self._generation)

    @property
    def fx_rates(self) -> Mapping[str, Mapping[str, Decimal]]:
        if self._fx is None:
            sr = statement_runs_table
            found: dict[str, Mapping[str, Decimal]] = {}
            with self._read() as conn:
                for period, data in conn.execute(
                    sa.select(sr.c.period, sr.c.data).where(sr.c.period.in_(self._periods))
                ):
                    rates = _recorded_fx(data)
                    if rates is not None:
                        found[period] = rates
            _set(self, "_fx", MappingProxyType(found))
        assert self._fx is not None
        return self._fx

    # -- everything (what History held before version 7) ---------------------------------------------

    @property
    def tiers(self) -> Mapping[str, tuple[TierRecord, ...]]:
        if self._all_tiers is None:
            with self._read() as conn:
                read: Mapping[str, tuple[TierRecord, ...]] = MappingProxyType(
                    _tier_records(conn.execute(self._tiers_query()))
                )
            _set(self, "_all_tiers", read)
            return read
        return self._all_tiers

    def _tiers_query(self) -> sa.Select[Any]:
        """Every tier record of the history, in period order."""
        p, s = periods_table, standings_table
        return (
            sa.select(s.c.period, s.c.partner_id, s.c.score, s.c.eligible, s.c.assigned)
            .join(p, p.c.period == s.c.period)
            .where(s.c.period.in_(self._periods))
            .order_by(p.c.starts_on, s.c.seq)
        )

    @property
    def lines(self) -> Mapping[str, tuple[LedgerLine, ...]]:
        if self._all_lines is None:
            p, li = periods_table, lines_table
            lines: dict[str, list[LedgerLine]] = {}
            with self._read() as conn:
                result = conn.execute(
                    sa.select(*_line_columns())
                    .join(p, p.c.period == li.c.period)
                    .where(li.c.period.in_(self._periods))
                    .order_by(p.c.starts_on, li.c.seq)
                )
                for line in _LineBuilder().read(result):
                    lines.setdefault(line.partner_id, []).append(line)
            every: Mapping[str, tuple[LedgerLine, ...]] = MappingProxyType(
                {k: tuple(v) for k, v in lines.items()}
            )
            _set(self, "_all_lines", every)
            return every
        return self._all_lines

    # -- the questions --------------------------------------------------------------------------------

    def last_tiers(self, partner_id: str, n: int = 1) -> tuple[TierRecord, ...]:
        if n < 1:
            return ()
        if self._all_tiers is not None:
            return super().last_tiers(partner_id, n)
        latest = self._last.get(n)  # asked for every partner: one lookup once the answer is read
        if latest is None:
            # The latest records of a larger n hold these (and the latest of as many as the periods are
            # every record): kept under n too, never read twice
            most = min(n, len(self._periods))
            known = next((m for m in sorted(self._last) if m >= most), None)
            latest = self._read_last_tiers(most) if known is None else self._last[known]
            self._last[n] = latest
        return latest.get(partner_id, ())[-n:]

    def _read_last_tiers(self, n: int) -> dict[str, tuple[TierRecord, ...]]:
        if n >= len(self._periods):  # every record: read without ranking (the ranking costs 3 × the read)
            with self._read() as conn:
                return _tier_records(conn.execute(self._tiers_query()))
        p, s = periods_table, standings_table
        latest = (
            sa.func.row_number()
            .over(partition_by=s.c.partner_id, order_by=p.c.starts_on.desc())
            .label("latest")
        )
        ranked = (
            sa.select(
                s.c.period, s.c.partner_id, s.c.score, s.c.eligible, s.c.assigned, p.c.starts_on, latest
            )
            .join(p, p.c.period == s.c.period)
            .where(s.c.period.in_(self._periods))
            .subquery()
        )
        with self._read() as conn:
            result = conn.execute(
                sa.select(
                    ranked.c.period, ranked.c.partner_id, ranked.c.score, ranked.c.eligible, ranked.c.assigned
                )
                .where(ranked.c.latest <= n)
                .order_by(ranked.c.starts_on)
            )
            return _tier_records(result)

    def lines_of(
        self,
        partner_id: str,
        *,
        kinds: Collection[str] | None = None,
        deal_ids: Collection[str] | None = None,
    ) -> tuple[LedgerLine, ...]:
        if kinds is None or self._all_lines is not None:
            return super().lines_of(partner_id, kinds=kinds, deal_ids=deal_ids)
        wanted = _kind_set(kinds)
        self._load_kinds(wanted)
        found = [
            self._by_kind[kind][partner_id] for kind in sorted(wanted) if partner_id in self._by_kind[kind]
        ]
        if not found:
            return ()
        if len(found) == 1:
            lines = found[0][1]
        else:  # several kinds: back in history order
            lines = tuple(
                ln
                for _, ln in sorted(
                    ((k, ln) for keys, ls in found for k, ln in zip(keys, ls, strict=True)), key=_first
                )
            )
        return _only_deals(lines, deal_ids)

    def _load_kinds(self, kinds: frozenset[str]) -> None:
        missing = sorted(kinds - self._by_kind.keys())
        if not missing:
            return
        p, li = periods_table, lines_table
        builder = _LineBuilder()
        rank = self._rank
        lines: list[LedgerLine] = []
        places: list[int] = []
        kind_of: list[str] = []
        partner_of: list[str] = []
        with self._read() as conn:
            result = conn.execute(
                sa.select(li.c.seq, *_line_columns())
                .join(p, p.c.period == li.c.period)
                .where(li.c.kind.in_(missing), li.c.period.in_(self._periods))
                .order_by(p.c.starts_on, li.c.seq)
            )
            for page in _raw_pages(result):
                seqs, *columns = zip(*page, strict=True)
                read = builder.lines_of(columns)
                lines.extend(read)
                # Each line's place: its period's rank, then its stored order
                ranks = map(rank.__getitem__, columns[0])
                places.extend(map(operator.or_, map(operator.lshift, ranks, repeat(32)), seqs))
                partner_of.extend(columns[1])
                kind_of.extend(columns[2])
        # Each (kind, partner)'s lines in history order, a kind's partners in the order of their first line
        loaded: dict[str, dict[str, _Ordered]] = {kind: {} for kind in missing}
        for at, members in _groups(zip(kind_of, partner_of, strict=True)):
            group = list(members)
            loaded[kind_of[at]][partner_of[at]] = (
                tuple(map(places.__getitem__, group)),
                tuple(map(lines.__getitem__, group)),
            )
        self._by_kind.update(loaded)

    def periods_of(self, partner_id: str, kinds: Collection[str]) -> frozenset[str]:
        wanted = _kind_set(kinds)
        if self._all_lines is not None or wanted <= self._by_kind.keys():  # the lines are read already
            return super().periods_of(partner_id, wanted)
        found = self._periods_with.get(wanted)
        if found is None:
            # (partner, period) pairs alone, from the index on (kind, period, partner_id, deal_id): no
            # line is built (write-back asks it of the cap and budget kinds, for every partner paid on a
            # won deal before; reading those lines whole cost 0.3 s a period at 6,000 partners). Ordered by
            # partner, each partner's periods come together, and SQLite reads the pairs from that index
            # alone (unordered, it looked up the kind of every line of the periods: twice the time).
            li = lines_table
            with self._read() as conn:
                result = conn.execute(
                    sa.select(li.c.partner_id, li.c.period)
                    .where(li.c.kind.in_(sorted(wanted)), li.c.period.in_(self._periods))
                    .distinct()
                    .order_by(li.c.partner_id)
                )
                found = {
                    partner: frozenset(map(_second, pairs))
                    for partner, pairs in groupby(_raw_rows(result), _first_of_row)
                }
            self._periods_with[wanted] = found
        return found.get(partner_id, frozenset())

    def paid_deal_ids(self, partner_id: str, kind: str) -> frozenset[str]:
        if self._all_lines is not None or (kind in self._by_kind and kind not in self._paid):
            return super().paid_deal_ids(partner_id, kind)
        return self._paid_pairs(kind).get(partner_id, frozenset())

    def tagged_lines(self, partner_id: str, tag: str) -> tuple[LedgerLine, ...]:
        if self._all_lines is not None:
            return super().tagged_lines(partner_id, tag)
        if tag not in self._tagged:
            p, li = periods_table, lines_table
            found: dict[str, list[LedgerLine]] = {}
            # The JSON text of the tag within the stored list picks the candidates; each is then checked.
            text = _TAGS_JSON.encode(tag)
            with self._read() as conn:
                result = conn.execute(
                    sa.select(*_line_columns())
                    .join(p, p.c.period == li.c.period)
                    .where(
                        li.c.tags != _UNTAGGED,
                        li.c.period.in_(self._periods),
                        li.c.tags.contains(text, autoescape=True),
                    )
                    .order_by(p.c.starts_on, li.c.seq)
                )
                for line in _LineBuilder().read(result):
                    if tag in line.tags:
                        found.setdefault(line.partner_id, []).append(line)
            self._tagged[tag] = {k: tuple(v) for k, v in found.items()}
        return self._tagged[tag].get(partner_id, ())

    def lines_naming(
        self, deal_ids: Collection[str], kinds: Collection[str]
    ) -> Mapping[str, tuple[LedgerLine, ...]]:
        if self._all_lines is not None:
            return super().lines_naming(deal_ids, kinds)
        wanted, deals = _kind_set(kinds), _kind_set(deal_ids)
        known = self._naming.setdefault(wanted, {})  # deal → its lines (none: asked, no line names it)
        unread = set(deals - known.keys())
        for deal in [deal for deal in unread if not any(deal in self.named_deal_ids(k) for k in wanted)]:
            known[deal] = ()  # no line of the kinds names it: no partner's lines to look for
            unread.discard(deal)
        if unread:
            # Which partners a line of the kinds names the deals for, from the deals each kind paid each
            # partner (the question ``paid_deal_ids`` reads, once, for every partner); then only those
            # partners' lines on those deals, each found by the index on (kind, period, partner_id, deal_id).
            named: dict[str, set[str]] = {}
            for kind in sorted(wanted):
                for partner_id, paid in self._paid_pairs(kind).items():
                    if not paid.isdisjoint(unread):  # probes the few deals asked, builds nothing
                        named.setdefault(partner_id, set()).update(unread.intersection(paid))
            found: dict[str, list[LedgerLine]] = {}
            if named:
                p, li = periods_table, lines_table
                builder = _LineBuilder()
                on_deals = sorted({deal for on in named.values() for deal in on})
                with self._read() as conn:
                    for partners in _chunks(sorted(named), 200):
                        for chunk in _chunks(on_deals, 500):
                            result = conn.execute(
                                sa.select(*_line_columns())
                                .join(p, p.c.period == li.c.period)
                                .where(
                                    li.c.kind.in_(sorted(wanted)),
                                    li.c.period.in_(self._periods),
                                    li.c.partner_id.in_(partners),
                                    li.c.deal_id.in_(chunk),
                                )
                                .order_by(p.c.starts_on, li.c.seq)
                            )
                            for line in builder.read(result):
                                if line.deal_id in named[line.partner_id]:
                                    found.setdefault(line.deal_id, []).append(line)
            for lines in found.values():
                if len(lines) > 1:  # from several queries: in period order, then as stored
                    lines.sort(key=lambda ln: self._rank[ln.period])
            for deal in unread:
                known[deal] = tuple(found.get(deal, ()))
        return MappingProxyType({deal: known[deal] for deal in deals if known.get(deal)})

    def named_deal_ids(self, kind: str) -> frozenset[str]:
        named = self._named.get(kind)
        if named is None:  # the deals of every partner's lines of the kind: one set, once a run
            named = frozenset().union(*self._paid_pairs(kind).values())
            self._named[kind] = named
        return named

    def _paid_pairs(self, kind: str) -> Mapping[str, frozenset[str]]:
        """The deals the lines of ``kind`` name in earlier periods, by partner (``paid_deal_ids`` for
        every partner)."""
        if kind not in self._paid:
            if kind in self._by_kind:  # its lines are read already
                self._paid[kind] = {
                    pid: frozenset(ln.deal_id for ln in lines if ln.deal_id is not None)
                    for pid, (_, lines) in self._by_kind[kind].items()
                }
            else:
                li = lines_table
                paid: dict[str, set[str]] = {}
                with self._read() as conn:
                    result = conn.execute(
                        sa.select(li.c.partner_id, li.c.deal_id).where(
                            li.c.kind == kind, li.c.period.in_(self._periods), li.c.deal_id.is_not(None)
                        )
                    )
                    for partner, deal in _raw_rows(result):
                        paid.setdefault(partner, set()).add(deal)
                self._paid[kind] = {k: frozenset(v) for k, v in paid.items()}
        return self._paid[kind]

    def lines_on_deals(self, kinds: Collection[str]) -> Mapping[str, tuple[LedgerLine, ...]]:
        if self._all_lines is not None:
            return super().lines_on_deals(kinds)
        wanted = _kind_set(kinds)
        if wanted not in self._on_deals:
            self._load_kinds(wanted)
            by_kind = [self._by_kind[kind] for kind in sorted(wanted)]
            partners = {pid for lines in by_kind for pid in lines}
            first_seen = self._first_seen_of(partners)
            # Every line in the order asked: partner by partner from the one first seen, each partner's
            # lines in history order. The walk meets each deal's lines in that order, and the deals in
            # the order of their first line, with no sort of the lines or the deals (sorting 47,000
            # lines and 38,000 deals cost a third of this question at 300,000 deals and two periods).
            found: dict[str, list[LedgerLine]] = {}
            for partner_id in sorted(partners, key=first_seen.__getitem__):
                held = [lines[partner_id] for lines in by_kind if partner_id in lines]
                if len(held) == 1:
                    partner_lines = held[0][1]
                else:  # several kinds: back in history order (each line's place is unique)
                    places = sorted((k, ln) for keys, ls in held for k, ln in zip(keys, ls, strict=True))
                    partner_lines = tuple(ln for _, ln in places)
                for ln in partner_lines:
                    if ln.deal_id is not None:
                        found.setdefault(ln.deal_id, []).append(ln)
            self._on_deals[wanted] = MappingProxyType({deal: tuple(lines) for deal, lines in found.items()})
        return self._on_deals[wanted]

    def _first_seen_of(self, partners: set[str]) -> dict[str, tuple[int, int]]:
        """Where each partner's first line is in the history (period rank, stored order): the order of
        ``lines``. Read period by period from the oldest, until every one of ``partners`` is placed."""
        li = lines_table
        seen = self._first_seen
        with self._read() as conn:
            while not partners <= seen.keys() and self._seen_periods < len(self._periods):
                rank = self._seen_periods
                period = self._periods[rank]
                for partner, first in conn.execute(
                    sa.select(li.c.partner_id, sa.func.min(li.c.seq))
                    .where(li.c.period == period)
                    .group_by(li.c.partner_id)
                ):
                    seen.setdefault(partner, (rank, first))
                _set(self, "_seen_periods", self._seen_periods + 1)
        return seen


def _tier_records(result: sa.CursorResult[Any]) -> dict[str, tuple[TierRecord, ...]]:
    """Rows of (period, partner_id, score, eligible, assigned), oldest first, as each partner's records."""
    tiers: dict[str, list[TierRecord]] = {}
    strings: dict[str, str] = {}
    for period, partner_id, score, eligible, assigned in _raw_rows(result):  # text columns only
        record = TierRecord(
            period=strings.setdefault(period, period),
            score=Decimal(score),
            eligible=strings.setdefault(eligible, eligible),
            assigned=strings.setdefault(assigned, assigned),
        )
        tiers.setdefault(partner_id, []).append(record)
    return {k: tuple(v) for k, v in tiers.items()}


def _groups(keys: Iterable[Hashable]) -> Iterator[tuple[int, Iterator[int]]]:
    """The positions of ``keys`` grouped by key, the groups in the order of their first position, each
    with that position and its positions in order. No Python step per key: each key's group is numbered
    by its first position, and a stable sort on that number brings each group's positions together."""
    numbers: dict[Hashable, int] = {}
    first: list[int] = list(map(numbers.setdefault, keys, count()))
    first_of: Callable[[int], int] = first.__getitem__
    return groupby(sorted(range(len(first)), key=first_of), first_of)


_first_of_row, _second = itemgetter(0), itemgetter(1)


def _first(item: tuple[int, LedgerLine]) -> int:
    return item[0]


def _kind_set(kinds: Collection[str]) -> frozenset[str]:
    return frozenset((kinds,)) if isinstance(kinds, str) else frozenset(kinds)


_SPLIT = 10**9
"""``_cents_sum`` sums cents as Σ(c / 10⁹) and Σ(c % 10⁹), each far below 2⁶³ for any realistic number
of lines: SQLite's SUM of 64-bit integers raises ``integer overflow`` past 2⁶³ (92 lines of 10¹⁵)."""


def _cents_sum(column: Any) -> tuple[Any, Any]:
    """The two sums ``_cents_total`` adds up to Σ ``column`` exactly (both databases truncate integer
    division toward zero and give ``%`` the dividend's sign, so c = (c / 10⁹)·10⁹ + c % 10⁹)."""
    return sa.func.sum(column // _SPLIT), sa.func.sum(column % _SPLIT)


def _cents_total(high: Any, low: Any) -> int:
    """Σ cents from the two sums ``_cents_sum`` selects (None for no row is 0)."""
    return int(high or 0) * _SPLIT + int(low or 0)


def _only_deals(lines: tuple[LedgerLine, ...], deal_ids: Collection[str] | None) -> tuple[LedgerLine, ...]:
    if deal_ids is None:
        return lines
    deals = _kind_set(deal_ids)
    return tuple(ln for ln in lines if ln.deal_id is not None and ln.deal_id in deals)


# ---------------------------------------------------------------------------------------------------
# Helpers that run inside a transaction
# ---------------------------------------------------------------------------------------------------


class _BadVersion(Exception):
    """cosell_schema holds a version that is not a whole number."""


def _stored_version(conn: Connection) -> int:
    if not sa.inspect(conn).has_table(schema_table.name):
        return 0
    # Read as text: SQLite keeps whatever was stored in an INTEGER column.
    version = conn.execute(sa.select(sa.cast(schema_table.c.version, sa.Text))).scalar_one_or_none()
    if version is None:
        return 0
    if not str(version).isdigit():
        raise _BadVersion(version)
    return int(version)


@dataclass(frozen=True, slots=True)
class StoredAdjustment:
    """An adjustment as the ledger holds it (``cosell adjust list``)."""

    id: int
    partner_id: str
    amount: Decimal
    reason: str
    period: str | None
    deal_id: str | None
    state: str
    proposed_by: str
    proposed_at: str
    decided_by: str | None
    decided_at: str | None
    decision_reason: str | None
    applied_period: str | None
    applied_run: int | None


@dataclass(frozen=True, slots=True)
class AdjustmentEvent:
    """One state change of an adjustment: ``actor`` is None for the program's threshold or a run."""

    action: str
    actor: str | None
    at: str
    reason: str | None
    run_id: int | None


@dataclass(frozen=True, slots=True)
class StoredTierException:
    """A tier exception as the ledger holds it (``cosell tier-override list``)."""

    id: int
    partner_id: str
    tier: str
    until: str
    reason: str
    state: str
    proposed_by: str
    proposed_at: str
    decided_by: str | None
    decided_at: str | None
    decision_reason: str | None


@dataclass(frozen=True, slots=True)
class _Proposals:
    """A table of things proposed by one person and decided by another (adjustments, tier exceptions),
    with its append-only events: the two-person rule and the approvers are checked in one place."""

    noun: str
    table: sa.Table
    events: sa.Table
    key: str
    """The events' column naming the proposal."""
    period: str
    """The column naming its period (an adjustment's period, an exception's last period)."""
    period_words: str
    """How a message names that period."""


_ADJUSTMENTS = _Proposals(
    "adjustment", adjustments_table, adjustment_events_table, "adjustment_id", "period", "its period"
)
_TIER_EXCEPTIONS = _Proposals(
    "tier exception",
    tier_exceptions_table,
    tier_exception_events_table,
    "exception_id",
    "until",
    "its last period",
)


def _decidable(
    conn: Connection, kind: _Proposals, item_id: int, states: Sequence[str], verb: str
) -> sa.Row[Any]:
    t = kind.table
    # FOR UPDATE (PostgreSQL): a second decision waits for the first to commit, then reads its state and
    # is refused; SQLite's write transaction serialises them already.
    row = conn.execute(sa.select(t).where(t.c.id == item_id).with_for_update()).first()
    if row is None:
        raise ConfigError(f"there is no {kind.noun} {item_id} in this ledger")
    if row.state not in states:
        hint = None
        if verb == "withdraw" and row.state == "pending":
            hint = f"a pending {kind.noun} is rejected: cosell {_COMMANDS[kind.noun]} reject {item_id}"
        raise ConfigError(
            f"{kind.noun} {item_id} is {row.state}, not {' nor '.join(states)}: cannot {verb} it", hint=hint
        )
    return row


_COMMANDS = {"adjustment": "adjust", "tier exception": "tier-override"}


def _pending(conn: Connection, kind: _Proposals, item_id: int, verb: str) -> sa.Row[Any]:
    return _decidable(conn, kind, item_id, ("pending",), verb)


def _check_decider(
    kind: _Proposals,
    row: sa.Row[Any],
    by: str,
    approvers: Sequence[str] | None,
    governed: bool,
    verb: str,
) -> None:
    """ConfigError when ``by`` may not approve (or withdraw) the proposal ``row``: its proposer, or not
    among ``approvers`` (else the list kept from its proposal; ``governed``: see :func:`_approve`)."""
    if same_person(by, row.proposed_by):
        raise ConfigError(
            f"{kind.noun} {row.id}: {by.strip()!r} proposed it and cannot {verb} it",
            hint=f"another person {verb}s the {kind.noun} (two-person rule)",
        )
    allowed = approvers if approvers is not None or governed else _approvers_of(row.approvers)
    if not_approver(by, allowed):
        assert allowed is not None
        raise ConfigError(
            f"{kind.noun} {row.id}: {by!r} is not among the program's approvers "
            f"({', '.join(allowed) or 'none named'})",
            hint=f"governance.approvers in the program names who may {verb}",
        )


def _approve(
    conn: Connection,
    kind: _Proposals,
    item_id: int,
    by: str,
    approvers: Sequence[str] | None,
    governed: bool = False,
) -> None:
    """Approve a pending proposal: ConfigError (nothing changes) when it is not pending, when ``by``
    proposed it, or when ``by`` is not among ``approvers`` (else the list kept from its proposal).
    ``governed``: ``approvers`` is the list of the program the ledger pays under, None there meaning
    that program names none (anyone but the proposer approves), whatever list the proposal kept."""
    now = _utc_now()
    row = _pending(conn, kind, item_id, "approve")
    _check_decider(kind, row, by, approvers, governed, "approve")
    named, held = getattr(row, kind.period), _period_kind(conn)
    if named is not None and held is not None and Period.parse(named).kind != held:
        # proposed before the ledger held a period: approved, no run of the ledger's kind would use it
        raise PeriodError(
            f"{kind.noun} {item_id}: {kind.period_words} {named} is a {Period.parse(named).kind}, but this "
            f"ledger holds {held}s: approved, it would never apply",
            hint=f"reject it and propose it again for a {held}",
        )
    conn.execute(
        kind.table.update()
        .where(kind.table.c.id == item_id)
        .values(state="approved", decided_by=by, decided_at=now)
    )
    _event(conn, kind, item_id, "approved", by, now, None)


def _withdraw(conn: Connection, kind: _Proposals, item_id: int, by: str, reason: str) -> None:
    """The proposal is withdrawn (checked by the caller): no run uses it from now on. ``decided_by`` and
    ``decided_at`` stay its approval's; the event says who withdrew it, when and why."""
    conn.execute(
        kind.table.update()
        .where(kind.table.c.id == item_id)
        .values(state="withdrawn", decision_reason=f"withdrawn by {by}: {reason}")
    )
    _event(conn, kind, item_id, "withdrawn", by, _utc_now(), reason)


def _reject(conn: Connection, kind: _Proposals, item_id: int, by: str, reason: str) -> None:
    now = _utc_now()
    _pending(conn, kind, item_id, "reject")
    conn.execute(
        kind.table.update()
        .where(kind.table.c.id == item_id)
        .values(state="rejected", decided_by=by, decided_at=now, decision_reason=reason)
    )
    _event(conn, kind, item_id, "rejected", by, now, reason)


def _event(
    conn: Connection,
    kind: _Proposals,
    item_id: int,
    action: str,
    actor: str | None,
    at: str,
    reason: str | None,
    run_id: int | None = None,
) -> None:
    conn.execute(
        kind.events.insert().values(
            {
                kind.key: item_id,
                "action": action,
                "actor": actor,
                "at": at,
                "reason": reason,
                "run_id": run_id,
            }
        )
    )


def _events(conn: Connection, kind: _Proposals, item_id: int) -> list[AdjustmentEvent]:
    e = kind.events
    rows = conn.execute(sa.select(e).where(e.c[kind.key] == item_id).order_by(e.c.id)).all()
    return [AdjustmentEvent(r.action, r.actor, r.at, r.reason, r.run_id) for r in rows]


def _stored_tier_exception(conn: Connection, exception_id: int) -> StoredTierException:
    t = tier_exceptions_table
    r = conn.execute(sa.select(t).where(t.c.id == exception_id)).one()
    return StoredTierException(
        id=r.id,
        partner_id=r.partner_id,
        tier=r.tier,
        until=r.until,
        reason=r.reason,
        state=r.state,
        proposed_by=r.proposed_by,
        proposed_at=r.proposed_at,
        decided_by=r.decided_by,
        decided_at=r.decided_at,
        decision_reason=r.decision_reason,
    )


def _tier_exceptions_in_force(conn: Connection, period: Period) -> tuple[TierException, ...]:
    """The approved tier exceptions whose last period is ``period`` or later, oldest first."""
    t = tier_exceptions_table
    rows = conn.execute(sa.select(t).where(t.c.state == "approved").order_by(t.c.id)).all()
    return tuple(
        TierException(r.id, r.partner_id, r.tier, r.until, r.reason, r.proposed_by, r.decided_by)
        for r in rows
        if _same_kind(r.until, period) and Period.parse(r.until).start >= period.start
    )


def _tier_exceptions_applied(conn: Connection, period: Period) -> tuple[TierException, ...]:
    """The tier exceptions the run whose results ``period`` holds applied, oldest first, each with who
    approved it then: a later run whose program's governance would not have approved one set it back to
    pending (and another approval may follow), which changes nothing of what this run applied."""
    t, e = tier_exceptions_table, tier_exception_events_table
    applied = _results_tier_exceptions(conn, period)
    rows = conn.execute(sa.select(t).where(t.c.id.in_(sorted(applied))).order_by(t.c.id)).all()
    found = []
    for r in rows:
        if not (_same_kind(r.until, period) and Period.parse(r.until).start >= period.start):
            continue
        approved_by = r.decided_by if r.state == "approved" else None
        if approved_by is None:  # set back to pending since: the approval the run applied was its latest
            approved_by = conn.execute(
                sa.select(e.c.actor)
                .where(e.c.exception_id == r.id, e.c.action == "approved")
                .order_by(e.c.id.desc())
                .limit(1)
            ).scalar()
        if approved_by is not None:
            found.append(
                TierException(r.id, r.partner_id, r.tier, r.until, r.reason, r.proposed_by, approved_by)
            )
    return tuple(found)


def _same_kind(key: str, period: Period) -> bool:
    try:
        return Period.parse(key).kind == period.kind
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class StoredRun:
    """A recorded run (``cosell runs``): ``provenance`` is what it computed with, None for a run
    recorded before schema version 5."""

    id: int
    period: str
    program: str
    connector: str
    target: str
    status: str
    started_at: str
    finished_at: str | None
    provenance: RunProvenance | None


@dataclass(frozen=True, slots=True)
class StoredDiscard:
    """One ``cosell discard``: ``partners`` maps each partner to the count and total of its removed lines."""

    id: int
    period: str
    run_id: int | None
    by: str
    at: str
    reason: str
    line_count: int
    partners: Mapping[str, tuple[int, Decimal]]
    superseded_writes: int
    unapplied: tuple[int, ...]

    @property
    def total(self) -> Decimal:
        return sum((total for _, total in self.partners.values()), Decimal("0.00"))


def _provenance_row(provenance: RunProvenance) -> dict[str, str]:
    return {
        "program_text": provenance.program_text,
        "program_sha256": provenance.program_sha256,
        "cosell_version": provenance.cosell_version,
        "plugins": json.dumps(
            [[p.name, p.package, p.version] for p in provenance.plugins],
            ensure_ascii=False,
            separators=(",", ":"),
        ),
        "records_digest": provenance.records_digest,
        "earnings": json.dumps(
            {pid: str(amount) for pid, amount in sorted(provenance.earnings.items())},
            ensure_ascii=False,
            separators=(",", ":"),
        ),
    }


def _runs_query() -> sa.Select[Any]:
    """Runs with their records (None columns for a run recorded before version 5), oldest first."""
    r, rec, var = runs_table, run_records_table, run_variants_table
    return (
        sa.select(
            r,
            *(c for c in rec.c if c.name != "run_id"),
            var.c.source.label("variant_source"),
            var.c.text.label("variant_text"),
            var.c.sha256.label("variant_sha256"),
        )
        .select_from(r.outerjoin(rec, rec.c.run_id == r.c.id).outerjoin(var, var.c.run_id == r.c.id))
        .order_by(r.c.id)
    )


def _stored_run(r: sa.Row[Any]) -> StoredRun:
    """A row of :func:`_runs_query` as a StoredRun."""
    provenance = None
    if r.program_sha256 is not None:
        provenance = RunProvenance(
            program_text=r.program_text,
            program_sha256=r.program_sha256,
            cosell_version=r.cosell_version,
            plugins=tuple(PluginVersion(*item) for item in json.loads(r.plugins)),
            records_digest=r.records_digest,
            earnings=MappingProxyType({pid: Decimal(v) for pid, v in json.loads(r.earnings).items()}),
            variant_source=r.variant_source,
            variant_text=r.variant_text,
            variant_sha256=r.variant_sha256,
        )
    return StoredRun(
        id=r.id,
        period=r.period,
        program=r.program,
        connector=r.connector,
        target=r.target,
        status=r.status,
        started_at=r.started_at,
        finished_at=r.finished_at,
        provenance=provenance,
    )


def _stored_discards(conn: Connection, discard_id: int | None = None) -> list[StoredDiscard]:
    d = discards_table
    query = sa.select(d).order_by(d.c.id)
    if discard_id is not None:
        query = query.where(d.c.id == discard_id)
    return [
        StoredDiscard(
            id=row.id,
            period=row.period,
            run_id=row.run_id,
            by=row.discarded_by,
            at=row.discarded_at,
            reason=row.reason,
            line_count=row.line_count,
            partners=MappingProxyType(
                {
                    pid: (int(count), _cents_to_decimal(int(cents)))
                    for pid, (count, cents) in json.loads(row.partners).items()
                }
            ),
            superseded_writes=row.superseded_writes,
            unapplied=tuple(json.loads(row.unapplied)),
        )
        for row in conn.execute(query)
    ]


def _check_discardable(conn: Connection, period: str) -> None:
    p = periods_table
    row = conn.execute(
        sa.select(p.c.status, p.c.closed_at, p.c.discarded_at).where(p.c.period == period)
    ).first()
    if row is None:
        raise PeriodError(f"period {period} has no run in this ledger: nothing to discard")
    if row.discarded_at is not None:
        raise PeriodError(
            f"period {period} was already discarded on {row.discarded_at[:10]}: nothing to discard"
        )
    if row.status == "closed":
        when = f" on {row.closed_at[:10]}" if row.closed_at else ""
        raise PeriodError(
            f"period {period} was closed{when}: a closed period is never rewritten, nor discarded",
            hint="a correction to a closed period is an adjustment (cosell adjust propose)",
        )
    latest = _latest_period(conn)
    if latest != period:
        raise PeriodError(
            f"period {period} is not the ledger's latest period ({latest}): only the latest can be discarded",
            hint=f"discard {latest} first, if it is open",
        )


def _approvers_of(text: str | None) -> list[str] | None:
    return None if text is None else [str(name) for name in json.loads(text)]


def _stored_adjustment(conn: Connection, adjustment_id: int) -> StoredAdjustment:
    a = adjustments_table
    r = conn.execute(sa.select(a).where(a.c.id == adjustment_id)).one()
    return StoredAdjustment(
        id=r.id,
        partner_id=r.partner_id,
        amount=_cents_to_decimal(r.amount_cents),
        reason=r.reason,
        period=r.period,
        deal_id=r.deal_id,
        state=r.state,
        proposed_by=r.proposed_by,
        proposed_at=r.proposed_at,
        decided_by=r.decided_by,
        decided_at=r.decided_at,
        decision_reason=r.decision_reason,
        applied_period=r.applied_period,
        applied_run=r.applied_run,
    )


def _adjustment_event(
    conn: Connection,
    adjustment_id: int,
    action: str,
    actor: str | None,
    at: str,
    reason: str | None,
    run_id: int | None = None,
) -> None:
    _event(conn, _ADJUSTMENTS, adjustment_id, action, actor, at, reason, run_id)


def _due_adjustments(conn: Connection, period: Period) -> tuple[ApprovedAdjustment, ...]:
    """The adjustments a run of ``period`` pays: those it paid before (a rerun), and the approved ones of
    this period, of none, or of an earlier period (closed, or older than the latest run: it cannot be
    run again). An approved one of a later period waits for that period."""
    a = adjustments_table
    rows = conn.execute(
        sa.select(a)
        .where(
            sa.or_(
                a.c.state == "approved",
                sa.and_(a.c.state == "applied", a.c.applied_period == period.key),
            )
        )
        .order_by(a.c.id)
    ).all()
    due = []
    for r in rows:
        named = None if r.period is None else Period.parse(r.period)
        if r.state == "approved" and named is not None and named.kind != period.kind:
            continue  # no run of this kind pays it (Ledger.never_applied says so)
        if r.state == "approved" and named is not None and named.start > period.start:
            continue
        due.append(
            ApprovedAdjustment(
                id=r.id,
                partner_id=r.partner_id,
                amount=_cents_to_decimal(r.amount_cents),
                reason=r.reason,
                proposed_by=r.proposed_by,
                approved_by=r.decided_by,
                period=r.period,
                deal_id=r.deal_id,
            )
        )
    return tuple(due)


def _threshold_outstanding(conn: Connection, partner_id: str) -> list[tuple[int, Decimal]]:
    """Ledger.threshold_outstanding within a transaction."""
    a = adjustments_table
    rows = conn.execute(
        sa.select(a.c.id, a.c.amount_cents, a.c.state, a.c.applied_period)
        .where(
            a.c.partner_id == partner_id,
            a.c.state.in_(("approved", "applied")),
            a.c.decided_by.is_(None),
            a.c.decided_at.is_not(None),
        )
        .order_by(a.c.id)
    ).all()
    closed = _closed_periods(conn)
    return [
        (r.id, _cents_to_decimal(r.amount_cents))
        for r in rows
        if r.state == "approved" or not _settled(conn, Period.parse(r.applied_period), closed)
    ]


def _cannot_run_again(conn: Connection, period: str) -> str:
    """Why ``period``, which can no longer be run, cannot: for a message."""
    if period in _closed_periods(conn):
        return "is closed"
    return f"is older than {_latest_period(conn)}, the latest period run, so it is never run again"


def _settled_applying(conn: Connection, exception_id: int) -> str | None:
    """The first period that can no longer be run whose run applied tier exception ``exception_id``."""
    closed = _closed_periods(conn)
    periods = conn.execute(sa.select(periods_table.c.period).order_by(periods_table.c.starts_on)).scalars()
    for key in periods:
        period = Period.parse(key)
        if _settled(conn, period, closed) and exception_id in _results_tier_exceptions(conn, period):
            return str(key)
    return None


def _withdrawn_still_paid(conn: Connection) -> list[tuple[int, str]]:
    """The withdrawn adjustments whose line an open period's run still holds: (id, applied_period)."""
    a = adjustments_table
    rows = conn.execute(
        sa.select(a.c.id, a.c.applied_period)
        .where(a.c.state == "withdrawn", a.c.applied_period.is_not(None))
        .order_by(a.c.id)
    )
    return [(int(r.id), str(r.applied_period)) for r in rows]


def _check_applies(conn: Connection, until: Period, what: str) -> None:
    """PeriodError when a tier exception through ``until`` could never apply: every period up to it is
    closed or older than the latest period run (none of them runs again)."""
    latest = _latest_period(conn)
    if latest is None:
        return
    if until.start < Period.parse(latest).start:
        raise PeriodError(
            f"{what} {until.key} is before {latest}, the latest period run: the exception would never apply",
            hint=f"name {latest} or later",
        )
    if until.key in _closed_periods(conn):
        later = until.next().key
        raise PeriodError(
            f"{what} {until.key} is closed: the exception would never apply", hint=f"name {later} or later"
        )


def _settled(conn: Connection, period: Period, closed: frozenset[str]) -> bool:
    """Whether ``period`` can no longer be run: closed, or older than the latest period with results."""
    if period.key in closed:
        return True
    latest = _latest_period(conn)
    return latest is not None and Period.parse(latest).start > period.start


def _applied_in(
    conn: Connection, period: Period, due: Sequence[ApprovedAdjustment]
) -> tuple[ApprovedAdjustment, ...]:
    """Of ``due``, the adjustments that ``period``'s run paid."""
    a = adjustments_table
    paid = set(
        conn.execute(
            sa.select(a.c.id).where(a.c.state == "applied", a.c.applied_period == period.key)
        ).scalars()
    )
    return tuple(adj for adj in due if adj.id in paid)


def _results_tier_exceptions(conn: Connection, period: Period) -> set[int]:
    """The ids of the tier exceptions the run whose results ``period`` holds applied (none: no run's
    results). A run stored before schema version 10 recorded none: those approved before it started."""
    st, r = standings_table, runs_table
    run_id = conn.execute(sa.select(sa.func.max(st.c.run_id)).where(st.c.period == period.key)).scalar()
    if run_id is None:
        return set()
    row = conn.execute(sa.select(r.c.started_at, r.c.tier_exceptions).where(r.c.id == run_id)).first()
    if row is None:
        return set()
    if row.tier_exceptions is not None:
        return {int(i) for i in json.loads(row.tier_exceptions)}
    return _approved_by(conn, row.started_at)


def _approved_by(conn: Connection, moment: str) -> set[int]:
    """The tier exceptions approved before ``moment`` (UTC ISO text to the second, as stored: one
    approved in the very second a run started counts as approved after it)."""
    t = tier_exceptions_table
    return set(
        conn.execute(sa.select(t.c.id).where(t.c.decided_at.is_not(None), t.c.decided_at < moment)).scalars()
    )


def _reopen(conn: Connection, run_id: int, refused: Sequence[Refusal]) -> None:
    """Within record_run, after the adjustments are applied: each refused approval still standing goes
    back to pending (an adjustment this period's earlier run paid has just gone back to approved)."""
    now = _utc_now()
    for refusal in refused:
        kind = _ADJUSTMENTS if refusal.noun == "adjustment" else _TIER_EXCEPTIONS
        t = kind.table
        changed = conn.execute(
            t.update()
            .where(t.c.id == refusal.id, t.c.state == "approved")
            .values(state="pending", decided_by=None, decided_at=None)
        ).rowcount
        if changed:
            why = f"{refusal.why}, under the governance of the program run {run_id} computed with"
            _event(conn, kind, refusal.id, "reopened", None, now, why, run_id)


def _apply_adjustments(conn: Connection, period: str, run_id: int, ids: Sequence[int]) -> None:
    """Within record_run: the adjustments ``ids`` are paid by this run's lines of ``period``."""
    a = adjustments_table
    now = _utc_now()
    wanted = set(ids)
    if len(wanted) != len(ids):
        raise LockHeldError("a run paid one adjustment twice: nothing stored")
    earlier = conn.execute(
        sa.select(a.c.id).where(a.c.state == "applied", a.c.applied_period == period)
    ).scalars()
    for withdrawn, paid in _withdrawn_still_paid(conn):
        if paid != period:
            continue
        # Withdrawn since this period's earlier run paid it: this rerun's lines no longer hold it.
        conn.execute(a.update().where(a.c.id == withdrawn).values(applied_period=None, applied_run=None))
        why = f"withdrawn: the rerun of {period} no longer pays it"
        _adjustment_event(conn, withdrawn, "unapplied", None, now, why, run_id)
    for dropped in sorted(set(earlier) - wanted):
        # This period's earlier run paid it, this rerun does not (its partner left the input, say): its
        # line is gone with the period's lines, so it is due again.
        conn.execute(
            a.update()
            .where(a.c.id == dropped)
            .values(state="approved", applied_period=None, applied_run=None)
        )
        _adjustment_event(
            conn, dropped, "unapplied", None, now, f"the rerun of {period} did not pay it", run_id
        )
    for adjustment_id in sorted(wanted):
        row = conn.execute(sa.select(a.c.state, a.c.applied_period).where(a.c.id == adjustment_id)).first()
        if row is not None and row.state == "applied" and row.applied_period == period:
            # A rerun: its lines replace the earlier run's, this one's line pays it now. Said by an event,
            # so that the audit names the run (and the program) that holds the payment.
            conn.execute(a.update().where(a.c.id == adjustment_id).values(applied_run=run_id))
            why = f"paid again by the rerun of {period}"
            _adjustment_event(conn, adjustment_id, "reapplied", None, now, why, run_id)
            continue
        if row is None or row.state != "approved":
            raise LockHeldError(
                f"adjustment {adjustment_id} is no longer due ({'unknown' if row is None else row.state}): "
                "nothing stored",
                hint="run again: it computes from the ledger as it is now",
            )
        conn.execute(
            a.update()
            .where(a.c.id == adjustment_id)
            .values(state="applied", applied_period=period, applied_run=run_id)
        )
        _adjustment_event(conn, adjustment_id, "applied", None, now, f"paid in {period}", run_id)


def _recorded_fx(data: str) -> Mapping[str, Decimal] | None:
    """The ``fx`` table in a period's statement run data (``cosell.statements.facts.encode_run``); None
    when the run recorded none (it ran before cosell recorded the rates)."""
    found = orjson.loads(data).get("fx")
    if not isinstance(found, dict):
        return None
    return MappingProxyType({currency: Decimal(rate) for currency, rate in found.items()})


def _generation(conn: Connection) -> int:
    return int(conn.execute(sa.select(generation_table.c.value)).scalar_one())


def _bump_generation(conn: Connection) -> None:
    conn.execute(generation_table.update().values(value=generation_table.c.value + 1))


def _period_kind(conn: Connection) -> PeriodKind | None:
    p = periods_table
    kind = conn.execute(sa.select(p.c.kind).where(p.c.discarded_at.is_(None)).limit(1)).scalar_one_or_none()
    return cast("PeriodKind | None", kind)


_UNFINISHED_RUN = {
    "computed": "never finished (stopped, or killed, before it wrote everything back)",
    "interrupted": "was interrupted before it finished",
    "failed": "finished with failures",
}


def _unfinished_write_back(conn: sa.Connection, period: str) -> str | None:
    """What the runs of ``period`` left unsent, in words, with the latest run's status: the writes not
    sent yet (pending) and those the target refused (the latest run's failed ones: a later run replans
    what older runs' failed rows held). None when nothing is unsent: then closing loses nothing, whatever
    the status (a run killed after it wrote everything back, a failed ``cosell_run_finished`` hook)."""
    r, o = runs_table, outbox_table
    latest = conn.execute(
        sa.select(r.c.id, r.c.status, r.c.target).where(r.c.period == period).order_by(r.c.id.desc()).limit(1)
    ).first()
    if latest is None:
        return None
    run_ids = sa.select(r.c.id).where(r.c.period == period).scalar_subquery()
    pending = conn.execute(
        sa.select(sa.func.count()).where(o.c.run_id.in_(run_ids), o.c.status == "pending")
    ).scalar_one()
    failed = conn.execute(
        sa.select(sa.func.count()).where(o.c.run_id == latest.id, o.c.status == "failed")
    ).scalar_one()
    if not pending and not failed:
        return None  # nothing unsent (a run killed after it wrote everything back loses nothing)
    unsent = [
        f"{n} write(s) {what}"
        for n, what in ((pending, "not sent yet"), (failed, "refused by the target"))
        if n
    ]
    state = _UNFINISHED_RUN.get(latest.status, f"ended {latest.status}")
    return (
        f"its latest run (run {latest.id}) {state}: {' and '.join(unsent)} to {latest.target}; a closed "
        "period is never run again, so they would never be sent"
    )


def _period_status(conn: Connection, period: str) -> PeriodStatus | None:
    status = conn.execute(
        sa.select(periods_table.c.status).where(periods_table.c.period == period)
    ).scalar_one_or_none()
    return cast("PeriodStatus | None", status)


def _latest_period(conn: Connection) -> str | None:
    """The latest period holding a run's results (a discarded period holds none)."""
    p = periods_table
    latest = conn.execute(
        sa.select(p.c.period).where(p.c.discarded_at.is_(None)).order_by(p.c.starts_on.desc()).limit(1)
    ).scalar_one_or_none()
    return cast("str | None", latest)


def _discarded_at(conn: Connection, period: str) -> str | None:
    p = periods_table
    when = conn.execute(sa.select(p.c.discarded_at).where(p.c.period == period)).scalar_one_or_none()
    return cast("str | None", when)


def _crm_tiers(conn: Connection) -> Mapping[str, str | None]:
    ct = crm_tiers_table
    query = sa.select(ct.c.partner_id, ct.c.tier)
    return MappingProxyType({pid: tier for pid, tier in _raw_rows(conn.execute(query))})


def _closed_periods(conn: Connection) -> frozenset[str]:
    p = periods_table
    return frozenset(conn.execute(sa.select(p.c.period).where(p.c.status == "closed")).scalars())


def _ledger_moved(conn: Connection, period: Period) -> LockHeldError | PeriodError:
    """The refusal of a run of ``period`` whose history the ledger changed since it read it: when the
    period can no longer be run (closed meanwhile, or a later period stored), it says so and what to run
    instead, rather than "run again" that would be refused, and exits 2 as a run of that period started
    now would (not 5: a scheduler retrying on 5 would retry a run that can never store)."""
    try:
        _check_runnable(conn, period)
    except PeriodError as exc:
        return PeriodError(
            f"the ledger changed while this run of {period.key} computed: {exc.message}: nothing stored",
            hint=exc.hint,
        )
    return LockHeldError(
        f"the ledger changed while this run of {period.key} computed (another run, a close or a discard "
        "stored since): nothing stored",
        hint="run again: it computes from the ledger as it is now",
    )


def _check_runnable(conn: Connection, period: Period) -> None:
    kind = _period_kind(conn)
    if kind is not None and kind != period.kind:
        raise PeriodError(
            f"period {period.key} is a {period.kind}, but this ledger holds {kind}s: "
            "a ledger holds one kind of period",
            hint=f"run a {kind}, or use another ledger for {period.kind}s",
        )
    p = periods_table
    row = conn.execute(sa.select(p.c.status, p.c.closed_at).where(p.c.period == period.key)).first()
    if row is not None and row.status == "closed":
        when = f" on {row.closed_at[:10]}" if row.closed_at else ""
        raise PeriodError(
            f"period {period.key} was closed{when}; later facts land in a later period",
            hint=f"run {period.next().key} or later",
        )
    for withdrawn, paid in _withdrawn_still_paid(conn):
        if paid != period.key:
            # a later period's run would leave that one never run again, paying it for good
            raise PeriodError(
                f"period {paid} still pays adjustment {withdrawn}, withdrawn since: once {period.key} is run, "
                f"{paid} is never run again and pays it for good",
                hint=f"run {paid} again first: the rerun no longer pays it",
            )
    latest = _latest_period(conn)
    if latest is not None and Period.parse(latest).start > period.start:
        raise PeriodError(
            f"period {period.key} is older than {latest}, the latest period with lines: "
            "account fields always show the latest period",
            hint=f"run {latest} or later",
        )


SQLITE_AUTOCHECKPOINT_PAGES = 1000
"""SQLite's own default: a commit that leaves the write-ahead log this many pages long copies it into
the database file (a checkpoint), except for the bulk transactions (``Ledger._write``)."""
_BULK_ROWS = 10_000
"""Rows marked at once from which the commit's checkpoint is left to a thread."""

_SQLITE_VARIABLES = 999
"""Bound parameters one SQLite statement may take on every build (SQLITE_MAX_VARIABLE_NUMBER before 3.32)."""


def _checkpoint(path: Path) -> None:
    """A passive checkpoint of the SQLite file at ``path``, on a connection of its own (which never
    creates the file: one removed meanwhile stays removed)."""
    try:
        with contextlib.closing(
            sqlite3.connect(path.as_uri() + "?mode=rw", uri=True, isolation_level=None)
        ) as db:
            db.execute("PRAGMA wal_checkpoint(PASSIVE)")
    except sqlite3.Error:
        pass  # left to the next checkpoint (Ledger._checkpoint_in_background)


def _sqlite_insert(
    conn: Connection,
    table: str,
    columns: Sequence[str],
    rows: Iterable[tuple[Any, ...]],
    fixed: Sequence[tuple[str, Any]] = (),
) -> None:
    """Insert rows into a SQLite table inside the connection's current transaction: as many rows a
    statement as the parameters allow (the rest one a statement), straight on the DBAPI cursor and
    without holding more than one statement's rows. SQLite's cost per statement (bind, step, reset)
    is then paid once for ~100 rows: measured ~30 % less CPU than an executemany of one row a statement.

    ``fixed`` are (column, value) pairs every row shares: bound once a statement as the numbered
    parameters ``?1``, ``?2``, ... that each row's ``(?1, ?2, ?, ?, ...)`` names again, not once a row
    (a run's outbox rows share four of their eight columns: measured a quarter less CPU to insert them)."""
    markers = [f"?{n}" for n in range(1, len(fixed) + 1)] + ["?"] * len(columns)
    one = f"({', '.join(markers)})"
    per = max(1, (_SQLITE_VARIABLES - len(fixed)) // max(1, len(columns)))
    into = f"INSERT INTO {table} ({', '.join([name for name, _ in fixed] + list(columns))}) VALUES "
    values = tuple(value for _, value in fixed)
    it = iter(rows)
    rest: list[tuple[Any, ...]] = []

    def flattened() -> Iterator[tuple[Any, ...]]:
        while len(chunk := tuple(islice(it, per))) == per:
            yield (*values, *chain.from_iterable(chunk))
        rest.extend(chunk)

    driver = conn.connection.driver_connection
    assert driver is not None
    cursor = driver.cursor()
    try:
        cursor.executemany(into + ", ".join([one] * per), flattened())
        if rest:
            cursor.executemany(into + one, [(*values, *row) for row in rest])
    finally:
        cursor.close()


def _copy(conn: Connection, table: str, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]) -> None:
    """COPY rows into a PostgreSQL table inside the connection's current transaction."""
    driver = conn.connection.driver_connection
    assert driver is not None
    with driver.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _line_columns() -> list[sa.ColumnElement[Any]]:
    li = lines_table
    return [
        li.c.period,
        li.c.partner_id,
        li.c.kind,
        li.c.amount_cents,
        li.c.explanation,
        li.c.deal_id,
        li.c.withheld,
        li.c.uncapped,
        li.c.tags,
    ]


_CENT = Decimal("0.01")


def _cents_to_decimal(cents: int) -> Decimal:
    # Same value and exponent as money.from_cents (Decimal('1.00'), Decimal('-0.05')), several times
    # faster: history() turns millions of stored lines back into Decimals.
    return Decimal(cents) * _CENT


def _raw_rows(result: sa.CursorResult[Any]) -> Iterator[Sequence[Any]]:
    """The DBAPI cursor's plain tuples, read in pages: no SQLAlchemy Row per line when reading millions.
    Only for columns that need no result processing (text, integers; booleans are passed through bool())."""
    return chain.from_iterable(_raw_pages(result))


def _raw_pages(result: sa.CursorResult[Any]) -> Iterator[Sequence[Sequence[Any]]]:
    """``_raw_rows`` a page at a time."""
    cursor = result.cursor
    while rows := cursor.fetchmany(_CHUNK):
        yield rows
    result.close()


def _first_column(result: sa.CursorResult[Any]) -> set[Any]:
    """The distinct values of the plain rows' first (only) column, with no Python step per row."""
    found: set[Any] = set()
    for page in _raw_pages(result):
        found.update(chain.from_iterable(page))
    return found


class _LineBuilder:
    """Stored lines (rows of ``_line_columns``) as LedgerLines, built a page at a time field by field,
    each field of every line of the page in one pass, rather than line by line through ``LedgerLine``'s
    ``__init__``: a history reads hundreds of thousands. The equal period, partner and kind strings are
    shared, and so is the tag set of each stored tags text."""

    __slots__ = ("_strings", "_tag_sets")

    def __init__(self) -> None:
        self._strings: dict[str, str] = {}
        self._tag_sets: dict[str, frozenset[str]] = {"[]": _NO_TAGS}

    def read(self, result: sa.CursorResult[Any]) -> Iterator[LedgerLine]:
        """The lines of a query of ``_line_columns``, in its order."""
        return chain.from_iterable(map(self._page, _raw_pages(result)))

    def _page(self, rows: Sequence[Sequence[Any]]) -> list[LedgerLine]:
        return self.lines_of(tuple(zip(*rows, strict=True)))

    def lines_of(self, columns: Sequence[Sequence[Any]]) -> list[LedgerLine]:
        """The lines of one page, given as its columns (those of ``_line_columns``, in that order)."""
        periods, partner_ids, kinds, cents, explanations, deal_ids, withheld, uncapped, tags = columns
        strings, tag_sets = self._strings, self._tag_sets
        for text in set(tags).difference(tag_sets):
            tag_sets[text] = _tags_of(text)
        values: tuple[Iterable[Any], ...] = (
            map(strings.setdefault, periods, periods),
            map(strings.setdefault, partner_ids, partner_ids),
            map(strings.setdefault, kinds, kinds),
            map(operator.mul, map(Decimal, cents), repeat(_CENT)),  # as _cents_to_decimal
            explanations,
            deal_ids,
            map(bool, withheld),
            map(bool, uncapped),
            map(tag_sets.__getitem__, tags),
        )
        return from_columns(LedgerLine, len(periods), dict(zip(_LINE_FIELDS, values, strict=True)))


_LINE_FIELDS = tuple(c.name.removesuffix("_cents") for c in _line_columns())
"""The LedgerLine field each of ``_line_columns`` holds, in that order."""


_NO_TAGS: frozenset[str] = frozenset()


def _stored_ids(conn: Connection, target: str, run_id: int, count: int) -> Sequence[int] | None:
    """The ids of a run's ``count`` outbox rows, in the order they were stored, when the target's pending
    rows are exactly those, all of them; None when they are not.

    The run's rows were inserted in the order of its writes: ids in that order too. Numbered in a row
    (as a rule), they are known from the lowest and highest, and the check reads two indexes alone
    (``cosell_outbox_target_status`` and ``cosell_outbox_run``): ``count`` ids between the same lowest
    and highest, in a row, are the same ids."""
    o = outbox_table
    pending = sa.and_(o.c.target == target, o.c.status == "pending")
    span = (sa.func.min(o.c.id), sa.func.max(o.c.id), sa.func.count())
    low, high, found = conn.execute(sa.select(*span).where(pending)).one()
    if (
        found == count
        and count
        and high - low + 1 == count
        and tuple(conn.execute(sa.select(*span).where(o.c.run_id == run_id)).one()) == (low, high, count)
    ):
        return range(low, high + 1)
    others = sa.select(sa.func.count()).where(pending, o.c.run_id != run_id)
    low, high, found = conn.execute(sa.select(*span).where(pending, o.c.run_id == run_id)).one()
    if found != count or conn.execute(others).scalar_one() != 0:
        return None
    if found and high - low + 1 == found:
        return range(low, high + 1)
    return (
        conn.execute(sa.select(o.c.id).where(pending, o.c.run_id == run_id).order_by(o.c.id)).scalars().all()
    )


_HOLDS_LOCK = sa.text(
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted "
    "AND classid::bigint = :hi AND objid::bigint = :lo AND objsubid = 1"
)
"""Whether this session holds the session advisory lock of a bigint key (its high and low 32 bits)."""


def _id_ranges(ids: Iterable[int]) -> list[tuple[int, int]]:
    """``ids`` as the fewest ranges of consecutive ids (both ends included)."""
    if isinstance(ids, range) and ids.step == 1:
        return [(ids.start, ids.stop - 1)] if ids else []  # a run's rows, all of them, as numbered
    unique = sorted(set(ids))
    if unique and unique[-1] - unique[0] == len(unique) - 1:
        return [(unique[0], unique[-1])]  # a run's rows, all of them: one range
    ranges: list[tuple[int, int]] = []
    for i in unique:
        if ranges and ranges[-1][1] == i - 1:
            ranges[-1] = (ranges[-1][0], i)
        else:
            ranges.append((i, i))
    return ranges


def _mark_done(conn: Connection, ids: Sequence[int]) -> int:
    """Mark the outbox rows ``ids`` done, a few statements for a million (they are numbered in a row);
    a row a later run superseded meanwhile stays superseded. How many rows were marked."""
    o = outbox_table
    marked = 0
    for chunk in _chunks(_id_ranges(ids), 200):
        marked += conn.execute(
            o.update()
            .where(o.c.status == "pending", sa.or_(*(o.c.id.between(low, high) for low, high in chunk)))
            .values(status="done", error=None)
        ).rowcount
    return marked


class _Undone(Exception):
    """Rolls back a marking the target did not confirm (``Ledger.marking_written``)."""


def _distinct_count(ids: Sequence[int]) -> int:
    return len(ids) if isinstance(ids, range) else len(set(ids))


def _outbox_items(rows: Sequence[sa.Row[Any]]) -> list[OutboxItem]:
    """Outbox rows as items, the JSON of all rows decoded in one call (a run reads its pending rows back
    right after storing them: a million small decodes would cost seconds)."""
    values = json.loads("[" + ",".join(r.field_values for r in rows) + "]")
    olds = json.loads("[" + ",".join(r.old_values for r in rows) + "]")
    return [
        OutboxItem(
            id=row.id,
            run_id=row.run_id,
            target=row.target,
            status=row.status,
            write=FieldWrite(
                object=cast(ObjectName, row.object), record_id=row.record_id, values=new, old=old
            ),
            error=row.error,
        )
        for row, new, old in zip(rows, values, olds, strict=True)
    ]


_PG_HOLDER = f"cosell process {os.getpid()} on {socket.gethostname()}"[:63]
"""The ``application_name`` of the session that holds a lock on PostgreSQL (at most 63 characters)."""


def _pg_holder_of(conn: Connection, lock_key: int) -> str:
    """Who holds the advisory lock ``lock_key``, as a waiter's message says it: " (process 123 on host)"
    when a cosell session holds it, else the server's backend pid; "" when it is gone by now. A bigint
    advisory lock shows in ``pg_locks`` as its high and low 32 bits (``classid``, ``objid``)."""
    row = conn.execute(
        sa.text(
            "SELECT a.pid, a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
            "AND l.classid = CAST(:high AS oid) AND l.objid = CAST(:low AS oid)"
        ),
        {"high": (lock_key >> 32) & 0xFFFFFFFF, "low": lock_key & 0xFFFFFFFF},
    ).first()
    conn.commit()
    if row is None:
        return ""
    name = row.application_name or ""
    if name.startswith("cosell process "):
        return f" ({name.removeprefix('cosell ')})"
    return f" (PostgreSQL session {row.pid})"


def _holder_of(path: Path) -> str:
    try:
        pid = path.read_text().strip()
    except OSError:
        return ""
    return f" (process {pid})" if pid.isdigit() else ""


# ---------------------------------------------------------------------------------------------------
# Engines
# ---------------------------------------------------------------------------------------------------


def _parse_url(raw: str) -> URL:
    try:
        url = make_url(raw)
    except (ArgumentError, ValueError):
        raise ConfigError(
            f"{_mask_raw(raw)!r} is not a ledger URL",
            hint="use sqlite:///path/to/cosell.db or postgresql://user@host/database",
        ) from None
    backend, _, driver = url.drivername.partition("+")
    if backend in ("postgresql", "postgres") and driver in ("", "psycopg"):
        return url.set(drivername="postgresql+psycopg")
    if backend == "sqlite" and driver in ("", "pysqlite"):
        if not url.database and raw.split("?", 1)[0].rstrip().endswith(":///"):
            # `sqlite:///$FOLDER/...` with the variable unset: SQLAlchemy would give a ledger in memory,
            # gone when the run ends (its outbox, its lines). `sqlite://` says so on purpose.
            raise ConfigError(
                f"{raw!r} names no ledger file",
                hint="give sqlite:///path/to/cosell.db (or sqlite:// for a ledger in memory, gone when closed)",
            )
        return url
    raise ConfigError(
        f"{_mask_url(url)}: the ledger runs on SQLite (sqlite:///file) or PostgreSQL "
        f"(postgresql://..., psycopg 3 driver), not {url.drivername}",
    )


def _secrets_of(url: URL) -> list[str]:
    secrets = [str(url.password)] if url.password else []
    for key, value in url.query.items():
        if key.lower() in ("password", "sslpassword"):
            secrets += [value] if isinstance(value, str) else list(value)
    return [s for s in secrets if s]


def _sqlite_engine(url: URL, *, memory: bool) -> Engine:
    kwargs: dict[str, Any] = {"connect_args": {"timeout": SQLITE_BUSY_SECONDS}}
    if memory:
        # One connection for the Ledger's lifetime: an in-memory database lives and dies with it.
        kwargs["poolclass"] = StaticPool
        kwargs["connect_args"]["check_same_thread"] = False
    engine = sa.create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below emit BEGIN: the sqlite3 module's own implicit BEGIN
        # would skip SELECTs and DDL and could never be IMMEDIATE.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        try:
            if not memory:
                cur.execute("PRAGMA journal_mode=WAL")
                # A run's WAL can reach hundreds of MB (1.5 M lines); give the file back after checkpoints.
                cur.execute(f"PRAGMA journal_size_limit={64 * 1024 * 1024}")
            # 64 MiB page cache (default 2 MiB): index inserts of 1.5 M lines thrash a small cache
            # (measured: 11.5 s → 7.4 s to write them, 27 s → 12 s to replace them).
            cur.execute("PRAGMA cache_size=-65536")
            cur.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_SECONDS * 1000)}")
            cur.execute("PRAGMA foreign_keys=ON")
        finally:
            cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("cosell_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def _postgres_engine(url: URL) -> Engine:
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = 10
    try:
        return sa.create_engine(url, connect_args=connect_args, pool_pre_ping=True)
    except (NoSuchModuleError, ImportError):
        raise ConfigError(
            f"{_mask_url(url)}: the PostgreSQL driver is not installed",
            hint="pip install 'cosell[postgres]' (psycopg 3)",
        ) from None


_REFUSED = ("password authentication failed", "no pg_hba.conf entry", "role ", "authentication")


def _credentials_refused(exc: DBAPIError) -> bool:
    text = str(exc.orig).lower()
    return any(marker in text for marker in _REFUSED)


def _is_connection_problem(exc: DBAPIError, *, postgres: bool) -> bool:
    if exc.connection_invalidated:
        return True
    if not isinstance(exc, (sa.exc.OperationalError, sa.exc.InterfaceError)):
        return False
    if postgres:
        return True
    text = str(exc.orig).lower()
    return any(m in text for m in ("database is locked", "unable to open", "disk i/o error"))


_SQLITE_READ_ONLY = ("readonly database", "read-only", "attempt to write a readonly")
_SQLITE_DAMAGED = ("malformed", "file is encrypted")


def _environment_problem(exc: DBAPIError) -> tuple[str, str] | None:
    """(what is wrong, what to do) when a database error says the ledger cannot be used as it is: a
    read-only file or server, a damaged file. None for anything else (a bug: exit 1)."""
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate == "25006":  # read_only_sql_transaction: a standby, or default_transaction_read_only
        return (
            "is read-only (a standby server, or default_transaction_read_only is on)",
            "point --ledger at the primary server, with a role that may write",
        )
    text = str(exc.orig).lower()
    if any(m in text for m in _SQLITE_READ_ONLY):
        return ("is read-only", "make the file and its folder writable, or point --ledger at another file")
    if "not a database" in text:
        return ("is not a SQLite database, or is damaged", "point --ledger at the ledger's file")
    if any(m in text for m in _SQLITE_DAMAGED):
        return (
            f"is damaged ({str(exc.orig).strip()})",
            "restore it from a backup (sqlite3 FILE '.recover' can salvage rows), or point --ledger elsewhere",
        )
    return None
