"""Conditional GETs: an ``ETag`` on every whole GET answer, and ``304 Not Modified`` when the client
already holds it (issue 42).

A farmer on a 2G link who opens the field page or a chart again gets a few hundred bytes instead of the
page, when nothing changed. The tag is a hash of the body, so it is never stale and needs no knowledge
of what the answer was made from; the server still builds the answer (what saves its time is the
store's tiers, not this). Answers are ``Cache-Control: private, no-cache`` unless the route says
otherwise: a browser may keep them but asks every time, and no shared cache ever keeps them (they are
one person's). Answers that set a cookie, stream, are not 200, or say ``no-store`` pass untouched: the
field page says it, so that a shared phone's back button after signing out shows nothing (its offline
copy is the service worker's, forgotten at sign-out). Plain ASGI, as the other middlewares
(see ``api.app``).
"""

from __future__ import annotations

import hashlib

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["ConditionalGet"]

_REMEMBER_BYTES = 16_384  # bodies whose tag is worth remembering
_REMEMBERED = 32  # at most this many (a few MB held)


class ConditionalGet:
    """Tag GET answers with their body's hash and answer ``304`` to a matching ``If-None-Match``."""

    def __init__(self, app: ASGIApp) -> None:
        """Wrap ``app``."""
        self.app = app
        # Tags of recent large bodies, by the body object itself: a cached answer (the purchase plan
        # is rendered once per forecast run) is the same bytes object every time, and hashing its
        # ~100 KB on each request halved the plan's requests/s (bench.api: 1,880 -> 940).
        self._tags: dict[int, tuple[bytes, bytes]] = {}

    def _tag(self, body: bytes) -> bytes:
        known = self._tags.get(id(body))
        if known is not None and known[0] is body:
            return known[1]
        tag = b'"' + hashlib.blake2b(body, digest_size=12).hexdigest().encode() + b'"'
        if len(body) >= _REMEMBER_BYTES:
            if len(self._tags) >= _REMEMBERED:
                self._tags.pop(next(iter(self._tags)))  # the oldest
            self._tags[id(body)] = (body, tag)  # the body is held, so its id is not reused meanwhile
        return tag

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass everything but HTTP GETs through; hold a GET's answer until its body is whole."""
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        wanted = next((v for k, v in scope["headers"] if k == b"if-none-match"), None)
        start: Message | None = None

        async def hold(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = message.get("headers") or []
                names = {k.lower() for k, _ in headers}
                control = next((v for k, v in headers if k.lower() == b"cache-control"), b"")
                if (
                    message["status"] == 200
                    and b"set-cookie" not in names
                    and b"etag" not in names
                    and b"no-store" not in control
                ):
                    start = message  # held until the body is known
                    return
                await send(message)
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            held, start = start, None
            body = message.get("body", b"")
            if message.get("more_body", False):  # a stream: not ours to hold
                await send(held)
                await send(message)
                return
            tag = self._tag(body)
            headers = [(k, v) for k, v in held.get("headers") or [] if k.lower() != b"cache-control"]
            control = next((v for k, v in held.get("headers") or [] if k.lower() == b"cache-control"), None)
            headers += [(b"etag", tag), (b"cache-control", control or b"private, no-cache")]
            if wanted is not None and tag in (t.strip() for t in wanted.split(b",")):
                kept = [(k, v) for k, v in headers if k.lower() not in (b"content-length", b"content-type")]
                await send({"type": "http.response.start", "status": 304, "headers": kept})
                await send({"type": "http.response.body", "body": b""})
                return
            await send({**held, "headers": headers})
            await send(message)

        await self.app(scope, receive, hold)
