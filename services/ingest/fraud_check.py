"""Ingest's side of fraud checking: the preparation workers describe each valid event for FraudService
(one serialized CheckRequest per ingest request); the pipeline sends it from the event loop, then drops
blocked rows and marks flagged ones. If FraudService cannot answer, events are stored unflagged with a
reason: fraud checking never costs an acknowledged event."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from datetime import datetime

import grpc

from carthouse.money import minor_digits
from carthouse.v1 import fraud_pb2
from services.ingest.amounts import EventAmounts
from services.ingest.enrichment import classify_user_agent
from services.ingest.model import IncomingEvent, RequestContext
from services.ingest.rows import StoredEvent, client_of, with_verdict

log = logging.getLogger("carthouse.ingest.fraud")

CHECK_METHOD = "/carthouse.v1.FraudService/Check"
CHECK_TIMEOUT_SECONDS = 2.0
# CARTHOUSE_FRAUD_TARGET=off: no fraud checking at all (to measure what it costs); events stored unmarked.
FRAUD_OFF = "off"
BLOCKED = 2
FRAUD_UNCHECKED = "fraud_unchecked_service_unavailable"


def _expected_minor(event: IncomingEvent, amounts: EventAmounts, currency: str) -> int | None:
    """Items subtotal (price x quantity - discount) + shipping + tax; None when an item has no price."""
    if not event.items:
        return None
    total = 0
    for index, item in enumerate(event.items):
        item_currency = item.currency or currency
        price = amounts.minor(f"items[{index}].price", item.price, item_currency)
        if price is None:
            return None
        quantity = 1 if item.quantity is None else int(item.quantity)
        total += price * quantity - (amounts.minor(f"items[{index}].discount", item.discount, item_currency) or 0)
    shipping = amounts.minor("shipping", event.shipping, currency) or 0
    return total + shipping + (amounts.minor("tax", event.tax, currency) or 0)


def checked_event(
    event: IncomingEvent,
    amounts: EventAmounts,
    event_time: datetime,
    request: RequestContext,
    secret_key: bool,
    base_currency: str,
    enrich: bool = True,
) -> fraud_pb2.CheckedEvent:
    currency = event.currency or base_currency
    ip, user_agent = client_of(event, request)
    checked = fraud_pb2.CheckedEvent(
        event_type=event.event_type,
        event_time_ms=int(event_time.timestamp() * 1000),
        user_id=event.user_id,
        anonymous_id=event.anonymous_id,
        transaction_id=event.transaction_id,
        event_id=event.event_id,
        currency=currency,
        ip=ip,
        # A secret-key sender is the merchant's server: only an address it passes in context is the client's.
        velocity_ip=event.context.get("ip", "") if secret_key else ip,
        user_agent=user_agent,
        bot=enrich and classify_user_agent(user_agent)[0] == "bot",
        user_agent_from_sender="user_agent" in event.context,
    )
    if event.revenue is not None:
        checked.revenue_minor = amounts.minor("revenue", event.revenue, currency)  # type: ignore[assignment]
    if event.event_type == "purchase":
        expected = _expected_minor(event, amounts, currency)
        if expected is not None:
            checked.expected_minor = expected
    return checked


def check_request(
    appspace_id: str, secret_key: bool, base_currency: str, settings: dict, events: Sequence[fraud_pb2.CheckedEvent]
) -> bytes:
    return fraud_pb2.CheckRequest(
        appspace_id=appspace_id,
        secret_key=secret_key,
        events=events,
        settings_json=json.dumps(settings),
        base_digits=minor_digits(base_currency),
        base_currency=base_currency,
    ).SerializeToString()


Verdicts = list[tuple[int, list[str]]]


class FraudClient:
    """Calls FraudService.Check with a request the workers already serialized (no re-encoding here)."""

    def __init__(self) -> None:
        self.target = ""
        self._channel: grpc.aio.Channel | None = None
        self._check = None
        self._last_warning = 0.0

    async def check(self, serialized: bytes, expected: int) -> Verdicts | None:
        """One verdict per event, or None when FraudService could not answer (logged)."""
        if self.target == FRAUD_OFF:
            return [(0, [])] * expected
        if not self.target:
            return None
        if self._check is None:
            self._channel = grpc.aio.insecure_channel(self.target)
            self._check = self._channel.unary_unary(
                CHECK_METHOD, request_serializer=None, response_deserializer=fraud_pb2.CheckResponse.FromString
            )
        try:
            response = await self._check(serialized, timeout=CHECK_TIMEOUT_SECONDS)
        except grpc.RpcError as exc:
            self._warn(f"FraudService at {self.target} did not answer ({exc.code().name}: {exc.details()})")
            return None
        if len(response.verdicts) != expected:
            self._warn(f"FraudService answered {len(response.verdicts)} verdicts for {expected} events")
            return None
        return [(v.severity, list(v.reasons)) for v in response.verdicts]

    def _warn(self, message: str) -> None:
        if time.monotonic() - self._last_warning > 10:
            self._last_warning = time.monotonic()
            log.warning("%s; storing events unchecked", message)

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()


def apply_verdicts(rows: Sequence[StoredEvent], verdicts: Verdicts | None) -> list[StoredEvent]:
    """The rows to store: blocked ones dropped (FraudService audited them), the others marked with their
    severity and reasons; with no verdicts, every row marked as unchecked."""
    if verdicts is None:
        return [with_verdict(row, 0, [FRAUD_UNCHECKED]) for row in rows]
    kept = []
    for row, (severity, reasons) in zip(rows, verdicts, strict=True):
        if severity == BLOCKED:
            continue
        kept.append(with_verdict(row, severity, reasons) if reasons else row)
    return kept
