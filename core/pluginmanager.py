"""The plugin manager: built-in rules registered like third-party plugins, then entry points.

Like pytest, cosell's own rules are plugins listed in ``DEFAULT_PLUGINS`` and registered by name.
Entry points of the ``cosell`` and ``cosell.connectors`` groups load after them, sorted by name so
that the order (and so every ``firstresult`` winner and the order of lines) is the same on every
machine. ``COSELL_LOAD_PLUGINS`` (comma-separated entry-point names; empty for none) pins the set.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import Any, TypeVar

import pluggy
from pydantic import BaseModel, ValidationError

from . import hookspecs
from .connector import ConnectorSpec
from .errors import PluginError, Problem, ProgramError
from .program import LoadedProgram, validation_problems
from .results import LineKind, MetricDefinition

BUILTIN_PACKAGES: tuple[str, ...] = ("cosell.plugins", "cosell.connectors", "cosell.contrib")
"""The packages that ship cosell's built-in plugins, registered by the plugin manager itself (the way
pytest registers its own). Each package lists its plugin modules, relative to itself and in call order,
in ``BUILTIN_PLUGINS``; the rules come first, in the order their payout lines come."""


def builtin_plugins() -> tuple[tuple[str, str], ...]:
    """(plugin name, module) of every built-in plugin, in call order. A plugin's name is the first part
    of its module's path inside its package (``sandbox`` for ``cosell.contrib.sandbox.cli``)."""
    found: list[tuple[str, str]] = []
    for package in BUILTIN_PACKAGES:
        modules: tuple[str, ...] = importlib.import_module(package).BUILTIN_PLUGINS
        found += [(relative.split(".", 1)[0], f"{package}.{relative}") for relative in modules]
    return tuple(found)


ENTRY_POINT_GROUPS = ("cosell", "cosell.connectors")
LOAD_ENV = "COSELL_LOAD_PLUGINS"
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PluginInfo:
    name: str
    package: str | None
    version: str | None
    hooks: tuple[str, ...]
    source: str | None
    builtin: bool
    line_kinds: tuple[LineKind, ...] = ()
    connectors: tuple[ConnectorSpec, ...] = ()


