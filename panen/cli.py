"""The ``panen`` command. Subcommands of later services are added here as they land."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from panen import __version__
from panen.settings import get_settings
from panen.wiring import describe_store, open_store
from storage import StoreError
from storage.influx import InfluxStore

if TYPE_CHECKING:
    from ingest.registry import NodeRegistry
    from ingest.service import MqttTarget

app = typer.Typer(
    help="panen: harvest forecasts from field sensors for Kota Batu's cooperatives.", no_args_is_help=True
)
store_app = typer.Typer(help="The time-series store (InfluxDB or embedded SQLite).", no_args_is_help=True)
app.add_typer(store_app, name="store")
console = Console(stderr=True)


def _broker_target(url: str | None) -> MqttTarget:
    """The broker to use, or exit 2 with a message saying how to configure one."""
    from ingest.service import parse_mqtt_url

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


def _node_registry(path: Path | None, registry_url: str) -> NodeRegistry:
    """Nodes from a registry file if given, else from the registry database; exit 2 naming what is wrong."""
    from ingest.registry import NodeRegistry, RegistryError, database_loader

    try:
        return NodeRegistry(path=path) if path else NodeRegistry(loader=database_loader(registry_url))
    except RegistryError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc


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
def demo(
    cooperatives: Annotated[int, typer.Option(help="Only the first N cooperatives (0: all 24).")] = 0,
    fields_per_coop: Annotated[int, typer.Option(help="Only the first N fields of each (0: all).")] = 0,
    days: Annotated[int, typer.Option(help="Days of the season so far to backfill.")] = 90,
    interval: Annotated[int, typer.Option(help="Minutes between simulated readings.")] = 60,
    speed: Annotated[
        float, typer.Option(help="Live sensors run this many times faster than real time.")
    ] = 60,
    port: Annotated[int, typer.Option(help="Port of the API.")] = 8000,
    mqtt_port: Annotated[
        int, typer.Option(help="Port of the embedded MQTT broker (unused when PANEN_MQTT_URL is set).")
    ] = 1883,
    weeks: Annotated[int, typer.Option(help="Weeks of the purchase plan to print.")] = 8,
    reset: Annotated[bool, typer.Option("--reset", help="Start from an empty data directory.")] = False,
    seed: Annotated[int, typer.Option(help="Seed of the simulated world.")] = 2026,
) -> None:
    """Run the whole platform: broker, simulated sensors, ingest, forecasts and the API (Ctrl-C stops)."""
    import signal
    import threading

    from panen.demo import DemoError, DemoOptions, run_demo

    cfg = get_settings()
    opts = DemoOptions(
        cooperatives=cooperatives,
        fields_per_coop=fields_per_coop,
        days=days,
        interval_min=interval,
        speed=speed,
        port=port,
        mqtt_port=mqtt_port,
        reset=reset,
        seed=seed,
        weeks=weeks,
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        run_demo(cfg, opts, console, stop)
    except DemoError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc


@app.command()
def ingest(
    mqtt_url: Annotated[str | None, typer.Option(help="Broker URL (default: PANEN_MQTT_URL).")] = None,
    client_id: Annotated[
        str | None,
        typer.Option(help="MQTT client id; keep it stable so the persistent session is found again."),
    ] = None,
    shared_group: Annotated[
        str | None,
        typer.Option(help="Share the load with other ingest processes in this MQTT v5 shared group."),
    ] = None,
    topic_prefix: Annotated[str, typer.Option(help="Prefix before every topic, e.g. 'site-a/'.")] = "",
    metrics_port: Annotated[
        int, typer.Option(help="Port of the Prometheus /metrics endpoint; 0 turns it off.")
    ] = 9108,
    metrics_host: Annotated[str, typer.Option(help="Address the metrics endpoint listens on.")] = "127.0.0.1",
    batch_readings: Annotated[int, typer.Option(help="Flush a batch at this many readings.")] = 5_000,
    batch_age_ms: Annotated[int, typer.Option(help="Flush a batch at this age.")] = 250,
    batch_idle_ms: Annotated[
        int, typer.Option(help="Flush a batch early when no message arrived for this long.")
    ] = 20,
    spool_max_mb: Annotated[
        int, typer.Option(help="Bound of the on-disk spool used while the store is down.")
    ] = 1024,
    receive_maximum: Annotated[
        int, typer.Option(help="MQTT v5 Receive Maximum (unacknowledged messages).")
    ] = 10_000,
) -> None:
    """Consume sensor uplinks from MQTT and store them, losing nothing (see ingest/service.py)."""
    import signal
    import socket

    from prometheus_client import start_http_server

    from ingest.service import BrokerAuthError, IngestConfig, IngestService
    from panen.logs import configure_logging

    cfg = get_settings()
    configure_logging(cfg.log_level, cfg.log_format)
    target = _broker_target(mqtt_url or cfg.mqtt_url)
    registry = _node_registry(cfg.registry_file, cfg.registry_url)
    if len(registry) == 0:
        console.print(
            "[yellow]no nodes registered[/yellow] (PANEN_REGISTRY_FILE, or `panen registry import` into "
            "the registry database): every uplink will be a dead letter"
        )
    try:
        config = IngestConfig(
            mqtt=target,
            data_dir=cfg.data_dir,
            client_id=client_id or f"panen-ingest-{socket.gethostname()}",
            topic_prefix=topic_prefix,
            shared_group=shared_group,
            batch_readings=batch_readings,
            batch_age_s=batch_age_ms / 1000,
            batch_idle_s=batch_idle_ms / 1000,
            spool_max_bytes=spool_max_mb * 1024**2,
            receive_maximum=receive_maximum,
        )
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    store = open_store(cfg)
    service = IngestService(config, store=store, registry=registry)
    if metrics_port:
        try:
            start_http_server(metrics_port, addr=metrics_host, registry=service.metrics.registry)
        except OSError as exc:
            console.print(
                f"[red]metrics port {metrics_port} is taken[/red] ({exc}); choose another with --metrics-port"
            )
            raise typer.Exit(2) from exc
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: service.stop())
    console.print(
        f"ingest: {target.host}:{target.port} → {describe_store(cfg)}; client id {config.client_id}"
    )
    try:
        service.run()
    except BrokerAuthError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(3) from exc
    finally:
        store.close()


@app.command()
def sim(
    backfill: Annotated[
        int, typer.Option(help="Publish the past DAYS as the nodes' flash would hold them, then exit.")
    ] = 0,
    once: Annotated[
        bool, typer.Option("--once", help="Publish one wake-up of every node, then exit.")
    ] = False,
    realtime: Annotated[
        bool, typer.Option("--realtime", help="Run live at real time (same as --speed 1).")
    ] = False,
    speed: Annotated[
        float, typer.Option(help="Run live, the simulated clock going this many times faster.")
    ] = 0.0,
    interval: Annotated[
        int | None, typer.Option(help="Minutes between wake-ups (default: each node's, 10).")
    ] = None,
    batch: Annotated[int, typer.Option(help="Wake-ups per backfill message of native/SenML nodes.")] = 24,
    seed: Annotated[int, typer.Option(help="Seed of the simulated world.")] = 2026,
    faults: Annotated[
        float, typer.Option(help="Faults per node per day (outages, stuck, spikes, NaN, corrupt frames).")
    ] = 0.0,
    mqtt_url: Annotated[str | None, typer.Option(help="Broker URL (default: PANEN_MQTT_URL).")] = None,
    topic_prefix: Annotated[str, typer.Option(help="Prefix before every topic.")] = "",
    node_auth: Annotated[
        bool, typer.Option(help="Live nodes log in as themselves (password from PANEN_FLEET_SECRET).")
    ] = False,
    cooperatives: Annotated[int, typer.Option(help="Simulate only the first N cooperatives (0: all).")] = 0,
    fields_per_coop: Annotated[
        int, typer.Option(help="Simulate only the first N fields of each (0: all).")
    ] = 0,
    summary_file: Annotated[
        str | None, typer.Option(help="After a backfill, write its message and reading counts here (JSON).")
    ] = None,
) -> None:
    """Simulated field nodes of the Kota Batu fleet, publishing to MQTT (see firmware_sim/)."""
    import datetime as dt
    import threading
    import time as _time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from firmware_sim.firmware import FaultRates
    from firmware_sim.fleet import DEFAULT_FLEET_PATH, load_fleet
    from firmware_sim.runner import Broker, backfill_messages, prepare, publish_all, run_live, write_truths

    cfg = get_settings()
    target = _broker_target(mqtt_url or cfg.mqtt_url)
    broker = Broker(target.host, target.port, target.username, target.password, target.paho_protocol)
    today = dt.datetime.now(dt.UTC).date()
    fleet = load_fleet(cfg.fleet_file or DEFAULT_FLEET_PATH, anchor=today)
    fleet = fleet.subset(cooperatives, fields_per_coop)
    rates = (
        FaultRates(outage=faults, stuck=faults, spike=faults, dead=faults, corrupt=faults) if faults else None
    )
    now_ms = _time.time_ns() // 1_000_000
    live_speed = 1.0 if realtime else speed
    if not (backfill or once or live_speed):
        console.print("choose --backfill DAYS, --once, --realtime or --speed X")
        raise typer.Exit(2)
    if backfill or once:
        start_ms = now_ms - backfill * 86_400_000 if backfill else now_ms - 1
        console.print(f"simulating {len(fleet.fields)} fields and {len(fleet.stations)} stations ...")
        run = prepare(fleet, start_ms=start_ms, end_ms=now_ms, seed=seed, faults=rates, interval_min=interval)
        if once:
            for s in run.samples:  # exactly one wake-up each, at now
                s.true_ms, s.device_ms = s.true_ms[-1:], s.device_ms[-1:]
                s.values = {m: v[-1:] for m, v in s.values.items()}
                s.link_up, s.corrupt = s.link_up[-1:], s.corrupt[-1:]
        messages = backfill_messages(run, batch_samples=batch, prefix=topic_prefix, seed=seed)
        readings = sum(len(s.true_ms) * len(s.values) for s in run.samples)
        truths = cfg.data_dir / "sim_truths.json"
        write_truths(run, truths)
        with Progress(
            TextColumn("publishing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
        ) as bar:
            task = bar.add_task("publish", total=len(messages))
            try:
                publish_all(broker, messages, progress=lambda n: bar.advance(task, n))
            except (ConnectionError, OSError) as exc:
                console.print(f"[red]cannot publish[/red] to {broker.host}:{broker.port}: {exc}")
                raise typer.Exit(1) from exc
        console.print(
            f"published {len(messages)} messages carrying about {readings} readings; truths in {truths}"
        )
        if summary_file:
            Path(summary_file).write_text(json.dumps({"messages": len(messages), "readings": readings}))
        if not live_speed:
            return
    console.print(f"live at {live_speed:g}x real time; Ctrl-C stops")
    horizon_ms = int(30 * 86_400_000 * max(1.0, live_speed / 1000))
    run = prepare(
        fleet, start_ms=now_ms, end_ms=now_ms + horizon_ms, seed=seed + 1, faults=rates, interval_min=interval
    )
    stop_event = threading.Event()
    import signal

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop_event.set())
    run_live(
        run,
        broker,
        speed=live_speed,
        prefix=topic_prefix,
        stop=stop_event,
        node_auth_secret=cfg.fleet_secret.get_secret_value() if node_auth else None,
    )


dashboards_app = typer.Typer(help="Grafana dashboards.", no_args_is_help=True)
app.add_typer(dashboards_app, name="dashboards")


@dashboards_app.command("push")
def dashboards_push(
    grafana_url: Annotated[str, typer.Option(envvar="PANEN_GRAFANA_URL", help="e.g. http://grafana:3000")],
    grafana_token: Annotated[
        str, typer.Option(envvar="PANEN_GRAFANA_TOKEN", help="A Grafana service-account token (Admin).")
    ],
    influx_url: Annotated[
        str | None, typer.Option(help="InfluxDB URL as Grafana reaches it (default: PANEN_INFLUX_URL).")
    ] = None,
) -> None:
    """Create or update panen's InfluxDB datasource and dashboards in an existing Grafana."""
    from dashboards.push import GrafanaError, push

    cfg = get_settings()
    url = influx_url or cfg.influx_url
    if not url:
        console.print("[red]no InfluxDB URL[/red]: set PANEN_INFLUX_URL or --influx-url")
        raise typer.Exit(2)
    token = cfg.influx_token.get_secret_value() if cfg.influx_token else None
    try:
        for line in push(
            grafana_url, grafana_token, influx_url=url, database=cfg.influx_db, influx_token=token
        ):
            console.print(line)
    except GrafanaError as exc:
        console.print(f"[red]Grafana refused or did not answer[/red]: {exc}")
        raise typer.Exit(1) from exc


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
    from ingest.service import parse_mqtt_url
    from panen.brokerconfig import BrokerUser, write_broker_config

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
    registry = _node_registry(Path(fleet_file) if fleet_file else None, cfg.registry_url)
    secret = cfg.fleet_secret.get_secret_value()
    from firmware_sim.fleet import node_password

    nodes = [
        BrokerUser(n.node_id, node_password(n.node_id, secret), n.coop_id)
        for n in registry.nodes()
        if n.format in ("native", "senml")  # LoRaWAN devices reach the broker through their relay
    ]
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
        import csv
        import os

        target_file = Path(node_passwords)
        fd = os.open(target_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(["node_id", "coop_id", "mqtt_user", "mqtt_password"])
            for n in nodes:
                writer.writerow([n.name, n.coop, n.name, n.password])
        console.print(f"wrote {target_file}: keep it secret, delete it once the nodes are provisioned")
    if cfg.fleet_secret.get_secret_value() == "panen-demo-fleet":
        console.print(
            "[yellow]PANEN_FLEET_SECRET is the demo default[/yellow]: set your own before production"
        )


@app.command("sim-fleet")
def sim_fleet(
    out: Annotated[str, typer.Argument(help="Where to write the fleet YAML.")],
    anchor: Annotated[
        str | None, typer.Option(help="Day the planting dates are laid out around (default today).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the fleet's layout.")] = 2026,
) -> None:
    """Write a generated Kota Batu fleet file (the committed default is this with anchor 2026-11-28)."""
    import datetime as dt
    from pathlib import Path

    from firmware_sim.fleet import default_fleet, save_fleet

    day = dt.date.fromisoformat(anchor) if anchor else dt.datetime.now(dt.UTC).date()
    save_fleet(default_fleet(day, seed=seed), Path(out))
    console.print(f"wrote {out}")


registry_app = typer.Typer(help="The registry: cooperatives, fields, nodes, tokens.", no_args_is_help=True)
app.add_typer(registry_app, name="registry")
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
app.add_typer(token_app, name="token")


@registry_app.command("import")
def registry_import(
    fleet_file: Annotated[
        str | None, typer.Argument(help="Fleet YAML (default: the Kota Batu fleet).")
    ] = None,
) -> None:
    """Import (or update) cooperatives, fields, stations and nodes from a fleet file."""
    import datetime as dt
    from pathlib import Path

    from firmware_sim.fleet import DEFAULT_FLEET_PATH, load_fleet
    from storage.registry import import_fleet, open_registry

    cfg = get_settings()
    path = Path(fleet_file) if fleet_file else (cfg.fleet_file or DEFAULT_FLEET_PATH)
    fleet = load_fleet(path, anchor=dt.datetime.now(dt.UTC).date())
    sessions = open_registry(cfg.registry_url)
    with sessions() as session:
        counts = import_fleet(session, fleet)
    console.print(f"imported {counts} from {path}")


@token_app.command("create")
def token_create(
    role: Annotated[str, typer.Option(help="farmer, coop_manager, offtaker or admin")],
    name: Annotated[str, typer.Option(help="Who or what the token is for.")] = "",
    coop: Annotated[str | None, typer.Option(help="Cooperative (coop_manager).")] = None,
    farmer: Annotated[str | None, typer.Option(help="Farmer id (farmer).")] = None,
) -> None:
    """Create an API token and print it (it is stored hashed and cannot be shown again)."""
    from api.auth import Role, create_token
    from storage.registry import open_registry

    try:
        chosen = Role(role)
    except ValueError as exc:
        console.print(f"[red]unknown role {role!r}[/red]: choose farmer, coop_manager, offtaker or admin")
        raise typer.Exit(2) from exc
    sessions = open_registry(get_settings().registry_url)
    with sessions() as session:
        try:
            token = create_token(
                session, name=name or f"{role} token", role=chosen, coop_id=coop, farmer_id=farmer
            )
        except ValueError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from exc
    print(token)


@token_app.command("list")
def token_list() -> None:
    """List API tokens (never the tokens themselves: only their ids, names, roles and scope)."""
    from rich.table import Table
    from sqlalchemy import select

    from storage.registry import ApiToken, open_registry

    table = Table("id", "name", "role", "cooperative", "farmer", "created (UTC)", "revoked")
    with open_registry(get_settings().registry_url)() as session:
        for t in session.scalars(select(ApiToken).order_by(ApiToken.id)):
            table.add_row(
                str(t.id),
                t.name,
                t.role,
                t.coop_id or "",
                t.farmer_id or "",
                t.created_at.strftime("%Y-%m-%d %H:%M"),
                "yes" if t.revoked else "",
            )
    console.print(table)


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[int, typer.Argument(help="The id shown by `panen token list`.")],
) -> None:
    """Revoke a token; a running API stops accepting it within 10 s."""
    from api.auth import revoke
    from storage.registry import open_registry

    with open_registry(get_settings().registry_url)() as session:
        if not revoke(session, token_id):
            console.print(f"[red]no token with id {token_id}[/red] (see `panen token list`)")
            raise typer.Exit(2)
    console.print(f"token {token_id} revoked")


@app.command()
def api(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    refresh_minutes: Annotated[
        float, typer.Option(help="Recompute forecasts and alerts this often; 0: only on request.")
    ] = 60,
) -> None:
    """Serve the panen API (docs at /docs, Prometheus metrics at /metrics)."""
    import uvicorn

    from api.app import create_app
    from panen.logs import configure_logging
    from storage.registry import open_registry

    cfg = get_settings()
    configure_logging(cfg.log_level, cfg.log_format)
    application = create_app(
        open_store(cfg),
        open_registry(cfg.registry_url),
        refresh_every_s=refresh_minutes * 60 if refresh_minutes else None,
    )
    try:
        # Open connections get 5 s to finish on Ctrl-C/SIGTERM; then the process goes.
        uvicorn.run(application, host=host, port=port, log_level=cfg.log_level, timeout_graceful_shutdown=5)
    except OSError as exc:
        console.print(f"[red]cannot listen on {host}:{port}[/red] ({exc}); choose another with --port")
        raise typer.Exit(2) from exc
