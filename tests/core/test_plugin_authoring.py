"""What a plugin author meets: errors that say where, a broken plugin diagnosed, tests isolated from
whatever else is installed, and the command line run in-process."""

from __future__ import annotations

import json
import sys
import textwrap
from decimal import Decimal
from importlib import metadata
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from cosell import hookimpl, pluginmanager
from cosell.errors import ConfigError, PluginError
from cosell.ledger import Ledger
from cosell.pluginmanager import Plugins
from cosell.results import LineKind, MetricDefinition, PayoutLine
from cosell.testing import (
    CosellCli,
    compute_period,
    deal,
    partner,
    plugins_for,
    program,
    program_text,
    run_program,
)


def _rate(deal_seen):
    return Decimal(deal_seen.deal.campaign)  # the line a test expects the error to name


class RaisesOnADeal:
    @hookimpl
    def cosell_payout_lines(self, partner):
        for involvement in partner.deals:
            _rate(involvement)


RAISE_LINE = _rate.__code__.co_firstlineno + 1


def test_a_hook_that_raises_names_its_line_the_partner_and_the_deal():
    plugins = Plugins.with_only(raiser=RaisesOnADeal())
    with pytest.raises(PluginError) as info:
        compute_period(
            program(),
            [partner("P1")],
            [deal("D7", "1000", partners=["P1"], won_on="2026-08-01", campaign="spring")],
            plugins=plugins,
        )
    text = info.value.render()
    assert text.startswith("plugin 'raiser': cosell_payout_lines raised InvalidOperation: ")
    assert (
        f"test_plugin_authoring.py:{RAISE_LINE} (in _rate): return Decimal(deal_seen.deal.campaign)" in text
    )
    assert "computing partner 'P1', deal 'D7'" in text
    assert isinstance(info.value.causes[0], ArithmeticError)