class Plugins:
    """cosell's plugins: registration, ordered calls that name the plugin, and what they provide."""

    def __init__(self, *, entry_points: bool = True, extra: Mapping[str, object] | None = None) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self._dist: dict[str, tuple[str, str]] = {}
        self._builtin: set[str] = set()
        # pluggy calls the most recently registered first: register in reverse so calls follow the tuple.
        for short, module_name in reversed(builtin_plugins()):
            self._register(importlib.import_module(module_name), short)
            self._builtin.add(short)
        if entry_points:
            self._load_entry_points()
        for name, plugin in (extra or {}).items():
            self._register(plugin, name)
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            name = self.pm.get_name(exc.plugin) or "?"
            raise PluginError(
                name, _pending_message(exc), hint=f"defined in {source_of(exc.plugin)}"
            ) from None
        self._check_declarations()

    # --- registration -------------------------------------------------------------------------

    def _register(self, plugin: object, name: str) -> None:
        if self.pm.has_plugin(name):
            raise PluginError(name, "two plugins are registered under this name")
        try:
            self.pm.register(plugin, name)
        except pluggy.PluginValidationError as exc:
            raise PluginError(
                name, _validation_message(exc), hint=f"defined in {source_of(plugin)}"
            ) from None

    def _load_entry_points(self) -> None:
        wanted = os.environ.get(LOAD_ENV)
        allowed = None if wanted is None else {n.strip() for n in wanted.split(",") if n.strip()}
        found = [ep for group in ENTRY_POINT_GROUPS for ep in metadata.entry_points(group=group)]
        for ep in sorted(found, key=lambda e: (e.name, e.group, e.value)):
            if allowed is not None and ep.name not in allowed:
                continue
            if self.pm.has_plugin(ep.name):
                continue
            try:
                plugin = ep.load()
            except Exception as exc:
                raise PluginError(ep.name, f"cannot be loaded from {ep.value}: {exc}") from exc
            self._register(plugin, ep.name)
            if ep.dist is not None:
                self._dist[ep.name] = (ep.dist.name, ep.dist.version)

    def register(self, plugin: object, name: str) -> None:
        """Register one more plugin (tests and embedding applications)."""
        self._register(plugin, name)
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            raise PluginError(name, _pending_message(exc), hint=f"defined in {source_of(plugin)}") from None
        self._check_declarations()

    def _check_declarations(self) -> None:
        """No wrappers (cosell calls hooks implementation by implementation), and what plugins claim
        must be theirs alone: line kinds and ``plugins:`` settings keys. Checked at load, so every
        command refuses a plugin that breaks these, naming its file."""
        for hook in hookspecs.all_hook_names():
            self.implementations(hook)
        self.line_kinds()
        self.settings_models()

    # --- calling ------------------------------------------------------------------------------

    def implementations(self, hook: str) -> list[tuple[str, Any]]:
        """(plugin name, function) for a hook, in call order."""
        caller = getattr(self.pm.hook, hook)
        impls = []
        for impl in reversed(caller.get_hookimpls()):
            if impl.hookwrapper or impl.wrapper:
                raise PluginError(
                    impl.plugin_name,
                    f"wraps {hook}; cosell calls this hook implementation by implementation "
                    "and does not support wrappers on it",
                    hint=f"defined in {source_of(impl.plugin)}; use a plain @hookimpl",
                )
            impls.append((impl.plugin_name, _bind(impl)))
        return impls

    def call_each(self, hook: str, **kwargs: Any) -> Iterator[tuple[str, Any]]:
        """Call every implementation in order, yielding (plugin, result); an exception names the plugin."""
        for plugin, call in self.implementations(hook):
            yield plugin, guarded(plugin, hook, call, kwargs)

    def first_result(self, hook: str, **kwargs: Any) -> tuple[str, Any] | None:
        for plugin, result in self.call_each(hook, **kwargs):
            if result is not None:
                return plugin, result
        return None

    # --- what plugins provide -----------------------------------------------------------------

    def connectors(self) -> dict[str, ConnectorSpec]:
        found: dict[str, ConnectorSpec] = {}
        for _, specs in self._connectors_by_plugin():
            for spec in specs:
                found.setdefault(spec.name, spec)
        return found

    def _connectors_by_plugin(self) -> Iterator[tuple[str, list[ConnectorSpec]]]:
        for plugin, call in self.implementations("cosell_register_connectors"):
            registered: list[ConnectorSpec] = []
            guarded(plugin, "cosell_register_connectors", call, {"register": registered.append})
            for spec in registered:
                if not isinstance(spec, ConnectorSpec):
                    raise PluginError(plugin, f"registered {spec!r}, which is not a ConnectorSpec")
            yield plugin, registered

    def cli_commands(self, taken: Iterable[str] = ()) -> dict[str, tuple[str, object]]:
        """command name → (plugin, command function or typer app) that plugins add to the command line.

        A name in ``taken`` (the command line's own) or registered by two plugins is an error naming
        the plugin."""
        found: dict[str, tuple[str, object]] = {}
        reserved = set(taken)
        for plugin, call in self.implementations("cosell_cli_commands"):

            def register(command: object, name: str | None = None, plugin: str = plugin) -> None:
                name = name or getattr(command, "__name__", None)
                if not callable(command) or not isinstance(name, str) or not name:
                    raise PluginError(
                        plugin,
                        f"cosell_cli_commands registered {command!r} under {name!r}: "
                        "give a function or a typer app, and a name",
                    )
                name = name.replace("_", "-")
                if name in reserved:
                    raise PluginError(plugin, f"adds the command {name!r}, which cosell itself has")
                if name in found:
                    raise PluginError(
                        plugin, f"adds the command {name!r}, which plugin {found[name][0]!r} adds too"
                    )
                found[name] = (plugin, command)

            guarded(plugin, "cosell_cli_commands", call, {"register": register})
        return found

    def metric_definitions(self) -> dict[str, tuple[str, MetricDefinition]]:
        """metric name → (plugin, definition); two plugins defining one name is an error naming both."""
        found: dict[str, tuple[str, MetricDefinition]] = {}
        for plugin, result in self.call_each("cosell_metric_definitions"):
            for definition in result or ():
                if not isinstance(definition, MetricDefinition):
                    raise PluginError(
                        plugin, f"cosell_metric_definitions returned {definition!r}, not a MetricDefinition"
                    )
                self._claim(
                    found,
                    definition.name,
                    plugin,
                    definition,
                    "defines metric {name!r}",
                    "rename one of them",
                    "metric names are global to a program",
                )
        return found

    def settings_models(self) -> dict[str, tuple[str, type[BaseModel]]]:
        found: dict[str, tuple[str, type[BaseModel]]] = {}
        for plugin, result in self.call_each("cosell_plugin_settings"):
            if result is None:
                continue
            try:
                key, model = result
                ok = isinstance(key, str) and inspect.isclass(model) and issubclass(model, BaseModel)
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise PluginError(plugin, "cosell_plugin_settings must return (key, pydantic model class)")
            self._claim(
                found,
                key,
                plugin,
                model,
                "declares the settings key plugins.{name}",
                "one of them must use another key",
            )
        return found

    def line_kinds(self) -> dict[str, tuple[str, LineKind]]:
        """kind name → (plugin, declaration), in call order; two plugins declaring one kind is an error
        naming both."""
        found: dict[str, tuple[str, LineKind]] = {}
        for plugin, result in self.call_each("cosell_line_kinds"):
            if result is None or isinstance(result, LineKind | str) or not isinstance(result, Iterable):
                raise PluginError(
                    plugin, f"cosell_line_kinds must return an iterable of LineKind, not {result!r}"
                )
            for kind in result:
                if not isinstance(kind, LineKind):
                    raise PluginError(plugin, f"cosell_line_kinds returned {kind!r}, not a LineKind")
                self._claim(
                    found,
                    kind.name,
                    plugin,
                    kind,
                    "declares line kind {name!r}",
                    "rename one of them",
                    "a kind belongs to the one plugin that produces its lines",
                )
        return found

    def _claim(
        self,
        found: dict[str, tuple[str, T]],
        name: str,
        plugin: str,
        value: T,
        claim: str,
        remedy: str,
        why: str = "",
    ) -> None:
        """Record that ``plugin`` claims ``name``; a name another plugin claimed already is a PluginError
        naming both plugins and their files."""
        if name in found:
            other = found[name][0]
            text = claim.format(name=name)
            raise PluginError(
                plugin,
                f"{text}, which plugin {other!r} {text.split(' ', 1)[0]} too",
                hint=f"{remedy} ({self.source(plugin)}, {self.source(other)})" + (f"; {why}" if why else ""),
            )
        found[name] = (plugin, value)

    def validate_settings(self, loaded: LoadedProgram) -> dict[str, BaseModel]:
        """Check the program's ``plugins:`` entries against the installed plugins' models."""
        models = self.settings_models()
        problems: list[Problem] = []
        settings: dict[str, BaseModel] = {}
        for key, raw in loaded.program.plugins.items():
            if key not in models:
                known = ", ".join(sorted(models)) or "none declare settings"
                problems.append(
                    Problem(
                        loaded.where("plugins", key), f"plugins.{key}: no installed plugin reads it ({known})"
                    )
                )
                continue
            try:
                settings[key] = models[key][1].model_validate(raw)
            except ValidationError as err:
                problems += validation_problems(err, loaded.source, loaded.lines, ("plugins", key))
        for key, (_, model) in models.items():
            if key not in settings and key not in loaded.program.plugins:
                # a plugin whose settings are required simply has none until configured
                with contextlib.suppress(ValidationError):
                    settings[key] = model()
        if problems:
            raise ProgramError(problems)
        return settings

    def source(self, name: str) -> str:
        """The file a plugin is defined in, for errors that name it."""
        plugin = self.pm.get_plugin(name)
        return source_of(plugin) if plugin is not None else "?"

    def default_settings(self) -> dict[str, BaseModel]:
        """Every plugin's settings with their defaults (when no program file is given)."""
        settings: dict[str, BaseModel] = {}
        for key, (_, model) in self.settings_models().items():
            with contextlib.suppress(ValidationError):
                settings[key] = model()
        return settings

    def versions(self) -> list[tuple[str, str | None, str | None]]:
        """(name, package, version) of every registered plugin, built-in ones first, each by name: what a
        run records. Package and version are None for a plugin registered by hand."""
        names = sorted(
            (name for name, _ in self.pm.list_name_plugin()), key=lambda n: (n not in self._builtin, n)
        )
        return [(n, *self._package_of(n)) for n in names]

    def _package_of(self, name: str) -> tuple[str | None, str | None]:
        if name in self._dist:
            return self._dist[name]
        return ("cosell", _cosell_version()) if name in self._builtin else (None, None)

    def describe(self) -> list[PluginInfo]:
        kinds: dict[str, list[LineKind]] = {}
        for owner, kind in self.line_kinds().values():
            kinds.setdefault(owner, []).append(kind)
        connectors = dict(self._connectors_by_plugin())
        infos = []
        for name, plugin in sorted(
            self.pm.list_name_plugin(), key=lambda item: (item[0] not in self._builtin, item[0])
        ):
            hooks = tuple(sorted(h.name for h in self.pm.get_hookcallers(plugin) or ()))
            package, version = self._package_of(name)
            infos.append(
                PluginInfo(
                    name,
                    package,
                    version,
                    hooks,
                    source_of(plugin),
                    name in self._builtin,
                    tuple(kinds.get(name, ())),
                    tuple(connectors.get(name, ())),
                )
            )
        return infos


