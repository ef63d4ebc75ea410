"""``/v1/forecasts/skill`` (issue 19): the track record of past forecasts against harvest records,
recomputed independently here from the forecasts and records the test wrote: record counts, tonnes
MAPE and bias, date MAE and bias, P10–P90 coverage per commodity × cooperative × lead; too few records
say so; farmers see their cooperative's only; CSV carries the same."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import defaultdict

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from firmware_sim.fleet import batu_fleet
from firmware_sim.runner import prepare
from services.forecasting import ForecastService
from services.harvests import plausible_t_ha
from storage import ForecastPoint, Series, TimeSeriesStore, local_day_start_ms
from storage.db import Field
from tests.api.conftest import NOW_MS, TODAY, auth

Client = tuple[TestClient, dict[str, str], ForecastService]
EPOCH = dt.date(1970, 1, 1)


def test_skill_is_recomputed_from_the_records_and_forecasts(client: Client, store: TimeSeriesStore) -> None:
    c, tokens, service = client
    rng = np.random.default_rng(7)
    with service.sessions() as session:
        fields = list(session.scalars(select(Field).order_by(Field.id)))
        # Three potato fields in one cooperative (a track record), two in the other (too few records).
        by_coop = defaultdict(list)
        for field in fields:
            by_coop[field.coop_id].append(field)
        for coop_fields in by_coop.values():
            for field in coop_fields:
                field.commodity = "potato"
        by_coop[sorted(by_coop)[1]][0].commodity = "cabbage"
        session.commit()
        fields = list(session.scalars(select(Field).order_by(Field.id)))
        session.expunge_all()
    # The simulator's truths give each field's yield (its model, not the forecast's), kept inside the
    # records' plausible range for potato.
    truths = {
        t.field_id: t
        for t in prepare(
            batu_fleet(anchor=TODAY).subset(2, 3), start_ms=NOW_MS - 86_400_000, end_ms=NOW_MS, seed=4
        ).env.truths
    }
    expected: dict[tuple[str, str, int], list[tuple[float, float, float, float, int, int, int]]] = (
        defaultdict(list)
    )
    points = []
    for field in fields:
        low, high = plausible_t_ha(field.commodity)
        per_ha = min(max(truths[field.id].yield_t_ha, low * 1.05), high * 0.95)
        day = TODAY - dt.timedelta(days=1)  # one harvest per field
        tonnes = round(per_ha * field.area_ha * float(rng.uniform(0.95, 1.05)), 2)
        r = c.post(
            "/v1/harvest-records",
            json={"field_id": field.id, "harvest_date": day.isoformat(), "tonnes": tonnes, "grade": "A"},
            headers=auth(tokens["admin"]),
        )
        assert r.status_code == 201, r.text
        for lead in (60, 30, 14):
            p50 = tonnes * float(rng.uniform(0.7, 1.3))
            p10, p90 = p50 * 0.8, p50 * 1.2
            d50 = (day - EPOCH).days + int(rng.integers(-9, 10))
            d10, d90 = d50 - 6, d50 + 6
            issued = (
                local_day_start_ms(day - dt.timedelta(days=lead))
                + int(rng.integers(-2, 3)) * 86_400_000
                + 3_600_000
            )
            values = {"tonnes_p10": p10, "tonnes_p50": p50, "tonnes_p90": p90,
                      "harvest_day_p10": d10, "harvest_day_p50": d50, "harvest_day_p90": d90}  # fmt: skip
            points.append(ForecastPoint(field.id, field.coop_id, field.commodity, issued, values))
            # A forecast 10 days off the lead is not the one issued "lead days before".
            points.append(
                ForecastPoint(
                    field.id,
                    field.coop_id,
                    field.commodity,
                    issued - 10 * 86_400_000,
                    {"tonnes_p50": 1e6},
                )
            )
            expected[(field.commodity, field.coop_id, lead)].append(
                (tonnes, p10, p50, p90, (day - EPOCH).days, d10, d90)
            )
    store.write_forecasts(points)
    got = c.get("/v1/forecasts/skill", headers=auth(tokens["offtaker"]))
    assert got.status_code == 200, got.text
    rows = {(r["commodity"], r["coop_id"], r["lead_days"]): r for r in got.json()}
    assert rows.keys() == expected.keys()
    for key, records in expected.items():
        row = rows[key]
        assert row["records"] == len(records)
        if len(records) < 3:
            assert row["tonnes_mape"] is None
            assert "too few" in row["note"]
            continue
        t = np.array([r[0] for r in records])
        p10, p50, p90 = (np.array([r[i] for r in records]) for i in (1, 2, 3))
        day = np.array([r[4] for r in records])
        d10, d90 = np.array([r[5] for r in records]), np.array([r[6] for r in records])
        d50 = d10 + 6
        assert row["tonnes_mape"] == pytest.approx(np.mean(np.abs(p50 - t) / t), abs=5e-4)
        assert row["tonnes_bias"] == pytest.approx(np.mean((p50 - t) / t), abs=5e-4)
        assert row["date_mae_days"] == pytest.approx(np.mean(np.abs(d50 - day)), abs=0.05)
        assert row["date_bias_days"] == pytest.approx(np.mean(d50 - day), abs=0.05)
        assert row["tonnes_coverage"] == pytest.approx(np.mean((p10 <= t) & (t <= p90)), abs=0.005)
        assert row["date_coverage"] == pytest.approx(np.mean((d10 <= day) & (day <= d90)), abs=0.005)
        assert row["seasons"] == [TODAY.year] or row["seasons"] == sorted(
            {TODAY.year, (TODAY - dt.timedelta(days=5)).year}
        )
    # Farmers see their cooperative's rows only; the CSV carries the same figures.
    mine = c.get("/v1/forecasts/skill", headers=auth(tokens["farmer"])).json()
    assert mine
    assert {r["coop_id"] for r in mine} == {"oro-oro-ombo"}
    text = c.get(
        "/v1/forecasts/skill", params={"format": "csv", "lead_days": 30}, headers=auth(tokens["offtaker"])
    ).text
    table = list(csv.DictReader(io.StringIO(text)))
    assert {int(r["lead_days"]) for r in table} == {30}
    assert len(table) == sum(1 for k in expected if k[2] == 30)
    assert (
        c.get("/v1/forecasts/skill", params={"lead_days": 7}, headers=auth(tokens["offtaker"])).status_code
        == 422
    )
    # The plan's rows and CSV carry the 30-day track record of their cooperative and commodity; each
    # field forecast's basis says it in a sentence; the refresh writes it for the supply-outlook
    # dashboard. These are kept per forecast run: recompute first.
    # The records ended the season they belong to (issue 36: a harvest closes it); the fields are
    # replanted today, a new season, so the plan has rows again, within 26 weeks of a potato season.
    for field in fields:
        replanted = c.patch(
            f"/v1/fields/{field.id}", json={"planting_date": TODAY.isoformat()}, headers=auth(tokens["admin"])
        )
        assert replanted.status_code == 200, replanted.text
    assert c.post("/v1/forecasts/recompute", headers=auth(tokens["admin"])).status_code == 200
    plan = c.get(
        "/v1/purchase-plan", params={"format": "csv", "weeks": 26}, headers=auth(tokens["offtaker"])
    ).text
    plan_rows = list(csv.DictReader(io.StringIO(plan)))
    assert {"skill_tonnes_mape_30d", "skill_records_30d"} <= set(plan_rows[0])
    for row in plan_rows:
        skill_row = rows.get((row["commodity"], row["coop_id"], 30))
        if skill_row is None:
            assert (row["skill_records_30d"], row["skill_tonnes_mape_30d"]) == ("0", "")
        else:
            assert int(row["skill_records_30d"]) == skill_row["records"]
            shown = row["skill_tonnes_mape_30d"]
            assert (float(shown) if shown else None) == skill_row["tonnes_mape"]
    potato = next(k for k, r in rows.items() if k[2] == 30 and r["tonnes_mape"] is not None)
    field = next(f for f in fields if (f.commodity, f.coop_id) == potato[:2])
    basis = c.get(f"/v1/fields/{field.id}/forecast", headers=auth(tokens["offtaker"])).json()["basis"]
    assert f"±{rows[potato]['tonnes_mape']:.0%}" in basis["track_record"]
    assert "30 days ahead" in basis["track_record"]
    written = {
        (p.tags["commodity"], p.tags["coop"], int(p.tags["lead"])): p.values
        for p in store.series(Series.SKILL, start_ms=NOW_MS - 3_600_000, end_ms=NOW_MS + 86_400_000)
    }
    for key, row in rows.items():
        assert written[key]["records"] == row["records"]
        if row["tonnes_mape"] is None:
            assert "tonnes_mape" not in written[key]
        else:
            assert written[key]["tonnes_mape"] == pytest.approx(row["tonnes_mape"], abs=5e-4)
