"""Simulated node firmware: what each node would measure, buffer and send.

Per node, vectorised over its wake-ups: sensor noise and slow calibration drift, a solar-charged
battery that drains in cloudy spells, RSSI that fades in rain, a drifting clock corrected by a time
sync every 6 hours, and faults on demand or at a rate (link outages, stuck sensor, spikes, a dead
sensor sending NaN, corrupted frames). Encoders turn samples into each node's payload format, as
the node (native JSON, SenML) or its LoRaWAN network server (The Things Stack v3, ChirpStack v4)
would publish them.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from firmware_sim.environment import Environment
from sensors.topics import chirpstack_uplink_topic, tts_uplink_topic
from storage.fleetfile import Fleet, NodeSpec

__all__ = [
    "FaultRates",
    "NodeSamples",
    "encode_chirpstack",
    "encode_native",
    "encode_senml",
    "encode_tts",
    "metrics_for",
    "sample_fleet",
]

FIELD_NATIVE = (
    "air_temp_c",
    "air_rh_pct",
    "soil_vwc_pct",
    "soil_temp_c",
    "soil_ec_ds_m",
    "battery_v",
    "rssi_dbm",
)
FIELD_SENML = ("air_temp_c", "air_rh_pct", "soil_vwc_pct", "soil_temp_c", "soil_ec_ds_m", "battery_v")
LSE01 = ("soil_vwc_pct", "soil_temp_c", "soil_ec_ds_m", "battery_v", "rssi_dbm", "snr_db")
EM500 = ("soil_vwc_pct", "soil_temp_c", "soil_ec_ds_m", "battery_pct", "rssi_dbm", "snr_db")
STATION = (
    "air_temp_c",
    "air_rh_pct",
    "rain_mm",
    "solar_w_m2",
    "wind_m_s",
    "leaf_wetness_pct",
    "battery_v",
    "rssi_dbm",
)
# Sensor noise (1 s.d.) and calibration drift (s.d. per 30 days), in metric units [est from datasheets:
# SHT3x ±0.2 °C/±2 %RH, capacitive VWC ±3 % absolute, tipping bucket 0.2 mm].
NOISE = {
    "air_temp_c": 0.15,
    "air_rh_pct": 1.5,
    "soil_vwc_pct": 0.6,
    "soil_temp_c": 0.1,
    "soil_ec_ds_m": 0.02,
    "solar_w_m2": 8.0,
    "wind_m_s": 0.15,
    "leaf_wetness_pct": 3.0,
}
DRIFT_30D = {
    "air_temp_c": 0.05,
    "air_rh_pct": 0.5,
    "soil_vwc_pct": 0.4,
    "soil_temp_c": 0.05,
    "soil_ec_ds_m": 0.01,
}
DECIMALS = {
    "air_temp_c": 2,
    "air_rh_pct": 1,
    "soil_vwc_pct": 2,
    "soil_temp_c": 2,
    "soil_ec_ds_m": 3,
    "rain_mm": 1,
    "solar_w_m2": 0,
    "wind_m_s": 2,
    "leaf_wetness_pct": 0,
    "battery_v": 3,
    "battery_pct": 0,
    "rssi_dbm": 0,
    "snr_db": 1,
}
UNITS = {
    "air_temp_c": "Cel",
    "air_rh_pct": "%RH",
    "soil_vwc_pct": "/",
    "soil_temp_c": "Cel",
    "soil_ec_ds_m": "S/m",
    "battery_v": "V",
}
CLOCK_SYNC_MS = 6 * 3_600_000
NON_NEGATIVE = ("air_rh_pct", "soil_vwc_pct", "soil_ec_ds_m", "solar_w_m2", "wind_m_s", "leaf_wetness_pct")


def metrics_for(node: NodeSpec, *, station: bool) -> tuple[str, ...]:
    """The metrics a node reports."""
    if station:
        return STATION
    return {"native": FIELD_NATIVE, "senml": FIELD_SENML, "tts-v3": LSE01, "chirpstack-v4": EM500}[
        node.format
    ]


@dataclass(frozen=True)
class FaultRates:
    """Expected faults per node per day (0 turns a fault off)."""

    outage: float = 0.0
    outage_hours: float = 6.0
    stuck: float = 0.0
    spike: float = 0.0
    dead: float = 0.0
    corrupt: float = 0.0


@dataclass
class NodeSamples:
    """Everything one node measured over a period.

    Attributes:
        node: The node.
        coop_id, site_id: Where it stands.
        true_ms: Wake-up instants, true UTC [ms].
        device_ms: The same instants by the node's own clock (what it reports).
        values: metric -> values per wake-up, rounded as the firmware sends them (NaN = dead sensor).
        link_up: whether the node had a link at each wake-up (False: buffered or, for LoRaWAN, lost).
        corrupt: wake-ups whose frame is corrupted on the way.
    """

    node: NodeSpec
    coop_id: str
    site_id: str
    station: bool
    true_ms: NDArray[np.int64]
    device_ms: NDArray[np.int64]
    values: dict[str, NDArray[np.float64]]
    link_up: NDArray[np.bool_]
    corrupt: NDArray[np.bool_]
    faults: dict[str, int] = field(default_factory=dict)


def _events(rng: np.random.Generator, rate_per_day: float, n: int, per_day: float) -> NDArray[np.bool_]:
    return rng.random(n) < rate_per_day / per_day if rate_per_day > 0 else np.zeros(n, dtype=bool)


def sample_fleet(
    fleet: Fleet,
    env: Environment,
    *,
    start_ms: int,
    end_ms: int,
    seed: int,
    faults: FaultRates | None = None,
    interval_min: int | None = None,
) -> list[NodeSamples]:
    """Sample every node of ``fleet`` at its wake-ups in ``[start_ms, end_ms)``.

    Each node draws from a generator of its own (``[seed, index]``), in one order: its wake-up
    phase, its sensors' noise and drift, its battery, radio and clock, then its faults.
    """
    faults = faults or FaultRates()
    out = []
    sites = [(f.id, f.node, False) for f in fleet.fields] + [(s.id, s.node, True) for s in fleet.stations]
    for index, (site_id, node, station) in enumerate(sites):
        rng = np.random.default_rng([seed, index])
        step_ms = (interval_min or node.interval_min) * 60_000
        phase = int(rng.integers(0, step_ms))  # nodes do not all wake on the same second
        first = start_ms + (phase - start_ms) % step_ms
        true_ms = np.arange(first, end_ms, step_ms, dtype=np.int64)
        wake = _Wake(env, env.site_index(site_id), true_ms, start_ms, step_ms)
        metrics = metrics_for(node, station=station)
        values = _sensor_values(rng, env, wake, metrics)
        _device_values(rng, env, wake, metrics, values)
        # Clock: drift of ±20 ppm, reset to within 50 ms by a time sync every 6 hours.
        drift_ppm = rng.uniform(-20, 20)
        since_sync = (true_ms - start_ms) % CLOCK_SYNC_MS
        device_ms = true_ms + np.round(drift_ppm * 1e-6 * since_sync + rng.normal(0, 20, wake.n)).astype(
            np.int64
        )
        link_up, corrupt, counts = _faults(rng, faults, wake, values)
        coop = fleet.coop_of(site_id).id
        out.append(
            NodeSamples(node, coop, site_id, station, true_ms, device_ms, values, link_up, corrupt, counts)
        )
    return out


class _Wake:
    """A node's wake-ups: when, where they fall on the environment's hourly grid, and how many a day."""

    def __init__(
        self, env: Environment, row: int, true_ms: NDArray[np.int64], start_ms: int, step_ms: int
    ) -> None:
        self.row = row
        self.true_ms = true_ms
        self.n = len(true_ms)
        self.step_ms = step_ms
        self.pos = (true_ms - env.hours_ms[0]) / 3_600_000.0
        self.per_day = 86_400_000 / step_ms
        self.days_since = (true_ms - start_ms) / 86_400_000.0
        self.grid = np.arange(len(env.hours_ms))


_DEVICE_METRICS = ("battery_v", "battery_pct", "rssi_dbm", "snr_db")
_NEVER_NEGATIVE = ("air_rh_pct", "soil_vwc_pct", "soil_ec_ds_m", "solar_w_m2", "wind_m_s", "leaf_wetness_pct")
_PERCENT = ("air_rh_pct", "soil_vwc_pct", "leaf_wetness_pct")


def _sensor_values(
    rng: np.random.Generator, env: Environment, wake: _Wake, metrics: Sequence[str]
) -> dict[str, NDArray[np.float64]]:
    """What each sensor reads at the wake-ups: the environment plus noise and a drift; a tipping
    bucket counts the rain since the last wake-up, in 0.2 mm tips."""
    values: dict[str, NDArray[np.float64]] = {}
    for metric in metrics:
        if metric in _DEVICE_METRICS:
            continue
        source = getattr(env, metric)[wake.row]
        if metric == "rain_mm":
            cumulative = np.concatenate([[0.0], np.cumsum(source)])
            steps = np.arange(len(cumulative))
            v = np.interp(wake.pos, steps, cumulative)
            before = np.interp(wake.pos[0] - wake.step_ms / 3_600_000.0, steps, cumulative)
            v = np.diff(np.concatenate([[before], v]))
            v = np.floor(np.maximum(v, 0) / 0.2) * 0.2
        else:
            v = np.interp(wake.pos, wake.grid, source)
            v = v + rng.normal(0, NOISE.get(metric, 0.0), wake.n)
            v = v + rng.normal(0, DRIFT_30D.get(metric, 0.0)) * wake.days_since / 30.0
        lo = 0.0 if metric in _NEVER_NEGATIVE else -math.inf
        hi = 100.0 if metric in _PERCENT else math.inf
        values[metric] = np.round(np.clip(v, lo, hi), DECIMALS[metric])
    return values


def _device_values(
    rng: np.random.Generator,
    env: Environment,
    wake: _Wake,
    metrics: Sequence[str],
    values: dict[str, NDArray[np.float64]],
) -> None:
    """The node's own readings into ``values``: its battery and its radio link.

    Battery: a daily state of charge, solar charge minus a constant drain [est: a clear day (250 W/m²
    mean) charges 6 %, the node uses 2 % a day], so a cloudy week sags the voltage.
    """
    n, true_ms = wake.n, wake.true_ms
    cloudy = np.interp(wake.pos, wake.grid, env.solar_w_m2[wake.row])
    day_index = (true_ms - true_ms[0]) // 86_400_000 if n else np.zeros(0, dtype=np.int64)
    mean_sun: NDArray[np.float64] | list[float] = (
        np.bincount(day_index, weights=cloudy) / np.maximum(np.bincount(day_index), 1) if n else []
    )
    charge, soc_days = rng.uniform(0.7, 0.95), []
    for sun in mean_sun:
        charge = min(1.0, max(0.05, charge + 0.06 * sun / 250.0 - 0.02))
        soc_days.append(charge)
    soc = np.asarray(soc_days, dtype=np.float64)[day_index] if n else np.zeros(0)
    if "battery_v" in metrics:
        values["battery_v"] = np.round(3.3 + 0.9 * soc + rng.normal(0, 0.005, n), 3)
    if "battery_pct" in metrics:
        values["battery_pct"] = np.round(100 * soc).astype(np.float64)
    rain_now = np.interp(wake.pos, wake.grid, env.rain_mm[wake.row])
    base_rssi = rng.uniform(-112, -72)
    if "rssi_dbm" in metrics:
        values["rssi_dbm"] = np.round(base_rssi + rng.normal(0, 2.5, n) - 3.0 * (rain_now > 0))
    if "snr_db" in metrics:
        snr = np.clip((base_rssi + 120) / 4 + rng.normal(0, 1.5, n), -20.0, 15.0)
        values["snr_db"] = np.asarray(np.round(snr, 1), dtype=np.float64)


def _faults(
    rng: np.random.Generator, faults: FaultRates, wake: _Wake, values: dict[str, NDArray[np.float64]]
) -> tuple[NDArray[np.bool_], NDArray[np.bool_], dict[str, int]]:
    """Link outages, stuck sensors, spikes, dead sensors (NaN) and corrupt frames, at their rates per
    node per day; returns when the link was up, which frames are corrupt, and how many of each."""
    n, per_day = wake.n, wake.per_day
    link_up = np.ones(n, dtype=bool)
    starts = np.flatnonzero(_events(rng, faults.outage, n, per_day))
    span = max(1, int(faults.outage_hours * 60 / (wake.step_ms / 60_000)))
    for s in starts:
        link_up[s : s + span] = False
    counts = {"outage": len(starts)}
    quantities = [m for m in values if m not in _DEVICE_METRICS]
    for s in np.flatnonzero(_events(rng, faults.stuck, n, per_day)):
        m = quantities[int(rng.integers(len(quantities)))]
        values[m][s : s + int(per_day / 4)] = values[m][s]
        counts["stuck"] = counts.get("stuck", 0) + 1
    for s in np.flatnonzero(_events(rng, faults.spike, n, per_day)):
        m = quantities[int(rng.integers(len(quantities)))]
        values[m][s] = values[m][s] * 3 + 50
        counts["spike"] = counts.get("spike", 0) + 1
    for s in np.flatnonzero(_events(rng, faults.dead, n, per_day)):
        m = quantities[int(rng.integers(len(quantities)))]
        values[m][s : s + int(per_day)] = np.nan
        counts["dead"] = counts.get("dead", 0) + 1
    corrupt = _events(rng, faults.corrupt, n, per_day)
    counts["corrupt"] = int(corrupt.sum())
    return link_up, corrupt, counts


# ---- encoders ------------------------------------------------------------------------------------


def _num(value: float) -> float | None:
    return None if value != value else float(value)


def encode_native(samples: NodeSamples, idx: NDArray[np.int_]) -> bytes:
    """panen's JSON: one message with every sample at positions ``idx`` (store-and-forward batch)."""
    metrics = list(samples.values)
    columns = [samples.values[m][idx].tolist() for m in metrics]
    stamps = samples.device_ms[idx].tolist()
    body = [
        {"ts": ts, "values": {m: col[k] for m, col in zip(metrics, columns, strict=True)}}
        for k, ts in enumerate(stamps)
    ]
    # NaN from a dead sensor goes out as the JSON literal NaN, as naive firmware JSON writers do.
    return json.dumps({"samples": body} if len(body) != 1 else body[0], allow_nan=True).encode()


