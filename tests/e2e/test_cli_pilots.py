"""Pilots from the command line: each arm paid exactly as a plain run of its program, arms kept across
periods, and the pilot report on generated pilots."""

import json
import re
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from cosell.ledger import Ledger
from cosell.pilot_report import shown
from invoke import cosell
from pilot_data import QUARTERS, in_test_arm, pilot, programs, records


def run(program, data, url, out, period, *extra):
    result = cosell(
        "run",
        "--program",
        program,
        "--input",
        data,
        "--output",
        out,
        "--ledger",
        url,
        "--period",
        period,
        *extra,
    )
    assert result.exit_code == 0, result.output
    return result


def run_json(program, data, url, out, period):
    return json.loads(run(program, data, url, out, period, "--json").output)


def arms_of(report):
    return {row["id"]: row["pilot_arm"] for row in report["partners"]}


def run_quarters(program, data, url, out):
    for quarter in QUARTERS:
        run(program, data, url, out, quarter)


def paid(url, period):
    """Partner id → its lines (kind, deal, amount, explanation) and its tier and score, as the ledger keeps them."""
    with Ledger.connect(url) as ledger:
        lines = {}
        for line in ledger.lines(period):
            lines.setdefault(line.partner_id, []).append(
                (line.kind, line.deal_id, line.amount, line.explanation)
            )
        standings = {s.partner_id: (s.assigned, s.eligible, s.score) for s in ledger.standings(period)}
    return {pid: (sorted(lines.get(pid, []), key=repr), standing) for pid, standing in standings.items()}


@pytest.fixture
def three_ledgers(tmp_path, ledger_url):
    """The generated pilot run three ways over three quarters: with the pilot, the base alone, the
    variant alone. The PostgreSQL fixture gives one schema: the plain runs use SQLite files."""
    program, data = pilot(tmp_path / "pilot", lift=True)
    plain = programs(tmp_path / "plain", pilot=False)
    urls = {
        "pilot": ledger_url,
        "base": f"sqlite:///{tmp_path / 'base.db'}",
        "variant": f"sqlite:///{tmp_path / 'variant.db'}",
    }
    run_quarters(program, data, urls["pilot"], tmp_path / "out-pilot")
    run_quarters(plain, data, urls["base"], tmp_path / "out-base")
    run_quarters(plain.parent / "variant.yaml", data, urls["variant"], tmp_path / "out-variant")
    return urls


def test_a_pilot_pays_each_partner_what_a_plain_run_of_its_arms_program_pays(three_ledgers):
    tested = control = 0
    for quarter in QUARTERS:
        with_pilot = paid(three_ledgers["pilot"], quarter)
        base = paid(three_ledgers["base"], quarter)
        variant = paid(three_ledgers["variant"], quarter)
        assert with_pilot.keys() == base.keys() == variant.keys()
        assert base != variant  # the variant's rules do pay differently
        for pid, result in with_pilot.items():
            if in_test_arm(pid):
                tested += 1
                assert result == variant[pid], pid
            else:
                control += 1
                assert result == base[pid], pid
    assert tested > 20 and control > 20


def test_arms_stay_the_same_across_periods_and_show_in_the_crm_note(tmp_path):
    program, data = pilot(tmp_path, lift=False, partners=30)
    url, out = f"sqlite:///{tmp_path / 'l.db'}", tmp_path / "out"
    arms = arms_of(run_json(program, data, url, out, "2026-Q1"))
    assert {pid for pid, arm in arms.items() if arm == "test"} == {pid for pid in arms if in_test_arm(pid)}
    # A new cohort definition (by region): every partner gets the arm it gives, and the run says who moved.
    text = program.read_text().replace(
        'cohort: {share: "0.5", seed: 7}', "cohort: {attribute: region, values: [EMEA]}"
    )
    program.write_text(text)
    report = run_json(program, data, url, out, "2026-Q2")
    regions = {row[0]: row[6] for row in _rows(data / "partners.csv")}
    now = arms_of(report)
    assert now == {pid: "test" if regions[pid] == "EMEA" else "control" for pid in regions}
    changed = sorted(pid for pid in arms if arms[pid] != now[pid])
    moved = [n for n in report["notes"] if "cohort definition changed" in n]
    assert changed and moved and all(f"{pid} (" in moved[0] for pid in changed)
    # The same definition, the regions swapped in the CRM: nobody moves in Q3.
    _write_rows(
        data / "partners.csv",
        [[*r[:6], "NA" if r[6] == "EMEA" else "EMEA"] for r in _rows(data / "partners.csv")],
    )
    report = run_json(program, data, url, out, "2026-Q3")
    assert arms_of(report) == now
    assert not [n for n in report["notes"] if "cohort definition changed" in n]
    deals = (out / "deals.csv").read_text()
    assert "(pilot richer-silver: test arm)" in deals and "(pilot richer-silver: control arm)" in deals


