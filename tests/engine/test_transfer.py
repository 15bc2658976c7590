"""The transfer protocol: the level score is the mean of the episodes that finished within the budget, and
`workbench transfer` on a two-level Atari preset writes the table."""
from __future__ import annotations

import csv
import functools

import numpy as np
import pytest

from workbench.core.levels import Level, LevelSet
from workbench.core.presets import load_preset, save_preset
from workbench.cli import main
from workbench.core.settings import PPOConfig
from toy_envs import corridor
from workbench.engine.transfer import JobResult, ModeResult, TransferResult
from workbench.core.settings import Settings
from workbench.engine.hooks import Hooks
from trainers import make_trainer
from workbench.core.paths import PRESETS_DIR, runs_dir


def test_level_score_is_the_mean_of_recorded_episode_returns(tmp_path):
    jobs = [
        JobResult("A", 0, {"finetune": ModeResult([1.0, 2.0, 6.0], [5, 5, 5], [5, 10, 15]),
                           "scratch": ModeResult([1.0], [9], [9]), "zeroshot": ModeResult([], [], [])}),
        JobResult("A", 1, {"finetune": ModeResult([4.0], [3], [3]), "scratch": ModeResult([3.0, 5.0], [4, 4], [4, 8]),
                           "zeroshot": ModeResult([2.0], [7], [7])}),
        JobResult("B", 0, {"finetune": ModeResult([10.0], [3], [3]), "scratch": ModeResult([5.0], [4], [4]),
                           "zeroshot": ModeResult([0.0], [7], [7])}),
    ]
    result = TransferResult(["A", "B"], jobs, 20, tmp_path)
    assert result.level_score("A", "finetune") == pytest.approx((3.0 + 4.0) / 2)  # mean over seeds of means
    assert result.level_score("A", "scratch") == pytest.approx((1.0 + 4.0) / 2)
    assert result.level_score("A", "zeroshot") == pytest.approx(2.0)  # a seed without episodes is skipped
    assert result.benchmark_score("finetune") == pytest.approx((3.5 + 10.0) / 2)
    result.write()
    rows = {r["level"]: r for r in csv.DictReader(open(tmp_path / "results.csv"))}
    assert float(rows["mean"]["gain"]) == pytest.approx(((3.5 + 10.0) / 2) / ((2.5 + 5.0) / 2))
    assert rows["A"]["finetune_episodes"] == "4"
    episodes = list(csv.DictReader(open(tmp_path / "episodes.csv")))
    assert len(episodes) == 11  # every counted episode of every job and mode


def test_trainer_episodes_inside_a_budget_are_what_the_score_averages():
    """The rule transfer applies (`global_step <= budget`) against the trainer's own episode stream."""
    s = Settings()
    s.ppo = PPOConfig(n_envs=1, n_steps=48, n_minibatches=1, n_epochs=1)
    seen = []
    make_trainer(s, env_fns=[functools.partial(corridor, 16, 32)], in_process=True,
                 hooks=Hooks(on_episode=[seen.append])).run(100)  # runs 144 steps: 3 rollouts of 48
    budget = 100
    inside = [e for e in seen if e.global_step <= budget]
    assert sum(e.length for e in inside) <= budget  # each counted episode started and ended within the budget
    # corridor episodes last at most 32 steps, so some end in the overhang (steps 101..144) and are dropped
    assert any(e.global_step > budget for e in seen) and len(inside) < len(seen)


@pytest.mark.slow
def test_transfer_cli_on_two_atari_levels_writes_the_table(tmp_path, atari_roms, capsys):
    preset = load_preset(PRESETS_DIR / "atari-transfer.toml")  # atari18: every game shares the action set
    preset.levels = LevelSet(train=[Level("Pong-Atari2600-v0", "Start")],
                             test=[Level("Pong-Atari2600-v0", "Start"), Level("Breakout-Atari2600-v0", "Start")])
    preset.env.max_episode_steps = 20  # episodes short enough to finish inside a tiny budget
    preset.ppo.n_envs, preset.ppo.n_steps, preset.ppo.n_minibatches, preset.ppo.n_epochs = 1, 20, 1, 1
    preset.run.record_episodes = False
    preset.transfer.zero_shot_episodes = 2
    file = save_preset(preset, tmp_path / "atari2.toml")
    assert main(["train", str(file), "--steps", "40", "--run-name", "joint"]) == 0
    assert main(["transfer", str(file), "--from", "joint", "--budget", "60", "--jobs", "2"]) == 0
    out = capsys.readouterr().out
    assert "| Pong-Atari2600-v0:Start |" in out and "| Breakout-Atari2600-v0:Start |" in out
    folder = runs_dir() / "joint" / "transfer"
    rows = {r["level"]: r for r in csv.DictReader(open(folder / "results.csv"))}
    assert set(rows) == {"Pong-Atari2600-v0:Start", "Breakout-Atari2600-v0:Start", "mean"}
    episodes = list(csv.DictReader(open(folder / "episodes.csv")))
    for level in ("Pong-Atari2600-v0:Start", "Breakout-Atari2600-v0:Start"):
        for mode in ("finetune", "scratch", "zeroshot"):
            returns = [float(e["return"]) for e in episodes if e["level"] == level and e["mode"] == mode]
            assert returns, (level, mode)
            assert all(int(e["global_step"]) <= 60 for e in episodes if e["level"] == level)
            assert float(rows[level][mode]) == pytest.approx(np.mean(returns))
            assert int(rows[level][f"{mode}_episodes"]) == len(returns)
    assert (folder / "results.md").read_text().startswith("Transfer results")
