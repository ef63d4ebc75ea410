"""``panen broker-config``: Mosquitto's password file and ACL from the registry."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from panen.cli._common import app, console, node_registry
from panen.settings import get_settings


@app.command("broker-config")
def broker_config(
    out_dir: Annotated[str, typer.Argument(help="Folder to write `passwd` and `acl` into.")],
    fleet_file: Annotated[
        str | None,
        typer.Option(help="Take the nodes from this fleet/registry file, not the registry database."),
    ] = None,
    ingest_user: Annotated[
        str | None, typer.Option(help="Ingest's user (default: PANEN_MQTT_URL's).")
    ] = None,
    ingest_password: Annotated[
        str | None,
        typer.Option(
            envvar="PANEN_MQTT_INGEST_PASSWORD", help="Ingest's password (default: PANEN_MQTT_URL's)."
        ),
    ] = None,
    relay_user: Annotated[
        str, typer.Option(help="User of the LoRaWAN network servers' integrations.")
    ] = "lorawan",
    relay_password: Annotated[
        str | None,
        typer.Option(envvar="PANEN_MQTT_RELAY_PASSWORD", help="Their password; unset: no relay user."),
    ] = None,
    node_passwords: Annotated[
        str | None,
        typer.Option(
            help="Also write each node's MQTT password here (CSV, owner-only) to provision firmware."
        ),
    ] = None,
) -> None:
    """Write Mosquitto's password file and ACL: each node only its own topics, ingest all uplinks."""
    from sensors.topics import parse_mqtt_url
    from services.broker_config import BrokerUser, node_users, write_broker_config, write_node_passwords
    from storage.fleetfile import DEMO_FLEET_SECRET

    cfg = get_settings()
    target = parse_mqtt_url(cfg.mqtt_url) if cfg.mqtt_url else None
    user = ingest_user or (target.username if target else None) or "ingest"
    password = ingest_password or (target.password if target else None)
    if not password:
        console.print(
            "[red]no password for ingest[/red]: set PANEN_MQTT_URL=mqtt://ingest:PASSWORD@host, "
            "PANEN_MQTT_INGEST_PASSWORD or --ingest-password"
        )
        raise typer.Exit(2)
    registry = node_registry(Path(fleet_file) if fleet_file else None, cfg.registry_url)
    nodes = node_users(registry.nodes(), cfg.fleet_secret.get_secret_value())
    services = [BrokerUser(user, password)]
    if relay_password:
        services.append(BrokerUser(relay_user, relay_password))
    try:
        passwd, acl_path = write_broker_config(
            Path(out_dir),
            nodes,
            services,
            ingest_user=user,
            relay_user=relay_user if relay_password else None,
        )
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    console.print(f"wrote {passwd} ({len(nodes) + len(services)} users) and {acl_path}")
    if node_passwords:
        target_file = Path(node_passwords)
        write_node_passwords(target_file, nodes)
        console.print(f"wrote {target_file}: keep it secret, delete it once the nodes are provisioned")
    if cfg.fleet_secret.get_secret_value() == DEMO_FLEET_SECRET:
        console.print(
            "[yellow]PANEN_FLEET_SECRET is the demo default[/yellow]: set your own before production"
        )
