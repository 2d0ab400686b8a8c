"""Testing cosell plugins: builders, a whole run in memory, the command line in-process, and pytest fixtures.

Builders make records and programs in one line::

    from cosell.testing import deal, partner, program, compute_period
    result = compute_period(program(), [partner("P1")], [deal("D1", "1000", won_on="2026-08-01", partners=["P1"])],
                            plugins=[my_plugin])

Every entry point here computes with the built-in rules plus exactly the plugins a test names
(``plugins=[my_plugin]``), never whatever else is installed. ``run_program`` runs the whole engine
(ledger, outbox, write-back) against an in-memory CRM and returns the lines, the report, the statement
and the field values written; ``CosellCli`` runs ``cosell`` commands in-process over a program and CSV
folder it writes. This module is also a pytest plugin (entry point ``pytest11``): with cosell
installed, tests get the fixtures ``cosell_plugins`` (the built-in rules plus the plugins named by the
``cosell_plugins`` marker), ``cosell_ledger``, ``cosell_crm``, ``run_program`` and ``cosell_cli``.
"""

from __future__ import annotations

import copy
import csv
import inspect
import io
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeAlias

from pydantic import BaseModel

from . import cli_shared, hookspecs
from .connector import MANAGED_FIELDS, FieldValues, FieldWrite, RecordKey, WriteOutcome
from .context import RunReport
from .engine import Computation, compute, settings_named
from .engine import run as run_engine
from .ledger import Ledger
from .periods import Period
from .pluginmanager import Plugins, hook_suggestion, pinned, refusing_unknown_keys
from .program import LoadedProgram, Program, parse_program
from .records import ACTIVITY, DEAL, MDF_CLAIM, PARTNER, Activity, Deal, MdfClaim, Merge, Partner, RecordSet
from .results import History, LedgerLine
from .snapshot import SnapshotStore
from .statements import render as render_statement
from .textsafe import CsvWriter

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
    loaded = parse_program(program_text(**overrides) if yaml_text is None else yaml_text, "<test program>")
    if loaded.program.pilot is not None:
        raise ValueError(
            "program(): a pilot's variant is a program file named relative to the program's own file: "
            "write both files and load them with cosell.program.load_program(path)"
        )
    return loaded


def program_text(**overrides: Any) -> str:
    """The text of the minimal test program with top-level keys replaced (for ``CosellCli.write_program``)."""
    doc = {**BASE_PROGRAM, **overrides}
    # JSON is YAML, and keeps the keys in the order given.
    return json.dumps(_yamlable(doc), indent=1) + "\n"


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


PluginsArg: TypeAlias = Plugins | Sequence[object] | Mapping[str, object] | None
"""Which plugins a test computes with: a ``Plugins``, or the plugins under test (modules or objects
with ``@hookimpl`` functions) as a list or as ``{name: plugin}``; the built-in rules always come too.
None: the built-in rules alone."""


def plugins_for(plugins: PluginsArg = None) -> Plugins:
    """The built-in rules plus exactly the plugins named (see ``PluginsArg``), whatever else is installed.

    A plugin given in a list is named after its entry point when an installed distribution declares one
    for it (so its errors and ``cosell plugins`` read as in production), else after its module."""
    if isinstance(plugins, Plugins):
        return plugins
    if plugins is None:
        return Plugins(entry_points=False)
    if isinstance(plugins, Mapping):
        return Plugins.with_only(**plugins)
    if not isinstance(plugins, Sequence) or isinstance(plugins, str):
        raise TypeError(f"plugins=: give a list of plugins or {{name: plugin}}, not {plugins!r}")
    return Plugins.with_only(*plugins)


