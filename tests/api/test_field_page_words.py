"""The field page in a farmer's words (issue 39). Found on main: "rentang P10–P90", battery "4.17 V",
"tidak mengirim data 0 jam", and a frost warning listed below a sensor-battery notice."""

from __future__ import annotations

import datetime as dt
import re

from fastapi.testclient import TestClient

from services.forecasting import ForecastService
from services.kinds import AlertKind
from services.notify.messages import alert_message
from storage.db import Alert
from storage.db.engine import open_registry
from tests.api.conftest import auth

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
