"""``panen grafana sync|login``: one Grafana organisation per cooperative, from the registry."""

from __future__ import annotations

import contextlib
import json
from typing import Annotated

import typer

from panen.cli._common import app, console
from panen.settings import get_settings

grafana_app = typer.Typer(help="Grafana: an organisation per cooperative.", no_args_is_help=True)
app.add_typer(grafana_app, name="grafana")


@grafana_app.command("sync")
def grafana_sync(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the requests (JSON lines), send none.")
    ] = False,
    grafana_url: Annotated[
        str | None,
        typer.Option(
            envvar="PANEN_GRAFANA_URL", help="e.g. http://grafana:3000 (unset with --dry-run: as if empty)"
        ),
    ] = None,
    admin_user: Annotated[
        str, typer.Option(envvar="PANEN_GRAFANA_ADMIN_USER", help="A Grafana server admin.")
    ] = "admin",
    admin_password: Annotated[str | None, typer.Option(envvar="PANEN_GRAFANA_ADMIN_PASSWORD")] = None,
    influx_url: Annotated[
        str | None,
        typer.Option(
            envvar="PANEN_GRAFANA_INFLUX_URL",
            help="InfluxDB as Grafana reaches it (default: PANEN_INFLUX_URL).",
        ),
    ] = None,
) -> None:
    """Create or update, from the registry: an organisation per cooperative with its datasource (that
    cooperative's read-only InfluxDB user), its farmer and fleet dashboards with the cooperative fixed,
    and its farmers and managers as Viewers; and Coosae's organisation with every cooperative. Only
    what differs is sent: a second run sends nothing. Needs PANEN_INFLUX_TENANTS=true and
    PANEN_TENANT_SECRET (the datasources' passwords are derived from it)."""
    import httpx

    from panen.wiring import open_store
    from services.grafana_sync import GrafanaState, GrafanaSyncError, apply, desired_state, plan, read_state
    from storage.db.engine import open_registry
    from storage.influx import InfluxStore

    cfg = get_settings()
    if not cfg.influx_tenants or cfg.tenant_secret is None or not cfg.influx_url:
        console.print(
            "[red]not a store per cooperative[/red]: set PANEN_INFLUX_URL, PANEN_INFLUX_TENANTS=true and "
            "PANEN_TENANT_SECRET (then `panen store tenants`); for one Grafana organisation use "
            "`panen dashboards push`"
        )
        raise typer.Exit(2)
    secret = cfg.tenant_secret.get_secret_value()
    store = open_store(cfg)
    assert isinstance(store, InfluxStore)
    with contextlib.closing(store), open_registry(cfg.registry_url)() as session:
        desired = desired_state(session, influx_url=influx_url or cfg.influx_url, store=store, secret=secret)
    if grafana_url is None and not dry_run:
        console.print("[red]no Grafana[/red]: set PANEN_GRAFANA_URL or --grafana-url (or use --dry-run)")
        raise typer.Exit(2)
    if grafana_url is not None and admin_password is None:
        console.print("[red]no Grafana admin password[/red]: set PANEN_GRAFANA_ADMIN_PASSWORD")
        raise typer.Exit(2)
    try:
        if grafana_url is None:
            state = GrafanaState()
            requests = plan(desired, state, secret=secret)
        else:
            with httpx.Client(
                base_url=grafana_url.rstrip("/"), auth=(admin_user, admin_password or ""), timeout=30
            ) as api:
                state = read_state(api, desired)
                requests = plan(desired, state, secret=secret)
                if not dry_run:
                    for line in apply(api, requests, state):
                        console.print(line)
    except GrafanaSyncError as exc:
        console.print(f"[red]Grafana refused or did not answer[/red]: {exc}")
        raise typer.Exit(1) from exc
    if dry_run:
        for request in requests:
            print(json.dumps(request.shown(), ensure_ascii=False))
    console.print(
        f"{len(desired.orgs)} organisations, {len(desired.users)} people: "
        f"{len(requests)} request(s) {'planned' if dry_run else 'sent'}"
    )


@grafana_app.command("login")
def grafana_login(
    login: Annotated[str, typer.Argument(help="A farmer id, or contact-<id> for a manager or Coosae staff")],
) -> None:
    """Print a person's Grafana login and first password, for their manager to hand over (they are
    asked to keep it or change it in Grafana; a later sync never resets it)."""
    from services.grafana_sync import grafana_password

    cfg = get_settings()
    if cfg.tenant_secret is None:
        console.print("[red]no PANEN_TENANT_SECRET[/red]")
        raise typer.Exit(2)
    print(f"login: {login}\npassword: {grafana_password(cfg.tenant_secret.get_secret_value(), login)}")
