"""Read a folder of CSV files into canonical records (SPEC "CSV input").

Every bad cell is collected, never stopped at: the run gets one ``InputError`` that lists each problem as
``file:line: column: problem``, ``line`` being the physical line in the file (the header is line 1).
Cells are converted here (dates, numbers as exact Decimals, choices, currencies) so that the messages
speak of what the user typed; the records' TypeAdapters then check ranges and required values, a whole
file at a time.

That cell-by-cell path words the errors. A folder is first read by columns (pyarrow, at the end of this
module), which proves a clean folder clean without a Python call per cell and hands anything else to
the cell-by-cell path: the records and the messages are the same either way.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import difflib
import io
import itertools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, TypeVar, get_args, get_type_hints
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from pydantic import TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from cosell.errors import InputError, Problem
from cosell.gc_pause import gc_paused
from cosell.money import parse_decimal
from cosell.program import Program
from cosell.records import (
    MAX_AMOUNT,
    MAX_PLACES,
    REFUND_ERRORS,
    Activity,
    ClaimStatus,
    Deal,
    DealStatus,
    Involvement,
    MdfClaim,
    Merge,
    MergedKind,
    Partner,
    PartnerStatus,
    RecordId,
    RecordSet,
    Role,
    one_line_text,
)
from cosell.slotted import from_columns

PARTNERS_FILE = "partners.csv"
DEALS_FILE = "deals.csv"
DEAL_PARTNERS_FILE = "deal_partners.csv"
ACTIVITIES_FILE = "activities.csv"
MDF_CLAIMS_FILE = "mdf_claims.csv"
MERGES_FILE = "merges.csv"
INPUT_FILES = (PARTNERS_FILE, DEALS_FILE, DEAL_PARTNERS_FILE, ACTIVITIES_FILE, MDF_CLAIMS_FILE, MERGES_FILE)
"""The files a folder may hold, in the order their problems are reported."""

log = logging.getLogger(__name__)

DEFAULT_ROLE: Role = "sourced"
"""The role of the partner named in ``deals.csv`` when its ``role`` cell is empty (like Salesforce's
``PartnerAccountId``)."""

_PARTNERS: TypeAdapter[list[Partner]] = TypeAdapter(list[Partner])
_DEALS: TypeAdapter[list[Deal]] = TypeAdapter(list[Deal])
_INVOLVEMENTS: TypeAdapter[list[Involvement]] = TypeAdapter(list[Involvement])
_ACTIVITIES: TypeAdapter[list[Activity]] = TypeAdapter(list[Activity])
_MDF_CLAIMS: TypeAdapter[list[MdfClaim]] = TypeAdapter(list[MdfClaim])
_MERGES: TypeAdapter[list[Merge]] = TypeAdapter(list[Merge])

T = TypeVar("T")
Converter = Callable[[str], Any]
"""Turns a non-empty, stripped cell into the value a record takes; raises ValueError with a message."""


# --- problems ----------------------------------------------------------------------------------


class _Problems:
    """Problems found so far, reported in file order, then line, then column order."""

    def __init__(self) -> None:
        self._found: list[tuple[int, int, int, int, Problem]] = []

    def add(self, file: str, line: int | None, column: str | None, message: str, rank: int = -1) -> None:
        where = f"{file}:{line}" if line is not None else file
        text = f"{column}: {message}" if column else message
        order = INPUT_FILES.index(file) if file in INPUT_FILES else len(INPUT_FILES)
        self._found.append((order, line or 0, rank, len(self._found), Problem(where, text)))

    def __bool__(self) -> bool:
        return bool(self._found)

    def sorted(self) -> list[Problem]:
        return [p for *_, p in sorted(self._found, key=lambda f: f[:4])]


# --- reading a file ----------------------------------------------------------------------------


@dataclass
class _Table:
    """One CSV file: its columns and its non-blank rows of the right width (cells stripped)."""

    name: str
    columns: dict[str, int]
    rows: list[tuple[int, list[str]]] = field(default_factory=list)
    complete: bool = True
    """False when a required column is missing: its rows are not validated (each would repeat it)."""

    def rank(self, column: str) -> int:
        return self.columns.get(column, len(self.columns))  # a column the file lacks sorts last

    def cell(self, cells: Sequence[str], column: str) -> str:
        index = self.columns.get(column)
        return "" if index is None else cells[index]


def _load(
    folder: Path, name: str, required: Sequence[str], problems: _Problems, *, needed: bool
) -> _Table | None:
    path = folder / name
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        if needed:
            problems.add(name, None, None, f"file not found in {folder}")
        return None
    except OSError as exc:
        problems.add(name, None, None, f"cannot be read: {exc.strerror}")
        return None
    start = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        text = data[start:].decode("utf-8")
    except UnicodeDecodeError as exc:
        at = start + exc.start
        line = data.count(b"\n", 0, at) + 1
        message = f"not UTF-8 text (byte {data[at]:#04x}): save the file as UTF-8"
        problems.add(name, line, None, message)
        return None
    table: _Table | None = None
    width = 0
    last = 0
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        for cells in reader:
            line, last = last + 1, reader.line_num
            cells = [cell.strip() for cell in cells]
            if not any(cells):
                continue  # a blank line
            if table is None:
                table = _header(name, line, cells, required, problems)
                width = len(cells)
                continue
            if len(cells) != width:
                message = f"the row has {len(cells)} cells but the header has {width} columns"
                problems.add(name, line, None, message)
                continue
            table.rows.append((line, cells))
    except csv.Error as exc:
        problems.add(name, last + 1, None, f"not valid CSV: {exc}")
    if table is None:
        problems.add(name, 1, None, "the file is empty: it needs a header row naming its columns")
    return table


def _header(
    name: str, line: int, cells: Sequence[str], required: Sequence[str], problems: _Problems
) -> _Table:
    columns: dict[str, int] = {}
    for index, raw in enumerate(cells):
        column = raw.strip()
        if not column:
            continue  # an unnamed column (a trailing comma, say) carries nothing cosell reads
        if column in columns:
            problems.add(name, line, column, "the column appears twice", index)
            continue
        columns[column] = index
    table = _Table(name, columns)
    for column in required:
        if column not in columns:
            problems.add(name, line, column, "required column is missing", len(cells))
            table.complete = False
    return table


# --- converting cells --------------------------------------------------------------------------


def _date_converter(zone: ZoneInfo) -> Converter:
    def to_date(text: str) -> date:
        try:
            if len(text) == 10 and text[4] == "-" and text[7] == "-":
                return date.fromisoformat(text)
            if len(text) > 10 and text[4] == "-" and text[7] == "-" and text[10] in "T ":
                moment = datetime.fromisoformat(text)
                # A moment with an offset is a date only where the program keeps its calendar.
                return (moment.astimezone(zone) if moment.tzinfo is not None else moment).date()
        except (ValueError, OverflowError):  # OverflowError: a moment at the ends of the calendar
            pass
        raise ValueError(f"{text!r} is not a date (use YYYY-MM-DD)")

    return to_date


def _number(text: str) -> Decimal:
    return parse_decimal(text)


def _text(text: str) -> str:
    return text


def _choice(choices: tuple[str, ...]) -> Converter:
    allowed = ", ".join(choices)

    def to_choice(text: str) -> str:
        value = text.lower()
        if value not in choices:
            raise ValueError(f"{text!r} must be one of {allowed}")
        return value

    return to_choice


def _currency_converter(program: Program) -> Converter:
    def to_currency(text: str) -> str:
        code = text.upper()
        if len(code) != 3 or not code.isascii() or not code.isalpha():
            raise ValueError(f"{text!r} is not a currency code (use ISO 4217, e.g. EUR)")
        if program.fx_rate(code) is None:
            raise ValueError(f"no exchange rate for {code} in the program's fx table")
        return code

    return to_currency


@dataclass(slots=True)
class _Row:
    """One row on its way to a record: where it is, its converted values, and its bad columns."""

    table: _Table
    line: int
    cells: list[str]
    values: dict[str, Any]
    bad: set[str]


Plan = list[tuple[str, int, Converter]]
"""(column, its index in the row, its converter) for the columns a file has."""


def _plan(table: _Table, converters: Mapping[str, Converter]) -> Plan:
    columns = table.columns
    return [(column, columns[column], convert) for column, convert in converters.items() if column in columns]


def _convert(table: _Table, line: int, cells: list[str], plan: Plan, problems: _Problems) -> _Row:
    values: dict[str, Any] = {}
    bad: set[str] = set()
    for column, index, convert in plan:
        text = cells[index]
        if not text:
            continue  # an empty cell is an absent value
        try:
            values[column] = convert(text)
        except ValueError as exc:
            problems.add(table.name, line, column, str(exc), index)
            bad.add(column)
    return _Row(table, line, cells, values, bad)


# --- validating records ------------------------------------------------------------------------


def _quoted(text: str) -> str:
    """A cell as a message quotes it: a long one by its start and length (a message stays one line)."""
    if len(text) <= _QUOTED_MAX:
        return repr(text)
    return f"{text[: _QUOTED_MAX // 2]!r}… ({len(text):,} characters)"


_QUOTED_MAX = 80


def _message(error: ErrorDetails, text: str, file: str, column: str | None) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    shown = f"{_quoted(text)} " if text else ""
    if kind == "missing":
        return "a value is required"
    if kind in REFUND_ERRORS:
        return error["msg"]  # it names the dates itself
    if kind == "greater_than_equal":
        if file == DEALS_FILE and column == "amount":
            return f"{shown}must be at least 0: a refund is a refunded_on date, not a negative amount"
        return f"{shown}must be at least {ctx['ge']}"
    if kind == "less_than_equal":
        if ctx["le"] == MAX_AMOUNT:
            return f"{shown}is too large: it must be at most {MAX_AMOUNT:,}"
        return f"{shown}must be at most {ctx['le']}"
    if kind == "greater_than":
        return f"{shown}must be more than {ctx['gt']}"
    if kind == "less_than":
        return f"{shown}must be less than {ctx['lt']}"
    return shown + error["msg"].removeprefix("Value error, ")


def _validate(adapter: TypeAdapter[list[T]], rows: Sequence[_Row], problems: _Problems) -> list[T] | None:
    """Validate rows in one call; report each error at its row and column. None when any failed."""
    try:
        return adapter.validate_python([row.values for row in rows])
    except ValidationError as err:
        for error in err.errors(include_url=False):
            loc = error["loc"]
            row = rows[int(loc[0])]
            column = str(loc[1]) if len(loc) > 1 else None
            if column in row.bad:
                continue  # already reported when its cell was converted
            text = row.table.cell(row.cells, column) if column else ""
            rank = row.table.rank(column or "")
            message = _message(error, text, row.table.name, column)
            problems.add(row.table.name, row.line, column, message, rank)
        return None


# --- cross-record checks -----------------------------------------------------------------------


def _ids(table: _Table | None, problems: _Problems) -> set[str] | None:
    """The ids a file holds, reporting repeats; None when the file (or its id column) is missing."""
    if table is None or "id" not in table.columns:
        return None
    index = table.columns["id"]
    first_line: dict[str, int] = {}
    for line, cells in table.rows:
        record_id = cells[index]
        if not record_id:
            continue
        seen = first_line.setdefault(record_id, line)
        if seen != line:
            problems.add(table.name, line, "id", f"{record_id!r} appears twice (first on line {seen})", index)
    return set(first_line)


def _check_reference(
    row: _Row, column: str, known: set[str] | None, what: str, source: str, problems: _Problems
) -> None:
    if known is None or column in row.bad:
        return
    value = row.values.get(column)
    if isinstance(value, str) and value not in known:
        problems.add(
            row.table.name, row.line, column, f"no {what} {value!r} in {source}", row.table.rank(column)
        )


def _check_date_given(row: _Row, status: str, needs: str, column: str, problems: _Problems) -> None:
    if row.values.get("status") == status and column not in row.values and column not in row.bad:
        problems.add(row.table.name, row.line, column, f"{needs} needs {column}", row.table.rank(column))


def _check_not_before(row: _Row, column: str, earlier: str, problems: _Problems) -> None:
    """``column``'s date is not before ``earlier``'s (a deal closes after it is created)."""
    day, first = row.values.get(column), row.values.get(earlier)
    if isinstance(day, date) and isinstance(first, date) and day < first:
        message = f"{day.isoformat()} is before {earlier} {first.isoformat()}"
        problems.add(row.table.name, row.line, column, message, row.table.rank(column))


# --- the folder --------------------------------------------------------------------------------

_PARTNER_COLUMNS = ("id", "name", "joined_on", "status", "exit_on", "crm_tier")
_REQUIRED: Mapping[str, tuple[str, ...]] = {
    PARTNERS_FILE: ("id", "name", "joined_on"),
    DEALS_FILE: ("id", "name", "amount", "stage", "status", "created_on"),
    DEAL_PARTNERS_FILE: ("deal_id", "partner_id", "role"),
    ACTIVITIES_FILE: ("id", "partner_id", "type", "occurred_on"),
    MDF_CLAIMS_FILE: ("id", "partner_id", "campaign", "amount", "status"),
    MERGES_FILE: ("kind", "former_id", "id"),
}
"""The columns each file must have: the record's required fields (a deal's currency may be left out)."""


def read_folder(folder: Path, program: Program) -> RecordSet:
    """Read ``partners.csv``, ``deals.csv`` and the optional ``deal_partners.csv``, ``activities.csv``
    and ``mdf_claims.csv`` of ``folder`` (see docs/csv.md).

    Amounts stay in each record's own currency (the engine converts them); an empty deal ``currency``
    is the program currency. Raises ``InputError`` listing every bad cell when anything is wrong.
    """
    # Reading creates millions of small objects and frees none: the cyclic collector would walk them
    # again and again (half the time on 100k deals) and could find nothing to free.
    with gc_paused():
        folder = Path(folder)
        records = _read_columnar(folder, program)
        # pyarrow's allocator keeps the pages its columns held for its next allocation, which never
        # comes: give them back, for the run's own objects (a quarter of a GiB at a million deals).
        pa.default_memory_pool().release_unused()
        if records is None:
            return _Folder(folder, program).read()  # words every problem, or reads what columns cannot
        for warning in _file_warnings(folder, program):
            log.warning("%s", warning)
        return records


class _Folder:
    """One read of a folder: the files, the ids they define, and the problems found so far."""

    def __init__(self, folder: Path, program: Program) -> None:
        self.folder = folder
        self.program = program
        self.problems = _Problems()
        self.to_date = _date_converter(program.zone)
        self.to_currency = _currency_converter(program)
        self.to_role = _choice(get_args(Role))
        self.to_claim = _choice(get_args(ClaimStatus))

    def read(self) -> RecordSet:
        if not self.folder.is_dir():
            message = "not a folder (give the folder holding partners.csv and deals.csv)"
            raise InputError([Problem(str(self.folder), message)])
        partners_table = self._load(PARTNERS_FILE, needed=True)
        deals_table = self._load(DEALS_FILE, needed=True)
        links_table = self._load(DEAL_PARTNERS_FILE)
        activities_table = self._load(ACTIVITIES_FILE)
        claims_table = self._load(MDF_CLAIMS_FILE)
        merges_table = self._load(MERGES_FILE)
        for warning in _file_warnings(self.folder, self.program):
            log.warning("%s", warning)
        # Ids come from every row, even a bad one, so that one bad partner row does not make each of its
        # deals "unknown" too. A file that is missing checks no references to it.
        self.partner_ids = _ids(partners_table, self.problems)
        self.deal_ids = _ids(deals_table, self.problems)
        _ids(activities_table, self.problems)
        _ids(claims_table, self.problems)

        partners = self._partners(partners_table)
        deal_rows, links = self._deal_rows(deals_table)
        links += self._deal_partner_rows(links_table)
        deals = self._deals(deal_rows, links)
        activities = self._activities(activities_table)
        claims = self._claims(claims_table)
        merges = self.merges(merges_table)
        if (
            self.problems
            or partners is None
            or deals is None
            or activities is None
            or claims is None
            or merges is None
        ):
            raise InputError(self.problems.sorted())
        return RecordSet(tuple(partners), tuple(deals), tuple(activities), tuple(claims), tuple(merges))

    def _load(self, name: str, *, needed: bool = False) -> _Table | None:
        return _load(self.folder, name, _REQUIRED[name], self.problems, needed=needed)

    def _rows(self, table: _Table | None, converters: Mapping[str, Converter]) -> list[_Row]:
        """The file's rows with their cells converted; none when the file is missing or incomplete."""
        if table is None or not table.complete:
            return []
        plan = _plan(table, converters)
        return [_convert(table, line, cells, plan, self.problems) for line, cells in table.rows]

    def _reference(self, row: _Row, column: str, to: Literal["partner", "deal"]) -> None:
        known, source = (self.partner_ids, PARTNERS_FILE) if to == "partner" else (self.deal_ids, DEALS_FILE)
        _check_reference(row, column, known, to, source, self.problems)

    def _partners(self, table: _Table | None) -> list[Partner] | None:
        # The record's columns; every other column is an attribute, for plugins to read.
        rows = self._rows(table, {
            "id": _text, "name": _text, "joined_on": self.to_date, "status": _choice(get_args(PartnerStatus)),
            "exit_on": self.to_date, "crm_tier": _text,
        })  # fmt: skip
        if table is not None:
            extra = [(c, i) for c, i in table.columns.items() if c not in _PARTNER_COLUMNS]
            for row in rows:
                row.values["attributes"] = {column: row.cells[i] for column, i in extra if row.cells[i]}
                for status in ("exiting", "exited"):
                    _check_date_given(row, status, f"an {status} partner", "exit_on", self.problems)
        return _validate(_PARTNERS, rows, self.problems)

    def _deal_rows(self, table: _Table | None) -> tuple[list[_Row], list[tuple[str, _Row]]]:
        """The deals, and the partner a row of deals.csv names (role ``sourced`` unless given)."""
        rows = self._rows(table, {
            "id": _text, "name": _text, "amount": _number, "currency": self.to_currency, "stage": _text,
            "status": _choice(get_args(DealStatus)), "created_on": self.to_date, "closed_on": self.to_date,
            "discount_pct": _number, "margin_pct": _number, "campaign": _text, "refunded_on": self.to_date,
        })  # fmt: skip
        links: list[tuple[str, _Row]] = []
        if table is None or not rows:
            return rows, links
        plan = _plan(table, {"partner_id": _text, "role": self.to_role, "share": _number})
        for row in rows:
            if "currency" not in row.bad:
                row.values.setdefault("currency", self.program.currency)
            for status in ("won", "lost"):
                _check_date_given(row, status, f"a {status} deal", "closed_on", self.problems)
            _check_not_before(row, "closed_on", "created_on", self.problems)
            link = _convert(table, row.line, row.cells, plan, self.problems)
            if "partner_id" in link.values:
                link.values.setdefault("role", DEFAULT_ROLE)
                self._reference(link, "partner_id", "partner")
                links.append((row.values.get("id", ""), link))
            elif "partner_id" not in link.bad:
                for column in ("role", "share"):
                    if column in link.values:
                        message = "given without a partner_id"
                        self.problems.add(table.name, row.line, column, message, table.rank(column))
        return rows, links

    def _deal_partner_rows(self, table: _Table | None) -> list[tuple[str, _Row]]:
        converters = {"deal_id": _text, "partner_id": _text, "role": self.to_role, "share": _number}
        rows = self._rows(table, converters)
        links = []
        for link in rows:
            self._reference(link, "deal_id", "deal")
            self._reference(link, "partner_id", "partner")
            if "deal_id" not in link.values and "deal_id" not in link.bad:
                message = "a value is required"
                self.problems.add(link.table.name, link.line, "deal_id", message, link.table.rank("deal_id"))
            links.append((link.values.pop("deal_id", ""), link))
        return links

    def _deals(self, rows: list[_Row], links: list[tuple[str, _Row]]) -> list[Deal] | None:
        """Deals with their partners: the one deals.csv names first, then deal_partners.csv's in file
        order. A partner named twice stays twice here; the engine merges them (SPEC)."""
        _check_repeated_partners(links, self.problems)
        _check_shares(links, self.problems)
        involvements = _validate(_INVOLVEMENTS, [link for _, link in links], self.problems)
        if involvements is not None:
            by_deal: dict[str, list[Involvement]] = {}
            for (deal_id, _), involvement in zip(links, involvements, strict=True):
                by_deal.setdefault(deal_id, []).append(involvement)
            for row in rows:
                found = by_deal.get(row.values.get("id", ""))
                if found:
                    row.values["partners"] = tuple(found)
        return _validate(_DEALS, rows, self.problems)

    def _activities(self, table: _Table | None) -> list[Activity] | None:
        rows = self._rows(table, {
            "id": _text, "partner_id": _text, "type": _text, "occurred_on": self.to_date, "deal_id": _text,
            "quantity": _number,
        })  # fmt: skip
        for row in rows:
            self._reference(row, "partner_id", "partner")
            self._reference(row, "deal_id", "deal")
        return _validate(_ACTIVITIES, rows, self.problems)

    def _claims(self, table: _Table | None) -> list[MdfClaim] | None:
        rows = self._rows(table, {
            "id": _text, "partner_id": _text, "campaign": _text, "amount": _number, "status": self.to_claim,
            "approved_on": self.to_date, "currency": self.to_currency,
        })  # fmt: skip
        for row in rows:
            self._reference(row, "partner_id", "partner")
            for status in ("approved", "paid"):
                _check_date_given(row, status, f"a {status} claim", "approved_on", self.problems)
        return _validate(_MDF_CLAIMS, rows, self.problems)

    def merges(self, table: _Table | None) -> list[Merge] | None:
        """Partners and deals the CRM merged into others (``kind``, ``former_id``, ``id``): the former id
        is no record of its file any more, and the id is one (or a former id merged on, for a chain); its
        history is read as the new id's. Each problem is reported at its row."""
        kinds: tuple[MergedKind, ...] = ("partner", "deal")
        rows = self._rows(table, {"kind": _choice(kinds), "former_id": _text, "id": _text})
        into: dict[tuple[str, str], tuple[str, _Row]] = {}  # (kind, former id) → (id, its row)
        for row in rows:
            kind, former, target = (row.values.get(c) for c in ("kind", "former_id", "id"))
            if not (isinstance(kind, str) and isinstance(former, str) and isinstance(target, str)):
                continue  # a bad cell, reported where it was converted
            known, source = (
                (self.partner_ids, PARTNERS_FILE) if kind == "partner" else (self.deal_ids, DEALS_FILE)
            )
            if known is not None and former in known:
                message = f"{former!r} is still in {source}: a merged {kind}'s rows go under the id it was merged into"
                self._merge_problem(row, "former_id", message)
            elif former == target:
                self._merge_problem(row, "id", f"the {kind} {former!r} is merged into itself")
            elif (kind, former) in into and into[kind, former][0] != target:
                first, at = into[kind, former]
                self._merge_problem(
                    row, "id", f"{former!r} is merged into {first!r} on line {at.line} already"
                )
            else:
                into.setdefault((kind, former), (target, row))
        formers = {key: target for key, (target, _) in into.items()}
        for (kind, former), (target, row) in into.items():
            known = self.partner_ids if kind == "partner" else self.deal_ids
            if known is not None and target not in known and (kind, target) not in formers:
                source = PARTNERS_FILE if kind == "partner" else DEALS_FILE
                self._merge_problem(row, "id", f"no {kind} {target!r} in {source}")
            chain, step = [former], target
            while (kind, step) in formers and step not in chain:
                chain.append(step)
                step = formers[kind, step]
            if step == former:
                shown = " → ".join([*chain, former])
                self._merge_problem(row, "id", f"the merges go round in a circle: {shown}")
        return _validate(_MERGES, rows, self.problems)

    def _merge_problem(self, row: _Row, column: str, message: str) -> None:
        self.problems.add(row.table.name, row.line, column, message, row.table.rank(column))


