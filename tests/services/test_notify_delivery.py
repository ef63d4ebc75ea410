"""Alerts reach phones (issue 17): a frost at a high field raises ``frost_risk`` and, within one
refresh cycle, a message in Bahasa Indonesia arrives through Apprise at a real HTTP receiver (JSON
webhook) and a real SMTP server (aiosmtpd); a receiver down for an hour (a moved clock) gets it
exactly once when it is back; a sender killed with SIGKILL mid-batch loses nothing, and repeats only
the messages that were in flight, with their idempotency key."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from firmware_sim.fleet import batu_fleet
from sensors.reading import Reading
from services.access import Principal, Role
from services.forecasting import ForecastService
from services.notify.channels import ChannelSettings
from services.notify.contacts import ContactSpec, create_contact
from services.notify.messages import probe_message
from services.notify.outbox import NotifyConfig, Sender, SendReport, enqueue
from services.refresh import Platform, refresh
from services.registry_import import import_document
from storage import TimeSeriesStore, local_day
from storage.db import Alert, Contact, ContactChannel, Notification
from storage.db.engine import open_registry, sqlite_url
from tests.ingest.helpers import wait_for
from tests.notify_receivers import SmtpReceiver, WebhookReceiver
from tests.season import NOW_MS, load_season

TODAY = local_day(NOW_MS)
FLEET = batu_fleet(anchor=TODAY).subset(2, 3)
ADMIN = Principal(0, "test admin", Role.ADMIN, None, None)


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver().start()
    yield receiver
    receiver.stop()


def _high_field() -> tuple[str, str, str]:
    coop, field = max(
        ((c, f) for c in FLEET.cooperatives for f in c.fields), key=lambda cf: cf[1].elevation_m
    )
    return field.id, coop.id, field.node.id


def _frost_platform(
    store: TimeSeriesStore, registry_url: str, webhook: WebhookReceiver, smtp: SmtpReceiver, **config: object
) -> tuple[Platform, str]:
    sessions = open_registry(registry_url)
    field_id, coop_id, node_id = _high_field()
    with sessions() as session:
        import_document(session, FLEET)
        create_contact(
            session,
            ADMIN,
            ContactSpec(
                name="Pak Slamet",
                role=Role.FARMER,
                farmer_id=f"{field_id}-farmer",
                quiet_start_h=0,
                quiet_end_h=0,  # no quiet hours: the frost test is about delivery, not the clock
                channels=(("webhook", webhook.url), ("email", "slamet@example.org")),
            ),
        )
    load_season(store, FLEET, days=20)
    # A clear dry-season night above 1,500 m: -1.5 °C at the field, two hours ago.
    store.write([Reading(node_id, coop_id, field_id, "air_temp_c", -1.5, NOW_MS - 7_200_000, 0)])
    notify = NotifyConfig(
        public_url="http://panen.test",
        channels=ChannelSettings(smtp_url=smtp.apprise_url, timeout_s=5),
        retry_min_s=30,
        retry_max_s=1800,
        **config,  # type: ignore[arg-type]
    )
    return Platform(store, sessions, ForecastService(store, sessions, members=10), notify=notify), field_id


def test_a_frost_reaches_the_webhook_and_the_mailbox_in_bahasa_indonesia(
    store: TimeSeriesStore, registry_url: str, webhook: WebhookReceiver, smtp: SmtpReceiver
) -> None:
    platform, field_id = _frost_platform(store, registry_url, webhook, smtp)
    refresh(platform)
    with platform.sessions() as session:
        frost = session.scalars(
            select(Alert).where(Alert.kind == "frost_risk", Alert.field_id == field_id)
        ).one()
        queued = list(session.scalars(select(Notification).where(Notification.alert_id == frost.id)))
    assert {n.channel_kind for n in queued} == {"webhook", "email"}  # in the alert's own transaction
    report = Sender(platform.sessions, platform.notify).run_once()
    assert report.sent >= 2, report
    wait_for(lambda: len(smtp.received) >= 1, 20)
    hook = [r for r in webhook.received if r.key.startswith(f"raised:{frost.id}:")]
    mail = [r for r in smtp.received if r.key.startswith(f"raised:{frost.id}:")]
    assert len(hook) == 1
    assert len(mail) == 1
    for got in (hook[0], mail[0]):
        assert "Awas embun upas" in got.body
        assert field_id in got.body
        assert "-1.5 °C" in got.body
        assert f"http://panen.test/f/{field_id}" in got.body
    assert hook[0].title == "Awas embun upas"
    assert mail[0].title == "Awas embun upas"
    assert set(smtp.recipients) == {"slamet@example.org"}  # and no one else
    with platform.sessions() as session:
        statuses = {
            n.status for n in session.scalars(select(Notification).where(Notification.alert_id == frost.id))
        }
    assert statuses == {"sent"}
    # The next cycle finds the frost still there: the alert stays, and nothing is sent again.
    refresh(platform)
    Sender(platform.sessions, platform.notify).run_once()
    assert len([r for r in webhook.received if r.key.startswith("raised:")]) == 1


def test_a_receiver_down_for_an_hour_gets_the_message_exactly_once_when_back(
    store: TimeSeriesStore, registry_url: str, webhook: WebhookReceiver, smtp: SmtpReceiver
) -> None:
    platform, _field_id = _frost_platform(store, registry_url, webhook, smtp)
    webhook.stop()  # the channel is down before the frost is raised
    refresh(platform)
    clock = [dt.datetime.now(dt.UTC)]
    sender = Sender(platform.sessions, platform.notify, clock=lambda: clock[0])
    passes = 0
    while clock[0] - dt.datetime.now(dt.UTC) < dt.timedelta(hours=1):  # an hour, a pass every 30 s
        sender.deliver_due()
        clock[0] += dt.timedelta(seconds=30)
        passes += 1
    with platform.sessions() as session:
        hook = session.scalars(select(Notification).where(Notification.channel_kind == "webhook")).one()
    assert hook.status == "pending", hook.last_error
    assert hook.attempts >= 5, (hook.attempts, hook.last_error)
    assert hook.attempts < passes  # backed off: not tried on every pass
    assert "Connection" in (hook.last_error or "") or "connect" in (hook.last_error or "").lower()
    webhook.start()  # back, on the same port
    for _ in range(80):  # up to 40 minutes more: the back-off is capped at 30 min
        sender.deliver_due()
        clock[0] += dt.timedelta(seconds=30)
    assert Counter(webhook.keys()) == {hook.key: 1}
    with platform.sessions() as session:
        again = session.get(Notification, hook.id)
        assert again is not None
        assert again.status == "sent"
        assert session.scalars(select(Notification).where(Notification.status != "sent")).all() == []


def test_a_message_failing_past_its_deadline_is_failed_and_the_manager_sees_it(
    store: TimeSeriesStore, registry_url: str, webhook: WebhookReceiver, smtp: SmtpReceiver
) -> None:
    platform, _field_id = _frost_platform(
        store, registry_url, webhook, smtp, give_up_after=dt.timedelta(hours=2)
    )
    webhook.stop()
    refresh(platform)
    clock = [dt.datetime.now(dt.UTC)]
    sender = Sender(platform.sessions, platform.notify, clock=lambda: clock[0])
    for _ in range(200):
        sender.deliver_due()
        clock[0] += dt.timedelta(minutes=1)
    with platform.sessions() as session:
        hook = session.scalars(select(Notification).where(Notification.channel_kind == "webhook")).one()
        assert hook.status == "failed"
        assert hook.last_error
        assert hook.coop_id == _high_field()[1]  # what the cooperative's manager lists
    assert webhook.received == []


def _sender_process(registry_url: str, data_dir: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PANEN_DB_URL": registry_url,
        "PANEN_DATA_DIR": str(data_dir),
        "PANEN_NOTIFY_LEASE_S": "1",
        "PANEN_LOG_LEVEL": "warning",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "panen", "notify", "run", "--every", "0.1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_a_sender_killed_mid_batch_loses_nothing_and_repeats_only_what_was_in_flight(
    registry_url: str, tmp_path: Path
) -> None:
    webhook = WebhookReceiver(delay_s=0.05).start()
    try:
        sessions = open_registry(registry_url)
        now = dt.datetime.now(dt.UTC)
        with sessions() as session:
            import_document(session, FLEET)
            contact = create_contact(
                session,
                ADMIN,
                ContactSpec(
                    name="Bu Sri",
                    role=Role.FARMER,
                    farmer_id=f"{FLEET.fields[0].id}-farmer",
                    channels=(("webhook", webhook.url),),
                ),
            )
            channel = session.scalars(
                select(ContactChannel).where(ContactChannel.contact_id == contact.id)
            ).one()
            for i in range(120):
                enqueue(
                    session,
                    contact=session.get(Contact, contact.id),  # type: ignore[arg-type]
                    channels=[channel],
                    key=f"batch:{i}",
                    message=probe_message(language="id"),
                    event="test",
                    urgent=True,
                    due_at=now,
                    now=now,
                    capped=False,
                )
            session.commit()
            keys = set(session.scalars(select(Notification.key)))
        first = _sender_process(registry_url, tmp_path)
        wait_for(lambda: len(webhook.received) >= 30, 60)
        first.send_signal(signal.SIGKILL)
        first.wait()
        with sessions() as session:
            in_flight = set(session.scalars(select(Notification.key).where(Notification.status == "sending")))
            sent_before = set(session.scalars(select(Notification.key).where(Notification.status == "sent")))
        assert len(sent_before) < len(keys)  # killed mid-batch, not after it
        second = _sender_process(registry_url, tmp_path)
        try:
            wait_for(lambda: set(webhook.keys()) >= keys, 90)
            with sessions() as session:
                wait_for(
                    lambda: (
                        not session.scalars(
                            select(Notification.id).where(Notification.status != "sent")
                        ).all()
                    ),
                    30,
                )
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(10)
        arrived = Counter(webhook.keys())
        assert set(arrived) == keys  # nothing lost
        repeated = {k for k, n in arrived.items() if n > 1}
        assert repeated <= in_flight, (repeated, in_flight)  # only what was in flight at the kill
        assert all(arrived[k] == 2 for k in repeated)
        assert len(in_flight) <= NotifyConfig().workers
    finally:
        webhook.stop()


def test_the_api_raises_the_frost_and_delivers_it_by_itself(
    store: TimeSeriesStore, registry_url: str, webhook: WebhookReceiver, smtp: SmtpReceiver
) -> None:
    """`panen api`'s own threads: the refresh at start raises the frost, the sender delivers it."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    platform, field_id = _frost_platform(store, registry_url, webhook, smtp)
    app = create_app(
        store,
        platform.sessions,
        platform.forecasts,
        refresh_every_s=3600,
        notify=platform.notify,
        send_notifications=True,
    )
    with TestClient(app):
        wait_for(
            lambda: any("Awas embun upas" in r.body and field_id in r.body for r in webhook.received), 120
        )
        wait_for(lambda: any("Awas embun upas" in r.body for r in smtp.received), 30)


def test_stopping_the_sender_waits_for_the_pass_in_progress(tmp_path: Path) -> None:
    """The API closes the registry after its lifespan, so stopping waits for a delivery pass that is
    running (here one made slow) rather than returning under it."""
    started, finished = threading.Event(), threading.Event()

    class SlowSender(Sender):
        def deliver_due(self) -> SendReport:
            started.set()
            time.sleep(0.5)  # a pass's deliveries
            report = super().deliver_due()
            finished.set()
            return report

    sender = SlowSender(open_registry(sqlite_url(tmp_path / "registry.sqlite3")), NotifyConfig())
    sender.start(every_s=3600, plan_every_s=3600)
    assert started.wait(10)
    assert sender.stop()
    assert finished.is_set()
    assert sender.stop()  # stopping twice is harmless
