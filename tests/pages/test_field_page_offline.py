"""The field page without signal, in headless Chromium with JavaScript on (issue 39). Found on main:
submitting a harvest offline showed Chromium's English ``ERR_INTERNET_DISCONNECTED`` page and kept
nothing. Now the page, once opened, stays readable offline (saying since when), a harvest typed
offline is kept on the phone as "belum terkirim", survives the browser being closed, and is sent
once when the signal is back. The network is cut with the DevTools protocol's network emulation, for
the page and its service worker alike."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
from selenium import webdriver
from selenium.webdriver.common.by import By

from tests.pages.conftest import browser, press, shot, sign_in, until

Platform = tuple[str, str, str, str]


def _signal(driver: webdriver.Chrome, on: bool) -> None:
    """Cut or restore the network for the page and for its service worker: the worker is its own
    DevTools target, which the page's emulation does not reach, so each target is told."""
    conditions = {"offline": not on, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.emulateNetworkConditions", conditions)
    targets: list[dict[str, Any]] = driver.execute_cdp_cmd("Target.getTargets", {})["targetInfos"]
    for target in targets:
        if target["type"] == "service_worker":
            session = driver.execute_cdp_cmd(
                "Target.attachToTarget", {"targetId": target["targetId"], "flatten": False}
            )["sessionId"]
            for method, params in (("Network.enable", {}), ("Network.emulateNetworkConditions", conditions)):
                message = f'{{"id": 1, "method": "{method}", "params": {json.dumps(params)}}}'
                driver.execute_cdp_cmd(
                    "Target.sendMessageToTarget", {"sessionId": session, "message": message}
                )


def _controlled(driver: webdriver.Chrome, url: str) -> None:
    """Open ``url`` until the service worker controls it (the first visit installs the worker)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        driver.get(url)
        until(driver, "Perkiraan panen")
        if driver.execute_script("return !!(navigator.serviceWorker && navigator.serviceWorker.controller)"):
            return
        time.sleep(0.3)
    raise AssertionError("the service worker never took control of the field page")


def _records(base: str, token: str, field_id: str) -> list[tuple[float, str]]:
    rows = httpx.get(
        f"{base}/v1/harvest-records",
        params={"field_id": field_id},
        headers={"Authorization": f"Bearer {token}"},
    ).json()
    return [(r["tonnes"], r["recorded_by"]) for r in rows]


def test_a_harvest_typed_offline_is_kept_survives_a_restart_and_is_sent_once(
    platform: Platform, tmp_path: Path
) -> None:
    base, link, token, field_id = platform
    profile = tmp_path / "phone"
    page = f"{base}/f/{field_id}"
    driver = browser(javascript=True, profile=profile)
    try:
        sign_in(driver, link)
        _controlled(driver, page)
        _controlled(driver, page)  # now kept by the worker, as a phone keeps what it last opened
        _signal(driver, on=False)
        assert driver.execute_script("return navigator.onLine") is False
        driver.get(page)
        until(driver, "Tidak ada sinyal.")
        assert "Halaman ini disimpan" in driver.page_source
        driver.find_element(By.ID, "kg").send_keys("1.500")
        press(driver, "//button[text()='Simpan panen']")
        until(driver, "Belum terkirim")
        assert driver.find_element(By.ID, "antrean").is_displayed()
        assert "1.500 kg" in driver.find_element(By.ID, "antrean").text
        shot(driver, "field-page-offline.png")
    finally:
        driver.quit()
    assert _records(base, token, field_id) == []  # nothing reached panen

    # The browser closed and opened again, still without signal: the record is still there.
    driver = browser(javascript=True, profile=profile)
    try:
        _signal(driver, on=False)
        driver.get(page)
        until(driver, "Belum terkirim")
        assert "1.500 kg" in driver.find_element(By.ID, "antrean").text
        assert _records(base, token, field_id) == []
        # The signal is back: "Kirim sekarang" sends it, once.
        _signal(driver, on=True)
        press(driver, "//button[text()='Kirim sekarang']")
        until(driver, "Panen tersimpan")
        assert not driver.find_element(By.ID, "antrean").is_displayed()
        driver.get(page)  # opened again with signal: nothing left to send, nothing sent twice
        until(driver, "Perkiraan panen")
        time.sleep(1)
        assert _records(base, token, field_id) == [(1.5, "field page: Pak Slamet")]
        # Typed into the wrong field: the farmer voids it, with a reason.
        press(driver, "//summary[text()='Batalkan atau perbaiki']")
        reason = driver.find_element(By.XPATH, "//form[contains(@action, '/batal')]//input[@name='reason']")
        reason.send_keys("salah lahan")
        shot(driver, "field-page-void.png")
        press(driver, "//button[text()='Batalkan catatan ini']")
        until(driver, "Catatan panen dibatalkan")
    finally:
        driver.quit()
    assert _records(base, token, field_id) == []
    voided = httpx.get(
        f"{base}/v1/harvest-records", params={"field_id": field_id, "include_voided": True},
        headers={"Authorization": f"Bearer {token}"},
    ).json()  # fmt: skip
    assert [(r["tonnes"], r["void_reason"]) for r in voided] == [(1.5, "salah lahan")]


def test_a_form_sent_twice_is_saved_once(platform: Platform) -> None:
    """A retry after a lost answer sends the same form again, key and all: both requests reach panen
    at once, one record is kept, and the second answer says it was saved already."""
    base, link, token, field_id = platform
    driver = browser(javascript=True)
    try:
        sign_in(driver, link)
        driver.get(f"{base}/f/{field_id}")
        until(driver, "Catat panen")
        driver.find_element(By.ID, "kg").send_keys("2.000")
        landed = driver.execute_async_script(
            """
            const done = arguments[arguments.length - 1];
            const form = document.querySelector("form[data-antre]");
            const body = () => new URLSearchParams(new FormData(form));
            const send = () => fetch(form.action, {method: "POST", body: body()}).then(r => r.url);
            Promise.all([send(), send()]).then(done, e => done(String(e)));
            """
        )
    finally:
        driver.quit()
    assert sorted(url.rsplit("?", 1)[1] for url in landed) == ["ok=panen", "ok=sudah"], landed
    assert _records(base, token, field_id) == [(2.0, "field page: Pak Slamet")]


def test_signing_out_forgets_the_pages_kept_for_offline(platform: Platform) -> None:
    """A shared phone: after "Keluar", the farmer's pages are not readable offline by the next person."""
    base, link, _token, field_id = platform
    driver = browser(javascript=True)
    try:
        sign_in(driver, link)
        _controlled(driver, f"{base}/f/{field_id}")
        _controlled(driver, f"{base}/f/{field_id}")
        driver.get(f"{base}/f")
        until(driver, "Lahan saya</h1>")
        press(driver, "//button[text()='Keluar']")
        until(driver, "Kirim kode")
        time.sleep(0.5)  # the worker forgets the pages while the sign-in page loads
        _signal(driver, on=False)
        driver.get(f"{base}/f/{field_id}")
        until(driver, "belum pernah dibuka di HP ini")
        assert "Perkiraan panen" not in driver.page_source
    finally:
        driver.quit()
