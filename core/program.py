"""The program file: a YAML document validated by pydantic, with errors that name the key and its line."""

from __future__ import annotations

import codecs
import contextlib
import io
import itertools
import logging
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from functools import cache, cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, available_timezones

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    WrapSerializer,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.composer import Composer, ComposerError
from ruamel.yaml.constructor import ConstructorError, DuplicateKeyError, RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.nodes import MappingNode, SequenceNode
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.scalarbool import ScalarBoolean

from .errors import Problem, ProgramError
from .money import show_number
from .periods import Period
from .records import MAX_AMOUNT, MAX_DAYS, CurrencyCode, Role, _no_float

log = logging.getLogger(__name__)

MAX_MULTIPLIER = Decimal(10)
"""The largest role or accelerator multiplier: a multiplier of 1.5 pays 150 %, so 125 means 1.25."""


def _a_fraction(value: Decimal) -> Decimal:
    if value > 1:
        raise ValueError(
            f"{show_number(value)} is more than 1: rates are fractions: did you mean {show_number(value / 100)}?"
        )
    return value


def _a_multiplier(value: Decimal) -> Decimal:
    if value > MAX_MULTIPLIER:
        raise ValueError(
            f"{show_number(value)} is more than {MAX_MULTIPLIER}: a multiplier of 1.5 pays 150%: "
            f"did you mean {show_number(value / 100)}?"
        )
    return value


MAX_PLACES = 12
"""Decimal places a program number may have: more only push exact arithmetic past its exponent range."""


def _strict_text(value: Any) -> Any:
    # YAML reads `yes`, `24` or `2026-07-01` as a bool, a number or a date: a benefit is text, written as such
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not text: quote it")
    return value


def _few_places(value: Decimal) -> Decimal:
    # Not normalize(): it would round 1E-999999999 to 0 first.
    _, digits, exponent = value.as_tuple()
    if value and isinstance(exponent, int) and exponent < -MAX_PLACES:
        trailing_zeros = len(digits) - len("".join(map(str, digits)).rstrip("0"))
        if exponent + trailing_zeros < -MAX_PLACES:
            raise ValueError(f"{value} has more than {MAX_PLACES} decimal places")
    return value


_FEW_PLACES = AfterValidator(_few_places)

Number = Annotated[
    Decimal,
    BeforeValidator(_no_float),
    Field(ge=-MAX_AMOUNT, le=MAX_AMOUNT, allow_inf_nan=False),
    _FEW_PLACES,
]
"""Any number of the program: bounded so that no sum or product of them overflows exact arithmetic."""
Amount = Annotated[
    Decimal, BeforeValidator(_no_float), Field(ge=0, le=MAX_AMOUNT, allow_inf_nan=False), _FEW_PLACES
]
Rate = Annotated[
    Decimal, BeforeValidator(_no_float), Field(ge=0, le=MAX_AMOUNT, allow_inf_nan=False), _FEW_PLACES
]
Positive = Annotated[
    Decimal, BeforeValidator(_no_float), Field(gt=0, le=MAX_AMOUNT, allow_inf_nan=False), _FEW_PLACES
]
FractionRate = Annotated[Rate, AfterValidator(_a_fraction)]
"""A rate from 0 to 1 (0.12 is 12 %)."""
Multiplier = Annotated[Rate, AfterValidator(_a_multiplier)]


def _not_a_bool(value: Any) -> Any:
    # pydantic reads true as 1: `clawback_window_days: true` would be a one-day window.
    if isinstance(value, bool):
        raise ValueError(f"{str(value).lower()} is not a number: write a whole number")
    return value


WholeNumber = Annotated[int, BeforeValidator(_not_a_bool)]
"""Any whole number of the program (a count of days, periods...): ``true`` and ``false`` are not one."""
Days = Annotated[WholeNumber, Field(ge=0, le=MAX_DAYS)]
Percentage = Annotated[
    Decimal, BeforeValidator(_no_float), Field(ge=-MAX_AMOUNT, le=100, allow_inf_nan=False), _FEW_PLACES
]


