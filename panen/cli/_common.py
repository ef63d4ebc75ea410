"""What every command group shares: the ``panen`` app, the console, and the two lookups that end a
command with exit 2 and a message naming what to set."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

if TYPE_CHECKING:
    from ingest.nodes import NodeRegistry
    from sensors.topics import MqttTarget

__all__ = ["Cooperatives", "Coops", "FieldsPerCoop", "app", "broker_target", "console", "node_registry"]

app = typer.Typer(
    help="panen: harvest forecasts from field sensors for Kota Batu's cooperatives.", no_args_is_help=True
)
# No wrapping: these lines end up in log files (the demo's logs/*.log), where a wrapped line split
# a client id over two lines (issue 40).
console = Console(stderr=True, soft_wrap=True)

# The small fleet of `panen demo` and `panen sim` (storage.fleetfile.Fleet.sample), one set of options.
Cooperatives = Annotated[
    int,
    typer.Option(
        help="Only N cooperatives (0: all 24), picked to grow Batu's potato, shallot, cabbage, orchards."
    ),
]
FieldsPerCoop = Annotated[
    int, typer.Option(help="Only N fields of each (0: all), one of each crop before a second of any.")
]
Coops = Annotated[
    str, typer.Option(help="These cooperatives (ids, comma-separated), instead of --cooperatives.")
]


def broker_target(url: str | None) -> MqttTarget:
    """The broker to use, or exit 2 with a message saying how to configure one."""
    from sensors.topics import parse_mqtt_url

    if not url:
        console.print(
            "[red]no broker configured[/red]: set PANEN_MQTT_URL or --mqtt-url (`panen demo` runs one)"
        )
        raise typer.Exit(2)
    try:
        return parse_mqtt_url(url)
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc


def node_registry(path: Path | None, registry_url: str) -> NodeRegistry:
    """Nodes from a registry file if given, else from the registry database; exit 2 naming what is wrong."""
    from ingest.nodes import NodeRegistry, RegistryError, database_loader

    try:
        return NodeRegistry(path=path) if path else NodeRegistry(loader=database_loader(registry_url))
    except RegistryError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
