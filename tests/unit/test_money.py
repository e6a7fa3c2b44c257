import random
from decimal import Decimal

import pytest

from carthouse.money import decimal_from_json, from_minor_units, is_currency_code, minor_digits, to_minor_units
from services.analytics.numbers import money


@pytest.mark.parametrize(("code", "digits"), [("USD", 2), ("EUR", 2), ("JPY", 0), ("KRW", 0), ("ISK", 0),
                                              ("KWD", 3), ("BHD", 3), ("CLF", 4)])
def test_minor_digits_follow_iso_4217(code: str, digits: int) -> None:
    assert minor_digits(code) == digits


def test_json_number_becomes_exact_cents() -> None:
    assert to_minor_units(decimal_from_json(49.99), "USD") == 4999
    assert to_minor_units(decimal_from_json(0.1 + 0.2), "USD") == 30
    assert to_minor_units(decimal_from_json(5000.0), "JPY") == 5000
    assert to_minor_units(decimal_from_json(12.345), "KWD") == 12345


def test_rounding_is_half_even_at_the_currency_digits() -> None:
    assert to_minor_units(Decimal("0.125"), "USD") == 12
    assert to_minor_units(Decimal("0.135"), "USD") == 14
    assert to_minor_units(Decimal("1999.5"), "JPY") == 2000
    assert to_minor_units(Decimal("1998.5"), "JPY") == 1998


def test_minor_units_convert_back() -> None:
    assert from_minor_units(4999, "USD") == Decimal("49.99")
    assert from_minor_units(12345, "KWD") == Decimal("12.345")
    assert from_minor_units(5000, "JPY") == Decimal("5000")


def test_currency_codes() -> None:
    assert is_currency_code("USD")
    assert not is_currency_code("XYZ")
    assert not is_currency_code("usd")
    assert not is_currency_code("US")


def test_non_finite_json_numbers_are_refused() -> None:
    with pytest.raises(ValueError):
        decimal_from_json(float("nan"))


def test_the_analytics_amount_is_the_double_nearest_the_exact_decimal() -> None:
    """money() divides integers instead of going through Decimal: the same double, for amounts past 2^53 too."""
    rng = random.Random(7)
    amounts = [0, 1, -1, 5, 10**16, -(10**16), 2**53 + 1, 12345678901234567, *(
        rng.randrange(-(10**n), 10**n) for n in (3, 9, 16, 20) for _ in range(20_000))]
    for digits in (0, 2, 3, 4):
        assert [money(a, digits) for a in amounts] == [float(Decimal(a).scaleb(-digits)) for a in amounts]
    assert (money(None, 2), money(12450, 2), money(5, 3)) == (0.0, 124.5, 0.005)