def compute_period(
    loaded: LoadedProgram | Program,
    partners: Iterable[Partner],
    deals: Iterable[Deal] = (),
    activities: Iterable[Activity] = (),
    mdf_claims: Iterable[MdfClaim] = (),
    *,
    merges: Iterable[Merge] = (),
    period: str | None = None,
    history: History | None = None,
    plugins: PluginsArg = None,
    settings: Mapping[str, BaseModel | Mapping[str, Any]] | None = None,
) -> Computation:
    """Compute one period from records, without a ledger or a connector.

    Plugin settings come from the program's ``plugins:`` section (a ``LoadedProgram``), and ``settings``
    (``{key: model instance or dict}``, a dict validated by the plugin's model) add to or replace them."""
    prog = loaded.program if isinstance(loaded, LoadedProgram) else loaded
    if prog.pilot is not None:
        raise ValueError(
            f"compute_period computes one program and does not apply pilot {prog.pilot.name!r}: run a "
            "pilot program with run_program(load_program(path), ...), which computes both arms"
        )
    records = RecordSet(tuple(partners), tuple(deals), tuple(activities), tuple(mdf_claims), tuple(merges))
    chosen = plugins_for(plugins)
    checked: dict[str, BaseModel] = chosen.default_settings()
    if isinstance(loaded, LoadedProgram):
        from .engine import check_program

        checked = check_program(loaded, chosen)
    else:  # a Program alone: its plugins: entries still set the plugins' settings
        checked.update(_settings(chosen, loaded.plugins))
    checked.update(_settings(chosen, settings or {}))
    the_period = Period.parse(period or prog.period)
    if not isinstance(loaded, LoadedProgram):
        return compute(prog, the_period, records, history or History(), chosen, checked)
    with settings_named(loaded, chosen):
        return compute(prog, the_period, records, history or History(), chosen, checked)


def _settings(plugins: Plugins, given: Mapping[str, BaseModel | Mapping[str, Any]]) -> dict[str, BaseModel]:
    models = plugins.settings_models()
    out: dict[str, BaseModel] = {}
    for key, value in given.items():
        if key not in models:
            known = ", ".join(sorted(models)) or "none"
            raise KeyError(f"settings[{key!r}]: no plugin of this test declares it (declared: {known})")
        out[key] = (
            value
            if isinstance(value, BaseModel)
            else refusing_unknown_keys(models[key][1]).model_validate(value)
        )
    return out


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
    """What ``run_program`` returns: the stored lines, the report, the statement, the CRM's fields after
    the run and the writes this run sent (only values that changed are sent)."""

    report: RunReport
    lines: list[LedgerLine]
    statement_csv: str
    statement_json: str
    fields: dict[RecordKey, dict[str, str | None]]
    writes: list[FieldWrite] = field(default_factory=list)

    def lines_of(self, partner_id: str, kind: str | None = None) -> list[LedgerLine]:
        return [ln for ln in self.lines if ln.partner_id == partner_id and (kind is None or ln.kind == kind)]


def run_program(
    loaded: LoadedProgram,
    partners: Iterable[Partner],
    deals: Iterable[Deal] = (),
    activities: Iterable[Activity] = (),
    mdf_claims: Iterable[MdfClaim] = (),
    *,
    merges: Iterable[Merge] = (),
    ledger: Ledger,
    plugins: PluginsArg = None,
    period: str | None = None,
    connector: MemoryConnector | None = None,
    dry_run: bool = False,
) -> ProgramRun:
    """Run the whole engine for one period (stored in ``ledger``, written to a MemoryConnector).

    Pass the same ``connector`` to several calls (the ``run_program`` fixture does) and it keeps what the
    CRM holds between them, so a second run's ``writes`` are only the values that changed. A ``dry_run``
    stores and writes nothing: its ``lines`` and statements are empty (even when an earlier run stored
    the period) and its ``report.changes`` are the writes it would send."""
    records = RecordSet(tuple(partners), tuple(deals), tuple(activities), tuple(mdf_claims), tuple(merges))
    target = connector or MemoryConnector(records)
    target.records = records
    sent = len(target.writes)
    the_period = Period.parse(period or loaded.program.period)
    report = run_engine(loaded, target, ledger, plugins_for(plugins), period=the_period, dry_run=dry_run)
    # A dry run stores nothing: what an earlier run stored is not this run's.
    stored = not dry_run and ledger.exists and ledger.period_status(the_period.key) is not None
    return ProgramRun(
        report,
        ledger.lines(the_period.key) if stored else [],
        render_statement(ledger, the_period.key, None, "csv") if stored else "",
        render_statement(ledger, the_period.key, None, "json") if stored else "",
        {key: dict(values) for key, values in target.fields.items()},
        target.writes[sent:],
    )


