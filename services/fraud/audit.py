"""The fraud audit table (fraud_events), owned by FraudService: written by Check for every flagged or
blocked event, read back page by page, newest first."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from carthouse.store import Store

COLUMNS = (
    "appspace_id", "event_time", "audit_key", "caught_at", "severity", "reasons", "event_type", "user_id",
    "anonymous_id", "transaction_id", "event_id", "revenue", "base_digits", "currency", "ip", "user_agent",
    "key_kind",
)
MAX_PAGE = 1000


@dataclass(frozen=True, slots=True)
class CaughtRow:
    """One audit row in COLUMNS order, plain values."""

    appspace_id: str
    event_time_ms: int
    severity: int
    reasons: Sequence[str]
    event_type: str
    user_id: str
    anonymous_id: str
    transaction_id: str
    event_id: str
    revenue_minor: int | None
    base_digits: int
    currency: str
    ip: str
    user_agent: str
    key_kind: str

    @property
    def audit_key(self) -> str:
        """The same event sent again replaces its row: orders by transaction, others by the client's id."""
        if self.transaction_id and self.event_type in ("purchase", "refund"):
            return f"{self.event_type}:{self.transaction_id}"
        if self.event_id:
            return f"id:{self.event_id}"
        return uuid.uuid4().hex


def clickhouse_time_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def record(store: Store, rows: Sequence[CaughtRow], caught_at_ms: int) -> None:
    caught_at = clickhouse_time_ms(caught_at_ms)
    store.insert_rows("fraud_events", COLUMNS, [
        orjson.dumps([
            r.appspace_id, clickhouse_time_ms(r.event_time_ms), r.audit_key, caught_at, r.severity, list(r.reasons),
            r.event_type, r.user_id, r.anonymous_id, r.transaction_id, r.event_id, r.revenue_minor,
            r.base_digits, r.currency, r.ip, r.user_agent, r.key_kind,
        ])
        for r in rows
    ])


LIST_CAUGHT = """
SELECT {columns}, toUnixTimestamp64Milli(event_time) AS event_time_ms
FROM fraud_events FINAL
WHERE appspace_id = {{appspace:String}}
  AND event_time >= fromUnixTimestamp64Milli({{since:Int64}}, 'UTC')
  AND event_time < fromUnixTimestamp64Milli({{until:Int64}}, 'UTC')
  AND ({{severity:UInt8}} = 0 OR severity = {{severity:UInt8}})
  AND (event_time, audit_key) < (fromUnixTimestamp64Milli({{after_ms:Int64}}, 'UTC'), {{after_key:String}})
ORDER BY event_time DESC, audit_key DESC
LIMIT {{limit:UInt32}}
""".format(columns=", ".join(c for c in COLUMNS if c != "event_time"))

FAR_FUTURE_MS = 10413791999000  # 2299-12-31T23:59:59Z, the end of DateTime64's range


class BadPageToken(ValueError):
    pass


def _page_token(event_time_ms: int, audit_key: str) -> str:
    return base64.urlsafe_b64encode(f"{event_time_ms}:{audit_key}".encode()).decode()


def _read_page_token(token: str) -> tuple[int, str]:
    try:
        ms, key = base64.urlsafe_b64decode(token.encode()).decode().split(":", 1)
        return int(ms), key
    except ValueError:
        raise BadPageToken("page_token is not a token this endpoint returned") from None


def list_caught(
    store: Store, appspace_id: str, since_ms: int, until_ms: int, severity: int, limit: int, page_token: str
) -> tuple[list[dict], str]:
    """One page, newest first, and the token of the next page ('' on the last)."""
    after_ms, after_key = _read_page_token(page_token) if page_token else (FAR_FUTURE_MS, "")
    rows = store.query(LIST_CAUGHT, {
        "appspace": appspace_id, "since": since_ms, "until": until_ms or FAR_FUTURE_MS, "severity": severity,
        "after_ms": after_ms, "after_key": after_key, "limit": limit + 1,
    })
    if len(rows) <= limit:
        return rows, ""
    last = rows[limit - 1]
    return rows[:limit], _page_token(int(last["event_time_ms"]), last["audit_key"])
