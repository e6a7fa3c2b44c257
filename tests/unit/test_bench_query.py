"""bench/query.py's order of calls: what each endpoint's samples are made of."""

from collections.abc import Callable

from bench.query import measured


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
