"""Grafana dashboards as code: plain dicts rendered to the JSON files Grafana provisions.

Labels are Bahasa Indonesia first, English second. Every panel queries InfluxDB with InfluxQL through
the provisioned datasource (uid :data:`DATASOURCE_UID`), using Grafana's ``$timeFilter`` and
``$__interval`` and the template variables ``coop`` and ``field``. ``python -m dashboards.build``
rewrites ``dashboards/json/``; a test checks that doing so changes nothing and runs every panel's
query on a real InfluxDB holding a simulated season.

Schema the queries rely on (``storage/influx.py``): one measurement per metric (``soil_vwc_pct``…) in
retention policy ``raw``, tags ``coop``, ``node``, ``site``, fields ``value`` and ``quality``, and its
hourly and daily aggregates (fields ``min``, ``max``, ``sum``, ``count``) in ``hourly`` and ``daily``,
which reading charts pick by the range shown (hidden variables ``rp``, ``mean_v``…, read from
``panen_resolution``: ``storage.retention.CHART_TIERS``); forecasts in ``forecast`` with tags
``commodity``, ``coop``, ``site``; the purchase plan of all cooperatives in ``plan`` (tags ``week``, ``commodity``);
alerts in ``alert`` (tags ``subject``, ``coop``, ``field``; one value per kind, 1 active, 0 cleared);
ingest's counters in ``ingest`` (tag ``client``, its MQTT client id). A cooperative's weather station is the site ``{coop}-ws``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from storage.retention import CHART_TIER_MEASUREMENT

__all__ = ["DATASOURCE_UID", "OUT_DIR", "dashboards", "panel_queries", "write_all"]

DATASOURCE_UID = "panen-influxdb"
OUT_DIR = Path(__file__).with_name("json")
_DS = {"type": "influxdb", "uid": DATASOURCE_UID}
Json = dict[str, Any]


def _target(query: str, ref: str = "A", fmt: str = "time_series") -> Json:
    return {"datasource": _DS, "refId": ref, "rawQuery": True, "query": query, "resultFormat": fmt}


def _panel(
    title: str,
    kind: str,
    queries: list[str],
    grid: tuple[int, int, int, int],
    *,
    unit: str = "",
    fmt: str = "time_series",
    thresholds: list[tuple[str, float | None]] | None = None,
    description: str = "",
    options: Json | None = None,
    draw: str | None = None,
) -> Json:
    x, y, w, h = grid
    steps = [{"color": color, "value": value} for color, value in (thresholds or [("green", None)])]
    custom: Json = {}
    if draw:
        custom["drawStyle"] = draw
    if thresholds and kind == "timeseries":
        custom["thresholdsStyle"] = {"mode": "line+area"}
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": _DS,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "targets": [_target(q, chr(ord("A") + i), fmt) for i, q in enumerate(queries)],
        "fieldConfig": {
            "defaults": {"unit": unit, "thresholds": {"mode": "absolute", "steps": steps}, "custom": custom},
            "overrides": [],
        },
        "options": options or {},
    }


def _variable(name: str, label: str, query: str) -> Json:
    return {
        "type": "query",
        "name": name,
        "label": label,
        "datasource": _DS,
        "query": query,
        "refresh": 1,
        "sort": 1,
        "includeAll": False,
        "multi": False,
    }


def _dashboard(uid: str, title: str, panels: list[Json], variables: list[Json], time_from: str) -> Json:
    for i, p in enumerate(panels, 1):
        p["id"] = i
    return {
        "uid": uid,
        "title": title,
        "tags": ["panen"],
        "timezone": "Asia/Jakarta",
        "schemaVersion": 39,
        "version": 1,
        "editable": False,
        "refresh": "5m",
        "time": {"from": time_from, "to": "now"},
        "templating": {"list": variables},
        "panels": panels,
    }


def _tier_variable(name: str) -> Json:
    """A hidden variable that follows the time range: which tier (``rp``) a reading chart reads and
    the InfluxQL of its mean, min, max and sum there (``storage.retention.CHART_TIERS``)."""
    span = "${__to} - ${__from}"
    query = (
        f'SELECT "{name}" FROM "{CHART_TIER_MEASUREMENT}" WHERE "min_range_ms" <= {span} '
        f'AND "max_range_ms" > {span}'
    )
    return _variable(name, name, query) | {"hide": 2, "refresh": 2}


# Reading charts go through these: "$rp"."soil_vwc_pct" and $mean_v AS "VWC", etc.
TIERS = [_tier_variable(n) for n in ("rp", "mean_v", "min_v", "max_v", "sum_v")]

COOP = _variable(
    "coop", "Koperasi / Cooperative", 'SHOW TAG VALUES FROM "raw"."soil_vwc_pct" WITH KEY = "coop"'
)
FIELD = _variable(
    "field",
    "Lahan / Field",
    'SHOW TAG VALUES FROM "raw"."soil_vwc_pct" WITH KEY = "site" WHERE "coop" = \'$coop\'',
)


def my_field() -> Json:
    """Lahan Saya / My field: for a farmer on a phone (panels stack on a narrow screen)."""

    # Long: the dashboard's panels, declared in the order they appear on screen.
    f = "\"site\" = '$field'"
    station = "\"site\" = '$coop-ws'"
    panels = [
        _panel(
            "Perkiraan panen / Forecast harvest (ton, P10–P90)",
            "stat",
            [
                f'SELECT last("tonnes_p10") AS "P10", last("tonnes_p50") AS "P50", last("tonnes_p90") AS "P90" '
                f'FROM "forecast" WHERE {f} AND $timeFilter'
            ],
            (0, 0, 12, 5),
            unit="none",
            description="Tonnes this field is forecast to yield: P50 is the middle; 8 seasons in 10 fall between P10 and P90.",
            options={"reduceOptions": {"calcs": ["lastNotNull"]}, "textMode": "value_and_name"},
        ),
        _panel(
            "Tanggal panen / Harvest date (P10–P90)",
            "stat",
            [
                f'SELECT last("harvest_day_p10") * 86400000 AS "P10", last("harvest_day_p50") * 86400000 AS "P50", '
                f'last("harvest_day_p90") * 86400000 AS "P90" FROM "forecast" WHERE {f} AND $timeFilter'
            ],
            (12, 0, 12, 5),
            unit="dateTimeAsLocalNoDateIfToday",
            options={"reduceOptions": {"calcs": ["lastNotNull"]}, "textMode": "value_and_name"},
        ),
        _panel(
            "Peringatan aktif / Open alerts (1 = aktif / active)",
            "table",
            ['SELECT last(*) FROM "alert" WHERE "field" = \'$field\' AND time > now() - 3h'],
            (0, 5, 24, 4),
            fmt="table",
            description="From the API's latest alert evaluation (hourly): irrigation_needed, frost_risk, heat_stress, node_offline, battery_low.",
        ),
        _panel(
            "Kelembapan tanah / Soil moisture (%)",
            "timeseries",
            [
                f'SELECT $mean_v AS "VWC" FROM "$rp"."soil_vwc_pct" WHERE {f} AND $timeFilter '
                "GROUP BY time($__interval) fill(null)"
            ],
            (0, 9, 24, 8),
            unit="percent",
        ),
        _panel(
            "Kekurangan air vs batas irigasi / Root-zone depletion vs irrigation threshold (mm)",
            "timeseries",
            [
                f'SELECT last("depletion_mm") AS "Kekurangan / Depletion", last("raw_mm") AS "Batas irigasi / RAW" '
                f'FROM "forecast" WHERE {f} AND $timeFilter GROUP BY time($__interval) fill(previous)'
            ],
            (0, 17, 24, 8),
            unit="lengthmm",
            description="Irrigate when the depletion line rises above the RAW line (FAO-56 readily available water).",
        ),
        _panel(
            "Suhu udara / Air temperature (°C), garis embun beku / frost line 2 °C",
            "timeseries",
            [
                f'SELECT $min_v AS "min", $mean_v AS "rata-rata / mean", $max_v AS "max" '
                f'FROM "$rp"."air_temp_c" WHERE ({f} OR {station}) AND $timeFilter GROUP BY time($__interval) fill(null)'
            ],
            (0, 25, 24, 8),
            unit="celsius",
            thresholds=[("blue", None), ("transparent", 2.0)],
        ),
        _panel(
            "Curah hujan / Rain (mm per hari / per day)",
            "timeseries",
            [
                f'SELECT $sum_v AS "hujan / rain" FROM "$rp"."rain_mm" WHERE {station} AND $timeFilter '
                "GROUP BY time(1d, -7h) fill(0)"
            ],
            (0, 33, 24, 7),
            unit="lengthmm",
            draw="bars",
        ),
    ]
    return _dashboard("panen-my-field", "Lahan Saya / My field", panels, [COOP, FIELD, *TIERS], "now-30d")


def supply_outlook() -> Json:
    """Proyeksi Panen Coosae / Coosae supply outlook: for the offtaker's planners."""
    latest = (
        'SELECT last("tonnes_expected") AS "expected", last("tonnes_p10") AS "p10", last("tonnes_p90") AS "p90" '
        'FROM "forecast" WHERE $timeFilter GROUP BY "site", "coop", "commodity"'
    )
    panels = [
        _panel(
            "Ton per komoditas per minggu / Tonnes per commodity per ISO week (expected, P10–P90)",
            "table",
            [
                'SELECT last("tonnes_expected") AS "expected", last("tonnes_p10") AS "P10", '
                'last("tonnes_p90") AS "P90" FROM "plan" WHERE time > now() - 3h GROUP BY "week", "commodity"'
            ],
            (0, 0, 24, 12),
            fmt="table",
            description="The purchase plan of all cooperatives together from the latest forecast run (hourly). "
            "Expected tonnes add up over weeks and commodities; P10–P90 is each cell's own range.",
        ),
        _panel(
            "Perkiraan panen per komoditas / Forecast harvest by commodity (expected tonnes, fields summed)",
            "timeseries",
            [
                'SELECT sum("expected") FROM (SELECT last("tonnes_expected") AS "expected" FROM "forecast" '
                'WHERE $timeFilter GROUP BY time(1d), "site", "commodity") GROUP BY time(1d), "commodity" '
                "fill(none)"
            ],
            (0, 12, 24, 9),
            unit="none",
            description="How the season's forecast total of each commodity has moved, day by day; "
            "the API's /v1/purchase-plan gives the tonnes per ISO week with P10–P90.",
        ),
        _panel(
            "Per koperasi / By cooperative (ton)",
            "table",
            [
                f'SELECT sum("expected") AS "expected", sum("p10") AS "P10 (sum)", sum("p90") AS "P90 (sum)" '
                f'FROM ({latest}) GROUP BY "coop", "commodity"'
            ],
            (0, 21, 14, 12),
            fmt="table",
            description="The season's expected tonnes of each cooperative's fields: they add up. The sums of "
            "the fields' P10 and P90 overstate the spread of a total (the API's by=commodity has the true one).",
        ),
        _panel(
            "Rekam jejak perkiraan / Forecast track record (30 / 14 / 60 days ahead)",
            "table",
            [
                'SELECT last("records") AS "records", last("tonnes_mape") AS "tonnes MAPE", '
                'last("tonnes_bias") AS "tonnes bias", last("date_mae_days") AS "date MAE (days)", '
                'last("tonnes_coverage") AS "P10-P90 coverage" FROM "skill" WHERE time > now() - 3h '
                'GROUP BY "commodity", "coop", "lead"'
            ],
            (0, 33, 24, 10),
            fmt="table",
            description="How good past forecasts were against harvest records (GET /v1/forecasts/skill): "
            "MAPE 0.18 = within ±18 % on average; an empty figure means too few records (under 3).",
        ),
        _panel(
            "Perubahan sejak minggu lalu / Change since last week (expected tonnes)",
            "table",
            [
                'SELECT sum("change") AS "change" FROM (SELECT last("tonnes_expected") - first("tonnes_expected") '
                'AS "change" FROM "forecast" WHERE time >= now() - 7d GROUP BY "site", "commodity") '
                'GROUP BY "commodity"'
            ],
            (14, 21, 10, 12),
            fmt="table",
        ),
    ]
    return _dashboard(
        "panen-supply-outlook", "Proyeksi Panen Coosae / Coosae supply outlook", panels, [], "now-30d"
    )


