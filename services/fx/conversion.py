"""Conversion errors as FxService reports them; the arithmetic itself is shared money code (carthouse.money)."""

from __future__ import annotations

from decimal import Decimal

from carthouse.money import UnsupportedCurrency, cross_rate, is_currency_code
from services.fx.rates import RateTable


class ConversionError(ValueError):
    """The message the client sees."""


def conversion_rate(currency: str, base: str, table: RateTable) -> Decimal:
    """Units of ``base`` per unit of ``currency`` (a cross rate through the table's pivot)."""
    if not is_currency_code(currency):
        raise ConversionError(f"Invalid currency: {currency}")
    try:
        return cross_rate(currency, base, table.rates)
    except UnsupportedCurrency as exc:
        raise ConversionError(f"Unsupported currency: {exc}") from None
