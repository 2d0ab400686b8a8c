"""Where cosell's records and fields live in a HubSpot portal (SPEC "Where records come from in a CRM"),
and how a snapshot of HubSpot objects becomes canonical records.

Every property name, value and label is a setting of :class:`HubSpotSettings` (the program's
``plugins: {hubspot: {...}}`` entry); the defaults fit the portal docs/hubspot.md describes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from cosell.connector import ClaimLeftOut
from cosell.connectors.common import ManagedName, check_managed_names
from cosell.errors import InputError, Problem
from cosell.merges import following
from cosell.records import (
    ROLES,
    Activity,
    ClaimStatus,
    Deal,
    Involvement,
    MdfClaim,
    Merge,
    Partner,
    PartnerStatus,
    RecordSet,
    Role,
)

MERGED_IDS = "hs_merged_object_ids"
"""HubSpot's property listing the ids merged into a record (``;`` between them): a merge gives the result a
new id, and cosell reads the old ids' history as the new record's."""

_STATUSES: dict[str, PartnerStatus] = {"active": "active", "exiting": "exiting", "exited": "exited"}
_ROLE_LABELS: dict[str, Role] = {"Partner": "sourced", "Co-sell": "cosell", "Influenced": "influenced"}
_CLAIM_STATUSES: dict[str, ClaimStatus] = {
    "submitted": "submitted", "approved": "approved", "paid": "paid", "rejected": "rejected",
}  # fmt: skip


class HubSpotSettings(BaseModel):
    """The ``plugins.hubspot`` entry of a program file; every key optional."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # partners: companies with a value in partner_property (any value, or one of partner_values), or any
    # company a deal names with one of role_labels
    partner_property: str = "partner_type"
    partner_values: tuple[str, ...] = ()
    partner_status_property: str = "partner_status"
    partner_status_values: dict[str, PartnerStatus] = Field(default_factory=lambda: dict(_STATUSES))
    partner_joined_property: str = "partner_joined_on"
    partner_exit_property: str = "partner_exit_on"
    partner_attribute_properties: tuple[str, ...] = ("partner_type",)
    # deal → company association labels
    role_labels: dict[str, Role] = Field(default_factory=lambda: dict(_ROLE_LABELS))
    # deals
    amount_property: str = "amount"
    currency_property: str = "deal_currency_code"
    discount_property: str | None = "discount_percent"
    margin_property: str | None = "margin_percent"
    campaign_property: str | None = "campaign_name"
    refund_property: str | None = "refund_date"
    # activities: engagements associated with the partner company
    activity_objects: tuple[str, ...] = ("meetings",)
    activity_type_property: str = "cosell_activity_type"
    activity_date_property: str = "hs_timestamp"
    # MDF claims: a custom object (None: no claims)
    mdf_object: str | None = "p_mdf_claims"
    mdf_amount_property: str = "amount"
    mdf_currency_property: str | None = "currency"
    mdf_status_property: str = "status"
    mdf_status_values: dict[str, ClaimStatus] = Field(default_factory=lambda: dict(_CLAIM_STATUSES))
    mdf_approved_property: str = "approved_on"
    mdf_campaign_property: str = "campaign"
    mdf_partner_property: str | None = "partner_company_id"
    # the managed properties cosell writes, and the group `cosell setup hubspot` puts them in
    tier_property: str = "cosell_tier"
    score_property: str = "cosell_score"
    period_earnings_property: str = "cosell_period_earnings"
    tier_benefits_property: str = "cosell_tier_benefits"
    incentive_property: str = "cosell_incentive"
    incentive_status_property: str = "cosell_incentive_status"
    incentive_note_property: str = "cosell_incentive_note"
    property_group: str = "cosell"
    # API use
    search_page_size: int = Field(200, ge=1, le=200)
    search_requests_per_second: float = Field(4.0, gt=0)
    requests_per_ten_seconds: int = Field(190, ge=1)
    association_batch_size: int = Field(1000, ge=1, le=1000)
    retry_budget_seconds: float = Field(60.0, gt=0)
    overlap_minutes: float = Field(5.0, ge=0)
    full_read_after_days: float | None = Field(7.0, gt=0)
    """Read every stream whole again once the last full read is this old; null: only when asked."""
    read_archived: bool = True

    @model_validator(mode="after")
    def _managed_properties_are_cosells(self) -> HubSpotSettings:
        managed = [
            ManagedName(role, name, (f"{role}_property",), f"{role}_property" in self.model_fields_set)
            for obj in ("account", "deal")
            for role, name in self.managed(obj).items()
        ]
        check_managed_names("HubSpotSettings", managed, self.read_properties(), _hubspot_defined)
        return self

    def read_properties(self) -> list[tuple[tuple[str | int, ...], str | None]]:
        """Every property name the reader reads, with the setting that names it: a managed property may
        be none of them."""
        out: list[tuple[tuple[str | int, ...], str | None]] = []
        for key, value in self:
            if key.endswith("_property") and key.removesuffix("_property") not in _MANAGED_ROLES:
                out.append(((key,), value))
        out += [
            (("partner_attribute_properties", i), n) for i, n in enumerate(self.partner_attribute_properties)
        ]
        return out

    def managed(self, obj: str) -> dict[str, str]:
        """Canonical field → HubSpot property, for ``account`` or ``deal``."""
        if obj == "account":
            return {"tier": self.tier_property, "score": self.score_property,
                    "period_earnings": self.period_earnings_property,
                    "tier_benefits": self.tier_benefits_property}  # fmt: skip
        return {"incentive": self.incentive_property, "incentive_status": self.incentive_status_property,
                "incentive_note": self.incentive_note_property}  # fmt: skip

    def company_properties(self) -> list[str]:
        names = [self.partner_property, self.partner_status_property, self.partner_joined_property,
                 self.partner_exit_property, "name", "createdate", "hs_lastmodifieddate", MERGED_IDS,
                 *self.partner_attribute_properties, *self.managed("account").values()]  # fmt: skip
        return _unique(names)

    def deal_properties(self) -> list[str]:
        names = ["dealname", self.amount_property, self.currency_property, "dealstage", "pipeline", "createdate",
                 "closedate", "hs_lastmodifieddate", MERGED_IDS, self.discount_property, self.margin_property,
                 self.campaign_property, self.refund_property, *self.managed("deal").values()]  # fmt: skip
        return _unique(names)

    def activity_properties(self) -> list[str]:
        return _unique(
            [self.activity_type_property, self.activity_date_property, "hs_lastmodifieddate", MERGED_IDS]
        )

    def mdf_properties(self) -> list[str]:
        names = [self.mdf_amount_property, self.mdf_currency_property, self.mdf_status_property,
                 self.mdf_approved_property, self.mdf_campaign_property, self.mdf_partner_property,
                 "hs_lastmodifieddate", MERGED_IDS]  # fmt: skip
        return _unique(names)


