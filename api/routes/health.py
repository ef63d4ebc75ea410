"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.deps import StateDep
from storage import StoreError

router = APIRouter(tags=["health"])


@router.get("/health")
def health() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


@router.get("/ready", responses={503: {}})
def ready(state: StateDep) -> JSONResponse:
    """The registry and the time-series store answer; also when forecasts and alerts were last refreshed."""
    checks: dict[str, str] = {}
    try:
        with state.sessions() as session:
            session.execute(text("SELECT 1"))
        checks["registry"] = "ok"
    except Exception as exc:  # any driver error means "not ready", with its message
        checks["registry"] = f"error: {exc}"
    try:
        state.store.ping()
        checks["store"] = "ok"
    except StoreError as exc:
        checks["store"] = f"error: {exc}"
    ok = all(v == "ok" for v in checks.values())
    refreshed = state.last_refresh.finished_at.isoformat() if state.last_refresh else None
    return JSONResponse(
        {"status": "ready" if ok else "not ready", **checks, "forecasts_refreshed": refreshed},
        status_code=200 if ok else 503,
    )