# --- the command line in-process -------------------------------------------------------------------


@dataclass(frozen=True)
class CliResult:
    """One ``cosell`` command's outcome: exit code, what it printed, and the files of the output folder."""

    exit_code: int
    stdout: str
    stderr: str
    files: dict[str, str]
    """Every file under the output folder after the command (path relative to it → text)."""

    def json(self) -> Any:
        """stdout read as JSON (a command run with ``--json``)."""
        return json.loads(self.stdout)

    def csv(self, name: str) -> list[dict[str, str]]:
        """An output file (``accounts.csv``, ``deals.csv``, ``changes.csv``) as rows."""
        return list(csv.DictReader(io.StringIO(self.files[name])))


_WIDTH = 200
"""The terminal width commands run by ``CosellCli`` print at."""


@contextmanager
def _consoles_width(width: int) -> Iterator[None]:
    """cosell's consoles at ``width`` for a while. A console keeps the width ``COLUMNS`` gave when it was
    made, at import, and the environment then is the test runner's (pytest-xdist's workers set 80)."""
    consoles = (cli_shared.out, cli_shared.err)
    kept = [console._width for console in consoles]
    for console in consoles:
        console.width = width
    try:
        yield
    finally:
        for console, old in zip(consoles, kept, strict=True):
            console._width = old


class CosellCli:
    """The ``cosell`` command line over a folder of its own, with exactly the plugins under test.

    ``write_program`` and ``write_records`` lay out ``program.yaml`` and the CSV folder ``data/``;
    ``run``, ``explain`` and ``statement`` add the options that point at them (``--program``,
    ``--input``, ``--output out``, ``--ledger`` in the folder); ``invoke`` runs any command as given.
    Commands run in-process, in the folder, with ``cosell.log`` kept there, and print 200 columns wide."""

    def __init__(self, path: Path, plugins: PluginsArg = None) -> None:
        self.path = Path(path)
        self.plugins = plugins_for(plugins)
        self.program_path = self.path / "program.yaml"
        self.input = self.path / "data"
        self.output = self.path / "out"
        self.ledger_url = f"sqlite:///{self.path / 'cosell.db'}"
        self.log = self.path / "cosell.log"
        self._command_line: Any = None

    def write_program(self, text: str) -> Path:
        """``program.yaml`` with this YAML text (``program_text(**keys)`` gives the minimal test program)."""
        self.program_path.write_text(text, encoding="utf-8")
        return self.program_path

    def write_records(
        self,
        partners: Iterable[Partner],
        deals: Iterable[Deal] = (),
        activities: Iterable[Activity] = (),
        mdf_claims: Iterable[MdfClaim] = (),
    ) -> Path:
        """The CSV folder ``data/`` the files connector reads, from records made by the builders."""
        self.input.mkdir(parents=True, exist_ok=True)
        for name, rows in records_as_csv(partners, deals, activities, mdf_claims).items():
            (self.input / name).write_text(rows, encoding="utf-8")
        return self.input

    def invoke(self, *args: str | Path) -> CliResult:
        """``cosell ARGS`` in-process in this folder; returns exit code, stdout, stderr and output files."""
        from typer.testing import CliRunner

        env = {"COSELL_LOG": str(self.log), "COSELL_LEDGER": self.ledger_url, "COLUMNS": str(_WIDTH)}
        before = os.getcwd()
        os.chdir(self.path)
        try:
            with pinned(lambda: self.plugins), _consoles_width(_WIDTH):
                result = CliRunner(env=env).invoke(self._app(), [str(a) for a in args])
        finally:
            os.chdir(before)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        files = {
            str(f.relative_to(self.output)): f.read_text(encoding="utf-8")
            for f in sorted(self.output.rglob("*"))
            if f.is_file()
        } if self.output.is_dir() else {}  # fmt: skip
        return CliResult(result.exit_code, result.stdout, result.stderr, files)

    def _app(self) -> Any:
        """cosell's command line with the commands of this harness's plugins instead of the installed ones'."""
        if self._command_line is None:
            from . import cli

            app = copy.copy(cli.app)
            app.registered_commands = [
                c
                for c in cli.app.registered_commands
                if c.callback is None
                or (c.name or c.callback.__name__).replace("_", "-") not in cli.PLUGIN_COMMANDS
            ]
            app.registered_groups = [
                g for g in cli.app.registered_groups if g.name not in cli.PLUGIN_COMMANDS
            ]
            cli.add_plugin_commands(app, self.plugins)
            self._command_line = app
        return self._command_line

    def run(self, *args: str | Path) -> CliResult:
        """``cosell run`` over the folder's program and data, writing back to ``out/``."""
        return self.invoke("run", *self._sources(), "--output", self.output, *args)

    def explain(self, partner_id: str, *args: str | Path) -> CliResult:
        return self.invoke("explain", partner_id, *self._sources(), *args)

    def statement(self, *args: str | Path) -> CliResult:
        """``cosell statement`` of the folder's ledger (``--period`` defaults to the program's)."""
        period = () if "--period" in args else ("--period", self._period())
        return self.invoke("statement", *period, *args)

    def _sources(self) -> tuple[str | Path, ...]:
        return ("--program", self.program_path, "--input", self.input)

    def _period(self) -> str:
        from .program import load_program

        return load_program(self.program_path).program.period


