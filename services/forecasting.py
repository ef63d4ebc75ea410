"""Forecasts for every registered field, from the store's daily aggregates: the one place where the
registry, the time-series store and the pure forecast engine meet.

A run reads a season of daily aggregates for all fields and stations (the first run all of it, in
parts; the next ones the days that changed, :class:`SeasonReader`), learns a
calibration from the harvest records (each paired with the last forecast issued at least a week
before that harvest, as stored in the ``forecast`` measurement), runs the engine, writes each field's
forecast back to the store (so Grafana charts it beside the readings) and keeps the run in memory.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from forecast.crops import load_crops
from forecast.drivers import DailySeries, Observed, observed_drivers
from forecast.engine import MODEL_VERSION, FieldForecast, FieldSpec, forecast_fields
from forecast.learning import PRIOR, Calibration, HarvestOutcome, learn
from forecast.orchard import OrchardCycle, with_cycle
from forecast.plan import purchase_plan
from forecast.soils import fleet_upper_limits
from services import orchards
from services.compute import Compute, InProcess
from storage import ForecastPoint, Series, SeriesPoint, TimeSeriesStore, local_day, local_day_start_ms
from storage.db import Field, HarvestRecord, OrchardEvent, Station

__all__ = [
    "DRIVER_METRICS",
    "SITES_PER_READ",
    "ForecastRun",
    "ForecastService",
    "SeasonHarvest",
    "SeasonReader",
    "per_season",
    "season_records",
    "season_series",
]

PLAN_WEEKS = 16  # written to the store for dashboards
DRIVER_METRICS = ["air_temp_c", "air_rh_pct", "rain_mm", "solar_w_m2", "wind_m_s", "soil_vwc_pct"]
_EPOCH = dt.date(1970, 1, 1)
# Sites a refresh reads at once: their rows are objects until they are in arrays, and 100,000 fields'
# seasons read at once held 8.5 GB (bench.scale); in parts, one part's rows at a time.
SITES_PER_READ = 5_000
_STATS = ("min", "mean", "max", "sum")


def season_series(
    store: TimeSeriesStore, sites: Sequence[str], days: Sequence[dt.date]
) -> dict[str, DailySeries]:
    """Each site's daily aggregates of the forecast's driver metrics over ``days`` (consecutive), as
    arrays (NaN where a day has none): the refresh's read, in parts of :data:`SITES_PER_READ` sites."""
    grid = list(days)  # one list for every site's series
    values: dict[str, dict[str, dict[str, np.ndarray]]] = {s: {} for s in sites}
    if grid:
        for k in range(0, len(sites), SITES_PER_READ):
            rows = store.daily(
                site_ids=sites[k : k + SITES_PER_READ],
                metrics=DRIVER_METRICS,
                start_day=days[0],
                end_day=days[-1],
            )
            for a in rows:
                per_metric = values[a.site_id].setdefault(
                    a.metric, {key: np.full(len(grid), np.nan) for key in _STATS}
                )
                i = (a.day - grid[0]).days
                per_metric["min"][i], per_metric["mean"][i] = a.min, a.mean
                per_metric["max"][i], per_metric["sum"][i] = a.max, a.sum
    return {s: DailySeries(grid, v) for s, v in values.items()}


