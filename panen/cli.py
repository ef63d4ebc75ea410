"""The ``panen`` command. Subcommands of later services are added here as they land."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console

from panen import __version__
from panen.settings import get_settings
from panen.wiring import describe_store, open_store
from storage import StoreError
from storage.influx import InfluxStore

app = typer.Typer(
    help="panen: harvest forecasts from field sensors for Kota Batu's cooperatives.", no_args_is_help=True
)
store_app = typer.Typer(help="The time-series store (InfluxDB or embedded SQLite).", no_args_is_help=True)
app.add_typer(store_app, name="store")
console = Console(stderr=True)


@app.command()
def version() -> None:
    """Print panen's version."""
    print(__version__)


@app.command()
def settings() -> None:
    """Print the settings in effect (secrets hidden), as JSON."""
    print(json.dumps(get_settings().model_dump(mode="json"), indent=2))


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


@app.command()
def demo() -> None:
    """Run the platform on embedded defaults. So far: prepares the store; more parts join as they land."""
    cfg = get_settings()
    store = open_store(cfg)
    try:
        store.ping()
    except StoreError as exc:
        console.print(f"[red]store not reachable[/red]: {describe_store(cfg)}: {exc}")
        raise typer.Exit(1) from exc
    finally:
        store.close()
    console.print(f"[green]store ready[/green]: {describe_store(cfg)}")
    console.print(
        "The simulator, ingest, forecasts and the API are not built yet; `panen demo` will start them "
        "as they land (see ARCHITECTURE.md)."
    )
