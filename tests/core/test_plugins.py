from decimal import Decimal

import pytest

from cosell import hookimpl
from cosell.engine import check_program
from cosell.errors import PluginError, ProgramError
from cosell.pluginmanager import Plugins
from cosell.results import LineKind, MetricDefinition, PayoutLine, Projection, Score
from cosell.testing import compute_period, deal, partner, program, run_program


class Exploding:
    @hookimpl
    def cosell_payout_lines(self, partner):
        raise RuntimeError("boom")


def test_hook_that_raises_stops_the_computation_naming_the_plugin():
    plugins = Plugins(entry_points=False, extra={"exploding": Exploding()})
    with pytest.raises(PluginError) as info:
        compute_period(program(), [partner("P1")], plugins=plugins)
    assert "plugin 'exploding'" in str(info.value) and "RuntimeError: boom" in str(info.value)


class Misspelled:
    @hookimpl
    def cosell_payout_line(self, partner):
        return []


def test_misspelled_hook_is_refused_naming_the_plugin_and_suggesting_the_hook():
    with pytest.raises(PluginError) as info:
        Plugins(entry_points=False, extra={"typo": Misspelled()})
    text = str(info.value)
    assert "plugin 'typo'" in text and "cosell_payout_lines" in text and "test_plugins.py" in text


class Unmarked:
    def cosell_payout_lines(self, partner):
        return [PayoutLine(partner.id, "bonus", Decimal("250.00"), "bonus 250.00")]


def test_a_hook_function_without_hookimpl_is_refused_at_load_naming_the_plugin_and_function():
    with pytest.raises(PluginError) as info:
        Plugins(entry_points=False, extra={"unmarked": Unmarked()})
    text = str(info.value)
    assert "plugin 'unmarked'" in text and "test_plugins.py" in text
    assert "cosell_payout_lines is not marked @hookimpl" in text and "never called" in text


class UnmarkedMisspelled:
    def cosell_payout_line(self, partner):
        return []


def test_a_misspelled_hook_function_without_hookimpl_is_refused_suggesting_the_hook():
    with pytest.raises(PluginError) as info:
        Plugins(entry_points=False, extra={"typo": UnmarkedMisspelled()})
    text = str(info.value)
    assert "cosell_payout_line is not marked @hookimpl" in text and "'cosell_payout_lines'" in text


class WrongArgument:
    @hookimpl
    def cosell_payout_lines(self, partner, deals):
        return []


def test_hook_argument_the_spec_does_not_have_is_refused():
    with pytest.raises(PluginError) as info:
        Plugins(entry_points=False, extra={"wrongarg": WrongArgument()})
    assert "plugin 'wrongarg'" in str(info.value) and "deals" in str(info.value)


class WrongType:
    @hookimpl
    def cosell_payout_lines(self, partner):
        return [{"kind": "bonus", "amount": 5}]


def test_plugin_returning_the_wrong_type_is_named():
    plugins = Plugins(entry_points=False, extra={"wrongtype": WrongType()})
    with pytest.raises(PluginError) as info:
        compute_period(program(), [partner("P1")], plugins=plugins)
    assert "plugin 'wrongtype'" in str(info.value) and "not a PayoutLine" in str(info.value)
    assert "defined in" in str(info.value) and "test_plugins.py" in str(info.value)


class Returns:
    def __init__(self, produced):
        self.produced = produced

    @hookimpl
    def cosell_payout_lines(self, partner):
        return self.produced


@pytest.mark.parametrize(
    ("produced", "said"),
    [
        ({"amount": Decimal("1.00")}, "returned dict {'amount': Decimal('1.00')}, not a list of PayoutLine"),
        ("bonus", "returned str 'bonus', not a list of PayoutLine"),
        (5, "returned int 5, not a list of PayoutLine"),
    ],
    ids=["dict", "str", "int"],
)
def test_payout_lines_returned_in_the_wrong_shape_say_what_was_returned(produced, said):
    with pytest.raises(PluginError) as info:
        compute_period(program(), [partner("P1")], plugins={"shape": Returns(produced)})
    assert "plugin 'shape'" in str(info.value) and f"cosell_payout_lines {said}" in str(info.value)


class FloatAmount:
    @hookimpl
    def cosell_line_kinds(self):
        return [LineKind("bonus", "Bonus")]

    @hookimpl
    def cosell_payout_lines(self, partner):
        return [PayoutLine(partner.id, "bonus", 5.5, "a float")]  # type: ignore[arg-type]


