"""Statements run side by side: their results in order, and the lighter ones' share of the cores."""

import pytest

from services.analytics.queries.concurrent import share_of_cores, together


class _Cores:
    def __init__(self, threads: int) -> None:
        self.threads = threads

    def query_threads(self) -> int:
        return self.threads


@pytest.mark.parametrize(("cores", "statements", "share"), [(2, 3, 1), (1, 2, 1), (16, 3, 5), (8, 2, 4)])
def test_a_statement_run_beside_others_gets_its_share_of_the_cores(cores: int, statements: int, share: int) -> None:
    sql = share_of_cores(_Cores(cores), "SELECT 1", statements)  # type: ignore[arg-type]
    assert sql == f"SELECT 1\nSETTINGS max_threads = {share}"


def test_results_come_back_in_call_order_and_errors_are_raised() -> None:
    assert together(lambda: 1, lambda: "two", lambda: [3]) == [1, "two", [3]]

    def fails() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        together(lambda: 1, fails)
