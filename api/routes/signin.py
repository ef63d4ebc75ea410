"""Signing in to the field page, and out: a personal link, or a one-time code sent over the person's own
channel (:mod:`services.notify.signin`); the session is a cookie holding an expiring API token of
exactly the person's role and scope (:mod:`api.fieldpage`)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.deps import SessionDep, StateDep
from api.fieldpage import COOKIE, HTML_RESPONSES, VisitorDep, render, sign_in_page, with_session
from services.access import revoke_token
from services.notify.confirm import channel_by_link, confirm_link, decline_link
from services.notify.outbox import utc_now
from services.notify.signin import contact_by_address, link_is_open, redeem_code, redeem_link, send_code

router = APIRouter(prefix="/f", tags=["field page"])
_HTML = HTML_RESPONSES


@router.get("/masuk", response_class=HTMLResponse, responses=_HTML)
def sign_in_form(request: Request) -> HTMLResponse:
    """The sign-in page: a phone number or e-mail address, then the code that was sent to it."""
    return sign_in_page(request)


@router.post("/masuk", response_class=HTMLResponse, responses=_HTML)
def ask_for_code(
    request: Request, session: SessionDep, state: StateDep, address: Annotated[str, Form(max_length=200)]
) -> HTMLResponse:
    """Send a one-time code to the person whose channel ``address`` is. The answer is the same
    whether or not anyone has that address, so numbers cannot be probed."""
    contact = contact_by_address(session, address)
    if contact is not None:
        send_code(session, contact, state.notify, utc_now())
    return sign_in_page(request, address=address.strip(), asked=True)


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
        return sign_in_page(
            request, 422, address=address.strip(), asked=True, error="Kode salah atau sudah kedaluwarsa."
        )
    return with_session(RedirectResponse("/f", 303), request, token)


_GONE = "Tautan ini sudah dipakai atau kedaluwarsa. Minta kode baru."
_LINK_RESPONSES = {
    **_HTML,
    410: {"content": {"text/html": {}}, "description": "The link was used or expired."},
}


@router.api_route(
    "/masuk/{secret}", methods=["GET", "HEAD"], response_class=HTMLResponse, responses=_LINK_RESPONSES
)
def open_link(request: Request, secret: str, session: SessionDep) -> Response:
    """A personal sign-in link: a page with a *Masuk* button whose POST signs in. Opening the link
    spends nothing, so WhatsApp's, Telegram's or a mail scanner's preview of it leaves it to the
    farmer (issue 37: one GET with a preview's user agent used to sign the preview in)."""
    if len(secret) > 100 or not link_is_open(session, secret, utc_now()):
        return sign_in_page(request, 410, error=_GONE)
    return sign_in_page(request, link_secret=secret)


@router.post("/masuk/tautan", response_class=HTMLResponse, responses=_LINK_RESPONSES)
def use_link(request: Request, session: SessionDep, secret: Annotated[str, Form(max_length=100)]) -> Response:
    """Sign in with a personal link's secret (once; it expires), posted by its page's button."""
    token = redeem_link(session, secret, utc_now())
    if token is None:
        return sign_in_page(request, 410, error=_GONE)
    return with_session(RedirectResponse("/f", 303), request, token)


@router.post("/keluar", responses=_HTML)
def sign_out(
    session: SessionDep, state: StateDep, who: VisitorDep, csrf: Annotated[str, Form(max_length=64)] = ""
) -> Response:
    """End the session: its token is revoked (a copied cookie stops working too) and the cookie
    forgotten. The form carries the session's CSRF token, so no other site can sign a farmer out."""
    if who is not None and who.by_cookie:
        who.check(csrf)
        revoke_token(session, who.token)
        state.tokens.clear()
    response = RedirectResponse("/f/masuk", 303)
    response.delete_cookie(COOKIE, path="/f")
    return response


_CONFIRM_GONE = "Tautan ini sudah dipakai atau kedaluwarsa. Minta pengurus koperasi mengirim yang baru."


@router.api_route(
    "/pastikan/{secret}", methods=["GET", "HEAD"], response_class=HTMLResponse, responses=_LINK_RESPONSES
)
def open_confirmation(request: Request, secret: str, session: SessionDep) -> Response:
    """A channel's confirmation link: a page asking "is this your address?" with *Ya, ini saya* and
    *Bukan saya*; opening it changes nothing (a messenger's preview confirms no one)."""
    channel = channel_by_link(session, secret, utc_now())
    if channel is None:
        return render(request, "confirm.html", 410, error=_CONFIRM_GONE)
    return render(request, "confirm.html", secret=secret, address=channel.address)


@router.post("/pastikan", response_class=HTMLResponse, responses=_LINK_RESPONSES)
def answer_confirmation(
    request: Request,
    session: SessionDep,
    secret: Annotated[str, Form(max_length=100)],
    answer: Annotated[Literal["ya", "bukan"], Form()],
) -> Response:
    """The owner's answer: *ya* confirms the channel, *bukan* removes it."""
    now = utc_now()
    if answer == "ya":
        if confirm_link(session, secret, now) is None:
            return render(request, "confirm.html", 410, error=_CONFIRM_GONE)
        return render(
            request,
            "confirm.html",
            done="Terima kasih. Alamat ini sudah dipastikan; peringatan lahan akan dikirim ke sini.",
        )
    if not decline_link(session, secret, now):
        return render(request, "confirm.html", 410, error=_CONFIRM_GONE)
    return render(
        request,
        "confirm.html",
        done="Alamat ini sudah dihapus. panen tidak akan mengirim apa pun lagi ke sini.",
    )