_MACHINE_ZONES = frozenset({"localtime", "posixrules", "Factory"})
"""Files of a zoneinfo folder that are no place's zone: the machine's own setting (``localtime``,
``posixrules``) or a placeholder (``Factory``). A program in one of them computes differently on each
machine."""


@cache
def _iana_time_zones() -> frozenset[str]:
    """The time zone names a program may give: the IANA names this machine knows."""
    return frozenset(available_timezones() - _MACHINE_ZONES)


def _read_only(value: Mapping[Any, Any]) -> Mapping[Any, Any]:
    return MappingProxyType(dict(value))


def _as_dict(value: Mapping[Any, Any], handler: SerializerFunctionWrapHandler) -> Any:
    return handler(dict(value))


def _no_entries() -> Mapping[Any, Any]:
    return MappingProxyType({})


ReadOnly = (AfterValidator(_read_only), WrapSerializer(_as_dict))
"""Makes a mapping field of a frozen section read-only (a frozen model still holds a mutable dict, which
a plugin could change for every later computation); it serializes as the dict it was."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MetricTarget(_Section):
    weight: Rate
    target: Positive
    better: Literal["higher", "lower"] = "higher"


class Scoring(_Section):
    scale: Positive = Decimal(100)
    metrics: Annotated[Mapping[str, MetricTarget], *ReadOnly] = Field(default_factory=_no_entries)


MAX_BENEFIT_LENGTH = 200
"""Characters a tier benefit may have: a short text (the CRM field lists them one a line)."""
MAX_BENEFITS_TEXT = 32_768
"""Characters a tier's benefits may add up to, one a line: what the CRM field created for them holds."""


