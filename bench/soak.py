"""Does a long run leak memory? One real Airstriker run, started as the window starts one (a detached run
process, `bridge.supervisor`), with this process attached as the window's live-stream client for the whole run
(it watches env 0, reads every new frame and every message at 30 Hz) and every episode recorded (.bk2 + sidecar +
index). Every `--sample-s` seconds it reads the resident memory (VmRSS) of every process of the run: this client,
the run process, each env worker and the learner process (and multiprocessing's resource tracker).

    .venv/bin/python bench/soak.py --minutes 60 [--sample-s 15] [--csv soak.csv]

Per process: RSS at the start and end of the measured window, its peak, and the least-squares slope of RSS over
time in MB per hour. The first `--warmup-min` minutes (default 10% of the run, at least one minute) are left out
of the slope: allocators, caches and the replay index grow to their working size first. RSS, not CPU, is what this
measures, so other load on the machine changes how many steps the run makes, not what a leak looks like.

Last line: rss_growth_mb_per_hour=X (the largest slope over all processes; target < 20).
"""
from __future__ import annotations

import argparse
import csv
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

_stop: list[bool] = []


def _preset():
    from workbench.core.paths import DEFAULT_PRESET
    from workbench.core.presets import load_preset

    preset = load_preset(DEFAULT_PRESET)
    preset.name = "soak"
    preset.ppo.total_steps = 10 ** 10  # ended by this script after --minutes
    preset.env.max_episode_steps = 1000  # shorter episodes: more recorded episodes per hour
    preset.run.record_episodes = True
    preset.run.checkpoint_every = 10
    preset.run.keep_checkpoints = 3
    return preset


def _rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def _start_time(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return 0


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def label_processes(run_pid: int, n_envs: int) -> dict[int, str]:
    """pid -> role. The run process spawns its env workers first and its learner process after them
    (`launcher.build_trainer`), so the spawned children in start order are env 0..n-1, then the learner."""
    labels = {os.getpid(): "client", run_pid: "run"}
    kids = _children()
    spawned = []
    for pid in kids.get(run_pid, []):
        if "resource_tracker" in _cmdline(pid):
            labels[pid] = "resource_tracker"
        else:
            spawned.append(pid)
    spawned.sort(key=_start_time)
    for k, pid in enumerate(spawned):
        labels[pid] = f"env{k}" if k < n_envs else ("learner" if k == n_envs else f"child{k}")
    return labels


def slope_per_hour(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB) points, in MB per hour."""
    n = len(points)
    if n < 2:
        return 0.0
    mt = sum(t for t, _ in points) / n
    mv = sum(v for _, v in points) / n
    var = sum((t - mt) ** 2 for t, _ in points)
    return 0.0 if var == 0 else sum((t - mt) * (v - mv) for t, v in points) / var * 3600.0


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: _stop.append(True))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--sample-s", type=float, default=15.0)
    parser.add_argument("--warmup-min", type=float, default=None)
    parser.add_argument("--report-min", type=float, default=5.0, help="print every process's RSS this often")
    parser.add_argument("--csv", type=Path, default=None, help="write every sample here (time_s, role, pid, rss_mb)")
    args = parser.parse_args()
    warmup_s = 60 * (args.warmup_min if args.warmup_min is not None else max(1.0, args.minutes * 0.1))
    if warmup_s >= args.minutes * 60:
        warmup_s = 0.0
    os.environ["WORKBENCH_RUNS"] = tempfile.mkdtemp(prefix="wb-soak-")
    from workbench.bridge.supervisor import Supervisor
    from workbench.core.paths import SHM_PREFIX
    from workbench.engine.run_store import RunStore

    preset = _preset()
    supervisor = Supervisor()
    handle = supervisor.start(preset, "soak")
    print(f"run {handle.run_dir} (pid {handle.pid}); {args.minutes:g} min, a sample every {args.sample_s:g} s, "
          f"slope after {warmup_s / 60:.1f} min", flush=True)
    samples: dict[str, list[tuple[float, float]]] = {}
    pids: dict[str, int] = {}
    frames = messages = 0
    watching = False
    t0 = None
    next_sample = 0.0
    next_report = 0.0
    try:
        while not _stop:
            for _ in handle.poll():
                messages += 1
            if handle.state in ("finished", "failed", "stopped"):
                raise SystemExit(f"the soak run ended early ({handle.state}): {handle.error}")
            if handle.live and not watching:
                watching = handle.watch(0)
            if handle.frame() is not None:
                frames += 1
            now = time.monotonic()
            if t0 is None and handle.live and handle.hello is not None:
                t0 = now  # the run has built its trainer and serves the stream: from here on
            if t0 is not None and now >= next_sample:
                elapsed = now - t0
                for pid, role in label_processes(handle.pid, preset.ppo.n_envs).items():
                    rss = _rss_mb(pid)
                    if rss is None:
                        continue
                    key = role
                    if pids.setdefault(role, pid) != pid:  # a restarted process is a new series
                        key = f"{role}@{pid}"
                    samples.setdefault(key, []).append((elapsed, rss))
                next_sample = now + args.sample_s
                if elapsed >= next_report:
                    next_report += 60 * args.report_min
                    print(f"t={elapsed / 60:5.1f} min  " + "  ".join(f"{k} {v[-1][1]:.0f} MB" for k, v in
                                                                   samples.items()), flush=True)
                if elapsed >= args.minutes * 60:
                    break
            time.sleep(1 / 30)
    finally:
        if handle.process_alive():
            handle.stop()
            if not handle.wait(120):
                handle.kill()
                handle.wait(5)
        supervisor.shutdown(stop_runs=False)
    store = RunStore(handle.run_dir)
    updates, episodes = store.updates(), store.episodes()
    from workbench.replay.episode_index import list_episodes

    recorded = len(list((handle.run_dir / "episodes").rglob("*.bk2")))
    indexed = len(list_episodes(handle.run_dir))
    leftover = [p.name for p in Path("/dev/shm").glob(f"{SHM_PREFIX}{handle.pid}_*")]
    print(f"run ended {handle.state}; {len(updates)} updates, {updates[-1]['global_step'] if updates else 0} agent "
          f"steps, {len(episodes)} episodes ({recorded} movies recorded, {indexed} indexed); the client got {messages} messages and "
          f"{frames} frames; shared-memory segments left: {leftover or 'none'}", flush=True)
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["time_s", "process", "rss_mb"])
            for key, points in samples.items():
                writer.writerows((f"{t:.1f}", key, f"{v:.2f}") for t, v in points)
    worst = 0.0
    print(f"{'process':<18}{'samples':>8}{'start MB':>10}{'end MB':>10}{'peak MB':>10}{'MB/hour':>10}")
    for key, points in samples.items():
        window = [(t, v) for t, v in points if t >= warmup_s] or points
        slope = slope_per_hour(window)
        worst = max(worst, slope)
        print(f"{key:<18}{len(window):>8}{window[0][1]:>10.1f}{window[-1][1]:>10.1f}"
              f"{max(v for _, v in points):>10.1f}{slope:>10.2f}", flush=True)
    if not samples:
        raise SystemExit("no sample taken: the run never started streaming")
    print(f"rss_growth_mb_per_hour={worst:.2f}")


if __name__ == "__main__":
    main()
