"""A statement's steps (the subtotal, the per-partner cap, the program budget, period earnings, the lines
outside them) follow the line kinds' declared flags: whatever flags a plugin's kind carries, the steps add
up to what the partner's lines pay, each line sits under the step its kind's flags say, and the cap and
budget steps speak of the same totals the cap and budget rules worked on. A combination of flags the
steps cannot show is refused when the plugins load, naming the plugin and the kind."""

from __future__ import annotations

import decimal
import re
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosell import hookimpl
from cosell.errors import PluginError
from cosell.ledger import Ledger
from cosell.money import show
from cosell.pluginmanager import Plugins
from cosell.results import LineKind, PayoutLine
from cosell.statements.document import document
from cosell.testing import deal, partner, program, run_program
from program_strategies import FAST, PARTNERS, Data, around, build_program, datas, program_docs

ZERO = Decimal(0)
KIND = "extra"


class Flagged:
    """A plugin with one kind of drawn flags. Its lines come with the payout lines; an adjustment kind's
    come among the adjustments (after the cap, before the budget), where such lines are made."""

    def __init__(self, kind: LineKind, amounts: dict[str, list[Decimal]]) -> None:
        self.kind = kind
        self.amounts = amounts

    def _lines(self, partner_id: str) -> list[PayoutLine]:
        return [
            PayoutLine(partner_id, KIND, amount, f"extra: {show(amount)}")
            for amount in self.amounts.get(partner_id, ())
        ]

    @hookimpl
    def cosell_line_kinds(self) -> list[LineKind]:
        return [self.kind]

    @hookimpl
    def cosell_payout_lines(self, partner: Any) -> list[PayoutLine]:
        return [] if self.kind.adjustment else self._lines(partner.id)

    @hookimpl
    def cosell_adjustments(self, lines: dict[str, Any]) -> list[PayoutLine]:
        return [ln for pid in sorted(lines) for ln in self._lines(pid)] if self.kind.adjustment else []


def kinds() -> st.SearchStrategy[LineKind]:
    """Every combination of flags; those a statement can show (most kinds are not adjustments and count
    in period earnings) drawn more often than those refused."""
    mostly = st.sampled_from([True, True, True, False])
    return st.builds(
        LineKind,
        st.just(KIND),
        st.just("Extra"),
        capped=st.booleans(),
        in_budget=st.booleans(),
        deal_incentive=st.booleans(),
        reverses=st.booleans(),
        period_earnings=mostly,
        adjustment=mostly.map(lambda no: not no),
    )


def line_amounts() -> st.SearchStrategy[dict[str, list[Decimal]]]:
    amount = st.one_of(
        st.sampled_from([Decimal("0.00"), Decimal("0.01"), Decimal("-0.01"), Decimal("500.00")]),
        st.decimals(min_value=-20000, max_value=20000, places=2, allow_nan=False, allow_infinity=False),
    )
    return st.dictionaries(st.sampled_from(PARTNERS), st.lists(amount, min_size=1, max_size=3))


@st.composite
def capped_programs(draw: st.DrawFn) -> dict[str, Any]:
    """A drawn program whose per-partner cap and program budget are mostly there (and often bite)."""
    doc = draw(program_docs())
    caps = {}
    if draw(st.integers(0, 3)):
        caps["per_partner"] = draw(around("0.01", "500", "2500"))
    if draw(st.integers(0, 3)):
        caps["program_budget"] = draw(around("0.01", "1000", "10000"))
    doc["caps"] = caps
    return doc


def refused(kind: LineKind) -> bool:
    """Flags no statement step can show (docs/plugins.md, "Rules for money and lines")."""
    outside_counted = not kind.period_earnings and (kind.capped or kind.in_budget)
    # an adjustment is the cap step (inside the budget) or the budget step (outside it), which the
    # built-in cap and budget take; and a step counted by the cap, or outside period earnings, is no step
    return outside_counted or kind.adjustment