def _broken_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, source: str) -> None:
    """An installed plugin (entry point ``name`` of group cosell) whose module is ``source``."""
    (tmp_path / f"{name}_plugin.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))
    installed = metadata.entry_points

    def entry_points(*, group: str):
        found = list(installed(group=group))
        if group == "cosell":
            found.append(metadata.EntryPoint(name, f"{name}_plugin", "cosell"))
        return found

    monkeypatch.setattr(pluginmanager.metadata, "entry_points", entry_points)
    monkeypatch.delenv("COSELL_LOAD_PLUGINS", raising=False)
    sys.modules.pop(f"{name}_plugin", None)


BROKEN = """\
from decimal import Decimal

RATE = Decimal("1,5")
"""


def test_a_plugin_that_fails_to_import_names_its_entry_point_exception_file_and_line(tmp_path, monkeypatch):
    _broken_module(tmp_path, monkeypatch, "broken", BROKEN)
    with pytest.raises(PluginError) as info:
        Plugins()
    text = info.value.render()
    assert "plugin 'broken': cannot be loaded: entry point broken = broken_plugin (cosell)" in text
    assert "raised InvalidOperation: not a valid Decimal operation or number" in text
    assert f'{tmp_path / "broken_plugin.py"}:3 (in <module>): RATE = Decimal("1,5")' in text
    assert "COSELL_LOAD_PLUGINS" in text


def test_cosell_plugins_lists_a_broken_plugin_with_why_while_other_commands_refuse_it(tmp_path, monkeypatch):
    _broken_module(tmp_path, monkeypatch, "broken", BROKEN)
    cli = CosellCli(tmp_path)  # only to write the program: the command line loads what is installed
    from typer.testing import CliRunner

    from cosell.cli import app

    listed = CliRunner().invoke(app, ["plugins", "--json"])
    assert listed.exit_code == 0, listed.output
    [broken] = [p for p in json.loads(listed.stdout) if p["name"] == "broken"]
    assert "InvalidOperation" in broken["error"] and "broken_plugin.py:3" in broken["error"]
    assert {"metrics", "commission"} <= {p["name"] for p in json.loads(listed.stdout)}
    table = CliRunner().invoke(app, ["plugins"])
    assert (
        table.exit_code == 0 and "cannot load" in table.stdout and "1 plugin(s) cannot load" in table.stderr
    )

    cli.write_program(program_text())
    refused = CliRunner().invoke(app, ["validate", str(cli.program_path)])
    assert refused.exit_code == 2 and "plugin 'broken': cannot be loaded" in refused.stderr


def test_tests_compute_with_the_named_plugins_only_whatever_is_installed(tmp_path, monkeypatch):
    _broken_module(tmp_path, monkeypatch, "broken", BROKEN)
    result = compute_period(
        program(),
        [partner("P1")],
        [deal("D1", "1000", partners=["P1"], won_on="2026-08-01")],
        plugins=[Loyalty()],
    )
    assert [(ln.kind, ln.amount) for ln in result.all_lines()] == [
        ("commission", Decimal("50.00")),
        ("loyalty", Decimal("25.00")),
    ]


class LoyaltySettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    bonus: Decimal = Decimal("25")


class Loyalty:
    @hookimpl
    def cosell_plugin_settings(self):
        return ("loyalty", LoyaltySettings)

    @hookimpl
    def cosell_line_kinds(self):
        return [LineKind("loyalty", "Loyalty bonus")]

    @hookimpl
    def cosell_metric_definitions(self):
        return [MetricDefinition("tenure_years", "years since the partner joined")]

    @hookimpl
    def cosell_metrics(self, partner, context):
        return {"tenure_years": Decimal(context.period.end.year - partner.partner.joined_on.year)}

    @hookimpl
    def cosell_payout_lines(self, partner, context):
        settings = context.setting("loyalty", LoyaltySettings)
        assert settings is not None
        return [PayoutLine(partner.id, "loyalty", settings.bonus.quantize(Decimal("0.01")), "loyalty bonus")]


def test_compute_period_takes_plugin_settings_validated_by_the_plugins_model():
    result = compute_period(
        program(), [partner("P1")], plugins=[Loyalty()], settings={"loyalty": {"bonus": "40"}}
    )
    assert [ln.amount for ln in result.all_lines()] == [Decimal("40.00")]
    with pytest.raises(Exception, match="bonuss"):
        compute_period(program(), [partner("P1")], plugins=[Loyalty()], settings={"loyalty": {"bonuss": 1}})


def test_a_plugin_given_by_module_takes_its_entry_point_name():
    cosell_nps = pytest.importorskip("cosell_nps.plugin")
    assert pluginmanager.plugin_name(cosell_nps) == "nps"
    assert "nps" in {i.name for i in Plugins.with_only(cosell_nps).describe()}


def test_run_program_keeps_the_crm_across_calls_so_a_rerun_writes_only_what_changed(tmp_path):
    from cosell.records import RecordSet
    from cosell.testing import MemoryConnector

    crm = MemoryConnector(RecordSet())
    deals = [
        deal("D1", "1000", partners=["P1"], won_on="2026-08-01"),
        deal("D2", "2000", partners=["P1"], won_on="2026-08-02"),
    ]
    with Ledger.connect(f"sqlite:///{tmp_path / 'l.db'}") as ledger:
        first = run_program(program(), [partner("P1")], deals, ledger=ledger, connector=crm)
        assert {w.record_id for w in first.writes} == {"P1", "D1", "D2"}
        again = run_program(program(), [partner("P1")], deals, ledger=ledger, connector=crm)
        assert again.writes == []
        deals[1] = deal("D2", "3000", partners=["P1"], won_on="2026-08-02")
        planned = run_program(program(), [partner("P1")], deals, ledger=ledger, connector=crm, dry_run=True)
        assert {w.record_id for w in planned.report.changes} == {"P1", "D2"} and planned.writes == []
        assert crm.fields[("deal", "D2")]["incentive"] == "100.00"  # the dry run wrote nothing
        changed = run_program(program(), [partner("P1")], deals, ledger=ledger, connector=crm)
        assert {w.record_id: dict(w.values) for w in changed.writes} == {
            "P1": {"period_earnings": "200.00"},
            "D2": {"incentive": "150.00", "incentive_note": "Earned: Partner P1: 150.00 USD"},
        }


class RaisesForP2:
    @hookimpl
    def cosell_payout_lines(self, partner):
        if partner.id == "P2":
            raise ValueError("no loyalty year for this partner")


def test_the_cli_names_the_plugin_line_and_partner_logs_the_traceback_and_debug_prints_it(tmp_path):
    cli = CosellCli(tmp_path, {"raiser": RaisesForP2()})
    cli.write_program(program_text())
    cli.write_records([partner("P1"), partner("P2")])
    result = cli.run()
    assert result.exit_code == 2 and result.stdout == ""
    assert (
        "plugin 'raiser': cosell_payout_lines raised ValueError: no loyalty year for this partner"
        in result.stderr
    )
    assert "test_plugin_authoring.py:" in result.stderr and "computing partner 'P2'" in result.stderr
    assert f"the traceback is in {cli.log} (--debug prints it here)" in result.stderr
    assert 'raise ValueError("no loyalty year for this partner")' in cli.log.read_text()
    assert "Traceback" not in result.stderr

    debug = cli.invoke("--debug", "run", *cli._sources(), "--output", cli.output)
    assert debug.exit_code == 2 and "Traceback (most recent call last)" in debug.stderr

    as_json = cli.run("--json")
    error = as_json.json()["error"]
    assert as_json.exit_code == 2 and error["exit_code"] == 2 and "computing partner 'P2'" in error["message"]


class Chatty:
    """Prints from its hooks, as the documented ``cosell_run_finished`` example does."""

    @hookimpl
    def cosell_run_started(self, context):
        print(f"starting {context.period.key}")

    @hookimpl
    def cosell_payout_lines(self, partner):
        print(f"looking at {partner.id}")

    @hookimpl
    def cosell_run_finished(self, context, report):
        print(f"{report.period}: {report.written} records written")


def test_what_hooks_print_goes_to_stderr_under_json_so_stdout_stays_one_json_document(tmp_path):
    cli = CosellCli(tmp_path, {"chatty": Chatty()})
    cli.write_program(program_text())
    cli.write_records([partner("P1")])
    result = cli.run("--json")
    assert result.exit_code == 0
    assert result.json()["period"] == "2026-Q3"
    assert "starting 2026-Q3" in result.stderr and "looking at P1" in result.stderr
    assert "2026-Q3: " in result.stderr and "records written" in result.stderr
    shown = cli.run()  # without --json, printed on stdout with the table as before
    assert "2026-Q3: " in shown.stdout and "records written" in shown.stdout


class ChattyAsItLoads(Chatty):
    """Prints from the hooks that every command loading its plugins calls, too."""

    @hookimpl
    def cosell_plugin_settings(self):
        print("declaring no settings")

    @hookimpl
    def cosell_line_kinds(self):
        print("declaring no line kind")
        return ()

    @hookimpl
    def cosell_statement_renderers(self, register):
        print("registering no format")


def chatty_cli_after_a_run(tmp_path):
    """A folder run once with a plugin printing as it loads, and a variant program to compare with."""
    cli = CosellCli(tmp_path, {"chatty": ChattyAsItLoads()})
    cli.write_program(program_text())
    (tmp_path / "variant.yaml").write_text(program_text(), encoding="utf-8")
    cli.write_records([partner("P1")])
    assert cli.run().exit_code == 0
    return cli


COMPARE = ("compare", "-p", "program.yaml", "-p", "variant.yaml", "-i", "data")
DOCUMENT_COMMANDS = {
    "statement json": ("statement", "--period", "2026-Q3", "--format", "json"),
    "statement csv": ("statement", "--period", "2026-Q3"),
    "statement html": ("statement", "--period", "2026-Q3", "--format", "html"),
    "compare json": (*COMPARE, "--format", "json"),
    "compare csv": (*COMPARE, "--format", "csv"),
    "compare html": (*COMPARE, "--format", "html"),
    "report json": ("report", "--period", "2026-Q3", "--format", "json"),
    "report csv": ("report", "--period", "2026-Q3", "--format", "csv"),
    "report html": ("report", "--period", "2026-Q3"),
    "plugins json": ("plugins", "--json"),
    "schema json": ("schema",),
}


@pytest.mark.parametrize("command", DOCUMENT_COMMANDS)
def test_what_hooks_print_goes_to_stderr_under_every_document_format_so_stdout_stays_the_document(
    tmp_path, command
):
    cli = chatty_cli_after_a_run(tmp_path)
    result = cli.invoke(*DOCUMENT_COMMANDS[command])
    assert result.exit_code == 0, result.stderr
    printed = {"declaring no settings", "declaring no line kind", "registering no format"}
    assert not printed & set(result.stdout.splitlines())  # the document alone
    if command.endswith("json"):
        json.loads(result.stdout)  # one JSON document
    assert printed & set(result.stderr.splitlines())  # what the plugin printed, on stderr


def test_what_hooks_print_under_a_format_for_a_person_shows_on_stdout_with_the_text(tmp_path):
    cli = chatty_cli_after_a_run(tmp_path)
    shown = cli.invoke("statement", "--period", "2026-Q3", "--format", "terminal")
    assert shown.exit_code == 0, shown.stderr
    assert "registering no format" in shown.stdout


class PrintsAsItRegisters:
    @hookimpl
    def cosell_cli_commands(self, register):
        print("registering no command")


def test_what_plugins_print_as_the_command_line_starts_goes_to_stderr_so_no_command_output_carries_it(
    capsys,
):
    # before any command runs, whichever it is (`cosell audit` writing its CSV on stdout, say)
    import typer

    from cosell import cli

    cli.add_plugin_commands(typer.Typer(), plugins_for({"chatty": PrintsAsItRegisters()}))
    printed = capsys.readouterr()
    assert "registering no command" not in printed.out
    assert "registering no command" in printed.err


def test_the_schema_lists_each_installed_plugins_settings_under_plugins(tmp_path):
    cli = CosellCli(tmp_path, [Loyalty()])
    result = cli.invoke("schema")
    plugins = result.json()["properties"]["plugins"]
    assert plugins["additionalProperties"] is False
    loyalty = plugins["properties"]["loyalty"]
    assert loyalty["additionalProperties"] is False and "bonus" in loyalty["properties"]


def test_cosell_plugins_shows_what_each_plugin_provides(tmp_path):
    cli = CosellCli(tmp_path, {"loyalty": Loyalty()})
    [info] = [p for p in cli.invoke("plugins", "--json").json() if p["name"] == "loyalty"]
    assert info["metrics"] == [
        {"name": "tenure_years", "description": "years since the partner joined", "money": False}
    ]
    assert info["settings"] == {
        "key": "loyalty",
        "fields": [
            {
                "name": "bonus",
                "type": "Decimal",
                "required": False,
                "default": "Decimal('25')",
                "description": None,
            }
        ],
    }
    table = cli.invoke("plugins").stdout
    assert "metric tenure_years: years since the partner joined" in table
    assert "settings plugins.loyalty: bonus (Decimal, default Decimal('25'))" in table


class ReportCommand:
    @hookimpl
    def cosell_cli_commands(self, register):
        def loyalty_report(period: str = "2026-Q3") -> None:
            """Print the loyalty report."""
            print(f"loyalty for {period}")

        register(loyalty_report, "loyalty-report")


def test_the_cli_harness_adds_the_commands_of_the_plugin_under_test(tmp_path):
    with_command = CosellCli(tmp_path / "a", [ReportCommand()])
    (tmp_path / "a").mkdir()
    result = with_command.invoke("loyalty-report", "--period", "2026-Q4")
    assert (result.exit_code, result.stdout) == (0, "loyalty for 2026-Q4\n")
    (tmp_path / "b").mkdir()
    assert CosellCli(tmp_path / "b").invoke("loyalty-report").exit_code == 2  # no such command
    assert (
        CosellCli(tmp_path / "b").invoke("demo", "--help").exit_code == 0
    )  # built-in plugins' commands stay


CLASHING = """\
from cosell import hookimpl
from cosell.results import LineKind


@hookimpl
def cosell_line_kinds():
    return [LineKind("commission", "My commission")]
"""


def test_an_installed_plugin_claiming_a_built_in_kind_is_listed_broken_and_the_others_still_load(
    tmp_path, monkeypatch
):
    _broken_module(tmp_path, monkeypatch, "clashing", CLASHING)
    plugins = Plugins(keep_broken=True)
    [(name, _, error)] = plugins.broken
    assert (
        name == "clashing" and "declares line kind 'commission', which plugin 'commission'" in error.render()
    )
    assert "clashing" not in {i.name for i in plugins.describe() if i.error is None}
    assert plugins.line_kinds()["commission"][0] == "commission"
    with pytest.raises(PluginError, match="plugin 'clashing'"):
        Plugins()


class FailingLoyalty(Loyalty):
    @hookimpl
    def cosell_payout_lines(self, partner, context):
        raise ValueError(f"bonus {context.setting('loyalty', LoyaltySettings).bonus} is not allowed")


def test_a_run_failing_in_a_plugin_names_the_plugins_settings_file_and_line(tmp_path):
    cli = CosellCli(tmp_path, {"loyalty": FailingLoyalty()})
    cli.write_program(program_text(plugins={"loyalty": {"bonus": "7"}}))
    cli.write_records([partner("P1")])
    result = cli.run()
    assert result.exit_code == 2 and "ValueError: bonus 7 is not allowed" in result.stderr
    line = next(
        n for n, text in enumerate(cli.program_path.read_text().splitlines(), 1) if '"loyalty"' in text
    )
    assert f"hint: its settings: plugins.loyalty at {cli.program_path}:{line}" in result.stderr


class BuggyCommand:
    @hookimpl
    def cosell_cli_commands(self, register):
        def tally() -> None:
            """A command with a bug."""
            {}["missing"]

        register(tally, "tally")


def test_an_internal_error_is_one_line_with_the_log_and_debug_adds_the_traceback(tmp_path):
    cli = CosellCli(tmp_path, [BuggyCommand()])
    plain = cli.invoke("tally")
    assert plain.exit_code == 1 and "internal error (KeyError: 'missing')" in plain.stderr
    assert "Traceback" not in plain.stderr and "Traceback" in cli.log.read_text()
    debug = cli.invoke("--debug", "tally")
    assert debug.exit_code == 1 and "Traceback (most recent call last)" in debug.stderr
    assert '{}["missing"]' in debug.stderr


class PlainSettings(BaseModel):  # as a plugin author writes one: no `extra` in its config
    years: int = 1


class Tenure:
    @hookimpl
    def cosell_plugin_settings(self):
        return ("tenure", PlainSettings)


class OpenSettings(BaseModel):
    model_config = ConfigDict(extra="allow")
    years: int = 1


class OpenTenure:
    @hookimpl
    def cosell_plugin_settings(self):
        return ("open_tenure", OpenSettings)


def test_an_unknown_key_in_a_plugins_entry_is_refused_with_its_line_unless_its_model_allows_it(tmp_path):
    cli = CosellCli(tmp_path, {"tenure": Tenure(), "open_tenure": OpenTenure()})
    cli.write_program(program_text(plugins={"tenure": {"yeras": 5}, "open_tenure": {"extra": 1}}))
    cli.write_records([partner("P1")])
    result = cli.run()
    assert result.exit_code == 2, result.stderr
    line = next(n for n, text in enumerate(cli.program_path.read_text().splitlines(), 1) if "yeras" in text)
    assert f"{cli.program_path}:{line}: plugins.tenure.yeras: unknown key" in result.stderr
    assert "open_tenure" not in result.stderr  # its model keeps unknown keys, by its own choice
    # what the plugin receives is still an instance of its model
    found = compute_period(program(), [partner("P1")], plugins=[Tenure()], settings={"tenure": {"years": 3}})
    assert isinstance(found.context.setting("tenure"), PlainSettings)
    with pytest.raises(Exception, match="yeras"):
        compute_period(program(), [partner("P1")], plugins=[Tenure()], settings={"tenure": {"yeras": 3}})


class Spiff:
    def __init__(self, amount: str) -> None:
        self.amount = amount

    @hookimpl
    def cosell_payout_lines(self, partner, context):
        return []


def test_two_plugin_objects_of_one_name_are_refused_rather_than_one_dropped():
    with pytest.raises(PluginError, match="two plugins are registered under this name"):
        Plugins.with_only(Spiff("10.00"), Spiff("20.00"))
    same = Spiff("10.00")
    assert "spiff" in {i.name for i in Plugins.with_only(same, same).describe()}  # one object given twice
    named = Plugins.with_only(spiff_a=Spiff("10.00"), spiff_b=Spiff("20.00"))
    assert {"spiff_a", "spiff_b"} <= {i.name for i in named.describe()}


class RaisingCommands:
    @hookimpl
    def cosell_cli_commands(self, register):
        raise RuntimeError("half installed")


class GoodCommand:
    @hookimpl
    def cosell_cli_commands(self, register):
        def loyalty_report() -> None:
            """A plugin's own report."""

        register(loyalty_report)


def test_a_plugin_whose_commands_fail_is_left_out_and_named_the_others_commands_stay():
    import typer

    from cosell.cli import add_plugin_commands

    plugins = Plugins.with_only(broken=RaisingCommands(), good=GoodCommand(), clash=GoodCommand())
    target = typer.Typer()
    left_out: list[PluginError] = []
    assert "loyalty-report" in add_plugin_commands(target, plugins, left_out=left_out)
    said = sorted(e.render() for e in left_out)
    assert any("plugin 'broken'" in s and "half installed" in s for s in said)
    assert any("adds the command 'loyalty-report', which plugin" in s for s in said)  # one of the two
    with pytest.raises(PluginError):  # without somewhere to put them, the first error stops it
        plugins.cli_commands()


EMPTY_PLUGIN = """\
from cosell import hookimpl


@hookimpl
def cosell_run_started(context):
    pass
"""

CONNECTOR_PLUGIN = """\
from cosell import hookimpl


@hookimpl
def cosell_register_connectors(register):
    pass
"""


def _installed(
    root: Path,
    monkeypatch: pytest.MonkeyPatch,
    dist: str,
    entry_points: dict[str, dict[str, str]],
    modules: dict[str, str],
) -> None:
    """An installed distribution ``dist`` 1.0 (a dist-info folder on sys.path): group → {name: module}."""
    info = root / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "".join(
            f"[{group}]\n" + "".join(f"{n} = {m}\n" for n, m in names.items())
            for group, names in entry_points.items()
        )
    )
    for module, source in modules.items():
        (root / f"{module}.py").write_text(source)
        sys.modules.pop(module, None)
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.delenv("COSELL_LOAD_PLUGINS", raising=False)


