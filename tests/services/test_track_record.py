"""The track record reads what it needs of the forecast history, once (issue 19).

Every refresh's forecasts are kept (every 15 minutes in the demo), so a track record that read each
field's forecasts over the 64 days before its harvest read tens of thousands of rows per record, on
every request to ``/v1/forecasts/skill`` and in every refresh cycle (measured: 11 s for 254 records
of hourly forecasts, ``bench.track_record``), and learning read 200 days of them per record. Here a
real SQLite store counts the forecast points it hands out.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from forecast.learning import learn
from services.forecasting import ForecastService
from services.track_record import LEADS, WINDOW_DAYS, pairings, skill_table
from storage import ForecastPoint, local_day_start_ms
from storage.db import Cooperative, Field, HarvestRecord
from storage.db.engine import open_registry, sqlite_url
from storage.sqlite import SqliteStore

DAY_MS = 86_400_000
HARVEST = dt.date(2026, 3, 1)  # in the past, so every lead's window has closed
EVERY_MS = 3 * 3_600_000  # a refresh every three hours


class CountingStore(SqliteStore):
    """A real SQLite store that counts the forecast points its queries return."""

    served = 0

    def forecasts(self, **query: Any) -> list[ForecastPoint]:
        points = super().forecasts(**query)
        self.served += len(points)
        return points


def _platform(tmp_path: Path, fields: int = 3) -> tuple[CountingStore, sessionmaker[Session]]:
    sessions = open_registry(sqlite_url(tmp_path / "registry.db"))
    store = CountingStore(tmp_path / "store.db")
    with sessions() as session:
        session.add(Cooperative(id="koperasi-a", name="Koperasi A", kind="desa"))
        for i in range(fields):
            session.add(
                Field(
                    id=f"f{i}", coop_id="koperasi-a", commodity="potato", area_ha=1.0, soil_texture="loam",
                    planting_date=HARVEST - dt.timedelta(days=100), elevation_m=1200.0,
                    lat=-7.8, lon=112.5,
                )
            )  # fmt: skip
            session.add(
                HarvestRecord(
                    field_id=f"f{i}", harvest_date=HARVEST, tonnes=20.0, recorded_at=dt.datetime.now(dt.UTC)
                )
            )
        session.commit()
    # Every refresh's forecast over the 120 days before the harvest, as the forecasting service keeps them.
    first = local_day_start_ms(HARVEST - dt.timedelta(days=120))
    dates = {"harvest_day_p10": 20500.0, "harvest_day_p50": 20510.0, "harvest_day_p90": 20520.0}
    store.write_forecasts(
        ForecastPoint(
            f"f{i}",
            "koperasi-a",
            "potato",
            ts,
            {"tonnes_p10": 16.0, "tonnes_p50": 20.0 + i, "tonnes_p90": 24.0, **dates},
        )
        for i in range(fields)
        for ts in range(first, local_day_start_ms(HARVEST), EVERY_MS)
    )
    return store, sessions


def test_the_track_record_reads_only_the_lead_windows_and_only_once(tmp_path: Path) -> None:
    store, sessions = _platform(tmp_path)
    with sessions() as session:
        found = pairings(store, session)
        first_read = store.served
        assert len(found) == 3 * len(LEADS)  # every record paired at every lead
        # Each lead's window of ±WINDOW_DAYS, 8 refreshes a day, per record: not the 64 days before it.
        assert first_read <= 3 * len(LEADS) * (2 * WINDOW_DAYS + 1) * 8
        again = skill_table(store, session)
        assert store.served == first_read  # a closed record's pairings are not read again
        assert pairings(store, session) == found
        row = next(r for r in again if r.lead_days == 30)
        assert row.records == 3
        assert row.tonnes_mape is not None
        # A voided record leaves the track record at once, without a read.
        record = session.get(HarvestRecord, 1)
        assert record is not None
        record.voided_at = dt.datetime.now(dt.UTC)
        session.commit()
        assert {p.field_id for p in pairings(store, session)} == {"f1", "f2"}
        assert store.served == first_read


def test_learning_reads_the_week_before_the_cutoff_not_200_days(tmp_path: Path) -> None:
    store, sessions = _platform(tmp_path)
    service = ForecastService(store, sessions, members=4)
    with sessions() as session:
        harvests = list(session.query(HarvestRecord))
        fields = {f.id: f for f in session.query(Field)}
    records = service._records(harvests, fields)
    assert [r.field_id for r in records] == ["f0", "f1", "f2"]
    # The last forecast issued before the cutoff (a week before the harvest) is the one paired.
    assert [r.forecast_tonnes for r in records] == [20.0, 21.0, 22.0]
    # And the dates of the last ones issued 30 and 60 days before the harvest (issue 38: dates learn
    # from every lead): a week of refreshes read per record and lead.
    p50 = dt.date(1970, 1, 1) + dt.timedelta(days=20510)
    assert [r.earlier_forecast_dates for r in records] == [(p50, p50)] * 3
    assert store.served <= 3 * 3 * 7 * 8


def test_an_earlier_forecast_of_another_season_is_not_paired_with_this_harvest(tmp_path: Path) -> None:
    """The forecast 60 days before a harvest may be of the season before (a short crop, replanted):
    its date, a season away from this season's, is not this season's error."""
    store, sessions = _platform(tmp_path, fields=1)
    before_60 = local_day_start_ms(HARVEST - dt.timedelta(days=60))
    season_before = {"harvest_day_p10": 20400.0, "harvest_day_p50": 20410.0, "harvest_day_p90": 20420.0}
    store.write_forecasts(
        [ForecastPoint("f0", "koperasi-a", "potato", before_60 - 1, {"tonnes_p50": 20.0, **season_before})]
    )
    with sessions() as session:
        harvests = list(session.query(HarvestRecord))
        fields = {f.id: f for f in session.query(Field)}
    (record,) = ForecastService(store, sessions, members=4)._records(harvests, fields)
    assert record.earlier_forecast_dates == (dt.date(1970, 1, 1) + dt.timedelta(days=20510),)


def test_a_replanted_field_keeps_its_past_harvests_under_the_crop_they_were(tmp_path: Path) -> None:
    """A field's next season may be another crop (PATCH /v1/fields); its potato harvest stays a potato
    record in the track record and in learning, not the cabbage's now registered."""
    store, sessions = _platform(tmp_path)
    with sessions() as session:
        field = session.get(Field, "f0")
        assert field is not None
        field.commodity, field.variety = "cabbage", "Grand 11"
        session.commit()
        found = pairings(store, session)
        assert {p.commodity for p in found} == {"potato"}
        rows = skill_table(store, session)
        assert {r.commodity for r in rows if r.records} == {"potato"}
        potato_30 = next(r for r in rows if r.commodity == "potato" and r.lead_days == 30)
        assert potato_30.records == 3
        harvests = list(session.query(HarvestRecord))
        fields = {f.id: f for f in session.query(Field)}
    records = ForecastService(store, sessions, members=4)._records(harvests, fields)
    assert (records[0].field_id, records[0].commodity, records[0].variety) == ("f0", "potato", "")
    assert {r.commodity for r in records} == {"potato"}