def _rows(path):
    import csv

    with path.open(newline="") as fh:
        return list(csv.reader(fh))[1:]


def _write_rows(path, rows):
    import csv

    header = path.read_text().splitlines()[0].split(",")
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


def test_explain_and_the_statement_name_the_arm(tmp_path):
    program, data = pilot(tmp_path, lift=False, partners=12)
    url = f"sqlite:///{tmp_path / 'l.db'}"
    run_quarters(program, data, url, tmp_path / "out")
    tested = next(f"P{n:03d}" for n in range(1, 13) if in_test_arm(f"P{n:03d}"))
    explained = cosell(
        "explain", tested, "--program", program, "--input", data, "--ledger", url, "--period", "2026-Q3"
    )
    assert explained.exit_code == 0, explained.output
    assert "pilot richer-silver: test arm" in explained.output
    statement = cosell(
        "statement", "--period", "2026-Q2", "--partner", "P001", "--format", "terminal", "--ledger", url
    )
    arm = "test" if in_test_arm("P001") else "control"
    assert f"pilot richer-silver: {arm} arm" in statement.output
    # Each partner's statement names the per-partner cap of the program that computed it.
    for pid in ("P001", "P002", "P003", "P004"):
        shown = cosell(
            "statement", "--period", "2026-Q1", "--partner", pid, "--format", "terminal", "--ledger", url
        )
        cap = "40,000.00" if in_test_arm(pid) else "25,000.00"
        assert f"per-partner cap of {cap}" in shown.output or "capped from" in shown.output, pid


def test_a_program_budget_is_shared_by_both_arms_and_the_run_says_so(tmp_path):
    program, data = pilot(tmp_path, lift=True, partners=20)
    program.write_text(
        program.read_text().replace(
            "caps: {per_partner: 25000}", "caps: {per_partner: 25000, program_budget: 100000}"
        )
    )
    url = f"sqlite:///{tmp_path / 'l.db'}"
    report = run_json(program, data, url, tmp_path / "out", "2026-Q1")
    assert any("the program budget of 100,000.00 USD is shared by both arms" in n for n in report["notes"])
    paid = sum(Decimal(row["earnings"]) for row in report["partners"])
    assert paid <= Decimal(100000)
    with Ledger.connect(url) as ledger:
        scaled = {line.partner_id for line in ledger.lines("2026-Q1") if line.kind == "budget"}
    assert any(in_test_arm(pid) for pid in scaled) and any(not in_test_arm(pid) for pid in scaled)


def test_a_variant_of_another_currency_is_refused_naming_its_line(tmp_path):
    program = programs(tmp_path)
    variant = tmp_path / "variant.yaml"
    variant.write_text(variant.read_text().replace("currency: USD", "currency: EUR"))
    records(tmp_path, lift=False, partners=3)
    result = cosell(
        "run",
        "--program",
        program,
        "--input",
        tmp_path / "data",
        "--ledger",
        f"sqlite:///{tmp_path / 'l.db'}",
    )
    assert result.exit_code != 0
    assert f"{variant}:3: currency: EUR here, USD in {program}" in result.output
    assert not (tmp_path / "l.db").exists()


def test_a_missing_variant_file_is_refused_naming_the_pilot_line(tmp_path):
    program = programs(tmp_path)
    (tmp_path / "variant.yaml").unlink()
    shutil.rmtree(tmp_path / "data", ignore_errors=True)
    result = cosell(
        "run", "--program", program, "--input", tmp_path, "--ledger", f"sqlite:///{tmp_path / 'l.db'}"
    )
    assert result.exit_code != 0
    line = program.read_text().splitlines().index("  variant: variant.yaml") + 1
    assert f"{program}:{line}: pilot.variant: no program file at" in result.output


