"""Against the CRM sandbox with the real client: a rerun of an open period, with the program corrected,
starts each partner from the tier its account showed before cosell's first run, not from the tier that
run wrote to the account (``Cosell_Tier__c``), and writes the corrected tier back (CSV:
test_cli_crm_tier_written_back.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cosell.contrib.sandbox import Sandbox
from sandboxes import cosell_in as cosell
from sandboxes import module_sandbox, run_json, salesforce_org_values
from sandboxes import salesforce_env as env_of

pytestmark = pytest.mark.sandbox

ROOT = Path(__file__).resolve().parents[2]

sandbox, sb = module_sandbox(seed=1, partners=10, deals=60)


def tiers(report: dict[str, Any]) -> dict[str, tuple[str, str | None, str]]:
    return {row["id"]: (row["tier"], row["previous_tier"], row["earnings"]) for row in report["partners"]}


def test_salesforce_a_rerun_with_the_program_corrected_gives_what_a_first_run_gives(
    sb: Sandbox, tmp_path: Path
) -> None:
    text = (ROOT / "contrib" / "demo" / "program.yaml").read_text(encoding="utf-8")
    typo = text.replace("min_score: 40", "min_score: 30")  # Silver at 30 by mistake
    assert typo != text
    (tmp_path / "program.yaml").write_text(text, encoding="utf-8")
    (tmp_path / "typo.yaml").write_text(typo, encoding="utf-8")
    env = env_of(sb, tmp_path)
    assert cosell(env, "setup", "salesforce").exit_code == 0
    program = {**env, "PROGRAM": str(tmp_path / "program.yaml")}
    # what a first run of the corrected program gives: computed, nothing stored or written
    first = tiers(
        run_json({**program, "COSELL_LEDGER": f"sqlite:///{tmp_path}/first.db"}, "salesforce", "--dry-run")
    )

    mistaken = tiers(run_json({**env, "PROGRAM": str(tmp_path / "typo.yaml")}, "salesforce"))
    promoted = sorted(pid for pid, (tier, _, _) in mistaken.items() if tier != first[pid][0])
    assert promoted  # the typo made some partner Silver, and the run wrote Silver to its account
    assert {pid: salesforce_org_values(sb)[pid][0] for pid in promoted} == dict.fromkeys(promoted, "Silver")

    corrected = tiers(run_json(program, "salesforce"))

    assert corrected == first  # no "Silver (eligible Registered, grace)": paid at the tier first earned
    org = salesforce_org_values(sb)
    assert {pid: org[pid][0] for pid in promoted} == {pid: first[pid][0] for pid in promoted}
