"""RFC 9457 problem details for every error the API returns."""

from __future__ import annotations

import html
import logging
import uuid
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from services import Conflict, NotFound, OutOfScope, RateLimited, ServiceError
from storage import StoreError, StoreUnavailable

__all__ = ["PROBLEM", "install", "problem"]

PROBLEM = "application/problem+json"
log = logging.getLogger("panen.api")
_TITLES = {
    400: "Bad request",
    405: "Method not allowed",
    413: "Content too large",
    500: "Internal error",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    409: "Conflict",
    422: "Invalid request",
    429: "Too many requests",
    503: "Service unavailable",
}


def problem(status: int, detail: str, *, title: str | None = None, **extra: Any) -> JSONResponse:
    """A problem-details response."""
    body = {
        "type": "about:blank",
        "title": title or _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    body.update(extra)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


# The services' errors as HTTP statuses (anything else of the tree, an InvalidInput included: 422).
_SERVICE_STATUS: dict[type[ServiceError], int] = {
    NotFound: 404,
    OutOfScope: 403,
    Conflict: 409,
    RateLimited: 429,
}

_PAGE_ERROR = """<!doctype html><html lang="id"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>panen</title></head>
<body style="font:16px/1.4 system-ui,sans-serif;margin:1em">
<h1 style="font-size:1.2em">Tidak bisa dibuka ({status})</h1>
<p>{detail}</p><p><a href="/f">Kembali ke lahan saya</a></p></body></html>"""


def install(app: FastAPI) -> None:
    """Route every error through :func:`problem`; nothing internal (paths, SQL, tracebacks) reaches a
    client: an unexpected error is a 500 problem whose ``request_id`` the log line repeats."""

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _with_headers(problem(exc.status_code, str(exc.detail)), exc.headers)

    @app.exception_handler(HTTPException)
    async def fastapi_http_error(_request: Request, exc: HTTPException) -> JSONResponse:
        return _with_headers(problem(exc.status_code, str(exc.detail)), exc.headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        request_id = uuid.uuid4().hex[:12]
        log.error("request %s %s %s failed", request_id, request.method, request.url.path, exc_info=exc)
        return problem(
            500,
            f"the server failed on this request; its log says why under request id {request_id}",
            title="Internal error",
            request_id=request_id,
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"where": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]} for e in exc.errors()]
        detail = "; ".join(f"{e['where']}: {e['problem']}" for e in errors)
        return problem(422, detail, errors=errors)

    @app.exception_handler(IntegrityError)
    async def conflict(_request: Request, exc: IntegrityError) -> JSONResponse:
        # Two requests racing to create the same id: the loser gets a 409, not a 500; the database's
        # own words (SQL, constraint names) go to the log only.
        request_id = uuid.uuid4().hex[:12]
        log.warning("request %s conflicted with the registry: %s", request_id, exc.orig)
        return problem(
            409, "the change conflicts with the registry (an id already in use)", request_id=request_id
        )

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError) -> Response:
        # The services' own errors, for routes that let them through: scope, existence, checks.
        status = next((code for kind, code in _SERVICE_STATUS.items() if isinstance(exc, kind)), 422)
        wait = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, RateLimited) else None
        if request.url.path == "/f" or request.url.path.startswith("/f/"):  # the field page: a page
            return HTMLResponse(
                _PAGE_ERROR.format(status=status, detail=html.escape(str(exc))), status, headers=wait
            )
        answer = problem(status, str(exc))
        answer.headers.update(wait or {})
        return answer

    @app.exception_handler(StoreError)
    async def store_error(_request: Request, exc: StoreError) -> JSONResponse:
        status = 503 if isinstance(exc, StoreUnavailable) else 502
        request_id = uuid.uuid4().hex[:12]
        log.error("request %s: time-series store error: %s", request_id, exc)
        what = "unavailable" if status == 503 else "failed"
        return problem(
            status,
            f"the time-series store is {what}; try again later (request id {request_id})",
            title="Store error",
            request_id=request_id,
        )


def _with_headers(response: JSONResponse, headers: Mapping[str, str] | None) -> JSONResponse:
    """Keep an error's own headers (``Allow`` on a 405, ``WWW-Authenticate`` on a 401)."""
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response
