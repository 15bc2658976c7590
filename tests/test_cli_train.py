"""`workbench train` end to end on the real Airstriker emulator: a run killed with SIGKILL and resumed has every
update exactly once; Ctrl-C saves a checkpoint and exits cleanly; bad input gets one clear line."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from bad_settings import BAD_SETTINGS, IDS, apply

from workbench.core.presets import load_preset, save_preset
from workbench.cli import main
from workbench.engine import checkpoint as ckpt
from workbench.engine.run_store import RunStore
from workbench.core.paths import DEFAULT_PRESET, runs_dir

STEPS_PER_UPDATE = 64  # 2 envs x 32 steps


def tiny_preset(tmp_path: Path) -> Path:
    preset = load_preset(DEFAULT_PRESET)
    preset.ppo.n_envs, preset.ppo.n_steps, preset.ppo.n_minibatches, preset.ppo.n_epochs = 2, 32, 2, 1
    preset.run.checkpoint_every, preset.run.keep_checkpoints, preset.run.record_episodes = 1, 2, False
    return save_preset(preset, tmp_path / "tiny.toml")


def start_train(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "workbench", "train", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for_updates(run: Path, n: int, proc: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if (run / "metrics.sqlite").exists() and len(RunStore.open(run).updates()) >= n:
                return
            if proc.poll() is not None:
                pytest.fail(f"train exited early ({proc.returncode}): {proc.stderr.read()}")
            time.sleep(0.2)
        pytest.fail(f"no {n} updates within {timeout} s")
    except BaseException:
        proc.kill()  # a failing test leaves no training behind for the next one
        proc.wait(30)
        raise


@pytest.mark.slow
def test_sigkilled_run_resumes_without_duplicated_or_missing_updates(tmp_path):
    preset = tiny_preset(tmp_path)
    run = runs_dir() / "killme"
    proc = start_train(str(preset), "--steps", "100000", "--run-name", "killme")
    wait_for_updates(run, 3, proc)
    proc.send_signal(signal.SIGKILL)  # the main process only: its resource tracker then unlinks its segments
    proc.wait(30)
    proc.stdout.close()
    proc.stderr.close()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and list(Path("/dev/shm").glob(f"wb_{proc.pid}_*")):
        time.sleep(0.2)
    assert not list(Path("/dev/shm").glob(f"wb_{proc.pid}_*"))
    assert RunStore.open(run).status()["state"] == "running"  # what a killed run leaves
    killed_updates = len(RunStore.open(run).updates())

    total = (killed_updates + 2) * STEPS_PER_UPDATE
    resumed = start_train("--resume", "killme", "--steps", str(total))
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert not list(Path("/dev/shm").glob(f"wb_{resumed.pid}_*"))  # a clean exit unlinks its segments
    store = RunStore.open(run)
    updates = store.updates()
    assert [u["update"] for u in updates] == list(range(1, killed_updates + 3))
    assert [u["global_step"] for u in updates] == [STEPS_PER_UPDATE * k for k in range(1, killed_updates + 3)]
    assert all(e["update"] <= killed_updates + 2 for e in store.episodes())
    assert store.status()["state"] == "finished"
    assert ckpt.numbered(run / "checkpoints")[-1].name == f"ckpt_{killed_updates + 2:08d}.pt"
    assert list((run / "tb").glob("events.out.tfevents.*"))
    assert "finished at step" in err


@pytest.mark.slow
def test_ctrl_c_saves_a_checkpoint_and_exits_cleanly(tmp_path):
    preset = tiny_preset(tmp_path)
    run = runs_dir() / "interrupt"
    proc = start_train(str(preset), "--steps", "100000", "--run-name", "interrupt")
    wait_for_updates(run, 1, proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "stopped at step" in err
    status = RunStore.open(run).status()
    assert status["state"] == "stopped"
    assert ckpt.numbered(run / "checkpoints")[-1].name == f"ckpt_{status['update']:08d}.pt"


def test_bad_input_gets_one_clear_line(tmp_path, capsys):
    assert main(["train", str(tmp_path / "missing.toml")]) == 2
    assert "no preset" in capsys.readouterr().err
    assert main(["train", "--resume", "nope"]) == 2
    assert "no run at 'nope'" in capsys.readouterr().err
    empty = load_preset(DEFAULT_PRESET)
    empty.levels.train.clear()
    save_preset(empty, tmp_path / "empty.toml")
    assert main(["train", str(tmp_path / "empty.toml")]) == 2
    err = capsys.readouterr().err
    assert "empty.toml" in err and "no train levels" in err
    broken = tmp_path / "broken.toml"
    broken.write_text("[ppo]\nn_envs = 'many'\n")
    assert main(["train", str(broken)]) == 2
    assert "broken.toml" in capsys.readouterr().err
    assert not runs_dir().exists() or not any(runs_dir().iterdir())  # no run folder was created


def bad_preset(tmp_path: Path, edits: dict) -> Path:
    preset = load_preset(DEFAULT_PRESET)
    apply(preset, edits)
    return save_preset(preset, tmp_path / "bad.toml")


@pytest.mark.parametrize("edits, message", BAD_SETTINGS, ids=IDS)
def test_train_refuses_a_bad_setting_with_the_message_preset_check_gives(tmp_path, capsys, edits, message):
    path = bad_preset(tmp_path, edits)
    assert main(["train", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and message in err
    assert main(["preset", "check", str(path)]) == 1
    assert message in capsys.readouterr().out
    assert not runs_dir().exists() or not any(runs_dir().iterdir())  # no run folder was created


def test_the_run_process_fails_fast_on_a_bad_setting(tmp_path):
    """What the GUI's Start would hand a run process (if the window had not refused it already)."""
    import json

    run_dir = tmp_path / "gui-run"
    run_dir.mkdir()
    path = bad_preset(tmp_path, {"ppo.n_minibatches": 0})
    (run_dir / "launch-preset.toml").write_text(path.read_text())
    (run_dir / "launch.json").write_text(json.dumps({"preset": "launch-preset.toml", "total_steps": 100}))
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "workbench.bridge.run_process", str(run_dir)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 1
    assert time.monotonic() - started < 60  # it does not wait for anything: no env worker was ever started
    status = RunStore(run_dir).status()
    assert status["state"] == "failed" and "ppo.n_minibatches = 0 must be at least 1" in status["error"]
    assert "launch-preset.toml" in status["error"]
    assert not (run_dir / "config.toml").exists()  # refused before the folder became a run