class SeasonReader:
    """The refresh's read of every site's season, kept between runs so that each run reads only what
    changed (issue 42: every hour, every field's whole season was read again): the days new to the
    grid, the days the store says changed since the last read (:meth:`TimeSeriesStore.changed_days`:
    late readings, the days still read raw) and whole seasons of sites new to the read. The answer
    is the one :func:`season_series` would give (``tests/services/test_season_reader.py``)."""

    # More runs of changed days than this are read as one span, first to last.
    MAX_RUNS = 4

    def __init__(self, store: TimeSeriesStore) -> None:
        self.store = store
        self._days: list[dt.date] = []
        self._series: dict[str, DailySeries] = {}
        self._token: object | None = None
        self.site_days_read = 0  # by the last read, of len(sites) * len(days)

    def read(self, sites: Sequence[str], days: Sequence[dt.date]) -> dict[str, DailySeries]:
        """As :func:`season_series`."""
        grid = list(days)
        if not grid:
            return season_series(self.store, sites, grid)
        changed, token = self.store.changed_days(self._token, start_day=grid[0], end_day=grid[-1])
        if changed is None or not self._series:
            out = season_series(self.store, sites, grid)
            self.site_days_read = len(sites) * len(grid)
        else:
            out = self._update(sites, grid, changed)
        self._days, self._series, self._token = grid, out, token
        return out

    def _update(
        self, sites: Sequence[str], grid: list[dt.date], changed: frozenset[dt.date]
    ) -> dict[str, DailySeries]:
        at = {d: i for i, d in enumerate(self._days)}
        known = [s for s in sites if s in self._series]
        new = [s for s in sites if s not in self._series]
        out = season_series(self.store, new, grid) if new else {}
        kept = [i for i, d in enumerate(grid) if d in at]
        old = [at[grid[i]] for i in kept]
        n = len(grid)
        arrays: dict[str, dict[str, dict[str, np.ndarray]]] = {}
        for site in known:
            values = arrays[site] = {}
            for metric, stats in self._series[site].values.items():
                values[metric] = {}
                for stat, array in stats.items():
                    values[metric][stat] = np.full(n, np.nan)
                    values[metric][stat][kept] = np.asarray(array)[old]
        stale = [i for i, d in enumerate(grid) if d in changed or d not in at]
        runs = _runs(stale)
        if len(runs) > self.MAX_RUNS:
            runs = [range(runs[0][0], runs[-1][-1] + 1)]
        for run in runs:
            part = season_series(self.store, known, grid[run[0] : run[-1] + 1])
            span = slice(run[0], run[-1] + 1)
            for site in known:
                values = arrays[site]
                for stats in values.values():
                    for array in stats.values():
                        array[span] = np.nan  # a day that lost its readings (turned implausible)
                for metric, stats in part[site].values.items():
                    target = values.setdefault(metric, {k: np.full(n, np.nan) for k in _STATS})
                    for stat, array in stats.items():
                        target[stat][span] = array
        out.update((site, DailySeries(grid, values)) for site, values in arrays.items())
        self.site_days_read = len(new) * n + len(known) * sum(len(r) for r in runs)
        return {site: out[site] for site in sites}


def _runs(indices: Sequence[int]) -> list[range]:
    """Ascending ``indices`` as runs of consecutive ones."""
    runs: list[range] = []
    for i in indices:
        if runs and runs[-1][-1] + 1 == i:
            runs[-1] = range(runs[-1][0], i + 1)
        else:
            runs.append(range(i, i + 1))
    return runs


@dataclass(frozen=True)
class ForecastRun:
    """One forecast of every field, with what it was based on."""

    issued: dt.date
    computed_at: dt.datetime
    forecasts: dict[str, FieldForecast]
    last_reading_ms: dict[str, int]
    members: int
    model_version: str
    calibration: Calibration
    seconds: float
    # Orchards: what their crop's forecast rests on (records, estimates), or why there is none.
    orchards: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    # Fields whose season a harvest record closed (a single-harvest crop), and the day of that harvest:
    # no forecast, no share of the plan, until the next planting is recorded.
    closed: dict[str, dt.date] = dataclasses.field(default_factory=dict)


def season_records(
    fields: list[Field], harvests: list[HarvestRecord]
) -> tuple[dict[str, dt.date], dict[str, float]]:
    """What the harvest records of each field's current season (after its planting) say: the
    fields whose season a record closed (single-harvest annual crops), with the day, and the tonnes
    picked so far of multi-pick crops (tomato, chili, strawberry). Orchards are left to their cycles."""
    crops = load_crops()
    by_field = {f.id: f for f in fields}
    closed: dict[str, dt.date] = {}
    picked: dict[str, float] = {}
    for r in harvests:
        f = by_field.get(r.field_id)
        crop = crops.get(f.commodity) if f is not None else None
        # A harvest on the planting day is the season before's: a crop is not lifted the day it is
        # sown, and a farmer records the harvest, then the next planting, on the same day.
        if f is None or crop is None or crop.perennial or r.harvest_date <= f.planting_date:
            continue
        if crop.multi_pick:
            picked[f.id] = picked.get(f.id, 0.0) + r.tonnes
        else:
            closed[f.id] = max(closed.get(f.id, r.harvest_date), r.harvest_date)
    return closed, picked


