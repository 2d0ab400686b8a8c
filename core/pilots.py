"""A/B pilots: which arm computes each partner, kept stable across periods, and what the ledger keeps
of each partner's period for ``cosell pilot report``.

A program's ``pilot:`` section names a variant program and a cohort. The cohort's partners (the test
arm) are computed by the variant's rules, the others (the control arm) by the program's own. A partner
keeps the arm it had in the pilot's earlier periods as long as the cohort definition is the same (its
digest is stored with the arm); a rerun of a period (and its explain) first keeps the arm that period's
own stored run recorded under the same definition. A new partner, or every partner once the definition
changes, gets the arm the definition gives. The ledger keeps the arm and the partner's period facts under the ``pilot``
key of the run's statement data (docs/ledger.md).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, Literal

from .money import EXACT, show
from .periods import Period
from .program import LoadedProgram, Pilot, Program
from .statements.facts import StatementSection

if TYPE_CHECKING:
    from pydantic import BaseModel

    from .computation import Computation
    from .context import PartnerFacts
    from .ledger import Ledger
    from .records import Partner

Arm = Literal["test", "control"]
TEST: Arm = "test"
CONTROL: Arm = "control"
KEY = "pilot"
"""The key of the statement data (run and partner) that holds the pilot's part."""
_SPLIT = 2**64


def cohort_digest(pilot: Pilot) -> str:
    """A short fingerprint of the cohort definition: arms are kept while it stays the same. The values
    are a set (their order and repeats do not count) and the share a number ("0.5" is "0.50")."""
    cohort = pilot.cohort.model_dump(mode="json")
    if pilot.cohort.values is not None:
        cohort["values"] = sorted(set(pilot.cohort.values))
    if pilot.cohort.share is not None:
        cohort["share"] = f"{pilot.cohort.share.normalize():f}"
    return _digest(cohort)


def _written_digest(pilot: Pilot) -> str:
    """The fingerprint of the cohort as written (values in their order, the share's text), the one
    earlier versions of cosell kept with each arm: an arm kept under it is kept still."""
    return _digest(pilot.cohort.model_dump(mode="json"))


def _digest(cohort: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(cohort, sort_keys=True).encode()).hexdigest()[:16]


def defined_arm(pilot: Pilot, partner: Partner) -> Arm:
    """The arm the cohort definition gives a partner. A share split hashes the seed and the partner id
    with SHA-256 (the same on every machine and every run, unlike Python's ``hash``)."""
    cohort = pilot.cohort
    if cohort.share is None:
        return TEST if partner.attributes.get(cohort.attribute or "") in (cohort.values or ()) else CONTROL
    return TEST if share_point(cohort.seed, partner.id) < cohort.share else CONTROL


def share_point(seed: int, partner_id: str) -> Decimal:
    """Where a partner falls in [0, 1) under a hash split: the partners below ``share`` are in the test
    arm. The first 8 bytes of SHA-256 of ``"<seed>:<partner id>"``, as a fraction of 2^64."""
    digest = hashlib.sha256(f"{seed}:{partner_id}".encode()).digest()
    return Decimal(int.from_bytes(digest[:8], "big")) / _SPLIT


@dataclass(frozen=True, slots=True)
class EarlierArm:
    """A partner's arm in the pilot's latest earlier period that holds it, or in the stored run of the
    period being run again."""

    arm: Arm
    digest: str
    period: str


@dataclass(frozen=True, slots=True)
class Moved:
    """A partner whose arm is not the one it held in the pilot's latest earlier period, or in the
    stored run of the period being run again."""

    partner_id: str
    was: Arm
    now: Arm


