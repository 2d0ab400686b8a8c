"""The plugin manager: built-in rules registered like third-party plugins, then entry points.

Like pytest, cosell's own rules are plugins listed in ``DEFAULT_PLUGINS`` and registered by name.
Entry points of the ``cosell`` and ``cosell.connectors`` groups load after them, sorted by name so
that the order (and so every ``firstresult`` winner and the order of lines) is the same on every
machine. ``COSELL_LOAD_PLUGINS`` (comma-separated entry-point names; empty for none) pins the set.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
import linecache
import os
import re
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, TypeVar, cast

import pluggy
from pydantic import BaseModel, ValidationError

from . import hookspecs
from .connector import ConnectorSpec
from .context import PartnerDeal
from .errors import ConfigError, LockHeldError, PluginError, Problem, ProgramError
from .program import LoadedProgram, validation_problems
from .records import Deal
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
class SettingField:
    """One field of a plugin's settings model, as ``cosell plugins`` shows it."""

    name: str
    type: str
    required: bool
    default: str | None
    description: str | None


@dataclass(frozen=True, slots=True)
class PluginInfo:
    """What ``cosell plugins`` says of one plugin: where it comes from and what it provides."""

    name: str
    package: str | None
    version: str | None
    hooks: tuple[str, ...]
    source: str | None
    builtin: bool
    line_kinds: tuple[LineKind, ...] = ()
    connectors: tuple[ConnectorSpec, ...] = ()
    metrics: tuple[MetricDefinition, ...] = ()
    settings_key: str | None = None
    settings: tuple[SettingField, ...] = ()
    error: str | None = None
    """Why the plugin could not be loaded (a broken plugin provides nothing)."""


