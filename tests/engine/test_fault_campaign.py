"""The fault campaign: one short real Airstriker run (`workbench train`, 2 env workers, a learner process,
episodes recorded, a checkpoint after every update) is SIGKILLed ten times, each time in one of its three
process kinds (the run process, an env worker, the learner process), and resumed after each kill. Six kills come
at seeded random moments; four are placed exactly with `core.faults` (the run process halfway through writing a
checkpoint and halfway through writing an episode's sidecar, an env worker halfway through writing its movie, the
learner before an update). After every kill and at the end the run folder must hold:

- every update exactly once in metrics.sqlite (1..N, with the global step each one had), and no episode row from
  an update that is not there;
- every checkpoint loadable, each one's update in its metrics, and all of them one lineage (each writer continued
  from the newest checkpoint before it: no checkpoint from a writer whose history was thrown away);
- every indexed episode's movie and sidecar present and readable;
- no process of the killed run left, no shared-memory segment left; a run process whose child was killed ended by
  itself, non-zero, with status.json failed and the cause named.
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from workbench.core.paths import DEFAULT_PRESET, SHM_PREFIX, runs_dir
from workbench.core.presets import load_preset, save_preset
from workbench.core.processes import pid_alive
from workbench.engine import checkpoint as ckpt
from workbench.engine.run_store import RunStore

# eleven launches of `workbench train`: ~100 CPU-seconds, 220-300 s wall on 2 busy cores (the suite's default
# 300 s timeout is too tight for it there)
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

SEED = int(os.environ.get("FAULT_CAMPAIGN_SEED", "14"))
"""Another seed is another campaign: `FAULT_CAMPAIGN_SEED=7 pytest tests/engine/test_fault_campaign.py`."""
N_ENVS, N_STEPS = 2, 16
STEPS_PER_UPDATE = N_ENVS * N_STEPS
RUN = "campaign"
EXIT_WAIT_S = 60.0
"""Bound on how long a killed run's processes may take to go (a hang detector, not a speed claim)."""


@dataclass
class Kill:
    kind: str
    """'run', 'env' or 'learner': whose process dies."""
    fault: str = ""
    """A `core.faults` plan (an exact moment), or '' for a SIGKILL from here at a random moment."""
    after_updates: int = 1
    delay_s: float = 0.0
    env_index: int = 0


def plan(rng: random.Random) -> list[Kill]:
    """Ten kills in a seeded order: six at random moments (each kind twice), four at exact moments. The first
    comes after the second update (so a checkpoint exists to resume from)."""
    kinds = ["run", "run", "env", "env", "learner", "learner"]
    rng.shuffle(kinds)
    randoms = [Kill(kind, after_updates=rng.randint(1, 2), delay_s=rng.uniform(0.0, 0.6),
                    env_index=rng.randrange(N_ENVS)) for kind in kinds]
    randoms[0].after_updates = 2
    exact = [
        Kill("run", f"run/atomic_write:ckpt_*@{rng.randint(1, 2)}"),      # during a checkpoint write
        Kill("run", "run/atomic_write:*.npz@1"),                            # during an episode (sidecar) write
        Kill("env", f"env{rng.randrange(N_ENVS)}/atomic_write:*.bk2@1"),    # during an episode (movie) write
        Kill("learner", f"learner/update@{rng.randint(1, 2)}"),             # before an update
    ]
    rest = randoms[1:] + exact
    rng.shuffle(rest)
    return randoms[:1] + rest


def _preset(tmp_path: Path) -> Path:
    preset = load_preset(DEFAULT_PRESET)
    preset.name = "campaign"
    preset.ppo.n_envs, preset.ppo.n_steps, preset.ppo.n_minibatches, preset.ppo.n_epochs = N_ENVS, N_STEPS, 1, 1
    preset.ppo.overlap = True  # a learner process to kill
    preset.ppo.precision = "fp32"
    preset.env.max_episode_steps = 20  # an episode ends every 20 agent steps per env: movies and sidecars
    preset.run.record_episodes = True
    preset.run.checkpoint_every, preset.run.keep_checkpoints = 1, 3
    return save_preset(preset, tmp_path / "campaign.toml")


