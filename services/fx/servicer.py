"""FxService servicer: protobuf in, plain Python to the converter, protobuf out."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

import grpc

from carthouse.errors import InvalidArgument, Unavailable
from carthouse.v1 import fx_pb2, fx_pb2_grpc
from services.fx.conversion import ConversionError
from services.fx.converter import FxConverter
from services.fx.rates import ProviderUnavailable

SERVICE_NAME = fx_pb2.DESCRIPTOR.services_by_name["FxService"].full_name
RATE_DIGITS = 18


def _moment(text: str) -> datetime:
    if not text:
        return datetime.now(UTC)
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _rate_text(rate: Decimal) -> str:
    return format(rate.quantize(Decimal(1).scaleb(-RATE_DIGITS)).normalize(), "f")


class FxServicer(fx_pb2_grpc.FxServiceServicer):
    def __init__(self, converter: FxConverter) -> None:
        self._converter = converter

    def Convert(self, request: fx_pb2.ConvertRequest, context: grpc.ServicerContext) -> fx_pb2.ConvertResponse:
        base = request.base_currency.upper()
        return fx_pb2.ConvertResponse(results=[self._convert(item, base) for item in request.amounts])

    def _convert(self, item: fx_pb2.Amount, base: str) -> fx_pb2.Converted:
        try:
            amount = Decimal(item.amount)
            moment = _moment(item.event_time)
        except (InvalidOperation, ValueError):
            return fx_pb2.Converted(error=f"Invalid amount or time: {item.amount!r} at {item.event_time!r}")
        try:
            converted = self._converter.convert(amount, item.currency.upper(), base, moment)
        except ConversionError as exc:
            return fx_pb2.Converted(error=str(exc))
        except ProviderUnavailable as exc:
            raise Unavailable(str(exc)) from None
        return fx_pb2.Converted(
            minor_units=converted.minor_units,
            rate=_rate_text(converted.rate),
            as_of=converted.as_of.isoformat().replace("+00:00", "Z"),
            stale=converted.stale,
        )

    def GetRates(self, request: fx_pb2.GetRatesRequest, context: grpc.ServicerContext) -> fx_pb2.GetRatesResponse:
        base = request.base_currency.upper()
        try:
            moment = _moment(f"{request.date}T12:00:00+00:00" if request.date else "")
            as_of, rates = self._converter.rates(base, moment)
        except ValueError as exc:
            raise InvalidArgument(str(exc) if isinstance(exc, ConversionError) else "date must be YYYY-MM-DD") from None
        return fx_pb2.GetRatesResponse(
            base_currency=base, date=as_of.date().isoformat(),
            rates={code: _rate_text(rate) for code, rate in rates.items()},
        )

    def ListCurrencies(self, request, context: grpc.ServicerContext) -> fx_pb2.ListCurrenciesResponse:
        return fx_pb2.ListCurrenciesResponse(currencies=self._converter.currencies())