@dataclass(frozen=True, slots=True)
class PilotPlan:
    """A run's pilot: the variant with its plugin settings, and every partner's arm."""

    name: str
    digest: str
    variant_source: str
    variant: Program
    variant_settings: Mapping[str, BaseModel]
    arms: Mapping[str, Arm]
    moved: tuple[Moved, ...] = ()
    redefined: bool = False
    """True when the pilot's earlier periods hold another cohort definition than this run's."""

    @property
    def cohort(self) -> frozenset[str]:
        """The partners in the test arm (computed by the variant)."""
        return frozenset(pid for pid, arm in self.arms.items() if arm == TEST)

    def arm_of(self, partner_id: str) -> Arm:
        return self.arms.get(partner_id, CONTROL)

    def label(self, partner_id: str) -> str:
        """What the CRM note and the statements say: ``pilot richer-silver: test arm``."""
        return f"pilot {self.name}: {self.arm_of(partner_id)} arm"

    def notes(self, base: Program) -> tuple[str, ...]:
        """What the run says of the pilot: the arms' sizes, a shared budget, partners that moved."""
        test = len(self.cohort)
        said = [
            f"pilot {self.name}: {test} partner(s) in the test arm (rules of {self.variant_source}), "
            f"{len(self.arms) - test} in the control arm"
        ]
        budget = base.caps.program_budget if base.caps else None
        if budget is not None:
            said.append(
                f"pilot {self.name}: the program budget of {show(budget)} {base.currency} is shared by both "
                "arms (the variant's own budget, if any, is not applied)"
            )
        theirs = self.variant.caps.program_budget if self.variant.caps else None
        if theirs is not None and theirs != budget:
            said.append(
                f"pilot {self.name}: the variant's program budget of {show(theirs)} is not applied; "
                "a program budget is the program's alone"
            )
        if self.moved:
            moves = ", ".join(f"{m.partner_id} ({m.was} → {m.now})" for m in self.moved)
            changed = "the cohort definition changed; " if self.redefined else ""
            said.append(f"pilot {self.name}: {changed}partners that moved arm: {moves}")
        elif self.redefined:
            said.append(f"pilot {self.name}: the cohort definition changed; no partner moved arm")
        return tuple(said)

    def section(self, partner_id: str) -> StatementSection:
        """The statement's pilot section: the arm and which program's rules computed the partner."""
        arm = self.arm_of(partner_id)
        rules = f"the variant {PurePath(self.variant_source).name}" if arm == TEST else "this program"
        text = f"{self.label(partner_id)}: this period is computed by the rules of {rules}"
        return StatementSection(
            title=f"Pilot {self.name}",
            columns=("Pilot", "Arm", "Rules of"),
            rows=((self.name, arm, rules),),
            summary=text,
            empty=text,
        )


def plan(
    loaded: LoadedProgram,
    variant_settings: Mapping[str, BaseModel],
    partners: Iterable[Partner],
    earlier: Mapping[str, EarlierArm],
    stored: Mapping[str, EarlierArm] | None = None,
) -> PilotPlan | None:
    """Every partner's arm: the one the period's own stored run gave it (``stored``: a rerun) under the
    same cohort definition, else the one it held in an earlier period under it, else the one the
    definition gives. A partner whose arm differs from the one it held in either is listed as moved.
    None when the program runs no pilot."""
    pilot, variant = loaded.program.pilot, loaded.variant
    if pilot is None or variant is None:
        return None
    stored = {} if stored is None else stored
    digest = cohort_digest(pilot)
    same = {digest, _written_digest(pilot)}
    arms: dict[str, Arm] = {}
    moved: list[Moved] = []
    for partner in partners:
        before, kept = earlier.get(partner.id), stored.get(partner.id)
        if kept is not None and kept.digest in same:
            arm = kept.arm
        elif before is not None and before.digest in same:
            arm = before.arm
        else:
            arm = defined_arm(pilot, partner)
        arms[partner.id] = arm
        # Two arms only: one that differs from both held the same one in both.
        was = next((held.arm for held in (before, kept) if held is not None and held.arm != arm), None)
        if was is not None:
            moved.append(Moved(partner.id, was, arm))
    return PilotPlan(
        pilot.name,
        digest,
        variant.source,
        variant.program,
        variant_settings,
        arms,
        tuple(moved),
        any(held.digest not in same for held in (*earlier.values(), *stored.values())),
    )


def earlier_arms(ledger: Ledger, period: Period, name: str) -> dict[str, EarlierArm]:
    """Each partner's arm in the latest period before ``period`` whose run recorded it for pilot
    ``name``, however far back: a pilot paused for a period (its section taken out, or another pilot
    run) and resumed under its name keeps its arms."""
    found: dict[str, EarlierArm] = {}
    for key, data in _recorded(ledger, before=period, newest_first=True):
        for pid, doc in data.items():
            part = doc.get(KEY)
            if pid not in found and part is not None and _of_pilot(part, name):
                found[pid] = EarlierArm(part["arm"], part["digest"], key)
    return found


def stored_arms(ledger: Ledger, period: Period, name: str) -> dict[str, EarlierArm]:
    """Each partner's arm for pilot ``name`` in the stored run of ``period`` itself (none when the
    period has no kept run): a rerun of the period keeps them, so that it pays each partner by the
    rules of the arm its first run did."""
    stored = ledger.statement_data(period.key)
    if stored is None:
        return {}
    found: dict[str, EarlierArm] = {}
    for pid, text in stored[1].items():
        part = json.loads(text).get(KEY)
        if part is not None and _of_pilot(part, name):
            found[pid] = EarlierArm(part["arm"], part["digest"], period.key)
    return found


def carried_to_merged(earlier: Mapping[str, EarlierArm], merged: Mapping[str, str]) -> dict[str, EarlierArm]:
    """``earlier`` with each merged partner's arm carried to the partner it was merged into (``merged``:
    former id → id), when that one holds none of its own: the latest of its former ids' arms (on one
    period, the first former id in id order). A merge must not move a partner to the other arm."""
    out = dict(earlier)
    carried: dict[str, EarlierArm] = {}
    for former in sorted(merged):
        arm, current = earlier.get(former), merged[former]
        if arm is None or current in earlier:
            continue
        held = carried.get(current)
        if held is None or Period.parse(arm.period).start > Period.parse(held.period).start:
            carried[current] = arm
    out.update(carried)
    return out