class Plugins:
    """cosell's plugins: registration, ordered calls that name the plugin, and what they provide."""

    def __init__(
        self,
        *,
        entry_points: bool = True,
        extra: Mapping[str, object] | None = None,
        keep_broken: bool = False,
    ) -> None:
        """The built-in plugins, then (``entry_points``) the installed ones, then ``extra`` (name → plugin).

        An installed plugin that cannot load is a PluginError naming it, its distribution and the line
        that failed; with ``keep_broken`` it is left out and listed in ``broken`` instead (what
        ``cosell plugins`` shows)."""
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self._dist: dict[str, tuple[str, str]] = {}
        self._builtin: set[str] = set()
        self.broken: list[tuple[str, tuple[str, str] | None, PluginError]] = []
        """(entry-point name, (distribution, version), error) of each installed plugin left out."""
        self.not_loaded: list[str] = []
        """The entry-point names of the installed plugins ``COSELL_LOAD_PLUGINS`` leaves out."""
        self._pinned = ""  # COSELL_LOAD_PLUGINS as the plugins loaded
        # pluggy calls the most recently registered first: register in reverse so calls follow the tuple.
        for short, module_name in reversed(builtin_plugins()):
            self._register(importlib.import_module(module_name), short)
            self._builtin.add(short)
        if entry_points:
            self._load_entry_points()
            if self.broken and not keep_broken:
                raise self.broken[0][2]
        for name, plugin in (extra or {}).items():
            self._register(plugin, name)
        self._check_pending("?", None)
        self._check_declarations()

    @classmethod
    def with_only(cls, *plugins: object, **named: object) -> Plugins:
        """The built-in rules plus exactly these plugins, whatever else is installed: what a test of a
        plugin wants. A plugin given by position is named after its entry point when an installed
        distribution declares one for it, else after its module (or class)."""
        extra: dict[str, object] = {}
        for name, plugin in [*((plugin_name(p), p) for p in plugins), *named.items()]:
            if name in extra and extra[name] is not plugin:  # one would silently replace the other
                raise PluginError(
                    name,
                    "two plugins are registered under this name",
                    hint="give each a name of its own: Plugins.with_only(spiff_a=..., spiff_b=...)",
                )
            extra[name] = plugin
        return cls(entry_points=False, extra=extra)

    def _check_pending(self, name: str, plugin: object) -> None:
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            name = self.pm.get_name(exc.plugin) or name
            raise PluginError(
                name, _pending_message(exc), hint=f"defined in {source_of(exc.plugin or plugin)}"
            ) from None

    # --- registration -------------------------------------------------------------------------

    def _register(self, plugin: object, name: str) -> None:
        if self.pm.has_plugin(name):
            raise PluginError(name, "two plugins are registered under this name")
        unmarked = _unmarked_hooks(plugin)
        if unmarked:
            raise PluginError(name, unmarked, hint=f"defined in {source_of(plugin)}; mark it @hookimpl")
        try:
            self.pm.register(plugin, name)
        except pluggy.PluginValidationError as exc:
            raise PluginError(
                name, _validation_message(exc), hint=f"defined in {source_of(plugin)}"
            ) from None

    def _load_entry_points(self) -> None:
        wanted = os.environ.get(LOAD_ENV)
        self._pinned = wanted or ""
        allowed = None if wanted is None else {n.strip() for n in wanted.split(",") if n.strip()}
        found = [ep for group in ENTRY_POINT_GROUPS for ep in metadata.entry_points(group=group)]
        by_name: dict[str, list[metadata.EntryPoint]] = {}
        for ep in sorted(found, key=lambda e: (e.name, e.group, e.value)):
            by_name.setdefault(ep.name, []).append(ep)
        if allowed is not None and allowed - set(by_name):
            unknown = ", ".join(sorted(allowed - set(by_name)))
            raise ConfigError(
                f"{LOAD_ENV} names {unknown}: no installed plugin has that name",
                hint=f"installed: {', '.join(sorted(by_name)) or 'none'}; check the spelling",
            )
        for name, eps in by_name.items():
            if allowed is not None and name not in allowed:
                self.not_loaded.append(name)
                continue
            ep = eps[0]
            dist = _dist_of(ep)
            try:
                self._check_entry_points(name, eps)
                plugin = _load_entry_point(ep, dist)
                self._register(plugin, ep.name)
                # Checked one plugin at a time, so a broken one is named and the others stay.
                self._check_pending(ep.name, plugin)
                self._check_declarations()
            except PluginError as exc:
                if self.pm.has_plugin(ep.name) and ep.name not in self._builtin:
                    self.pm.unregister(name=ep.name)
                self.broken.append((ep.name, dist, exc))
                continue
            if dist is not None:
                self._dist[ep.name] = dist

    def _check_entry_points(self, name: str, eps: Sequence[metadata.EntryPoint]) -> None:
        """One plugin per name: an entry point named like a built-in plugin, or declared by two
        distributions, or pointing at two modules, is a PluginError naming the distributions."""
        origins = sorted({_origin(_dist_of(ep)) for ep in eps})
        if name in self._builtin:
            raise PluginError(
                name,
                f"entry point {name} = {eps[0].value} of {', '.join(origins)} has the name of cosell's "
                f"built-in plugin {name!r} (cosell {_cosell_version()})",
                hint="rename the entry point; a plugin cannot replace a built-in one by its name",
            )
        if len(origins) > 1:
            raise PluginError(
                name,
                f"entry point {name} is declared by two distributions: {' and '.join(origins)}",
                hint=f"uninstall one, or rename its entry point; leave it out with {LOAD_ENV}",
            )
        if len({ep.value for ep in eps}) > 1:
            declared = "; ".join(f"{name} = {ep.value} ({ep.group})" for ep in eps)
            raise PluginError(
                name,
                f"{origins[0]} declares entry point {name} for two modules: {declared}",
                hint=(
                    "a plugin has one name: give the connectors' entry point a name of its own, or point "
                    "both groups at one module"
                ),
            )

    def register(self, plugin: object, name: str) -> None:
        """Register one more plugin (tests and embedding applications)."""
        self._register(plugin, name)
        self._check_pending(name, plugin)
        self._check_declarations()

    def _check_declarations(self) -> None:
        """No wrappers (cosell calls hooks implementation by implementation), and what plugins claim
        must be theirs alone: line kinds, ``plugins:`` settings keys and connector names. Checked at
        load, so every command refuses a plugin that breaks these, naming its file."""
        for hook in hookspecs.all_hook_names():
            self.implementations(hook)
        self.line_kinds()
        self.settings_models()
        self.connectors()

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
        """connector name → spec; a name registered twice (by two plugins, or twice by one) is an error
        naming the plugin that came later (a built-in plugin's name is always the built-in's)."""
        found: dict[str, tuple[str, ConnectorSpec]] = {}
        by_plugin = sorted(self._connectors_by_plugin(), key=lambda item: item[0] not in self._builtin)
        for plugin, specs in by_plugin:
            for spec in specs:
                self._claim(
                    found,
                    spec.name,
                    plugin,
                    spec,
                    "registers connector {name!r}",
                    "rename one of them",
                    "--connector chooses a connector by its name",
                )
        return {name: spec for name, (_, spec) in found.items()}

    def _connectors_by_plugin(self) -> Iterator[tuple[str, list[ConnectorSpec]]]:
        for plugin, call in self.implementations("cosell_register_connectors"):
            registered: list[ConnectorSpec] = []
            guarded(plugin, "cosell_register_connectors", call, {"register": registered.append})
            for spec in registered:
                if not isinstance(spec, ConnectorSpec):
                    raise PluginError(plugin, f"registered {spec!r}, which is not a ConnectorSpec")
            yield plugin, registered

    def cli_commands(
        self, taken: Iterable[str] = (), *, left_out: list[PluginError] | None = None
    ) -> dict[str, tuple[str, object]]:
        """command name → (plugin, command function or typer app) that plugins add to the command line.

        A name in ``taken`` (the command line's own) or registered by two plugins is an error naming
        the plugin. With ``left_out``, a plugin whose hook fails so adds none of its commands, its error
        is appended there, and the other plugins' commands stay."""
        found: dict[str, tuple[str, object]] = {}
        reserved = set(taken)
        for plugin, call in self.implementations("cosell_cli_commands"):
            try:
                found.update(self._commands_of(plugin, call, reserved, found))
            except PluginError as exc:
                if left_out is None:
                    raise
                left_out.append(exc)
        return found

    def _commands_of(
        self,
        plugin: str,
        call: Callable[[dict[str, Any]], Any],
        reserved: set[str],
        claimed: Mapping[str, tuple[str, object]],
    ) -> dict[str, tuple[str, object]]:
        mine: dict[str, tuple[str, object]] = {}

        def register(command: object, name: str | None = None) -> None:
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
            owner = mine.get(name) or claimed.get(name)
            if owner is not None:
                raise PluginError(plugin, f"adds the command {name!r}, which plugin {owner[0]!r} adds too")
            mine[name] = (plugin, command)

        guarded(plugin, "cosell_cli_commands", call, {"register": register})
        return mine

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
        naming both, and so is a kind whose flags no statement step can show (:func:`_unshowable`), or
        a second adjustment kind on one side of the program budget (a statement has one cap step and
        one budget step)."""
        found: dict[str, tuple[str, LineKind]] = {}
        steps: dict[bool, tuple[str, LineKind]] = {}  # in_budget → the adjustment kind of that step
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
                unshowable = _unshowable(kind)
                if unshowable is not None:
                    problem, remedy = unshowable
                    raise PluginError(
                        plugin,
                        f"declares line kind {kind.name!r} {problem}",
                        hint=f"{remedy} ({self.source(plugin)})",
                    )
                if kind.adjustment:
                    self._claim_step(steps, plugin, kind)
        return found

    def _claim_step(self, steps: dict[bool, tuple[str, LineKind]], plugin: str, kind: LineKind) -> None:
        """An adjustment kind is the statement's cap step (inside the program budget, which sees capped
        totals) or its budget step (outside it): one kind each, or the statement would show one limit's
        line as the other's."""
        step = "per-partner cap" if kind.in_budget else "program budget"
        taken = steps.get(kind.in_budget)
        if taken is not None:
            other, other_kind = taken
            if plugin in self._builtin and other not in self._builtin:  # name the plugin that came later
                (plugin, kind), (other, other_kind) = (other, other_kind), (plugin, kind)
            inside = "inside" if kind.in_budget else "outside"
            raise PluginError(
                plugin,
                f"declares line kind {kind.name!r} as an adjustment {inside} the program budget, the "
                f"statement's {step} step: kind {other_kind.name!r} of plugin {other!r} is that step",
                hint=(
                    "declare it adjustment=False: its lines are then shown as a kind of their own, before "
                    f"the cap and the budget ({self.source(plugin)}, {self.source(other)})"
                ),
            )
        steps[kind.in_budget] = (plugin, kind)

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
                problems.append(Problem(loaded.where("plugins", key), self._unread(key, models)))
                continue
            try:
                settings[key] = refusing_unknown_keys(models[key][1]).model_validate(raw)
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

    def _unread(self, key: str, models: Mapping[str, object]) -> str:
        """Why no plugin reads the ``plugins.<key>`` entry: none installed does, or none loaded does
        while ``COSELL_LOAD_PLUGINS`` leaves out installed plugins (one of them may be the reader)."""
        known = ", ".join(sorted(models)) or "none declare settings"
        if not self.not_loaded:
            return f"plugins.{key}: no installed plugin reads it ({known})"
        pinned = f"{LOAD_ENV}={self._pinned}"
        if key in self.not_loaded:
            why = f"installed plugin {key!r} is not loaded ({pinned})"
        else:
            why = f"{pinned} leaves out the installed plugin(s) {', '.join(self.not_loaded)}"
        return f"plugins.{key}: no loaded plugin reads it ({known}); {why}"

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

    def builtin(self, name: str) -> bool:
        """Whether the plugin named ``name`` is one of cosell's own."""
        return name in self._builtin

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
        """Every plugin, built-in ones first, with what it provides; then each broken one with its error."""
        kinds: dict[str, list[LineKind]] = {}
        for owner, kind in self.line_kinds().values():
            kinds.setdefault(owner, []).append(kind)
        metrics: dict[str, list[MetricDefinition]] = {}
        for owner, definition in self.metric_definitions().values():
            metrics.setdefault(owner, []).append(definition)
        settings = {owner: (key, model) for key, (owner, model) in self.settings_models().items()}
        connectors = dict(self._connectors_by_plugin())
        infos = []
        for name, plugin in sorted(
            self.pm.list_name_plugin(), key=lambda item: (item[0] not in self._builtin, item[0])
        ):
            hooks = tuple(sorted(h.name for h in self.pm.get_hookcallers(plugin) or ()))
            package, version = self._package_of(name)
            key, model = settings.get(name, (None, None))
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
                    tuple(metrics.get(name, ())),
                    key,
                    setting_fields(model) if model is not None else (),
                )
            )
        for name, dist, error in self.broken:
            package, version = dist or (None, None)
            infos.append(PluginInfo(name, package, version, (), None, False, error=error.render()))
        return infos


