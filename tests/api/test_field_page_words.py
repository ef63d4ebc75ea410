"""The field page in a farmer's words (issue 39). Found on main: "rentang P10–P90", battery "4.17 V",
"tidak mengirim data 0 jam", and a frost warning listed below a sensor-battery notice."""

from __future__ import annotations

import datetime as dt
import re

from fastapi.testclient import TestClient

from sensors.reading import Reading
from services.forecasting import ForecastService
from services.kinds import AlertKind
from services.notify.messages import alert_message
from storage import TimeSeriesStore
from storage.db import Alert
from storage.db.engine import open_registry
from tests.api.conftest import auth
from tests.season import NOW_MS

Client = tuple[TestClient, dict[str, str], ForecastService]
MINE = "oro-oro-ombo-f01"


def test_ranges_and_batteries_in_plain_words(client: Client) -> None:
    c, tokens, _ = client
    page = c.get(f"/f/{MINE}", headers=auth(tokens["farmer"])).text
    assert "P10" not in page
    assert "P90" not in page
    assert "kemungkinan besar" in page
    assert "paling mungkin sekitar" in page
    states = re.findall(r"<td[^>]*>(baik|lemah|ganti baterai) <span class=\"muted\">\(([^)]+)\)", page)
    assert states, page  # the state first, the volts or percent beside it
    for _, detail in states:
        assert re.fullmatch(r"\d+(,\d+)? V|\d+ %", detail), detail  # 4,17 V, not 4.17 V


def test_a_frost_is_listed_before_a_battery(client: Client, registry_url: str) -> None:
    c, tokens, _ = client
    now = dt.datetime.now(dt.UTC)
    with open_registry(registry_url)() as session:
        # Alerts without facts are shown by their message: one word each, to find on the page.
        for kind, severity, minutes, word in (
            (AlertKind.BATTERY_LOW, "warning", 1, "BATTERYWORD"),
            (AlertKind.FROST_RISK, "critical", 30, "FROSTWORD"),
        ):
            session.add(Alert(kind=kind, subject=MINE, coop_id="oro-oro-ombo", field_id=MINE,
                              severity=severity, message=word, first_seen=now - dt.timedelta(minutes=minutes),
                              last_seen=now, active=True))  # fmt: skip
        session.commit()
    page = c.get(f"/f/{MINE}", headers=auth(tokens["farmer"])).text
    frost, battery = page.find("FROSTWORD"), page.find("BATTERYWORD")
    assert 0 <= frost < battery, (frost, battery)


def test_a_node_silent_for_minutes_says_minutes() -> None:
    text = alert_message(
        kind=AlertKind.NODE_OFFLINE, subject="n01", facts={"silent_h": 0.1}, english="", language="id",
        link="http://x/f", event="raised", unacknowledged_h=0.0,
    ).body  # fmt: skip
    assert "6 menit" in text
    assert "0 jam" not in text


def test_the_headline_water_state_tells_the_same_story_as_the_irrigation_alert(
    client: Client, store: TimeSeriesStore
) -> None:
    """Found on main: "36 % · perlu disiram" from one stray reading while no irrigation alert was
    raised. The headline now says "perlu disiram" exactly when the alert's rule holds."""
    c, tokens, _ = client
    farmer, admin = auth(tokens["farmer"]), auth(tokens["admin"])
    node = c.get("/v1/nodes", params={"site_id": MINE}, headers=admin).json()[0]["id"]
    # One stray reading, far below the irrigation threshold, as the newest of the field's.
    store.write([Reading(node, "oro-oro-ombo", MINE, "soil_vwc_pct", 4.0, NOW_MS - 60_000, 0)])
    assert c.post("/v1/alerts/evaluate", headers=admin).status_code == 200
    alerts = c.get("/v1/alerts", params={"kind": "irrigation_needed"}, headers=admin).json()
    raised = any(a["field_id"] == MINE and a["active"] for a in alerts)
    page = c.get(f"/f/{MINE}", headers=farmer).text
    assert ("perlu disiram" in page) == raised, (raised, re.findall(r"\d+ %[^<]*", page)[:3])
    assert "4 %" not in page.split("Kelembapan tanah")[1][:200]  # the day's figure, not the stray one
