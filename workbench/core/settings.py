"""Settings of a run, as plain dataclasses (one TOML table each in a preset), and `validate()`: what may run.

Every field has a docstring-style comment: the preset reader, the CLI and the GUI's settings form all read
them from here, so there is one place that says what a setting means (CleanRL's habit). `validate` is the one
check of the values: `workbench preset check`, the launcher (`workbench train`, the GUI's Start, the run
process, transfer jobs) all refuse what it refuses, with the same message.
"""
from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field, fields
from typing import Any, Literal


@dataclass
class EnvConfig:
    """How each level is turned into an environment (stable-retro + wrappers)."""

    action_set: Literal["auto", "sonic", "atari18", "buttons", "discrete"] = "auto"
    """Action set: 'sonic' (7 button combos), 'atari18' (full joystick), 'buttons' (no-op plus each single player
    button, no combos), 'discrete' (stable-retro's own discrete combos); 'auto' picks by game family."""
    scenario: str = "scenario"
    """stable-retro scenario file name: 'scenario' (the game's default) or 'contest' (Sonic benchmark)."""
    frame_skip: int = 4
    """Emulator frames each action is held for."""
    sticky_prob: float = 0.25
    """Probability that a new action is delayed by one frame (sticky frame skip); 0 disables stickiness."""
    max_episode_steps: int = 4500
    """Agent steps before an episode is truncated (4500 = 5 minutes at 60 Hz with frame skip 4)."""
    warp_size: int = 84
    """Observations are resized to warp_size x warp_size."""
    grayscale: bool = True
    """Convert frames to grayscale before resizing."""
    frame_stack: int = 4
    """Number of most recent observations stacked as channels."""
    reward_scale: float = 1.0
    """Rewards are multiplied by this before learning (Sonic benchmark: 0.01); returns are reported unscaled."""
    allow_backtracking: bool = False
    """Reward only new maximum progress so going back costs nothing (Sonic's AllowBacktracking)."""
    level_sampling: Literal["fixed", "per_episode"] = "per_episode"
    """'fixed': worker i plays training level i mod n for the whole run, never resampled (the report's joint PPO:
    every worker fixed on one level, so every update sees every level; ppo.n_envs must then be a multiple of the
    number of training levels); 'per_episode': each worker draws a level every episode (any n_envs)."""


@dataclass
class PPOConfig:
    """PPO hyperparameters (defaults: CleanRL / SB3 Atari settings)."""

    n_envs: int = 8
    """Parallel environments (one emulator process each)."""
    n_steps: int = 128
    """Agent steps per environment per rollout."""
    n_minibatches: int = 4
    """Minibatches per epoch (batch = n_envs * n_steps)."""
    n_epochs: int = 4
    """Passes over each rollout."""
    learning_rate: float = 2.5e-4
    """Adam step size."""
    anneal_lr: bool = False
    """Linearly decay the learning rate to zero over total_steps."""
    gamma: float = 0.99
    """Discount factor."""
    gae_lambda: float = 0.95
    """GAE lambda."""
    clip_range: float = 0.1
    """PPO ratio clip."""
    clip_value: bool = True
    """Clip the value loss like the policy (OpenAI baselines)."""
    ent_coef: float = 0.01
    """Entropy bonus weight."""
    vf_coef: float = 0.5
    """Value loss weight."""
    max_grad_norm: float = 0.5
    """Global gradient-norm clip."""
    normalize_advantages: bool = True
    """Normalize advantages per minibatch."""
    overlap: bool = False
    """Collect the next rollout while a learner process learns from the last one (one update of policy lag,
    corrected by decoupled PPO). About 1.2x the agent steps/s on 2 CPU cores; the shipped presets turn it on. Off
    here because small jobs (tests, toy envs, transfer jobs that already run in parallel) gain nothing from the
    extra process."""
    importance_weight: Literal["full_ratio", "proximal"] = "full_ratio"
    """Decoupled PPO's correction for the acting policy (used with `overlap`): 'full_ratio' follows Hilton et
    al.'s reference code (openai/ppo-ewma): the full ratio pi_new / pi_acting is clipped at
    `importance_weight_max` and the metric `importance_clip_fraction` says how often it clipped; 'proximal' weights
    each sample by pi_proximal / pi_acting truncated at 2 (the workbench's earlier rule)."""
    importance_weight_max: float = 100.0
    """Where 'full_ratio' clips pi_new / pi_acting (ppo-ewma's imp_samp_max, 100: only extreme ratios)."""
    bootstrap_truncated: bool = True
    """An episode cut by the time limit (env.max_episode_steps) is bootstrapped with the value of its final
    observation (Gymnasium's reading: a time limit is not a real end). false treats it as terminal, as the
    reference code does (openai/baselines ppo2 in retro-baselines ends the 4500-step Sonic episode with value 0)."""
    total_steps: int = 1_000_000
    """Agent steps (summed over envs) to train for."""
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    """Learner precision: 'auto' uses fp32 with TF32 matmuls on CUDA, bf16 autocast on CPUs with native bf16
    (AVX-512 BF16 or AMX) and fp32 on other CPUs."""
    device: str = "auto"
    """'auto' (CUDA when present), 'cpu' or 'cuda[:N]'."""