ACTIVITY_METRIC = "joint_activities"
"""The built-in metric that counts activities."""


def _file_warnings(folder: Path, program: Program) -> list[Problem]:
    """Files that look like input but are not read (``Activities.csv``, ``activity.csv``), and optional
    files the program needs but the folder lacks: each silently leaves records out."""
    warnings: list[Problem] = []
    for path in sorted(folder.iterdir()):
        name = path.name
        if name in INPUT_FILES or name.startswith(".") or not path.is_file():
            continue
        if (
            name.lower() in INPUT_FILES
            and (folder / name.lower()).is_file()
            and path.samefile(folder / name.lower())
        ):
            continue  # a case-insensitive file system: this is the file read
        nearest = difflib.get_close_matches(name.lower(), INPUT_FILES, n=1, cutoff=0.6)
        if nearest:
            warnings.append(Problem(name, f"cosell does not read this file: did you mean {nearest[0]}?"))
        elif name.lower().endswith(".csv"):
            expected = ", ".join(INPUT_FILES)
            warnings.append(Problem(name, f"cosell does not read this file (it reads {expected})"))
    scoring = program.scoring.metrics if program.scoring else {}
    counts_activities = (
        ACTIVITY_METRIC in scoring
        or any(ACTIVITY_METRIC in tier.requires for tier in program.tiers)
        or any(m.kind == "activities" for m in (program.payouts.milestones if program.payouts else ()))
    )
    if counts_activities and not (folder / ACTIVITIES_FILE).exists():
        message = f"not in {folder}: the program counts activities, and every partner has none"
        warnings.append(Problem(ACTIVITIES_FILE, message))
    if program.mdf is not None and not (folder / MDF_CLAIMS_FILE).exists():
        message = f"not in {folder}: the program releases MDF, and no partner has a claim"
        warnings.append(Problem(MDF_CLAIMS_FILE, message))
    return warnings