def test_an_entry_point_with_a_built_in_plugins_name_is_broken_naming_its_distribution(tmp_path, monkeypatch):
    _installed(
        tmp_path,
        monkeypatch,
        "acme-commission",
        {"cosell": {"commission": "acme_c"}},
        {"acme_c": EMPTY_PLUGIN},
    )
    with pytest.raises(PluginError) as info:
        Plugins()
    text = info.value.render()
    assert "plugin 'commission'" in text and "acme-commission 1.0" in text and "built-in" in text
    described = Plugins(keep_broken=True).describe()
    assert [p.error is not None for p in described if p.name == "commission"] == [False, True]


def test_one_entry_point_name_from_two_distributions_is_broken_naming_both(tmp_path, monkeypatch):
    _installed(
        tmp_path,
        monkeypatch,
        "alpha-certs",
        {"cosell": {"certs": "alpha_certs"}},
        {"alpha_certs": EMPTY_PLUGIN},
    )
    _installed(
        tmp_path, monkeypatch, "beta-certs", {"cosell": {"certs": "beta_certs"}}, {"beta_certs": EMPTY_PLUGIN}
    )
    with pytest.raises(PluginError) as info:
        Plugins()
    assert "alpha-certs 1.0 and beta-certs 1.0" in info.value.render()
    assert "certs" not in {p.name for p in Plugins(keep_broken=True).describe() if p.error is None}