@dataclass
class RL2Config:
    """RL² (meta-RL) settings; used when run.algorithm = 'rl2'."""

    episodes_per_trial: int = 2
    """K: episodes on one sampled level with the recurrent state kept across them."""
    hidden_size: int = 256
    """GRU hidden units (of each GRU with architecture = 'separate')."""
    architecture: Literal["shared", "separate"] = "shared"
    """'shared': one GRU feeds the policy and the value head; 'separate': a policy GRU and a value GRU over the
    same inputs (the paper's: Duan et al. 2016 train a separate baseline network), so the value loss cannot
    disturb the policy's memory (about twice the compute)."""
    bptt_steps: int = 128
    """Truncated back-propagation length (rollout segment)."""
    eval_trials: int = 20
    """Trials played for the within-trial curve when training finishes; 0 = none (`workbench rl2-eval` later)."""


@dataclass
class TransferConfig:
    """The test-time protocol: fine-tune, scratch and zero-shot on each test level."""

    budget_steps: int = 1_000_000
    """Agent steps each test level is fine-tuned (and trained from scratch) for."""
    zero_shot_episodes: int = 30
    """Episodes of the joint policy, without learning, per test level and seed (it stops earlier when the budget's
    agent steps are spent: the same counting rule as the learners)."""
    n_envs: int = 1
    """Environments per test-level job (the benchmark used 1)."""
    parallel_jobs: int = 0
    """Per-level jobs run at once; 0 = number of CPU cores."""
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    """Seeds for each per-level job; scores are averaged over them and the 95% confidence intervals are taken
    across them (at least 2 seeds for an interval; 3 or more for one worth reading)."""
    jerk: bool = True
    """Also score JERK, the report's scripted baseline, on test levels whose game has left, right and jump (Sonic);
    elsewhere the table says it does not apply."""


@dataclass
class RunConfig:
    """What to run."""

    algorithm: Literal["ppo", "rl2"] = "ppo"
    """'ppo' (feed-forward, joint training) or 'rl2' (recurrent meta-RL)."""
    seed: int = 0
    """Seed for torch, numpy and the environments."""
    checkpoint_every: int = 10
    """Updates between checkpoints."""
    keep_checkpoints: int = 3
    """Most recent checkpoints kept (the best one is kept besides)."""
    record_episodes: bool = True
    """Record every finished episode as a .bk2 movie plus a sidecar of policy outputs."""


SECTIONS = {"env": EnvConfig, "ppo": PPOConfig, "rl2": RL2Config, "transfer": TransferConfig, "run": RunConfig}
"""Preset table name -> settings dataclass."""


def joint_regime(settings: Any) -> str:
    """Which joint-training regime `settings` describe, in words for a results table: 'report' (every worker fixed
    on one training level, synchronous PPO, time-limit ends terminal: retro-baselines' ppo2) or the choices that
    differ from it."""
    env, ppo = settings.env, settings.ppo
    differs = []
    if env.level_sampling != "fixed":
        differs.append("per-episode level draws")
    if ppo.overlap:
        differs.append(f"overlapped updates (decoupled PPO, {ppo.importance_weight.replace('_', ' ')} importance "
                       "weight)")
    if ppo.bootstrap_truncated:
        differs.append("time-limit ends bootstrapped")
    if not differs:
        return "report regime (workers fixed on levels, synchronous PPO, time-limit ends terminal)"
    return "workbench regime: " + ", ".join(differs)


