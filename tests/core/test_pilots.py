"""Pilots: the program's pilot section, the variant it names, and how arms are decided and kept."""

import hashlib
import json
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosell.engine import check_program, compute
from cosell.errors import ProgramError
from cosell.ledger import Ledger
from cosell.pilot_report import report
from cosell.pilots import CONTROL, TEST, EarlierArm, PilotPlan, cohort_digest, defined_arm, plan, share_point
from cosell.pluginmanager import Plugins
from cosell.program import Cohort, load_program, parse_program
from cosell.records import Partner, RecordSet
from cosell.results import History
from cosell.testing import run_program
from program_strategies import FAST, PARTNERS, build_program, compute_strictly, datas, program_docs

BASE = """\
program: Base
period: 2026-Q3
currency: USD
tiers:
  - {name: Registered, min_score: 0, commission_rate: "0.05"}
"""
PILOT = """\
pilot:
  name: richer-rate
  variant: variant.yaml
  cohort: {cohort}
"""


def partner(pid, region="NA", joined_on=date(2025, 1, 1)):
    return Partner(pid, f"Partner {pid}", joined_on, attributes={"region": region})


def write(tmp_path, cohort='{share: "0.5", seed: 7}', variant=BASE):
    (tmp_path / "program.yaml").write_text(BASE + PILOT.format(cohort=cohort))
    (tmp_path / "variant.yaml").write_text(variant.replace("Base", "Variant").replace('"0.05"', '"0.07"'))
    return tmp_path / "program.yaml"


def problems(path):
    with pytest.raises(ProgramError) as info:
        load_program(path)
    return [str(p) for p in info.value.problems]


def test_a_share_split_hashes_seed_and_partner_id_with_sha256():
    expected = Decimal(int.from_bytes(hashlib.sha256(b"7:P001").digest()[:8], "big")) / 2**64
    assert share_point(7, "P001") == expected


def test_a_share_split_puts_about_the_share_in_the_test_arm_and_another_seed_splits_otherwise():
    loaded = parse_program(BASE + PILOT.format(cohort='{share: "0.3", seed: 1}'))
    pilot = loaded.program.pilot
    partners = [partner(f"P{n}") for n in range(4000)]
    arms = [defined_arm(pilot, p) for p in partners]
    assert 0.27 < arms.count(TEST) / len(arms) < 0.33
    other = pilot.model_copy(update={"cohort": Cohort(share=Decimal("0.3"), seed=2)})
    assert arms != [defined_arm(other, p) for p in partners]
    assert cohort_digest(pilot) != cohort_digest(other)


def test_share_zero_puts_nobody_in_the_test_arm_and_share_one_everybody():
    for share, arm in (("0", CONTROL), ("1", TEST)):
        pilot = parse_program(BASE + PILOT.format(cohort=f'{{share: "{share}", seed: 3}}')).program.pilot
        assert {defined_arm(pilot, partner(f"P{n}")) for n in range(200)} == {arm}


def test_an_attribute_cohort_takes_the_partners_holding_one_of_its_values():
    pilot = parse_program(
        BASE + PILOT.format(cohort="{attribute: region, values: [EMEA, APAC]}")
    ).program.pilot
    assert defined_arm(pilot, partner("P1", "EMEA")) == TEST
    assert defined_arm(pilot, partner("P2", "APAC")) == TEST
    assert defined_arm(pilot, partner("P3", "NA")) == CONTROL
    assert defined_arm(pilot, Partner("P4", "No region", date(2025, 1, 1))) == CONTROL


@given(
    regions=st.lists(st.sampled_from(["EMEA", "NA", "APAC"]), min_size=1, max_size=30),
    earlier=st.lists(st.sampled_from([TEST, CONTROL, None]), min_size=30, max_size=30),
    same_definition=st.booleans(),
)
def test_a_partner_keeps_its_earlier_arm_while_the_cohort_definition_stays_the_same(
    tmp_path_factory, regions, earlier, same_definition
):
    folder = tmp_path_factory.mktemp("pilot")
    loaded = load_program(write(folder, cohort="{attribute: region, values: [EMEA]}"))
    digest = cohort_digest(loaded.program.pilot) if same_definition else "an older definition"
    partners = [partner(f"P{n}", region) for n, region in enumerate(regions)]
    before = {
        p.id: EarlierArm(arm, digest, "2026-Q2")
        for p, arm in zip(partners, earlier, strict=False)
        if arm is not None
    }
    result = plan(loaded, {}, partners, before)
    for p in partners:
        defined = TEST if p.attributes["region"] == "EMEA" else CONTROL
        kept = p.id in before and same_definition
        assert result.arms[p.id] == (before[p.id].arm if kept else defined)
    assert result.redefined == (bool(before) and not same_definition)
    moved = {m.partner_id for m in result.moved}
    assert moved == {
        p.id
        for p in partners
        if p.id in before and not same_definition and before[p.id].arm != result.arms[p.id]
    }


