"""Indonesian numbers (issue 39): the field page refused ``1.500`` kg as "2 kg" and answered ``1,5``
with a raw English error. The rule is in services/numbers.py's docstring; these hold it over the
whole space of numbers, in both ways of writing them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services import InvalidInput
from services.numbers import format_id, parse_amount


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1.500", 1500.0),  # a lone dot and three digits: fifteen hundred, as Indonesians write it
        ("1,5", 1.5),
        ("0,51", 0.51),
        ("1.234,5", 1234.5),
        ("1,234.5", 1234.5),
        ("1.500.000", 1_500_000.0),
        ("1,500,000", 1_500_000.0),
        ("1 500", 1500.0),
        ("1\u00a0500,25", 1500.25),
        ("1.5", 1.5),
        ("10.25", 10.25),
        ("0.510", 0.51),
        ("1234.567", 1234.567),
        ("1200", 1200.0),
    ],
)
def test_the_written_rule(text: str, value: float) -> None:
    assert parse_amount(text) == pytest.approx(value)


@pytest.mark.parametrize(
    "text", ["", " ", "abc", "1.2.3,4.5", "12.34.567", "1,,5", "-5", "1,5,", ".5", "1e3", "1.5kg"]
)
def test_what_is_not_a_number_is_refused_in_both_languages(text: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_amount(text)
    assert "bukan angka" in (refused.value.farmer or "")


@given(st.decimals(min_value=0, max_value=10**9, places=3, allow_nan=False, allow_infinity=False))
def test_what_the_page_writes_it_reads_back(value: object) -> None:
    number = float(value)  # type: ignore[arg-type]
    assert parse_amount(format_id(number, 3)) == pytest.approx(number, abs=1e-9)


@given(st.integers(0, 10**12), st.integers(0, 999))
def test_indonesian_and_english_grouping_read_alike(whole: int, thousandths: int) -> None:
    english = f"{whole:,}.{thousandths:03d}"
    indonesian = english.replace(",", "_").replace(".", ",").replace("_", ".")
    expected = whole + thousandths / 1000
    assert parse_amount(indonesian) == pytest.approx(expected)
    if whole >= 1000 or whole == 0:  # a grouping comma, or a leading 0, says the dot is decimal
        assert parse_amount(english) == pytest.approx(expected)
    else:  # the ambiguous case, "1.500": the page reads it as Indonesians write fifteen hundred
        assert parse_amount(english) == whole * 1000 + thousandths


def test_the_page_writes_numbers_as_indonesians_do() -> None:
    assert format_id(9500) == "9.500"
    assert format_id(0.51, 2) == "0,51"
    assert format_id(10.5, 1) == "10,5"
    assert format_id(50_000) == "50.000"
    assert format_id(12.0, 1) == "12"
