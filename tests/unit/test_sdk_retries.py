"""The Python SDK's waiting rule between attempts (pure logic): the server's Retry-After or RateLimit-Reset,
in seconds or as a date, else nothing."""

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
from carthouse_sdk.client import _server_wait


def response(**headers: str) -> httpx.Response:
    return httpx.Response(429, headers=headers)


def test_retry_after_in_seconds_wins_over_ratelimit_reset() -> None:
    assert _server_wait(response(**{"retry-after": "7", "ratelimit-reset": "30"})) == 7.0


def test_ratelimit_reset_when_there_is_no_retry_after() -> None:
    assert _server_wait(response(**{"ratelimit-reset": "12"})) == 12.0


def test_retry_after_as_a_date() -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=60), usegmt=True)
    assert 55 <= _server_wait(response(**{"retry-after": later})) <= 60


def test_no_header_or_no_response_means_no_wait() -> None:
    assert _server_wait(response()) == 0.0
    assert _server_wait(None) == 0.0
    assert _server_wait(response(**{"retry-after": "soon"})) == 0.0