def records_as_csv(
    partners: Iterable[Partner],
    deals: Iterable[Deal] = (),
    activities: Iterable[Activity] = (),
    mdf_claims: Iterable[MdfClaim] = (),
) -> dict[str, str]:
    """The files connector's CSV files (name → text) holding these records; every involvement goes to
    ``deal_partners.csv``."""
    partner_rows = [
        {
            "id": p.id,
            "name": p.name,
            "joined_on": p.joined_on,
            "status": p.status,
            "exit_on": p.exit_on,
            "crm_tier": p.crm_tier,
            **p.attributes,
        }
        for p in partners
    ]
    deal_columns = ("id", "name", "amount", "currency", "stage", "status", "created_on", "closed_on",
                    "discount_pct", "margin_pct", "campaign", "refunded_on")  # fmt: skip
    deal_list = list(deals)
    files = {
        "partners.csv": _csv(partner_rows, ("id", "name", "joined_on", "status", "exit_on", "crm_tier")),
        "deals.csv": _csv([{c: getattr(d, c) for c in deal_columns} for d in deal_list], deal_columns),
        "deal_partners.csv": _csv(
            [
                {"deal_id": d.id, "partner_id": i.partner_id, "role": i.role, "share": i.share}
                for d in deal_list
                for i in d.partners
            ],
            ("deal_id", "partner_id", "role", "share"),
        ),
    }
    activity_columns = ("id", "partner_id", "type", "occurred_on", "deal_id", "quantity")
    claim_columns = ("id", "partner_id", "campaign", "amount", "currency", "status", "approved_on")
    files["activities.csv"] = _csv(
        [{c: getattr(a, c) for c in activity_columns} for a in activities], activity_columns
    )
    files["mdf_claims.csv"] = _csv(
        [{c: getattr(m, c) for c in claim_columns} for m in mdf_claims], claim_columns
    )
    return files


