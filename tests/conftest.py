"""Shared fixtures. Ledger fixtures: a SQLite file per test, and a fresh PostgreSQL schema per test."""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool

POSTGRES_URL = os.environ.get("COSELL_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
"""The PostgreSQL server the ``postgres`` tests use (trust auth); each test gets its own schema."""


def _postgres_server_url() -> URL:
    url = make_url(POSTGRES_URL)
    return url.set(drivername="postgresql+psycopg")


@functools.cache
def postgres_unavailable() -> str | None:
    """Why no PostgreSQL server answers at POSTGRES_URL, or None when one does."""
    engine = sa.create_engine(_postgres_server_url(), poolclass=NullPool, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except Exception as exc:  # any failure means: skip, and say why
        return str(getattr(exc, "orig", exc)).strip().splitlines()[0]
    finally:
        engine.dispose()
    return None


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A URL whose search_path is a fresh, empty schema, dropped after the test."""
    problem = postgres_unavailable()
    masked = _postgres_server_url().render_as_string(hide_password=True)
    if problem:
        pytest.skip(f"no PostgreSQL server answers at {masked} (set COSELL_TEST_POSTGRES): {problem}")
    schema = f"cosell_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(_postgres_server_url(), poolclass=NullPool)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = _postgres_server_url().update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: os.PathLike[str]) -> str:
    return f"sqlite:///{os.fspath(tmp_path)}/ledger.db"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger_url(request: pytest.FixtureRequest) -> str:
    """The URL of an empty ledger: a SQLite file, then a PostgreSQL schema."""
    return str(request.getfixturevalue(f"{request.param}_url"))
