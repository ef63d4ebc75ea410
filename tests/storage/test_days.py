"""Local days in Asia/Jakarta."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from hypothesis import given
from hypothesis import strategies as st

from storage import local_day, local_day_start_ms

WIB = zoneinfo.ZoneInfo("Asia/Jakarta")


def test_wib_midnight_is_17_utc() -> None:
    start = local_day_start_ms(dt.date(2026, 1, 1))
    assert dt.datetime.fromtimestamp(start / 1000, dt.UTC) == dt.datetime(2025, 12, 31, 17, tzinfo=dt.UTC)
    assert local_day(start) == dt.date(2026, 1, 1)
    assert local_day(start - 1) == dt.date(2025, 12, 31)


@given(st.integers(min_value=946_684_800_000, max_value=4_102_444_800_000))
def test_local_day_matches_the_tz_database(ts_ms: int) -> None:
    assert local_day(ts_ms) == dt.datetime.fromtimestamp(ts_ms / 1000, WIB).date()
