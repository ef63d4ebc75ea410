"""``panen sim`` and ``panen sim-fleet``: the simulated Kota Batu fleet (see :mod:`firmware_sim`)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from panen.cli._common import Cooperatives, Coops, FieldsPerCoop, app, broker_target, console
from panen.settings import get_settings

if TYPE_CHECKING:
    from firmware_sim.firmware import FaultRates
    from sensors.topics import MqttTarget
    from storage.fleetfile import Fleet


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
    cooperatives: Cooperatives = 0,
    fields_per_coop: FieldsPerCoop = 0,
    coops: Coops = "",
    lead_hours: Annotated[
        float,
        typer.Option(
            help="A backfill ends, and a live run starts, this many hours ago: a sped-up live run "
            "catches up on them, then goes on in real time."
        ),
    ] = 0.0,
    summary_file: Annotated[
        str | None, typer.Option(help="After a backfill, write its message and reading counts here (JSON).")
    ] = None,
) -> None:
    """Simulated field nodes of the Kota Batu fleet, publishing to MQTT (see firmware_sim/)."""
    import time as _time

    from firmware_sim.firmware import FaultRates
    from firmware_sim.fleet import batu_fleet

    cfg = get_settings()
    broker = broker_target(mqtt_url or cfg.mqtt_url)
    today = dt.datetime.now(dt.UTC).date()
    named = [c.strip() for c in coops.split(",") if c.strip()]
    try:
        fleet = batu_fleet(path=cfg.fleet_file, anchor=today).sample(cooperatives, fields_per_coop, named)
    except KeyError as exc:
        console.print(f"[red]--coops[/red]: {exc.args[0]}")
        raise typer.Exit(2) from exc
    rates = (
        FaultRates(outage=faults, stuck=faults, spike=faults, dead=faults, corrupt=faults) if faults else None
    )
    now_ms = _time.time_ns() // 1_000_000 - int(lead_hours * 3_600_000)
    live_speed = 1.0 if realtime else speed
    if not (backfill or once or live_speed):
        console.print("choose --backfill DAYS, --once, --realtime or --speed X")
        raise typer.Exit(2)
    world = _World(fleet, broker, rates, seed, interval, topic_prefix, now_ms)
    if backfill or once:
        _publish_past(world, backfill, once, batch, today, summary_file)
    if live_speed:
        _run_live(world, live_speed, cfg.fleet_secret.get_secret_value() if node_auth else None)


@dataclass(frozen=True)
class _World:
    """What a backfill and a live run share: the fleet, the broker, the faults, the seed, the clock."""

    fleet: Fleet
    broker: MqttTarget
    rates: FaultRates | None
    seed: int
    interval: int | None
    prefix: str
    now_ms: int


def _publish_past(
    world: _World, backfill: int, once: bool, batch: int, today: dt.date, summary_file: str | None
) -> None:
    """Publish the past ``backfill`` days (or one wake-up) as the nodes' flash holds them."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from firmware_sim.runner import (
        backfill_messages,
        last_wakeup_only,
        prepare,
        publish_all,
        write_orchard_records,
        write_truths,
    )

    cfg = get_settings()
    fleet, broker, now_ms = world.fleet, world.broker, world.now_ms
    start_ms = now_ms - backfill * 86_400_000 if backfill else now_ms - 1
    console.print(f"simulating {len(fleet.fields)} fields and {len(fleet.stations)} stations ...")
    run = prepare(
        fleet,
        start_ms=start_ms,
        end_ms=now_ms,
        seed=world.seed,
        faults=world.rates,
        interval_min=world.interval,
    )
    if once:
        run = last_wakeup_only(run)
    messages = backfill_messages(run, batch_samples=batch, prefix=world.prefix, seed=world.seed)
    readings = sum(len(s.true_ms) * len(s.values) for s in run.samples)
    truths = cfg.data_dir / "sim_truths.json"
    write_truths(run, truths)
    if backfill:
        write_orchard_records(run, cfg.data_dir / "sim_orchard_records.json", until=today)
    columns = (TextColumn("publishing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console) as bar:
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


def _run_live(world: _World, speed: float, node_auth_secret: str | None) -> None:
    """Run the nodes live, the simulated clock ``speed`` times faster, until stopped."""
    import signal
    import threading

    from firmware_sim.runner import prepare, run_live

    console.print(f"live at {speed:g}x real time; Ctrl-C stops")
    horizon_ms = int(30 * 86_400_000 * max(1.0, speed / 1000))
    run = prepare(
        world.fleet,
        start_ms=world.now_ms,
        end_ms=world.now_ms + horizon_ms,
        seed=world.seed + 1,
        faults=world.rates,
        interval_min=world.interval,
    )
    stop_event = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop_event.set())
    run_live(
        run,
        world.broker,
        speed=speed,
        prefix=world.prefix,
        stop=stop_event,
        node_auth_secret=node_auth_secret,
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

    from firmware_sim.fleet import default_fleet
    from storage.fleetfile import save_fleet

    day = dt.date.fromisoformat(anchor) if anchor else dt.datetime.now(dt.UTC).date()
    save_fleet(default_fleet(day, seed=seed), Path(out))
    console.print(f"wrote {out}")
