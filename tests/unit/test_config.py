"""Settings read from the environment: the embedded store's cache size."""

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
