"""The transfer protocol: the level score is the mean of the episodes that finished within the budget, every seed
counts, intervals are scipy's percentile bootstrap across seeds (stratified over levels for the mean), and
`workbench transfer` on a two-level Atari preset with 3 seeds writes the table."""
from __future__ import annotations

import csv
import functools
import itertools
import json

import numpy as np
import pytest

from trainers import make_trainer
from toy_envs import corridor
from workbench.cli import main
from workbench.core.levels import Level, LevelSet
from workbench.core.paths import PRESETS_DIR, runs_dir
from workbench.core.presets import load_preset, save_preset
from workbench.core.settings import PPOConfig, Settings
from workbench.engine.hooks import Hooks
from workbench.engine.transfer import JobResult, ModeResult, TransferResult

A, B = "Game-v0:A", "Game-v0:B"
SEEDS = [0, 1, 2]
# returns of the counted episodes, per (level, mode, seed): the fixed episodes.csv below
EPISODES = {
    (A, "finetune"): {0: [10.0, 20.0], 1: [40.0], 2: [25.0, 35.0, 30.0]},
    (A, "scratch"): {0: [5.0], 1: [15.0, 5.0], 2: [20.0]},
    (A, "zeroshot"): {0: [8.0, 8.0], 1: [9.0], 2: [1.0]},
    (B, "finetune"): {0: [100.0], 1: [70.0, 90.0], 2: [130.0]},
    (B, "scratch"): {0: [60.0], 1: [30.0], 2: [50.0, 40.0]},
    (B, "zeroshot"): {0: [3.0], 1: [2.0], 2: [4.0]},
}
NO_JERK = {(lv, s): {"jerk": "JERK does not apply to Game-v0 (not a Sonic platformer)"} for lv in (A, B)
           for s in SEEDS}


def _write_episodes(path, episodes=EPISODES):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["level", "mode", "seed", "index", "global_step", "return", "length"])
        for (level, mode), by_seed in episodes.items():
            for seed, returns in by_seed.items():
                for k, ret in enumerate(returns):
                    writer.writerow([level, mode, seed, k, 10 * (k + 1), ret, 10])
    return path


def _seed_means(level, mode):
    return [float(np.mean(EPISODES[(level, mode)][s])) for s in SEEDS]


def _exact_bootstrap(samples, statistic):
    """Every resample of every sample (3 seeds: 27 each), equally likely: the distribution the percentile
    bootstrap draws from, computed by hand."""
    per_sample = [[[s[i] for i in idx] for idx in itertools.product(range(len(s)), repeat=len(s))]
                  for s in samples]
    return np.array([statistic(*[np.asarray(r) for r in combo]) for combo in itertools.product(*per_sample)])


def _assert_percentile_interval(low, high, exact):
    """scipy draws 10,000 resamples: its 2.5% / 97.5% quantiles lie within about 4 Monte-Carlo standard errors
    (±0.6 percentage points) of the exact ones."""
    assert np.quantile(exact, 0.019) - 1e-9 <= low <= np.quantile(exact, 0.031) + 1e-9
    assert np.quantile(exact, 0.969) - 1e-9 <= high <= np.quantile(exact, 0.981) + 1e-9