def test_float_amount_is_refused():
    plugins = Plugins(entry_points=False, extra={"floaty": FloatAmount()})
    with pytest.raises(PluginError, match="not Decimal"):
        compute_period(program(), [partner("P1")], plugins=plugins)


class OddLine:
    def __init__(self, line):
        self.line = line

    @hookimpl
    def cosell_line_kinds(self):
        return [LineKind("bonus", "Bonus")]

    @hookimpl
    def cosell_payout_lines(self, partner):
        return [self.line(partner.id)]


@pytest.mark.parametrize(
    ("line", "said"),
    [
        (lambda pid: PayoutLine(pid, "bonus", Decimal("Infinity"), "x"), "not an amount the ledger can keep"),
        (lambda pid: PayoutLine(pid, "bonus", Decimal("1e17"), "x"), "not an amount the ledger can keep"),
        (lambda pid: PayoutLine(pid, "bonus", Decimal("1.00"), None), "explanation is NoneType, not text"),
        (lambda pid: PayoutLine(pid, ["bonus"], Decimal("1.00"), "x"), "kind is list, not text"),
    ],
    ids=["infinite", "too-large", "no-explanation", "unhashable-kind"],
)
def test_a_line_the_ledger_cannot_keep_stops_the_run_naming_the_plugin(line, said):
    plugins = Plugins(entry_points=False, extra={"odd": OddLine(line)})
    with pytest.raises(PluginError) as info:
        compute_period(program(), [partner("P1")], plugins=plugins)
    assert "plugin 'odd'" in str(info.value) and said in str(info.value)


@pytest.mark.parametrize(
    ("line", "said"),
    [
        (
            lambda pid: PayoutLine(pid, "bonus", 250.0, "x", "D1"),
            "the amount of a 'bonus' line for partner 'P1' on deal 'D1' is float 250.0, not Decimal",
        ),
        (
            lambda pid: PayoutLine(pid, "bonus", 250, "x"),
            "the amount of a 'bonus' line for partner 'P1' is int 250, not Decimal",
        ),
        (
            lambda pid: PayoutLine(pid, "bonus", Decimal("250.005"), "x", "D1"),
            "a 'bonus' line for partner 'P1' on deal 'D1' of 250.005 is not rounded to cents",
        ),
        (
            lambda pid: PayoutLine(pid, "bonus", Decimal("250.00"), " ", "D1"),
            "a 'bonus' line for partner 'P1' on deal 'D1' has no explanation",
        ),
        (
            lambda pid: PayoutLine(pid, "bonus", Decimal("NaN"), "x"),
            "a 'bonus' line for partner 'P1' of NaN is not an amount the ledger can keep",
        ),
        (
            lambda pid: PayoutLine(pid, "bonus", Decimal("1.00"), "x", "D404"),
            "a 'bonus' line for partner 'P1' names deal 'D404', which is not among the run's deals",
        ),
    ],
    ids=["float", "int", "unrounded", "no-explanation", "nan", "unknown-deal"],
)
def test_a_line_cosell_refuses_names_the_partner_and_deal_it_is_for(line, said):
    plugins = Plugins(entry_points=False, extra={"odd": OddLine(line)})
    with pytest.raises(PluginError) as info:
        compute_period(program(), [partner("P1")], [deal("D1", partners=["P1"])], plugins=plugins)
    assert "plugin 'odd'" in str(info.value) and f"cosell_payout_lines: {said}" in str(info.value)


class FloatMetric:
    @hookimpl
    def cosell_metric_definitions(self):
        return [MetricDefinition("events", "co-marketing events")]

    @hookimpl
    def cosell_metrics(self, partner):
        return {"events": 2.0}


def test_a_metric_of_the_wrong_type_names_the_partner_and_the_metric():
    plugins = Plugins(entry_points=False, extra={"events": FloatMetric()})
    with pytest.raises(PluginError) as info:
        compute_period(program(), [partner("P1")], plugins=plugins)
    assert "metric 'events' is float 2.0 for partner 'P1'; give a Decimal" in str(info.value)


class OddProjections:
    def __init__(self, produced):
        self.produced = produced

    @hookimpl
    def cosell_projections(self, partner):
        return self.produced(partner.id)


