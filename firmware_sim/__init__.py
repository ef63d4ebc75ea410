"""Simulated field nodes for tests and demos: Kota Batu's world, the nodes' firmware, the fleet.

- :mod:`firmware_sim.climate` and :mod:`firmware_sim.environment`: daily and hourly weather per
  cooperative, each field's soil water, and the crop truths (the simulator's own model: Wang–Engel
  development, hidden per-field factors), written to ``sim_truths.json`` and never published;
- :mod:`firmware_sim.firmware`: per node noise, drift, battery, clock, faults, and the encoders of
  every payload format;
- :mod:`firmware_sim.runner`: backfills and live runs over MQTT (``panen sim``);
- :mod:`firmware_sim.fleet`: the Kota Batu fleet generator (``panen sim-fleet``; the document itself
  is :mod:`storage.fleetfile`).

The simulator reaches the platform over MQTT only and shares no code with :mod:`forecast`
(import-linter contracts in ``pyproject.toml``).
"""