def test_scores_and_intervals_against_a_hand_computation_on_a_fixed_episodes_csv(tmp_path):
    result = TransferResult.from_files(_write_episodes(tmp_path / "episodes.csv"), [A, B], SEEDS, 100, NO_JERK)
    # level score: mean over seeds of each seed's mean episode return
    for level, mode in EPISODES:
        est = result.level_estimate(level, mode)
        assert est.mean == pytest.approx(np.mean(_seed_means(level, mode)))
        # 3 seeds: each end of the percentile interval is an atom of mass 1/27 > 2.5%: [lowest, highest] seed
        assert (est.low, est.high) == pytest.approx((min(_seed_means(level, mode)), max(_seed_means(level, mode))))
    # benchmark mean, stratified: each level's seeds resampled on their own (27 x 27 resamples)
    ft = [_seed_means(A, "finetune"), _seed_means(B, "finetune")]
    sc = [_seed_means(A, "scratch"), _seed_means(B, "scratch")]
    mean = result.benchmark_estimate("finetune")
    assert mean.mean == pytest.approx((np.mean(ft[0]) + np.mean(ft[1])) / 2)
    _assert_percentile_interval(mean.low, mean.high, _exact_bootstrap(ft, lambda a, b: (a.mean() + b.mean()) / 2))
    # gain = benchmark fine-tuned / benchmark scratch, its interval from resampling all four (27^4 resamples)
    gain = result.gain()
    assert gain.mean == pytest.approx(np.mean([np.mean(x) for x in ft]) / np.mean([np.mean(x) for x in sc]))
    exact = _exact_bootstrap(ft + sc, lambda a, b, c, d: (a.mean() + b.mean()) / (c.mean() + d.mean()))
    _assert_percentile_interval(gain.low, gain.high, exact)
    assert gain.low < gain.mean < gain.high
    # the files: results.csv keeps its first columns, intervals follow; markdown shows both and the JERK note
    result.write()
    rows = {r["level"]: r for r in csv.DictReader(open(tmp_path / "results.csv"))}
    assert list(rows["mean"])[:8] == ["level", "finetune", "scratch", "zeroshot", "gain", "finetune_episodes",
                                      "scratch_episodes", "zeroshot_episodes"]
    assert float(rows["mean"]["gain_ci_low"]) == pytest.approx(gain.low)
    assert float(rows[A]["finetune_ci_high"]) == pytest.approx(max(_seed_means(A, "finetune")))
    assert rows[A]["finetune_episodes"] == "6" and rows["mean"]["error"] == ""
    text = (tmp_path / "results.md").read_text()
    assert f"| {A} | {np.mean(_seed_means(A, 'finetune')):.1f} [{min(_seed_means(A, 'finetune')):.1f}, " in text
    assert "JERK does not apply" in text and "**error**" not in text
    assert result.errors() == []
    # and the folder reads back to the same table
    again = TransferResult.from_dir(tmp_path)
    assert again.gain() == gain and again.notes() == result.notes()


def test_a_level_without_a_counted_episode_is_an_error_not_a_shorter_mean(tmp_path):
    episodes = {key: dict(by_seed) for key, by_seed in EPISODES.items()}
    del episodes[(B, "scratch")][2]  # seed 2 finished no scratch episode on level B within the budget
    result = TransferResult.from_files(_write_episodes(tmp_path / "episodes.csv", episodes), [A, B], SEEDS, 100,
                                       NO_JERK)
    cell = result.level_estimate(B, "scratch")
    assert np.isnan(cell.mean) and B in cell.error and "seed 2" in cell.error
    mean = result.benchmark_estimate("scratch")
    assert np.isnan(mean.mean) and B in mean.error  # not the mean of level A alone
    assert np.isnan(result.gain().mean) and np.isnan(result.gain(B).mean)
    assert result.gain(A).mean == pytest.approx(np.mean(_seed_means(A, "finetune")) /
                                                np.mean(_seed_means(A, "scratch")))
    assert result.benchmark_estimate("finetune").error is None  # the other modes keep their numbers
    assert len(result.errors()) == 1 and B in result.errors()[0]
    result.write()
    rows = {r["level"]: r for r in csv.DictReader(open(tmp_path / "results.csv"))}
    assert rows["mean"]["scratch"] == "nan" and B in rows["mean"]["error"] and B in rows[B]["error"]
    md = (tmp_path / "results.md").read_text()
    assert md.count("**error**") >= 2 and "seed 2" in md
    # a level missing from episodes.csv altogether is named too
    result = TransferResult.from_files(tmp_path / "episodes.csv", [A, B, "Game-v0:C"], SEEDS, 100, NO_JERK)
    assert any("Game-v0:C" in e for e in result.errors()) and np.isnan(result.benchmark_score("finetune"))


