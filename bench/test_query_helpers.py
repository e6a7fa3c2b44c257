"""bench/query.py's order of calls: what each endpoint's samples are made of."""

import threading
from collections import namedtuple
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench.query import KeptAliveClient, measured, speed_note, steal_note


def _recording(log: list[str], names: list[str], kind: str) -> dict[str, Callable[[], None]]:
    return {name: (lambda name=name: log.append(f"{name}:{kind}")) for name in names}


WARM_UP = ["a:sql", "b:sql", "a:rest", "b:rest"]


def test_rounds_give_every_endpoint_one_call_pair_per_round_whose_order_alternates() -> None:
    log: list[str] = []
    bare, rest = _recording(log, ["a", "b"], "sql"), _recording(log, ["a", "b"], "rest")
    bare_ms, rest_ms = measured(bare, rest, runs=3, order="rounds")
    sql_first = ["a:sql", "a:rest", "b:sql", "b:rest"]
    rest_first = ["a:rest", "a:sql", "b:rest", "b:sql"]
    assert log == WARM_UP + sql_first + rest_first + sql_first
    assert set(bare_ms) == set(rest_ms) == {"a", "b"}


def test_series_run_each_endpoints_calls_one_after_another() -> None:
    log: list[str] = []
    bare, rest = _recording(log, ["a", "b"], "sql"), _recording(log, ["a", "b"], "rest")
    measured(bare, rest, runs=2, order="series")
    # Each endpoint's own warm-up pair, then its runs, the pair's order alternating.
    assert log == WARM_UP + ["a:sql", "a:rest", "a:sql", "a:rest", "a:rest", "a:sql",
                             "b:sql", "b:rest", "b:sql", "b:rest", "b:rest", "b:sql"]


class _Answers(BaseHTTPRequestHandler):
    """200 with the request's target for /ok, 404 otherwise. Each answer says HTTP/1.1 and no "Connection: close",
    and then the server closes the connection anyway, as uvicorn does with a kept-alive connection left idle."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
        status = 200 if self.path.startswith("/ok?") else 404
        body = self.path.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


def test_the_rest_client_reopens_a_closed_connection_and_refuses_errors() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = KeptAliveClient(server.server_address[1], {"X-API-Key": "k"})
    try:
        assert client.get("/ok", {"days": 30}) == b"/ok?days=30"
        assert client.get("/ok", {"days": 7, "model": "linear"}) == b"/ok?days=7&model=linear"  # reopened
        with pytest.raises(RuntimeError, match="GET /missing\\?days=1: 404"):
            client.get("/missing", {"days": 1})
    finally:
        client.close()
        server.shutdown()


def test_a_run_whose_machine_changed_speed_says_so() -> None:
    steady = speed_note(50, 59)
    assert steady.endswith("50 ms before, 59 ms after")
    assert "changed during the run" not in steady
    # 73 ms after 50 before: 46 % slower (run A3 of docs/PERFORMANCE.md); faster by as much is flagged too.
    assert "speed changed during the run" in speed_note(50, 73)
    assert "speed changed during the run" in speed_note(73, 50)


def test_the_steal_note_is_the_stolen_share_of_all_cpu_time() -> None:
    cpu = namedtuple("scputimes", "user system idle steal")
    # 30 + 10 + 50 + 10 = 100 ticks went by, 10 of them stolen.
    assert steal_note(cpu(100, 20, 400, 5), cpu(130, 30, 450, 15)) == "CPU steal during the run: 10.0 % of all CPU time"
    assert steal_note(cpu(1, 1, 1, 0), cpu(1, 1, 1, 0)) == "CPU steal during the run: 0.0 % of all CPU time"
    no_steal = namedtuple("scputimes", "user system idle")
    assert steal_note(no_steal(1, 1, 1), no_steal(2, 2, 2)) == "CPU steal: not reported on this system"
