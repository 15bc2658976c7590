"""Within-trial evaluation: does the agent get better from episode 1 to episode K of a trial?

Plays many trials of a recurrent policy on trial envs (usually built from the test levels) and reports the mean
and standard deviation of the return of episode 1..K, overall and per task, and the paired difference of
episode 2 and episode 1 with a 95% bootstrap interval (`second_minus_first`). The result is a plain JSON file
(`rl2_eval.json` in the run directory) the GUI plots as a curve over the episode index.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from workbench.engine.acting import Actor
from workbench.engine.device import Compute
from workbench.engine.policies.api import ActorCritic
from workbench.core.paths import atomic_write_text

CURVE_FILE = "rl2_eval.json"
"""Name of the within-trial curve in a run directory."""


@dataclass
class EpisodeIndexStats:
    """Returns of episode 1..K of the trials of one task (or of all tasks)."""

    mean: list[float]
    """mean[i]: mean return of the (i+1)-th episode of a trial."""
    std: list[float]
    """std[i]: population standard deviation of those returns."""
    n_trials: int
    trial_return_mean: float
    """Mean total return of a whole trial (the RL² score)."""
    second_minus_first: dict | None = None
    """Does the agent learn inside a trial? The return of episode 2 minus that of episode 1, paired per trial:
    {"mean", "ci_low", "ci_high", "confidence"} with a percentile bootstrap interval (scipy.stats.bootstrap) over
    the trials; None with fewer than 2 episodes per trial. An interval above 0 says episode 2 scores reliably
    higher."""


@dataclass
class WithinTrialCurve:
    episodes_per_trial: int
    overall: EpisodeIndexStats
    per_task: dict[str, EpisodeIndexStats] = field(default_factory=dict)
    """Task (`Game-v0:State`) -> its own stats."""
    greedy: bool = False
    """True when actions were the policy's most likely ones instead of samples."""
    level_list: str = ""
    """Which of the run's level lists was played ('test' or 'train'); empty outside a run."""
    checkpoint: str = ""
    """The checkpoint file evaluated (relative to the run directory)."""
    global_step: int = 0
    """Training steps of that checkpoint."""

    @property
    def mean(self) -> list[float]:
        return self.overall.mean

    @property
    def std(self) -> list[float]:
        return self.overall.std


GAIN_CONFIDENCE = 0.95
"""Confidence level of the episode-2-minus-episode-1 interval."""


def second_minus_first(trials: np.ndarray, *, seed: int = 0) -> dict | None:
    """Mean of episode 2's return minus episode 1's over the trials (rows of `trials`, (n_trials, K)) with its
    percentile bootstrap interval; None when K < 2. One trial: no interval (nan ends); identical differences:
    the interval is that number."""
    if trials.ndim != 2 or trials.shape[1] < 2:
        return None
    diff = trials[:, 1] - trials[:, 0]
    mean = float(diff.mean())
    if len(diff) < 2:
        low = high = float("nan")
    elif np.ptp(diff) == 0:
        low = high = mean
    else:
        from scipy.stats import bootstrap

        res = bootstrap((diff,), np.mean, n_resamples=9999, confidence_level=GAIN_CONFIDENCE, method="percentile",
                        vectorized=True, rng=np.random.default_rng(seed))
        low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    return {"mean": mean, "ci_low": low, "ci_high": high, "confidence": GAIN_CONFIDENCE}


def stats_of(trials: np.ndarray) -> EpisodeIndexStats:
    """`trials` (n_trials, K) returns -> per-index mean and std, and episode 2 minus episode 1."""
    return EpisodeIndexStats(mean=[float(x) for x in trials.mean(axis=0)], std=[float(x) for x in trials.std(axis=0)],
                             n_trials=int(trials.shape[0]), trial_return_mean=float(trials.sum(axis=1).mean()),
                             second_minus_first=second_minus_first(trials))


