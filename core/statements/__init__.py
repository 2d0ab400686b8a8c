"""Statements: what a partner reads about its period.

``model`` builds a ``PartnerStatement`` from stored data; ``facts`` is what a run records for it;
``document`` reads a period's statements from the ledger; ``formats`` picks the renderer of a format; ``csv``,
``json``, ``html``, ``terminal`` and ``xlsx`` are the built-in renderers.
"""

from .document import StatementDocument, document, ledger_statements
from .facts import PartnerRecord, RunRecord, SectionRow, StatementSection, run_record
from .formats import (
    Renderer,
    builtin_renderers,
    file_names,
    per_partner,
    render,
    renderer_of,
    statement_renderers,
)
from .model import (
    Adjustments,
    LineGroup,
    PartnerStatement,
    Requirement,
    StatementLine,
    TierGoal,
    grouped,
    number,
    period_earnings,
)
from .terminal import computed_statement, print_explanation

__all__ = [
    "Adjustments",
    "LineGroup",
    "PartnerRecord",
    "PartnerStatement",
    "Renderer",
    "Requirement",
    "RunRecord",
    "SectionRow",
    "StatementDocument",
    "StatementLine",
    "StatementSection",
    "TierGoal",
    "builtin_renderers",
    "computed_statement",
    "document",
    "file_names",
    "grouped",
    "ledger_statements",
    "number",
    "per_partner",
    "period_earnings",
    "print_explanation",
    "render",
    "renderer_of",
    "run_record",
    "statement_renderers",
]
