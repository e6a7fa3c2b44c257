"""GET fraud-events: the fraud audit (fraud_events, written by ingest) of one appspace, newest first, in
pages with an opaque keyset token."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime

from carthouse.errors import InvalidArgument
from carthouse.store import Store
from services.analytics.queries.scope import PENDING_USERS, pending_users

# A blocked event is not deduplicated (it is stored nowhere else), so a client re-sending it adds an audit row each
# time, with the time of its request when it carries no timestamp. Rows of one audit key (the transaction, else the
# client's event id) are one caught event: the first caught is listed.
LIST_CAUGHT = """
SELECT toUnixTimestamp64Milli(event_time) AS event_time_ms, audit_key, severity, reasons, event_type, user_id,
       anonymous_id, transaction_id, event_id, revenue, currency, ip, user_agent
FROM (
    SELECT * FROM fraud_events FINAL
    WHERE appspace_id = {appspace:String}
      AND event_time >= {since:DateTime64(3, 'UTC')} AND event_time < {until:DateTime64(3, 'UTC')}
      AND ({severity:UInt8} = 0 OR severity = {severity:UInt8})
      AND """ + PENDING_USERS + """
    ORDER BY audit_key, caught_at
    LIMIT 1 BY audit_key
)
WHERE (event_time, audit_key) < (fromUnixTimestamp64Milli({after_ms:Int64}, 'UTC'), {after_key:String})
ORDER BY event_time DESC, audit_key DESC
LIMIT {limit:UInt32}
"""
# 2299-12-31T23:59:59Z, the end of DateTime64's range: "after" everything on the first page.
FIRST_PAGE = (10413791999000, "")
BAD_TOKEN = "page_token is not a token this endpoint returned"


@dataclass(frozen=True)
class Page:
    rows: list[dict]
    next_token: str


def _token(event_time_ms: int, audit_key: str) -> str:
    return base64.urlsafe_b64encode(f"{event_time_ms}:{audit_key}".encode()).decode()


def _read_token(token: str) -> tuple[int, str]:
    try:
        ms, key = base64.urlsafe_b64decode(token.encode()).decode().split(":", 1)
        return int(ms), key
    except ValueError:
        raise InvalidArgument(BAD_TOKEN) from None


def caught_events(
    store: Store, appspace_id: str, since: datetime, until: datetime, severity: int, limit: int, page_token: str
) -> Page:
    after_ms, after_key = _read_token(page_token) if page_token else FIRST_PAGE
    rows = store.query(LIST_CAUGHT, {
        "appspace": appspace_id, "since": since, "until": until, "severity": severity,
        "after_ms": after_ms, "after_key": after_key, "limit": limit + 1, "pending": pending_users(store, appspace_id),
    })
    if len(rows) <= limit:
        return Page(rows, "")
    last = rows[limit - 1]
    return Page(rows[:limit], _token(int(last["event_time_ms"]), last["audit_key"]))
