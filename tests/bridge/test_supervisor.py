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
from workbench.bridge.supervisor import RunHandle, Supervisor
from workbench.core.levels import Level, LevelSet
from workbench.core.paths import DEFAULT_PRESET, SHM_PREFIX
from workbench.core.presets import load_preset, save_preset
from workbench.core.processes import pid_alive
from workbench.core.records import EpisodeRecord, UpdateRecord
from workbench.engine import checkpoint


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
    preset = _tiny()
    preset.env.max_episode_steps = 24  # each env ends one episode within the run's 32 steps
    handle = supervisor.start(preset, "short")
    messages = _poll_until(supervisor, handle, lambda: handle.state == "finished", timeout=180)
    kinds = {type(m) for m in messages}
    assert {protocol.Hello, EpisodeRecord, UpdateRecord, protocol.Status} <= kinds  # the engine's own records
    episode = next(m for m in messages if isinstance(m, EpisodeRecord))
    assert episode.length == 24 and episode.truncated and episode.level.startswith("Airstriker-Genesis-v0")
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


def _ended_run(tmp_path, checkpoint_bytes: bytes | None = None) -> tuple[Supervisor, RunHandle]:
    """A stopped `workbench train` run (no launch.json: its config.toml instead) with one checkpoint: a real
    one, or `checkpoint_bytes`."""
    supervisor = Supervisor(tmp_path / "runs")
    run_dir = tmp_path / "runs" / "cli-run"
    (run_dir / "checkpoints").mkdir(parents=True)
    save_preset(load_preset(DEFAULT_PRESET), run_dir / "config.toml")
    path = run_dir / "checkpoints" / "ckpt_00000001.pt"
    if checkpoint_bytes is None:
        checkpoint.save(path, {"model": {}, "update": 1})
    else:
        path.write_bytes(checkpoint_bytes)
    return supervisor, RunHandle(run_dir=run_dir, state="stopped")


def test_only_an_ended_stopped_or_failed_run_can_resume(tmp_path):
    supervisor, handle = _ended_run(tmp_path)
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
    assert not (handle.run_dir / "launch.json").exists()  # nothing written for a refused resume


def test_a_run_whose_only_checkpoint_is_corrupt_cannot_resume(tmp_path):
    supervisor, handle = _ended_run(tmp_path, checkpoint_bytes=b"not a torch file")
    assert not supervisor.can_resume(handle)
    with pytest.raises(ValueError, match="checkpoint that loads"):
        supervisor.resume(handle)
    assert not (handle.run_dir / "launch.json").exists()


def test_a_run_without_a_checkpoint_or_readable_settings_cannot_resume(tmp_path):
    supervisor, handle = _ended_run(tmp_path)
    for path in (handle.run_dir / "checkpoints").iterdir():
        path.rename(path.with_name("notes.pt"))  # not a numbered checkpoint
    assert not supervisor.can_resume(handle)

    supervisor, handle = _ended_run(tmp_path / "bad-config")
    (handle.run_dir / "config.toml").write_text("[ppo\n")
    assert not supervisor.can_resume(handle)

    supervisor, handle = _ended_run(tmp_path / "bad-launch")
    (handle.run_dir / "launch.json").write_text("{")
    assert not supervisor.can_resume(handle)

    supervisor, handle = _ended_run(tmp_path / "gui-run")
    (handle.run_dir / "launch.json").write_text(json.dumps({"preset": "launch-preset.toml"}))  # long deleted
    assert supervisor.can_resume(handle)  # a resume reads the run's config.toml, not the preset it started from


def test_resumability_is_computed_once_per_change_of_the_checkpoints(tmp_path, monkeypatch):
    supervisor, handle = _ended_run(tmp_path)
    loads = []
    real = checkpoint.load_latest
    monkeypatch.setattr(checkpoint, "load_latest", lambda d: loads.append(d) or real(d))
    for _ in range(5):  # the GUI asks on every timer tick
        assert supervisor.can_resume(handle)
    assert len(loads) == 1
    checkpoints = handle.run_dir / "checkpoints"
    for path in checkpoints.iterdir():
        path.unlink()
    # faster than the file system's clock ticks: give the folder the new mtime any later change gets
    stamp = checkpoints.stat().st_mtime_ns + 1_000_000_000
    os.utime(checkpoints, ns=(stamp, stamp))
    assert not supervisor.can_resume(handle)
    assert len(loads) == 2


def test_a_run_another_process_writes_is_running_elsewhere_and_is_never_written_twice(tmp_path):
    """The window's side of one writer per run: a run written by another process (a terminal's `workbench
    train`) shows as running elsewhere; it cannot be resumed and a run process started on it anyway leaves it
    alone; watching it follows it; when its writer ends, the run shows what that writer left."""
    from run_writers import start_writer, stop_writer

    from workbench.bridge.run_process import LOCKED_EXIT
    from workbench.bridge.supervisor import ELSEWHERE
    from workbench.engine.run_store import RunStore

    supervisor, handle = _ended_run(tmp_path)
    RunStore(handle.run_dir).write_status("stopped", update=1, global_step=64)
    assert supervisor.can_resume(handle)
    writer = start_writer(handle.run_dir)
    try:
        messages = handle.poll()
        assert handle.state == ELSEWHERE and handle.writer["pid"] == writer.pid
        assert messages and messages[-1].state == ELSEWHERE
        assert not supervisor.can_resume(handle) and handle not in supervisor.active()
        with pytest.raises(ValueError, match=f"running elsewhere.*pid {writer.pid}"):
            supervisor.resume(handle)
        assert not (handle.run_dir / "launch.json").exists()
        assert Supervisor(tmp_path / "runs").attach(handle.run_dir).state == ELSEWHERE  # as a new window sees it

        status = (handle.run_dir / "status.json").read_bytes()
        other = Supervisor(tmp_path / "runs")
        refused = other.start_dir(handle.run_dir)  # a run process on it anyway: it takes nothing over
        process = refused.process
        _poll_until(other, refused, lambda: refused.state == ELSEWHERE and process.poll() is not None, 60)
        assert process.returncode == LOCKED_EXIT
        assert "being written by another process" in (handle.run_dir / "bridge.log").read_text()
        assert (handle.run_dir / "status.json").read_bytes() == status

        handle.follow()
        assert handle.watching and handle.state == "running" and handle.pid == writer.pid
        handle.poll()
        assert handle.state == "running"
    finally:
        stop_writer(writer)
    deadline = time.monotonic() + 30
    while handle.state != "failed" and time.monotonic() < deadline:
        handle.poll()
        time.sleep(0.05)
    assert handle.state == "failed" and handle.error == "the process writing it ended" and not handle.watching
    assert (handle.run_dir / "status.json").read_bytes() == status  # the window wrote nothing into it
