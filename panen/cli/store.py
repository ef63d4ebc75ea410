"""``panen store check|init``: the time-series store (InfluxDB or embedded SQLite)."""

from __future__ import annotations

from typing import Annotated

import typer

from panen.cli._common import app, console
from panen.settings import get_settings
from panen.wiring import describe_store, open_store
from storage import StoreError
from storage.influx import InfluxStore

store_app = typer.Typer(help="The time-series store (InfluxDB or embedded SQLite).", no_args_is_help=True)
app.add_typer(store_app, name="store")


@store_app.command("check")
def store_check() -> None:
    """Check that the configured store answers."""
    cfg = get_settings()
    store = open_store(cfg)
    try:
        store.ping()
    except StoreError as exc:
        console.print(f"[red]store not reachable[/red]: {describe_store(cfg)}: {exc}")
        raise typer.Exit(1) from exc
    finally:
        store.close()
    console.print(f"[green]ok[/green]: {describe_store(cfg)}")


@store_app.command("init")
def store_init(
    create_database: Annotated[
        bool, typer.Option(help="Run CREATE DATABASE on InfluxDB 1.x (2.x: map a bucket instead).")
    ] = True,
) -> None:
    """Prepare the configured store: create the SQLite file, or the InfluxDB 1.x database."""
    cfg = get_settings()
    store = open_store(cfg)
    try:
        if isinstance(store, InfluxStore) and create_database:
            store.create_database()
        store.ping()
    except StoreError as exc:
        console.print(f"[red]could not prepare[/red] {describe_store(cfg)}: {exc}")
        raise typer.Exit(1) from exc
    finally:
        store.close()
    console.print(f"[green]ready[/green]: {describe_store(cfg)}")
