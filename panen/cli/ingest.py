"""``panen ingest``: MQTT uplinks into the store (see :mod:`ingest`)."""

from __future__ import annotations

import dataclasses
import signal
import socket
import sys
from typing import Annotated, Any

import typer

from ingest.service import IngestConfig
from panen.cli._common import app, broker_target, console, node_registry
from panen.settings import get_settings
from panen.wiring import describe_store, open_store
from storage import StoreAuthError, StoreError, StoreRejected, TimeSeriesStore
from storage.influx import InfluxStore

# Each default is IngestConfig's, written once there; the options only convert units (ms, MiB, days).
_DEFAULT: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(IngestConfig)}


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
        int,
        typer.Option(help="Port of /metrics and /healthz (ok, degraded: 200; unhealthy: 503); 0: off."),
    ] = 9108,
    metrics_host: Annotated[str, typer.Option(help="Address the metrics endpoint listens on.")] = "127.0.0.1",
    batch_readings: Annotated[int, typer.Option(help="Flush a batch at this many readings.")] = _DEFAULT[
        "batch_readings"
    ],
    batch_age_ms: Annotated[int, typer.Option(help="Flush a batch at this age.")] = round(
        _DEFAULT["batch_age_s"] * 1000
    ),
    batch_idle_ms: Annotated[
        int, typer.Option(help="Flush a batch early when no message arrived for this long.")
    ] = round(_DEFAULT["batch_idle_s"] * 1000),
    spool_max_mb: Annotated[
        int, typer.Option(help="Bound of the on-disk spool used while the store is down.")
    ] = _DEFAULT["spool_max_bytes"] // 1024**2,
    disk_min_free_mb: Annotated[
        float, typer.Option(help="Report the spool's disk as full (degraded) below this much free space.")
    ] = _DEFAULT["disk_min_free_bytes"] / 1024**2,
    backoff_min_s: Annotated[
        float, typer.Option(help="Shortest wait before retrying the broker or the store.")
    ] = _DEFAULT["backoff_min_s"],
    backoff_max_s: Annotated[float, typer.Option(help="Longest wait between retries (the cap).")] = _DEFAULT[
        "backoff_max_s"
    ],
    health_grace_s: Annotated[
        float, typer.Option(help="Exit (code 4) after being unhealthy this long, for a restart.")
    ] = _DEFAULT["health_grace_s"],
    deadletter_max_age_days: Annotated[
        float, typer.Option(help="Drop dead letters from the local log after this many days.")
    ] = _DEFAULT["deadletter_max_age_s"] / 86_400,
    receive_maximum: Annotated[
        int, typer.Option(help="MQTT v5 Receive Maximum (unacknowledged messages).")
    ] = _DEFAULT["receive_maximum"],
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="Run N ingest processes in one MQTT v5 shared group, each restarted if it dies; "
            "worker i serves /metrics on --metrics-port + i.",
        ),
    ] = 1,
    state_dir: Annotated[
        str, typer.Option(help="Spool and dead letters in this folder under PANEN_DATA_DIR ('': in it).")
    ] = "",
) -> None:
    """Consume sensor uplinks from MQTT and store them, losing nothing (see ingest/service.py)."""
    # Long: the command's options are its signature, one per line (typer); the body converts units.
    options = {
        "topic_prefix": topic_prefix, "shared_group": shared_group, "batch_readings": batch_readings,
        "batch_age_s": batch_age_ms / 1000, "batch_idle_s": batch_idle_ms / 1000,
        "spool_max_bytes": spool_max_mb * 1024**2, "disk_min_free_bytes": int(disk_min_free_mb * 1024**2),
        "receive_maximum": receive_maximum, "deadletter_max_age_s": deadletter_max_age_days * 86_400,
        "health_grace_s": health_grace_s, "backoff_min_s": backoff_min_s, "backoff_max_s": backoff_max_s,
    }  # fmt: skip
    if workers > 1:
        argv = [
            "--topic-prefix", topic_prefix, "--metrics-host", metrics_host,
            "--batch-readings", str(batch_readings), "--batch-age-ms", str(batch_age_ms),
            "--batch-idle-ms", str(batch_idle_ms), "--spool-max-mb", str(spool_max_mb),
            "--disk-min-free-mb", str(disk_min_free_mb),
            "--backoff-min-s", str(backoff_min_s), "--backoff-max-s", str(backoff_max_s),
            "--health-grace-s", str(health_grace_s),
            "--deadletter-max-age-days", str(deadletter_max_age_days),
            "--receive-maximum", str(receive_maximum),
            *(["--mqtt-url", mqtt_url] if mqtt_url else []),
        ]  # fmt: skip
        raise typer.Exit(_run_workers(workers, argv, client_id, shared_group, metrics_port))
    _run_one(mqtt_url, client_id, state_dir, metrics_host, metrics_port, options)


