"""Channels prove their owner (issue 37): an address anyone but the admin adds gets one confirmation (a
code and a link, no word anyone chose) and nothing else until its owner confirms it; the link's GET
and HEAD confirm nothing; requested messages pass the contact's daily cap, a per-sender and a
per-address limit; codes and links are blanked in the outbox once delivered. Messages go through
Apprise to a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from firmware_sim.fleet import batu_fleet
from services import InvalidInput, RateLimited
from services.access import Principal, Role, create_token
from services.notify.allowance import CONFIRMATIONS_PER_ADDRESS_PER_DAY, SENDER_MESSAGES_PER_HOUR
from services.notify.channels import ChannelSettings
from services.notify.contacts import (
    ContactSpec,
    add_channel,
    ask_confirmation,
    create_contact,
    remove_channel,
    send_test,
)
from services.notify.outbox import FORGOTTEN, NotifyConfig, Sender
from services.registry_import import import_fleet
from storage import TimeSeriesStore
from storage.db import Contact, ContactChannel, Notification
from storage.db.engine import open_registry
from tests.api.conftest import TODAY, auth
from tests.notify_receivers import SmtpReceiver

MINE, NEIGHBOUR = "oro-oro-ombo-f01", "oro-oro-ombo-f02"
PREVIEWERS = ("WhatsApp/2.23.20.0", "TelegramBot (like TwitterBot)", "facebookexternalhit/1.1")


@dataclass
class Mail:
    c: TestClient
    tokens: dict[str, str]
    sender: Sender
    smtp: SmtpReceiver
    sessions: sessionmaker[Session]

    def deliver(self) -> None:
        self.sender.deliver_due()

    def mails_to(self, address: str) -> list[str]:
        """The bodies of the mails ``address`` received (aiosmtpd keeps recipients and mails in order;
        every mail here has one recipient)."""
        return [
            m.body
            for rcpt, m in zip(self.smtp.recipients, self.smtp.received, strict=True)
            if rcpt == address
        ]


@pytest.fixture
def mail(store: TimeSeriesStore, registry_url: str) -> Iterator[Mail]:
    smtp = SmtpReceiver().start()
    sessions = open_registry(registry_url)
    with sessions() as session:
        import_fleet(session, batu_fleet(anchor=TODAY).subset(2, 3))
        tokens = {
            "admin": create_token(session, name="admin", role=Role.ADMIN),
            "manager": create_token(session, name="ketua", role=Role.COOP_MANAGER, coop_id="oro-oro-ombo"),
            "farmer": create_token(session, name="petani", role=Role.FARMER, farmer_id=f"{MINE}-farmer"),
        }
    notify = NotifyConfig(
        public_url="http://panen.test", channels=ChannelSettings(smtp_url=smtp.apprise_url, timeout_s=5)
    )
    with TestClient(create_app(store, sessions, notify=notify)) as c:
        yield Mail(c, tokens, Sender(sessions, notify), smtp, sessions)
    smtp.stop()


def _contact(m: Mail, who: str, farmer_field: str, email: str) -> dict[str, object]:
    body = {"name": "Pak Slamet", "role": "farmer", "farmer_id": f"{farmer_field}-farmer", "quiet_start_h": 0,
            "quiet_end_h": 0, "channels": [{"kind": "email", "address": email}]}  # fmt: skip
    r = m.c.post("/v1/contacts", json=body, headers=auth(m.tokens[who]))
    assert r.status_code == 201, r.text
    return dict(r.json())


def _channel(contact: dict[str, object], address: str) -> dict[str, object]:
    channels = contact["channels"]
    assert isinstance(channels, list)
    return dict(next(ch for ch in channels if ch["address"] == address))


def test_a_farmer_cannot_have_panen_mail_a_stranger(mail: Mail) -> None:
    """Found on main: a farmer added victim@example.org to their own contact and called the test 30
    times: 120 messages queued, 30 e-mails delivered. Now the stranger gets one confirmation, which
    names no one and says to ignore it, and nothing else."""
    m = mail
    mine = _contact(m, "admin", MINE, "slamet@example.org")  # the admin vouches for it
    assert _channel(mine, "slamet@example.org")["confirmed"] is True
    farmer = auth(m.tokens["farmer"])
    added = m.c.post(
        f"/v1/contacts/{mine['id']}/channels", json={"kind": "email", "address": "victim@example.org"},
        headers=farmer,
    )  # fmt: skip
    assert added.status_code == 201, added.text
    assert _channel(added.json(), "victim@example.org")["confirmed"] is False
    answers = [m.c.post(f"/v1/contacts/{mine['id']}/test", headers=farmer).status_code for _ in range(30)]
    assert answers == [201] * 3 + [429] * 27
    m.deliver()
    to_victim = m.mails_to("victim@example.org")
    assert len(to_victim) == 1, to_victim
    assert "Jika bukan, abaikan pesan ini" in to_victim[0]
    assert "Slamet" not in to_victim[0]
    assert len(m.mails_to("slamet@example.org")) == 3  # the tests, to the vouched address only
    with m.sessions() as session:
        events = Counter(
            n.event
            for n in session.scalars(select(Notification).where(Notification.address == "victim@example.org"))
        )
        assert events == {"confirm": 1}
        # Delivered: the outbox keeps that it went, not the code and link.
        body = session.scalars(select(Notification.body).where(Notification.event == "confirm")).one()
        assert body == FORGOTTEN


def test_an_address_carries_messages_once_its_owner_gives_the_code(mail: Mail) -> None:
    m = mail
    manager, farmer = auth(m.tokens["manager"]), auth(m.tokens["farmer"])
    contact = _contact(m, "manager", MINE, "tani@example.org")
    channel = _channel(contact, "tani@example.org")
    assert channel["confirmed"] is False
    # Unconfirmed, it carries nothing: no test, no sign-in code.
    assert m.c.post(f"/v1/contacts/{contact['id']}/test", headers=farmer).status_code == 422
    m.c.post("/f/masuk", data={"address": "tani@example.org"})
    m.deliver()
    (confirmation,) = m.mails_to("tani@example.org")
    found = re.search(r"kode (\d{6})", confirmation)
    assert found is not None, confirmation
    code = found.group(1)
    wrong = "000000" if code != "000000" else "111111"
    url = f"/v1/contacts/{contact['id']}/channels/{channel['id']}/confirm"
    r = m.c.post(url, json={"code": wrong}, headers=manager)
    assert r.status_code == 422
    assert "4 tries left" in r.json()["detail"]
    assert m.c.post(url, json={"code": "12345"}, headers=manager).status_code == 422  # not six digits
    r = m.c.post(url, json={"code": code}, headers=manager)
    assert r.status_code == 200, r.text
    assert _channel(r.json(), "tani@example.org")["confirmed_by"] == "code given to ketua"
    assert m.c.post(f"/v1/contacts/{contact['id']}/test", headers=farmer).status_code == 201
    m.deliver()
    assert len(m.mails_to("tani@example.org")) == 2  # the confirmation, then the test


def test_five_wrong_codes_end_a_confirmation_and_a_new_one_can_be_asked(mail: Mail) -> None:
    m = mail
    manager = auth(m.tokens["manager"])
    contact = _contact(m, "manager", MINE, "tani@example.org")
    channel = _channel(contact, "tani@example.org")
    base = f"/v1/contacts/{contact['id']}/channels/{channel['id']}"
    m.deliver()
    (first,) = m.mails_to("tani@example.org")
    code = re.search(r"kode (\d{6})", first).group(1)  # type: ignore[union-attr]
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(5):
        assert m.c.post(f"{base}/confirm", json={"code": wrong}, headers=manager).status_code == 422
    dead = m.c.post(f"{base}/confirm", json={"code": code}, headers=manager)  # right, but too late
    assert dead.status_code == 422
    assert "no open confirmation" in dead.json()["detail"]
    assert m.c.post(f"{base}/confirmation", headers=manager).status_code == 202
    m.deliver()
    second = m.mails_to("tani@example.org")[1]
    new_code = re.search(r"kode (\d{6})", second).group(1)  # type: ignore[union-attr]
    assert m.c.post(f"{base}/confirm", json={"code": new_code}, headers=manager).status_code == 200
    again = m.c.post(f"{base}/confirmation", headers=manager)
    assert again.status_code == 422
    assert "confirmed already" in again.json()["detail"]


def test_only_the_owners_press_confirms_or_removes_an_address(mail: Mail) -> None:
    """A messenger's preview (GET, HEAD) of the confirmation link changes nothing; *Ya, ini saya*
    confirms once; *Bukan saya* removes the channel."""
    m = mail
    contact = _contact(m, "manager", MINE, "tani@example.org")
    farmer = auth(m.tokens["farmer"])
    m.c.post(f"/v1/contacts/{contact['id']}/channels", json={"kind": "email", "address": "other@example.org"},
             headers=farmer)  # fmt: skip
    m.deliver()
    links = {}
    for address in ("tani@example.org", "other@example.org"):
        (text,) = m.mails_to(address)
        found = re.search(r"http://panen\.test(/f/pastikan/[A-Za-z0-9_-]+)", text)
        assert found is not None, text
        links[address] = found.group(1)
    for agent in PREVIEWERS:
        page = m.c.get(links["tani@example.org"], headers={"User-Agent": agent})
        assert page.status_code == 200
        assert "Ya, ini saya" in page.text
        assert m.c.head(links["tani@example.org"], headers={"User-Agent": agent}).status_code == 200
    secret = links["tani@example.org"].rsplit("/", 1)[1]
    state = m.c.get(f"/v1/contacts/{contact['id']}", headers=farmer).json()
    assert _channel(state, "tani@example.org")["confirmed"] is False
    yes = m.c.post("/f/pastikan", data={"secret": secret, "answer": "ya"})
    assert yes.status_code == 200
    assert "sudah dipastikan" in yes.text
    assert m.c.post("/f/pastikan", data={"secret": secret, "answer": "ya"}).status_code == 410
    assert m.c.get(links["tani@example.org"]).status_code == 410
    other = links["other@example.org"].rsplit("/", 1)[1]
    no = m.c.post("/f/pastikan", data={"secret": other, "answer": "bukan"})
    assert no.status_code == 200
    assert "dihapus" in no.text
    state = m.c.get(f"/v1/contacts/{contact['id']}", headers=farmer).json()
    assert [ch["address"] for ch in state["channels"]] == ["tani@example.org"]
    assert _channel(state, "tani@example.org")["confirmed_by"] == "its owner, by the link"


def test_one_address_hears_few_confirmations_whoever_asks(mail: Mail) -> None:
    m = mail
    farmer, manager = auth(m.tokens["farmer"]), auth(m.tokens["manager"])
    mine = _contact(m, "admin", MINE, "slamet@example.org")
    neighbour = _contact(m, "admin", NEIGHBOUR, "budi@example.org")
    victim = {"kind": "email", "address": "victim@example.org"}
    for n in range(CONFIRMATIONS_PER_ADDRESS_PER_DAY):
        who, contact = (farmer, mine) if n % 2 == 0 else (manager, neighbour)
        r = m.c.post(f"/v1/contacts/{contact['id']}/channels", json=victim, headers=who)
        assert r.status_code == 201, r.text
        if who is farmer:  # removed and added again: a fresh confirmation each time
            ch = _channel(r.json(), "victim@example.org")
            assert (
                m.c.delete(f"/v1/contacts/{contact['id']}/channels/{ch['id']}", headers=who).status_code
                == 204
            )
    refused = m.c.post(f"/v1/contacts/{mine['id']}/channels", json=victim, headers=farmer)
    assert refused.status_code == 429
    assert "confirmations in the last day" in refused.json()["detail"]
    assert 0 < int(refused.headers["retry-after"]) <= 86400
    addresses = [
        ch["address"] for ch in m.c.get(f"/v1/contacts/{mine['id']}", headers=farmer).json()["channels"]
    ]
    assert "victim@example.org" not in addresses  # refused, not added silently
    m.deliver()
    assert len(m.mails_to("victim@example.org")) == CONFIRMATIONS_PER_ADDRESS_PER_DAY


def test_a_sender_asks_for_a_bounded_number_of_messages_an_hour(mail: Mail) -> None:
    """A manager enrolling people confirms many addresses; past the hourly limit, more wait."""
    m = mail
    manager = auth(m.tokens["manager"])
    answers = []
    for n in range(SENDER_MESSAGES_PER_HOUR + 2):
        body = {"name": f"Pengurus {n}", "role": "coop_manager", "coop_id": "oro-oro-ombo",
                "channels": [{"kind": "email", "address": f"pengurus{n}@example.org"}]}  # fmt: skip
        answers.append(m.c.post("/v1/contacts", json=body, headers=manager))
    assert [a.status_code for a in answers] == [201] * SENDER_MESSAGES_PER_HOUR + [429] * 2
    assert "in the last hour" in answers[-1].json()["detail"]
    names = {c["name"] for c in m.c.get("/v1/contacts", headers=manager).json()}
    assert f"Pengurus {SENDER_MESSAGES_PER_HOUR}" not in names  # nothing half-made
    # The admin's own additions are vouched for and send no confirmation: no limit to meet.
    body = {"name": "Kantor", "role": "coop_manager", "coop_id": "oro-oro-ombo",
            "channels": [{"kind": "email", "address": "kantor@example.org"}]}  # fmt: skip
    assert m.c.post("/v1/contacts", json=body, headers=auth(m.tokens["admin"])).status_code == 201


def test_the_daily_cap_counts_every_kind_of_message(mail: Mail) -> None:
    """Tests, sign-in codes and confirmations count against the person's daily cap like alerts do."""
    m = mail
    contact = _contact(m, "admin", MINE, "slamet@example.org")
    admin, farmer = auth(m.tokens["admin"]), auth(m.tokens["farmer"])
    assert m.c.patch(f"/v1/contacts/{contact['id']}", json={"daily_cap": 2}, headers=admin).status_code == 200
    assert m.c.post(f"/v1/contacts/{contact['id']}/test", headers=farmer).status_code == 201
    m.c.post("/f/masuk", data={"address": "slamet@example.org"})  # a sign-in code: the second message
    capped = m.c.post(f"/v1/contacts/{contact['id']}/test", headers=farmer)
    assert capped.status_code == 429
    assert "daily cap" in capped.json()["detail"]
    m.c.post("/f/masuk", data={"address": "slamet@example.org"})  # answered alike, but nothing is sent
    extra = {"kind": "email", "address": "x@example.org"}
    more = m.c.post(f"/v1/contacts/{contact['id']}/channels", json=extra, headers=farmer)
    assert more.status_code == 429
    with m.sessions() as session:
        events = Counter(session.scalars(select(Notification.event)))
    assert events == {"test": 1, "sign_in": 1}


