"""The dashboard in a real browser (the distribution's Chromium, driven by Playwright) against the real stack and
gateway: sign-in and sign-out, keys refused, the numbers equal to the API's, the URL keeping the view, a session
that cannot write, screenshots at 1440 and 375 px (docs/img/), no console errors, WCAG 2 AA by axe-core."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page

from carthouse.v1 import ingest_pb2
from tests.builders import ev, item, key
from tests.conftest import ShopKeys

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "img"


@pytest.fixture(scope="module")
def shop(ingest, new_appspace) -> ShopKeys:
    """Two orders (45.50 with two T-shirts, 30.00 with a hoodie) and a 10.00 refund, in the last three days."""
    shop = new_appspace()
    day = datetime.now(UTC) - timedelta(days=2)

    def at(hours: int) -> str:
        return (day + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")

    events = [
        ev("view_item", {"user_id": "b1"}, at(0), items=[item("sku_1", 20)]),
        ev("add_to_cart", {"user_id": "b1"}, at(1), cart_id="c1", items=[item("sku_1", 20, 2)]),
        ev("purchase", {"user_id": "b1"}, at(2), cart_id="c1", transaction_id="o1", revenue=45.50,
           items=[item("sku_1", 20, 2)], properties={"campaign": "spring", "source": "email", "medium": "news"}),
        ev("purchase", {"user_id": "b2"}, at(3), transaction_id="o2", revenue=30, items=[item("sku_2", 30)]),
        ev("refund", {"user_id": "b1"}, at(4), transaction_id="o1", revenue=10),
        # Above the 100,000 ceiling: flagged, in the fraud audit, out of every figure.
        ev("purchase", {"user_id": "b3"}, at(5), transaction_id="o3", revenue=150000),
    ]
    response = ingest.Batch(ingest_pb2.BatchRequest(events=events), metadata=key(shop.secret_key))
    assert (response.accepted, list(response.errors)) == (6, [])
    return shop


@pytest.fixture
def page(browser: Browser, http) -> Iterator[Page]:
    context = browser.new_context(base_url=str(http.base_url), viewport={"width": 1440, "height": 1800})
    opened = context.new_page()
    opened.console_errors = []  # type: ignore[attr-defined]
    opened.on("console", lambda m: m.type == "error" and opened.console_errors.append(m.text))  # type: ignore
    yield opened
    context.close()


def sign_in(page: Page, api_key: str) -> None:
    page.goto("/")
    page.wait_for_selector("#signin:not([hidden])")
    page.fill("#key", api_key)
    page.click("#signin-form button[type=submit]")


def cells(page: Page, rows: str) -> list[list[str]]:
    """The text of each cell of the rows ``rows`` selects."""
    return [[cell.strip() for cell in row.split("\t")] for row in page.locator(rows).all_inner_texts()]


def sign_in_error(page: Page, message: str) -> None:
    page.wait_for_function(f"document.querySelector('#signin-error').textContent === {message!r}")


def test_a_wrong_or_publishable_key_is_refused(page: Page, shop: ShopKeys) -> None:
    sign_in(page, "ck_sec_wrong")
    sign_in_error(page, "Invalid API key")
    sign_in(page, shop.publishable_key)
    sign_in_error(page, "Secret key required")
    assert page.locator("#panels").is_hidden()


def test_signed_in_the_dashboard_shows_the_apis_numbers_and_cannot_write(page: Page, http, shop: ShopKeys) -> None:
    sign_in(page, shop.secret_key)
    page.wait_for_selector("body[data-ready=true]", timeout=30_000)
    assert page.url.endswith("/dashboard/")
    overview = http.get("/v1/api/analytics/ecommerce/overview", params={"days": 30},
                        headers={"X-API-Key": shop.secret_key}).json()
    assert (overview["total_revenue"], overview["net_revenue"], overview["total_orders"]) == (75.5, 65.5, 2)

    def kpi(name: str) -> str:
        return page.locator(f"[data-kpi={name}] .kpi-value").inner_text()

    # 45.50 + 30.00; minus the 10.00 refund; two orders; 75.50 / 2; three items.
    assert (kpi("total_revenue"), kpi("net_revenue"), kpi("refund_amount"), kpi("total_orders"),
            kpi("avg_order_value"), kpi("total_items_sold")) == ("$75.50", "$65.50", "$10.00", "2", "$37.75", "3")
    products = page.locator("#products tbody tr")
    assert products.count() == 2 and products.nth(0).inner_text().split("\t")[:3] == ["sku_1", "T-Shirt", "$40.00"]
    assert [row[:5] for row in cells(page, "#breakdown tbody tr")] == [["spring", "email", "news", "$45.50", "1"],
                                             ["(direct)", "(direct)", "(none)", "$30.00", "1"]]
    assert (kpi("add_to_cart_rate"), kpi("cart_abandonment_rate")) == ("100.0 %", "0.0 %")
    # Another breakdown tab: the API's rows (the test's agent is a desktop browser).
    page.click("#breakdown-tabs [data-tab=device]")
    page.wait_for_url("**tab=device**")
    page.wait_for_selector("body[data-ready=true]")
    devices = http.get("/v1/api/analytics/ecommerce/revenue-by-device", params={"days": 30},
                       headers={"X-API-Key": shop.secret_key}).json()["devices"]
    assert [row[:3] for row in cells(page, "#breakdown tbody tr")] == [
        [d["device_type"], f"${d['revenue']:.2f}", str(d["orders"])] for d in devices]
    # The series' CSV: the API's days, zero-filled, with 75.50 on the orders' day.
    with page.expect_download() as download:
        page.click("[data-csv=series]")
    lines = Path(download.value.path()).read_text().splitlines()
    series = http.get("/v1/api/analytics/ecommerce/revenue-timeseries", params={"days": 30},
                      headers={"X-API-Key": shop.secret_key}).json()["series"]
    assert lines[0] == "date,revenue,orders" and len(lines) == 31
    assert lines[1:] == [f"{d['date']},{d['revenue']:g},{d['orders']}" for d in series]
    assert sum(d["revenue"] for d in series) == 75.5
    # The funnel: b1 viewed and added to cart, then bought without the steps between.
    assert page.locator("#funnel li .figures").all_inner_texts()[:3] == [
        "1 · 100.0 % of previous · 100.0 % overall", "1 · 100.0 % of previous · 100.0 % overall",
        "0 · 0.0 % of previous · 0.0 % overall · −1"]
    # c1 completed by o1; no abandoned cart.
    assert page.locator("#carts dd").all_inner_texts() == ["0.0 %", "0", "$0.00", "1"]
    # o1 carries spring's campaign: 45.50 in every model; o2 unattributed (no touch).
    attribution = [row.split("\t") for row in page.locator("#attribution tbody tr").all_inner_texts()]
    assert attribution == [["spring", "email", "news", "$45.50", "$45.50", "$45.50", "$45.50"],
                           ["(unattributed)", "", "", "$30.00", "$30.00", "$30.00", "$30.00"]]
    # b1 and b2 first bought this month: 45.50 + 30.00 - 10.00 = 65.50 in month 0, 32.75 each.
    assert page.locator("#cohorts p").inner_text() == "2 purchasing users, lifetime value $32.75 each"
    assert [cell.strip() for cell in page.locator("#cohorts tbody tr").first.inner_text().split("\t")[1:4]] == [
        "2", "$32.75", "$65.50"]  # users, the cohort's LTV, month +0
    fraud = page.locator("#fraud tbody tr").all_inner_texts()
    assert len(fraud) == 1 and fraud[0].split("\t")[1:5] == ["flagged", "purchase", "o3", "b3"]
    page.fill("#journey-user", "b1")
    page.click("#journey-form button")
    page.wait_for_selector("#journey .timeline")
    # Times as the shop's clock shows them (this appspace's zone is UTC).
    assert [e.split(" ", 2)[2] for e in page.locator("#journey .timeline > li").all_inner_texts()][:2] == [
        "refund o1 $10.00", "purchase o1 $45.50\nsku_1 T-Shirt × 2"]
    newest = http.get("/v1/api/analytics/ecommerce/user-journey", params={"user_id": "b1", "order": "newest"},
                      headers={"X-API-Key": shop.secret_key}).json()["events"][0]["timestamp"]
    shown = datetime.fromisoformat(newest).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    assert page.locator("#journey time").first.inner_text() == shown
    with page.expect_download() as download:
        page.click("[data-csv=products]")
    assert Path(download.value.path()).read_text() == (
        "Item,Name,Revenue,Units,Orders\nsku_1,T-Shirt,40,2,1\nsku_2,Hoodie,30,1,1\n")
    with page.expect_download() as download:
        page.click("[data-csv=carts]")
    assert Path(download.value.path()).read_text() == (
        "figure,value\nAbandonment rate,0\nAbandoned carts,0\nLeft in abandoned carts,0\nCompleted carts,1\n")
    with page.expect_download() as download:
        page.click("[data-csv=kpis]")
    assert Path(download.value.path()).read_text().splitlines()[:3] == [
        "figure,value", "Gross revenue,75.5", "Net revenue,65.5"]
    page.evaluate("window.scrollTo(0, 0)")  # the header is sticky: a full-page shot of a scrolled page shows it
    page.screenshot(path=str(SCREENSHOTS / "dashboard-1440.png"), full_page=True)  # mid-page

    # Today holds none of the orders (they were two days ago): the figures follow the preset.
    page.select_option("#range", "today")
    page.wait_for_url("**range=today**")
    page.wait_for_function("document.querySelector('[data-kpi=total_revenue] .kpi-value')?.textContent === '$0.00'")

    # A custom range and a comparison with the same days a year earlier (nothing then: every figure is new).
    page.select_option("#range", "custom")
    page.fill("#start", (datetime.now(UTC) - timedelta(days=3)).strftime("%Y-%m-%d"))
    page.fill("#end", datetime.now(UTC).strftime("%Y-%m-%d"))
    page.select_option("#compare", "year")
    page.wait_for_url("**compare=year**")
    assert "range=custom" in page.url and "start=" in page.url and "end=" in page.url
    page.wait_for_function("document.querySelector('[data-kpi=total_revenue] .kpi-value')?.textContent === '$75.50'")
    page.wait_for_function("document.querySelector('[data-kpi=total_revenue] .kpi-delta')?.textContent === 'new'")
    # The back button restores the views before, one step at a time, back to the first.
    for _ in range(8):
        if "range=" not in page.url:
            break
        page.go_back()
    page.wait_for_function("document.querySelector('#range').value === '30d'")
    page.wait_for_function("document.querySelector('[data-kpi=total_revenue] .kpi-value')?.textContent === '$75.50'")

    # Another time zone and the attribution sorted by another model: in the URL, in the controls, in the figures
    # (Kiritimati is UTC+14: its today is the range's last day).
    page.goto("/dashboard/?tz=Pacific/Kiritimati&model=linear")
    page.wait_for_selector("body[data-ready=true]")
    assert page.locator("#zone").input_value() == "Pacific/Kiritimati"
    assert page.locator("#model").input_value() == "linear"
    kiritimati_today = datetime.now(ZoneInfo("Pacific/Kiritimati")).strftime("%Y-%m-%d")
    assert page.locator("#tz").inner_text().endswith(kiritimati_today)
    page.select_option("#zone", "UTC")
    page.wait_for_function("!location.search.includes('tz=')")  # the shop's own zone is the default
    assert "model=linear" in page.url

    # The session cookie reads (under the dashboard's prefix only); it never writes.
    assert page.request.get("/dashboard/api/v1/api/analytics/ecommerce/overview?days=30").json() == overview
    assert page.request.get("/v1/api/analytics/ecommerce/overview").status == 401  # the API itself wants a key
    track = page.request.post("/dashboard/api/v1/api/analytics/ecommerce/track", data={"event_type": "view_cart"})
    assert (track.status, track.json()) == (403, {"error": "A dashboard session can only read; send an API key to "
                                                           "do more"})
    assert page.request.delete("/dashboard/api/v1/api/analytics/user/b1").status == 403
    assert page.console_errors == []  # type: ignore[attr-defined]

    page.set_viewport_size({"width": 375, "height": 1400})
    page.wait_for_timeout(300)
    page.screenshot(path=str(SCREENSHOTS / "dashboard-375.png"), full_page=False)

    page.click("#signout")
    page.wait_for_selector("#signin:not([hidden])")
    assert page.request.get("/dashboard/session").json() == {"signed_in": False}
    assert page.request.get("/dashboard/api/v1/api/analytics/ecommerce/overview").status == 401


def test_a_share_link_opens_the_dashboard_read_only_until_it_is_revoked(page: Page, http, shop: ShopKeys,
                                                                       new_appspace) -> None:
    from carthouse.v1 import admin_pb2

    admin = new_appspace  # its AdminService stub, with the admin token
    link = admin.stub.CreateShareLink(admin_pb2.CreateShareLinkRequest(appspace_id=shop.appspace_id,
                                                                       expires_in_seconds=3600),
                                      metadata=admin.metadata)
    page.goto(f"/dashboard/share/{link.token}")
    page.wait_for_selector("body[data-ready=true]", timeout=30_000)
    assert page.locator("[data-kpi=total_revenue] .kpi-value").inner_text() == "$75.50"
    assert page.request.post("/dashboard/api/v1/api/analytics/ecommerce/track",
                             data={"event_type": "view_cart"}).status == 403
    revoked = admin.stub.RevokeShareLink(admin_pb2.RevokeShareLinkRequest(token=link.token), metadata=admin.metadata)
    assert revoked.revoked
    page.reload()
    page.wait_for_selector("#signin:not([hidden])")
    page.goto(f"/dashboard/share/{link.token}")
    sign_in_error(page, "This share link has expired or was revoked.")
    # The link's key is revoked with it (effective within the key cache's seconds).
    keys = admin.stub.ListKeys(admin_pb2.ListKeysRequest(appspace_id=shop.appspace_id), metadata=admin.metadata)
    assert [k.revoked_at != "" for k in keys.keys if k.key_id == link.key_id] == [True]


AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"


def accessibility_violations(page: Page) -> list[str]:
    """axe-core's WCAG 2 A and AA findings (contrast, labels, names, keyboard access) on the page as it is."""
    page.add_script_tag(path=str(AXE))
    found = page.evaluate("""async () => (await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa']})).violations
        .map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)""")
    return list(found)


def test_the_dashboard_meets_wcag_aa_signed_out_and_in_at_both_widths(page: Page, shop: ShopKeys) -> None:
    page.goto("/")
    page.wait_for_selector("#signin:not([hidden])")
    assert accessibility_violations(page) == []
    sign_in(page, shop.secret_key)
    page.wait_for_selector("body[data-ready=true]", timeout=30_000)
    page.fill("#journey-user", "b1")
    page.click("#journey-form button[type=submit]")
    page.wait_for_selector("#journey .timeline")
    assert accessibility_violations(page) == []
    page.set_viewport_size({"width": 375, "height": 1400})
    assert accessibility_violations(page) == []
