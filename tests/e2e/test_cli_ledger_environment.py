"""A broken or shared ledger gets a clear answer (exit 2, 4 or 5), and a refused run writes nothing."""

import gc
import json
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from invoke import cosell
from ledgers import execute

RUN = ("run", "--program", "program.yaml", "--input", "data", "--output", "out")


def tables(url: str) -> set[str]:
    engine = sa.create_engine(make_url(url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return set(sa.inspect(conn).get_table_names())
    finally:
        engine.dispose()


def with_options(url: str, *options: str) -> str:
    parsed = make_url(url)
    current = parsed.query.get("options", "")
    joined = " ".join([current, *options]).strip() if isinstance(current, str) else " ".join(options)
    return parsed.update_query_dict({"options": joined}).render_as_string(hide_password=False)


# --- nothing written ---------------------------------------------------------------------------------


def test_a_files_run_with_a_bad_csv_leaves_no_ledger_no_lock_file_and_no_output_folder(work):
    deals = work / "data" / "deals.csv"
    deals.write_text(deals.read_text().replace("D1001,Northwind - Data platform,180000", "D1001,x,18O000"))
    result = cosell(*RUN)
    assert result.exit_code == 2, result.output
    assert sorted(p.name for p in work.iterdir()) == ["data", "program.yaml"]


@pytest.mark.parametrize("url", ["sqlite:///", "sqlite:///?mode=ro"])
def test_a_sqlite_url_naming_no_file_is_refused_rather_than_kept_in_memory(work, url):
    # `sqlite:///$LEDGER_DIR/...` with the variable unset: the run would keep no ledger at all
    result = cosell(*RUN, "--ledger", url)
    assert result.exit_code == 2 and "names no ledger file" in result.output
    assert not (work / "out").exists()
    assert cosell(*RUN, "--ledger", "sqlite://", "--dry-run").exit_code == 0  # in memory, said on purpose


def test_a_dry_run_on_a_new_ledger_creates_no_file(work):
    assert cosell(*RUN, "--dry-run").exit_code == 0
    assert not (work / "cosell.db").exists()
    assert not list(work.glob("cosell.db*"))


def test_statement_and_close_on_a_missing_ledger_say_there_is_none_and_create_nothing(work):
    for args in (("statement", "--period", "2026-Q3"), ("close", "--period", "2026-Q3")):
        result = cosell(*args)
        assert result.exit_code == 2, result.output
        assert "there is no ledger at sqlite:///" in result.output and "cosell run" in result.output
    assert not list(work.glob("cosell.db*"))


@pytest.mark.postgres
def test_statement_never_creates_the_schema_on_postgresql(work, postgres_url):
    result = cosell("statement", "--period", "2026-Q3", "--ledger", postgres_url)
    assert result.exit_code == 2 and "there is no ledger" in result.output
    assert tables(postgres_url) == set()


# --- broken ledgers ----------------------------------------------------------------------------------


def test_a_read_only_ledger_file_is_refused_before_computing(work, monkeypatch):
    assert cosell(*RUN).exit_code == 0
    (work / "cosell.db").chmod(0o444)
    computed = []
    monkeypatch.setattr("cosell.engine.compute", lambda *a, **k: computed.append(1))
    result = cosell(*RUN)
    assert result.exit_code == 2, result.output
    assert "is read-only" in result.output and "cosell.db" in result.output
    assert computed == []


def test_a_damaged_ledger_file_exits_2_saying_so(work):
    assert cosell(*RUN).exit_code == 0
    assert cosell("statement", "--period", "2026-Q3").exit_code == 0
    db = work / "cosell.db"
    data = bytearray(db.read_bytes())
    half = len(data) // 2 // 4096 * 4096
    data[half:] = b"\xa5" * (len(data) - half)  # the schema opens, the stored rows are garbage
    db.write_bytes(bytes(data))
    for suffix in ("-wal", "-shm"):
        (work / f"cosell.db{suffix}").unlink(missing_ok=True)
    result = cosell("statement", "--period", "2026-Q3")
    assert result.exit_code == 2, result.output
    assert "is damaged" in result.output and "backup" in result.output


def test_a_schema_version_that_is_not_a_number_exits_2(work):
    assert cosell(*RUN).exit_code == 0
    execute("sqlite:///cosell.db", "UPDATE cosell_schema SET version = 'two'")
    result = cosell("statement", "--period", "2026-Q3")
    assert result.exit_code == 2, result.output
    assert "schema version 'two'" in result.output and "not a number" in result.output


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_foreign_cosell_lines_table_is_refused_and_left_alone(work, backend, request):
    url = "sqlite:///cosell.db" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    execute(url, "CREATE TABLE cosell_lines (customer TEXT, note TEXT)")
    result = cosell(*RUN, "--ledger", url)
    assert result.exit_code == 2, result.output
    assert "tables cosell did not create (cosell_lines)" in result.output
    assert tables(url) == {"cosell_lines"}


@pytest.mark.postgres
def test_a_search_path_schema_that_does_not_exist_exits_2_saying_how_to_create_it(work, postgres_url):
    url = with_options(postgres_url, "-csearch_path=cosell_not_created_yet")
    result = cosell(*RUN, "--ledger", url)
    assert result.exit_code == 2, result.output
    assert "cosell_not_created_yet" in result.output and "CREATE SCHEMA" in result.output


@pytest.mark.postgres
def test_a_read_only_postgresql_server_is_refused_before_computing(work, postgres_url):
    assert cosell(*RUN, "--ledger", postgres_url).exit_code == 0
    standby = with_options(postgres_url, "-cdefault_transaction_read_only=on")
    result = cosell(*RUN, "--ledger", standby)
    assert result.exit_code == 2, result.output
    assert "read-only" in result.output and "primary" in result.output
    assert cosell("statement", "--period", "2026-Q3", "--ledger", standby).exit_code == 0


def test_a_symlink_to_the_ledger_takes_the_same_period_lock(work):
    from cosell.errors import LockHeldError
    from cosell.ledger import Ledger

    Ledger.connect(f"sqlite:///{work / 'cosell.db'}").close()
    (work / "alias.db").symlink_to(work / "cosell.db")
    with (
        Ledger.connect(f"sqlite:///{work / 'cosell.db'}") as first,
        Ledger.connect(f"sqlite:///{work / 'alias.db'}") as second,
        first.hold_period("2026-Q3"),
        pytest.raises(LockHeldError),
        second.hold_period("2026-Q3", wait_seconds=0.2),
    ):
        pass


# --- overlapping runs of different periods ----------------------------------------------------------

# The child is the real `cosell` command with one more plugin, which stops the run once it has read the
# ledger's history (cosell_run_started is called at the start of compute) until the file `go` exists.
PAUSED_CHILD = """
import sys, time
from pathlib import Path

import cosell.cli as cli
from cosell import hookimpl


class PauseAfterHistory:
    @hookimpl
    def cosell_run_started(self, context):
        Path("paused").write_text("")
        deadline = time.monotonic() + 60
        while not Path("go").exists() and time.monotonic() < deadline:
            time.sleep(0.05)


real = cli._plugins


def plugins():
    found = real()
    found.register(PauseAfterHistory(), "pause")
    return found


cli._plugins = plugins
sys.argv = ["cosell", *sys.argv[1:]]
cli.main()
"""


def cosell_process(*args: str, paused: bool = False) -> subprocess.Popen[str]:
    code = PAUSED_CHILD if paused else "from cosell.cli import main; main()"
    return subprocess.Popen(
        [sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def finished(proc: subprocess.Popen[str]) -> tuple[int, str]:
    output, _ = proc.communicate(timeout=120)
    return proc.returncode, output


def statements(url: str) -> list[str]:
    return [cosell("statement", "--period", p, "--ledger", url).output for p in ("2026-Q3", "2026-Q4")]


def revise_q3(work: Path) -> None:
    deals = work / "data" / "deals.csv"
    deals.write_text(
        deals.read_text().replace("D2001,Contoso - ERP rollout,320000", "D2001,Contoso - ERP rollout,90000")
    )


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_run_that_read_history_another_run_changed_since_stores_nothing_and_exits_5(work, backend, request):
    url = (
        f"sqlite:///{work / 'cosell.db'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    )
    ledger = ("--ledger", url)
    shutil.copytree(work / "data", work / "original")
    assert cosell(*RUN, *ledger).exit_code == 0  # the first run of 2026-Q3
    q4 = cosell_process(*RUN, *ledger, "--period", "2026-Q4", paused=True)
    deadline = time.monotonic() + 60
    while not (work / "paused").exists():
        assert q4.poll() is None, finished(q4)[1]
        assert time.monotonic() < deadline, "the 2026-Q4 run never reached compute"
        time.sleep(0.05)
    revise_q3(work)
    code, output = finished(cosell_process(*RUN, *ledger))  # the 2026-Q3 rerun stores meanwhile
    assert code == 0, output
    (work / "go").write_text("")
    code, output = finished(q4)
    assert code == 5, output
    assert "the ledger changed while this run of 2026-Q4 computed" in output and "nothing stored" in output
    assert cosell("statement", "--period", "2026-Q4", *ledger).exit_code == 2  # no run of 2026-Q4 stored

    code, output = finished(cosell_process(*RUN, *ledger, "--period", "2026-Q4"))
    assert code == 0, output
    # Exactly what running them one after the other gives.
    serial = f"sqlite:///{work / 'serial.db'}"
    steps = [
        ("--input", "original", "--output", "serial-out"),
        ("--input", "data", "--output", "serial-out"),
        ("--input", "data", "--output", "serial-out", "--period", "2026-Q4"),
    ]
    for step in steps:
        result = cosell("run", "--program", "program.yaml", "--ledger", serial, *step)
        assert result.exit_code == 0, result.output
    assert statements(url) == statements(serial)


# The child is the real `cosell` command, stopped once it has stored its run and read the writes it
# is to send, before the output folder takes them, until the file `go` exists.
PAUSED_WRITE_CHILD = """
import sys, time
from pathlib import Path

import cosell.cli as cli
from cosell.connectors.files.writer import FilesConnector

real = FilesConnector.write


def paused(self, writes):
    Path("paused").write_text("")
    deadline = time.monotonic() + 60
    while not Path("go").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return real(self, writes)


FilesConnector.write = paused
sys.argv = ["cosell", *sys.argv[1:]]
cli.main()
"""


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_runs_of_two_periods_write_back_to_one_output_folder_one_after_the_other(work, backend, request):
    # 2026-Q3 stores its run and is about to send; 2026-Q4 starts meanwhile. Q4 must not plan against
    # values Q3 is about to overwrite, nor Q3 send after Q4: the folder ends as running them in turn.
    url = (
        f"sqlite:///{work / 'cosell.db'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    )
    ledger = ("--ledger", url)
    q3 = subprocess.Popen(
        [sys.executable, "-c", PAUSED_WRITE_CHILD, *RUN, *ledger],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not (work / "paused").exists():
        assert q3.poll() is None, finished(q3)[1]
        assert time.monotonic() < deadline, "the 2026-Q3 run never stored"
        time.sleep(0.05)
    q4 = cosell_process(*RUN, *ledger, "--period", "2026-Q4")
    waited = time.monotonic() + 3
    while q4.poll() is None and time.monotonic() < waited:
        time.sleep(0.05)
    (work / "go").write_text("")
    for proc in (q3, q4):
        code, output = finished(proc)
        assert code == 0, output
    serial = f"sqlite:///{work / 'serial.db'}"
    for period in ("2026-Q3", "2026-Q4"):
        result = cosell(
            "run", "--program", "program.yaml", "--input", "data", "--output", "serial-out",
            "--ledger", serial, "--period", period,
        )  # fmt: skip
        assert result.exit_code == 0, result.output
    for name in ("accounts.csv", "deals.csv"):
        assert (work / "out" / name).read_text() == (work / "serial-out" / name).read_text(), name
    again = cosell(*RUN, *ledger, "--period", "2026-Q4", "--dry-run", "--json")
    assert again.exit_code == 0 and json.loads(again.output)["changes"] == []  # the folder holds the plan


def test_the_next_run_marks_a_killed_run_interrupted(work):
    from cosell.ledger import Ledger
    from cosell.periods import Period

    with Ledger.connect(f"sqlite:///{work / 'cosell.db'}") as ledger:
        killed = ledger.record_run(
            period=Period.parse("2026-Q3"),
            program="Global Partner Program",
            connector="files",
            target="files:elsewhere",
            lines=[],
            standings=[],
            projections=[],
            writes=[],
        )  # recorded, then the process was killed before it finished
    assert cosell(*RUN).exit_code == 0
    with Ledger.connect(f"sqlite:///{work / 'cosell.db'}") as ledger:
        assert ledger.run(killed)["status"] == "interrupted"
        assert ledger.run(killed + 1)["status"] == "done"


# --- connections closed ------------------------------------------------------------------------------


def test_explain_leaves_no_ledger_connection_open(work, ledger_url):
    # the mdf plugin's statement section reads the earlier periods' lines as explain prints the partner
    assert cosell(*RUN, "--period", "2026-Q3", "--ledger", ledger_url).exit_code == 0
    explain = ("explain", "P003", "--program", "program.yaml", "--input", "data", "--period", "2026-Q4")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        result = cosell(*explain, "--ledger", ledger_url)
        gc.collect()  # a connection left open warns as it is collected
    assert result.exit_code == 0, result.output
    assert "Fabrikam Resellers (P003)" in result.output
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []
