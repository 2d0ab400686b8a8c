"""Line kinds: each belongs to the plugin that declares it, and its declaration says how the cap, the
budget, period earnings and the deal's CRM fields treat its lines."""

import json
from decimal import Decimal

import pytest
from pydantic import BaseModel

from cosell import hookimpl
from cosell.errors import PluginError
from cosell.pluginmanager import Plugins
from cosell.results import LineKind, PayoutLine
from cosell.testing import compute_period, deal, partner, program, run_program
from invoke import cosell

BUDGETED = """\
program: P
period: 2026-Q3
currency: USD
tiers:
  - {name: Registered, min_score: 0, commission_rate: "0.10"}
caps: {per_partner: 1000, program_budget: 1500}
"""


def two_partners():
    return [partner("P1"), partner("P2")], [
        deal("D1", "20000", partners=["P1"], won_on="2026-08-01"),
        deal("D2", "20000", partners=["P2"], won_on="2026-08-01"),
    ]


class Impostor:
    """Emits a line of the built-in commission kind."""

    @hookimpl
    def cosell_payout_lines(self, partner):
        return [PayoutLine(partner.id, "commission", Decimal("250.00"), "commission: mine", "D1")]


def test_a_plugin_emitting_a_built_in_kind_stops_the_run_naming_it_and_writes_nothing(cosell_ledger):
    people = [partner("P1")]
    deals = [deal("D1", "1000", partners=["P1"], discount_pct="40", won_on="2026-08-01")]
    plugins = Plugins(entry_points=False, extra={"impostor": Impostor()})
    with pytest.raises(PluginError) as info:
        run_program(program(), people, deals, ledger=cosell_ledger, plugins=plugins)
    text = str(info.value)
    assert "plugin 'impostor'" in text and "'commission'" in text and "belongs to plugin 'commission'" in text
    assert "test_line_kinds.py" in text
    assert info.value.exit_code == 2
    assert cosell_ledger.lines("2026-Q3") == [] and cosell_ledger.periods() == []


class Undeclared:
    @hookimpl
    def cosell_payout_lines(self, partner):
        return [PayoutLine(partner.id, "loyalty", Decimal("5.00"), "loyalty: 5.00")]


def test_a_line_of_an_undeclared_kind_is_refused():
    plugins = Plugins(entry_points=False, extra={"undeclared": Undeclared()})
    with pytest.raises(PluginError, match="kind 'loyalty', which it does not declare"):
        compute_period(program(), [partner("P1")], plugins=plugins)


class Loyalty:
    def __init__(
        self, kind=None, deal_id=None, explanation="loyalty: 600.00", amount="600.00", withheld=False
    ):
        self.kind = kind or LineKind("loyalty", "Loyalty")
        self.deal_id = deal_id
        self.explanation = explanation
        self.amount = Decimal(amount)
        self.withheld = withheld

    @hookimpl
    def cosell_line_kinds(self):
        return [self.kind]

    @hookimpl
    def cosell_payout_lines(self, partner):
        return [
            PayoutLine(partner.id, self.kind.name, self.amount, self.explanation, self.deal_id, self.withheld)
        ]


def test_a_line_naming_a_deal_that_is_not_in_the_run_is_refused():
    plugins = Plugins(entry_points=False, extra={"loyalty": Loyalty(deal_id="D404")})
    with pytest.raises(PluginError, match="names deal 'D404', which is not among the run's deals"):
        compute_period(program(), [partner("P1")], plugins=plugins)


def test_a_withheld_line_with_an_amount_stops_the_run_naming_plugin_hook_partner_and_deal(cosell_ledger):
    withheld = Loyalty(deal_id="D1", explanation="loyalty withheld: under review", withheld=True)
    deals = [deal("D1", "1000", partners=["P1"], won_on="2026-08-01")]
    with pytest.raises(PluginError) as info:
        run_program(program(), [partner("P1")], deals, ledger=cosell_ledger, plugins={"loyalty": withheld})
    text = str(info.value)
    assert "plugin 'loyalty'" in text and "cosell_payout_lines" in text
    assert "partner 'P1'" in text and "deal 'D1'" in text
    assert "withheld with an amount of 600.00" in text
    assert cosell_ledger.periods() == []


def test_a_withheld_line_of_0_is_kept_for_its_reason():
    withheld = Loyalty(explanation="loyalty withheld: under review", amount="0.00", withheld=True)
    computed = compute_period(program(), [partner("P1")], plugins={"loyalty": withheld})
    assert [(ln.kind, ln.amount, ln.withheld) for ln in computed.all_lines()] == [
        ("loyalty", Decimal("0.00"), True)
    ]


def test_a_deal_incentive_line_on_a_deal_the_partner_is_not_on_is_refused(cosell_ledger):
    spiff = Loyalty(kind=LineKind("spiff", "Spiff", deal_incentive=True), deal_id="D2")
    people, deals = two_partners()
    with pytest.raises(PluginError) as info:
        run_program(program(), people, deals, ledger=cosell_ledger, plugins={"spiff": spiff})
    text = str(info.value)
    assert "plugin 'spiff'" in text and "cosell_payout_lines" in text
    assert "names deal 'D2', which partner 'P1' is not on" in text
    assert cosell_ledger.periods() == []


