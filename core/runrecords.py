"""What a run records about how it computed: the program file's exact text and its sha256, cosell's
version, each plugin's version, where the records came from and went to, a digest of the records, and
each partner's period earnings. ``cosell runs`` lists and compares these (docs/governance.md); the
ledger keeps them in ``cosell_run_records`` (docs/ledger.md).
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import signal
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, fields, is_dataclass
from datetime import date
from decimal import Decimal
from importlib import metadata
from itertools import islice, repeat
from operator import attrgetter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .computation import Computation
    from .pluginmanager import Plugins
    from .program import LoadedProgram
    from .records import Merge, RecordSet


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
    variant_source: str | None = None
    """Under a pilot, the variant program file that computed the test arm, as the program names it."""
    variant_text: str | None = None
    """That file's bytes as text; None without a pilot (or for a run recorded before version 8)."""
    variant_sha256: str | None = None


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
    order), a decimal by its value (1.50 and 1.5 are one amount), a date in ISO, a mapping sorted by key,
    a tuple's items (a deal's partners) sorted."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, Decimal):
        return "0" if value == 0 else f"{value.normalize():f}"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return tuple((str(k), _plain(v)) for k, v in sorted(value.items()))
    if isinstance(value, (tuple, list)):  # a deal's involvements: in a fixed order (see _plain_column)
        plain = tuple(_plain(v) for v in value)
        return tuple(sorted(plain, key=repr)) if len(plain) > 1 else plain
    names = _field_names.get(type(value))
    if names is None:
        names = _field_names[type(value)] = tuple(f.name for f in fields(value))
    return tuple(_plain(getattr(value, name)) for name in names)


_field_names: dict[type, tuple[str, ...]] = {}

_AS_IS = frozenset({str, bool, int, type(None)})
"""Types ``_plain`` gives back unchanged."""
_FEW_VALUES = (frozenset({Decimal, type(None)}), frozenset({date, type(None)}))
"""Columns whose equal values have one plain form: converted once per distinct value."""
_CHUNK = 4096
"""Records converted at a time: the text of a chunk is hashed, then freed."""


class _PlainOnce(dict[Any, Any]):
    """``_plain`` of values of one of the ``_FEW_VALUES`` column types, each distinct value converted once
    (a dict's keys would confuse ``True``, ``1`` and ``Decimal(1)``: hence one type a column)."""

    def __missing__(self, value: Any) -> Any:
        plain = self[value] = _plain(value)
        return plain


def _plain_column(values: list[Any], shared: dict[int, Any] | None = None) -> list[Any]:
    """``_plain`` of each value, a column of one field at a time: at C speed where the column holds one
    type (the same plain data as ``[_plain(v) for v in values]``, which the tests check).

    ``shared`` keeps, by object, the plain form of the tuples converted so far while the objects live
    (one records digest): records read from a file share their involvement tuples."""
    types = set(map(type, values))
    if types <= _AS_IS:
        return values
    if types == {Decimal}:
        if _repeats(values):  # a discount or a margin: few distinct values
            return list(map(_PlainOnce().__getitem__, values))
        plain = list(map(format, map(Decimal.normalize, values), repeat("f")))  # amounts: mostly distinct
        return ["0" if text == "-0" else text for text in plain] if "-0" in plain else plain
    if any(types <= few for few in _FEW_VALUES):
        return list(map(_PlainOnce().__getitem__, values))
    if types <= {tuple, list}:  # a record's records (a deal's involvements): converted all together
        shared = {} if shared is None else shared
        ids = list(map(id, values))
        new = {key: value for key, value in dict(zip(ids, values, strict=True)).items() if key not in shared}
        inner = iter(_plain_rows([item for value in new.values() for item in value], shared))
        # in a fixed order: a deal's partners listed in another order are the same deal (the rules take
        # each partner's role by precedence and split shares equally, whatever the order)
        shared.update(
            (
                key,
                tuple(sorted(islice(inner, len(value)), key=repr))
                if len(value) > 1
                else tuple(islice(inner, 1)),
            )
            for key, value in new.items()
        )
        return list(map(shared.__getitem__, ids))
    return list(map(_plain, values))


def _repeats(values: list[Any]) -> bool:
    """The first values repeat (a sample: deciding costs little)."""
    sample = values[:64]
    return 2 * len(set(sample)) <= len(sample)


def _plain_rows(items: list[Any], shared: dict[int, Any] | None = None) -> list[Any]:
    """``[_plain(item) for item in items]``, field by field when the items are records of one type."""
    types = set(map(type, items))
    names = _field_names.get(next(iter(types))) if len(types) == 1 else None
    if len(types) == 1 and names is None and is_dataclass(items[0]):
        names = _field_names[type(items[0])] = tuple(f.name for f in fields(items[0]))
    if not names:
        return list(map(_plain, items))
    return list(
        zip(*(_plain_column(list(map(attrgetter(name), items)), shared) for name in names), strict=True)
    )


def _id_order(record: Any) -> str:
    return str(record.id)


def _merge_order(merge: Merge) -> tuple[str, str, str]:
    return (merge.kind, merge.id, merge.former_id)


