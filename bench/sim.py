"""Simulator benchmark: ``panen sim --backfill 120 --interval 60`` for the whole default fleet
(24 cooperatives, 264 nodes) through a real Mosquitto, timed end to end as a user runs it (process
start, simulation, encoding, publishing every message with its QoS).

Run: ``python -m bench.sim [--days 120]``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from panen.devservices import MosquittoServer


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--interval", type=int, default=60)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="panen-bench-sim-") as tmp:
        broker = MosquittoServer(Path(tmp) / "mq")
        broker.start()
        try:
            started = time.perf_counter()
            proc = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "panen",
                    "sim",
                    "--backfill",
                    str(args.days),
                    "--interval",
                    str(args.interval),
                ],
                env={
                    **os.environ,
                    "PANEN_MQTT_URL": f"mqtt://127.0.0.1:{broker.port}",
                    "PANEN_DATA_DIR": tmp,
                    "COLUMNS": "200",
                },
                capture_output=True,
                text=True,
                check=True,
            )
            elapsed = time.perf_counter() - started
        finally:
            broker.stop()
        truths = json.loads((Path(tmp) / "sim_truths.json").read_text())["fields"]
    found = re.search(
        r"published (\d+) messages carrying about (\d+) readings", proc.stderr.replace("\n", " ")
    )
    messages, readings = (int(found.group(1)), int(found.group(2))) if found else (0, 0)
    print(
        json.dumps(
            {
                "bench": "sim",
                "days": args.days,
                "interval_min": args.interval,
                "fields": len(truths),
                "messages": messages,
                "readings": readings,
                "backfill_seconds": round(elapsed, 2),
                "readings_per_s": round(readings / elapsed),
            }
        )
    )


if __name__ == "__main__":
    main()