def test_one_name_in_both_groups_for_two_modules_is_broken_not_half_loaded(tmp_path, monkeypatch):
    _installed(
        tmp_path,
        monkeypatch,
        "cosell-acme",
        {"cosell": {"acme": "acme_rules"}, "cosell.connectors": {"acme": "acme_connector"}},
        {"acme_rules": EMPTY_PLUGIN, "acme_connector": CONNECTOR_PLUGIN},
    )
    with pytest.raises(PluginError) as info:
        Plugins()
    text = info.value.render()
    assert "acme = acme_rules (cosell)" in text and "acme = acme_connector (cosell.connectors)" in text


def test_one_name_in_both_groups_for_one_module_loads_it_once(tmp_path, monkeypatch):
    _installed(
        tmp_path,
        monkeypatch,
        "cosell-acme",
        {"cosell": {"acme": "acme_both"}, "cosell.connectors": {"acme": "acme_both"}},
        {"acme_both": CONNECTOR_PLUGIN},
    )
    assert ("acme", "cosell-acme", "1.0") in Plugins().versions()


def test_a_name_in_cosell_load_plugins_that_no_plugin_has_is_an_error_listing_the_installed(monkeypatch):
    pytest.importorskip("cosell_nps", reason="needs the contrib/cosell-nps package installed")
    monkeypatch.setenv("COSELL_LOAD_PLUGINS", "nps,webhok")
    with pytest.raises(ConfigError) as info:
        Plugins()
    assert info.value.exit_code == 2
    text = info.value.render()
    assert "COSELL_LOAD_PLUGINS names webhok" in text and "nps, webhook" in text