def fleet_health() -> Json:
    """Kesehatan Sensor / Fleet health: for the operator."""
    # Long: the dashboard's panels, declared in the order they appear on screen.
    c = "\"coop\" = '$coop'"
    panels = [
        _panel(
            "Terakhir terlihat / Last seen (per node)",
            "table",
            [
                f'SELECT last("value") AS "battery_v" FROM "raw"."battery_v" WHERE {c} AND time >= now() - 7d GROUP BY "node"'
            ],
            (0, 0, 12, 10),
            fmt="table",
            description="A node missing here, or with an old time, has gone silent (the API raises node_offline).",
        ),
        _panel(
            "Baterai / Battery (V)",
            "timeseries",
            [
                f'SELECT $mean_v FROM "$rp"."battery_v" WHERE {c} AND $timeFilter GROUP BY time($__interval), "node" fill(null)'
            ],
            (12, 0, 12, 10),
            unit="volt",
            thresholds=[("red", None), ("green", 3.4)],
        ),
        _panel(
            "Sinyal radio / Radio signal RSSI (dBm)",
            "timeseries",
            [
                f'SELECT $mean_v FROM "$rp"."rssi_dbm" WHERE {c} AND $timeFilter GROUP BY time($__interval), "node" fill(null)'
            ],
            (0, 10, 12, 9),
            unit="dBm",
        ),
        _panel(
            "Laju data masuk / Ingest rate (readings per interval)",
            "timeseries",
            [
                f'SELECT count("value") FROM "raw"."soil_vwc_pct" WHERE {c} AND $timeFilter GROUP BY time($__interval) fill(0)'
            ],
            (12, 10, 12, 9),
            unit="short",
            description="Soil-moisture readings stored per interval: a drop means nodes or ingest stopped.",
        ),
    ]
    panels += [
        _panel(
            "Surat mati per alasan / Dead letters by reason (cumulative, per ingest process)",
            "timeseries",
            [
                'SELECT last(/^dead_/) FROM "ingest" WHERE $timeFilter GROUP BY time($__interval), "client" fill(previous)'
            ],
            (0, 19, 12, 9),
            unit="short",
            description="Messages and readings ingest refused, by reason (see data/deadletters.jsonl and panen/v1/_dead/#).",
        ),
        _panel(
            "Antrean lokal / Spool depth (readings waiting for the store)",
            "timeseries",
            [
                'SELECT last("spool_readings") FROM "ingest" WHERE $timeFilter GROUP BY time($__interval), "client" fill(previous)'
            ],
            (12, 19, 12, 9),
            unit="short",
            thresholds=[("green", None), ("orange", 1.0)],
        ),
        _panel(
            "Sensor diam atau baterai lemah / Silent or low-battery nodes (1 = ya / yes)",
            "table",
            [
                f'SELECT last("node_offline") AS "silent", last("battery_low") AS "low_battery" FROM "alert" '
                f'WHERE {c} AND time > now() - 3h GROUP BY "subject"'
            ],
            (0, 28, 24, 8),
            fmt="table",
            description="The API's hourly evaluation, by the rules of `panen fleet` and GET /v1/nodes: "
            "silent after 3 reporting intervals without an uplink, low battery under 3.4 V or 20 %.",
        ),
    ]
    return _dashboard(
        "panen-fleet-health", "Kesehatan Sensor / Fleet health", panels, [COOP, *TIERS], "now-7d"
    )


def dashboards() -> dict[str, Json]:
    """Every dashboard by file name."""
    return {
        "my-field.json": my_field(),
        "supply-outlook.json": supply_outlook(),
        "fleet-health.json": fleet_health(),
    }


def panel_queries(dashboard: Json) -> list[tuple[str, str]]:
    """(panel title, query) of every panel target."""
    return [(p["title"], t["query"]) for p in dashboard["panels"] for t in p["targets"]]


def render(dashboard: Json) -> str:
    """The JSON text written for provisioning (stable key order, trailing newline)."""
    return json.dumps(dashboard, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def write_all(out_dir: Path = OUT_DIR) -> list[Path]:
    """Write every dashboard; returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, dashboard in dashboards().items():
        path = out_dir / name
        path.write_text(render(dashboard))
        paths.append(path)
    return paths


if __name__ == "__main__":
    for written in write_all():
        print(written)
