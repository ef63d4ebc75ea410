"""Learning from harvest records: what the sensors cannot tell, estimated from what Coosae bought.

From pairs of (forecast made before harvest, recorded harvest) the engine learns, with shrinkage so
that a few records move it only a little:

- a **yield-gap factor** per crop × cooperative (variety, management, pests, grading), as a
  multiplicative correction of the modelled yield: a cooperative's log effect (its total bought over
  its total forecast) shrunk toward its crop's by τ² / (τ² + SE²), SE and τ² from its own records
  alone (τ², how far it may differ, from its departures in all its crops, the prior's worth three); a
  crop's effect pooled from its cooperatives, one bounded voice each (issue 37: no cooperative's
  records move another's factor by more than :data:`MAX_OTHER_MOVE_LOG`, 8.4 %);
- a **harvest-date bias** per crop (thermal-time error plus how long farmers wait after maturity),
  and per registered variety of the crop, shrunk toward its crop's (varieties' seasons differ: Granola
  is harvested before Atlantic in the same weather), and per metre of the field's elevation (a
  degree-day sum linear in temperature, as WOFOST's, misjudges development where a crop's response
  to temperature is not: Batu's fields span 1,000 m, some 6 °C); each record's error the mean over
  the leads its season was forecast at (a week, about 30 and about 60 days before the harvest), since
  the bias is applied at every lead, shrunk for the season's shared weather;
- the **spread** of what remains (per crop, shrunk toward the prior), which sets the ensemble's
  parameter uncertainty so that P10-P90 means what it says.

Every estimate is reported with the number of records behind it.

Learning is robust to the records that slip past the registry's checks: a record whose ratio to its
forecast is beyond :data:`MAX_RECORD_RATIO` either way (a typo of a factor of ten, a date on the
wrong season) is left out and reported in :attr:`Calibration.excluded`, as is a record that is not
a finite positive number, and one whose forecast's crop lost half its canopy to drought or died
(:data:`MAX_CANOPY_LOST`: it tests that loss, not the yield gap); and no factor leaves
:data:`FACTOR_BOUNDS`, whatever the records say.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "FACTOR_BOUNDS",
    "MAX_CANOPY_LOST",
    "MAX_OTHER_MOVE_LOG",
    "MAX_RECORD_RATIO",
    "POOL_FULL_COOPS",
    "POOL_MAX_LOG",
    "PRIOR",
    "Calibration",
    "HarvestOutcome",
    "LeftOut",
    "learn",
]


@dataclass(frozen=True)
class HarvestOutcome:
    """What Coosae recorded buying from a field, with the forecast the engine had made before."""

    field_id: str
    coop_id: str
    commodity: str
    harvest_date: dt.date
    tonnes: float
    forecast_harvest_date: dt.date
    forecast_tonnes: float  # P50 of a forecast made without this calibration
    variety: str = ""  # as registered; "" when the registry does not say
    elevation_m: float | None = None  # the field's, as registered
    # P50 harvest dates of forecasts made earlier in the same season (about 30 and 60 days before the
    # harvest), also without any calibration: a date bias is applied at every lead, so it is learnt
    # from every lead's error (issue 38), not only the last week's.
    earlier_forecast_dates: tuple[dt.date, ...] = ()
    # P50 share of the canopy the forecast's members lost to drought (FieldForecast.canopy_lost_p50).
    forecast_canopy_lost: float = 0.0

    def date_error_days(self) -> float:
        """The harvest's days after the forecasts' P50 dates, averaged over the leads recorded."""
        dates = (self.forecast_harvest_date, *self.earlier_forecast_dates)
        return float(np.mean([(self.harvest_date - d).days for d in dates]))


class LeftOut(NamedTuple):
    """A harvest record learning left out, and why: ``reason`` in words (the API's), ``kind`` and the
    figures behind it for whoever says it otherwise (the field page, in the farmer's words)."""

    field_id: str
    harvest_date: dt.date
    reason: str
    # canopy_lost: its forecast's crop lost MAX_CANOPY_LOST of its canopy to drought; far_from_forecast:
    # beyond MAX_RECORD_RATIO of its forecast; no_number: no tonnes or no forecast to compare.
    kind: Literal["canopy_lost", "far_from_forecast", "no_number"]
    tonnes: float
    forecast_tonnes: float
    canopy_lost: float


@dataclass(frozen=True)
class Calibration:
    """What the engine applies; defaults are the priors used before any record exists.

    Attributes:
        yield_factor: (commodity, coop) -> (factor, records); commodity-only keys use coop "".
        date_bias_days: commodity -> (days to add to the modelled maturity, records).
        variety_date_bias_days: (commodity, variety) -> (days, records): a registered variety's own bias,
            which replaces its crop's.
        date_elevation: commodity -> (days per metre, reference elevation, lowest, highest [m]): the
            harvest-date error's change with elevation, added to the bias at a field's elevation
            (clipped to the range of the records, so it is never extrapolated).
        sigma_yield_log: commodity -> s.d. of log(actual / forecast) left after the factor.
        sigma_date_days: commodity -> s.d. of the date error left after the bias.
        set_apart: (commodity, coop) -> that cooperative's records of the crop left out of learning
            (:class:`LeftOut`): a forecast's basis lists them beside the fields it learnt from, and a
            field's page says its own; :attr:`excluded` is all of them.
        factor_fields: (commodity, coop) -> the fields whose records taught that cooperative's factor
            (issue 37: every learned factor lists the fields behind it; a crop's pooled factor rests
            on the fields of all its cooperatives, :meth:`fields_behind`).
        soil_upper_vwc: soil texture -> (drained upper limit [% VWC], fields): what the fleet's probes
            say of each texture's field capacity (:func:`forecast.soils.fleet_upper_limits`; not from
            harvest records: the forecasting service adds it to what :func:`learn` gives).
    """

    yield_factor: dict[tuple[str, str], tuple[float, int]] = field(default_factory=dict)
    date_bias_days: dict[str, tuple[float, int]] = field(default_factory=dict)
    sigma_yield_log: dict[str, float] = field(default_factory=dict)
    sigma_date_days: dict[str, float] = field(default_factory=dict)
    variety_date_bias_days: dict[tuple[str, str], tuple[float, int]] = field(default_factory=dict)
    date_elevation: dict[str, tuple[float, float, float, float]] = field(default_factory=dict)
    prior_sigma_yield_log: float = 0.30
    prior_sigma_date_days: float = 5.0
    prior_date_bias_days: float = 3.0
    factor_fields: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)
    soil_upper_vwc: dict[str, tuple[float, int]] = field(default_factory=dict)
    set_apart: dict[tuple[str, str], tuple[LeftOut, ...]] = field(default_factory=dict)

    @property
    def excluded(self) -> tuple[LeftOut, ...]:
        """Every record left out of learning: :attr:`set_apart`'s groups."""
        return tuple(row for rows in self.set_apart.values() for row in rows)

    def left_out_of(self, field_id: str) -> tuple[LeftOut, ...]:
        """A field's own records left out of learning, oldest first."""
        return tuple(
            sorted((r for r in self.excluded if r.field_id == field_id), key=lambda r: r.harvest_date)
        )

    def fields_behind(self, commodity: str, coop: str) -> tuple[str, dict[str, tuple[str, ...]]]:
        """Where a field's yield factor comes from (``cooperative``: its own records; ``crop``: the
        crop's, pooled from other cooperatives; ``none``: no record yet) and the fields behind it, by
        cooperative."""
        if (commodity, coop) in self.yield_factor:
            return "cooperative", {coop: self.factor_fields.get((commodity, coop), ())}
        if (commodity, "") in self.yield_factor:
            return "crop", self._fields_by_crop.get(commodity, {})
        return "none", {}

    @functools.cached_property
    def _fields_by_crop(self) -> dict[str, dict[str, tuple[str, ...]]]:
        """:attr:`factor_fields` by crop, then cooperative: grouped once, not per forecast answered."""
        grouped: dict[str, dict[str, tuple[str, ...]]] = defaultdict(dict)
        for (crop, coop), ids in self.factor_fields.items():
            grouped[crop][coop] = ids
        return dict(grouped)

    def factor(self, commodity: str, coop: str) -> float:
        """Yield factor for a field: cooperative's, else crop's, else 1."""
        hit = self.yield_factor.get((commodity, coop)) or self.yield_factor.get((commodity, ""))
        return hit[0] if hit else 1.0

    def date_bias(self, commodity: str, variety: str = "", elevation_m: float | None = None) -> float:
        """Days from modelled maturity to harvest: the variety's, else the crop's, else the prior's;
        plus the crop's elevation term at ``elevation_m`` when records have taught one."""
        hit = self.variety_date_bias_days.get((commodity, variety)) if variety else None
        hit = hit or self.date_bias_days.get(commodity)
        days = hit[0] if hit else self.prior_date_bias_days
        slope = self.date_elevation.get(commodity)
        if slope is not None and elevation_m is not None and np.isfinite(elevation_m):
            per_m, reference, low, high = slope
            days += per_m * (float(np.clip(elevation_m, low, high)) - reference)
        return days

    def yield_sigma(self, commodity: str, coop: str = "") -> float:
        """Log-s.d. of the yield multiplier of the ensemble's members.

        What the records have not yet pinned down widens it: before a crop has records, its yield-gap
        factor is unknown too (``PRIOR_TAU2_CROP`` added to the field spread); a cooperative without
        records of its own takes its crop's factor, whose difference from its own is unknown
        (``PRIOR_TAU2_COOP``). So a cooperative that joins today gets ranges as wide as what is known.
        """
        learnt = self.sigma_yield_log.get(commodity)
        if learnt is None:
            return float(np.sqrt(self.prior_sigma_yield_log**2 + PRIOR_TAU2_CROP))
        if coop and (commodity, coop) not in self.yield_factor:
            return float(np.sqrt(learnt**2 + PRIOR_TAU2_COOP))
        return learnt

    def yield_spread_learnt(self, commodity: str) -> bool:
        """Whether the crop's yield spread is the records' (the whole error of a forecast's P50,
        weather and all), not the prior's (a perturbation on top of the ensemble's own spread)."""
        return commodity in self.sigma_yield_log

    def date_spread_learnt(self, commodity: str) -> bool:
        """Whether the crop's date spread is the records' (the whole error of a forecast's P50,
        weather and all), not the prior's (a perturbation on top of the ensemble's own spread)."""
        return commodity in self.sigma_date_days

    def date_sigma(self, commodity: str, variety: str = "") -> float:
        """S.d. [days] of the harvest-date perturbation of the ensemble's members.

        Before a crop has records its date bias is the prior's guess, whose own error
        (``PRIOR_DATE_BIAS_SIGMA_DAYS``) is added to the spread; a registered variety without records
        of its own takes its crop's bias, whose difference from its own is unknown
        (``PRIOR_VARIETY_DATE_SIGMA_DAYS``). The spread learnt is around the varieties' biases.
        """
        learnt = self.sigma_date_days.get(commodity)
        if learnt is None:
            return float(np.hypot(self.prior_sigma_date_days, PRIOR_DATE_BIAS_SIGMA_DAYS))
        if variety and (commodity, variety) not in self.variety_date_bias_days:
            return float(np.hypot(learnt, PRIOR_VARIETY_DATE_SIGMA_DAYS))
        return learnt


# Priors [est]: a 30 % log-s.d. of yield matches the spread of Batu's reported yields (potato 15-25,
# carrot 18-27 t/ha, docs/sources.md); farmers harvest within a week of maturity (3 ± 5 days).
PRIOR = Calibration()


# How far a crop's harvest may be from the library's maturity plus the prior's 3 days, before any
# record says [est]: the library's thermal times are estimated from Batu's season lengths and
# temperatures (crops.toml), for one variety, while Batu grows others whose seasons differ by about a
# tenth (potato: Atlantic 100-110 days, Granola shorter, docs/sources.md), and growers time harvests to prices
# and Ramadan (docs/sources.md). A tenth of a 90-130-day season is 9-13 days; 9 days at one s.d.
PRIOR_DATE_BIAS_SIGMA_DAYS = 9.0
# How far one season's weather moves a crop's mean harvest date, at one s.d. [est: a season ±0.5 °C
# warmer or cooler than usual (Batu's monthly means vary by about that much, docs/sources.md) changes a
# degree-day crop's development by about 4 % of a 90-130-day season].
SEASON_DATE_SIGMA_DAYS = 4.0
# How far one variety's harvest is from its crop's average, at one s.d. [est]: Batu's potatoes are
# Granola (90-100 days) and Atlantic (100-110 days, docs/sources.md), about 5 days either side of their mean.
PRIOR_VARIETY_DATE_SIGMA_DAYS = 5.0
# How much a crop's harvest-date error may change with elevation, at one s.d. [est]: 3 days per 100 m.
# Batu cools by about 0.6 °C per 100 m (docs/sources.md); a crop's development rate per °C differs from a
# linear degree-day sum's by up to about half near its optimum temperature, over a 90-130-day season.
PRIOR_DATE_ELEVATION_SIGMA = 0.03  # days per metre
# An elevation term is learnt only from records of fields this far apart in elevation at least [est].
MIN_ELEVATION_SPAN_M = 100.0
# Prior variances of true log yield-gap effects [est]: crops differ by about ±30 % from the library's
# potential yields, cooperatives by about ±15 % (each cooperative's own records refine its τ²: _coop_tau2).
PRIOR_TAU2_CROP = 0.30**2
PRIOR_TAU2_COOP = 0.15**2
# A crop's records of one season share its weather, pests and prices, so its mean error moves from
# season to season by more than the records' scatter says: a log-s.d. of about 0.15 [est: Batu's
# potatoes gave 15-20 t/ha in 2012 and 20-25 t/ha in 2023 (BATU), ~0.25 in log over a decade, and a
# region's vegetable yields move by 10-20 % from one year to the next]. It is added to each crop
# mean's variance, so one season of records moves a crop's factor less.
SEASON_VAR = 0.15**2
SEASON_SHRINK = PRIOR_TAU2_CROP / (PRIOR_TAU2_CROP + SEASON_VAR)
# A record more than ten times its forecast, or less than a tenth of it, says more about the record
# than the field [est: a factor of ten is the commonest slip (kilograms for tonnes, a misplaced
# decimal); a failed field sells little, but not a tenth of a forecast made a week before].
MAX_RECORD_RATIO = 10.0
# A record whose forecast had its P50 member losing at least this share of its canopy to drought (early
# senescence, 1 for a crop that died) says whether that loss was right, not what the cooperative's
# yield gap is: the farmer may have watered, or the rain come. Read as a yield gap, one such cabbage
# record (5.6 times its forecast; the canopy's loss had cut the P50 from 7.2 t to 3.2 t) set its
# cooperative's next cabbage forecast at 2.6 times the harvest (bench.forecast_skill with crop death
# on, issue 38) [est: half, the loss at which most of a forecast's tonnes rest on it].
MAX_CANOPY_LOST = 0.5
# A cooperative's own yield spread counts for at most this many times the prior's [est: twice the
# prior's 0.30 is a log-s.d. of 0.6, a field yielding half or twice its forecast at one s.d.].
SPREAD_MAX_RATIO = 2.0
# Yield factors stay within these, whatever the records [est: Batu's yields range from about a fifth
# of the library's potential (apple's decline, docs/sources.md) to well under five times it].
FACTOR_BOUNDS = (0.2, 5.0)
# How far one cooperative can move what the others are told (issue 37: ten records of one field moved
# another cooperative's cabbage factor from 1.0 to 2.88). In a crop's pooled effect each cooperative
# has one voice, its log effect clipped to ±log 1.5 [est: the simulated seasons' cooperative effects
# lie within ±0.4], and the voices are divided by their number but at least eight [est: Batu's main
# crops are grown by five to twelve cooperatives, so a crop's effect is learnt in full once most of
# them have records]. Whatever one cooperative records (from nothing, or from one extreme to the
# other), its voice changes by at most 2 log 1.5, the crop's effect by that over eight times the
# season's shrinkage (0.8): another cooperative's factor moves by at most MAX_OTHER_MOVE_LOG, 8.4 %.
POOL_MAX_LOG = float(np.log(1.5))
POOL_FULL_COOPS = 8
MAX_OTHER_MOVE_LOG = 2 * POOL_MAX_LOG * SEASON_SHRINK / POOL_FULL_COOPS


def _empirical_bayes(
    groups: dict[str, list[float]],
    centre: dict[str, float],
    record_var: dict[str, float],
    prior_tau2: float,
    shared_var: float = 0.0,
    means: dict[str, float] | None = None,
) -> dict[str, float]:
    """Shrink each group's mean (``means``, default: of its values) toward its centre by τ² / (τ² + SE²).

    τ², the variance of true group effects, is estimated by the method of moments (the spread of
    group means beyond what their standard errors explain) when there are at least three groups;
    with fewer it cannot be estimated and ``prior_tau2`` is used.
    """
    deviations = {
        g: (means[g] if means is not None else float(np.mean(v))) - centre[g] for g, v in groups.items()
    }
    se2 = {g: record_var[g] / len(v) + shared_var for g, v in groups.items()}
    if len(groups) >= 3:
        excess = float(np.mean([d * d for d in deviations.values()])) - float(np.mean(list(se2.values())))
        # A few groups with heavy-tailed records (a pest year, a failed crop) can make the moment
        # estimate huge; effects beyond twice the prior's spread are not believed.
        tau2 = min(max(0.0, excess), 4 * prior_tau2)
    else:
        tau2 = prior_tau2
    return {
        g: centre[g] + deviations[g] * (tau2 / (tau2 + se2[g]) if tau2 + se2[g] > 0 else 0.0) for g in groups
    }


def learn(
    records: Sequence[HarvestOutcome], *, prior: Calibration = PRIOR, prior_records: float = 3.0
) -> Calibration:
    """Estimate a :class:`Calibration` from harvest records (see the module docstring).

    Yield factors use empirical-Bayes shrinkage, first of crops toward 1, then of cooperatives toward
    their crop, so a factor moves only as far as the records show real differences between groups.
    Date biases and spreads use a prior worth ``prior_records`` records.
    """
    rows, left_out = _usable(records)
    set_apart: dict[tuple[str, str], list[LeftOut]] = defaultdict(list)
    for r, row in left_out:
        set_apart[(r.commodity, r.coop_id)].append(row)
    by_crop: dict[str, list[HarvestOutcome]] = defaultdict(list)
    by_pair: dict[tuple[str, str], list[float]] = defaultdict(list)
    for r in rows:
        by_crop[r.commodity].append(r)
        by_pair[(r.commodity, r.coop_id)].append(float(np.log(r.tonnes / r.forecast_tonnes)))
    logs = {crop: [float(np.log(r.tonnes / r.forecast_tonnes)) for r in rs] for crop, rs in by_crop.items()}
    factors, pair_log = _yield_factors(rows, logs, by_pair, prior.prior_sigma_yield_log**2, prior_records)
    bias: dict[str, tuple[float, int]] = {}
    variety_bias: dict[tuple[str, str], tuple[float, int]] = {}
    elevation_term: dict[str, tuple[float, float, float, float]] = {}
    sig_y: dict[str, float] = {}
    sig_d: dict[str, float] = {}
    for crop, crop_rows in by_crop.items():
        sig_y[crop] = _pooled_spread(crop, crop_rows, pair_log, prior.prior_sigma_yield_log, prior_records)
        dates = _date_terms(crop, crop_rows, prior, prior_records)
        bias[crop], sig_d[crop] = dates.bias, dates.sigma_days
        variety_bias.update(dates.variety_bias)
        if dates.elevation is not None:
            elevation_term[crop] = dates.elevation
    behind: dict[tuple[str, str], set[str]] = defaultdict(set)
    for r in rows:
        behind[(r.commodity, r.coop_id)].add(r.field_id)
    return Calibration(
        factors,
        bias,
        sig_y,
        sig_d,
        variety_bias,
        elevation_term,
        factor_fields={key: tuple(sorted(ids)) for key, ids in behind.items()},
        set_apart={key: tuple(rows) for key, rows in set_apart.items()},
    )


def _pooled_spread(
    crop: str,
    crop_rows: list[HarvestOutcome],
    pair_log: dict[str, float],
    prior_sigma: float,
    prior_records: float,
) -> float:
    """The crop's yield spread left after each cooperative's factor: each cooperative's own spread
    (its records' scatter around its factor, shrunk toward the prior's), capped at
    :data:`SPREAD_MAX_RATIO` times the prior's, one voice each over at least :data:`POOL_FULL_COOPS`
    (the prior's speaking for the missing ones). As with the factors (issue 37), one cooperative's
    records, however many, move the spread every other cooperative's range is drawn with only so far:
    a manager's maximum records widened another cooperative's chili range from 0.42 to 0.52."""
    by_coop: dict[str, list[float]] = defaultdict(list)
    for r in crop_rows:
        by_coop[r.coop_id].append(
            float(np.log(r.tonnes / r.forecast_tonnes)) - pair_log[f"{crop}\x00{r.coop_id}"]
        )
    prior_var = prior_sigma**2
    voices = []
    for residuals in by_coop.values():
        n = len(residuals)
        own = (float(np.sum(np.square(residuals))) + prior_records * prior_var) / (n + prior_records)
        voices.append(min(own, (SPREAD_MAX_RATIO * prior_sigma) ** 2))
    missing = max(0, POOL_FULL_COOPS - len(voices))
    return float(np.sqrt((sum(voices) + missing * prior_var) / (len(voices) + missing)))


def _usable(
    records: Sequence[HarvestOutcome],
) -> tuple[list[HarvestOutcome], list[tuple[HarvestOutcome, LeftOut]]]:
    """The records learning may use, and why each other one is left out (no number, a record beyond
    :data:`MAX_RECORD_RATIO` of its forecast, or one against a forecast whose crop lost
    :data:`MAX_CANOPY_LOST` of its canopy to drought)."""
    rows: list[HarvestOutcome] = []
    excluded: list[tuple[HarvestOutcome, LeftOut]] = []

    def leave_out(
        r: HarvestOutcome, why: str, kind: Literal["canopy_lost", "far_from_forecast", "no_number"]
    ) -> None:
        row = LeftOut(
            r.field_id, r.harvest_date, why, kind, r.tonnes, r.forecast_tonnes, r.forecast_canopy_lost
        )
        excluded.append((r, row))

    for r in records:
        if r.forecast_canopy_lost >= MAX_CANOPY_LOST:
            why = (
                f"its forecast's crop lost {100 * r.forecast_canopy_lost:.0f} % of its canopy to drought: "
                "the harvest says whether it did, not what the cooperative's yield gap is"
            )
            leave_out(r, why, "canopy_lost")
            continue
        usable = np.isfinite(r.tonnes) and np.isfinite(r.forecast_tonnes) and r.forecast_tonnes > 0
        ratio = r.tonnes / r.forecast_tonnes if usable and r.tonnes > 0 else 0.0
        if not usable or not 1 / MAX_RECORD_RATIO <= ratio <= MAX_RECORD_RATIO or not np.isfinite(ratio):
            why = f"{r.tonnes:g} t against a forecast of {r.forecast_tonnes:g} t"
            leave_out(r, why, "far_from_forecast" if usable else "no_number")
            continue
        rows.append(r)
    return rows, excluded


def _yield_factors(
    rows: list[HarvestOutcome],
    logs: dict[str, list[float]],
    by_pair: dict[tuple[str, str], list[float]],
    prior_var: float,
    prior_records: float,
) -> tuple[dict[tuple[str, str], tuple[float, int]], dict[str, float]]:
    """Yield factors per crop (``(crop, "")``) and per crop × cooperative with their record counts,
    and the log effects of the pairs (keyed ``crop + NUL + coop``).

    A cooperative's effect is the log of its total bought over its total forecast, not its mean log
    ratio: Coosae buys totals, and the mean log ratio (a median) over-corrected them by ~15 % in the
    skill benchmark, as a few failed fields pull it less than they pull the totals. A crop's effect is
    its cooperatives' effects, each clipped to :data:`POOL_MAX_LOG`, summed and divided by their
    number but at least :data:`POOL_FULL_COOPS`: one cooperative, however many fields and records it
    has, moves the crop's effect (and so every other cooperative's factor) by at most
    :data:`MAX_OTHER_MOVE_LOG` (issue 37). Its own factor still follows its own records.
    """
    sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for r in rows:
        for key in (r.commodity, f"{r.commodity}\x00{r.coop_id}"):
            sums[key][0] += r.tonnes
            sums[key][1] += r.forecast_tonnes
    total_log = {k: float(np.log(t / f)) for k, (t, f) in sums.items()}
    crop_log: dict[str, float] = {}
    pair_log: dict[str, float] = {}
    own: dict[tuple[str, str], tuple[float, float]] = {}
    for crop in logs:
        # Each cooperative's effect and its standard error from its own records alone (pooled with
        # the prior's noise), so no other cooperative's records change how far its own are believed.
        mine: dict[str, tuple[float, float]] = {}
        for (c, coop), values in by_pair.items():
            if c == crop:
                squares = float(np.sum(np.square(np.asarray(values) - np.mean(values))))
                var = (squares + prior_records * prior_var) / (len(values) - 1 + prior_records)
                mine[coop] = (total_log[f"{crop}\x00{coop}"], var / len(values))
        # One cooperative, one bounded voice (its effect as far as its records carry it, clipped),
        # divided by at least POOL_FULL_COOPS, then shrunk for a season's shared error.
        voices = [
            float(np.clip(theta * PRIOR_TAU2_CROP / (PRIOR_TAU2_CROP + se2), -POOL_MAX_LOG, POOL_MAX_LOG))
            for theta, se2 in mine.values()
        ]
        pooled = sum(voices) / max(len(voices), POOL_FULL_COOPS)
        crop_log[crop] = pooled * SEASON_SHRINK
        own.update({(crop, coop): v for coop, v in mine.items()})
    tau2 = _coop_tau2(own, prior_records)
    for (crop, coop), (theta, se2) in own.items():
        weight = tau2[coop] / (tau2[coop] + se2) if tau2[coop] + se2 > 0 else 0.0
        pair_log[f"{crop}\x00{coop}"] = crop_log[crop] + weight * (theta - crop_log[crop])
    low, high = FACTOR_BOUNDS
    factors: dict[tuple[str, str], tuple[float, int]] = {}
    for crop, values in logs.items():
        factors[(crop, "")] = (float(np.clip(np.exp(crop_log[crop]), low, high)), len(values))
    for (crop, coop), values in by_pair.items():
        factor = float(np.clip(np.exp(pair_log[f"{crop}\x00{coop}"]), low, high))
        factors[(crop, coop)] = (factor, len(values))
    return factors, pair_log


def _coop_tau2(own: dict[tuple[str, str], tuple[float, float]], prior_groups: float) -> dict[str, float]:
    """How far each cooperative's true effects may lie from its crops', τ² (log), from its own records.

    The method of moments over the cooperative's crops, each effect² − SE², pooled with
    :data:`PRIOR_TAU2_COOP` worth ``prior_groups`` crops and kept within [0, 4 × the prior] (effects
    beyond twice the prior's spread are not believed, as in :func:`_empirical_bayes`). A cooperative
    whose records depart from the forecasts in crop after crop (a high village, its own varieties) is
    believed sooner; one whose records sit on them, later. Each effect is measured from the forecast,
    not from its crop's pooled effect: that moves with the other cooperatives' records, and through
    τ² it moved this cooperative's factors by more than issue 37's bound (0.152 in log; the example in
    tests/forecast/test_influence.py). The crops' pooled effects are small (one voice in eight, then
    the season's shrinkage), so the two differ little."""
    excess: dict[str, list[float]] = defaultdict(list)
    for (_, coop), (theta, se2) in own.items():
        excess[coop].append(theta * theta - se2)
    return {
        coop: float(
            np.clip(
                (prior_groups * PRIOR_TAU2_COOP + sum(values)) / (prior_groups + len(values)),
                0.0,
                4 * PRIOR_TAU2_COOP,
            )
        )
        for coop, values in excess.items()
    }


@dataclass(frozen=True)
class _DateTerms:
    """What one crop's records say of its harvest dates."""

    bias: tuple[float, int]  # days, records
    sigma_days: float
    variety_bias: dict[tuple[str, str], tuple[float, int]]
    elevation: tuple[float, float, float, float] | None  # per metre, reference, lowest, highest


def _date_terms(
    crop: str, crop_rows: list[HarvestOutcome], prior: Calibration, prior_records: float
) -> _DateTerms:
    """A crop's harvest-date bias, its change with elevation, each registered variety's bias beyond
    the crop's (empirical Bayes toward it; the prior's spread of varieties while a crop has fewer than
    three) and the spread left around them."""
    n = len(crop_rows)
    errors = np.array([r.date_error_days() for r in crop_rows], float)
    # The forecasts being learnt from already included the prior bias: the new bias adds to it. One
    # season's records share its weather, so their mean error is the crop's bias plus that season's:
    # shrunk by τ² / (τ² + SE² + season²), as the yields' (issue 38: one season's error was learnt
    # unshrunk, and the next season's dates ran late in every seed pair).
    within = float(np.var(errors)) if n > 1 else prior.prior_sigma_date_days**2
    se2 = (within + prior_records * prior.prior_sigma_date_days**2) / (n + prior_records) / max(n, 1)
    tau2 = PRIOR_DATE_BIAS_SIGMA_DAYS**2
    mean_error = float(np.mean(errors)) * tau2 / (tau2 + se2 + SEASON_DATE_SIGMA_DAYS**2)
    elevation, offset = _elevation_term(crop_rows, errors, prior, prior_records)
    errors = errors - offset  # what is left for the varieties and the spread
    varieties = np.array([r.variety for r in crop_rows])
    named = {v: list(errors[varieties == v]) for v in set(varieties.tolist()) if v}
    within = float(np.var(errors)) if n > 1 else prior.prior_sigma_date_days**2
    shrunk = _empirical_bayes(
        named,
        dict.fromkeys(named, mean_error),
        dict.fromkeys(named, within),
        PRIOR_VARIETY_DATE_SIGMA_DAYS**2,
    )
    expected = np.full(n, mean_error)
    variety_bias: dict[tuple[str, str], tuple[float, int]] = {}
    for v, v_error in shrunk.items():
        variety_bias[(crop, v)] = (prior.date_bias(crop, v) + v_error, len(named[v]))
        expected[varieties == v] = v_error
    date_spread = (
        float(np.sqrt(np.mean(np.square(errors - expected)))) if n > 1 else prior.prior_sigma_date_days
    )
    sigma = float(
        np.sqrt((n * date_spread**2 + prior_records * prior.prior_sigma_date_days**2) / (n + prior_records))
    )
    return _DateTerms((prior.date_bias(crop) + mean_error, n), sigma, variety_bias, elevation)


def _elevation_term(
    crop_rows: list[HarvestOutcome], errors: NDArray[np.float64], prior: Calibration, prior_records: float
) -> tuple[tuple[float, float, float, float] | None, NDArray[np.float64]]:
    """The date error's change with elevation: a ridge regression, its slope shrunk toward none by the
    prior's spread of slopes (:data:`PRIOR_DATE_ELEVATION_SIGMA`) against the records' noise; learnt
    only from records spanning :data:`MIN_ELEVATION_SPAN_M`. Returns the term and each record's share."""
    offset = np.zeros(len(crop_rows))
    elevation = np.array([np.nan if r.elevation_m is None else r.elevation_m for r in crop_rows], float)
    known = np.isfinite(elevation)
    if known.sum() < 3 or np.ptp(elevation[known]) < MIN_ELEVATION_SPAN_M:
        return None, offset
    x = elevation[known] - float(np.mean(elevation[known]))
    e = errors[known] - float(np.mean(errors[known]))
    noise = (float(np.sum(e * e)) + prior_records * prior.prior_sigma_date_days**2) / (
        known.sum() + prior_records
    )
    per_m = float(np.sum(x * e) / (np.sum(x * x) + noise / PRIOR_DATE_ELEVATION_SIGMA**2))
    reference = float(np.mean(elevation[known]))
    low, high = float(np.min(elevation[known])), float(np.max(elevation[known]))
    offset[known] = per_m * x
    return (per_m, reference, low, high), offset
