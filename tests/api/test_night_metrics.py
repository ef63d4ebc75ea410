"""The operator's night (issue 40): the fleet's state in ``/v1/nodes``, ``panen fleet`` and
``/metrics``, and metrics beyond HTTP that each move when what they count changes. Found on main:
``/v1/nodes`` had no last-seen, battery or signal; ``/metrics`` answered 307 to ``/metrics/``; it
counted HTTP requests only."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from bench.simdata import readings
from firmware_sim.fleet import batu_fleet
from firmware_sim.runner import prepare
from panen.devservices import free_port
from services import harvests
from services.access import Principal, Role, create_token
from services.forecasting import ForecastService
from services.notify.contacts import ContactSpec, create_contact
from services.notify.messages import probe_message
from services.notify.outbox import NotifyConfig, enqueue, utc_now
from services.refresh import RefreshFailure, refresh
from services.registry_import import import_fleet
from storage import local_day
from storage.db import Alert, ContactChannel, Node
from storage.db.engine import open_registry, sqlite_url
from storage.sqlite import SqliteStore
from tests.season import NOW_MS

FLEET = batu_fleet(anchor=local_day(NOW_MS)).subset(1, 3)
COOP = FLEET.cooperatives[0].id
DEAD_HOURS = 6
OPERATOR = Principal(0, "test", Role.ADMIN, None, None)
PROBE = probe_message(language="en")


def _metric(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample of ``/metrics``, or None when it is absent."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split(" ")[0]))
        if all(found.get(k) == v for k, v in labels.items()) and line.split("{")[0].split(" ")[0] == name:
            return float(line.rsplit(" ", 1)[1])
    return None


@pytest.fixture
def night(tmp_path: Path) -> Iterator[tuple[TestClient, str, str, Path]]:
    """The API over a simulated week in which one field's node died ``DEAD_HOURS`` ago: the
    simulator's samples of that node stop there. Yields (client, admin token, the dead node, data dir)."""
    store = SqliteStore(tmp_path / "timeseries.sqlite3")
    sessions = open_registry(sqlite_url(tmp_path / "registry.sqlite3"))
    run = prepare(FLEET, start_ms=NOW_MS - 7 * 86_400_000, end_ms=NOW_MS, seed=5, interval_min=60,
                  horizon_days=150)  # fmt: skip
    dead = FLEET.fields[0].node.id
    cut = NOW_MS - DEAD_HOURS * 3_600_000
    samples = []
    for s in run.samples:
        if s.node.id == dead:
            keep = s.true_ms < cut
            s = dataclasses.replace(s, true_ms=s.true_ms[keep], device_ms=s.device_ms[keep],
                                    values={m: v[keep] for m, v in s.values.items()})  # fmt: skip
        samples.append(s)
    store.write(list(readings(samples)))
    with sessions() as session:
        import_fleet(session, FLEET)
        for node in session.scalars(select(Node)):
            node.interval_min = 60  # as the simulated week was sampled
        session.commit()
        admin = create_token(session, name="operator", role=Role.ADMIN)
    service = ForecastService(store, sessions, members=20)
    app = create_app(store, sessions, service, notify=NotifyConfig(public_url="http://panen.test"))
    with TestClient(app) as c:
        yield c, admin, dead, tmp_path
    store.close()


def test_metrics_answer_at_metrics_itself(night: tuple[TestClient, str, str, Path]) -> None:
    c, _, _, _ = night
    r = c.get("/metrics", follow_redirects=False)
    assert r.status_code == 200, r.headers
    assert "panen_api_requests_total" in r.text


def test_a_dead_node_is_silent_in_the_api_the_cli_and_the_metrics(
    night: tuple[TestClient, str, str, Path],
) -> None:
    c, admin, dead, data = night
    headers = {"Authorization": f"Bearer {admin}"}
    nodes = {n["id"]: n for n in c.get("/v1/nodes", headers=headers).json()}
    assert nodes[dead]["state"] == "silent"
    assert nodes[dead]["silent_s"] >= DEAD_HOURS * 3600 - 60
    alive = [n for n in nodes.values() if n["id"] != dead]
    assert alive
    assert all(n["state"] in ("ok", "low_battery") for n in alive), alive
    assert all(n["battery_v"] is not None or n["battery_pct"] is not None for n in alive)
    assert [n["id"] for n in c.get("/v1/nodes", params={"state": "silent"}, headers=headers).json()] == [dead]
    assert c.get(f"/v1/nodes/{dead}", headers=headers).json()["state"] == "silent"
    assert c.get("/v1/nodes", params={"state": "asleep"}, headers=headers).status_code == 422
    text = c.get("/metrics").text
    assert _metric(text, "panen_nodes", coop=COOP, state="silent") == 1
    # The firmware flashed at installation, as the operator recorded it.
    assert c.patch(f"/v1/nodes/{dead}", json={"firmware": "1.4.2"}, headers=headers).status_code == 200
    assert c.get(f"/v1/nodes/{dead}", headers=headers).json()["firmware"] == "1.4.2"
    assert c.patch(f"/v1/nodes/{dead}", json={"firmware": "1.4 beta"}, headers=headers).status_code == 422
    # panen fleet, on the same data folder: the dead node first, and exit 1 for it.
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PANEN_")}, "PANEN_DATA_DIR": str(data),
           "COLUMNS": "200"}  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "panen", "fleet"], env=env, capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert done.returncode == 1, done.stderr
    rows = [line for line in done.stdout.splitlines() if COOP in line]
    assert rows, done.stdout
    assert dead in rows[0], done.stdout
    assert "silent" in rows[0]
    assert "1.4.2" in rows[0]
    assert "1 silent" in done.stderr


