"""How numbers leave the analytics service: money from exact minor units to the base currency's digits,
percentages to one decimal (half up), never a division by zero."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal


def money(minor: int | None, digits: int) -> float:
    """Minor units (exact integers from ClickHouse) as a JSON number with the currency's digits: the double
    nearest the exact amount, since Python divides integers correctly rounded (the same double as through
    Decimal, at a tenth of the cost: a year's daily series builds 365 of them)."""
    return int(minor or 0) / 10**digits


def money_ratio(minor: int | None, count: int | None, digits: int) -> float:
    """An average in major units, rounded half-even to the currency's digits; 0 when nothing to divide by."""
    if not count:
        return 0.0
    exact = Decimal(int(minor or 0)) / Decimal(int(count))
    return float(exact.quantize(Decimal(1), rounding=ROUND_HALF_EVEN).scaleb(-digits))


def percent(part: int | None, whole: int | None) -> float:
    """part / whole × 100 to one decimal, half up; 0 when whole is 0."""
    if not whole:
        return 0.0
    return float((Decimal(int(part or 0)) * 100 / Decimal(int(whole))).quantize(Decimal("0.1"), ROUND_HALF_UP))

