"""Records the CRM merged: the history of their former ids read as the history of the record they live on in.

A CRM that merges two deals (or two partner companies) may give the result a new id: HubSpot creates a
new record and lists the merged ids in ``hs_merged_object_ids``. The ledger's lines name the old ids. Read
as they are, the merged deal would be a deal never paid (a closed period's late commission would pay it
again) and the merged partner a partner without tiers or signing bonus. The connector says which ids were
merged into which (:class:`~cosell.records.Merge`); :func:`merged` then answers every history
question a rule asks about the record with the lines and tiers of its former ids too, presented under
today's ids:

- lines of a former partner or naming a former deal come back with the current ``partner_id`` and
  ``deal_id`` (``lines_of``, ``paid_deal_ids``, ``tagged_lines``, ``lines_on_deals``, ``lines_naming``), in
  period order;
- a partner's tier records are those of every id it had; where two of them have a record for one period
  (two partner companies merged), the one with the higher score stands for the period (on a tie, the
  partner's own id first, then its former ids in id order);
- approved adjustments and tier exceptions of a former partner are the current partner's.

A merge can be undone (:attr:`~cosell.records.Merge.undone`: a Salesforce admin undeleted the merged
account; the records the merge moved stay where it put them). The former partner is then a partner of its
own with its own history, and a narrower link stays, both ways: what one of the two was paid on a deal the
other holds now (and it does not) answers the questions asked about that deal for the one holding it
(``lines_of`` naming deals, ``paid_deal_ids``, ``lines_on_deals``), so a deal is not paid twice, whether
it stayed with the partner merged into or was moved back. A partner's totals (``lines_of`` of every deal,
tiers, tags) stay its own. An undeleted partner may be merged again (into another, or the same): its
merges undone stay listed beside the one that stands, and each links the partner it was merged into with
the one the former partner is now.

The ledger is not rewritten: statements and ``cosell explain`` of earlier periods show the lines as they
were paid, under the ids of the time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import date
from decimal import Decimal
from types import MappingProxyType
from typing import TypeVar

from .errors import InputError, Problem
from .periods import Period
from .records import Activity, Deal, MdfClaim, MergedKind, RecordSet
from .results import ApprovedAdjustment, History, LedgerLine, TierException, TierRecord

T = TypeVar("T")


@dataclasses.dataclass(frozen=True, slots=True)
class Aliases:
    """Former id → current id, per kind, merges followed to their end (A into B, then B into C: A is C)."""

    partners: Mapping[str, str]
    deals: Mapping[str, str]
    undone: Mapping[str, tuple[str, ...]]
    """Former partner of undone merges → the partners it was merged into by them, in the order the records
    list them (merges followed to the end). The former partner may be merged again since, into another
    (``partners`` then names it): a partner undeleted and merged again keeps the link of each merge."""

    def __bool__(self) -> bool:
        return bool(self.partners or self.deals or self.undone)


def aliases(records: RecordSet) -> Aliases:
    """The merges the records list, checked: a former id is not a record of its kind any more (unless its
    merge was undone), is merged into one record (besides those its undone merges name), and a chain of
    merges ends. Each problem names the merge; all are reported together."""
    if not records.merges:  # the common case costs nothing, however many records
        return Aliases(MappingProxyType({}), MappingProxyType({}), MappingProxyType({}))
    present: dict[MergedKind, set[str]] = {
        "partner": {p.id for p in records.partners},
        "deal": {d.id for d in records.deals},
    }
    direct: dict[MergedKind, dict[str, str]] = {"partner": {}, "deal": {}}
    undone: dict[str, dict[str, None]] = {}  # former → the ids of its undone merges, in order
    problems: list[Problem] = []
    for merge in records.merges:
        where = f"merge of {merge.kind} {merge.former_id}"
        into = direct.get(merge.kind)  # a connector of its own may build a Merge of another kind
        if into is None:
            problems.append(Problem(where, f"kind: {merge.kind!r} must be one of partner, deal"))
        elif not (
            isinstance(merge.former_id, str) and merge.former_id and isinstance(merge.id, str) and merge.id
        ):
            problems.append(Problem(where, "a merge names the former id and the id, both not empty"))
        elif merge.former_id == merge.id:
            problems.append(Problem(where, f"the {merge.kind} is named as merged into itself"))
        elif merge.undone and merge.kind != "partner":
            problems.append(Problem(where, "only a partner's merge can be undone"))
        elif merge.former_id in present[merge.kind] and not merge.undone:
            problems.append(
                Problem(
                    where, f"{merge.former_id} was merged into {merge.id} but is still read as a {merge.kind}"
                )
            )
        elif not merge.undone and (earlier := into.get(merge.former_id, merge.id)) != merge.id:
            problems.append(Problem(where, f"merged into two {merge.kind}s: {earlier} and {merge.id}"))
        elif (
            into.get(merge.former_id) == merge.id
            if merge.undone
            else merge.id in undone.get(merge.former_id, ())
        ):
            problems.append(Problem(where, f"the merge into {merge.id} is named both undone and not"))
        elif merge.undone:  # undeleted, maybe merged again since: each merge undone keeps its link
            undone.setdefault(merge.former_id, {})[merge.id] = None
        else:
            into[merge.former_id] = merge.id
    resolved: dict[MergedKind, dict[str, str]] = {"partner": {}, "deal": {}}
    for kind, into in direct.items():
        for former in sorted(into):
            seen = [former]
            current = into[former]
            while current in into:
                if current in seen:
                    problems.append(
                        Problem(
                            f"merge of {kind} {former}",
                            "the merges go round in a circle: " + " → ".join(seen),
                        )
                    )
                    break
                seen.append(current)
                current = into[current]
            else:
                resolved[kind][former] = current
    if problems:
        raise InputError(problems)
    partners = resolved["partner"]
    return Aliases(
        MappingProxyType(partners),
        MappingProxyType(resolved["deal"]),
        MappingProxyType(
            {
                former: tuple(dict.fromkeys(partners.get(into, into) for into in intos))
                for former, intos in undone.items()
            }
        ),
    )


def following(into: Mapping[str, str]) -> Callable[[str], str]:
    """The id a record goes by now, given former id → the id it was merged into: ``into`` followed to its
    end (a circle, which no CRM makes, stops where it would repeat). For connectors and reports that map
    ids themselves."""

    def current(rid: str) -> str:
        seen = {rid}
        while rid in into and into[rid] not in seen:
            rid = into[rid]
            seen.add(rid)
        return rid

    return current


def merged(records: RecordSet, history: History) -> tuple[RecordSet, History]:
    """The records and the history under today's ids, when the records list merges (see the module
    docstring); both as they are when they list none. A deal, activity or MDF claim that still names a
    former partner or deal (an association the CRM had not moved yet) names the current one."""
    found = aliases(records)
    if not found:
        return records, history
    current = _current_references(records, found)
    return current, _MergedHistory(history, found, _linked_deals(current, found))


Link = tuple[str, str, frozenset[str]]
"""Of an undone merge: a partner, the other partner of the merge, and the deals the first holds and the
other does not (the other's lines on them answer for the first)."""


def _linked_deals(records: RecordSet, found: Aliases) -> list[Link]:
    """Both ways of each undone merge: the partner merged into holds deals that came from the former one
    (the merge moved them), and the former one may hold deals moved back to it, or won while the merge
    stood and moved to it since. Either way a deal's earlier payments follow it. A former partner merged
    again since (into another) is that one now: the link is between the two partners' ids of today."""
    if not found.undone:
        return []
    pairs = dict.fromkeys(
        (one, into)
        for former, intos in sorted(found.undone.items())
        for one in (found.partners.get(former, former),)
        for into in intos
        if into != one  # merged again into the same partner: one partner, nothing to link
    )
    wanted = {pid for pair in pairs for pid in pair}
    held: dict[str, set[str]] = {pid: set() for pid in wanted}
    for d in records.deals:
        for inv in d.partners:
            if inv.partner_id in wanted:
                held[inv.partner_id].add(d.id)
    links = []
    for former, into in pairs:
        links.append((into, former, frozenset(held[into] - held[former])))
        links.append((former, into, frozenset(held[former] - held[into])))
    return [link for link in links if link[2]]


def _current_references(records: RecordSet, found: Aliases) -> RecordSet:
    partners, deals = found.partners, found.deals

    def deal(d: Deal) -> Deal:
        if not any(inv.partner_id in partners for inv in d.partners):
            return d
        return dataclasses.replace(
            d,
            partners=tuple(
                dataclasses.replace(inv, partner_id=partners[inv.partner_id])
                if inv.partner_id in partners
                else inv
                for inv in d.partners
            ),
        )

    def activity(a: Activity) -> Activity:
        pid = partners.get(a.partner_id, a.partner_id)
        did = a.deal_id if a.deal_id is None else deals.get(a.deal_id, a.deal_id)
        return (
            a
            if (pid, did) == (a.partner_id, a.deal_id)
            else dataclasses.replace(a, partner_id=pid, deal_id=did)
        )

    def claim(c: MdfClaim) -> MdfClaim:
        pid = partners.get(c.partner_id)
        return c if pid is None else dataclasses.replace(c, partner_id=pid)

    return dataclasses.replace(
        records,
        deals=tuple(map(deal, records.deals)) if partners else records.deals,
        activities=tuple(map(activity, records.activities)),
        mdf_claims=tuple(map(claim, records.mdf_claims)) if partners else records.mdf_claims,
    )


def former_ids(records: RecordSet) -> Mapping[str, tuple[str, ...]]:
    """Each partner the records merged others into → its former ids, in id order (what the run records
    beside the partner's statement, so statements and settlements of later reads find them too)."""
    found: dict[str, list[str]] = {}
    for former, current in aliases(records).partners.items():
        found.setdefault(current, []).append(former)
    return {pid: tuple(ids) for pid, ids in found.items()}


_set = object.__setattr__  # History is a frozen dataclass: its own state is set past its __setattr__


class _MergedHistory(History):
    """:class:`History` over another, with the former ids of merged partners and deals read as current."""

    __slots__ = ("_aliases", "_deal_formers", "_formers", "_inner", "_linked", "_links", "_named", "_order")
    _inner: History
    _aliases: Aliases
    _formers: Mapping[str, tuple[str, ...]]
    _deal_formers: Mapping[str, tuple[str, ...]]
    _order: dict[str, date]
    _linked: Mapping[str, tuple[tuple[str, frozenset[str]], ...]]
    _links: Mapping[str, tuple[tuple[str, frozenset[str]], ...]]
    _named: dict[str, frozenset[str]]

    def __init__(self, inner: History, found: Aliases, linked: Sequence[Link] = ()) -> None:
        formers: dict[str, list[str]] = {}
        for former, current in found.partners.items():
            formers.setdefault(current, [current]).append(former)
        _set(self, "closed_periods", inner.closed_periods)
        _set(self, "adjustments", tuple(self._adjustment(a, found) for a in inner.adjustments))
        _set(self, "tier_exceptions", tuple(self._exception(e, found) for e in inner.tier_exceptions))
        _set(self, "crm_tiers", self._crm_tiers(inner.crm_tiers, found))
        _set(self, "_inner", inner)
        _set(self, "_aliases", found)
        _set(self, "_formers", {k: tuple(v) for k, v in formers.items()})
        deal_formers: dict[str, list[str]] = {}
        for former, current in found.deals.items():
            deal_formers.setdefault(current, []).append(former)
        _set(self, "_deal_formers", {k: tuple(v) for k, v in deal_formers.items()})
        _set(self, "_order", {})
        _set(self, "_named", {})
        # undone merges: a partner → (the other partner, the deals it holds whose history that one has),
        # and the other way round for presenting a line under the partner holding its deal
        links: dict[str, list[tuple[str, frozenset[str]]]] = {}
        gives: dict[str, list[tuple[str, frozenset[str]]]] = {}
        for holder, other, deals in linked:
            links.setdefault(holder, []).append((other, deals))
            gives.setdefault(other, []).append((holder, deals))
        _set(self, "_linked", {k: tuple(v) for k, v in gives.items()})
        _set(self, "_links", {k: tuple(v) for k, v in links.items()})

    def __repr__(self) -> str:
        return f"<{self._inner!r} with {len(self._aliases.partners)} partner and {len(self._aliases.deals)} deal merges>"

    @staticmethod
    def _crm_tiers(recorded: Mapping[str, str | None], found: Aliases) -> Mapping[str, str | None]:
        """The recorded tier fields under today's ids: a partner merged into one with none recorded lends
        it its own (the first former one in id order)."""
        current = dict(recorded)
        for former in sorted(found.partners):
            into = found.partners[former]
            if former in recorded and into not in current:
                current[into] = recorded[former]
        return MappingProxyType(current)

    @staticmethod
    def _adjustment(adjustment: ApprovedAdjustment, found: Aliases) -> ApprovedAdjustment:
        partner = found.partners.get(adjustment.partner_id, adjustment.partner_id)
        deal = (
            adjustment.deal_id
            if adjustment.deal_id is None
            else found.deals.get(adjustment.deal_id, adjustment.deal_id)
        )
        if partner == adjustment.partner_id and deal == adjustment.deal_id:
            return adjustment
        return dataclasses.replace(adjustment, partner_id=partner, deal_id=deal)

    @staticmethod
    def _exception(exception: TierException, found: Aliases) -> TierException:
        partner = found.partners.get(exception.partner_id)
        return exception if partner is None else dataclasses.replace(exception, partner_id=partner)

    # -- helpers ---------------------------------------------------------------------------------------

    def _ids(self, partner_id: str) -> tuple[str, ...]:
        """The partner's id and its former ids (a former id asked for directly: that id alone)."""
        return self._formers.get(partner_id, (partner_id,))

    def _line(self, line: LedgerLine) -> LedgerLine:
        """The line under today's ids."""
        partner = self._aliases.partners.get(line.partner_id, line.partner_id)
        deal = line.deal_id if line.deal_id is None else self._aliases.deals.get(line.deal_id, line.deal_id)
        if partner == line.partner_id and deal == line.deal_id:
            return line
        return dataclasses.replace(line, partner_id=partner, deal_id=deal)

    def _linked_line(self, line: LedgerLine) -> LedgerLine:
        """The line under today's ids, a former partner's line on a deal another keeps under that one's."""
        line = self._line(line)
        for holder, deals in self._linked.get(line.partner_id, ()):
            if line.deal_id in deals:
                return dataclasses.replace(line, partner_id=holder)
        return line

    def _starts(self, period: str) -> date:
        """Where a period is in time (a key the ledger knows always parses)."""
        start = self._order.get(period)
        if start is None:
            start = self._order[period] = Period.parse(period).start
        return start

    def _in_order(self, groups: Sequence[tuple[T, ...]], period_of: Callable[[T], str]) -> tuple[T, ...]:
        """Several ids' items, each in period order, as one sequence in period order (stable: on one
        period, the first id's items first)."""
        found = [g for g in groups if g]
        if len(found) <= 1:
            return found[0] if found else ()
        merged = [item for g in found for item in g]
        merged.sort(key=lambda item: self._starts(period_of(item)))
        return tuple(merged)

    def _deals_asked(self, deal_ids: Collection[str] | None) -> Collection[str] | None:
        """``deal_ids`` with the former ids of those deals (what the inner history must be asked for)."""
        if deal_ids is None or not self._deal_formers:
            return deal_ids
        wanted = (deal_ids,) if isinstance(deal_ids, str) else deal_ids
        formers = [former for deal in wanted for former in self._deal_formers.get(deal, ())]
        return {*wanted, *formers} if formers else deal_ids

    # -- everything ------------------------------------------------------------------------------------

    @property
    def tiers(self) -> Mapping[str, tuple[TierRecord, ...]]:
        every = self._inner.tiers
        return MappingProxyType(
            {
                pid: self.tiers_of(pid)
                for pid in dict.fromkeys(self._aliases.partners.get(k, k) for k in every)
            }
        )

    @property
    def lines(self) -> Mapping[str, tuple[LedgerLine, ...]]:
        every = self._inner.lines
        return MappingProxyType(
            {
                pid: self.lines_of(pid)
                for pid in dict.fromkeys(self._aliases.partners.get(k, k) for k in every)
            }
        )

    @property
    def fx_rates(self) -> Mapping[str, Mapping[str, Decimal]]:
        return self._inner.fx_rates  # by period: no id to read as current

    # -- the questions ---------------------------------------------------------------------------------

    def tier_exceptions_of(self, partner_id: str) -> tuple[TierException, ...]:
        return tuple(e for e in self.tier_exceptions if e.partner_id == partner_id)

    def tiers_of(self, partner_id: str) -> tuple[TierRecord, ...]:
        return self._tiers(partner_id, lambda pid: self._inner.tiers_of(pid))

    def last_tiers(self, partner_id: str, n: int = 1) -> tuple[TierRecord, ...]:
        if n < 1:
            return ()
        # each id's n latest hold the n latest periods of them all (a period has at most one record an id)
        return self._tiers(partner_id, lambda pid: self._inner.last_tiers(pid, n))[-n:]

    def _tiers(self, partner_id: str, of: Callable[[str], tuple[TierRecord, ...]]) -> tuple[TierRecord, ...]:
        ids = self._ids(partner_id)
        if len(ids) == 1:
            return of(ids[0])
        best: dict[str, TierRecord] = {}
        for record in self._in_order([of(pid) for pid in ids], _record_period):
            held = best.get(record.period)
            if held is None or record.score > held.score:
                best[record.period] = record
        return tuple(best.values())

    def lines_of(
        self,
        partner_id: str,
        *,
        kinds: Collection[str] | None = None,
        deal_ids: Collection[str] | None = None,
    ) -> tuple[LedgerLine, ...]:
        asked = self._deals_asked(deal_ids)
        groups = [
            tuple(map(self._line, self._inner.lines_of(pid, kinds=kinds, deal_ids=asked)))
            for pid in self._ids(partner_id)
        ]
        if deal_ids is not None:
            wanted = {deal_ids} if isinstance(deal_ids, str) else set(deal_ids)
            for other, deals in self._links.get(partner_id, ()):
                on = wanted & deals
                if on:
                    groups += [
                        tuple(
                            dataclasses.replace(ln, partner_id=partner_id)
                            for ln in map(self._line, self._inner.lines_of(pid, kinds=kinds, deal_ids=asked))
                            if ln.deal_id in on
                        )
                        for pid in self._ids(other)
                    ]
        return self._in_order(groups, _line_period)

    def periods_of(self, partner_id: str, kinds: Collection[str]) -> frozenset[str]:
        return frozenset().union(*(self._inner.periods_of(pid, kinds) for pid in self._ids(partner_id)))

    def paid_deal_ids(self, partner_id: str, kind: str) -> frozenset[str]:
        deals = self._aliases.deals
        paid = {
            deals.get(deal, deal)
            for pid in self._ids(partner_id)
            for deal in self._inner.paid_deal_ids(pid, kind)
        }
        for other, held in self._links.get(partner_id, ()):
            paid.update(
                deal
                for pid in self._ids(other)
                for deal in map(lambda d: deals.get(d, d), self._inner.paid_deal_ids(pid, kind))
                if deal in held
            )
        return frozenset(paid)

    def named_deal_ids(self, kind: str) -> frozenset[str]:
        named = self._named.get(kind)
        if named is None:  # with the deals a former id of which is named, under today's id
            inner = self._inner.named_deal_ids(kind)
            now = {current for former, current in self._aliases.deals.items() if former in inner}
            named = self._named[kind] = inner | now if now else inner
        return named

    def handed_on_deal_ids(self, partner_id: str) -> frozenset[str]:
        return frozenset(deal for _, deals in self._linked.get(partner_id, ()) for deal in deals)

    def lines_naming(
        self, deal_ids: Collection[str], kinds: Collection[str]
    ) -> Mapping[str, tuple[LedgerLine, ...]]:
        asked = self._deals_asked(deal_ids)
        assert asked is not None
        found: dict[str, list[tuple[LedgerLine, ...]]] = {}
        for deal, lines in self._inner.lines_naming(asked, kinds).items():
            found.setdefault(self._aliases.deals.get(deal, deal), []).append(
                tuple(map(self._linked_line, lines))
            )
        return MappingProxyType(
            {deal: self._in_order(groups, _line_period) for deal, groups in found.items()}
        )

    def tagged_lines(self, partner_id: str, tag: str) -> tuple[LedgerLine, ...]:
        groups = [tuple(map(self._line, self._inner.tagged_lines(pid, tag))) for pid in self._ids(partner_id)]
        return self._in_order(groups, _line_period)

    def has_tag(self, partner_id: str, tag: str) -> bool:
        return any(self._inner.has_tag(pid, tag) for pid in self._ids(partner_id))

    def lines_on_deals(self, kinds: Collection[str]) -> Mapping[str, tuple[LedgerLine, ...]]:
        found: dict[str, list[tuple[LedgerLine, ...]]] = {}
        for deal, lines in self._inner.lines_on_deals(kinds).items():
            found.setdefault(self._aliases.deals.get(deal, deal), []).append(
                tuple(map(self._linked_line, lines))
            )
        return MappingProxyType(
            {deal: self._in_order(groups, _line_period) for deal, groups in found.items()}
        )


def _line_period(line: LedgerLine) -> str:
    return line.period


def _record_period(record: TierRecord) -> str:
    return record.period
