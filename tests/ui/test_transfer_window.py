"""Transfer from the window: `workbench transfer` in a background process on a real joint run, per-job progress,
per-level curves with bands across seeds, the score table with intervals, and cancel."""
from __future__ import annotations

import csv

import numpy as np
import pytest

from engine_runs import tiny_airstriker, train_run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def joint_run(tmp_path_factory):
    preset = tiny_airstriker("joint", **{"run.record_episodes": False, "transfer.zero_shot_episodes": 2,
                                         "transfer.seeds": [0, 1]})
    assert len(preset.levels.test) == 2
    return train_run(tmp_path_factory.mktemp("transfer") / "joint", preset, steps=64)


def test_transfer_started_from_the_window_finishes_and_draws_curves_with_bands(qtbot, joint_run):
    from workbench.core.presets import load_preset
    from workbench.ui.transfer_view import TransferView

    view = TransferView()
    qtbot.addWidget(view)
    view.resize(1200, 700)
    view.show()
    assert not view.load_run(joint_run)  # no results yet
    assert view.seeds.value() == 2  # the run's own transfer settings
    view.budget.setValue(120)
    view.jobs.setValue(2)
    assert view.start_transfer()
    assert view.running and view.progress.maximum() == 4
    assert {state for _l, _s, state in view.job_states()} <= {"running", "queued"}
    qtbot.waitUntil(lambda: not view.running, timeout=280_000)
    assert view.last_exit_code == 0, view.output()
    assert [s for _l, _s, s in view.job_states()] == ["done"] * 4 and view.progress.value() == 4

    levels = [str(lv) for lv in load_preset(joint_run / "config.toml").levels.test]
    assert list(view.level_plots) == levels  # one plot per test level
    folder = joint_run / "transfer"
    episodes = list(csv.DictReader(open(folder / "episodes.csv")))
    bands = 0
    for level in levels:
        assert {"finetune", "scratch", "zeroshot"} <= set(view.curves[level])
        for mode, curve in view.curves[level].items():
            assert curve.seeds == 2
            line, band = view.mode_items[(level, mode)]
            seed_scores = [np.mean([float(e["return"]) for e in episodes if e["level"] == level and
                                    e["mode"] == mode and int(e["seed"]) == s]) for s in (0, 1)]
            assert curve.score[0] == pytest.approx(np.mean(seed_scores))  # the level score, as results.csv
            if seed_scores[0] != seed_scores[1]:
                assert curve.score[1] < curve.score[0] < curve.score[2]
            ok = np.isfinite(curve.low) & np.isfinite(curve.high)
            if ok.sum() > 1 and np.max(curve.high[ok] - curve.low[ok]) > 0:
                assert band is not None and band.path().boundingRect().height() > 0  # a filled area
                bands += 1
            if mode == "zeroshot":  # the zero-shot level is a line
                assert np.nanstd(line.getData()[1]) == 0
    assert bands > 0, "no mode differed between seeds anywhere"
    rows = {r["level"]: r for r in csv.DictReader(open(folder / "results.csv"))}
    for r, level in enumerate(levels):
        assert view.scores.item(r, 0).text() == level
        ft = view.curves[level]["finetune"].score[0]
        assert float(rows[level]["finetune"]) == pytest.approx(ft)
    assert view.table.rowCount() == len(levels) + 1  # results.csv on its own tab
    view.shutdown()


def test_a_transfer_can_be_cancelled_and_leaves_no_process(qtbot, joint_run):
    from workbench.ui.cli_process import descendants
    from workbench.ui.transfer_view import TransferView

    earlier = joint_run / "transfer" / "results.md"
    earlier.parent.mkdir(exist_ok=True)
    earlier.write_text("an earlier transfer\n")
    view = TransferView()
    qtbot.addWidget(view)
    view.load_run(joint_run)
    view.budget.setValue(10_000_000)
    view.jobs.setValue(1)
    assert view.start_transfer()
    pid = view._process.pid()
    qtbot.waitUntil(lambda: len(descendants(pid)) >= 1, timeout=60_000)  # its job pool is up
    children = descendants(pid)
    view.cancel()
    qtbot.waitUntil(lambda: not view.running, timeout=20_000)
    assert "cancelled" in view.message.text()
    import os

    def gone(p):
        try:
            os.kill(p, 0)
        except ProcessLookupError:
            return True
        return open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[0] == "Z"

    qtbot.waitUntil(lambda: all(gone(p) for p in children + [pid]), timeout=10_000)
    # the earlier transfer's results were moved aside, not lost
    kept = [p / "results.md" for p in (joint_run / "transfer").iterdir() if p.name.startswith("previous-")]
    assert any(p.is_file() and p.read_text() == "an earlier transfer\n" for p in kept)
    view.shutdown()


def test_the_reader_takes_extra_columns_and_a_jerk_mode(tmp_path):
    from workbench.ui.transfer_curves import learning_curves, read_transfer, score_table

    folder = tmp_path / "transfer"
    folder.mkdir()
    lines = ["level,mode,seed,index,global_step,return,length,ci_low"]
    for seed, offset in ((0, 0.0), (1, 2.0)):
        for k in range(5):
            for mode, base in (("finetune", 10), ("scratch", 5), ("jerk", 7), ("zeroshot", 3)):
                lines.append(f"L:1,{mode},{seed},{k},{(k + 1) * 20},{base + k + offset},10,")
    (folder / "episodes.csv").write_text("\n".join(lines) + "\n")
    curves = learning_curves(read_transfer(folder))
    assert set(curves["L:1"]) == {"finetune", "scratch", "jerk", "zeroshot"}
    jerk = curves["L:1"]["jerk"]
    assert jerk.seeds == 2 and jerk.score[0] == pytest.approx(np.mean([7 + 2, 7 + 2 + 2]))
    # two seeds 2 apart: t(1) * std / sqrt(2) = 12.706 * 1.414 / 1.414
    assert jerk.score[2] - jerk.score[0] == pytest.approx(12.706, rel=1e-3)
    header, rows = score_table(curves)
    assert "JERK" in header and "[" in rows[0][header.index("JERK")]
