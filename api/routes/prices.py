"""Coosae's buying prices (the rules: :mod:`services.prices`): offtaker and admin enter and import
them; cooperative managers read them too (their plan is priced with them)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from api.deps import AppState, CommodityFilter, PrincipalDep, SessionDep, StateDep, check_filters, require
from api.schemas import PriceCreate, PriceImportResult, PricePublic
from services import InvalidInput
from services import prices as service
from services.access import Role
from storage.db import BuyingPrice

router = APIRouter(prefix="/v1/prices", tags=["prices"])
RowId = Annotated[int, Path(ge=1, le=2**62)]
_CSV_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {
                "schema": {"type": "string"},
                "example": "commodity,grade,idr_per_kg,valid_from,source\n"
                "potato,A,8500,2026-12-01,Coosae price board 1 Dec 2026\n"
                "kentang,B,6500,2026-12-01,Coosae price board 1 Dec 2026\n",
            }
        },
    }
}


@router.get("", response_model=list[PricePublic], responses={403: {}})
def list_prices(
    session: SessionDep, principal: PrincipalDep, commodity: CommodityFilter
) -> list[BuyingPrice]:
    """Buying prices by commodity, grade and first day (each holds until the next of its commodity and
    grade)."""
    require(principal, Role.OFFTAKER, Role.ADMIN, Role.COOP_MANAGER)
    check_filters(session, principal, commodity=commodity)
    return service.prices(session, commodity)


@router.post("", response_model=PricePublic, status_code=201, responses={403: {}, 409: {}, 422: {}})
def create_price(
    body: PriceCreate, session: SessionDep, principal: PrincipalDep, state: StateDep
) -> BuyingPrice:
    """Record one buying price (offtaker, admin); the plan is priced with it at once."""
    require(principal, Role.OFFTAKER, Role.ADMIN)
    spec = service.PriceSpec(body.commodity, body.grade, body.idr_per_kg, body.valid_from, body.source)
    row = service.create_price(session, spec, by=principal.name)
    state.planning.prices_changed()
    return row


@router.post(
    "/import",
    response_model=PriceImportResult,
    responses={
        403: {},
        409: {},
        413: {},
        422: {"description": "The line that is wrong and why; nothing imported"},
    },
    openapi_extra=_CSV_BODY,
)
async def import_prices(
    request: Request,
    principal: PrincipalDep,
    state: StateDep,
    source: Annotated[
        str | None, Query(max_length=300, description="Fills the source of lines that leave it empty")
    ] = None,
) -> PriceImportResult:
    """Import a price list (CSV: commodity,grade,idr_per_kg,valid_from,source; offtaker, admin): all of
    it, or nothing and the first wrong line with why. A price of a commodity, grade and day already
    there is replaced."""
    require(principal, Role.OFFTAKER, Role.ADMIN)
    body = await request.body()  # at most 1 MiB: api.limits.BodyLimit refused more
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"the file is not UTF-8 text (byte {exc.start}); save it as CSV UTF-8") from None
    result = await run_in_threadpool(_import, state, text, source, principal.name)
    state.planning.prices_changed()
    return PriceImportResult(added=result.added, replaced=result.replaced, unchanged=result.unchanged)


def _import(state: AppState, text: str, source: str | None, by: str) -> service.PricesImported:
    specs = service.parse_csv(text, default_source=source)
    with state.sessions() as session:
        return service.import_prices(session, specs, by=by)


@router.delete("/{price_id}", status_code=204, responses={403: {}, 404: {}})
def delete_price(price_id: RowId, session: SessionDep, principal: PrincipalDep, state: StateDep) -> Response:
    """Delete a price entered by mistake (offtaker, admin)."""
    require(principal, Role.OFFTAKER, Role.ADMIN)
    service.delete_price(session, price_id)
    state.planning.prices_changed()
    return Response(status_code=204)