_MANAGED_ROLES = frozenset(
    {"tier", "score", "period_earnings", "tier_benefits", "incentive", "incentive_status", "incentive_note"}
)

# HubSpot's own company and deal properties (besides every hs_* and hubspot_* one): cosell never writes them.
_DEFAULT_PROPERTIES = frozenset({
    "about_us", "address", "address2", "amount", "amount_in_home_currency", "annualrevenue", "city",
    "closed_lost_reason", "closed_won_reason", "closedate", "country", "createdate", "days_to_close",
    "deal_currency_code", "dealname", "dealstage", "dealtype", "description", "domain",
    "engagements_last_meeting_booked", "facebook_company_page", "first_contact_createdate",
    "first_deal_created_date", "founded_year", "industry", "is_public", "lifecyclestage",
    "linkedin_company_page", "linkedinbio", "name", "notes_last_contacted", "notes_last_updated",
    "notes_next_activity_date", "num_associated_contacts", "num_associated_deals", "num_contacted_notes",
    "num_notes", "numberofemployees", "phone", "pipeline", "recent_deal_amount", "recent_deal_close_date",
    "state", "timezone", "total_money_raised", "total_revenue", "twitterhandle", "type", "web_technologies",
    "website", "zip",
})  # fmt: skip


def _hubspot_defined(name: str) -> str | None:
    lower = name.lower()
    if lower.startswith(("hs_", "hubspot_")) or lower in _DEFAULT_PROPERTIES:
        return "it is a HubSpot default property; cosell writes only the custom properties it creates"
    return None