@pytest.mark.parametrize(
    ("produced", "said"),
    [
        (lambda pid: Projection(pid, "D1", Decimal("1.00"), "x"), "must return an iterable of Projection"),
        (lambda pid: [Projection(pid, "D1", 1.5, "x")], "projected amount is float 1.5, not a Decimal"),
        (lambda pid: [Projection(pid, "D1", Decimal("1.005"), "x")], "is not rounded to cents"),
        (lambda pid: [Projection(pid, "D1", Decimal("Infinity"), "x")], "not an amount cosell can keep"),
        (lambda pid: [Projection(pid, "D1", Decimal("1E+16"), "x")], "not an amount cosell can keep"),
        (
            lambda pid: [Projection("P1", "D9", Decimal("777.00"), "x")] if pid == "P2" else [],
            "for partner 'P1' while computing 'P2'",
        ),
        (
            lambda pid: [Projection(pid, "D404", Decimal("1.00"), "x")],
            "'D404', which is not among the run's deals",
        ),
        (
            lambda pid: [Projection(pid, "D9", Decimal("1.00"), "x")] if pid == "P2" else [],
            "'D9', which partner 'P2' is not on",
        ),
        (lambda pid: [Projection(pid, "D1", Decimal("1.00"), "x\nline two")], "spans several lines"),
        (lambda pid: [Projection(pid, "D1", Decimal("1.00"), " ")], "has no explanation"),
        (lambda pid: [Projection(pid, "D1", Decimal("1.00"), "x", withheld="no")], "give True or False"),
    ],
    ids=[
        "one-projection",
        "float",
        "unrounded",
        "infinite",
        "too-large",
        "another-partner",
        "unknown-deal",
        "deal-of-another-partner",
        "multi-line",
        "no-explanation",
        "withheld-text",
    ],
)
def test_a_projection_the_ledger_cannot_keep_stops_the_run_naming_the_plugin(produced, said):
    plugins = Plugins(entry_points=False, extra={"odd": OddProjections(produced)})
    deals = [deal("D1", partners=["P1", "P2"]), deal("D9", partners=["P1"])]
    with pytest.raises(PluginError) as info:
        compute_period(program(), [partner("P1"), partner("P2")], deals, plugins=plugins)
    assert "plugin 'odd'" in str(info.value) and "cosell_projections" in str(info.value)
    assert said in str(info.value)


class Bonus:
    @hookimpl
    def cosell_line_kinds(self):
        return [LineKind("loyalty", "Loyalty")]

    @hookimpl
    def cosell_payout_lines(self, partner, lines):
        earned = sum((line.amount for line in lines), Decimal(0))
        return [
            PayoutLine(
                partner.id, "loyalty", Decimal("10.00"), f"10.00 on top of {earned} from built-in rules"
            )
        ]


def test_third_party_payout_hook_sees_built_in_lines_and_adds_its_own():
    plugins = Plugins(entry_points=False, extra={"bonus": Bonus()})
    result = compute_period(
        program(),
        [partner("P1")],
        [deal("D1", "1000", partners=["P1"], won_on="2026-08-01")],
        plugins=plugins,
    )
    kinds = [(line.kind, line.amount) for line in result.all_lines()]
    assert kinds == [("commission", Decimal("50.00")), ("loyalty", Decimal("10.00"))]
    assert "on top of 50.00" in result.all_lines()[1].explanation


class ClashingMetric:
    @hookimpl
    def cosell_metric_definitions(self):
        return [MetricDefinition("win_rate", "my own win rate")]


def test_metric_name_clash_between_two_plugins_names_both():
    plugins = Plugins(entry_points=False, extra={"clash": ClashingMetric()})
    with pytest.raises(PluginError) as info:
        plugins.metric_definitions()
    assert "plugin 'clash'" in str(info.value) and "'metrics'" in str(info.value)
    assert "test_plugins.py" in str(info.value) and "plugins/metrics.py" in str(info.value)


def test_program_naming_a_metric_no_plugin_provides_is_a_program_error_with_its_line():
    loaded = program("""\
program: P
period: 2026-Q3
currency: USD
scoring:
  metrics:
    nps: {weight: 1, target: 50}
tiers: [{name: Registered, min_score: 0}]
""")
    with pytest.raises(ProgramError) as info:
        check_program(loaded, Plugins(entry_points=False))
    assert str(info.value.problems[0]).startswith(
        "<test program>:6: scoring.metrics.nps: no plugin provides this metric"
    )