def _a_benefit(text: str) -> str:
    if not text.strip():
        raise ValueError(
            "a benefit is empty: write what holding the tier brings, e.g. 'deal desk within 24 h'"
        )
    if any(c in text for c in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"):
        raise ValueError("a benefit is one line: list each benefit as its own item")
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise ValueError("a benefit holds a control character")
    if len(text) > MAX_BENEFIT_LENGTH:
        raise ValueError(f"a benefit is at most {MAX_BENEFIT_LENGTH} characters: keep it short")
    return text.strip()


Benefit = Annotated[str, BeforeValidator(_strict_text), AfterValidator(_a_benefit)]
"""What holding a tier brings beyond money, in a few words (``early access to the roadmap``)."""


class Tier(_Section):
    name: str = Field(min_length=1)
    min_score: Rate
    commission_rate: FractionRate = Decimal(0)
    mdf_budget: Amount = Decimal(0)
    quota: Amount = Decimal(0)
    requires: Annotated[Mapping[str, Number], *ReadOnly] = Field(default_factory=_no_entries)
    benefits: tuple[Benefit, ...] = ()
    """What holding the tier brings beyond money: shown on statements and written to the partner's account."""

    @field_validator("benefits")
    @classmethod
    def _benefits_unique(cls, benefits: tuple[str, ...]) -> tuple[str, ...]:
        seen = [b.casefold() for b in benefits]
        if len(set(seen)) != len(seen):
            raise ValueError("a benefit is listed twice")
        if len("\n".join(benefits)) > MAX_BENEFITS_TEXT:
            raise ValueError(f"a tier's benefits add up to more than {MAX_BENEFITS_TEXT:,} characters")
        return benefits


class AcceleratorBand(_Section):
    attainment: Rate
    multiplier: Annotated[Multiplier, Field(ge=1)]


class Milestone(_Section):
    name: str = Field(min_length=1)
    kind: Literal["first_win", "activities"]
    amount: Amount
    type: str | None = None
    count: Positive | None = None

    @model_validator(mode="after")
    def _activities_need_type_and_count(self) -> Milestone:
        if self.kind == "activities" and (self.type is None or self.count is None):
            raise ValueError("an `activities` milestone needs `type` and `count`")
        if self.kind == "first_win" and (self.type is not None or self.count is not None):
            raise ValueError("a `first_win` milestone takes no `type` or `count`")
        return self


REPEATED = "repeated"
"""The pydantic error type of a list item that repeats an earlier item's key; its ``ctx`` holds the
item's ``index`` and the ``key``, so that the error names the repeat's own line."""


def _unique(items: Sequence[Any], key: str, listed_as: str, hint: str) -> None:
    """Refuse the first item whose ``key`` equals an earlier item's (which one pays would depend on
    their order); ``listed_as`` names the list in the message."""
    first_at: dict[Any, int] = {}
    for index, item in enumerate(items):
        value = getattr(item, key)
        if value in first_at:
            shown = show_number(value) if isinstance(value, Decimal) else repr(value)
            raise PydanticCustomError(
                REPEATED,
                "{shown} appears twice (first in {first}): {hint}",
                {
                    "shown": shown,
                    "first": f"{listed_as}[{first_at[value]}]",
                    "hint": hint,
                    "index": index,
                    "key": key,
                },
            )
        first_at[value] = index


class Payouts(_Section):
    baseline_per_qualified_opportunity: Amount | None = None
    role_multipliers: Annotated[Mapping[Role, Multiplier], *ReadOnly] = Field(default_factory=_no_entries)
    accelerators: tuple[AcceleratorBand, ...] = ()
    signing_bonus: Amount | None = None
    milestones: tuple[Milestone, ...] = ()

    @field_validator("accelerators")
    @classmethod
    def _one_band_per_attainment(cls, bands: tuple[AcceleratorBand, ...]) -> tuple[AcceleratorBand, ...]:
        _unique(bands, "attainment", "accelerators", "one multiplier per attainment")
        return bands

    @field_validator("milestones")
    @classmethod
    def _milestone_names_unique(cls, milestones: tuple[Milestone, ...]) -> tuple[Milestone, ...]:
        _unique(milestones, "name", "milestones", "give each milestone its own name")
        return milestones

    def role_multiplier(self, role: Role) -> Decimal:
        return self.role_multipliers.get(role, Decimal(1))


class Guardrails(_Section):
    max_discount_pct: Annotated[Percentage, Field(ge=0)] | None = None
    min_margin_pct: Percentage | None = None
    margin_floor_factor: FractionRate | None = None

    @model_validator(mode="after")
    def _margin_floor_needs_factor(self) -> Guardrails:
        if self.min_margin_pct is not None and self.margin_floor_factor is None:
            raise ValueError("`min_margin_pct` needs `margin_floor_factor`")
        return self


class Caps(_Section):
    per_partner: Amount | None = None
    program_budget: Amount | None = None


class Mdf(_Section):
    release_on_approval: FractionRate
    release_pipeline_multiple: Rate


class Governance(_Section):
    """Who may approve adjustments (``cosell adjust``), and the amount at or below which one is approved
    on proposal. Leaving either out: anyone but the proposer approves; every adjustment waits."""

    approvers: tuple[Annotated[str, Field(min_length=1)], ...] | None = None
    require_approval_over: Amount | None = None

    @field_validator("approvers")
    @classmethod
    def _approvers_unique(cls, names: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if names is not None:
            stripped = [n.strip().casefold() for n in names]
            if any(not n for n in stripped):
                raise ValueError("an approver's name is empty")
            if len(set(stripped)) != len(stripped):
                raise ValueError("approver names must be unique")
        return names


class Cohort(_Section):
    """The pilot's test arm: the partners whose ``attribute`` (a partner column such as region) holds
    one of ``values``; or a stable hash split putting about ``share`` of the partners in it (the SHA-256
    of ``seed`` and the partner id, so a partner lands in the same arm on every run and machine)."""

    attribute: Annotated[str, Field(min_length=1)] | None = None
    values: tuple[Annotated[str, Field(min_length=1)], ...] | None = None
    share: FractionRate | None = None
    seed: WholeNumber = Field(default=0, ge=0, le=2**63)

    @model_validator(mode="after")
    def _one_kind(self) -> Cohort:
        by_attribute = self.attribute is not None or self.values is not None
        if self.share is not None and by_attribute:
            raise ValueError("give either `share` (and `seed`) or `attribute` and `values`, not both")
        if self.share is None and (self.attribute is None or not self.values):
            raise ValueError(
                "give `attribute` and `values` (e.g. {attribute: region, values: [EMEA]}) or a hash split "
                '`share` with a `seed` (e.g. {share: "0.5", seed: 7})'
            )
        return self


class Pilot(_Section):
    """An A/B pilot: the cohort's partners are computed by the variant program, the others by this one."""

    name: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    variant: str = Field(min_length=1)
    """A program file, relative to the file that names it."""
    cohort: Cohort


class Program(_Section):
    """A partner program: SPEC "The program file". Every section but program, period, currency and
    tiers may be left out, and then its rules do not apply."""

    program: str = Field(min_length=1)
    period: str
    currency: CurrencyCode
    fx: Annotated[Mapping[CurrencyCode, Positive], *ReadOnly] = Field(default_factory=_no_entries)
    qualified_stages: tuple[str, ...] = ()
    activity_weights: Annotated[Mapping[str, Rate], *ReadOnly] = Field(default_factory=_no_entries)
    scoring: Scoring | None = None
    tiers: tuple[Tier, ...] = Field(min_length=1)
    demotion_grace_periods: WholeNumber = Field(default=0, ge=0, le=1000)
    payouts: Payouts | None = None
    guardrails: Guardrails | None = None
    caps: Caps | None = None
    clawback_window_days: Days | None = None
    mdf: Mdf | None = None
    wind_down_days: Days | None = None
    governance: Governance | None = None
    timezone: str = "UTC"
    plugins: Annotated[Mapping[str, Annotated[Mapping[str, Any], *ReadOnly]], *ReadOnly] = Field(
        default_factory=_no_entries
    )
    pilot: Pilot | None = None

    @field_validator("period")
    @classmethod
    def _period_is_a_quarter_or_month(cls, value: str) -> str:
        return Period.parse(value).key

    @field_validator("timezone")
    @classmethod
    def _timezone_is_iana(cls, value: str) -> str:
        if value not in _iana_time_zones():
            raise ValueError(f"{value!r} is not an IANA time zone (e.g. UTC, America/New_York)")
        return value

    @field_validator("tiers")
    @classmethod
    def _tiers_rise(cls, tiers: tuple[Tier, ...]) -> tuple[Tier, ...]:
        names = [t.name for t in tiers]
        if len(set(names)) != len(names):
            raise ValueError("tier names must be unique")
        for lower, higher in itertools.pairwise(tiers):
            if higher.min_score <= lower.min_score:
                raise ValueError(
                    f"tiers must be listed lowest first in rising min_score: {higher.name!r} "
                    f"({higher.min_score}) comes after {lower.name!r} ({lower.min_score})"
                )
        return tiers

    @property
    def the_period(self) -> Period:
        return Period.parse(self.period)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def fx_rate(self, currency: str) -> Decimal | None:
        """Units of program currency for one unit of ``currency``; None when the table lacks it."""
        if currency == self.currency:
            return Decimal(1)
        return self.fx.get(currency)

    @cached_property
    def _tiers_by_name(self) -> dict[str, tuple[int, Tier]]:
        return {t.name: (i, t) for i, t in enumerate(self.tiers)}

    def tier(self, name: str) -> Tier | None:
        found = self._tiers_by_name.get(name)
        return found[1] if found else None

    def tier_rank(self, name: str) -> int:
        """Position of a tier, lowest 0; an unknown name (a CRM value, say) ranks as the lowest."""
        found = self._tiers_by_name.get(name)
        return found[0] if found else 0


def crm_tier_name(program: Program, text: str | None) -> str | None:
    """The tier a CRM's tier field names: the field as cosell writes it may read "Gold", "Gold (exception
    until 2027-Q2: ...)" or "Exited (was Silver)". None when it names no tier of the program."""
    if not text:
        return None
    candidates = [text]
    if text.startswith("Exited (was ") and text.endswith(")"):
        candidates.append(text[len("Exited (was ") : -1])
    if " (" in text:
        candidates.append(text.split(" (", 1)[0])
    return next((name for name in candidates if program.tier(name) is not None), None)


# --- loading -----------------------------------------------------------------------------------


class _ExactConstructor(RoundTripConstructor):
    """Reads YAML floats as exact Decimals from their text: `commission_rate: 0.05` is 0.05, not a float."""

    def __init__(self, preserve_quotes: bool | None = None, loader: Any = None) -> None:
        super().__init__(preserve_quotes=preserve_quotes, loader=loader)
        self._key_texts: dict[int, tuple[Any, set[str]]] = {}
        """Per mapping being built (by id, with the mapping: ids are reused), the texts of its keys."""

    def construct_yaml_float(self, node: Any) -> Decimal:  # type: ignore[override]
        text = str(self.construct_scalar(node)).replace("_", "")
        try:
            value = Decimal(text)
        except InvalidOperation:
            value = Decimal("NaN")  # .nan, .inf and their spellings: YAML's, not Decimal's
        if not value.is_finite():
            raise ConstructorError(None, None, f"{text!r} is not a finite number", node.start_mark)
        return value

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        # ruamel's own constructors raise bare exceptions for some values (`!!int abc`, `2026-13-45`,
        # `!!bool maybe`, `!!omap abc`): give them the line of their node. Deep, so that a node is
        # built here to its end (nothing is left for later, when its line is no longer known); a
        # program has no alias that would need it otherwise.
        try:
            return super().construct_object(node, deep=True)
        except MarkedYAMLError:
            raise
        except (ValueError, TypeError, ArithmeticError) as exc:
            raise ConstructorError(None, None, f"cannot read this value: {exc}", node.start_mark) from None
        except Exception:
            # A KeyError, IndexError, AssertionError... from inside ruamel: its text means nothing to a user.
            tag = str(node.tag).replace("tag:yaml.org,2002:", "!!")
            raise ConstructorError(None, None, f"cannot read this value as {tag}", node.start_mark) from None

    def check_mapping_key(self, node: Any, key_node: Any, mapping: Any, key: Any, value: Any) -> bool:
        # The program reads every key as text: `1` and `"1"`, or `true` and `"True"`, are one key, and
        # the last would silently win. Refuse the second as any other duplicate key is. The texts seen
        # are kept per mapping being built (every mapping of the file lives until the load ends).
        held = self._key_texts.get(id(mapping))
        if held is None or held[0] is not mapping:
            held = self._key_texts[id(mapping)] = (mapping, set())
        texts = held[1]
        text = _key_text(key)
        if key not in mapping and text in texts:
            raise DuplicateKeyError(None, None, f'found duplicate key "{text}"', key_node.start_mark)
        texts.add(text)
        return bool(super().check_mapping_key(node, key_node, mapping, key, value))

    def construct_yaml_omap(self, node: Any) -> Any:
        # ruamel only asserts that an ordered map's key is new (and `python -O` drops asserts, keeping
        # the last value): refuse a repeated key as any other duplicate key is.
        if isinstance(node, SequenceNode):
            keys = [
                entry.value[0][0] for entry in node.value if isinstance(entry, MappingNode) and entry.value
            ]
            seen: set[Any] = set()
            for key_node in keys:
                key = self.construct_object(key_node)
                if key in seen:
                    message = f'found duplicate key "{key}"'
                    raise DuplicateKeyError(None, None, message, key_node.start_mark)
                seen.add(key)
        return super().construct_yaml_omap(node)


_ExactConstructor.add_constructor("tag:yaml.org,2002:float", _ExactConstructor.construct_yaml_float)
_ExactConstructor.add_constructor("tag:yaml.org,2002:omap", _ExactConstructor.construct_yaml_omap)

MAX_NESTING = 32
"""How deep a program file may nest; the deepest section needs five levels."""


class _ProgramComposer(Composer):
    """Refuses aliases and deep nesting. A program file never needs ``*alias`` (and nested aliases
    expand exponentially: a few lines can stand for billions of values); thousands of nested lists
    would exhaust the stack."""

    nesting = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.parser.peek_event()
        if isinstance(event, AliasEvent):
            message = f"alias *{event.anchor} is not allowed in a program file: write the value out"
            raise ComposerError(None, None, message, event.start_mark)
        if self.nesting >= MAX_NESTING:
            message = f"nested more than {MAX_NESTING} levels deep"
            raise ComposerError(None, None, message, event.start_mark)
        self.nesting += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.nesting -= 1


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.Constructor = _ExactConstructor
    yaml.Composer = _ProgramComposer
    yaml.allow_duplicate_keys = False
    return yaml


LinePath = tuple[str | int, ...]


def _line_index(
    node: Any, path: LinePath = (), index: dict[LinePath, int] | None = None
) -> dict[LinePath, int]:
    """Map every key path in a round-trip YAML tree to its 1-based line."""
    if index is None:
        index = {}
    if isinstance(node, CommentedMap):
        for key, value in node.items():
            with contextlib.suppress(KeyError, TypeError):
                index[(*path, str(key))] = node.lc.key(key)[0] + 1
            _line_index(value, (*path, str(key)), index)
    elif isinstance(node, CommentedSeq):
        for i, value in enumerate(node):
            with contextlib.suppress(KeyError, TypeError, IndexError):
                index[(*path, i)] = node.lc.item(i)[0] + 1
            _line_index(value, (*path, i), index)
    return index


def _key_text(key: Any) -> str:
    """A mapping key as the program reads it (:func:`_plain`)."""
    return str(bool(key)) if isinstance(key, bool | ScalarBoolean) else str(key)


def _plain(node: Any) -> Any:
    """Round-trip YAML containers and scalars as plain Python values."""
    if isinstance(node, Mapping):
        return {_key_text(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list | tuple):
        return [_plain(v) for v in node]
    if isinstance(node, bool | ScalarBoolean):
        # An anchored `&rate true` is a ScalarBoolean, an int subclass: read as an int it would be 1.
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, str):
        return str(node)
    if isinstance(node, TaggedScalar) and node.tag.value == "tag:yaml.org,2002:str":
        return str(node.value)  # `!!str 2026-Q3`: YAML's way to say "text"
    return node


def line_of(index: Mapping[LinePath, int], loc: Sequence[str | int]) -> int | None:
    """The line of the deepest known prefix of ``loc``."""
    path = tuple(loc)
    while path:
        if path in index:
            return index[path]
        path = path[:-1]
    return None


def describe_loc(loc: Sequence[str | int]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def validation_problems(
    err: ValidationError, source: str, index: Mapping[LinePath, int], prefix: LinePath = ()
) -> list[Problem]:
    """pydantic's errors as ``file:line: key.path: message`` problems; ``prefix`` is the path of the
    validated part within the file (``("plugins", "nps")`` for a plugin's settings)."""
    problems = []
    errors = err.errors(include_url=False)
    deeper = {(*prefix, *e["loc"][:-1]) for e in errors if len(e["loc"]) > 1}
    for e in errors:
        loc = (*prefix, *(p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-after"))))
        if e["type"] == REPEATED:
            ctx = e.get("ctx") or {}
            loc = (*loc, ctx["index"], ctx["key"])  # the repeat's own line, not the list's
        if e["type"] == "too_short" and any(d[: len(loc)] == loc for d in deeper):
            continue  # "needs at least one item" only echoes the error inside that item
        line = line_of(index, loc) or 1
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
        elif e["type"] == "less_than_equal" and (e.get("ctx") or {}).get("le") == MAX_AMOUNT:
            msg = f"{e['input']} is too large: numbers in a program are at most {MAX_AMOUNT:,}"
        elif e["type"] == "missing":
            msg = "required key is missing"
        msg = msg.removeprefix("Value error, ")
        key = describe_loc(loc)
        problems.append(Problem(f"{source}:{line}", f"{key}: {msg}" if key else msg))
    return problems


class LoadedProgram:
    """A validated program with the file it came from, a line for every key path, and the warnings
    its values raised (values that are valid but probably not meant)."""

    def __init__(
        self,
        program: Program,
        source: str,
        lines: Mapping[LinePath, int],
        warnings: Sequence[Problem] = (),
        raw: bytes | None = None,
    ) -> None:
        self.program = program
        self.source = source
        self.lines = lines
        self.warnings = tuple(warnings)
        self.raw = raw
        """The program file's exact bytes, which a run records with their sha256 (the text's UTF-8 when
        the program was given as text)."""
        self.variant: LoadedProgram | None = None
        """The pilot's variant program (``pilot.variant``), loaded by :func:`load_program`."""

    def where(self, *loc: str | int) -> str:
        """``file:line`` of a key path, for errors found after validation (unknown metric, plugin...)."""
        return f"{self.source}:{line_of(self.lines, loc) or 1}"


def parse_program(text: str, source: str = "<program>") -> LoadedProgram:
    """Validate program text; raises ProgramError listing every problem with its line. Warnings (a
    percentage given as a fraction, say) are logged, one line each, and kept on the result."""
    try:
        tree = _yaml().load(io.StringIO(text))
    except ReaderError as exc:
        # A character YAML does not allow (a NUL byte, a control character): name its line.
        line = text.count("\n", 0, max(exc.position, 0)) + 1
        character = f"{exc.character:#06x}" if isinstance(exc.character, int) else repr(exc.character)
        raise ProgramError(
            [Problem(f"{source}:{line}", f"not valid YAML: character {character} is not allowed")]
        ) from None
    except DuplicateKeyError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark else 1
        key = (exc.problem or "").split('"')[1] if '"' in (exc.problem or "") else ""
        raise ProgramError(
            [
                Problem(
                    f"{source}:{line}", f"duplicate key {key!r}: each key may appear once".replace(" ''", "")
                )
            ]
        ) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise ProgramError([Problem(f"{source}:{line}", f"not valid YAML: {exc.problem or exc}")]) from None
    if not isinstance(tree, Mapping):
        raise ProgramError([Problem(f"{source}:1", "a program file is a YAML mapping of keys to values")])
    index = _line_index(tree)
    plain = _plain(tree)
    problems = _fx_problems(plain, source, index)
    try:
        program = Program.model_validate(plain)
    except ValidationError as err:
        raise ProgramError(validation_problems(err, source, index) + problems) from None
    if problems:
        raise ProgramError(problems)
    warnings = _percentage_warnings(program, source, index)
    for warning in warnings:
        log.warning("%s", warning)
    return LoadedProgram(program, source, index, warnings, text.encode("utf-8"))


def _fx_problems(plain: Mapping[str, Any], source: str, index: Mapping[LinePath, int]) -> list[Problem]:
    currency, fx = plain.get("currency"), plain.get("fx")
    if isinstance(currency, str) and isinstance(fx, Mapping) and currency in fx:
        line = line_of(index, ("fx", currency)) or 1
        message = f"fx.{currency}: the program's own currency takes no rate (it is always 1): remove it"
        return [Problem(f"{source}:{line}", message)]
    return []


def _percentage_warnings(program: Program, source: str, index: Mapping[LinePath, int]) -> list[Problem]:
    """Percentages between 0 and 1 (exclusive): valid, but most likely a fraction meant as a percentage."""
    warnings: list[Problem] = []
    if program.guardrails is None:
        return warnings
    for key in ("max_discount_pct", "min_margin_pct"):
        value = getattr(program.guardrails, key)
        if value is not None and 0 < value < 1:
            line = line_of(index, ("guardrails", key)) or 1
            message = (
                f"guardrails.{key}: {show_number(value)} is less than 1%: percentages are 0-100: "
                f"did you mean {show_number(value * 100)}?"
            )
            warnings.append(Problem(f"{source}:{line}", message))
    return warnings


def load_program(path: str | Path) -> LoadedProgram:
    """The program file and, when it runs a pilot, the pilot's variant program."""
    path = Path(path)
    loaded = _read_program(path)
    if loaded.program.pilot is not None:
        loaded.variant = _load_variant(loaded, path.parent / loaded.program.pilot.variant)
    return loaded


def _read_program(path: Path) -> LoadedProgram:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ProgramError([Problem(str(path), f"cannot read the program file: {exc.strerror}")]) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        start = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
        at = start + exc.start
        line = data.count(b"\n", 0, at) + 1
        message = f"not UTF-8 text (byte {data[at]:#04x}): save the file as UTF-8"
        raise ProgramError([Problem(f"{path}:{line}", message)]) from None
    loaded = parse_program(text, str(path))
    loaded.raw = data
    return loaded


def _load_variant(base: LoadedProgram, path: Path) -> LoadedProgram:
    """The pilot's variant: a program of the same period kind, currency, exchange rates and time zone
    (both arms read the same records the same way), without a pilot of its own."""
    where = base.where("pilot", "variant")
    if not path.is_file():
        raise ProgramError([Problem(where, f"pilot.variant: no program file at {path}")])
    variant = _read_program(path)
    mine, theirs = base.program, variant.program
    shown: dict[str, Callable[[Program], str]] = {
        "period": lambda p: f"a {p.the_period.kind}",
        "currency": lambda p: p.currency,
        "fx": lambda p: str({k: str(v) for k, v in sorted(p.fx.items())}),
        "timezone": lambda p: p.timezone,
    }
    problems = [
        Problem(variant.where(key), f"{key}: {show(theirs)} here, {show(mine)} in {base.source}")
        for key, show in shown.items()
        if show(mine) != show(theirs)
    ]
    if theirs.pilot is not None:
        problems.append(
            Problem(variant.where("pilot"), "pilot: a pilot's variant cannot run a pilot of its own")
        )
    if problems:
        raise ProgramError(
            [Problem(where, f"pilot.variant: {path} does not fit this program (fix it below)"), *problems]
        )
    return variant


def program_json_schema(plugin_settings: Mapping[str, type[BaseModel]] | None = None) -> dict[str, Any]:
    """The program file's JSON Schema; ``plugins:`` lists each given plugin settings model by its key
    (and, like the program file, takes no other key)."""
    schema = Program.model_json_schema()
    if plugin_settings:
        properties = {}
        for key, model in sorted(plugin_settings.items()):
            sub = model.model_json_schema(ref_template=f"#/$defs/{key}__{{model}}")
            for name, definition in sub.pop("$defs", {}).items():
                schema.setdefault("$defs", {})[f"{key}__{name}"] = definition
            properties[key] = sub
        schema["properties"]["plugins"] = {
            "type": "object",
            "title": "Plugins",
            "description": "Settings of installed plugins, each checked by its plugin's model.",
            "properties": properties,
            "additionalProperties": False,
        }
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "cosell program"
    return schema
