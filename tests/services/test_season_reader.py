"""The refresh reads only what changed since its last run (issue 42), and what it answers is what a whole
read would: after any sequence of writes (late readings of old days, rewrites, readings turned
implausible, new sites), maintenance runs and grids that move on, :class:`SeasonReader` equals
:func:`season_series`. On SQLite and on a real InfluxDB 1.x."""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forecast.drivers import DailySeries
from panen.devservices import InfluxServer
from sensors import Quality, Reading
from services.forecasting import DRIVER_METRICS, SeasonReader, season_series
from storage import TimeSeriesStore, local_day
from storage.base import DAY_MS
from storage.retention import HOUR_MS, Retention, day_floor
from storage.sqlite import SqliteStore
from tests.scratch import scratch_influx

DAYS = 8
T0 = day_floor(1_780_000_000_000)  # 00:00 WIB of a day in 2026, weeks before any run of these tests
COOP = "c1"
SITES = ["f1", "f2", "f3"]

# A write: (site, hour since T0, value, valid); a maintenance: hours the clock moves on; a read: the
# grid's first and last day (since T0).
writes = st.lists(
    st.tuples(
        st.sampled_from(SITES), st.integers(0, DAYS * 24 - 1), st.integers(-5, 40).map(float), st.booleans()
    ),
    min_size=1,
    max_size=10,
)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("write"), writes),
        st.tuples(st.just("maintain"), st.integers(0, 30)),
        st.tuples(st.just("read"), st.tuples(st.integers(0, 3), st.integers(3, DAYS - 1))),
    ),
    min_size=1,
    max_size=12,
)


def _same(got: dict[str, DailySeries], want: dict[str, DailySeries]) -> None:
    assert list(got) == list(want)
    for site, series in want.items():
        assert got[site].days == series.days
        for metric in {*series.values, *got[site].values}:
            for stat in ("min", "mean", "max", "sum"):
                np.testing.assert_array_equal(
                    got[site].get(metric, stat), series.get(metric, stat), (site, metric)
                )


def _run(steps: Sequence[tuple[str, object]], store: TimeSeriesStore) -> None:
    reader = SeasonReader(store)
    now = T0 + DAYS * DAY_MS
    sites = SITES[:2]  # the third joins after the first read
    try:
        for kind, arg in steps:
            if kind == "write":
                store.write(
                    [
                        Reading(
                            f"n-{site}",
                            COOP,
                            site,
                            "air_temp_c",
                            value,
                            T0 + hour * HOUR_MS,
                            Quality.VALID if ok else Quality.IMPLAUSIBLE,
                        )
                        for site, hour, value, ok in arg  # type: ignore[attr-defined]
                    ]
                )
            elif kind == "maintain":
                store.maintain(now_ms=now)
                now += int(arg) * HOUR_MS  # type: ignore[call-overload]
            else:
                first, last = arg  # type: ignore[misc]
                days = [local_day(T0) + dt.timedelta(days=d) for d in range(first, last + 1)]
                _same(reader.read(sites, days), season_series(store, sites, days))
                sites = SITES
    finally:
        store.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=steps)
