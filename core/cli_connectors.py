"""How a command gets its connector: the one ``--connector`` names (or the command's default), checked
for the folders it needs and built with the command's options."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from .connector import Connector, ConnectorSpec
from .errors import ConfigError
from .pluginmanager import Plugins
from .program import LoadedProgram

T = TypeVar("T")


def connector_spec(plugins: Plugins, name: str | None, command: str) -> ConnectorSpec:
    """The connector ``--connector`` names, else the first installed one that declares itself the
    command's default."""
    connectors = plugins.connectors()
    if name is None:
        defaults = [spec for spec in connectors.values() if command in spec.default_for]
        if not defaults:
            raise ConfigError(f"cosell {command} needs --connector NAME (installed: {', '.join(connectors)})")
        return defaults[0]
    if name not in connectors:
        known = ", ".join(sorted(connectors))
        raise ConfigError(
            f"no connector named {name!r} is installed (installed: {known})",
            hint="`cosell plugins` lists the installed plugins and the connectors they add",
        )
    return connectors[name]


def built(spec: ConnectorSpec, build: Callable[[Mapping[str, Any]], T], options: Mapping[str, Any]) -> T:
    """Build a connector (or set one up): a client library that is not installed is a config error that
    names the connector's install extra."""
    try:
        return build(options)
    except ImportError as exc:
        hint = f"pip install 'cosell[{spec.extra}]'" if spec.extra else None
        raise ConfigError(f"the {spec.name} connector cannot start: {exc}", hint=hint) from None


def connector_options(
    loaded: LoadedProgram | None,
    settings: Mapping[str, Any],
    input_dir: Path | None,
    output_dir: Path | None,
    *,
    full_sync: bool = False,
    read_only: bool = False,
) -> dict[str, Any]:
    """What a connector factory gets (``cosell.connector.ConnectorFactory`` says what each means)."""
    return {
        "input": input_dir,
        "output": output_dir,
        "program": loaded.program if loaded else None,
        "settings": dict(settings),
        "env": dict(os.environ),
        "full_sync": full_sync,
        "read_only": read_only,
    }


def connector(
    plugins: Plugins,
    name: str | None,
    input_dir: Path | None,
    output_dir: Path | None,
    *,
    command: str,
    writes: bool = True,
    read_only: bool = False,
    loaded: LoadedProgram | None = None,
    settings: Mapping[str, Any] | None = None,
    full_sync: bool = False,
) -> Connector:
    """The connector for ``command``. ``writes`` False: it writes nothing back (no output folder
    needed); ``read_only``: it changes nothing in its source either."""
    spec = connector_spec(plugins, name, command)
    if spec.input is not None and input_dir is None:
        raise ConfigError(f"the {spec.name} connector needs --input DIR ({spec.input})")
    if spec.output is not None and output_dir is None and writes and not read_only:
        raise ConfigError(f"the {spec.name} connector needs --output DIR ({spec.output})")
    options = connector_options(
        loaded, settings or {}, input_dir, output_dir, full_sync=full_sync, read_only=read_only
    )
    return built(spec, spec.factory, options)
