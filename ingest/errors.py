"""Ingest's errors: one root, drawn in :mod:`ingest`'s docstring."""

from __future__ import annotations

__all__ = ["BrokerAuthError", "IngestError", "IngestUnhealthy", "RegistryError", "SpoolFull"]


class IngestError(Exception):
    """Root of the errors ingest raises on its own account."""


class BrokerAuthError(IngestError):
    """The broker refused our credentials or client id; retrying will not help."""


class RegistryError(IngestError):
    """The node registry (file or database) is missing or malformed; the message names the entry."""


class SpoolFull(IngestError):
    """Appending would exceed the spool's size bound (nothing was written)."""


class IngestUnhealthy(IngestError):
    """Ingest stayed unhealthy past its grace period; the process should be restarted."""
