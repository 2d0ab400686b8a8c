"""The files connector's reader: CSV folders become canonical records, and every bad cell is reported
as ``file:line: column: problem``, all of them at once."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from cosell.connectors.files import read_folder
from cosell.errors import InputError
from cosell.program import Program, parse_program
from cosell.records import Involvement

PROGRAM = """\
program: Test Program
period: 2026-Q3
currency: USD
fx: {EUR: "1.08"}
timezone: America/New_York
tiers:
  - {name: Registered, min_score: 0}
"""

PARTNERS = """\
id,name,joined_on
P1,Acme,2026-01-05
P2,Beta,2026-02-01
"""

DEALS = """\
id,name,amount,stage,status,created_on,closed_on
D1,Big deal,1000,Proposal,open,2026-07-02,
"""


@pytest.fixture
def program() -> Program:
    return parse_program(PROGRAM).program


def folder_with(tmp_path: Path, **files: str) -> Path:
    """A folder holding the given files (``deals_csv="..."`` → ``deals.csv``); partners and deals default."""
    contents = {"partners.csv": PARTNERS, "deals.csv": DEALS}
    contents.update({name.replace("_csv", ".csv"): text for name, text in files.items()})
    for name, text in contents.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def problems_of(folder: Path, program: Program) -> list[str]:
    with pytest.raises(InputError) as caught:
        read_folder(folder, program)
    return [str(p) for p in caught.value.problems]


# --- reading good files ------------------------------------------------------------------------


def test_reads_partners_deals_activities_and_claims(tmp_path: Path, program: Program) -> None:
    folder = folder_with(
        tmp_path,
        deals_csv=(
            "id,name,amount,currency,stage,status,created_on,closed_on,discount_pct,margin_pct,campaign\n"
            "D1,Big deal,1000.50,EUR,Negotiation,won,2026-07-02,2026-08-15,10,35.5,spring\n"
        ),
        activities_csv="id,partner_id,type,occurred_on,deal_id,quantity\nA1,P1,joint_demo,2026-07-03,D1,3\n",
        mdf_claims_csv=(
            "id,partner_id,campaign,amount,status,approved_on,currency\n"
            "M1,P2,spring,2500,approved,2026-07-10,EUR\n"
            "M2,P2,spring,100,submitted,,\n"
        ),
    )
    records = read_folder(folder, program)
    assert [p.id for p in records.partners] == ["P1", "P2"]
    assert records.partners[0].joined_on == date(2026, 1, 5)
    assert records.partners[0].status == "active"
    (deal,) = records.deals
    assert deal.amount == Decimal("1000.50")
    assert deal.currency == "EUR"
    assert deal.status == "won"
    assert deal.closed_on == date(2026, 8, 15)
    assert deal.discount_pct == Decimal(10)
    assert deal.margin_pct == Decimal("35.5")
    assert deal.campaign == "spring"
    assert deal.refunded_on is None
    assert deal.partners == ()
    (activity,) = records.activities
    assert (activity.deal_id, activity.quantity, activity.occurred_on) == ("D1", Decimal(3), date(2026, 7, 3))
    first, second = records.mdf_claims
    assert (first.amount, first.currency, first.approved_on, first.is_approved) == (
        Decimal(2500),
        "EUR",
        date(2026, 7, 10),
        True,
    )
    assert (second.currency, second.approved_on, second.is_approved) == (None, None, False)


def test_optional_files_may_be_left_out(tmp_path: Path, program: Program) -> None:
    records = read_folder(folder_with(tmp_path), program)
    assert [d.id for d in records.deals] == ["D1"]
    assert records.activities == ()
    assert records.mdf_claims == ()


def test_deals_csv_partner_comes_first_then_deal_partners_rows_in_file_order(
    tmp_path: Path, program: Program
) -> None:
    folder = folder_with(
        tmp_path,
        deals_csv=(
            "id,name,amount,stage,status,created_on,partner_id,role,share\n"
            "D1,One,100,Proposal,open,2026-07-01,P1,,0.5\n"
            "D2,Two,200,Proposal,open,2026-07-01,,,\n"
        ),
        deal_partners_csv=(
            "deal_id,partner_id,role,share\n"
            "D2,P2,cosell,\n"
            "D1,P2,influenced,0.25\n"
            "D1,P1,cosell,0.50\n"
            "D2,P1,sourced,0.4\n"
        ),
    )
    one, two = read_folder(folder, program).deals
    # deals.csv's partner has role `sourced` when its role cell is empty; a partner named twice with the
    # same share stays twice (the engine merges it).
    assert one.partners == (
        Involvement("P1", "sourced", Decimal("0.5")),
        Involvement("P2", "influenced", Decimal("0.25")),
        Involvement("P1", "cosell", Decimal("0.5")),
    )
    assert two.partners == (Involvement("P2", "cosell", None), Involvement("P1", "sourced", Decimal("0.4")))


def test_money_is_parsed_exactly_from_its_text(tmp_path: Path, program: Program) -> None:
    folder = folder_with(
        tmp_path,
        deals_csv=(
            "id,name,amount,stage,status,created_on\n"
            "D1,One,0.1,Proposal,open,2026-07-01\n"
            "D2,Two,0.2,Proposal,open,2026-07-01\n"
        ),
    )
    one, two = read_folder(folder, program).deals
    assert one.amount + two.amount == Decimal("0.3")
    assert str(one.amount) == "0.1"


def test_empty_currency_cell_means_the_program_currency(tmp_path: Path, program: Program) -> None:
    folder = folder_with(
        tmp_path,
        deals_csv=(
            "id,name,amount,currency,stage,status,created_on\n"
            "D1,One,10,,Proposal,open,2026-07-01\n"
            "D2,Two,10,eur,Proposal,open,2026-07-01\n"
        ),
    )
    one, two = read_folder(folder, program).deals
    assert (one.currency, two.currency) == ("USD", "EUR")


def test_deals_without_a_currency_column_are_in_the_program_currency(
    tmp_path: Path, program: Program
) -> None:
    (deal,) = read_folder(folder_with(tmp_path), program).deals
    assert deal.currency == "USD"


def test_activity_quantity_defaults_to_one(tmp_path: Path, program: Program) -> None:
    folder = folder_with(
        tmp_path, activities_csv="id,partner_id,type,occurred_on,quantity\nA1,P1,joint_call,2026-07-03,\n"
    )
    (activity,) = read_folder(folder, program).activities
    assert activity.quantity == Decimal(1)
    assert activity.deal_id is None


def test_extra_partner_columns_become_attributes_and_empty_cells_are_left_out(
    tmp_path: Path, program: Program
) -> None:
    folder = folder_with(
        tmp_path,
        partners_csv=(
            "id,name,joined_on,region,NPS_Score__c,crm_tier\n"
            "P1,Acme,2026-01-05,EMEA,9,Gold\n"
            "P2,Beta,2026-02-01,,7,\n"
        ),
        deals_csv="id,name,amount,stage,status,created_on,owner\nD1,One,10,Proposal,open,2026-07-01,kim\n",
    )
    acme, beta = read_folder(folder, program).partners
    assert dict(acme.attributes) == {"region": "EMEA", "NPS_Score__c": "9"}
    assert acme.crm_tier == "Gold"
    assert dict(beta.attributes) == {"NPS_Score__c": "7"}
    assert beta.crm_tier is None


def test_datetime_cells_become_dates_in_the_program_timezone(tmp_path: Path, program: Program) -> None:
    folder = folder_with(
        tmp_path,
        deals_csv=(
            "id,name,amount,stage,status,created_on,closed_on\n"
            "D1,One,10,Proposal,won,2026-07-01T02:00:00Z,2026-07-01T12:00:00.000+0000\n"
            "D2,Two,10,Proposal,open,2026-07-01T23:30:00,\n"
        ),
    )
    one, two = read_folder(folder, program).deals
    # 02:00 UTC on July 1 is 22:00 on June 30 in New York.
    assert one.created_on == date(2026, 6, 30)
    assert one.closed_on == date(2026, 7, 1)
    # A datetime without an offset is already local time: its date is kept.
    assert two.created_on == date(2026, 7, 1)


def test_utc_program_keeps_the_utc_date(tmp_path: Path) -> None:
    utc = parse_program(PROGRAM.replace("timezone: America/New_York\n", "")).program
    folder = folder_with(
        tmp_path,
        deals_csv="id,name,amount,stage,status,created_on\nD1,One,10,Proposal,open,2026-07-01T02:00:00Z\n",
    )
    assert read_folder(folder, utc).deals[0].created_on == date(2026, 7, 1)


def test_file_with_a_byte_order_mark_is_read(tmp_path: Path, program: Program) -> None:
    folder = folder_with(tmp_path)
    (folder / "partners.csv").write_bytes(b"\xef\xbb\xbf" + PARTNERS.encode("utf-8"))
    assert [p.id for p in read_folder(folder, program).partners] == ["P1", "P2"]


def test_blank_lines_are_skipped_and_cells_are_trimmed(tmp_path: Path, program: Program) -> None:
    folder = folder_with(
        tmp_path,
        partners_csv="\nid, name ,joined_on\n\nP1 , Acme ,2026-01-05\n,,\n\nP2,Beta, 2026-02-01 \n",
    )
    acme, beta = read_folder(folder, program).partners
    assert (acme.id, acme.name, beta.joined_on) == ("P1", "Acme", date(2026, 2, 1))


def test_status_and_role_are_read_whatever_their_case(tmp_path: Path, program: Program) -> None:
    folder = folder_with(
        tmp_path,
        deals_csv=(
            "id,name,amount,stage,status,created_on,closed_on,partner_id,role\n"
            "D1,One,10,Closed Won,Won,2026-07-01,2026-07-09,P1,CoSell\n"
        ),
    )
    (deal,) = read_folder(folder, program).deals
    assert deal.status == "won"
    assert deal.partners == (Involvement("P1", "cosell", None),)


# --- errors, each at file:line: column -----------------------------------------------------------


def test_missing_required_file_names_the_folder(tmp_path: Path, program: Program) -> None:
    (tmp_path / "deals.csv").write_text(DEALS, encoding="utf-8")
    assert problems_of(tmp_path, program) == [f"partners.csv: file not found in {tmp_path}"]


def test_missing_folder_is_an_input_error(tmp_path: Path, program: Program) -> None:
    missing = tmp_path / "nowhere"
    assert problems_of(missing, program) == [
        f"{missing}: not a folder (give the folder holding partners.csv and deals.csv)"
    ]


def test_missing_required_column_is_reported_on_the_header_line(tmp_path: Path, program: Program) -> None:
    folder = folder_with(
        tmp_path, deals_csv="id,name,stage,status,created_on\nD1,One,Proposal,open,2026-07-01\n"
    )
    assert problems_of(folder, program) == ["deals.csv:1: amount: required column is missing"]


def test_bad_number_is_reported_at_its_line_and_column(tmp_path: Path, program: Program) -> None:
    folder = folder_with(
        tmp_path,
        deals_csv=(
            "id,name,amount,stage,status,created_on\n"
            "D1,One,10,Proposal,open,2026-07-01\n"
            'D2,Two,"12,5x",Proposal,open,2026-07-01\n'
        ),
    )
    assert problems_of(folder, program) == ["deals.csv:3: amount: '12,5x' is not a number"]


def test_a_moment_whose_date_falls_off_the_calendar_is_not_a_date(tmp_path: Path, program: Program) -> None:
    folder = folder_with(
        tmp_path,
        deals_csv=(
            "id,name,amount,stage,status,created_on,closed_on\n"
            "D1,One,10,Proposal,open,0001-01-01T01:00:00+05:00,\n"
            "D2,Two,10,Proposal,won,2026-07-01,9999-12-31T23:00:00-05:00\n"
        ),
    )
    assert problems_of(folder, program) == [
        "deals.csv:2: created_on: '0001-01-01T01:00:00+05:00' is not a date (use YYYY-MM-DD)",
        "deals.csv:3: closed_on: '9999-12-31T23:00:00-05:00' is not a date (use YYYY-MM-DD)",
    ]


def test_a_margin_beyond_the_amount_limit_is_refused(tmp_path: Path, program: Program) -> None:
    folder = folder_with(
        tmp_path,
        deals_csv=(
            "id,name,amount,stage,status,created_on,margin_pct\n"
            "D1,One,10,Proposal,open,2026-07-01,-1e1000000\n"
            "D2,Two,10,Proposal,open,2026-07-01,-35.5\n"
        ),
    )
    assert problems_of(folder, program) == [
        "deals.csv:2: margin_pct: '-1e1000000' must be at least -1000000000000"
    ]


def test_a_number_with_more_decimal_places_than_a_record_takes_is_refused_at_its_cell(
    tmp_path: Path, program: Program
) -> None:
    from cosell.connectors.files import reader

    long_share = "0." + "3" * 100_000  # within the CSV field limit; quoted by its start and length
    ones, zeros = "10." + "0" * 100 + "1", "10." + "0" * 101  # 101 places: trailing zeros count
    folder = folder_with(
        tmp_path,
        deals_csv=(
            "id,name,amount,stage,status,created_on,margin_pct\n"
            f"D1,One,{ones},Proposal,open,2026-07-01,\n"
            f"D2,Two,{zeros},Proposal,open,2026-07-01,1E-101\n"
            "D3,Three,10,Proposal,open,2026-07-01,12.5\n"
        ),
        deal_partners_csv=f"deal_id,partner_id,role,share\nD3,P1,sourced,{long_share}\n",
        activities_csv="id,partner_id,type,occurred_on,quantity\nA1,P1,call,2026-07-03,1E-999999\n",
    )
    assert reader._read_columnar(folder, program) is None  # the columns do not prove it: the cells word it
    assert problems_of(folder, program) == [
        f"deals.csv:2: amount: {reader._quoted(ones)} has more than 100 decimal places",
        f"deals.csv:3: amount: {reader._quoted(zeros)} has more than 100 decimal places",
        "deals.csv:3: margin_pct: '1E-101' has more than 100 decimal places",
        "deal_partners.csv:2: share: '0.33333333333333333333333333333333333333'… (100,002 characters) has more "
        "than 100 decimal places",
        "activities.csv:2: quantity: '1E-999999' has more than 100 decimal places",
    ]


def test_a_number_with_as_many_decimal_places_as_a_record_takes_is_read_exactly(
    tmp_path: Path, program: Program
) -> None:
    hundred = "10." + "0" * 99 + "1"
    folder = folder_with(
        tmp_path,
        deals_csv=(
            "id,name,amount,stage,status,created_on,margin_pct\n"
            f"D1,One,{hundred},Proposal,open,2026-07-01,1.4210854715202004e-14\n"
        ),
    )
    [d1] = read_folder(folder, program).deals
    assert d1.amount == Decimal(hundred)
    assert d1.margin_pct == Decimal("1.4210854715202004e-14")  # a float written out: 30 places


def test_bad_date_is_reported_with_the_format_to_use(tmp_path: Path, program: Program) -> None:
    folder = folder_with(
        tmp_path,
        deals_csv=(
            "id,name,amount,stage,status,created_on,closed_on\n"
            "D1,One,10,Proposal,open,2026-13-01,\n"
            "D2,Two,10,Proposal,open,07/14/2026,\n"
        ),
    )
    assert problems_of(folder, program) == [
        "deals.csv:2: created_on: '2026-13-01' is not a date (use YYYY-MM-DD)",
        "deals.csv:3: created_on: '07/14/2026' is not a date (use YYYY-MM-DD)",
    ]


def test_bad_status_lists_the_allowed_values(tmp_path: Path, program: Program) -> None:
    folder = folder_with(
        tmp_path, deals_csv="id,name,amount,stage,status,created_on\nD1,One,10,Proposal,closed,2026-07-01\n"
    )
    assert problems_of(folder, program) == ["deals.csv:2: status: 'closed' must be one of open, won, lost"]


def test_bad_role_in_deal_partners_lists_the_roles(tmp_path: Path, program: Program) -> None:
    folder = folder_with(tmp_path, deal_partners_csv="deal_id,partner_id,role,share\nD1,P1,reseller,\n")
    assert problems_of(folder, program) == [
        "deal_partners.csv:2: role: 'reseller' must be one of sourced, cosell, influenced"
    ]


def test_unknown_partner_in_deal_partners_is_reported(tmp_path: Path, program: Program) -> None:
    folder = folder_with(
        tmp_path, deal_partners_csv="deal_id,partner_id,role,share\nD1,P1,cosell,\nD1,P9,cosell,\n"
    )
    assert problems_of(folder, program) == [
        "deal_partners.csv:3: partner_id: no partner 'P9' in partners.csv"
    ]


def test_unknown_partner_anywhere_is_reported_at_its_line(tmp_path: Path, program: Program) -> None:
    folder = folder_with(
        tmp_path,
        deals_csv="id,name,amount,stage,status,created_on,partner_id\nD1,One,10,Proposal,open,2026-07-01,P7\n",
        activities_csv="id,partner_id,type,occurred_on\nA1,P8,joint_call,2026-07-02\n",
        mdf_claims_csv="id,partner_id,campaign,amount,status\nM1,P9,spring,10,submitted\n",
    )
    assert problems_of(folder, program) == [
        "deals.csv:2: partner_id: no partner 'P7' in partners.csv",
        "activities.csv:2: partner_id: no partner 'P8' in partners.csv",
        "mdf_claims.csv:2: partner_id: no partner 'P9' in partners.csv",
    ]


def test_unknown_deal_is_reported_in_deal_partners_and_activities(tmp_path: Path, program: Program) -> None:
    folder = folder_with(
        tmp_path,
        deal_partners_csv="deal_id,partner_id,role\nD9,P1,cosell\n",
        activities_csv="id,partner_id,type,occurred_on,deal_id\nA1,P1,joint_call,2026-07-02,D8\n",
    )
    assert problems_of(folder, program) == [
        "deal_partners.csv:2: deal_id: no deal 'D9' in deals.csv",
        "activities.csv:2: deal_id: no deal 'D8' in deals.csv",
    ]


def test_duplicate_id_is_reported_with_its_first_line(tmp_path: Path, program: Program) -> None:
    folder = folder_with(
        tmp_path,
        partners_csv="id,name,joined_on\nP1,Acme,2026-01-05\nP2,Beta,2026-02-01\nP1,Again,2026-03-01\n",
    )
    assert problems_of(folder, program) == ["partners.csv:4: id: 'P1' appears twice (first on line 2)"]


def test_shares_over_one_are_reported_where_the_sum_passes_one(tmp_path: Path, program: Program) -> None:
    folder = folder_with(
        tmp_path,
        partners_csv=PARTNERS + "P3,Gamma,2026-02-01\nP4,Delta,2026-02-01\n",
        deals_csv="id,name,amount,stage,status,created_on,partner_id,share\nD1,One,10,Proposal,open,2026-07-01,P1,0.6\n",
        deal_partners_csv="deal_id,partner_id,role,share\nD1,P2,cosell,0.3\nD1,P3,influenced,0.2\nD1,P4,cosell,0.1\n",
    )
    assert problems_of(folder, program) == [
        "deal_partners.csv:3: share: the shares of deal 'D1' add up to 1.2, more than 1"
    ]


def test_a_share_above_one_is_a_bad_cell(tmp_path: Path, program: Program) -> None:
    folder = folder_with(tmp_path, deal_partners_csv="deal_id,partner_id,role,share\nD1,P1,cosell,1.5\n")
    assert problems_of(folder, program) == ["deal_partners.csv:2: share: '1.5' must be at most 1"]


def test_currency_missing_from_fx_is_an_input_error_on_its_cell(tmp_path: Path, program: Program) -> None:
    folder = folder_with(
        tmp_path,
        deals_csv="id,name,amount,currency,stage,status,created_on\nD1,One,10,JPY,Proposal,open,2026-07-01\n",
        mdf_claims_csv="id,partner_id,campaign,amount,status,currency\nM1,P1,spring,10,submitted,GBP\n",
    )
    assert problems_of(folder, program) == [
        "deals.csv:2: currency: no exchange rate for JPY in the program's fx table",
        "mdf_claims.csv:2: currency: no exchange rate for GBP in the program's fx table",
    ]


def test_row_with_too_many_or_too_few_cells_is_reported_at_its_line(tmp_path: Path, program: Program) -> None:
    folder = folder_with(
        tmp_path,
        deals_csv=(
            "id,name,amount,stage,status,created_on\n"
            "D1,One,12,5,Proposal,open,2026-07-01\n"
            "D2,Two,10,Proposal\n"
        ),
    )
    assert problems_of(folder, program) == [
        "deals.csv:2: the row has 7 cells but the header has 6 columns",
        "deals.csv:3: the row has 4 cells but the header has 6 columns",
    ]


def test_empty_required_cell_needs_a_value(tmp_path: Path, program: Program) -> None:
    folder = folder_with(
        tmp_path, deals_csv="id,name,amount,stage,status,created_on\nD1,One,,Proposal,open,2026-07-01\n"
    )
    assert problems_of(folder, program) == ["deals.csv:2: amount: a value is required"]


def test_out_of_range_percent_is_reported(tmp_path: Path, program: Program) -> None:
    folder = folder_with(
        tmp_path,
        deals_csv="id,name,amount,stage,status,created_on,discount_pct\nD1,One,10,Proposal,open,2026-07-01,120\n",
    )
    assert problems_of(folder, program) == ["deals.csv:2: discount_pct: '120' must be at most 100"]


def test_closed_deal_needs_its_close_date(tmp_path: Path, program: Program) -> None:
    folder = folder_with(
        tmp_path,
        deals_csv="id,name,amount,stage,status,created_on,closed_on\nD1,One,10,Closed,won,2026-07-01,\n",
    )
    assert problems_of(folder, program) == ["deals.csv:2: closed_on: a won deal needs closed_on"]


def test_role_or_share_without_a_partner_is_reported(tmp_path: Path, program: Program) -> None:
    folder = folder_with(
        tmp_path,
        deals_csv="id,name,amount,stage,status,created_on,partner_id,role,share\nD1,One,10,P,open,2026-07-01,,cosell,0.5\n",
    )
    assert problems_of(folder, program) == [
        "deals.csv:2: role: given without a partner_id",
        "deals.csv:2: share: given without a partner_id",
    ]


def test_text_that_is_not_utf8_is_reported_at_its_line(tmp_path: Path, program: Program) -> None:
    folder = folder_with(tmp_path)
    (folder / "partners.csv").write_bytes(b"id,name,joined_on\nP1,Acme,2026-01-05\nP2,M\xfcller,2026-02-01\n")
    assert problems_of(folder, program) == [
        "partners.csv:3: not UTF-8 text (byte 0xfc): save the file as UTF-8"
    ]


def test_empty_file_needs_a_header(tmp_path: Path, program: Program) -> None:
    folder = folder_with(tmp_path, deals_csv="\n\n")
    assert problems_of(folder, program) == [
        "deals.csv:1: the file is empty: it needs a header row naming its columns"
    ]


def test_line_numbers_count_blank_lines_and_multiline_cells(tmp_path: Path, program: Program) -> None:
    folder = folder_with(
        tmp_path,
        deals_csv=(
            "id,name,amount,stage,status,created_on\n"
            '\nD1,"A name\non two lines",10,Proposal,open,2026-07-01\n'
            "D2,Two,ten,Proposal,open,2026-07-01\n"
        ),
    )
    assert problems_of(folder, program) == ["deals.csv:5: amount: 'ten' is not a number"]


def test_every_problem_is_reported_in_one_error_in_file_and_line_order(
    tmp_path: Path, program: Program
) -> None:
    folder = folder_with(
        tmp_path,
        partners_csv="id,name,joined_on,status\nP1,Acme,2026-01-05,active\nP2,Beta,yesterday,gone\n",
        deals_csv=(
            "id,name,amount,currency,stage,status,created_on\n"
            "D1,One,1O0,JPY,Proposal,open,2026-07-01\n"
            "D1,Two,10,,Proposal,open,2026-07-01\n"
        ),
        deal_partners_csv="deal_id,partner_id,role,share\nD1,P3,cosell,\n",
        activities_csv="id,partner_id,type,occurred_on,deal_id,quantity\nA1,P1,joint_demo,2026-07-04,D1,-2\n",
    )
    with pytest.raises(InputError) as caught:
        read_folder(folder, program)
    assert [str(p) for p in caught.value.problems] == [
        "partners.csv:3: joined_on: 'yesterday' is not a date (use YYYY-MM-DD)",
        "partners.csv:3: status: 'gone' must be one of active, exiting, exited",
        "deals.csv:2: amount: '1O0' is not a number",
        "deals.csv:2: currency: no exchange rate for JPY in the program's fx table",
        "deals.csv:3: id: 'D1' appears twice (first on line 2)",
        "deal_partners.csv:2: partner_id: no partner 'P3' in partners.csv",
        "activities.csv:2: quantity: '-2' must be at least 0",
    ]
    assert caught.value.exit_code == 2
    assert caught.value.problems[0].where == "partners.csv:3"
    assert str(caught.value).startswith("7 input errors:\npartners.csv:3: joined_on:")


def test_column_named_twice_is_reported_on_the_header(tmp_path: Path, program: Program) -> None:
    folder = folder_with(tmp_path, partners_csv="id,name,joined_on,name\nP1,Acme,2026-01-05,Again\n")
    assert problems_of(folder, program) == ["partners.csv:1: name: the column appears twice"]


def test_exiting_partner_and_approved_claim_need_their_dates(tmp_path: Path, program: Program) -> None:
    folder = folder_with(
        tmp_path,
        partners_csv="id,name,joined_on,status,exit_on\nP1,Acme,2026-01-05,exiting,\nP2,Beta,2026-02-01,exited,2026-08-01\n",
        mdf_claims_csv="id,partner_id,campaign,amount,status,approved_on\nM1,P1,spring,10,paid,\n",
    )
    assert problems_of(folder, program) == [
        "partners.csv:2: exit_on: an exiting partner needs exit_on",
        "mdf_claims.csv:2: approved_on: a paid claim needs approved_on",
    ]


# --- merges.csv -----------------------------------------------------------------------------------


def test_merges_csv_lists_the_partners_and_deals_merged_into_others(tmp_path: Path, program: Program) -> None:
    merges = "kind,former_id,id\npartner,P0,P1\ndeal, D0 ,D1\nPartner,P9,P0\n"  # P9 into P0, later into P1
    records = read_folder(folder_with(tmp_path, merges_csv=merges), program)
    assert [(m.kind, m.former_id, m.id) for m in records.merges] == [
        ("partner", "P0", "P1"),
        ("deal", "D0", "D1"),
        ("partner", "P9", "P0"),
    ]
    (tmp_path / "merges.csv").unlink()
    assert read_folder(tmp_path, program).merges == ()


def test_a_bad_merges_csv_row_is_reported_at_its_line_and_column(tmp_path: Path, program: Program) -> None:
    merges = (
        "kind,former_id,id\n"
        "account,X,P1\n"
        "partner,P2,P1\n"
        "deal,D0,\n"
        "deal,D7,D7010\n"  # a typo: the deal would be new, and paid again
        "partner,P5,P5\n"
        "partner,P6,P1\n"
        "partner,P6,P2\n"
        "deal,DA,DB\n"
        "deal,DB,DA\n"
    )
    assert problems_of(folder_with(tmp_path, merges_csv=merges), program) == [
        "merges.csv:2: kind: 'account' must be one of partner, deal",
        "merges.csv:3: former_id: 'P2' is still in partners.csv: a merged partner's rows go under the id it "
        "was merged into",
        "merges.csv:4: id: a value is required",
        "merges.csv:5: id: no deal 'D7010' in deals.csv",
        "merges.csv:6: id: the partner 'P5' is merged into itself",
        "merges.csv:8: id: 'P6' is merged into 'P1' on line 7 already",
        "merges.csv:9: id: the merges go round in a circle: DA → DB → DA",
        "merges.csv:10: id: the merges go round in a circle: DB → DA → DB",
    ]
