"""Whole-run benchmark: a `cosell run` on generated CSV exports, timed step by step, with peak memory.

    python bench/run.py                                  # 1,000,000 deals over 20,000 partners
    python bench/run.py --deals 200000 --partners 4000   # quicker
    python bench/run.py --periods 8                      # eight quarters in a row, each closed
    python bench/run.py --ledger postgresql+psycopg://127.0.0.1/test

The CSV folder (partners, deals, deal_partners, activities, mdf_claims) is generated into a temporary
folder, outside the timing. The run goes through the CLI app in-process (`cosell run`, then `cosell close`
with --periods), so it does exactly what a user's run does; each step is timed by wrapping the engine's
step functions: reading the CSV folder, computing, planning the write-back (and comparing with the output
folder), storing in the ledger, writing the output folder, and printing the table (to /dev/null).

The last line reads `whole run N.N s = X.XX x compute, peak M MiB` (with --periods:
`period 8 / period 1: X.XX, peak M MiB`). With three periods or more, a line before it compares the
last period with the second, `period 8 / period 2: X.XX`: the first run starts from an empty output
folder and has no deal won earlier to write again, so the second shows what the history's length costs.
Peak memory is the process's peak resident set size, or, while the run has a child process (it takes
its records digest in one on Linux), the most the process and its children held together (their
proportional set sizes, sampled every second). CPU times include the children's. With --periods, each
period's line gives that period's own peak: on Linux the process's peak is set back to what it holds
before each run (`/proc/self/clear_refs`), as a `cosell run` in its own process would start afresh, but
what the earlier periods left in the process (freed memory Python and the C library keep) still counts;
elsewhere it is the peak so far. A line before the last compares the peaks, `memory: period 8 / period
1: X.XX, period 8 / period 2: X.XX`; the last line's peak is the most any one period took.

The line before it, `results sha256 ...`, is a digest of what the runs produced: the output folder's
files and the ledger's rows (less clock times and the temporary folder's path). The same input gives the
same digest with every version of cosell that computes the same results: a speed-up must not change it.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import gc
import hashlib
import os
import platform
import random
import resource
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from math import nan
from pathlib import Path
from typing import Any

import sqlalchemy as sa

import cosell.cli as cli
import cosell.engine as engine
from cosell.periods import Period

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "program.yaml"
STAGES = ("Qualification", "Proposal", "Negotiation", "Discovery")
CURRENCIES = ("USD", "USD", "USD", "EUR", "GBP")
ACTIVITY_TYPES = ("joint_call", "joint_demo", "training", "co_marketing_event")
CAMPAIGNS = ("EMEA Cloud Push", "NA Data Summit", "APAC Partner Week", "")

# (module, function name, step) in the order a run takes them. A name the engine no longer has is
# skipped: its time then shows under "other".
STEPS: tuple[tuple[Any, str, str], ...] = (
    (engine, "_load", "read CSV folder"),
    (engine, "_history", "read history"),
    (engine, "compute", "compute"),
    (engine, "_plan", "plan + compare write-back"),
    (engine, "provenance", "records digest"),
    (engine, "_store", "store in ledger"),
    (engine, "write_pending", "write output folder"),
    (engine, "_finish", "finish run"),
    (cli, "print_report", "print"),
)


# --- the input -------------------------------------------------------------------------------------


def generate(folder: Path, deals: int, partners: int, seed: int) -> None:
    """CSV exports in the proportions of bench/engine.py: a quarter of the deals have a second partner
    (deal_partners.csv), one activity per ten deals, one MDF claim per two partners."""
    rng = random.Random(seed)
    start = date(2026, 1, 1)

    def write(name: str, header: list[str], rows: Iterator[list[object]]) -> None:
        with open(folder / name, "w", newline="", encoding="utf-8") as fh:
            out = csv.writer(fh)
            out.writerow(header)
            out.writerows(rows)

    def partner_rows() -> Iterator[list[object]]:
        for i in range(partners):
            joined = start - timedelta(days=rng.randrange(900))
            yield [f"P{i:06d}", f"Partner {i}", joined, "active", "", "", rng.choice(("EMEA", "NA", "APAC"))]

    write(
        "partners.csv", ["id", "name", "joined_on", "status", "exit_on", "crm_tier", "region"], partner_rows()
    )
    second: list[tuple[str, str]] = []

    def deal_rows() -> Iterator[list[object]]:
        for i in range(deals):
            created = start + timedelta(days=rng.randrange(365))
            status = rng.choice(("open", "open", "won", "lost"))
            closed = created + timedelta(days=rng.randrange(5, 120)) if status != "open" else ""
            stage = {"won": "Closed Won", "lost": "Closed Lost"}.get(status) or rng.choice(STAGES)
            first = rng.randrange(partners)
            share = ""
            if rng.random() < 0.25:
                other = (first + 1 + rng.randrange(partners - 1)) % partners
                second.append((f"D{i:08d}", f"P{other:06d}"))
                share = "0.6"
            yield [
                f"D{i:08d}", f"Deal {i}", rng.randrange(1_000, 500_000), rng.choice(CURRENCIES), stage, status,
                created, closed, rng.randrange(0, 35), rng.randrange(15, 60), rng.choice(CAMPAIGNS), "",
                f"P{first:06d}", "sourced", share,
            ]  # fmt: skip

    write(
        "deals.csv",
        ["id", "name", "amount", "currency", "stage", "status", "created_on", "closed_on", "discount_pct",
         "margin_pct", "campaign", "refunded_on", "partner_id", "role", "share"],
        deal_rows(),
    )  # fmt: skip
    write("deal_partners.csv", ["deal_id", "partner_id", "role", "share"],
          ([deal, partner, "cosell", ""] for deal, partner in second))  # fmt: skip
    write(
        "activities.csv",
        ["id", "partner_id", "type", "occurred_on", "deal_id", "quantity"],
        (
            [f"A{i:08d}", f"P{rng.randrange(partners):06d}", rng.choice(ACTIVITY_TYPES),
             start + timedelta(days=rng.randrange(365)), "", ""]
            for i in range(deals // 10)
        ),
    )  # fmt: skip

    def claim_rows() -> Iterator[list[object]]:
        for i in range(partners // 2):
            status = rng.choice(("submitted", "approved", "paid", "rejected"))
            approved = start + timedelta(days=rng.randrange(365)) if status in ("approved", "paid") else ""
            yield [f"M{i:07d}", f"P{rng.randrange(partners):06d}", rng.choice(CAMPAIGNS[:3]),
                   rng.randrange(1_000, 40_000), approved, status]  # fmt: skip

    write("mdf_claims.csv", ["id", "partner_id", "campaign", "amount", "approved_on", "status"], claim_rows())


# --- measuring -------------------------------------------------------------------------------------


def peak_mib() -> float:
    """The most memory the run took: this process's peak resident set, or, while it had child processes
    (a run takes its records digest in one), the most that it and its children held together."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    own = int(line.split()[1]) / 1024
    except OSError:
        pass
    return max(own, FAMILY_PEAK[0])


