"""A generated three-quarter pilot: a base program, a variant with a richer Silver rate and a larger
per-partner cap, a share cohort, and CSV input in which the variant either truly lifts the sourced
pipeline of its partners (``lift=True``: their deals are larger and more numerous) or changes nothing.

Every number comes from ``random.Random(seed)``: the same arguments make the same files.
"""

from __future__ import annotations

import csv
import random
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from cosell.pilots import TEST, share_point

QUARTERS = ("2026-Q1", "2026-Q2", "2026-Q3")
_STARTS = (date(2026, 1, 1), date(2026, 4, 1), date(2026, 7, 1))
SHARE, SEED = Decimal("0.5"), 7

BASE = """\
program: Pilot Base
period: 2026-Q1
currency: USD
qualified_stages: [Qualification, Proposal]
scoring:
  metrics:
    sourced_pipeline: {{weight: 1, target: 200000}}
    win_rate: {{weight: 1, target: "0.5"}}
tiers:
  - {{name: Registered, min_score: 0, commission_rate: "0.04"}}
  - {{name: Silver, min_score: 40, commission_rate: "{silver}"}}
  - {{name: Gold, min_score: 80, commission_rate: "0.10"}}
payouts:
  baseline_per_qualified_opportunity: 50
caps: {{per_partner: {cap}}}
"""

PILOT = """\
pilot:
  name: richer-silver
  variant: variant.yaml
  cohort: {share: "0.5", seed: 7}
"""


def programs(folder: Path, *, pilot: bool = True) -> Path:
    """``program.yaml`` (with the pilot section unless ``pilot`` is False) and ``variant.yaml``;
    returns the program's path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "variant.yaml").write_text(BASE.format(silver="0.09", cap=40000), encoding="utf-8")
    base = BASE.format(silver="0.06", cap=25000)
    (folder / "program.yaml").write_text(base + (PILOT if pilot else ""), encoding="utf-8")
    return folder / "program.yaml"


def in_test_arm(partner_id: str) -> bool:
    return share_point(SEED, partner_id) < SHARE


def records(folder: Path, *, lift: bool, partners: int = 60, seed: int = 1) -> Path:
    """The input folder: ``partners`` partners with a region, and for each quarter a few deals each
    partner sourced (some won, some lost, some still open in a qualified stage). With ``lift``, the
    test arm's partners source 60 % larger deals and one more deal a quarter."""
    rng = random.Random(seed)
    data = folder / "data"
    data.mkdir(parents=True, exist_ok=True)
    partner_rows = []
    deal_rows = []
    for n in range(1, partners + 1):
        pid = f"P{n:03d}"
        partner_rows.append([pid, f"Partner {n}", "2025-06-01", "active", "", "", rng.choice(["EMEA", "NA"])])
        lifted = lift and in_test_arm(pid)
        for q, start in enumerate(_STARTS):
            for d in range(rng.randint(2, 4) + (1 if lifted else 0)):
                amount = rng.randint(20, 80) * 1000 * (Decimal("1.6") if lifted else 1)
                created = start + timedelta(days=rng.randint(0, 40))
                fate = rng.random()
                status, stage, closed = "open", "Proposal", ""
                if fate < 0.45:
                    status, stage = "won", "Closed Won"
                    closed = (created + timedelta(days=rng.randint(10, 45))).isoformat()
                elif fate < 0.7:
                    status, stage = "lost", "Closed Lost"
                    closed = (created + timedelta(days=rng.randint(10, 45))).isoformat()
                margin = rng.randint(30, 50)
                deal_rows.append(
                    [
                        f"D{n:03d}{q}{d}",
                        f"Deal {n}-{q}-{d}",
                        amount,
                        "USD",
                        stage,
                        status,
                        created.isoformat(),
                        closed,
                        "5",
                        margin,
                        "",
                        "",
                        pid,
                        "sourced",
                        "",
                    ]
                )
    _write(
        data / "partners.csv",
        ["id", "name", "joined_on", "status", "exit_on", "crm_tier", "region"],
        partner_rows,
    )
    _write(
        data / "deals.csv",
        [
            "id",
            "name",
            "amount",
            "currency",
            "stage",
            "status",
            "created_on",
            "closed_on",
            "discount_pct",
            "margin_pct",
            "campaign",
            "refunded_on",
            "partner_id",
            "role",
            "share",
        ],
        deal_rows,
    )
    return data


def _write(path: Path, header: list[str], rows: list[list[object]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


def pilot(folder: Path, *, lift: bool, partners: int = 60, seed: int = 1) -> tuple[Path, Path]:
    """The programs and the input of a generated pilot: (program file, input folder)."""
    return programs(folder), records(folder, lift=lift, partners=partners, seed=seed)


__all__ = ["QUARTERS", "TEST", "in_test_arm", "pilot", "programs", "records"]


if __name__ == "__main__":  # python tests/pilot_data.py FOLDER [--no-lift]: a pilot to try the commands on
    import sys

    where = Path(sys.argv[1])
    program, data = pilot(where, lift="--no-lift" not in sys.argv[2:])
    print(f"wrote {program}, {program.parent / 'variant.yaml'} and {data}/")