def _unique(names: Iterable[str | None]) -> list[str]:
    return list(dict.fromkeys(n for n in names if n))


# -- a snapshot becomes records --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stage:
    label: str
    closed: bool
    won: bool


@dataclass(slots=True)
class Snapshot:
    """The synced objects (id → properties) and this run's associations to companies."""

    companies: dict[str, dict[str, Any]] = field(default_factory=dict)
    deals: dict[str, dict[str, Any]] = field(default_factory=dict)
    activities: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    claims: dict[str, dict[str, Any]] = field(default_factory=dict)
    deal_links: dict[str, list[tuple[str, list[str]]]] = field(default_factory=dict)
    activity_links: dict[str, dict[str, list[tuple[str, list[str]]]]] = field(default_factory=dict)
    claim_links: dict[str, list[tuple[str, list[str]]]] = field(default_factory=dict)
    stages: dict[str, Stage] = field(default_factory=dict)


_PARTNERS: TypeAdapter[list[Partner]] = TypeAdapter(list[Partner])
_DEALS: TypeAdapter[list[Deal]] = TypeAdapter(list[Deal])
_ACTIVITIES: TypeAdapter[list[Activity]] = TypeAdapter(list[Activity])
_CLAIMS: TypeAdapter[list[MdfClaim]] = TypeAdapter(list[MdfClaim])


_DAY_MS = 86_400_000


def to_date(text: str, zone: ZoneInfo, *, day: bool = False) -> date:
    """A HubSpot value as a date: ``YYYY-MM-DD`` as is, a datetime (ISO or epoch ms) in ``zone``.

    ``day``: the property holds a day (HubSpot's date properties, whose values are midnight UTC, as
    epoch ms or ISO): a value at midnight UTC is that day whatever ``zone`` (in New York it would
    otherwise be the day before). A value at another time is a moment, taken in ``zone``."""
    text = text.strip()
    try:
        if text.isascii() and text.isdigit():  # epoch ms (isdigit() alone takes any script's digits)
            millis = int(text)
            moment = datetime.fromtimestamp(millis / 1000, UTC)
            return moment.date() if day and millis % _DAY_MS == 0 else moment.astimezone(zone).date()
        if "T" not in text:
            return date.fromisoformat(text)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        if day and moment.utcoffset() == timedelta(0) and moment.time() == time(0):
            return moment.date()
        return moment.astimezone(zone).date()
    except (OverflowError, OSError) as exc:  # a moment beyond the calendar
        raise ValueError(f"{text!r} is beyond the calendar") from exc


def to_stamp(text: str | None) -> datetime | None:
    if not text:
        return None
    if text.isascii() and text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, UTC)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class _Builder:
    def __init__(self, settings: HubSpotSettings, zone: ZoneInfo, currency: str) -> None:
        self.s = settings
        self.zone = zone
        self.currency = currency
        self.problems: list[Problem] = []

    def problem(self, obj: str, rid: str, prop: str, message: str) -> None:
        self.problems.append(Problem(f"HubSpot {obj} {rid}", f"{prop}: {message}"))

    def text(self, props: Mapping[str, Any], name: str | None) -> str | None:
        if not name:
            return None
        value = props.get(name)
        return str(value).strip() or None if value is not None else None

    def date(
        self, obj: str, rid: str, props: Mapping[str, Any], name: str | None, *, day: bool = False
    ) -> date | None:
        value = self.text(props, name)
        if value is None or name is None:
            return None
        try:
            return to_date(value, self.zone, day=day)
        except ValueError:
            self.problem(obj, rid, name, f"not a date: {value!r}")
            return None

    def number(self, obj: str, rid: str, props: Mapping[str, Any], name: str | None) -> Decimal | None:
        value = self.text(props, name)
        if value is None or name is None:
            return None
        try:
            # Decimal() reads any Unicode digit: only ASCII ones are numbers here.
            number = Decimal(value.replace(",", "")) if value.isascii() else Decimal("NaN")
        except InvalidOperation:
            number = Decimal("NaN")
        if not number.is_finite():
            self.problem(obj, rid, name, f"not a number: {value!r}")
            return None
        return number

    def code(self, obj: str, rid: str, props: Mapping[str, Any], name: str | None) -> str | None:
        value = self.text(props, name)
        if value is None or name is None:
            return None
        if len(value) != 3 or not value.isalpha():
            self.problem(obj, rid, name, f"not an ISO 4217 currency code: {value!r}")
            return None
        return value.upper()