def pilot_report(tmp_path, *, lift):
    program, data = pilot(tmp_path, lift=lift)
    url = f"sqlite:///{tmp_path / 'l.db'}"
    run_quarters(program, data, url, tmp_path / "out")
    result = cosell("pilot", "report", "--ledger", url, "--format", "json")
    assert result.exit_code == 0, result.output
    return url, json.loads(result.output)


def difference(comparison, metric):
    return next(d for d in comparison["differences"] if d["metric"] == metric)


def test_the_report_finds_the_lift_of_a_variant_that_lifts_pipeline(tmp_path):
    url, report = pilot_report(tmp_path, lift=True)
    (only,) = report["pilots"]
    assert only["name"] == "richer-silver" and only["variant"].endswith("variant.yaml")
    assert [p["period"] for p in only["periods"]] == list(QUARTERS)
    for comparison in [*only["periods"], only["all_periods"]]:
        lift = difference(comparison, "sourced_pipeline_per_partner")
        low, high = (Decimal(x) for x in lift["interval"])
        assert 0 < low <= Decimal(lift["difference"]) <= high, comparison["period"]
        assert lift["conclusion"] == "test higher"
        assert set(comparison["arms"]) == {"test", "control"}
        assert comparison["arms"]["test"]["partners"] == lift["n_test"] > 10
    again = cosell("pilot", "report", "--ledger", url, "--format", "json", "--name", "richer-silver")
    assert json.loads(again.output) == report  # a fixed seed: the same ledger gives the same report
    table = cosell("pilot", "report", "--ledger", url)
    assert "In the test arm: sourced pipeline per partner higher by" in table.output


def test_the_report_table_shows_every_difference_and_interval_whole_in_80_columns(tmp_path):
    # 80 columns: what rich gives a command whose output is not a terminal (a pipe, a file, a CI log)
    url, report = pilot_report(tmp_path, lift=True)
    table = cosell("pilot", "report", "--ledger", url)
    assert table.exit_code == 0, table.output
    rows = [line for line in table.output.splitlines() if line[:1] in "┏┃┡│└"]
    assert rows and max(len(line) for line in rows) <= 80
    (only,) = report["pilots"]
    for comparison in [*only["periods"], only["all_periods"]]:
        for d in comparison["differences"]:
            for figure in (d["difference"], *d["interval"]):
                places = len(figure.partition(".")[2])
                assert shown(Decimal(figure), places, sign=True) in table.output, (d["metric"], figure)
    assert "…" not in table.output


def test_the_report_finds_no_lift_where_the_variant_lifts_nothing(tmp_path):
    _, report = pilot_report(tmp_path, lift=False)
    overall = report["pilots"][0]["all_periods"]
    low, high = (Decimal(x) for x in difference(overall, "sourced_pipeline_per_partner")["interval"])
    assert low < 0 < high
    assert difference(overall, "sourced_pipeline_per_partner")["conclusion"] == "includes 0: no conclusion"
    # The variant pays a richer rate for the same pipeline: each dollar won costs more, and the report says so.
    assert difference(overall, "cost_per_won_revenue")["conclusion"] == "test higher"


def test_the_report_says_when_the_sample_is_too_small(tmp_path, ledger_url):
    program, data = pilot(tmp_path, lift=True, partners=12)
    url = ledger_url
    run(program, data, url, tmp_path / "out", "2026-Q1")
    result = cosell("pilot", "report", "--ledger", url, "--format", "json")
    (comparison,) = json.loads(result.output)["pilots"][0]["periods"]
    assert comparison["verdict"].startswith("The sample is too small to conclude:")
    assert {d["conclusion"] for d in comparison["differences"]} <= {
        "sample too small to conclude",
        "not measurable",
    }
    page = cosell("pilot", "report", "--ledger", url, "--format", "html").output
    assert page.startswith("<!doctype html>") and "too small to conclude" in page
    unwritable = tmp_path / "no-such-folder" / "pilot.html"
    refused = cosell("pilot", "report", "--ledger", url, "--format", "html", "-o", unwritable)
    assert refused.exit_code == 2 and f"cannot write {unwritable}" in refused.output


