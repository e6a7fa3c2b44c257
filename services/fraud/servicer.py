"""FraudService servicer: protobuf to the plain rule inputs, verdicts back."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import grpc

from carthouse.money import decimal_from_json
from carthouse.v1 import events_pb2, fraud_pb2, fraud_pb2_grpc
from services.fraud.rules import (
    FraudSettings,
    ScoredEvent,
    Verdict,
    bot_rule,
    currency_rule,
    revenue_rule,
    velocity_verdict,
)
from services.fraud.velocity import VelocityCounter, VelocityUnavailable

SERVICE_NAME = fraud_pb2.DESCRIPTOR.services_by_name["FraudService"].full_name


def _amount(message, name: str) -> Decimal | None:
    return decimal_from_json(getattr(message, name)) if message.HasField(name) else None


def _items_subtotal(event: events_pb2.EcommerceEvent) -> Decimal | None:
    """Σ price × quantity − item discounts in the event's currency; None when an item has no price or another
    currency (the comparison would need conversion)."""
    if not event.items:
        return None
    total = Decimal(0)
    for item in event.items:
        if not item.HasField("price") or (item.currency and item.currency.upper() != event.currency.upper()):
            return None
        quantity = Decimal(int(item.quantity)) if item.HasField("quantity") else Decimal(1)
        total += decimal_from_json(item.price) * quantity - (_amount(item, "discount") or 0)
    return total


def scored_event(checked: fraud_pb2.CheckedEvent, base_digits: int) -> ScoredEvent:
    event = checked.event
    return ScoredEvent(
        event_type=event.event_type,
        currency=event.currency.upper(),
        revenue=Decimal(checked.revenue_minor).scaleb(-base_digits) if event.HasField("revenue") else None,
        revenue_original=_amount(event, "revenue"),
        items_subtotal=_items_subtotal(event),
        shipping=_amount(event, "shipping") or Decimal(0),
        tax=_amount(event, "tax") or Decimal(0),
        device_type=checked.device_type,
        user_agent_from_sender=bool(event.context.user_agent),
    )


class FraudServicer(fraud_pb2_grpc.FraudServiceServicer):
    def __init__(self, velocity: VelocityCounter) -> None:
        self._velocity = velocity

    def Check(self, request: fraud_pb2.CheckRequest, context: grpc.ServicerContext) -> fraud_pb2.CheckResponse:
        settings = FraudSettings.from_overrides(json.loads(request.settings_json or "{}"))
        return fraud_pb2.CheckResponse(
            verdicts=[self._verdict(request, checked, settings) for checked in request.events]
        )

    def _verdict(
        self, request: fraud_pb2.CheckRequest, checked: fraud_pb2.CheckedEvent, settings: FraudSettings
    ) -> fraud_pb2.Verdict:
        event = scored_event(checked, request.base_digits)
        verdict = Verdict()
        bot_rule(event, request.secret_key, settings, verdict)
        revenue_rule(event, settings, verdict)
        currency_rule(event, settings, verdict)
        if event.event_type == "purchase":
            self._velocity_rules(request, checked, settings, verdict)
        return fraud_pb2.Verdict(severity=verdict.severity, reasons=verdict.reasons)

    def _velocity_rules(
        self,
        request: fraud_pb2.CheckRequest,
        checked: fraud_pb2.CheckedEvent,
        settings: FraudSettings,
        verdict: Verdict,
    ) -> None:
        event = checked.event
        moment = datetime.fromisoformat(checked.event_time) if checked.event_time else datetime.now(UTC)
        user = event.user_id or event.anonymous_id
        # A secret-key sender is the merchant's server: only an address it passes in context is the client's.
        ip = event.context.ip if request.secret_key else (event.context.ip or checked.ip)
        try:
            if user:
                count = self._velocity.record_and_count(f"velocity:user:{request.appspace_id}:{user}", moment, 60)
                velocity_verdict(count, settings.user_per_minute, "user_purchase_velocity", verdict)
            if ip:
                count = self._velocity.record_and_count(f"velocity:ip:{request.appspace_id}:{ip}", moment, 3600)
                velocity_verdict(count, settings.ip_per_hour, "ip_purchase_velocity", verdict)
        except VelocityUnavailable:
            verdict.reasons.append("velocity_unchecked_redis_unavailable")
