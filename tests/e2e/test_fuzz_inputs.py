"""Fuzzing the bundled CSV folder and program file: whatever a user or an attacker hands cosell, a run
ends in exit 0, or in exit 2 with a located message, never in exit 1 or a hang; and after an exit 2 the
ledger, the output folder and the working folder are byte for byte as they were."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from invoke import cosell

ROOT = Path(__file__).resolve().parents[2]
CSV_FILES = ("partners.csv", "deals.csv", "deal_partners.csv", "activities.csv", "mdf_claims.csv")
RUN = ("run", "--program", "program.yaml", "--input", "data", "--output", "out")
SECONDS_PER_RUN = 20
"""Far above a run of the example (well under a second): reaching it means a hang."""

NASTY = (
    "",
    " ",
    "-1",
    "-0.01",
    "0",
    "1e30",
    "9e18",
    "99999999999999999999.999",
    "١٢٣",
    "NaN",
    "inf",
    "-inf",
    "0x10",
    "1_000",
    "12",
    "0.25",
    "2026-13-01",
    "2026-02-30",
    "0001-01-01",
    "9999-12-31",
    '=HYPERLINK("http://x")',
    "[bold red]Evil[/]",
    "\x1b[2J",
    "a\x00b",
    '"',
    "a,b",
    "line\nbreak",
    "P001",
    "D1001",
    "won",
    "lost",
    "open",
    "sourced",
    "exited",
    "x" * 5000,
)
"""Cells and values users and attackers actually produce."""

YAML_VALUES = (
    '""',
    "0",
    '"0"',
    "-1",
    '"-1"',
    "12",
    '"12"',
    "1e30",
    '"1e30"',
    ".nan",
    ".inf",
    "null",
    "~",
    "[]",
    "{}",
    "[1, [2, [3]]]",
    "yes",
    "NO",
    '"١٢٣"',
    "0001-Q1",
    "2026-Q9",
    "10000000000",
    '"\\0"',
    "&a [*a]",
    "!!python/object:os.system ls",
    "x" * 300,
)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working folder after one good run: program, data, ledger and output folder in place."""
    folder = tmp_path_factory.mktemp("fuzz-template")
    shutil.copytree(ROOT / "examples" / "data", folder / "data")
    shutil.copy(ROOT / "examples" / "program.yaml", folder / "program.yaml")
    with chdir(folder):
        result = cosell(*RUN)
    assert result.exit_code == 0, result.output
    return folder


