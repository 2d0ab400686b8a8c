"""Statement formats are renderers registered by name (``cosell_statement_renderers``): cosell's own and
a plugin's, looked up by ``--format``."""

from decimal import Decimal

import pytest

from cosell import hookimpl
from cosell.errors import ConfigError, PluginError
from cosell.ledger import Ledger
from cosell.periods import Period
from cosell.pluginmanager import Plugins
from cosell.results import LineKind, PayoutLine
from cosell.statements import (
    SectionRow,
    StatementDocument,
    StatementSection,
    document,
    render,
    statement_renderers,
)
from cosell.testing import deal, partner, program, run_program

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
    assert list(statement_renderers(Plugins(entry_points=False))) == [
        "csv",
        "json",
        "html",
        "terminal",
        "xlsx",
    ]


def test_a_plugin_registers_a_format_that_renders_from_the_ledger(book):
    renderers = statement_renderers(Plugins(entry_points=False, extra={"totals": Totals()}))
    assert render(book, "2026-Q3", None, "totals", renderers=renderers) == "P1 10.00\n"


def test_an_unknown_format_names_the_known_ones(book):
    renderers = statement_renderers(Plugins(entry_points=False, extra={"totals": Totals()}))
    with pytest.raises(ConfigError, match=r"'pdf' is not one of csv, json, html, terminal, xlsx, totals"):
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


class Loyalty:
    """A plugin's own deduction among the adjustments (outside the cap, inside the budget), and a section."""

    @hookimpl
    def cosell_line_kinds(self):
        return [LineKind("loyalty_fee", "Loyalty fee", capped=False)]

    @hookimpl
    def cosell_adjustments(self, lines):
        return [PayoutLine(pid, "loyalty_fee", Decimal("-1.00"), "loyalty fee") for pid in sorted(lines)]

    @hookimpl
    def cosell_statement_sections(self, partner_id, lines, context):
        earned = sum((ln.amount for ln in lines), Decimal(0))
        return [
            StatementSection(
                "Loyalty",
                totals=(SectionRow("Lines this period", earned),),
                columns=("Partner", "Program"),
                rows=((partner_id, context.program.program),),
                pending=(SectionRow("next level", Decimal("5.00"), "reached at 10 joint activities"),),
            )
        ]


def test_a_plugin_section_is_recorded_by_the_run_and_shown_by_every_format_from_the_ledger(cosell_ledger):
    deals = [deal("D1", "1000", partners=["P1"], won_on="2026-08-01")]
    plugins = Plugins(entry_points=False, extra={"loyalty": Loyalty()})
    run_program(program(), [partner("P1")], deals, ledger=cosell_ledger, plugins=plugins)
    page = render(cosell_ledger, "2026-Q3", "P1", "html")  # the plugin is not asked again
    assert "<h3>Loyalty</h3>" in page and "reached at 10 joint activities" in page
    assert "<b>next level pending</b> 5.00" in page
    text = render(cosell_ledger, "2026-Q3", "P1", "terminal")
    assert "next level pending 5.00: reached at 10 joint activities" in text


def test_a_deduction_a_plugin_adds_among_the_adjustments_is_its_own_kind_never_the_cap(cosell_ledger):
    deals = [deal("D1", "1000", partners=["P1"], won_on="2026-08-01")]
    plugins = Plugins(entry_points=False, extra={"loyalty": Loyalty()})
    run_program(program(), [partner("P1")], deals, ledger=cosell_ledger, plugins=plugins)
    (statement,) = document(cosell_ledger, "2026-Q3", "P1").statements
    assert [g.kind for g in statement.groups] == ["commission", "loyalty_fee"]
    adj = statement.adjustments
    assert adj.cap is None and adj.cap_text() == "no cap line"  # the fee is not the per-partner cap
    assert adj.outside_caps == Decimal("-1.00") and adj.subtotal == Decimal("49.00")  # commission 50.00
    assert statement.earnings == sum((ln.amount for ln in cosell_ledger.lines("2026-Q3")), Decimal(0))


