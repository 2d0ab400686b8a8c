"""Statement formats: cosell's own renderers and the ones plugins register
(``cosell_statement_renderers``), and rendering a period in one of them."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from ..errors import ConfigError, PluginError
from . import csv, html, json, terminal, xlsx
from .document import StatementDocument, document

if TYPE_CHECKING:
    from ..ledger import Ledger
    from ..pluginmanager import Plugins
    from ..program import Program
    from ..results import MetricDefinition


Renderer = Callable[[StatementDocument], str | bytes]
"""A statement format: the document → the text ``cosell statement`` prints or writes, or the bytes of a
file it writes (a workbook)."""

EXTENSIONS = {"csv": "csv", "json": "json", "html": "html", "terminal": "txt", "xlsx": "xlsx"}
"""The file name extension of each built-in format (a plugin's format is written as ``.<format>``)."""


def builtin_renderers() -> dict[str, Renderer]:
    """cosell's own formats, registered like any plugin's."""
    return {
        "csv": csv.render,
        "json": json.render,
        "html": html.render,
        "terminal": terminal.render,
        "xlsx": xlsx.render,
    }


def statement_renderers(plugins: Plugins | None = None) -> dict[str, Renderer]:
    """name → renderer: the built-in formats, then each plugin's (``cosell_statement_renderers``).
    A name registered twice is a PluginError naming the plugin."""
    found = builtin_renderers()
    if plugins is None:
        return found
    for plugin, call in plugins.implementations("cosell_statement_renderers"):

        def register(name: str, renderer: Renderer, plugin: str = plugin) -> None:
            if not isinstance(name, str) or not name or not callable(renderer):
                raise PluginError(plugin, f"cosell_statement_renderers: register({name!r}, {renderer!r})")
            if name in found:
                raise PluginError(
                    plugin, f"registers the statement format {name!r}, which is already registered"
                )
            found[name] = renderer

        call({"register": register})
    return found


def render(
    ledger: Ledger,
    period: str,
    partner_id: str | None,
    fmt: str,
    program: Program | None = None,
    definitions: Mapping[str, MetricDefinition] | None = None,
    renderers: Mapping[str, Renderer] | None = None,
) -> str:
    """The period's statement in format ``fmt``, as text. ConfigError (exit 2) for an unknown format
    (naming the known ones), a format that writes a file (xlsx), a period the ledger has no run for, or a
    partner it does not hold."""
    renderer = renderer_of(fmt, renderers)
    body = renderer(document(ledger, period, partner_id, program, definitions))
    if isinstance(body, bytes):
        raise ConfigError(f"--format {fmt} writes a file: give --output FILE or --per-partner DIR")
    return body


def renderer_of(fmt: str, renderers: Mapping[str, Renderer] | None = None) -> Renderer:
    known = builtin_renderers() if renderers is None else renderers
    renderer = known.get(fmt)
    if renderer is None:
        raise ConfigError(f"--format: {fmt!r} is not one of {', '.join(known)}")
    return renderer


def per_partner(doc: StatementDocument) -> list[StatementDocument]:
    """The document split into one document a partner (its statement and its lines), by partner id."""
    return [
        replace(
            doc,
            partner_id=s.partner_id,
            statements=(s,),
            lines=tuple(line for line in doc.lines if line.partner_id == s.partner_id),
        )
        for s in doc.statements
    ]


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}
)
MAX_STEM = 80


def file_names(partner_ids: Sequence[str], fmt: str) -> dict[str, str]:
    """A file name a partner, safe on every file system: the id where it is made of letters, digits,
    ``.``, ``_`` and ``-`` alone; otherwise those characters of it and a short hash of the whole id, so
    that two ids never share a file (neither do two that differ only in case)."""
    extension = EXTENSIONS.get(fmt) or (fmt if re.fullmatch(r"[A-Za-z0-9]{1,10}", fmt) else "txt")
    folded: dict[str, list[str]] = {}
    for pid in partner_ids:
        folded.setdefault(pid.casefold(), []).append(pid)
    names = {}
    for pid in partner_ids:
        stem = re.sub(r"_+", "_", re.sub(r"\.{2,}", "_", _UNSAFE.sub("_", pid))).strip("._")[:MAX_STEM]
        plain = (
            stem
            and stem == pid
            and stem.upper().split(".")[0] not in _RESERVED
            and len(folded[pid.casefold()]) == 1
        )
        if not plain:
            stem = f"{stem or 'partner'}-{hashlib.sha256(pid.encode('utf-8')).hexdigest()[:10]}"
        names[pid] = f"{stem}.{extension}"
    return names