def _merge_row(merge: Merge) -> tuple[str, ...]:
    """A merge as the digest reads it: an undone one says so (merges of before give the digest they gave)."""
    row = (merge.kind, merge.former_id, merge.id)
    return (*row, "undone") if merge.undone else row


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
        # only when there are merges: records without any give the digest they gave before merges were read
        *((("merge", records.merges),) if records.merges else ()),
    )
    shared: dict[int, Any] = {}  # by object: the records are alive until the digest is taken
    for kind, items in groups:
        ordered = sorted(items, key=_merge_order if kind == "merge" else _id_order)
        for start in range(0, len(ordered), _CHUNK):
            # one line a record: f"{kind}{_plain(record)!r}\n"
            chunk = ordered[start : start + _CHUNK]
            rows = list(map(_merge_row, chunk)) if kind == "merge" else _plain_rows(chunk, shared)
            digest.update((kind + f"\n{kind}".join(map(repr, rows)) + "\n").encode())
    return digest.hexdigest()


FORK_FROM = 50_000
"""Records from which :func:`digest_alongside` takes the digest in a child process: below, the fork would
cost more than it saves."""


@contextlib.contextmanager
def digest_alongside(records: RecordSet, *, start: bool = True) -> Iterator[Callable[[], str]]:
    """The records digest taken while the run goes on: yields a function that gives
    ``records_digest(records)``, whenever the run needs it (the records must stay alive until then).

    Where the system forks processes cheaply (Linux) and the records are many, a child process takes the
    digest on the machine's other core while this one computes: on a million deals the run is shorter
    by the whole digest. The child shares the records' memory (copy-on-write), sends back the 64
    characters of the digest, and ends at once; it never touches the ledger, the connector or a plugin.
    Anywhere else, or should the child fail, the digest is taken here when asked for: the same text.
    Leaving the block ends a child whose digest was not asked for (a run that failed or was a dry run).
    ``start=False`` starts nothing: the digest is taken here, if ever asked for."""
    child = _fork_digest(records) if start and _forks() and _size(records) >= FORK_FROM else None
    taken: list[str] = []

    def digest() -> str:
        if not taken:
            text = child.result() if child is not None else None
            taken.append(text if text is not None else records_digest(records))
        return taken[0]

    try:
        yield digest
    finally:
        if child is not None:
            child.end()


def _forks() -> bool:
    return sys.platform.startswith("linux") and hasattr(os, "fork")


def _size(records: RecordSet) -> int:
    return len(records.partners) + len(records.deals) + len(records.activities) + len(records.mdf_claims)


class _DigestChild:
    """A child process taking a records digest, and the pipe its answer comes back through."""

    def __init__(self, pid: int, answer: int) -> None:
        self.pid, self._answer, self._ended = pid, answer, False

    def result(self) -> str | None:
        """The child's digest (waiting for it), or None when the child failed."""
        chunks = []
        try:
            while chunk := os.read(self._answer, 128):
                chunks.append(chunk)
        except OSError:
            return None
        finally:
            self._reap()
        text = b"".join(chunks).decode("ascii", "replace")
        return text if len(text) == 64 and all(c in "0123456789abcdef" for c in text) else None

    def end(self) -> None:
        """Stop the child if it is still working, and reap it."""
        if not self._ended:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            self._reap()

    def _reap(self) -> None:
        if not self._ended:
            self._ended = True
            os.close(self._answer)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)


def _fork_digest(records: RecordSet) -> _DigestChild | None:
    answer, tell = os.pipe()
    parent = os.getpid()
    try:
        pid = os.fork()
    except OSError:  # no memory or processes left for a child: the digest is taken here instead
        os.close(answer)
        os.close(tell)
        return None
    if pid:
        os.close(tell)
        return _DigestChild(pid, answer)
    # The child: it holds copies of every descriptor the run has open (the ledger, the period's lock,
    # the connector's): it closes them, so that nothing it holds outlives the run.
    code = 1
    try:
        _die_with(parent)
        os.closerange(3, tell)
        os.closerange(tell + 1, _max_descriptor())
        text = records_digest(records).encode("ascii")
        while text:
            text = text[os.write(tell, text) :]
        code = 0
    except BaseException:  # an interrupt included: the parent takes the digest itself on any failure
        pass
    finally:
        os._exit(code)


def _die_with(parent: int) -> None:
    """Have the kernel end this child when its parent dies (a run killed with -9): Linux's prctl."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before the prctl took effect
        os._exit(1)


def _max_descriptor() -> int:
    try:
        return min(os.sysconf("SC_OPEN_MAX"), 1 << 16)
    except (OSError, ValueError):
        return 1024


def provenance(
    loaded: LoadedProgram,
    plugins: Plugins,
    records: RecordSet,
    computation: Computation,
    *,
    digest: Callable[[], str] | None = None,
) -> RunProvenance:
    """What a run records about how it computed (``records`` as the connector read them). ``digest``
    gives their digest when it is taken alongside the run (:func:`digest_alongside`)."""
    text, sha = program_source(loaded)
    pilot = loaded.program.pilot
    variant = loaded.variant if pilot is not None else None
    variant_text, variant_sha = program_source(variant) if variant is not None else (None, None)
    return RunProvenance(
        variant_source=None if variant is None or pilot is None else pilot.variant,
        variant_text=variant_text,
        variant_sha256=variant_sha,
        program_text=text,
        program_sha256=sha,
        cosell_version=cosell_version(),
        plugins=plugin_versions(plugins),
        records_digest=digest() if digest is not None else records_digest(records),
        earnings={facts.id: computation.earnings(facts.id) for facts in computation.facts},
    )