def test_a_rerun_keeps_the_arm_the_periods_own_run_recorded_and_names_a_partner_it_moves(tmp_path):
    loaded = load_program(write(tmp_path, cohort="{attribute: region, values: [EMEA]}"))
    digest = cohort_digest(loaded.program.pilot)
    # P1 was tested by the period's run and is NA now; P2 is new to the pilot: its region decides.
    partners = [partner("P1", "NA"), partner("P2", "EMEA")]
    result = plan(loaded, {}, partners, {}, {"P1": EarlierArm(TEST, digest, "2026-Q3")})
    assert result.arms == {"P1": TEST, "P2": TEST} and not result.moved and not result.redefined
    # The period's run had another definition: the region decides, and the move against that run is named.
    result = plan(loaded, {}, partners, {}, {"P1": EarlierArm(TEST, "an older definition", "2026-Q3")})
    assert result.arms["P1"] == CONTROL and result.redefined
    assert [(m.partner_id, m.was, m.now) for m in result.moved] == [("P1", TEST, CONTROL)]
    assert any("partners that moved arm: P1 (test → control)" in n for n in result.notes(loaded.program))
    # The period's run comes first: an earlier period's arm under the same definition does not move it.
    earlier = {"P1": EarlierArm(CONTROL, digest, "2026-Q2")}
    stored = {"P1": EarlierArm(TEST, digest, "2026-Q3")}
    result = plan(loaded, {}, partners, earlier, stored)
    assert result.arms["P1"] == TEST and not result.redefined
    assert any(
        n.endswith("partners that moved arm: P1 (control → test)") for n in result.notes(loaded.program)
    )


@pytest.mark.parametrize(
    ("first", "then"),
    [
        ("{attribute: region, values: [EMEA, APAC]}", "{attribute: region, values: [APAC, EMEA]}"),
        ("{attribute: region, values: [EMEA]}", "{attribute: region, values: [EMEA, EMEA]}"),
        ('{share: "0.5", seed: 7}', '{share: "0.50", seed: 7}'),
    ],
)
def test_the_same_cohort_written_another_way_keeps_every_arm(tmp_path, first, then):
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    earlier = load_program(write(tmp_path / "a", cohort=first)).program.pilot
    loaded = load_program(write(tmp_path / "b", cohort=then))
    partners = [partner("P1", "NA"), partner("P2", "EMEA")]  # P1 was in the test arm, its region changed
    before = {"P1": EarlierArm(TEST, cohort_digest(earlier), "2026-Q2")}
    result = plan(loaded, {}, partners, before)
    assert result.arms["P1"] == TEST and not result.moved and not result.redefined


def test_an_arm_kept_under_the_digest_of_the_cohort_as_written_is_kept(tmp_path):
    # Earlier versions fingerprinted the values in their written order and the share's text.
    loaded = load_program(write(tmp_path, cohort="{attribute: region, values: [EMEA, APAC]}"))
    written = hashlib.sha256(
        json.dumps(loaded.program.pilot.cohort.model_dump(mode="json"), sort_keys=True).encode()
    ).hexdigest()[:16]
    result = plan(loaded, {}, [partner("P1", "NA")], {"P1": EarlierArm(TEST, written, "2026-Q2")})
    assert result.arms["P1"] == TEST and not result.redefined


def test_the_variant_is_read_relative_to_the_program_file(tmp_path):
    loaded = load_program(write(tmp_path))
    assert loaded.variant is not None and loaded.variant.program.program == "Variant"
    assert loaded.variant.source == str(tmp_path / "variant.yaml")