def _bind(impl: Any) -> Any:
    function = impl.function
    argnames = tuple(impl.argnames)

    def call(kwargs: Mapping[str, Any]) -> Any:
        return function(*[kwargs[name] for name in argnames])

    return call


def guarded(plugin: str, hook: str, call: Any, kwargs: Mapping[str, Any]) -> Any:
    """Run one implementation; any exception becomes a PluginError naming the plugin."""
    try:
        return call(kwargs)
    except PluginError:
        raise
    except Exception as exc:
        raise PluginError(plugin, f"{hook} raised {type(exc).__name__}: {exc}") from exc


def source_of(plugin: object) -> str:
    try:
        target = plugin if inspect.ismodule(plugin) or inspect.isclass(plugin) else type(plugin)
        return inspect.getsourcefile(target) or "?"
    except TypeError:
        return "?"


def hook_suggestion(name: str) -> str:
    """``"; did you mean 'cosell_x'?"`` for a misspelled hook name, or ``""``."""
    known = [h for h in hookspecs.all_hook_names() if _close(h, name)]
    return f"; did you mean {known[0]!r}?" if known else ""


def _pending_message(exc: pluggy.PluginValidationError) -> str:
    text = str(exc)
    if "unknown hook" in text:
        hook = text.split("unknown hook", 1)[1].strip().split()[0].strip("'\"")
        return f"implements unknown hook {hook!r}{hook_suggestion(hook)}"
    return text


def _validation_message(exc: pluggy.PluginValidationError) -> str:
    text = str(exc)
    hook = text.split("for hook", 1)[1].split("\n")[0].strip(" '\"") if "for hook" in text else "?"
    if "can not be found in the hookspec" in text:
        names = text.split("Argument(s)", 1)[1].split("are declared", 1)[0].strip()
        spec = getattr(getattr(hookspecs, hook, None), "__code__", None)
        offered = ", ".join(spec.co_varnames[: spec.co_argcount]) if spec else "?"
        return f"{hook} declares argument(s) {names} that the hook does not pass (it passes: {offered})"
    return " ".join(line.strip() for line in text.splitlines())


def _close(a: str, b: str) -> bool:
    import difflib

    return difflib.SequenceMatcher(None, a, b).ratio() > 0.8


def _cosell_version() -> str:
    try:
        return metadata.version("cosell")
    except metadata.PackageNotFoundError:
        return "0"
