"""docs/hubspot.md and the settings ``plugins.hubspot`` accepts agree: a name the page gives as a setting is
one the connector takes, and a size the connector does not let users set is not written as a setting."""

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from cosell.connectors.hubspot.mapping import HubSpotSettings
from cosell.connectors.hubspot.writer import HubSpotConnector

PAGE = Path(__file__).resolve().parents[2] / "docs" / "hubspot.md"


def _settings_named(text: str) -> set[str]:
    """The names in the first cell of the settings table, and every ``*_size`` the page names."""
    table = {
        name
        for line in text.splitlines()
        if line.startswith("| `")
        for name in re.findall(r"`([a-z_]+)`", line.split("|")[1])
    }
    return table | set(re.findall(r"`([a-z_]+_size)`", text))


def test_every_setting_the_hubspot_page_names_is_one_the_connector_accepts():
    named = _settings_named(PAGE.read_text(encoding="utf-8"))
    assert "association_batch_size" in named  # the table is read
    assert sorted(named - set(HubSpotSettings.model_fields)) == []


def test_the_write_back_batch_is_hubspots_fixed_size_and_no_setting():
    with pytest.raises(ValidationError, match="write_batch_size"):
        HubSpotSettings.model_validate({"write_batch_size": 50})
    text = PAGE.read_text(encoding="utf-8")
    write_back = text.split("## Write-back", 1)[1].split("\n## ", 1)[0]
    assert f"batch updates of {HubSpotConnector.write_batch_size}" in " ".join(write_back.split())