def test_one_seed_gives_a_score_without_an_interval(tmp_path):
    jobs = [JobResult(A, 0, {"finetune": ModeResult([1.0, 3.0], [5, 5], [5, 10]),
                             "scratch": ModeResult([1.0], [9], [9]), "zeroshot": ModeResult([2.0], [7], [7])},
                      {"jerk": "n/a"})]
    result = TransferResult([A], jobs, 20, tmp_path)
    est = result.level_estimate(A, "finetune")
    assert est.mean == 2.0 and np.isnan(est.low) and est.error is None
    assert result.gain().mean == 2.0 and result.errors() == []
    assert "2.0 |" in result.markdown()


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
def test_transfer_cli_on_two_atari_levels_with_three_seeds_writes_the_table(tmp_path, atari_roms, capsys):
    preset = load_preset(PRESETS_DIR / "atari-transfer.toml")  # atari18: every game shares the action set
    levels = [Level("Alien-Atari2600-v0", "Start"), Level("Pong-Atari2600-v0", "Start")]
    preset.levels = LevelSet(train=[Level("Breakout-Atari2600-v0", "Start")], test=levels)
    preset.env.max_episode_steps = 20  # episodes short enough to finish inside a tiny budget
    preset.ppo.n_envs, preset.ppo.n_steps, preset.ppo.n_minibatches, preset.ppo.n_epochs = 1, 20, 1, 1
    preset.ppo.precision = "fp32"
    preset.run.record_episodes = False
    assert preset.transfer.seeds == [0, 1, 2] and preset.transfer.zero_shot_episodes == 30
    file = save_preset(preset, tmp_path / "atari2.toml")
    assert main(["train", str(file), "--steps", "40", "--run-name", "joint"]) == 0
    assert main(["transfer", str(file), "--from", "joint", "--budget", "60", "--jobs", "2"]) == 0
    out = capsys.readouterr().out
    assert all(f"| {lv} |" in out for lv in map(str, levels)) and "| **mean** |" in out
    assert "JERK does not apply to Alien-Atari2600-v0" in out  # a note, not a column of errors
    folder = runs_dir() / "joint" / "transfer"
    rows = {r["level"]: r for r in csv.DictReader(open(folder / "results.csv"))}
    assert set(rows) == {*map(str, levels), "mean"}
    episodes = list(csv.DictReader(open(folder / "episodes.csv")))
    for level in map(str, levels):
        for mode in ("finetune", "scratch", "zeroshot"):
            mine = [e for e in episodes if e["level"] == level and e["mode"] == mode]
            assert {int(e["seed"]) for e in mine} == {0, 1, 2}, (level, mode)
            assert all(int(e["global_step"]) <= 60 for e in mine)
            per_seed = [np.mean([float(e["return"]) for e in mine if int(e["seed"]) == s]) for s in (0, 1, 2)]
            assert float(rows[level][mode]) == pytest.approx(np.mean(per_seed))
            assert float(rows[level][f"{mode}_ci_low"]) == pytest.approx(min(per_seed))
            assert float(rows[level][f"{mode}_ci_high"]) == pytest.approx(max(per_seed))
            assert int(rows[level][f"{mode}_episodes"]) == len(mine)
        zero_shot = [e for e in episodes if e["level"] == level and e["mode"] == "zeroshot"]
        assert len(zero_shot) == 3 * 3  # 30 asked for per seed; a 60-step budget holds 3 of 20 steps
    mean = rows["mean"]
    for mode in ("finetune", "scratch", "zeroshot"):
        assert float(mean[f"{mode}_ci_low"]) <= float(mean[mode]) <= float(mean[f"{mode}_ci_high"])
    assert "gain_ci_low" in mean and mean["seeds"] == "3"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["seeds"] == [0, 1, 2] and manifest["levels"] == list(map(str, levels))
    again = TransferResult.from_dir(folder)  # the folder alone rebuilds the table
    assert again.level_score(str(levels[0]), "finetune") == pytest.approx(float(rows[str(levels[0])]["finetune"]))