def test_the_report_of_a_ledger_without_pilot_says_so(tmp_path):
    program = programs(tmp_path, pilot=False)
    data = records(tmp_path, lift=False, partners=3)
    url = f"sqlite:///{tmp_path / 'l.db'}"
    run(program, data, url, tmp_path / "out", "2026-Q1")
    result = cosell("pilot", "report", "--ledger", url)
    assert result.exit_code == 2 and "the ledger holds no pilot yet" in result.output
    missing = cosell("pilot", "report", "--ledger", f"sqlite:///{tmp_path / 'none.db'}")
    assert missing.exit_code == 2 and "there is no ledger" in missing.output
    assert not (tmp_path / "none.db").exists()


def test_the_pilots_page_shows_what_the_report_prints_on_the_generated_pilot(tmp_path):
    """docs/pilots.md's all-periods table is the report of `python tests/pilot_data.py pilot` run for
    the three quarters: every figure of it, row by row."""
    page = (Path(__file__).resolve().parents[2] / "docs" / "pilots.md").read_text(encoding="utf-8")
    rows = [
        [cell.strip() for cell in line.strip("│").split("│")]
        for line in page[page.index("all periods: 34 test") :].splitlines()[4:11]
    ]
    _, report = pilot_report(tmp_path, lift=True)
    overall = report["pilots"][0]["all_periods"]
    assert overall["arms"]["test"]["partners"] == 34 and overall["arms"]["control"]["partners"] == 26
    for row, found in zip(rows, overall["differences"], strict=True):
        places = len(found["difference"].partition(".")[2])
        shown = [
            f"{Decimal(overall['arms'][arm][found['metric']]):,.{places}f}" for arm in ("test", "control")
        ]
        low, high = (f"{Decimal(x):+,.{places}f}" for x in found["interval"])
        assert row[1:6] == [
            *shown,
            f"{Decimal(found['difference']):+,.{places}f}",
            f"{low} to {high}",
            found["conclusion"],
        ]


def test_validate_checks_the_variant_with_the_program(tmp_path):
    program = programs(tmp_path)
    variant = tmp_path / "variant.yaml"
    variant.write_text(variant.read_text().replace("win_rate:", "win_ratio:"))
    result = cosell("validate", program)
    assert result.exit_code == 2
    assert f"{variant}:8: scoring.metrics.win_ratio: no plugin provides this metric" in result.output


def test_validate_names_the_pilot_and_the_run_table_the_arms(tmp_path):
    program, data = pilot(tmp_path, lift=False, partners=4)
    assert (
        f"pilot 'richer-silver' with variant {tmp_path / 'variant.yaml'}"
        in cosell("validate", program).output
    )
    table = run(program, data, f"sqlite:///{tmp_path / 'l.db'}", tmp_path / "out", "2026-Q1").output
    for n in range(1, 5):
        arm = "test" if in_test_arm(f"P{n:03d}") else "control"
        assert re.search(rf"P00{n} .*, {arm} arm", table), table


