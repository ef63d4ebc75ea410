"""The field page's two scripts (issue 39): ``/f/panen.js`` queues a harvest typed without signal and
sends it later; ``/f/sw.js``, the service worker, keeps the farmer's pages readable offline. Both are
served under ``/f/`` so that the worker's scope is the field page and nothing else. The page works
without them."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import Response

router = APIRouter(prefix="/f", tags=["field page"])
_STATIC = Path(__file__).resolve().parent.parent / "static"
_SCRIPTS = {name: (_STATIC / name).read_bytes() for name in ("panen.js", "sw.js")}


def _script(name: str) -> Response:
    # Revalidated on every load, so that a changed worker reaches phones on their next visit.
    return Response(_SCRIPTS[name], media_type="text/javascript", headers={"Cache-Control": "no-cache"})


@router.get("/panen.js", include_in_schema=False)
def page_script() -> Response:
    """The field page's script: the queue of records typed offline."""
    return _script("panen.js")


@router.get("/sw.js", include_in_schema=False)
def service_worker() -> Response:
    """The service worker: the farmer's pages, kept for reading offline."""
    return _script("sw.js")
