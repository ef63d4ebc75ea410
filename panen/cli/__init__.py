"""The ``panen`` command: one module per command group, each parsing its options, calling a service
and formatting what it returns (exit 2 for a wrong setting or option, 1 for a service that failed).

- :mod:`panen.cli.basics`: ``version``, ``settings``;
- :mod:`panen.cli.store`: ``store check|init|rollup|influx2-setup|tenants|credentials|split``;
- :mod:`panen.cli.platform`: ``demo``, ``api``, ``refresh``;
- :mod:`panen.cli.ingest`: ``ingest``;
- :mod:`panen.cli.profiles`: ``profiles`` (LoRaWAN device profiles);
- :mod:`panen.cli.sim`: ``sim``, ``sim-fleet``;
- :mod:`panen.cli.broker`: ``broker-config``;
- :mod:`panen.cli.dashboards`: ``dashboards push``;
- :mod:`panen.cli.grafana`: ``grafana sync|login`` (an organisation per cooperative);
- :mod:`panen.cli.registry`: ``registry import``, ``token create|list|revoke``;
- :mod:`panen.cli.notify`: ``notify run|test|link|list``, ``contact add|list``;
- :mod:`panen.cli.prices`: ``prices import|list`` (Coosae's buying prices);
- :mod:`panen.cli.fleet`: ``fleet`` (every node's state: the silent first).
"""

import gc

# Importing the commands makes ~48k tracked objects and no garbage: the cyclic collector's passes over them
# were ~60 ms of every command's start (0.42 → 0.35 s to import, median of 12).
_collecting = gc.isenabled()
gc.disable()

from panen.cli import (  # noqa: E402
    basics,
    broker,
    dashboards,
    fleet,
    grafana,
    ingest,
    notify,
    platform,
    prices,
    profiles,
    registry,
    sim,
    store,
)
from panen.cli._common import app  # noqa: E402

if _collecting:
    gc.enable()

__all__ = [
    "app",
    "basics",
    "broker",
    "dashboards",
    "fleet",
    "grafana",
    "ingest",
    "notify",
    "platform",
    "prices",
    "profiles",
    "registry",
    "sim",
    "store",
]
