"""FxService servicer: protobuf in, plain Python to the converter, protobuf out."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

import grpc

from carthouse.errors import InvalidArgument, Unavailable
from carthouse.money import rate_text, to_base_minor_units
from carthouse.v1 import fx_pb2, fx_pb2_grpc
from services.fx.conversion import ConversionError
from services.fx.converter import FxConverter
from services.fx.rates import ProviderUnavailable

SERVICE_NAME = fx_pb2.DESCRIPTOR.services_by_name["FxService"].full_name


def _moment(text: str) -> datetime:
    if not text:
        return datetime.now(UTC)
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class FxServicer(fx_pb2_grpc.FxServiceServicer):
    def __init__(self, converter: FxConverter) -> None:
        self._converter = converter

    def ConvertAmounts(
        self, request: fx_pb2.ConvertAmountsRequest, context: grpc.ServicerContext
    ) -> fx_pb2.ConvertAmountsResponse:
        base = request.base_currency.upper()
        # Amounts of one request mostly share currency and time: each rate is looked up once per call.
        rates: dict[tuple[str, str], tuple[Decimal, str, str, bool] | str] = {}
        return fx_pb2.ConvertAmountsResponse(results=[self._convert(item, base, rates) for item in request.amounts])

    def _convert(self, item: fx_pb2.Amount, base: str, rates: dict) -> fx_pb2.Converted:
        key = (item.currency.upper(), item.event_time)
        if key not in rates:
            rates[key] = self._rate(key[0], base, item.event_time)
        rate = rates[key]
        if isinstance(rate, str):
            return fx_pb2.Converted(error=rate)
        try:
            amount = Decimal(item.amount)
        except InvalidOperation:
            return fx_pb2.Converted(error=f"Invalid amount: {item.amount!r}")
        value, rate_text, as_of, stale = rate
        return fx_pb2.Converted(minor_units=to_base_minor_units(amount, value, base), rate=rate_text, as_of=as_of,
                                stale=stale)

    def _rate(self, currency: str, base: str, event_time: str) -> tuple[Decimal, str, str, bool] | str:
        """The rate with its texts, or the error message for every amount of that currency and time."""
        try:
            value, as_of, stale = self._converter.rate_at(currency, base, _moment(event_time))
        except ConversionError as exc:
            return str(exc)
        except ValueError:
            return f"Invalid event time: {event_time!r}"
        except ProviderUnavailable as exc:
            raise Unavailable(str(exc)) from None
        return value, rate_text(value), as_of.isoformat().replace("+00:00", "Z"), stale

    def GetRates(self, request: fx_pb2.GetRatesRequest, context: grpc.ServicerContext) -> fx_pb2.GetRatesResponse:
        base = request.base_currency.upper()
        try:
            moment = _moment(f"{request.date}T12:00:00+00:00" if request.date else "")
            as_of, rates = self._converter.rates(base, moment)
        except ValueError as exc:
            raise InvalidArgument(str(exc) if isinstance(exc, ConversionError) else "date must be YYYY-MM-DD") from None
        return fx_pb2.GetRatesResponse(
            base_currency=base, date=as_of.date().isoformat(),
            rates={code: rate_text(rate) for code, rate in rates.items()},
        )

    def GetRateTable(self, request: fx_pb2.GetRateTableRequest, context) -> fx_pb2.GetRateTableResponse:
        try:
            table = self._converter.table_at(_moment(request.time))
        except ConversionError as exc:
            raise InvalidArgument(str(exc)) from None
        except ValueError:
            raise InvalidArgument(f"time must be RFC 3339, got {request.time!r}") from None
        except ProviderUnavailable as exc:
            raise Unavailable(str(exc)) from None
        return fx_pb2.GetRateTableResponse(
            provider=table.provider, pivot=table.pivot, as_of=table.as_of.isoformat().replace("+00:00", "Z"),
            stale=table.stale, rates={code: str(rate) for code, rate in table.rates.items()},
        )

    def ListCurrencies(self, request, context: grpc.ServicerContext) -> fx_pb2.ListCurrenciesResponse:
        return fx_pb2.ListCurrenciesResponse(currencies=self._converter.currencies())
