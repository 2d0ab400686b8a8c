"""Conversion into the program currency, before any rule sees an amount."""

from decimal import Decimal

import pytest

from cosell.engine import convert, group_by_partner
from cosell.errors import InputError
from cosell.records import RecordSet
from cosell.testing import deal, mdf_claim, partner, program

PROGRAM = program(fx={"EUR": "1.08", "GBP": "1.27"}).program


def test_amounts_are_converted_with_the_fx_table_and_keep_their_currency():
    records = RecordSet(
        (partner("P1"),),
        (
            deal("D1", "1000.50", currency="EUR", partners=["P1"]),
            deal("D2", "10", currency="USD", partners=["P1"]),
        ),
        (),
        (mdf_claim("M1", "P1", "Launch", "100", currency="GBP"),),
    )
    converted = convert(records, PROGRAM)
    assert [(d.amount, d.currency) for d in converted.deals] == [
        (Decimal("1080.5400"), "EUR"),
        (Decimal("10"), "USD"),
    ]
    assert converted.mdf_claims[0].amount == Decimal("127.00")


def test_a_currency_missing_from_the_fx_table_is_an_input_error_naming_every_record():
    records = RecordSet(
        (partner("P1"),),
        (deal("D1", "1", currency="JPY", partners=["P1"]), deal("D2", "1", currency="CHF", partners=["P1"])),
    )
    with pytest.raises(InputError) as info:
        convert(records, PROGRAM)
    assert [str(p) for p in info.value.problems] == [
        "deal D1: currency: no exchange rate for JPY in the program's fx table",
        "deal D2: currency: no exchange rate for CHF in the program's fx table",
    ]
    assert info.value.exit_code == 2


def test_shares_over_one_on_a_deal_from_a_crm_are_an_input_error():
    records = RecordSet(
        (partner("P1"), partner("P2")),
        (deal("D1", "1", partners=[("P1", "sourced", "0.7"), ("P2", "cosell", "0.6")]),),
    )
    with pytest.raises(InputError, match=r"deal D1: partners: shares add up to 1\.3, more than 1"):
        group_by_partner(records)


def test_a_partner_named_twice_with_different_shares_is_an_input_error():
    records = RecordSet(
        (partner("P1"), partner("P2")),
        (
            deal(
                "D1", "1", partners=[("P2", "sourced", None), ("P1", "cosell"), ("P2", "influenced", "0.2")]
            ),
            deal("D2", "1", partners=[("P1", "sourced", "0.5"), ("P1", "cosell", "0.4")]),
        ),
    )
    with pytest.raises(InputError) as info:
        group_by_partner(records)
    assert [str(p) for p in info.value.problems] == [
        "deal D1: partners: partner P2 is named twice with different shares (none and 0.2)",
        "deal D2: partners: partner P1 is named twice with different shares (0.5 and 0.4)",
    ]


def test_a_partner_named_twice_with_the_same_share_keeps_the_first_role_in_precedence_order():
    records = RecordSet(
        (partner("P1"), partner("P2")),
        (
            deal(
                "D1", "1", partners=[("P1", "influenced", "0.5"), ("P2", "cosell"), ("P1", "sourced", "0.50")]
            ),
        ),
    )
    p1, p2 = group_by_partner(records)
    assert [(d.role, d.share) for d in p1.deals] == [("sourced", Decimal("0.5"))]
    assert [(d.role, d.share) for d in p2.deals] == [("cosell", Decimal("0.5"))]


def test_an_amount_too_large_once_converted_names_the_record():
    records = RecordSet(
        (partner("P1"),),
        (deal("D1", "999999999999", currency="GBP", partners=["P1"]),),
        (),
        (mdf_claim("M1", "P1", "Launch", "900000000000", currency="GBP"),),
    )
    with pytest.raises(InputError) as info:
        convert(records, PROGRAM)
    assert [str(p) for p in info.value.problems] == [
        "deal D1: amount: 1,269,999,999,998.73 USD after conversion is too large: at most 1,000,000,000,000",
        "MDF claim M1: amount: 1,143,000,000,000.00 USD after conversion is too large: at most 1,000,000,000,000",
    ]


def test_a_negative_or_oversized_record_amount_is_refused_whatever_the_connector():
    from pydantic import ValidationError

    for amount in ("-1", "1000000000000.01", "1e30"):
        with pytest.raises(ValidationError):
            deal("D1", amount)
        with pytest.raises(ValidationError):
            mdf_claim("M1", "P1", "Launch", amount)


def test_a_record_number_with_more_than_100_decimal_places_is_refused_whatever_the_connector():
    from pydantic import TypeAdapter, ValidationError

    from cosell.records import Activity, Involvement

    for text in ("0." + "0" * 100 + "1", "1E-101", "1." + "0" * 101):
        with pytest.raises(ValidationError, match="has more than 100 decimal places"):
            deal("D1", text)
        with pytest.raises(ValidationError, match="has more than 100 decimal places"):
            TypeAdapter(Involvement).validate_python({"partner_id": "P1", "role": "sourced", "share": text})
        with pytest.raises(ValidationError, match="has more than 100 decimal places"):
            TypeAdapter(Activity).validate_python(
                {
                    "id": "A1",
                    "partner_id": "P1",
                    "type": "call",
                    "occurred_on": "2026-07-01",
                    "quantity": text,
                }
            )
    assert deal("D1", "0." + "0" * 99 + "1").amount == Decimal("1E-100")  # 100 places are taken