def _check_repeated_partners(involvement_rows: Sequence[tuple[str, _Row]], problems: _Problems) -> None:
    """A partner named twice on one deal has one share: rows whose share cells differ (one empty and one
    given differ too) are reported at the later row, naming the earlier one."""
    first: dict[tuple[str, str], _Row] = {}
    for deal_id, link in involvement_rows:
        partner_id = link.values.get("partner_id")
        if not deal_id or not isinstance(partner_id, str) or "share" in link.bad:
            continue
        seen = first.setdefault((deal_id, partner_id), link)
        if seen is link or "share" in seen.bad or seen.values.get("share") == link.values.get("share"):
            continue
        message = (
            f"partner {partner_id!r} is named twice on deal {deal_id!r} with different shares: "
            f"{_share_text(link)} here, {_share_text(seen)} on {seen.table.name}:{seen.line}"
        )
        problems.add(link.table.name, link.line, "share", message, link.table.rank("share"))


def _share_text(link: _Row) -> str:
    share = link.values.get("share")
    return "no share" if share is None else repr(link.table.cell(link.cells, "share"))


def _check_shares(involvement_rows: Sequence[tuple[str, _Row]], problems: _Problems) -> None:
    """Shares on one deal add up to at most 1: report the row that takes a deal past 1, with the sum. A
    partner named twice counts once (its rows give one share, or are reported on their own)."""
    totals: dict[str, Decimal] = {}
    over: dict[str, _Row] = {}
    counted: set[tuple[str, object]] = set()
    for deal_id, link in involvement_rows:
        share = link.values.get("share")
        if not isinstance(share, Decimal) or not 0 <= share <= 1:
            continue  # no share, or a bad one reported on its own
        partner = (deal_id, link.values.get("partner_id"))
        if partner in counted:
            continue
        counted.add(partner)
        total = totals[deal_id] = totals.get(deal_id, Decimal(0)) + share
        if total > 1 and deal_id not in over:
            over[deal_id] = link
    for deal_id, link in over.items():
        message = f"the shares of deal {deal_id!r} add up to {totals[deal_id]}, more than 1"
        problems.add(link.table.name, link.line, "share", message, link.table.rank("share"))


