"""``panen store check|init``: the time-series store (InfluxDB or embedded SQLite)."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from typing import Annotated

import typer

from panen.cli._common import app, console
from panen.settings import get_settings
from panen.wiring import describe_store, open_store, retention
from sensors import metric_names
from storage import StoreError, TimeSeriesStore
from storage.base import DAY_MS
from storage.influx import InfluxStore
from storage.retention import influx2_requests, influx2_shell

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
    """Prepare the configured store: create the SQLite file, or the InfluxDB 1.x database with its
    retention policies (raw, hourly, daily; PANEN_RETENTION_*) and continuous queries. Idempotent:
    run it again after changing the windows."""

    def prepare(store: TimeSeriesStore) -> None:
        if isinstance(store, InfluxStore) and create_database:
            store.create_database()

    _on_store(prepare, failed="could not prepare", done="ready")


@store_app.command("rollup")
def store_rollup(
    days: Annotated[int, typer.Option(min=1, help="Recompute the aggregates of this many past days.")] = 30,
) -> None:
    """Recompute the hourly and daily aggregates from the raw readings (a backfill after readings
    arrived later than PANEN_RETENTION_RESAMPLE_DAYS, or after changing the catalogue)."""
    cfg = get_settings()
    now = time.time_ns() // 1_000_000
    with contextlib.closing(open_store(cfg)) as store:
        try:
            written = store.rollup(start_ms=now - days * DAY_MS, end_ms=now, now_ms=now)
        except StoreError as exc:
            console.print(f"[red]rollup failed[/red]: {describe_store(cfg)}: {exc}")
            raise typer.Exit(1) from exc
    console.print(
        f"[green]rolled up[/green] {written} aggregates of the last {days} days: {describe_store(cfg)}"
    )


@store_app.command("influx2-setup")
def store_influx2_setup(
    org_id: Annotated[str, typer.Option(help="The InfluxDB 2.x organisation id (API requests).")] = "",
    bucket: Annotated[
        str, typer.Option(help="Prefix of the tier buckets (<bucket>_raw, _hourly, _daily).")
    ] = "panen",
    shell: Annotated[
        bool, typer.Option("--shell", help="Print an `influx` CLI script instead (what docker-compose runs).")
    ] = False,
) -> None:
    """Print, as JSON lines, the InfluxDB 2.x API requests that set up the tiers: buckets with their
    retention, DBRP mappings to this database's raw/hourly/daily policies, and the two rollup tasks.
    A DBRP's bucketID reads {bucket:<name>}: fill in the id the bucket request returned."""
    cfg = get_settings()
    if shell:
        print(
            influx2_shell(
                bucket=bucket, database=cfg.influx_db, retention=retention(cfg), measurements=metric_names()
            ),
            end="",
        )
        return
    if not org_id:
        console.print("[red]--org-id is needed for the API requests[/red] (or --shell for a CLI script)")
        raise typer.Exit(2)
    for method, path, body in influx2_requests(
        org_id=org_id,
        bucket=bucket,
        database=cfg.influx_db,
        retention=retention(cfg),
        measurements=metric_names(),
    ):
        print(json.dumps({"method": method, "path": path, "body": body}))


def _tenant_setup() -> tuple[InfluxStore, str, list[str]]:
    """The configured per-cooperative InfluxDB store, the tenant secret and the registry's cooperatives."""
    from sqlalchemy import select

    from storage.db import Cooperative
    from storage.db.engine import open_registry

    cfg = get_settings()
    if not cfg.influx_url or not cfg.influx_tenants:
        console.print(
            "[red]not a store per cooperative[/red]: set PANEN_INFLUX_URL and PANEN_INFLUX_TENANTS=true"
        )
        raise typer.Exit(2)
    if cfg.tenant_secret is None:
        console.print("[red]no PANEN_TENANT_SECRET[/red]: the users' passwords are derived from it")
        raise typer.Exit(2)
    with open_registry(cfg.registry_url)() as session:
        coops = list(session.scalars(select(Cooperative.id).order_by(Cooperative.id)))
    store = open_store(cfg)
    assert isinstance(store, InfluxStore)
    return store, cfg.tenant_secret.get_secret_value(), coops


