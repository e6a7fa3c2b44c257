"""FraudService servicer: protobuf to the plain rule inputs, verdicts and audit rows back."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

import grpc

from carthouse.errors import InvalidArgument
from carthouse.store import Store
from carthouse.tenancy.fraud_settings import FraudSettings
from carthouse.tenancy.repository import rfc3339
from carthouse.v1 import fraud_pb2, fraud_pb2_grpc
from services.fraud import audit
from services.fraud.rules import (
    CLEAN,
    ScoredEvent,
    Verdict,
    bot_rule,
    currency_rule,
    revenue_rule,
    velocity_verdict,
)
from services.fraud.velocity import VelocityCounter, VelocityUnavailable, Window

SERVICE_NAME = fraud_pb2.DESCRIPTOR.services_by_name["FraudService"].full_name
MINUTE_MS, HOUR_MS = 60_000, 3_600_000
VELOCITY_UNCHECKED = "velocity_unchecked_redis_unavailable"


def scored_event(checked: fraud_pb2.CheckedEvent) -> ScoredEvent:
    return ScoredEvent(
        event_type=checked.event_type,
        currency=checked.currency,
        revenue_minor=checked.revenue_minor if checked.HasField("revenue_minor") else None,
        expected_minor=checked.expected_minor if checked.HasField("expected_minor") else None,
        bot=checked.bot,
        user_agent_from_sender=checked.user_agent_from_sender,
    )


def caught_row(request: fraud_pb2.CheckRequest, checked: fraud_pb2.CheckedEvent, verdict: Verdict) -> audit.CaughtRow:
    return audit.CaughtRow(
        appspace_id=request.appspace_id,
        event_time_ms=checked.event_time_ms,
        severity=verdict.severity,
        reasons=verdict.reasons,
        event_type=checked.event_type,
        user_id=checked.user_id,
        anonymous_id=checked.anonymous_id,
        transaction_id=checked.transaction_id,
        event_id=checked.event_id,
        revenue_minor=checked.revenue_minor if checked.HasField("revenue_minor") else None,
        base_digits=request.base_digits,
        currency=checked.currency,
        ip=checked.ip,
        user_agent=checked.user_agent,
        key_kind="secret" if request.secret_key else "publishable",
    )


def caught_to_proto(row: dict) -> fraud_pb2.CaughtEvent:
    caught = fraud_pb2.CaughtEvent(
        status="blocked" if row["severity"] == 2 else "flagged",
        severity=row["severity"],
        reasons=row["reasons"],
        event_type=row["event_type"],
        timestamp=rfc3339(audit.clickhouse_time_ms(int(row["event_time_ms"]))),
        caught_at=rfc3339(row["caught_at"]),
        user_id=row["user_id"],
        anonymous_id=row["anonymous_id"],
        transaction_id=row["transaction_id"],
        event_id=row["event_id"],
        currency=row["currency"],
        ip=row["ip"],
        user_agent=row["user_agent"],
        key_kind=row["key_kind"],
    )
    if row["revenue"] is not None:
        caught.revenue = int(row["revenue"]) / 10 ** int(row["base_digits"])
    return caught


class FraudServicer(fraud_pb2_grpc.FraudServiceServicer):
    def __init__(self, velocity: VelocityCounter, store: Store) -> None:
        self._velocity = velocity
        self._store = store

    def Check(self, request: fraud_pb2.CheckRequest, context: grpc.ServicerContext) -> fraud_pb2.CheckResponse:
        settings = FraudSettings.from_overrides(json.loads(request.settings_json or "{}"))
        verdicts = []
        for checked in request.events:
            event = scored_event(checked)
            verdict = Verdict()
            bot_rule(event, request.secret_key, settings, verdict)
            revenue_rule(event, settings, request.base_digits, verdict)
            currency_rule(event, settings, verdict)
            verdicts.append(verdict)
        self._velocity_rules(request, settings, verdicts)
        caught = [caught_row(request, checked, verdict)
                  for checked, verdict in zip(request.events, verdicts, strict=True) if verdict.severity != CLEAN]
        if caught:
            audit.record(self._store, caught, int(time.time() * 1000))
        return fraud_pb2.CheckResponse(
            verdicts=[fraud_pb2.Verdict(severity=v.severity, reasons=v.reasons) for v in verdicts]
        )

    def _velocity_rules(
        self, request: fraud_pb2.CheckRequest, settings: FraudSettings, verdicts: Sequence[Verdict]
    ) -> None:
        """Purchases per user per minute and per client address per hour, all of the request in one call."""
        windows: list[tuple[Window, int, tuple[int, int], str]] = []
        for index, checked in enumerate(request.events):
            if checked.event_type != "purchase":
                continue
            member, at = checked.transaction_id, checked.event_time_ms
            user = checked.user_id or checked.anonymous_id
            if user:
                key = f"velocity:user:{request.appspace_id}:{user}"
                windows.append((Window(key, member, at, MINUTE_MS), index, settings.user_per_minute,
                                "user_purchase_velocity"))
            if checked.velocity_ip:
                key = f"velocity:ip:{request.appspace_id}:{checked.velocity_ip}"
                windows.append((Window(key, member, at, HOUR_MS), index, settings.ip_per_hour,
                                "ip_purchase_velocity"))
        if not windows:
            return
        try:
            counts = self._velocity.record_and_count([window for window, _, _, _ in windows])
        except VelocityUnavailable:
            for index in sorted({index for _, index, _, _ in windows}):
                verdicts[index].reasons.append(VELOCITY_UNCHECKED)
            return
        for (_, index, limits, reason), count in zip(windows, counts, strict=True):
            velocity_verdict(count, limits, reason, verdicts[index])

    def ListCaught(
        self, request: fraud_pb2.ListCaughtRequest, context: grpc.ServicerContext
    ) -> fraud_pb2.ListCaughtResponse:
        if not 1 <= request.limit <= audit.MAX_PAGE:
            raise InvalidArgument(f"limit must be between 1 and {audit.MAX_PAGE}")
        if request.severity not in (0, 1, 2):
            raise InvalidArgument("severity must be 1 (flagged), 2 (blocked) or 0 (both)")
        try:
            rows, next_token = audit.list_caught(
                self._store, request.appspace_id, request.since_ms, request.until_ms, request.severity,
                request.limit, request.page_token,
            )
        except audit.BadPageToken as exc:
            raise InvalidArgument(str(exc)) from None
        return fraud_pb2.ListCaughtResponse(events=[caught_to_proto(r) for r in rows], next_page_token=next_token)