def test_compute_period_given_a_program_alone_takes_its_plugins_settings():
    loaded = program(plugins={"loyalty": {"bonus": "40"}})
    result = compute_period(loaded.program, [partner("P1")], plugins=[Loyalty()])
    assert [ln.amount for ln in result.all_lines()] == [Decimal("40.00")]


PILOT_PROGRAM = """\
program: Test
period: 2026-Q3
currency: USD
tiers:
  - {name: Registered, min_score: 0, commission_rate: "0.05"}
pilot:
  name: richer
  variant: variant.yaml
  cohort: {share: "0.5", seed: 3}
"""


def test_a_pilot_program_is_refused_by_the_helpers_that_cannot_apply_it(tmp_path):
    from cosell.program import load_program

    with pytest.raises(ValueError, match=r"program\(\): a pilot's variant .*load_program"):
        program(PILOT_PROGRAM)
    (tmp_path / "program.yaml").write_text(PILOT_PROGRAM)
    (tmp_path / "variant.yaml").write_text(PILOT_PROGRAM.split("pilot:")[0])
    loaded = load_program(tmp_path / "program.yaml")
    with pytest.raises(ValueError, match=r"does not apply pilot 'richer'.*run_program"):
        compute_period(loaded, [partner("P1")])


def test_a_dry_run_after_a_real_run_returns_no_lines_of_its_own(tmp_path):
    deals = [deal("D1", "1000", partners=["P1"], won_on="2026-08-01")]
    with Ledger.connect(f"sqlite:///{tmp_path / 'l.db'}") as ledger:
        stored = run_program(program(), [partner("P1")], deals, ledger=ledger)
        assert [ln.amount for ln in stored.lines] == [Decimal("50.00")]
        deals = [deal("D1", "3000", partners=["P1"], won_on="2026-08-01")]
        planned = run_program(program(), [partner("P1")], deals, ledger=ledger, dry_run=True)
        assert planned.lines == [] and planned.statement_csv == ""


