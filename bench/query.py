"""Query latency on a generated data set (bench/generate.py): every Analytics I endpoint through REST against
`carthouse run`, and the bare SQL of the same query (the query functions the servicer calls, straight on the
store). p50/p95 over --runs.

    .venv/bin/python bench/query.py --data-dir /tmp/carthouse-10m [--runs 30] [--only overview,attribution]

The two are measured side by side, a bare call and a REST call, so that both see the machine in the same
state (its speed drifts by 10-40 % within minutes on shared vCPUs); which of the two goes first alternates, so
that neither always follows the other's query (the bare engine lives in this process, the stack in its own,
and each call may compete with what the one before left running, which a fixed order would always put on the
same side). By default the endpoints take turns, one call pair each per round (--order rounds, what a
dashboard asks for), so every endpoint's samples spread over the whole run: a slow spell of a few seconds
costs each endpoint a sample or two instead of landing on the one whose series was running (--order series:
each endpoint's runs one after another). chdb lets one process own a data
directory, so the bare queries run on a copy of it (made next to it, removed afterwards).

The REST calls go over one kept-alive HTTP/1.1 connection of the standard library (--http-client stdlib),
whose own cost on these 2 vCPUs, shared with the stack, is small: httpx spent 1.42 ms of CPU per request here
against 0.46 ms, and answered the same request 1.1 ms later at p50 (--http-client httpx measures with it).

Under the table: a speed check of the machine before and after (a fixed statement's time), and the share of
CPU time the hypervisor gave to other guests during the run (steal, where the system reports it), so that a
run can be compared with runs at the same speed.

    .venv/bin/python bench/query.py --data-dir /tmp/carthouse-year --days 365   # a year-long range

Targets (p95 through REST): every endpoint <= 100 ms for ranges of up to 30 days (the default, --days 30) and
<= 150 ms for longer ones (--days 365 on a data set generated with --days 365), and <= 1.3 x its bare SQL p95.
"""

from __future__ import annotations

import argparse
import http.client
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.startup import freeze_loaded_objects  # noqa: E402
from bench.results import record  # noqa: E402
from carthouse.config import Settings  # noqa: E402
from carthouse.store import Store, open_store  # noqa: E402
from carthouse.store.migrate import migrate  # noqa: E402
from services.analytics.queries import attribution, carts, channels, funnel, people, revenue  # noqa: E402
from services.analytics.queries.scope import scope_params  # noqa: E402
from tests.support.stack_process import StackProcess, machine_line  # noqa: E402

API = "/v1/api/analytics/ecommerce"
DEFAULT_DAYS = 30


def bare_queries(store: Store, scope: Callable[[], dict[str, Any]], now: datetime, span: int,
                 ) -> dict[str, Callable[[], Any]]:
    """Each endpoint's query functions; ``scope()`` binds the parameters as the servicer does for a request
    (including its read of the users whose deletion is pending), so every timed call pays it too."""
    days = [(now - timedelta(days=n)).date() for n in range(span - 1, -1, -1)]
    this_month = now.date().replace(day=1)
    first_month = date(this_month.year - 2 + (this_month.month == 12), (this_month.month % 12) + 1, 1)

    def kept() -> dict[str, Any]:
        return {**scope(), "tz": "UTC", "kept_since": now - timedelta(days=1825), "since": now - timedelta(days=1825)}

    return {
        "overview": lambda: revenue.totals(store, scope(), now),
        "revenue-timeseries": lambda: revenue.daily(store, scope(), "UTC", days),
        "funnel": lambda: funnel.step_counts(store, scope()),
        "top-products": lambda: revenue.top_products(store, scope(), 20),
        "revenue-by-channel": lambda: channels.by_channel(store, scope()),
        "revenue-by-coupon": lambda: revenue.by_coupon(store, scope()),
        "revenue-by-device": lambda: revenue.by_column(store, scope(), "device_type"),
        "revenue-by-platform": lambda: revenue.by_column(store, scope(), "platform"),
        "revenue-by-country": lambda: revenue.by_column(store, scope(), "country"),
        "cart-abandonment": lambda: carts.abandonment(store, scope(), now),
        **{f"attribution?model={model}&window=90":
           (lambda model=model: attribution.attribution(store, scope(), model, 90)) for model in attribution.MODELS},
        "cohorts?months=24": lambda: people.cohorts(store, kept(), first_month),
    }


RATIO_LIMIT = 1.3


def limit_ms(span: int) -> int:
    """Every endpoint's REST p95 target for a range of ``span`` days."""
    return 100 if span <= 30 else 150


Timings = dict[str, tuple[float, float]]


