"""Ingest's side of fraud checking. The preparation workers describe each request's valid events for
FraudService (a serialized EventBatch); the pipeline sends the batches of concurrent requests in one CheckEvents,
then marks flagged and blocked rows; blocked ones go to the fraud audit only (migration 0008). If FraudService cannot
answer, events are stored unflagged with a reason: fraud checking never costs an acknowledged event."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import grpc

from carthouse.logs import Throttled
from carthouse.money import minor_digits
from carthouse.tenancy.fraud_settings import FraudSettings, could_fire
from carthouse.v1 import fraud_pb2
from services.ingest.amounts import EventAmounts
from services.ingest.enrichment import classify_user_agent
from services.ingest.model import IncomingEvent, RequestContext
from services.ingest.rows import StoredEvent, client_of, with_verdict

log = logging.getLogger("carthouse.ingest.fraud")

CHECK_METHOD = "/carthouse.v1.FraudService/CheckEvents"
CHECK_TIMEOUT_SECONDS = 2.0
BLOCKED = 2
FRAUD_UNCHECKED = "fraud_unchecked_service_unavailable"

Verdicts = list[tuple[int, list[str]]]


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


COLUMNS = ("event_types", "event_times_ms", "actors", "transaction_ids", "currencies", "revenues_minor",
           "expected_minor", "velocity_ips", "bots", "user_agents_from_sender")


class CheckColumns:
    """The EventBatch of one ingest request, built column by column as events are prepared. Only events a rule
    could catch go in (``could_fire``: purchases, bots, or all under a currency list); ``rows`` says which row
    each one is."""

    def __init__(self, settings: FraudSettings) -> None:
        self._settings = settings
        self.rows: list[int] = []
        self.event_types: list[str] = []
        self.event_times_ms: list[int] = []
        self.actors: list[str] = []
        self.transaction_ids: list[str] = []
        self.currencies: list[str] = []
        self.revenues_minor: list[int] = []
        self.expected_minor: list[int] = []
        self.velocity_ips: list[str] = []
        self.bots: list[bool] = []
        self.user_agents_from_sender: list[bool] = []

    def __len__(self) -> int:
        return len(self.event_types)

    def add(
        self,
        row: int,
        event: IncomingEvent,
        amounts: EventAmounts,
        event_time: datetime,
        request: RequestContext,
        secret_key: bool,
        base_currency: str,
        enrich: bool = True,
    ) -> None:
        ip, user_agent = client_of(event, request)
        bot = enrich and classify_user_agent(user_agent)[0] == "bot"
        if not could_fire(event.event_type, bot, self._settings):
            return
        currency = event.currency or base_currency
        self.rows.append(row)
        self.event_types.append(event.event_type)
        self.event_times_ms.append(int(event_time.timestamp() * 1000))
        self.actors.append(event.user_id or event.anonymous_id)
        self.transaction_ids.append(event.transaction_id)
        self.currencies.append(currency)
        revenue = amounts.minor("revenue", event.revenue, currency)
        self.revenues_minor.append(-1 if revenue is None else revenue)
        expected = _expected_minor(event, amounts, currency) if event.event_type == "purchase" else None
        self.expected_minor.append(-1 if expected is None else expected)
        # A secret-key sender is the merchant's server: only an address it passes in context is the client's.
        self.velocity_ips.append(event.context.get("ip", "") if secret_key else ip)
        self.bots.append(bot)
        self.user_agents_from_sender.append("user_agent" in event.context)

    def serialized(self, appspace_id: str, secret_key: bool, base_currency: str, settings: dict) -> bytes:
        """The serialized EventBatch."""
        return fraud_pb2.EventBatch(
            appspace_id=appspace_id, secret_key=secret_key, settings_json=json.dumps(settings),
            base_digits=minor_digits(base_currency), **{name: getattr(self, name) for name in COLUMNS},
        ).SerializeToString()


def _length_delimited(field_number: int, payload: bytes) -> bytes:
    """A protobuf length-delimited field: serialized messages of a repeated field concatenate into their
    parent's serialization, so gathered batches need no re-encoding."""
    size, prefix = len(payload), bytearray([field_number << 3 | 2])
    while size > 0x7F:
        prefix.append(size & 0x7F | 0x80)
        size >>= 7
    prefix.append(size)
    return bytes(prefix) + payload


