"""Cells safe to open in a spreadsheet: every CSV panen writes goes through :func:`neutralise`."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence

__all__ = ["PLAN_HEADERS", "XLSX_MEDIA_TYPE", "neutralise", "plan_workbook"]

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# OWASP's CSV injection rule: a text cell starting with one of these is a formula to a spreadsheet.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: object) -> object:
    """A text cell that a spreadsheet would run as a formula, prefixed with ``'`` so it shows as text;
    numbers (a negative one too) and everything else are left as they are."""
    if isinstance(cell, str) and cell.startswith(_FORMULA_START):
        return "'" + cell
    return cell


# The plan's columns as a planner reads them, in Indonesian and English (the CSV keeps the API's names).
PLAN_HEADERS = {
    "commodity": "Komoditas / Commodity",
    "iso_week": "Minggu / ISO week",
    "coop_id": "Koperasi / Cooperative id",
    "tonnes_expected": "Perkiraan ton / Expected tonnes",
    "tonnes_p10": "Ton P10",
    "tonnes_p50": "Ton P50",
    "tonnes_p90": "Ton P90",
    "overdue_tonnes": "Terlambat ton / Overdue tonnes",
    "skill_tonnes_mape_30d": "Galat 30 hari / MAPE 30 days",
    "skill_records_30d": "Catatan panen / Harvest records",
    "coop_name": "Nama koperasi / Cooperative",
    "week_start": "Senin / Monday",
    "week_end": "Minggu / Sunday",
    "current_week": "Minggu ini / This week",
    "change_expected": "Perubahan perkiraan / Change, expected",
    "change_p50": "Perubahan P50 / Change, P50",
    "issued_at": "Prakiraan dibuat (UTC) / Forecast made (UTC)",
    "last_reading_ms": "Data terbaru (UTC) / Newest reading (UTC)",
}
_TONNES = "#,##0.0"


def plan_workbook(columns: Sequence[str], rows: Sequence[Sequence[object]]) -> bytes:
    """The purchase plan as an Excel workbook (openpyxl): sheet *Rencana / Plan* with the rows (headers
    in Indonesian and English, the header frozen and filtered, columns sized, tonnes to 0.1, dates as
    dates, the newest reading as a UTC date-time, the week in progress in bold), and sheet *Total* with
    the expected tonnes per ISO week and commodity, per commodity and per week: the sums of the rows'
    expected tonnes, which add up (a sum of P50s would not)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Rencana - Plan"
    sheet.append([PLAN_HEADERS.get(str(c), str(c)) for c in columns])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    current = columns.index("current_week") if "current_week" in columns else None
    reading = columns.index("last_reading_ms") if "last_reading_ms" in columns else None
    for row in rows:
        values = list(row)
        ms = values[reading] if reading is not None else None
        if reading is not None and isinstance(ms, int):
            values[reading] = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
        sheet.append([_excel(v) for v in values])
        if current is not None and row[current]:
            for cell in sheet[sheet.max_row]:
                cell.font = Font(bold=True)
    for i, name in enumerate(columns, 1):
        letter = get_column_letter(i)
        sheet.column_dimensions[letter].width = max(
            12, min(40, len(PLAN_HEADERS.get(str(name), str(name))) + 2)
        )
        fmt = _TONNES if str(name).startswith(("tonnes_", "overdue_", "change_")) else None
        if str(name) in ("issued_at", "last_reading_ms"):
            fmt = "yyyy-mm-dd hh:mm"
        elif str(name) in ("week_start", "week_end"):
            fmt = "yyyy-mm-dd"
        if fmt is not None:
            for (cell,) in sheet.iter_rows(min_row=2, min_col=i, max_col=i):
                cell.number_format = fmt
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = sheet.dimensions
    week, commodity, expected = (columns.index(c) for c in ("iso_week", "commodity", "tonnes_expected"))
    by_both: dict[tuple[str, str], float] = {}
    for row in rows:
        k = (str(row[week]), str(row[commodity]))
        by_both[k] = by_both.get(k, 0.0) + float(row[expected])  # type: ignore[arg-type]
    totals = book.create_sheet("Total")
    title = "Perkiraan ton / Expected tonnes"
    totals.append(["Minggu / ISO week", "Komoditas / Commodity", title])
    for (w, c), t in sorted(by_both.items()):
        totals.append([w, _excel(c), round(t, 1)])
    for label, index in (("Komoditas / Commodity", 1), ("Minggu / ISO week", 0)):
        totals.append([])
        totals.append([label, "", title])
        sums: dict[str, float] = {}
        for k, t in by_both.items():
            sums[k[index]] = sums.get(k[index], 0.0) + t
        for name, t in sorted(sums.items()):
            totals.append([_excel(name), "", round(t, 1)])
    for cell in totals[1]:
        cell.font = Font(bold=True)
    for letter, width in (("A", 20), ("B", 24), ("C", 32)):
        totals.column_dimensions[letter].width = width
    for (cell,) in totals.iter_rows(min_row=2, min_col=3, max_col=3):
        cell.number_format = _TONNES
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _excel(value: object) -> object:
    """A cell value for openpyxl: text neutralised (openpyxl stores "=…" as a formula), times naive UTC."""
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    return neutralise(value)
