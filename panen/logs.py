"""Structured logs for panen's services: JSON lines for machines, ``key=value`` text for people."""

from __future__ import annotations

import json
import logging
import sys
import time

__all__ = ["configure_logging"]

_QUIET_LIBRARIES = ("httpx", "httpcore", "urllib3", "asyncio", "multipart")


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        body = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            body["exc"] = self.formatException(record.exc_info)
        return json.dumps(body)


def configure_logging(level: str = "info", fmt: str = "text") -> None:
    """Send logs to stderr, as JSON lines (``fmt="json"``) or as readable text."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Libraries speak only when something is wrong: httpx logs every request at INFO (one line per
    # InfluxDB write: 2,942 of 2,976 lines in an 8-hour outage). Our own loggers say what matters.
    for library in _QUIET_LIBRARIES:
        logging.getLogger(library).setLevel(max(logging.WARNING, root.level))
