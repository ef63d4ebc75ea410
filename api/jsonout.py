"""JSON answers of the read-heavy routes, rendered by orjson straight from the rows.

A route returning its rows as Pydantic models has each row built, validated against its
``response_model`` and dumped again: for a season's daily series (180 rows) that was more Python than
the store's query (issue 42). The routes still declare their ``response_model`` (the OpenAPI schema
and its tests hold the shape); this renders the same shape in one call.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import Response

__all__ = ["json_response"]


def json_response(content: Any) -> Response:
    """``content`` (dicts, lists, numbers, strings, dates, dataclasses) as an ``application/json``
    answer. Numbers are the stores' and they hold finite ones only (both refuse NaN on write)."""
    return Response(orjson.dumps(content), media_type="application/json")
