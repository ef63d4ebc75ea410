"""Where the forecast's chunks of fields are computed: in this process, or on a Dask cluster.

The chunks are independent (each field's random stream is keyed by its id, so a field's forecast
is the same alone, in any chunk, on any worker): :class:`DaskCompute` submits them to the scheduler
named by ``PANEN_DASK_SCHEDULER`` (``tcp://host:8786``), retries a chunk that fails (a worker that
died takes its chunks with it; the scheduler gives them to another), reports progress, and raises
:class:`ComputeFailed` naming the chunk when one fails for good: a run is complete or it fails,
never silently short.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from services import ServiceError

__all__ = ["Compute", "ComputeFailed", "DaskCompute", "InProcess"]

log = logging.getLogger("services.compute")
Item = TypeVar("Item")
Result = TypeVar("Result")
Progress = Callable[[int, int], None]


class ComputeFailed(ServiceError):
    """A chunk failed on every try (or the cluster is unreachable); the message says which and why."""


class Compute(Protocol):
    """Maps a function over chunks, in order, all of them or an error."""

    def map(self, fn: Callable[[Item], Result], items: Sequence[Item]) -> list[Result]:
        """``[fn(item) for item in items]``, wherever it runs."""
        ...


class InProcess:
    """Every chunk in this process, one after the other (the default)."""

    def map(self, fn: Callable[[Item], Result], items: Sequence[Item]) -> list[Result]:
        """Run ``fn`` over ``items`` here."""
        return [fn(item) for item in items]


class DaskCompute:
    """Chunks on a Dask cluster (``dask.distributed``).

    ``retries``: a chunk whose task raises is tried this many more times; a chunk lost with a dead
    worker is rescheduled by the scheduler itself (up to its ``allowed-failures``).
    """

    def __init__(
        self, address: str, *, retries: int = 2, timeout_s: float = 30.0, progress: Progress | None = None
    ) -> None:
        """Connect to the scheduler at ``address`` lazily, on the first :meth:`map`."""
        self.address = address
        self.retries = retries
        self.timeout_s = timeout_s
        self.progress = progress
        self._client: object | None = None

    def _connect(self) -> object:
        from distributed import Client

        if self._client is None:
            try:
                self._client = Client(  # type: ignore[no-untyped-call]
                    self.address, timeout=self.timeout_s, set_as_default=False
                )
            except (OSError, TimeoutError) as exc:
                raise ComputeFailed(f"cannot reach the Dask scheduler at {self.address}: {exc}") from exc
        return self._client

    def map(self, fn: Callable[[Item], Result], items: Sequence[Item]) -> list[Result]:
        """Submit every chunk, wait for all, in order."""
        from distributed import as_completed

        if not items:
            return []
        client = self._connect()
        futures = client.map(fn, list(items), retries=self.retries, pure=False)  # type: ignore[attr-defined]
        index = {f.key: i for i, f in enumerate(futures)}
        results: list[object] = [None] * len(futures)
        started = time.monotonic()
        finished = as_completed(futures, loop=client.loop)  # type: ignore[attr-defined, no-untyped-call]
        for done, future in enumerate(finished, start=1):
            i = index[future.key]
            if future.status == "error":
                exc = future.exception()
                for other in futures:
                    other.cancel()
                raise ComputeFailed(
                    f"chunk {i + 1} of {len(futures)} failed after {self.retries + 1} tries on the cluster: "
                    f"{type(exc).__name__}: {exc}"
                )
            results[i] = future.result()
            if self.progress is not None:
                self.progress(done, len(futures))
        log.info("%d chunks on %s in %.1f s", len(futures), self.address, time.monotonic() - started)
        return results  # type: ignore[return-value]

    def close(self) -> None:
        """Disconnect from the scheduler."""
        if self._client is not None:
            self._client.close()  # type: ignore[attr-defined]
            self._client = None
