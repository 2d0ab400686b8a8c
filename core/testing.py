"""Testing cosell plugins: builders, a whole run in memory, and pytest fixtures.

Builders make records and programs in one line::

    from cosell.testing import deal, partner, program, compute_period
    result = compute_period(program(), [partner("P1")], [deal("D1", "1000", won_on="2026-08-01", partners=["P1"])])

``run_program`` runs the whole engine (ledger, outbox, write-back) against an in-memory target and
returns the lines, the standings, the statement and the field values written. This module is also a
pytest plugin (entry point ``pytest11``): with cosell installed, tests get the fixtures
``cosell_ledger`` (a ledger in a temp file), ``cosell_plugins`` (every installed plugin, yours
included) and ``run_program`` (``run_program`` bound to both).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from . import hookspecs
from .connector import MANAGED_FIELDS, FieldValues, FieldWrite, RecordKey, WriteOutcome
from .context import RunReport
from .engine import Computation, compute
from .engine import run as run_engine
from .ledger import Ledger
from .periods import Period
from .pluginmanager import Plugins, hook_suggestion
from .program import LoadedProgram, Program, parse_program
from .records import ACTIVITY, DEAL, MDF_CLAIM, PARTNER, Activity, Deal, MdfClaim, Partner, RecordSet
from .results import History, LedgerLine
from .snapshot import SnapshotStore
from .statements import render as render_statement

BASE_PROGRAM: dict[str, Any] = {
    "program": "Test Program",
    "period": "2026-Q3",
    "currency": "USD",
    "tiers": [{"name": "Registered", "min_score": 0, "commission_rate": "0.05"}],
}


def partner(id: str = "P1", name: str | None = None, joined_on: str = "2025-01-01", **fields: Any) -> Partner:
    return PARTNER.validate_python(
        {"id": id, "name": name or f"Partner {id}", "joined_on": joined_on, **fields}
    )


def deal(
    id: str,
    amount: str | int | Decimal = "1000",
    *,
    partners: Sequence[str | tuple[str, str] | tuple[str, str, str | None]] = (),
    created_on: str = "2026-07-01",
    won_on: str | None = None,
    lost_on: str | None = None,
    currency: str = "USD",
    stage: str | None = None,
    **fields: Any,
) -> Deal:
    """A deal; ``partners`` as ids (sourced), (id, role) or (id, role, share). ``won_on``/``lost_on`` close it."""
    involvements = []
    for p in partners:
        if isinstance(p, str):
            involvements.append({"partner_id": p, "role": "sourced"})
        else:
            inv: dict[str, Any] = {"partner_id": p[0], "role": p[1]}
            if len(p) > 2 and p[2] is not None:
                inv["share"] = p[2]
            involvements.append(inv)
    status = "won" if won_on else "lost" if lost_on else "open"
    return DEAL.validate_python(
        {
            "id": id,
            "name": fields.pop("name", f"Deal {id}"),
            "amount": str(amount),
            "currency": currency,
            "stage": stage or {"won": "Closed Won", "lost": "Closed Lost", "open": "Proposal"}[status],
            "status": status,
            "created_on": created_on,
            "closed_on": won_on or lost_on,
            "partners": involvements,
            **fields,
        }
    )


def activity(
    id: str, partner_id: str, type: str, occurred_on: str, quantity: str | int = 1, **fields: Any
) -> Activity:
    return ACTIVITY.validate_python(
        {
            "id": id,
            "partner_id": partner_id,
            "type": type,
            "occurred_on": occurred_on,
            "quantity": str(quantity),
            **fields,
        }
    )


def mdf_claim(
    id: str, partner_id: str, campaign: str, amount: str | int, status: str = "approved", **fields: Any
) -> MdfClaim:
    return MDF_CLAIM.validate_python(
        {
            "id": id,
            "partner_id": partner_id,
            "campaign": campaign,
            "amount": str(amount),
            "status": status,
            **fields,
        }
    )


def program(yaml_text: str | None = None, **overrides: Any) -> LoadedProgram:
    """A program from YAML text, or the minimal test program with top-level keys replaced."""
    if yaml_text is not None:
        return parse_program(yaml_text, "<test program>")
    doc = {**BASE_PROGRAM, **overrides}
    # JSON is YAML, and keeps the keys in the order given.
    return parse_program(json.dumps(_yamlable(doc), indent=1), "<test program>")


def _yamlable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _yamlable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_yamlable(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def compute_period(
    loaded: LoadedProgram | Program,
    partners: Iterable[Partner],
    deals: Iterable[Deal] = (),
    activities: Iterable[Activity] = (),
    mdf_claims: Iterable[MdfClaim] = (),
    *,
    period: str | None = None,
    history: History | None = None,
    plugins: Plugins | None = None,
) -> Computation:
    """Compute one period from records, without a ledger or a connector."""
    prog = loaded.program if isinstance(loaded, LoadedProgram) else loaded
    records = RecordSet(tuple(partners), tuple(deals), tuple(activities), tuple(mdf_claims))
    plugins = plugins or Plugins(entry_points=False)
    settings = {}
    if isinstance(loaded, LoadedProgram):
        from .engine import check_program

        settings = check_program(loaded, plugins)
    return compute(
        prog, Period.parse(period or prog.period), records, history or History(), plugins, settings
    )


# --- a whole run in memory -------------------------------------------------------------------------


@dataclass
class MemoryConnector:
    """A connector over records in memory whose target is a dict: what a CRM would hold after the run."""

    records: RecordSet
    fields: dict[RecordKey, dict[str, str | None]] = field(default_factory=dict)
    name: str = "memory"
    write_batch_size: int = 100
    writes: list[FieldWrite] = field(default_factory=list)
    refuse: frozenset[str] = frozenset()
    """Record ids whose writes the target refuses, as a CRM's validation rule would."""

    def read(self, program: Program, ledger: SnapshotStore) -> RecordSet:
        return self.records

    def current_values(self, keys: Sequence[RecordKey]) -> Mapping[RecordKey, FieldValues]:
        return {key: dict(self.fields[key]) for key in keys if key in self.fields}

    def write(self, writes: Sequence[FieldWrite]) -> Sequence[WriteOutcome]:
        outcomes = []
        for w in writes:
            if w.record_id in self.refuse:
                outcomes.append(
                    WriteOutcome(w.key, False, "FIELD_CUSTOM_VALIDATION_EXCEPTION: refused by the test")
                )
                continue
            self.writes.append(w)
            self.fields.setdefault(w.key, dict.fromkeys(MANAGED_FIELDS[w.object]))
            self.fields[w.key].update(w.values)
            outcomes.append(WriteOutcome(w.key, True))
        return outcomes