# --- the columnar path -------------------------------------------------------------------------
#
# A folder that holds no problem is read column by column: pyarrow tokenizes each file, every check the
# cell-by-cell path makes is made on whole columns (a distinct value is converted once), and the records
# are built straight from the checked columns. The moment any check fails (or the file holds something
# the columns cannot prove, such as a quote pyarrow reads more leniently than Python's csv module), the
# folder is read again cell by cell: that path words every problem, so the errors stay exactly as they
# are. Valid input gets the same records either way (tests/connectors/test_files_columnar.py).

_SPACES = "".join(c for c in map(chr, range(0x3001)) if c.isspace())
"""Every character ``str.isspace()`` is true for (none lies beyond U+3000): what ``str.strip()`` strips."""

_MAX_COLUMNS = 1000
_PLAIN_NUMBER = rf"^-?[0-9]+(\.[0-9]{{1,{MAX_PLACES}}})?$"
"""A number ``Decimal()`` reads exactly as ``parse_decimal`` does (no ``_``, exponent or other script),
with no more decimal places than a record takes."""
_CONTROL = "[\\x00-\\x1f\\x7f-\\x9f\\x{2028}\\x{2029}]"
"""The control characters the records refuse in ids and read as spaces in names (RE2 syntax)."""


_FIELD_DEFAULT: Any = object()


