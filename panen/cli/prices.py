"""``panen prices import|list``: Coosae's buying prices (the rules: :mod:`services.prices`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from panen.cli._common import app, console
from panen.settings import get_settings

prices_app = typer.Typer(help="Coosae's buying prices per commodity and grade.", no_args_is_help=True)
app.add_typer(prices_app, name="prices")


@prices_app.command("import")
def prices_import(
    price_file: Annotated[
        Path, typer.Argument(help="CSV: commodity,grade,idr_per_kg,valid_from,source (a header line first).")
    ],
    source: Annotated[
        str | None,
        typer.Option(help="The source of lines that leave theirs empty (e.g. the price board's date)."),
    ] = None,
) -> None:
    """Import a price list: all of it, or nothing and the wrong line with why (exit 2). A price of a
    commodity, grade and day already there is replaced. A running API prices its plan with it from its
    next forecast refresh (POST /v1/prices/import prices it at once)."""
    from services import Conflict, InvalidInput
    from services.prices import import_prices, parse_csv
    from storage.db.engine import open_registry

    try:
        text = price_file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        console.print(f"[red]cannot read {price_file}[/red]: {exc}")
        raise typer.Exit(2) from exc
    try:
        specs = parse_csv(text, default_source=source)
        with open_registry(get_settings().registry_url)() as session:
            result = import_prices(session, specs, by=f"panen prices import {price_file.name}")
    except (InvalidInput, Conflict) as exc:
        console.print(f"[red]{price_file}: nothing imported[/red]: {exc}")
        raise typer.Exit(2) from exc
    console.print(
        f"{price_file}: {result.added} prices added, {result.replaced} replaced, {result.unchanged} unchanged"
    )


@prices_app.command("list")
def prices_list(
    commodity: Annotated[
        str | None, typer.Option(help="Only this commodity (English or Indonesian).")
    ] = None,
) -> None:
    """Print the buying prices as CSV (the import's columns), to standard output."""
    import csv
    import sys

    from services.access import commodity_named
    from services.prices import COLUMNS, prices
    from storage.db.engine import open_registry

    with open_registry(get_settings().registry_url)() as session:
        rows = prices(session, commodity_named(commodity) if commodity else None)
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(COLUMNS)
    for r in rows:
        out.writerow([r.commodity, r.grade, f"{r.idr_per_kg:g}", r.valid_from.isoformat(), r.source])
