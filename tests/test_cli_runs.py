"""`workbench runs` on runs the engine wrote, and the clean start check before Qt loads."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from workbench.cli import main


@pytest.mark.slow
def test_runs_lists_state_steps_and_best_return(tmp_path, capsys):
    from workbench.cli.runs_commands import best_return
    from workbench.core.paths import runs_dir
    from workbench.core.presets import save_preset
    from workbench.engine.run_store import RunStore

    from engine_runs import tiny_airstriker

    file = save_preset(tiny_airstriker(**{"run.record_episodes": False}), tmp_path / "tiny.toml")
    assert main(["train", str(file), "--steps", "96", "--run-name", "first"]) == 0
    capsys.readouterr()
    assert main(["runs", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == ["first"]
    row = rows[0]
    returns = [e["episode_return"] for e in RunStore(runs_dir() / "first").episodes()]
    assert row["state"] == "finished" and row["steps"] >= 96 and row["episodes"] == len(returns) > 0
    assert row["best_return"] == pytest.approx(best_return(returns), abs=1e-3)
    assert main(["runs"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["run", "state", "steps"] and table[1].split()[:2] == ["first", "finished"]


def test_best_return_is_the_best_mean_over_a_window():
    from workbench.cli.runs_commands import best_return

    assert best_return([]) is None
    assert best_return([1.0, 3.0]) == 2.0
    assert best_return([0, 0, 9, 9, 0], window=2) == 9.0


def test_no_display_says_so_and_names_the_offscreen_option_before_qt_loads():
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    code = ("import sys; from workbench.cli import main; rc = main([]); "
            "assert 'PySide6.QtWidgets' not in sys.modules, 'Qt was loaded'; sys.exit(rc)")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no display" in lines[0] and "QT_QPA_PLATFORM=offscreen" in lines[0]


def test_a_missing_xcb_library_names_the_package_to_install():
    from workbench.cli.display_check import display_problem, missing_libraries, xcb_plugin

    plugin = xcb_plugin()
    assert plugin is not None and plugin.name == "libqxcb.so"
    assert isinstance(missing_libraries(plugin), list)  # what ldd says of the real plugin here
    env = {"DISPLAY": ":0"}
    problem = display_problem(env, "linux", missing=lambda _p: ["libxcb-cursor.so.0"])
    assert "sudo apt-get install libxcb-cursor0" in problem and "QT_QPA_PLATFORM=offscreen" in problem
    assert display_problem(env, "linux", missing=lambda _p: []) is None
    assert display_problem({"QT_QPA_PLATFORM": "offscreen"}, "linux") is None
    assert display_problem({}, "darwin") is None
    odd = display_problem(env, "linux", missing=lambda _p: ["libfoo.so.3"])
    assert "libfoo.so.3" in odd
