"""Test-only shorthand for building trainers through the launcher (the one place runs are built)."""
from __future__ import annotations

from workbench.core.presets import Preset
from workbench.core.settings import SECTIONS, Settings
from workbench.launcher import build_run, build_trainer


def make_trainer(settings, env_fns=None, *, levels=None, in_process: bool = False, run_dir=None,
                 resume: bool = False, hooks=None, init_weights=None, vec_env=None, device=None):
    """`build_trainer` (no run folder) or, with `run_dir`, `build_run`'s trainer writing that folder."""
    placement = "in_process" if in_process else "processes"
    if run_dir is None:
        return build_trainer(settings, levels, env_fns=env_fns, vec_env=vec_env, placement=placement, hooks=hooks,
                             init_weights=init_weights, device=device)
    settings = Settings.of(settings)
    levels_of = getattr(settings, "levels", None)
    preset = Preset(name="test", **({"levels": levels_of} if levels_of else {}),
                    **{name: getattr(settings, name) for name in SECTIONS})
    if levels is not None:
        from workbench.core.levels import Level, LevelSet

        preset.levels = LevelSet([lv if isinstance(lv, Level) else Level.parse(str(lv)) for lv in levels])
    return build_run(None if resume else preset, run_dir, resume=resume, hooks=hooks, device=device,
                     env_fns=env_fns, placement=placement).trainer
