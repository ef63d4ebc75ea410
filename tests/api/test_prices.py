"""Coosae's buying prices (issue 36): imported from a price list or entered one by one, on SQLite and
PostgreSQL registries; the plan's rows, its weekly cash and the contracts' margin at risk priced with
them; a wrong list refused with its line and reason and nothing of it imported; the xlsx read back
with openpyxl."""

from __future__ import annotations

import datetime as dt
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_sim.fleet import batu_fleet
from services import InvalidInput
from services.forecasting import ForecastService
from services.prices import COLUMNS, parse_csv
from services.registry_import import import_document
from storage.db.engine import open_registry, sqlite_url
from tests.api.conftest import TODAY, auth

Client = tuple[TestClient, dict[str, str], ForecastService]
HEADER = ",".join(COLUMNS)
PRICES = (
    f"{HEADER}\n"
    "carrot,A,6000,2020-01-01,test board 2020\n"
    "wortel,A,7000,{today},test board today\n"  # the Indonesian name of the same crop
    "cabbage,A,3500,2020-01-01,test board 2020\n"
    "cabbage,B,2500,2020-01-01,test board 2020\n"
    "tomato,A,8000,2020-01-01,test board 2020\n"
).replace("{today}", TODAY.isoformat())


def _import(c: TestClient, token: str, body: str) -> object:
    return c.post(
        "/v1/prices/import", content=body.encode(), headers={**auth(token), "Content-Type": "text/csv"}
    )


def test_a_price_list_is_imported_whole_and_replaces_what_it_corrects(client: Client) -> None:
    c, tokens, _ = client
    r = _import(c, tokens["offtaker"], PRICES)
    assert r.status_code == 200, r.text  # type: ignore[attr-defined]
    assert r.json() == {"added": 5, "replaced": 0, "unchanged": 0}  # type: ignore[attr-defined]
    listed = c.get("/v1/prices", params={"commodity": "wortel"}, headers=auth(tokens["manager"])).json()
    assert [(p["commodity"], p["idr_per_kg"]) for p in listed] == [("carrot", 6000.0), ("carrot", 7000.0)]
    assert listed[0]["recorded_by"] == "coosae"
    # The same list again changes nothing; a corrected price replaces its row, in a ;-separated file.
    again = _import(c, tokens["offtaker"], PRICES).json()  # type: ignore[attr-defined]
    assert again == {"added": 0, "replaced": 0, "unchanged": 5}
    fixed = f"{HEADER.replace(',', ';')}\nkubis;A;3600;2020-01-01;test board corrected\n"
    assert _import(c, tokens["admin"], fixed).json() == {"added": 0, "replaced": 1, "unchanged": 0}  # type: ignore[attr-defined]
    cabbage = c.get("/v1/prices", params={"commodity": "cabbage"}, headers=auth(tokens["admin"])).json()
    assert [(p["grade"], p["idr_per_kg"], p["source"]) for p in cabbage] == [
        ("A", 3600.0, "test board corrected"),
        ("B", 2500.0, "test board 2020"),
    ]


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("potato,A,9.500,2026-12-01,board", "whole rupiah"),  # a thousands separator read as a point
        ("potato,A,9,5,2026-12-01,board", "cells where the header has 5"),  # a decimal comma
        ("durian,A,9000,2026-12-01,board", "unknown commodity 'durian'"),
        ("potato,A,9000,1 Dec 2026,board", "is not a date"),
        ("potato,A,9000,2026-12-01,", "source must say"),
        ("potato,A,lots,2026-12-01,board", "is not a number"),
        ("potato,A,5000000,2026-12-01,board", "outside Rp 100 to 1,000,000"),
        ("carrot,A,6100,2020-01-01,board", "already on line 2"),
    ],
)
def test_a_wrong_price_list_names_its_line_and_imports_nothing(client: Client, line: str, why: str) -> None:
    c, tokens, _ = client
    body = f"{HEADER}\ncarrot,A,6000,2020-01-01,board\npotato,A,9000,2026-12-01,board\n{line}\n"
    r = _import(c, tokens["offtaker"], body)
    assert r.status_code == 422, r.text  # type: ignore[attr-defined]
    assert "line 4" in r.text, r.text  # type: ignore[attr-defined]
    assert why in r.text, r.text  # type: ignore[attr-defined]
    # The two good lines before it were not imported either.
    assert c.get("/v1/prices", headers=auth(tokens["admin"])).json() == []