def test_sqlite_an_incremental_read_equals_a_whole_one(steps: Sequence[tuple[str, object]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        _run(
            steps, SqliteStore(Path(tmp) / "ts.sqlite3", retention=Retention(raw_days=None, resample_days=1))
        )


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(steps=steps)
def test_influx_an_incremental_read_equals_a_whole_one(
    steps: Sequence[tuple[str, object]], influx_server: InfluxServer
) -> None:
    """The readings are weeks old, so every write is late and marks its day."""
    retention = Retention(raw_days=None, hourly_days=None, resample_days=1, every_s=60)
    with scratch_influx(influx_server, retention) as store:
        _run(steps, store)


def test_influx_readings_that_arrive_in_time_are_read_again(influx_server: InfluxServer) -> None:
    """A reading that arrives in time marks nothing: its day is still read raw, and read again."""
    with scratch_influx(influx_server) as store:
        now = time.time_ns() // 1_000_000
        days = [local_day(now) - dt.timedelta(days=1), local_day(now)]
        store.write([Reading("n1", COOP, "f1", "air_temp_c", 20.0, now - 60_000)])
        reader = SeasonReader(store)
        assert reader.read(["f1"], days)["f1"].get("air_temp_c", "max")[-1] == 20.0
        store.write([Reading("n1", COOP, "f1", "air_temp_c", 30.0, now - 30_000)])
        got = reader.read(["f1"], days)
        assert got["f1"].get("air_temp_c", "max")[-1] == 30.0
        assert reader.site_days_read <= len(days)
        _same(got, season_series(store, ["f1"], days))


def test_a_second_read_reads_only_what_changed(tmp_path: Path) -> None:
    """What the refresh saves: a season read again after one late reading reads one day of each site,
    and the next day of the grid; the read's answer is the whole read's."""
    store = SqliteStore(tmp_path / "ts.sqlite3", retention=Retention(raw_days=None, resample_days=1))
    store.write(
        [
            Reading(f"n-{s}", COOP, s, "air_temp_c", 20.0, T0 + h * HOUR_MS)
            for s in SITES
            for h in range(0, DAYS * 24, 3)
        ]
    )
    store.maintain(now_ms=T0 + DAYS * DAY_MS)
    reader = SeasonReader(store)
    days = [local_day(T0) + dt.timedelta(days=d) for d in range(DAYS - 1)]
    reader.read(SITES, days)
    assert reader.site_days_read == len(SITES) * len(days)
    reader.read(SITES, days)
    assert reader.site_days_read == 0  # nothing changed
    store.write([Reading("n-f2", COOP, "f2", "air_temp_c", 35.0, T0 + 2 * DAY_MS + HOUR_MS)])  # late
    days = [*days[1:], local_day(T0) + dt.timedelta(days=DAYS - 1)]  # and the grid moves on a day
    got = reader.read(SITES, days)
    assert reader.site_days_read == 2 * len(SITES)  # the late day and the new one
    assert got["f2"].get("air_temp_c", "max")[1] == 35.0
    _same(got, season_series(store, SITES, days))
    store.close()


def test_the_refresh_forecasts_from_what_a_whole_read_gives(tmp_path: Path) -> None:
    """The driver metrics the refresh reads: a site's metrics read apart equal the whole read's."""
    store = SqliteStore(tmp_path / "ts.sqlite3", retention=Retention(raw_days=None, resample_days=1))
    store.write(
        [
            Reading("n1", COOP, "f1", metric, 10.0 + h % 7, T0 + h * HOUR_MS)
            for metric in DRIVER_METRICS
            for h in range(DAYS * 24)
        ]
    )
    reader = SeasonReader(store)
    days = [local_day(T0) + dt.timedelta(days=d) for d in range(DAYS)]
    reader.read(["f1"], days)
    store.write([Reading("n1", COOP, "f1", "rain_mm", 4.0, T0 + 3 * DAY_MS + 30 * 60_000)])
    _same(reader.read(["f1"], days), season_series(store, ["f1"], days))
    store.close()


def test_a_late_day_past_the_raw_window_is_read_again_once_its_tier_answers(store: TimeSeriesStore) -> None:
    """The one change no write makes: on InfluxDB a late reading of a day past the raw window (90 days)
    is read raw until maintenance, which then leaves the day to its tier as it was (recomputing it
    from what raw is left would undercount): the day's answer changes at maintenance, and is read
    again. (SQLite never reads such a day raw: its answer is the tier's throughout.)"""
    store.write([Reading("n1", COOP, "f1", "air_temp_c", 20.0, T0 + h * HOUR_MS) for h in range(3 * 24)])
    now = time.time_ns() // 1_000_000
    store.rollup(start_ms=T0, end_ms=T0 + 3 * DAY_MS, now_ms=T0 + 3 * DAY_MS)  # when it was recent
    store.maintain(now_ms=now)
    store.write([Reading("n1", COOP, "f1", "air_temp_c", 35.0, T0 + DAY_MS + 30 * 60_000)])  # late
    reader = SeasonReader(store)
    days = [local_day(T0) + dt.timedelta(days=d) for d in range(3)]
    before = reader.read(["f1"], days)
    _same(before, season_series(store, ["f1"], days))
    store.maintain(now_ms=now)
    after = reader.read(["f1"], days)
    _same(after, season_series(store, ["f1"], days))
    assert after["f1"].get("air_temp_c", "max")[1] == 20.0  # the tier, as it was


def test_a_token_the_store_does_not_know_means_every_day(store: TimeSeriesStore) -> None:
    """No token, another store's token, or a SQLite change number past the store's own (a file put
    back from a backup): every day may have changed, and the answer says so (None), never "none"."""
    store.write([Reading("n1", COOP, "f1", "air_temp_c", 20.0, T0 + HOUR_MS)])
    day = local_day(T0)
    changed, token = store.changed_days(None, start_day=day, end_day=day)
    assert changed is None
    assert store.changed_days(token, start_day=day, end_day=day)[0] is not None
    for foreign in (object(), "token", 10**12):
        assert store.changed_days(foreign, start_day=day, end_day=day)[0] is None