# The share of a forecast's members in which the crop dies of drought from which people are warned
# (the field page, the irrigation alert) [est: one weather in ten, the forecast's own P10; rarer than
# that is within its spread].
DEATH_WARNING_SHARE = 0.1


def death_in_ten(forecast: FieldForecast | None) -> int | None:
    """In how many of ten weathers ``forecast`` has its crop dying of drought, when that is at least
    :data:`DEATH_WARNING_SHARE` (people are then warned); None otherwise."""
    share = 0.0 if forecast is None else forecast.crop_death_share
    return max(1, round(10 * share)) if share >= DEATH_WARNING_SHARE else None


# Records of a field further apart than this are of two seasons [est: Batu's quickest crop, shallot,
# takes some 60 days from planting to harvest; picks of tomato, chili and strawberry come days apart].
SEASON_GAP_DAYS = 45


@dataclass(frozen=True)
class SeasonHarvest:
    """What a field yielded in one season: its records summed, from the first one's day."""

    field_id: str
    harvest_date: dt.date
    tonnes: float
    records: int


def per_season(harvests: Sequence[HarvestRecord]) -> list[SeasonHarvest]:
    """One observation per field and season (issue 37: ten copies of one record were ten observations,
    and learning took all ten): a field's records in date order, a new season after a gap of more than
    :data:`SEASON_GAP_DAYS`, each season's tonnes summed (picks of a multi-pick crop, a harvest lifted
    over days, a record entered twice). A correction replaces its record and a void removes it, as
    the caller passes only records in force."""
    by_field: dict[str, list[HarvestRecord]] = {}
    for h in harvests:
        by_field.setdefault(h.field_id, []).append(h)
    out = []
    for field_id, rows in sorted(by_field.items()):
        rows.sort(key=lambda r: (r.harvest_date, r.id or 0))
        season = [rows[0]]
        for r in [*rows[1:], None]:
            if r is not None and (r.harvest_date - season[-1].harvest_date).days <= SEASON_GAP_DAYS:
                season.append(r)
                continue
            out.append(
                SeasonHarvest(field_id, season[0].harvest_date, sum(x.tonnes for x in season), len(season))
            )
            if r is not None:
                season = [r]
    return out


def _less_picked(forecast: FieldForecast, picked_t: float) -> FieldForecast:
    """A multi-pick field's forecast of what is still to pick: each member's season less what was
    picked so far (never below none)."""
    if picked_t <= 0:
        return forecast
    left = np.maximum(forecast.members_tonnes - picked_t, 0.0)
    p10, p50, p90 = (float(v) for v in np.percentile(left, [10, 50, 90]))
    return dataclasses.replace(forecast, members_tonnes=left, tonnes_p10=p10, tonnes_p50=p50, tonnes_p90=p90)


def _observed(
    fields: list[Field], stations: dict[str, Station], series: dict[str, DailySeries]
) -> dict[str, Observed]:
    """Each field's observed drivers: its own node's series, the gaps filled from its cooperative's
    station corrected for elevation."""
    observed: dict[str, Observed] = {}
    for f in fields:
        station = stations.get(f.coop_id)
        station_series = series.get(station.id) if station else None
        observed[f.id] = observed_drivers(
            series[f.id],
            station_series or series[f.id],
            field_elevation_m=f.elevation_m,
            station_elevation_m=station.elevation_m if station else f.elevation_m,
        )
    return observed


def _spec(f: Field, cycle: OrchardCycle | str | None) -> FieldSpec | None:
    """A registry field as the engine takes it: an orchard by its current crop (None: no crop known)."""
    if isinstance(cycle, str):
        return None
    spec = FieldSpec(
        f.id, f.coop_id, f.commodity, f.planting_date, f.area_ha, f.soil_texture, f.elevation_m,
        variety=f.variety,
    )  # fmt: skip
    return spec if cycle is None else with_cycle(spec, cycle)


