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