def _whole_numbers(texts: pa.StringArray) -> pa.Int64Array | None:
    """Plain numbers (``_PLAIN_NUMBER``) as the integers they are, or None when one has decimal places,
    is too large for 64 bits, or is a negative zero (``Decimal("-0")`` keeps its sign, an int does not)."""
    if pc.any(pc.starts_with(texts, "-0")).as_py():
        return None
    try:
        whole: pa.Int64Array = pc.cast(texts, pa.int64())
    except pa.ArrowInvalid:
        return None
    return whole


def _too_many_places(value: Decimal) -> bool:
    exponent = value.as_tuple().exponent
    return isinstance(exponent, int) and exponent < -MAX_PLACES


class _Unproven(Exception):
    """The columns cannot prove the folder clean: read it cell by cell."""


def _read_columnar(folder: Path, program: Program) -> RecordSet | None:
    """The folder's records when every check passes on whole columns; None to read it cell by cell."""
    if not folder.is_dir():
        return None
    try:
        return _Columnar(folder, program).read()
    except _Unproven:
        return None


def _arrow_columns(data: bytes, required: Sequence[str]) -> dict[str, pa.StringArray]:
    """A file's named columns (cells stripped, blank rows dropped), or _Unproven."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    rows = _strict_rows(data) if b'"' in data else None
    try:
        table = pa_csv.read_csv(
            pa.py_buffer(data),
            read_options=pa_csv.ReadOptions(autogenerate_column_names=True),
            parse_options=pa_csv.ParseOptions(newlines_in_values=True),
            convert_options=pa_csv.ConvertOptions(
                column_types={f"f{i}": pa.string() for i in range(_MAX_COLUMNS)},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        if table.num_rows == 0 or any(t != pa.string() for t in table.schema.types):
            raise _Unproven
        if rows is not None and rows != table.num_rows:
            raise _Unproven
        cells = [_stripped(column.combine_chunks()) for column in table.columns]
    except (pa.ArrowException, ValueError):
        raise _Unproven from None  # not valid CSV, not UTF-8, rows of another width...
    names = [column[0].as_py() for column in cells]
    if not all(names) or len(set(names)) != len(names) or any(c not in names for c in required):
        raise _Unproven  # an unnamed, repeated or missing column
    blank = pc.equal(cells[0], "")
    for column in cells[1:]:
        blank = pc.and_(blank, pc.equal(column, ""))
    if not pc.any(blank.slice(1)).as_py():  # no blank row: the columns as they are, without a copy
        return {name: column.slice(1) for name, column in zip(names, cells, strict=True)}
    keep = pc.invert(blank).slice(1)
    return {name: pc.filter(column.slice(1), keep) for name, column in zip(names, cells, strict=True)}


def _strict_rows(data: bytes) -> int:
    """The rows Python's strict csv module reads (blank lines aside), or _Unproven where it refuses.

    pyarrow reads a quote it does not expect leniently (``"ab"c`` is ``abc``) where the cell path
    refuses the file; only a file holding quotes can differ, and only such a file pays for this pass.
    """
    try:
        lines = csv.reader(io.StringIO(data.decode("utf-8"), newline=""), strict=True)
        return sum(1 for cells in lines if cells)
    except (UnicodeDecodeError, csv.Error):
        raise _Unproven from None


def _stripped(column: pa.StringArray) -> pa.StringArray:
    """Each cell as ``str.strip()`` leaves it."""
    stripped: pa.StringArray = pc.utf8_trim(column, characters=_SPACES)
    return stripped


class _Columnar:
    """One columnar read of a folder; raises _Unproven as soon as a check fails."""

    def __init__(self, folder: Path, program: Program) -> None:
        self.folder = folder
        self.program = program
        self.to_date = _date_converter(program.zone)
        self.to_currency = _currency_converter(program)

    def read(self) -> RecordSet:
        partners = self._file(PARTNERS_FILE, needed=True)
        deals = self._file(DEALS_FILE, needed=True)
        links = self._file(DEAL_PARTNERS_FILE)
        activities = self._file(ACTIVITIES_FILE)
        claims = self._file(MDF_CLAIMS_FILE)
        assert partners is not None and deals is not None
        self.partner_ids = _unique_ids(partners["id"])
        self.deal_ids = _unique_ids(deals["id"])
        return RecordSet(
            self._partners(partners),
            self._deals(deals, links),
            self._activities(activities) if activities is not None else (),
            self._claims(claims) if claims is not None else (),
            self._merges(),
        )

    def _merges(self) -> tuple[Merge, ...]:
        """``merges.csv``, read as the cell-by-cell path reads it (a few rows; its problems are worded
        there)."""
        if not (self.folder / MERGES_FILE).exists():
            return ()
        cells = _Folder(self.folder, self.program)
        cells.partner_ids = set(self.partner_ids.to_pylist())
        cells.deal_ids = set(self.deal_ids.to_pylist())
        merges = cells.merges(cells._load(MERGES_FILE))
        if cells.problems or merges is None:
            raise _Unproven
        return tuple(merges)

    def _file(self, name: str, *, needed: bool = False) -> dict[str, pa.StringArray] | None:
        try:
            data = (self.folder / name).read_bytes()
        except FileNotFoundError:
            if needed:
                raise _Unproven from None
            return None
        except OSError:
            raise _Unproven from None
        return _arrow_columns(data, _REQUIRED[name])

    def _partners(self, table: dict[str, pa.StringArray]) -> tuple[Partner, ...]:
        values = _Values(table, Partner, _REQUIRED[PARTNERS_FILE])
        values.text("id", "name", "crm_tier")
        values.convert("joined_on", self.to_date)
        values.convert("exit_on", self.to_date)
        values.convert("status", _choice(get_args(PartnerStatus)))
        for status in ("exiting", "exited"):
            values.require_when("status", status, "exit_on")
        extra = [(c, table[c].to_pylist()) for c in table if c not in _PARTNER_COLUMNS]
        rows = range(values.size)
        values.columns["attributes"] = [
            MappingProxyType({c: cells[i] for c, cells in extra if cells[i]}) for i in rows
        ]
        return values.records()

    def _deals(
        self, table: dict[str, pa.StringArray], links_table: dict[str, pa.StringArray] | None
    ) -> tuple[Deal, ...]:
        values = _Values(table, Deal, _REQUIRED[DEALS_FILE])
        values.text("id", "name", "stage", "campaign")
        values.convert("amount", parse_decimal)
        values.convert("discount_pct", parse_decimal)
        values.convert("margin_pct", parse_decimal)
        values.convert("status", _choice(get_args(DealStatus)))
        for column in ("created_on", "closed_on", "refunded_on"):
            values.convert(column, self.to_date)
        values.convert("currency", self.to_currency, default=self.program.currency)
        for status in ("won", "lost"):
            values.require_when("status", status, "closed_on")
        closed = values.arrow("closed_on", pa.date32())
        if pc.any(pc.less(closed, values.arrow("created_on", pa.date32()))).as_py():
            raise _Unproven  # closed before created
        refunded = values.arrow("refunded_on", pa.date32())
        not_won = pc.not_equal(values.arrow("status", pa.string()), "won")
        if (
            pc.any(pc.and_(pc.is_valid(refunded), not_won)).as_py()
            or pc.any(pc.less(refunded, closed)).as_py()
        ):
            raise _Unproven  # a refund of a deal not won, or before it was won
        for column in ("role", "share"):
            given = pc.not_equal(table[column], "") if column in table else None
            if given is not None and "partner_id" in table:
                given = pc.and_(given, pc.equal(table["partner_id"], ""))
            if given is not None and pc.any(given).as_py():
                raise _Unproven  # given without a partner_id
        partners: list[tuple[Involvement, ...]] = [()] * values.size
        if "partner_id" in table:
            partners, own = _one_involvement_each(table)
            self._known(own.texts("partner_id"), self.partner_ids)
        if links_table is not None:
            links = _Values(links_table, Involvement, _REQUIRED[DEAL_PARTNERS_FILE])
            links.text("partner_id", "deal_id")
            links.convert("role", _choice(get_args(Role)))
            links.convert("share", parse_decimal)
            self._known(links.texts("partner_id"), self.partner_ids)
            deal_rows = pc.index_in(links_table["deal_id"], value_set=table["id"])
            if deal_rows.null_count:
                raise _Unproven  # an unknown deal (deal_id is required: no cell is empty)
            _check_named_once(table, links_table, deal_rows)
            rows = deal_rows.to_pylist()
            for row, involvement in zip(rows, links.records(), strict=True):
                partners[row] += (involvement,)  # after the deal's own partner, in the file's order
            shared = {row for row, share in zip(rows, links.of("share"), strict=True) if share is not None}
            _check_share_totals([partners[row] for row in shared])
        values.columns["partners"] = partners
        return values.records()

    def _activities(self, table: dict[str, pa.StringArray]) -> tuple[Activity, ...]:
        values = _Values(table, Activity, _REQUIRED[ACTIVITIES_FILE])
        values.text("id", "partner_id", "type", "deal_id")
        values.convert("occurred_on", self.to_date)
        values.convert("quantity", parse_decimal)
        self._known(values.texts("partner_id"), self.partner_ids)
        if "deal_id" in table:
            self._known(values.texts("deal_id"), self.deal_ids)
        _unique_ids(table["id"])
        return values.records()

    def _claims(self, table: dict[str, pa.StringArray]) -> tuple[MdfClaim, ...]:
        values = _Values(table, MdfClaim, _REQUIRED[MDF_CLAIMS_FILE])
        values.text("id", "partner_id", "campaign")
        values.convert("amount", parse_decimal)
        values.convert("status", _choice(get_args(ClaimStatus)))
        values.convert("approved_on", self.to_date)
        values.convert("currency", self.to_currency)
        for status in ("approved", "paid"):
            values.require_when("status", status, "approved_on")
        self._known(values.texts("partner_id"), self.partner_ids)
        _unique_ids(table["id"])
        return values.records()

    @staticmethod
    def _known(texts: pa.StringArray, ids: pa.StringArray) -> None:
        """Every non-empty text of a column is one of ``ids`` (each id once)."""
        given = pc.unique(pc.filter(texts, pc.not_equal(texts, "")))
        # As many ids are among the texts as texts are known. The texts are hashed, not the ids: a
        # hundred thousand activities are not checked against a hash of a million deal ids.
        if pc.sum(pc.is_in(ids, value_set=given), min_count=0).as_py() != len(given):
            raise _Unproven  # an unknown partner or deal


def _unique_ids(column: pa.StringArray) -> pa.StringArray:
    """The file's ids, each once (an empty id is a missing required value)."""
    unique = pc.unique(column)
    if len(unique) != len(column):
        raise _Unproven  # an id appears twice
    return unique


