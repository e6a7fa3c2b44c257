import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor

import grpc
import pytest

from carthouse.auth import Principal, key_from_metadata
from carthouse.cache import TtlCache
from carthouse.errors import PermissionDenied
from carthouse.tenancy.repository import Appspace

SHOP = Appspace("as_1", "shop", "growth", "USD", "UTC", "2026-01-01 00:00:00.000")


def test_publishable_keys_cannot_do_what_needs_a_secret_key() -> None:
    Principal(SHOP, "secret").require_secret()
    with pytest.raises(PermissionDenied) as caught:
        Principal(SHOP, "publishable").require_secret()
    assert (caught.value.status, caught.value.message) == (grpc.StatusCode.PERMISSION_DENIED, "Secret key required")


def test_key_sources_in_order_of_preference() -> None:
    assert key_from_metadata([("x-api-key", " a "), ("authorization", "Bearer b")]) == "a"
    assert key_from_metadata([("authorization", "Bearer b")]) == "b"
    assert key_from_metadata([("authorization", "Basic c")]) == ""
    assert key_from_metadata([]) == ""


def test_plan_overrides_come_from_appspace_settings() -> None:
    custom = Appspace("as_2", "big", "standard", "USD", "UTC", "", settings={"monthly_events": 5})
    assert (custom.plan.monthly_events, custom.plan.retention_days) == (5, 90)
    assert SHOP.plan.monthly_events == 1_000_000


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_cached_lookups_reload_in_the_background_past_half_their_age() -> None:
    clock, answers, reloaded = Clock(), iter(["v1", "v2", "v3"]), threading.Event()
    calls: list[str] = []

    def load(key: str) -> str:
        calls.append(key)
        if len(calls) == 2:
            reloaded.set()
        return next(answers)

    cache = TtlCache(load, ttl=2.0, clock=clock)
    assert cache.get("k") == "v1" and calls == ["k"]
    clock.now += 0.9  # younger than half the ttl: served, no reload
    assert cache.get("k") == "v1" and calls == ["k"]
    clock.now += 0.2  # 1.1 s: still served at once, reloaded in the background
    assert cache.get("k") == "v1"
    assert reloaded.wait(5)
    _wait_until(lambda: cache.get("k") == "v2")
    assert calls == ["k", "k"]
    clock.now += 2.5  # the reload's value expired too: the request loads it itself
    assert cache.get("k") == "v3" and calls == ["k", "k", "k"]


def test_a_failed_background_reload_leaves_the_entry_to_expire() -> None:
    clock, down = Clock(), threading.Event()
    failures: list[str] = []

    def load(key: str) -> str:
        if down.is_set():
            failures.append(key)
            raise RuntimeError("store down")
        return f"read at {clock.now:.1f}"

    cache = TtlCache(load, ttl=2.0, clock=clock)
    assert cache.get("k") == "read at 100.0"
    down.set()
    clock.now += 1.5
    assert cache.get("k") == "read at 100.0"  # the reload fails behind it
    _wait_until(lambda: failures == ["k"] and not cache._reloading)
    clock.now += 0.4  # 1.9 s: the old value still, never past its ttl
    assert cache.get("k") == "read at 100.0"
    _wait_until(lambda: failures == ["k", "k"] and not cache._reloading)
    clock.now += 0.2  # 2.1 s: expired; this request loads it and meets the error
    with pytest.raises(RuntimeError, match="store down"):
        cache.get("k")
    down.clear()
    assert cache.get("k") == "read at 102.1"


def _wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 5
    while not condition():
        assert time.monotonic() < deadline, "background reload did not finish"
        time.sleep(0.005)


def test_without_background_reloads_entries_still_expire_and_load() -> None:
    clock, stopped = Clock(), ThreadPoolExecutor(max_workers=1)
    stopped.shutdown()
    cache = TtlCache(lambda key: f"read at {clock.now:.1f}", ttl=2.0, clock=clock, reloads=stopped)
    assert cache.get("k") == "read at 100.0"
    clock.now += 1.5
    assert cache.get("k") == "read at 100.0" and not cache._reloading  # no reload could start; served anyway
    clock.now += 0.6
    assert cache.get("k") == "read at 102.1"


class HeldReloads(Executor):
    """Runs submitted reloads only when told, as a reload thread that has fallen behind would."""

    def __init__(self) -> None:
        self.held: list[Callable[[], object]] = []

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def, override]
        self.held.append(lambda: fn(*args, **kwargs))

    def run_held(self) -> None:
        while self.held:
            self.held.pop(0)()


def test_a_reload_that_fell_behind_is_skipped_when_it_is_no_longer_useful() -> None:
    clock, reloads = Clock(), HeldReloads()
    loads: list[float] = []

    def load(key: str) -> str:
        loads.append(clock.now)
        return f"read at {clock.now:.1f}"

    cache = TtlCache(load, ttl=2.0, clock=clock, reloads=reloads)
    cache.get("k")
    clock.now += 1.5
    assert cache.get("k") == "read at 100.0" and len(reloads.held) == 1
    clock.now += 1.0  # 2.5 s: expired before the reload ran; this request loads it
    assert cache.get("k") == "read at 102.5"
    reloads.run_held()  # the old reload finds a newer entry and does nothing
    assert loads == [100.0, 102.5]

    clock.now += 1.2  # 1.2 s old: a reload is held again, and runs only after the entry expired
    cache.get("k")
    clock.now += 1.0
    reloads.run_held()
    assert loads == [100.0, 102.5]  # nobody asked for it meanwhile: the next request loads it
    assert cache.get("k") == "read at 104.7" and loads == [100.0, 102.5, 104.7]

    clock.now += 1.1  # a reload in time still happens
    cache.get("k")
    reloads.run_held()
    assert loads[-1] == 105.8 and cache.get("k") == "read at 105.8"
