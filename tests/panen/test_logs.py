"""One log format for every process (issue 40). Found on main: ``api.log``'s access lines had no
timestamp (uvicorn's own format), and a console line was wrapped in two in ``ingest.log``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from panen.devservices import free_port, wait_until_answers

STAMPED = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.]+: ")


def _api_log(data: Path, fmt: str) -> list[str]:
    """What ``panen api`` writes to stderr while it answers one request."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PANEN_")}
    env.update({"PANEN_DATA_DIR": str(data), "PANEN_LOG_FORMAT": fmt, "COLUMNS": "60"})
    server = subprocess.Popen(
        [sys.executable, "-m", "panen", "api", "--port", str(port), "--refresh-minutes", "0", "--no-notify"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_until_answers(f"http://127.0.0.1:{port}/health", timeout_s=60)
        assert httpx.get(f"http://127.0.0.1:{port}/v1/fields?x=" + "y" * 120).status_code == 401
    finally:
        server.terminate()
        _out, err = server.communicate(timeout=30)
    return [line for line in err.splitlines() if line.strip()]


def test_every_api_line_is_stamped_and_the_access_log_too(tmp_path: Path) -> None:
    lines = _api_log(tmp_path, "text")
    assert lines
    assert all(STAMPED.match(line) for line in lines), [x for x in lines if not STAMPED.match(x)]
    access = [line for line in lines if "uvicorn.access" in line and "/v1/fields" in line]
    assert len(access) == 1, lines  # one request, one line: not wrapped at the narrow terminal


@pytest.mark.parametrize("fmt", ["json"])
def test_json_lines_when_asked(tmp_path: Path, fmt: str) -> None:
    lines = _api_log(tmp_path, fmt)
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"ts", "level", "logger", "msg"} <= set(r) for r in records)
    assert any(r["logger"] == "uvicorn.access" and "/v1/fields" in r["msg"] for r in records)
