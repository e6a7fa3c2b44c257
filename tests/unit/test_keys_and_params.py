from datetime import UTC, datetime

from carthouse.store.params import encode_param
from carthouse.tenancy.keys import generate_key, hash_key, key_matches, parse_key
from services.ingest.rows import property_text


def test_generated_keys_parse_back_to_their_kind_and_id() -> None:
    for kind in ("publishable", "secret"):
        raw, key_id = generate_key(kind)
        parsed = parse_key(raw)
        assert parsed is not None
        assert (parsed.kind, parsed.key_id) == (kind, key_id)


def test_keys_are_random() -> None:
    assert len({generate_key("secret")[0] for _ in range(100)}) == 100


def test_only_the_exact_key_matches_its_hash() -> None:
    raw, _ = generate_key("secret")
    assert key_matches(raw, hash_key(raw))
    assert not key_matches(raw[:-1] + ("a" if raw[-1] != "a" else "b"), hash_key(raw))


def test_malformed_keys_do_not_parse() -> None:
    for raw in ("", "ck_sec_short_x", "sk_live_abc", "ck_xyz_aaaaaaaaaaaa_" + "b" * 32):
        assert parse_key(raw) is None


def test_parameter_encoding_escapes_strings_and_collections() -> None:
    assert encode_param("it's a\\b\tc\nd") == "it's a\\\\b\\tc\\nd"
    assert encode_param(["a'b", "c\td"]) == "['a\\'b','c\\td']"
    assert encode_param(42) == "42"
    assert encode_param(datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)) == "2026-01-02 03:04:05.678"


def test_property_values_are_stored_as_text() -> None:
    assert property_text("spring") == "spring"
    assert property_text(3.0) == "3"
    assert property_text(2.5) == "2.5"
    assert property_text(True) == "true"
    assert property_text(False) == "false"
