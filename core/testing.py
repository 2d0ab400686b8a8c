"""Builders for tests of cosell and of plugins: records in one line, programs from a few keys.

from cosell.testing import deal, partner, program, compute_period
result = compute_period(program(), [partner("P1")], [deal("D1", "1000", won_on="2026-08-01", partners=["P1"])])
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from .engine import Computation, compute
from .periods import Period
from .pluginmanager import Plugins
from .program import LoadedProgram, Program, parse_program
from .records import ACTIVITY, DEAL, MDF_CLAIM, PARTNER, Activity, Deal, MdfClaim, Partner, RecordSet
from .results import History

BASE_PROGRAM: dict[str, Any] = {
    "program": "Test Program",
    "period": "2026-Q3",
    "currency": "USD",
    "tiers": [{"name": "Registered", "min_score": 0, "commission_rate": "0.05"}],
}


def partner(id: str = "P1", name: str | None = None, joined_on: str = "2025-01-01", **fields: Any) -> Partner:
    return PARTNER.validate_python(
        {"id": id, "name": name or f"Partner {id}", "joined_on": joined_on, **fields}
    )


def deal(
    id: str,
    amount: str | int | Decimal = "1000",
    *,
    partners: Sequence[str | tuple[str, str] | tuple[str, str, str | None]] = (),
    created_on: str = "2026-07-01",
    won_on: str | None = None,
    lost_on: str | None = None,
    currency: str = "USD",
    stage: str | None = None,
    **fields: Any,
) -> Deal:
    """A deal; ``partners`` as ids (sourced), (id, role) or (id, role, share). ``won_on``/``lost_on`` close it."""
    involvements = []
    for p in partners:
        if isinstance(p, str):
            involvements.append({"partner_id": p, "role": "sourced"})
        else:
            inv: dict[str, Any] = {"partner_id": p[0], "role": p[1]}
            if len(p) > 2 and p[2] is not None:
                inv["share"] = p[2]
            involvements.append(inv)
    status = "won" if won_on else "lost" if lost_on else "open"
    return DEAL.validate_python(
        {
            "id": id,
            "name": fields.pop("name", f"Deal {id}"),
            "amount": str(amount),
            "currency": currency,
            "stage": stage or {"won": "Closed Won", "lost": "Closed Lost", "open": "Proposal"}[status],
            "status": status,
            "created_on": created_on,
            "closed_on": won_on or lost_on,
            "partners": involvements,
            **fields,
        }
    )


def activity(
    id: str, partner_id: str, type: str, occurred_on: str, quantity: str | int = 1, **fields: Any
) -> Activity:
    return ACTIVITY.validate_python(
        {
            "id": id,
            "partner_id": partner_id,
            "type": type,
            "occurred_on": occurred_on,
            "quantity": str(quantity),
            **fields,
        }
    )


def mdf_claim(
    id: str, partner_id: str, campaign: str, amount: str | int, status: str = "approved", **fields: Any
) -> MdfClaim:
    return MDF_CLAIM.validate_python(
        {
            "id": id,
            "partner_id": partner_id,
            "campaign": campaign,
            "amount": str(amount),
            "status": status,
            **fields,
        }
    )


def program(yaml_text: str | None = None, **overrides: Any) -> LoadedProgram:
    """A program from YAML text, or the minimal test program with top-level keys replaced."""
    if yaml_text is not None:
        return parse_program(yaml_text, "<test program>")
    doc = {**BASE_PROGRAM, **overrides}
    # JSON is YAML, and keeps the keys in the order given.
    return parse_program(json.dumps(_yamlable(doc), indent=1), "<test program>")


def _yamlable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _yamlable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_yamlable(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def compute_period(
    loaded: LoadedProgram | Program,
    partners: Iterable[Partner],
    deals: Iterable[Deal] = (),
    activities: Iterable[Activity] = (),
    mdf_claims: Iterable[MdfClaim] = (),
    *,
    period: str | None = None,
    history: History | None = None,
    plugins: Plugins | None = None,
) -> Computation:
    """Compute one period from records, without a ledger or a connector."""
    prog = loaded.program if isinstance(loaded, LoadedProgram) else loaded
    records = RecordSet(tuple(partners), tuple(deals), tuple(activities), tuple(mdf_claims))
    plugins = plugins or Plugins(entry_points=False)
    settings = {}
    if isinstance(loaded, LoadedProgram):
        from .engine import check_program

        settings = check_program(loaded, plugins)
    return compute(
        prog, Period.parse(period or prog.period), records, history or History(), plugins, settings
    )