def measured(bare: dict[str, Callable[[], Any]], rest: dict[str, Callable[[], Any]], runs: int, order: str,
             ) -> tuple[Timings, Timings]:
    """(p50, p95) of each endpoint's bare and REST calls, alternating, after one unmeasured pass over all of
    them: a freshly opened store or started stack answers its first queries slower (cold caches), and the first
    endpoint measured should not pay that."""
    for call in (*bare.values(), *rest.values()):
        call()
    samples: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in bare}

    def pair(name: str, rest_first: bool) -> None:
        calls = [(bare[name], samples[name][0]), (rest[name], samples[name][1])]
        for call, series in reversed(calls) if rest_first else calls:
            started = time.perf_counter()
            call()
            series.append((time.perf_counter() - started) * 1000)

    if order == "rounds":
        for done in range(1, runs + 1):
            for name in bare:
                pair(name, rest_first=done % 2 == 0)
            if done % 5 == 0 or done == runs:
                print(f"  round {done} / {runs}", flush=True)
    else:
        for name in bare:
            bare[name]()  # each endpoint's own warm-up, right before its series
            rest[name]()
            for run in range(runs):
                pair(name, rest_first=run % 2 == 1)
            print(f"  {name}", flush=True)
    return ({name: percentiles(bare_ms) for name, (bare_ms, _) in samples.items()},
            {name: percentiles(rest_ms) for name, (_, rest_ms) in samples.items()})


# A fixed statement of the same kind as the endpoints' (distinct actors over all 10 M events), timed before and
# after the measurements: this machine's speed drifts by 10-40 % within the hour, and runs are only comparable
# at a similar reading.
CALIBRATION = "SELECT uniqExact(actor_key) FROM events"


# Readings further apart than this mean the machine changed speed during the run.
SPEED_DRIFT = 0.2


def speed_note(before: float, after: float) -> str:
    """What the speed check says about the run: a run whose machine changed speed midway mixes two speeds in
    its p95s, and is not comparable with runs at either reading."""
    note = f"machine speed check ({CALIBRATION}, median of 5): {before:.0f} ms before, {after:.0f} ms after"
    if abs(after - before) > SPEED_DRIFT * min(before, after):
        note += "\nthe machine's speed changed during the run: its tails mix two speeds; run it again to compare"
    return note


def steal_note(before: Any, after: Any) -> str:
    """The share of the run's CPU time the hypervisor gave to other guests (psutil.cpu_times() read before and
    after), on systems that report it: a slow phase with steal is the host's, one without is not."""
    if not hasattr(before, "steal"):
        return "CPU steal: not reported on this system"
    total = sum(after) - sum(before)
    share = 100 * (after.steal - before.steal) / total if total > 0 else 0.0
    return f"CPU steal during the run: {share:.1f} % of all CPU time"


def calibration_ms(store: Store) -> float:
    samples = []
    for _ in range(5):
        started = time.perf_counter()
        store.scalar(CALIBRATION)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def percentiles(samples: list[float]) -> tuple[float, float]:
    """(p50, p95) in milliseconds."""
    samples = sorted(samples)
    return statistics.median(samples), samples[max(0, int(round(0.95 * len(samples))) - 1)]


class KeptAliveClient:
    """GETs on one kept-alive HTTP/1.1 connection; a connection the server has closed meanwhile (uvicorn closes
    idle ones after 5 s) is opened again and the request sent once more."""

    def __init__(self, port: int, headers: dict[str, str]) -> None:
        self._port = port
        self._headers = headers
        self._conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def get(self, path: str, params: dict[str, Any]) -> bytes:
        target = f"{path}?{urlencode(params)}"
        try:
            return self._send(target)
        except (http.client.RemoteDisconnected, ConnectionError):
            self._conn.close()
            self._conn = http.client.HTTPConnection("127.0.0.1", self._port, timeout=60)
            return self._send(target)

    def _send(self, target: str) -> bytes:
        self._conn.request("GET", target, headers=self._headers)
        response = self._conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {target}: {response.status} {body[:300]!r}")
        return body

    def close(self) -> None:
        self._conn.close()


class HttpxClient:
    """The same GETs through httpx (--http-client httpx)."""

    def __init__(self, port: int, headers: dict[str, str]) -> None:
        self._client = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=60)

    def get(self, path: str, params: dict[str, Any]) -> bytes:
        return self._client.get(path, params=params).raise_for_status().content

    def close(self) -> None:
        self._client.close()


HTTP_CLIENTS = {"stdlib": KeptAliveClient, "httpx": HttpxClient}


