"""The embedded broker's authentication (:mod:`panen.broker`): amqtt's anonymous-auth check, which
also says in the broker's log why it refused a client. It said nothing: a node without a user name
simply never connected (issue 40). Its own module, so that importing :mod:`panen.broker` does not
import amqtt; amqtt loads it by its dotted path."""

from __future__ import annotations

import logging
from typing import Any

from amqtt.plugins.authentication import AnonymousAuthPlugin

__all__ = ["NamedClientsOnly"]

log = logging.getLogger("panen.broker_auth")


class NamedClientsOnly(AnonymousAuthPlugin):  # type: ignore[misc]
    """Admits a client that gives a user name (panen's nodes give their node id); logs the others."""

    async def authenticate(self, *, session: Any) -> bool:
        """amqtt's check, and a warning with the client id and address when it refuses."""
        allowed = bool(await super().authenticate(session=session))
        if not allowed:
            log.warning(
                "refused client %r from %s:%s: no user name (panen's nodes connect with their node id "
                "as user name; the embedded broker admits no anonymous client)",
                session.client_id, session.remote_address, session.remote_port,
            )  # fmt: skip
        return allowed