def test_a_section_hook_returning_something_else_stops_the_run_naming_the_plugin(cosell_ledger):
    class Bad:
        @hookimpl
        def cosell_statement_sections(self):
            return ["a title"]

    plugins = Plugins(entry_points=False, extra={"bad": Bad()})
    with pytest.raises(PluginError, match="not a StatementSection") as caught:
        run_program(program(), [partner("P1")], ledger=cosell_ledger, plugins=plugins)
    assert "bad" in str(caught.value)
    assert cosell_ledger.periods() == []


@pytest.mark.parametrize(
    ("amount", "label"),
    [
        ("2.50", "3"),
        ("-2.50", "-3"),
        ("-0.40", "0"),
        ("949.49", "949"),
        ("999.50", "1k"),
        ("1250.00", "1.3k"),
        ("48421.05", "48.4k"),
        ("999950.00", "1M"),
        ("1250000.00", "1.3M"),
    ],
)
def test_a_chart_label_rounds_half_up_and_never_shows_minus_zero(amount, label):
    from cosell.statements.html import _short

    assert _short(Decimal(amount)) == label


def test_the_share_of_a_target_and_the_progress_to_the_next_tier_round_half_up_once(cosell_ledger):
    scoring = {"scale": 100, "metrics": {"sourced_pipeline": {"weight": 1, "target": 100000}}}
    tiers = [{"name": "Registered", "min_score": 0}, {"name": "Silver", "min_score": 100}]
    deals = [deal("D1", "12250", partners=["P1"], created_on="2026-07-02")]
    run_program(program(scoring=scoring, tiers=tiers), [partner("P1")], deals, ledger=cosell_ledger)
    page = render(cosell_ledger, "2026-Q3", "P1", "html")
    # sourced 12,250 of 100,000 is 12.25 %: half-up 12.3 %, never half-even 12.2 %; score 12.25 of
    # Silver's 100 likewise
    assert "<td class='num'>12.3%</td>" in page
    assert 'aria-label="sourced_pipeline: 12.3% of target"' in page
    assert "aria-valuenow='12.3' aria-label='12.3%'" in page
    assert "12.2%" not in page and "12.2'" not in page


@pytest.mark.parametrize("where", ["card", "totals", "pending"])
@pytest.mark.parametrize(
    ("amount", "said"),
    [
        (Decimal("Infinity"), "Infinity is not an amount cosell can keep"),
        (Decimal("NaN"), "NaN is not an amount cosell can keep"),
        (Decimal("1E+30"), "1E+30 is not an amount cosell can keep"),
        (Decimal("-1E+40"), "-1E+40 is not an amount cosell can keep"),
        (2.5, "is float 2.5, not a Decimal"),
    ],
)
def test_a_section_figure_cosell_cannot_keep_stops_the_run_naming_the_plugin(
    cosell_ledger, where, amount, said
):
    row = SectionRow("points", amount, "earned")

    class Odd:
        @hookimpl
        def cosell_statement_sections(self):
            given = {"card": row} if where == "card" else {where: (row,)}
            return [StatementSection("Loyalty", **given)]

    plugins = Plugins(entry_points=False, extra={"odd": Odd()})
    with pytest.raises(PluginError) as caught:
        run_program(program(), [partner("P1")], ledger=cosell_ledger, plugins=plugins)
    assert caught.value.plugin == "odd" and caught.value.exit_code == 2
    text = str(caught.value)
    assert "cosell_statement_sections" in text and "'Loyalty'" in text and said in text
    assert cosell_ledger.periods() == []


def test_a_section_figure_need_not_be_in_cents_and_may_be_the_int_a_sum_of_nothing_gives(cosell_ledger):
    class Points:
        @hookimpl
        def cosell_statement_sections(self):
            rows = (SectionRow("points", Decimal("2.125"), "at 10"), SectionRow("badges", sum(()), "at 5"))
            return [StatementSection("Loyalty", pending=rows)]

    plugins = Plugins(entry_points=False, extra={"points": Points()})
    run_program(program(), [partner("P1")], ledger=cosell_ledger, plugins=plugins)
    text = render(cosell_ledger, "2026-Q3", "P1", "terminal")
    assert "points pending 2.13: at 10" in text and "badges pending 0.00: at 5" in text
