"""Channels and words over their whole input spaces (issue 17): every address a person may give is
either refused with a reason or becomes an Apprise URL Apprise accepts for that very address; every
alert's message fits a WhatsApp template body, whatever its figures."""

from __future__ import annotations

import apprise
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from services import InvalidInput
from services.notify.channels import KINDS, ChannelSettings, apprise_url, check_address
from services.notify.contacts import ALERT_KINDS
from services.notify.messages import MAX_BODY, alert_message, digest_message

SETTINGS = ChannelSettings(
    whatsapp_token="EAAGtoken123",
    whatsapp_phone_id="109876543210",
    whatsapp_template="panen_alert",
    telegram_bot_token="123456789:ABCdefGhIJKlmnOPQRstuVWXyz",
    smtp_url="mailtos://panen:secret@smtp.example.org?from=panen@example.org",
)


# No deadline: a first example may take a few hundred ms while Apprise loads a channel's plugin on a
# busy machine (measured 292 ms once, 1 ms on the replay), which is not what this test is about.
@settings(deadline=None)
@given(kind=st.sampled_from(KINDS), address=st.text(max_size=80))
def test_any_address_is_refused_or_reaches_exactly_that_address(kind: str, address: str) -> None:
    reason = ""
    try:
        value = check_address(kind, address)
    except InvalidInput as exc:
        value, reason = "", str(exc)
    if not value:
        assert kind in reason
        return
    url = apprise_url(kind, value, "raised:1:2", SETTINGS)
    sender = apprise.Apprise()
    assert sender.add(url), url
    plugin = sender[0]
    if kind == "whatsapp":
        assert plugin.targets == [value]
    elif kind == "email":
        assert [t[1] for t in plugin.targets] == [value]
    elif kind == "telegram":
        # Apprise 2.3 keeps each target as (chat, topic); earlier releases as the chat alone.
        chats = [str(t[0] if isinstance(t, tuple) else t) for t in plugin.targets]
        assert chats == [value]


@pytest.mark.parametrize(
    ("written", "stored"), [("007", "7"), ("-0100123", "-100123"), ("0", None), ("-00", None)]
)
def test_a_telegram_chat_id_is_stored_as_telegram_reads_it(written: str, stored: str | None) -> None:
    """A chat id is a number: written with leading zeros it is the same chat, and there is no chat 0
    (hypothesis found "0" passed for an address Apprise then sent to as chat (0, None))."""
    if stored is None:
        with pytest.raises(InvalidInput, match="telegram"):
            check_address("telegram", written)
    else:
        assert check_address("telegram", written) == stored


@pytest.mark.parametrize(
    ("written", "stored"),
    [("0812-3456-7890", "+6281234567890"), ("+62 812 3456 7890", "+6281234567890"), ("(0341) 512345", None)],
)
def test_indonesian_phone_numbers_are_understood(written: str, stored: str | None) -> None:
    if stored is None:
        with pytest.raises(InvalidInput, match=r"E\.164"):
            check_address("whatsapp", written)
    else:
        assert check_address("whatsapp", written) == stored


numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-(10**30), 10**30))
facts = st.dictionaries(
    st.sampled_from(["soil_vwc_pct", "threshold_vwc_pct", "air_temp_c", "limit_c", "value", "silent_h",
                     "probability", "shortfall_p50_t", "depletion_mm", "raw_mm", "unit", "commodity"]),
    st.one_of(numbers, st.text(max_size=300)),
)  # fmt: skip


@given(
    kind=st.sampled_from([*ALERT_KINDS, "something_new"]),
    subject=st.text(min_size=1, max_size=128),
    figures=st.one_of(st.none(), facts),
    language=st.sampled_from(["id", "en", "jv"]),
    event=st.sampled_from(["raised", "escalation", "reminder"]),
)
# CI found these: a silent sensor's hours as text failed the message instead of reading "?".
@example(kind="node_offline", subject="n", figures={"silent_h": ""}, language="id", event="raised")
@example(kind="node_offline", subject="n", figures={"silent_h": ""}, language="en", event="raised")
def test_every_message_fits_a_whatsapp_template_and_ends_with_its_link(
    kind: str, subject: str, figures: dict[str, object] | None, language: str, event: str
) -> None:
    message = alert_message(
        kind=kind, subject=subject, facts=figures, english="x" * 500, language=language,  # type: ignore[arg-type]
        link="http://panen.test/f/x", event=event, unacknowledged_h=3.0,
    )  # fmt: skip
    assert len(message.body) <= MAX_BODY
    assert message.title


@given(
    items=st.lists(
        st.tuples(st.sampled_from(ALERT_KINDS), st.text(max_size=128), st.none(), st.text(max_size=500))
    )
)
def test_a_digest_of_any_length_fits_and_keeps_its_link(items: list[tuple[str, str, None, str]]) -> None:
    message = digest_message(items, language="id", link="http://panen.test/f")
    assert len(message.body) <= MAX_BODY + 40
    assert message.body.endswith("http://panen.test/f")
