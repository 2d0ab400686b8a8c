"""docs/rules.md states the order the csv and json statements list a partner's lines in; they follow it."""

import json
import re
from decimal import Decimal
from pathlib import Path

from cosell import hookimpl
from cosell.results import LineKind, PayoutLine
from cosell.testing import deal, mdf_claim, partner, program

RULES = Path(__file__).resolve().parents[2] / "docs" / "rules.md"
KINDS = {
    "signing bonus": "signing_bonus",
    "baseline": "baseline",
    "commission": "commission",
    "accelerator": "accelerator",
    "milestones": "milestone",
    "clawbacks": "clawback",
    "approved adjustments": "adjustment",
    "plugin kinds": "loyalty",
    "cap": "cap",
    "budget": "budget",
    "MDF": "mdf",
}


class Loyalty:
    @hookimpl
    def cosell_line_kinds(self):
        return [LineKind("loyalty", "Loyalty")]

    @hookimpl
    def cosell_payout_lines(self, partner):
        return [PayoutLine(partner.id, "loyalty", Decimal("10.00"), "loyalty: 10.00")]


def documented_order() -> list[str]:
    text = " ".join(RULES.read_text(encoding="utf-8").split())
    sentence = re.search(
        r"statements list a partner's lines in the order the run computed them: (.*?)\. ", text
    )
    return [KINDS[name.strip()] for name in sentence.group(1).split(",")]


def test_the_csv_and_json_statements_list_lines_in_the_order_docs_rules_states(run_program):
    loaded = program(
        tiers=[
            {
                "name": "Registered",
                "min_score": 0,
                "commission_rate": "0.10",
                "quota": 1000,
                "mdf_budget": 5000,
            }
        ],
        payouts={
            "signing_bonus": 1000,
            "baseline_per_qualified_opportunity": 100,
            "accelerators": [{"attainment": "1.0", "multiplier": "1.5"}],
            "milestones": [{"name": "first_win", "kind": "first_win", "amount": 500}],
        },
        caps={"per_partner": 1500, "program_budget": 1000},
        mdf={"release_on_approval": "0.5", "release_pipeline_multiple": 3},
    )
    result = run_program(
        loaded,
        [partner("P1", joined_on="2026-07-02")],
        [deal("D1", "10000", partners=["P1"], won_on="2026-08-01", stage="Closed Won")],
        mdf_claims=[mdf_claim("M1", "P1", "spring", "1000", approved_on="2026-07-10")],
        plugins=[Loyalty()],
    )
    kinds = [row.split(",")[2] for row in result.statement_csv.splitlines()[1:]]
    assert len(set(kinds)) == 9, kinds  # every kind but clawback and adjustment
    order = documented_order()
    assert kinds == sorted(kinds, key=order.index)
    [listed] = json.loads(result.statement_json)["partners"]
    assert [line["kind"] for line in listed["lines"]] == kinds
