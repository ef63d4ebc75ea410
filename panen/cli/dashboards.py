"""``panen dashboards push``: panen's dashboards into an existing (single-tenant) Grafana."""

from __future__ import annotations

from typing import Annotated

import typer

from panen.cli._common import app, console
from panen.settings import get_settings

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
