"""Money is Decimal; this module is the one place that rounds it."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import (
    MAX_EMAX,
    MAX_PREC,
    MIN_EMIN,
    ROUND_FLOOR,
    ROUND_HALF_UP,
    Context,
    Decimal,
    InvalidOperation,
)

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)
"""A context whose additions never round (``EXACT.add(a, b)``): only the digits the result needs are
stored, so adding amounts × shares rounded at 28 digits costs about what a 28-digit addition does (a share
given with a million decimal places makes every addition to it carry a million digits)."""


def exact_sum(values: Iterable[Decimal]) -> Decimal:
    """The sum of ``values`` rounded once, to the current context's precision: the same in any order. A
    running sum at 28 digits is not (an amount × a third, 0.333…3, rounds one way or the other depending
    on what was added before), so the same records listed in another order could give another last
    digit, and a threshold met in one order and missed in the other."""
    total = Decimal(0)
    add = EXACT.add
    for value in values:
        total = add(total, value)
    return +total


def _refuse_float(amount: object) -> None:
    if not isinstance(amount, Decimal):
        raise TypeError(
            f"money is Decimal, never float: got {type(amount).__name__} {amount!r}"
            + (f'; use Decimal("{amount}")' if isinstance(amount, float | int) else "")
        )


def round_cents(amount: Decimal) -> Decimal:
    """Round half-up to cents (every payout line). A float is refused: money is Decimal."""
    if type(amount) is not Decimal:
        _refuse_float(amount)
    return amount.quantize(CENT, ROUND_HALF_UP)  # positional: a keyword costs more than the rounding


def floor_cents(amount: Decimal) -> Decimal:
    """Round down to cents (budget scaling before the leftover cents are shared)."""
    if type(amount) is not Decimal:
        _refuse_float(amount)
    return amount.quantize(CENT, ROUND_FLOOR)


def round_score(score: Decimal) -> Decimal:
    """Scores are rounded half-up to 2 decimals."""
    return score.quantize(CENT, ROUND_HALF_UP)


def to_cents(amount: Decimal) -> int:
    """An amount already rounded to cents, as an integer number of cents (how the ledger stores it)."""
    cents = amount * 100
    if cents != cents.to_integral_value():
        raise ValueError(f"{amount} is not a whole number of cents")
    return int(cents)


def from_cents(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(CENT)


def parse_decimal(text: str) -> Decimal:
    """Parse user text as Decimal (ASCII digits only); raises ValueError with a readable message."""
    if not text.isascii():
        # Decimal() would read any Unicode digit ('١٢٣' is 123) and full-width ones too.
        raise ValueError(f"{text!r} is not a number: use the digits 0-9")
    try:
        value = Decimal(text.strip().replace("_", ""))
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a number") from None
    if not value.is_finite():
        raise ValueError(f"{text!r} is not a finite number")
    return value


def format_money(amount: Decimal) -> str:
    """Plain decimal with two places, as statements and CSV write-back show money."""
    return f"{round_cents(amount):.2f}"


def show(amount: Decimal) -> str:
    """Money for explanations: thousands separated, two places (``12,500.00``)."""
    return f"{round_cents(amount):,.2f}"


def show_number(value: Decimal) -> str:
    """A rate, share or count without trailing zeros (``0.5``, ``12``), never in exponent form."""
    if value == value.to_integral_value():
        return f"{value.to_integral_value():f}"
    return f"{value.normalize():f}"


def show_percent(rate: Decimal) -> str:
    """A rate as a percentage (``0.12`` → ``12%``)."""
    return f"{show_number(rate * 100)}%"


MAX_AMOUNT = Decimal(10) ** 15
"""The largest amount (in absolute value) a plugin may give: a line, a projection, a statement
section's figure, a settlement item, a report fact. The ledger keeps cents as 64-bit integers."""


def amount_problem(value: object, *, cents: bool, ints: bool = False) -> str | None:
    """What is wrong with ``value`` as an amount a plugin gives (None when nothing is): it must be a
    finite Decimal (or, when ``ints``, an int: ``sum`` of nothing is 0) no larger than ``MAX_AMOUNT``
    and, when ``cents``, rounded to cents."""
    if ints and isinstance(value, int) and not isinstance(value, bool):
        value = Decimal(value)
    if type(value) is not Decimal:
        return f"is {type(value).__name__} {value!r}, not a Decimal"
    if not value.is_finite() or abs(value) > MAX_AMOUNT:
        return f"{value} is not an amount cosell can keep (a finite Decimal of at most {MAX_AMOUNT:,})"
    if cents and value.quantize(CENT, ROUND_HALF_UP) != value:
        return f"{value} is not rounded to cents (use cosell.money.round_cents)"
    return None
