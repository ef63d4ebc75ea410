"""The tiers answer what the raw readings would: a store reads a field's days and hours from its rolled-up
aggregates and only the part not rolled up yet from raw readings (issue 42), and whatever was written in
whatever order (late readings of days rolled up long ago, rewrites, readings turned implausible, between
maintenance runs or not), what it answers equals the aggregates of the raw readings themselves. On
SQLite and on a real InfluxDB 1.x."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from panen.devservices import InfluxServer
from sensors import Quality, Reading
from storage import TimeSeriesStore, local_day
from storage.base import DAY_MS
from storage.influx import InfluxStore
from storage.retention import HOUR_MS, Resolution, Retention, day_floor, raw_spans
from storage.sqlite import SqliteStore
from tests.scratch import scratch_influx

DAYS = 6
T0 = day_floor(1_780_000_000_000)  # 00:00 WIB of a day in 2026, weeks before any run of these tests
SITE, COOP = "f1", "c1"

# A write: readings as (node, hour since T0, value, valid); a maintenance: hours the clock moves on.
readings = st.lists(
    st.tuples(
        st.sampled_from(["n1", "n2"]),
        st.integers(0, DAYS * 24 - 1),
        st.integers(-5, 40).map(float),
        st.booleans(),
    ),
    min_size=1,
    max_size=12,
)
steps = st.lists(
    st.one_of(st.tuples(st.just("write"), readings), st.tuples(st.just("maintain"), st.integers(0, 30))),
    min_size=1,
    max_size=10,
)


def _truth(
    written: dict[tuple[str, int], tuple[float, bool]], width: int, offset: int
) -> dict[int, tuple[float, float, float, int]]:
    """min, max, sum, count of the valid values per bucket, from what was written (last write wins)."""
    out: dict[int, list[float]] = {}
    for (_node, ts), (value, valid) in written.items():
        if valid:
            out.setdefault((ts - offset) // width * width + offset, []).append(value)
    return {b: (min(v), max(v), sum(v), len(v)) for b, v in out.items()}


def _quality(ok: bool, hour: int, flips: bool) -> Quality:
    return Quality.VALID if (ok if flips else hour % 5) else Quality.IMPLAUSIBLE


def _check(store: TimeSeriesStore, written: dict[tuple[str, int], tuple[float, bool]]) -> None:
    end = T0 + DAYS * DAY_MS
    days = store.daily(
        site_ids=[SITE],
        metrics=["air_temp_c"],
        start_day=local_day(T0),
        end_day=local_day(end - 1),
        coop_id=COOP,
    )
    got = {
        day_floor(T0 + (a.day - local_day(T0)).days * DAY_MS): (a.min, a.max, a.sum, a.count) for a in days
    }
    assert got == _truth(written, DAY_MS, T0)  # whole numbers: sums are exact
    for resolution, width in ((Resolution.HOUR, HOUR_MS), (Resolution.DAY, DAY_MS)):
        buckets = store.buckets(
            resolution, site_id=SITE, metrics=["air_temp_c"], start_ms=T0, end_ms=end, coop_id=COOP
        )
        got = {b.start_ms: (b.min, b.max, b.sum, b.count) for b in buckets}
        assert got == _truth(written, width, T0), resolution


def _run(steps: Sequence[tuple[str, object]], store: TimeSeriesStore, *, flips: bool = True) -> None:
    """Apply ``steps`` to ``store``, checking its answers after each. Without ``flips`` a reading's
    validity is fixed by its node and hour (see the InfluxDB test)."""
    now = T0 + DAYS * DAY_MS  # the clock starts after the last reading; maintenance moves it on
    written: dict[tuple[str, int], tuple[float, bool]] = {}
    try:
        for kind, arg in steps:
            if kind == "write":
                batch = [
                    Reading(
                        node, COOP, SITE, "air_temp_c", value, T0 + hour * HOUR_MS, _quality(ok, hour, flips)
                    )
                    for node, hour, value, ok in arg  # type: ignore[attr-defined]
                ]
                store.write(batch)
                for r in batch:
                    written[(r.node_id, r.ts_ms)] = (r.value, r.quality == Quality.VALID)
            else:
                store.maintain(now_ms=now)
                now += int(arg) * HOUR_MS  # type: ignore[call-overload]
            _check(store, written)
    finally:
        store.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=steps)
def test_sqlite_tiers_answer_as_raw_readings_would(steps: Sequence[tuple[str, object]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ts.sqlite3"
        _run(steps, SqliteStore(path, retention=Retention(raw_days=None, resample_days=1)))


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(steps=steps)
def test_influx_tiers_answer_as_raw_readings_would(
    steps: Sequence[tuple[str, object]], influx_server: InfluxServer
) -> None:
    """The readings are weeks old, so every write is late for the continuous queries (a spool
    replayed after an outage): reads take the marked days raw until maintain() rolls them up again.
    A reading does not turn implausible here: InfluxDB 1.x cannot delete one policy's points, so a
    node's hour whose every reading turned implausible after its rollup keeps its old aggregate
    (written in storage.influx; the SQLite test covers flips)."""
    retention = Retention(raw_days=None, hourly_days=None, resample_days=1, every_s=60)
    with scratch_influx(influx_server, retention) as store:
        _run(steps, store, flips=False)


def test_influx_reads_a_rolled_up_season_from_the_tiers(influx_store: InfluxStore) -> None:
    """What makes a season's read cheap on InfluxDB: after a backfill, no day is read raw, until a
    late reading marks its day."""
    store = influx_store
    store.write([Reading("n1", COOP, SITE, "air_temp_c", 20.0, T0 + h * HOUR_MS) for h in range(10 * 24)])
    end = T0 + 10 * DAY_MS
    fresh = store._fresh_from(time.time_ns() // 1_000_000)
    marks = store.query(store._marks([None], T0, end))
    assert raw_spans(store._dirty(marks), T0, end, fresh) == [(T0, end)]  # all late: raw
    store.rollup(start_ms=T0, end_ms=end, now_ms=end)
    marks = store.query(store._marks([None], T0, end))
    assert raw_spans(store._dirty(marks), T0, end, fresh) == []
    store.write([Reading("n1", COOP, SITE, "air_temp_c", 25.0, T0 + 3 * DAY_MS + HOUR_MS)])
    marks = store.query(store._marks([None], T0, end))
    assert raw_spans(store._dirty(marks), T0, end, fresh) == [(T0 + 3 * DAY_MS, T0 + 4 * DAY_MS)]
    (day,) = store.daily(
        site_ids=[SITE],
        metrics=["air_temp_c"],
        start_day=local_day(T0 + 3 * DAY_MS),
        end_day=local_day(T0 + 3 * DAY_MS),
    )
    assert (day.count, day.max) == (24, 25.0)
    assert store.maintain(now_ms=time.time_ns() // 1_000_000) == {"rolled_up_days": 1}
    marks = store.query(store._marks([None], T0, end))
    assert raw_spans(store._dirty(marks), T0, end, fresh) == []


def test_a_late_reading_of_a_day_rolled_up_long_ago_is_counted_at_once(tmp_path: Path) -> None:
    """The class's example: a spool replayed after a week's outage brings a reading of a day that the
    last maintenance rolled up and will not recompute (it is past resample_days)."""
    store = SqliteStore(tmp_path / "ts.sqlite3", retention=Retention(raw_days=None, resample_days=1))
    day = T0
    store.write([Reading("n1", COOP, SITE, "air_temp_c", 10.0, day + HOUR_MS)])
    store.maintain(now_ms=day + 20 * DAY_MS)
    store.write([Reading("n1", COOP, SITE, "air_temp_c", 30.0, day + 2 * HOUR_MS)])  # late
    (late,) = store.daily(
        site_ids=[SITE], metrics=["air_temp_c"], start_day=local_day(day), end_day=local_day(day)
    )
    assert (late.count, late.max) == (2, 30.0)
    # Turned implausible (a correction): the day has no valid value left, and says so at once.
    store.write([Reading("n1", COOP, SITE, "air_temp_c", 30.0, day + 2 * HOUR_MS, Quality(1))])
    store.write([Reading("n1", COOP, SITE, "air_temp_c", 10.0, day + HOUR_MS, Quality(1))])
    assert (
        store.daily(site_ids=[SITE], metrics=["air_temp_c"], start_day=local_day(day), end_day=local_day(day))
        == []
    )
    # The next maintenance folds the day in again and it is read from the tier.
    store.maintain(now_ms=day + 20 * DAY_MS + HOUR_MS)
    assert (
        store.buckets(Resolution.DAY, site_id=SITE, metrics=["air_temp_c"], start_ms=day, end_ms=day + DAY_MS)
        == []
    )
    store.close()


def test_reads_leave_rolled_days_to_the_tier(tmp_path: Path) -> None:
    """After maintenance a season's read takes raw readings only from the day the mark is in: the
    tier answers the rest (what makes the 90-day series cheap)."""
    store = SqliteStore(tmp_path / "ts.sqlite3", retention=Retention(raw_days=None))
    store.write([Reading("n1", COOP, SITE, "air_temp_c", 20.0, T0 + h * HOUR_MS) for h in range(30 * 24)])
    now = T0 + 30 * DAY_MS - HOUR_MS
    store.maintain(now_ms=now)
    with store._snapshot() as conn:
        spans = store._raw_spans(conn, T0, T0 + 30 * DAY_MS)
    assert spans == [(day_floor(now), T0 + 30 * DAY_MS)]
    store.write([Reading("n1", COOP, SITE, "air_temp_c", 25.0, T0 + 3 * DAY_MS + HOUR_MS)])
    with store._snapshot() as conn:
        spans = store._raw_spans(conn, T0, T0 + 30 * DAY_MS)
    assert spans == [(T0 + 3 * DAY_MS, T0 + 4 * DAY_MS), (day_floor(now), T0 + 30 * DAY_MS)]
    store.close()


def test_influx_a_late_day_past_the_raw_window_is_left_to_its_tier(influx_store: InfluxStore) -> None:
    """A late reading of a day whose raw readings are expiring (past the store's 90 days): read raw
    until maintenance, then the tier answers as it was, since recomputing the day from what raw is
    left would undercount. maintain() records such days without a backfill, and rolls up the others
    (several days in a row at once)."""
    store = influx_store
    hours = range(3 * 24)
    store.write([Reading("n1", COOP, SITE, "air_temp_c", 20.0, T0 + h * HOUR_MS) for h in hours])
    store.rollup(start_ms=T0, end_ms=T0 + 3 * DAY_MS, now_ms=T0 + 3 * DAY_MS)  # when it was recent
    store.write([Reading("n1", COOP, SITE, "air_temp_c", 35.0, T0 + DAY_MS + 30 * 60_000)])  # late, day 2
    now = time.time_ns() // 1_000_000
    # And three recent days, late too: before the days the continuous queries may still be rolling
    # up, which reach back to yesterday in the first three hours after midnight WIB.
    recent = store._fresh_from(now) - 3 * DAY_MS
    store.write([Reading("n1", COOP, SITE, "air_temp_c", 25.0, recent + d * DAY_MS) for d in range(3)])

    def day_two() -> tuple[int, float]:
        (day,) = store.daily(
            site_ids=[SITE],
            metrics=["air_temp_c"],
            start_day=local_day(T0 + DAY_MS),
            end_day=local_day(T0 + DAY_MS),
        )
        return day.count, day.max

    assert day_two() == (25, 35.0)  # raw, late reading included
    assert store.maintain(now_ms=now) == {"rolled_up_days": 4}
    assert day_two() == (24, 20.0)  # the tier as it was: the day is past the raw window
    end = day_floor(now) + DAY_MS
    assert raw_spans(store._dirty(store.query(store._marks([None], T0, end))), T0, end, end) == []
    recent_days = store.buckets(
        Resolution.DAY, site_id=SITE, metrics=["air_temp_c"], start_ms=recent, end_ms=recent + 3 * DAY_MS
    )
    assert [(b.start_ms, b.count) for b in recent_days] == [(recent + d * DAY_MS, 1) for d in range(3)]
