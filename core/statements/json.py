"""``--format json``: per partner its tier, score, period earnings, total payable (earnings + MDF), what its
open deals would pay (projected, never paid), its tier's benefits (null when not recorded) and stored lines."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from ..money import format_money
from .document import by_partner

if TYPE_CHECKING:
    from .document import StatementDocument


def render(doc: StatementDocument) -> str:
    lines = by_partner(doc.lines)
    body: dict[str, Any] = {
        "period": doc.period,
        "status": doc.status,
        "partners": [
            {
                "partner_id": s.partner_id,
                "tier": s.assigned if s.standing_recorded else None,
                "tier_shown": s.tier_shown if s.standing_recorded else None,
                "tier_exception": None if s.exception is None else asdict(s.exception),
                "score": f"{s.score:.2f}" if s.standing_recorded else None,
                "period_earnings": format_money(s.earnings),
                "total_payable": format_money(s.payable),
                "projected": format_money(s.projected),
                "benefits": None if s.benefits is None else list(s.benefits),
                "lines": [
                    {
                        "kind": line.kind,
                        "deal_id": line.deal_id,
                        "amount": format_money(line.amount),
                        "withheld": line.withheld,
                        "explanation": line.explanation,
                    }
                    for line in lines.get(s.partner_id, ())
                ],
            }
            for s in doc.statements
        ],
    }
    return json.dumps(body, indent=2) + "\n"