def test_a_variant_of_another_period_kind_or_with_a_pilot_is_refused_naming_file_and_line(tmp_path):
    variant = BASE.replace("2026-Q3", "2026-07") + PILOT.format(cohort='{share: "0.5"}')
    found = problems(write(tmp_path, variant=variant))
    assert found[0].startswith(f"{tmp_path / 'program.yaml'}:8: pilot.variant: ")
    assert (
        f"{tmp_path / 'variant.yaml'}:2: period: a month here, a quarter in {tmp_path / 'program.yaml'}"
        in found
    )
    assert f"{tmp_path / 'variant.yaml'}:6: pilot: a pilot's variant cannot run a pilot of its own" in found


def test_a_cohort_must_be_a_share_or_an_attribute_with_values():
    for cohort in (
        "{share: -0.1}",
        '{share: "1.5"}',
        "{attribute: region, values: []}",
        "{attribute: region}",
        '{attribute: region, values: [EMEA], share: "0.5"}',
        "{region: EMEA}",
    ):
        with pytest.raises(ProgramError) as info:
            parse_program(BASE + PILOT.format(cohort=cohort), "prog.yaml")
        assert all(
            str(p).startswith("prog.yaml:") and "pilot.cohort" in str(p) for p in info.value.problems
        ), cohort


@FAST
@given(base=program_docs(), variant=program_docs(), data=datas(), cohort=st.sets(st.sampled_from(PARTNERS)))
def test_each_arm_is_computed_exactly_as_a_plain_computation_of_its_program(base, variant, data, cohort):
    """Programs and records drawn; no program budget (a budget is shared by both arms, by design)."""
    for doc in (base, variant):
        doc.get("caps", {}).pop("program_budget", None)
    base_program, variant_program = build_program(base), build_program(variant)
    plugins = Plugins(entry_points=False)
    arms = {pid: TEST if pid in cohort else CONTROL for pid in PARTNERS}
    pilot = PilotPlan(
        "drawn",
        "digest",
        "variant.yaml",
        variant_program.program,
        check_program(variant_program, plugins),
        arms,
    )
    partners, deals, activities, claims = data.build()
    records = RecordSet(tuple(partners), tuple(deals), tuple(activities), tuple(claims))
    period = base_program.program.the_period
    both = compute(
        base_program.program,
        period,
        records,
        History(),
        plugins,
        check_program(base_program, plugins),
        pilot=pilot,
    )
    plain = {TEST: compute_strictly(variant_program, data), CONTROL: compute_strictly(base_program, data)}
    standings = {arm: {s.partner_id: s for s in c.standings} for arm, c in plain.items()}
    for standing in both.standings:
        arm = arms[standing.partner_id]
        assert standing == standings[arm][standing.partner_id]
        assert both.lines.get(standing.partner_id, ()) == plain[arm].lines.get(standing.partner_id, ())
        assert projected(both, standing.partner_id) == projected(plain[arm], standing.partner_id)


def projected(computation, partner_id):
    return sorted(repr(p) for p in computation.projections if p.partner_id == partner_id)


def test_a_partner_joining_after_the_period_is_in_neither_arm_of_the_pilot_nor_its_report(
    tmp_path, sqlite_url
):
    loaded = load_program(write(tmp_path, cohort="{attribute: region, values: [EMEA]}"))
    partners = [
        partner("EMEA1", "EMEA"),
        partner("NA1"),
        # both join after 2026-Q3's last day (2026-09-30): not in its run
        partner("EMEA2", "EMEA", date(2026, 10, 1)),
        partner("NA2", joined_on=date(2026, 11, 15)),
    ]
    with Ledger.connect(sqlite_url) as ledger:
        run = run_program(loaded, partners, ledger=ledger, period="2026-Q3")
        dry = run_program(loaded, partners, ledger=ledger, period="2026-Q3", dry_run=True)
        [pilot] = report(ledger)

    said = (
        f"pilot richer-rate: 1 partner(s) in the test arm (rules of {loaded.variant.source}), "
        "1 in the control arm"
    )
    assert said in run.report.notes
    assert said in dry.report.notes
    [q3] = [c for c in pilot.periods if c.period == "2026-Q3"]
    assert q3.partners == {"test": 1, "control": 1}
