"""The field page: server-rendered HTML for a farmer's own fields (a manager's: their cooperative's),
in Bahasa Indonesia, for a cheap phone on a poor connection.

No JavaScript (every action is a form), no web fonts, no images but one inline SVG chart: a page is
a few kilobytes. Sign-in is a personal link or a one-time code sent over the person's own channel
(:mod:`services.notify.signin`); the session is a cookie holding an expiring API token of exactly
the person's role and scope, so the page sees what the API would show that token and nothing more.
An API token as ``Authorization: Bearer`` works too. Forms posted with the cookie carry a CSRF token
derived from the session.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.templating import Jinja2Templates
from sqlalchemy import select

from api.deps import SessionDep, StateDep, principal_of
from forecast.orchard import is_defoliated, is_orchard
from services import InvalidInput, OutOfScope, id_date, orchards
from services import harvests as harvest_service
from services.access import Principal, Role
from services.alerts import acknowledge
from services.fieldbook import field_view, set_planting_date
from services.notify.messages import COMMODITY_ID, alert_message
from services.notify.outbox import utc_now
from services.notify.signin import SESSION_TTL, contact_by_address, redeem_code, redeem_link, send_code
from storage import local_day
from storage.db import Alert, Field

router = APIRouter(prefix="/f", tags=["field page"])
templates = Jinja2Templates(directory=Path(__file__).resolve().parent.parent / "templates")
COOKIE = "panen_sesi"
_bearer = HTTPBearer(auto_error=False)
_HTML: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/html": {}}, "description": "The page."},
    303: {"description": "Signed out, or done: go to the page named in Location."},
}
# The crops by their Indonesian names, as the messages say them, capitalised for a heading.
_COMMODITY = {crop: name.capitalize() for crop, name in COMMODITY_ID.items()}
_DONE = {
    "panen": "Panen tersimpan. Terima kasih!",
    "tanam": "Tanggal tanam tersimpan; prakiraan diperbarui pada siklus berikutnya.",
    "dibaca": "Peringatan ditandai sudah dibaca.",
    "kebun": "Catatan kebun tersimpan; prakiraan diperbarui pada siklus berikutnya.",
}
# What a grower records of an orchard, in the field page's words.
_ORCHARD_KINDS = {
    "defoliation": "Perompesan (rompes daun)",
    "flowering": "Bunga mekar",
    "fruit_count": "Hitung buah (rata-rata per pohon contoh)",
    "thinning": "Penjarangan buah (sisa buah per pohon)",
}


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


def _refused(what: str, exc: InvalidInput) -> str:
    """Why a form was refused, in the farmer's words where the service has them."""
    return f"{what} tidak tersimpan: {exc.farmer or exc}"


def _day(day: dt.date | None) -> str:
    return "-" if day is None else id_date(day)


def _render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("now", utc_now())
    response = templates.TemplateResponse(
        request, name, {"ago": _ago, "day": _day, **context}, status_code=status
    )
    response.headers["Cache-Control"] = "no-store"  # personal pages, never kept by a proxy
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"
    )
    return response


def _sign_in_page(request: Request, status: int = 200, **context: Any) -> HTMLResponse:
    return _render(request, "sign_in.html", status, **context)


def _with_session(response: Response, request: Request, token: str) -> Response:
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


@router.get("/masuk", response_class=HTMLResponse, responses=_HTML)
def sign_in_form(request: Request) -> HTMLResponse:
    """The sign-in page: a phone number or e-mail address, then the code that was sent to it."""
    return _sign_in_page(request)


@router.post("/masuk", response_class=HTMLResponse, responses=_HTML)
def ask_for_code(
    request: Request, session: SessionDep, state: StateDep, address: Annotated[str, Form(max_length=200)]
) -> HTMLResponse:
    """Send a one-time code to the person whose channel ``address`` is. The answer is the same
    whether or not anyone has that address, so numbers cannot be probed."""
    contact = contact_by_address(session, address)
    if contact is not None:
        send_code(session, contact, state.notify, utc_now())
    return _sign_in_page(request, address=address.strip(), asked=True)


@router.post("/masuk/kode", response_class=HTMLResponse, responses=_HTML)
def enter_code(
    request: Request,
    session: SessionDep,
    address: Annotated[str, Form(max_length=200)],
    code: Annotated[str, Form(max_length=12)],
) -> Response:
    """Sign in with the code; the session cookie is set and the person goes to their fields."""
    contact = contact_by_address(session, address)
    token = redeem_code(session, contact, code, utc_now()) if contact is not None else None
    if token is None:
        return _sign_in_page(
            request, 422, address=address.strip(), asked=True, error="Kode salah atau sudah kedaluwarsa."
        )
    return _with_session(RedirectResponse("/f", 303), request, token)