@contextmanager
def chdir(path: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


@contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    def expired(signum: int, frame: object) -> None:
        raise TimeoutError(f"the run took more than {seconds} s: a hang")

    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def tree(folder: Path) -> dict[str, str]:
    """Every file below the folder (hidden ones too) with the sha256 of its bytes."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# --- mutations -------------------------------------------------------------------------------------


@st.composite
def cell_mutation(draw: st.DrawFn) -> tuple[str, ...]:
    name = draw(st.sampled_from(CSV_FILES))
    value = draw(st.one_of(st.sampled_from(NASTY), st.text(max_size=12)))
    return ("cell", name, str(draw(st.integers(0, 30))), str(draw(st.integers(0, 15))), value)


@st.composite
def file_mutation(draw: st.DrawFn) -> tuple[str, ...]:
    name = draw(st.sampled_from(CSV_FILES))
    how = draw(
        st.sampled_from(
            (
                "latin-1",
                "utf-16",
                "bom",
                "semicolons",
                "tabs",
                "remove",
                "rename-case",
                "rename-singular",
                "drop-column",
                "duplicate-row",
                "truncate",
                "empty",
                "header-only",
                "nul",
                "crlf",
            )
        )
    )
    return ("file", name, how, str(draw(st.integers(0, 10_000))))


@st.composite
def program_mutation(draw: st.DrawFn) -> tuple[str, ...]:
    how = draw(st.sampled_from(("value", "delete", "duplicate", "unknown", "bomb", "deep", "bytes")))
    line = draw(st.integers(0, 40))
    value = draw(st.one_of(st.sampled_from(YAML_VALUES), st.text(max_size=8)))
    return ("program", how, str(line), value)


def apply(folder: Path, mutation: tuple[str, ...]) -> None:
    if mutation[0] == "cell":
        _, name, row_text, column_text, value = mutation
        path = folder / "data" / name
        if not path.exists():
            return
        lines = _text(path).splitlines() or [""]
        row = int(row_text) % len(lines)
        cells = lines[row].split(",")
        cells[int(column_text) % len(cells)] = _csv_cell(value)
        lines[row] = ",".join(cells)
        path.write_bytes(("\n".join(lines) + "\n").encode("utf-8", "surrogateescape"))
    elif mutation[0] == "file":
        _mutate_file(folder / "data" / mutation[1], mutation[2], int(mutation[3]))
    else:
        _mutate_program(folder / "program.yaml", mutation[1], int(mutation[2]), mutation[3])


def _csv_cell(value: str) -> str:
    if any(c in value for c in ',"\n\r'):
        return '"' + value.replace('"', '""') + '"'
    return value


def _text(path: Path) -> str:
    """A file's text as an earlier mutation left it (undecodable bytes kept as they are)."""
    return path.read_bytes().decode("utf-8", "surrogateescape")


def _mutate_file(path: Path, how: str, seed: int) -> None:
    if not path.exists():
        return
    text = _text(path).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    lines = text.splitlines() or [""]
    if how == "latin-1":
        path.write_bytes((text + "Café,Zürich\n").encode("latin-1", "replace"))
    elif how == "utf-16":
        path.write_bytes(text.encode("utf-16"))
    elif how == "bom":
        path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    elif how == "semicolons":
        path.write_text(text.replace(",", ";"), encoding="utf-8")
    elif how == "tabs":
        path.write_text(text.replace(",", "\t"), encoding="utf-8")
    elif how == "remove":
        path.unlink()
    elif how == "rename-case":
        path.rename(path.with_name(path.name.capitalize()))
    elif how == "rename-singular":
        path.rename(path.with_name(path.name.replace("s.csv", ".csv")))
    elif how == "drop-column":
        column = seed % len(lines[0].split(","))
        path.write_text(
            "\n".join(",".join(c for i, c in enumerate(line.split(",")) if i != column) for line in lines)
            + "\n",
            encoding="utf-8",
        )
    elif how == "duplicate-row" and len(lines) > 1:
        row = 1 + seed % (len(lines) - 1)
        path.write_text("\n".join([*lines, lines[row]]) + "\n", encoding="utf-8")
    elif how == "truncate":
        path.write_bytes(text.encode("utf-8")[: seed % max(1, len(text))])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "header-only":
        path.write_text(lines[0] + "\n", encoding="utf-8")
    elif how == "nul":
        data = text.encode("utf-8")
        at = seed % max(1, len(data))
        path.write_bytes(data[:at] + b"\x00" + data[at:])
    elif how == "crlf":
        path.write_bytes(text.replace("\n", "\r\n").encode("utf-8"))


def _mutate_program(path: Path, how: str, line_no: int, value: str) -> None:
    lines = _text(path).encode("utf-8", "surrogateescape").decode("utf-8", "replace").splitlines()
    keyed = [i for i, line in enumerate(lines) if re.match(r"^\s*[a-z_]+:", line)]
    if not keyed:
        return
    i = keyed[line_no % len(keyed)]
    key_part = lines[i].split(":", 1)[0]
    if how == "value":
        lines[i] = f"{key_part}: {value}"
    elif how == "delete":
        del lines[i]
    elif how == "duplicate":
        lines.insert(i + 1, lines[i])
    elif how == "unknown":
        lines.insert(i + 1, f"{key_part}_typo: {value}")
    elif how == "bomb":
        bomb = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
        bomb += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 9)}]" for n in range(1, 10)]
        lines = bomb + lines
    elif how == "deep":
        lines.append("plugins: " + "[" * 5000 + "]" * 5000)
    elif how == "bytes":
        path.write_bytes("\n".join(lines).encode("utf-8").replace(b"Global", b"Gl\xe9bal\x00"))
        return
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


LOCATED = re.compile(r"(program\.yaml|[a-z_]+\.csv|data)(:\d+)?[:\s]", re.I)


@settings(
    max_examples=int(os.environ.get("COSELL_FUZZ_EXAMPLES", "100")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
@given(st.lists(st.one_of(cell_mutation(), file_mutation(), program_mutation()), min_size=1, max_size=3))
def test_any_mutated_input_ends_in_exit_0_or_a_located_exit_2_that_leaves_everything_as_it_was(
    template: Path, tmp_path_factory: pytest.TempPathFactory, mutations: list[tuple[str, ...]]
) -> None:
    folder = tmp_path_factory.mktemp("fuzz")
    shutil.copytree(template, folder, dirs_exist_ok=True)
    for mutation in mutations:
        apply(folder, mutation)
    before = tree(folder)
    with chdir(folder), time_limit(SECONDS_PER_RUN):
        result = cosell(*RUN)
    event(f"exit {result.exit_code}")
    assert result.exit_code in (0, 2), (mutations, result.exit_code, result.output, result.exception)
    if result.exit_code == 2:
        assert LOCATED.search(result.output), (mutations, result.output)
        assert tree(folder) == before, (mutations, result.output)
    shutil.rmtree(folder)