def restart_peak() -> bool:
    """Set this process's peak resident set back to what it holds now, and forget the children's: the
    next run's peak is then its own. False where the system cannot (the peak then runs on)."""
    FAMILY_PEAK[0] = 0.0
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # Linux: "reset the peak resident set size" of this process
    except OSError:
        return False
    return True


FAMILY_PEAK = [0.0]
"""The largest sum of proportional set sizes (Pss) of this process and its children seen so far, MiB: a
page a child shares with its parent counts once, a page it copied counts for each."""


def _pss_kib(pid: int | str) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            return sum(int(line.split()[1]) for line in fh if line.startswith("Pss:"))
    except (OSError, ValueError):
        return 0


def _children() -> list[str]:
    found: list[str] = []
    with contextlib.suppress(OSError):
        for task in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{task}/children") as fh:
                found += fh.read().split()
    return found


def watch_family(stop: threading.Event) -> None:
    """Sample, while any child process lives, the memory this process and its children hold together.
    Once a second: the kernel walks every page of both processes to answer (about 60 ms for 2 GiB), CPU
    the run would otherwise have."""
    while not stop.wait(1.0):
        if children := _children():
            total = (_pss_kib("self") + sum(_pss_kib(pid) for pid in children)) / 1024
            FAMILY_PEAK[0] = max(FAMILY_PEAK[0], total)


