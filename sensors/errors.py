"""The errors :mod:`sensors` raises: one root, drawn in the package's docstring."""

from __future__ import annotations

__all__ = ["SensorsError"]


class SensorsError(Exception):
    """Root of the errors the vocabulary of readings raises (payloads and device profiles)."""
