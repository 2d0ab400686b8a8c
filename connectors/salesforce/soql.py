"""SOQL built from parts that cannot carry an injection: names checked against a pattern, text quoted
with SOQL's escapes, ids checked as Salesforce ids, datetimes in SOQL's literal form.

Only the ``partner_filter``/``opportunity_filter`` settings are SOQL written by an admin; they are
checked for balanced quotes and parentheses and kept inside parentheses of their own.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)*$")
_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")
_ESCAPES = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}
_FORBIDDEN_IN_FILTER = re.compile(r"\b(?:SELECT|FROM|LIMIT|OFFSET|ORDER|GROUP|HAVING|FOR|WITH)\b", re.I)


class SoqlError(ValueError):
    """A value that cannot be put into SOQL safely."""


def name(text: str) -> str:
    """A field, relationship path or object name: letters, digits and underscores, dot-separated."""
    if not isinstance(text, str) or not _NAME.fullmatch(text):
        raise SoqlError(f"{text!r} is not a Salesforce field or object name")
    return text


def is_record_id(text: object) -> bool:
    return isinstance(text, str) and _ID.fullmatch(text) is not None


def record_id(text: str) -> str:
    """A 15- or 18-character Salesforce id as a quoted literal."""
    if not is_record_id(text):
        raise SoqlError(f"{text!r} is not a Salesforce record id (15 or 18 letters and digits)")
    return f"'{text}'"


def quote(text: str) -> str:
    """A text literal with SOQL's backslash escapes."""
    return "'" + "".join(_ESCAPES.get(ch, ch) for ch in text) + "'"


def datetime_literal(moment: datetime) -> str:
    """A datetime literal in UTC, e.g. ``2026-01-05T14:03:00Z`` (never quoted in SOQL)."""
    if moment.tzinfo is None:
        raise SoqlError("a datetime literal needs a time zone")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def id_list(ids: Iterable[str]) -> str:
    """``('001…', '001…')`` for ``IN``; every id checked."""
    items = [record_id(i) for i in ids]
    if not items:
        raise SoqlError("an IN list needs at least one id")
    return "(" + ", ".join(items) + ")"


def checked_filter(text: str) -> str:
    """An admin-written condition: quotes and parentheses balanced, no clause beyond WHERE."""
    depth, i, outside = 0, 0, []
    while i < len(text):
        ch = text[i]
        if ch == "'":
            i += 1
            while i < len(text) and text[i] != "'":
                i += 2 if text[i] == "\\" else 1
            if i >= len(text):
                raise SoqlError(f"{text!r}: a quote is not closed")
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise SoqlError(f"{text!r}: a parenthesis closes that was not opened")
        elif ch in ";`":
            raise SoqlError(f"{text!r}: {ch!r} has no place in a SOQL condition")
        else:
            outside.append(ch)
        i += 1
    if depth:
        raise SoqlError(f"{text!r}: a parenthesis is not closed")
    if _FORBIDDEN_IN_FILTER.search("".join(outside)):
        raise SoqlError(f"{text!r}: give only a condition (no SELECT, FROM, LIMIT, ORDER BY, ...)")
    if not text.strip():
        raise SoqlError("the condition is empty")
    return text


def select(fields: Sequence[str], obj: str, where: Sequence[str] = (), order_by: str | None = None) -> str:
    """``SELECT f, … FROM obj [WHERE (c1) AND (c2)] [ORDER BY f]``; names checked, duplicates dropped."""
    seen: dict[str, str] = {}
    for f in fields:
        seen.setdefault(name(f).lower(), f)
    text = f"SELECT {', '.join(seen.values())} FROM {name(obj)}"
    if where:
        text += " WHERE " + " AND ".join(f"({c})" for c in where)
    if order_by:
        text += f" ORDER BY {name(order_by)}"
    return text
