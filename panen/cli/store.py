"""``panen store check|init``: the time-series store (InfluxDB or embedded SQLite)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Annotated

import typer

from panen.cli._common import app, console
from panen.settings import get_settings
from panen.wiring import describe_store, open_store
from storage import StoreError, TimeSeriesStore
from storage.influx import InfluxStore

store_app = typer.Typer(help="The time-series store (InfluxDB or embedded SQLite).", no_args_is_help=True)
app.add_typer(store_app, name="store")


def _on_store(prepare: Callable[[TimeSeriesStore], None], *, failed: str, done: str) -> None:
    """Run ``prepare`` on the configured store, then ping it; exit 1 naming the store if either fails."""
    cfg = get_settings()
    with contextlib.closing(open_store(cfg)) as store:
        try:
            prepare(store)
            store.ping()
        except StoreError as exc:
            console.print(f"[red]{failed}[/red]: {describe_store(cfg)}: {exc}")
            raise typer.Exit(1) from exc
    console.print(f"[green]{done}[/green]: {describe_store(cfg)}")


@store_app.command("check")
def store_check() -> None:
    """Check that the configured store answers."""
    _on_store(lambda _store: None, failed="store not reachable", done="ok")


@store_app.command("init")
def store_init(
    create_database: Annotated[
        bool, typer.Option(help="Run CREATE DATABASE on InfluxDB 1.x (2.x: map a bucket instead).")
    ] = True,
) -> None:
    """Prepare the configured store: create the SQLite file, or the InfluxDB 1.x database."""

    def prepare(store: TimeSeriesStore) -> None:
        if isinstance(store, InfluxStore) and create_database:
            store.create_database()

    _on_store(prepare, failed="could not prepare", done="ready")
