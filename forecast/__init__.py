"""Crop science and harvest forecasts: pure functions on numpy arrays, no I/O.

- :mod:`forecast.et0`: FAO-56 reference evapotranspiration (Penman–Monteith daily and hourly,
  Hargreaves);
- :mod:`forecast.crops` (with ``crops.toml``): the crop library, every value with its source;
- :mod:`forecast.drivers`: a field's daily sensor aggregates into model drivers;
- :mod:`forecast.weather`: future weather per ensemble member from Kota Batu's climatology;
- :mod:`forecast.season`: the daily season model over fields × members (degree-days, FAO-56 water
  balance, FAO-33 yield response);
- :mod:`forecast.engine`: :func:`forecast.engine.forecast_fields`, percentiles of harvest date,
  yield and tonnes per field;
- :mod:`forecast.learning`: calibration from harvest records (empirical-Bayes yield-gap factors);
- :mod:`forecast.plan` and :mod:`forecast.contracts`: the purchase plan, contract coverage and
  allocation from the ensemble members.

Nothing here reads a store or the registry (:mod:`services.forecasting` does), and nothing here is
shared with the simulator's crop truths (:mod:`firmware_sim`): the skill benchmarks score this model
against another one. An import-linter contract keeps it so.
"""
