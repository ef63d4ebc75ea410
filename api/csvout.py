"""CSV downloads: one way to render rows and answer with them, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from fastapi.responses import Response

from services.spreadsheet import neutralise

__all__ = ["csv_bytes", "csv_response"]


def csv_bytes(columns: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    """UTF-8 CSV with a header line, every text cell neutralised (:func:`neutralise`)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([neutralise(c) for c in columns])
    writer.writerows([neutralise(c) for c in row] for row in rows)
    return out.getvalue().encode()


def csv_response(body: bytes, filename: str) -> Response:
    """A CSV body as a download named ``filename``."""
    return Response(
        body, media_type="text/csv", headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )
