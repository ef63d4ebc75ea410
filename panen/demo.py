"""`panen demo`: the whole platform in one process tree, on embedded defaults unless configured.

The demo process runs the embedded MQTT broker (amqtt) in a thread, unless ``PANEN_MQTT_URL`` names
one, and supervises three child processes, each the same command a production deployment runs:
``panen ingest``, ``panen sim`` (a backfill, then live) and ``panen api``. Children get the demo's
settings through the environment, so a configured InfluxDB or PostgreSQL is used by all of them.
Ctrl-C (or SIGTERM) stops every child: SIGTERM first, SIGKILL after a few seconds.

Why child processes rather than threads: ingest, the simulator and the API are each CPU-bound Python;
as processes they use both cores, and each stops and fails on its own as it would in production.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ingest.metrics import scrape
from panen.broker import BrokerStartError, EmbeddedBroker, port_in_use
from panen.devservices import free_port
from panen.settings import Settings
from panen.wiring import describe_store

__all__ = ["DemoError", "DemoOptions", "run_demo"]

_DATA_FILES = (
    "timeseries.sqlite3",
    "registry.sqlite3",
    "deadletters.jsonl",
    "sim_truths.json",
    "sim_orchard_records.json",
)
_DATA_DIRS = ("spool", "logs", "demo")
DEMO_USER = "panen-demo"
# The backfill ends this long ago and the live sensors replay it sped up, then run in real time: a
# live run sped up from now would soon report readings from the future, which ingest refuses. At
# most two reporting intervals, or the first alert evaluation would call every node offline.
LIVE_LEAD_HOURS = 2.0


class DemoError(RuntimeError):
    """The demo cannot start or a part of it failed; the message says what and how to fix it."""


@dataclass(frozen=True)
class DemoOptions:
    """What `panen demo` was asked for (see ``panen demo --help``)."""

    cooperatives: int = 0  # 0: all
    fields_per_coop: int = 0  # 0: all
    coops: tuple[str, ...] = ()  # these cooperatives, instead of ``cooperatives``
    days: int = 90
    interval_min: int = 60
    speed: float = 60.0
    host: str = "127.0.0.1"
    port: int = 8000
    mqtt_port: int = 1883
    reset: bool = False
    seed: int = 2026
    weeks: int = 8


class _Children:
    """The demo's child processes, stopped together."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._files: list[IO[bytes]] = []

    def start(self, name: str, args: list[str], *, show_output: bool = False) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("ab")
        self._files.append(log)
        proc = subprocess.Popen(
            [sys.executable, "-m", "panen", *args],
            env=self.env,
            stdout=None if show_output else log,
            stderr=None if show_output else log,
            stdin=subprocess.DEVNULL,
        )
        self.procs[name] = proc
        return proc

    def failed(self) -> str | None:
        """The name of a child that exited with an error, if any."""
        for name, proc in self.procs.items():
            code = proc.poll()
            if code not in (None, 0):
                return name
        return None

    def stop(self, grace_s: float = 5.0) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for proc in self.procs.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        for f in self._files:
            f.close()


def _reset(data_dir: Path) -> None:
    for name in _DATA_FILES:
        for suffix in ("", "-wal", "-shm"):
            (data_dir / f"{name}{suffix}").unlink(missing_ok=True)
    for name in _DATA_DIRS:
        shutil.rmtree(data_dir / name, ignore_errors=True)


def _metric(url: str, name: str) -> float:
    """A metric of ingest's endpoint, NaN while it does not answer or lacks it."""
    try:
        return scrape(url).get(name, float("nan"))
    except httpx.HTTPError:
        return float("nan")


def _wait(what: str, check: Callable[[], bool], timeout_s: float, children: _Children) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if (name := children.failed()) is not None:
            raise DemoError(f"{name} stopped while waiting for {what}; see {children.logs / (name + '.log')}")
        if time.monotonic() > deadline:
            raise DemoError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(0.2)


def _fleet_args(opts: DemoOptions) -> list[str]:
    """The simulator's options for the demo's fleet (it picks the same cooperatives and fields)."""
    return ["--cooperatives", str(opts.cooperatives), "--fields-per-coop", str(opts.fields_per_coop),
            "--coops", ",".join(opts.coops)]  # fmt: skip


def _lead_hours(opts: DemoOptions) -> float:
    return min(LIVE_LEAD_HOURS, 2 * opts.interval_min / 60)


