"""Commands that run the platform: ``panen demo`` (all of it), ``panen api`` and ``panen refresh``."""

from __future__ import annotations

from typing import Annotated

import typer

from panen.cli._common import Cooperatives, Coops, FieldsPerCoop, app, console
from panen.settings import get_settings
from panen.wiring import describe_store, forecast_service, notify_config, open_store


@app.command()
def demo(
    cooperatives: Cooperatives = 0,
    fields_per_coop: FieldsPerCoop = 0,
    coops: Coops = "",
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
        coops=tuple(c.strip() for c in coops.split(",") if c.strip()),
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

    def interrupt(*_: object) -> None:
        # The first Ctrl-C interrupts whatever the demo is doing (the season before, the backfill, the
        # first forecast): it used to wait for the step to end, and the demo and its API were still
        # running 8 s later (issue 40). Its cleanup then stops every child; a second Ctrl-C while that
        # runs is ignored, so it cannot leave children behind.
        if stop.is_set():
            return
        stop.set()
        raise KeyboardInterrupt

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, interrupt)
    try:
        run_demo(cfg, opts, console, stop)
    except KeyboardInterrupt:
        pass  # stopped on request; run_demo's cleanup has run
    except DemoError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc


@app.command()
def api(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    refresh_minutes: Annotated[
        float, typer.Option(help="Recompute forecasts and alerts this often; 0: only on request.")
    ] = 60,
    notify: Annotated[
        bool, typer.Option(help="Also deliver the notification outbox (else run `panen notify run`).")
    ] = True,
) -> None:
    """Serve the panen API (docs at /docs, the field page at /f, Prometheus metrics at /metrics)."""
    import uvicorn

    from api.app import create_app
    from api.deps import serve_tuning
    from panen.logs import configure_logging
    from sensors.profiles import SHIPPED_DIR, ProfileLibrary
    from storage.db.engine import open_registry

    cfg = get_settings()
    configure_logging(cfg.log_level, cfg.log_format)
    store, sessions = open_store(cfg), open_registry(cfg.registry_url)
    serve_tuning(store)
    application = create_app(
        store,
        sessions,
        forecast_service(cfg, store, sessions),
        refresh_every_s=refresh_minutes * 60 if refresh_minutes else None,
        device_profiles=ProfileLibrary([SHIPPED_DIR, cfg.data_dir / "profiles"]),
        metrics_token=cfg.metrics_token.get_secret_value() if cfg.metrics_token else None,
        notify=notify_config(cfg),
        send_notifications=notify,
        freeze_heap=True,
    )
    try:
        # Open connections get 5 s to finish on Ctrl-C/SIGTERM; then the process goes.
        # log_config=None: uvicorn's lines (the access log too) go through panen's own format, with
        # a timestamp (its default had none: issue 40).
        # http="httptools", its C parser (a dependency); loop="asyncio" even where uvloop is installed
        # (uvicorn[standard] brings it, and "auto" would take it): under bench.api's 50 connections
        # uvloop held every new connection's first answers for 0.2-0.9 s (the plan's p99 240-285 ms
        # against 27-33 ms with asyncio, the same httptools and data, issue 42).
        uvicorn.run(
            application, host=host, port=port, log_level=cfg.log_level, timeout_graceful_shutdown=5,
            log_config=None, http="httptools", loop="asyncio",
        )  # fmt: skip
    except OSError as exc:
        console.print(f"[red]cannot listen on {host}:{port}[/red] ({exc}); choose another with --port")
        raise typer.Exit(2) from exc


@app.command()
def refresh(
    members: Annotated[int, typer.Option(help="Ensemble members per field.")] = 50,
) -> None:
    """Recompute every forecast, then contracts and alerts, once, without the API (for cron or systemd).

    Prints what the API's POST /v1/forecasts/recompute answers, as JSON. Exit 1 if the store or
    registry fails.
    """
    import json

    from services.refresh import Platform, RefreshFailed
    from services.refresh import refresh as refresh_cycle
    from storage import StoreError
    from storage.db.engine import open_registry

    cfg = get_settings()
    store = open_store(cfg)
    try:
        sessions = open_registry(cfg.registry_url)
        platform = Platform(
            store,
            sessions,
            forecast_service(cfg, store, sessions, members=members),
            notify=notify_config(cfg),
        )
        result = refresh_cycle(platform)
    except (RefreshFailed, StoreError) as exc:
        console.print(f"[red]refresh failed[/red] ({describe_store(cfg)}): {exc}")
        raise typer.Exit(1) from exc
    finally:
        store.close()
    print(json.dumps(result.as_dict()))
