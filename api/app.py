"""The FastAPI application: mounts the routers, installs problem details, holds the wiring."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from api import problems
from api.deps import AppState
from api.routes import forecasts, harvests, health, readings, registry
from panen import __version__
from panen.forecasting import ForecastService
from storage import TimeSeriesStore

__all__ = ["create_app"]

DESCRIPTION = """
panen turns field-sensor readings from Kota Batu's village cooperatives into harvest forecasts and a
purchase plan for Coosae. Authenticate with `Authorization: Bearer <token>` (`panen token create`).
Errors are RFC 9457 problem details.
"""


def create_app(
    store: TimeSeriesStore, sessions: sessionmaker[Session], forecasts_service: ForecastService | None = None
) -> FastAPI:
    """Build the app over a store and a registry session factory."""
    app = FastAPI(title="panen API", version=__version__, description=DESCRIPTION)
    app.state.panen = AppState(store, sessions, forecasts_service or ForecastService(store, sessions))
    problems.install(app)
    for router in (health.router, registry.router, readings.router, forecasts.router, harvests.router):
        app.include_router(router)
    return app
