"""`panen demo` end to end, as a subprocess: on embedded defaults, and with a real Mosquitto and InfluxDB
configured."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import httpx
import numpy as np
import pytest

from forecast.plan import purchase_plan
from panen.devservices import InfluxServer, MosquittoServer, free_port
from storage.influx import InfluxStore

# One cooperative with its 10 fields: native, SenML, The Things Stack and ChirpStack nodes.
FORMAT_FIELDS = {
    "native": "oro-oro-ombo-f01",
    "senml": "oro-oro-ombo-f07",
    "tts-v3": "oro-oro-ombo-f09",
    "chirpstack-v4": "oro-oro-ombo-f10",
}


def _descendants(pid: int) -> set[int]:
    found: set[int] = set()
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                found.add(int(entry.name))
                frontier.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


# Oro-oro Ombo with its 12 fields (_check_api knows them); the small demo of four cooperatives.
ONE_COOP = ("--coops", "oro-oro-ombo", "--fields-per-coop", "12")
SMALL = ("--cooperatives", "4", "--fields-per-coop", "10")


class Demo:
    """`panen demo` in short mode, its output collected to a file."""

    def __init__(self, tmp: Path, env: dict[str, str], fleet: tuple[str, ...] = ONE_COOP) -> None:
        self.port = free_port()
        self.out = tmp / "demo.out"
        args = [sys.executable, "-m", "panen", "demo", *fleet,
                "--days", "5", "--port", str(self.port), "--mqtt-port", str(free_port()),
                "--speed", "600"]  # fmt: skip
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("PANEN_")}
        # Its output goes to a file, as `./scripts/demo > demo.txt` would: rich takes 80 columns.
        full_env.update({"PANEN_DATA_DIR": str(tmp / "data"), **env})
        full_env.pop("COLUMNS", None)
        with self.out.open("wb") as out:
            # Its own process group, so a failed test can stop the demo's children too (kill_all).
            self.proc = subprocess.Popen(
                args, env=full_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def kill_all(self) -> None:
        """SIGKILL the demo and everything it started (a failed test must leave no process behind)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def text(self) -> str:
        return self.out.read_text(errors="replace")

    def wait_running(self, timeout_s: float = 240) -> tuple[str, str]:
        deadline = time.monotonic() + timeout_s
        while "panen is running" not in self.text():
            assert self.proc.poll() is None, self.text()
            assert time.monotonic() < deadline, self.text()
            time.sleep(0.5)
        admin = re.search(r"admin token\s+(pn_\S+)", self.text())
        farmer = re.search(r"farmer token\s+(pn_\S+)", self.text())
        assert admin is not None, self.text()
        assert farmer is not None, self.text()
        return admin.group(1), farmer.group(1)

    def interrupt_and_check_nothing_left(self) -> None:
        children = _descendants(self.proc.pid)
        assert len(children) >= 3, children  # ingest, live simulator, API
        self.proc.send_signal(signal.SIGINT)
        assert self.proc.wait(20) == 0, self.text()
        deadline = time.monotonic() + 5
        while any(_alive(p) for p in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [p for p in children if _alive(p)], self.text()
        assert "stopped" in self.text()


def _check_api(api: str, admin: str, farmer: str) -> None:
    a, f = {"Authorization": f"Bearer {admin}"}, {"Authorization": f"Bearer {farmer}"}
    # Readings of every payload format arrived.
    for fmt, field in FORMAT_FIELDS.items():
        latest = httpx.get(f"{api}/v1/fields/{field}/readings/latest", headers=a, timeout=30).json()
        assert latest, (fmt, field)
        assert {r["metric"] for r in latest} & {"soil_vwc_pct", "soil_temp_c"}, (fmt, latest)
    # The plan is non-empty and equals the sum of its fields' forecast members.
    forecasts = httpx.get(f"{api}/v1/forecasts", params={"members": "true"}, headers=a, timeout=60).json()
    # Oro-oro Ombo's ten annual fields and its two keprok orchards (issue 20), whose growers' records
    # the demo entered.
    assert len(forecasts) == 12
    plan = httpx.get(f"{api}/v1/purchase-plan", params={"weeks": 26}, headers=a, timeout=60).json()
    assert plan
    # The keprok orchards' crops are forecast from the records the demo entered for their growers.
    events = httpx.get(f"{api}/v1/fields/oro-oro-ombo-o01/events", headers=a, timeout=30).json()
    assert events[0]["kind"] == "flowering"
    assert events[0]["recorded_by"] == "Petani oro-oro-ombo-o01"
    keprok = [x for x in forecasts if x["commodity"] == "citrus"]
    assert len(keprok) == 2
    assert all(x["basis"]["orchard"][0].startswith("flowering recorded on") for x in keprok), keprok
    dated = [x for x in keprok if x["harvest_date_p50"]]
    assert dated, keprok  # a keprok crop takes ~8 months: at least one is due within the horizon
    whole_year = httpx.get(
        f"{api}/v1/purchase-plan", params={"weeks": 52, "by": "commodity"}, headers=a, timeout=60
    ).json()
    assert "citrus" in {r["commodity"] for r in whole_year}
    # A keprok contract over the weeks keprok is forecast gets coverage and orders from the cooperative.
    # It starts today, so it comes before the demo's own keprok contract (a week from today) in
    # priority: starting at the keprok crops' P10 instead, it got only what the demo's 20 t left,
    # which was nothing in most members on some days of the year (CI, 2026-12-02).
    r = httpx.post(
        f"{api}/v1/contracts",
        json={"buyer": "Superindo", "commodity": "citrus", "tonnes": 1.0,
              "first_day": dt.datetime.now(dt.UTC).date().isoformat(),
              "last_day": max(x["harvest_date_p90"] for x in dated), "price_idr_per_kg": 12000},
        headers=a, timeout=30,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    coverage = httpx.get(f"{api}/v1/contracts/coverage", headers=a, timeout=60).json()["contracts"]
    mine = next(c for c in coverage if c["contract_id"] == r.json()["id"])
    assert mine["probability"] > 0, coverage
    assert mine["delivered_p50"] > 0, coverage
    orders = httpx.get(
        f"{api}/v1/contracts/allocation", params={"by": "contract"}, headers=a, timeout=60
    ).json()
    assert any(r.json()["id"] in o["contract_ids"] and o["tonnes"] > 0 for o in orders), orders
    # The demo's own contracts (the Kutai Timur deal) are there for what its fleet grows, and only that.
    grown = {f["commodity"] for f in httpx.get(f"{api}/v1/fields", headers=a, timeout=30).json()}
    demo = {c["commodity"] for c in coverage if c["contract_id"] != r.json()["id"]}
    assert demo == {"potato", "carrot", "citrus", "apple"} & grown
    assert "citrus" in demo
    issued = dt.date.fromisoformat(forecasts[0]["basis"]["issued"])
    members = [
        SimpleNamespace(
            commodity=x["commodity"],
            coop_id=x["coop_id"],
            members=len(x["members_tonnes"]),
            members_tonnes=x["members_tonnes"],
            members_harvest_date=[dt.date.fromisoformat(d) if d else None for d in x["members_harvest_date"]],
            member_deaths=np.array(x["members_died"]),
        )
        for x in forecasts
    ]
    expected = purchase_plan(members, start=issued, weeks=26)  # type: ignore[arg-type]
    assert [(r["commodity"], r["iso_week"], r["coop_id"]) for r in plan] == [
        (r.commodity, r.iso_week, r.coop_id) for r in expected
    ]
    for got, want in zip(plan, expected, strict=True):
        for q in ("tonnes_p10", "tonnes_p50", "tonnes_p90", "crop_death_tonnes"):
            # The plan shows tonnes to 0.1 t; the members it is summed from come to 4 decimals.
            assert got[q] == pytest.approx(round(getattr(want, q), 1), abs=0.1 + 1e-9)
    # Each printed token works with its role's scope.
    assert len(httpx.get(f"{api}/v1/fields", headers=a, timeout=30).json()) == 12
    own = httpx.get(f"{api}/v1/fields", headers=f, timeout=30).json()
    assert [x["id"] for x in own] == ["oro-oro-ombo-f01"]
    assert httpx.get(f"{api}/v1/fields/oro-oro-ombo-f02", headers=f, timeout=30).status_code == 403
    assert httpx.get(f"{api}/v1/purchase-plan", headers=f, timeout=30).status_code == 403


def _check_printout(text: str, api: str, admin: str) -> None:
    """Issue 36: the small demo shows Batu's potato, shallot and an orchard, the cash the plan needs,
    contracts only on what its fleet grows, and a track record with numbers (the season before),
    every name whole in 80 columns."""
    a = {"Authorization": f"Bearer {admin}"}
    plan = text[text.index("Coosae purchase plan") : text.index("Open contracts")]
    for crop in ("potato", "shallot", "cabbage"):
        assert re.search(rf"^\s*{crop}\s", plan, re.MULTILINE), plan
    assert re.search(r"^\s*(apple|citrus)\s", plan, re.MULTILINE), plan
    assert "cash, Rp mn" in plan, plan
    # No figure folded over two lines: a crop's row has its name, one cell a week and the total.
    weeks = len(re.findall(r"\bW\d\d\b", plan.splitlines()[2]))
    assert weeks == 8, plan
    rows = [line.split() for line in plan.splitlines() if re.match(r"^\s*[a-z_]+\s+[\d–]", line)]
    assert rows, plan
    assert all(len(row) == weeks + 2 for row in rows), plan
    assert "…" not in text, text  # nothing cut
    # No table wider than the page: rich crops a line it cannot fit, and its right border goes first.
    framed = [line.rstrip() for line in text.splitlines() if line.startswith(("┃", "│", "┏", "┗", "└", "┡"))]
    assert framed
    assert all(line.endswith(("┃", "│", "┓", "┛", "┘", "┩")) for line in framed), framed
    grown = {f["commodity"] for f in httpx.get(f"{api}/v1/fields", headers=a, timeout=30).json()}
    coverage = httpx.get(f"{api}/v1/contracts/coverage", headers=a, timeout=60).json()["contracts"]
    assert coverage
    # Nor a contract's dates (a window is its two dates, one a line).
    contracts = text[text.index("Open contracts") : text.index("Track record")]
    dates = re.findall(r"\b\d{4}-\d{2}-\d{2}\b", contracts)
    assert len(dates) == 2 * len(coverage), dates
    assert {c["commodity"] for c in coverage} <= grown
    assert all(c["margin_at_risk_idr"] is not None for c in coverage), coverage  # the demo's prices
    record = text[text.index("Track record") : text.index("Cooperatives with most open alerts")]
    skill = httpx.get(f"{api}/v1/forecasts/skill", params={"lead_days": 30}, headers=a, timeout=60).json()
    figured = [k for k in skill if k["tonnes_mape"] is not None]
    assert figured, skill
    for k in figured:
        assert f"{k['tonnes_mape']:.0%}" in record, (k, record)
    assert "Coosae (all cooperatives)" in text or "None" not in text


@pytest.mark.timeout(400)
def test_demo_on_embedded_defaults(tmp_path: Path) -> None:
    demo = Demo(tmp_path, {}, SMALL)
    try:
        admin, farmer = demo.wait_running()
        assert "embedded amqtt" in demo.text()
        assert (tmp_path / "data" / "timeseries.sqlite3").exists()
        api = f"http://127.0.0.1:{demo.port}"
        _check_printout(demo.text(), api, admin)
        f = {"Authorization": f"Bearer {farmer}"}
        assert len(httpx.get(f"{api}/v1/fields", headers=f, timeout=30).json()) == 1
        demo.interrupt_and_check_nothing_left()
    finally:
        demo.kill_all()


@pytest.mark.timeout(400)
def test_demo_uses_configured_mosquitto_and_influxdb(
    tmp_path: Path, mosquitto_server: MosquittoServer, influx_server: InfluxServer
) -> None:
    database = f"demo_{time.time_ns()}"
    influx_server.create_database(database)
    demo = Demo(
        tmp_path,
        {
            "PANEN_MQTT_URL": f"mqtt://127.0.0.1:{mosquitto_server.port}",
            "PANEN_INFLUX_URL": influx_server.url,
            "PANEN_INFLUX_DB": database,
        },
    )
    try:
        admin, farmer = demo.wait_running()
        text = demo.text()
        assert f"127.0.0.1:{mosquitto_server.port} (configured" in text
        assert "embedded amqtt" not in text
        assert f"InfluxDB {influx_server.url}" in text
        assert not (tmp_path / "data" / "timeseries.sqlite3").exists()
        store = InfluxStore(influx_server.url, database=database)
        try:
            for field in FORMAT_FIELDS.values():
                assert store.latest(site_ids=[field]), field
        finally:
            store.close()
        _check_api(f"http://127.0.0.1:{demo.port}", admin, farmer)
        demo.interrupt_and_check_nothing_left()
    finally:
        demo.kill_all()
