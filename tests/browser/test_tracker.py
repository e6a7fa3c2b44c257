"""The browser tracker (sdk/js, served by the gateway at /sdk/carthouse.js) in the distribution's Chromium, on a
shop's pages served from their own origin, against the real stack: a visit from a UTM landing through purchase
stored exactly once with its campaign; an outage of the gateway (503) that loses and doubles nothing; consent
denied leaving no anonymous id and nothing in storage; calls made before the script loaded; the flags and
places it must ignore; its size."""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page

from carthouse.store.base import Store
from tests.browser.conftest import SHOP_HOST
from tests.conftest import ShopKeys

BATCH = "/v1/api/analytics/ecommerce/batch"
SIZE_LIMIT = 2560  # bytes gzipped: the tracker's budget
STUB = "window.carthouse = window.carthouse || function () { (carthouse.q = carthouse.q || []).push(arguments) };"


class QuietHandler(BaseHTTPRequestHandler):
    def answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def serve(handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    """A server on a free loopback port, in a thread, until its shutdown()."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class ShopSite:
    """A shop's pages (path -> HTML) on a real HTTP server of their own, reached as http://shop.test:<port>."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        pages = self.pages

        class Handler(QuietHandler):
            def do_GET(self) -> None:  # noqa: N802 (the http.server's name)
                page = pages.get(self.path.split("?")[0])
                self.answer(200 if page else 404, (page or "not found").encode(),
                            {"content-type": "text/html; charset=utf-8"})

        self.server = serve(Handler)
        self.origin = f"http://{SHOP_HOST}:{self.server.server_address[1]}"


@pytest.fixture(scope="module")
def site() -> Iterator[ShopSite]:
    served = ShopSite()
    yield served
    served.server.shutdown()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    opened = context.new_page()
    opened.warnings = []  # type: ignore[attr-defined]
    opened.on("console", lambda m: m.type in ("warning", "error") and opened.warnings.append(m.text))  # type: ignore
    yield opened
    context.close()


def shop_page(gateway: str, calls: str, body: str = "", script: str = "") -> str:
    """A page of the shop: the queue stub and its calls first, then the tracker from the gateway (async)."""
    loader = script or f'<script async src="{gateway}/sdk/carthouse.js"></script>'
    head = f"<title>Shop</title><link rel='icon' href='data:,'><script>{STUB}\n{calls}</script>{loader}"
    return f"<!doctype html><html><head>{head}</head><body>{body}</body></html>"


def init(key: str, **options: object) -> str:
    return f"carthouse('init', {json.dumps({'key': key, **options})});"


def track(event_type: str, fields: dict) -> str:
    return f"carthouse('track', {json.dumps(event_type)}, {json.dumps(fields)});"


def stored(page: Page, store: Store, shop: ShopKeys, expected: int, timeout: float = 30) -> list[dict]:
    """The shop's events once ``expected`` are stored, in the order sent; a moment later, to see any extra copy.
    It waits through Playwright, which meanwhile runs the tests' route handlers (a sleep would hold them up)."""
    sql = ("SELECT event_type, client_event_id, user_id, anonymous_id, cart_id, transaction_id, revenue, "
           "properties FROM events WHERE appspace_id = {a:String} ORDER BY event_time, seq")
    deadline = time.monotonic() + timeout
    rows = store.query(sql, {"a": shop.appspace_id})
    while len(rows) < expected and time.monotonic() < deadline:
        page.wait_for_timeout(200)
        rows = store.query(sql, {"a": shop.appspace_id})
    page.wait_for_timeout(1000)
    return store.query(sql, {"a": shop.appspace_id})


def wait_for_tracker(page: Page) -> None:
    page.wait_for_function("typeof window.carthouse === 'function' && !window.carthouse.q")


def test_a_visit_from_a_utm_landing_through_purchase_is_stored_once_with_its_campaign(
        page: Page, site: ShopSite, http, store: Store, new_appspace: Callable[[], ShopKeys]) -> None:
    shop = new_appspace()
    gateway = str(http.base_url)
    shirt = {"item_id": "sku_1", "item_name": "T-Shirt", "price": 20}
    site.pages["/visit/landing"] = shop_page(gateway, init(shop.publishable_key, consentRequired=False)
                                             + track("view_item", {"items": [shirt]})
                                             + track("add_to_cart", {"items": [{**shirt, "quantity": 2}]}),
                                             '<a id="checkout" href="/visit/checkout">Checkout</a>')
    site.pages["/visit/checkout"] = shop_page(gateway, init(shop.publishable_key, consentRequired=False)
                                              + "carthouse('identify', 'visitor-1');"
                                              + track("begin_checkout", {})
                                              + track("purchase", {"transaction_id": "visit-o1", "revenue": 40,
                                                                   "currency": "USD"}),
                                              '<a id="away" href="/visit/thanks">Thanks</a>')
    site.pages["/visit/thanks"] = "<!doctype html><title>Thanks</title><link rel=icon href='data:,'><p>Thank you"
    page.goto(f"{site.origin}/visit/landing?utm_campaign=winter&utm_source=newsletter&utm_medium=email")
    wait_for_tracker(page)
    page.click("#checkout")  # within the 2 s: these two leave by sendBeacon and the next page sends them again
    wait_for_tracker(page)
    page.click("#away")
    rows = stored(page, store, shop, 4)
    assert [row["event_type"] for row in rows] == ["view_item", "add_to_cart", "begin_checkout", "purchase"]
    assert len({row["client_event_id"] for row in rows}) == 4
    campaign = {"utm_campaign": "winter", "utm_source": "newsletter", "utm_medium": "email"}
    assert all(row["properties"] == campaign for row in rows)
    assert len({row["anonymous_id"] for row in rows}) == 1 and rows[0]["anonymous_id"]
    assert [row["user_id"] for row in rows] == ["", "", "visitor-1", "visitor-1"]
    carts = [row["cart_id"] for row in rows]
    assert carts[0] == "" and carts[1] and carts[1:] == [carts[1]] * 3  # one cart from add_to_cart to purchase
    assert (rows[3]["transaction_id"], rows[3]["revenue"]) == ("visit-o1", 4000)
    channels = http.get("/v1/api/analytics/ecommerce/revenue-by-channel", headers={"X-API-Key": shop.secret_key})
    assert [(c["campaign"], c["source"], c["medium"], c["revenue"], c["orders"])
            for c in channels.json()["channels"]] == [("winter", "newsletter", "email", 40.0, 1)]
    assert page.warnings == []  # type: ignore[attr-defined]


CORS = {"access-control-allow-origin": "*", "access-control-expose-headers": "date, retry-after",
        "content-type": "application/json"}


class GatewayWithAnOutage:
    """A reverse proxy in front of the gateway, as a load balancer would be, that answers the first ``refusals``
    batches (fetches and beacons alike) with 503 and Retry-After: 1, then passes everything through."""

    def __init__(self, gateway: str, refusals: int) -> None:
        self.left = refusals
        self.refused_modes: list[str] = []  # Sec-Fetch-Mode of each refused request: cors (fetch), no-cors (beacon)
        proxy = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:  # noqa: N802 (the http.server's name)
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                if proxy.left > 0:
                    proxy.left -= 1
                    proxy.refused_modes.append(self.headers.get("sec-fetch-mode", ""))
                    self.answer(503, b'{"error":"Service unavailable"}', {**CORS, "retry-after": "1"})
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                answer = httpx.post(gateway + self.path, content=body, headers=headers, timeout=30)
                self.answer(answer.status_code, answer.content, {**CORS, "date": answer.headers.get("date", "")})

        self.server = serve(Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


def test_an_outage_of_the_gateway_loses_nothing_and_doubles_nothing(
        page: Page, site: ShopSite, http, store: Store, new_appspace: Callable[[], ShopKeys]) -> None:
    """Refused: the purchase's flush on the first page, the beacon as the visitor leaves it, two tries on the next
    page; the outbox carries the events from one page to the other."""
    shop = new_appspace()
    outage = GatewayWithAnOutage(str(http.base_url), refusals=4)
    try:
        options = {"consentRequired": False, "endpoint": outage.url}
        calls = init(shop.publishable_key, **options) + "".join(
            track("view_cart", {"user_id": "outage-1", "properties": {"n": str(n)}}) for n in range(1, 4))
        site.pages["/outage/one"] = shop_page(str(http.base_url), calls + track("purchase", {
            "user_id": "outage-1", "transaction_id": "outage-o1", "revenue": 12.5, "properties": {"n": "4"}}),
            '<a id="next" href="/outage/two">Next</a>')
        site.pages["/outage/two"] = shop_page(str(http.base_url), init(shop.publishable_key, **options) + track(
            "view_cart", {"user_id": "outage-1", "properties": {"n": "5"}}))
        page.goto(f"{site.origin}/outage/one")
        while not outage.refused_modes:  # the purchase's flush, refused
            page.wait_for_timeout(50)
        page.click("#next")
        wait_for_tracker(page)
        rows = stored(page, store, shop, 5, timeout=60)
    finally:
        outage.server.shutdown()
    assert sorted(row["properties"]["n"] for row in rows) == ["1", "2", "3", "4", "5"]
    assert len({row["client_event_id"] for row in rows}) == 5
    assert outage.refused_modes == ["cors", "no-cors", "cors", "cors"]
    page.wait_for_function("() => JSON.parse(localStorage.getItem('carthouse_outbox')).length === 0")


def test_consent_denied_stores_events_without_an_anonymous_id_and_writes_nothing(
        page: Page, site: ShopSite, http, store: Store, new_appspace: Callable[[], ShopKeys]) -> None:
    shop = new_appspace()
    calls = init(shop.publishable_key) + "carthouse('consent', 'denied');" + track(
        "add_to_cart", {"items": [{"item_id": "sku_9", "price": 5}]}) + track(
        "purchase", {"transaction_id": "denied-o1", "revenue": 5}) + "carthouse('identify', 'denied-1');"
    site.pages["/denied"] = shop_page(str(http.base_url), calls)
    page.goto(f"{site.origin}/denied?utm_source=google&utm_campaign=spring")
    wait_for_tracker(page)
    rows = stored(page, store, shop, 2)
    assert [(row["event_type"], row["anonymous_id"]) for row in rows] == [("add_to_cart", ""), ("purchase", "")]
    assert rows[0]["properties"] == {"utm_campaign": "spring", "utm_source": "google"}  # the landing's own events
    written = page.evaluate("() => [localStorage.length, sessionStorage.length, document.cookie]")
    assert written == [0, 0, ""]


def test_calls_queued_before_the_script_loads_are_sent_in_order(
        page: Page, site: ShopSite, http, store: Store, new_appspace: Callable[[], ShopKeys]) -> None:
    shop = new_appspace()
    # The script is added only once the calls are queued; its endpoint is the origin it came from.
    later = f"""<script>setTimeout(() => {{ window.queuedBeforeLoad = carthouse.q.length;
        const tag = document.createElement('script'); tag.src = '{http.base_url}/sdk/carthouse.js';
        document.head.appendChild(tag); }}, 200);</script>"""
    calls = init(shop.publishable_key, consentRequired=False) + "".join(
        track("search", {"properties": {"search_term": term}}) for term in ("boots", "hats", "socks")
    ) + "carthouse('flush');"
    site.pages["/queued"] = shop_page(str(http.base_url), calls, script=later)
    page.goto(f"{site.origin}/queued")
    wait_for_tracker(page)
    assert page.evaluate("window.queuedBeforeLoad") == 5
    rows = stored(page, store, shop, 3)
    assert [row["properties"]["search_term"] for row in rows] == ["boots", "hats", "socks"]


@pytest.mark.parametrize(("setup", "host"), [
    ("window.carthouseOptOut = true;", SHOP_HOST),
    ("Object.defineProperty(navigator, 'globalPrivacyControl', {value: true});", SHOP_HOST),
    ("", "localhost"),
], ids=["site-opt-out", "global-privacy-control", "localhost"])
def test_what_the_tracker_must_ignore_sends_nothing(page: Page, site: ShopSite, http, setup: str, host: str) -> None:
    requests: list[str] = []
    page.on("request", lambda request: BATCH in request.url and requests.append(request.url))
    calls = setup + init("ck_pub_never_used", consentRequired=False, respectDoNotTrack=True) + track(
        "purchase", {"transaction_id": "ignored-o1", "revenue": 1})
    site.pages["/ignored"] = shop_page(str(http.base_url), calls)
    page.goto(site.origin.replace(SHOP_HOST, host) + "/ignored")
    wait_for_tracker(page)
    page.evaluate("() => carthouse('flush')")
    assert requests == []
    assert page.evaluate("() => localStorage.length") == 0


def test_the_tracker_is_small_and_cached(http) -> None:
    latest = http.get("/sdk/carthouse.js")
    assert latest.status_code == 200
    assert latest.headers["content-type"] == "text/javascript; charset=utf-8"
    assert latest.headers["cache-control"] == "public, max-age=3600"
    assert len(gzip.compress(latest.content, 9)) <= SIZE_LIMIT
    version = json.loads((Path(__file__).resolve().parents[2] / "sdk/js/package.json").read_text())["version"]
    pinned = http.get(f"/sdk/{version}/carthouse.js")
    assert (pinned.status_code, pinned.content) == (200, latest.content)
    assert pinned.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert http.get("/sdk/0.0.0/carthouse.js").status_code == 404


def test_a_refused_batch_is_logged_once_with_the_servers_error_and_not_sent_again(
        page: Page, site: ShopSite, http, store: Store, new_appspace: Callable[[], ShopKeys]) -> None:
    shop = new_appspace()
    requests: list[str] = []
    page.on("request", lambda request: BATCH in request.url and requests.append(request.url))
    # A wrong key: the whole batch is refused (401). An event without its transaction_id: refused alone.
    calls = init("ck_pub_wrong", consentRequired=False) + track("view_cart", {}) + "carthouse('flush');"
    site.pages["/refused/key"] = shop_page(str(http.base_url), calls)
    page.goto(f"{site.origin}/refused/key")
    page.wait_for_function("() => JSON.parse(localStorage.getItem('carthouse_outbox') || '[1]').length === 0")
    page.wait_for_timeout(2500)  # past the 2 s flush interval: nothing is sent again
    assert len(requests) == 1
    ours = [m for m in page.warnings if m.startswith("carthouse:")]  # type: ignore[attr-defined]
    assert ours == ["carthouse: 1 event(s) refused: Invalid API key"]
    calls = init(shop.publishable_key, consentRequired=False) + track("purchase", {"revenue": 5}) + track(
        "purchase", {"transaction_id": "refused-o1", "revenue": 5})
    site.pages["/refused/event"] = shop_page(str(http.base_url), calls)
    page.goto(f"{site.origin}/refused/event")
    rows = stored(page, store, shop, 1)
    assert [row["transaction_id"] for row in rows] == ["refused-o1"]
    ours = [m for m in page.warnings if m.startswith("carthouse:")]  # type: ignore[attr-defined]
    assert ours[1:] == ["carthouse: event refused: events[0]: transaction_id is required for purchase events"]
    assert len(requests) == 3  # each purchase flushed at once, the refused one never again