class FraudChecker(Protocol):
    """What the pipeline asks for each request's events: FraudClient, or what a benchmark injects."""

    async def check(self, batch: bytes, events: int) -> Verdicts | None: ...


class FraudClient:
    """Sends the event batches of concurrent ingest requests to FraudService.CheckEvents together: requests wait up
    to GATHER_SECONDS for company (the group-commit writer waits up to 100 ms anyway), so one call covers many."""

    GATHER_SECONDS = 0.05

    def __init__(self, target: str) -> None:
        self.target = target
        self._call = None
        self._waiting: list[tuple[bytes, int, asyncio.Future[Verdicts | None]]] = []
        self._warnings = Throttled(log)

    async def check(self, batch: bytes, events: int) -> Verdicts | None:
        """One verdict per event of a serialized EventBatch, or None when FraudService could not answer."""
        if not self.target:
            self._warn("no FraudService address configured")
            return None
        future: asyncio.Future[Verdicts | None] = asyncio.get_running_loop().create_future()
        self._waiting.append((batch, events, future))
        if len(self._waiting) == 1:
            asyncio.get_running_loop().call_later(self.GATHER_SECONDS, lambda: asyncio.ensure_future(self._send()))
        return await future

    async def _send(self) -> None:
        gathered, self._waiting = self._waiting, []
        if not gathered:
            return
        if self._call is None:
            channel = grpc.aio.insecure_channel(self.target)
            self._call = channel.unary_unary(CHECK_METHOD, request_serializer=None,
                                             response_deserializer=fraud_pb2.CheckEventsResponse.FromString)
        payload = b"".join(_length_delimited(1, batch) for batch, _, _ in gathered)
        try:
            response = await self._call(payload, timeout=CHECK_TIMEOUT_SECONDS)
            if len(response.batches) != len(gathered):
                raise ValueError(f"{len(response.batches)} answers for {len(gathered)} batches")
            answers = [_dense(answer, events) for answer, (_, events, _) in zip(response.batches, gathered,
                                                                                   strict=True)]
        except (grpc.RpcError, ValueError, IndexError) as exc:
            self._warn(f"FraudService at {self.target} did not answer: {exc}")
            answers = [None] * len(gathered)
        for (_, _, future), answer in zip(gathered, answers, strict=True):
            if not future.done():
                future.set_result(answer)

    def _warn(self, message: str) -> None:
        self._warnings.warning("unchecked", "%s; storing events unchecked", message)


def _dense(answer: fraud_pb2.BatchVerdicts, events: int) -> Verdicts:
    verdicts: Verdicts = [(0, [])] * events
    for verdict in answer.verdicts:
        verdicts[verdict.index] = (verdict.severity, list(verdict.reasons))
    return verdicts


@dataclass
class Screened:
    # Rows for the analytics tables: clean, and flagged ones marked with their severity and reasons.
    rows: list[StoredEvent] = field(default_factory=list)
    # Blocked rows, marked severity 2: written in the same INSERT, they reach only the fraud audit (migration 0008).
    blocked: list[StoredEvent] = field(default_factory=list)


def per_row(rows: int, checked_rows: Sequence[int], found: Verdicts | None) -> Verdicts:
    """FraudService's verdicts (for the checked rows only) spread over all rows; rows nothing could catch are
    clean; checked rows FraudService did not answer for are marked unchecked."""
    verdicts: Verdicts = [(0, [])] * rows
    for position, row in enumerate(checked_rows):
        verdicts[row] = found[position] if found is not None else (0, [FRAUD_UNCHECKED])
    return verdicts


def apply_verdicts(rows: Sequence[StoredEvent], verdicts: Verdicts) -> Screened:
    """The rows marked with their verdicts, blocked ones apart. Flagged and blocked rows reach the fraud audit
    through its materialized view."""
    screened = Screened()
    for row, (severity, reasons) in zip(rows, verdicts, strict=True):
        marked = with_verdict(row, severity, reasons) if reasons else row
        (screened.blocked if severity == BLOCKED else screened.rows).append(marked)
    return screened