def setting_fields(model: type[BaseModel]) -> tuple[SettingField, ...]:
    """The fields of a settings model: name, type, whether required, default and description."""
    fields = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        type_name = getattr(annotation, "__name__", None) if isinstance(annotation, type) else None
        default = None if info.is_required() else repr(info.get_default(call_default_factory=True))
        fields.append(
            SettingField(
                info.alias or name,
                type_name or re.sub(r"\b[A-Za-z_][\w]*\.", "", str(annotation)),
                info.is_required(),
                default,
                info.description,
            )
        )
    return tuple(fields)


def _bind(impl: Any) -> Any:
    function = impl.function
    argnames = tuple(impl.argnames)

    def call(kwargs: Mapping[str, Any]) -> Any:
        return function(*[kwargs[name] for name in argnames])

    return call


def guarded(plugin: str, hook: str, call: Any, kwargs: Mapping[str, Any]) -> Any:
    """Run one implementation; any exception (SystemExit too, KeyboardInterrupt not) becomes a PluginError
    naming the plugin, the line of its code that raised, and the partner (and deal) it was computing. The
    exception stays in ``causes`` (the command line writes its traceback to the log)."""
    try:
        return call(kwargs)
    except (PluginError, LockHeldError):  # LockHeldError: the history it asked refused (the ledger moved)
        raise
    except (Exception, SystemExit) as exc:  # sys.exit in a hook must not end the run silently
        raise plugin_failure(plugin, hook, exc, kwargs) from exc