def _one_involvement_each(deals: dict[str, pa.StringArray]) -> tuple[list[tuple[Involvement, ...]], _Values]:
    """Each deal's involvement of its own ``partner_id`` column: ``(involvement,)``, or ``()`` where the
    cell is empty; and the checked values they were built from. Equal cells are one record (a partner's
    deals share it): a row's partner id, role and share texts are joined and dictionary-encoded on whole
    columns, and each distinct join is split again, checked and made a record, so 1.50 and 1.5 stay as
    the file wrote them. Every distinct text of a column is in some join: checking the joins checks the
    column, without a Python object a row (a third of a second on a million deals)."""
    names = [f.name for f in dataclasses.fields(Involvement) if f.name in deals]
    cells = [deals[name] for name in names]
    joined = cells[0] if len(cells) == 1 else pc.binary_join_element_wise(*cells, "\x00")
    encoded = pc.dictionary_encode(joined)
    if len(names) == 1:
        distinct = {names[0]: encoded.dictionary}
    else:
        parts = pc.split_pattern(encoded.dictionary, "\x00")
        if pc.any(pc.not_equal(pc.list_value_length(parts), len(names))).as_py():
            raise _Unproven  # a cell holds a NUL: its join does not split into the cells joined
        distinct = {name: pc.list_element(parts, i) for i, name in enumerate(names)}
    links = _Values(distinct, Involvement, ())
    links.text("partner_id")
    links.convert("role", _choice(get_args(Role)), default=DEFAULT_ROLE)
    links.convert("share", parse_decimal)
    made = [
        () if partner_id is None else (involvement,)
        for partner_id, involvement in zip(links.of("partner_id"), links.records(), strict=True)
    ]
    return list(map(made.__getitem__, encoded.indices.to_pylist())), links


