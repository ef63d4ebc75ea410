"""The outbox's failed messages sent again (issue 40): ``POST /v1/notifications/retry`` (admin), the
API's ``panen notify retry``, for when a channel's settings were wrong and are fixed."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import PrincipalDep, SessionDep
from services.access import Role, require
from services.notify.outbox import retry_failed, utc_now

router = APIRouter(tags=["notifications"])


class Retry(BaseModel):
    """Which failed notifications to send again."""

    ids: list[int] | None = Field(
        None, max_length=10_000, description="Only these (default: every failed one)"
    )


class Retried(BaseModel):
    """The notifications put back in the outbox, due now."""

    ids: list[int]


@router.post("/v1/notifications/retry", response_model=Retried, responses={403: {}})
def retry(body: Retry, session: SessionDep, principal: PrincipalDep) -> Retried:
    """Put failed notifications back in the outbox, due now (admin). A sign-in link or code, whose
    secret is forgotten once it failed, is not resent: the person asks for a new one."""
    require(principal, Role.ADMIN)
    return Retried(ids=retry_failed(session, utc_now(), body.ids))
