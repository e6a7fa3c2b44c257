"""Converting exact decimal amounts to base-currency minor units through a rate table's pivot."""

from __future__ import annotations

from decimal import Decimal, localcontext

from carthouse.money import is_currency_code, to_minor_units
from services.fx.rates import RateTable


class ConversionError(ValueError):
    """The message the client sees."""


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


def to_base_minor_units(amount: Decimal, rate: Decimal, base: str) -> int:
    """``amount`` times ``rate`` in minor units of ``base``, rounded half-even at base's ISO 4217 digits.
    34 significant digits keep the product exact for every amount the API accepts."""
    with localcontext() as context:
        context.prec = 34
        return to_minor_units(amount * rate, base)