def _run_workers(
    workers: int, argv: list[str], client_id: str | None, shared_group: str | None, metrics_port: int
) -> int:
    """Run ``workers`` ``panen ingest`` processes in one shared group; returns the pool's exit code."""
    from panen.logs import configure_logging
    from panen.workers import WorkerPool

    configure_logging(get_settings().log_level, get_settings().log_format)
    base_id = client_id or f"panen-ingest-{socket.gethostname()}"
    group = shared_group or "panen-ingest"
    head = [sys.executable, "-m", "panen", "ingest", *argv, "--shared-group", group]
    commands = [head + _worker_argv(base_id, i, metrics_port) for i in range(workers)]
    pool = WorkerPool(commands)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: pool.stop())
    ports = f"/metrics on {metrics_port}-{metrics_port + workers - 1}" if metrics_port else "no /metrics"
    console.print(f"ingest: {workers} workers in shared group {group}, {ports}")
    return pool.run()


def _worker_argv(base_id: str, i: int, metrics_port: int) -> list[str]:
    """Worker ``i``'s own client id, metrics port and state folder (worker 0 keeps the single
    process's, so changing N strands no spooled reading)."""
    port = str(metrics_port + i if metrics_port else 0)
    return [
        "--client-id",
        f"{base_id}-w{i}",
        "--metrics-port",
        port,
        "--state-dir",
        "" if i == 0 else f"ingest-w{i}",
    ]


def _run_one(
    mqtt_url: str | None,
    client_id: str | None,
    state_dir: str,
    metrics_host: str,
    metrics_port: int,
    options: dict[str, Any],
) -> None:
    """Run one ingest process until it is stopped; exit codes 2 (configuration), 3 (credentials
    refused) and 4 (unhealthy past the grace period) are for its service manager."""
    from ingest.health import serve
    from ingest.service import BrokerAuthError, IngestService, IngestUnhealthy, quiet_collector
    from panen.logs import configure_logging

    cfg = get_settings()
    configure_logging(cfg.log_level, cfg.log_format)
    target = broker_target(mqtt_url or cfg.mqtt_url)
    registry = node_registry(cfg.registry_file, cfg.registry_url)
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
            state_subdir=state_dir,
            **options,
        )
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    store = open_store(cfg)
    _prepare_store(store)
    service = IngestService(config, store=store, registry=registry)
    if metrics_port:
        try:
            serve(metrics_host, metrics_port, service.metrics.registry, lambda: service.health)
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
    quiet_collector()
    try:
        service.run()
    except BrokerAuthError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(3) from exc
    except IngestUnhealthy as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(4) from exc  # systemd's Restart=on-failure and Docker's restart: start it again
    finally:
        store.close()


def _prepare_store(store: TimeSeriesStore) -> None:
    """Make what the readings' writes need, as ``panen store init`` does, if these credentials may;
    else refuse to start, naming the command. An unreachable store is no reason not to start: the
    readings wait in the spool."""
    if not isinstance(store, InfluxStore):
        return  # SQLite makes its tables when opened
    missing: str | None = "its database or retention policies"
    try:
        missing = store.missing_layout()
        if missing is None:
            return
        console.print(f"the store lacks {missing}: setting it up as `panen store init` does")
        store.create_database()
    except (StoreAuthError, StoreRejected) as exc:
        store.close()
        console.print(
            f"[red]the store lacks {missing}[/red] and these credentials may not make it ({exc}); "
            "run `panen store init` with an administrator's credentials, then start ingest again"
        )
        raise typer.Exit(2) from exc
    except StoreError as exc:
        console.print(f"[yellow]the store cannot be checked now[/yellow] ({exc}): readings wait in the spool")
