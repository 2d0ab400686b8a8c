"""Commands and connectors from plugins: the command line names neither, it asks their declarations."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import SimpleNamespace
from typing import Annotated, Any

import pytest
import typer
from typer.testing import CliRunner

from cosell import hookimpl
from cosell.cli import _connector, add_plugin_commands
from cosell.connector import ConnectorSpec
from cosell.errors import ConfigError, PluginError
from cosell.pluginmanager import Plugins


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.command()
    def run() -> None:
        """The host's own command."""

    return app


def _plugin(**hooks: Callable[..., Any]) -> SimpleNamespace:
    return SimpleNamespace(**{name: hookimpl(function) for name, function in hooks.items()})


def hello(who: Annotated[str, typer.Option("--who")] = "world") -> None:
    """Greet."""
    if not who:
        raise ConfigError("--who: say who")
    print(f"hello {who}")


def test_a_plugin_adds_a_command_whose_errors_become_exit_codes():
    plugins = Plugins(
        entry_points=False, extra={"greeter": _plugin(cosell_cli_commands=lambda register: register(hello))}
    )
    app = _app()
    add_plugin_commands(app, plugins)
    assert CliRunner().invoke(app, ["hello", "--who", "partners"]).output == "hello partners\n"
    refused = CliRunner().invoke(app, ["hello", "--who", ""])
    assert refused.exit_code == 2 and "--who: say who" in refused.output


def test_a_plugin_adds_a_typer_app_as_a_group_of_commands():
    tools = typer.Typer()

    @tools.command()
    def ping() -> None:
        print("pong")

    @tools.command()
    def other() -> None:
        print("other")

    plugins = Plugins(
        entry_points=False,
        extra={"tools": _plugin(cosell_cli_commands=lambda register: register(tools, "tools"))},
    )
    app = _app()
    add_plugin_commands(app, plugins)
    assert CliRunner().invoke(app, ["tools", "ping"]).output == "pong\n"


def test_a_command_name_taken_by_cosell_or_another_plugin_is_an_error_naming_the_plugin():
    taker = _plugin(cosell_cli_commands=lambda register: register(hello, "run"))
    with pytest.raises(PluginError, match="'run', which cosell itself has") as caught:
        add_plugin_commands(_app(), Plugins(entry_points=False, extra={"taker": taker}))
    assert "taker" in str(caught.value)
    twice = {
        "one": _plugin(cosell_cli_commands=lambda register: register(hello)),
        "two": _plugin(cosell_cli_commands=lambda register: register(hello)),
    }
    with pytest.raises(PluginError, match=r"'hello', which plugin '(one|two)' adds too"):
        Plugins(entry_points=False, extra=twice).cli_commands()


def test_a_plugin_command_named_as_a_group_of_cosell_commands_is_an_error():
    from cosell.cli import app

    taker = _plugin(cosell_cli_commands=lambda register: register(hello, "adjust"))
    with pytest.raises(PluginError, match="'adjust', which cosell itself has"):
        add_plugin_commands(app, Plugins(entry_points=False, extra={"taker": taker}))


def test_the_built_in_commands_come_from_the_contrib_plugins():
    commands = Plugins(entry_points=False).cli_commands()
    assert {name: plugin for name, (plugin, _) in commands.items()} == {"sandbox": "sandbox", "demo": "demo"}


def _connector_plugin(spec: ConnectorSpec) -> SimpleNamespace:
    return _plugin(cosell_register_connectors=lambda register: register(spec))


def _unbuildable(options: Mapping[str, Any]) -> Any:
    raise ImportError("No module named 'acme_client'")


def test_a_connector_that_reads_a_folder_says_what_input_it_needs_from_its_spec(tmp_path):
    spec = ConnectorSpec("acme", lambda options: None, input="the folder of ACME dumps", output="the replies")  # type: ignore[arg-type, return-value]
    plugins = Plugins(entry_points=False, extra={"acme": _connector_plugin(spec)})
    with pytest.raises(
        ConfigError, match=r"the acme connector needs --input DIR \(the folder of ACME dumps\)"
    ):
        _connector(plugins, "acme", None, None, command="run")
    with pytest.raises(ConfigError, match=r"the acme connector needs --output DIR \(the replies\)"):
        _connector(plugins, "acme", tmp_path, None, command="run")
    _connector(plugins, "acme", tmp_path, None, command="explain", writes=False)


def test_a_missing_client_library_names_the_connectors_install_extra():
    spec = ConnectorSpec("acme", _unbuildable, extra="acme")
    plugins = Plugins(entry_points=False, extra={"acme": _connector_plugin(spec)})
    with pytest.raises(
        ConfigError, match="the acme connector cannot start: No module named 'acme_client'"
    ) as caught:
        _connector(plugins, "acme", None, None, command="run")
    assert caught.value.hint == "pip install 'cosell[acme]'"


def test_without_connector_a_command_uses_the_connector_that_declares_itself_its_default():
    plugins = Plugins(entry_points=False)
    specs = plugins.connectors()
    assert [name for name, spec in specs.items() if "run" in spec.default_for] == ["files"]
    assert [name for name, spec in specs.items() if "sync" in spec.default_for] == ["salesforce"]
    with pytest.raises(ConfigError, match="cosell setup needs --connector NAME"):
        _connector(plugins, None, None, None, command="setup")


def test_cosell_plugins_lists_what_each_connector_needs():
    import json

    from cosell.cli import app

    listed = json.loads(CliRunner().invoke(app, ["plugins", "--json"]).output)
    connectors = {c["name"]: c for p in listed for c in p["connectors"]}
    assert connectors["files"]["input"] == "the folder of CSV exports" and connectors["files"]["env"] == []
    assert (
        connectors["hubspot"]["extra"] == "hubspot" and "HUBSPOT_ACCESS_TOKEN" in connectors["hubspot"]["env"]
    )
    assert connectors["salesforce"]["default_for"] == ["sync"] and connectors["salesforce"]["setup"] is True