def plugin_failure(
    plugin: str, hook: str, exc: BaseException, kwargs: Mapping[str, Any] | None = None
) -> PluginError:
    """The PluginError for an exception a hook implementation raised: ``<hook> raised <Type>: <message>``,
    then where: the innermost line of the plugin's own code, the partner and deal being computed."""
    frames = _frames(exc.__traceback__)
    # The first frames are cosell's own (guarded, the call): the implementation's frame comes next.
    own = [f for f in frames if not _is_cosell_core(f[0].filename)]
    at = _innermost_of_plugin(own)
    where = [f"at {_frame_text(at[0])}"] if at is not None else []
    partner = (kwargs or {}).get("partner")
    partner_id = getattr(partner, "id", None) or (kwargs or {}).get("partner_id")
    deal = _deal_in(at[1]) if at is not None else None
    if isinstance(partner_id, str):
        where.append(f"computing partner {partner_id!r}" + (f", deal {deal!r}" if deal else ""))
    message = f"{hook} raised {_exception_text(exc)}"
    if where:
        message += "\n  " + "; ".join(where)
    error = PluginError(plugin, message)
    error.causes = (exc,)
    return error


def _frames(tb: TracebackType | None) -> list[tuple[traceback.FrameSummary, FrameType]]:
    """Each frame of a traceback, outermost first, as its summary and the frame itself."""
    pairs = list(traceback.walk_tb(tb))
    summaries = traceback.StackSummary.extract(iter(pairs), lookup_lines=True)
    return [(summary, frame) for summary, (frame, _) in zip(summaries, pairs, strict=True)]


