"""The notification policy with a controllable clock (issue 17): quiet hours (WIB) hold back all but
frost; an unacknowledged frost or dry field escalates to the cooperative's manager; an alert still
open is reminded once a day; silent nodes and low batteries wait for one morning digest; a person
gets at most their daily cap, frost excepted."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from firmware_sim.fleet import batu_fleet
from services.access import Principal, Role
from services.notify.channels import ChannelSettings
from services.notify.contacts import ContactSpec, create_contact
from services.notify.outbox import NotifyConfig, Sender, enqueue_raised, plan
from services.notify.policy import WIB, in_quiet_hours, quiet_hours_end
from services.registry_import import import_document
from storage.db import Alert, Notification
from storage.db.engine import open_registry

FLEET = batu_fleet(anchor=dt.date(2026, 11, 1)).subset(1, 6)
COOP = FLEET.cooperatives[0].id
FIELDS = [f.id for f in FLEET.fields]
ADMIN = Principal(0, "test", Role.ADMIN, None, None)
# The channel is configured but never reached: these tests watch the policy, with delivery recorded.
CONFIG = NotifyConfig(
    public_url="http://panen.test",
    channels=ChannelSettings(smtp_url="mailto://127.0.0.1:9?from=panen@example.org"),
)


def wib(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 12, day, hour, minute, tzinfo=WIB).astimezone(dt.UTC)


def _registry(url: str, *, cap: int = 12) -> sessionmaker[Session]:
    sessions = open_registry(url)
    with sessions() as session:
        import_document(session, FLEET)
        create_contact(
            session,
            ADMIN,
            ContactSpec(
                name="Pak Tani",
                role=Role.FARMER,
                farmer_id=f"{FIELDS[0]}-farmer",
                daily_cap=cap,
                channels=(("email", "tani@example.org"),),
            ),
        )
        create_contact(
            session,
            ADMIN,
            ContactSpec(
                name="Ketua", role=Role.COOP_MANAGER, coop_id=COOP, channels=(("email", "ketua@example.org"),)
            ),
        )
        # The farmer owns every field of the test, so each alert is theirs.
        from storage.db import Field

        for f in session.scalars(select(Field)):
            f.farmer_id = f"{FIELDS[0]}-farmer"
        session.commit()
    return sessions


def _raise(
    sessions: sessionmaker[Session], kind: str, at: dt.datetime, field: str = FIELDS[0], subject: str = ""
) -> int:
    with sessions() as session:
        alert = Alert(
            kind=kind,
            subject=subject or field,
            coop_id=COOP,
            field_id=field,
            severity="warning",
            message=f"{kind} on {field}",
            first_seen=at,
            last_seen=at,
            active=True,
            facts={"air_temp_c": -1.0} if kind == "frost_risk" else {"value": 3.2, "unit": "V"},
        )
        session.add(alert)
        session.flush()
        enqueue_raised(session, [alert], at, CONFIG)
        session.commit()
        return alert.id


def _messages(sessions: sessionmaker[Session], **where: object) -> list[Notification]:
    with sessions() as session:
        query = select(Notification).order_by(Notification.id)
        for key, value in where.items():
            query = query.where(getattr(Notification, key) == value)
        return list(session.scalars(query))


def _deliver(sessions: sessionmaker[Session], at: dt.datetime) -> list[str]:
    sent: list[str] = []

    def record(url: str, title: str, body: str) -> None:
        sent.append(f"{url.split('to=')[1].split('&')[0]}|{title}|{body}")

    Sender(sessions, CONFIG, clock=lambda: at, deliver_fn=record).deliver_due()  # type: ignore[arg-type]
    return sent


def test_quiet_hours_hold_back_irrigation_but_not_frost(registry_url: str) -> None:
    sessions = _registry(registry_url)
    _raise(sessions, "irrigation_needed", wib(1, 23))
    _raise(sessions, "frost_risk", wib(1, 23), field=FIELDS[1])
    at_night = _deliver(sessions, wib(1, 23, 5))
    # Only the frost, to the farmer and the manager (who hears about the whole cooperative).
    assert sorted(m.split("|")[:2] for m in at_night) == [
        ["ketua%40example.org", "Awas embun upas"],
        ["tani%40example.org", "Awas embun upas"],
    ]
    assert _deliver(sessions, wib(2, 4, 59)) == []
    morning = _deliver(sessions, wib(2, 5, 0))
    assert sorted(m.split("|")[1] for m in morning) == ["Perlu siram", "Perlu siram"]


def test_a_message_held_back_by_quiet_hours_is_dropped_if_its_alert_is_gone_by_morning(
    registry_url: str,
) -> None:
    sessions = _registry(registry_url)
    dry = _raise(sessions, "irrigation_needed", wib(1, 22))
    heat = _raise(sessions, "heat_stress", wib(1, 22), field=FIELDS[1])
    with sessions() as session:
        cleared, seen = session.get(Alert, dry), session.get(Alert, heat)
        assert cleared is not None
        assert seen is not None
        cleared.active = False  # the night's rain
        seen.acknowledged_at, seen.acknowledged_by = wib(1, 23), "Pak Tani"
        session.commit()
    assert _deliver(sessions, wib(2, 5, 0)) == []
    statuses = {(m.alert_id, m.status) for m in _messages(sessions)}
    assert statuses == {(dry, "cancelled"), (heat, "cancelled")}
    assert all(m.last_error for m in _messages(sessions))


def test_an_unacknowledged_frost_escalates_to_the_manager_once(registry_url: str) -> None:
    sessions = _registry(registry_url)
    t0 = wib(3, 2)
    frost = _raise(sessions, "frost_risk", t0)
    with sessions() as session:
        plan(session, t0 + dt.timedelta(minutes=29), CONFIG)
    assert _messages(sessions, event="escalation") == []
    for minutes in (31, 32, 45):
        with sessions() as session:
            plan(session, t0 + dt.timedelta(minutes=minutes), CONFIG)
    escalations = _messages(sessions, event="escalation")
    assert [m.address for m in escalations] == ["ketua@example.org"]
    assert escalations[0].body.startswith("[Eskalasi: belum ditanggapi 31 menit]")
    assert escalations[0].due_at == t0 + dt.timedelta(minutes=31)  # frost: through quiet hours
    # An acknowledged alert does not escalate.
    other = _raise(sessions, "frost_risk", t0, field=FIELDS[2])
    with sessions() as session:
        row = session.get(Alert, other)
        assert row is not None
        row.acknowledged_at, row.acknowledged_by = t0 + dt.timedelta(minutes=5), "Pak Tani"
        session.commit()
        plan(session, t0 + dt.timedelta(hours=2), CONFIG)
    assert [m.alert_id for m in _messages(sessions, event="escalation")] == [frost]


def test_an_open_alert_is_reminded_once_a_day(registry_url: str) -> None:
    sessions = _registry(registry_url)
    t0 = wib(4, 9)
    _raise(sessions, "heat_stress", t0)
    for hours in (23, 24, 30, 47):
        with sessions() as session:
            plan(session, t0 + dt.timedelta(hours=hours), CONFIG)
    assert len(_messages(sessions, event="reminder", address="tani@example.org")) == 1
    with sessions() as session:
        plan(session, t0 + dt.timedelta(hours=48), CONFIG)
    reminders = _messages(sessions, event="reminder", address="tani@example.org")
    assert len(reminders) == 2
    assert all(m.body.startswith("[Pengingat]") for m in reminders)


def test_silent_nodes_and_low_batteries_wait_for_one_morning_digest(registry_url: str) -> None:
    sessions = _registry(registry_url)
    t0 = wib(5, 10)
    _raise(sessions, "node_offline", t0, subject="node-a")
    _raise(sessions, "battery_low", t0, subject="node-b")
    assert _messages(sessions) == []  # nothing at once
    with sessions() as session:
        plan(session, wib(5, 18), CONFIG)  # the same day, after 06:00: today's digest was before them
        plan(session, wib(6, 5, 59), CONFIG)
    assert _messages(sessions, event="digest") == []
    with sessions() as session:
        plan(session, wib(6, 6, 0), CONFIG)
        plan(session, wib(6, 6, 30), CONFIG)
    digests = _messages(sessions, event="digest")
    farmer = [m for m in digests if m.address == "tani@example.org"]
    assert len(farmer) == 1
    assert "2 hal perlu diperiksa" in farmer[0].body
    assert "node-a" in farmer[0].body and "node-b" in farmer[0].body  # noqa: PT018
    assert {m.address for m in digests} == {"tani@example.org", "ketua@example.org"}


def test_the_daily_cap_holds_back_all_but_frost(registry_url: str) -> None:
    sessions = _registry(registry_url, cap=3)
    t0 = wib(7, 10)
    for field in FIELDS[:5]:
        _raise(sessions, "heat_stress", t0, field=field)
    _raise(sessions, "frost_risk", t0, field=FIELDS[5])
    mine = [m for m in _messages(sessions) if m.address == "tani@example.org"]
    assert [m.status for m in mine] == ["pending"] * 3 + ["capped"] * 2 + ["pending"]
    assert mine[-1].urgent
    assert "daily cap of 3" in (mine[3].last_error or "")
    # A new day, a new allowance.
    _raise(sessions, "heat_stress", wib(8, 10), field=FIELDS[0], subject="again")
    assert [m for m in _messages(sessions) if m.address == "tani@example.org"][-1].status == "pending"


@given(
    start=st.integers(0, 23),
    end=st.integers(0, 23),
    minute=st.integers(0, 7 * 24 * 60),
)
def test_quiet_hours_end_outside_quiet_hours_and_within_a_day(start: int, end: int, minute: int) -> None:
    when = wib(1, 0) + dt.timedelta(minutes=minute)
    after = quiet_hours_end(when, start, end)
    assert not in_quiet_hours(after, start, end)
    assert when <= after <= when + dt.timedelta(hours=24)
    assert (after == when) == (not in_quiet_hours(when, start, end))


def test_messages_name_a_field_and_a_node_as_people_do(registry_url: str) -> None:
    """Issue 39: a message says "Lahan Tegal atas" and "Tiang timur", not the registry's ids."""
    sessions = _registry(registry_url)
    with sessions() as session:
        from storage.db import Field, Node

        field = session.get(Field, FIELDS[0])
        node = session.scalars(select(Node).where(Node.site_id == FIELDS[0])).first()
        assert field is not None
        assert node is not None
        field.name, node.name, node_id = "Tegal atas", "Tiang timur", node.id
        session.commit()
    _raise(sessions, "frost_risk", wib(1, 12))
    _raise(sessions, "battery_low", wib(1, 3), subject=node_id)
    frost = _deliver(sessions, wib(1, 12, 1))
    assert frost
    assert all("Lahan Tegal atas" in m and FIELDS[0] + ":" not in m for m in frost)
    with sessions() as session:
        plan(session, wib(2, 6, 0), CONFIG)
    digests = _messages(sessions, event="digest")
    assert digests
    assert all("Tiang timur" in m.body and node_id not in m.body for m in digests), digests[0].body