def test_plugins_entry_for_a_plugin_not_installed_is_an_error_naming_it():
    loaded = program(plugins={"nps": {"field": "NPS__c"}})
    with pytest.raises(ProgramError, match=r"plugins\.nps: no installed plugin reads it"):
        check_program(loaded, Plugins(entry_points=False))


def test_plugins_entry_of_an_installed_plugin_left_out_by_cosell_load_plugins_says_it_is_not_loaded(
    monkeypatch,
):
    pytest.importorskip("cosell_nps", reason="needs the contrib/cosell-nps package installed")
    monkeypatch.setenv("COSELL_LOAD_PLUGINS", "webhook")
    loaded = program(plugins={"nps": {"field": "NPS__c"}})
    with pytest.raises(ProgramError) as info:
        check_program(loaded, Plugins())
    text = str(info.value)
    assert "plugins.nps: no loaded plugin reads it" in text and "no installed plugin" not in text
    assert "installed plugin 'nps' is not loaded (COSELL_LOAD_PLUGINS=webhook)" in text


def test_built_in_plugins_are_listed_with_their_hooks():
    infos = {i.name: i for i in Plugins(entry_points=False).describe()}
    assert {"metrics", "scoring", "tiers", "commission", "files"} <= set(infos)
    assert "cosell_payout_lines" in infos["commission"].hooks and infos["commission"].builtin


def test_same_input_gives_the_same_lines():
    deals = [
        deal(
            f"D{i}", str(1000 + i), partners=[("P1", "sourced", "0.5"), ("P2", "cosell")], won_on="2026-08-01"
        )
        for i in range(20)
    ]
    first = compute_period(program(), [partner("P1"), partner("P2")], deals)
    second = compute_period(program(), [partner("P2"), partner("P1")], list(reversed(deals)))
    assert sorted(map(repr, first.all_lines())) == sorted(map(repr, second.all_lines()))
    assert [s.partner_id for s in first.standings] == ["P1", "P2"]


def test_cosell_load_plugins_pins_which_entry_point_plugins_load(monkeypatch):
    pytest.importorskip("cosell_nps", reason="needs the contrib/cosell-nps package installed")
    monkeypatch.setenv("COSELL_LOAD_PLUGINS", "")
    assert "nps" not in {i.name for i in Plugins().describe()}
    monkeypatch.setenv("COSELL_LOAD_PLUGINS", "nps")
    names = {i.name for i in Plugins().describe()}
    assert "nps" in names and "webhook" not in names
    monkeypatch.delenv("COSELL_LOAD_PLUGINS")
    assert {"nps", "webhook"} <= {i.name for i in Plugins().describe()}


def test_entry_point_plugins_are_described_with_their_package_and_version():
    pytest.importorskip("cosell_nps", reason="needs the contrib/cosell-nps package installed")
    info = next(i for i in Plugins().describe() if i.name == "nps")
    assert (info.package, info.version, info.builtin) == ("cosell-nps", "0.1.0", False)
    assert info.source and info.source.endswith("cosell_nps/plugin.py")


class Wrapper:
    @hookimpl(wrapper=True)
    def cosell_run_finished(self, report):
        return (yield)


def test_a_hook_wrapper_is_refused_at_load_naming_the_plugin_and_its_file():
    with pytest.raises(PluginError) as info:
        Plugins(entry_points=False, extra={"wrapping": Wrapper()})
    text = str(info.value)
    assert "plugin 'wrapping'" in text and "wraps cosell_run_finished" in text and "test_plugins.py" in text


def test_show_given_a_float_says_money_is_decimal():
    from cosell.money import round_cents, show

    with pytest.raises(
        TypeError, match=r'money is Decimal, never float: got float 5.5; use Decimal\("5.5"\)'
    ):
        show(5.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="money is Decimal"):
        round_cents(2.0)  # type: ignore[arg-type]


def test_the_next_tier_lists_every_requirement_met_or_not():
    from cosell.statements.model import Requirement, TierGoal

    goal = TierGoal(
        "Gold",
        Decimal("70"),
        Decimal("75"),
        (
            Requirement("won_revenue", Decimal("250000"), Decimal("300000")),
            Requirement("win_rate", Decimal("0.5"), Decimal("0.25")),
        ),
    )
    needs = goal.needs()
    assert [met for _, met in needs] == [True, True, False]
    assert needs[1][0].startswith("won_revenue ≥ 250,000: met")


