"""``panen ingest``: MQTT → decode → validate → batch → store (or spool), at least once, nothing lost.

One job a module, as Telegraf splits its MQTT consumer into input, parser and output:

- :mod:`ingest.client`: the MQTT connection (paho, MQTT v5 persistent session, reconnect with capped
  back-off, stop on refused credentials) and acknowledgements (a batch's PUBACKs in one write);
- :mod:`ingest.pipeline`: a message into readings and dead letters (pure; never raises);
- :mod:`ingest.sink`: readings made durable: the store, else the spool (fsynced, replayed oldest
  first), a store-rejected batch split until the bad readings are isolated, the dead-letter log;
- :mod:`ingest.service`: batching, the threads (network, flusher, replayer, registry watch, stats)
  and the lifecycle;
- :mod:`ingest.nodes` (which node is whose), :mod:`ingest.spool`, :mod:`ingest.deadletters`,
  :mod:`ingest.files` (appends that are all or nothing), :mod:`ingest.outages` (what ingest waits
  out, degraded but losing nothing), :mod:`ingest.supervisor` (threads and ``/healthz``),
  :mod:`ingest.metrics` (Prometheus).

Errors (:mod:`ingest.errors`; store errors are :mod:`storage`'s own tree)::

    IngestError
    ├── BrokerAuthError   the broker refused our credentials or client id: retrying will not help
    ├── RegistryError     the node registry is missing or malformed (the previous nodes stay in use)
    ├── SpoolFull         the spool reached its bound: messages stay unacknowledged in the broker
    └── IngestUnhealthy   unhealthy past the grace period: the process exits for a restart

    OSError
    └── TornTail          a failed append could not be cut back: the file is sealed (ingest.files)
"""

from ingest.errors import BrokerAuthError, IngestError, IngestUnhealthy, RegistryError, SpoolFull
from ingest.files import TornTail

__all__ = ["BrokerAuthError", "IngestError", "IngestUnhealthy", "RegistryError", "SpoolFull", "TornTail"]
