"""``panen contact add``, ``panen notify link`` and ``panen notify test`` as an operator runs them
(issue 17): a test message reaches a real webhook through Apprise; a bad address or a channel without
its credentials is exit 2 with the reason; a link is printed for a farmer's contact."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from firmware_sim.fleet import batu_fleet
from services.registry_import import import_document
from storage.db.engine import open_registry, sqlite_url
from tests.notify_receivers import WebhookReceiver


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver().start()
    yield receiver
    receiver.stop()


def _panen(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PANEN_DATA_DIR": str(data),
        "PANEN_PUBLIC_URL": "http://panen.test",
        "COLUMNS": "200",
    }
    for key in ("PANEN_DB_URL", "PANEN_NOTIFY_WHATSAPP_TOKEN", "PANEN_NOTIFY_WHATSAPP_PHONE_ID"):
        env.pop(key, None)
    return subprocess.run(
        [sys.executable, "-m", "panen", *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_an_operator_adds_a_contact_prints_a_link_and_sends_a_test(
    tmp_path: Path, webhook: WebhookReceiver
) -> None:
    fleet = batu_fleet().subset(1, 1)
    with open_registry(sqlite_url(tmp_path / "registry.sqlite3"))() as session:
        import_document(session, fleet)
    farmer = f"{fleet.fields[0].id}-farmer"
    added = _panen(
        tmp_path, "contact", "add", "--name", "Pak Slamet", "--farmer", farmer, "--whatsapp", "0812 3456 7890"
    )
    assert added.returncode == 0, added.stderr
    listed = _panen(tmp_path, "contact", "list")
    assert "whatsapp:+6281234567890" in listed.stdout + listed.stderr
    again = _panen(tmp_path, "contact", "add", "--name", "Twice", "--farmer", farmer)
    assert again.returncode == 2
    assert "already has a contact" in again.stdout + again.stderr
    link = _panen(tmp_path, "notify", "link", "--farmer", farmer)
    assert link.returncode == 0, link.stderr
    assert link.stdout.strip().startswith("http://panen.test/f/masuk/")

    sent = _panen(tmp_path, "notify", "test", "--to", f"webhook:{webhook.url}")
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert [r.title for r in webhook.received] == ["Uji panen"]
    assert webhook.received[0].key.startswith("test:")

    bad = _panen(tmp_path, "notify", "test", "--to", "whatsapp:12")
    assert bad.returncode == 2
    assert "E.164" in bad.stdout + bad.stderr
    off = _panen(tmp_path, "notify", "test", "--to", "whatsapp:+6281234567890")
    assert off.returncode == 2
    assert "not configured" in off.stdout + off.stderr
    webhook.stop()
    down = _panen(tmp_path, "notify", "test", "--to", f"webhook:{webhook.url}")
    assert down.returncode == 1
    assert "not delivered" in down.stdout + down.stderr
