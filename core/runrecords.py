"""What a run records about how it computed: the program file's exact text and its sha256, cosell's
version, each plugin's version, where the records came from and went to, a digest of the records, and
each partner's period earnings. ``cosell runs`` lists and compares these (docs/governance.md); the
ledger keeps them in ``cosell_run_records`` (docs/ledger.md).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import date
from decimal import Decimal
from importlib import metadata
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .computation import Computation
    from .pluginmanager import Plugins
    from .program import LoadedProgram
    from .records import RecordSet


@dataclass(frozen=True, slots=True)
class PluginVersion:
    """A plugin the run used: its name, the distribution that ships it and that distribution's version
    (None when unknown: a plugin registered by hand)."""

    name: str
    package: str | None
    version: str | None


@dataclass(frozen=True, slots=True)
class RunProvenance:
    """What a run computed with, recorded with its lines in the same transaction."""

    program_text: str
    """The program file's bytes as text (UTF-8): editing the file later changes nothing recorded."""
    program_sha256: str
    """sha256 of the program file's bytes, hex."""
    cosell_version: str
    plugins: tuple[PluginVersion, ...]
    records_digest: str
    """sha256 over the normalized records the run read (see :func:`records_digest`)."""
    earnings: Mapping[str, Decimal]
    """Each partner's period earnings: what ``cosell runs diff`` compares, even once the run's lines
    have been replaced by a later run of the period."""


def cosell_version() -> str:
    try:
        return metadata.version("cosell")
    except metadata.PackageNotFoundError:
        return "unknown"


def program_source(loaded: LoadedProgram) -> tuple[str, str]:
    """The program's exact text and the sha256 of its bytes. Bytes that are not UTF-8 never reach a
    run (the program is refused when loaded), so the text gives the bytes back exactly."""
    raw = loaded.raw if loaded.raw is not None else b""
    return raw.decode("utf-8"), hashlib.sha256(raw).hexdigest()


def plugin_versions(plugins: Plugins) -> tuple[PluginVersion, ...]:
    return tuple(PluginVersion(*version) for version in plugins.versions())


def _plain(value: Any) -> Any:
    """A record's value as plain data: a record as the tuple of its fields' values (in declaration
    order), a decimal by its value (1.50 and 1.5 are one amount), a date in ISO, a mapping sorted by key."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, Decimal):
        return "0" if value == 0 else f"{value.normalize():f}"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return tuple((str(k), _plain(v)) for k, v in sorted(value.items()))
    if isinstance(value, (tuple, list)):
        return tuple(_plain(v) for v in value)
    names = _field_names.get(type(value))
    if names is None:
        names = _field_names[type(value)] = tuple(f.name for f in fields(value))
    return tuple(_plain(getattr(value, name)) for name in names)


_field_names: dict[type, tuple[str, ...]] = {}


def records_digest(records: RecordSet) -> str:
    """sha256 over every partner, deal, activity and MDF claim the run read, each normalized (the
    ``repr`` of its fields' plain values, decimals by value) and taken in order of kind, then id: the
    same records give the same digest whatever order the source listed them in."""
    digest = hashlib.sha256()
    groups: Iterable[tuple[str, Iterable[Any]]] = (
        ("partner", records.partners),
        ("deal", records.deals),
        ("activity", records.activities),
        ("mdf_claim", records.mdf_claims),
    )
    for kind, items in groups:
        for item in sorted(items, key=lambda record: str(record.id)):
            digest.update(f"{kind}{_plain(item)!r}\n".encode())
    return digest.hexdigest()


def provenance(
    loaded: LoadedProgram, plugins: Plugins, records: RecordSet, computation: Computation
) -> RunProvenance:
    """What a run records about how it computed (``records`` as the connector read them)."""
    text, sha = program_source(loaded)
    return RunProvenance(
        program_text=text,
        program_sha256=sha,
        cosell_version=cosell_version(),
        plugins=plugin_versions(plugins),
        records_digest=records_digest(records),
        earnings={facts.id: computation.earnings(facts.id) for facts in computation.facts},
    )
