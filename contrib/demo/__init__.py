"""``cosell demo``: the CRM sandbox in-process, then setup, a full run and a look at the CRM's fields,
through the real connectors (the CSV example where a connector is not installed). A built-in plugin:
it adds the ``demo`` command."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from cosell.connector import Connector
from cosell.context import RunReport
from cosell.contrib.sandbox import SandboxUnavailable, serve
from cosell.contrib.sandbox.cli import INSTALL_HINT
from cosell.engine import check_program, run
from cosell.errors import ConfigError
from cosell.hookspecs import hookimpl
from cosell.ledger import Ledger
from cosell.pluginmanager import Plugins
from cosell.program import LoadedProgram, load_program
from cosell.statements import render

CRMS = ("salesforce", "hubspot")


@hookimpl
def cosell_cli_commands(register: Callable[..., None]) -> None:
    register(demo, "demo")


def demo(
    folder: Annotated[
        Path, typer.Option("--folder", help="Where the demo's ledgers and statements go.")
    ] = Path("cosell-demo"),
    partners: Annotated[int, typer.Option("--partners", help="Partners the sandbox seeds.")] = 20,
    deals: Annotated[int, typer.Option("--deals", help="Deals the sandbox seeds.")] = 300,
) -> None:
    """Start the CRM sandbox, set up the fields, run a program against Salesforce then HubSpot, show the result."""
    from cosell.cli import print_report
    from cosell.cli_shared import out

    run_demo(folder, out, lambda report: print_report(report, as_json=False), partners=partners, deals=deals)


def demo_program() -> LoadedProgram:
    with resources.as_file(resources.files(__name__) / "program.yaml") as path:
        return load_program(path)


def sandbox_env(info: dict[str, Any], crm: str) -> dict[str, str]:
    """The environment a RevOps user would set to point a connector at the sandbox."""
    env = dict(os.environ)
    if crm == "salesforce":
        env.update(
            SF_INSTANCE_URL=info["salesforce_instance_url"],
            SF_ACCESS_TOKEN=info["token"],
            SF_CA_BUNDLE=info["ca_bundle"],
        )
    else:
        env.update(
            HUBSPOT_BASE_URL=info["hubspot_base_url"],
            HUBSPOT_ACCESS_TOKEN=info["token"],
            HUBSPOT_CA_BUNDLE=info["ca_bundle"],
        )
    return env


def run_demo(
    folder: Path,
    console: Console,
    print_report: Callable[[RunReport], None],
    *,
    partners: int = 20,
    deals: int = 300,
    seed: int = 7,
) -> list[Path]:
    """Run the demo; returns the statements written."""
    loaded = demo_program()
    plugins = Plugins()
    settings = check_program(loaded, plugins)
    specs = plugins.connectors()
    written: list[Path] = []
    with contextlib.ExitStack() as stack:
        try:
            sandbox = stack.enter_context(serve(seed=seed, partners=partners, deals=deals))
        except SandboxUnavailable as exc:
            raise ConfigError(f"the sandbox cannot start: {exc}", hint=INSTALL_HINT) from None
        folder.mkdir(parents=True, exist_ok=True)
        info = sandbox.info()
        console.print(f"CRM sandbox on {info['base_url']} (seed {seed}: {partners} partners, {deals} deals)")
        for crm in CRMS:
            spec = specs.get(crm)
            if spec is None:
                console.print(f"\n[yellow]The {crm} connector is not installed here; skipping it.[/yellow]")
                continue
            console.rule(f"{crm}")
            options: dict[str, Any] = {
                "input": None,
                "output": None,
                "program": loaded.program,
                "settings": settings,
                "env": sandbox_env(info, crm),
            }
            if spec.setup is not None:
                result = spec.setup(options)
                console.print(
                    f"setup: {len(result.created)} field(s) created, {len(result.existing)} already there"
                    + (f", {len(result.problems)} problem(s)" if result.problems else "")
                )
            connector = spec.factory(options)
            with Ledger.connect(f"sqlite:///{folder / (crm + '.db')}") as ledger:
                report = run(loaded, connector, ledger, plugins)
                print_report(report)
                _show_deals(console, connector, report, loaded, ledger)
                path = folder / f"statement-{crm}.html"
                path.write_text(_statement(ledger, report.period, loaded, plugins), encoding="utf-8")
                written.append(path)
                console.print(f"statement: {path}")
    if not written:
        console.print("\nNo CRM connector is installed: running the bundled CSV example instead.")
        written += _csv_demo(folder, console, print_report, plugins)
    return written


def _statement(ledger: Ledger, period: str, loaded: LoadedProgram, plugins: Plugins) -> str:
    definitions = {name: d for name, (_, d) in plugins.metric_definitions().items()}
    return render(ledger, period, None, "html", loaded.program, definitions)


def _show_deals(
    console: Console,
    connector: Connector,
    report: RunReport,
    loaded: LoadedProgram,
    ledger: Ledger,
    count: int = 6,
) -> None:
    """Read back a few deals the run wrote: a fresh read, so the values are the CRM's, not the plan's."""
    keys = [w.key for w in report.changes if w.object == "deal" and w.values.get("incentive")][:count]
    if not keys:
        return
    connector.read(loaded.program, ledger)
    held = connector.current_values(keys)
    table = Table(title="A few deals, as the CRM now holds them")
    for column in ("Deal", "Incentive", "Status", "Note"):
        table.add_column(column)
    for key in keys:
        values = held.get(key, {})
        table.add_row(
            key[1],
            values.get("incentive") or "",
            values.get("incentive_status") or "",
            values.get("incentive_note") or "",
        )
    console.print(table)


def _csv_demo(
    folder: Path, console: Console, print_report: Callable[[RunReport], None], plugins: Plugins
) -> list[Path]:
    root = Path(__file__).resolve().parents[2] / "examples"
    if not (root / "program.yaml").exists():
        raise ConfigError("the bundled CSV example is not available in this installation")
    loaded = load_program(root / "program.yaml")
    connector = plugins.connectors()["files"].factory({"input": root / "data", "output": folder / "csv-out"})
    with Ledger.connect(f"sqlite:///{folder / 'csv.db'}") as ledger:
        report = run(loaded, connector, ledger, plugins)
        print_report(report)
        path = folder / "statement-csv.html"
        path.write_text(_statement(ledger, report.period, loaded, plugins), encoding="utf-8")
    console.print(f"statement: {path}")
    return [path]