@router.get(
    "/masuk/{secret}",
    response_class=HTMLResponse,
    responses={**_HTML, 410: {"content": {"text/html": {}}, "description": "The link was used or expired."}},
)
def open_link(request: Request, secret: str, session: SessionDep) -> Response:
    """Sign in with a personal link (once; it expires)."""
    token = redeem_link(session, secret, utc_now()) if len(secret) <= 100 else None
    if token is None:
        return _sign_in_page(
            request, 410, error="Tautan ini sudah dipakai atau kedaluwarsa. Minta kode baru."
        )
    return _with_session(RedirectResponse("/f", 303), request, token)


@router.post("/keluar", responses=_HTML)
def sign_out() -> Response:
    """Forget the session on this phone."""
    response = RedirectResponse("/f/masuk", 303)
    response.delete_cookie(COOKIE, path="/f")
    return response


def _fields(session: SessionDep, principal: Principal) -> list[Field]:
    query = select(Field).order_by(Field.id)
    if (scope := principal.field_filter()) is not None:
        query = query.where(scope)
    return list(session.scalars(query.limit(500)))


@router.get("", response_class=HTMLResponse, responses=_HTML)
def my_fields(request: Request, session: SessionDep, state: StateDep, who: VisitorDep) -> Response:
    """The visitor's fields, each with its open alerts."""
    if who is None:
        return RedirectResponse("/f/masuk", 303)
    fields = _fields(session, who.principal)
    ids = [f.id for f in fields]
    open_alerts: dict[str, int] = {}
    for alert in session.scalars(select(Alert).where(Alert.active, Alert.field_id.in_(ids))):
        open_alerts[alert.field_id or ""] = open_alerts.get(alert.field_id or "", 0) + 1
    return _render(
        request, "fields.html", fields=fields, open_alerts=open_alerts, commodity=_COMMODITY, who=who
    )


def _field(session: SessionDep, who: Visitor, field_id: str) -> Field:
    row = session.get(Field, field_id)
    if row is None or not who.principal.can_see_field(row):
        raise OutOfScope(f"lahan {field_id!r} bukan milik Anda / not in your scope")
    return row


def _form_field(
    session: SessionDep, who: Visitor | None, field_id: str, csrf: str
) -> tuple[Visitor, Field] | Response:
    """The visitor and the field a form posts to, if they may: a redirect to sign in without a
    session, 403 without the session's CSRF token or outside their scope."""
    if who is None:
        return RedirectResponse("/f/masuk", 303)
    who.check(csrf)
    return who, _field(session, who, field_id)


def _recording(
    session: SessionDep, who: Visitor | None, field_id: str, csrf: str
) -> tuple[Visitor, Field] | Response:
    """As :func:`_form_field`, for the forms that record what happened on a field (a harvest, an
    orchard's record): refused to whoever may not record one (:func:`services.harvests.may_record`)."""
    target = _form_field(session, who, field_id, csrf)
    if not isinstance(target, Response) and not harvest_service.may_record(target[0].principal, target[1]):
        raise OutOfScope(f"field {field_id!r} is not yours to record")
    return target


def _field_page(
    request: Request,
    session: SessionDep,
    state: StateDep,
    who: Visitor,
    row: Field,
    status: int = 200,
    **extra: Any,
) -> HTMLResponse:
    now = utc_now()
    view = field_view(state.store, session, row, state.forecasts.latest, now)
    texts = {
        a.id: alert_message(
            kind=a.kind, subject=a.subject, facts=a.facts, english=a.message, language="id", link=""
        ).body.removesuffix(" Buka: ")
        for a in view.alerts
    }
    may_write = who.principal.role is not Role.OFFTAKER
    orchard = is_orchard(row.commodity)
    kinds = {k: v for k, v in _ORCHARD_KINDS.items() if k != "defoliation" or is_defoliated(row.commodity)}
    return _render(
        request,
        "field.html",
        status,
        v=view,
        texts=texts,
        who=who,
        now=now,
        commodity=_COMMODITY,
        chart=_chart(view.soil, view.threshold_pct, view.field_capacity_pct),
        today=local_day(int(now.timestamp() * 1000)),
        may_write=may_write,
        orchard=orchard,
        orchard_kinds=kinds,
        orchard_events=orchards.events(session, row.id)[-6:] if orchard else [],
        orchard_why=(state.forecasts.latest.orchards.get(row.id, ()) if state.forecasts.latest else ()),
        done=_DONE.get(str(request.query_params.get("ok", ""))),
        **extra,
    )