def test_compare_of_a_pilot_program_pays_each_arm_as_its_run_does(tmp_path):
    # Q1 run with the pilot keeps the arms; compare of Q2 (the pilot's program against its base alone)
    # must show for the pilot's program what its Q2 run then stores, test arm by the variant.
    program, data = pilot(tmp_path, lift=True, partners=30)
    plain = programs(tmp_path / "plain", pilot=False)
    url, out = f"sqlite:///{tmp_path / 'l.db'}", tmp_path / "out"
    run(program, data, url, out, "2026-Q1")
    result = cosell(
        "compare", "--program", program, "--program", plain, "--input", data, "--ledger", url,
        "--period", "2026-Q2", "--format", "json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    compared = {p["id"]: p["results"] for p in json.loads(result.output)["partners"]}
    ran = {row["id"]: row for row in run_json(program, data, url, out, "2026-Q2")["partners"]}
    assert {pid: r[0]["earnings"] for pid, r in compared.items()} == {
        pid: row["earnings"] for pid, row in ran.items()
    }
    # The base alone pays the test arm less (Silver at 6 % and a 25,000 cap, against 9 % and 40,000)
    differ = {pid for pid, r in compared.items() if r[0]["earnings"] != r[1]["earnings"]}
    assert differ and all(ran[pid]["pilot_arm"] == "test" for pid in differ)


def test_a_pilot_paused_for_a_period_and_resumed_under_its_name_keeps_its_arms(tmp_path):
    program, data = pilot(tmp_path, lift=False, partners=20)
    text = program.read_text().replace(
        'cohort: {share: "0.5", seed: 7}', "cohort: {attribute: region, values: [EMEA]}"
    )
    program.write_text(text)
    paused = tmp_path / "paused.yaml"
    paused.write_text(text.split("pilot:")[0])
    url, out = f"sqlite:///{tmp_path / 'l.db'}", tmp_path / "out"
    before = arms_of(run_json(program, data, url, out, "2026-Q1"))
    run(paused, data, url, out, "2026-Q2")
    # every region swapped in the CRM meanwhile: the same definition keeps each partner's arm
    _write_rows(
        data / "partners.csv",
        [[*r[:6], "NA" if r[6] == "EMEA" else "EMEA"] for r in _rows(data / "partners.csv")],
    )
    resumed = run_json(program, data, url, out, "2026-Q3")
    assert arms_of(resumed) == before and "test" in before.values() and "control" in before.values()
    assert not [n for n in resumed["notes"] if "cohort definition changed" in n]


def test_the_program_report_describes_each_partner_by_the_rules_of_its_arm(tmp_path):
    program, data = pilot(tmp_path, lift=True, partners=30)

    def with_quota(text, quota):
        return re.sub(r'(commission_rate: "[0-9.]+")\}', rf"\1, quota: {quota}}}", text)

    program.write_text(with_quota(program.read_text(), 100000))
    variant = with_quota((tmp_path / "variant.yaml").read_text(), 400000)
    gold = '  - {name: Gold, min_score: 80, commission_rate: "0.10", quota: 400000}'
    assert gold in variant
    variant = variant.replace(gold, gold + '\n  - {name: Platinum, min_score: 90, commission_rate: "0.12"}')
    (tmp_path / "variant.yaml").write_text(variant)
    url, out = f"sqlite:///{tmp_path / 'l.db'}", tmp_path / "out"
    ran = {row["id"]: row for row in run_json(program, data, url, out, "2026-Q1")["partners"]}
    result = cosell("report", "--period", "2026-Q1", "--format", "json", "--ledger", url)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert [t["name"] for t in report["tiers"]] == ["Registered", "Silver", "Gold", "Platinum"]
    assert sum(t["partners"] for t in report["tiers"]) == len(ran)  # every partner, whatever its arm's tiers
    partners = {p["id"]: p for p in report["partners"]}
    quoted = [pid for pid, row in ran.items() if row["tier"] != "Platinum"]
    for pid in quoted:  # attainment of its own arm's quota
        quota = Decimal(400000 if ran[pid]["pilot_arm"] == "test" else 100000)
        revenue = Decimal(partners[pid]["won_revenue"])
        assert Decimal(partners[pid]["attainment"]) == (revenue / quota).quantize(Decimal("0.0001")), pid
    assert {ran[pid]["pilot_arm"] for pid in quoted} == {"test", "control"}
    assert all(partners[pid]["movement"] != "changed" for pid in ran)


def test_a_run_records_the_pilots_variant_and_a_past_period_is_explained_and_compared_with_it(tmp_path):
    root = Path(__file__).resolve().parents[2] / "examples"
    shutil.copytree(root / "data", tmp_path / "data")
    base = (root / "program.yaml").read_text()
    (tmp_path / "variant.yaml").write_text(base.replace('commission_rate: "0.08"', 'commission_rate: "0.09"'))
    program = tmp_path / "program.yaml"
    pilot_section = "pilot:\n  name: richer-silver\n  variant: variant.yaml\n  cohort: {attribute: region, values: [EMEA]}\n"
    program.write_text(base + pilot_section)
    url, out, data = f"sqlite:///{tmp_path / 'l.db'}", tmp_path / "out", tmp_path / "data"
    run(program, data, url, out, "2026-Q3")
    variant = tmp_path / "variant.yaml"
    variant.write_text(variant.read_text().replace('commission_rate: "0.09"', 'commission_rate: "0.15"'))
    run(program, data, url, out, "2026-Q3")
    diff = cosell("runs", "diff", "1", "2", "--ledger", url).output
    assert "program: unchanged" in diff and "pilot variant: changed" in diff
    assert any(line.startswith("-") and 'commission_rate: "0.09"' in line for line in diff.splitlines())
    assert any(line.startswith("+") and 'commission_rate: "0.15"' in line for line in diff.splitlines())
    shown = json.loads(cosell("runs", "show", "2", "--format", "json", "--ledger", url).output)
    assert (
        shown["variant"]["source"] == "variant.yaml" and 'commission_rate: "0.15"' in shown["variant"]["text"]
    )
    assert cosell("close", "--period", "2026-Q3", "--ledger", url).exit_code == 0
    variant.write_text(variant.read_text().replace('commission_rate: "0.15"', 'commission_rate: "0.09"'))
    explained = cosell(
        "explain", "P001", "--program", program, "--input", data, "--ledger", url, "--period", "2026-Q3"
    )
    assert explained.exit_code == 0, explained.output
    assert "rate 15%" in explained.output and "rate 9%" not in explained.output
    assert "using the pilot's variant run 2 computed with" in explained.output


def _example_pilot(tmp_path):
    """The bundled example with a pilot by region whose variant pays Silver 10 %: P001 (EMEA) is tested."""
    root = Path(__file__).resolve().parents[2] / "examples"
    shutil.copytree(root / "data", tmp_path / "data")
    base = (root / "program.yaml").read_text()
    (tmp_path / "variant.yaml").write_text(base.replace('commission_rate: "0.08"', 'commission_rate: "0.10"'))
    program = tmp_path / "program.yaml"
    section = "pilot:\n  name: richer-silver\n  variant: variant.yaml\n  cohort: {attribute: region, values: [EMEA]}\n"
    program.write_text(base + section)
    return program, tmp_path / "data", f"sqlite:///{tmp_path / 'l.db'}", tmp_path / "out"


def _move_region(data, partner, region):
    _write_rows(
        data / "partners.csv",
        [[*r[:6], region, *r[7:]] if r[0] == partner else r for r in _rows(data / "partners.csv")],
    )


def _p001(report):
    return next(row for row in report["partners"] if row["id"] == "P001")


def test_a_rerun_of_a_period_keeps_the_arms_its_own_run_recorded_when_a_region_changes(tmp_path):
    program, data, url, out = _example_pilot(tmp_path)
    first = _p001(run_json(program, data, url, out, "2026-Q3"))
    assert (first["pilot_arm"], first["tier"]) == ("test", "Silver")
    _move_region(data, "P001", "NA")  # edited in the CRM: moves nobody
    again = run_json(program, data, url, out, "2026-Q3")
    assert _p001(again)["pilot_arm"] == "test"
    assert _p001(again)["earnings"] == first["earnings"]
    assert not [n for n in again["notes"] if "moved arm" in n]
    # After a later period is discarded, the rerun of Q3 still keeps it.
    run(program, data, url, out, "2026-Q4")
    assert (
        cosell(
            "discard", "--period", "2026-Q4", "--reason", "rerun Q3", "--by", "Ana", "--ledger", url
        ).exit_code
        == 0
    )
    assert _p001(run_json(program, data, url, out, "2026-Q3"))["pilot_arm"] == "test"


def test_explain_of_a_recorded_period_names_the_arm_its_run_paid(tmp_path):
    program, data, url, out = _example_pilot(tmp_path)
    assert _p001(run_json(program, data, url, out, "2026-Q3"))["pilot_arm"] == "test"
    _move_region(data, "P001", "NA")
    explained = cosell(
        "explain", "P001", "--program", program, "--input", data, "--ledger", url, "--period", "2026-Q3"
    )
    assert explained.exit_code == 0, explained.output
    assert "pilot richer-silver: test arm" in explained.output
    statement = cosell(
        "statement", "--period", "2026-Q3", "--partner", "P001", "--format", "terminal", "--ledger", url
    )
    assert "pilot richer-silver: test arm" in statement.output