_CORE = Path(__file__).resolve().parent


def _is_cosell_core(filename: str) -> bool:
    try:
        return Path(filename).resolve().parent == _CORE
    except OSError:
        return False


_Frame = tuple[traceback.FrameSummary, FrameType]


def _innermost_of_plugin(frames: Sequence[_Frame]) -> _Frame | None:
    """The innermost frame inside the folder of the hook implementation (the first frame): the plugin's
    own line, not one inside a library it called."""
    if not frames:
        return None
    first = Path(frames[0][0].filename).resolve()
    home = first.parent
    if home.name in ("site-packages", "dist-packages"):  # a one-module plugin: its own file only
        inside = [f for f in frames if Path(f[0].filename).resolve() == first]
    else:
        inside = [f for f in frames if home in Path(f[0].filename).resolve().parents]
    return inside[-1] if inside else frames[0]


def _frame_text(frame: traceback.FrameSummary) -> str:
    code = (frame.line or linecache.getline(frame.filename, frame.lineno or 0)).strip()
    return f"{frame.filename}:{frame.lineno} (in {frame.name})" + (f": {code}" if code else "")


def _deal_in(frame: FrameType) -> str | None:
    """The deal the plugin's code held when it raised: the one deal among the frame's local values."""
    ids = set()
    for value in frame.f_locals.values():
        if isinstance(value, PartnerDeal):
            value = value.deal
        if isinstance(value, Deal):
            ids.add(value.id)
    return ids.pop() if len(ids) == 1 else None


def _exception_text(exc: BaseException) -> str:
    text = str(exc)
    kind = type(exc).__name__
    if kind == "InvalidOperation" or text.startswith("[<class "):
        # decimal's own message is the list of its signal classes: say what happened instead.
        text = f"not a valid Decimal operation or number {text}"
    return f"{kind}: {text}" if text else kind


def _dist_of(ep: metadata.EntryPoint) -> tuple[str, str] | None:
    return (ep.dist.name, ep.dist.version) if ep.dist is not None else None


def _origin(dist: tuple[str, str] | None) -> str:
    return f"{dist[0]} {dist[1]}" if dist else "an unknown distribution"


def _load_entry_point(ep: metadata.EntryPoint, dist: tuple[str, str] | None) -> object:
    """Import an entry point; a failure is a PluginError naming the entry point, its distribution, the
    exception and the file and line that raised it."""
    try:
        return ep.load()
    except (Exception, SystemExit) as exc:  # sys.exit at import: name the plugin, do not exit unnamed
        origin = _origin(dist)
        at = [summary for summary, _ in _frames(exc.__traceback__)]
        own = [f for f in at if "importlib" not in f.filename and not _is_cosell_core(f.filename)]
        where = ""
        if isinstance(exc, SyntaxError) and exc.filename:
            where = f"\n  at {exc.filename}:{exc.lineno}: {(exc.text or '').strip()}"
        elif own:
            where = f"\n  at {_frame_text(own[-1])}"
        error = PluginError(
            ep.name,
            f"cannot be loaded: entry point {ep.name} = {ep.value} ({ep.group}) of {origin} raised "
            f"{_exception_text(exc)}{where}",
            hint=f"fix the plugin, reinstall it, or leave it out with {LOAD_ENV}",
        )
        error.causes = (exc,)
        raise error from exc


