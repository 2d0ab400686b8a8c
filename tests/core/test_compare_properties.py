"""Property: for any two drawn programs and any drawn records, compare gives each program exactly what a
real run of it stores on its own fresh ledger, and the ledger it read stays as it was."""

from decimal import Decimal

from hypothesis import given

from cosell.compare import compare_programs
from cosell.engine import run
from cosell.ledger import Ledger
from cosell.pluginmanager import Plugins
from cosell.records import RecordSet
from cosell.testing import MemoryConnector
from program_strategies import FAST, Data, build_program, datas, program_docs


def records_of(data: Data) -> RecordSet:
    partners, deals, activities, claims = data.build()
    return RecordSet(tuple(partners), tuple(deals), tuple(activities), tuple(claims))


@FAST
@given(base=program_docs(), variant=program_docs(), data=datas())
def test_compare_gives_each_program_what_its_own_run_stores(base, variant, data):
    plugins = Plugins(entry_points=False)
    programs = [build_program(base), build_program(variant)]
    records = records_of(data)
    with Ledger.connect("sqlite://", create=False) as untouched:
        compared = compare_programs(programs, MemoryConnector(records), untouched, plugins)
        assert not untouched.exists
    for i, loaded in enumerate(programs):
        with Ledger.connect("sqlite://") as ledger:
            report = run(loaded, MemoryConnector(records), ledger, plugins)
            lines = ledger.lines(report.period)
        results = {p.id: p.results[i] for p in compared.partners}
        assert {row["id"]: (row["tier"], row["score"], row["earnings"]) for row in report.partners} == {
            pid: (r.tier, f"{r.score:.2f}", f"{r.earnings:.2f}") for pid, r in results.items()
        }
        totals = compared.programs[i].totals
        assert totals.incentives == sum((ln.amount for ln in lines), Decimal(0))
        for kind, amount in totals.by_kind.items():
            assert amount == sum((ln.amount for ln in lines if ln.kind == kind), Decimal(0))
        assert totals.period_earnings == sum((r.earnings for r in results.values()), Decimal(0))


@FAST
@given(doc=program_docs(), data=datas())
def test_a_program_compared_with_itself_moves_no_partner_and_no_deal(doc, data):
    loaded = build_program(doc)
    with Ledger.connect("sqlite://", create=False) as ledger:
        compared = compare_programs(
            [loaded, loaded], MemoryConnector(records_of(data)), ledger, Plugins(entry_points=False)
        )
    assert all(p.differences == (0, 0) and not p.tier_changes for p in compared.partners)
    assert compared.deals == ()
    assert compared.programs[0].totals == compared.programs[1].totals
