"""Ingest's side of fraud checking, run in the preparation workers: describe each valid event for
FraudService, send one Check per ingest request (a blocking call is fine in a worker process; the gRPC event
loop never waits on it), then drop blocked rows, mark flagged ones, and write both to the fraud audit. If
FraudService cannot answer, events are stored unflagged with a reason: fraud checking never costs an
acknowledged event."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import grpc
import orjson

from carthouse.money import minor_digits
from carthouse.v1 import fraud_pb2, fraud_pb2_grpc
from services.ingest.amounts import EventAmounts
from services.ingest.enrichment import classify_user_agent
from services.ingest.model import IncomingEvent, RequestContext
from services.ingest.rows import EVENT_COLUMNS, StoredEvent, client_of, with_verdict

log = logging.getLogger("carthouse.ingest.fraud")

CHECK_TIMEOUT_SECONDS = 2.0
# CARTHOUSE_FRAUD_TARGET=off: no fraud checking at all (to measure what it costs); events stored unmarked.
FRAUD_OFF = "off"
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


class CheckColumns:
    """The CheckRequest of one ingest request, built column by column as events are prepared."""

    def __init__(self) -> None:
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
        event: IncomingEvent,
        amounts: EventAmounts,
        event_time: datetime,
        request: RequestContext,
        secret_key: bool,
        base_currency: str,
        enrich: bool = True,
    ) -> None:
        currency = event.currency or base_currency
        ip, user_agent = client_of(event, request)
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
        self.bots.append(enrich and classify_user_agent(user_agent)[0] == "bot")
        self.user_agents_from_sender.append("user_agent" in event.context)

    def request(self, appspace_id: str, secret_key: bool, base_currency: str, settings: dict) -> fraud_pb2.CheckRequest:
        return fraud_pb2.CheckRequest(
            appspace_id=appspace_id, secret_key=secret_key, settings_json=json.dumps(settings),
            base_digits=minor_digits(base_currency), **vars(self),
        )


_STUBS: dict[str, fraud_pb2_grpc.FraudServiceStub] = {}
_last_warning = 0.0


def check(target: str, request: fraud_pb2.CheckRequest, events: int) -> Verdicts | None:
    """One verdict per event, or None when FraudService could not answer (logged, at most every 10 s)."""
    if target == FRAUD_OFF:
        return [(0, [])] * events
    try:
        stub = _STUBS.get(target)
        if stub is None:
            if not target:
                raise ValueError("no FraudService address configured")
            stub = _STUBS[target] = fraud_pb2_grpc.FraudServiceStub(grpc.insecure_channel(target))
        response = stub.Check(request, timeout=CHECK_TIMEOUT_SECONDS)
        verdicts: Verdicts = [(0, [])] * events
        for verdict in response.verdicts:
            verdicts[verdict.index] = (verdict.severity, list(verdict.reasons))
    except (grpc.RpcError, ValueError, IndexError) as exc:
        _warn(f"FraudService at {target or '(none)'} did not answer: {exc}")
        return None
    return verdicts


def _warn(message: str) -> None:
    global _last_warning
    if time.monotonic() - _last_warning > 10:
        _last_warning = time.monotonic()
        log.warning("%s; storing events unchecked", message)


_AT = {name: EVENT_COLUMNS.index(name) for name in (
    "appspace_id", "event_time", "client_event_id", "event_type", "user_id", "anonymous_id", "transaction_id",
    "revenue", "currency", "ip", "user_agent", "key_kind",
)}
AUDIT_COLUMNS = (
    "appspace_id", "event_time", "audit_key", "caught_at", "severity", "reasons", "event_type", "user_id",
    "anonymous_id", "transaction_id", "event_id", "revenue", "currency", "ip", "user_agent", "key_kind",
)


def audit_line(stored: StoredEvent, severity: int, reasons: list[str], caught_at: str) -> bytes:
    """The fraud_events row (AUDIT_COLUMNS) of a caught event, from its events row."""
    row = orjson.loads(stored.line)
    value = {name: row[index] for name, index in _AT.items()}
    if value["transaction_id"] and value["event_type"] in ("purchase", "refund"):
        audit_key = f"{value['event_type']}:{value['transaction_id']}"
    elif value["client_event_id"]:
        audit_key = f"id:{value['client_event_id']}"
    else:  # nothing identifies a re-send: a row of its own
        audit_key = uuid.uuid4().hex
    return orjson.dumps([
        value["appspace_id"], value["event_time"], audit_key, caught_at, severity, reasons, value["event_type"],
        value["user_id"], value["anonymous_id"], value["transaction_id"], value["client_event_id"],
        value["revenue"], value["currency"], value["ip"], value["user_agent"], value["key_kind"],
    ])


@dataclass
class Screened:
    rows: list[StoredEvent] = field(default_factory=list)
    audits: list[bytes] = field(default_factory=list)


def apply_verdicts(rows: Sequence[StoredEvent], verdicts: Verdicts | None, caught_at: str) -> Screened:
    """The rows to store (blocked ones dropped, the others marked with their severity and reasons) and the
    audit rows of flagged and blocked ones; with no verdicts, every row marked as unchecked."""
    if verdicts is None:
        return Screened(rows=[with_verdict(row, 0, [FRAUD_UNCHECKED]) for row in rows])
    screened = Screened()
    for row, (severity, reasons) in zip(rows, verdicts, strict=True):
        if severity:
            screened.audits.append(audit_line(row, severity, reasons, caught_at))
        if severity != BLOCKED:
            screened.rows.append(with_verdict(row, severity, reasons) if reasons else row)
    return screened