def test_assert_hookimpl_signature_suggests_the_hook_a_misspelled_name_meant():
    from cosell.testing import assert_hookimpl_signature

    with pytest.raises(
        AssertionError, match=r"cosell_payout_line: no such hook; did you mean 'cosell_payout_lines'\?"
    ):
        assert_hookimpl_signature(Misspelled())


class NaNMetric:
    @hookimpl
    def cosell_metric_definitions(self):
        return [MetricDefinition("health", "account health")]

    @hookimpl
    def cosell_metrics(self, partner):
        return {"health": Decimal("NaN")}


def test_a_metric_that_is_not_a_finite_number_is_refused_naming_the_plugin_that_gave_it():
    plugins = Plugins(entry_points=False, extra={"health": NaNMetric()})
    with pytest.raises(PluginError) as info:
        compute_period(program(), [partner("P1")], plugins=plugins)
    assert "plugin 'health'" in str(info.value) and "metric 'health' is NaN for partner 'P1'" in str(
        info.value
    )


class Abstains:
    @hookimpl(tryfirst=True)
    def cosell_tier(self, partner, score, metrics, context):
        return None


class Promoter:
    @hookimpl(tryfirst=True)  # before the built-in tier rule, as a plugin that decides tiers is
    def cosell_tier(self, partner, score, metrics, context):
        from cosell.results import TierDecision

        return TierDecision("Platinum", "Platinum", None, 0, "promoted by hand")


def test_a_tier_the_program_lacks_names_the_plugin_that_chose_it():
    plugins = Plugins(entry_points=False, extra={"promoter": Promoter(), "abstains": Abstains()})
    with pytest.raises(PluginError) as info:
        compute_period(program(), [partner("P1")], plugins=plugins)
    assert "plugin 'promoter'" in str(info.value) and "Platinum" in str(info.value)
    assert "chose a tier the program does not have for partner 'P1'" in str(info.value)


def _kicker(**mark: bool) -> object:
    class Kicker:
        @hookimpl
        def cosell_line_kinds(self):
            return [LineKind("kicker", "Quarter-end kicker")]

        @hookimpl(**mark)
        def cosell_adjustments(self, lines):
            return [
                PayoutLine(pid, "kicker", Decimal("40.00"), "quarter-end kicker") for pid in sorted(lines)
            ]

    return Kicker()


@pytest.mark.parametrize("mark", [{}, {"trylast": True}, {"tryfirst": True}])
def test_the_program_budget_holds_whatever_mark_a_plugins_adjustment_carries(mark):
    budgeted = program(caps={"program_budget": "100"})
    partners = [partner("P1"), partner("P2")]
    deals = [deal(f"D{n}", "2000", partners=[f"P{n}"], won_on="2026-08-01") for n in (1, 2)]
    computed = compute_period(budgeted, partners, deals, plugins={"kicker": _kicker(**mark)})
    assert sum((line.amount for line in computed.all_lines()), Decimal(0)) == Decimal("100.00")
    assert [line.kind for line in computed.all_lines()][-1] == "budget"


def _connectors_plugin(*names: str) -> object:
    from cosell.connector import ConnectorSpec

    class Connectors:
        @hookimpl
        def cosell_register_connectors(self, register):
            for name in names:
                register(ConnectorSpec(name, lambda options: None, "someone else's connector", input="x"))

    return Connectors()


def test_a_connector_with_a_built_in_connectors_name_is_refused_naming_both_plugins():
    with pytest.raises(PluginError) as info:
        Plugins(entry_points=False, extra={"acme_files": _connectors_plugin("files")})
    text = info.value.render()
    assert "plugin 'acme_files': registers connector 'files', which plugin 'files' registers too" in text


def test_one_plugin_registering_one_connector_name_twice_is_refused():
    with pytest.raises(PluginError, match="registers connector 'acme'"):
        Plugins(entry_points=False, extra={"acme": _connectors_plugin("acme", "acme")})


def test_a_plugins_own_connector_is_listed_next_to_the_built_in_ones():
    connectors = Plugins(entry_points=False, extra={"acme": _connectors_plugin("acme")}).connectors()
    assert {"files", "acme"} <= set(connectors) and connectors[
        "files"
    ].description != "someone else's connector"


