"""Another process that writes a run folder, as `workbench train` in a terminal would: it takes the folder's
writer lock, says "running" in status.json, and (optionally) logs an update with one episode every 0.2 s, until
killed."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

WRITER = """
import sys, time
from workbench.core.records import EpisodeRecord
from workbench.engine.run_store import RunLock, RunStore
lock = RunLock.acquire(sys.argv[1], "workbench train")
store = RunStore(lock.folder)
store.write_status("running", update=0, global_step=0)
print("held", flush=True)
update = max([u["update"] for u in store.updates()], default=0)
while True:
    time.sleep(0.2)
    if sys.argv[2] == "updates":
        update += 1
        episode = EpisodeRecord(64 * update, 0, "Airstriker-Genesis-v0:Level1", float(update), 64, False, 0, None)
        store.log_update(update, 64 * update, {"loss": 1.0 / update, "mean_return": float(update)}, [episode])
        store.write_status("running", update=update, global_step=64 * update)
"""


def start_writer(run_dir: Path, updates: bool = False) -> subprocess.Popen:
    """The writer process, once it holds the lock."""
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(run_dir), "updates" if updates else "quiet"],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def stop_writer(proc: subprocess.Popen) -> None:
    proc.kill()
    proc.wait(30)
    proc.stdout.close()