def explained(lines: list[Any], kind: str, pattern: str) -> tuple[Decimal, ...] | None:
    """The amounts a built-in rule's line of ``kind`` states in its explanation (None without the line)."""
    [found] = [ln for ln in lines if ln.kind == kind] or [None]
    if found is None:
        return None
    match = re.search(pattern, found.explanation)
    assert match is not None, found.explanation
    return tuple(Decimal(text.replace(",", "")) for text in match.groups())


@FAST
@given(capped_programs(), datas(), kinds(), line_amounts())
def test_a_statements_steps_add_up_to_its_lines_and_each_line_sits_under_the_step_its_kinds_flags_say(
    doc: dict[str, Any], data: Data, kind: LineKind, amounts: dict[str, list[Decimal]]
) -> None:
    plugin = Flagged(kind, amounts)
    if refused(kind):
        with pytest.raises(PluginError) as caught:
            Plugins(entry_points=False, extra={"flagged": plugin})
        assert "plugin 'flagged'" in str(caught.value) and f"'{KIND}'" in str(caught.value)
        return
    plugins = Plugins(entry_points=False, extra={"flagged": plugin})
    with Ledger.connect("sqlite://") as ledger, decimal.localcontext() as ctx:
        ctx.traps[decimal.FloatOperation] = True
        loaded = build_program(doc)
        run_program(loaded, *data.build(), ledger=ledger, plugins=plugins)
        statements = document(ledger, "2026-Q3", None).statements
        stored = ledger.lines("2026-Q3")
    declared = {name: k for name, (_, k) in plugins.line_kinds().items()}
    caps = loaded.program.caps
    for s in statements:
        lines = [ln for ln in stored if ln.partner_id == s.partner_id]
        assert_steps(s, lines, declared, caps.per_partner if caps else None)


def assert_steps(s: Any, lines: list[Any], kinds: dict[str, LineKind], per_partner: Decimal | None) -> None:
    def total(keep: Any) -> Decimal:
        return sum((ln.amount for ln in lines if keep(kinds[ln.kind])), ZERO)

    adj = s.adjustments
    # the steps add up: subtotal → cap → budget → period earnings, + the lines outside them = every line
    assert adj.subtotal + (adj.cap or ZERO) + (adj.budget or ZERO) == adj.earnings == s.earnings
    assert s.payable == s.earnings + s.outside_earnings == sum((ln.amount for ln in lines), ZERO)
    # each line under the step its kind's flags say
    assert s.outside_earnings == total(lambda k: not k.period_earnings)
    assert {ln.kind for g in s.other_groups for ln in g.lines} == {
        ln.kind for ln in lines if not kinds[ln.kind].period_earnings
    }
    earning = [ln for g in s.groups for ln in g.lines]
    assert sorted(map(repr, earning)) == sorted(repr(ln) for ln in lines if kinds[ln.kind].period_earnings)
    steps = (
        (adj.capped_subtotal, lambda k: k.period_earnings and not k.adjustment and k.capped),
        (adj.outside_caps, lambda k: k.period_earnings and not k.adjustment and not k.capped),
        (adj.cap or ZERO, lambda k: k.period_earnings and k.adjustment and k.in_budget),
        (adj.budget or ZERO, lambda k: k.period_earnings and k.adjustment and not k.in_budget),
    )
    for amount, keep in steps:
        assert amount == total(keep)
    # the cap step speaks of the total the cap rule capped, the budget step of the one the budget scaled
    cap = explained(lines, "cap", r"add up to (\S+), above the per-partner cap of (\S+)")
    if cap is not None:
        before, limit = cap
        assert adj.cap_text() == f"capped from {show(before)} to {show(limit)}"
    elif per_partner is not None:
        counted = total(lambda k: k.capped)
        assert adj.cap_text() == f"{show(counted)} is within the per-partner cap of {show(per_partner)}"
    budget = explained(lines, "budget", r"this partner's (\S+) is scaled to (\S+)$")
    if budget is not None:
        before, after = budget
        assert adj.budget_text() == f"scaled by the program budget from {show(before)} to {show(after)}"
    elif adj.budget_scaled:
        counted = total(lambda k: k.in_budget)  # the cap's line among them: the budget sees capped totals
        among = ", the per-partner cap's line among them," if cap is not None else ""
        if not any(kinds[ln.kind].in_budget for ln in lines):
            said = "none of your lines this period were subject to it"
        elif counted <= 0:
            said = f"your lines subject to it{among} add up to {show(counted)}, and it scales only a positive total"
        else:
            said = f"your {show(counted)} subject to it is unchanged once rounded to cents"
        assert adj.budget_text().endswith(f"; {said}"), adj.budget_text()


