"""The field page drawn for one visitor: what :mod:`api.routes.pages` and :mod:`api.routes.amend`
answer, and answer again with an error when a form was refused."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from api.deps import SessionDep, StateDep
from api.fieldpage import COMMODITY, Visitor, chart, render
from api.pagewords import DONE, ORCHARD_KINDS, left_out_words
from forecast.orchard import is_defoliated, is_orchard
from services import harvests as harvest_service
from services import orchards
from services.access import Role
from services.fieldbook import field_view
from services.names import shown
from services.notify.messages import alert_message
from services.notify.outbox import utc_now
from storage import local_day
from storage.db import Field

__all__ = ["draw_field"]


def draw_field(
    request: Request,
    session: SessionDep,
    state: StateDep,
    who: Visitor,
    row: Field,
    status: int = 200,
    **extra: Any,
) -> HTMLResponse:
    """The field page of ``row`` as ``who`` sees it, with ``extra`` (an ``error``) and ``status``."""
    now = utc_now()
    view = field_view(state.store, session, row, state.forecasts.latest, now)
    # A field's alerts are about the field or its nodes: their names are on the view already.
    names = {row.id: shown(row), **{n.node_id: n.name for n in view.nodes}}
    texts = {
        a.id: alert_message(
            kind=a.kind,
            subject=names.get(a.subject, a.subject),
            facts=a.facts,
            english=a.message,
            language="id",
            link="",
        ).body.removesuffix(" Buka: ")
        for a in view.alerts
    }
    may_write = who.principal.role is not Role.OFFTAKER
    orchard = is_orchard(row.commodity)
    kinds = {k: v for k, v in ORCHARD_KINDS.items() if k != "defoliation" or is_defoliated(row.commodity)}
    return render(
        request,
        "field.html",
        status,
        v=view,
        texts=texts,
        who=who,
        now=now,
        commodity=COMMODITY,
        chart=chart(view.soil, view.threshold_pct, view.field_capacity_pct),
        today=local_day(int(now.timestamp() * 1000)),
        may_write=may_write,
        orchard=orchard,
        orchard_kinds=kinds,
        crops=[c for c in sorted(COMMODITY, key=COMMODITY.__getitem__) if not is_orchard(c)],
        orchard_events=orchards.events(session, row.id)[-6:] if orchard else [],
        orchard_why=(state.forecasts.latest.orchards.get(row.id, ()) if state.forecasts.latest else ()),
        done=DONE.get(str(request.query_params.get("ok", ""))),
        submission=secrets.token_urlsafe(16),  # a new key for each drawing of the forms
        # The records this visitor may still void or correct from the page (within 7 days).
        amendable={h.id for h in view.harvests if harvest_service.may_amend(who.principal, row, h, now)},
        closed_on=view.closed_on,
        picked_kg=round(view.picked_t * 1000),
        left_out=[left_out_words(r) for r in view.left_out],
        **extra,
    )
