"""The server-side client: events go into a bounded queue and a background thread sends them in batches; every
event carries an event_id made when it is queued, so a retried batch is never stored twice."""

from __future__ import annotations

import atexit
import logging
import queue
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from carthouse_sdk.results import (
    Attribution,
    CartAbandonment,
    Cohorts,
    Funnel,
    Overview,
    RevenueByChannel,
    RevenueByCountry,
    RevenueByCoupon,
    RevenueByDevice,
    RevenueByPlatform,
    RevenueTimeseries,
    TopProducts,
    UserJourney,
    from_json,
)

log = logging.getLogger("carthouse_sdk")

BATCH_PATH = "/v1/api/analytics/ecommerce/batch"
MAX_BATCH = 100  # the API's limit per request
RETRIED = {408, 429}
# on_error(message, events): what was not stored, and why (the server's error, or the last failure).
ErrorHandler = Callable[[str, list[dict[str, Any]]], None]


@dataclass
class Stats:
    sent: int = 0
    dropped: int = 0
    failed: int = 0
    retries: int = 0  # requests sent again after a network error, 5xx, 408 or 429


@dataclass
class _Flush:
    done: threading.Event = field(default_factory=threading.Event)


class Client:
    """``Client(secret_key, endpoint)``: ``track``/``batch`` queue events, ``flush()`` waits until they are sent,
    ``shutdown()`` sends what is left and stops; the analytics methods return plain dataclasses.

    - ``flush_at`` events or ``flush_interval`` seconds, whichever comes first, make a batch (at most 100).
    - ``max_queue`` events wait at most; past that an event is dropped with a warning (``stats.dropped``).
    - Network errors, 5xx, 408 and 429 are retried ``max_tries`` times in all, with exponential backoff and
      jitter, waiting at least what Retry-After or RateLimit-Reset says.
    - ``sync_mode``: every call sends at once and returns when the server answered (serverless functions).
    - ``disabled``: nothing is sent (tests of the shop's own code).
    - ``context``: ``ip`` and ``user_agent`` of the shop's own visitor, passed with each event when given.
    """

    def __init__(self, secret_key: str, endpoint: str = "http://127.0.0.1:8080", *, flush_at: int = 100,
                 flush_interval: float = 1.0, max_queue: int = 10_000, max_tries: int = 5, timeout: float = 10.0,
                 sync_mode: bool = False, disabled: bool = False, on_error: ErrorHandler | None = None,
                 backoff_base: float = 0.5, backoff_max: float = 30.0) -> None:
        self._http = httpx.Client(base_url=endpoint, timeout=timeout,
                                  headers={"X-API-Key": secret_key, "User-Agent": "carthouse-python-sdk/0.1"})
        self._flush_at = max(1, min(flush_at, MAX_BATCH))
        self._interval = flush_interval
        self._tries = max(1, max_tries)
        self._backoff = (backoff_base, backoff_max)
        self._sync = sync_mode
        self._disabled = disabled
        self._on_error = on_error
        self._queue: queue.Queue[dict[str, Any] | _Flush | None] = queue.Queue(maxsize=max_queue)
        self.stats = Stats()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        if not (sync_mode or disabled):
            self._thread = threading.Thread(target=self._run, name="carthouse-sdk", daemon=True)
            self._thread.start()
            atexit.register(self.shutdown, 5.0)

    # ------------------------------------------------------------------ events

    def track(self, event_type: str, *, context: dict[str, str] | None = None, **fields: Any) -> str:
        """Queue one event (the API's fields as keyword arguments); answers its event_id."""
        event = {"event_type": event_type, **fields}
        event.setdefault("event_id", str(uuid.uuid4()))
        event.setdefault("timestamp", datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"))
        if context:
            event["context"] = context
        self._enqueue(event)
        return event["event_id"]

    def batch(self, events: list[dict[str, Any]]) -> None:
        """Queue events given as the API's JSON objects."""
        for event in events:
            self.track(**event)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every event queued so far was sent (or given up on); False if ``timeout`` came first."""
        if self._thread is None:
            return True
        marker = _Flush()
        self._queue.put(marker)
        return marker.done.wait(timeout)

    def shutdown(self, timeout: float | None = 30.0) -> None:
        """Send what is queued (for at most ``timeout`` seconds) and stop."""
        if self._thread is not None and self._thread.is_alive():
            self.flush(timeout)
            self._queue.put(None)
            self._thread.join(timeout)
        self._http.close()

    def _enqueue(self, event: dict[str, Any]) -> None:
        if self._disabled:
            return
        if self._sync:
            self._send([event])
            return
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            with self._lock:
                self.stats.dropped += 1
            log.warning("carthouse: queue full (%d events); an event was dropped", self._queue.maxsize)

    # ------------------------------------------------------------------ the sender

    def _run(self) -> None:
        pending: list[dict[str, Any]] = []
        flushes: list[_Flush] = []
        deadline = time.monotonic() + self._interval
        while True:
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                item = _Flush()  # the interval is up
            if item is None:
                self._send_all(pending)
                return
            if isinstance(item, _Flush):
                flushes.append(item)
            else:
                pending.append(item)
            if flushes or len(pending) >= self._flush_at:
                self._send_all(pending)
                pending = []
                for marker in flushes:
                    marker.done.set()
                flushes = []
                deadline = time.monotonic() + self._interval

    def _send_all(self, events: list[dict[str, Any]]) -> None:
        for start in range(0, len(events), MAX_BATCH):
            self._send(events[start:start + MAX_BATCH])

    def _send(self, events: list[dict[str, Any]]) -> None:
        if not events:
            return
        problem = ""
        for attempt in range(self._tries):
            try:
                response = self._http.post(BATCH_PATH, json={"events": events})
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
                self._wait(attempt, None)
                continue
            if response.status_code == 200:
                self._accepted(events, response.json())
                return
            problem = _error_of(response)
            if response.status_code < 500 and response.status_code not in RETRIED:
                break  # the server refused the batch: sending it again changes nothing
            self._wait(attempt, response)
        with self._lock:
            self.stats.failed += len(events)
        self._report(problem, events)

    def _accepted(self, events: list[dict[str, Any]], body: dict[str, Any]) -> None:
        errors = body.get("errors") or []
        with self._lock:
            self.stats.sent += len(events) - len(errors)
            self.stats.failed += len(errors)
        for error in errors:
            index, _, message = error.partition(": ")
            position = index.removeprefix("events[").removesuffix("]")
            refused = [events[int(position)]] if position.isdigit() and int(position) < len(events) else []
            self._report(message or error, refused)

    def _wait(self, attempt: int, response: httpx.Response | None) -> None:
        if attempt == self._tries - 1:
            return
        with self._lock:
            self.stats.retries += 1
        base, cap = self._backoff
        delay = min(cap, base * 2 ** attempt) * (0.5 + random.random() / 2)
        delay = max(delay, _server_wait(response))
        time.sleep(delay)

    def _report(self, message: str, events: list[dict[str, Any]]) -> None:
        if self._on_error is not None:
            try:
                self._on_error(message, events)
            except Exception:  # the shop's handler must not stop the sender
                log.exception("carthouse: on_error raised")
        else:
            log.warning("carthouse: %d event(s) not stored: %s", len(events), message)

    # ------------------------------------------------------------------ analytics and deletion

    def _get(self, path: str, **params: Any) -> dict[str, Any]:
        response = self._http.get(f"/v1/api/analytics/ecommerce/{path}",
                                  params={k: v for k, v in params.items() if v is not None})
        if response.status_code != 200:
            raise CarthouseError(response.status_code, _error_of(response))
        return response.json()

    def overview(self, days: int | None = None, start: str | None = None, end: str | None = None) -> Overview:
        return from_json(Overview, self._get("overview", days=days, start=start, end=end))

    def revenue_timeseries(self, days: int | None = None, start: str | None = None,
                           end: str | None = None) -> RevenueTimeseries:
        return from_json(RevenueTimeseries, self._get("revenue-timeseries", days=days, start=start, end=end))

    def revenue_by_channel(self, days: int | None = None, start: str | None = None,
                           end: str | None = None) -> RevenueByChannel:
        return from_json(RevenueByChannel, self._get("revenue-by-channel", days=days, start=start, end=end))

    def revenue_by_coupon(self, days: int | None = None, start: str | None = None,
                          end: str | None = None) -> RevenueByCoupon:
        return from_json(RevenueByCoupon, self._get("revenue-by-coupon", days=days, start=start, end=end))

    def revenue_by_device(self, days: int | None = None, start: str | None = None,
                          end: str | None = None) -> RevenueByDevice:
        return from_json(RevenueByDevice, self._get("revenue-by-device", days=days, start=start, end=end))

    def revenue_by_platform(self, days: int | None = None, start: str | None = None,
                            end: str | None = None) -> RevenueByPlatform:
        return from_json(RevenueByPlatform, self._get("revenue-by-platform", days=days, start=start, end=end))

    def revenue_by_country(self, days: int | None = None, start: str | None = None,
                           end: str | None = None) -> RevenueByCountry:
        return from_json(RevenueByCountry, self._get("revenue-by-country", days=days, start=start, end=end))

    def user_journey(self, user_id: str, order: str | None = None) -> UserJourney:
        return from_json(UserJourney, self._get("user-journey", user_id=user_id, order=order))

    def funnel(self, days: int | None = None, start: str | None = None, end: str | None = None) -> Funnel:
        return from_json(Funnel, self._get("funnel", days=days, start=start, end=end))

    def top_products(self, limit: int | None = None, days: int | None = None, start: str | None = None,
                     end: str | None = None) -> TopProducts:
        return from_json(TopProducts, self._get("top-products", limit=limit, days=days, start=start, end=end))

    def cart_abandonment(self, days: int | None = None, start: str | None = None,
                         end: str | None = None) -> CartAbandonment:
        return from_json(CartAbandonment, self._get("cart-abandonment", days=days, start=start, end=end))

    def attribution(self, model: str = "last_click", window: int = 30, days: int | None = None,
                    start: str | None = None, end: str | None = None) -> Attribution:
        return from_json(Attribution, self._get("attribution", model=model, window=window, days=days, start=start,
                                                end=end))

    def cohorts(self, months: int = 6) -> Cohorts:
        return from_json(Cohorts, self._get("cohorts", months=months))

    def delete_user(self, user_id: str) -> None:
        """Delete every row of the user (the server finishes in the background)."""
        response = self._http.delete(f"/v1/api/analytics/user/{user_id}")
        if response.status_code != 200:
            raise CarthouseError(response.status_code, _error_of(response))


class CarthouseError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


def _error_of(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error") or response.text)
    except ValueError:
        return response.text or f"HTTP {response.status_code}"


def _server_wait(response: httpx.Response | None) -> float:
    """Seconds the server asked to wait (Retry-After, else RateLimit-Reset), 0 if none."""
    if response is None:
        return 0.0
    for header in ("retry-after", "ratelimit-reset"):
        value = response.headers.get(header, "")
        if value.isdigit():
            return float(value)
        if value:
            try:
                return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
            except (TypeError, ValueError):
                continue
    return 0.0
