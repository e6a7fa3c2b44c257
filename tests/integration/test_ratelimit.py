"""gateway/ratelimit.py against a real redis-server: the exact limit with requests one after another and all at
once, the count in Redis, the background path, and two gateways sharing one count."""

from __future__ import annotations

import asyncio
import time
import uuid

import redis

from gateway.ratelimit import WINDOW_SECONDS, RateLimiter, connect


def _client_ip() -> str:
    return f"198.51.100.{uuid.uuid4().int % 250 + 1}-{uuid.uuid4().hex[:6]}"


def _stored_count(url: str, client_ip: str) -> int:
    window = int(time.time() // WINDOW_SECONDS)
    return int(redis.Redis.from_url(url).get(f"ratelimit:{client_ip}:{window}") or 0)


async def _settled(limiters: list[RateLimiter]) -> None:
    """Wait for the increments still on their way."""
    for limiter in limiters:
        for known in limiter._clients.values():
            if known.background is not None:
                await known.background


def _away_from_window_end() -> None:
    # The tests count within one window; a window that ends mid-test would start the count over.
    if time.time() % WINDOW_SECONDS > WINDOW_SECONDS - 3:
        time.sleep(3.5)


def test_one_request_after_another_gets_exactly_the_limit_with_exact_remaining(redis_server) -> None:
    _away_from_window_end()
    client_ip = _client_ip()

    async def run() -> list[tuple[bool, int]]:
        client = connect(redis_server.url)
        limiter = RateLimiter(client, 20)
        decisions = []
        for _ in range(23):
            decision = await limiter.check(client_ip)
            decisions.append((decision.allowed, decision.remaining))
            await asyncio.sleep(0.002)  # as between a client's requests: the background answer arrives
        await _settled([limiter])
        await client.aclose()
        return decisions

    decisions = asyncio.run(run())
    # 20 allowed with 19, 18, ..., 0 remaining, then refused with 0.
    assert decisions == [(True, 19 - n) for n in range(20)] + [(False, 0)] * 3
    assert _stored_count(redis_server.url, client_ip) == 23


def test_far_from_the_limit_a_request_does_not_wait_for_its_count(redis_server) -> None:
    _away_from_window_end()
    client_ip = _client_ip()

    async def run() -> tuple[int, int, int]:
        client = connect(redis_server.url)
        limiter = RateLimiter(client, 1000)
        await limiter.check(client_ip)  # the window's first request waits for its count
        known = limiter._clients[client_ip]
        counted_first = known.counted
        await limiter.check(client_ip)
        sent = known.background is not None  # answered in the background
        await _settled([limiter])
        await client.aclose()
        return counted_first, sent, known.counted

    assert asyncio.run(run()) == (1, True, 2)
    assert _stored_count(redis_server.url, client_ip) == 2


def test_a_burst_gets_exactly_the_limit(redis_server) -> None:
    _away_from_window_end()
    client_ip = _client_ip()

    async def run() -> list[bool]:
        client = connect(redis_server.url)
        limiter = RateLimiter(client, 50)
        first = await limiter.check(client_ip)
        await asyncio.sleep(0.01)
        second = await limiter.check(client_ip)  # the background path, its increment still on its way below
        burst = await asyncio.gather(*(limiter.check(client_ip) for _ in range(200)))
        await _settled([limiter])
        await client.aclose()
        return [first.allowed, second.allowed, *(decision.allowed for decision in burst)]

    allowed = asyncio.run(run())
    # 202 requests, 50 through.
    assert allowed.count(True) == 50
    assert _stored_count(redis_server.url, client_ip) == 202


def test_two_gateways_share_the_count(redis_server) -> None:
    _away_from_window_end()
    client_ip = _client_ip()

    async def run() -> tuple[list[bool], list[int]]:
        clients = [connect(redis_server.url) for _ in range(2)]
        limiters = [RateLimiter(client, 30) for client in clients]
        allowed, remaining = [], []
        for number in range(40):
            decision = await limiters[number % 2].check(client_ip)
            allowed.append(decision.allowed)
            remaining.append(decision.remaining)
            await asyncio.sleep(0.002)
        await _settled(limiters)
        for client in clients:
            await client.aclose()
        return allowed, remaining

    allowed, remaining = asyncio.run(run())
    # Each gateway hears the other's requests in Redis's answers, one request late at most: far below the limit
    # that does not matter, and near it both wait for their counts, so exactly 30 of the 40 get through.
    assert allowed.count(True) == 30
    assert allowed[-4:] == [False] * 4 and remaining[-4:] == [0] * 4
    assert _stored_count(redis_server.url, client_ip) == 40


def test_counts_that_wait_land_after_the_one_in_the_background(redis_server) -> None:
    _away_from_window_end()
    client_ip = _client_ip()

    async def run() -> tuple[list[bool], list[bool]]:
        client = connect(redis_server.url)
        limiter = RateLimiter(client, 10)
        allowed = []
        for _ in range(8):
            allowed.append((await limiter.check(client_ip)).allowed)
            await asyncio.sleep(0.002)
        script = limiter._script

        async def slow_script(**kwargs):  # the background increment is slow to reach Redis
            limiter._script = script
            await asyncio.sleep(0.05)
            return await script(**kwargs)

        limiter._script = slow_script
        allowed.append((await limiter.check(client_ip)).allowed)  # the 9th: 8 + 1 <= 10 - 1, in the background
        burst = await asyncio.gather(*(limiter.check(client_ip) for _ in range(5)))
        await _settled([limiter])
        await client.aclose()
        return allowed, [decision.allowed for decision in burst]

    # 14 requests: the 9th counted in the background as 9, so of the five after it only the one counted 10 passes.
    one_by_one, burst = asyncio.run(run())
    assert one_by_one == [True] * 9
    assert sorted(burst) == [False] * 4 + [True]
    assert _stored_count(redis_server.url, client_ip) == 14
