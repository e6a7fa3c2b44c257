import grpc
import pytest

from carthouse.auth import Principal, key_from_metadata
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
