"""A managed field must be one cosell creates and alone writes: never a standard field or default
property, never one a connector setting reads, never two roles on one field. validate, setup and run
refuse such settings with exit 2 at the offending line, before any CRM is contacted."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from cosell.connectors.hubspot.mapping import HubSpotSettings
from cosell.connectors.salesforce.mapping import SalesforceSettings
from invoke import cosell

ROOT = Path(__file__).resolve().parents[2]

# (connector, the plugins entry, the line of the offending key within it, what the error says)
CASES = [
    ("salesforce", "  salesforce:\n    fields:\n      incentive: Amount\n", 3, "standard field"),
    ("salesforce", "  salesforce:\n    fields: {tier: Name}\n", 2, "standard field"),
    ("salesforce", "  salesforce:\n    fields:\n      tier: Partner_Type__c\n", 3, "cosell reads it"),
    ("salesforce", "  salesforce:\n    margin_field: Cosell_Incentive__c\n", 2, "cosell reads it"),
    ("salesforce", "  salesforce:\n    fields:\n      score: Cosell_Tier__c\n", 3, "both cosell's tier"),
    ("salesforce", "  salesforce:\n    activity_type_field: Cosell_Score__c\n", 2, "cosell reads it"),
    ("hubspot", "  hubspot:\n    incentive_property: amount\n", 2, "HubSpot default property"),
    ("hubspot", "  hubspot:\n    tier_property: name\n", 2, "HubSpot default property"),
    ("hubspot", "  hubspot:\n    score_property: hs_lead_status\n", 2, "HubSpot default property"),
    ("hubspot", "  hubspot:\n    tier_property: partner_status\n", 2, "cosell reads it"),
    ("hubspot", "  hubspot:\n    mdf_approved_property: cosell_incentive\n", 2, "cosell reads it"),
    ("hubspot", "  hubspot:\n    incentive_note_property: cosell_incentive\n", 2, "both cosell's incentive"),
]


@pytest.mark.parametrize(("connector", "entry", "offset", "why"), CASES)
def test_validate_setup_and_run_refuse_a_managed_field_cosell_does_not_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, connector: str, entry: str, offset: int, why: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COSELL_LEDGER", f"sqlite:///{tmp_path}/ledger.db")
    program = (ROOT / "examples" / "program.yaml").read_text()
    plugins_line = len(program.splitlines()) + 1
    (tmp_path / "program.yaml").write_text(program + "plugins:\n" + entry)
    where = f"program.yaml:{plugins_line + offset}"
    for args in (
        ("validate", "program.yaml"),
        ("setup", connector, "--program", "program.yaml"),
        ("run", "--program", "program.yaml", "--connector", connector),
    ):
        result = cosell(*args)
        assert result.exit_code == 2, (args, result.output)
        assert where in result.output and why in result.output, (args, result.output)
    assert not (tmp_path / "ledger.db").exists()  # refused before anything was read or written


def test_the_default_managed_fields_are_accepted() -> None:
    SalesforceSettings()
    HubSpotSettings()
    SalesforceSettings.model_validate({"fields": {"incentive": "Partner_Incentive__c"}})
    HubSpotSettings.model_validate({"incentive_property": "partner_incentive"})


def test_names_compare_without_case_as_the_crms_do() -> None:
    with pytest.raises(ValidationError, match="both cosell's tier"):
        SalesforceSettings.model_validate({"fields": {"score": "COSELL_TIER__C"}})
    with pytest.raises(ValidationError, match="HubSpot default property"):
        HubSpotSettings.model_validate({"incentive_property": "Amount"})
