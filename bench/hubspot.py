"""HubSpot connector against the sandbox: API calls against the minimum, and wall time.

    python bench/hubspot.py [--deals 10000 100000] [--search-rate 1000]
    python bench/hubspot.py --rate-limits real       # the sandbox holds HubSpot's real limits

For each size: `cosell setup hubspot`, a first run (full sync through the list endpoint, every managed
value written), and an unchanged rerun (incremental sync through search, nothing written). The calls of
the first run are compared with the fewest it could make (`floor`): per object type ⌈records/100⌉ list
pages, ⌈records/1,000⌉ association reads (deals, meetings, MDF claims), and ⌈changed/100⌉ writes
(companies, deals); the goal is within 5 %. Search requests are paced to --search-rate a second (with
--rate-limits real: the connector's own pacing).

The floor is the least time HubSpot's limits allow for the calls the run made: the larger of all calls ÷
19 a second (190 per 10 s) and search calls ÷ 4 a second. With --rate-limits real the sandbox answers a
call over either limit with HubSpot's 429, so the wall time can be compared with the floor: the last
column is wall ÷ floor (the goal: at most 1.2 on a first run). The sandbox runs in a process of its
own; `cosell cpu` is the CPU time cosell's run took (the goal: at most 2 s per 10,000 deals) and
`sandbox cpu` the sandbox's, which its indexes keep small: it measures cosell, not itself.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and this file would shadow the
# hubspot-api-client package (also named `hubspot`): take the folder off the path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import contextlib  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from typing import Any  # noqa: E402

import requests  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from cosell.cli import app  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
HUBSPOT_SEARCH_PER_SECOND = 4
HUBSPOT_CALLS_PER_SECOND = 19
BURST_SECONDS = 10.0
LIST_PAGE = 100
ASSOCIATION_BATCH = 1000
WRITE_BATCH = 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--deals", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--partners", type=int, default=50)
    parser.add_argument("--search-rate", type=float, default=None, help="default: 1000, or with "
                        "--rate-limits real the connector's own pacing")  # fmt: skip
    parser.add_argument("--rate-limits", choices=("none", "real"), default="none")
    args = parser.parse_args()
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        os.environ.pop(name, None)
    rate = args.search_rate if args.search_rate is not None or args.rate_limits == "real" else 1000.0
    print(f"sandbox rate limits: {args.rate_limits}")
    print(f"{'deals':>8} {'run':<10} {'wall s':>7} {'list':>5} {'search':>6} {'assoc':>5} {'other':>5} "
          f"{'written':>7} {'writes':>6} {'calls':>6} {'floor':>6} {'/floor':>6} {'429s':>5} "
          f"{'floor s':>8} {'/floor':>6} {'cosell cpu':>10} {'sandbox cpu':>11}")  # fmt: skip
    for deals in args.deals:
        bench(deals, args.partners, rate, args.rate_limits)


class SandboxProcess:
    """The sandbox in a process of its own (``python -m cosell.contrib.sandbox``): its answers take
    none of the CPU, nor the interpreter lock, of the process that runs cosell."""

    def __init__(self, info: dict[str, Any]) -> None:
        self.token = str(info["token"])
        self.hubspot_base_url = str(info["hubspot_base_url"])
        self.ca_bundle = str(info["ca_bundle"])

    def stats(self) -> dict[str, Any]:
        answer = requests.get(f"{self.hubspot_base_url}/_sandbox/stats", verify=self.ca_bundle, timeout=60)
        return dict(answer.json())


@contextlib.contextmanager
def sandbox_process(deals: int, partners: int, rate_limits: str) -> Iterator[SandboxProcess]:
    command = [sys.executable, "-m", "cosell.contrib.sandbox", "--seed", "1", "--partners", str(partners),
               "--deals", str(deals), "--rate-limits", rate_limits]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        yield SandboxProcess(json.loads(process.stdout.readline()))
    finally:
        process.terminate()
        process.wait(timeout=30)


def bench(deals: int, partners: int, rate: float | None, rate_limits: str) -> None:
    with tempfile.TemporaryDirectory() as tmp, sandbox_process(deals, partners, rate_limits) as sb:
        program = Path(tmp) / "program.yaml"
        pacing = (
            f"\nplugins:\n  hubspot: {{search_requests_per_second: {rate}}}\n" if rate is not None else ""
        )
        program.write_text((ROOT / "examples" / "program.yaml").read_text() + pacing)
        os.environ.update({
            "HUBSPOT_ACCESS_TOKEN": sb.token, "HUBSPOT_BASE_URL": sb.hubspot_base_url,
            "HUBSPOT_CA_BUNDLE": sb.ca_bundle, "COSELL_LEDGER": f"sqlite:///{tmp}/ledger.db",
            "COSELL_LOG": f"{tmp}/cosell.log",
        })  # fmt: skip
        runner = CliRunner()
        setup = runner.invoke(app, ["setup", "hubspot"])
        if setup.exit_code != 0:
            raise SystemExit(f"setup failed ({setup.exit_code}): {setup.output[-2000:]}")
        for label in ("first", "unchanged"):
            # each run's client paces itself from an empty window: let the calls before it (setup, the
            # previous run) leave HubSpot's 10-second window, as they would between scheduled runs
            time.sleep(BURST_SECONDS)
            before = sb.stats()
            started, cpu = time.perf_counter(), time.thread_time()
            result = runner.invoke(
                app, ["run", "--program", str(program), "--connector", "hubspot", "--json"]
            )
            wall, cpu = time.perf_counter() - started, time.thread_time() - cpu
            if result.exit_code != 0:
                raise SystemExit(f"run failed ({result.exit_code}): {result.output[-2000:]}")
            after = sb.stats()
            calls = {k: n - before["requests"].get(k, 0) for k, n in after["requests"].items()}
            written = {
                k: n - before["records_written"].get(k, 0) for k, n in after["records_written"].items()
            }
            listed = sum(n for k, n in calls.items() if k.startswith("GET /crm/v3/objects/"))
            search = sum(n for k, n in calls.items() if k.endswith("/search"))
            assoc = sum(n for k, n in calls.items() if "/associations/" in k)
            writes = sum(n for k, n in calls.items() if k.endswith("/batch/update"))
            total = sum(calls.values())
            other = total - listed - search - assoc - writes
            least = call_floor(after["hubspot_records"], written) if label == "first" else None
            total_written = written.get("companies", 0) + written.get("deals", 0)
            refused = sum(after.get("rate_limited", {}).values()) - sum(
                before.get("rate_limited", {}).values()
            )
            floor = max(total / HUBSPOT_CALLS_PER_SECOND, search / HUBSPOT_SEARCH_PER_SECOND)
            sandbox_cpu = after["cpu_seconds"] - before["cpu_seconds"]
            print(f"{deals:>8} {label:<10} {wall:>7.1f} {listed:>5} {search:>6} {assoc:>5} {other:>5} "
                  f"{total_written:>7} {writes:>6} {total:>6} {least or '':>6} "
                  f"{f'{total / least:.2f}' if least else '':>6} {refused:>5} {floor:>8.1f} "
                  f"{wall / floor if floor else float('nan'):>6.2f} {cpu:>10.1f} {sandbox_cpu:>11.1f}",
                  flush=True)  # fmt: skip


def call_floor(records: dict[str, int], written: dict[str, int]) -> int:
    """The fewest calls a first run can make: each object type listed whole (100 a page), the
    associations of deals, meetings and MDF claims read (1,000 ids a call), and the changed
    companies and deals written (100 a call)."""
    pages = sum(-(-n // LIST_PAGE) for n in records.values())
    associations = sum(-(-n // ASSOCIATION_BATCH) for t, n in records.items() if t != "companies")
    writes = sum(-(-written.get(t, 0) // WRITE_BATCH) for t in ("companies", "deals"))
    return pages + associations + writes


if __name__ == "__main__":
    main()
