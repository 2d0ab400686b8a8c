"""Write-back to CSV files: the no-credentials target (SPEC "CSV input", docs/csv.md).

The output folder holds ``accounts.csv`` and ``deals.csv`` with every record's current managed values,
and ``changes.csv`` with the changes of the latest run. A write replaces a whole file atomically (a temp
file in the same folder, then ``os.replace``), so a reader never sees half a file, and a batch that
changes nothing leaves the files untouched. Temp files a killed run left behind are removed by the next
run. Every cell is written through :func:`cosell.textsafe.spreadsheet_cell` (no formula runs when the
file is opened in a spreadsheet) and read back through ``from_spreadsheet_cell``.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any, TextIO

from cosell.connector import MANAGED_FIELDS, FieldValues, FieldWrite, ObjectName, RecordKey, WriteOutcome
from cosell.errors import ConfigError
from cosell.fields import confirmed
from cosell.program import Program
from cosell.records import RecordSet
from cosell.textsafe import (
    CsvWriter,
    from_spreadsheet_cell,
    spreadsheet_column,
    spreadsheet_row,
)

from .reader import read_folder

COLUMN_PREFIX = "cosell_"
"""A canonical field ``tier`` is the column ``cosell_tier``."""

OUTPUT_FILES: Mapping[ObjectName, str] = {"account": "accounts.csv", "deal": "deals.csv"}
CHANGES_FILE = "changes.csv"
CHANGES_HEADER = ("object", "id", "field", "old", "new")


Dump = Callable[[TextIO], object]
"""Writes a whole file's text to the open handle."""
_CHANGES_AT_ONCE = 10_000
"""Changes turned into ``changes.csv`` text at a time."""
_ROWS_AT_ONCE = 20_000
"""Rows of ``accounts.csv``/``deals.csv`` turned into text at a time."""
_SHARED_AT_MOST = 4_096
"""Distinct cells of a managed column kept for sharing, as read: a column of notes or amounts, each
new, holds no more than this many (what it shares is the first values, the statuses among them)."""


def _csv_writer_text(rows: Iterable[Sequence[str]], kept: int | None = None) -> str:
    text = io.StringIO()
    if kept is None:
        CsvWriter(text).writerows(map(spreadsheet_row, rows))
    else:
        CsvWriter(text).writerows([*spreadsheet_row(row[:kept]), *row[kept:]] for row in rows)
    return text.getvalue()


def _quoted_column(cells: Sequence[str]) -> Sequence[str]:
    """The cells as ``CsvWriter`` writes them: a cell holding a delimiter, quote or line end (a carriage
    return too) quoted, its quotes doubled. ``cells`` itself when none needs it (one search of the joined
    column each)."""
    joined = "".join(cells)
    if not ("," in joined or "\n" in joined or '"' in joined or "\r" in joined):
        return cells
    if '"' not in joined:
        return [f'"{cell}"' if "," in cell or "\n" in cell or "\r" in cell else cell for cell in cells]
    return [
        '"' + cell.replace('"', '""') + '"'
        if "," in cell or "\n" in cell or '"' in cell or "\r" in cell
        else cell
        for cell in cells
    ]


def _csv_text(rows: Sequence[Sequence[str]]) -> str:
    """The rows as CSV text, every cell spreadsheet-safe: the text ``CsvWriter`` (lines ended by \\n)
    writes for :func:`spreadsheet_row` of each row. Rows of differing lengths go through ``CsvWriter``."""
    if not rows:
        return ""
    width = len(rows[0])
    if width < 2 or min(map(len, rows)) != width or max(map(len, rows)) != width:
        return _csv_writer_text(rows)
    return _columns_text([list(map(itemgetter(i), rows)) for i in range(width)])