def test_alerts_outbox_and_forecast_metrics_move(
    night: tuple[TestClient, str, str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    c, _admin, _, _ = night
    platform = c.app.state.panen  # type: ignore[attr-defined]
    before = c.get("/metrics").text
    assert _metric(before, "panen_forecast_refresh_age_seconds") is None  # no forecast yet
    assert _metric(before, "panen_forecast_refresh_failing") == 0
    with caplog.at_level(logging.INFO, logger="services.alerts"):
        refresh(platform)  # forecasts, then alerts: the dead node's node_offline among them
    raised = [r.getMessage() for r in caplog.records if " raised: node_offline " in r.getMessage()]
    assert len(raised) == 1, caplog.text  # logged with its id (issue 40)
    assert re.match(r"alert \d+ raised: node_offline", raised[0])
    after = c.get("/metrics").text
    assert _metric(after, "panen_alerts_open", kind="node_offline", severity="warning") == 1
    assert (_metric(after, "panen_forecast_refresh_duration_seconds") or 0) > 0
    assert (_metric(after, "panen_forecast_refresh_age_seconds") or -1) >= 0
    assert _metric(after, "panen_forecast_fields", outcome="forecast") == len(FLEET.fields)
    assert _metric(after, "panen_learning_records", outcome="used") == 0  # no harvest recorded yet
    # A harvest recorded of a field forecast 10 days before: the next refresh learns from it, and
    # its season is closed (a single-harvest crop).
    day = local_day(NOW_MS)
    platform.forecasts.run(day - dt.timedelta(days=10), issued_ms=NOW_MS - 10 * 86_400_000)
    field = next(f for f in FLEET.fields if f.commodity in ("potato", "cabbage", "carrot", "shallot"))
    forecast = platform.forecasts.latest.forecasts[field.id]
    with platform.sessions() as session:
        harvests.record(session, field_id=field.id, harvest_date=day, tonnes=forecast.tonnes_p50, grade="A",
                        by="test")  # fmt: skip
    refresh(platform)
    learnt = c.get("/metrics").text
    assert _metric(learnt, "panen_learning_records", outcome="used") == 1
    assert _metric(learnt, "panen_forecast_fields", outcome="closed") == 1
    platform.last_failure = RefreshFailure(utc_now(), "test")
    assert _metric(c.get("/metrics").text, "panen_forecast_refresh_failing") == 1
    platform.last_failure = None
    # The outbox: a message written an hour ago and due since is waiting.
    hour_ago = utc_now() - dt.timedelta(hours=1)
    with platform.sessions() as session:
        spec = ContactSpec(name="Ops", role=Role.ADMIN, channels=(("email", "ops@example.org"),))
        contact = create_contact(session, OPERATOR, spec)
        channel = session.scalars(select(ContactChannel).where(ContactChannel.contact_id == contact.id)).one()
        enqueue(session, contact=contact, channels=[channel], key="night:1", message=PROBE, event="test",
                urgent=True, due_at=hour_ago, now=hour_ago, capped=False)  # fmt: skip
        session.commit()
    waiting = c.get("/metrics").text
    assert _metric(waiting, "panen_outbox_messages", status="pending", channel="email") == 1
    assert (_metric(waiting, "panen_outbox_oldest_due_age_seconds", channel="email") or 0) >= 3500
    # An alert cleared: the gauge goes back down.
    with platform.sessions() as session:
        for alert in session.scalars(select(Alert).where(Alert.active)):
            alert.active = False
        session.commit()
    assert (
        _metric(c.get("/metrics").text, "panen_alerts_open", kind="node_offline", severity="warning") is None
    )


class _Hook(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


def test_a_delivery_is_timed_in_the_latency_histogram(tmp_path: Path) -> None:
    hook = ThreadingHTTPServer(("127.0.0.1", free_port()), _Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    store = SqliteStore(tmp_path / "ts.sqlite3")
    sessions = open_registry(sqlite_url(tmp_path / "r.sqlite3"))
    now = utc_now()
    with sessions() as session:
        url = f"http://127.0.0.1:{hook.server_address[1]}/h"
        spec = ContactSpec(name="Ops", role=Role.ADMIN, channels=(("webhook", url),))
        contact = create_contact(session, OPERATOR, spec)
        channel = session.scalars(select(ContactChannel).where(ContactChannel.contact_id == contact.id)).one()
        enqueue(session, contact=contact, channels=[channel], key="night:2", message=PROBE, event="test",
                urgent=True, due_at=now, now=now, capped=False)  # fmt: skip
        session.commit()
    app = create_app(
        store, sessions, notify=NotifyConfig(public_url="http://panen.test"), send_notifications=True
    )
    try:
        with TestClient(app) as c:
            deadline = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)
            count = None
            while dt.datetime.now(dt.UTC) < deadline:
                count = _metric(
                    c.get("/metrics").text, "panen_notification_delivery_seconds_count", channel="webhook"
                )
                if count:
                    break
                time.sleep(0.1)
            assert count == 1
    finally:
        hook.shutdown()
        store.close()
