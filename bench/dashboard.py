"""The dashboard's first full render: `carthouse run` on a generated store (bench/generate.py, 1 M events by
default), the distribution's Chromium (Playwright), signed in with the large appspace's secret key; the time from
navigating to /dashboard/ until the frame with every panel's answer is on screen, over --loads loads, on the
page's own clock (performance.now() since the navigation began, which the page writes to body[data-ready-ms]);
and the size of the dashboard's own JS + CSS + HTML, gzipped. The page's clock, because Playwright finds the
mark by polling at growing intervals (up to 0.5 s); the time its wait took, polling every animation frame, is
printed beside it.

    .venv/bin/python bench/generate.py --data-dir /tmp/bench1m --events 1000000
    .venv/bin/python bench/dashboard.py --data-dir /tmp/bench1m [--loads 10]

Targets: first full render under 1 s; the dashboard's own files under 60 KB gzipped.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.results import record  # noqa: E402
from gateway.dashboard import STATIC_ROOT  # noqa: E402
from tests.builders import BROWSER  # noqa: E402
from tests.support.stack_process import StackProcess, machine_line  # noqa: E402


def own_files_gzipped() -> int:
    return sum(len(gzip.compress(path.read_bytes(), 9)) for path in STATIC_ROOT.iterdir() if path.is_file())


def main() -> int:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True, help="a data dir bench/generate.py filled")
    parser.add_argument("--loads", type=int, default=10)
    args = parser.parse_args()
    secret = json.loads((args.data_dir / "keys.json").read_text())[0]["secret_key"]
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    times: list[float] = []
    waited: list[float] = []
    with StackProcess(args.data_dir) as stack, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", f"--user-agent={BROWSER}"])
        context = browser.new_context(base_url=stack.base_url, viewport={"width": 1440, "height": 1000})
        page = context.new_page()
        page.goto("/dashboard/")
        page.fill("#key", secret)
        page.click("#signin-form button[type=submit]")
        page.wait_for_selector("body[data-ready=true]", timeout=60_000)  # warm-up
        for _ in range(args.loads):
            started = time.perf_counter()
            page.goto("/dashboard/?range=30d")
            page.wait_for_function("document.body.dataset.ready === 'true'", polling="raf", timeout=60_000)
            waited.append((time.perf_counter() - started) * 1000)
            times.append(float(page.evaluate("document.body.dataset.readyMs")))
        browser.close()
    size = own_files_gzipped()
    median, worst = statistics.median(times), max(times)
    print(f"first full render (30 days, every panel): median {median:.0f} ms, slowest {worst:.0f} ms "
          f"over {args.loads} loads (target < 1000 ms)")
    print(f"  Playwright's wait for it: median {statistics.median(waited):.0f} ms, slowest {max(waited):.0f} ms")
    print(f"the dashboard's own HTML + JS + CSS: {size / 1024:.1f} KB gzipped (target < 60 KB)")
    print(machine_line())
    record("dashboard", {"loads": args.loads, "on_screen_median_ms": median, "on_screen_slowest_ms": worst,
                         "wait_median_ms": statistics.median(waited), "wait_slowest_ms": max(waited),
                         "own_files_gzipped_bytes": size})
    return 0 if worst < 1000 and size < 60 * 1024 else 1


if __name__ == "__main__":
    sys.exit(main())
