"""Cells safe to open in a spreadsheet: every CSV panen writes goes through :func:`neutralise`."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence

__all__ = ["XLSX_MEDIA_TYPE", "neutralise", "plan_workbook"]

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# OWASP's CSV injection rule: a text cell starting with one of these is a formula to a spreadsheet.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: object) -> object:
    """A text cell that a spreadsheet would run as a formula, prefixed with ``'`` so it shows as text;
    numbers (a negative one too) and everything else are left as they are."""
    if isinstance(cell, str) and cell.startswith(_FORMULA_START):
        return "'" + cell
    return cell


def plan_workbook(columns: Sequence[str], rows: Sequence[Sequence[object]]) -> bytes:
    """The purchase plan as an Excel workbook (openpyxl): sheet *Rencana / Plan* with the rows as they
    are in the CSV (dates as dates, numbers as numbers, the header frozen, the week in progress in
    bold), and sheet *Total* with the expected tonnes per ISO week and commodity, per commodity and per
    week: the sums of the rows' expected tonnes, which add up (a sum of P50s would not)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Rencana - Plan"
    sheet.append([str(c) for c in columns])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    current = columns.index("current_week") if "current_week" in columns else None
    for row in rows:
        sheet.append([_excel(v) for v in row])
        if current is not None and row[current]:
            for cell in sheet[sheet.max_row]:
                cell.font = Font(bold=True)
    sheet.freeze_panes = "A2"
    week, commodity, expected = (columns.index(c) for c in ("iso_week", "commodity", "tonnes_expected"))
    by_both: dict[tuple[str, str], float] = {}
    for row in rows:
        k = (str(row[week]), str(row[commodity]))
        by_both[k] = by_both.get(k, 0.0) + float(row[expected])  # type: ignore[arg-type]
    totals = book.create_sheet("Total")
    totals.append(["iso_week", "commodity", "expected tonnes (perkiraan ton)"])
    for (w, c), t in sorted(by_both.items()):
        totals.append([w, _excel(c), round(t, 1)])
    for label, index in (("commodity", 1), ("iso_week", 0)):
        totals.append([])
        totals.append([label, "", "expected tonnes (perkiraan ton)"])
        sums: dict[str, float] = {}
        for k, t in by_both.items():
            sums[k[index]] = sums.get(k[index], 0.0) + t
        for name, t in sorted(sums.items()):
            totals.append([_excel(name), "", round(t, 1)])
    for cell in totals[1]:
        cell.font = Font(bold=True)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _excel(value: object) -> object:
    """A cell value for openpyxl: text neutralised (openpyxl stores "=…" as a formula), times naive UTC."""
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    return neutralise(value)