def cpu_seconds() -> float:
    """CPU time of this process and of the child processes it has waited for (a run's records digest)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


@contextlib.contextmanager
def timed_steps(seconds: dict[str, float], cpu: dict[str, float]) -> Iterator[None]:
    """Wrap each step function so that its wall time adds up in ``seconds`` and its CPU time (this
    process's and its children's, less sensitive to other work on a shared machine) in ``cpu`` while the
    block runs. A child's CPU counts in the step that waits for it."""
    originals: list[tuple[Any, str, Callable[..., Any]]] = []

    def wrap(step: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0, c0 = time.perf_counter(), cpu_seconds()
            try:
                return function(*args, **kwargs)
            finally:
                seconds[step] = seconds.get(step, 0.0) + time.perf_counter() - t0
                cpu[step] = cpu.get(step, 0.0) + cpu_seconds() - c0

        return timed

    for module, name, step in STEPS:
        function = getattr(module, name, None)
        if callable(function):
            originals.append((module, name, function))
            setattr(module, name, wrap(step, function))
    try:
        yield
    finally:
        for module, name, function in originals:
            setattr(module, name, function)


def invoke(args: list[str]) -> None:
    """One CLI command in-process; its output goes to /dev/null (the benchmark prints its own)."""
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        code = cli.app(args, prog_name="cosell", standalone_mode=False)
    if isinstance(code, int) and code:
        sys.exit(f"cosell {args[0]} exited with {code}")  # a failed command must not look fast


@dataclasses.dataclass
class Timing:
    """One run's wall and CPU seconds, whole and per step."""

    whole: float = 0.0
    whole_cpu: float = 0.0
    seconds: dict[str, float] = dataclasses.field(default_factory=dict)
    cpu: dict[str, float] = dataclasses.field(default_factory=dict)


def one_run(folder: Path, output: Path, ledger: str, period: Period) -> Timing:
    """One `cosell run`, timed. As the `cosell` command does, the run keeps its objects for the process's
    exit to free (the command then ends its process at once): here they are freed after the timing."""
    timing = Timing()
    gc.collect()
    engine.keep_until_exit()
    t0, c0 = time.perf_counter(), cpu_seconds()
    try:
        with timed_steps(timing.seconds, timing.cpu):
            invoke(["run", "--program", str(EXAMPLE), "--connector", "files", "--input", str(folder),
                    "--output", str(output), "--ledger", ledger, "--period", period.key])  # fmt: skip
        timing.whole, timing.whole_cpu = time.perf_counter() - t0, cpu_seconds() - c0
    finally:
        engine.keep_until_exit(False)
    return timing


CLOCK_COLUMNS = frozenset({"closed_at", "started_at", "finished_at", "proposed_at", "decided_at", "target"})
"""Columns whose values differ between two runs of the same input: times, and the output folder's path."""


def results_digest(output: Path, ledger: str) -> str:
    """sha256 over the output folder's files and every ledger table's rows, in a stable order."""
    digest = hashlib.sha256()
    for path in sorted(output.glob("*.csv")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    engine = sa.create_engine(ledger)
    try:
        meta = sa.MetaData()
        meta.reflect(engine)
        with engine.connect() as conn:
            for table in sorted(meta.tables.values(), key=lambda t: t.name):
                if not table.name.startswith("cosell_") or table.name == "cosell_schema":
                    continue
                columns = [c for c in table.columns if c.name not in CLOCK_COLUMNS]
                keys = list(table.primary_key.columns) or columns
                digest.update(table.name.encode())
                for row in conn.execute(sa.select(*columns).order_by(*keys)):
                    digest.update(repr(tuple(row)).encode())
    finally:
        engine.dispose()
    return digest.hexdigest()


def report(timing: Timing) -> None:
    print(f"  {'step':<28} {'wall':>7}   {'cpu':>7}")
    for _, _, step in STEPS:
        if step in timing.seconds:
            print(f"  {step:<28} {timing.seconds[step]:7.2f} s {timing.cpu[step]:7.2f} s")
    other, other_cpu = (
        timing.whole - sum(timing.seconds.values()),
        timing.whole_cpu - sum(timing.cpu.values()),
    )
    print(f"  {'other':<28} {other:7.2f} s {other_cpu:7.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--deals", type=int, default=1_000_000)
    parser.add_argument("--partners", type=int, default=20_000)
    parser.add_argument("--periods", type=int, default=1, help="consecutive periods to run, each closed")
    parser.add_argument("--ledger", help="ledger URL (default: a SQLite file in the temporary folder)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="cosell-bench-") as tmp:
        root = Path(tmp)
        folder, output = root / "input", root / "output"
        folder.mkdir()
        t0 = time.perf_counter()
        generate(folder, args.deals, args.partners, args.seed)
        size = sum(p.stat().st_size for p in folder.iterdir()) / 2**20
        print(
            f"machine: {os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}"
        )
        print(
            f"generated {args.deals:,} deals over {args.partners:,} partners "
            f"({size:,.0f} MiB of CSV) in {time.perf_counter() - t0:.1f} s"
        )
        ledger = args.ledger or f"sqlite:///{root / 'ledger.db'}"
        period = Period.parse("2026-Q3")
        timings: list[Timing] = []
        stop = threading.Event()
        threading.Thread(target=watch_family, args=(stop,), daemon=True).start()
        peaks: list[float] = []
        for n in range(args.periods):
            gc.collect()
            own = restart_peak()
            timing = one_run(folder, output, ledger, period)
            timings.append(timing)
            peaks.append(peak_mib())
            print(
                f"{period.key}: whole run {timing.whole:.1f} s, peak {'' if own else 'so far '}{peaks[-1]:,.0f} MiB"
            )
            report(timing)
            if args.periods > 1:
                invoke(["close", "--period", period.key, "--ledger", ledger])
                period = period.next() if n + 1 < args.periods else period
        stop.set()
        peak = max(peaks)
        print(f"results sha256 {results_digest(output, ledger)}")
        first, last = timings[0], timings[-1]
        if args.periods > 2:
            # The first run starts from an empty output folder and has no earlier-won deals to write
            # again: against the second, the last period's run shows what the history's length costs.
            second = timings[1]
            print(
                f"period {args.periods} / period 2: {last.whole / second.whole:.2f} "
                f"(CPU {last.whole_cpu / second.whole_cpu:.2f})"
            )
        if args.periods > 1:
            print(
                f"memory: period {args.periods} / period 1: {peaks[-1] / peaks[0]:.2f}"
                + (
                    f", period {args.periods} / period 2: {peaks[-1] / peaks[1]:.2f}"
                    if args.periods > 2
                    else ""
                )
            )
            print(f"CPU time: period {args.periods} / period 1: {last.whole_cpu / first.whole_cpu:.2f}")
            print(f"period {args.periods} / period 1: {last.whole / first.whole:.2f}, peak {peak:,.0f} MiB")
        else:
            compute, compute_cpu = first.seconds.get("compute", nan), first.cpu.get("compute", nan)
            print(
                f"CPU time: whole run {first.whole_cpu:.1f} s = {first.whole_cpu / compute_cpu:.2f} x compute"
            )
            print(
                f"whole run {first.whole:.1f} s = {first.whole / compute:.2f} x compute, peak {peak:,.0f} MiB"
            )


if __name__ == "__main__":
    main()