def test_who_may_read_and_write_prices(client: Client) -> None:
    c, tokens, _ = client
    price = {"commodity": "kentang", "idr_per_kg": 9000, "valid_from": "2026-12-01", "source": "board"}
    for role in ("farmer", "manager"):
        assert c.post("/v1/prices", json=price, headers=auth(tokens[role])).status_code == 403
        assert _import(c, tokens[role], PRICES).status_code == 403  # type: ignore[attr-defined]
    assert c.get("/v1/prices", headers=auth(tokens["farmer"])).status_code == 403
    made = c.post("/v1/prices", json=price, headers=auth(tokens["offtaker"]))
    assert made.status_code == 201, made.text
    assert (made.json()["commodity"], made.json()["grade"]) == ("potato", "A")
    assert c.post("/v1/prices", json=price, headers=auth(tokens["admin"])).status_code == 409
    assert c.get("/v1/prices", headers=auth(tokens["manager"])).status_code == 200
    pid = made.json()["id"]
    assert c.delete(f"/v1/prices/{pid}", headers=auth(tokens["manager"])).status_code == 403
    assert c.delete(f"/v1/prices/{pid}", headers=auth(tokens["offtaker"])).status_code == 204
    assert c.delete(f"/v1/prices/{pid}", headers=auth(tokens["offtaker"])).status_code == 404


def test_the_plan_and_its_weekly_cash_are_priced_and_add_up(client: Client) -> None:
    c, tokens, _ = client
    params = {"weeks": 26}
    unpriced = c.get("/v1/purchase-plan", params=params, headers=auth(tokens["offtaker"])).json()
    assert unpriced
    assert all(r["price_idr_per_kg"] is None for r in unpriced)
    _import(c, tokens["offtaker"], PRICES)
    rows = c.get("/v1/purchase-plan", params=params, headers=auth(tokens["offtaker"])).json()
    priced = {"carrot", "cabbage", "tomato"}
    for r in rows:
        monday = dt.date.fromisoformat(r["week_start"])
        if r["commodity"] not in priced:
            assert r["price_idr_per_kg"] is r["cost_expected_idr"] is None, r
            continue
        expected_price = {"cabbage": 3500.0, "tomato": 8000.0}.get(r["commodity"])
        if r["commodity"] == "carrot":
            expected_price = 7000.0 if monday >= TODAY else 6000.0  # the new price from today's week on
        assert r["price_idr_per_kg"] == expected_price, r
        assert r["cost_expected_idr"] == round(r["tonnes_expected"] * 1000 * expected_price), r
    cash = c.get("/v1/purchase-plan/cash", params=params, headers=auth(tokens["offtaker"])).json()
    assert [w["iso_week"] for w in cash] == sorted({w["iso_week"] for w in cash})
    assert len(cash) == 26
    for w in cash:
        week_rows = [r for r in rows if r["iso_week"] == w["iso_week"]]
        cost = sum(r["cost_expected_idr"] or 0 for r in week_rows)
        # The rows are priced on tonnes rounded to 0.1, the week's cash on the members' tonnes.
        assert w["cost_expected_idr"] == pytest.approx(cost, abs=1 + 50 * 8000 * len(week_rows))
        # A mean can pass the P90 when few members harvest that week; it never falls below the P10.
        assert w["cost_p10_idr"] <= w["cost_expected_idr"] + 1
        assert w["cost_p10_idr"] <= w["cost_p90_idr"]
        unpriced_t = sum(r["tonnes_expected"] for r in week_rows if r["commodity"] not in priced)
        assert w["unpriced_tonnes_expected"] == pytest.approx(unpriced_t, abs=0.05 * (len(week_rows) + 1))
        assert set(w["unpriced"]) <= {r["commodity"] for r in week_rows} - priced
    assert sum(w["cost_expected_idr"] for w in cash) > 0
    csv_text = c.get(
        "/v1/purchase-plan/cash", params={**params, "format": "csv"}, headers=auth(tokens["manager"])
    ).text
    assert csv_text.splitlines()[0].startswith("iso_week,week_start,tonnes_expected,cost_expected_idr")