def _of_pilot(part: Any, name: str | None) -> bool:
    return isinstance(part, dict) and (name is None or part.get("name") == name)


def _recorded(
    ledger: Ledger, before: Period | None = None, *, newest_first: bool = False
) -> Iterable[tuple[str, dict[str, dict[str, Any]]]]:
    """(period, partner id → statement data as JSON) of every recorded period (before ``before``),
    oldest first unless ``newest_first``."""
    keys = [key for key, _status in ledger.periods()]
    if before is not None:
        keys = [key for key in keys if Period.parse(key).start < before.start]
    for key in reversed(keys) if newest_first else keys:
        stored = ledger.statement_data(key)
        if stored is not None:
            yield key, {pid: json.loads(text) for pid, text in stored[1].items()}


# --- what the ledger keeps ---------------------------------------------------------------------------


def partner_facts(partner: PartnerFacts, period: Period, qualified_stages: Sequence[str]) -> dict[str, Any]:
    """The partner's period as the pilot report reads it: sourced pipeline (amount × share of deals
    created in the period that it sourced), qualified opportunities (deals created in the period in a
    qualified stage or won), deals won and lost in the period, the days from created to won of each
    win, won revenue (amount × share) and won margin (won revenue × margin_pct; a win without a margin
    counts none). Amounts as text."""
    start, end = period.start, period.end
    stages = frozenset(qualified_stages)
    pipeline = revenue = margin = Decimal(0)
    qualified = won = lost = 0
    days: list[int] = []
    add = EXACT.add  # the sums rounded once, below: the same in any order of the deals
    for involvement in partner.deals:
        deal = involvement.deal
        if start <= deal.created_on <= end:
            if involvement.role == "sourced":
                pipeline = add(pipeline, deal.amount * involvement.share)
            if deal.status == "won" or deal.stage in stages:
                qualified += 1
        if deal.closed_on is not None and start <= deal.closed_on <= end:
            if deal.status == "won":
                won += 1
                share = deal.amount * involvement.share
                revenue = add(revenue, share)
                if deal.margin_pct is not None:
                    margin = add(margin, share * deal.margin_pct / 100)
                days.append((deal.closed_on - deal.created_on).days)
            elif deal.status == "lost":
                lost += 1
    pipeline, revenue, margin = +pipeline, +revenue, +margin
    return {
        "sourced_pipeline": str(pipeline),
        "qualified": qualified,
        "won": won,
        "lost": lost,
        "days_to_win": days,
        "won_revenue": str(revenue),
        "won_margin": str(margin),
    }


def with_pilot(
    statement: tuple[str, Mapping[str, str]], computation: Computation
) -> tuple[str, Mapping[str, str]]:
    """The run's statement data with the pilot's part added: the pilot (run) and each partner's arm,
    the cohort digest and its period facts with its incentive cost (partners)."""
    pilot = computation.pilot
    if pilot is None:
        return statement
    run_text, partners = statement
    run_doc = json.loads(run_text)
    run_doc[KEY] = {
        "name": pilot.name,
        "digest": pilot.digest,
        "variant": pilot.variant_source,
        "variant_program": pilot.variant.program,
        "moved": [[m.partner_id, m.was, m.now] for m in pilot.moved],
    }
    stages = computation.context.program.qualified_stages
    out: dict[str, str] = {}
    for facts in computation.facts:
        doc = json.loads(partners[facts.id]) if facts.id in partners else {}
        doc[KEY] = {
            "name": pilot.name,
            "arm": pilot.arm_of(facts.id),
            "digest": pilot.digest,
            "facts": {
                **partner_facts(facts, computation.context.period, stages),
                "cost": str(computation.earnings(facts.id)),
            },
        }
        out[facts.id] = json.dumps(doc, sort_keys=True)
    return json.dumps(run_doc, sort_keys=True), {**partners, **out}


def recorded_pilots(ledger: Ledger) -> list[tuple[str, str, dict[str, dict[str, Any]]]]:
    """(period, pilot name, partner id → the partner's recorded pilot part) of every recorded period
    of every pilot, oldest first. A part holds ``former_ids`` when the partner had other ids before a
    CRM merged them into it."""
    found: list[tuple[str, str, dict[str, dict[str, Any]]]] = []
    for key, data in _recorded(ledger):
        by_name: dict[str, dict[str, dict[str, Any]]] = {}
        for pid, doc in data.items():
            if _of_pilot(doc.get(KEY), None):
                part = (
                    doc[KEY] if not doc.get("former_ids") else {**doc[KEY], "former_ids": doc["former_ids"]}
                )
                by_name.setdefault(doc[KEY]["name"], {})[pid] = part
        found.extend((key, name, parts) for name, parts in sorted(by_name.items()))
    return found
