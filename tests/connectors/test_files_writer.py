"""The files connector's write-back: accounts.csv and deals.csv hold every record's current values, a
run rewrites only what changed (atomically), and changes.csv lists the latest run's changes."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import pluggy
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from cosell import hookspecs
from cosell.connector import ConnectorSpec, FieldWrite
from cosell.connectors import files
from cosell.connectors.files import FilesConnector
from cosell.connectors.files.writer import _csv_text
from cosell.errors import ConfigError
from cosell.program import parse_program
from cosell.textsafe import (
    CsvWriter,
    from_spreadsheet_cell,
    from_spreadsheet_row,
    spreadsheet_cell,
    spreadsheet_column,
    spreadsheet_row,
)

PROGRAM = """\
program: Test Program
period: 2026-Q3
currency: USD
tiers:
  - {name: Registered, min_score: 0}
"""


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def stat_of(path: Path) -> tuple[int, int]:
    info = path.stat()
    return (info.st_ino, info.st_mtime_ns)


def account(record_id: str, **values: str | None) -> FieldWrite:
    return FieldWrite("account", record_id, values)


def deal(record_id: str, **values: str | None) -> FieldWrite:
    return FieldWrite("deal", record_id, values)


FIRST_RUN = [
    account("P2", tier="Silver", score="45.50", period_earnings="1200.00"),
    account("P1", tier="Gold", score="80.00", period_earnings="5000.00"),
    deal("D1", incentive="120.00", incentive_status="Earned", incentive_note="12% of 1000.00"),
    deal("D2", incentive="40.00", incentive_status="Projected", incentive_note="if won: 8% of 500.00"),
]


@pytest.fixture
def connector(tmp_path: Path) -> FilesConnector:
    connector = FilesConnector(output=tmp_path / "out")
    connector.begin_run()
    return connector


def test_first_write_creates_the_files_with_every_value(connector: FilesConnector, tmp_path: Path) -> None:
    outcomes = connector.write(FIRST_RUN)
    out = tmp_path / "out"
    assert [(o.key, o.ok, o.error) for o in outcomes] == [
        (("account", "P2"), True, None),
        (("account", "P1"), True, None),
        (("deal", "D1"), True, None),
        (("deal", "D2"), True, None),
    ]
    # Rows are sorted by id, whatever the order of the writes.
    assert (out / "accounts.csv").read_text(encoding="utf-8") == (
        "id,cosell_tier,cosell_score,cosell_period_earnings,cosell_tier_benefits\n"
        "P1,Gold,80.00,5000.00,\nP2,Silver,45.50,1200.00,\n"
    )
    assert rows(out / "deals.csv") == [
        {
            "id": "D1",
            "cosell_incentive": "120.00",
            "cosell_incentive_status": "Earned",
            "cosell_incentive_note": "12% of 1000.00",
        },
        {
            "id": "D2",
            "cosell_incentive": "40.00",
            "cosell_incentive_status": "Projected",
            "cosell_incentive_note": "if won: 8% of 500.00",
        },
    ]


def test_changes_csv_lists_each_changed_field_with_old_and_new(
    connector: FilesConnector, tmp_path: Path
) -> None:
    connector.write(FIRST_RUN)
    connector.begin_run()
    connector.write([account("P1", tier="Platinum", score="80.00"), deal("D3", incentive="10.00")])
    assert rows(tmp_path / "out" / "changes.csv") == [
        {"object": "account", "id": "P1", "field": "tier", "old": "Gold", "new": "Platinum"},
        {"object": "deal", "id": "D3", "field": "incentive", "old": "", "new": "10.00"},
    ]


def test_first_run_changes_list_every_new_value(connector: FilesConnector, tmp_path: Path) -> None:
    connector.write(FIRST_RUN[:1])
    assert rows(tmp_path / "out" / "changes.csv") == [
        {"object": "account", "id": "P2", "field": "tier", "old": "", "new": "Silver"},
        {"object": "account", "id": "P2", "field": "score", "old": "", "new": "45.50"},
        {"object": "account", "id": "P2", "field": "period_earnings", "old": "", "new": "1200.00"},
    ]


def test_identical_second_write_rewrites_nothing(connector: FilesConnector, tmp_path: Path) -> None:
    out = tmp_path / "out"
    connector.write(FIRST_RUN)
    before = {name: stat_of(out / name) for name in ("accounts.csv", "deals.csv")}
    again = FilesConnector(output=out)
    again.begin_run()
    changes_before = stat_of(out / "changes.csv")
    outcomes = again.write(FIRST_RUN)
    assert all(o.ok for o in outcomes) and len(outcomes) == 4
    assert {name: stat_of(out / name) for name in ("accounts.csv", "deals.csv")} == before
    assert stat_of(out / "changes.csv") == changes_before
    assert rows(out / "changes.csv") == []


def test_only_the_changed_file_and_rows_change(connector: FilesConnector, tmp_path: Path) -> None:
    out = tmp_path / "out"
    connector.write(FIRST_RUN)
    accounts_before = stat_of(out / "accounts.csv")
    connector.write([deal("D2", incentive_status="Withheld")])
    assert stat_of(out / "accounts.csv") == accounts_before
    d1, d2 = rows(out / "deals.csv")
    assert d1["cosell_incentive_status"] == "Earned"
    # Values the write did not name are kept.
    assert d2 == {
        "id": "D2",
        "cosell_incentive": "40.00",
        "cosell_incentive_status": "Withheld",
        "cosell_incentive_note": "if won: 8% of 500.00",
    }


def test_clearing_a_field_leaves_an_empty_cell(connector: FilesConnector, tmp_path: Path) -> None:
    connector.write(FIRST_RUN)
    connector.begin_run()
    connector.write([deal("D1", incentive=None, incentive_status=None, incentive_note=None)])
    d1 = rows(tmp_path / "out" / "deals.csv")[0]
    assert d1 == {
        "id": "D1",
        "cosell_incentive": "",
        "cosell_incentive_status": "",
        "cosell_incentive_note": "",
    }
    assert rows(tmp_path / "out" / "changes.csv")[0] == {
        "object": "deal",
        "id": "D1",
        "field": "incentive",
        "old": "120.00",
        "new": "",
    }
    assert connector.current_values([("deal", "D1")]) == {
        ("deal", "D1"): {"incentive": None, "incentive_status": None, "incentive_note": None}
    }


def test_files_are_replaced_atomically_leaving_no_temp_files(
    connector: FilesConnector, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    connector.write(FIRST_RUN)
    inode = (out / "deals.csv").stat().st_ino
    connector.write([deal("D1", incentive="130.00")])
    # A new file took the old one's name (os.replace), rather than the old one being rewritten in place.
    assert (out / "deals.csv").stat().st_ino != inode
    assert sorted(p.name for p in out.iterdir()) == ["accounts.csv", "changes.csv", "deals.csv"]


def test_current_values_come_from_the_files(connector: FilesConnector, tmp_path: Path) -> None:
    assert connector.current_values([("account", "P1")]) == {}
    connector.write(FIRST_RUN)
    # A fresh connector reads what an earlier run wrote; records not in the files are left out.
    fresh = FilesConnector(output=tmp_path / "out")
    assert fresh.current_values([("account", "P1"), ("deal", "D2"), ("deal", "D9")]) == {
        ("account", "P1"): {
            "tier": "Gold",
            "score": "80.00",
            "period_earnings": "5000.00",
            "tier_benefits": None,
        },
        ("deal", "D2"): {
            "incentive": "40.00",
            "incentive_status": "Projected",
            "incentive_note": "if won: 8% of 500.00",
        },
    }


def test_current_values_see_an_edit_made_outside_cosell(connector: FilesConnector, tmp_path: Path) -> None:
    connector.write(FIRST_RUN)
    path = tmp_path / "out" / "accounts.csv"
    path.write_text(path.read_text(encoding="utf-8").replace("Gold", "Bronze!"), encoding="utf-8")
    assert connector.current_values([("account", "P1")])[("account", "P1")]["tier"] == "Bronze!"


def test_current_values_are_what_the_files_held_when_asked_a_later_write_does_not_change_them(
    connector: FilesConnector, tmp_path: Path
) -> None:
    connector.write(FIRST_RUN)
    held = connector.current_values([("deal", "D1"), ("deal", "D9"), ("account", "P2")])
    connector.write([deal("D1", incentive="7.00"), deal("D9", incentive="1.00"), account("P2", tier="Gold")])
    assert list(held) == [("deal", "D1"), ("account", "P2")] and len(held) == 2
    assert held[("deal", "D1")] == {
        "incentive": "120.00",
        "incentive_status": "Earned",
        "incentive_note": "12% of 1000.00",
    }
    assert held[("account", "P2")]["tier"] == "Silver" and ("deal", "D9") not in held
    assert connector.current_values([("deal", "D1")])[("deal", "D1")]["incentive"] == "7.00"


def test_begin_run_starts_changes_csv_afresh(connector: FilesConnector, tmp_path: Path) -> None:
    connector.write(FIRST_RUN)
    connector.begin_run()
    assert (tmp_path / "out" / "changes.csv").read_text(encoding="utf-8") == "object,id,field,old,new\n"


def test_changes_accumulate_when_begin_run_is_not_called(tmp_path: Path) -> None:
    connector = FilesConnector(output=tmp_path / "out")
    connector.write([deal("D1", incentive="1.00")])
    connector.write([deal("D1", incentive="2.00")])
    assert [r["new"] for r in rows(tmp_path / "out" / "changes.csv")] == ["1.00", "2.00"]


def test_columns_a_user_added_are_kept(connector: FilesConnector, tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "deals.csv").write_text("id,owner,cosell_incentive\nD1,kim,5.00\n", encoding="utf-8")
    connector.write([deal("D1", incentive="6.00"), deal("D0", incentive="1.00")])
    assert (out / "deals.csv").read_text(encoding="utf-8") == (
        "id,cosell_incentive,cosell_incentive_status,cosell_incentive_note,owner\nD0,1.00,,,\nD1,6.00,,,kim\n"
    )


def test_cells_of_columns_a_user_added_are_kept_as_written_apostrophes_and_formulas_alike(
    connector: FilesConnector, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    original = "id,cosell_incentive,'owner,note\nD1,5.00,'t Hooft,=SUM(A1)\nD2,'-x,kim,\n"
    (out / "deals.csv").write_text(original, encoding="utf-8")
    assert connector.current_values([("deal", "D2")])[("deal", "D2")]["incentive"] == "-x"  # cosell's mark
    connector.write([deal("D1", incentive="6.00")])
    assert (out / "deals.csv").read_text(encoding="utf-8") == (
        "id,cosell_incentive,cosell_incentive_status,cosell_incentive_note,'owner,note\n"
        "D1,6.00,,,'t Hooft,=SUM(A1)\nD2,'-x,,,kim,\n"
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "id,cosell_incentive\nD1,5.00\nD2,1.00\nD1,7.00\n",
            r"deals\.csv:4: record 'D1' has a row already \(line 2\)",
        ),
        ("id,cosell_incentive\nD1,5.00\n,7.00\n", r"deals\.csv:3: a row with cells but no id"),
        ("id,note,note\nD1,a,b\n", r"deals\.csv: the column 'note' is named twice \(columns 2 and 3\)"),
        ("id,,cosell_incentive\nD1,call Kim,5.00\n", r"deals\.csv:2: a cell under a column with no name"),
        (
            'id,cosell_incentive\n"D\n1",5.00\nD2,1.00,extra\n',
            r"deals\.csv:4: cells past the header's last column",
        ),
    ],
)
def test_a_file_a_rewrite_would_lose_something_of_is_refused_naming_its_line(
    connector: FilesConnector, tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "out" / "deals.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=problem):
        connector.current_values([("deal", "D1")])
    with pytest.raises(ConfigError, match=problem):
        connector.write([deal("D9", incentive="1.00")])
    assert path.read_text(encoding="utf-8") == text  # nothing written


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"id,my_notes\nD1,ok\nD2,G\xfcnter called\n", r"deals\.csv:3: not UTF-8 text"),
        (b"id,my_notes\n\x00D1,x\n", r"deals\.csv:2: a NUL character"),
        (b'id,my_notes\nD1,"call back\nD2,ok\n', r"deals\.csv:2: not valid CSV"),
    ],
    ids=["latin-1", "nul", "open-quote"],
)
def test_a_file_a_rewrite_would_change_is_refused_naming_its_line(
    connector: FilesConnector, tmp_path: Path, data: bytes, problem: str
) -> None:
    path = tmp_path / "out" / "deals.csv"
    path.write_bytes(data)
    with pytest.raises(ConfigError, match=problem):
        connector.current_values([("deal", "D1")])
    with pytest.raises(ConfigError, match=problem):
        connector.write([deal("D9", incentive="1.00")])
    assert path.read_bytes() == data  # nothing written


def test_a_folder_where_an_output_file_goes_is_refused(connector: FilesConnector, tmp_path: Path) -> None:
    (tmp_path / "out" / "accounts.csv").mkdir()
    with pytest.raises(ConfigError, match=r"accounts\.csv: a folder where cosell keeps a file"):
        connector.current_values([("account", "P1")])


def test_an_output_folder_below_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("mine")
    with pytest.raises(ConfigError, match=r"--output: .*f is a file, not a folder"):
        FilesConnector(output=tmp_path / "f" / "sub" / "out")


def test_blank_rows_and_empty_cells_past_the_header_are_no_problem(
    connector: FilesConnector, tmp_path: Path
) -> None:
    (tmp_path / "out" / "deals.csv").write_text("id,cosell_incentive,\n\nD1,5.00,,\n,,\n", encoding="utf-8")
    assert connector.current_values([("deal", "D1")])[("deal", "D1")]["incentive"] == "5.00"


def test_a_file_that_cannot_be_replaced_fails_its_writes_only(
    connector: FilesConnector, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    replace = os.replace

    def refusing(source: str, target: Path) -> None:
        if Path(target).name == "deals.csv":  # a full disk, a file another program holds, ...
            raise PermissionError(13, "Permission denied")
        replace(source, target)

    monkeypatch.setattr(os, "replace", refusing)
    outcomes = connector.write([deal("D1", incentive="1.00"), account("P1", tier="Gold")])
    assert [(o.key, o.ok) for o in outcomes] == [(("deal", "D1"), False), (("account", "P1"), True)]
    assert "cannot write" in (outcomes[0].error or "")
    assert [(r["object"], r["id"]) for r in rows(tmp_path / "out" / "changes.csv")] == [("account", "P1")]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["accounts.csv", "changes.csv"]


def test_a_failed_file_leaves_changes_csv_as_a_batch_without_its_writes_would_have(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """changes.csv lists the batch's changes before the files are replaced; those of a file that then
    cannot be replaced are taken out again, the earlier batches' and the other file's kept byte for byte."""
    earlier = [
        deal("D1", incentive="1.00", incentive_note='line\r\nbreak, "quoted"'),
        account("P1", tier="=Gold"),
    ]
    batch = [deal("D1", incentive="2.00"), account("P1", tier="Silver"), deal("D2", incentive="3.00")]
    wanted, failing = FilesConnector(output=tmp_path / "wanted"), FilesConnector(output=tmp_path / "failing")
    for connector in (wanted, failing):
        connector.begin_run()
        connector.write(earlier)
    wanted.write([w for w in batch if w.object == "account"])
    replace = os.replace

    def refusing(source: str, target: Path) -> None:
        if Path(target).name == "deals.csv":
            raise PermissionError(13, "Permission denied")
        replace(source, target)

    monkeypatch.setattr(os, "replace", refusing)
    assert [o.ok for o in failing.write(batch)] == [False, True, False]
    for name in ("changes.csv", "accounts.csv", "deals.csv"):
        assert (tmp_path / "failing" / name).read_bytes() == (tmp_path / "wanted" / name).read_bytes()


def test_a_changes_csv_that_cannot_be_started_fails_every_write_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "changes.csv").mkdir(parents=True)  # a folder where the file goes: it cannot be replaced
    connector = FilesConnector(output=out)
    connector.begin_run()  # no exception: the writes say what went wrong
    outcomes = connector.write([deal("D1", incentive="1.00"), account("P1", tier="Gold")])
    assert [o.ok for o in outcomes] == [False, False]
    assert all(f"cannot write {out / 'changes.csv'}" in (o.error or "") for o in outcomes)
    assert sorted(p.name for p in out.iterdir()) == ["changes.csv"]


def test_a_changes_csv_that_cannot_be_written_fails_every_write_and_the_files_stay_as_they_were(
    connector: FilesConnector, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    connector.write([deal("D1", incentive="1.00")])
    before = (out / "deals.csv").read_text(encoding="utf-8")
    (out / "changes.csv").unlink()
    (out / "changes.csv").mkdir()
    outcomes = connector.write([deal("D1", incentive="2.00"), deal("D2", incentive="3.00")])
    assert [o.ok for o in outcomes] == [False, False]
    assert (out / "deals.csv").read_text(encoding="utf-8") == before
    # the same connector answers from the file, not from the rows it had changed in memory
    assert connector.current_values([("deal", "D1"), ("deal", "D2")]) == {
        ("deal", "D1"): {"incentive": "1.00", "incentive_status": None, "incentive_note": None}
    }


def test_unknown_field_is_refused(connector: FilesConnector) -> None:
    with pytest.raises(ValueError, match="no managed field 'owner'"):
        connector.write([deal("D1", owner="kim")])


def test_output_folder_is_created_when_missing(tmp_path: Path) -> None:
    connector = FilesConnector(output=tmp_path / "a" / "b")
    connector.write([account("P1", tier="Gold")])
    assert rows(tmp_path / "a" / "b" / "accounts.csv")[0]["cosell_tier"] == "Gold"


def test_output_folder_must_differ_from_the_input(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is the input folder"):
        FilesConnector(input=tmp_path, output=tmp_path / "." / "")


def test_writing_without_an_output_folder_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="needs an output folder"):
        FilesConnector().write([account("P1", tier="Gold")])


def test_read_reads_the_input_folder(tmp_path: Path) -> None:
    (tmp_path / "partners.csv").write_text("id,name,joined_on\nP1,Acme,2026-01-05\n", encoding="utf-8")
    (tmp_path / "deals.csv").write_text(
        "id,name,amount,stage,status,created_on,partner_id\nD1,One,10,Proposal,open,2026-07-01,P1\n",
        encoding="utf-8",
    )
    connector = FilesConnector.from_options({"input": str(tmp_path), "output": str(tmp_path / "out")})
    records = connector.read(parse_program(PROGRAM).program, None)
    assert [d.id for d in records.deals] == ["D1"]
    assert connector.output == tmp_path / "out"


def test_connector_registers_itself_through_the_hook(tmp_path: Path) -> None:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(files)
    specs: list[ConnectorSpec] = []
    pm.hook.cosell_register_connectors(register=specs.append)
    (spec,) = specs
    assert spec.name == "files"
    assert spec.description
    made = spec.factory({"input": tmp_path, "output": tmp_path / "out"})
    assert isinstance(made, FilesConnector)
    assert made.name == "files"
    assert made.write_batch_size >= 100_000


def test_outbox_target_names_the_output_folder(tmp_path: Path) -> None:
    assert FilesConnector(output=tmp_path / "out").target == f"files:{(tmp_path / 'out').resolve()}"


def test_begin_run_leaves_an_already_empty_changes_csv_alone(
    connector: FilesConnector, tmp_path: Path
) -> None:
    path = tmp_path / "out" / "changes.csv"
    before = stat_of(path)
    connector.begin_run()
    assert stat_of(path) == before


# --- a killed run, and cells a spreadsheet would run ------------------------------------------------


def test_begin_run_removes_temp_files_a_killed_run_left_and_keeps_a_live_runs(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    left = [out / f".deals.csv.{dead.pid}.0a1b2c3d.tmp", out / f".changes.csv.{dead.pid}.99aa00ff.tmp"]
    for path in left:
        path.write_text("id,cosell_incentive\nD1,1")
    live = out / f".deals.csv.{os.getppid()}.deadbeef.tmp"  # a write under way in a process still running
    live.write_text("id")
    unrelated = out / ".notes.txt.1.tmp"
    unrelated.write_text("a user's file")
    FilesConnector(output=out).begin_run()
    assert sorted(p.name for p in out.iterdir()) == sorted(["changes.csv", live.name, unrelated.name])


def test_changes_csv_is_replaced_whole_so_a_kill_while_writing_it_leaves_the_old_file(
    connector: FilesConnector, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    connector.write(FIRST_RUN)
    before = (tmp_path / "out" / "changes.csv").read_text()
    real_replace = os.replace

    def killed_at_changes(src: str | Path, dst: str | Path) -> None:
        if Path(dst).name == "changes.csv":
            raise KeyboardInterrupt  # the process dies before the rename
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", killed_at_changes)
    with pytest.raises(KeyboardInterrupt):
        connector.write([deal("D1", incentive="150.00")])
    assert (tmp_path / "out" / "changes.csv").read_text() == before


def test_changes_csv_lists_a_batch_before_the_files_it_changes_are_replaced(
    connector: FilesConnector, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_replace = os.replace

    def killed_at_deals(src: str | Path, dst: str | Path) -> None:
        if Path(dst).name == "deals.csv":
            raise KeyboardInterrupt
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", killed_at_deals)
    with pytest.raises(KeyboardInterrupt):
        connector.write(FIRST_RUN)
    listed = {(r["object"], r["id"], r["field"]) for r in rows(tmp_path / "out" / "changes.csv")}
    assert ("deal", "D1", "incentive") in listed and ("account", "P1", "tier") in listed


def test_a_cell_a_spreadsheet_would_run_is_written_as_text_and_read_back_as_given(
    connector: FilesConnector, tmp_path: Path
) -> None:
    formula = '=HYPERLINK("http://attacker.example")'
    writes = [
        deal(formula, incentive="-12.50", incentive_status="Clawed back", incentive_note="@SUM(A1:A9)"),
        deal("D2", incentive="+5", incentive_note="-note\tx"),
        account("P1", tier="'quoted", score="-1", period_earnings="-0.50"),
    ]
    connector.write(writes)
    with (tmp_path / "out" / "deals.csv").open(newline="", encoding="utf-8") as handle:
        cells = [cell for row in csv.reader(handle) for cell in row]
    assert f"'{formula}" in cells and "'@SUM(A1:A9)" in cells and "'-note\tx" in cells
    assert "-12.50" in cells and "+5" in cells  # plain numbers stay numbers
    assert not any(cell.startswith(("=", "@")) for cell in cells)
    assert rows(tmp_path / "out" / "accounts.csv")[0]["cosell_tier"] == "''quoted"
    fresh = FilesConnector(output=tmp_path / "out")
    assert fresh.current_values([("deal", formula), ("account", "P1")]) == {
        ("deal", formula): {
            "incentive": "-12.50",
            "incentive_status": "Clawed back",
            "incentive_note": "@SUM(A1:A9)",
        },
        ("account", "P1"): {
            "tier": "'quoted",
            "score": "-1",
            "period_earnings": "-0.50",
            "tier_benefits": None,
        },
    }
    assert all(outcome.ok for outcome in fresh.write(writes))
    assert [r["id"] for r in rows(tmp_path / "out" / "changes.csv")].count(
        f"'{formula}"
    ) == 3  # no new change


@given(st.lists(st.text(alphabet=st.sampled_from("=+-@'\t\r\x00 .0123456789aZé١²\n\""), max_size=6)))
def test_a_row_made_spreadsheet_safe_is_each_cell_made_safe_and_reads_back_as_given(cells: list[str]) -> None:
    written = spreadsheet_row(cells)
    assert written == [spreadsheet_cell(cell) for cell in cells]
    assert from_spreadsheet_row(written) == [from_spreadsheet_cell(cell) for cell in written]
    assert from_spreadsheet_row(written) == [cell.replace("\x00", "") for cell in cells]


TRICKY_TEXT = st.text(alphabet=st.sampled_from("=+-@'\t\r\x00 .,;0123456789aZé١²\n\""), max_size=6)


@given(st.lists(TRICKY_TEXT, max_size=8))
def test_a_column_made_spreadsheet_safe_is_each_cell_made_safe(cells: list[str]) -> None:
    assert list(spreadsheet_column(cells)) == spreadsheet_row(cells)


@given(
    st.integers(min_value=1, max_value=5).flatmap(
        lambda width: st.lists(st.lists(TRICKY_TEXT, min_size=width, max_size=width), max_size=6)
    )
    | st.lists(st.lists(TRICKY_TEXT, max_size=4), max_size=4)
)
def test_file_text_is_what_the_csv_writer_writes_for_the_spreadsheet_safe_cells_and_reads_back(
    rows: list[list[str]],
) -> None:
    expected = io.StringIO()
    CsvWriter(expected).writerows(spreadsheet_row(row) for row in rows)
    assert _csv_text(rows) == expected.getvalue()
    assert list(csv.reader(io.StringIO(_csv_text(rows), newline=""))) == [spreadsheet_row(r) for r in rows]


def test_a_value_holding_a_carriage_return_reads_back_whole_and_is_not_written_again(
    connector: FilesConnector, tmp_path: Path
) -> None:
    writes = [
        deal("D1", incentive="100.00", incentive_status="Projected", incentive_note="Acme\rCorp: 100.00 USD"),
        account("P1", tier="Reg\ristered", score="0.00"),
    ]
    connector.write(writes)
    fresh = FilesConnector(output=tmp_path / "out")
    held = fresh.current_values([("deal", "D1"), ("account", "P1")])
    assert held[("deal", "D1")]["incentive_note"] == "Acme\rCorp: 100.00 USD"
    assert held[("account", "P1")] == {
        "tier": "Reg\ristered",
        "score": "0.00",
        "period_earnings": None,
        "tier_benefits": None,
    }
    assert [r["id"] for r in rows(tmp_path / "out" / "deals.csv")] == ["D1"]  # no row made of its end
    fresh.begin_run()
    assert all(outcome.ok for outcome in fresh.write(writes))
    assert rows(tmp_path / "out" / "changes.csv") == []  # the same values: nothing changed


HEADER_NAMES = st.sampled_from(["id", "cosell_tier", "cosell_score", "owner", "", " id ", "'cosell_score"])
OUTPUT_CELLS = st.sampled_from(["", "P1", "P2", "'P1", "Gold", "'=1", "-2", "a,b", "x\ny"])


@given(
    header=st.lists(HEADER_NAMES, min_size=1, max_size=5, unique=True) | st.lists(HEADER_NAMES, max_size=5),
    body=st.lists(st.lists(OUTPUT_CELLS, max_size=6), max_size=6),
    bom=st.booleans(),
)
@example(
    header=["id", "cosell_tier"], body=[["'P1", "'=1"], ["P2", ""], ["", ""], ["P3", "Gold", ""]], bom=True
)
@example(header=["id", "cosell_tier"], body=[["P2", ""], ["P2", "Gold"]], bom=False)
def test_an_output_file_reads_back_as_its_cells_say_whatever_its_columns_and_rows(
    header: list[str], body: list[list[str]], bom: bool
) -> None:
    """Each record's managed values: its row's cells (as written before made spreadsheet-safe), a
    missing or empty cell None. A file a rewrite would lose something of is refused: a column named
    twice, a cell under a column with no name or past the header's last, a row with cells but no id, a
    record on two rows. The same whatever the file's columns, marks, blank or ragged rows, and with or
    without the byte-order mark a spreadsheet may add."""
    import tempfile

    ours = {"id", "cosell_tier", "cosell_score", "cosell_period_earnings", "cosell_tier_benefits"}
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerows([header, *body])
        (out / "accounts.csv").write_text(text.getvalue(), encoding="utf-8-sig" if bom else "utf-8")
        written = [row for row in [header, *body] if any(row)]  # the header: the first row with a cell
        keys = [("account", record_id) for record_id in ("P1", "P2", "'P1", "Gold", "nobody")]
        if not written:
            assert FilesConnector(output=out).current_values(keys) == {}
            return
        names = []
        for cell in written[0]:
            name = from_spreadsheet_cell(cell.strip())
            names.append(name if name in ours else cell)
        if "id" not in names:
            with pytest.raises(ConfigError, match="no id column"):
                FilesConnector(output=out).current_values([("account", "P1")])
            return
        refused = len({n for n in names if n}) != len([n for n in names if n])
        expected: dict[tuple[str, str], dict[str, str | None]] = {}
        for row in written[1:]:
            cells = [
                from_spreadsheet_cell(c) if i < len(names) and names[i] in ours else c
                for i, c in enumerate(row)
            ]
            record_id = cells[names.index("id")] if names.index("id") < len(cells) else ""
            refused = refused or (
                any(row[len(names) :])
                or any(c for n, c in zip(names, row, strict=False) if not n)
                or not record_id
                or ("account", record_id) in expected
            )
            values = {n: c for n, c in zip(names, cells, strict=False) if n}
            expected[("account", record_id)] = {
                field: values.get(f"cosell_{field}") or None
                for field in ("tier", "score", "period_earnings", "tier_benefits")
            }
        if refused:
            with pytest.raises(ConfigError, match=r"rewriting the file would lose it|named twice"):
                FilesConnector(output=out).current_values(keys)
        else:
            assert FilesConnector(output=out).current_values(keys) == {
                key: expected[key] for key in keys if key in expected
            }