@router.get("/{field_id}", response_class=HTMLResponse, responses=_HTML)
def field_page(
    field_id: str, request: Request, session: SessionDep, state: StateDep, who: VisitorDep
) -> Response:
    """One field: soil moisture against the irrigation threshold, open alerts, the harvest forecast,
    the nodes, and forms to record a planting and a harvest."""
    if who is None:
        return RedirectResponse("/f/masuk", 303)
    return _field_page(request, session, state, who, _field(session, who, field_id))


@router.post("/{field_id}/panen", response_class=HTMLResponse, responses=_HTML)
def record_harvest(
    field_id: str,
    request: Request,
    session: SessionDep,
    state: StateDep,
    who: VisitorDep,
    harvest_date: Annotated[dt.date, Form()],
    kg: Annotated[float, Form(gt=0, le=10_000_000)],
    grade: Annotated[str, Form(pattern="^[ABC]$")] = "A",
    csrf: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Record a harvest of the field, in kilograms."""
    target = _recording(session, who, field_id, csrf)
    if isinstance(target, Response):
        return target
    who, row = target
    try:
        harvest_service.record(
            session,
            field_id=row.id,
            harvest_date=harvest_date,
            tonnes=kg / 1000,
            grade=grade,
            by=who.principal.name,
        )
    except InvalidInput as exc:
        session.rollback()
        return _field_page(request, session, state, who, row, 422, error=_refused("Panen", exc))
    return RedirectResponse(f"/f/{row.id}?ok=panen", 303)


@router.post("/{field_id}/tanam", response_class=HTMLResponse, responses=_HTML)
def record_planting(
    field_id: str,
    request: Request,
    session: SessionDep,
    state: StateDep,
    who: VisitorDep,
    planting_date: Annotated[dt.date, Form()],
    csrf: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Record the day the field was planted (a new season)."""
    target = _form_field(session, who, field_id, csrf)
    if isinstance(target, Response):
        return target
    who, row = target
    if who.principal.role is Role.OFFTAKER:
        raise OutOfScope(
            "Coosae reads fields; their plantings are the farmer's and the cooperative's to record"
        )
    try:
        set_planting_date(session, row, planting_date, by=who.principal.name)
    except InvalidInput as exc:
        session.rollback()
        return _field_page(request, session, state, who, row, 422, error=_refused("Tanggal tanam", exc))
    return RedirectResponse(f"/f/{row.id}?ok=tanam", 303)


@router.post("/{field_id}/kebun", response_class=HTMLResponse, responses=_HTML)
def record_orchard_event(
    field_id: str,
    request: Request,
    session: SessionDep,
    state: StateDep,
    who: VisitorDep,
    kind: Annotated[str, Form(max_length=20)],
    day: Annotated[dt.date, Form()],
    fruits_per_tree: Annotated[float | None, Form(ge=0, le=orchards.MAX_FRUITS_PER_TREE)] = None,
    trees_sampled: Annotated[int | None, Form(ge=1, le=10_000)] = None,
    csrf: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Record what happened in an orchard: a defoliation, a bloom, a fruit count, a thinning."""
    target = _recording(session, who, field_id, csrf)
    if isinstance(target, Response):
        return target
    who, row = target
    try:
        orchards.record(
            session, field=row, kind=kind, day=day, by=who.principal.name,
            fruits_per_tree=fruits_per_tree, trees_sampled=trees_sampled,
        )  # fmt: skip
    except InvalidInput as exc:
        session.rollback()
        return _field_page(request, session, state, who, row, 422, error=_refused("Catatan", exc))
    return RedirectResponse(f"/f/{row.id}?ok=kebun", 303)


@router.post("/{field_id}/peringatan/{alert_id}", responses=_HTML)
def acknowledge_alert(
    field_id: str,
    alert_id: int,
    session: SessionDep,
    who: VisitorDep,
    csrf: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Mark an alert of the field as seen."""
    target = _form_field(session, who, field_id, csrf)
    if isinstance(target, Response):
        return target
    who, row = target
    alert = session.get(Alert, alert_id) if 0 < alert_id < 2**62 else None
    if alert is None or alert.field_id != row.id:
        raise OutOfScope(f"alert {alert_id} is not one of field {row.id!r}'s")
    acknowledge(session, who.principal, alert)
    return RedirectResponse(f"/f/{row.id}?ok=dibaca", 303)


def _chart(
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

    return {
        "width": width,
        "height": height,
        "points": " ".join(f"{x(ts)},{y(v)}" for ts, v in soil),
        "threshold_y": None if threshold is None else y(threshold),
        "low": f"{low:.0f}",
        "high": f"{high:.0f}",
        "low_y": y(low),
        "high_y": y(high),
        "first_day": _day(local_day(t0)),
        "last_day": _day(local_day(t1)),
    }
