"""LoRaWAN device profiles: the shipped library and the operator's own (``PANEN_DATA_DIR/profiles``)."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import PrincipalDep, StateDep
from api.schemas import ProfilePublic
from sensors.profiles import SHIPPED_DIR

router = APIRouter(prefix="/v1", tags=["registry"])


@router.get("/profiles", response_model=list[ProfilePublic])
def profiles(principal: PrincipalDep, state: StateDep) -> list[ProfilePublic]:
    """Every device profile a node may name, with the decoder it reads and the metrics it yields
    (any role). A file the operator added is listed within seconds; one that fails its checks is
    left out (``panen profiles`` says why)."""
    state.profiles.refresh()
    return [
        ProfilePublic(
            name=p.name,
            device=p.device,
            decoder=p.decoder,
            metrics=p.metrics,
            source="shipped" if p.source.startswith(str(SHIPPED_DIR)) else "operator",
        )
        for p in state.profiles.all()
    ]