def _csv(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    header = list(columns) + sorted({k for row in rows for k in row} - set(columns))
    buffer = io.StringIO()
    writer = CsvWriter(buffer)
    writer.writerow(header)
    for row in rows:
        writer.writerow("" if row.get(c) is None else str(row[c]) for c in header)
    return buffer.getvalue()


def assert_hookimpl_signature(plugin: object) -> None:
    """Check a plugin (a module or an object) as cosell's loader does: every ``@hookimpl`` function
    (and every ``cosell_*`` one) names a real hook (its ``specname``, else its own name), asks only for
    arguments that hook passes (an argument with a default is never passed, and is fine), is not a
    wrapper (cosell refuses them) and is marked ``@hookimpl``; raise AssertionError saying what is wrong."""
    problems = []
    for name, function in inspect.getmembers(plugin, callable):
        marks = getattr(function, "cosell_impl", None)
        if not name.startswith("cosell_") and not isinstance(marks, dict):
            continue
        if not isinstance(marks, dict):
            problems.append(
                f"{name}: not marked @hookimpl (from cosell import hookimpl), so it is never called"
            )
            marks = {}
        hook = marks.get("specname") or name
        spec = getattr(hookspecs, hook, None) if hook in hookspecs.all_hook_names() else None
        said = name if hook == name else f"{name} (specname {hook!r})"
        if spec is None:
            known = hook_suggestion(hook) or f" (hooks: {', '.join(hookspecs.all_hook_names())})"
            problems.append(f"{said}: no such hook{known}")
            continue
        if marks.get("wrapper") or marks.get("hookwrapper"):
            problems.append(
                f"{said}: a wrapper (wrapper=True or hookwrapper=True); cosell calls its hooks "
                "implementation by implementation and refuses wrappers: use a plain @hookimpl"
            )
        offered = list(inspect.signature(spec).parameters)
        extra = [p for p in _passed_arguments(function) if p not in offered]
        if extra:
            problems.append(
                f"{said}: the hook does not pass {', '.join(extra)} (it passes {', '.join(offered)})"
            )
    if problems:
        raise AssertionError("; ".join(problems))


def _passed_arguments(function: Callable[..., Any]) -> list[str]:
    """The arguments pluggy passes to an implementation: its positional ones without a default."""
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    names = [
        p.name
        for p in inspect.signature(function).parameters.values()
        if p.kind in positional and p.default is inspect.Parameter.empty
    ]
    return names[1:] if names[:1] == ["self"] and not inspect.ismethod(function) else names


# --- pytest fixtures -------------------------------------------------------------------------------

try:
    import pytest
except ImportError:  # the builders above work without pytest
    pytest = None  # type: ignore[assignment]

if pytest is not None:

    def pytest_configure(config: pytest.Config) -> None:
        config.addinivalue_line(
            "markers",
            "cosell_plugins(*plugins, **named): the plugins under test that cosell.testing's fixtures "
            "register next to the built-in rules (and nothing else that is installed)",
        )

    @pytest.fixture
    def cosell_plugins(request: pytest.FixtureRequest) -> Plugins:
        """The built-in rules plus the plugins the ``cosell_plugins`` marks name (on the test, its class
        or module), whatever else is installed. Override this fixture in a ``conftest.py`` to choose
        otherwise."""
        positional: list[object] = []
        named: dict[str, object] = {}
        for mark in reversed(list(request.node.iter_markers("cosell_plugins"))):
            positional += [p for p in mark.args if p not in positional]
            named.update(mark.kwargs)
        return Plugins.with_only(*positional, **named)

    @pytest.fixture
    def cosell_ledger(tmp_path: Path) -> Iterator[Ledger]:
        """A ledger in a temp SQLite file."""
        with Ledger.connect(f"sqlite:///{tmp_path / 'cosell-test.db'}") as ledger:
            yield ledger

    @pytest.fixture
    def cosell_crm() -> MemoryConnector:
        """The in-memory CRM ``run_program`` writes to, kept across the test's runs (``.fields``, ``.writes``)."""
        return MemoryConnector(RecordSet())

    @pytest.fixture(name="run_program")
    def run_program_fixture(
        cosell_ledger: Ledger, cosell_plugins: Plugins, cosell_crm: MemoryConnector
    ) -> Callable[..., ProgramRun]:
        """``run_program`` with the test's ledger, plugins and in-memory CRM."""

        def bound(loaded: LoadedProgram, *args: Any, **kwargs: Any) -> ProgramRun:
            kwargs.setdefault("ledger", cosell_ledger)
            kwargs.setdefault("plugins", cosell_plugins)
            kwargs.setdefault("connector", cosell_crm)
            return run_program(loaded, *args, **kwargs)

        return bound

    @pytest.fixture
    def cosell_cli(tmp_path: Path, cosell_plugins: Plugins) -> CosellCli:
        """The ``cosell`` command line in a temp folder, with the test's plugins (``CosellCli``)."""
        folder = tmp_path / "cosell-cli"
        folder.mkdir()
        return CosellCli(folder, cosell_plugins)
