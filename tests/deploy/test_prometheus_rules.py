"""The Prometheus alerting rules we ship (issue 40): valid, each firing when it should and not
before (``promtool test rules``, Debian ``prometheus``), and every metric they read is one panen
really exports, so a renamed metric cannot leave a rule watching nothing."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import yaml
from fastapi.testclient import TestClient
from prometheus_client import generate_latest

from api.app import create_app
from ingest.metrics import IngestMetrics
from storage.db.engine import open_registry, sqlite_url
from storage.sqlite import SqliteStore

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"


def _promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool is missing: apt-get install -y prometheus (scripts/test installs it)"
    return found


def test_the_rules_are_valid_and_fire_as_their_unit_tests_say() -> None:
    for command in (["check", "rules", "panen-rules.yml"], ["test", "rules", "panen-rules.test.yml"]):
        done = subprocess.run([_promtool(), *command], cwd=RULES, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr


def test_every_metric_a_rule_reads_is_exported(tmp_path: Path) -> None:
    """The API's /metrics as served, and the names ingest's processes register (some only once they
    run: the supervisor's health gauge, the outages' gauge) as declared in its code."""
    store = SqliteStore(tmp_path / "ts.sqlite3")
    app = create_app(store, open_registry(sqlite_url(tmp_path / "r.sqlite3")))
    with TestClient(app) as c:
        exported = c.get("/metrics").text + generate_latest(IngestMetrics().registry).decode()
    store.close()
    names = set(re.findall(r"^# TYPE (\w+) ", exported, re.MULTILINE))
    root = Path(__file__).resolve().parents[2]
    for package in ("ingest", "services", "api"):
        for source in (root / package).rglob("*.py"):
            names |= set(re.findall(r'"(panen_\w+)"', source.read_text()))
    names |= {f"{n}_total" for n in names}
    rules = yaml.safe_load((RULES / "panen-rules.yml").read_text())
    for rule in rules["groups"][0]["rules"]:
        for name in re.findall(r"\bpanen_\w+", rule["expr"]):
            assert name in names, f"{rule['alert']} reads {name}, which panen does not export"
