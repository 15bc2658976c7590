"""The detached process that trains one run and streams it to any GUI that connects.

Started by `bridge.supervisor` as `python -m workbench.bridge.run_process RUN_DIR` in its own session, so it
outlives the GUI that started it. It builds the run with `launcher.build_run` from `RUN_DIR/launch.json`, adds
the live bridge's hooks (`bridge.live_bridge`: `bridge.json` says how a GUI (re-)attaches; frames stay in the vec
env's shared memory, written only while a GUI is connected) and trains; a failure at any point, also before the
first update, ends the process with status.json saying failed and why. It holds the run folder's writer lock
(`engine.run_store.RunLock`) from before it reads anything to its exit; a folder another process writes is left
untouched (exit status 3, the holder named on stderr).
"""
from __future__ import annotations

import json
import os
import signal
import sys
import traceback
from pathlib import Path

from workbench.bridge import protocol
from workbench.bridge.live_bridge import BRIDGE_FILE, LiveBridge

LAUNCH_FILE = "launch.json"
LAUNCH_PRESET = "launch-preset.toml"
LOG_FILE = "bridge.log"
NICENESS = 5


class EvaluationStopped(Exception):
    """SIGTERM while playing the within-trial trials: training is done and saved, only the curve is skipped."""


def _on_sigterm(bridge: LiveBridge, trainer) -> None:
    if bridge.state == "evaluating":
        raise EvaluationStopped()
    if trainer is None:
        sys.exit(143)
    trainer.stop()


LOCKED_EXIT = 3
"""Exit status when another process already writes the run folder (nothing was written)."""
WRITER = "the window's run process"


def main(argv: list[str] | None = None) -> int:
    from workbench.core.presets import load_preset
    from workbench.engine.hooks import Hooks
    from workbench.engine.run_store import RunLock, RunLockedError, RunStore
    from workbench.launcher import build_run

    argv = sys.argv[1:] if argv is None else argv
    run_dir = Path(argv[0]).resolve()
    try:  # before anything in the folder is read or written: one writer per run folder
        lock = RunLock.acquire(run_dir, WRITER)
    except RunLockedError as exc:  # status.json, bridge.json and launch.json are the holder's: touch nothing
        print(str(exc), file=sys.stderr, flush=True)
        return LOCKED_EXIT
    (run_dir / BRIDGE_FILE).unlink(missing_ok=True)  # a killed predecessor's: windows must not try it
    bridge = LiveBridge(run_dir)
    run = None
    try:
        # Training takes every core it gets; a slightly lower priority keeps the window that watches it
        # responsive and costs training nothing while the GUI is idle. Env workers inherit it.
        os.nice(NICENESS)
    except OSError:
        pass
    # SIGTERM (e.g. the GUI stopping a run it cannot reach) stops like the Stop button: checkpoint, clean exit
    signal.signal(signal.SIGTERM, lambda *_: _on_sigterm(bridge, run.trainer if run else None))
    try:
        launch = json.loads((run_dir / LAUNCH_FILE).read_text())
        resume = bool(launch.get("resume"))
        preset_file = run_dir / launch.get("preset", LAUNCH_PRESET)
        preset = None if resume else load_preset(preset_file)
        run = build_run(preset, run_dir, resume=resume, file=str(preset_file), lock=lock, writer=WRITER,
                        cluster=launch.get("cluster"),
                        hooks=Hooks(on_step=[bridge.on_step], on_episode=[bridge.on_episode],
                                    on_update=[bridge.on_update]))
        bridge.attach(run.trainer, [str(level) for level in run.preset.levels.train])
        bridge.set_state("running")
        outcome = run.train(launch.get("total_steps"), on_evaluate=lambda: bridge.set_state("evaluating"))
        error = outcome.evaluation_error
        if isinstance(error, EvaluationStopped):
            print("within-trial evaluation stopped; run `workbench rl2-eval RUN` for the curve", file=sys.stderr,
                  flush=True)
        elif error is not None:  # the curve is extra; the run itself finished
            print("within-trial evaluation failed:\n" + "".join(traceback.format_exception(error)),
                  file=sys.stderr, flush=True)
        elif outcome.curve is not None:
            print(f"wrote {outcome.curve[1]}", file=sys.stderr, flush=True)
        bridge.set_state(outcome.state)
        return 0
    except BaseException as exc:  # noqa: BLE001 - everything a run does must surface as its failed state
        print("".join(traceback.format_exception(exc)), file=sys.stderr, flush=True)
        short = f"{type(exc).__name__}: {exc}"
        if (run_dir / "config.toml").is_file():
            RunStore(run_dir).mark_failed(short)
        else:  # the preset was refused before the run folder became a run: say so where the GUI looks
            RunStore(run_dir).write_status("failed", short)
        if bridge.broadcaster is not None:
            bridge.broadcaster.publish(protocol.RunFailed(short))
        bridge.set_state("failed", short)
        return 1
    finally:
        bridge.close()
        try:
            if run is not None:
                run.close()
        finally:
            lock.release()


if __name__ == "__main__":
    sys.exit(main())