def _approved_on(b: _Builder, props: Mapping[str, Any], s: HubSpotSettings) -> date | None:
    """A left-out claim's approval date, read without checking (None when it holds none, or no date):
    the run names the claims approved in the period it runs."""
    value = b.text(props, s.mdf_approved_property)
    if value is None:
        return None
    try:
        return to_date(value, b.zone, day=True)
    except ValueError:
        return None


def build_records(
    snap: Snapshot,
    settings: HubSpotSettings,
    zone: ZoneInfo,
    currency: str,
    *,
    claims_left_out: list[ClaimLeftOut] | None = None,
) -> RecordSet:
    """Canonical records from a snapshot; every bad value is reported at once (InputError, exit 2).

    An MDF claim naming a company that is no partner (a customer, a partner that left the program) is
    left out, and ``claims_left_out`` (when given) gets it (the run names those approved in its period);
    a claim naming no company at all is an input error."""
    b = _Builder(settings, zone, currency)
    s = settings
    company_into, deal_into = _merged_into(snap.companies, b, "company"), _merged_into(snap.deals, b, "deal")
    company = following(company_into)
    labelled = {company(cid) for links in snap.deal_links.values() for cid, labels in links
                if any(label in s.role_labels for label in labels)}  # fmt: skip
    wanted = {v.casefold() for v in s.partner_values}
    partner_rows: list[dict[str, Any]] = []
    partner_ids: set[str] = set()
    for cid in sorted(snap.companies):
        if cid in company_into:
            continue  # merged into another company: the snapshot holds it until its id check
        props = snap.companies[cid]
        kind = b.text(props, s.partner_property)
        is_partner = (kind is not None and (not wanted or kind.casefold() in wanted)) or cid in labelled
        if not is_partner:
            continue
        partner_ids.add(cid)
        status_text = b.text(props, s.partner_status_property)
        status: str = "active"
        if status_text is not None:
            found = {k.casefold(): v for k, v in s.partner_status_values.items()}.get(status_text.casefold())
            if found is None:
                known = ", ".join(s.partner_status_values)
                b.problem("company", cid, s.partner_status_property, f"{status_text!r} is not one of {known}")
            else:
                status = found
        joined = b.date("company", cid, props, s.partner_joined_property, day=True) or b.date(
            "company", cid, props, "createdate"
        )
        exit_on = b.date("company", cid, props, s.partner_exit_property, day=True)
        if status in ("exiting", "exited") and exit_on is None:
            b.problem("company", cid, s.partner_exit_property, f"a partner {status} needs an exit date")
        attributes = {p: v for p in s.partner_attribute_properties if (v := b.text(props, p)) is not None}
        partner_rows.append({
            "id": cid, "name": b.text(props, "name") or cid, "joined_on": joined, "status": status,
            "exit_on": exit_on, "crm_tier": b.text(props, s.tier_property), "attributes": attributes,
        })  # fmt: skip

    deal_rows = []
    for did in sorted(snap.deals, key=_id_order):
        if did in deal_into:
            continue  # merged into another deal, as above
        props = snap.deals[did]
        stage_id = b.text(props, "dealstage") or ""
        stage = snap.stages.get(stage_id)
        if stage is None:
            b.problem("deal", did, "dealstage", f"stage {stage_id!r} is in no deal pipeline")
            continue
        status = "won" if stage.won else "lost" if stage.closed else "open"
        # HubSpot refuses a closedate that is not midnight UTC (INVALID_DATE) through the API: a day
        closed_on = b.date("deal", did, props, "closedate", day=True) if stage.closed else None
        if stage.closed and closed_on is None:
            b.problem("deal", did, "closedate", f"a {status} deal needs a close date")
        named = [(company(cid), labels) for cid, labels in snap.deal_links.get(did, ())]
        involvements = _involvements(named, partner_ids, s.role_labels)
        deal_rows.append({
            "id": did, "name": b.text(props, "dealname") or did,
            "amount": b.number("deal", did, props, s.amount_property) or Decimal(0),
            "currency": b.code("deal", did, props, s.currency_property) or currency,
            "stage": stage.label, "status": status,
            "created_on": b.date("deal", did, props, "createdate"), "closed_on": closed_on,
            "discount_pct": b.number("deal", did, props, s.discount_property),
            "margin_pct": b.number("deal", did, props, s.margin_property),
            "campaign": b.text(props, s.campaign_property),
            "refunded_on": b.date("deal", did, props, s.refund_property, day=True),
            "partners": involvements,
        })  # fmt: skip

    activity_rows = []
    for obj, records in sorted(snap.activities.items()):
        links = snap.activity_links.get(obj, {})
        merged_away = _merged_into(records, b, obj)  # counted once, under the merged record's id
        for aid in sorted(records, key=_id_order):
            if aid in merged_away:
                continue
            props = records[aid]
            kind = b.text(props, s.activity_type_property)
            if kind is None:
                continue  # an engagement cosell does not count
            linked = [company(cid) for cid, _ in links.get(aid, ()) if company(cid) in partner_ids]
            occurred = b.date(obj, aid, props, s.activity_date_property)
            for n, cid in enumerate(dict.fromkeys(linked)):
                activity_rows.append({"id": aid if n == 0 else f"{aid}:{cid}", "partner_id": cid, "type": kind,
                                      "occurred_on": occurred})  # fmt: skip

    claim_rows = []
    claims_of_others: list[ClaimLeftOut] = []  # those naming a company that is no partner
    claim_into = _merged_into(snap.claims, b, "MDF claim")  # funded once, as the merged claim
    for mid in sorted(snap.claims, key=_id_order):
        if mid in claim_into:
            continue
        props = snap.claims[mid]
        companies = [company(cid) for cid, _ in snap.claim_links.get(mid, ())]
        linked = [cid for cid in companies if cid in partner_ids]
        by_property = b.text(props, s.mdf_partner_property)
        partner = linked[0] if linked else None if by_property is None else company(by_property)
        if partner is None and not companies:
            what = f"no {s.mdf_partner_property}" if s.mdf_partner_property else "no property naming one"
            b.problem("MDF claim", mid, s.mdf_partner_property or "associations",
                      f"names no company (no association to one, and {what})")  # fmt: skip
            continue
        if partner is None or partner not in partner_ids:
            other = partner if partner is not None else companies[0]
            claims_of_others.append(ClaimLeftOut(mid, "company", other, _approved_on(b, props, s)))
            continue
        status_text = b.text(props, s.mdf_status_property) or ""
        claim_status = {k.casefold(): v for k, v in s.mdf_status_values.items()}.get(status_text.casefold())
        if claim_status is None:
            known = ", ".join(s.mdf_status_values)
            b.problem("MDF claim", mid, s.mdf_status_property, f"{status_text!r} is not one of {known}")
            continue
        approved = b.date("MDF claim", mid, props, s.mdf_approved_property, day=True)
        if claim_status in ("approved", "paid") and approved is None:
            b.problem(
                "MDF claim", mid, s.mdf_approved_property, f"a {claim_status} claim needs an approval date"
            )
        claim_rows.append({
            "id": mid, "partner_id": partner, "campaign": b.text(props, s.mdf_campaign_property) or "",
            "amount": b.number("MDF claim", mid, props, s.mdf_amount_property) or Decimal(0),
            "status": claim_status, "approved_on": approved,
            "currency": b.code("MDF claim", mid, props, s.mdf_currency_property),
        })  # fmt: skip

    partners = _validate(_PARTNERS, partner_rows, "company", b, _partner_props(s))
    deals = _validate(_DEALS, deal_rows, "deal", b, _deal_props(s))
    activities = _validate(
        _ACTIVITIES, activity_rows, "activity", b, {"occurred_on": s.activity_date_property}
    )
    claims = _validate(_CLAIMS, claim_rows, "MDF claim", b, _claim_props(s))
    if b.problems:
        raise InputError(b.problems)
    if claims_left_out is not None:
        claims_left_out += claims_of_others
    merges = [Merge("partner", f, c) for f, c in company_into.items() if company(c) in partner_ids]
    merges += [Merge("deal", f, d) for f, d in deal_into.items()]
    return RecordSet(tuple(partners), tuple(deals), tuple(activities), tuple(claims), tuple(merges))


