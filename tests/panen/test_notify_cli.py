"""``panen contact add``, ``panen notify link`` and ``panen notify test`` as an operator runs them
(issue 17): a test message reaches a real webhook through Apprise; a bad address or a channel without
its credentials is exit 2 with the reason; a link is printed for a farmer's contact."""

from __future__ import annotations

import datetime as dt
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


def _panen(
    data: Path, *args: str, public_url: str | None = "http://panen.test"
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PANEN_DATA_DIR": str(data), "COLUMNS": "200"}
    env.pop("PANEN_PUBLIC_URL", None)
    if public_url is not None:
        env["PANEN_PUBLIC_URL"] = public_url
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
    assert "PANEN_PUBLIC_URL" not in link.stderr
    # Unset, the link points at the default, and says so (issue 40: a demo on another port).
    unset = _panen(tmp_path, "notify", "link", "--farmer", farmer, public_url=None)
    assert unset.stdout.strip().startswith("http://127.0.0.1:8000/f/masuk/")
    assert "PANEN_PUBLIC_URL is not set" in unset.stderr

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
    # The exact variable to set, with an example (issue 40: it said "see PANEN_NOTIFY_* settings").
    assert "PANEN_NOTIFY_WHATSAPP_TOKEN" in off.stdout + off.stderr
    webhook.stop()
    down = _panen(tmp_path, "notify", "test", "--to", f"webhook:{webhook.url}")
    assert down.returncode == 1
    assert "not delivered" in down.stdout + down.stderr


def test_a_failed_message_is_sent_again_by_notify_retry_to_a_real_smtp_server(tmp_path: Path) -> None:
    """Issue 40: a notification that failed (the SMTP server was down) stayed failed for good. Once
    the server is back, ``panen notify retry`` puts it back in the outbox and the sender delivers it."""
    from sqlalchemy import select

    from services.access import Principal, Role
    from services.notify.channels import ChannelSettings
    from services.notify.contacts import ContactSpec, create_contact
    from services.notify.messages import probe_message
    from services.notify.outbox import NotifyConfig, Sender, enqueue, utc_now
    from storage.db import ContactChannel, Notification
    from tests.notify_receivers import SmtpReceiver

    smtp = SmtpReceiver()  # its port chosen, not listening yet: the server is down
    sessions = open_registry(sqlite_url(tmp_path / "registry.sqlite3"))
    now = utc_now()
    with sessions() as session:
        spec = ContactSpec(name="Bu Sri", role=Role.ADMIN, channels=(("email", "sri@example.org"),))
        contact = create_contact(session, Principal(0, "t", Role.ADMIN, None, None), spec)
        channel = session.scalars(select(ContactChannel).where(ContactChannel.contact_id == contact.id)).one()
        probe = probe_message(language="id")
        enqueue(session, contact=contact, channels=[channel], key="retry:1", message=probe, event="test",
                urgent=True, due_at=now, now=now, capped=False)  # fmt: skip
        session.commit()
    config = NotifyConfig(channels=ChannelSettings(smtp_url=smtp.apprise_url), give_up_after=dt.timedelta(0))
    assert Sender(sessions, config).deliver_due().failed == 1
    assert _panen(tmp_path, "notify", "retry", "999").stderr.strip() == "no failed notification to send again"
    again = _panen(tmp_path, "notify", "retry")
    assert again.returncode == 0, again.stderr
    assert "1 notifications back in the outbox" in again.stderr
    smtp.start()
    try:
        assert Sender(sessions, config).deliver_due().sent == 1
    finally:
        smtp.stop()
    assert [r.title for r in smtp.received] == ["Uji panen"]
    with sessions() as session:
        assert [n.status for n in session.scalars(select(Notification))] == ["sent"]