def test_a_multi_pick_season_is_one_harvest_in_the_track_record(tmp_path: Path) -> None:
    """Issue 38: each chili pick was paired with the season's forecast, so the demo's chili track
    record read 125-217 % errors for forecasts that were right about the season. Picks are summed from
    the first pick's day, as learning takes them."""
    store, sessions = _platform(tmp_path, fields=1)
    with sessions() as session:
        session.query(HarvestRecord).delete()
        for week in range(4):  # the season's 20 t in four weekly picks
            session.add(
                HarvestRecord(
                    field_id="f0", harvest_date=HARVEST + dt.timedelta(days=7 * week), tonnes=5.0,
                    recorded_at=dt.datetime.now(dt.UTC),
                )
            )  # fmt: skip
        session.commit()
        found = pairings(store, session)
    assert sorted(p.lead_days for p in found) == sorted(LEADS)  # one harvest, each lead once
    assert {(p.harvest_date, p.tonnes) for p in found} == {(HARVEST, 20.0)}
    (skill,) = [s for s in skill_table(store, sessions()) if s.lead_days == 30]
    assert skill.records == 1


def test_what_a_drought_did_to_a_forecasts_canopy_goes_with_its_record_into_learning(tmp_path: Path) -> None:
    """Issue 38: learning sets apart a harvest recorded against a forecast whose crop lost half its
    canopy to drought, so what is stored beside each forecast must reach the record it is paired with.
    A field's last forecast before the cutoff had its P50 member losing 80 % of its canopy: its record
    is left out of learning with the reason; the others' forecasts lost none and are learnt."""
    store, sessions = _platform(tmp_path)
    cutoff = local_day_start_ms(HARVEST - dt.timedelta(days=7))
    dates = {"harvest_day_p10": 20500.0, "harvest_day_p50": 20510.0, "harvest_day_p90": 20520.0}
    lost = {"tonnes_p50": 4.0, "canopy_lost_p50": 0.8, "crop_death_share": 0.3, **dates}
    store.write_forecasts([ForecastPoint("f1", "koperasi-a", "potato", cutoff - 1, lost)])
    with sessions() as session:
        harvests = list(session.query(HarvestRecord))
        fields = {f.id: f for f in session.query(Field)}
    records = ForecastService(store, sessions, members=4)._records(harvests, fields)
    assert [r.forecast_canopy_lost for r in records] == [0.0, 0.8, 0.0]
    excluded = learn(records).excluded
    assert [(r.field_id, r.kind, "lost 80 % of its canopy" in r.reason) for r in excluded] == [
        ("f1", "canopy_lost", True)
    ]