ADDRESSES = st.one_of(
    st.tuples(st.just("email"), st.emails(domains=st.sampled_from(["example.org", "example.com"]))),
    st.tuples(st.just("whatsapp"), st.from_regex(r"\+62[1-9][0-9]{8,10}", fullmatch=True)),
    st.tuples(st.just("telegram"), st.from_regex(r"[1-9][0-9]{4,11}", fullmatch=True)),
    st.tuples(st.just("ntfy"), st.from_regex(r"[a-z][a-z0-9_-]{0,20}", fullmatch=True)),
)
ACTIONS = st.lists(
    st.tuples(
        st.sampled_from(["add", "test", "again", "remove"]), st.sampled_from(["farmer", "manager"]), ADDRESSES
    ),
    min_size=1,
    max_size=12,
)


def test_no_address_hears_anything_but_its_confirmations_before_its_owner_confirms(registry_url: str) -> None:
    """For any sequence of channels added, tested, re-confirmed and removed by a farmer and a manager
    (any address of any kind), an address no one confirmed carries only confirmations, at most
    :data:`CONFIRMATIONS_PER_ADDRESS_PER_DAY` of them; no sender passes its hourly limit; no contact
    its daily cap."""
    sessions = open_registry(registry_url)
    with sessions() as session:
        import_fleet(session, batu_fleet(anchor=TODAY).subset(1, 2))
    admin = Principal(0, "admin", Role.ADMIN, None, None)
    people = {
        "farmer": Principal(1, "petani", Role.FARMER, "oro-oro-ombo", f"{MINE}-farmer"),
        "manager": Principal(2, "ketua", Role.COOP_MANAGER, "oro-oro-ombo", None),
    }
    with sessions() as session:
        contact = create_contact(
            session, admin,
            ContactSpec("Pak Slamet", Role.FARMER, farmer_id=f"{MINE}-farmer", daily_cap=200,
                        channels=(("email", "slamet@example.org"),)),
        )  # fmt: skip
        contact_id = contact.id
    config = NotifyConfig(public_url="http://panen.test")

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(ACTIONS)
    def run(actions: list[tuple[str, str, tuple[str, str]]]) -> None:
        with sessions() as session:
            for action, who, (kind, address) in actions:
                principal = people[who]
                row = session.get(Contact, contact_id)
                assert row is not None
                try:
                    if action == "add":
                        add_channel(session, principal, row, kind, address, config)
                    elif action == "test":
                        send_test(session, principal, contact_id)
                    else:
                        channel = session.scalars(
                            select(ContactChannel).where(
                                ContactChannel.contact_id == contact_id,
                                ContactChannel.address.like(f"%{address[-6:]}"),
                            )
                        ).first()
                        if channel is None or channel.confirmed_at is not None:
                            continue
                        if action == "again":
                            ask_confirmation(session, principal, row, channel.id, config)
                        else:
                            remove_channel(session, row, channel.id)
                except (RateLimited, InvalidInput):
                    session.rollback()
            _check_outbox(session)

    run()


