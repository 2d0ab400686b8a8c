"""Statement formats are renderers registered by name (``cosell_statement_renderers``): cosell's own and
a plugin's, looked up by ``--format``."""

from decimal import Decimal

import pytest

from cosell import hookimpl
from cosell.errors import ConfigError, PluginError
from cosell.ledger import Ledger
from cosell.periods import Period
from cosell.pluginmanager import Plugins
from cosell.results import PayoutLine
from cosell.statements import StatementDocument, render, statement_renderers

Q3 = Period.parse("2026-Q3")


@pytest.fixture
def book(tmp_path):
    with Ledger.connect(f"sqlite:///{tmp_path}/ledger.db") as ledger:
        ledger.record_run(
            period=Q3,
            program="Global Partner Program",
            connector="files",
            target="files:out",
            lines=[PayoutLine("P1", "commission", Decimal("10.00"), "won D1", "D1")],
            standings=[],
            projections=[],
            writes=[],
        )
        yield ledger


class Totals:
    """A plugin's format: one line a partner with its period earnings."""

    @hookimpl
    def cosell_statement_renderers(self, register):
        def totals(doc: StatementDocument) -> str:
            return "".join(f"{s.partner_id} {s.earnings}\n" for s in doc.statements)

        register("totals", totals)


def test_the_built_in_formats_are_registered_by_cosell_itself():
    assert list(statement_renderers(Plugins(entry_points=False))) == ["csv", "json", "html", "terminal"]


def test_a_plugin_registers_a_format_that_renders_from_the_ledger(book):
    renderers = statement_renderers(Plugins(entry_points=False, extra={"totals": Totals()}))
    assert render(book, "2026-Q3", None, "totals", renderers=renderers) == "P1 10.00\n"


def test_an_unknown_format_names_the_known_ones(book):
    renderers = statement_renderers(Plugins(entry_points=False, extra={"totals": Totals()}))
    with pytest.raises(ConfigError, match=r"'pdf' is not one of csv, json, html, terminal, totals"):
        render(book, "2026-Q3", None, "pdf", renderers=renderers)


def test_a_plugin_registering_a_taken_format_name_is_an_error_naming_it():
    class Csv:
        @hookimpl
        def cosell_statement_renderers(self, register):
            register("csv", lambda doc: "")

    with pytest.raises(PluginError, match="statement format 'csv'") as caught:
        statement_renderers(Plugins(entry_points=False, extra={"my_csv": Csv()}))
    assert "my_csv" in str(caught.value)


def test_the_terminal_format_shows_each_partner_with_its_lines_and_earnings(book):
    text = render(book, "2026-Q3", None, "terminal")
    assert "Partner P1 (P1), 2026-Q3" in text and "won D1" in text and "10.00" in text
    assert "[bold]" not in text and "\x1b[" not in text