def plugin_name(plugin: object) -> str:
    """The name a plugin is registered under when a test names it: its entry point's name when an
    installed distribution declares one for it, else its module's (or class's) name."""
    module = plugin.__name__ if inspect.ismodule(plugin) else None
    if module is not None:
        for group in ENTRY_POINT_GROUPS:
            for ep in metadata.entry_points(group=group):
                if ep.value == module:
                    return ep.name
        return module
    target = plugin if inspect.isclass(plugin) else type(plugin)
    return target.__name__.lower()


# --- which plugins the command line uses -----------------------------------------------------------

_pinned: ContextVar[Callable[[], Plugins] | None] = ContextVar("cosell_pinned_plugins", default=None)


def installed(*, keep_broken: bool = False) -> Plugins:
    """The plugins a command uses: every installed one, or the set ``pinned`` gives (tests)."""
    factory = _pinned.get()
    return factory() if factory is not None else Plugins(keep_broken=keep_broken)


@contextlib.contextmanager
def pinned(factory: Callable[[], Plugins]) -> Iterator[None]:
    """Inside the block, commands use ``factory()`` as their plugins (the CLI harness of
    ``cosell.testing`` pins the built-in rules plus the plugins under test)."""
    token = _pinned.set(factory)
    try:
        yield
    finally:
        _pinned.reset(token)


def _unshowable(kind: LineKind) -> tuple[str, str] | None:
    """(what is wrong, the remedy) for flags no statement step can show, else None. The cap's and the
    budget's lines count in period earnings, so a line outside them cannot count toward either; an
    adjustment is a step from the subtotal to period earnings, after the lines the cap counts."""
    if not kind.period_earnings and kind.capped:
        return (
            "outside period earnings and counting toward the per-partner cap (period_earnings=False, "
            "capped=True): a line outside period earnings cannot count toward the per-partner cap, whose "
            "line comes out of period earnings",
            "declare it capped=False and in_budget=False, as the built-in market-development funds are",
        )
    if not kind.period_earnings and kind.in_budget:
        return (
            "outside period earnings and counting toward the program budget (period_earnings=False, "
            "in_budget=True): a line outside period earnings cannot count toward the program budget, "
            "whose line comes out of period earnings",
            "declare it in_budget=False, as the built-in market-development funds are",
        )
    if kind.adjustment and kind.capped:
        return (
            "as an adjustment counting toward the per-partner cap (adjustment=True, capped=True): an "
            "adjustment cannot count toward the per-partner cap; it is a step after the lines the cap counts",
            "declare it capped=False, or adjustment=False for an amount of its own (a deduction, say)",
        )
    if kind.adjustment and not kind.period_earnings:
        return (
            "as an adjustment outside period earnings (adjustment=True, period_earnings=False): an "
            "adjustment counts in period earnings; it is a step from the subtotal to them",
            "declare it adjustment=False",
        )
    return None


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


def _unmarked_hooks(plugin: object) -> str | None:
    """What is wrong with the ``cosell_*`` functions of a plugin that lack the ``@hookimpl`` mark
    (pluggy passes them over, so the plugin would silently do nothing), or None."""
    marker = f"{hookspecs.PROJECT}_impl"
    problems = []
    for name in sorted(dir(plugin)):
        if not name.startswith("cosell_"):
            continue
        function = getattr(plugin, name, None)
        if not inspect.isroutine(function) or isinstance(getattr(function, marker, None), dict):
            continue
        hook = name if name in hookspecs.all_hook_names() else None
        problems.append(
            f"{name} is not marked @hookimpl (from cosell import hookimpl), so it is never called"
            + ("" if hook else f"; no such hook{hook_suggestion(name)}")
        )
    return "; ".join(problems) or None


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


@functools.cache
def refusing_unknown_keys(model: type[BaseModel]) -> type[BaseModel]:
    """``model``, refusing keys it does not declare (a typo in ``plugins:`` is an error, as everywhere in
    the program file), unless the plugin chose itself what to do with them (``extra`` in its config).
    A subclass: what the plugin receives is still an instance of its model."""
    if "extra" in model.model_config:
        return model
    return cast(
        "type[BaseModel]",
        type(
            model.__name__,
            (model,),
            {"model_config": {**model.model_config, "extra": "forbid"}, "__module__": model.__module__},
        ),
    )