def _check_named_once(
    deals: dict[str, pa.StringArray], links: dict[str, pa.StringArray], deal_rows: pa.Int32Array
) -> None:
    """No partner twice on a deal (the cell path words, or merges, that case): no row of
    deal_partners.csv names its deal's own ``partner_id``, and no two rows name the same deal and
    partner. Checked on whole columns: no Python object a row."""
    if "partner_id" in deals:
        own = deals["partner_id"].take(deal_rows)  # the partner each row's deal names itself
        if pc.any(pc.equal(own, links["partner_id"])).as_py():
            raise _Unproven
    # No id holds a NUL (the records refuse control characters in ids): the joined pair is unambiguous.
    pairs = pc.binary_join_element_wise(links["deal_id"], links["partner_id"], "\x00")
    if pc.count_distinct(pairs).as_py() != len(pairs):
        raise _Unproven


def _check_share_totals(deals: Sequence[tuple[Involvement, ...]]) -> None:
    """A deal's shares add up to at most 1. Only deals that deal_partners.csv gives a share are
    checked: any other holds at most its own share, checked to be 0–1."""
    for involved in deals:
        if sum((i.share for i in involved if i.share is not None), Decimal(0)) > 1:
            raise _Unproven


class _Values:
    """The checked values of one file's columns, by record field, and the records built from them.

    A column is converted a distinct value at a time with the cell path's converters; the field's
    pydantic constraints (bounds, all of them) are checked on the smallest and largest value. An empty
    cell is the field's default; one in a required column is unproven."""

    def __init__(self, table: dict[str, pa.StringArray], record: type[Any], required: Sequence[str]) -> None:
        self.table = table
        self.record = record
        self.size = len(next(iter(table.values())))
        self.required = set(required)
        self.columns: dict[str, list[Any]] = {}
        self.defaults = {f.name: _default(f) for f in dataclasses.fields(record)}
        self._texts: dict[str, pa.StringArray] = {}
        self._distinct: dict[str, tuple[list[Any], pa.Int32Array]] = {}
        """Converted columns that repeat their values: each distinct value, and each cell's index into them."""

    def of(self, column: str) -> list[Any]:
        return self.columns[column] if column in self.columns else [self.defaults.get(column)] * self.size

    def arrow(self, column: str, kind: pa.DataType | None = None) -> pa.Array:
        """The column's values as an arrow array (None is null). A column that repeats its values is
        taken from its distinct ones: a million dates or statuses are not handed to arrow one by one."""
        if column in self._distinct:
            distinct, indices = self._distinct[column]
            return pa.array(distinct, kind).take(indices)
        return pa.array(self.of(column), kind)

    def texts(self, column: str) -> pa.StringArray:
        """Every text of a column read with ``text``: each once when the column repeats them."""
        return self._texts[column]

    def _check_required(self, column: str, cells: pa.StringArray | None) -> None:
        if column in self.required and (cells is None or pc.any(pc.equal(cells, "")).as_py()):
            raise _Unproven  # a value is required

    def text(self, *columns: str) -> None:
        for column in columns:
            cells = self.table.get(column)
            self._check_required(column, cells)
            if cells is None:
                continue
            # A column of few distinct texts (a stage, a campaign, a partner id) holds each text once:
            # a million deals name their partners and stages without a string object a cell.
            encoded = _few_distinct(cells)
            texts = cells if encoded is None else encoded.dictionary
            control = _has_control(texts)
            if control and column in _ID_COLUMNS[self.record]:
                raise _Unproven  # the records' own check refuses it, naming the file and line
            self._texts[column] = texts
            values = texts.to_pylist()
            if control:
                values = [v if v is None else one_line_text(v) for v in values]
            if column not in self.required:
                values = [v or None for v in values]
            self.columns[column] = (
                values if encoded is None else list(map(values.__getitem__, encoded.indices.to_pylist()))
            )

    def convert(self, column: str, convert: Converter, *, default: Any = _FIELD_DEFAULT) -> None:
        """Convert the column's cells; an empty one is ``default`` (the field's own unless given)."""
        if default is _FIELD_DEFAULT:
            default = self.defaults[column]
        cells = self.table.get(column)
        self._check_required(column, cells)
        if cells is None:
            if default is not None:
                self.columns[column] = [default] * self.size
            return
        encoded = _few_distinct(cells)
        texts = cells if encoded is None else encoded.dictionary
        distinct: list[Any]
        numbers: list[Decimal]  # what bounds the column's numbers: all of them, or the least and greatest
        plain = convert is parse_decimal and pc.all(pc.match_substring_regex(texts, _PLAIN_NUMBER)).as_py()
        whole = _whole_numbers(texts) if plain else None
        if whole is not None:
            # Whole numbers (amounts, mostly) are read by arrow, which also finds the least and greatest:
            # a Decimal of an int is cheaper than of its text, and no Decimal is compared (half the time
            # of a million amounts).
            distinct = list(map(Decimal, whole.to_pylist()))
            extremes = pc.min_max(whole)
            numbers = [Decimal(extremes[end].as_py()) for end in ("min", "max")] if len(whole) else []
        elif plain:
            distinct = numbers = list(map(Decimal, texts.to_pylist()))  # what parse_decimal gives them
        else:
            distinct = []
            try:
                for text in texts.to_pylist():
                    distinct.append(convert(text) if text else default)
            except ValueError:
                raise _Unproven from None
            numbers = [v for v in distinct if isinstance(v, Decimal)]
            if any(map(_too_many_places, numbers)):
                raise _Unproven
        self._check_bounds(column, numbers)
        if encoded is None:
            self.columns[column] = distinct
            return
        self._distinct[column] = (distinct, encoded.indices)
        self.columns[column] = list(map(distinct.__getitem__, encoded.indices.to_pylist()))

    def _check_bounds(self, column: str, numbers: list[Decimal]) -> None:
        if not numbers:
            return
        adapter = _FIELD_ADAPTERS[self.record][column]
        try:
            adapter.validate_python(min(numbers))
            adapter.validate_python(max(numbers))
        except ValidationError:
            raise _Unproven from None

    def require_when(self, column: str, value: str, needed: str) -> None:
        """A row whose ``column`` is ``value`` has ``needed`` (a won deal its closed_on)."""
        rows = pc.equal(self.arrow(column, pa.string()), value)
        if pc.any(pc.and_(rows, pc.is_null(self.arrow(needed)))).as_py():
            raise _Unproven

    def records(self) -> tuple[Any, ...]:
        """The records, built from the checked columns: what ``record(*fields)`` builds, a field of every
        record at a time. A record is a frozen, slotted dataclass whose ``__init__`` does nothing but set
        its fields, so each field is set through its slot directly (half the time on a million deals)."""
        columns = {
            f.name: self.columns[f.name]
            if f.name in self.columns
            else itertools.repeat(self.defaults[f.name])
            for f in dataclasses.fields(self.record)
        }
        return tuple(from_columns(self.record, self.size, columns))