def _seed_registry(cfg: Settings, opts: DemoOptions, console: Console) -> tuple[str, str, str, Any, str]:
    """Import the fleet and create fresh demo tokens, and the demo farmer's contact; returns (admin,
    farmer token, farmer id, fleet, the farmer's sign-in link to the field page)."""
    from sqlalchemy import select

    from firmware_sim.fleet import batu_fleet
    from services import InvalidInput
    from services.access import Role, create_token
    from services.registry_import import import_document
    from storage.db import ApiToken, Node
    from storage.db.engine import open_registry

    fleet = batu_fleet(path=cfg.fleet_file, anchor=dt.datetime.now(dt.UTC).date())
    try:
        fleet = fleet.sample(opts.cooperatives, opts.fields_per_coop, opts.coops)
    except KeyError as exc:
        raise DemoError(f"--coops: {exc.args[0]}") from exc
    _past_season(cfg, opts, fleet, console)
    sessions = open_registry(cfg.registry_url)
    farmer_id = f"{fleet.fields[0].id}-farmer"
    with sessions() as session:
        try:
            import_document(session, fleet)
        except InvalidInput as exc:
            raise DemoError(f"the fleet cannot be imported: {exc}") from exc
        # The demo's nodes report every interval_min, so "offline" means 3 of those intervals.
        for node in session.scalars(select(Node)):
            node.interval_min = opts.interval_min
        # Tokens of an earlier demo run are revoked, so only the printed ones work.
        for old in session.scalars(select(ApiToken).where(ApiToken.name.in_(["demo admin", "demo farmer"]))):
            old.revoked = True
        session.commit()
        admin = create_token(session, name="demo admin", role=Role.ADMIN)
        farmer = create_token(session, name="demo farmer", role=Role.FARMER, farmer_id=farmer_id)
        link = _farmer_link(session, cfg, opts, farmer_id)
    return admin, farmer, farmer_id, fleet, link


def _past_season(cfg: Settings, opts: DemoOptions, fleet: Any, console: Console) -> None:
    """The season before this one, lived through once (:mod:`panen.pastseason`), so the track record
    has numbers on first start; and Coosae's buying prices (the demo's estimates), once."""
    from panen.pastseason import seed_past_season
    from panen.wiring import open_store
    from services import InvalidInput
    from services.prices import import_prices, parse_csv, prices
    from storage.db.engine import open_registry

    with open_registry(cfg.registry_url)() as session:
        if not prices(session):
            import_prices(session, parse_csv(DEMO_PRICES.read_text()), by="panen demo")
    store = open_store(cfg)
    try:
        past = seed_past_season(
            cfg.registry_url, store, fleet, today=fleet.anchor, seed=opts.seed, console=console
        )
    except InvalidInput as exc:
        raise DemoError(f"the season before cannot be seeded: {exc}") from exc
    finally:
        store.close()
    if past is not None:
        console.print(
            f"the season before: {past.records} harvest records entered from the simulator's truths"
            + (f" ({past.refused} refused as implausible)" if past.refused else "")
        )


def _farmer_link(session: Any, cfg: Settings, opts: DemoOptions, farmer_id: str) -> str:
    """The demo farmer's contact (made once; no channel: the demo reaches no phone) and a fresh
    personal sign-in link to the field page."""
    from sqlalchemy import select

    from services.access import Principal, Role
    from services.notify.contacts import ContactSpec, create_contact
    from services.notify.outbox import NotifyConfig, utc_now
    from services.notify.signin import issue_link
    from storage.db import Contact

    contact = session.scalars(select(Contact).where(Contact.farmer_id == farmer_id)).first()
    if contact is None:
        admin = Principal(0, "panen demo", Role.ADMIN, None, None)
        contact = create_contact(
            session, admin, ContactSpec(name="Petani demo", role=Role.FARMER, farmer_id=farmer_id)
        )
    base = cfg.public_url if "PANEN_PUBLIC_URL" in os.environ else f"http://{opts.host}:{opts.port}"
    return issue_link(session, contact, NotifyConfig(public_url=base), utc_now())


# Coosae's buying prices in the demo: estimates, marked so in each price's source.
DEMO_PRICES = Path(__file__).with_name("data") / "prices-demo.csv"

