"""The distribution's Chromium, driven by Playwright, shared by the browser tests of a module."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.builders import BROWSER

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# A shop's site, served on loopback under a name that is not localhost (the tracker ignores localhost).
SHOP_HOST = "shop.test"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if CHROMIUM is None and "tests/browser/" in str(item.path):
            item.add_marker(pytest.mark.skip(reason="no chromium on PATH (.ci/run installs it)"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        # Headless Chromium calls itself HeadlessChrome, which the bot rule blocks: a desktop browser's agent, set
        # at launch so that it also covers what a page sends while it unloads.
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--no-first-run", f"--user-agent={BROWSER}", f"--host-resolver-rules=MAP {SHOP_HOST} 127.0.0.1"])
        yield launched
        launched.close()