def _forecast_chunk(
    chunk: tuple[Sequence[FieldSpec], Mapping[str, Observed]],
    *,
    grid_start: dt.date,
    today: dt.date,
    members: int,
    seed: int,
    calibration: Calibration,
) -> list[FieldForecast]:
    """One chunk of fields through the engine: a module-level function, so a Dask worker can run it."""
    specs, observed = chunk
    return forecast_fields(
        specs,
        observed,
        grid_start=grid_start,
        today=today,
        members=members,
        seed=seed,
        calibration=calibration,
        chunk_fields=max(len(specs), 1),
    )


# Leads of the earlier forecasts a harvest record is paired with, besides the last week's [days].
EARLIER_LEADS_DAYS = (30, 60)
# An earlier forecast whose P50 date is further than this from the last one's is of another season
# [est: Batu's shortest crops take about 60 days, so the season before's harvest is that far away].
SAME_SEASON_DAYS = 45


def _prior_day(point: ForecastPoint, commodity: str) -> float:
    """A stored forecast's P50 harvest day number with the date bias it applied replaced by the
    prior's (NaN when it had no date)."""
    day = point.values["harvest_day_p50"]
    applied = point.values.get("date_bias_days")
    if applied is not None and applied == applied:
        day += PRIOR.date_bias(commodity) - applied
    return day


def _day_number(day: dt.date | None) -> float:
    return float("nan") if day is None else float((day - _EPOCH).days)


