"""The metric catalogue: the one glossary of what panen measures.

Every metric name carries its unit as a suffix (``soil_vwc_pct``), and the unit named here is the
only unit that metric is ever stored in: codecs convert on the way in. The plausible range is a
physical sanity bound for a working sensor in Kota Batu's highlands, not an agronomic threshold.
A value outside it is *kept* with quality ``implausible`` (a frost night colder than expected is
worth seeing); values that are not numbers at all are refused (see :mod:`sensors.reading`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["CATALOGUE", "Metric", "metric_names"]


@dataclass(frozen=True, slots=True)
class Metric:
    """One measured quantity.

    Attributes:
        name: Identifier with unit suffix, used as the InfluxDB measurement name and in every payload.
        unit: Canonical unit symbol (UCUM-like) that values are stored in.
        low: Lowest plausible value for a working sensor [unit].
        high: Highest plausible value for a working sensor [unit].
        daily: How a day of this metric is summarised for people and forecasts: ``mean`` for states
            (temperature, moisture), ``sum`` for amounts per reporting interval (rain).
        description: What the value means, for the docs and the API.
    """

    name: str
    unit: str
    low: float
    high: float
    daily: Literal["mean", "sum"]
    description: str

    def is_plausible(self, value: float) -> bool:
        """Whether ``value`` lies inside the plausible range (bounds included)."""
        return self.low <= value <= self.high


# Ranges: sensor limits and physical limits, chosen to flag faults, not weather.
# - air_temp_c: Batu's record lows are 11-14 °C and Bromo-Tengger frost reaches -4 °C (docs/sources.md §1);
#   -15..50 leaves room for any real highland night or a sensor in the sun.
# - soil_ec_ds_m: Dragino LSE01 reads 0..20,000 µS/cm (= 20 dS/m); strongly saline soils exceed 16 dS/m.
# - rain_mm: per reporting interval; 250 mm exceeds any recorded hourly rainfall in Indonesia.
# - solar_w_m2: the solar constant is 1,361 W/m²; cloud-edge enhancement briefly reaches about 1,500.
# - battery_v: the field nodes use 3.6 V Li-SOCl2 or 3.7 V Li-ion cells; 0 V means the cell is gone.
# - rssi_dbm / snr_db: LoRa SX127x sensitivity floor is about -148 dBm; SNR spans about -20..+15 dB.
_METRICS: tuple[Metric, ...] = (
    Metric("air_temp_c", "Cel", -15.0, 50.0, "mean", "Air temperature at 2 m"),
    Metric("air_rh_pct", "%", 0.0, 100.0, "mean", "Relative humidity of the air at 2 m"),
    Metric("soil_vwc_pct", "%", 0.0, 100.0, "mean", "Volumetric water content of the root-zone soil"),
    Metric("soil_temp_c", "Cel", -10.0, 60.0, "mean", "Soil temperature at sensor depth"),
    Metric("soil_ec_ds_m", "dS/m", 0.0, 20.0, "mean", "Bulk electrical conductivity of the soil"),
    Metric("rain_mm", "mm", 0.0, 250.0, "sum", "Rainfall during the reporting interval"),
    Metric("solar_w_m2", "W/m2", 0.0, 1500.0, "mean", "Global horizontal solar irradiance"),
    Metric("wind_m_s", "m/s", 0.0, 60.0, "mean", "Wind speed at 2 m"),
    Metric("leaf_wetness_pct", "%", 0.0, 100.0, "mean", "Share of the leaf-wetness sensor that is wet"),
    Metric("battery_v", "V", 0.0, 5.0, "mean", "Node battery voltage"),
    Metric("battery_pct", "%", 0.0, 100.0, "mean", "Node battery level as the network server reports it"),
    Metric("rssi_dbm", "dBm", -150.0, 0.0, "mean", "Received signal strength of the node's last uplink"),
    Metric("snr_db", "dB", -30.0, 30.0, "mean", "Signal-to-noise ratio of the node's last uplink"),
)

CATALOGUE: dict[str, Metric] = {m.name: m for m in _METRICS}


def metric_names() -> list[str]:
    """All metric names in catalogue order."""
    return [m.name for m in _METRICS]
