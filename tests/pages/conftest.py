"""What the browser tests of the field page share: a running platform with a farmer's season, and a
headless Chromium at a phone's viewport (Debian's ``chromium`` and ``chromedriver``)."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from api.app import create_app
from firmware_sim.fleet import batu_fleet
from panen.devservices import free_port
from sensors.reading import Reading
from services.access import Principal, Role, create_token
from services.forecasting import ForecastService
from services.notify.contacts import ContactSpec, create_contact
from services.notify.outbox import NotifyConfig, utc_now
from services.notify.signin import issue_link
from services.refresh import refresh
from services.registry_import import import_document
from storage import local_day
from storage.db import Field, Node
from storage.db.engine import open_registry, sqlite_url
from storage.sqlite import SqliteStore
from tests.season import NOW_MS, load_season

# Screenshots go to one folder under the system's temporary directory, each run overwriting the last
# (a folder per run, made at import by every worker, piled up in /tmp), so a test run leaves the working
# tree as it was; scripts/screenshots sets PANEN_SCREENSHOTS to docs/screenshots to render them for the docs.
SCREENSHOTS = Path(os.environ.get("PANEN_SCREENSHOTS") or Path(tempfile.gettempdir()) / "panen-screenshots")
TODAY = local_day(NOW_MS)
FLEET = batu_fleet(anchor=TODAY).subset(1, 3)
MAX_PAGE_BYTES = 150 * 1024
# The field page with its script and service worker, as a phone first fetches it (issue 39).
FIELD_PAGE_BUDGET = 15 * 1024


class LiveServer:
    def __init__(self, app: object, port: int) -> None:
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))  # type: ignore[arg-type]
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.05)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[tuple[str, str, str, str]]:
    """A running API with a season of readings, a frost on the farmer's field, the farmer's sign-in
    link and API token, and a second field of theirs whose sensor went quiet 8 hours ago; yields (base
    URL, link, farmer token, field id)."""
    store = SqliteStore(tmp_path / "ts.sqlite3")
    sessions = open_registry(sqlite_url(tmp_path / "registry.sqlite3"))
    coop, field = FLEET.cooperatives[0], FLEET.cooperatives[0].fields[0]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with sessions() as session:
        import_document(session, FLEET)
        contact = create_contact(
            session,
            Principal(0, "test", Role.ADMIN, None, None),
            ContactSpec(name="Pak Slamet", role=Role.FARMER, farmer_id=f"{field.id}-farmer"),
        )
        link = issue_link(session, contact, NotifyConfig(public_url=base), utc_now())
        token = create_token(session, name="petani", role=Role.FARMER, farmer_id=f"{field.id}-farmer")
    load_season(store, FLEET, days=30)
    store.write([Reading(field.node.id, coop.id, field.id, "air_temp_c", -0.8, NOW_MS - 3_600_000, 0)])
    with sessions() as session:  # a second field of the farmer's, its sensor quiet for 8 hours
        quiet = Field(id=f"{coop.id}-f99", coop_id=coop.id, farmer_id=f"{field.id}-farmer",
                      commodity="potato", variety="Granola", planting_date=TODAY - dt.timedelta(days=50),
                      area_ha=0.3, soil_texture="andosol", lat=field.lat, lon=field.lon,
                      elevation_m=1650, name="Tegal bawah")  # fmt: skip
        session.add(quiet)
        session.add(
            Node(
                id=f"{coop.id}-n99",
                coop_id=coop.id,
                site_id=quiet.id,
                format="native",
                interval_min=60,
                name="Tiang timur",
            )
        )
        # And an apple orchard of theirs (issue 20), with no record yet.
        session.add(
            Field(id=f"{coop.id}-apel", coop_id=coop.id, farmer_id=f"{field.id}-farmer", commodity="apple",
                  variety="Manalagi", planting_date=dt.date(2014, 1, 1), area_ha=0.5, soil_texture="andosol",
                  lat=field.lat, lon=field.lon, elevation_m=1300, tree_count=650)
        )  # fmt: skip
        session.commit()
    hours = range(8, 8 + 72)
    store.write(
        [
            Reading(
                f"{coop.id}-n99",
                coop.id,
                f"{coop.id}-f99",
                "soil_vwc_pct",
                30.0 + h % 5,
                NOW_MS - h * 3_600_000,
                0,
            )
            for h in hours
        ]
    )
    app = create_app(
        store, sessions, ForecastService(store, sessions, members=20), notify=NotifyConfig(public_url=base)
    )
    refresh(app.state.panen)
    with LiveServer(app, port):
        yield base, link, token, field.id
    store.close()


def browser(*, javascript: bool = False, profile: Path | None = None) -> webdriver.Chrome:
    """Chromium at 360×740, JavaScript off unless asked; with ``profile``, a user data folder that
    outlives the browser (a phone's browser closed and opened again)."""
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--lang=id"):
        options.add_argument(flag)
    options.add_experimental_option(
        "mobileEmulation", {"deviceMetrics": {"width": 360, "height": 740, "pixelRatio": 2}}
    )
    if not javascript:
        options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    if profile is not None:
        options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    driver.set_page_load_timeout(30)
    return driver


def press(driver: webdriver.Chrome, xpath: str) -> None:
    """Activate a link or button from the keyboard: chromedriver's click hangs under mobile (touch)
    emulation, and Enter is what a phone's "Go" key does."""
    driver.find_element(By.XPATH, xpath).send_keys(Keys.ENTER)


def until(driver: webdriver.Chrome, text: str, timeout_s: float = 20) -> None:
    """Wait until the page shows ``text`` and has arrived whole."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if text in driver.page_source and "</html>" in driver.page_source:
                return
        except Exception:  # the page is between two documents
            pass
        time.sleep(0.1)
    raise AssertionError(f"the page never showed {text!r}: {driver.current_url}")


def sign_in(driver: webdriver.Chrome, link: str) -> None:
    """Open the farmer's personal link and press *Masuk*: the list of their fields is shown."""
    driver.get(link)
    until(driver, "Ini tautan masuk pribadi Anda")
    press(driver, "//button[text()='Masuk']")
    until(driver, "Lahan saya</h1>")


def shot(driver: webdriver.Chrome, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # The whole page, as a phone would scroll it, at the phone's width.
    height = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]["height"]
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 360, "height": max(740, int(height)), "deviceScaleFactor": 2, "mobile": True},
    )
    driver.save_screenshot(str(SCREENSHOTS / name))
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 360, "height": 740, "deviceScaleFactor": 2, "mobile": True},
    )
