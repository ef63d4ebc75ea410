"""What several forecast tests build the same way."""

from __future__ import annotations

import numpy as np

from forecast.drivers import Observed


def steady_field(
    days: int, *, tmin_c: float, tmax_c: float, rain_mm: np.ndarray, soil_vwc_pct: np.ndarray | None = None
) -> dict[str, Observed]:
    """Field ``f1``'s observed days: the same temperatures every day, ET0 4 mm, the rain given, and the
    probe's daily means given (none read when ``soil_vwc_pct`` is None)."""
    return {
        "f1": Observed(
            tmin_c=np.full(days, tmin_c),
            tmax_c=np.full(days, tmax_c),
            rain_mm=rain_mm,
            et0_mm=np.full(days, 4.0),
            soil_vwc_pct=np.full(days, np.nan) if soil_vwc_pct is None else soil_vwc_pct,
            et0_pm_over_hargreaves=1.0,
        )
    }
