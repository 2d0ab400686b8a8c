"""SOQL is built from checked names, escaped text and validated ids: no value can change the query."""

from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from cosell.connectors.salesforce.mapping import SalesforceSettings, flatten
from cosell.connectors.salesforce.reader import streams
from cosell.connectors.salesforce.soql import (
    SoqlError,
    checked_filter,
    datetime_literal,
    id_list,
    name,
    quote,
    record_id,
    select,
)


def test_quote_escapes_single_quotes_backslashes_and_control_characters():
    assert quote("O'Brien") == r"'O\'Brien'"
    assert quote("a\\b") == r"'a\\b'"
    assert quote("x' OR Name != '") == r"'x\' OR Name != \''"
    assert quote('line\nbreak\t"q"') == r"'line\nbreak\t\"q\"'"


def test_a_backslash_before_a_quote_cannot_close_the_literal():
    # \' would become \\' (an escaped backslash, then a closing quote) without escaping the backslash first
    assert quote("\\' OR Id != null --") == r"'\\\' OR Id != null --'"


@pytest.mark.parametrize("good", ["001000000000001", "0018d000000fxSsAAI"])
def test_record_ids_of_15_or_18_characters_are_quoted(good):
    assert record_id(good) == f"'{good}'"


@pytest.mark.parametrize(
    "bad", ["", "001", "0018d000000fxSsAA", "001' OR Id != '", "0018d000000fxSs%AI", None]
)
def test_anything_else_is_refused_as_an_id(bad):
    with pytest.raises(SoqlError):
        record_id(bad)


def test_id_lists_check_every_id():
    assert id_list(["001000000000001", "001000000000002"]) == "('001000000000001', '001000000000002')"
    with pytest.raises(SoqlError):
        id_list(["001000000000001", "x') OR (Id != '"])
    with pytest.raises(SoqlError):
        id_list([])


@pytest.mark.parametrize(
    "bad", ["Name, (SELECT Id FROM Contacts)", "Id FROM User --", "Na me", "1Name", "", "a..b"]
)
def test_field_names_must_be_names(bad):
    with pytest.raises(SoqlError):
        name(bad)


def test_datetime_literals_are_utc_and_need_a_zone():
    moment = datetime(2026, 1, 5, 9, 3, tzinfo=timezone(timedelta(hours=-5)))
    assert datetime_literal(moment) == "2026-01-05T14:03:00Z"
    with pytest.raises(SoqlError):
        datetime_literal(datetime(2026, 1, 5))


def test_select_parenthesises_each_condition_and_drops_duplicate_fields():
    text = select(
        ["Id", "Name", "id", "Campaign.Name"], "Opportunity", ["IsPartner = true OR X = 1", "A = 1"]
    )
    assert (
        text
        == "SELECT Id, Name, Campaign.Name FROM Opportunity WHERE (IsPartner = true OR X = 1) AND (A = 1)"
    )


@pytest.mark.parametrize(
    "bad",
    [
        "IsPartner = true) OR (Id != null",
        "Name = 'x",
        "IsPartner = true LIMIT 1",
        "Id IN (SELECT Id FROM User)",
        ";",
    ],
)
def test_admin_filters_must_be_one_balanced_condition(bad):
    with pytest.raises(SoqlError):
        checked_filter(bad)


def test_admin_filters_may_hold_quoted_keywords_and_parentheses():
    ok = "(Type = 'Partner (LIMIT) \\' ORDER') AND IsPartner = true"
    assert checked_filter(ok) == ok


def test_settings_refuse_field_names_that_are_not_names():
    with pytest.raises(ValidationError, match="discount_field"):
        SalesforceSettings(discount_field="Discount__c FROM User")
    with pytest.raises(ValidationError, match="partner_filter"):
        SalesforceSettings(partner_filter="IsPartner = true LIMIT 5")
    with pytest.raises(ValidationError):
        SalesforceSettings(unknown_key=1)  # type: ignore[call-arg]


def test_default_streams_read_the_standard_org_fields_and_the_managed_ones():
    s = streams(SalesforceSettings())
    deal = s["Opportunity"].soql(["SystemModstamp >= 2026-01-01T00:00:00Z"], deleted=True)
    assert deal.startswith("SELECT Id, SystemModstamp, IsDeleted, Name, Amount, StageName, IsWon, IsClosed")
    assert "Campaign.Name" in deal and "PartnerAccountId" in deal and "Cosell_Incentive_Note__c" in deal
    assert s["Account"].filter == "IsPartner = true"
    assert s["PartnerFundClaim"].columns["campaign"] == "Request.Campaign.Name"
    assert set(s) == {"Account", "Opportunity", "OpportunityPartner", "Task", "Event", "PartnerFundClaim"}


def test_a_stream_cursor_belongs_to_its_fields_and_filter():
    before = streams(SalesforceSettings())["Account"].cursor_key
    after = streams(SalesforceSettings(partner_filter="Type = 'Partner'"))["Account"].cursor_key
    assert before != after and before.startswith("Account#")


def test_flatten_reads_nested_relationship_objects_and_bulk_columns():
    row = {"Campaign": {"attributes": {}, "Name": "Q3 Launch"}, "Request": None}
    assert flatten(row, "Campaign.Name") == "Q3 Launch"
    assert flatten(row, "Request.Campaign.Name") is None
    assert flatten({"Campaign.Name": "Bulk"}, "Campaign.Name") == "Bulk"


def test_an_incremental_read_also_asks_for_records_whose_related_record_changed() -> None:
    from datetime import UTC, datetime

    from cosell.connectors.salesforce.reader import Stream, StreamReader
    from cosell.errors import ConfigError

    class Source:
        def __init__(self) -> None:
            self.asked: list[str] = []
            self.began: datetime | None = None

        def rows(self, text: str, sobject: str, *, include_deleted: bool = False):  # type: ignore[no-untyped-def]
            self.asked.append(text)
            if "What.SystemModstamp" in text:  # a polymorphic relationship: Salesforce refuses the filter
                raise ConfigError("query Task: Salesforce answered 400: INVALID_FIELD")
            if "Campaign.SystemModstamp" in text:
                return iter([{"Id": "006B", "Campaign": {"Name": "Renamed"}}])
            return iter([{"Id": "006A", "SystemModstamp": "2027-01-01T00:00:00.000+0000", "Campaign": None}])

    source = Source()
    stream = Stream("Opportunity", {"campaign": "Campaign.Name", "about": "What.Name"})
    since = datetime(2027, 1, 1, tzinfo=UTC)
    rows = [row for page in StreamReader(source, stream).pages(since) for row in page]  # type: ignore[arg-type]
    assert [(r.id, r.payload and r.payload["campaign"], r.stamp) for r in rows] == [
        ("006A", None, datetime(2027, 1, 1, tzinfo=UTC)),
        ("006B", "Renamed", None),  # its own stamp is older: it moves no cursor
    ]
    assert stream.parents == ("Campaign", "What")
    assert any("WHERE (Campaign.SystemModstamp >= 2027-01-01T00:00:00Z)" in text for text in source.asked)
    # a full read needs none of them
    source.asked.clear()
    list(StreamReader(source, stream).pages(None))  # type: ignore[arg-type]
    assert len(source.asked) == 1
