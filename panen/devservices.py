"""Real InfluxDB and Mosquitto processes on free loopback ports, for tests and benchmarks.

These run the Debian packages' binaries (``influxd`` from ``influxdb``, ``mosquitto``) with a
generated config in a private folder, so tests exercise the real servers panen talks to in
production, and several test runs can share a machine without clashing on ports.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from storage.influx import InfluxStore
from storage.retention import Retention

__all__ = ["DevServiceError", "InfluxServer", "MosquittoServer", "PostgresServer", "find_binary", "free_port"]

# Debian installs mosquitto in /usr/sbin, which is not on a normal user's PATH.
_EXTRA_PATHS = ("/usr/sbin", "/usr/local/sbin", "/sbin")


class DevServiceError(RuntimeError):
    """A service binary is missing or the service did not come up; the message says what to do."""


def find_binary(name: str, package: str) -> str:
    """Absolute path of ``name``, or :class:`DevServiceError` naming the Debian package to install."""
    found = shutil.which(name) or next(
        (str(Path(d) / name) for d in _EXTRA_PATHS if (Path(d) / name).is_file()), None
    )
    if found is None:
        raise DevServiceError(f"{name} not found: install it with `apt-get install -y {package}`")
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class _Process:
    """A child process with a log file, started and stopped on demand."""

    name = "service"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / f"{self.name}.out"
        self._proc: subprocess.Popen[bytes] | None = None

    def _command(self) -> list[str]:
        raise NotImplementedError

    def _ready(self) -> bool:
        raise NotImplementedError

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs (benchmarks read its CPU time)."""
        return self._proc.pid if self._proc is not None else None

    def start(self, timeout_s: float = 30.0) -> None:
        """Start the process and wait until it answers."""
        if self.running:
            return
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                self._command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise DevServiceError(
                    f"{self.name} exited with {self._proc.returncode}:\n{_tail(self.log_path)}"
                )
            if self._ready():
                return
            time.sleep(0.05)
        self.stop()
        raise DevServiceError(f"{self.name} did not answer within {timeout_s:.0f} s:\n{_tail(self.log_path)}")

    def stop(self, timeout_s: float = 15.0) -> None:
        """Stop gracefully (SIGTERM), then SIGKILL if it does not exit in time."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def pause(self) -> None:
        """SIGSTOP: the process hangs, its connections open and unanswered (a hung server)."""
        if self._proc is not None:
            os.kill(self._proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after :meth:`pause`."""
        if self._proc is not None:
            os.kill(self._proc.pid, signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL, as a crash or power cut would."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


class InfluxServer(_Process):
    """An ``influxd`` (1.x, v1 HTTP API) on a free loopback port with its data in ``workdir``."""

    name = "influxd"

    def __init__(
        self,
        workdir: Path,
        *,
        database: str = "panen",
        retention_check_s: int = 1800,
        continuous_queries: bool = False,
    ) -> None:
        """Prepare the config; call :meth:`start`. The HTTP port stays the same across restarts.

        ``retention_check_s`` is how often expired shards are dropped (InfluxDB's default is 30 min);
        ``continuous_queries`` runs them, checked every second (off by default: tests that need the
        rollups running say so).
        """
        super().__init__(workdir)
        self.database = database
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config_path = workdir / "influxdb.conf"
        self.config_path.write_text(
            f"""reporting-disabled = true
bind-address = "127.0.0.1:{free_port()}"
[meta]
  dir = "{workdir}/meta"
[data]
  dir = "{workdir}/data"
  wal-dir = "{workdir}/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:{self.port}"
  log-enabled = false
[continuous_queries]
  enabled = {"true" if continuous_queries else "false"}
  run-interval = "1s"
[retention]
  check-interval = "{retention_check_s}s"
[logging]
  level = "warn"
"""
        )

    def _command(self) -> list[str]:
        return [find_binary("influxd", "influxdb"), "-config", str(self.config_path)]

    def _ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/ping", timeout=1.0).status_code == 204
        except httpx.HTTPError:
            return False

    def create_database(self, name: str | None = None, *, retention: Retention | None = None) -> None:
        """Set up a database as ``panen store init`` does (default: the configured database), with
        ``retention`` (default: every tier kept forever, so tests may write readings of any age)."""
        store = InfluxStore(
            self.url, database=name or self.database, retention=retention or Retention(None, None)
        )
        try:
            store.create_database()
        finally:
            store.close()

    def drop_database(self, name: str | None = None) -> None:
        """``DROP DATABASE`` on this server (default: the configured database)."""
        response = httpx.post(f"{self.url}/query", data={"q": f'DROP DATABASE "{name or self.database}"'})
        response.raise_for_status()


class MosquittoServer(_Process):
    """A ``mosquitto`` broker on a free loopback port. ``extra_config`` is appended to its config."""

    name = "mosquitto"

    def __init__(self, workdir: Path, *, extra_config: str = "") -> None:
        """Prepare the config; call :meth:`start`. The port stays the same across restarts."""
        super().__init__(workdir)
        self.port = free_port()
        self.url = f"mqtt://127.0.0.1:{self.port}"
        self.config_path = workdir / "mosquitto.conf"
        self.config_path.write_text(
            f"""per_listener_settings false
listener {self.port} 127.0.0.1
allow_anonymous true
persistence false
log_dest file {workdir}/mosquitto.log
log_type error
log_type warning
{"user root" if os.geteuid() == 0 else ""}
{extra_config}
"""
        )

    def _command(self) -> list[str]:
        return [find_binary("mosquitto", "mosquitto"), "-c", str(self.config_path)]

    def _ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False


class PostgresServer(_Process):
    """A PostgreSQL server (Debian ``postgresql``) on a free loopback port with its data in ``workdir``.

    PostgreSQL refuses to run as root, so when the tests run as root the cluster belongs to the
    ``postgres`` user the Debian package creates, and the server is started as that user.
    """

    name = "postgres"

    def __init__(self, workdir: Path) -> None:
        """Create the cluster (``initdb``); call :meth:`start`."""
        self._own_dir: Path | None = None
        if os.geteuid() == 0:
            # The postgres user cannot enter root's private test folders: use a folder of its own.
            self._own_dir = Path(tempfile.mkdtemp(prefix="panen-postgres-"))
            shutil.chown(self._own_dir, "postgres")
            workdir = self._own_dir
        super().__init__(workdir)
        if self._own_dir is not None:
            shutil.chown(self.log_path.parent, "postgres")
        self.port = free_port()
        self.data = workdir / "pgdata"
        self._bin = self._find_bin()
        self._as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if not self.data.exists():
            subprocess.run(
                [
                    *self._as_user,
                    str(self._bin / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    "panen",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--locale=C",
                ],
                check=True,
                capture_output=True,
            )
        self.url = f"postgresql+psycopg://panen@127.0.0.1:{self.port}/postgres"

    @staticmethod
    def _find_bin() -> Path:
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
        if not found:
            raise DevServiceError("PostgreSQL not found: install it with `apt-get install -y postgresql`")
        return found[-1].parent

    def _command(self) -> list[str]:
        return [
            *self._as_user,
            str(self._bin / "postgres"),
            "-D",
            str(self.data),
            "-p",
            str(self.port),
            "-c",
            "listen_addresses=127.0.0.1",
            "-k",
            str(self.workdir),
            "-c",
            "fsync=off",
        ]

    def _ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                pass
        except OSError:
            return False
        check = subprocess.run(
            [str(self._bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)], capture_output=True
        )
        return check.returncode == 0

    def stop(self, timeout_s: float = 15.0) -> None:
        """Stop the server and remove the folder it owned."""
        super().stop(timeout_s)
        if self._own_dir is not None:
            shutil.rmtree(self._own_dir, ignore_errors=True)

    def _psql(self, sql: str) -> None:
        command = [str(self._bin / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "panen"]
        subprocess.run([*command, "-d", "postgres", "-c", sql], check=True, capture_output=True)

    def create_database(self, name: str) -> str:
        """Create a database; returns its SQLAlchemy URL."""
        self._psql(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://panen@127.0.0.1:{self.port}/{name}"

    def drop_database(self, name: str) -> None:
        """Drop a database, closing the connections still open to it (a test's pooled engine): the
        server's connection slots are freed whatever the test left open."""
        self._psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def wait_until_answers(url: str, timeout_s: float = 30.0) -> None:
    """Return once ``url`` answers 200 (a server just started); raise :class:`DevServiceError` after
    ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise DevServiceError(f"{url} did not answer within {timeout_s:g} s")
