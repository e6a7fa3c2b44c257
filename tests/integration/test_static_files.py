"""What the gateway serves as files: the dashboard's page names our assets by their content's hash, so that a
year's caching never serves an old asset to a new page; the page itself is revalidated; nothing outside the
dashboard's folder is served."""

from __future__ import annotations

import hashlib
import re

from gateway.dashboard import STATIC_ROOT


def test_the_page_names_each_asset_by_its_content_and_the_asset_is_cached_for_a_year(http) -> None:
    page = http.get("/dashboard/")
    assert (page.status_code, page.headers["cache-control"]) == (200, "no-cache")
    assets = dict(re.findall(r"/dashboard/([\w-]+\.(?:js|css))\?v=(\w+)", page.text))
    assert set(assets) == {"app.js", "style.css"}
    for name, version in assets.items():
        assert version == hashlib.sha256((STATIC_ROOT / name).read_bytes()).hexdigest()[:12]
        asset = http.get(f"/dashboard/{name}?v={version}")
        assert asset.status_code == 200
        assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert http.get("/dashboard/app.js").headers["cache-control"] == "no-cache"


def test_nothing_outside_the_dashboards_folder_is_served(http) -> None:
    for path in ("/dashboard/../pyproject.toml", "/dashboard/%2e%2e/pyproject.toml", "/dashboard/vendor/x.js",
                 "/sdk/../pyproject.toml"):
        assert http.get(path).status_code == 404, path
