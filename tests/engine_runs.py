"""Tiny real Airstriker runs written by the engine (through `launcher.build_run`), for the window's tests: a few
episodes per level in a few seconds, recorded (movie + sidecar) so they replay."""
from __future__ import annotations

from pathlib import Path

from workbench.core.paths import DEFAULT_PRESET
from workbench.core.presets import Preset, load_preset


def tiny_airstriker(name: str = "tiny", **edits) -> Preset:
    """The default preset made small: 2 envs, 32-step rollouts, 20-step episodes, fp32 on the CPU, recorded
    episodes, a checkpoint every update. `edits`: 'section.field' -> value."""
    preset = load_preset(DEFAULT_PRESET)
    preset.name = name
    preset.ppo.n_envs = 2
    preset.ppo.n_steps = 32
    preset.ppo.n_epochs = 1
    preset.ppo.n_minibatches = 2
    preset.ppo.total_steps = 256
    preset.ppo.overlap = False
    preset.ppo.precision = "fp32"
    preset.ppo.device = "cpu"
    preset.env.max_episode_steps = 20
    preset.run.record_episodes = True
    preset.run.checkpoint_every = 1
    for key, value in edits.items():
        section, field = key.split(".")
        setattr(getattr(preset, section), field, value)
    return preset


def train_run(run_dir: Path, preset: Preset, steps: int = 256) -> Path:
    """Train `preset` into a new run folder `run_dir` (one env worker process per env) and return it."""
    from workbench.launcher import build_run

    run = build_run(preset, Path(run_dir))
    try:
        run.train(steps)
    finally:
        run.close()
    return Path(run_dir)
