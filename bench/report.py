"""Report benchmark: `cosell report` on a ledger of 20,000 partners and 8 periods, in each format.

    python bench/report.py                                  # 20,000 partners, 8 quarters
    python bench/report.py --partners 2000 --periods 4      # quicker
    python bench/report.py --ledger postgresql+psycopg://127.0.0.1/test

Computing 8 quarters of 20,000 partners from CSV takes minutes, and the report reads only what runs
stored, so the ledger is built by storing each period's results directly through ``Ledger.record_run``
(the call a run makes to store): per partner a standing, three to five payout lines (kinds as the
built-in rules declare them, MDF included) and the facts a run records for the report (won revenue and
margin, pipeline, deals won and lost, days to win, guardrail actions, MDF per campaign), with random
but plausible values. The per-partner statement records are left out: the report never reads them.
Building is outside the timing. Each format is then timed as a user runs it: a fresh `cosell report`
process, start-up and imports included. The CPU time is printed too: on a shared
machine the wall time includes waiting for a core. The last line reads `report: html N.N s, json N.N s,
csv N.N s` (wall).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from cosell.ledger import Ledger
from cosell.periods import Period
from cosell.pluginmanager import Plugins
from cosell.report import CampaignFunds, ReportFacts
from cosell.report.facts import EXITED, FIELDS, REPORT_KEY, totals_doc
from cosell.results import PartnerStanding, PayoutLine, Score, TierDecision
from cosell.statements.facts import RunRecord, encode_run

TIERS = ("Registered", "Silver", "Gold")
CAMPAIGNS = ("EMEA Cloud Push", "NA Data Summit", "APAC Partner Week")


def _cents(rng: random.Random, low: int, high: int) -> Decimal:
    return Decimal(rng.randint(low * 100, high * 100)) / 100


def _period(key: str, partners: int, rng: random.Random, kinds: Any) -> tuple[list, list, str]:
    standings, lines, docs = [], [], {}
    for i in range(partners):
        pid = f"P{i:06d}"
        rank = rng.choices((0, 1, 2), (6, 3, 1))[0]
        eligible = max(0, rank - (1 if rng.random() < 0.05 else 0))
        score = Decimal(rng.randint(0, 10000)) / 100
        decision = TierDecision(TIERS[eligible], TIERS[rank], TIERS[rank], 0, "bench")
        standings.append(PartnerStanding(pid, {}, Score(score), decision, f"Partner {i}"))
        won = rng.randint(0, 4)
        revenue = sum((_cents(rng, 5000, 200000) for _ in range(won)), Decimal(0))
        for d in range(won):
            lines.append(
                PayoutLine(pid, "commission", _cents(rng, 100, 20000), f"deal {pid}-{d} won", f"{pid}-{d}")
            )
        if rng.random() < 0.2:
            lines.append(
                PayoutLine(pid, "baseline", Decimal(rng.randint(1, 9) * 100), "qualified opportunities")
            )
        campaigns = []
        if rng.random() < 0.1:
            funded = Decimal(rng.randint(1000, 10000))
            lines.append(PayoutLine(pid, "mdf", funded / 2, "MDF paid on approval", uncapped=True))
            campaigns.append([rng.choice(CAMPAIGNS), str(funded), str(funded / 2), str(funded / 2),
                              str(_cents(rng, 0, 60000))])  # fmt: skip
        guarded = []
        if won and rng.random() < 0.05:
            guarded.append([f"{pid}-0", "A deal", "10000", str(rng.randint(26, 50)), "40", "withheld"])
        docs[pid] = {
            "status": "active",
            "exit_on": None,
            "previous": TIERS[rank],
            "exception": None,
            "projected": str(_cents(rng, 0, 5000)),
            "next": None
            if rank == 2
            else {"tier": TIERS[rank + 1], "min_score": str((rank + 1) * 35), "requires": []},
            "won_revenue": str(revenue),
            "won_margin": str(revenue * Decimal("0.35")),
            "margin_known_revenue": str(revenue),
            "sourced_pipeline": str(_cents(rng, 0, 500000)),
            "won_deals": won,
            "lost_deals": rng.randint(0, 3),
            "days_to_win": [rng.randint(10, 180) for _ in range(won)],
            "attainment": None,
            "guarded": guarded,
            "campaigns": campaigns,
        }
    every = [
        ReportFacts(
            won_revenue=Decimal(d["won_revenue"]), won_margin=Decimal(d["won_margin"]),
            margin_known_revenue=Decimal(d["margin_known_revenue"]), sourced_pipeline=Decimal(d["sourced_pipeline"]),
            won_deals=d["won_deals"], lost_deals=d["lost_deals"], days_to_win=tuple(d["days_to_win"]),
            campaigns=tuple(CampaignFunds(c[0], *(Decimal(v) for v in c[1:])) for c in d["campaigns"]),
        )
        for d in docs.values()
    ]  # fmt: skip
    totals = {**totals_doc(every), EXITED: {}}  # every bench partner is active
    record = RunRecord("Bench Program", "USD", Decimal(50000), Decimal(40000000), tuple(kinds.values()))
    doc = json.loads(encode_run(record))
    doc[REPORT_KEY] = {
        "version": 1,
        "tiers": [
            {"name": t, "min_score": str(i * 35), "quota": "0", "mdf_budget": "0", "benefits": []}
            for i, t in enumerate(TIERS)
        ],
        "totals": totals,
        "partners": json.dumps(
            {"id": list(docs), **{name: [doc[name] for doc in docs.values()] for name in FIELDS}}
        ),
    }
    return standings, lines, json.dumps(doc, sort_keys=True, separators=(",", ":"))


def build(url: str, partners: int, periods: int, seed: int) -> str:
    rng = random.Random(seed)
    kinds = {name: kind for name, (_, kind) in Plugins(entry_points=False).line_kinds().items()}
    keys = [Period.parse("2025-Q1").key]
    while len(keys) < periods:
        keys.append(Period.parse(keys[-1]).next().key)
    with Ledger.connect(url) as ledger:
        for key in keys:
            standings, lines, text = _period(key, partners, rng, kinds)
            ledger.record_run(
                period=Period.parse(key), program="Bench Program", connector="bench", target="bench",
                lines=lines, standings=standings, projections=(), writes=(), statement=(text, {}),
            )  # fmt: skip
            ledger.close_period(Period.parse(key))
    return keys[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partners", type=int, default=20_000)
    parser.add_argument("--periods", type=int, default=8)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--ledger", help="a ledger URL (default: a SQLite file in a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.ledger or f"sqlite:///{folder}/bench.db"
        started = time.perf_counter()
        last = build(url, args.partners, args.periods, args.seed)
        print(
            f"ledger: {args.partners:,} partners × {args.periods} periods built in {time.perf_counter() - started:.1f} s"
        )
        cosell = Path(sys.executable).with_name("cosell")
        timings = {}
        for form in ("html", "json", "csv"):
            out = Path(folder) / f"report.{form}"
            started = time.perf_counter()
            cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
            subprocess.run(
                [str(cosell), "report", "--period", last, "--periods", str(args.periods - 1), "--ledger", url,
                 "--format", form, "-o", str(out)],
                check=True, env={**os.environ, "COSELL_LOAD_PLUGINS": ""}, capture_output=True,
            )  # fmt: skip
            timings[form] = time.perf_counter() - started
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            used = after.ru_utime - cpu.ru_utime + after.ru_stime - cpu.ru_stime
            print(
                f"  cosell report --format {form}: {timings[form]:.2f} s wall, {used:.2f} s CPU, "
                f"{out.stat().st_size / 1e6:.1f} MB"
            )
        print("report: " + ", ".join(f"{form} {seconds:.1f} s" for form, seconds in timings.items()))


if __name__ == "__main__":
    main()