def _columns_text(columns: Sequence[Sequence[str]], kept: int | None = None) -> str:
    """The rows these columns (of equal length) hold, as :func:`_csv_text` writes them; the columns from
    index ``kept`` on (the ones a user added to an output file) as they are, never marked.

    The text is built a column at a time, each column searched once for a cell to mark or quote (a
    column of ids or amounts needs neither), then joined row by row. Fewer than two columns (a lone
    empty cell is written quoted), or a cell that is not text, go through ``CsvWriter``."""
    if len(columns) < 2:
        return _csv_writer_text(list(zip(*columns, strict=True)), kept)
    try:
        shown = [
            _quoted_column(column if kept is not None and i >= kept else spreadsheet_column(column))
            for i, column in enumerate(columns)
        ]
    except TypeError:
        return _csv_writer_text(list(zip(*columns, strict=True)), kept)
    return "\n".join(map(",".join, zip(*shown, strict=True))) + "\n" if shown[0] else ""


def column_of(field_name: str) -> str:
    return COLUMN_PREFIX + field_name


Row = tuple[str, ...]
"""An output file's row: a cell for each column of its table's header, in the header's order (an empty
cell where the file had none). A tuple holds a row in about a third of the memory a dict by column name
does, the header naming the columns once per table."""


@dataclass
class _OutputTable:
    """One output file in memory: its header (id, the managed columns, any column a user added) and
    its rows by record id. ``stamp`` identifies the file version it was read from."""

    header: list[str]
    rows: dict[str, Row] = field(default_factory=dict)
    stamp: tuple[int, int, int] | None = None


class _HeldValues(Mapping[RecordKey, FieldValues]):
    """What ``current_values`` answers: the managed values of each record found, by key. A record's
    values are built when asked for, from its row as the file held it at the call (rows are tuples, never
    changed in place: a later write does not show here)."""

    def __init__(self, found: dict[RecordKey, Row]) -> None:
        self._found = found

    def __getitem__(self, key: RecordKey) -> FieldValues:
        row = self._found[key]
        return {name: row[i] or None for i, name in enumerate(MANAGED_FIELDS[key[0]], 1)}

    def get(self, key: RecordKey, default: Any = None) -> Any:
        # Mapping.get catches a KeyError per record not found: a first run's records, each of them
        return self[key] if key in self._found else default

    def __contains__(self, key: object) -> bool:
        return key in self._found

    def __iter__(self) -> Iterator[RecordKey]:
        return iter(self._found)

    def __len__(self) -> int:
        return len(self._found)


def _check_names(path: Path, names: Sequence[str]) -> None:
    """Every column named once: a rewrite keeps a column by its name."""
    seen: dict[str, int] = {}
    for number, name in enumerate(names, 1):
        if name and name in seen:
            raise ConfigError(
                f"{path}: the column {name!r} is named twice (columns {seen[name]} and {number})",
                hint="rename one: cosell keeps each column of this file by its name when it rewrites it",
            )
        seen[name] = number


def _cannot_write(path: Path, exc: OSError) -> str:
    return f"cannot write {path}: {exc.strerror or exc}"


def _refused(path: Path, line: int, what: str, fix: str) -> ConfigError:
    return ConfigError(
        f"{path}:{line}: {what}: rewriting the file would lose it",
        hint=f"{fix}: cosell keeps a record in one row, by its id, and a column by its name",
    )


def _line_of(path: Path, at: int, record_id: str, marked: bool) -> int:
    """The line the first row of ``record_id`` (its id in column ``at``) starts on."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        line = 0
        for raw in reader:
            start, line = line + 1, reader.line_num
            cell = raw[at] if at < len(raw) else ""
            if (from_spreadsheet_cell(cell) if marked else cell) == record_id:
                return start
    return 0


def _bad_csv_line(path: Path) -> int:
    """The line that starts the row a strict CSV reader first fails on (0 when it does not)."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, strict=True)
        start = 1
        try:
            for _ in reader:
                start = reader.line_num + 1
        except csv.Error:
            return start
    return 0


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    return (info.st_ino, info.st_mtime_ns, info.st_size)


