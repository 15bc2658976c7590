"""RL² end to end from the command line: `workbench train` on a two-game preset with run.algorithm = "rl2"
trains through the trainer and env worker processes, then writes the within-trial curve into the run folder;
`workbench rl2-eval` re-creates it and refuses bad input with one clear line."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from workbench.core.presets import load_preset, preset_to_toml
from workbench.engine.rl2.evaluate import CURVE_FILE, load_curve
from workbench.engine.run_store import RunStore
from workbench.core.paths import PRESETS_DIR, atomic_write_text

TRAIN = ["Pong-Atari2600-v0:Start", "Breakout-Atari2600-v0:Start"]
TEST = "Freeway-Atari2600-v0:Start"


def _workbench(*args, timeout=240):
    env = dict(os.environ, WORKBENCH_LEARNER_THREADS="1")
    return subprocess.run([sys.executable, "-m", "workbench", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


@pytest.fixture
def tiny_rl2_preset(tmp_path, atari_roms):
    """The shipped rl2-atari preset, shrunk to seconds: 8-step episodes, K=2, a 16-step rollout in 8-step
    segments, a small GRU."""
    preset = load_preset(PRESETS_DIR / "rl2-atari.toml")
    assert [str(lv) for lv in preset.levels.train] == TRAIN and [str(lv) for lv in preset.levels.test] == [TEST]
    assert preset.run.algorithm == "rl2"
    preset.name = "rl2-tiny"
    preset.env.max_episode_steps, preset.env.warp_size, preset.env.frame_stack = 8, 42, 2
    preset.ppo.n_steps, preset.ppo.n_minibatches, preset.ppo.n_epochs, preset.ppo.device = 16, 2, 1, "cpu"
    preset.rl2.hidden_size, preset.rl2.bptt_steps = 16, 8
    path = tmp_path / "rl2-tiny.toml"
    atomic_write_text(path, preset_to_toml(preset))
    return path


@pytest.mark.slow
def test_train_rl2_preset_writes_checkpoints_episodes_and_the_within_trial_curve(tiny_rl2_preset, isolated_dirs):
    _, runs = isolated_dirs
    done = _workbench("train", str(tiny_rl2_preset), "--steps", "64", "--run-name", "meta")
    assert done.returncode == 0, done.stderr
    run = runs / "meta"
    store = RunStore.open(run)
    assert store.config().run.algorithm == "rl2"
    episodes = store.episodes()
    # 2 envs x 32 steps of 8-step episodes: every inner episode of every trial is recorded, on a training game.
    assert len(episodes) == 8 and {e["length"] for e in episodes} == {8}
    assert {e["level"] for e in episodes} <= set(TRAIN)
    curve = load_curve(run / CURVE_FILE)
    assert curve.episodes_per_trial == 2 and len(curve.mean) == len(curve.std) == 2
    assert curve.overall.n_trials == 20 and list(curve.per_task) == [TEST] and curve.level_list == "test"
    assert curve.global_step == 64 and (run / curve.checkpoint).is_file()
    assert "episode | mean return" in done.stdout

    # Re-evaluate on the training games: both appear, and the file is replaced (atomically), not appended to.
    again = _workbench("rl2-eval", "meta", "--levels", "train", "--trials", "6", "--envs", "2")
    assert again.returncode == 0, again.stderr
    data = json.loads((run / CURVE_FILE).read_text())
    assert data["overall"]["n_trials"] == 6 and set(data["per_task"]) <= set(TRAIN)
    assert sum(s["n_trials"] for s in data["per_task"].values()) == 6


def test_rl2_eval_refuses_bad_input_in_one_line(isolated_dirs, capsys):
    from workbench.cli import main

    _, runs = isolated_dirs
    assert main(["rl2-eval", "no-such-run"]) == 2
    assert "no run at 'no-such-run'" in capsys.readouterr().err
    # A run folder without checkpoints (e.g. stopped before its first save) is named, nothing is written.
    RunStore.create(runs / "empty", load_preset(PRESETS_DIR / "rl2-atari.toml")).close()
    assert main(["rl2-eval", "empty", "--trials", "2"]) == 2
    err = capsys.readouterr().err
    assert "no checkpoint in" in err and str(runs / "empty") in err and len(err.strip().splitlines()) == 1
    assert not (runs / "empty" / CURVE_FILE).exists()
    assert main(["rl2-eval", "empty", "--trials", "0"]) == 2
    assert "--trials must be at least 1" in capsys.readouterr().err
    # While another process writes the run (training, or a second rl2-eval), it is named and nothing is written.
    from workbench.engine.run_store import RunLock

    with RunLock.acquire(runs / "empty", "workbench train"):
        assert main(["rl2-eval", "empty", "--trials", "2"]) == 2
    err = capsys.readouterr().err
    assert "is being written by another process: workbench train" in err and len(err.strip().splitlines()) == 1
    assert not (runs / "empty" / CURVE_FILE).exists()
    # A run trained with plain PPO has no within-trial curve: say so instead of failing on the weights.
    from workbench.engine import checkpoint as ckpt
    from workbench.engine.policies.registry import make_policy, spec_for

    spec = spec_for((4, 84, 84), "uint8", 18)
    ckpt.save_numbered(runs / "empty" / "checkpoints", 1, {"model": make_policy(spec).state_dict(), "update": 1,
                                                             "policy_spec": spec.to_dict()}, keep=3)
    assert main(["rl2-eval", "empty"]) == 2
    assert "not an RL² one" in capsys.readouterr().err
    assert not (runs / "empty" / CURVE_FILE).exists()
