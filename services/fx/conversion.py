"""Converting exact decimal amounts to base-currency minor units through a rate table's pivot."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, localcontext

from carthouse.money import is_currency_code, to_minor_units
from services.fx.rates import RateTable


class ConversionError(ValueError):
    """The message the client sees."""


@dataclass(frozen=True)
class Conversion:
    minor_units: int
    rate: Decimal


def conversion_rate(currency: str, base: str, table: RateTable) -> Decimal:
    """Units of ``base`` per unit of ``currency`` (a cross rate through the table's pivot)."""
    if not is_currency_code(currency):
        raise ConversionError(f"Invalid currency: {currency}")
    if currency == base:
        return Decimal(1)
    source = table.rates.get(currency)
    if source is None:
        raise ConversionError(f"Unsupported currency: {currency}")
    target = table.rates.get(base)
    if target is None:
        raise ConversionError(f"Unsupported currency: {base}")
    with localcontext() as context:
        context.prec = 34
        return target / source


def convert(amount: Decimal, currency: str, base: str, table: RateTable) -> Conversion:
    """``amount`` of ``currency`` in minor units of ``base``, rounded half-even at base's ISO 4217 digits."""
    rate = conversion_rate(currency, base, table)
    with localcontext() as context:
        context.prec = 34
        return Conversion(to_minor_units(amount * rate, base), rate)
