"""`bench/run.py` prints what its readers compare: each period's own peak memory, the peaks' ratios and
the last line's format (the figures themselves are the benchmark's, not a test's)."""

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "run.py"


def test_the_run_benchmark_prints_each_periods_own_peak_and_their_ratios(tmp_path):
    out = subprocess.run(
        [sys.executable, str(BENCH), "--deals", "3000", "--partners", "60", "--periods", "3"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        timeout=300,
    ).stdout
    peaks = [
        float(m.replace(",", ""))
        for m in re.findall(r"^\d{4}-Q\d: whole run [\d.]+ s, peak (?:so far )?([\d,]+) MiB$", out, re.M)
    ]
    assert len(peaks) == 3, out
    memory = re.search(r"^memory: period 3 / period 1: ([\d.]+), period 3 / period 2: ([\d.]+)$", out, re.M)
    assert memory is not None, out
    assert abs(float(memory[1]) - peaks[2] / peaks[0]) < 0.01  # the printed peaks are whole MiB
    assert abs(float(memory[2]) - peaks[2] / peaks[1]) < 0.01
    last = out.strip().splitlines()[-1]
    match = re.fullmatch(r"period 3 / period 1: [\d.]+, peak ([\d,]+) MiB", last)
    assert match is not None, out
    assert abs(float(match[1].replace(",", "")) - max(peaks)) <= 1  # the most one period's run took
