"""The API process freezes what a refresh leaves alive out of the cyclic collector's full passes, and
collects what the refresh before it left (issue 42: a full pass over a refreshed fleet's objects
stopped every request in flight for 120-160 ms, the field page's p99)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.deps import AppState
from sensors.profiles import shipped_profiles
from services.forecasting import ForecastService
from storage import TimeSeriesStore
from storage.db.engine import open_registry, sqlite_url


class _Cycle:
    """An object only the cyclic collector can free."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture
def unfrozen() -> Iterator[None]:
    assert gc.get_freeze_count() == 0
    yield
    gc.unfreeze()  # this test process's collector as it was


def _state(store: TimeSeriesStore, tmp_path: Path, *, freeze_heap: bool) -> AppState:
    sessions = open_registry(sqlite_url(tmp_path / "registry.sqlite3"))
    return AppState(
        store, sessions, ForecastService(store, sessions), shipped_profiles(), freeze_heap=freeze_heap
    )


def test_a_refresh_freezes_what_lives_and_the_next_frees_what_died(
    sqlite_store: TimeSeriesStore, tmp_path: Path, unfrozen: None
) -> None:
    state = _state(sqlite_store, tmp_path, freeze_heap=True)
    kept = _Cycle()  # alive at the refresh: frozen with the forecasts
    gone = weakref.ref(kept)
    state.refresh()
    assert gc.get_freeze_count() > 0
    del kept
    gc.collect()
    assert gone() is not None  # frozen: full passes no longer walk it (nor free it)
    state.refresh()
    assert gone() is None  # the next refresh collected it: a refresh's cycles are not kept for good


def test_an_app_in_a_shared_process_leaves_the_collector_alone(
    sqlite_store: TimeSeriesStore, tmp_path: Path, unfrozen: None
) -> None:
    _state(sqlite_store, tmp_path, freeze_heap=False).refresh()
    assert gc.get_freeze_count() == 0
