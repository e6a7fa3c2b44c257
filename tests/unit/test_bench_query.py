"""bench/query.py's order of calls: what each endpoint's samples are made of."""

from collections.abc import Callable

from bench.query import measured


def _recording(log: list[str], names: list[str], kind: str) -> dict[str, Callable[[], None]]:
    return {name: (lambda name=name: log.append(f"{name}:{kind}")) for name in names}


def test_rounds_give_every_endpoint_one_call_pair_per_round_after_one_warm_up_pass() -> None:
    log: list[str] = []
    bare, rest = _recording(log, ["a", "b"], "sql"), _recording(log, ["a", "b"], "rest")
    bare_ms, rest_ms = measured(bare, rest, runs=3, order="rounds")
    warm_up = ["a:sql", "b:sql", "a:rest", "b:rest"]
    assert log == warm_up + ["a:sql", "a:rest", "b:sql", "b:rest"] * 3
    assert set(bare_ms) == set(rest_ms) == {"a", "b"}


def test_series_run_each_endpoints_calls_one_after_another() -> None:
    log: list[str] = []
    bare, rest = _recording(log, ["a", "b"], "sql"), _recording(log, ["a", "b"], "rest")
    measured(bare, rest, runs=2, order="series")
    warm_up = ["a:sql", "b:sql", "a:rest", "b:rest"]
    assert log == warm_up + ["a:sql", "a:rest"] * 3 + ["b:sql", "b:rest"] * 3  # each with its own warm-up pair