class DefaultArgument:
    @hookimpl
    def cosell_payout_lines(self, partner, scale=2):
        return []


class Wrapping:
    @hookimpl(wrapper=True)
    def cosell_run_finished(self, report):
        return (yield)


class SpecNamed:
    @hookimpl(specname="cosell_payout_lines")
    def my_lines(self, partnr):
        return []


def test_assert_hookimpl_signature_agrees_with_the_loader():
    from cosell.testing import assert_hookimpl_signature

    assert_hookimpl_signature(DefaultArgument())  # pluggy never passes an argument with a default
    Plugins.with_only(default=DefaultArgument())
    for plugin, said in (
        (Wrapping(), r"cosell_run_finished: a wrapper"),
        (SpecNamed(), r"my_lines \(specname 'cosell_payout_lines'\): the hook does not pass partnr"),
    ):
        with pytest.raises(AssertionError, match=said):
            assert_hookimpl_signature(plugin)
        with pytest.raises(PluginError):
            Plugins.with_only(plugin)


class Quitter:
    """Calls sys.exit in a hook, as a script would."""

    @hookimpl
    def cosell_payout_lines(self, partner):
        sys.exit(0)


def test_a_hook_calling_sys_exit_stops_the_run_naming_the_plugin_and_stores_nothing(tmp_path):
    cli = CosellCli(tmp_path, plugins={"quitter": Quitter()})
    cli.write_program(program_text())
    cli.write_records([partner("P1")], [deal("D1", "1000", partners=["P1"], won_on="2026-08-01")])
    result = cli.run()
    assert result.exit_code == 2, result.stderr
    assert "plugin 'quitter': cosell_payout_lines raised SystemExit: 0" in result.stderr
    assert "computing partner 'P1'" in result.stderr
    with Ledger.connect(f"sqlite:///{tmp_path / 'cosell.db'}") as ledger:
        assert ledger.periods() == []