# CooSAE's Rp20 bn deal with Kop. Produsen Taruna Bina Mandiri (Kutai Timur): 288 t of potato,
# broccoli, carrot, keprok and apple (docs/sources.md §5). How the 288 t split is not published
# [est]; broccoli is not in the crop library, so its share is left out.
# (commodity, tonnes, weeks from today, Rp/kg)
DEMO_BUYER = "Kop. Produsen Taruna Bina Mandiri (Kutai Timur)"
DEMO_CONTRACTS = (
    ("potato", 100.0, (1, 10), 9000.0),
    ("carrot", 60.0, (1, 10), 7000.0),
    ("citrus", 20.0, (1, 26), 12000.0),  # orchards are picked over months
    ("apple", 20.0, (1, 26), 15000.0),
)


def _enter_orchard_records(cfg: Settings, console: Console) -> None:
    """Enter what the simulated growers recorded of their orchards (the backfill's
    ``sim_orchard_records.json``) as a farmer would, through the same checks; each once."""
    from sqlalchemy import select

    from services import InvalidInput, orchards
    from storage.db import Field, OrchardEvent
    from storage.db.engine import open_registry

    path = cfg.data_dir / "sim_orchard_records.json"
    if not path.exists():
        return
    rows = json.loads(path.read_text())["records"]
    entered = refused = 0
    with open_registry(cfg.registry_url)() as session:
        have = {(e.field_id, e.kind, e.day) for e in session.scalars(select(OrchardEvent))}
        for r in rows:
            day = dt.date.fromisoformat(r["day"])
            field = session.get(Field, r["field_id"])
            if field is None or (field.id, r["kind"], day) in have:
                continue
            try:
                orchards.record(
                    session, field=field, kind=r["kind"], day=day, by=f"Petani {field.id}",
                    fruits_per_tree=r["fruits_per_tree"], trees_sampled=r["trees_sampled"],
                )  # fmt: skip
                entered += 1
            except InvalidInput:
                refused += 1
    if entered or refused:
        console.print(
            f"orchard growers' records entered: {entered}" + (f" ({refused} refused)" if refused else "")
        )


def _demo_contracts(cfg: Settings) -> None:
    """Coosae's Kutai Timur deal as open contracts (:data:`DEMO_CONTRACTS`), once: only for the
    commodities the demo's fleet grows (a contract no field can serve only says "0 %" and raises a
    critical alert, which shows nothing of the product), and in a smaller demo its share of the deal
    (its fields of the commodity over the whole fleet's)."""
    from collections import Counter

    from sqlalchemy import select

    from firmware_sim.fleet import batu_fleet
    from services.contracts import create_contract
    from storage.db import Contract, Field
    from storage.db.engine import open_registry

    today = dt.datetime.now(dt.UTC).date()
    whole = Counter(f.commodity for f in batu_fleet(path=cfg.fleet_file).fields)
    with open_registry(cfg.registry_url)() as session:
        if session.scalars(select(Contract).where(Contract.buyer == DEMO_BUYER)).first() is not None:
            return
        grown = Counter(session.scalars(select(Field.commodity)))
        for commodity, tonnes, (first, last), price in DEMO_CONTRACTS:
            if commodity not in grown:
                continue
            # The deal is the whole fleet's: a smaller demo sells its share of it, by fields grown.
            share = min(1.0, grown[commodity] / max(1, whole[commodity]))
            sold = max(1.0, round(tonnes * share * 2) / 2)
            terms = {
                "buyer": DEMO_BUYER, "commodity": commodity, "tonnes": sold,
                "first_day": today + dt.timedelta(weeks=first), "last_day": today + dt.timedelta(weeks=last),
                "delivery_point": "Terminal Agribisnis Batu", "price_idr_per_kg": price,
            }  # fmt: skip
            create_contract(session, terms, by="panen demo")