def _contract(
    c: TestClient, token: str, commodity: str, tonnes: float, *, start_in: int, days: int
) -> dict[str, object]:
    """A contract sold at Rp 11,000/kg from ``start_in`` days on, for ``days``."""
    first = TODAY + dt.timedelta(days=start_in)
    terms = {"buyer": "B", "commodity": commodity, "tonnes": tonnes, "first_day": first.isoformat(),
             "last_day": (first + dt.timedelta(days=days)).isoformat(),
             "price_idr_per_kg": 11000.0}  # fmt: skip
    made = c.post("/v1/contracts", json=terms, headers=auth(token))
    assert made.status_code == 201, made.text
    return dict(made.json())


def test_a_contracts_margin_at_risk_is_its_margin_on_the_shortfall(client: Client) -> None:
    c, tokens, _ = client
    _import(c, tokens["offtaker"], PRICES)
    made = _contract(c, tokens["offtaker"], "tomato", 500.0, start_in=7, days=120)
    _contract(c, tokens["offtaker"], "potato", 5.0, start_in=7, days=120)  # no buying price for potato
    report = c.get("/v1/contracts/coverage", headers=auth(tokens["offtaker"])).json()
    row = next(r for r in report["contracts"] if r["contract_id"] == made["id"])
    assert (row["buying_price_idr_per_kg"], row["margin_idr_per_kg"]) == (8000.0, 3000.0)
    assert row["shortfall_expected"] > 0  # 500 t is more than two cooperatives' tomato
    assert row["margin_at_risk_idr"] == pytest.approx(3000 * 1000 * row["shortfall_expected"], rel=1e-3)
    assert row["margin_at_risk_p90_idr"] == pytest.approx(3000 * 1000 * row["shortfall_p90"], rel=1e-5)
    assert report["summary"]["unpriced_contracts"] == 1
    assert report["summary"]["margin_at_risk_idr"] == row["margin_at_risk_idr"]


def test_the_workbook_has_its_headers_formats_totals_cash_and_orders(client: Client) -> None:
    from openpyxl import load_workbook

    c, tokens, _ = client
    _import(c, tokens["offtaker"], PRICES)
    _contract(c, tokens["offtaker"], "tomato", 3.0, start_in=1, days=150)
    r = c.get("/v1/purchase-plan", params={"weeks": 26, "format": "xlsx"}, headers=auth(tokens["offtaker"]))
    assert r.status_code == 200
    book = load_workbook(io.BytesIO(r.content))
    assert book.sheetnames == ["Rencana - Plan", "Total", "Kas - Cash", "Pesanan - Orders"]
    plan = book["Rencana - Plan"]
    headers = [cell.value for cell in plan[1]]
    assert headers[:4] == ["Komoditas / Commodity", "Minggu / ISO week", "Koperasi / Cooperative id",
                           "Perkiraan ton / Expected tonnes"]  # fmt: skip
    assert plan.freeze_panes == "A2"
    assert plan.auto_filter.ref
    col = {h: i for i, h in enumerate(headers)}
    rows = [list(row) for row in plan.iter_rows(min_row=2)]
    assert rows
    for row in rows:
        assert row[col["Perkiraan ton / Expected tonnes"]].number_format == "#,##0.0"
        assert isinstance(row[col["Senin / Monday"]].value, dt.datetime)
        assert row[col["Senin / Monday"]].number_format == "yyyy-mm-dd"
        cost = row[col["Perkiraan biaya Rp / Expected cost Rp"]]
        assert cost.value is None or cost.number_format == "#,##0"
    # Total: each commodity's line equals the sum of the plan's rows of it.
    totals = list(book["Total"].iter_rows(values_only=True))
    marker = totals.index(("Komoditas / Commodity", None, "Perkiraan ton / Expected tonnes",
                           "Perkiraan biaya Rp / Expected cost Rp"))  # fmt: skip
    for name, _, tonnes, rupiah in totals[marker + 1 :]:
        if name is None or name == "Minggu / ISO week":
            break
        mine = [r for r in rows if r[col["Komoditas / Commodity"]].value == name]
        assert tonnes == pytest.approx(
            sum(r[col["Perkiraan ton / Expected tonnes"]].value for r in mine), abs=0.051
        )
        cost = sum(r[col["Perkiraan biaya Rp / Expected cost Rp"]].value or 0 for r in mine)
        assert rupiah == pytest.approx(cost, abs=1)
    cash = list(book["Kas - Cash"].iter_rows(min_row=2, values_only=True))
    assert len(cash) == 26
    assert all(isinstance(w[1], dt.datetime) for w in cash)
    orders = list(book["Pesanan - Orders"].iter_rows(min_row=2, values_only=True))
    api_orders = c.get("/v1/contracts/allocation", headers=auth(tokens["offtaker"])).json()
    assert [(o[0], o[1], o[2], o[3]) for o in orders] == [
        (o["iso_week"], o["commodity"], o["coop_id"], o["tonnes"]) for o in api_orders
    ]
    assert sum(o[3] for o in orders) == pytest.approx(3.0, abs=0.05)
    # A manager's workbook has their cooperative's orders only.
    mine = c.get("/v1/purchase-plan", params={"weeks": 26, "format": "xlsx"}, headers=auth(tokens["manager"]))
    their = list(
        load_workbook(io.BytesIO(mine.content))["Pesanan - Orders"].iter_rows(min_row=2, values_only=True)
    )
    assert {o[2] for o in their} <= {"oro-oro-ombo"}