def _id_order(rid: str) -> tuple[int, str]:
    return (len(rid), rid)


def _merged_into(objects: Mapping[str, Mapping[str, Any]], b: _Builder, obj: str) -> dict[str, str]:
    """Former id → the id of the record it was merged into, from the records' ``hs_merged_object_ids``.

    HubSpot lists every id a record absorbed, those of earlier merges too; a record merged away may still
    be in the snapshot (until its id is checked) with its own, shorter list. A former id goes to the
    record that is not itself merged away; ids only a merged-away record lists go to that record (the
    engine follows the chain). Two live records listing one id, or records listing each other, are
    problems: HubSpot makes neither, and guessing would move one record's payouts to another."""
    listed = {
        rid: ids
        for rid, props in objects.items()
        if props.get(MERGED_IDS) and (ids := _ids(props[MERGED_IDS]))
    }
    if not listed:  # most portals, most runs: nothing to sort
        return {}
    gone = {former for rid, formers in listed.items() for former in formers if former != rid}
    into: dict[str, str] = {}
    for live in (True, False):
        for rid in sorted(listed, key=_id_order):
            if (rid not in gone) != live:
                continue
            for former in listed[rid]:
                held = into.get(former)
                if former == rid or held == rid:
                    continue
                if held is None:
                    into[former] = rid
                elif live:
                    b.problem(obj, rid, MERGED_IDS, f"lists {former}, which {held} lists too")
    circles: set[frozenset[str]] = set()
    for former in sorted(into, key=_id_order):
        chain = [former]
        while chain[-1] in into and into[chain[-1]] not in chain:
            chain.append(into[chain[-1]])
        if chain[-1] in into and frozenset(chain) not in circles:
            circles.add(frozenset(chain))
            shown = " → ".join([*chain, into[chain[-1]]])
            b.problem(obj, former, MERGED_IDS, f"the records list each other as merged into them: {shown}")
    return into