class LateSpiff:
    """Pays a spiff from ``cosell_adjustments``, on the deal it is given."""

    def __init__(self, partner_id, deal_id):
        self.partner_id, self.deal_id = partner_id, deal_id

    @hookimpl
    def cosell_line_kinds(self):
        return [LineKind("spiff", "Spiff", deal_incentive=True)]

    @hookimpl
    def cosell_adjustments(self, lines):
        return [PayoutLine(self.partner_id, "spiff", Decimal("70.00"), "spiff: 70.00", self.deal_id)]


def test_a_deal_incentive_adjustment_on_a_deal_the_partner_is_not_on_is_refused():
    people, deals = two_partners()
    with pytest.raises(PluginError, match="names deal 'D2', which partner 'P1' is not on"):
        compute_period(program(), people, deals, plugins={"spiff": LateSpiff("P1", "D2")})
    computed = compute_period(program(), people, deals, plugins={"spiff": LateSpiff("P2", "D2")})
    assert [ln.deal_id for ln in computed.all_lines() if ln.kind == "spiff"] == ["D2"]


def test_a_multi_line_explanation_is_refused():
    plugins = Plugins(entry_points=False, extra={"loyalty": Loyalty(explanation="loyalty:\n600.00")})
    with pytest.raises(PluginError, match="spans several lines"):
        compute_period(program(), [partner("P1")], plugins=plugins)


class Copycat:
    @hookimpl
    def cosell_line_kinds(self):
        return [LineKind("loyalty", "Loyalty too")]


def test_two_plugins_declaring_one_kind_are_refused_at_load_naming_both():
    with pytest.raises(PluginError) as info:
        Plugins(entry_points=False, extra={"loyalty": Loyalty(), "copycat": Copycat()})
    text = str(info.value)
    assert "declares line kind 'loyalty', which plugin" in text
    assert "'loyalty'" in text and "'copycat'" in text


class SettingsA:
    class Model(BaseModel):
        x: int = 1

    @hookimpl
    def cosell_plugin_settings(self):
        return ("shared", self.Model)


class SettingsB(SettingsA):
    pass


def test_two_plugins_claiming_one_settings_key_are_refused_at_load():
    with pytest.raises(PluginError, match=r"declares the settings key plugins\.shared, which plugin"):
        Plugins(entry_points=False, extra={"a": SettingsA(), "b": SettingsB()})


def test_a_kind_outside_the_cap_but_inside_the_budget_is_treated_so():
    # Each partner: commission 2,000.00 (capped to 1,000.00) plus a 600.00 line outside the cap and
    # inside the budget: 1,600.00 each, 3,200.00 in all against a budget of 1,500.00: scaled by 1500/3200.
    kind = LineKind("loyalty", "Loyalty", capped=False, in_budget=True)
    plugins = Plugins(entry_points=False, extra={"loyalty": Loyalty(kind)})
    people, deals = two_partners()
    result = compute_period(program(BUDGETED), people, deals, plugins=plugins)
    p1 = {line.kind: line.amount for line in result.lines["P1"]}
    assert p1["commission"] == Decimal("2000.00") and p1["loyalty"] == Decimal("600.00")
    assert p1["cap"] == Decimal("-1000.00")
    assert p1["budget"] == Decimal("750.00") - Decimal("1600.00")
    assert result.earnings("P1") == Decimal("750.00")


def test_a_kind_outside_both_limits_is_never_capped_or_scaled():
    kind = LineKind("loyalty", "Loyalty", capped=False, in_budget=False)
    plugins = Plugins(entry_points=False, extra={"loyalty": Loyalty(kind)})
    people, deals = two_partners()
    result = compute_period(program(BUDGETED), people, deals, plugins=plugins)
    p1 = {line.kind: line.amount for line in result.lines["P1"]}
    assert p1["cap"] == Decimal("-1000.00")
    assert p1["budget"] == Decimal("750.00") - Decimal("1000.00")  # 1,000 each of 2,000 scaled to 1,500
    assert result.earnings("P1") == Decimal("750.00") + Decimal("600.00")


def test_a_line_of_a_deal_incentive_kind_reaches_the_deal_fields(cosell_ledger):
    kind = LineKind("spiff", "Deal spiff", deal_incentive=True)
    spiff = Loyalty(kind, deal_id="D1", explanation="spiff: 25.00", amount="25.00")
    plugins = Plugins(entry_points=False, extra={"spiff": spiff})
    deals = [deal("D1", "1000", partners=["P1"], won_on="2026-08-01")]
    run = run_program(program(), [partner("P1")], deals, ledger=cosell_ledger, plugins=plugins)
    # commission 5 % of 1,000 = 50.00, plus the spiff
    assert run.fields[("deal", "D1")]["incentive"] == "75.00"
    assert run.fields[("deal", "D1")]["incentive_status"] == "Earned"