_SAMPLE = 4096
"""Cells of a column looked at to tell whether it repeats its texts."""


def _few_distinct(cells: pa.StringArray) -> pa.DictionaryArray | None:
    """The column dictionary-encoded when it holds each text at least twice on average; None when its
    texts are mostly distinct (ids, names, amounts), which encoding would only cost time. A sample of
    the first cells decides before the whole column is encoded."""
    if len(cells) > 2 * _SAMPLE and 2 * len(pc.unique(cells.slice(0, _SAMPLE))) > _SAMPLE:
        return None
    encoded: pa.DictionaryArray = pc.dictionary_encode(cells)
    return encoded if 2 * len(encoded.dictionary) <= len(cells) else None


def _has_control(texts: pa.StringArray) -> bool:
    """A text holds one of the ``_CONTROL`` characters. Texts all in ASCII are checked for its
    printable range (space to ``~``), without a regular expression."""
    if pc.all(pc.string_is_ascii(texts)).as_py() is not False:
        return bool(pc.any(pc.invert(pc.or_(pc.equal(texts, ""), pc.ascii_is_printable(texts)))).as_py())
    return bool(pc.any(pc.match_substring_regex(texts, _CONTROL)).as_py())


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None if f.default is dataclasses.MISSING else f.default


def _field_adapters(record: type[Any]) -> dict[str, TypeAdapter[Any]]:
    hints = get_type_hints(record, include_extras=True)
    return {f.name: TypeAdapter(hints[f.name]) for f in dataclasses.fields(record)}


_FIELD_ADAPTERS = {
    record: _field_adapters(record) for record in (Partner, Deal, Involvement, Activity, MdfClaim)
}


def _id_columns(record: type[Any]) -> frozenset[str]:
    hints = get_type_hints(record, include_extras=True)
    return frozenset(
        f.name for f in dataclasses.fields(record) if hints[f.name] in (RecordId, RecordId | None)
    )


_ID_COLUMNS = {record: _id_columns(record) for record in _FIELD_ADAPTERS}
"""Each record's id columns: a control character in one is an error the cell path reports."""
