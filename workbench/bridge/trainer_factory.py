"""How the run process builds and runs the engine's `Trainer` (the one place that knows its API)."""
from __future__ import annotations

from pathlib import Path

LAUNCH_PRESET = "launch-preset.toml"


def build(run_dir: Path, launch: dict, hooks):
    """-> (trainer, level strings). Raises with a clear message when the preset or its levels are bad."""
    from workbench.catalog.presets import load_preset
    from workbench.engine.trainer import Trainer

    preset = load_preset(run_dir / launch.get("preset", LAUNCH_PRESET))
    # resume: continue from the run's newest good checkpoint (the run store keeps its curves and history)
    trainer = Trainer(preset, list(preset.levels.train), run_dir=run_dir, hooks=hooks,
                      resume=bool(launch.get("resume")))
    return trainer, [str(level) for level in preset.levels.train]


def make_hooks(bridge):
    from workbench.engine.trainer import Hooks

    return Hooks(on_step=[bridge.on_step], on_episode=[bridge.on_episode], on_update=[bridge.on_update])


def run(trainer, launch: dict) -> None:
    trainer.run(launch.get("total_steps"))


def final_state(trainer) -> str:
    return "stopped" if getattr(trainer, "state", "") == "stopped" else "finished"


def mark_failed(run_dir: Path, error: str) -> None:
    """Make status.json say failed with the error (the trainer does when it got that far; a bad preset or a
    crash while building the envs happens before)."""
    import json
    import os
    import time

    from workbench.paths import atomic_write_text

    path = Path(run_dir) / "status.json"
    try:
        status = json.loads(path.read_text())
    except (OSError, ValueError):
        status = {}
    if status.get("state") != "failed" or not status.get("error"):
        status.update(state="failed", error=error, pid=os.getpid(), heartbeat=time.time())
        atomic_write_text(path, json.dumps(status))


def close(trainer) -> None:
    if trainer is not None:
        try:
            trainer.close()
        except Exception:
            pass