def measure(store: Store, data_dir: Path, big: dict[str, str], runs: int, wanted: tuple[str, ...],
            now: datetime, order: str, span: int, http_client: str = "stdlib") -> tuple[Timings, Timings]:
    today = now.date()
    since = datetime.combine(today - timedelta(days=span - 1), datetime.min.time(), UTC)
    until = datetime.combine(today + timedelta(days=1), datetime.min.time(), UTC)
    in_range = store.scalar(
        "SELECT count() FROM events WHERE appspace_id = {a:String} AND event_time >= {s:DateTime64(3)}",
        {"a": big["appspace_id"], "s": since})
    print(f"{in_range:,} events of the large appspace in the last {span} days")

    def scope() -> dict[str, Any]:
        return scope_params(store, big["appspace_id"], since, until, False)

    calls = {name: call for name, call in bare_queries(store, scope, now, span).items()
             if not wanted or name.startswith(wanted)}
    with StackProcess(data_dir) as stack:
        http = HTTP_CLIENTS[http_client](stack.http_port, {"X-API-Key": big["secret_key"]})

        def request(name: str) -> Callable[[], Any]:
            path, _, query = name.partition("?")
            extra = dict(pair.split("=") for pair in query.split("&")) if query else {}
            return lambda: http.get(f"{API}/{path}", {"days": span, **extra})

        freeze_loaded_objects()  # as the stack does: the bare calls should not pay full collections it is spared
        try:
            return measured(calls, {name: request(name) for name in calls}, runs, order)
        finally:
            http.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--days", type=int, default=DEFAULT_DAYS,
                        help=f"the range every endpoint is asked for, ending today (default {DEFAULT_DAYS})")
    parser.add_argument("--only", default="", help="comma-separated endpoint name prefixes (default: all)")
    parser.add_argument("--order", choices=("rounds", "series"), default="rounds",
                        help="rounds: the endpoints take turns, a call pair each per round (default); "
                             "series: each endpoint's runs one after another")
    parser.add_argument("--http-client", choices=tuple(HTTP_CLIENTS), default="stdlib",
                        help="the REST calls' client: stdlib (one kept-alive http.client connection, default) or httpx")
    args = parser.parse_args()
    big = json.loads((args.data_dir / "keys.json").read_text())[0]
    wanted = tuple(p for p in args.only.split(",") if p)
    print(f"copying {args.data_dir} for the bare queries …", flush=True)
    with tempfile.TemporaryDirectory(prefix="bare-", dir=args.data_dir.parent) as scratch:
        copy = Path(scratch) / "data"
        shutil.copytree(args.data_dir, copy, symlinks=True, ignore=shutil.ignore_patterns("run.log", "redis"))
        store = open_store(Settings(data_dir=copy))
        migrate(store)
        try:
            events = int(store.scalar("SELECT count() FROM events"))
            before = calibration_ms(store)
            cpu_before = psutil.cpu_times()
            bare, rest = measure(store, args.data_dir, big, args.runs, wanted, datetime.now(UTC), args.order,
                                 args.days, args.http_client)
            cpu_after = psutil.cpu_times()
            after = calibration_ms(store)
        finally:
            store.close()
    print(f"\n{'endpoint':<44} {'REST p50':>9} {'REST p95':>9} {'SQL p50':>8} {'SQL p95':>8}  ratio  ok")
    failed = 0
    for name in bare:
        ratio = rest[name][1] / bare[name][1]
        ok = rest[name][1] <= limit_ms(args.days) and ratio <= RATIO_LIMIT
        failed += not ok
        print(f"{name:<44} {rest[name][0]:>7.1f}ms {rest[name][1]:>7.1f}ms {bare[name][0]:>6.1f}ms "
              f"{bare[name][1]:>6.1f}ms  {ratio:4.2f}  {'yes' if ok else 'NO'}")
    print(f"\n{args.runs} runs each ({args.order}, REST client {args.http_client}), days={args.days}, "
          f"{events:,} events; {failed} endpoint(s) over target")
    print(speed_note(before, after))
    print(steal_note(cpu_before, cpu_after))
    print(machine_line())
    figures: dict[str, object] = {"events": events, "runs": args.runs, "days": args.days, "order": args.order,
                                  "speed_check_ms_before": before, "speed_check_ms_after": after,
                                  "endpoints_over_target": failed}
    for name in bare:
        figures |= {f"{name} rest_p50_ms": rest[name][0], f"{name} rest_p95_ms": rest[name][1],
                    f"{name} sql_p50_ms": bare[name][0], f"{name} sql_p95_ms": bare[name][1]}
    record("query", figures)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
