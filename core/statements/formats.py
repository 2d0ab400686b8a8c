"""Statement formats: cosell's own renderers and the ones plugins register
(``cosell_statement_renderers``), and rendering a period in one of them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from ..errors import ConfigError, PluginError
from . import csv, html, json, terminal
from .document import StatementDocument, document

if TYPE_CHECKING:
    from ..ledger import Ledger
    from ..pluginmanager import Plugins
    from ..program import Program
    from ..results import MetricDefinition


Renderer = Callable[[StatementDocument], str]
"""A statement format: the document → the text ``cosell statement`` prints or writes."""


def builtin_renderers() -> dict[str, Renderer]:
    """cosell's own formats, registered like any plugin's."""
    return {"csv": csv.render, "json": json.render, "html": html.render, "terminal": terminal.render}


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
    """The period's statement in format ``fmt``. ConfigError (exit 2) for an unknown format (naming the
    known ones), a period the ledger has no run for, or a partner it does not hold."""
    known = builtin_renderers() if renderers is None else renderers
    renderer = known.get(fmt)
    if renderer is None:
        raise ConfigError(f"--format: {fmt!r} is not one of {', '.join(known)}")
    return renderer(document(ledger, period, partner_id, program, definitions))
