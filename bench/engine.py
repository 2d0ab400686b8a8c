"""Engine benchmark: synthetic deals over 20,000 partners; prints deals/s and peak memory of the compute step.

    python bench/engine.py                 # 1,000,000 deals
    python bench/engine.py --deals 100000  # quicker

The compute step is everything from validated records to lines: currency conversion, grouping per
partner, metrics, score, tier, payout lines, projections and adjustments, through the real plugins.
Record generation (what a connector would do) is outside the timing.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import resource
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from cosell.engine import compute
from cosell.periods import Period
from cosell.pluginmanager import Plugins
from cosell.program import load_program
from cosell.records import Activity, Deal, Involvement, Partner, RecordSet
from cosell.results import History

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "program.yaml"
STAGES = ("Qualification", "Proposal", "Negotiation", "Discovery")
CURRENCIES = ("USD", "USD", "USD", "EUR", "GBP")


def synthetic(deals: int, partners: int, seed: int) -> RecordSet:
    rng = random.Random(seed)
    start = date(2026, 1, 1)
    people = tuple(
        Partner(f"P{i:06d}", f"Partner {i}", start - timedelta(days=rng.randrange(900)), "active")
        for i in range(partners)
    )
    out = []
    for i in range(deals):
        created = start + timedelta(days=rng.randrange(365))
        status = rng.choice(("open", "open", "won", "lost"))
        closed = created + timedelta(days=rng.randrange(5, 120)) if status != "open" else None
        first = rng.randrange(partners)
        if rng.random() < 0.25:
            second = (first + 1 + rng.randrange(partners - 1)) % partners
            involved: tuple[Involvement, ...] = (
                Involvement(f"P{first:06d}", "sourced", Decimal("0.6")),
                Involvement(f"P{second:06d}", "cosell", None),
            )
        else:
            involved = (Involvement(f"P{first:06d}", "sourced", None),)
        out.append(
            Deal(
                id=f"D{i:08d}",
                name=f"Deal {i}",
                amount=Decimal(rng.randrange(1_000, 500_000)),
                currency=rng.choice(CURRENCIES),
                stage="Closed Won"
                if status == "won"
                else "Closed Lost"
                if status == "lost"
                else rng.choice(STAGES),
                status=status,  # type: ignore[arg-type]
                created_on=created,
                closed_on=closed,
                discount_pct=Decimal(rng.randrange(0, 35)),
                margin_pct=Decimal(rng.randrange(15, 60)),
                partners=involved,
            )
        )
    activities = tuple(
        Activity(
            f"A{i:08d}",
            f"P{rng.randrange(partners):06d}",
            rng.choice(("joint_call", "joint_demo", "training")),
            start + timedelta(days=rng.randrange(365)),
        )
        for i in range(deals // 10)
    )
    return RecordSet(people, tuple(out), activities)


def rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # resets VmHWM, the peak resident set size
        return True
    except OSError:
        return False


def peak_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--deals", type=int, default=1_000_000)
    parser.add_argument("--partners", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    program = load_program(EXAMPLE).program
    plugins = Plugins(entry_points=False)
    t0 = time.perf_counter()
    records = synthetic(args.deals, args.partners, args.seed)
    generated = time.perf_counter() - t0
    gc.collect()
    before = rss_mib()
    exact_peak = reset_peak()
    t1 = time.perf_counter()
    result = compute(program, Period.parse("2026-Q3"), records, History(), plugins)
    elapsed = time.perf_counter() - t1
    peak = peak_mib()
    lines = sum(len(v) for v in result.lines.values())
    print(f"machine: {os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}")
    print(f"generated {args.deals:,} deals over {args.partners:,} partners in {generated:.1f} s")
    print(
        f"compute: {elapsed:.2f} s, {args.deals / elapsed:,.0f} deals/s, {lines:,} lines, {len(result.projections):,} projections"
    )
    print(
        f"memory: {before:,.0f} MiB resident with the records loaded; peak {peak:,.0f} MiB during compute"
        + ("" if exact_peak else " (process peak: this kernel cannot reset it)")
        + f"; compute added {peak - before:,.0f} MiB"
    )


if __name__ == "__main__":
    main()
