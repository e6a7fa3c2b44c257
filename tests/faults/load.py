"""A steady REST load for fault tests: batches of uniquely identified events, each batch remembered as
acknowledged (200) or not (anything else, including a dropped connection), so a test can retry what was not
acknowledged, as a client would, and check what the store holds."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field

import httpx

BATCH = "/v1/api/analytics/ecommerce/batch"


def make_batch(size: int = 50) -> list[dict[str, object]]:
    """Half purchases (one item each, unique order ids), half view_cart; every event with its own event_id and
    user (the fraud rules' velocity limits would rightly block a user buying 21 times a minute)."""
    events: list[dict[str, object]] = []
    for n in range(size):
        event_id = str(uuid.uuid4())
        if n % 2:
            events.append({"event_type": "view_cart", "event_id": event_id, "user_id": event_id})
        else:
            events.append({"event_type": "purchase", "event_id": event_id, "transaction_id": f"o-{event_id}",
                           "revenue": 12.5, "currency": "USD", "user_id": event_id,
                           "items": [{"item_id": "sku", "price": 12.5, "quantity": 1}]})
    return events


def event_ids(batch: list[dict[str, object]]) -> list[str]:
    return [str(event["event_id"]) for event in batch]


@dataclass
class LoadResult:
    acknowledged: list[list[dict[str, object]]] = field(default_factory=list)
    unacknowledged: list[list[dict[str, object]]] = field(default_factory=list)
    # Answers other than 200 (status, body) and transport errors, as seen by the client.
    refusals: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def acknowledged_ids(self) -> list[str]:
        return [i for batch in self.acknowledged for i in event_ids(batch)]


class BatchLoad:
    """``threads`` clients sending batches back to back until stopped, or until their first failure."""

    def __init__(self, base_url: str, api_key: str, threads: int = 3) -> None:
        self.base_url = base_url
        self.api_key = api_key
        self.result = LoadResult()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def start(self) -> BatchLoad:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> LoadResult:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)
        return self.result

    def _run(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=30, headers={"X-API-Key": self.api_key}) as client:
            while not self._stop.is_set():
                batch = make_batch()
                try:
                    response = client.post(BATCH, json={"events": batch})
                    outcome = "" if response.status_code == 200 else f"{response.status_code} {response.text}"
                except httpx.HTTPError as exc:
                    outcome = f"{type(exc).__name__}"
                with self.result.lock:
                    if outcome:
                        self.result.unacknowledged.append(batch)
                        self.result.refusals.append(outcome)
                    else:
                        self.result.acknowledged.append(batch)
                if outcome:
                    return  # the server is going away: this client stops, holding its batch for a retry
