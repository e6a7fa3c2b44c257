"""Money as exact decimals and integer minor units of ISO 4217 currencies."""

from __future__ import annotations

import functools
import math
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

import iso4217

_ONE = Decimal(1)


class UnknownCurrency(ValueError):
    """Not an ISO 4217 code."""


@functools.cache
def is_currency_code(code: str) -> bool:
    return len(code) == 3 and code.isalpha() and code.isupper() and _lookup(code) is not None


def _lookup(code: str) -> iso4217.Currency | None:
    try:
        return iso4217.Currency(code)
    except ValueError:
        return None


@functools.cache
def minor_digits(code: str) -> int:
    """Decimal places of the currency's minor unit (JPY 0, USD 2, KWD 3)."""
    currency = _lookup(code)
    if currency is None:
        raise UnknownCurrency(code)
    # A few funds and metals have no minor unit in ISO 4217; they are treated as 0 digits.
    return currency.exponent or 0


@functools.cache
def _minor_scale(code: str) -> Decimal:
    return Decimal(10) ** minor_digits(code)


def decimal_from_json(value: float) -> Decimal:
    """The decimal a JSON number meant: repr gives the shortest round-tripping text (49.99, not 49.98999...)."""
    if not math.isfinite(value):
        raise ValueError("not a finite number")
    return Decimal(repr(value))


def to_minor_units(amount: Decimal, code: str) -> int:
    """Round half-even to the currency's digits and express in minor units (49.99 USD -> 4999)."""
    return int((amount * _minor_scale(code)).quantize(_ONE, rounding=ROUND_HALF_EVEN))


def from_minor_units(minor: int, code: str) -> Decimal:
    """Minor units back to a decimal amount (4999 USD -> 49.99)."""
    return Decimal(minor).scaleb(-minor_digits(code))


class UnsupportedCurrency(ValueError):
    """A valid ISO 4217 code for which the rate table has no rate."""


def cross_rate(currency: str, base: str, pivot_rates: dict[str, Decimal]) -> Decimal:
    """Units of ``base`` per unit of ``currency``, from rates quoted as units per one pivot currency."""
    if currency == base:
        return Decimal(1)
    source = pivot_rates.get(currency)
    if source is None:
        raise UnsupportedCurrency(currency)
    target = pivot_rates.get(base)
    if target is None:
        raise UnsupportedCurrency(base)
    with localcontext() as context:
        context.prec = 34
        return target / source


def to_base_minor_units(amount: Decimal, rate: Decimal, base: str) -> int:
    """``amount`` times ``rate`` in minor units of ``base``, rounded half-even at base's ISO 4217 digits.
    34 significant digits keep the product exact for every amount the API accepts."""
    with localcontext() as context:
        context.prec = 34
        return to_minor_units(amount * rate, base)


def rate_text(rate: Decimal, digits: int = 18) -> str:
    """A rate as stored and shown: at most ``digits`` decimals (fx_rate is Decimal(38, 18)), no trailing zeros."""
    return format(rate.quantize(Decimal(1).scaleb(-digits)).normalize(), "f")
