"""Settings read from the environment: the embedded store's cache size, cluster mode."""

import pytest

from carthouse.config import ConfigError, Settings


def test_the_embedded_cache_defaults_to_a_gigabyte_and_zero_turns_it_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CARTHOUSE_CHDB_CACHE_MB", raising=False)
    assert Settings.from_env().chdb_cache_mb == 1024
    monkeypatch.setenv("CARTHOUSE_CHDB_CACHE_MB", "0")
    assert Settings.from_env().chdb_cache_mb == 0


@pytest.mark.parametrize(("value", "message"), [
    ("-1", "CARTHOUSE_CHDB_CACHE_MB must be 0 (no cache) or more"),
    ("lots", "CARTHOUSE_CHDB_CACHE_MB must be an integer, got 'lots'"),
])
def test_a_bad_cache_size_is_refused_with_its_name(monkeypatch: pytest.MonkeyPatch, value: str, message: str) -> None:
    monkeypatch.setenv("CARTHOUSE_CHDB_CACHE_MB", value)
    with pytest.raises(ConfigError) as caught:
        Settings.from_env()
    assert str(caught.value) == message


def test_cluster_mode_needs_a_server_and_a_plain_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLICKHOUSE_URL", raising=False)
    monkeypatch.setenv("CARTHOUSE_CLICKHOUSE_CLUSTER", "carthouse")
    with pytest.raises(ConfigError, match="^CARTHOUSE_CLICKHOUSE_CLUSTER needs CLICKHOUSE_URL"):
        Settings.from_env()
    monkeypatch.setenv("CLICKHOUSE_URL", "clickhouse://ch-s1-r1:9000/carthouse")
    assert Settings.from_env().clickhouse_cluster == "carthouse"
    monkeypatch.setenv("CARTHOUSE_CLICKHOUSE_CLUSTER", "c; DROP")
    with pytest.raises(ConfigError, match="may hold only letters"):
        Settings.from_env()
