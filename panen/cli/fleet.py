"""``panen fleet``: every sensor node with its state, last uplink, battery and radio (issue 40), the
same as ``GET /v1/nodes`` shows an admin. The nodes to visit come first."""

from __future__ import annotations

from typing import Annotated

import typer

from panen.cli._common import app, console
from panen.settings import get_settings


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86_400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86_400:.1f} d"


def _value(value: float | None, unit: str, fmt: str = ".2f") -> str:
    return "-" if value is None else f"{value:{fmt}} {unit}"


@app.command("fleet")
def fleet(
    state: Annotated[
        str | None, typer.Option(help="Only nodes in this state: silent, late, low_battery, ok, unknown.")
    ] = None,
    coop: Annotated[str | None, typer.Option(help="Only this cooperative's nodes.")] = None,
) -> None:
    """The fleet's nodes, the silent first: state, last uplink, battery, signal. Exit 1 if any is silent."""
    import time

    from rich.console import Console
    from rich.table import Table

    from panen.wiring import open_store
    from services.access import Principal, Role
    from services.fleet import NodeState, health_in_scope
    from storage.db.engine import open_registry

    try:
        wanted = NodeState(state) if state else None
    except ValueError as exc:
        console.print(f"[red]unknown state {state!r}[/red]: choose {', '.join(s.value for s in NodeState)}")
        raise typer.Exit(2) from exc
    cfg = get_settings()
    store = open_store(cfg)
    sessions = open_registry(cfg.registry_url)
    operator = Principal(0, "panen CLI", Role.ADMIN, None, None)
    try:
        with sessions() as session:
            found = health_in_scope(store, session, operator, time.time_ns() // 1_000_000, state=wanted)
    finally:
        store.close()
    found = [h for h in found if coop is None or h.node.coop_id == coop]
    rank = list(NodeState)
    found.sort(key=lambda h: (rank.index(h.state), -(h.silent_s or float("inf")), h.node.id))
    table = Table(title=f"{len(found)} nodes")
    for column in ("node", "site", "state", "last uplink", "battery", "signal", "every", "firmware"):
        # An id is never cut short on a narrow terminal ("junrej…" names no node): it folds instead.
        table.add_column(column, overflow="fold", min_width=6 if column in ("node", "site") else None)
    colour = {NodeState.SILENT: "red", NodeState.LATE: "yellow", NodeState.LOW_BATTERY: "yellow"}
    for h in found:
        battery = _value(h.battery_v, "V") if h.battery_v is not None else _value(h.battery_pct, "%", ".0f")
        signal = "-" if h.rssi_dbm is None else f"{h.rssi_dbm:.0f} dBm / {_value(h.snr_db, 'dB', '.1f')}"
        style = colour.get(h.state, "")
        table.add_row(
            h.node.name or h.node.id, h.node.site_id, f"[{style}]{h.state}[/{style}]" if style else h.state,
            _ago(h.silent_s), battery, signal, f"{h.node.interval_min} min", h.node.firmware or "-",
        )  # fmt: skip
    Console().print(table)  # the answer, on stdout (a pipe or a file takes it); notes go to stderr
    silent = sum(h.state is NodeState.SILENT for h in found)
    if silent:
        console.print(f"[red]{silent} silent[/red]: check their batteries and antennas")
        raise typer.Exit(1)