def _plan_table(
    console: Console, plan: list[dict[str, Any]], cash: list[dict[str, Any]], weeks: int
) -> Table:
    """The plan of all cooperatives by commodity and week, with the cash each week needs."""
    week_labels = sorted({r["iso_week"] for r in plan})
    # A figure is never folded over two lines: the ranges go on a line of their own only where the
    # console is wide enough for them (a terminal); piped to a file (80 columns) each cell is its
    # expected tonnes, and the ranges are in the API's answer.
    ranges = console.width >= 24 + 9 * len(week_labels)
    title = f"Coosae purchase plan, next {weeks} weeks: expected tonnes, all cooperatives"
    table = Table(
        title=title,
        caption="expected tonnes add up across weeks"
        + ("; below each, P10–P90" if ranges else "; P10–P90 in /v1/purchase-plan?by=commodity")
        + "; W01 etc. are ISO weeks",
        box=box.SIMPLE_HEAD,  # no inner rules: eight weeks fit 80 columns, piped to a file
    )
    table.add_column("commodity", no_wrap=True, min_width=10)
    for w in week_labels:
        table.add_column(w.split("-")[1], justify="right", no_wrap=True)
    table.add_column("total", justify="right", no_wrap=True)

    def tonnes(value: float) -> str:
        return f"{value:.0f}" if value >= 100 else f"{value:.1f}"

    cells: dict[tuple[str, str], str] = {
        (r["commodity"], r["iso_week"]): tonnes(r["tonnes_expected"])
        + (f"\n{r['tonnes_p10']:.0f}–{r['tonnes_p90']:.0f}" if ranges else "")
        for r in plan
    }
    for commodity in sorted({r["commodity"] for r in plan}):
        total = sum(r["tonnes_expected"] for r in plan if r["commodity"] == commodity)
        table.add_row(commodity, *(cells.get((commodity, w), "–") for w in week_labels), tonnes(total))
    by_week = {w["iso_week"]: w["cost_expected_idr"] / 1e6 for w in cash}
    table.add_row(
        "cash, Rp mn", *(f"{by_week.get(w, 0.0):.0f}" for w in week_labels), f"{sum(by_week.values()):.0f}",
        style="bold",
    )  # fmt: skip
    return table


def _summary(console: Console, api: str, admin: str, weeks: int) -> None:
    headers = {"Authorization": f"Bearer {admin}"}
    plan = httpx.get(
        f"{api}/v1/purchase-plan", params={"weeks": weeks, "by": "commodity"}, headers=headers, timeout=120
    ).json()
    by_coop = httpx.get(
        f"{api}/v1/purchase-plan", params={"weeks": weeks}, headers=headers, timeout=120
    ).json()
    cash = httpx.get(
        f"{api}/v1/purchase-plan/cash", params={"weeks": weeks}, headers=headers, timeout=120
    ).json()
    console.print(_plan_table(console, plan, cash, weeks))
    if not plan:
        console.print("[yellow]no harvest forecast within the horizon[/yellow] (try --weeks 16)")
    console.print(
        f"{len(by_coop)} rows by cooperative × commodity × week: "
        f"{api}/v1/purchase-plan?weeks={weeks}&format=csv",
        soft_wrap=True,
    )
    coverage = httpx.get(f"{api}/v1/contracts/coverage", headers=headers, timeout=120).json()
    orders = httpx.get(f"{api}/v1/contracts/allocation", headers=headers, timeout=120).json()
    ordered: dict[str, float] = {}
    for o in orders:
        ordered[o["commodity"]] = ordered.get(o["commodity"], 0.0) + o["tonnes"]
    contracts = Table(title="Open contracts: will the forecast harvest cover them?")
    right = ("tonnes", "members covering it", "orders (t)", "margin at risk, Rp mn")
    for name in ("#", "commodity", "tonnes", "window", *right[1:]):
        # Headers may fold; a date or a figure never does (a window is its two dates, one a line).
        contracts.add_column(name, justify="right" if name in right else "left", overflow="fold",
                             min_width=10 if name == "window" else None)  # fmt: skip
    for c in coverage["contracts"]:
        risk = c["margin_at_risk_idr"]
        contracts.add_row(
            str(c["contract_id"]), c["commodity"], f"{c['tonnes']:g}", f"{c['first_day']}\n{c['last_day']}",
            f"{c['probability']:.0%}", f"{ordered.get(c['commodity'], 0.0):.1f}",
            "no buying price" if risk is None else f"{risk / 1e6:,.1f}",
        )  # fmt: skip
    console.print(contracts)
    _track_record(console, api, headers)
    alerts = httpx.get(f"{api}/v1/alerts", headers=headers, timeout=60).json()
    per_coop: dict[str, dict[str, int]] = {}
    for a in alerts:
        # An alert of no one cooperative (a contract at risk, a failed refresh) is Coosae's.
        kinds = per_coop.setdefault(a["coop_id"] or "Coosae (all cooperatives)", {})
        kinds[a["kind"]] = kinds.get(a["kind"], 0) + 1
    top = sorted(per_coop.items(), key=lambda kv: -sum(kv[1].values()))[:5]
    alert_table = Table(title=f"Cooperatives with most open alerts ({len(alerts)} in all)")
    alert_table.add_column("cooperative")
    alert_table.add_column("alerts", justify="right")
    alert_table.add_column("kinds")
    for coop, kinds in top:
        alert_table.add_row(
            coop, str(sum(kinds.values())), ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))
        )
    console.print(alert_table)


