"""Which deal names a statement keeps: the deals its lines and projections name, and the deals whose ids
stand as words in its lines' explanations. The page shows a name wherever its id stands as a word."""

from datetime import date
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from cosell.context import PartnerDeal, PartnerFacts
from cosell.records import Deal, Partner
from cosell.results import PayoutLine, Projection
from cosell.statements.facts import deal_names_of
from cosell.statements.model import named_deals


def facts(*ids: str) -> PartnerFacts:
    partner = Partner(id="P1", name="Acme", joined_on=date(2025, 1, 1))
    deals = tuple(
        PartnerDeal(
            Deal(
                id=i,
                name=f"Deal {i}",
                amount=Decimal(100),
                currency="USD",
                stage="Proposal",
                status="won",
                created_on=date(2026, 7, 1),
                closed_on=date(2026, 8, 1),
            ),
            "sourced",
            Decimal(1),
        )
        for i in ids
    )
    return PartnerFacts(partner, deals)


def line(explanation: str, deal_id: str | None = None) -> PayoutLine:
    return PayoutLine("P1", "commission", Decimal(10), explanation, deal_id)


def test_deals_named_by_a_line_a_projection_or_as_a_word_of_an_explanation_keep_their_names():
    partner = facts("D1", "D2", "D3", "D10", "OPP.7", "D-4", "D5")
    lines = [
        line("commission on D1", deal_id="D1"),
        line("baseline: 3 deals counted (D10, OPP.7, D-4)"),
    ]
    projections = [Projection("P1", "D2", Decimal(5), "if won")]
    names = deal_names_of(partner, lines, projections)
    assert names == {i: f"Deal {i}" for i in ("D1", "D2", "D10", "OPP.7", "D-4")}


def test_an_id_found_only_inside_a_longer_word_is_not_a_deal_the_text_names():
    partner = facts("D1", "OPP.7", "D-4")
    lines = [line("counted D10, XOPP.7 and D-40")]
    assert deal_names_of(partner, lines, []) == {}


ID = st.text(alphabet="D1-.x_é", min_size=1, max_size=4)


@given(st.lists(ID, min_size=1, max_size=6, unique=True), st.lists(st.text("D1-.x_é ,()"), max_size=4))
def test_a_statement_reads_the_same_text_with_the_names_kept_as_with_every_id_found_anywhere(ids, texts):
    """The names kept are fewer than the ids found anywhere in the text, but every explanation reads
    the same with them: the page shows a name only where its id stands as a word."""
    partner = facts(*ids)
    lines = [line(t) for t in texts]
    kept = deal_names_of(partner, lines, [])
    anywhere = {i: f"Deal {i}" for i in ids if i in "\n".join(texts)}
    assert kept.items() <= anywhere.items()
    for text in texts:
        assert named_deals(text, kept) == named_deals(text, anywhere)
