"""Benchmark of the Salesforce connector against the sandbox: API calls for the read and the write-back
(against the minimum: ⌈changed/200⌉ writes, 0 on an unchanged rerun) and wall time.

    python bench/salesforce.py                 # 10,000 and 100,000 deals
    python bench/salesforce.py --deals 10000
    python bench/salesforce.py --rate-limits real   # the sandbox holds Salesforce's daily API count

Salesforce's limit is a daily count (``Sforce-Limit-Info: api-usage=N/M``; 15,000 in the sandbox), not a
rate: it implies no least wall time, so each run prints the share of the day's allowance it used.

The sandbox runs in its own process (``python -m cosell.contrib.sandbox``), so timings are cosell's
plus the sandbox's answers over loopback TLS.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests
from typer.testing import CliRunner

from cosell.cli import app

ROOT = Path(__file__).resolve().parents[1]
PROGRAM = ROOT / "examples" / "program.yaml"
WRITE = "PATCH /services/data/vXX.X/composite/sobjects"
INGEST = "/services/data/vXX.X/jobs/ingest"
NEW_JOB = "POST /services/data/vXX.X/jobs/ingest"
QUERY_JOB = "POST /services/data/vXX.X/jobs/query"
API_DAILY = 15_000
"""The sandbox's daily API allowance (``Sforce-Limit-Info``)."""


def _is_write(key: str) -> bool:
    return key == WRITE or INGEST in key


def _stats(info: dict[str, Any]) -> dict[str, Any]:
    answer = requests.get(info["base_url"] + "/_sandbox/stats", verify=info["ca_bundle"], timeout=60)
    return dict(answer.json())


def _calls(stats: dict[str, Any]) -> tuple[int, int, int, int]:
    """Read calls, write calls (collections and every Bulk ingest call), Bulk ingest jobs, Bulk query jobs."""
    requests_by_path: dict[str, int] = stats["requests"]
    writes = sum(n for key, n in requests_by_path.items() if _is_write(key))
    reads = sum(n for key, n in requests_by_path.items() if not _is_write(key) and "tooling" not in key)
    return reads, writes, requests_by_path.get(NEW_JOB, 0), requests_by_path.get(QUERY_JOB, 0)


def _written(stats: dict[str, Any]) -> int:
    return int(stats["records_written"].get("Opportunity", 0)) + int(
        stats["records_written"].get("Account", 0)
    )


def bench(deals: int, *, bulk: bool = True, rate_limits: str = "none") -> list[str]:
    partners = max(50, deals // 200)
    sandbox = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cosell.contrib.sandbox",
            "--seed",
            "1",
            "--partners",
            str(partners),
            "--deals",
            str(deals),
            "--rate-limits",
            rate_limits,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert sandbox.stdout is not None
        info = json.loads(sandbox.stdout.readline())
        with tempfile.TemporaryDirectory() as folder:
            env = {
                "SF_INSTANCE_URL": info["salesforce_instance_url"],
                "SF_ACCESS_TOKEN": info["token"],
                "SF_CA_BUNDLE": info["ca_bundle"],
                "COSELL_LEDGER": f"sqlite:///{folder}/ledger.db",
                "COSELL_LOG": os.path.join(folder, "cosell.log"),
                "COSELL_LOAD_PLUGINS": "",
            }
            program = PROGRAM
            if not bulk:  # the collections and REST paths only, for comparison
                program = Path(folder) / "program.yaml"
                program.write_text(
                    PROGRAM.read_text()
                    + "plugins:\n  salesforce:\n    bulk_write_threshold: null\n    bulk_query_threshold: null\n"
                )
            runner = CliRunner()
            setup = runner.invoke(app, ["setup", "salesforce"], env=env)
            assert setup.exit_code == 0, setup.output
            lines = [f"{deals:,} deals, {partners} partners" + ("" if bulk else " (Bulk off)")]
            before = _stats(info)
            for label in ("first run", "unchanged rerun"):
                started = time.perf_counter()
                result = runner.invoke(
                    app, ["run", "--program", str(program), "--connector", "salesforce", "--json"], env=env
                )
                wall = time.perf_counter() - started
                assert result.exit_code == 0, result.output[-2000:]
                after = _stats(info)
                r0, w0, j0, q0 = _calls(before)
                r1, w1, j1, q1 = _calls(after)
                changed = _written(after) - _written(before)
                minimum = math.ceil(changed / 200)
                lines.append(
                    f"  {label:16s} read calls {r1 - r0:5d} ({q1 - q0} Bulk query jobs)   "
                    f"write calls {w1 - w0:4d} ({j1 - j0} Bulk jobs; collections minimum {minimum:4d}, "
                    f"{changed:,} records changed)   wall {wall:6.1f} s   "
                    f"daily API use {(r1 - r0 + w1 - w0) / API_DAILY:.2%}"
                )
                before = after
            return lines
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--deals", type=int, action="append", help="deals to seed (repeatable)")
    parser.add_argument("--no-bulk", action="store_true", help="REST query and collections only")
    parser.add_argument("--rate-limits", choices=("none", "real"), default="none")
    args = parser.parse_args()
    print(f"sandbox rate limits: {args.rate_limits}")
    for deals in args.deals or [10_000, 100_000]:
        for line in bench(deals, bulk=not args.no_bulk, rate_limits=args.rate_limits):
            print(line, flush=True)


if __name__ == "__main__":
    main()
