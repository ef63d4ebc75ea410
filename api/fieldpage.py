"""What every field page shares: who is visiting (:class:`Visitor`, from the session cookie or a bearer
token), the templates and their helpers in Bahasa Indonesia, the session cookie, and the soil chart.
The routes are :mod:`api.routes.signin` (signing in and out) and :mod:`api.routes.pages` (the fields).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from api.deps import StateDep, principal_of
from services import InvalidInput, OutOfScope, id_date
from services import harvests as harvest_service
from services.access import Principal
from services.notify.messages import COMMODITY_ID
from services.notify.outbox import utc_now
from services.notify.signin import SESSION_TTL
from services.numbers import format_id
from storage import local_day
from storage.db import Field

__all__ = [
    "COMMODITY",
    "COOKIE",
    "HTML_RESPONSES",
    "Visitor",
    "VisitorDep",
    "chart",
    "field_of",
    "form_target",
    "recording_target",
    "refused",
    "render",
    "sign_in_page",
    "with_session",
]

templates = Jinja2Templates(directory=Path(__file__).resolve().parent / "templates")
# The templates are the installed package's: no file system check of them on every page (a stat of
# each template per render, 2 % of the page's samples under load).
templates.env.auto_reload = False
# Numbers on the page as Indonesians write them: 9.500 kg, 0,51 ha, 10,5 ton (issue 39).
templates.env.filters["idn"] = format_id
COOKIE = "panen_sesi"
_bearer = HTTPBearer(auto_error=False)
HTML_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/html": {}}, "description": "The page."},
    303: {"description": "Signed out, or done: go to the page named in Location."},
}
# The crops by their Indonesian names, as the messages say them, capitalised for a heading.
COMMODITY = {crop: name.capitalize() for crop, name in COMMODITY_ID.items()}


class Visitor:
    """Who is looking at the page, and how they signed in."""

    def __init__(self, principal: Principal, token: str, by_cookie: bool) -> None:
        self.principal = principal
        self.token = token
        self.by_cookie = by_cookie

    @property
    def csrf(self) -> str:
        """The CSRF token forms carry (derived from the session, so nothing more is stored)."""
        return hmac.new(b"panen-field-page-csrf", self.token.encode(), hashlib.sha256).hexdigest()[:32]

    def check(self, csrf: str) -> None:
        """Refuse a cookie-authenticated form without this session's CSRF token."""
        if self.by_cookie and not hmac.compare_digest(csrf, self.csrf):
            raise OutOfScope("this form is out of date or not from panen; open the page again")


async def visitor(
    request: Request,
    state: StateDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Visitor | None:
    """The signed-in visitor (bearer token or session cookie), or None."""
    token = credentials.credentials if credentials is not None else request.cookies.get(COOKIE)
    if not token or len(token) > 200:
        return None
    principal = await principal_of(state, token)
    return None if principal is None else Visitor(principal, token, credentials is None)


VisitorDep = Annotated[Visitor | None, Depends(visitor)]


def field_of(session: Session, who: Visitor, field_id: str) -> Field:
    """The field, if the visitor may see it."""
    row = session.get(Field, field_id)
    if row is None or not who.principal.can_see_field(row):
        raise OutOfScope(f"lahan {field_id!r} bukan milik Anda / not in your scope")
    return row


def form_target(
    session: Session, who: Visitor | None, field_id: str, csrf: str
) -> tuple[Visitor, Field] | Response:
    """The visitor and the field a form posts to, if they may: a redirect to sign in without a
    session, 403 without the session's CSRF token or outside their scope."""
    if who is None:
        return RedirectResponse("/f/masuk", 303)
    who.check(csrf)
    return who, field_of(session, who, field_id)


def recording_target(
    session: Session, who: Visitor | None, field_id: str, csrf: str
) -> tuple[Visitor, Field] | Response:
    """As :func:`form_target`, for the forms that record what happened on a field (a harvest, an
    orchard's record): refused to whoever may not record one (:func:`services.harvests.may_record`)."""
    target = form_target(session, who, field_id, csrf)
    if not isinstance(target, Response) and not harvest_service.may_record(target[0].principal, target[1]):
        raise OutOfScope(f"field {field_id!r} is not yours to record")
    return target


def _ago(delta: dt.timedelta | None) -> str:
    if delta is None:
        return "belum ada data"
    minutes = int(delta.total_seconds() // 60)
    if minutes < 1:
        return "baru saja"
    if minutes < 60:
        return f"{minutes} menit lalu"
    if minutes < 48 * 60:
        return f"{minutes // 60} jam lalu"
    return f"{minutes // 1440} hari lalu"


def refused(what: str, exc: InvalidInput) -> str:
    """Why a form was refused, in the farmer's words where the service has them."""
    return f"{what} tidak tersimpan: {exc.farmer or exc}"


def _day(day: dt.date | None) -> str:
    return "-" if day is None else id_date(day)


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A template as a personal page: never kept by a proxy, no script but panen's own files."""
    context.setdefault("now", utc_now())
    response = templates.TemplateResponse(
        request, name, {"ago": _ago, "day": _day, **context}, status_code=status
    )
    response.headers["Cache-Control"] = "no-store"  # personal pages, never kept by a proxy
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; "
        "base-uri 'none'; script-src 'self'; connect-src 'self'; worker-src 'self'"
    )
    # A sign-in link's page must not hand its address (the secret) to the next site as a Referer.
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    return response


def sign_in_page(request: Request, status: int = 200, **context: Any) -> HTMLResponse:
    """The sign-in page."""
    return render(request, "sign_in.html", status, **context)


def with_session(response: Response, request: Request, token: str) -> Response:
    """``response`` with the session cookie (HttpOnly, SameSite=Lax, scoped to /f) set to ``token``."""
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(SESSION_TTL.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/f",
    )
    return response


def chart(
    soil: list[tuple[int, float]],
    threshold: float | None,
    capacity: float,
    width: int = 320,
    height: int = 120,
) -> dict[str, Any] | None:
    """The soil-moisture chart's geometry: a polyline over the week and the threshold line."""
    if not soil:
        return None
    t0, t1 = soil[0][0], max(soil[-1][0], soil[0][0] + 1)
    values = [v for _, v in soil] + ([threshold] if threshold is not None else []) + [capacity]
    low, high = max(0.0, min(values) - 5), max(values) + 5

    def x(ts: int) -> float:
        return round(30 + (width - 34) * (ts - t0) / (t1 - t0), 1)

    def y(v: float) -> float:
        return round(4 + (height - 22) * (high - v) / (high - low), 1)

    # The week's 168 points without two calls per point (issue 42): x() and y()'s own arithmetic, and
    # :.1f writes the digits round(…, 1) would (both round the same double half to even).
    span_x, span_y = width - 34, height - 22
    points = " ".join(
        f"{30 + span_x * (ts - t0) / (t1 - t0):.1f},{4 + span_y * (high - v) / (high - low):.1f}"
        for ts, v in soil
    )
    return {
        "width": width,
        "height": height,
        "points": points,
        "threshold_y": None if threshold is None else y(threshold),
        "low": f"{low:.0f}",
        "high": f"{high:.0f}",
        "low_y": y(low),
        "high_y": y(high),
        "first_day": _day(local_day(t0)),
        "last_day": _day(local_day(t1)),
    }