@pytest.mark.slow
def test_a_second_writer_of_a_running_run_is_refused_with_the_holders_pid(tmp_path):
    """The user report: `train --run-name dup` in one shell, `train --resume dup` in another while the first
    still runs. The second is refused before it writes anything; the first trains on, alone."""
    preset = tiny_preset(tmp_path)
    run = runs_dir() / "dup"
    first = start_train(str(preset), "--steps", "100000", "--run-name", "dup")
    try:
        wait_for_updates(run, 1, first)
        for second in (["--resume", "dup"], [str(preset), "--run-name", "dup"]):
            refused = subprocess.run([sys.executable, "-m", "workbench", "train", *second, "--steps", "100000"],
                                     capture_output=True, text=True, timeout=120)
            assert refused.returncode == 2, refused.stderr
            assert "dup" in refused.stderr and refused.stderr.count("\n") <= 2  # one clear message
            if second[0] == "--resume":
                assert f"pid {first.pid}" in refused.stderr and "workbench train" in refused.stderr
                assert "watch it in the window" in refused.stderr
            else:
                assert "already exists" in refused.stderr
            assert RunStore.open(run).status()["pid"] == first.pid  # status.json is still the first's
        wait_for_updates(run, _update_count(run) + 1, first)  # still training, alone
        first.send_signal(signal.SIGINT)
        _, err = first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(30)
    assert first.returncode == 0, err
    store = RunStore.open(run)
    updates = [u["update"] for u in store.updates()]
    assert updates == list(range(1, len(updates) + 1))
    lineages = {tuple(w["writer"] for w in ckpt.load(p)["lineage"]) for p in ckpt.numbered(run / "checkpoints")}
    assert len(lineages) == 1 and len(next(iter(lineages))) == 1  # one writer made every checkpoint


def _update_count(run: Path) -> int:
    return len(RunStore.open(run).updates())


def _session_processes(sid: int) -> list[int]:
    """Live processes of session `sid` (a run process started in its own session and everything it started,
    also after they were re-parented)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[3]) == sid and fields[0] != "Z":
                found.append(int(entry.name))
    return found


@pytest.mark.slow
@pytest.mark.parametrize("fault, cause", [
    ("env1/start@1", "env worker 1 was killed by signal 9"),             # a worker that dies at start
    ("learner/update@1=raise", "fault injected at learner/update"),      # the learner raises in its first update
    ("run/atomic_write:ckpt_*@1=raise", "fault injected at run/atomic_write ckpt_"),  # the trainer's own side
], ids=["worker-dies-at-start", "learner-raises", "trainer-raises"])
def test_a_failure_inside_a_started_run_process_ends_it_at_once(tmp_path, fault, cause):
    """What the GUI starts: any exception, also before the first update, ends the run process non-zero with
    status.json failed and the cause, every child and shared-memory segment released; nothing waits on a dead
    child."""
    import json
    import os

    run_dir = tmp_path / "failing"
    run_dir.mkdir()
    (run_dir / "launch-preset.toml").write_text(tiny_preset(tmp_path).read_text())
    (run_dir / "launch.json").write_text(json.dumps({"preset": "launch-preset.toml", "total_steps": 100000}))
    proc = subprocess.Popen([sys.executable, "-m", "workbench.bridge.run_process", str(run_dir)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env=dict(os.environ, WORKBENCH_FAULT=fault))
    try:
        _, err = proc.communicate(timeout=180)  # a hang detector: the run process must end by itself
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
    assert proc.returncode == 1, err
    status = RunStore(run_dir).status()
    assert status["state"] == "failed" and cause in status["error"], status
    deadline = time.monotonic() + 10  # what the run process started is gone with it (re-parented ones too)
    while _session_processes(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _session_processes(proc.pid)
    assert not list(Path("/dev/shm").glob(f"wb_{proc.pid}_*"))
    assert not (run_dir / "bridge.json").exists()
