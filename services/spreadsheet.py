"""Cells safe to open in a spreadsheet: every CSV panen writes goes through :func:`neutralise`."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

from forecast.contracts import AllocationRow
from services.prices import CashWeek

if TYPE_CHECKING:
    from openpyxl import Workbook

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
    "crop_death_tonnes": "Dari tanaman mati kering ton / From drought-killed crops, tonnes",
    "price_idr_per_kg": "Harga beli Rp/kg / Buying price Rp/kg",
    "cost_expected_idr": "Perkiraan biaya Rp / Expected cost Rp",
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
_RUPIAH = "#,##0"


def plan_workbook(
    columns: Sequence[str],
    rows: Sequence[Sequence[object]],
    *,
    cash: Sequence[CashWeek] = (),
    orders: Sequence[AllocationRow] = (),
) -> bytes:
    """The purchase plan as an Excel workbook (openpyxl): sheet *Rencana / Plan* with the rows (headers
    in Indonesian and English, the header frozen and filtered, columns sized, tonnes to 0.1, rupiah
    whole, dates as dates, the newest reading as a UTC date-time, the week in progress in bold); sheet
    *Total* with the expected tonnes and cost per ISO week and commodity, per commodity and per week:
    the sums of the rows' expected figures, which add up (a sum of P50s would not); sheet *Kas / Cash*
    with the money each week needs (``cash``); and sheet *Pesanan / Orders* with the contracts' orders
    per week, commodity and cooperative (``orders``)."""
    from openpyxl import Workbook

    book = Workbook()
    _plan_sheet(book, columns, rows)
    _totals_sheet(book, columns, rows)
    _cash_sheet(book, cash)
    _orders_sheet(book, orders)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _plan_sheet(book: Workbook, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Sheet *Rencana / Plan*: the rows as the API has them, headers in both languages."""
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

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
        fmt = _TONNES if str(name).startswith(("tonnes_", "overdue_", "crop_death_", "change_")) else None
        if str(name).endswith("_idr") or str(name) == "price_idr_per_kg":
            fmt = _RUPIAH
        elif str(name) in ("issued_at", "last_reading_ms"):
            fmt = "yyyy-mm-dd hh:mm"
        elif str(name) in ("week_start", "week_end"):
            fmt = "yyyy-mm-dd"
        if fmt is not None:
            for (cell,) in sheet.iter_rows(min_row=2, min_col=i, max_col=i):
                cell.number_format = fmt
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = sheet.dimensions


def _cash_sheet(book: Workbook, cash: Sequence[CashWeek]) -> None:
    """Sheet *Kas / Cash*: the money each week needs."""
    _table_sheet(
        book,
        "Kas - Cash",
        [
            ("Minggu / ISO week", 18, None),
            ("Senin / Monday", 14, "yyyy-mm-dd"),
            ("Perkiraan ton / Expected tonnes", 20, _TONNES),
            ("Perkiraan biaya Rp / Expected cost Rp", 26, _RUPIAH),
            ("Biaya P10 Rp / Cost P10 Rp", 20, _RUPIAH),
            ("Biaya P90 Rp / Cost P90 Rp", 20, _RUPIAH),
            ("Ton tanpa harga / Unpriced tonnes", 20, _TONNES),
            ("Tanpa harga / Unpriced", 30, None),
        ],
        [
            [
                w.iso_week,
                w.week_start,
                round(w.tonnes_expected, 1),
                w.cost_expected_idr,
                w.cost_p10_idr,
                w.cost_p90_idr,
                round(w.unpriced_tonnes_expected, 1),
                " ".join(w.unpriced),
            ]
            for w in cash
        ],
    )


def _orders_sheet(book: Workbook, orders: Sequence[AllocationRow]) -> None:
    """Sheet *Pesanan / Orders*: the contracts' orders per week, commodity and cooperative."""
    grouped: dict[tuple[str, str, str], tuple[float, list[int]]] = {}
    for o in orders:
        t, ids = grouped.get((o.iso_week, o.commodity, o.coop_id), (0.0, []))
        grouped[(o.iso_week, o.commodity, o.coop_id)] = (t + o.tonnes, [*ids, o.contract_id])
    _table_sheet(
        book,
        "Pesanan - Orders",
        [
            ("Minggu / ISO week", 18, None),
            ("Komoditas / Commodity", 20, None),
            ("Koperasi / Cooperative id", 24, None),
            ("Pesanan ton / Order tonnes", 18, _TONNES),
            ("Kontrak / Contracts", 16, None),
        ],
        [[w, c, k, round(t, 1), " ".join(map(str, ids))] for (w, c, k), (t, ids) in sorted(grouped.items())],
    )


def _totals_sheet(book: Workbook, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Sheet *Total*: expected tonnes and cost per ISO week × commodity, then per commodity and per week."""
    week, commodity, expected = (columns.index(c) for c in ("iso_week", "commodity", "tonnes_expected"))
    cost = columns.index("cost_expected_idr") if "cost_expected_idr" in columns else None
    by_both: dict[tuple[str, str], tuple[float, float]] = {}
    for row in rows:
        k = (str(row[week]), str(row[commodity]))
        t, r = by_both.get(k, (0.0, 0.0))
        rupiah = _number(row[cost]) if cost is not None else 0.0  # an unpriced row has no cost
        by_both[k] = (t + _number(row[expected]), r + rupiah)
    titles = ["Perkiraan ton / Expected tonnes", "Perkiraan biaya Rp / Expected cost Rp"]
    table: list[list[object]] = [
        [w, _excel(c), round(t, 1), round(r)] for (w, c), (t, r) in sorted(by_both.items())
    ]
    for label, index in (("Komoditas / Commodity", 1), ("Minggu / ISO week", 0)):
        table.append([])
        table.append([label, "", *titles])
        sums: dict[str, tuple[float, float]] = {}
        for k, (t, r) in by_both.items():
            s_t, s_r = sums.get(k[index], (0.0, 0.0))
            sums[k[index]] = (s_t + t, s_r + r)
        table.extend([_excel(name), "", round(t, 1), round(r)] for name, (t, r) in sorted(sums.items()))
    _table_sheet(
        book,
        "Total",
        [
            ("Minggu / ISO week", 20, None),
            ("Komoditas / Commodity", 24, None),
            (titles[0], 32, _TONNES),
            (titles[1], 32, _RUPIAH),
        ],
        table,
        frozen=False,
    )


def _table_sheet(
    book: Workbook,
    title: str,
    headers: Sequence[tuple[str, int, str | None]],
    rows: Sequence[Sequence[object]],
    *,
    frozen: bool = True,
) -> None:
    """A sheet of ``rows`` under bold ``headers`` (name, width, number format), the header frozen and
    filtered (``frozen``)."""
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    sheet = book.create_sheet(title)
    sheet.append([h for h, _, _ in headers])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append([_excel(v) for v in row])
    for i, (_, width, fmt) in enumerate(headers, 1):
        sheet.column_dimensions[get_column_letter(i)].width = width
        if fmt is not None:
            for (cell,) in sheet.iter_rows(min_row=2, min_col=i, max_col=i):
                if cell.value is not None and not isinstance(cell.value, str):
                    cell.number_format = fmt
    if frozen:
        sheet.freeze_panes = "A2"
        sheet.auto_filter.ref = sheet.dimensions


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


def _excel(value: object) -> object:
    """A cell value for openpyxl: text neutralised (openpyxl stores "=…" as a formula), times naive UTC."""
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    return neutralise(value)