def _track_record(console: Console, api: str, headers: dict[str, str]) -> None:
    """How good the forecasts of the season before were, 30 days ahead (those with enough records)."""
    skill = httpx.get(
        f"{api}/v1/forecasts/skill", params={"lead_days": 30}, headers=headers, timeout=120
    ).json()
    rows = [k for k in skill if k["tonnes_mape"] is not None]
    table = Table(title="Track record: forecasts 30 days before each harvest recorded", caption=(
        f"{len(rows)} of {len(skill)} commodity × cooperative pairs have enough records. The season "
        "before was forecast without sensors (the demo backfills only this one): the record of a "
        "platform that had none yet, on its prior climate alone. /v1/forecasts/skill"
    ))  # fmt: skip
    for name in ("commodity", "cooperative", "records", "tonnes error", "date error", "P10–P90 held"):
        names = name in ("commodity", "cooperative")  # whole, never folded: the figures' headers fold
        table.add_column(name, justify="left" if names else "right", overflow="fold", no_wrap=names)
    for k in sorted(rows, key=lambda k: (k["commodity"], k["coop_id"])):
        table.add_row(
            k["commodity"], k["coop_id"], str(k["records"]), f"{k['tonnes_mape']:.0%}",
            f"{k['date_mae_days']:.0f} d", f"{k['tonnes_coverage']:.0%}",
        )  # fmt: skip
    console.print(table)


def run_demo(cfg: Settings, opts: DemoOptions, console: Console, stop: threading.Event) -> None:
    """Run until ``stop`` is set (Ctrl-C). Raises :class:`DemoError` with a readable reason."""
    data_dir = cfg.data_dir
    if opts.reset:
        _reset(data_dir)
        console.print(f"reset: removed the demo's data in {data_dir}")
    logs = data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    if port_in_use(opts.host, opts.port):
        raise DemoError(f"port {opts.port} (the API) is already in use; choose another with --port")
    env = {**os.environ, "PANEN_DATA_DIR": str(data_dir)}
    broker: EmbeddedBroker | None = None
    if cfg.mqtt_url:
        mqtt_url = cfg.mqtt_url
        broker_text = f"{mqtt_url.split('@')[-1]} (configured, PANEN_MQTT_URL)"
    else:
        broker = EmbeddedBroker(opts.host, opts.mqtt_port, log_file=logs / "broker.log")
        try:
            broker.start()
        except BrokerStartError as exc:
            raise DemoError(
                f"{exc}: the embedded MQTT broker needs it; choose another with --mqtt-port, "
                "or point PANEN_MQTT_URL at a running broker"
            ) from exc
        mqtt_url = f"mqtt://{DEMO_USER}@{opts.host}:{opts.mqtt_port}?protocol=3.1.1"
        broker_text = f"{opts.host}:{opts.mqtt_port} (embedded amqtt, MQTT 3.1.1)"
    env["PANEN_MQTT_URL"] = mqtt_url
    env.pop("PANEN_REGISTRY_FILE", None)  # ingest reads the nodes the demo imports into the registry
    env.setdefault("PANEN_PUBLIC_URL", f"http://{opts.host}:{opts.port}")  # the field page's links
    children = _Children(env, logs)
    try:
        _run(cfg, opts, console, stop, children, broker_text)
    finally:
        console.print("stopping ...")
        children.stop(grace_s=3.0)  # within 5 s of Ctrl-C in every phase (issue 40)
        if broker is not None:
            broker.stop()
        console.print("stopped")