def encode_senml(samples: NodeSamples, idx: NDArray[np.int_]) -> bytes:
    """An RFC 8428 SenML pack: base name and base time, relative times, SenML units."""
    stamps = samples.device_ms[idx]
    base_s = int(stamps[0]) / 1000.0
    pack: list[dict[str, Any]] = []
    for k, ts in enumerate(stamps.tolist()):
        for metric, column in samples.values.items():
            value = float(column[idx[k]])
            unit = UNITS[metric]
            if unit == "/":
                value = value / 100.0
            elif unit == "S/m":
                value = value / 10.0
            record: dict[str, Any] = {
                "n": metric,
                "u": unit,
                "v": round(value, 6) if value == value else None,
            }
            if not pack:
                record.update(bn=f"{samples.node.id}:", bt=base_s)
            elif ts / 1000.0 != base_s:
                record["t"] = round(ts / 1000.0 - base_s, 3)
            pack.append(record)
    return json.dumps(pack).replace('"v": null', '"v": NaN').encode()


def _iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"


def encode_tts(samples: NodeSamples, i: int, app: str = "koperasi-batu") -> tuple[str, bytes]:
    """(topic, payload) of a The Things Stack v3 uplink with the Dragino LSE01 codec's fields."""
    v = {m: float(c[i]) for m, c in samples.values.items()}
    received = _iso(int(samples.true_ms[i]) + 180)  # the network server stamps arrival, not the device
    eui = samples.node.dev_eui.upper()
    msg = {
        "end_device_ids": {
            "device_id": f"eui-{samples.node.dev_eui}",
            "application_ids": {"application_id": app},
            "dev_eui": eui,
        },
        "received_at": received,
        "uplink_message": {
            "f_port": 2,
            "decoded_payload": {
                "Bat": v["battery_v"],
                "TempC_DS18B20": "0.0",
                "conduct_SOIL": None if math.isnan(v["soil_ec_ds_m"]) else round(v["soil_ec_ds_m"] * 1000),
                "temp_SOIL": f"{v['soil_temp_c']:.2f}",
                "water_SOIL": f"{v['soil_vwc_pct']:.2f}",
            },
            "rx_metadata": [
                {
                    "gateway_ids": {"gateway_id": "batu-gw-1"},
                    "rssi": _num(v["rssi_dbm"]),
                    "snr": _num(v["snr_db"]),
                }
            ],
            "received_at": received,
        },
    }
    return tts_uplink_topic(app, "ttn", f"eui-{samples.node.dev_eui}"), json.dumps(msg).encode()


def encode_chirpstack(
    samples: NodeSamples, i: int, app: str = "ca739e26-7b67-4f14-b69e-d568c22a5a75"
) -> tuple[str, bytes]:
    """(topic, payload) of a ChirpStack v4 ``up`` event with the Milesight EM500-SMTC codec's fields."""
    v = {m: float(c[i]) for m, c in samples.values.items()}
    time_iso = _iso(int(samples.true_ms[i]) + 150)
    msg = {
        "time": time_iso,
        "deviceInfo": {
            "devEui": samples.node.dev_eui,
            "deviceName": samples.node.id,
            "deviceProfileName": "Milesight EM500-SMTC",
        },
        "fPort": 85,
        "object": {
            "battery": _num(v["battery_pct"]),
            "temperature": _num(v["soil_temp_c"]),
            "moisture": _num(v["soil_vwc_pct"]),
            "ec": None if math.isnan(v["soil_ec_ds_m"]) else round(v["soil_ec_ds_m"] * 1000),
        },
        "rxInfo": [{"gatewayId": "6a7e111a10000000", "rssi": _num(v["rssi_dbm"]), "snr": _num(v["snr_db"])}],
    }
    return chirpstack_uplink_topic(app, samples.node.dev_eui), json.dumps(msg).encode()
