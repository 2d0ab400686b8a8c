"""Every table a command prints on the terminal keeps its figures whole in a narrow terminal (amounts,
scores, dates, periods, ids): the text around them wraps, and a table whose figures need more than the
terminal is printed wider, never cut ("+8,453.…" is no amount). Rich takes the width from ``COLUMNS``."""

import json
import re

import pytest

from cosell import cli_shared
from invoke import cosell

NARROW = (40, 50, 60)


@pytest.fixture(autouse=True)
def _width_from_columns(monkeypatch):
    """The consoles read ``COLUMNS`` as they print, as in a process started with it: cosell's consoles
    are made at import, and pytest-xdist's workers import with ``COLUMNS=80``, which a console keeps."""
    for console in (cli_shared.out, cli_shared.err):
        monkeypatch.setattr(console, "_width", None)


def run(*extra):
    result = cosell("run", "--program", "program.yaml", "--input", "data", "--output", "out", *extra)
    assert result.exit_code == 0, result.output
    return result.output


def whole(output, *figures):
    for figure in figures:
        assert figure in output, figure
    assert not re.search(r"\S…", output), output  # "… and 3 more" says more; "20236.…" is cut


@pytest.mark.parametrize("width", NARROW)
def test_the_runs_partner_table_shows_every_score_and_earnings_whole(work, monkeypatch, width):
    partners = json.loads(run("--json"))["partners"]
    monkeypatch.setenv("COLUMNS", str(width))
    shown = run()
    whole(shown, *(p["earnings"] for p in partners), *(p["score"] for p in partners))


@pytest.mark.parametrize("width", NARROW)
def test_a_dry_runs_planned_changes_show_every_field_and_value_whole(work, monkeypatch, width):
    planned = json.loads(run("--dry-run", "--json"))["changes"]
    monkeypatch.setenv("COLUMNS", str(width))
    summary = run("--dry-run")
    every = run("--dry-run", "--show-changes")
    fields = {field for change in planned for field in change["values"]}
    whole(summary, *fields)
    earnings = [c["values"][f] for c in planned for f in c["values"] if f.endswith("period_earnings")]
    assert earnings
    whole(every, *fields, *earnings, *(c["id"] for c in planned))


@pytest.mark.parametrize("width", NARROW)
def test_the_adjustments_list_shows_every_amount_period_and_word_of_the_reason(work, monkeypatch, width):
    run()
    for amount, period in (("8453.12", "2026-Q4"), ("-1234567.89", "2027-Q1")):
        made = cosell("adjust", "propose", "--partner", "P002", "--amount", amount, "--period", period,
                      "--reason", "booth at the joint summit", "--by", "ann")  # fmt: skip
        assert made.exit_code == 0, made.output
    monkeypatch.setenv("COLUMNS", str(width))
    listed = cosell("adjust", "list").output
    whole(listed, "8453.12", "-1234567.89", "2026-Q4", "2027-Q1", "pending", "Reason", "summit", "ann")


@pytest.mark.parametrize("width", NARROW)
def test_the_runs_and_tier_exceptions_lists_show_every_date_and_period_whole(work, monkeypatch, width):
    run()
    made = cosell("tier-override", "--partner", "P005", "--tier", "Gold", "--until", "2027-Q2",
                  "--reason", "launch partner for the new region", "--by", "ann")  # fmt: skip
    assert made.exit_code == 0, made.output
    runs = json.loads(cosell("runs", "--format", "json").output)
    monkeypatch.setenv("COLUMNS", str(width))
    listed = cosell("runs").output
    whole(listed, *(r["started_at"].replace("T", " ")[:16] for r in runs), "2026-Q3", "Status")
    exceptions = cosell("tier-override", "list").output
    whole(exceptions, "2027-Q2", "P005", "pending", "Reason", "region", "ann")


@pytest.mark.parametrize("width", NARROW)
def test_the_plugins_list_shows_every_name_and_version_whole(work, monkeypatch, width):
    described = json.loads(cosell("plugins", "--json").output)
    monkeypatch.setenv("COLUMNS", str(width))
    listed = cosell("plugins").output
    whole(listed, *(p["version"] for p in described if p["version"]), "Version")


@pytest.mark.parametrize("width", (*NARROW, 80))
def test_the_adjustments_and_tier_exceptions_lists_titles_wrap_between_words_never_inside_one(
    work, monkeypatch, width
):
    run()
    made = cosell("adjust", "propose", "--partner", "P002", "--amount", "8453.12", "--period", "2026-Q4",
                  "--reason", "booth at the joint summit", "--by", "ann")  # fmt: skip
    assert made.exit_code == 0, made.output
    made = cosell("tier-override", "--partner", "P005", "--tier", "Gold", "--until", "2027-Q2",
                  "--reason", "launch partner for the new region", "--by", "ann")  # fmt: skip
    assert made.exit_code == 0, made.output
    monkeypatch.setenv("COLUMNS", str(width))
    for listed in (cosell("adjust", "list").output, cosell("tier-override", "list").output):
        titles = listed.split("┏", 1)[1].split("┡", 1)[0]  # the titles' box, above the first row
        assert set(re.findall(r"\w+", titles)) <= TITLE_WORDS, titles
        assert {"Reason", "Proposed", "Decided"} <= set(re.findall(r"\w+", titles)), titles


TITLE_WORDS = {"Id", "Partner", "Amount", "State", "Period", "Reason", "Proposed", "Decided", "Paid", "by",
               "in", "Tier", "Until", "In", "force"}  # fmt: skip
