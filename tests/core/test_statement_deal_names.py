"""Which deal names a statement keeps: the deals its lines and projections name, and the deals whose ids
stand as words in its lines' explanations. The page shows a name wherever its id stands as a word."""

import re
from datetime import date
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from cosell.context import PartnerDeal, PartnerFacts
from cosell.records import Deal, Partner
from cosell.results import PayoutLine, Projection
from cosell.statements.facts import as_word, deal_names_of, listed_ids, read_as_word, words_of
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


def test_a_numeric_id_is_kept_when_listed_or_named_with_its_name_never_as_a_number_of_the_text():
    partner = facts("1", "2", "3", "4", "8")
    lines = [
        line("Deal 1 (1) won: USD 3,499.20 × share 1 × rate 8% = 4.00"),
        line("baseline: 2 sourced (2, 4) × 100.00 = 200.00"),
        line("milestone: the first won deal, 8 on 2026-08-20", deal_id="8"),
    ]
    assert deal_names_of(partner, lines, []) == {i: f"Deal {i}" for i in ("1", "2", "4", "8")}


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


def test_numeric_deal_ids_leave_every_number_of_an_explanation_as_written():
    # deal ids 1…22, as a HubSpot portal or a renumbered export has them
    names = {str(i): f"Deal {i}" for i in range(1, 23)}
    assert (
        named_deals(
            "accelerator: won revenue 174,960.00 ÷ Silver quota 150,000.00 = attainment 1.1664, band 1 "
            "reached: (1.25 − 1) × commission 13,996.80 = 3,499.20",
            names,
        )
        == "accelerator: won revenue 174,960.00 ÷ Silver quota 150,000.00 = attainment 1.1664, band 1 "
        "reached: (1.25 − 1) × commission 13,996.80 = 3,499.20"
    )
    assert (
        named_deals(
            "Deal 1 (1) won 2026-08-20: EUR 180,000.00 at 1.08 = USD 194,400.00 × share 0.9 × sourced 1 "
            "× Silver rate 8% = 13,996.80",
            names,
        )
        == "Deal 1 won 2026-08-20: EUR 180,000.00 at 1.08 = USD 194,400.00 × share 0.9 × sourced 1 "
        "× Silver rate 8% = 13,996.80"
    )
    assert (
        named_deals("baseline: 4 qualified opportunities sourced (1, 2, 3, 5) × 100.00 = 400.00", names)
        == "baseline: 4 qualified opportunities sourced (Deal 1, Deal 2, Deal 3, Deal 5) × 100.00 = 400.00"
    )
    assert (
        named_deals("baseline: 12 sourced (1, 2, 3, 4, 5, 6, 7, 8, 9, 10 and 2 more) × 100.00", names)
        == "baseline: 12 sourced (Deal 1, Deal 2, Deal 3, Deal 4, Deal 5, Deal 6, Deal 7, Deal 8, Deal 9, "
        "Deal 10 and 2 more) × 100.00"
    )
    # a bare number is a number: the line's deal is named above its explanation
    assert (
        named_deals("milestone first_win: the partner's first won deal, 1 on 2026-08-20, 2,500.00", names)
        == "milestone first_win: the partner's first won deal, 1 on 2026-08-20, 2,500.00"
    )
    # a list with an item that is no deal is no list of deals
    assert named_deals("(3, in closed period 2026-Q2)", names) == "(3, in closed period 2026-Q2)"


def test_a_word_id_reads_as_its_deal_in_any_parenthesis_a_numeric_one_only_in_a_list_of_deals():
    names = {"D10": "Acme - Renewal", "7": "Acme - Expansion"}
    assert (
        named_deals("(D10, in closed period 2026-Q2)", names) == "(Acme - Renewal, in closed period 2026-Q2)"
    )
    assert named_deals("(7, D10) and 7 more", names) == "(Acme - Expansion, Acme - Renewal) and 7 more"


AMOUNT = st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False, allow_infinity=False)
DEAL_ID = st.one_of(
    st.integers(min_value=0, max_value=10**12).map(str),
    st.from_regex(r"D[0-9]{1,6}", fullmatch=True),
    st.from_regex(r"006[A-Za-z0-9]{15}", fullmatch=True),
)


@given(
    st.lists(DEAL_ID, min_size=1, max_size=5, unique=True),
    st.lists(AMOUNT, min_size=4, max_size=4),
    st.integers(min_value=0, max_value=30),
)
def test_every_amount_reads_as_written_and_every_deal_reference_by_name_whatever_the_ids(ids, amounts, count):
    """Numeric and word ids alike: ``Name (id)`` and a list of ids read as names, every figure of the
    explanation (amounts, rates, counts, dates) as the plugin wrote it, whatever digits the ids share."""
    names = {i: f"Deal {n}" for n, i in enumerate(ids)}
    first, amount, rate, total = (f"{a:,.2f}" for a in amounts)
    figures = f"won 2026-08-20: EUR {amount} at 1.08 × share {count} × sourced 1 × rate {rate}% = {total}"
    commission = f"Deal 0 ({ids[0]}) {figures}"
    assert named_deals(commission, names) == f"Deal 0 {figures}"
    baseline = f"baseline: {count} sourced ({', '.join(ids)} and {count} more) × {first} = {total}"
    assert named_deals(baseline, names) == (
        f"baseline: {count} sourced ({', '.join(names[i] for i in ids)} and {count} more) × {first} = {total}"
    )
    arithmetic = f"attainment {count}.1664, band {count} reached: ({rate} − {count}) × {amount} = {total}"
    assert named_deals(arithmetic, names) == arithmetic


