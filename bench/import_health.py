"""Does the API keep answering while the largest import it takes runs? A fleet document just under
the 20 MiB limit is posted to ``panen api`` (a real uvicorn process, SQLite registry and store) while
``/health`` is asked every 10 ms; prints the import's time and /health's latency (issue 16: a
3.3 MB file blocked /health for 54 s when YAML was parsed on the event loop).

Run: ``python -m bench.import_health [--mib 19.5]``.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
import yaml

from firmware_sim.fleet import DEFAULT_FLEET_PATH
from panen.devservices import free_port, wait_until_answers
from services.access import Role, create_token
from services.registry_import import MAX_DOCUMENT_BYTES
from storage.db.engine import open_registry, sqlite_url


def _document(target_bytes: int) -> bytes:
    """The Kota Batu fleet's cooperatives repeated under new ids until the document is that large."""
    base = yaml.safe_load(DEFAULT_FLEET_PATH.read_text())
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

    def copies(n: int) -> list[dict[str, object]]:
        out = []
        for copy_no in range(1, n + 1):
            for coop in base["cooperatives"]:
                c = copy.deepcopy(coop)
                suffix = f"-x{copy_no}"
                c["id"] += suffix
                c["station"]["id"] += suffix
                c["station"]["node"]["id"] += suffix
                for f in c["fields"]:
                    f["id"] += suffix
                    f["node"]["id"] += suffix
                    if f["node"].get("dev_eui"):
                        f["node"]["dev_eui"] = f"{(int(f['node']['dev_eui'], 16) + copy_no) % 2**64:016x}"
                out.append(c)
        return out

    def dump(n: int) -> bytes:
        doc = {"anchor": base["anchor"], "cooperatives": copies(n)}
        return yaml.dump(doc, Dumper=dumper, sort_keys=False).encode()

    one = len(dump(1))
    n = max(1, int(target_bytes / one))
    while n > 1 and len(body := dump(n)) > target_bytes:
        n -= 1
    return dump(n) if n == 1 else body


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mib", type=float, default=MAX_DOCUMENT_BYTES / 1024**2 - 0.5)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-import-"))
    body = _document(int(args.mib * 1024**2))
    with open_registry(sqlite_url(work / "registry.sqlite3"))() as session:
        admin = create_token(session, name="bench", role=Role.ADMIN)
    port = free_port()
    env = {**os.environ, "PANEN_DATA_DIR": str(work)}
    api = subprocess.Popen(
        [sys.executable, "-m", "panen", "api", "--port", str(port), "--refresh-minutes", "0"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answers(f"{url}/health", 60)
        latencies: list[float] = []
        done = threading.Event()

        def probe() -> None:
            with httpx.Client(timeout=30) as client:
                while not done.is_set():
                    started = time.perf_counter()
                    client.get(f"{url}/health")
                    latencies.append((time.perf_counter() - started) * 1000)
                    time.sleep(0.01)

        prober = threading.Thread(target=probe, daemon=True)
        prober.start()
        started = time.perf_counter()
        r = httpx.post(
            f"{url}/v1/registry/import",
            content=body,
            headers={"Authorization": f"Bearer {admin}", "Content-Type": "application/yaml"},
            timeout=1800,
        )
        seconds = time.perf_counter() - started
        done.set()
        prober.join(30)
        if r.status_code != 200:
            raise SystemExit(f"the import failed: {r.status_code} {r.text[:500]}")
        counts = r.json()
        ordered = sorted(latencies)
        print(
            json.dumps(
                {
                    "bench": "import_health",
                    "document_mib": round(len(body) / 1024**2, 2),
                    "cooperatives": counts["cooperatives"],
                    "fields": counts["fields"],
                    "import_s": round(seconds, 1),
                    "health_requests": len(ordered),
                    "health_p50_ms": round(statistics.median(ordered), 2),
                    "health_p99_ms": round(ordered[int(0.99 * (len(ordered) - 1))], 2),
                    "health_max_ms": round(ordered[-1], 2),
                }
            )
        )
    finally:
        api.terminate()
        api.wait(30)


if __name__ == "__main__":
    main()
