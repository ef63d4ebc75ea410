"""Ctrl-C stops ``panen demo`` within 5 s in every phase (issue 40). Found on main: a Ctrl-C during
the first forecast left the demo and its API running 8 s later, because the demo waited for the
step in progress to end before stopping its children. Four cooperatives' season before lasts long
enough on these machines to show it (main failed that phase here); their first forecast takes a
second or two, so that phase checks the stop but could not catch the old wait (the 8 s on main were
under load)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.panen.test_demo import SMALL, Demo

# What the demo prints as it enters each phase before "panen is running" (the live phase is
# interrupted by tests/panen/test_demo.py).
PHASES = {
    "season before": "weekly hindcasts",
    "backfill": "simulating 5 days",
    "first forecast": "forecasting every field",
}


def _group(pgid: int) -> list[int]:
    """The live processes of process group ``pgid`` (zombies are gone already)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


@pytest.mark.timeout(400)
@pytest.mark.parametrize("phase", list(PHASES))
def test_ctrl_c_leaves_no_process_of_the_demo_within_5_s(tmp_path: Path, phase: str) -> None:
    demo = Demo(tmp_path, {}, SMALL)
    try:
        deadline = time.monotonic() + 300
        while PHASES[phase] not in demo.text():
            assert demo.proc.poll() is None, demo.text()
            assert time.monotonic() < deadline, demo.text()
            time.sleep(0.1)
        time.sleep(0.5)  # well into the phase
        group = demo.proc.pid  # its own session: the group is the demo's pid
        assert demo.proc.pid in _group(group)
        os.kill(demo.proc.pid, signal.SIGINT)
        interrupted = time.monotonic()
        while _group(group) and time.monotonic() - interrupted < 5:
            time.sleep(0.1)
        left = _group(group)
        assert not left, (phase, left, demo.text()[-2000:])
        assert demo.proc.wait(1) == 0, demo.text()[-2000:]
        assert "stopped" in demo.text()
    finally:
        demo.kill_all()