def _check_outbox(session: Session) -> None:
    vouched = {"slamet@example.org"}
    now = dt.datetime.now(dt.UTC)
    per_address: Counter[tuple[str, str]] = Counter()
    per_sender: Counter[str] = Counter()
    for n in session.scalars(select(Notification)):
        if n.address not in vouched:
            assert n.event == "confirm", (n.event, n.address)
            if n.created_at > now - dt.timedelta(days=1):
                per_address[(n.channel_kind, n.address)] += 1
        if n.requested_by and n.created_at > now - dt.timedelta(hours=1):
            per_sender[n.requested_by] += 1
    assert max(per_address.values(), default=0) <= CONFIRMATIONS_PER_ADDRESS_PER_DAY, per_address
    assert max(per_sender.values(), default=0) <= SENDER_MESSAGES_PER_HOUR, per_sender


def test_a_delivered_sign_in_code_is_not_kept_in_the_outbox(mail: Mail) -> None:
    """Found on main: sign-in codes and links sat in clear in the outbox, also after use."""
    m = mail
    _contact(m, "admin", MINE, "slamet@example.org")
    m.c.post("/f/masuk", data={"address": "slamet@example.org"})
    with m.sessions() as session:
        (queued,) = session.scalars(select(Notification).where(Notification.event == "sign_in"))
        assert re.search(r"\d{6}", queued.body)  # until it goes, the sender needs it
    m.deliver()
    (mailed,) = m.mails_to("slamet@example.org")
    assert re.search(r"\d{6}", mailed)
    with m.sessions() as session:
        (sent,) = session.scalars(select(Notification).where(Notification.event == "sign_in"))
        assert (sent.status, sent.body) == ("sent", FORGOTTEN)
