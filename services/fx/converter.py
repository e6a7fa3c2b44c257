"""Converting amounts at the rate of a moment: the rate repository plus the pure conversion."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from carthouse.money import is_currency_code, to_base_minor_units
from services.fx.conversion import ConversionError, conversion_rate
from services.fx.rates import RateTable
from services.fx.storage import RateRepository


@dataclass(frozen=True)
class ConvertedAmount:
    minor_units: int
    rate: Decimal
    as_of: datetime
    stale: bool


class FxConverter:
    def __init__(self, repository: RateRepository) -> None:
        self._repository = repository

    def convert(self, amount: Decimal, currency: str, base: str, moment: datetime) -> ConvertedAmount:
        rate, as_of, stale = self.rate_at(currency, base, moment)
        return ConvertedAmount(to_base_minor_units(amount, rate, base), rate, as_of, stale)

    def rate_at(self, currency: str, base: str, moment: datetime) -> tuple[Decimal, datetime, bool]:
        """(units of ``base`` per unit of ``currency``, start of the rate period, stale?) at ``moment``."""
        if not is_currency_code(base):
            raise ConversionError(f"Invalid currency: {base}")
        if not is_currency_code(currency):
            raise ConversionError(f"Invalid currency: {currency}")
        table = self._repository.table_for(moment)
        if table is None:
            raise ConversionError(f"No exchange rates for {moment.date().isoformat()}")
        return conversion_rate(currency, base, table), table.as_of, table.stale

    def rates(self, base: str, moment: datetime) -> tuple[datetime, dict[str, Decimal]]:
        """Units of ``base`` per unit of every currency the provider had at ``moment``."""
        if not is_currency_code(base):
            raise ConversionError(f"Invalid currency: {base}")
        table = self._repository.table_for(moment)
        if table is None:
            raise ConversionError(f"No exchange rates for {moment.date().isoformat()}")
        return table.as_of, {
            code: conversion_rate(code, base, table) for code in sorted(table.rates) if is_currency_code(code)
        }

    def table_at(self, moment: datetime) -> RateTable:
        table = self._repository.table_for(moment)
        if table is None:
            raise ConversionError(f"No exchange rates for {moment.date().isoformat()}")
        return table

    def currencies(self) -> list[str]:
        return sorted(code for code in self._repository.provider.currencies() if is_currency_code(code))
