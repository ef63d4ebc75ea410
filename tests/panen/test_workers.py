"""The ingest worker pool's supervision with real child processes: a dying worker is started again
with a growing delay; refused credentials (exit 3) stop the pool with 3 instead of a restart loop."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

from panen.workers import EXIT_AUTH, WorkerPool


def test_a_worker_that_keeps_dying_is_restarted_with_a_growing_delay(tmp_path: Path) -> None:
    log = tmp_path / "starts"
    crash = [sys.executable, "-c", f"open({str(log)!r}, 'a').write('x'); raise SystemExit(1)"]
    stay = [sys.executable, "-c", "import time; time.sleep(60)"]
    pool = WorkerPool([crash, stay], max_delay_s=2.0)
    runner = threading.Thread(target=pool.run, kwargs={"poll_s": 0.05})
    runner.start()
    time.sleep(4.5)  # starts at about 0, 1, 3 (delays 1, 2), then every 2 s
    pool.stop()
    runner.join(40)
    starts = len(log.read_text())
    assert 3 <= starts <= 4, starts
    assert pool.workers[1].restarts == 0  # the healthy one was left alone
    assert all(w.process is None or w.process.poll() is not None for w in pool.workers)


def test_refused_credentials_stop_the_pool_with_exit_3() -> None:
    refused = [sys.executable, "-c", f"raise SystemExit({EXIT_AUTH})"]
    stay = [sys.executable, "-c", "import time; time.sleep(60)"]
    started = time.monotonic()
    assert WorkerPool([stay, refused]).run(poll_s=0.05) == EXIT_AUTH
    assert time.monotonic() - started < 30  # and the other worker was stopped, not waited out
