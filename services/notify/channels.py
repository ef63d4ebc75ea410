"""Channels: a contact's address on a channel kind, turned into an Apprise URL with the channel's
credentials (from settings, never from the registry), and delivered by Apprise.

Kinds and addresses:

- ``whatsapp``: an E.164 phone number (+62…); WhatsApp Cloud API with ``PANEN_NOTIFY_WHATSAPP_TOKEN``
  and ``PANEN_NOTIFY_WHATSAPP_PHONE_ID`` (and an approved template, ``PANEN_NOTIFY_WHATSAPP_TEMPLATE``,
  for messages a business starts: Meta delivers free text only within 24 h of the person's last message);
- ``telegram``: a chat id; with ``PANEN_NOTIFY_TELEGRAM_BOT_TOKEN``;
- ``email``: an address; through ``PANEN_NOTIFY_SMTP_URL`` (an Apprise ``mailto://``/``mailtos://`` URL
  naming the server, account and sender, without a recipient);
- ``ntfy``: a topic on ``PANEN_NOTIFY_NTFY_URL`` (default ``ntfys://ntfy.sh``);
- ``webhook``: an ``http(s)://`` URL that receives Apprise's JSON (``{"title", "message", "type"}``).

Every message carries its idempotency key as an ``Idempotency-Key`` header (webhook, e-mail), so a
receiver can drop the one repeat a sender killed mid-delivery may cause.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import apprise

from services import InvalidInput, ServiceError

__all__ = ["KINDS", "ChannelSettings", "ChannelUnavailable", "apprise_url", "check_address", "deliver"]

KINDS = ("whatsapp", "telegram", "email", "ntfy", "webhook")
_PATTERNS = {
    "whatsapp": (re.compile(r"\+[1-9][0-9]{7,14}"), "an E.164 phone number such as +6281234567890"),
    "telegram": (re.compile(r"-?[0-9]{1,20}|@[A-Za-z0-9_]{5,32}"), "a Telegram chat id or @channel"),
    "email": (re.compile(r"[^@\s,;<>\"']{1,64}@[A-Za-z0-9.-]{1,190}\.[A-Za-z]{2,24}"), "an e-mail address"),
    "ntfy": (re.compile(r"[A-Za-z0-9_-]{1,64}"), "an ntfy topic (letters, digits, - and _)"),
    "webhook": (re.compile(r"https?://[^\s]{3,480}"), "an http:// or https:// URL"),
}
log = logging.getLogger("services.notify")


class ChannelUnavailable(ServiceError):
    """The channel kind has no credentials in settings: messages to it fail at once, saying so."""


@dataclass(frozen=True)
class ChannelSettings:
    """The channels' credentials (from ``PANEN_NOTIFY_*``); unset ones leave their channel off."""

    whatsapp_token: str | None = None
    whatsapp_phone_id: str | None = None
    whatsapp_template: str | None = None
    telegram_bot_token: str | None = None
    smtp_url: str | None = None
    ntfy_url: str = "ntfys://ntfy.sh"
    timeout_s: float = 15.0

    def configured(self, kind: str) -> bool:
        """Whether messages to ``kind`` can go out."""
        return {
            "whatsapp": bool(self.whatsapp_token and self.whatsapp_phone_id),
            "telegram": bool(self.telegram_bot_token),
            "email": bool(self.smtp_url),
            "ntfy": bool(self.ntfy_url),
            "webhook": True,
        }.get(kind, False)


# What to set for each channel, with an example: the "not configured" message names it (issue 40).
HOW_TO_CONFIGURE = {
    "whatsapp": "set PANEN_NOTIFY_WHATSAPP_TOKEN and PANEN_NOTIFY_WHATSAPP_PHONE_ID (WhatsApp Cloud "
    "API), e.g. PANEN_NOTIFY_WHATSAPP_PHONE_ID=106540352242922",
    "telegram": "set PANEN_NOTIFY_TELEGRAM_BOT_TOKEN, e.g. "
    "PANEN_NOTIFY_TELEGRAM_BOT_TOKEN=123456:ABC-your-bot",
    "email": "set PANEN_NOTIFY_SMTP_URL, e.g. "
    "PANEN_NOTIFY_SMTP_URL='mailto://127.0.0.1:25?from=panen@localhost&mode=insecure' (a local "
    "SMTP server) or "
    "'mailtos://user:password@smtp.example.org?from=panen@example.org'",
    "ntfy": "set PANEN_NOTIFY_NTFY_URL, e.g. PANEN_NOTIFY_NTFY_URL=ntfys://ntfy.sh",
}


