"""The field page in Debian's headless Chromium at a phone's viewport (360×740) with JavaScript off
(issue 17): a farmer signs in with their personal link, sees the frost on their field, acknowledges
it, records a harvest through the form, and the record is in ``/v1/harvest-records``. Screenshots go
to ``panen-screenshots/`` in the system's temporary folder (each run overwrites the last), or to
``docs/screenshots/`` when run by ``scripts/screenshots`` (look at them after a change to the
templates)."""

from __future__ import annotations

import re
import time

import httpx
from selenium.webdriver.common.by import By

from storage import local_day
from tests.pages.conftest import FIELD_PAGE_BUDGET, MAX_PAGE_BYTES, browser, press, shot, sign_in, until


def test_a_farmer_signs_in_acknowledges_the_frost_and_records_a_harvest_with_javascript_off(
    platform: tuple[str, str, str, str],
) -> None:
    base, link, token, field_id = platform
    driver = browser()
    try:
        driver.get(f"{base}/f/masuk")
        until(driver, "Kirim kode")
        shot(driver, "field-page-sign-in.png")
        driver.get(link)  # a page with a button: opening the link spends nothing (issue 37)
        until(driver, "Ini tautan masuk pribadi Anda")
        shot(driver, "field-page-sign-in-link.png")
        press(driver, "//button[text()='Masuk']")
        until(driver, "Lahan saya</h1>")
        assert driver.current_url == f"{base}/f"
        assert field_id in driver.page_source
        shot(driver, "field-page-my-fields.png")
        press(driver, f"//a[text()='{field_id}']")
        until(driver, "Perkiraan panen")
        assert "Awas embun upas" in driver.page_source
        assert "Kelembapan tanah, 7 hari" in driver.page_source
        assert "batas siram" in driver.page_source
        shot(driver, "field-page.png")
        press(driver, "//button[text()='Sudah saya baca']")
        until(driver, "Peringatan ditandai sudah dibaca.")
        driver.find_element(By.ID, "kg").send_keys("3250")
        press(driver, "//button[text()='Simpan panen']")
        until(driver, "Panen tersimpan")
        shot(driver, "field-page-harvest-recorded.png")
        driver.get(f"{base}/f/{field_id.rsplit('-f', 1)[0]}-f99")
        until(driver, "Perkiraan panen")
        assert "Data sudah lama" in driver.page_source
        assert "pembacaan terakhir 8 jam lalu" in driver.page_source
        assert "Lahan Tegal bawah" in driver.page_source  # its name, not its id (issue 39)
        assert "Tiang timur" in driver.page_source
        assert '<span class="muted">diam</span>' in driver.page_source  # the fleet view's state (issue 40)
        shot(driver, "field-page-stale.png")
    finally:
        driver.quit()
    records = httpx.get(f"{base}/v1/harvest-records", headers={"Authorization": f"Bearer {token}"}).json()
    assert [(r["field_id"], r["tonnes"], r["recorded_by"]) for r in records] == [
        (field_id, 3.25, "field page: Pak Slamet")
    ]
    alerts = httpx.get(
        f"{base}/v1/alerts?kind=frost_risk", headers={"Authorization": f"Bearer {token}"}
    ).json()
    assert alerts[0]["acknowledged_by"] == "field page: Pak Slamet"


def test_a_farmer_keeps_the_orchard_records_from_the_field_page(platform: tuple[str, str, str, str]) -> None:
    """Issue 20: an apple grower records the defoliation from the phone; a fruit count without the
    number of trees counted is refused with the reason, and nothing else is lost."""
    base, link, token, field_id = platform
    orchard = f"{field_id.rsplit('-f', 1)[0]}-apel"
    driver = browser()
    try:
        sign_in(driver, link)
        driver.get(f"{base}/f/{orchard}")
        until(driver, "Catatan kebun")
        assert "650 pohon, ditanam 2014" in driver.page_source
        assert "catat perompesan atau bunga mekar" in driver.page_source
        assert "Catat tanggal tanam" not in driver.page_source  # an orchard's planting is its trees'
        driver.find_element(By.ID, "kind").send_keys("Perompesan")
        press(driver, "//button[text()='Simpan catatan']")
        until(driver, "Catatan kebun tersimpan")
        assert "Perompesan" in driver.page_source.split("Tercatat:")[1]
        driver.find_element(By.ID, "kind").send_keys("Hitung")
        driver.find_element(By.ID, "fruits_per_tree").send_keys("80")
        press(driver, "//button[text()='Simpan catatan']")
        until(driver, "Catatan tidak tersimpan")
        assert "hitung buah perlu jumlah pohon contoh" in driver.page_source
        assert "needs trees_sampled" not in driver.page_source  # the API's words, not a grower's
        shot(driver, "field-page-orchard.png")
    finally:
        driver.quit()
    events = httpx.get(
        f"{base}/v1/fields/{orchard}/events", headers={"Authorization": f"Bearer {token}"}
    ).json()
    assert [(e["kind"], e["day"], e["recorded_by"]) for e in events] == [
        ("defoliation", local_day(int(time.time() * 1000)).isoformat(), "field page: Pak Slamet")
    ]


def test_every_page_is_light_and_runs_only_panens_own_script(platform: tuple[str, str, str, str]) -> None:
    """The pages work without JavaScript (the tests above); with it, the only script is panen's own,
    and the field page with its script and worker stays within 15 KB (issue 39)."""
    base, _link, token, field_id = platform
    headers = {"Authorization": f"Bearer {token}"}
    orchard = f"{field_id.rsplit('-f', 1)[0]}-apel"
    for path in ("/f/masuk", "/f", f"/f/{field_id}", f"/f/{orchard}"):
        r = httpx.get(base + path, headers=headers)
        assert r.status_code == 200, path
        assert len(r.content) <= MAX_PAGE_BYTES, (path, len(r.content))
        assert re.findall(r"<script[^>]*>", r.text) == ['<script src="/f/panen.js" defer>'], path
        assert r.headers["cache-control"] == "no-store"
    weight = sum(
        len(httpx.get(base + path, headers=headers).content)
        for path in (f"/f/{field_id}", "/f/panen.js", "/f/sw.js")
    )
    assert weight <= FIELD_PAGE_BUDGET, weight
