"""Deterministic generator of the sandbox's logical dataset.

One logical dataset (partners, customers, campaigns, deals with their partners, activities, MDF
requests and claims) is generated from ``seed``; the Salesforce and HubSpot stores are both built
from it, so the same business facts are visible on both sides (under each CRM's own ids and names).
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

YEAR_START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
YEAR_DAYS = 365

STAGES: tuple[tuple[str, float], ...] = (
    ("Prospecting", 0.10),
    ("Qualification", 0.15),
    ("Proposal", 0.15),
    ("Negotiation", 0.10),
    ("Closed Won", 0.30),
    ("Closed Lost", 0.20),
)
CURRENCIES: tuple[tuple[str, float], ...] = (("USD", 0.6), ("EUR", 0.25), ("GBP", 0.15))
PARTNER_TYPES = ("Reseller", "Referral", "Technology", "Reseller", "Referral")
ACTIVITY_TYPES = ("joint_call", "joint_demo", "co_marketing_event", "training")
CLAIM_STATUSES = ("Draft", "Approved", "Approved", "Paid", "Rejected")

_WORDS_A = (
    "Northwind",
    "Contoso",
    "Fabrikam",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark",
    "Wayne",
    "Acme",
    "Hooli",
    "Vandelay",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
    "Wonka",
    "Aperture",
    "Oscorp",
    "Pied Piper",
    "Massive Dynamic",
    "Gringotts",
    "Monarch",
    "Dunder",
    "Prestige",
    "Sirius",
    "Blue Sun",
)
_WORDS_B = (
    "Systems",
    "Solutions",
    "Partners",
    "Consulting",
    "Technologies",
    "Group",
    "Labs",
    "Digital",
    "Networks",
    "Integrators",
    "Cloud",
    "Analytics",
    "Services",
    "Ventures",
    "Works",
)
_CAMPAIGNS = (
    "Q1 Partner Webinar Series",
    "Cloud Migration Blitz",
    "EMEA Roadshow",
    "Security Summit 2026",
    "Holiday Co-marketing",
    "Partner Summit 2026",
    "Data Week",
    "SMB Accelerator",
)


@dataclass(frozen=True)
class Partner:
    index: int
    name: str
    partner_type: str
    joined_on: dt.date
    status: str  # Active | Exiting | Exited
    exit_on: dt.date | None
    created: dt.datetime
    domain: str


@dataclass(frozen=True)
class Customer:
    index: int
    name: str
    created: dt.datetime
    domain: str


@dataclass(frozen=True)
class Campaign:
    index: int
    name: str
    start: dt.date


@dataclass(frozen=True)
class DealPartner:
    partner: int
    role: str  # sourced | cosell | influenced
    is_primary: bool


@dataclass(frozen=True)
class Deal:
    index: int
    name: str
    customer: int
    amount: str  # exact decimal text with 2 places
    currency: str
    stage: str
    created: dt.datetime
    close_date: dt.date
    modified: dt.datetime
    discount_pct: str
    margin_pct: str
    campaign: int | None
    refund_date: dt.date | None
    deleted: bool
    partners: tuple[DealPartner, ...]


@dataclass(frozen=True)
class Activity:
    index: int
    partner: int
    kind: str
    occurred: dt.datetime
    subject: str


@dataclass(frozen=True)
class FundRequest:
    index: int
    partner: int
    campaign: int
    amount: str
    status: str


@dataclass(frozen=True)
class FundClaim:
    index: int
    partner: int
    request: int
    amount: str
    status: str  # Draft | Approved | Rejected | Paid
    approved_on: dt.date | None
    created: dt.datetime


@dataclass
class Dataset:
    seed: int
    partners: list[Partner] = field(default_factory=list)
    customers: list[Customer] = field(default_factory=list)
    campaigns: list[Campaign] = field(default_factory=list)
    deals: list[Deal] = field(default_factory=list)
    activities: list[Activity] = field(default_factory=list)
    fund_requests: list[FundRequest] = field(default_factory=list)
    fund_claims: list[FundClaim] = field(default_factory=list)


def _pick(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    u = rng.random()
    acc = 0.0
    for value, weight in weighted:
        acc += weight
        if u < acc:
            return value
    return weighted[-1][0]


def _when(rng: random.Random, lo_day: int = 0, hi_day: int = YEAR_DAYS - 1) -> dt.datetime:
    day = rng.randint(lo_day, hi_day)
    return YEAR_START + dt.timedelta(days=day, seconds=rng.randint(8 * 3600, 19 * 3600))


def _slug(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def generate(seed: int = 0, partners: int = 50, deals: int = 500) -> Dataset:
    """Generate the dataset. Same arguments, same dataset."""
    rng = random.Random(seed)
    data = Dataset(seed=seed)
    year_end = dt.datetime(2026, 12, 31, 23, 59, tzinfo=dt.UTC)
    for i in range(partners):
        name = f"{_WORDS_A[i % len(_WORDS_A)]} {_WORDS_B[(i // len(_WORDS_A) + i) % len(_WORDS_B)]}"
        if i >= len(_WORDS_A) * len(_WORDS_B):
            name += f" {i}"
        joined = dt.date(2024, 1, 1) + dt.timedelta(days=rng.randint(0, 365 * 2 + 300))
        status, exit_on = "Active", None
        u = rng.random()
        if u < 0.06:
            status, exit_on = "Exiting", dt.date(2026, 1, 1) + dt.timedelta(days=rng.randint(60, 330))
        elif u < 0.08:
            status, exit_on = "Exited", dt.date(2026, 1, 1) + dt.timedelta(days=rng.randint(0, 120))
        created = dt.datetime.combine(joined, dt.time(9, 0), tzinfo=dt.UTC)
        data.partners.append(
            Partner(
                i,
                name,
                PARTNER_TYPES[i % len(PARTNER_TYPES)],
                joined,
                status,
                exit_on,
                created,
                f"{_slug(name)}.example.com",
            )
        )
    n_customers = max(20, deals // 5)
    for i in range(n_customers):
        name = f"Customer {i + 1:05d} {_WORDS_B[i % len(_WORDS_B)]}"
        created = YEAR_START - dt.timedelta(days=rng.randint(30, 900))
        data.customers.append(Customer(i, name, created, f"customer{i + 1}.example.org"))
    for i, cname in enumerate(_CAMPAIGNS):
        data.campaigns.append(Campaign(i, cname, dt.date(2026, 1 + (i * 3) % 12, 1)))
    for i in range(deals):
        created = _when(rng)
        stage = _pick(rng, STAGES)
        currency = _pick(rng, CURRENCIES)
        amount = f"{rng.randint(20, 2000) * 250 + rng.choice((0, 50, 99))}.{rng.choice(('00', '50', '25'))}"
        close_date = (created + dt.timedelta(days=rng.randint(7, 150))).date()
        if close_date.year > 2026:
            close_date = dt.date(2026, 12, rng.randint(20, 31))
        modified = min(
            created + dt.timedelta(days=rng.randint(0, 60), seconds=rng.randint(0, 86399)), year_end
        )
        if stage in ("Closed Won", "Closed Lost"):
            modified = max(modified, dt.datetime.combine(close_date, dt.time(18, 0), tzinfo=dt.UTC))
            modified = min(modified, year_end)
        discount = f"{rng.choice((0, 0, 5, 10, 12.5, 15, 20, 22, 25, 28, 30, 35)):.2f}"
        margin = f"{rng.choice((18, 25, 29.5, 30, 35, 40, 45, 50, 55, 60)):.2f}"
        campaign = rng.randrange(len(_CAMPAIGNS)) if rng.random() < 0.4 else None
        refund = None
        if stage == "Closed Won" and rng.random() < 0.04:
            refund = close_date + dt.timedelta(days=rng.randint(5, 120))
        involved: list[DealPartner] = []
        if partners:
            u = rng.random()
            if u < 0.75:
                p1 = rng.randrange(partners)
                involved.append(DealPartner(p1, "sourced", True))
                if rng.random() < 0.2 and partners > 1:
                    p2 = (p1 + 1 + rng.randrange(partners - 1)) % partners
                    involved.append(DealPartner(p2, "cosell", False))
            elif u < 0.85:
                involved.append(DealPartner(rng.randrange(partners), "influenced", False))
        deleted = rng.random() < 0.01
        customer = rng.randrange(n_customers)
        data.deals.append(
            Deal(
                i,
                f"{data.customers[customer].name.split(' ', 2)[2]} deal {i + 1:06d}",
                customer,
                amount,
                currency,
                stage,
                created,
                close_date,
                modified,
                discount,
                margin,
                campaign,
                refund,
                deleted,
                tuple(involved),
            )
        )
    n_activities = max(partners * 4, deals // 4) if partners else 0
    for i in range(n_activities):
        kind = ACTIVITY_TYPES[rng.randrange(len(ACTIVITY_TYPES))]
        p = rng.randrange(partners)
        data.activities.append(
            Activity(i, p, kind, _when(rng), f"{kind.replace('_', ' ').title()} with {data.partners[p].name}")
        )
    n_requests = partners // 2
    for i in range(n_requests):
        data.fund_requests.append(
            FundRequest(
                i,
                rng.randrange(partners),
                rng.randrange(len(_CAMPAIGNS)),
                f"{rng.randint(4, 40) * 500}.00",
                "Approved",
            )
        )
    for i in range(n_requests * 2 if n_requests else 0):
        req = data.fund_requests[rng.randrange(n_requests)]
        status = CLAIM_STATUSES[rng.randrange(len(CLAIM_STATUSES))]
        created = _when(rng, 0, 330)
        approved = (
            (created + dt.timedelta(days=rng.randint(1, 20))).date()
            if status in ("Approved", "Paid")
            else None
        )
        data.fund_claims.append(
            FundClaim(i, req.partner, req.index, f"{rng.randint(2, 30) * 250}.00", status, approved, created)
        )
    return data