def check_address(kind: str, address: str) -> str:
    """The address, stripped, if it is one ``kind`` can use.

    Raises:
        InvalidInput: an unknown kind or an address of the wrong shape.
    """
    if kind not in _PATTERNS:
        raise InvalidInput(f"kind must be one of {', '.join(KINDS)}")
    pattern, shape = _PATTERNS[kind]
    value = address.strip()
    if kind == "whatsapp":
        value = re.sub(r"[\s()-]", "", value)
        if value.startswith("08"):  # how Indonesians write their numbers: 0812… is +62812…
            value = "+62" + value[1:]
    if not pattern.fullmatch(value):
        raise InvalidInput(f"a {kind} address must be {shape}")
    if kind == "telegram" and not value.startswith("@"):
        # Telegram (and Apprise) read a chat id as a number: 007 is chat 7, and there is no chat 0.
        if int(value) == 0:
            raise InvalidInput(f"a {kind} address must be {shape}, and no chat has id 0")
        value = str(int(value))
    return value


def _with(url: str, params: dict[str, str]) -> str:
    joiner = "&" if "?" in url else "?"
    return url + joiner + "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())


def apprise_url(kind: str, address: str, key: str, settings: ChannelSettings) -> str:
    """The Apprise URL delivering one message to ``address``.

    Raises:
        ChannelUnavailable: the kind has no credentials configured.
    """
    if not settings.configured(kind):
        how = HOW_TO_CONFIGURE.get(kind, "see the PANEN_NOTIFY_* settings in docs/notifications.md")
        raise ChannelUnavailable(f"the {kind} channel is not configured: {how}")
    timeout = {"cto": f"{settings.timeout_s:g}", "rto": f"{settings.timeout_s:g}"}
    if kind == "whatsapp":
        token, phone_id = quote(settings.whatsapp_token or "", safe=""), settings.whatsapp_phone_id
        template = f"{quote(settings.whatsapp_template, safe='')}:" if settings.whatsapp_template else ""
        # A template's body parameter {{1}} carries our message; its language is Indonesian.
        params = {":body": "1", "lang": "id", **timeout} if template else timeout
        return _with(f"whatsapp://{template}{token}@{phone_id}/{quote(address, safe='+')}", params)
    if kind == "telegram":
        return _with(f"tgram://{settings.telegram_bot_token}/{quote(address, safe='@-')}", timeout)
    if kind == "email":
        return _with(settings.smtp_url or "", {"to": address, "+Idempotency-Key": key, **timeout})
    if kind == "ntfy":
        return _with(f"{settings.ntfy_url.rstrip('/')}/{address}", timeout)
    parts = urlsplit(address)
    scheme = "jsons" if parts.scheme == "https" else "json"
    return _with(f"{scheme}://{address.split('://', 1)[1]}", {"+Idempotency-Key": key, **timeout})


def deliver(url: str, title: str, body: str) -> str | None:
    """Send one message through Apprise; None when it was accepted, else why not (Apprise's log)."""
    sender = apprise.Apprise()
    if not sender.add(url):
        return "Apprise cannot use this channel's URL (check the address and PANEN_NOTIFY_* settings)"
    with apprise.LogCapture(level=logging.WARNING) as captured:  # type: ignore[no-untyped-call]
        ok = sender.notify(body=body, title=title)
        text = captured.getvalue()
    if ok:
        return None
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return (" ".join(lines[-2:]) or "the channel refused the message")[:500]
