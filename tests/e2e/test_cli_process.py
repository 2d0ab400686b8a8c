"""The `cosell` command as a process: a run ends its process without freeing its objects one by one,
and still leaves everything it prints, logs and stores complete, with the exit code it reports."""

import json
import sqlite3
import subprocess
import sys
import textwrap

import pytest

CHILD = textwrap.dedent(
    """
    import atexit
    import sys
    from cosell import cli
    from cosell.hookspecs import hookimpl

    class FailsAtTheEnd:
        @hookimpl
        def cosell_run_finished(self, context, report):
            raise RuntimeError("the webhook is down")

    real = cli._plugins
    failing = "--fail-at-the-end" in sys.argv

    def plugins():
        found = real()
        if failing:
            found.register(FailsAtTheEnd(), "fails-at-the-end")
        return found

    cli._plugins = plugins
    atexit.register(lambda: print("interpreter shut down", file=sys.stderr))
    sys.argv = ["cosell", *[a for a in sys.argv[1:] if a != "--fail-at-the-end"]]
    cli.main()
    """
)


def cosell_process(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CHILD, *args], capture_output=True, text=True, check=False, timeout=120
    )


RUN = ("run", "--program", "program.yaml", "--input", "data", "--output", "out")


def test_a_run_as_a_process_prints_stores_and_writes_everything_before_it_ends(work):
    done = cosell_process(*RUN, "--json")
    assert done.returncode == 0, done.stderr
    assert "interpreter shut down" not in done.stderr  # ended at once, nothing freed one by one
    report = json.loads(done.stdout)
    assert report["period"] == "2026-Q3" and len(report["partners"]) == 6
    with sqlite3.connect(work / "cosell.db") as db:
        assert db.execute("select status from cosell_runs").fetchall() == [("done",)]
        assert db.execute("select count(*) from cosell_outbox where status = 'pending'").fetchone() == (0,)
    assert (work / "out" / "deals.csv").read_text().startswith("id,")


def test_a_run_that_finishes_with_failures_exits_3_with_its_log_written(work):
    done = cosell_process(*RUN, "--fail-at-the-end")
    assert done.returncode == 3, done.stderr
    assert "the webhook is down" in done.stdout + done.stderr
    assert "RuntimeError: the webhook is down" in (work / "cosell.log").read_text()


def test_with_json_a_run_finished_hooks_failure_is_listed_with_the_failures(work):
    done = cosell_process(*RUN, "--json", "--fail-at-the-end")
    assert done.returncode == 3, done.stderr
    report = json.loads(done.stdout)  # one JSON document
    assert report["period"] == "2026-Q3"
    assert any("the webhook is down" in failure for failure in report["failures"])


def test_a_refused_run_as_a_process_exits_2_naming_the_problem(work):
    (work / "out").write_text("not a folder\n")
    done = cosell_process(*RUN)
    assert done.returncode == 2
    assert "out" in done.stdout + done.stderr


def test_a_command_that_runs_nothing_ends_its_process_the_usual_way(work):
    done = cosell_process("validate", "program.yaml")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok: program.yaml")
    assert "interpreter shut down" in done.stderr


@pytest.mark.parametrize(
    "command",
    [("audit", "--from", "2026-Q3", "--to", "2026-Q3"), ("runs", "show", "1")],
    ids=["audit", "runs-show"],
)
def test_output_whose_reader_went_away_ends_quietly(work, command):
    # `cosell audit | head -1`: the reader closes the pipe; that is no bug to report
    assert cosell_process(*RUN).returncode == 0
    proc = subprocess.Popen(
        [sys.executable, "-c", "from cosell.cli import main; main()", *command],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    proc.stdout.close()  # gone before anything is written
    _, errors = proc.communicate(timeout=60)
    assert proc.returncode == 0, errors
    assert "internal error" not in errors and "Traceback" not in errors and not (work / "cosell.log").exists()