@store_app.command("tenants")
def store_tenants(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the statements (passwords hidden).")
    ] = False,
) -> None:
    """Set up a store per cooperative on InfluxDB 1.x, from the registry: the shared database and one
    database per cooperative (with their tiers), and the users coop_<id> (reads its cooperative),
    coosae (reads all), panen_ingest (writes) and panen_api, with passwords derived from
    PANEN_TENANT_SECRET. Idempotent; run it after adding a cooperative. Needs admin credentials."""
    from services.tenancy import grant_statements, influx_users

    store, secret, coops = _tenant_setup()
    with contextlib.closing(store):
        users = influx_users(store, coops, secret)
        try:
            existing = (
                set() if dry_run else {row[0] for s in store.query("SHOW USERS") for row in s["values"]}
            )
            if dry_run:
                names = ", ".join(store.tenant_database(c) for c in coops)
                print(f"-- databases: {store.database} (shared), {names}")
            else:
                store.create_database()
                for coop in coops:
                    store.create_tenant(coop)
            for user in users:
                for statement in grant_statements(user, existing, hide_password=dry_run):
                    if dry_run:
                        print(statement)
                    else:
                        store.query(statement)
        except StoreError as exc:
            console.print(f"[red]could not set up the cooperatives' databases[/red]: {exc}")
            raise typer.Exit(1) from exc
    if not dry_run:
        console.print(
            f"[green]ready[/green]: {len(coops)} cooperatives' databases and {len(users)} users "
            f"({describe_store(get_settings())}); privileges taken out of the plan are not revoked"
        )


@store_app.command("credentials")
def store_credentials(
    user: Annotated[str, typer.Argument(help="coop_<id>, coosae, panen_ingest or panen_api")],
) -> None:
    """Print a per-cooperative store user's password (derived from PANEN_TENANT_SECRET), to set as
    PANEN_INFLUX_USER / PANEN_INFLUX_TOKEN of the service that uses it."""
    from services.tenancy import tenant_password

    cfg = get_settings()
    if cfg.tenant_secret is None:
        console.print("[red]no PANEN_TENANT_SECRET[/red]")
        raise typer.Exit(2)
    print(tenant_password(cfg.tenant_secret.get_secret_value(), user))


@store_app.command("split")
def store_split() -> None:
    """Move a single-database InfluxDB store to one database per cooperative: copies every
    cooperative's readings, hourly and daily aggregates, forecasts and alerts into its own database
    month by month, resumable (an interrupted split goes on where it stopped; a rerun copies nothing),
    and checks each cooperative's reading count afterwards. Nothing is deleted. Needs admin credentials
    and PANEN_INFLUX_TENANTS=true; then run `panen store tenants`."""
    cfg = get_settings()
    if not cfg.influx_url or not cfg.influx_tenants:
        console.print(
            "[red]not a store per cooperative[/red]: set PANEN_INFLUX_URL and PANEN_INFLUX_TENANTS=true"
        )
        raise typer.Exit(2)
    store = open_store(cfg)
    assert isinstance(store, InfluxStore)
    with contextlib.closing(store):
        try:
            counts = store.split_to_tenants(progress=console.print)
        except StoreError as exc:
            console.print(f"[red]split stopped[/red] (run it again to resume): {exc}")
            raise typer.Exit(1) from exc
    wrong = {coop: c for coop, c in counts.items() if c[0] != c[1]}
    if wrong:
        console.print(f"[red]reading counts differ[/red] (shared, own): {wrong}")
        raise typer.Exit(1)
    console.print(
        f"[green]split[/green]: {len(counts)} cooperatives, every reading in its cooperative's database"
    )