def _children(pid: int) -> list[int]:
    """Direct children of `pid`, oldest first (the run process starts its env workers, then its learner)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append((int(fields[19]), int(entry)))
    return [p for _, p in sorted(found)]


def _is_tracker(pid: int) -> bool:
    try:
        return b"resource_tracker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True


def _workers(run_pid: int) -> list[int]:
    """[env0, env1, learner] once all three are up (the resource tracker left out), else []."""
    spawned = [p for p in _children(run_pid) if not _is_tracker(p)]
    return spawned if len(spawned) == N_ENVS + 1 else []


def _updates(run: Path, since: float = 0.0) -> int:
    """Updates in the metrics (written at or after the wall time `since`: by the process started then)."""
    try:
        rows = RunStore(run).updates() if (run / "metrics.sqlite").exists() else []
    except Exception:  # noqa: BLE001 - the schema is being created
        return 0
    return sum(1 for row in rows if row["wall_time"] >= since)


def _train(preset: Path | None, steps: int, fault: str = "") -> subprocess.Popen:
    args = [str(preset), "--run-name", RUN] if preset is not None else ["--resume", RUN]
    env = dict(os.environ, WORKBENCH_FAULT=fault)
    return subprocess.Popen([sys.executable, "-m", "workbench", "train", *args, "--steps", str(steps)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)


def _run_trial(proc: subprocess.Popen, run: Path, kill: Kill, started: float) -> tuple[set[int], str]:
    """Let `proc` train until `kill` happens; returns (every process of the run seen, its stderr)."""
    seen: set[int] = {proc.pid}
    deadline = time.monotonic() + 240
    victim = None
    while proc.poll() is None and time.monotonic() < deadline:
        workers = _workers(proc.pid)
        seen.update(_children(proc.pid))
        if not kill.fault and workers and _updates(run, since=started) >= kill.after_updates:
            time.sleep(kill.delay_s)
            seen.update(_children(proc.pid))
            victim = {"run": proc.pid, "env": workers[kill.env_index], "learner": workers[-1]}[kill.kind]
            os.kill(victim, signal.SIGKILL)
            break
        time.sleep(0.05)
    try:
        _, err = proc.communicate(timeout=EXIT_WAIT_S)  # a child's death ends the run process by itself
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"{kill}: the run process did not end after the kill; it hung:\n{err}")
    assert proc.returncode != 0, f"{kill}: the run ended normally: the fault never happened\n{err}"
    return seen, err


def _assert_nothing_left(seen: set[int], run_pid: int, kill: Kill) -> None:
    deadline = time.monotonic() + EXIT_WAIT_S
    while time.monotonic() < deadline:
        alive = [p for p in seen if pid_alive(p)]
        segments = list(Path("/dev/shm").glob(f"{SHM_PREFIX}{run_pid}_*"))
        if not alive and not segments:
            return
        time.sleep(0.1)
    for pid in alive:
        os.kill(pid, signal.SIGKILL)
    pytest.fail(f"{kill}: left behind: processes {alive}, segments {segments}")


def check_run(run: Path, replay: bool = False) -> int:
    """The invariants of the module docstring; returns the number of updates. `replay`: also play the newest
    indexed episode to its end."""
    from workbench.replay.episode_index import list_episodes
    from workbench.replay.reader import EpisodeReader
    from workbench.replay.sidecar import read_sidecar

    store = RunStore(run)
    updates = store.updates()
    n = len(updates)
    assert [u["update"] for u in updates] == list(range(1, n + 1)), "an update is missing or repeated"
    assert [u["global_step"] for u in updates] == [STEPS_PER_UPDATE * k for k in range(1, n + 1)]
    assert all(1 <= e["update"] <= n for e in store.episodes())

    files = ckpt.numbered(run / "checkpoints")
    assert files, "no checkpoint"
    loaded = [ckpt.load(path) for path in files]  # every one loads (CheckpointError otherwise)
    for path, data in zip(files, loaded):
        assert path.name == f"ckpt_{data['update']:08d}.pt"
        assert data["update"] <= n and data["global_step"] == STEPS_PER_UPDATE * data["update"]
    for older, newer in zip(loaded, loaded[1:]):  # one lineage: each writer went on from the newest before it
        a, b = older["lineage"], newer["lineage"]
        assert b[:len(a)] == a, "checkpoints of two histories"
        assert all(w["from_update"] >= older["update"] for w in b[len(a):]), \
            f"ckpt {newer['update']} comes from a writer that resumed before ckpt {older['update']}"
    if (run / "checkpoints" / "best.pt").exists():
        ckpt.load(run / "checkpoints" / "best.pt")

    import stable_retro

    entries = list_episodes(run)
    for entry in entries:
        assert entry.movie_path.is_file() and entry.sidecar_path.is_file(), entry
        sidecar = read_sidecar(entry.sidecar_path)  # ReplayError if damaged
        assert sidecar.meta.movie == entry.movie_path.relative_to(run).as_posix()
        movie = stable_retro.Movie(str(entry.movie_path))  # RuntimeError if damaged
        frames = 0
        while movie.step():
            frames += 1
        assert frames >= sidecar.meta.length, entry  # every agent step is at least one emulator frame
    if replay and entries:  # the newest one replays to its end (one emulator per reader: one is enough here)
        with EpisodeReader(entries[0].movie_path) as reader:
            reader.seek(reader.n_frames - 1)
    return n


def test_kills_in_every_process_kind_lose_nothing_and_leave_nothing(tmp_path):
    rng = random.Random(SEED)
    kills = plan(rng)
    assert len(kills) >= 10 and {k.kind for k in kills} == {"run", "env", "learner"}
    preset = _preset(tmp_path)
    run = runs_dir() / RUN
    for i, kill in enumerate(kills):
        t0, started = time.monotonic(), time.time()
        proc = _train(preset if i == 0 else None, 10 ** 6, kill.fault)
        seen, err = _run_trial(proc, run, kill, started)
        _assert_nothing_left(seen, proc.pid, kill)
        status = RunStore(run).status()
        if kill.kind == "run":
            assert proc.returncode == -signal.SIGKILL
            assert status["state"] == "running"  # what a killed run leaves; the next writer takes over
        else:  # it noticed its child's death, said why, cleaned up and exited non-zero by itself
            assert proc.returncode == 1, err
            assert status["state"] == "failed", status
            cause = "learner process exited with code -9" if kill.kind == "learner" else "was killed by signal 9"
            assert cause in status["error"], status
        n = check_run(run)
        print(f"kill {i}: {kill.kind} {kill.fault or f'after +{kill.after_updates} updates +{kill.delay_s:.2f} s'}"
              f" -> exit {proc.returncode}, {status['state']} {(status.get('error') or '').splitlines()[:1]}; "
              f"{n} updates, {time.monotonic() - t0:.1f} s")

    target = (_updates(run) + 2) * STEPS_PER_UPDATE
    final = _train(None, target)
    _, err = final.communicate(timeout=240)
    assert final.returncode == 0, err
    assert RunStore(run).status()["state"] == "finished"
    n = check_run(run, replay=True)
    assert n * STEPS_PER_UPDATE >= target
    assert not [p for p in run.rglob(".*.tmp")], "a killed writer's temp file survived the resume"
    lineage = ckpt.load(ckpt.numbered(run / "checkpoints")[-1])["lineage"]
    starts = [w["from_update"] for w in lineage]  # writers that left no checkpoint are not in it
    assert len(lineage) >= 3 and starts == sorted(starts) and starts[0] == 0