def field_docs(cls: type) -> dict[str, str]:
    """The docstring under each field of a settings dataclass, read from its source."""
    import ast
    import inspect
    import textwrap

    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs: dict[str, str] = {}
    for node, nxt in zip(body, body[1:]):
        if isinstance(node, ast.AnnAssign) and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant):
            docs[node.target.id] = " ".join(str(nxt.value.value).split())  # type: ignore[attr-defined]
    return docs


def field_names(cls: type) -> list[str]:
    return [f.name for f in fields(cls)]


@dataclass
class Settings:
    """The engine's settings, one dataclass per preset table (a `core.presets.Preset` has the same attributes
    and can be passed wherever a Settings is)."""

    env: EnvConfig = field(default_factory=EnvConfig)
    ppo: PPOConfig = field(default_factory=PPOConfig)
    rl2: RL2Config = field(default_factory=RL2Config)
    transfer: TransferConfig = field(default_factory=TransferConfig)
    run: RunConfig = field(default_factory=RunConfig)

    @classmethod
    def of(cls, config: Any) -> "Settings":
        """A copy of the settings of anything with the section attributes (a Preset, a Settings, a dict of
        dicts)."""
        if isinstance(config, dict):
            return cls(**{name: sec(**config.get(name, {})) for name, sec in SECTIONS.items()})
        copies = {name: dataclasses.replace(getattr(config, name, sec())) for name, sec in SECTIONS.items()}
        copies["transfer"].seeds = list(copies["transfer"].seeds)
        return cls(**copies)

    def to_dict(self) -> dict[str, dict]:
        return {name: dataclasses.asdict(getattr(self, name)) for name in SECTIONS}


# -- validation ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SettingProblem:
    """One setting that cannot run: where it is (`section.key`) and what to do."""

    section: str
    key: str
    message: str

    def __str__(self) -> str:
        return self.message


class SettingsError(ValueError):
    """Settings that `validate` refuses; str() names the file (when known) and every problem."""

    def __init__(self, problems: list[SettingProblem], file: str | None = None):
        self.problems, self.file = list(problems), file
        where = f"{file}: " if file else ""
        super().__init__(where + "; ".join(p.message for p in self.problems))


