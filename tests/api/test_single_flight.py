"""A busy token's or field's cache entry that expires is looked up in the registry once, however many
requests in flight miss it at that moment (issue 42: every one of them looked it up itself)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import api.deps
from api.deps import AppState, principal_of, scoped_field
from firmware_sim.fleet import batu_fleet
from sensors.profiles import shipped_profiles
from services.access import Principal, Role, create_token
from services.forecasting import ForecastService
from services.registry_import import import_fleet
from storage import TimeSeriesStore
from storage.db.engine import open_registry, sqlite_url
from tests.api.conftest import TODAY


def _state(store: TimeSeriesStore, tmp_path: Path) -> tuple[AppState, str, str]:
    sessions = open_registry(sqlite_url(tmp_path / "registry.sqlite3"))
    fleet = batu_fleet(anchor=TODAY).subset(1, 1)
    with sessions() as session:
        import_fleet(session, fleet)
        token = create_token(session, name="coosae", role=Role.OFFTAKER)
    state = AppState(store, sessions, ForecastService(store, sessions), shipped_profiles())
    return state, token, fleet.fields[0].id


def test_concurrent_misses_look_up_once(
    sqlite_store: TimeSeriesStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state, token, field_id = _state(sqlite_store, tmp_path)
    calls = {"token": 0, "field": 0}
    resolve, field_scope = api.deps._resolve, api.deps._field_scope

    def counted_resolve(s: AppState, t: str) -> Principal | None:
        calls["token"] += 1
        return resolve(s, t)

    def counted_field(s: AppState, f: str) -> object:
        calls["field"] += 1
        return field_scope(s, f)

    monkeypatch.setattr(api.deps, "_resolve", counted_resolve)
    monkeypatch.setattr(api.deps, "_field_scope", counted_field)

    async def many() -> None:
        principals = await asyncio.gather(*(principal_of(state, token) for _ in range(50)))
        assert {p.name for p in principals if p is not None} == {"coosae"}
        assert sum(p is None for p in principals) == 0
        scopes = await asyncio.gather(*(scoped_field(state, principals[0], field_id) for _ in range(50)))  # type: ignore[arg-type]
        assert {s.id for s in scopes} == {field_id}
        state.tokens.clear()  # the entry expired: the next wave looks it up again, once
        await asyncio.gather(*(principal_of(state, token) for _ in range(50)))
        assert await principal_of(state, "pn_unknown") is None  # a miss is not cached, nor shared later
        assert await principal_of(state, "pn_unknown") is None

    asyncio.run(many())
    assert calls == {"token": 2 + 2, "field": 1}


def test_a_waiter_that_goes_away_does_not_cancel_the_others(
    sqlite_store: TimeSeriesStore, tmp_path: Path
) -> None:
    state, token, _ = _state(sqlite_store, tmp_path)

    async def scenario() -> None:
        first = asyncio.ensure_future(principal_of(state, token))
        second = asyncio.ensure_future(principal_of(state, token))
        await asyncio.sleep(0)
        first.cancel()  # its client disconnected
        principal = await second
        assert principal is not None
        assert principal.name == "coosae"
        assert first.cancelled()

    asyncio.run(scenario())


def test_a_failed_lookup_fails_its_waiters_and_the_next_request_looks_again(
    sqlite_store: TimeSeriesStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state, token, _ = _state(sqlite_store, tmp_path)
    resolve = api.deps._resolve

    def registry_down(s: AppState, t: str) -> Principal | None:
        raise OSError("registry unreachable")

    async def scenario() -> None:
        monkeypatch.setattr(api.deps, "_resolve", registry_down)
        waiting = (principal_of(state, token) for _ in range(5))
        answers = await asyncio.gather(*waiting, return_exceptions=True)
        assert all(isinstance(a, OSError) for a in answers)
        monkeypatch.setattr(api.deps, "_resolve", resolve)  # the registry is back
        principal = await principal_of(state, token)
        assert principal is not None
        assert principal.name == "coosae"

    asyncio.run(scenario())