def test_a_plugin_calling_sys_exit_at_import_is_named_and_not_an_exit(tmp_path, monkeypatch):
    _broken_module(tmp_path, monkeypatch, "quitter", "import sys\n\nsys.exit(1)\n")
    with pytest.raises(PluginError) as info:
        Plugins()
    text = info.value.render()
    assert "plugin 'quitter': cannot be loaded: entry point quitter = quitter_plugin (cosell)" in text
    assert "raised SystemExit: 1" in text and "quitter_plugin.py:3 (in <module>): sys.exit(1)" in text


class QuitsAtTheEnd:
    @hookimpl
    def cosell_run_finished(self, report):
        sys.exit(0)


def test_sys_exit_in_run_finished_is_listed_as_its_failure_and_the_run_is_recorded_finished(tmp_path):
    cli = CosellCli(tmp_path, plugins={"quitter": QuitsAtTheEnd()})
    cli.write_program(program_text())
    cli.write_records([partner("P1")], [deal("D1", "1000", partners=["P1"], won_on="2026-08-01")])
    result = cli.run()
    assert result.exit_code == 3, result.stderr
    assert "plugin 'quitter': cosell_run_finished raised SystemExit: 0" in result.stdout + result.stderr
    with Ledger.connect(f"sqlite:///{tmp_path / 'cosell.db'}") as ledger:
        assert ledger.periods() == [("2026-Q3", "open")]
        assert [run.status for run in ledger.runs()] == ["failed"]
