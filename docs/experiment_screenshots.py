"""The README's screenshots, made on a real X server (Xvfb) from real runs: three tiny Airstriker runs that differ
in their learning rate (compare view), a transfer of one started from the window (transfer curves), and the
saliency overlay on one of its recorded episodes with the replay filling the centre area.

    apt-get install -y xvfb libxcb-cursor0     # once (plus the other libxcb-* packages `workbench` names)
    xvfb-run -s "-screen 0 1680x1050x24" .venv/bin/python docs/experiment_screenshots.py [--steps 1536]

Writes docs/compare.png, docs/transfer-curves.png and docs/saliency.png. Takes a few minutes on two cores."""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def wait(app, condition, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        if condition():
            return True
        time.sleep(0.02)
    return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1536)
    parser.add_argument("--budget", type=int, default=256)
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="wb-screens-"))
    os.environ["WORKBENCH_RUNS"] = str(root)
    from engine_runs import tiny_airstriker, train_run

    for seed, (name, lr) in enumerate((("lr-1e-4", 1e-4), ("lr-5e-4", 5e-4), ("lr-2e-3", 2e-3))):
        preset = tiny_airstriker(name="screens", **{"ppo.learning_rate": lr, "env.max_episode_steps": 25,
                                                    "run.seed": seed, "transfer.seeds": [0, 1, 2],
                                                    "transfer.zero_shot_episodes": 3})
        train_run(root / name, preset, steps=args.steps)
        print(f"trained {name}", flush=True)

    from PySide6.QtWidgets import QApplication

    from workbench.ui.app import style_sheet
    from workbench.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    app.setStyle("Fusion")
    app.setStyleSheet(style_sheet())
    window = MainWindow()
    window.quiet = True
    window.resize(1600, 1000)
    window.show()
    wait(app, lambda: False, 1.0)
    handle = next(h for h in window.controller.handles() if h.name == "lr-5e-4")
    window.controller.select(handle)

    compare = window.compare_view
    window.tabs.setCurrentWidget(compare)
    compare.refresh_runs()
    compare.check_runs(["lr-1e-4", "lr-5e-4", "lr-2e-3"])
    compare.smoothing.setValue(8)
    window.live_view.hide()  # the tabs take the centre: the figures are what the pictures are about
    wait(app, lambda: False, 1.0)
    window.centre.grab().save(str(args.out / "compare.png"))
    print("wrote compare.png", flush=True)

    transfer = window.transfer_view
    window.tabs.setCurrentWidget(transfer)
    transfer.budget.setValue(args.budget)
    transfer.jobs.setValue(2)
    transfer.start_transfer()
    if not wait(app, lambda: not transfer.running, 900):
        transfer.cancel()
        raise SystemExit("the transfer did not finish in 15 minutes")
    if transfer.last_exit_code != 0:
        raise SystemExit(transfer.output())
    wait(app, lambda: False, 1.5)
    window.centre.grab().save(str(args.out / "transfer-curves.png"))
    print("wrote transfer-curves.png", flush=True)

    from workbench.replay.episode_index import list_episodes

    viewer = window.replay_viewer
    best = list_episodes(handle.run_dir, order="best")[0]
    window.tabs.setCurrentWidget(viewer)
    viewer.open_run(handle.run_dir)
    viewer.open_episode(best.movie_path)
    pane = viewer.pane
    wait(app, lambda: pane.shown_frame == 0, 60)
    step = min(len(pane.sidecar.actions) - 1, 30)
    viewer.transport.seek(pane.step_start_frame(step))
    wait(app, lambda: pane.shown_frame == pane.step_start_frame(step), 60)
    window.set_replay_layout("centre")
    pane.set_saliency("both")
    wait(app, lambda: pane.saliency_map is not None, 120)
    wait(app, lambda: False, 1.0)
    window.grab().save(str(args.out / "saliency.png"))
    print("wrote saliency.png", flush=True)
    window.close_policy = "stop"
    window.close()

    import statistics

    from workbench.replay.saliency import SaliencyProcess

    with SaliencyProcess(best.movie_path) as worker:  # what one overlay costs the worker, per method
        n = len(worker_steps := range(1, min(best.length, 12)))
        for method in ("gradient", "occlusion"):
            times = [worker.compute(k, method).seconds * 1000 for k in worker_steps]
            print(f"saliency {method}: median {statistics.median(times):.0f} ms per step over {n} steps "
                  f"(one thread)", flush=True)


if __name__ == "__main__":
    main()