@contextlib.contextmanager
def _atomic_handle(path: Path) -> Iterator[TextIO]:
    """An open text file that replaces ``path`` when the block ends (a temp file in its folder, then
    ``os.replace``): readers see old or new, never half. An exception leaves ``path`` as it was."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    # os.open with 0o666 lets the umask decide the mode, as for any file the user creates.
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _sync_folder(path.parent)


def _write_atomically(path: Path, write: Callable[[TextIO], object]) -> None:
    """Write a file through :func:`_atomic_handle`; ``write`` gets the open text file."""
    with _atomic_handle(path) as handle:
        write(handle)


class _ChangesUnwritable(Exception):
    """The new ``changes.csv`` could not be written (``error``): every write of the batch fails."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


class _ChangesDraft:
    """The new ``changes.csv``: what it held (``before``), then each object's changes as their text is
    made, written to its temp file at once rather than kept until all are made. Nothing is opened until
    the first change; ``spans`` says where each object's text lies, for a rewrite without it."""

    def __init__(self, path: Path, before: str, stack: contextlib.ExitStack) -> None:
        self.path, self.before, self._stack = path, before, stack
        self.handle: TextIO | None = None
        self.size = 0
        self.spans: dict[ObjectName, list[tuple[int, int]]] = {}

    def add(self, object_name: ObjectName, text: str) -> None:
        try:
            if self.handle is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.handle = self._stack.enter_context(_atomic_handle(self.path))
                head = _changes_head(self.before)
                self.handle.write(head)
                self.size = len(head)
            self.handle.write(text)
        except OSError as exc:
            raise _ChangesUnwritable(exc) from None
        self.spans.setdefault(object_name, []).append((self.size, self.size + len(text)))
        self.size += len(text)


def _changes_head(before: str) -> str:
    """What a rewritten ``changes.csv`` starts with: what it held (a line end added), else its header."""
    if before:
        return before if before.endswith("\n") else before + "\n"
    text = io.StringIO()
    CsvWriter(text).writerow(CHANGES_HEADER)
    return text.getvalue()


_TEMP_NAME = re.compile(r"\.(?P<name>.+)\.(?P<pid>\d+)\.[0-9a-f]+\.tmp")


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def _remove_stale_temps(folder: Path) -> list[Path]:
    """Remove the temp files of output files that a killed process left behind (its pid is not alive);
    a live process's temp file is its write under way. Returns what was removed."""
    removed = []
    names = {*OUTPUT_FILES.values(), CHANGES_FILE}
    for path in folder.glob(".*.tmp"):
        found = _TEMP_NAME.fullmatch(path.name)
        if found is None or found["name"] not in names:
            continue
        pid = int(found["pid"])
        if pid == os.getpid() or _process_alive(pid):
            continue
        path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def _same_folder(first: Path, second: Path) -> bool:
    return first.resolve() == second.resolve()


def _object_name(name: str) -> ObjectName | None:
    if name == "account":
        return "account"
    if name == "deal":
        return "deal"
    return None


