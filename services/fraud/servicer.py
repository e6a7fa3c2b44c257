"""FraudService servicer: the request's columns to the plain rule inputs, verdicts back (only for the events
something was found about; the rest are clean)."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence

import grpc

from carthouse.tenancy.fraud_settings import FraudSettings, could_fire
from carthouse.v1 import fraud_pb2, fraud_pb2_grpc
from services.fraud.rules import ScoredEvent, Verdict, bot_rule, currency_rule, revenue_rule, velocity_verdict
from services.fraud.velocity import VelocityCounter, VelocityUnavailable, Window

SERVICE_NAME = fraud_pb2.DESCRIPTOR.services_by_name["FraudService"].full_name
MINUTE_MS, HOUR_MS = 60_000, 3_600_000
VELOCITY_UNCHECKED = "velocity_unchecked_redis_unavailable"
COLUMNS = ("event_types", "event_times_ms", "actors", "transaction_ids", "currencies", "revenues_minor",
           "expected_minor", "velocity_ips", "bots", "user_agents_from_sender")


@functools.lru_cache(maxsize=4096)
def settings_from_json(text: str) -> FraudSettings:
    """An appspace's settings arrive with every batch, mostly unchanged: parsed once per distinct text."""
    return FraudSettings.from_overrides(json.loads(text or "{}"))


class BadRequest(ValueError):
    pass


def _columns(batch: fraud_pb2.EventBatch) -> dict[str, list]:
    columns = {name: list(getattr(batch, name)) for name in COLUMNS}
    if len({len(values) for values in columns.values()}) != 1:
        raise BadRequest("every column of an EventBatch must have one entry per event")
    return columns


def scored_event(columns: dict[str, list], index: int) -> ScoredEvent:
    revenue, expected = columns["revenues_minor"][index], columns["expected_minor"][index]
    return ScoredEvent(
        event_type=columns["event_types"][index],
        currency=columns["currencies"][index],
        revenue_minor=revenue if revenue >= 0 else None,
        expected_minor=expected if expected >= 0 else None,
        bot=columns["bots"][index],
        user_agent_from_sender=columns["user_agents_from_sender"][index],
    )


def suspects(columns: dict[str, list], settings: FraudSettings) -> list[int]:
    """Events a per-event rule could fire on (ingest already sends little else)."""
    return [i for i, (kind, bot) in enumerate(zip(columns["event_types"], columns["bots"], strict=True))
            if could_fire(kind, bot, settings)]


def velocity_windows(
    appspace_id: str, columns: dict[str, list], settings: FraudSettings
) -> list[tuple[Window, int, tuple[int, int], str]]:
    """(window, event index, limits, reason) for every purchase: per actor per minute, per address per hour."""
    windows = []
    for index, kind in enumerate(columns["event_types"]):
        if kind != "purchase":
            continue
        member, at = columns["transaction_ids"][index], columns["event_times_ms"][index]
        actor, ip = columns["actors"][index], columns["velocity_ips"][index]
        if actor:
            windows.append((Window(f"velocity:user:{appspace_id}:{actor}", member, at, MINUTE_MS), index,
                            settings.user_per_minute, "user_purchase_velocity"))
        if ip:
            windows.append((Window(f"velocity:ip:{appspace_id}:{ip}", member, at, HOUR_MS), index,
                            settings.ip_per_hour, "ip_purchase_velocity"))
    return windows


class FraudServicer(fraud_pb2_grpc.FraudServiceServicer):
    def __init__(self, velocity: VelocityCounter) -> None:
        self._velocity = velocity

    async def CheckEvents(
        self, request: fraud_pb2.CheckEventsRequest, context: grpc.aio.ServicerContext
    ) -> fraud_pb2.CheckEventsResponse:
        # A coroutine on the event loop: the work is short, and a thread hop per call would cost more.
        try:
            batches = [(batch, _columns(batch)) for batch in request.batches]
        except BadRequest as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        found: list[dict[int, Verdict]] = []
        windows: list[tuple[Window, int, int, tuple[int, int], str]] = []
        for number, (batch, columns) in enumerate(batches):
            settings = settings_from_json(batch.settings_json)
            found.append(per_event_rules(batch, columns, settings))
            windows += [(window, number, index, limits, reason)
                        for window, index, limits, reason in velocity_windows(batch.appspace_id, columns, settings)]
        self._velocity_rules(windows, found)
        return fraud_pb2.CheckEventsResponse(batches=[
            fraud_pb2.BatchVerdicts(verdicts=[
                fraud_pb2.Verdict(index=index, severity=v.severity, reasons=v.reasons)
                for index, v in sorted(verdicts.items())
            ])
            for verdicts in found
        ])

    def _velocity_rules(
        self, windows: Sequence[tuple[Window, int, int, tuple[int, int], str]], found: list[dict[int, Verdict]]
    ) -> None:
        """Every purchase of the call in one Redis round trip."""
        if not windows:
            return
        try:
            counts = self._velocity.record_and_count([window for window, _, _, _, _ in windows])
        except VelocityUnavailable:
            for _, number, index, _, _ in windows:
                verdict = found[number].setdefault(index, Verdict())
                if VELOCITY_UNCHECKED not in verdict.reasons:
                    verdict.reasons.append(VELOCITY_UNCHECKED)
            return
        for (_, number, index, limits, reason), count in zip(windows, counts, strict=True):
            if count > limits[0]:
                velocity_verdict(count, limits, reason, found[number].setdefault(index, Verdict()))


def per_event_rules(
    batch: fraud_pb2.EventBatch, columns: dict[str, list], settings: FraudSettings
) -> dict[int, Verdict]:
    """Bot, revenue and currency rules on the events they could fire on."""
    found: dict[int, Verdict] = {}
    for index in suspects(columns, settings):
        event = scored_event(columns, index)
        verdict = Verdict()
        bot_rule(event, batch.secret_key, settings, verdict)
        revenue_rule(event, settings, batch.base_digits, verdict)
        currency_rule(event, settings, verdict)
        if verdict.reasons:
            found[index] = verdict
    return found
