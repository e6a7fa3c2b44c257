"""Every documented path through HTTP: the Python gateway in front of the gRPC services (real chdb and
redis-server). Messages and statuses are the spec's, verbatim."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from openapi_spec_validator import validate

from carthouse.store import Store
from gateway import ratelimit
from tests.builders import ADD_TO_CART, BROWSER, SPEC_PURCHASE
from tests.builders import body as purchase
from tests.conftest import AppspaceFactory, ShopKeys
from tests.gateway_fixture import running_gateway, with_window_to_spare
from tests.test_contract import EXTRA_ROUTES, documented_routes

TRACK = "/v1/api/analytics/ecommerce/track"
BATCH = "/v1/api/analytics/ecommerce/batch"
SPEC_BATCH = {
    "events": [
        {"event_type": "add_to_cart", "items": [{"item_id": "sku_1", "item_name": "T-Shirt", "price": 24.99}],
         "user_id": "user_123"},
        {"event_type": "purchase", "transaction_id": "order_456", "revenue": 49.99, "currency": "USD",
         "user_id": "user_123", "items": [{"item_id": "sku_1", "price": 24.99, "quantity": 2}]},
    ]
}


@pytest.fixture(scope="module")
def base_url(stack, redis_server) -> Iterator[str]:
    with running_gateway(stack.target, redis_server.url, rate_limit_per_min=100_000) as url:
        yield url


@pytest.fixture(scope="module")
def http(base_url: str) -> Iterator[httpx.Client]:
    # A browser's user agent: httpx's own is an HTTP library's, which the bot rule blocks on publishable keys.
    with httpx.Client(base_url=base_url, timeout=30, headers={"User-Agent": BROWSER}) as client:
        yield client


@pytest.fixture(scope="module")
def shop(new_appspace: AppspaceFactory) -> ShopKeys:
    return new_appspace("growth")


def with_key(api_key: str) -> dict[str, str]:
    return {"X-API-Key": api_key}



def stored(store: Store, appspace_id: str, where: str = "1") -> int:
    return store.scalar(f"SELECT count() FROM events WHERE appspace_id = {{a:String}} AND {where}",
                        {"a": appspace_id})


# ---------------------------------------------------------------- ingestion, as documented


def test_track_spec_example(http, store, new_appspace) -> None:
    shop = new_appspace()
    response = http.post(TRACK, json=SPEC_PURCHASE, headers=with_key(shop.publishable_key))
    assert (response.status_code, response.json()) == (200, {"ok": True})
    assert store.query("SELECT revenue, tax FROM events WHERE appspace_id = {a:String}",
                       {"a": shop.appspace_id}) == [{"revenue": 4999, "tax": 375}]


def test_batch_spec_example(http, store, new_appspace) -> None:
    shop = new_appspace()
    response = http.post(BATCH, json=SPEC_BATCH, headers=with_key(shop.publishable_key))
    assert (response.status_code, response.json()) == (200, {"ok": True, "accepted": 2, "errors": []})
    assert stored(store, shop.appspace_id) == 2


def test_batch_partial_errors_example(http, shop) -> None:
    body = {"events": [{"event_type": "purchase", "revenue": 10}, ADD_TO_CART]}
    response = http.post(BATCH, json=body, headers=with_key(shop.publishable_key))
    assert (response.status_code, response.json()) == (200, {
        "ok": True, "accepted": 1, "errors": ["events[0]: transaction_id is required for purchase events"]})


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (purchase(event_type=None), "event_type is required"),
        (purchase(event_type="checkout"), "Invalid ecommerce event_type"),
        (purchase(transaction_id=None), "transaction_id is required for purchase events"),
        (purchase(revenue=None), "revenue is required for purchase events"),
    ],
)
def test_track_documented_errors(http, shop, body, message) -> None:
    response = http.post(TRACK, json=body, headers=with_key(shop.publishable_key))
    assert (response.status_code, response.json()) == (400, {"error": message})


def test_batch_documented_errors(http, shop) -> None:
    empty = http.post(BATCH, json={"events": []}, headers=with_key(shop.publishable_key))
    assert (empty.status_code, empty.json()) == (400, {"error": "events array is required and must not be empty"})
    missing = http.post(BATCH, json={}, headers=with_key(shop.publishable_key))
    assert (missing.status_code, missing.json()) == (400, {"error": "events array is required and must not be empty"})
    too_many = http.post(BATCH, json={"events": [ADD_TO_CART] * 101}, headers=with_key(shop.publishable_key))
    assert (too_many.status_code, too_many.json()) == (400, {"error": "Maximum 100 events per batch"})


def test_free_tier_is_403_with_its_code(http, new_appspace) -> None:
    free = new_appspace("free")
    for path, body in ((TRACK, SPEC_PURCHASE), (BATCH, SPEC_BATCH)):
        response = http.post(path, json=body, headers=with_key(free.publishable_key))
        assert (response.status_code, response.json()) == (403, {
            "error": "Ecommerce events are not available on the free tier", "code": "FEATURE_GATED"})


def test_quota_is_429_with_its_code(http, redis_server, new_appspace) -> None:
    from datetime import UTC, datetime

    import redis

    from services.ingest.quota import quota_key

    shop = new_appspace("standard")
    redis.Redis.from_url(redis_server.url).set(quota_key(shop.appspace_id, datetime.now(UTC)), 100_000)
    response = http.post(TRACK, json=SPEC_PURCHASE, headers=with_key(shop.publishable_key))
    assert (response.status_code, response.json()) == (429, {
        "error": "Ecommerce event quota exceeded", "code": "USAGE_EXCEEDED"})


# ---------------------------------------------------------------- authentication


def test_keys_in_header_bearer_and_body(http, store, new_appspace) -> None:
    shop = new_appspace()
    assert http.post(TRACK, json=purchase(transaction_id="h"), headers=with_key(shop.secret_key)).status_code == 200
    assert http.post(TRACK, json=purchase(transaction_id="b"),
                     headers={"Authorization": f"Bearer {shop.secret_key}"}).status_code == 200
    assert http.post(TRACK, json=purchase(transaction_id="j", apiKey=shop.publishable_key)).status_code == 200
    assert http.post(BATCH, json={**SPEC_BATCH, "apiKey": shop.publishable_key}).status_code == 200
    assert stored(store, shop.appspace_id) == 5


def test_no_key_is_401(http) -> None:
    response = http.post(TRACK, json=SPEC_PURCHASE)
    assert (response.status_code, response.json()) == (401, {"error": "API key required"})
    assert http.post(TRACK, json=SPEC_PURCHASE, headers=with_key("ck_sec_nope")).json() == {"error": "Invalid API key"}


def test_query_paths_need_a_secret_key(http, shop) -> None:
    for verb, path in sorted(documented_routes() | EXTRA_ROUTES):
        if verb == "POST":
            continue
        url = path.replace("{user_id}", "user_123")
        response = http.request(verb, url, headers=with_key(shop.publishable_key))
        assert (response.status_code, response.json()) == (403, {"error": "Secret key required"}), url
        assert http.request(verb, url).status_code == 401
        # With a secret key the request reaches the service and is answered.
        response = http.request(verb, url, headers=with_key(shop.secret_key))
        name = path.rsplit("/", 1)[-1]
        if "{user_id}" in path:
            assert (response.status_code, response.json()) == (200, {"ok": True, "deleted_user_id": "user_123"})
        elif name == "deletions":
            assert response.status_code == 200 and "deletions" in response.json(), url
        elif name == "user-journey":
            assert (response.status_code, response.json()) == (400, {"error": "user_id is required"}), url
        elif name == "cohorts":
            assert response.status_code == 200 and len(response.json()["cohorts"]) == 6, url
        elif name == "attribution":
            assert response.status_code == 200 and response.json()["window_days"] == 30, url
        elif name == "appspace":
            assert response.status_code == 200 and response.json()["appspace_id"] == shop.appspace_id, url
        else:
            assert response.status_code == 200 and response.json()["days"] == 30, url


# ---------------------------------------------------------------- transport rules


def test_send_beacon_text_plain_body(http, store, new_appspace) -> None:
    shop = new_appspace()
    body = b'{"apiKey": "%s", "event_type": "view_cart"}' % shop.publishable_key.encode()
    response = http.post(TRACK, content=body, headers={"Content-Type": "text/plain;charset=UTF-8"})
    assert (response.status_code, response.json()) == (200, {"ok": True})
    assert stored(store, shop.appspace_id, "event_type = 'view_cart'") == 1


def test_cors_preflight_on_ingestion_paths(http) -> None:
    for path in (TRACK, BATCH):
        preflight = {"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"}
        response = http.options(path, headers=preflight)
        assert response.status_code == 204
        assert response.headers["access-control-allow-origin"] == "*"
        assert "x-api-key" in response.headers["access-control-allow-headers"]


@pytest.mark.parametrize(
    ("content", "status", "message"),
    [
        (b'{"event_type": ', 400, "Malformed JSON body"),
        (b"[1, 2]", 400, "Request body must be a JSON object"),
        (b"", 400, "Request body must be a JSON object"),
        (b'{"event_type": "purchase", "revenue": "lots"}', 400, None),
        (b'{"event_type": 5}', 400, None),
    ],
)
def test_client_mistakes_are_4xx_never_5xx(http, shop, content, status, message) -> None:
    response = http.post(TRACK, content=content, headers={**with_key(shop.publishable_key),
                                                           "Content-Type": "application/json"})
    assert response.status_code == status
    assert response.json()["error"] == message if message else response.json()["error"]


def test_body_over_one_mebibyte_is_413(http, shop) -> None:
    big = b'{"event_type": "view_cart", "user_id": "' + b"x" * (1024 * 1024) + b'"}'
    response = http.post(TRACK, content=big, headers=with_key(shop.publishable_key))
    assert (response.status_code, response.json()) == (413, {"error": "Request body too large (limit 1 MiB)"})


def test_unknown_paths_and_fields(http, shop) -> None:
    response = http.get("/v1/api/analytics/ecommerce/nope", headers=with_key(shop.secret_key))
    assert (response.status_code, response.json()) == (404, {"error": "Not found"})
    assert http.get(TRACK).status_code == 404  # wrong verb for the path
    response = http.post(TRACK, json=purchase(transaction_id="unknown-fields", gift_wrap=True),
                         headers=with_key(shop.publishable_key))
    assert response.status_code == 200


def test_bad_query_parameter_values_name_the_parameter(http, shop) -> None:
    cases = {"days=abc": "days", "limit=1.5": "limit", "include_flagged=maybe": "include_flagged"}
    for query, name in cases.items():
        path = "/v1/api/analytics/ecommerce/top-products?" + query
        response = http.get(path, headers=with_key(shop.secret_key))
        assert response.status_code == 400, query
        assert name in response.json()["error"]
    # Unknown query parameters are ignored, as Envoy's transcoder does.
    assert http.get("/v1/api/analytics/ecommerce/overview?utm=x", headers=with_key(shop.secret_key)).status_code == 200


@contextmanager
def gateway_client(stack, redis_server, **config: object) -> Iterator[httpx.Client]:
    with running_gateway(stack.target, redis_server.url, **config) as url, httpx.Client(base_url=url) as client:
        yield client


def test_rate_limit_headers_and_429(stack, redis_server) -> None:
    # Counted per client address in Redis (shared by replicas): a fresh address gets a fresh window.
    client_ip = f"203.0.113.{uuid.uuid4().int % 250 + 1}"
    headers = {"X-Forwarded-For": client_ip}
    with gateway_client(stack, redis_server, rate_limit_per_min=3, trusted_proxies="127.0.0.1/32") as client:
        with_window_to_spare(ratelimit.WINDOW_SECONDS, needed_seconds=10)
        remaining = []
        for _ in range(3):
            response = client.post(TRACK, json={}, headers=headers)
            remaining.append(int(response.headers["ratelimit-remaining"]))
            assert response.headers["ratelimit-limit"] == "3"
            assert 0 < int(response.headers["ratelimit-reset"]) <= 60
        assert remaining == [2, 1, 0]
        response = client.post(TRACK, json={}, headers=headers)
        assert (response.status_code, response.json()) == (429, {"error": "Too many requests. Please slow down."})
        assert response.headers["ratelimit-remaining"] == "0"
        assert response.headers["retry-after"] == response.headers["ratelimit-reset"]


def test_client_address_behind_trusted_proxies(stack, redis_server, store, new_appspace) -> None:
    shop = new_appspace()
    spoofed = {"X-Forwarded-For": "6.6.6.6", **with_key(shop.secret_key)}
    with gateway_client(stack, redis_server) as client:
        assert client.post(TRACK, json=purchase(transaction_id="direct"), headers=spoofed).status_code == 200
    with gateway_client(stack, redis_server, trusted_proxies="127.0.0.1/32") as client:
        response = client.post(TRACK, json=purchase(transaction_id="proxied"), headers=spoofed)
        assert response.status_code == 200, response.text
    rows = store.query("SELECT transaction_id, ip FROM events WHERE appspace_id = {a:String} ORDER BY transaction_id",
                       {"a": shop.appspace_id})
    # Untrusted peer: its own address counts, the header it sent does not. Trusted proxy: the header counts.
    assert rows == [{"transaction_id": "direct", "ip": "127.0.0.1"}, {"transaction_id": "proxied", "ip": "6.6.6.6"}]


# ---------------------------------------------------------------- health and description


def test_healthz(http, redis_server) -> None:
    response = http.get("/healthz")
    assert response.status_code == 200
    assert response.json()["services"] == {"carthouse.v1.AnalyticsService": "SERVING",
                                           "carthouse.v1.IngestService": "SERVING"}
    from app.redis_server import free_port

    with running_gateway(f"127.0.0.1:{free_port()}", redis_server.url) as url:
        assert httpx.get(f"{url}/healthz", timeout=10).status_code == 503


def test_openapi_document_is_valid_and_lists_every_path(http) -> None:
    document = http.get("/openapi.json").json()
    validate(document)
    paths = {(verb.upper(), path) for path, operations in document["paths"].items() for verb in operations}
    assert paths == documented_routes() | EXTRA_ROUTES


def test_doubles_print_like_envoy(http, shop) -> None:
    from carthouse.v1 import analytics_pb2
    from gateway.render import message_json

    body = message_json(analytics_pb2.OverviewResponse(total_revenue=12450.0, avg_order_value=50.82, days=30))
    assert body.startswith(b'{"total_revenue":12450,"net_revenue":0,"total_orders":0')
    assert b'"avg_order_value":50.82' in body


def test_rate_limit_fails_open_when_redis_is_unreachable(stack, new_appspace, caplog) -> None:
    from app.redis_server import free_port

    shop = new_appspace()
    with running_gateway(stack.target, f"redis://127.0.0.1:{free_port()}/0", rate_limit_per_min=1) as url, \
            httpx.Client(base_url=url) as client:
        for number in range(3):
            response = client.post(TRACK, json=purchase(transaction_id=f"open-{number}"),
                                   headers=with_key(shop.publishable_key))
            assert response.status_code == 200
            assert response.headers["ratelimit-remaining"] == "1"
    assert any("rate limit not enforced" in record.message for record in caplog.records)


def test_upstream_initial_metadata_becomes_response_headers(redis_server) -> None:
    """A stub upstream that sets initial metadata: the gateway passes it on, minus gRPC's own headers."""
    import asyncio
    import threading

    import grpc

    from carthouse.v1 import ingest_pb2, ingest_pb2_grpc

    class Upstream(ingest_pb2_grpc.IngestServiceServicer):
        async def Track(self, request, context):
            await context.send_initial_metadata((("x-request-id", "req-42"),))
            return ingest_pb2.TrackResponse(ok=True)

    ready = threading.Event()
    port: list[int] = []
    stop = asyncio.Event()

    async def serve() -> None:
        server = grpc.aio.server()
        ingest_pb2_grpc.add_IngestServiceServicer_to_server(Upstream(), server)
        port.append(server.add_insecure_port("127.0.0.1:0"))
        await server.start()
        ready.set()
        await stop.wait()
        await server.stop(0)

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    ready.wait(10)
    try:
        with running_gateway(f"127.0.0.1:{port[0]}", redis_server.url) as url:
            response = httpx.post(f"{url}{TRACK}", json={"event_type": "view_cart"})
        assert (response.status_code, response.json()) == (200, {"ok": True})
        assert response.headers["x-request-id"] == "req-42"
        assert "grpc-status" not in response.headers
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