def test_a_number_in_parentheses_reads_as_written_even_when_a_deal_has_it_for_its_id():
    # deal ids of digits (a CSV export numbered 1, 2, 3); "(3)" written by a person is a number, not deal 3
    names = {"2": "Acme - Expansion", "3": "Acme - Renewal"}
    for written in (
        "adjustment 1: booth fee for the summit (3); proposed by ann, approved by carol, 150.00",
        "MDF claim M1 (3) approved 2026-07-18: funded 1,000.00",
        "(3)",
    ):
        assert named_deals(written, names) == written
    # what names deals still reads as their names
    assert named_deals("Acme - Renewal (3) won 2026-08-01", names) == "Acme - Renewal won 2026-08-01"
    assert named_deals("baseline: 2 sourced (2, 3) × 100.00", names) == (
        "baseline: 2 sourced (Acme - Expansion, Acme - Renewal) × 100.00"
    )
    # a run keeps no name for an id that stands only as such a number
    assert deal_names_of(facts("3"), [line("adjustment 1: booth fee for the summit (3)")], []) == {}


def test_a_persons_reason_on_an_adjustment_reads_on_the_page_as_written(cosell_ledger):
    from cosell.statements import render
    from cosell.testing import deal, partner, program, run_program

    loaded = program(tiers=[{"name": "Registered", "min_score": 0, "commission_rate": "0.10"}])
    deals = [deal("3", 1000, partners=["P1"], won_on="2026-08-01", name="Acme - Renewal")]
    asked = cosell_ledger.propose_adjustment(
        partner_id="P1", amount=Decimal("150.00"), reason="booth fee for the summit (3)", by="ann"
    )
    cosell_ledger.approve_adjustment(asked.id, by="carol")
    run_program(loaded, [partner("P1")], deals, ledger=cosell_ledger)
    page = render(cosell_ledger, "2026-Q3", "P1", "html")
    assert "booth fee for the summit (3); proposed by ann" in page
    assert "summit (Acme - Renewal)" not in page
    assert "Acme - Renewal won 2026-08-01" in page  # the commission line still names its deal


# ASCII letters, digits, "_" and "-" (a word's), ASCII punctuation and whitespace (no word's), and beyond
# ASCII: letters and digits a word holds (é, Arabic-Indic three, superscript two, Roman twelve), signs
# and spaces it does not (×, €, no-break and em spaces), a lone surrogate, a separator str.split splits at
TEXT = st.text(alphabet="aZ09_- \t\n,.()'/:×é€\u00a0\u2003\u0663\u00b2\u216b\ud800\x1c", max_size=40)


@given(TEXT)
def test_the_words_of_a_text_are_those_the_word_pattern_finds(text):
    assert words_of(text) == set(re.findall(r"[\w-]+", text))


def test_an_id_a_word_cannot_hold_is_found_as_a_word_of_the_text_beside_any_character():
    partner = facts("OPP.7", "é.1", "D-4", "x_y")
    lines = [line("counted OPP.7×2, (é.1) and D-4/x_y")]
    assert deal_names_of(partner, lines, []) == {i: f"Deal {i}" for i in ("OPP.7", "é.1", "D-4", "x_y")}


def names_deal_by_deal(partner: PartnerFacts, lines, projections) -> dict[str, str]:
    """What a statement keeps, read deal by deal: each of the partner's deals with a name that a line or
    a projection names, a list of ids holds, ``Name (id)`` names, or the text holds as a word."""
    text = "\n".join(ln.explanation for ln in lines)
    named = {ln.deal_id for ln in lines if ln.deal_id} | {p.deal_id for p in projections}
    inners = [inner for ln in lines for inner in re.findall(r"\(([^()]*)\)", ln.explanation)]
    listed = {item for inner in inners for item in listed_ids(inner)}
    names = {}
    for pd in partner.deals:
        deal = pd.deal
        if deal.name and (
            deal.id in named
            or deal.id in listed
            or (deal.id in inners and f"{deal.name} ({deal.id})" in text)
            or (read_as_word(deal.id) and re.search(as_word(deal.id), text) is not None)
        ):
            names[deal.id] = deal.name
    return names


MIXED_ID = st.text(alphabet="D17-.x_é", min_size=1, max_size=3)


@given(
    st.lists(
        st.tuples(MIXED_ID, st.sampled_from(["", "Acme", "Deal 1", "x (D1)"])),
        max_size=6,
        unique_by=lambda d: d[0],
    ),
    st.lists(
        st.tuples(st.text(alphabet="D17-.x_é ,()Acme", max_size=24), st.one_of(st.none(), MIXED_ID)),
        max_size=4,
    ),
    st.lists(MIXED_ID, max_size=3),
    st.data(),
)
def test_the_names_kept_are_those_a_deal_by_deal_reading_keeps(deals, texts, projected, data):
    """Whichever deals the lines and projections name, whatever the explanations say (``Name (id)``
    included) and whether a deal has a name at all."""
    partner = PartnerFacts(
        Partner(id="P1", name="Acme", joined_on=date(2025, 1, 1)),
        tuple(
            PartnerDeal(
                Deal(
                    id=i,
                    name=name,
                    amount=Decimal(100),
                    currency="USD",
                    stage="Proposal",
                    status="open",
                    created_on=date(2026, 7, 1),
                ),
                "sourced",
                Decimal(1),
            )
            for i, name in deals
        ),
    )
    # an explanation may also name one of the deals as a plugin writes it: "Name (id)"
    if deals and data.draw(st.booleans()):
        i, name = data.draw(st.sampled_from(deals))
        texts = [*texts, (f"{name} ({i}) won", None)]
    lines = [line(text, deal_id) for text, deal_id in texts]
    projections = [Projection("P1", i, Decimal(5), "if won") for i in projected]
    assert deal_names_of(partner, lines, projections) == names_deal_by_deal(partner, lines, projections)