def evaluate_within_trial(policy: ActorCritic, vec_env, n_trials: int, *, greedy: bool = False, seed: int = 0,
                          reward_scale: float = 1.0, device: torch.device | str = "cpu") -> WithinTrialCurve:
    """Play `n_trials` trials of TrialEnvs in `vec_env` and collect the return of each episode of each trial.

    The policy plays through the acting loop training uses (`engine.acting.Actor`), so it gets its inputs exactly
    as in training: the state is zeroed at trial starts, `episode_start` marks inner episodes, `prev_reward` is
    the raw reward (the env's reward / `reward_scale`). fp32, so the curve does not depend on the CPU's bf16
    support. Env i plays its share of the trials (so short trials do not crowd out long ones); the vec env is not
    closed."""
    if n_trials < 1:
        raise ValueError("evaluation needs at least one trial")
    n = vec_env.num_envs
    quota = np.array([n_trials // n + (i < n_trials % n) for i in range(n)])
    actor = Actor(policy, vec_env, Compute(torch.device(device), None), torch.Generator().manual_seed(seed),
                  reward_scale=reward_scale, greedy=greedy)
    actor.start(seed=seed)
    running: list[list[float]] = [[] for _ in range(n)]
    finished: dict[str, list[list[float]]] = {}
    k = 0
    while (quota > 0).any():
        _, outcome = actor.step()
        done = outcome.done
        for i, info in enumerate(outcome.infos):
            if "inner_episode" in info:
                running[i].append(float(info["inner_episode"]["return"]))
            if done[i]:
                if "episode_in_trial" not in info:
                    raise ValueError("within-trial evaluation needs TrialEnvs (info['episode_in_trial'] missing)")
                k = max(k, len(running[i]))
                if quota[i] > 0:
                    finished.setdefault(str(info["task"]), []).append(running[i])
                    quota[i] -= 1
                running[i] = []
    return WithinTrialCurve(
        episodes_per_trial=k, overall=stats_of(np.array([t for ts in finished.values() for t in ts])),
        greedy=greedy, per_task={task: stats_of(np.array(ts)) for task, ts in sorted(finished.items())})


def save_curve(path: Path, curve: WithinTrialCurve) -> None:
    atomic_write_text(Path(path), json.dumps(asdict(curve), indent=1) + "\n")


def load_curve(path: Path) -> WithinTrialCurve:
    """Read a curve file; a broken one raises ValueError naming the file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        return WithinTrialCurve(
            episodes_per_trial=int(data["episodes_per_trial"]), overall=EpisodeIndexStats(**data["overall"]),
            per_task={task: EpisodeIndexStats(**s) for task, s in data.get("per_task", {}).items()},
            greedy=bool(data.get("greedy", False)), level_list=str(data.get("level_list", "")),
            checkpoint=str(data.get("checkpoint", "")), global_step=int(data.get("global_step", 0)))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: not a within-trial curve ({exc}); re-create it with `workbench rl2-eval`") from exc


def evaluate_run(run_dir: Path, n_trials: int = 20, *, level_list: str | None = None, checkpoint: Path | None = None,
                 n_envs: int | None = None, greedy: bool = False, device: str = "cpu",
                 in_process: bool = False) -> tuple[WithinTrialCurve, Path]:
    """The within-trial curve of an RL² run, written to `run_dir/rl2_eval.json` (returned with its path).

    Plays the run's test levels (its training levels when it has none, or `level_list`) in trials of the run's
    K episodes with the newest good checkpoint (or `checkpoint`), in `n_envs` env worker processes (default:
    the run's ppo.n_envs, at most one per trial). Raises ValueError / CheckpointError / RunStoreError with a
    message naming the file and the fix."""
    from workbench.engine import checkpoint as ckpt
    from workbench.engine.policies.api import PolicySpec
    from workbench.engine.policies.registry import make_policy
    from workbench.engine.rl2.trials import level_trial_env_thunk
    from workbench.engine.run_store import CONFIG_NAME, RunStore

    store = RunStore.open(run_dir)
    preset = store.config()
    if level_list is None:
        level_list = "test" if preset.levels.test else "train"
    if level_list not in ("test", "train"):
        raise ValueError(f"unknown level list {level_list!r}; use 'test' or 'train'")
    levels = list(getattr(preset.levels, level_list))
    if not levels:
        raise ValueError(f"{store.path / CONFIG_NAME}: the run has no {level_list} levels to evaluate on")
    if checkpoint is None:
        checkpoint, data = ckpt.load_latest(store.checkpoints_dir)
    else:
        data = ckpt.load(Path(checkpoint))
    spec = PolicySpec.from_dict(data.get("policy_spec") or {"kind": "?", "obs_shape": [], "n_actions": 0})
    if spec.kind not in ("rl2", "rl2-separate"):
        raise ValueError(f"{checkpoint} holds a {spec.kind!r} policy, not an RL² one; the within-trial curve needs "
                         "a run trained with run.algorithm = \"rl2\"")
    policy = make_policy(spec)
    policy.load_state_dict(data["model"])
    policy.to(device).eval()
    n_envs = max(1, min(n_envs or preset.ppo.n_envs, n_trials))
    k = preset.rl2.episodes_per_trial
    seed = preset.run.seed + 777  # trials the training envs did not play
    env_fns = [level_trial_env_thunk(levels, preset.env, k, seed, i) for i in range(n_envs)]
    if in_process:
        from workbench.engine.vec.in_process import InProcessVecEnv as VecEnv
    else:
        from workbench.engine.vec.shm import ShmVecEnv as VecEnv
    vec_env = VecEnv(env_fns)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in training: the env workers own the cores, inference is one small batch
    try:
        curve = evaluate_within_trial(policy, vec_env, n_trials, greedy=greedy, seed=seed,
                                      reward_scale=preset.env.reward_scale, device=device)
    finally:
        torch.set_num_threads(threads)
        vec_env.close()
    checkpoint = Path(checkpoint)
    curve.level_list = level_list
    curve.checkpoint = (checkpoint.relative_to(store.path) if checkpoint.is_relative_to(store.path)
                        else checkpoint).as_posix()
    curve.global_step = int(data.get("global_step", 0))
    path = store.path / CURVE_FILE
    save_curve(path, curve)
    return curve, path


def evaluate_after_training(run_dir: Path, final_state: str, *, device: str = "cpu",
                            on_start=None) -> tuple[WithinTrialCurve, Path] | None:
    """The step after training, shared by `workbench train` and the GUI's run process: a finished RL² run gets
    its within-trial curve (`rl2.eval_trials` trials; 0 skips it). Returns None when there is nothing to do;
    calls `on_start()` just before the (bounded, but not instant) evaluation begins."""
    from workbench.engine.run_store import RunStore

    preset = RunStore.open(run_dir).config()
    if preset.run.algorithm != "rl2" or final_state != "finished" or preset.rl2.eval_trials < 1:
        return None
    if on_start is not None:
        on_start()
    return evaluate_run(run_dir, preset.rl2.eval_trials, device=device)
