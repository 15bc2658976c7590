"""The supervisor with real run processes: failures surface as the run's failed state with the error text,
finished runs re-attach in their final state, and nothing is left behind."""
from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from workbench.bridge import protocol
from workbench.bridge.supervisor import Supervisor
from workbench.processes import pid_alive
from workbench.catalog.levels import Level, LevelSet
from workbench.catalog.presets import load_preset
from workbench.paths import DEFAULT_PRESET, SHM_PREFIX


def _poll_until(supervisor, handle, predicate, timeout=120.0):
    messages = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        messages += [m for h, m in supervisor.poll() if h is handle]
        if predicate():
            return messages
        time.sleep(0.05)
    raise AssertionError(f"timed out; state={handle.state} error={handle.error!r}")


def _tiny(levels=None):
    preset = load_preset(DEFAULT_PRESET)
    preset.ppo.n_envs = 2
    preset.ppo.n_steps = 16
    preset.ppo.n_epochs = 1
    preset.ppo.total_steps = 64
    preset.run.record_episodes = False
    if levels is not None:
        preset.levels = LevelSet(levels)
    return preset


@pytest.mark.slow
def test_bad_level_fails_with_its_error_and_leaves_nothing(tmp_path):
    supervisor = Supervisor(tmp_path / "runs")
    handle = supervisor.start(_tiny([Level("Airstriker-Genesis-v0", "NoSuchState")]), "bad")
    _poll_until(supervisor, handle, lambda: handle.state == "failed")
    assert handle.error  # the run's own error text, e.g. the missing state
    status = json.loads((handle.run_dir / "status.json").read_text())
    assert status["state"] == "failed" and status["error"]
    handle.wait(30)
    assert not pid_alive(handle.pid)
    assert not (handle.run_dir / "bridge.json").exists()
    supervisor.shutdown(stop_runs=True)


@pytest.mark.slow
def test_missing_preset_file_fails_cleanly(tmp_path):
    supervisor = Supervisor(tmp_path / "runs")
    run_dir = supervisor.new_run_dir("nolaunch")
    (run_dir / "launch.json").write_text(json.dumps({"preset": "missing.toml"}))
    handle = supervisor.start_dir(run_dir)
    _poll_until(supervisor, handle, lambda: handle.state == "failed", timeout=60)
    assert "missing.toml" in handle.error
    supervisor.shutdown(stop_runs=True)


@pytest.mark.slow
def test_run_finishes_streams_and_reattaches_in_final_state(tmp_path):
    supervisor = Supervisor(tmp_path / "runs")
    handle = supervisor.start(_tiny(), "short")
    messages = _poll_until(supervisor, handle, lambda: handle.state == "finished", timeout=180)
    kinds = {type(m) for m in messages}
    assert protocol.Hello in kinds and protocol.Update in kinds and protocol.Status in kinds
    assert handle.hello.n_envs == 2 and handle.hello.action_labels
    handle.wait(30)
    assert handle.global_step >= 64
    supervisor.shutdown(stop_runs=True)

    later = Supervisor(tmp_path / "runs")
    (again,) = later.attach_existing()
    assert again.name == handle.name and again.state == "finished" and not again.live


@pytest.mark.slow
def test_killed_run_process_is_failed_and_its_segment_cleaned(tmp_path):
    supervisor = Supervisor(tmp_path / "runs")
    preset = _tiny()
    preset.ppo.total_steps = 1_000_000
    handle = supervisor.start(preset, "killed")
    _poll_until(supervisor, handle, lambda: handle.hello is not None and handle.global_step > 0, timeout=180)
    segment = handle.hello.frame_shm
    os.kill(handle.pid, signal.SIGKILL)  # a crash: the run process dies, its workers and segments stay behind
    _poll_until(supervisor, handle, lambda: handle.state == "failed", timeout=30)
    assert "ended unexpectedly" in handle.error
    assert json.loads((handle.run_dir / "status.json").read_text())["state"] == "failed"
    deadline = time.monotonic() + 15
    while Path(f"/dev/shm/{segment}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/dev/shm/{segment}").exists()
    assert segment.startswith(SHM_PREFIX)
    assert not list(Path("/dev/shm").glob(f"{SHM_PREFIX}{handle.pid}_*"))
    assert not Path(f"/proc/{handle.pid}").exists() or not pid_alive(handle.pid)
    supervisor.shutdown(stop_runs=True)


def test_only_an_ended_stopped_or_failed_run_with_a_checkpoint_can_resume(tmp_path):
    from workbench.bridge.supervisor import RunHandle

    supervisor = Supervisor(tmp_path / "runs")
    run_dir = tmp_path / "runs" / "cli-run"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "config.toml").write_text("")  # a `workbench train` run: no launch.json, its config instead
    handle = RunHandle(run_dir=run_dir, state="stopped")
    assert not supervisor.can_resume(handle)  # no checkpoint yet
    (run_dir / "checkpoints" / "update_1.pt").write_bytes(b"x")
    assert supervisor.can_resume(handle)
    for state in ("running", "paused", "finished"):
        handle.state = state
        assert not supervisor.can_resume(handle)
    handle.state = "failed"
    assert supervisor.can_resume(handle)
    handle.pid = os.getpid()  # its process still alive: not resumable
    assert not supervisor.can_resume(handle)
    handle.pid, handle.state = None, "finished"
    with pytest.raises(ValueError, match="stopped or failed"):
        supervisor.resume(handle)
    assert not (run_dir / "launch.json").exists()  # nothing written for a refused resume
