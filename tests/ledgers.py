"""Raw SQL on a ledger for tests: what a test does behind the Ledger's back, such as making a ledger as an
older cosell left it."""

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

TABLES_ADDED = {
    2: ("cosell_generation",),
    3: ("cosell_statement_runs", "cosell_statement_partners"),
    4: ("cosell_adjustment_events", "cosell_adjustments"),
    5: ("cosell_run_records", "cosell_discards"),
    6: ("cosell_tier_exception_events", "cosell_tier_exceptions"),
    8: ("cosell_run_variants",),
    11: ("cosell_crm_tiers",),
}
"""The tables each schema version added, in the order they are dropped to go back before it."""

COLUMNS_ADDED = {5: (("cosell_periods", "discarded_at"),), 10: (("cosell_runs", "tier_exceptions"),)}
"""The columns each schema version added to tables of earlier versions."""

INDEXES_ADDED = {7: ("cosell_lines_kind", "cosell_lines_tagged"), 9: ("cosell_outbox_accounts",)}
"""The indexes each schema version added to tables of earlier versions."""


def execute(url: str, sql: str) -> None:
    fetch(url, sql, rows=False)


def fetch(url: str, sql: str, *, rows: bool = True) -> list[tuple]:
    """The rows ``sql`` answers with, as plain tuples (none when ``rows`` is False: a statement)."""
    engine = sa.create_engine(make_url(url), poolclass=NullPool)
    try:
        with engine.begin() as conn:
            result = conn.exec_driver_sql(sql)
            return [tuple(row) for row in result] if rows else []
    finally:
        engine.dispose()


def as_made_by_version(url: str, version: int) -> None:
    """Turn a current ledger into one the code of schema ``version`` made: the tables, columns and indexes later
    versions added dropped, the version set back."""
    for added in sorted(TABLES_ADDED.keys() | INDEXES_ADDED.keys() | COLUMNS_ADDED.keys(), reverse=True):
        if added > version:
            for index in INDEXES_ADDED.get(added, ()):
                execute(url, f"DROP INDEX {index}")
            for table in TABLES_ADDED.get(added, ()):
                execute(url, f"DROP TABLE {table}")
            for table, column in COLUMNS_ADDED.get(added, ()):
                execute(url, f"ALTER TABLE {table} DROP COLUMN {column}")
    execute(url, f"UPDATE cosell_schema SET version = {version}")