_AT_LEAST = {
    ("env", "frame_skip"): 1, ("env", "max_episode_steps"): 1, ("env", "warp_size"): 8, ("env", "frame_stack"): 1,
    ("ppo", "n_envs"): 1, ("ppo", "n_steps"): 1, ("ppo", "n_minibatches"): 1, ("ppo", "n_epochs"): 1,
    ("ppo", "total_steps"): 1, ("rl2", "episodes_per_trial"): 1, ("rl2", "hidden_size"): 1,
    ("rl2", "bptt_steps"): 1, ("rl2", "eval_trials"): 0, ("transfer", "budget_steps"): 0,
    ("transfer", "zero_shot_episodes"): 1,
    ("transfer", "n_envs"): 1, ("transfer", "parallel_jobs"): 0, ("run", "checkpoint_every"): 1,
    ("run", "keep_checkpoints"): 1,
}
_UNIT_INTERVAL = {("env", "sticky_prob"), ("ppo", "gamma"), ("ppo", "gae_lambda")}
_POSITIVE = {("ppo", "learning_rate"), ("ppo", "clip_range")}
_NON_NEGATIVE = {("ppo", "ent_coef"), ("ppo", "vf_coef"), ("ppo", "max_grad_norm")}
_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def validate(settings: Any) -> list[SettingProblem]:
    """Every setting of `settings` (a Settings or a Preset) that cannot run, in table order."""
    found: list[SettingProblem] = []

    def bad(section: str, key: str, message: str) -> None:
        found.append(SettingProblem(section, key, message))

    for (section, key), low in _AT_LEAST.items():
        value = getattr(getattr(settings, section), key)
        if value < low:
            bad(section, key, f"{section}.{key} = {value} must be at least {low}")
    for section, key in sorted(_UNIT_INTERVAL | _POSITIVE | _NON_NEGATIVE):
        value = getattr(getattr(settings, section), key)
        if (section, key) in _UNIT_INTERVAL:
            wrong, want = not 0 <= value <= 1, "between 0 and 1"
        elif (section, key) in _POSITIVE:
            wrong, want = not (value > 0 and math.isfinite(value)), "a positive number"
        else:
            wrong, want = not (value >= 0 and math.isfinite(value)), "zero or more"
        if wrong:
            bad(section, key, f"{section}.{key} = {value} must be {want}")
    ppo, rl2 = settings.ppo, settings.rl2
    if not _DEVICE.match(str(ppo.device)):
        bad("ppo", "device", f"ppo.device = {ppo.device!r} must be 'auto', 'cpu' or 'cuda[:N]'")
    if rl2.architecture not in ("shared", "separate"):
        bad("rl2", "architecture", f"rl2.architecture = {rl2.architecture!r} must be 'shared' or 'separate'")
    if not settings.transfer.seeds:
        bad("transfer", "seeds", "transfer.seeds is empty; give at least one seed, e.g. [0, 1, 2]")
    elif len(set(settings.transfer.seeds)) != len(settings.transfer.seeds):
        bad("transfer", "seeds", f"transfer.seeds = {list(settings.transfer.seeds)} repeats a seed; a repeated "
            "seed would count one run twice in the mean and its interval; list each seed once")
    if not (ppo.importance_weight_max > 1 and math.isfinite(ppo.importance_weight_max)):
        bad("ppo", "importance_weight_max", f"ppo.importance_weight_max = {ppo.importance_weight_max} must be a "
            "number above 1 (ppo-ewma uses 100)")
    train = list(getattr(getattr(settings, "levels", None), "train", None) or [])
    if settings.env.level_sampling == "fixed" and train and settings.run.algorithm == "ppo" \
            and ppo.n_envs >= 1 and ppo.n_envs % len(train):
        bad("ppo", "n_envs", f"env.level_sampling = 'fixed' puts worker i on training level i mod "
            f"{len(train)}, so ppo.n_envs = {ppo.n_envs} would "
            + ("never play some training levels" if ppo.n_envs < len(train) else "weight the levels unequally")
            + f"; use a multiple of {len(train)} environments or env.level_sampling = 'per_episode'")
    if min(ppo.n_envs, ppo.n_steps, ppo.n_minibatches) >= 1:
        recurrent = settings.run.algorithm == "rl2"
        if recurrent and rl2.bptt_steps >= 1 and rl2.bptt_steps < ppo.n_steps and ppo.n_steps % rl2.bptt_steps:
            bad("rl2", "bptt_steps", f"ppo.n_steps = {ppo.n_steps} must be a multiple of rl2.bptt_steps = "
                f"{rl2.bptt_steps}; change one of them")
        elif recurrent:  # minibatches of whole sequences (env columns, or their truncated-BPTT segments)
            segments = ppo.n_steps // rl2.bptt_steps if 1 <= rl2.bptt_steps < ppo.n_steps else 1
            sequences = ppo.n_envs * segments
            if sequences % ppo.n_minibatches:
                bad("ppo", "n_minibatches", f"ppo.n_minibatches = {ppo.n_minibatches} must divide the "
                    f"{sequences} sequences of a rollout (ppo.n_envs x ppo.n_steps / rl2.bptt_steps); "
                    f"e.g. {_divisor_near(sequences, ppo.n_minibatches)}")
        elif (ppo.n_envs * ppo.n_steps) % ppo.n_minibatches:
            batch = ppo.n_envs * ppo.n_steps
            bad("ppo", "n_minibatches", f"ppo.n_minibatches = {ppo.n_minibatches} must divide the rollout of "
                f"ppo.n_envs x ppo.n_steps = {batch} samples; e.g. {_divisor_near(batch, ppo.n_minibatches)}")
    return found


def _divisor_near(n: int, want: int) -> int:
    """The divisor of n closest to `want` (a suggestion for a minibatch count)."""
    return min((d for d in range(1, n + 1) if n % d == 0), key=lambda d: (abs(d - want), d))


def check(settings: Any, file: str | None = None) -> None:
    """Raise `SettingsError` (naming `file`) when `validate` finds a problem."""
    problems = validate(settings)
    if problems:
        raise SettingsError(problems, file)