_CELL = st.text(st.characters(codec="utf-8", exclude_characters="\r\n\x00"), max_size=12)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(_CELL, _CELL, _CELL, _CELL, _CELL), min_size=1, max_size=6))
def test_any_price_list_is_taken_whole_or_refused_with_its_line(lines: list[tuple[str, ...]]) -> None:
    """Over arbitrary cells: a list parses into checked prices, or is refused naming a line."""
    import csv

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(lines)
    try:
        specs = parse_csv(out.getvalue())
    except InvalidInput as exc:
        why = str(exc)
    else:
        why = ""
    if why:
        assert why.startswith("line ") or "no prices" in why, why
        return
    for s in specs:
        assert 100 <= s.idr_per_kg <= 1_000_000
        assert s.source
        assert s.grade


def test_panen_prices_import_refuses_a_wrong_file_and_takes_a_right_one(tmp_path: Path) -> None:
    with open_registry(sqlite_url(tmp_path / "registry.sqlite3"))() as session:
        import_document(session, batu_fleet().subset(1, 1))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PANEN_")}
    env.update({"PANEN_DATA_DIR": str(tmp_path), "COLUMNS": "200"})

    def panen(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "panen", *args], env=env, capture_output=True, text=True,
                              timeout=60)  # fmt: skip

    bad = tmp_path / "bad.csv"
    bad.write_text(f"{HEADER}\npotato,A,9000,2026-12-01,board\npotato,A,9.000,2026-12-08,board\n")
    refused = panen("prices", "import", str(bad))
    assert refused.returncode == 2
    assert "nothing imported" in refused.stderr, refused.stderr
    assert "line 3" in refused.stderr, refused.stderr
    good = tmp_path / "good.csv"
    good.write_text(f"\ufeff{HEADER}\nkentang,A,9000,2026-12-01,\nbawang merah,A,25000,2026-12-01,\n")
    taken = panen("prices", "import", str(good), "--source", "board 1 Dec 2026")
    assert taken.returncode == 0, taken.stderr
    assert "2 prices added" in taken.stderr
    listed = panen("prices", "list")
    assert listed.stdout.splitlines() == [
        HEADER,
        "potato,A,9000,2026-12-01,board 1 Dec 2026",
        "shallot,A,25000,2026-12-01,board 1 Dec 2026",
    ]