@dataclass(frozen=True)
class ProgramRun:
    """What ``run_program`` returns: the stored lines, the report, the statement and the target's fields."""

    report: RunReport
    lines: list[LedgerLine]
    statement_csv: str
    statement_json: str
    fields: dict[RecordKey, dict[str, str | None]]

    def lines_of(self, partner_id: str, kind: str | None = None) -> list[LedgerLine]:
        return [ln for ln in self.lines if ln.partner_id == partner_id and (kind is None or ln.kind == kind)]


def run_program(
    loaded: LoadedProgram,
    partners: Iterable[Partner],
    deals: Iterable[Deal] = (),
    activities: Iterable[Activity] = (),
    mdf_claims: Iterable[MdfClaim] = (),
    *,
    ledger: Ledger,
    plugins: Plugins | None = None,
    period: str | None = None,
    connector: MemoryConnector | None = None,
) -> ProgramRun:
    """Run the whole engine for one period (stored in ``ledger``, written to a MemoryConnector)."""
    records = RecordSet(tuple(partners), tuple(deals), tuple(activities), tuple(mdf_claims))
    target = connector or MemoryConnector(records)
    target.records = records
    the_period = Period.parse(period or loaded.program.period)
    report = run_engine(loaded, target, ledger, plugins or Plugins(), period=the_period)
    return ProgramRun(
        report,
        ledger.lines(the_period.key),
        render_statement(ledger, the_period.key, None, "csv"),
        render_statement(ledger, the_period.key, None, "json"),
        target.fields,
    )


def assert_hookimpl_signature(plugin: object) -> None:
    """Check that every ``cosell_*`` function of a plugin (a module or an object) names a real hook and
    only arguments that hook passes; raise AssertionError saying what is wrong."""
    problems = []
    for name, function in inspect.getmembers(plugin, callable):
        if not name.startswith("cosell_"):
            continue
        spec = getattr(hookspecs, name, None)
        if spec is None:
            suggestion = hook_suggestion(name)
            if suggestion:
                problems.append(f"{name}: no such hook{suggestion}")
            else:
                problems.append(f"{name}: no such hook (hooks: {', '.join(hookspecs.all_hook_names())})")
            continue
        offered = list(inspect.signature(spec).parameters)
        wanted = [p for p in inspect.signature(function).parameters if p != "self"]
        extra = [p for p in wanted if p not in offered]
        if extra:
            problems.append(
                f"{name}: the hook does not pass {', '.join(extra)} (it passes {', '.join(offered)})"
            )
        if not hasattr(function, "cosell_impl"):
            problems.append(
                f"{name}: not marked @hookimpl (from cosell import hookimpl), so it is never called"
            )
    if problems:
        raise AssertionError("; ".join(problems))


# --- pytest fixtures -------------------------------------------------------------------------------

try:
    import pytest
except ImportError:  # the builders above work without pytest
    pytest = None  # type: ignore[assignment]

if pytest is not None:

    @pytest.fixture
    def cosell_ledger(tmp_path: Path) -> Iterator[Ledger]:
        """A ledger in a temp SQLite file."""
        with Ledger.connect(f"sqlite:///{tmp_path / 'cosell-test.db'}") as ledger:
            yield ledger

    @pytest.fixture
    def cosell_plugins() -> Plugins:
        """Every installed plugin (built-in rules, entry points: the plugin under test included)."""
        return Plugins()

    @pytest.fixture(name="run_program")
    def run_program_fixture(cosell_ledger: Ledger, cosell_plugins: Plugins) -> Callable[..., ProgramRun]:
        """``run_program`` with the test's ledger and plugins."""

        def bound(loaded: LoadedProgram, *args: Any, **kwargs: Any) -> ProgramRun:
            kwargs.setdefault("ledger", cosell_ledger)
            kwargs.setdefault("plugins", cosell_plugins)
            return run_program(loaded, *args, **kwargs)

        return bound