class ForecastService:
    """Computes and caches forecast runs (thread-safe)."""

    def __init__(
        self,
        store: TimeSeriesStore,
        sessions: sessionmaker[Session],
        *,
        members: int = 50,
        seed: int = 0,
        max_history_days: int = 240,
        compute: Compute | None = None,
        chunk_fields: int = 2_000,
    ) -> None:
        """Forecast with ``members`` ensemble members from up to ``max_history_days`` of readings, in
        chunks of ``chunk_fields`` fields computed by ``compute`` (default: in this process; a
        :class:`services.compute.DaskCompute` sends them to a cluster)."""
        self.compute = compute or InProcess()
        self.chunk_fields = chunk_fields
        self.store = store
        self.sessions = sessions
        self.members = members
        self.seed = seed
        self.max_history_days = max_history_days
        self._lock = threading.RLock()
        self._run: ForecastRun | None = None
        self._previous: ForecastRun | None = None
        self._seasons = SeasonReader(store)

    @property
    def latest(self) -> ForecastRun | None:
        """The last completed run, if any."""
        return self._run

    @property
    def previous(self) -> ForecastRun | None:
        """The run before the latest, if any (what "change since the previous plan" compares with)."""
        return self._previous

    def current(self) -> ForecastRun:
        """The latest run; if there is none yet, the one in progress (waited for) or a new one."""
        run = self._run
        if run is not None:
            return run
        with self._lock:
            return self._run or self.run()

    def run(self, today: dt.date | None = None, *, issued_ms: int | None = None) -> ForecastRun:
        """Forecast every field as of ``today`` (default: the current WIB day) and store the results,
        stamped ``issued_ms`` (default: now; a hindcast of a past day is stamped that day, so the
        track record pairs it at its lead)."""
        with self._lock:
            started = time.perf_counter()
            now_ms = issued_ms if issued_ms is not None else time.time_ns() // 1_000_000
            today = today or local_day(now_ms)
            with self.sessions() as session:
                fields = list(session.scalars(select(Field).order_by(Field.id)))
                stations = {s.coop_id: s for s in session.scalars(select(Station))}
                harvests = list(
                    session.scalars(select(HarvestRecord).where(HarvestRecord.voided_at.is_(None)))
                )
                orchard_rows = list(session.scalars(select(OrchardEvent)))
            orchard = orchards.cycles(fields, orchard_rows, harvests, today)
            closed, picked = season_records(fields, harvests)
            specs = [
                spec
                for f in fields
                if f.id not in closed and (spec := _spec(f, orchard.get(f.id))) is not None
            ]
            basis = {fid: (c,) if isinstance(c, str) else c.basis for fid, c in orchard.items()}
            if not specs:
                run = ForecastRun(
                    today,
                    dt.datetime.now(dt.UTC),
                    {},
                    {},
                    self.members,
                    MODEL_VERSION,
                    Calibration(),
                    0.0,
                    basis,
                    closed,
                )
                self._run = run
                return run
            earliest = min(s.planting_date for s in specs) - dt.timedelta(days=3)
            grid_start = max(earliest, today - dt.timedelta(days=self.max_history_days))
            series = self._series(fields, stations, grid_start, today)
            observed = _observed(fields, stations, series)
            calibration = self._calibration(harvests, fields, observed)
            chunks = [
                (chunk, {f.field_id: observed[f.field_id] for f in chunk})
                for chunk in (
                    specs[i : i + self.chunk_fields] for i in range(0, len(specs), self.chunk_fields)
                )
            ]
            engine = functools.partial(
                _forecast_chunk,
                grid_start=grid_start,
                today=today,
                members=self.members,
                seed=self.seed,
                calibration=calibration,
            )
            forecasts = [
                _less_picked(f, picked.get(f.field_id, 0.0))
                for part in self.compute.map(engine, chunks)
                for f in part
            ]
            self._write(forecasts, today, now_ms)
            latest: dict[str, int] = {}
            for r in self.store.latest(site_ids=[f.id for f in fields]):
                latest[r.site_id] = max(latest.get(r.site_id, 0), r.ts_ms)
            run = ForecastRun(
                today,
                dt.datetime.now(dt.UTC),
                {f.field_id: f for f in forecasts},
                latest,
                self.members,
                MODEL_VERSION,
                calibration,
                round(time.perf_counter() - started, 3),
                basis,
                closed,
            )
            self._previous, self._run = self._run, run
            return run

    def _calibration(
        self, harvests: list[HarvestRecord], fields: list[Field], observed: dict[str, Observed]
    ) -> Calibration:
        """What harvest records teach (:func:`learn`), and what the fleet's probes say of each soil's
        upper limit (:func:`fleet_upper_limits`, over the run's history of readings)."""
        readings = {
            f.id: (f.soil_texture, observed[f.id].soil_vwc_pct, observed[f.id].rain_mm) for f in fields
        }
        return dataclasses.replace(
            learn(self._records(harvests, {f.id: f for f in fields})),
            soil_upper_vwc=fleet_upper_limits(readings),
        )

    def _write(self, forecasts: list[FieldForecast], today: dt.date, now_ms: int) -> None:
        """Each field's forecast, and the purchase plan of all cooperatives together (for the
        supply-outlook dashboard), into the store."""
        self.store.write_forecasts(self._points(forecasts, now_ms))
        plan = purchase_plan(forecasts, start=today, weeks=PLAN_WEEKS, by_coop=False)
        self.store.write_series(
            SeriesPoint(
                Series.PLAN,
                {"week": r.iso_week, "commodity": r.commodity},
                now_ms,
                {
                    "tonnes_expected": r.tonnes_expected,
                    "tonnes_p10": r.tonnes_p10,
                    "tonnes_p50": r.tonnes_p50,
                    "tonnes_p90": r.tonnes_p90,
                },
            )
            for r in plan
        )

    def _series(
        self, fields: list[Field], stations: dict[str, Station], start: dt.date, today: dt.date
    ) -> dict[str, DailySeries]:
        days = [start + dt.timedelta(days=i) for i in range((today - start).days)]
        return self._seasons.read([f.id for f in fields] + [s.id for s in stations.values()], days)

    def _records(self, harvests: list[HarvestRecord], fields: dict[str, Field]) -> list[HarvestOutcome]:
        """Each field's seasons (:func:`per_season`: one observation per field and season) paired with
        the last forecast issued at least 7 days before the season's first harvest, and the P50 dates
        of the last forecasts issued 30 and 60 days before it (:data:`EARLIER_LEADS_DAYS`), when the
        field had them for the same crop and season: a date bias is applied at every lead, so it is
        learnt from every lead (issue 38).

        Learning needs what the prior alone would have forecast, but a stored forecast carries the
        calibration of its day (the yield factor and date bias it applied, stored beside it): those
        are taken out again, or each season's learning would see only what the last one missed and
        undo it. A forecast stored without them was made before any was applied.
        """
        out = []
        for h in per_season(harvests):
            field = fields.get(h.field_id)
            if field is None:
                continue
            cutoff = local_day_start_ms(h.harvest_date - dt.timedelta(days=7))
            # The last forecast before the cutoff: looked for in the last week before it first, and
            # further back only if there is none, since every refresh's forecasts are kept (every 15
            # minutes in the demo: 200 days of them are hundreds of thousands of rows per record).
            last = self._last_forecast(h.field_id, cutoff, look_back_days=200)
            if last is None:
                continue
            # The crop the forecast was for: the field may have been replanted with another since
            # (PATCH /v1/fields), and last season's potato harvest says nothing of this season's
            # cabbage; its variety then is not the registry's either.
            commodity = last.commodity or field.commodity
            day = _prior_day(last, commodity)
            if day != day:
                continue
            factor = last.values.get("yield_factor", 1.0)
            factor = factor if factor == factor and factor > 0 else 1.0
            earlier = []
            for lead in EARLIER_LEADS_DAYS:
                before = local_day_start_ms(h.harvest_date - dt.timedelta(days=lead))
                point = self._last_forecast(h.field_id, before, look_back_days=0)
                other = _prior_day(point, commodity) if point is not None else float("nan")
                # Another crop's, or a season's before (a crop season away): not this season's forecast.
                same = point is not None and (point.commodity or commodity) == commodity
                if not (same and abs(other - day) <= SAME_SEASON_DAYS):
                    continue
                earlier.append(_EPOCH + dt.timedelta(days=round(other)))
            out.append(
                HarvestOutcome(
                    h.field_id,
                    last.coop_id or field.coop_id,
                    commodity,
                    h.harvest_date,
                    h.tonnes,
                    _EPOCH + dt.timedelta(days=round(day)),
                    last.values["tonnes_p50"] / factor,
                    field.variety if commodity == field.commodity else "",
                    field.elevation_m,
                    tuple(earlier),
                    last.values.get("canopy_lost_p50", 0.0),
                )
            )
        return out

    def _last_forecast(self, field_id: str, before_ms: int, *, look_back_days: int) -> ForecastPoint | None:
        """The field's last stored forecast with a date and tonnes issued in the week before
        ``before_ms``, else (``look_back_days`` > 0) the last one in the ``look_back_days`` before."""
        windows = [(before_ms - 7 * 86_400_000, before_ms)]
        if look_back_days > 0:
            windows.append((before_ms - look_back_days * 86_400_000, before_ms - 7 * 86_400_000))
        for start_ms, end_ms in windows:
            points = self.store.forecasts(start_ms=start_ms, end_ms=end_ms, site_ids=[field_id])
            usable = [p for p in points if "harvest_day_p50" in p.values and "tonnes_p50" in p.values]
            if usable:
                return usable[-1]
        return None

    @staticmethod
    def _points(forecasts: list[FieldForecast], now_ms: int) -> list[ForecastPoint]:
        points = []
        for f in forecasts:
            values = {
                "harvest_day_p10": _day_number(f.harvest_date_p10),
                "harvest_day_p50": _day_number(f.harvest_date_p50),
                "harvest_day_p90": _day_number(f.harvest_date_p90),
                "yield_t_ha_p10": f.yield_t_ha_p10,
                "yield_t_ha_p50": f.yield_t_ha_p50,
                "yield_t_ha_p90": f.yield_t_ha_p90,
                "tonnes_expected": f.tonnes_expected,
                "tonnes_p10": f.tonnes_p10,
                "tonnes_p50": f.tonnes_p50,
                "tonnes_p90": f.tonnes_p90,
                "water_stress": f.water_stress_so_far,
                "depletion_mm": f.depletion_mm,
                "raw_mm": f.raw_mm,
                # The calibration applied, so that learning can take it out again (_records).
                "yield_factor": f.yield_factor,
                "date_bias_days": f.date_bias_days,
                "crop_death_share": f.crop_death_share,
                "canopy_lost_p50": f.canopy_lost_p50,
            }
            points.append(
                ForecastPoint(
                    f.field_id, f.coop_id, f.commodity, now_ms, {k: v for k, v in values.items() if v == v}
                )
            )
        return points