class MetricsMeddler:
    @hookimpl(tryfirst=True)
    def cosell_score(self, metrics):
        metrics["win_rate"] = Decimal("1")


def test_a_scorer_cannot_change_the_metrics_the_tier_rule_sees():
    with pytest.raises(PluginError, match=r"plugin 'meddler': cosell_score raised TypeError"):
        compute_period(program(), [partner("P1")], plugins={"meddler": MetricsMeddler()})


class SettingsThief:
    @hookimpl
    def cosell_run_started(self, context):
        context.settings["other"] = None


def test_a_plugin_cannot_replace_the_settings_other_plugins_read():
    with pytest.raises(PluginError, match=r"plugin 'thief': cosell_run_started raised TypeError"):
        compute_period(program(), [partner("P1")], plugins={"thief": SettingsThief()})


class WeightsNormaliser:
    @hookimpl
    def cosell_run_started(self, context):
        context.program.activity_weights["joint_demo"] = Decimal(20)


def test_the_program_a_plugin_is_given_cannot_be_changed_for_later_computations():
    loaded = program(activity_weights={"joint_demo": 2})
    with pytest.raises(PluginError, match=r"plugin 'normaliser': cosell_run_started raised TypeError"):
        compute_period(loaded, [partner("P1")], plugins={"normaliser": WeightsNormaliser()})
    assert loaded.program.activity_weights == {"joint_demo": Decimal(2)}
    settings = program(plugins={"x": {"a": 1}}).program.plugins
    for mapping in (loaded.program.fx, settings, settings["x"], loaded.program.tiers[0].requires):
        with pytest.raises(TypeError):
            mapping["y"] = 1  # type: ignore[index]
    assert loaded.program.model_dump(mode="json")["activity_weights"] == {"joint_demo": "2"}


class Scorer:
    def __init__(self, value):
        self.value = value

    @hookimpl(tryfirst=True)
    def cosell_score(self, partner):
        return Score(self.value)


SCORED = program(
    tiers=[
        {"name": "Registered", "min_score": 0, "commission_rate": "0.05"},
        {"name": "Gold", "min_score": 50, "commission_rate": "0.10"},
    ]
)


@pytest.mark.parametrize(
    ("value", "said"),
    [
        (0.1 + 0.2 + 75, "cosell_score for partner 'P1': the score is float 75.3, not a Decimal"),
        (Decimal("NaN"), "cosell_score for partner 'P1': a score of NaN is not one cosell keeps"),
        (Decimal("Infinity"), "cosell_score for partner 'P1': a score of Infinity is not one cosell keeps"),
        (Decimal("-5"), "cosell_score for partner 'P1': a score of -5 is not one cosell keeps"),
        (Decimal("1E+40"), "cosell_score for partner 'P1': a score of 1E+40 is not one cosell keeps"),
    ],
    ids=["float", "nan", "infinite", "negative", "huge"],
)
def test_a_score_cosell_cannot_keep_stops_the_run_naming_the_scoring_plugin(cosell_ledger, value, said):
    plugins = Plugins(entry_points=False, extra={"scorer": Scorer(value)})
    with pytest.raises(PluginError) as info:
        run_program(SCORED, [partner("P1")], ledger=cosell_ledger, plugins=plugins)
    assert info.value.plugin == "scorer" and info.value.exit_code == 2
    assert "cosell_score" in str(info.value) and said in str(info.value)
    assert cosell_ledger.periods() == []


def test_a_plugins_int_score_is_taken_as_a_decimal_of_two_places(cosell_ledger):
    plugins = Plugins(entry_points=False, extra={"scorer": Scorer(75)})
    result = run_program(SCORED, [partner("P1")], ledger=cosell_ledger, plugins=plugins)
    assert result.report.partners[0]["score"] == "75.00"


def test_a_plugins_score_is_rounded_half_up_to_two_places_as_the_built_in_one_is(cosell_ledger):
    plugins = Plugins(entry_points=False, extra={"scorer": Scorer(Decimal("75.125"))})
    result = run_program(SCORED, [partner("P1")], ledger=cosell_ledger, plugins=plugins)
    assert result.report.partners[0]["score"] == "75.13"
    assert str(result.fields[("account", "P1")]["score"]) == "75.13"
