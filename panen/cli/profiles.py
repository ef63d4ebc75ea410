"""``panen profiles``: the LoRaWAN device profiles ingest and the API use, and any that fail their checks."""

from __future__ import annotations

import typer

from panen.cli._common import app, console
from panen.settings import get_settings


@app.command()
def profiles() -> None:
    """List the device profiles (shipped, and yours in PANEN_DATA_DIR/profiles); exit 1 if one of
    yours fails its checks, saying why."""
    from rich.table import Table

    from sensors.profiles import SHIPPED_DIR, ProfileLibrary

    own = get_settings().data_dir / "profiles"
    library = ProfileLibrary([SHIPPED_DIR, own])
    table = Table("profile", "device", "metrics", "file")
    for p in library.all():
        table.add_row(p.name, p.device, ", ".join(p.metrics), p.source)
    console.print(table)
    console.print(
        f"your own profiles go in {own} (YAML; see sensors/profiles.py); ingest picks them up in 5 s"
    )
    for path, error in library.errors.items():
        console.print(f"[red]left out[/red] {path}: {error}", soft_wrap=True)
    if library.errors:
        raise typer.Exit(1)