# --- the refusals, each naming the plugin and the kind ------------------------------------------------


def loaded_with(kind: LineKind) -> PluginError:
    with pytest.raises(PluginError) as caught:
        Plugins(entry_points=False, extra={"flagged": Flagged(kind, {})})
    return caught.value


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        ({"period_earnings": False}, "outside period earnings cannot count toward the per-partner cap"),
        (
            {"period_earnings": False, "capped": False},
            "outside period earnings cannot count toward the program budget",
        ),
        ({"adjustment": True}, "an adjustment cannot count toward the per-partner cap"),
        (
            {"adjustment": True, "capped": False, "period_earnings": False, "in_budget": False},
            "an adjustment counts in period earnings",
        ),
        ({"adjustment": True, "capped": False}, "kind 'cap' of plugin 'caps' is that step"),
        ({"adjustment": True, "capped": False, "in_budget": False}, "kind 'budget' of plugin 'budget'"),
    ],
)
def test_a_kind_whose_flags_no_statement_step_can_show_is_refused_at_load_naming_plugin_and_kind(
    flags: dict[str, bool], said: str
) -> None:
    error = loaded_with(LineKind(KIND, "Extra", **flags))
    text = str(error)
    assert "plugin 'flagged'" in text and "line kind 'extra'" in text and said in text, text
    assert "test_statement_steps.py" in text  # the plugin's file
    assert error.exit_code == 2


def p1_statement(ledger: Ledger, kind: LineKind, budget: str) -> Any:
    """P1's statement: commission 2,000.00 and a 600.00 line of ``kind``; P2: commission 2,000.00. The
    per-partner cap is 1,000.00."""
    text = "program: P\nperiod: 2026-Q3\ncurrency: USD\ntiers:\n  - {name: R, min_score: 0, commission_rate: '0.10'}\n"
    loaded = program(text + f"caps: {{per_partner: 1000, program_budget: {budget}}}\n")
    plugins = Plugins(entry_points=False, extra={"flagged": Flagged(kind, {"P1": [Decimal("600.00")]})})
    deals = [deal(d, "20000", partners=[p], won_on="2026-08-01") for d, p in (("D1", "P1"), ("D2", "P2"))]
    run_program(loaded, [partner("P1"), partner("P2")], deals, ledger=ledger, plugins=plugins)
    [p1, _] = document(ledger, "2026-Q3", None).statements
    return p1


def test_a_kind_inside_the_cap_but_outside_the_budget_is_capped_and_never_scaled_on_the_statement(
    cosell_ledger: Ledger,
) -> None:
    # The cap takes P1's 2,600.00 to 1,000.00 (−1,600.00). The budget sees 2,000.00 − 1,600.00 = 400.00 of
    # P1 and 2,000.00 − 1,000.00 of P2: 1,400.00 against 1,050.00, a factor of 0.75: 400.00 becomes 300.00.
    p1 = p1_statement(cosell_ledger, LineKind(KIND, "Extra", capped=True, in_budget=False), "1050")
    adj = p1.adjustments
    assert adj.cap_text() == "capped from 2,600.00 to 1,000.00"
    assert adj.budget_text() == "scaled by the program budget from 400.00 to 300.00"
    assert adj.cap == Decimal("-1600.00") and adj.budget == Decimal("-100.00")
    assert adj.earnings == Decimal("900.00")  # 2,600 − 1,600 − 100: the 600 is in it, capped, not scaled


