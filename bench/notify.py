"""Notification benchmark (issue 17): messages per second through the outbox to a local JSON webhook
(Apprise delivering, one real HTTP request each), on the embedded SQLite registry and on PostgreSQL;
and the field page under load: ``panen api`` in its own process with a week of hourly readings of
the whole Kota Batu fleet, wrk with 50 connections for 10 s on one farmer's field page, and the
page's size in bytes, alone and with its script and service worker (``field_page_weight_bytes``).

Run: ``python -m bench.notify [--messages 3000] [--connections 50]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from bench.api import stop, wrk
from bench.simdata import readings
from firmware_sim.fleet import batu_fleet
from firmware_sim.runner import prepare
from panen.devservices import PostgresServer, free_port
from services.access import Principal, Role, create_token
from services.notify.contacts import ContactSpec, create_contact
from services.notify.messages import probe_message
from services.notify.outbox import NotifyConfig, Sender, enqueue
from services.registry_import import import_fleet
from storage import local_day
from storage.db import ContactChannel
from storage.db.engine import open_registry, sqlite_url
from storage.sqlite import SqliteStore


class _Hook(BaseHTTPRequestHandler):
    received = 0
    lock = threading.Lock()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with _Hook.lock:
            _Hook.received += 1
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


def _outbox(registry_url: str, messages: int, hook_url: str) -> dict[str, float]:
    """Messages/s of one sender delivering ``messages`` due messages."""
    sessions = open_registry(registry_url)
    fleet = batu_fleet(anchor=dt.date.today()).subset(1, 1)
    now = dt.datetime.now(dt.UTC)
    with sessions() as session:
        import_fleet(session, fleet)
        contact = create_contact(
            session,
            Principal(0, "bench", Role.ADMIN, None, None),
            ContactSpec(name="bench", role=Role.FARMER, farmer_id=f"{fleet.fields[0].id}-farmer",
                        channels=(("webhook", hook_url),)),
        )  # fmt: skip
        channel = session.query(ContactChannel).filter_by(contact_id=contact.id).one()
        for i in range(messages):
            enqueue(session, contact=contact, channels=[channel], key=f"bench:{i}",
                    message=probe_message(language="id"), event="test", urgent=True, due_at=now, now=now,
                    capped=False)  # fmt: skip
        session.commit()
    sender = Sender(sessions, NotifyConfig(batch=500))
    before = _Hook.received
    started = time.perf_counter()
    sent = 0
    while sent < messages:
        report = sender.deliver_due()
        sent += report.sent
        if report.sent + report.retrying + report.failed == 0:
            raise RuntimeError("the sender stopped delivering")
    seconds = time.perf_counter() - started
    if _Hook.received - before != messages:
        raise RuntimeError(f"{_Hook.received - before} of {messages} messages reached the webhook")
    return {"msg_s": round(messages / seconds, 1), "seconds": round(seconds, 2)}


def main(argv: Sequence[str] | None = None) -> None:

    # Long: a benchmark's steps in the order it runs them, read top to bottom like a lab protocol.
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--days", type=int, default=7)
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        sys.exit("this benchmark needs wrk: apt-get install -y wrk")
    hook = ThreadingHTTPServer(("127.0.0.1", free_port()), _Hook)
    hook.daemon_threads = True
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    hook_url = f"http://127.0.0.1:{hook.server_address[1]}/hook"
    out: dict[str, object] = {
        "bench": "notify",
        "messages": args.messages,
        "sender_workers": NotifyConfig().workers,
    }
    with tempfile.TemporaryDirectory(prefix="panen-bench-notify-") as tmp:
        data = Path(tmp)
        print("outbox on SQLite ...", file=sys.stderr)
        for key, value in _outbox(sqlite_url(data / "outbox.sqlite3"), args.messages, hook_url).items():
            out[f"outbox_sqlite_{key}"] = value
        pg = PostgresServer(data / "pg")
        pg.start()
        try:
            print("outbox on PostgreSQL ...", file=sys.stderr)
            for key, value in _outbox(pg.create_database("bench_notify"), args.messages, hook_url).items():
                out[f"outbox_postgres_{key}"] = value
        finally:
            pg.stop()
        now_ms = time.time_ns() // 1_000_000
        fleet = batu_fleet(anchor=local_day(now_ms))
        print("a week of readings of the fleet ...", file=sys.stderr)
        run = prepare(fleet, start_ms=now_ms - args.days * 86_400_000, end_ms=now_ms, seed=8, interval_min=60)
        store = SqliteStore(data / "timeseries.sqlite3")
        store.write(list(readings(run.samples)))
        store.close()
        sessions = open_registry(sqlite_url(data / "registry.sqlite3"))
        field = fleet.fields[0].id
        with sessions() as session:
            import_fleet(session, fleet)
            farmer = create_token(session, name="petani", role=Role.FARMER, farmer_id=f"{field}-farmer")
        port = free_port()
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "panen",
                "api",
                "--port",
                str(port),
                "--refresh-minutes",
                "600",
                "--no-notify",
            ],
            env={**os.environ, "PANEN_DATA_DIR": tmp, "PANEN_LOG_LEVEL": "warning"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            headers = {"Authorization": f"Bearer {farmer}"}
            started = time.monotonic()
            while True:  # up, and the first forecast done (the page shows it)
                try:
                    if httpx.get(f"{base}/ready", timeout=10).json().get("forecasts_refreshed"):
                        break
                except (httpx.HTTPError, ValueError):
                    pass
                if time.monotonic() - started > 300:
                    raise RuntimeError("the API did not come up")
                time.sleep(0.5)
            page = httpx.get(f"{base}/f/{field}", headers=headers, timeout=30)
            if page.status_code != 200 or "Perkiraan panen" not in page.text:
                raise RuntimeError(f"field page: {page.status_code} {page.text[:300]}")
            out["field_page_bytes"] = len(page.content)
            # What a phone fetches on its first visit: the page, its script and its service worker
            # (issue 39: at most 15 KB).
            scripts = [httpx.get(f"{base}/f/{name}", timeout=30) for name in ("panen.js", "sw.js")]
            out["field_page_weight_bytes"] = len(page.content) + sum(
                len(s.content) for s in scripts if s.status_code == 200
            )
            out["field_page_has_forecast"] = "Waktu panen" in page.text
            print("load the field page ...", file=sys.stderr)
            for key, value in wrk(f"{base}/f/{field}", farmer, args.connections, args.seconds).items():
                out[f"field_page_{key}"] = value
            out["connections"] = args.connections
        finally:
            stop(server)
    hook.shutdown()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