def _ids(text: Any) -> list[str]:
    return [part.strip() for part in str(text or "").split(";") if part.strip()]


def _involvements(
    links: Iterable[tuple[str, Sequence[str]]], partners: set[str], labels: Mapping[str, Role]
) -> tuple[Involvement, ...]:
    roles: dict[str, Role] = {}
    for cid, names in links:
        found = [labels[n] for n in names if n in labels]
        if not found or cid not in partners:
            continue
        best = min(found + ([roles[cid]] if cid in roles else []), key=ROLES.index)
        roles[cid] = best
    return tuple(Involvement(partner_id=cid, role=role) for cid, role in roles.items())


def _partner_props(s: HubSpotSettings) -> dict[str, str]:
    return {"joined_on": s.partner_joined_property, "exit_on": s.partner_exit_property,
            "status": s.partner_status_property, "crm_tier": s.tier_property}  # fmt: skip


def _deal_props(s: HubSpotSettings) -> dict[str, str]:
    return {"amount": s.amount_property, "currency": s.currency_property, "created_on": "createdate",
            "closed_on": "closedate", "discount_pct": s.discount_property or "discount",
            "margin_pct": s.margin_property or "margin", "refunded_on": s.refund_property or "refund",
            "name": "dealname"}  # fmt: skip


def _claim_props(s: HubSpotSettings) -> dict[str, str]:
    return {"amount": s.mdf_amount_property, "approved_on": s.mdf_approved_property,
            "campaign": s.mdf_campaign_property, "currency": s.mdf_currency_property or "currency"}  # fmt: skip


def _validate(
    adapter: TypeAdapter[list[Any]],
    rows: list[dict[str, Any]],
    obj: str,
    b: _Builder,
    props: Mapping[str, str],
) -> list[Any]:
    """Validate a whole list at once (fast); each error names the record's id and the HubSpot property."""
    try:
        return adapter.validate_python(rows)
    except ValidationError as exc:
        for error in exc.errors():
            loc = error["loc"]
            index = loc[0] if loc and isinstance(loc[0], int) else None
            rid = str(rows[index].get("id")) if index is not None else "?"
            fname = str(loc[1]) if len(loc) > 1 else "record"
            b.problem(obj, rid, props.get(fname, fname), error["msg"])
        return []