def test_a_kind_outside_the_cap_but_inside_the_budget_is_scaled_and_never_capped_on_the_statement(
    cosell_ledger: Ledger,
) -> None:
    # The cap takes P1's commission of 2,000.00 to 1,000.00; the 600.00 is outside it. The budget sees
    # 1,600.00 of P1 and 1,000.00 of P2: 2,600.00 against 1,300.00, a factor of 0.5: 1,600.00 becomes 800.00.
    p1 = p1_statement(cosell_ledger, LineKind(KIND, "Extra", capped=False, in_budget=True), "1300")
    adj = p1.adjustments
    assert adj.cap_text() == "capped from 2,000.00 to 1,000.00"
    assert adj.budget_text() == "scaled by the program budget from 1,600.00 to 800.00"
    assert adj.subtotal == Decimal("2600.00") and adj.outside_caps == Decimal("600.00")
    assert adj.earnings == Decimal("800.00")


def test_a_second_cap_step_names_the_plugin_even_when_its_kinds_are_declared_before_the_built_in_ones() -> (
    None
):
    class Early:
        @hookimpl(tryfirst=True)
        def cosell_line_kinds(self) -> list[LineKind]:
            return [LineKind("pool", "Regional pool", capped=False, adjustment=True)]

    with pytest.raises(PluginError) as caught:
        Plugins(entry_points=False, extra={"early": Early()})
    text = str(caught.value)
    assert text.startswith(
        "plugin 'early': declares line kind 'pool' as an adjustment inside the program budget"
    )
    assert "kind 'cap' of plugin 'caps' is that step" in text


def test_a_partner_whose_only_line_the_budget_sees_is_its_cap_line_is_told_the_cap_line_is_subject_to_it(
    cosell_ledger: Ledger,
) -> None:
    # P1 has one 2,000.00 line of a kind inside the cap but outside the budget: the cap takes it to
    # 1,000.00 (−1,000.00), and that cap line is all the budget sees of P1 (the budget sees capped
    # totals): −1,000.00, which it does not scale. P2's commission of 2,000.00, capped to 1,000.00,
    # is what the budget of 500.00 scales, by 0.5. P1 has lines subject to the budget: the cap's.
    text = "program: P\nperiod: 2026-Q3\ncurrency: USD\ntiers:\n  - {name: R, min_score: 0, commission_rate: '0.10'}\n"
    loaded = program(text + "caps: {per_partner: 1000, program_budget: 500}\n")
    kind = LineKind(KIND, "Extra", capped=True, in_budget=False)
    plugins = Plugins(entry_points=False, extra={"flagged": Flagged(kind, {"P1": [Decimal("2000.00")]})})
    deals = [deal("D2", "20000", partners=["P2"], won_on="2026-08-01")]
    run_program(loaded, [partner("P1"), partner("P2")], deals, ledger=cosell_ledger, plugins=plugins)
    [p1, p2] = document(cosell_ledger, "2026-Q3", None).statements
    adj = p1.adjustments
    assert adj.cap == Decimal("-1000.00") and adj.budget is None and adj.before_budget == Decimal("-1000.00")
    assert adj.cap_text() == "capped from 2,000.00 to 1,000.00"
    assert adj.budget_text() == (
        "the program budget scaled the program by 0.500000; your lines subject to it, the per-partner "
        "cap's line among them, add up to -1,000.00, and it scales only a positive total"
    )
    assert adj.earnings == Decimal("1000.00")
    assert p2.adjustments.budget_text() == "scaled by the program budget from 1,000.00 to 500.00"