def test_a_line_of_a_kind_not_shown_on_deals_leaves_the_deal_alone(cosell_ledger):
    plugins = Plugins(entry_points=False, extra={"loyalty": Loyalty(deal_id="D1", amount="25.00")})
    deals = [deal("D1", "1000", partners=["P1"], won_on="2026-08-01")]
    run = run_program(program(), [partner("P1")], deals, ledger=cosell_ledger, plugins=plugins)
    assert run.fields[("deal", "D1")]["incentive"] == "50.00"
    assert run.fields[("account", "P1")]["period_earnings"] == "75.00"


def test_cosell_plugins_json_lists_each_plugins_line_kinds_with_their_treatment():
    result = cosell("plugins", "--json")
    assert result.exit_code == 0, result.output
    by_name = {p["name"]: p for p in json.loads(result.output)}
    [claw] = by_name["clawbacks"]["line_kinds"]
    assert claw["name"] == "clawback" and claw["capped"] is False and claw["in_budget"] is False
    assert claw["deal_incentive"] is True and claw["reverses"] is True
    [mdf] = by_name["mdf"]["line_kinds"]
    assert mdf["period_earnings"] is False
    [commission] = by_name["commission"]["line_kinds"]
    assert commission["capped"] is True and commission["in_budget"] is True


def test_partner_statements_give_the_budget_factor_but_never_the_programs_total(cosell_ledger, capsys):
    prog = program(
        BUDGETED.replace("per_partner: 1000, program_budget: 1500", "per_partner: 1200, program_budget: 1800")
    )
    people = [partner("P1"), partner("P2")]
    deals = [
        deal("D1", "15000", partners=["P1"], won_on="2026-08-01"),
        deal("D2", "25000", partners=["P2"], won_on="2026-08-01"),
    ]
    run = run_program(prog, people, deals, ledger=cosell_ledger)
    # commission 1,500.00 and 2,500.00, each capped to 1,200.00: 2,400.00 in all against 1,800.00
    [budget] = run.lines_of("P1", "budget")
    assert budget.amount == Decimal("-300.00")
    assert "scaled by 0.750000" in budget.explanation and "1,200.00 is scaled to 900.00" in budget.explanation
    for text in (run.statement_csv, run.statement_json):
        assert "2,400.00" not in text and "1,800.00" not in text and "2400" not in text and "1800" not in text


class Welcome:
    """A bonus paid once ever: it looks for its own tag in the history before paying."""

    def __init__(self, tags=frozenset({"welcome:paid"}), withheld=False):
        self.tags = tags
        self.withheld = withheld

    @hookimpl
    def cosell_line_kinds(self):
        return [LineKind("welcome", "Welcome bonus")]

    @hookimpl
    def cosell_payout_lines(self, partner, context):
        if context.history.has_tag(partner.id, "welcome:paid"):
            return []
        text = "welcome bonus, paid once"
        return [
            PayoutLine(partner.id, "welcome", Decimal("500.00"), text, tags=self.tags, withheld=self.withheld)
        ]


@pytest.mark.parametrize("tags", ["welcome:paid", ["welcome:paid"], ("welcome:paid",), frozenset({1})])
def test_tags_that_are_not_a_set_of_text_are_refused_naming_the_plugin_and_the_hook(cosell_ledger, tags):
    plugins = Plugins(entry_points=False, extra={"welcome": Welcome(tags=tags)})
    with pytest.raises(PluginError) as info:
        run_program(program(), [partner("P1")], ledger=cosell_ledger, plugins=plugins)
    text = str(info.value)
    assert "plugin 'welcome'" in text and "cosell_payout_lines" in text and "frozenset" in text
    assert info.value.exit_code == 2
    assert cosell_ledger.periods() == []


def test_a_bonus_tagged_with_a_set_is_paid_once_across_periods(cosell_ledger):
    paid = []
    for period in ("2026-Q3", "2026-Q4", "2027-Q1"):
        plugins = Plugins(entry_points=False, extra={"welcome": Welcome(tags={"welcome:paid"})})
        result = run_program(program(), [partner("P1")], ledger=cosell_ledger, plugins=plugins, period=period)
        paid += [(period, line.tags) for line in result.lines_of("P1", "welcome")]
    assert paid == [("2026-Q3", frozenset({"welcome:paid"}))]


@pytest.mark.parametrize("withheld", ["no", 0, None])
def test_withheld_that_is_not_a_bool_is_refused(withheld):
    plugins = Plugins(entry_points=False, extra={"welcome": Welcome(withheld=withheld)})
    with pytest.raises(
        PluginError, match=r"plugin 'welcome'.*cosell_payout_lines.*withheld is .*give True or False"
    ):
        compute_period(program(), [partner("P1")], plugins=plugins)
