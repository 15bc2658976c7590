"""Settings of a run, as plain dataclasses (one TOML table each in a preset).

Every field has a docstring-style comment: the preset reader, the CLI and the GUI's settings form all read
them from here, so there is one place that says what a setting means (CleanRL's habit).
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Literal


@dataclass
class EnvConfig:
    """How each level is turned into an environment (stable-retro + wrappers)."""

    action_set: Literal["auto", "sonic", "atari18", "buttons", "discrete"] = "auto"
    """Action set: 'sonic' (7 button combos), 'atari18' (full joystick), 'buttons' (filtered single buttons and
    useful pairs), 'discrete' (stable-retro's own discrete combos); 'auto' picks by game family."""
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
    """'fixed': worker i plays training level i mod n; 'per_episode': each worker draws a level every episode."""


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
    total_steps: int = 1_000_000
    """Agent steps (summed over envs) to train for."""
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    """Learner precision: 'auto' uses bf16 autocast on CPUs that support it and on CUDA."""
    device: str = "auto"
    """'auto' (CUDA when present), 'cpu' or 'cuda[:N]'."""


@dataclass
class RL2Config:
    """RL² (meta-RL) settings; used when run.algorithm = 'rl2'."""

    episodes_per_trial: int = 2
    """K: episodes on one sampled level with the recurrent state kept across them."""
    hidden_size: int = 256
    """GRU hidden units."""
    bptt_steps: int = 128
    """Truncated back-propagation length (rollout segment)."""
    eval_trials: int = 20
    """Trials played for the within-trial curve when training finishes; 0 = none (`workbench rl2-eval` later)."""


@dataclass
class TransferConfig:
    """The test-time protocol: fine-tune, scratch and zero-shot on each test level."""

    budget_steps: int = 1_000_000
    """Agent steps each test level is fine-tuned (and trained from scratch) for."""
    zero_shot_episodes: int = 10
    """Episodes of the joint policy, without learning, per test level."""
    n_envs: int = 1
    """Environments per test-level job (the benchmark used 1)."""
    parallel_jobs: int = 0
    """Per-level jobs run at once; 0 = number of CPU cores."""
    seeds: list[int] = field(default_factory=lambda: [0])
    """Seeds for each per-level job; scores are averaged over them."""


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
