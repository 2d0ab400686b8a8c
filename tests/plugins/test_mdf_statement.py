"""The MDF section of a partner's statement, which the MDF rule derives from its own lines' tags. Numbers
are the bundled example's (examples/program.yaml: release_pipeline_multiple 3), worked by hand."""

from decimal import Decimal

from cosell.plugins.mdf import mdf_section, mdf_summary
from cosell.results import LedgerLine

D = Decimal
MULTIPLE = D(3)


def line(kind, amount, explanation, *, tags=(), period="2026-Q3"):
    return LedgerLine(period, "P002", kind, D(amount), explanation, None, False, True, frozenset(tags))


def approval(claim, funded, paid, campaign="NA Data Summit", approved="2026-07-18", period="2026-Q3"):
    tags = {
        f"mdf_claim:{claim}",
        "mdf_stage:approval",
        f"mdf_funded:{funded}",
        f"mdf_campaign:{campaign}",
        f"mdf_approved:{approved}",
    }
    return line("mdf", paid, f"MDF claim {claim} approved", tags=tags, period=period)


def release(claim, amount, period="2026-Q3"):
    tags = {f"mdf_claim:{claim}", "mdf_stage:release"}
    return line("mdf", amount, f"MDF claim {claim} released", tags=tags, period=period)


P002_MDF_LINES = (approval("M001", "12000.00", "6000.00"), release("M001", "6000.00"))


def summary(lines, earlier=()):
    return mdf_summary(lines, earlier, MULTIPLE)


def test_an_mdf_claim_approved_without_a_release_line_is_pending_with_the_pipeline_it_needs():
    # P001's M003: funded 8,000, 50% paid on approval; the rest waits for 3 × 8,000 = 24,000 of pipeline
    lines = (approval("M003", "8000.00", "4000.00", campaign="EMEA Cloud Push", approved="2026-07-09"),)
    mdf = summary(lines)
    (claim,) = mdf.pending
    assert claim.claim_id == "M003" and claim.rest == D("4000.00")
    assert claim.needed_pipeline == D("24000.00")
    assert "EMEA Cloud Push" in claim.needs() and "24,000.00" in claim.needs()
    assert mdf.funded == D("8000.00") and mdf.paid_on_approval == D("4000.00") and mdf.released == 0
    assert mdf.pending_amount == D("4000.00")


def test_an_mdf_claim_approved_in_an_earlier_period_stays_pending_until_its_release_line():
    earlier = (approval("M003", "8000.00", "4000.00", period="2026-Q2"),)
    waiting = summary((), earlier)
    assert [c.claim_id for c in waiting.pending] == ["M003"] and waiting.paid == 0
    released = summary((release("M003", "4000.00"),), earlier)
    (claim,) = released.claims
    assert claim.status == "released" and claim.released_in_period and not claim.approved_in_period
    assert released.released == D("4000.00") and released.pending == ()


def test_an_mdf_claim_released_in_its_approval_period_is_not_pending():
    mdf = summary(P002_MDF_LINES)
    (claim,) = mdf.claims
    assert claim.status == "released" and mdf.paid == D("12000.00") and mdf.pending_amount == 0


def test_the_section_shows_the_claims_the_pending_rest_and_what_it_waits_for():
    lines = (approval("M003", "8000.00", "4000.00", campaign="EMEA Cloud Push", approved="2026-07-09"),)
    section = mdf_section(mdf_summary(lines, (), MULTIPLE, lambda campaign, since: D("6000.00")), "USD")
    assert (
        section.card is not None
        and section.card.amount == D("4000.00")
        and section.card.text == "4,000.00 pending"
    )
    assert section.rows == (
        ("M003", "EMEA Cloud Push", "2026-07-09", "8,000.00", "4,000.00", "0.00", "pending 4,000.00"),
    )
    (pending,) = section.pending
    assert pending.label == "M003" and pending.amount == D("4000.00")
    assert pending.text.endswith("reaches 24,000.00 (now 6,000.00, 18,000.00 to go)")
    assert section.summary == (
        "MDF: 8,000.00 funded, 4,000.00 paid on approval, 0.00 released, 4,000.00 pending; "
        "4,000.00 USD paid this period"
    )
    assert section.kinds == ("mdf",)
