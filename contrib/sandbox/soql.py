"""A parser and evaluator for the SOQL subset the sandbox serves.

Supported: ``SELECT f1, f2, Rel.Field, COUNT() FROM Object [WHERE cond] [ORDER BY f [ASC|DESC]
[NULLS FIRST|LAST], ...] [LIMIT n] [OFFSET n]`` where ``cond`` combines comparisons
(``= != <> < <= > >=``), ``[NOT] IN (...)``, ``LIKE`` and ``NOT`` with ``AND``/``OR`` and
parentheses (mixing AND and OR without parentheses is refused, as Salesforce refuses it).
Literals: quoted strings with backslash escapes, numbers, ``true``/``false``/``null``, date
(``2026-01-01``) and datetime (``2026-01-01T00:00:00Z``, ``...+01:00``, ``...000Z``) literals.
Field names are case-insensitive; string comparisons are case-insensitive and ids compare on their
first 15 characters, as in Salesforce.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .store import SFField, SFObject

Record = dict[str, Any]
Resolver = Callable[[str, str], Record | None]  # (object name, id) -> record


class SOQLError(Exception):
    """A query Salesforce would refuse: ``code`` is the REST ``errorCode``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2}(?![\w:]))
  | (?P<number>[+-]?\d+(?:\.\d+)?(?![\w]))
  | (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<op><=|>=|!=|<>|=|<|>)
  | (?P<punct>[(),])
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
    """,
    re.VERBOSE,
)
_WSDL = "Please reference your WSDL or the describe call for the appropriate names."
_CUSTOM_OBJECT_HINT = (
    "If you are attempting to use a custom object, be sure to append the '__c' after the entity name. "
    + _WSDL
)
_CUSTOM_FIELD_HINT = (
    "If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. "
    + _WSDL
)
_RELATIONSHIP_HINT = (
    "If you are attempting to use a custom relationship, be sure to append the '__r' after the custom "
    "relationship name. " + _WSDL
)
_ESCAPES = {
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "b": "\b",
    "f": "\f",
    '"': '"',
    "'": "'",
    "\\": "\\",
    "%": "\\%",
    "_": "\\_",
}


@dataclass
class Token:
    kind: str
    text: str
    pos: int
    value: Any = None


def _unescape(body: str, pos: int, query: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            nxt = body[i + 1] if i + 1 < len(body) else ""
            if nxt not in _ESCAPES:
                raise SOQLError(
                    "MALFORMED_QUERY",
                    f"Invalid string literal '{body}'. Illegal character sequence "
                    f"'\\{nxt}' in string literal.",
                )
            out.append(_ESCAPES[nxt])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def canonical_datetime(text: str) -> str:
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def tokenize(query: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(query):
        m = _TOKEN.match(query, pos)
        if not m:
            snippet = query[pos:].split()[0] if query[pos:].split() else query[pos:]
            raise SOQLError("MALFORMED_QUERY", f"unexpected token: '{snippet}'")
        kind = m.lastgroup or ""
        text = m.group()
        if kind != "ws":
            tok = Token(kind, text, pos)
            if kind == "string":
                tok.value = _unescape(text[1:-1], pos, query)
            elif kind == "number":
                tok.value = float(text)
            elif kind == "datetime":
                try:
                    tok.value = canonical_datetime(text)
                except ValueError as exc:
                    raise SOQLError(
                        "MALFORMED_QUERY", f"line 1:{pos} no viable alternative at character '{text}'"
                    ) from exc
            elif kind == "date":
                try:
                    tok.value = dt.date.fromisoformat(text).isoformat()
                except ValueError as exc:
                    raise SOQLError(
                        "MALFORMED_QUERY", f"line 1:{pos} no viable alternative at character '{text}'"
                    ) from exc
            tokens.append(tok)
        pos = m.end()
    tokens.append(Token("eof", "", len(query)))
    return tokens


@dataclass
class FieldPath:
    path: tuple[str, ...]  # canonical names: relationship names then the field
    fks: tuple[tuple[str, str], ...]  # (fk field on the current object, target object) per hop
    field: SFField

    @property
    def key(self) -> str:
        return ".".join(self.path)


@dataclass
class Query:
    object: str
    fields: list[FieldPath]
    count_only: bool
    where: Callable[[Record], bool] | None
    order: list[tuple[FieldPath, bool, bool]]  # (field, descending, nulls_last)
    limit: int | None
    offset: int
    filter_fields: list[FieldPath] = field(default_factory=list)


_KEYWORDS = {
    "select",
    "from",
    "where",
    "order",
    "by",
    "limit",
    "offset",
    "and",
    "or",
    "not",
    "in",
    "like",
    "asc",
    "desc",
    "nulls",
    "first",
    "last",
    "true",
    "false",
    "null",
    "includes",
    "excludes",
    "group",
}


class Parser:
    def __init__(self, query: str, objects: dict[str, SFObject], resolve: Resolver) -> None:
        self.query = query
        self.objects = objects
        self.resolve = resolve
        self.tokens = tokenize(query)
        self.i = 0
        self.obj: SFObject | None = None

    # -- token helpers
    def peek(self, offset: int = 0) -> Token:
        return self.tokens[min(self.i + offset, len(self.tokens) - 1)]

    def next(self) -> Token:
        tok = self.peek()
        self.i += 1
        return tok

    def is_kw(self, word: str, offset: int = 0) -> bool:
        tok = self.peek(offset)
        return tok.kind == "ident" and tok.text.lower() == word

    def expect_kw(self, word: str) -> None:
        tok = self.next()
        if not (tok.kind == "ident" and tok.text.lower() == word):
            self.unexpected(tok)

    def unexpected(self, tok: Token) -> SOQLError:
        text = tok.text or "<EOF>"
        raise SOQLError(
            "MALFORMED_QUERY",
            f"unexpected token: '{text}'" if tok.kind != "eof" else "unexpected token: <EOF>",
        )

    def _position_message(self, tok: Token, text: str) -> str:
        before = self.query[: tok.pos]
        row = before.count("\n") + 1
        col = tok.pos - (before.rfind("\n") + 1) + 1
        line = self.query.splitlines()[row - 1] if self.query.splitlines() else self.query
        return f"\n{line}\n{' ' * (col - 1)}^\nERROR at Row:{row}:Column:{col}\n{text}"

    # -- grammar
    def parse(self) -> Query:
        self.expect_kw("select")
        select_tokens: list[Token] = []
        count_only = False
        while True:
            tok = self.next()
            if tok.kind == "ident" and tok.text.lower() == "count" and self.peek().text == "(":
                self.next()
                if self.peek().text != ")":
                    raise SOQLError("MALFORMED_QUERY", "the sandbox supports COUNT() only, not COUNT(field)")
                self.next()
                count_only = True
            elif tok.kind == "ident" and tok.text.lower() not in ("from",):
                select_tokens.append(tok)
            else:
                self.unexpected(tok)
            if self.peek().text == ",":
                self.next()
                continue
            break
        self.expect_kw("from")
        obj_tok = self.next()
        if obj_tok.kind != "ident":
            self.unexpected(obj_tok)
        name = next((n for n in self.objects if n.lower() == obj_tok.text.lower()), None)
        if name is None:
            raise SOQLError(
                "INVALID_TYPE",
                self._position_message(
                    obj_tok,
                    f"sObject type '{obj_tok.text}' is not supported. " + _CUSTOM_OBJECT_HINT,
                ),
            )
        self.obj = self.objects[name]
        if count_only and select_tokens:
            raise SOQLError("MALFORMED_QUERY", "COUNT() and fields cannot be selected together")
        fields = [self.field_path(t) for t in select_tokens]
        q = Query(name, fields, count_only, None, [], None, 0)
        if self.is_kw("where"):
            self.next()
            q.where = self.expr(q)
        if self.is_kw("order"):
            self.next()
            self.expect_kw("by")
            while True:
                tok = self.next()
                if tok.kind != "ident":
                    self.unexpected(tok)
                fp = self.field_path(tok)
                desc = False
                if self.is_kw("asc"):
                    self.next()
                elif self.is_kw("desc"):
                    self.next()
                    desc = True
                nulls_last = desc
                if self.is_kw("nulls"):
                    self.next()
                    which = self.next()
                    if which.text.lower() not in ("first", "last"):
                        self.unexpected(which)
                    nulls_last = which.text.lower() == "last"
                q.order.append((fp, desc, nulls_last))
                if self.peek().text == ",":
                    self.next()
                    continue
                break
        if self.is_kw("limit"):
            self.next()
            tok = self.next()
            if tok.kind != "number" or not float(tok.value).is_integer() or tok.value < 0:
                self.unexpected(tok)
            q.limit = int(tok.value)
        if self.is_kw("offset"):
            self.next()
            tok = self.next()
            if tok.kind != "number" or not float(tok.value).is_integer() or tok.value < 0:
                self.unexpected(tok)
            q.offset = int(tok.value)
            if q.offset > 2000:
                raise SOQLError("NUMBER_OUTSIDE_VALID_RANGE", "Maximum SOQL offset allowed is 2000")
        tok = self.peek()
        if tok.kind != "eof":
            self.unexpected(tok)
        return q

    def field_path(self, tok: Token) -> FieldPath:
        assert self.obj is not None
        parts = tok.text.split(".")
        if len(parts) > 1 and parts[0].lower() == self.obj.name.lower():
            parts = parts[1:]  # "Opportunity.Name" on Opportunity
        obj = self.obj
        path: list[str] = []
        fks: list[tuple[str, str]] = []
        for rel in parts[:-1]:
            hop = obj.relationships.get(rel.lower())
            if hop is None:
                raise SOQLError(
                    "INVALID_FIELD",
                    self._position_message(
                        tok,
                        f"Didn't understand relationship '{rel}' in field path. " + _RELATIONSHIP_HINT,
                    ),
                )
            fk, target = hop
            path.append(obj.fields[fk].relationship_name or rel)
            fks.append((fk, target))
            obj = self.objects[target]
        canonical = obj.field_name(parts[-1])
        if canonical is None:
            raise SOQLError(
                "INVALID_FIELD",
                self._position_message(
                    tok,
                    f"No such column '{parts[-1]}' on entity '{obj.name}'. " + _CUSTOM_FIELD_HINT,
                ),
            )
        path.append(canonical)
        return FieldPath(tuple(path), tuple(fks), obj.fields[canonical])

    def expr(self, q: Query) -> Callable[[Record], bool]:
        first = self.term(q)
        parts = [first]
        joiner: str | None = None
        while self.is_kw("and") or self.is_kw("or"):
            word = self.peek().text.lower()
            if joiner is not None and word != joiner:
                self.unexpected(self.peek())
            joiner = word
            self.next()
            parts.append(self.term(q))
        if len(parts) == 1:
            return first
        if joiner == "and":
            return lambda r: all(p(r) for p in parts)
        return lambda r: any(p(r) for p in parts)

    def term(self, q: Query) -> Callable[[Record], bool]:
        if self.is_kw("not"):
            self.next()
            inner = self.term(q)
            return lambda r: not inner(r)
        if self.peek().text == "(":
            self.next()
            inner = self.expr(q)
            tok = self.next()
            if tok.text != ")":
                self.unexpected(tok)
            return inner
        tok = self.next()
        if tok.kind != "ident" or tok.text.lower() in _KEYWORDS:
            self.unexpected(tok)
        fp = self.field_path(tok)
        q.filter_fields.append(fp)
        getter = self.getter(fp)
        negate = False
        if self.is_kw("not"):
            self.next()
            negate = True
            if not self.is_kw("in"):
                self.unexpected(self.peek())
        if self.is_kw("in"):
            self.next()
            if self.next().text != "(":
                self.unexpected(self.tokens[self.i - 1])
            values: list[Any] = []
            while True:
                values.append(self.literal(fp))
                sep = self.next()
                if sep.text == ",":
                    continue
                if sep.text == ")":
                    break
                self.unexpected(sep)
            keys = {self.norm(fp.field, v) for v in values}
            if negate:
                return lambda r: self.norm(fp.field, getter(r)) not in keys
            return lambda r: self.norm(fp.field, getter(r)) in keys
        if self.is_kw("like"):
            self.next()
            lit = self.next()
            if lit.kind != "string":
                self.unexpected(lit)
            pattern = self.like_regex(lit.value)
            return lambda r: (v := getter(r)) is not None and pattern.match(str(v)) is not None
        op_tok = self.next()
        if op_tok.kind != "op":
            self.unexpected(op_tok)
        value = self.literal(fp)
        return self.compare(fp, getter, op_tok.text, value)

    def like_regex(self, text: str) -> re.Pattern[str]:
        out = []
        i = 0
        while i < len(text):
            ch = text[i]
            if ch == "\\" and i + 1 < len(text):
                out.append(re.escape(text[i + 1]))
                i += 2
                continue
            out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
            i += 1
        return re.compile("^" + "".join(out) + "$", re.IGNORECASE | re.DOTALL)

    def literal(self, fp: FieldPath) -> Any:
        tok = self.next()
        ftype = fp.field.type
        name = fp.field.name
        if tok.kind == "ident" and tok.text.lower() == "null":
            return None
        if ftype == "boolean":
            if tok.kind == "ident" and tok.text.lower() in ("true", "false"):
                return tok.text.lower() == "true"
            raise SOQLError(
                "INVALID_QUERY_FILTER_OPERATOR",
                self._position_message(
                    tok,
                    f"value of filter criterion for field '{name}' must be of type boolean and should not be "
                    "enclosed in quotes",
                ),
            )
        if ftype == "date":
            if tok.kind == "date":
                return tok.value
            raise SOQLError(
                "INVALID_QUERY_FILTER_OPERATOR",
                self._position_message(
                    tok,
                    f"value of filter criterion for field '{name}' must be of type date and should not be "
                    "enclosed in quotes",
                ),
            )
        if ftype == "datetime":
            if tok.kind == "datetime":
                return tok.value
            raise SOQLError(
                "INVALID_QUERY_FILTER_OPERATOR",
                self._position_message(
                    tok,
                    f"value of filter criterion for field '{name}' must be of type dateTime and should not "
                    "be enclosed in quotes",
                ),
            )
        if ftype in ("currency", "double", "percent"):
            if tok.kind == "number":
                return tok.value
            raise SOQLError(
                "INVALID_QUERY_FILTER_OPERATOR",
                self._position_message(
                    tok,
                    f"value of filter criterion for field '{name}' must be of type double and should not be "
                    "enclosed in quotes",
                ),
            )
        if tok.kind == "string":
            if (
                ftype in ("id", "reference")
                and tok.value
                and not re.fullmatch(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?", tok.value)
            ):
                raise SOQLError("INVALID_QUERY_FILTER_OPERATOR", f"invalid ID field: {tok.value}")
            return tok.value
        if tok.kind in ("number", "date", "datetime") or (
            tok.kind == "ident" and tok.text.lower() in ("true", "false")
        ):
            raise SOQLError(
                "INVALID_QUERY_FILTER_OPERATOR",
                self._position_message(
                    tok,
                    f"value of filter criterion for field '{name}' must be of type string and should be "
                    "enclosed in quotes",
                ),
            )
        self.unexpected(tok)
        return None

    @staticmethod
    def norm(f: SFField, value: Any) -> Any:
        if value is None:
            return None
        if f.type in ("id", "reference"):
            return str(value)[:15]
        if f.type in ("string", "picklist", "textarea"):
            return str(value).casefold()
        return value

    def getter(self, fp: FieldPath) -> Callable[[Record], Any]:
        name = fp.path[-1]
        if not fp.fks:
            return lambda r: r.get(name)
        fks = fp.fks
        resolve = self.resolve

        def get(r: Record) -> Any:
            cur: Record | None = r
            for fk, target in fks:
                ref = cur.get(fk) if cur is not None else None
                cur = resolve(target, ref) if ref else None
                if cur is None:
                    return None
            return cur.get(name) if cur is not None else None

        return get

    def compare(
        self, fp: FieldPath, getter: Callable[[Record], Any], op: str, value: Any
    ) -> Callable[[Record], bool]:
        f = fp.field
        target = self.norm(f, value)
        if op == "=":
            return lambda r: self.norm(f, getter(r)) == target
        if op in ("!=", "<>"):
            return lambda r: self.norm(f, getter(r)) != target
        if target is None:
            return lambda r: False
        ops: dict[str, Callable[[Any, Any], bool]] = {
            "<": lambda a, b: bool(a < b),
            "<=": lambda a, b: bool(a <= b),
            ">": lambda a, b: bool(a > b),
            ">=": lambda a, b: bool(a >= b),
        }
        fn = ops[op]

        def check(r: Record) -> bool:
            v = self.norm(f, getter(r))
            return v is not None and fn(v, target)

        return check


def parse(query: str, objects: dict[str, SFObject], resolve: Resolver) -> tuple[Query, Parser]:
    parser = Parser(query, objects, resolve)
    return parser.parse(), parser


class _Key:
    """Sort key wrapper: None sorts first (or last), strings case-insensitively."""

    __slots__ = ("v",)

    def __init__(self, v: Any) -> None:
        self.v = v.casefold() if isinstance(v, str) else v

    def __lt__(self, other: _Key) -> bool:
        return bool(self.v < other.v)


def run(query: Query, parser: Parser, records: list[Record]) -> list[Record]:
    rows = [r for r in records if query.where(r)] if query.where else list(records)
    for fp, desc, nulls_last in reversed(query.order):
        getter = parser.getter(fp)
        nonnull = [r for r in rows if getter(r) is not None]
        nulls = [r for r in rows if getter(r) is None]
        nonnull.sort(key=lambda r: _Key(getter(r)), reverse=desc)
        rows = nonnull + nulls if nulls_last else nulls + nonnull
    if query.offset:
        rows = rows[query.offset :]
    if query.limit is not None:
        rows = rows[: query.limit]
    return rows


def project(
    query: Query, parser: Parser, record: Record, objects: dict[str, SFObject], version: str
) -> Record:
    obj = query.object
    out: Record = {
        "attributes": {"type": obj, "url": f"/services/data/v{version}/sobjects/{obj}/{record['Id']}"}
    }
    for fp in query.fields:
        if not fp.fks:
            out[fp.path[-1]] = record.get(fp.path[-1])
            continue
        cur_out = out
        cur: Record | None = record
        for depth, (fk, target) in enumerate(fp.fks):
            rel = fp.path[depth]
            ref = cur.get(fk) if cur is not None else None
            cur = parser.resolve(target, ref) if ref else None
            if cur is None:
                cur_out.setdefault(rel, None)
                break
            nested = cur_out.get(rel)
            if not isinstance(nested, dict):
                nested = {
                    "attributes": {
                        "type": target,
                        "url": f"/services/data/v{version}/sobjects/{target}/{cur['Id']}",
                    }
                }
                cur_out[rel] = nested
            cur_out = nested
        else:
            if cur is not None:
                cur_out[fp.path[-1]] = cur.get(fp.path[-1])
    return out