def _run(
    cfg: Settings,
    opts: DemoOptions,
    console: Console,
    stop: threading.Event,
    children: _Children,
    broker_text: str,
) -> None:
    admin, farmer, farmer_id, fleet, link = _seed_registry(cfg, opts, console)
    console.print(
        f"[bold]panen demo[/bold]: {len(fleet.cooperatives)} cooperatives, {len(fleet.fields)} fields, "
        f"{len(fleet.fields) + len(fleet.stations)} nodes\n"
        f"  broker   {broker_text}\n  store    {describe_store(cfg)}\n"
        f"  registry {cfg.registry_url.split('@')[-1]}\n  logs     {children.logs}",
        soft_wrap=True,
    )
    metrics = _start_ingest(children)
    if not _backfill(opts, console, stop, children, metrics):
        return  # stopped
    _enter_orchard_records(cfg, console)
    _demo_contracts(cfg)
    api = f"http://{opts.host}:{opts.port}"
    children.start("api", ["api", "--host", opts.host, "--port", str(opts.port), "--refresh-minutes", "15"])
    console.print("forecasting every field ...")

    def refreshed() -> bool:
        try:
            return httpx.get(f"{api}/ready", timeout=2).json().get("forecasts_refreshed") is not None
        except (httpx.HTTPError, ValueError):
            return False

    _wait("the API's first forecast", refreshed, 300, children)
    _summary(console, api, admin, opts.weeks)
    children.start(
        "live",
        ["sim", "--speed", str(opts.speed), "--lead-hours", str(_lead_hours(opts)),
         "--seed", str(opts.seed), "--interval", str(opts.interval_min),
         *_fleet_args(opts)],
    )  # fmt: skip
    console.print(
        f"\n[bold green]panen is running[/bold green] (sensors live: the last {_lead_hours(opts):g} h at "
        f"{opts.speed:g}× real time, then in real time)\n"
        f"  API docs     {api}/docs\n"
        f"  admin token  {admin}\n"
        f"  farmer token {farmer}   ({farmer_id}: sees only their own field)\n"
        f"  field page   {link}   (the farmer's sign-in link: once, 24 h; for a phone)\n"
        f"  try          curl -H 'Authorization: Bearer {farmer}' {api}/v1/fields\n"
        f"               curl -H 'Authorization: Bearer {admin}' '{api}/v1/purchase-plan?by=commodity'\n"
        f"  metrics      {api}/metrics (API), {metrics} (ingest)\n"
        "Ctrl-C stops everything.",
        soft_wrap=True,  # tokens and URLs stay whole, to copy and to parse
    )
    while not stop.wait(0.5):
        if (name := children.failed()) is not None:
            raise DemoError(f"{name} stopped unexpectedly; see {children.logs / (name + '.log')}")


def _start_ingest(children: _Children) -> str:
    """Start ingest and wait until it is connected; returns its /metrics URL."""
    metrics_port = free_port()
    metrics = f"http://127.0.0.1:{metrics_port}/metrics"
    children.start(
        "ingest", ["ingest", "--metrics-port", str(metrics_port), "--client-id", "panen-demo-ingest"]
    )
    _wait(
        "ingest to connect to the broker",
        lambda: _metric(metrics, "panen_ingest_broker_connected") == 1,
        60,
        children,
    )
    time.sleep(0.5)  # its subscriptions reach the broker
    return metrics


def _backfill(
    opts: DemoOptions, console: Console, stop: threading.Event, children: _Children, metrics: str
) -> bool:
    """Simulate the season so far and wait until ingest has stored it (or nothing more comes for
    5 s: faults, dead letters), with a progress bar; False if stopped meanwhile."""
    before = _metric(metrics, "panen_ingest_readings_stored_total")
    summary = children.logs.parent / "demo" / "backfill.json"
    summary.parent.mkdir(parents=True, exist_ok=True)
    summary.unlink(missing_ok=True)
    console.print(f"simulating {opts.days} days of the season so far, every {opts.interval_min} min ...")
    sim = children.start(
        "backfill",
        ["sim", "--backfill", str(opts.days), "--lead-hours", str(_lead_hours(opts)),
         "--interval", str(opts.interval_min), "--seed", str(opts.seed),
         *_fleet_args(opts),
         "--summary-file", str(summary)],
        show_output=True,
    )  # fmt: skip
    started = time.monotonic()
    while sim.poll() is None:
        if stop.wait(0.2):
            return False
    if sim.returncode != 0:
        raise DemoError(f"the simulator's backfill failed; see {children.logs / 'backfill.log'}")
    children.procs.pop("backfill")
    expected = json.loads(summary.read_text())["readings"]
    columns = (TextColumn("storing  "), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("store", total=expected)
        last, still_since = -1.0, time.monotonic()
        while True:
            stored = _metric(metrics, "panen_ingest_readings_stored_total") - before
            dead = _metric(metrics, "panen_ingest_dead_letters_total")
            bar.update(task, completed=min(stored, expected))
            if stored != last:
                last, still_since = stored, time.monotonic()
            if stored + (0 if math.isnan(dead) else dead) >= expected or time.monotonic() - still_since > 5:
                break
            if (name := children.failed()) is not None:
                raise DemoError(f"{name} stopped; see {children.logs / (name + '.log')}")
            if stop.wait(0.25):
                return False
    console.print(f"backfill stored: {int(stored):,} readings in {time.monotonic() - started:.0f} s")
    return True