def _sync_folder(folder: Path) -> None:
    # The rename itself is durable only once the folder is synced (POSIX); elsewhere this is a no-op.
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FilesConnector:
    """Reads records from an input folder of CSV files and writes managed fields to an output folder.

    Options: ``input`` (the folder ``read`` reads) and ``output`` (the folder write-back fills; created
    when missing). They must differ: the output's ``deals.csv`` would overwrite the input's.
    """

    name = "files"
    write_batch_size = 1_000_000
    """One call replaces each file once with all its rows: the larger the batch, the fewer rewrites."""
    writes_locally = True
    """The output folder is on this machine, written in seconds: the ledger marks a batch written while
    the files are written (``cosell.connector.WritesLocally``)."""

    def __init__(self, input: Path | None = None, output: Path | None = None) -> None:
        self.input = Path(input) if input is not None else None
        self.output = Path(output) if output is not None else None
        if self.input is not None and self.output is not None and _same_folder(self.input, self.output):
            raise ConfigError(
                f"the output folder {self.output} is the input folder",
                hint="write-back would overwrite the input deals.csv: give another --output folder",
            )
        if self.output is not None:
            # the folder, or the nearest of its parents that exists, must be a folder
            there = next((p for p in (self.output, *self.output.parents) if p.exists()), None)
            if there is not None and not there.is_dir():
                raise ConfigError(
                    f"--output: {there} is a file, not a folder",
                    hint="give a folder for the CRM fields (it is created when missing)",
                )
        self._tables: dict[ObjectName, _OutputTable] = {}
        self._unstarted: str | None = None
        """Why ``begin_run`` could not start the run's ``changes.csv``: the run's writes then fail."""

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> FilesConnector:
        """Build from the CLI's options: ``input`` and ``output`` as paths or text."""
        input, output = options.get("input"), options.get("output")
        return cls(
            Path(input) if input is not None else None,
            Path(output) if output is not None else None,
        )

    @property
    def target(self) -> str:
        """What the ledger's outbox keys pending writes by: the output folder, so that writes planned
        for one folder are never sent to another."""
        return f"files:{self.output.resolve()}" if self.output is not None else "files"

    # --- reading ------------------------------------------------------------------------------

    def read(self, program: Program, ledger: object = None) -> RecordSet:
        """Every record in the input folder (the ledger is not needed: a folder is read whole)."""
        if self.input is None:
            raise ConfigError("the files connector needs an input folder", hint="give --input DIR")
        return read_folder(self.input, program)

    # --- write-back ---------------------------------------------------------------------------

    def begin_run(self) -> None:
        """Start the run's ``changes.csv`` afresh (header only), so it lists this run's changes alone.

        The engine calls it once before the first ``write`` of a run; without it changes accumulate.
        """
        folder = self._output_folder()
        path = folder / CHANGES_FILE
        header = ",".join(CHANGES_HEADER) + "\n"
        self._unstarted = None
        try:
            folder.mkdir(parents=True, exist_ok=True)
            _remove_stale_temps(folder)
            if (
                path.is_file()
                and path.stat().st_size == len(header)
                and path.read_text(encoding="utf-8") == header
            ):
                return  # already empty: leave the file (and its modification time) alone
            _write_atomically(path, lambda handle: handle.write(header))
        except OSError as exc:  # a full disk, a folder in the file's place: the writes fail, kept pending
            self._unstarted = _cannot_write(path, exc)

    def current_values(self, keys: Sequence[RecordKey]) -> Mapping[RecordKey, FieldValues]:
        """The managed values the output files hold for ``keys``; a record not in its file is left out."""
        found: dict[RecordKey, Row] = {}
        tables: dict[str, dict[str, Row] | None] = {}
        for key in keys:
            if key[0] not in tables:  # the file's stamp is checked once per call, not per key
                object_name = _object_name(key[0])
                tables[key[0]] = None if object_name is None else self._table(object_name).rows
            rows = tables[key[0]]
            if rows is None:
                continue
            row = rows.get(key[1])
            if row is not None:
                found[key] = row
        return _HeldValues(found)

    def write(self, writes: Sequence[FieldWrite]) -> list[WriteOutcome]:
        """Upsert the values into ``accounts.csv``/``deals.csv``; append what changed to ``changes.csv``.

        A file whose rows do not change is not rewritten. A file that cannot be written fails the writes
        it carried (retried on the next run); the other object's writes still land.
        """
        folder = self._output_folder()
        by_object: dict[ObjectName, list[FieldWrite]] = {}
        managed = {name: frozenset(fields) for name, fields in MANAGED_FIELDS.items()}
        for write in writes:
            if write.object not in OUTPUT_FILES:
                raise ValueError(f"the files connector writes accounts and deals, not {write.object!r}")
            if not managed[write.object].issuperset(write.values):
                unknown = write.values.keys() - managed[write.object]
                raise ValueError(f"{write.object} has no managed field {sorted(unknown)[0]!r}")
            by_object.setdefault(write.object, []).append(write)
        if self._unstarted is not None:
            return [WriteOutcome(w.key, ok=False, error=self._unstarted) for w in writes]
        failed: dict[ObjectName, str] = {}
        planned: dict[ObjectName, Dump | None] = {}
        changes_file = folder / CHANGES_FILE
        try:
            before = changes_file.read_text(encoding="utf-8") if changes_file.is_file() else ""
            # changes.csv first: a run killed after it replaced accounts.csv or deals.csv has still
            # listed what it changed there. The whole file is replaced (when the block ends), never
            # appended in place.
            with contextlib.ExitStack() as stack:
                draft = _ChangesDraft(changes_file, before, stack)
                for object_name, object_writes in by_object.items():
                    try:
                        planned[object_name] = self._upserted(object_name, object_writes, draft)
                    except OSError as exc:
                        self._fail(folder, object_name, exc, failed)
        except (OSError, _ChangesUnwritable) as exc:  # nothing replaced: every write fails
            self._forget(by_object)  # the changed tables are read again
            error = exc.error if isinstance(exc, _ChangesUnwritable) else exc
            return [WriteOutcome(w.key, ok=False, error=_cannot_write(changes_file, error)) for w in writes]
        except BaseException:  # a file refused (ConfigError), say
            self._forget(by_object)
            raise
        for object_name, dump in planned.items():
            if dump is None:
                continue
            try:
                self._replace(folder, object_name, dump)
            except OSError as exc:
                self._fail(folder, object_name, exc, failed)
        if failed and draft.spans:
            with contextlib.suppress(OSError):  # else it also lists the failed writes, sent again next run
                self._drop_changes(changes_file, draft, failed)
        if not failed:
            return [confirmed((w.object, w.record_id)) for w in writes]
        return [WriteOutcome(w.key, ok=w.object not in failed, error=failed.get(w.object)) for w in writes]

    # --- internals ----------------------------------------------------------------------------

    def _fail(
        self, folder: Path, object_name: ObjectName, exc: OSError, failed: dict[ObjectName, str]
    ) -> None:
        self._tables.pop(object_name, None)  # read again from disk: the cached rows were changed
        failed[object_name] = _cannot_write(folder / OUTPUT_FILES[object_name], exc)

    def _forget(self, object_names: Iterable[ObjectName]) -> None:
        """Drop tables changed in memory but not written: they are read again from disk."""
        for object_name in object_names:
            self._tables.pop(object_name, None)

    def _output_folder(self) -> Path:
        if self.output is None:
            raise ConfigError("the files connector needs an output folder", hint="give --output DIR")
        return self.output

    def _default_header(self, object_name: ObjectName) -> list[str]:
        return ["id", *(column_of(name) for name in MANAGED_FIELDS[object_name])]

    def _table(self, object_name: ObjectName) -> _OutputTable:
        """The output file as last read or written; read again when it changed on disk since."""
        path = self._output_folder() / OUTPUT_FILES[object_name]
        stamp = _stamp(path)
        table = self._tables.get(object_name)
        if table is None or table.stamp != stamp:
            table = self._tables[object_name] = self._load(path, object_name, stamp)
        return table

    def _load(self, path: Path, object_name: ObjectName, stamp: tuple[int, int, int] | None) -> _OutputTable:
        """The file's rows by record id (``_read``); a folder in its place, bytes that are not UTF-8 and
        text that is not CSV (a quote left open) are refused, naming the file and line."""
        if stamp is not None and path.is_dir():
            raise ConfigError(f"{path}: a folder where cosell keeps a file", hint="move the folder away")
        try:
            return self._read(path, object_name, stamp)
        except UnicodeDecodeError:
            data = path.read_bytes()
            try:
                data.decode("utf-8")
                line = 0
            except UnicodeDecodeError as exc:
                line = data[: exc.start].count(b"\n") + 1
            raise ConfigError(
                f"{path}:{line}: not UTF-8 text: rewriting the file would change it",
                hint="save it as UTF-8 (a spreadsheet's 'CSV UTF-8')",
            ) from None
        except csv.Error as exc:
            raise ConfigError(
                f"{path}:{_bad_csv_line(path)}: not valid CSV ({exc}): rewriting the file would change it",
                hint="close the quote that was left open",
            ) from None

    def _read(self, path: Path, object_name: ObjectName, stamp: tuple[int, int, int] | None) -> _OutputTable:
        """The file's rows by record id. The id and managed cells are cosell's (a leading ``'`` it marked
        them with is dropped); the cells of a column a user added are kept exactly as written. A file a
        rewrite would lose something of (a column named twice, cells under a column with no name or
        past the header's last, a record on two rows, a row with cells but no id) is refused."""
        header = self._default_header(object_name)
        if stamp is None:
            return _OutputTable(header)
        ours = frozenset(header)
        with path.open(encoding="utf-8-sig", newline="") as handle:
            # A cell cosell marked starts with an apostrophe: a file without any (as a rule) is taken as
            # it is, with no call per cell.
            text = handle.read()
            marked = "'" in text
            if "\x00" in text:  # a NUL is dropped from what cosell writes: the rewrite would change it
                line = text.count("\n", 0, text.index("\x00")) + 1
                raise _refused(path, line, "a NUL character", "remove it")
            del text
            handle.seek(0)
            reader = csv.reader(handle, strict=True)
            found = next((row for row in reader if any(row)), None)
            if found is None:
                return _OutputTable(header, stamp=stamp)
            names = []
            for cell in found:
                name = from_spreadsheet_cell(cell.strip())
                names.append(name if name in ours else cell)  # a column you added keeps its name as written
            if "id" not in names:
                raise ConfigError(f"{path}: no id column: this is not a file cosell wrote")
            _check_names(path, names)
            # Keep columns a user added after the managed ones, so a rewrite does not drop them.
            header += [name for name in names if name and name not in ours]
            table = _OutputTable(header, stamp=stamp)
            rows = table.rows
            width, at = len(names), names.index("id")
            # Where each of the file's columns goes in the header's order: its rows are kept that way.
            place = [header.index(name) if name else None for name in names]
            as_written = names == header
            blank = ("",) * len(header)
            # A managed column repeats few values (a status, an amount): equal cells share one string.
            shared: list[tuple[int, dict[str, str]]] = [
                (i, {}) for i, name in enumerate(names) if name in ours and i != at
            ]
            unmark = [i for i, name in enumerate(names) if name in ours] if marked else []
            unnamed = [i for i, name in enumerate(names) if not name]
            line = reader.line_num
            for raw in reader:
                start, line = line + 1, reader.line_num
                if not any(raw):
                    continue
                if len(raw) > width and any(raw[width:]):
                    raise _refused(
                        path,
                        start,
                        "cells past the header's last column",
                        "name their column, or remove them",
                    )
                if unnamed and any(raw[i] for i in unnamed if i < len(raw)):
                    raise _refused(
                        path,
                        start,
                        "a cell under a column with no name",
                        "name the column, or empty its cells",
                    )
                for i in unmark:
                    if i < len(raw) and raw[i][:1] == "'":
                        raw[i] = raw[i][1:]
                record_id = raw[at] if at < len(raw) else ""
                if not record_id:
                    raise _refused(
                        path, start, "a row with cells but no id", "give the row its id, or remove the row"
                    )
                if record_id in rows:
                    first = _line_of(path, at, record_id, marked)
                    what = f"record {record_id!r} has a row already (line {first})"
                    raise _refused(path, start, what, "keep one of the two rows")
                for i, seen in shared:
                    if i < len(raw):
                        cell = raw[i]
                        kept = seen.get(cell)
                        if kept is not None:
                            raw[i] = kept
                        elif len(seen) < _SHARED_AT_MOST:
                            seen[cell] = cell
                if as_written and len(raw) == width:
                    rows[record_id] = tuple(raw)
                else:
                    cells = list(blank)
                    for to, cell in zip(place, raw, strict=False):
                        if to is not None:
                            cells[to] = cell
                    rows[record_id] = tuple(cells)
        return table

    def _upserted(
        self, object_name: ObjectName, writes: Iterable[FieldWrite], draft: _ChangesDraft
    ) -> Dump | None:
        """Apply ``writes`` to the table in memory, adding the changes to ``draft`` (the text of their
        ``changes.csv`` rows, in pieces): how to dump the new file (None when it need not be rewritten)."""
        table = self._table(object_name)
        rows = table.rows
        # a managed field's place in a row: the header starts with id, then the managed columns
        columns = {name: at for at, name in enumerate(MANAGED_FIELDS[object_name], 1)}
        # The changes are written as the CSV text they become, a few thousand rows a piece: a million
        # changes kept until all are made would hold as much memory as their text, as tuples twice
        # that. Until then they are kept as the columns of changes.csv after its first (the object,
        # the same for all of them).
        ids: list[str] = []
        names: list[str] = []
        olds: list[str] = []
        news: list[str] = []
        added = False
        width = len(table.header)
        for write in writes:
            record_id = write.record_id
            row = rows.get(record_id)
            if row is None:  # every value a new record holds is a change from an empty cell
                cells = [record_id, *([""] * (width - 1))]
                added = True
                for name, value in write.values.items():
                    if value:
                        cells[columns[name]] = value
                        ids.append(record_id)
                        names.append(name)
                        olds.append("")
                        news.append(value)
                rows[record_id] = tuple(cells)
            else:
                changed: list[str] | None = None
                for name, value in write.values.items():
                    at = columns[name]
                    old, new = row[at], value or ""
                    if new != old:
                        if changed is None:
                            changed = list(row)
                        changed[at] = new
                        ids.append(record_id)
                        names.append(name)
                        olds.append(old)
                        news.append(new)
                if changed is not None:
                    rows[record_id] = tuple(changed)
            if len(ids) >= _CHANGES_AT_ONCE:
                draft.add(object_name, _columns_text([[object_name] * len(ids), ids, names, olds, news]))
                ids, names, olds, news = [], [], [], []
        if ids:
            draft.add(object_name, _columns_text([[object_name] * len(ids), ids, names, olds, news]))
        if not (object_name in draft.spans or added):
            return None
        header = table.header

        def dump(handle: TextIO) -> None:
            kept = len(columns) + 1  # id and the managed columns, then the ones a user added
            handle.write(_columns_text([[name] for name in header], kept))
            cells = [itemgetter(at) for at in range(len(header))]
            ids = sorted(rows)
            for start in range(0, len(ids), _ROWS_AT_ONCE):
                chunk = list(map(rows.__getitem__, ids[start : start + _ROWS_AT_ONCE]))
                handle.write(_columns_text([list(map(cell, chunk)) for cell in cells], kept))

        return dump

    def _replace(self, folder: Path, object_name: ObjectName, dump: Dump) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / OUTPUT_FILES[object_name]
        _write_atomically(path, dump)
        table = self._tables.get(object_name)
        if table is not None:  # the file just written is the table in memory: no need to read it again
            table.stamp = _stamp(path)

    def _drop_changes(self, path: Path, draft: _ChangesDraft, failed: Iterable[ObjectName]) -> None:
        """Replace ``changes.csv`` by what ``draft`` wrote there less the changes of ``failed`` objects."""
        with path.open(encoding="utf-8", newline="") as handle:
            text = handle.read()
        dropped = sorted(span for name in failed for span in draft.spans.get(name, ()))
        kept, at = [], 0
        for start, end in dropped:
            kept.append(text[at:start])
            at = end
        kept.append(text[at:])
        _write_atomically(path, lambda handle: handle.writelines(kept))
