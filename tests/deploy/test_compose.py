"""docker-compose.yml: valid for Compose (Debian's docker-compose 1.29 runs `config` without a Docker
engine), complete, every service's command is one of ours, and no secret is committed."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from panen.cli import app

ROOT = Path(__file__).parents[2]
SERVICES = {"init", "mosquitto", "influxdb", "grafana", "grafana-sync", "ingest-1", "ingest-2", "api", "sim",
            "dask-scheduler", "dask-worker"}  # fmt: skip
SECRETS = ("PANEN_TENANT_SECRET", "INFLUXDB_ADMIN_PASSWORD", "MQTT_INGEST_PASSWORD", "MQTT_RELAY_PASSWORD",
           "GRAFANA_ADMIN_PASSWORD", "PANEN_FLEET_SECRET")  # fmt: skip


@pytest.fixture(scope="module")
def resolved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """`docker-compose config` of the repository's file with .env.example as .env."""
    binary = shutil.which("docker-compose")
    assert binary, "docker-compose is missing: apt-get install -y docker-compose (./scripts/test does)"
    work = tmp_path_factory.mktemp("compose")
    shutil.copy(ROOT / "docker-compose.yml", work)
    shutil.copy(ROOT / ".env.example", work / ".env")
    out = subprocess.run([binary, "config"], cwd=work, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    doc: dict[str, Any] = yaml.safe_load(out.stdout)
    return doc


def test_compose_validates_and_has_every_service(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    assert set(services) == SERVICES
    for name in SERVICES - {"init", "grafana-sync"}:
        assert services[name]["restart"] == "unless-stopped", name
    for name in ("mosquitto", "influxdb", "grafana", "ingest-1", "ingest-2", "api"):
        assert services[name]["healthcheck"]["test"], name
    assert set(resolved["volumes"]) >= {"panen-data", "mosquitto-data", "influxdb-data", "grafana-data"}
    # InfluxDB 1.x with authentication, one database per cooperative: what the tests run against.
    assert services["influxdb"]["environment"]["INFLUXDB_HTTP_AUTH_ENABLED"] == "true"
    assert services["api"]["environment"]["PANEN_INFLUX_TENANTS"] == "true"
    users = {
        n: services[n]["environment"]["PANEN_INFLUX_USER"] for n in ("init", "ingest-1", "ingest-2", "api")
    }
    assert users == {
        "init": "admin",
        "ingest-1": "panen_ingest",
        "ingest-2": "panen_ingest",
        "api": "panen_api",
    }
    assert "PANEN_INFLUX_TOKEN" not in services["api"]["environment"]  # derived from the tenant secret
    # Grafana's organisations come after init, from the registry.
    assert services["grafana-sync"]["depends_on"]["init"]["condition"] == "service_completed_successfully"
    assert services["mosquitto"]["image"].startswith("eclipse-mosquitto:2")
    assert services["influxdb"]["image"] == "influxdb:1.11"
    # Both ingest workers share one MQTT v5 group, with different client ids.
    commands = [services[n]["command"] for n in ("ingest-1", "ingest-2")]
    assert all(c[c.index("--shared-group") + 1] == "ingest" for c in commands)
    assert len({c[c.index("--client-id") + 1] for c in commands}) == 2
    # The Dask cluster is optional: only with `--profile dask`, its workers pointing at its scheduler.
    assert services["dask-scheduler"]["profiles"] == services["dask-worker"]["profiles"] == ["dask"]
    assert "tcp://dask-scheduler:8786" in services["dask-worker"]["command"]


def _panen_invocations(command: list[str] | str) -> list[list[str]]:
    text = command if isinstance(command, str) else shlex.join(command)
    if isinstance(command, list) and command[:2] == ["sh", "-c"]:
        text = command[2]
    calls = []
    for part in re.split(r"&&|;", text):
        words = shlex.split(part)
        if words and words[0] == "panen":
            calls.append(words[1:])
    return calls


def test_every_service_command_is_ours(resolved: dict[str, Any]) -> None:
    runner = CliRunner()
    seen = 0
    for name, service in resolved["services"].items():
        if "command" not in service or service.get("image", "").split(":")[0] != "panen":
            continue
        for args in _panen_invocations(service["command"]):
            words = [w for w in args if not w.startswith("-")]
            sub = [
                w
                for w in words
                if w
                in {
                    "registry",
                    "import",
                    "store",
                    "tenants",
                    "broker-config",
                    "ingest",
                    "api",
                    "sim",
                    "grafana",
                    "sync",
                }
            ]
            help_out = runner.invoke(app, [*sub, "--help"], env={"COLUMNS": "200"})
            assert help_out.exit_code == 0, (name, args, help_out.output)
            for option in (a for a in args if a.startswith("--")):
                assert option in help_out.output, (name, option)
            seen += 1
    assert seen == 8  # registry import, store tenants, broker-config, 2 × ingest, api, sim, grafana sync


def test_no_secret_is_committed() -> None:
    compose = (ROOT / "docker-compose.yml").read_text()
    for line in compose.splitlines():
        m = re.match(r"\s*[A-Z_]*(?:PASSWORD|TOKEN|SECRET)[A-Z_]*:\s*(\S+)", line)
        if m and not m.group(1).startswith("${"):
            pytest.fail(f"a secret in docker-compose.yml: {line.strip()}")
    assert re.search(r"mqtt://\w+:[^$@]+@", compose) is None, "a password inside an MQTT URL"
    example = dict(
        line.split("=", 1)
        for line in (ROOT / ".env.example").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    for key in SECRETS:
        assert example[key].startswith("change-me"), key
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert ".env" not in tracked
    assert not any(p.endswith("passwd") for p in tracked)


def test_the_image_copies_every_package_panen_installs() -> None:
    """The Dockerfile lists the packages one by one: a new one (services/ was) must be added there too."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = set(re.findall(r"^COPY (\w+) \1$", (ROOT / "Dockerfile").read_text(), flags=re.M))
    assert packages == copied
    assert packages == {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests"}
