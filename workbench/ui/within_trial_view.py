"""RL²'s score for the selected run: mean ± std return of episode 1..K of a trial (overall and per level), read
from `<run>/rl2_eval.json` and redrawn when that file appears or changes. "Evaluate within-trial" writes it with
`workbench rl2-eval RUN` in a background process: evaluation plays many episodes and must never block the window."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget

from workbench.ui.cli_process import CliProcess

CURVE_FILE = "rl2_eval.json"  # = engine.rl2.evaluate.CURVE_FILE; that module (torch) loads only with a curve

EMPTY_TEXT = ("No within-trial curve for this run yet. An RL² run (run.algorithm = \"rl2\") writes it when "
              "training finishes; or press Evaluate within-trial, or run `workbench rl2-eval RUN`.")
OVERALL_COLOR = "#f2f2f2"
LEVEL_COLORS = ("#6fa8ff", "#f29e4c", "#7ccf8a", "#d987e0", "#e8d36a", "#9aa4b5")
POLL_MS = 1000  # a stat() a second: the file is replaced atomically (rename), which file watchers lose track of


class WithinTrialView(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        bar = QHBoxLayout()
        self.message = QLabel(EMPTY_TEXT)
        self.message.setObjectName("dim")
        self.message.setWordWrap(True)
        bar.addWidget(self.message, 1)
        self.trials = QSpinBox()
        self.trials.setRange(1, 1000)
        self.trials.setValue(20)
        self.trials.setSuffix(" trials")
        self.trials.setToolTip("Trials (of K episodes each) the evaluation plays")
        bar.addWidget(self.trials)
        self.evaluate_button = QPushButton("Evaluate within-trial")
        self.evaluate_button.setToolTip("Play trials with the run's newest checkpoint on its test levels "
                                        "(workbench rl2-eval) in a background process")
        self.evaluate_button.clicked.connect(self.evaluate)
        self.evaluate_button.setEnabled(False)
        bar.addWidget(self.evaluate_button)
        layout.addLayout(bar)
        self.chart = pg.PlotWidget(background="#15171c")
        plot = self.chart.getPlotItem()
        plot.showGrid(x=True, y=True, alpha=0.15)
        plot.setLabel("bottom", "episode in trial")
        plot.setLabel("left", "return")
        self.legend = plot.addLegend(offset=(10, 10))
        layout.addWidget(self.chart, 1)

        self.run_dir: Path | None = None
        self.curve = None
        self._mtime: float | None = None
        self._process: CliProcess | None = None
        self._process_run: Path | None = None
        self._ended: CliProcess | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self.refresh)
        self._timer.start()

    # -- data ------------------------------------------------------------------------------------
    @property
    def path(self) -> Path | None:
        return self.run_dir / CURVE_FILE if self.run_dir is not None else None

    def load_run(self, run_dir: Path | None) -> bool:
        """Show the curve of `run_dir` (None: no run selected); True when it has one."""
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self._mtime = None
        self.evaluate_button.setEnabled(self.run_dir is not None and not self.evaluating)
        return self.refresh(force=True)

    def refresh(self, force: bool = False) -> bool:
        """Reload when the file appeared or changed (the timer calls this)."""
        path = self.path
        try:
            mtime = path.stat().st_mtime_ns if path is not None else None
        except OSError:
            mtime = None
        if mtime == self._mtime and not force:
            return self.curve is not None
        self._mtime = mtime
        if mtime is None:
            self._clear(EMPTY_TEXT if self.run_dir is not None else "Select a run to see its within-trial curve.")
            return False
        from workbench.engine.rl2.evaluate import load_curve

        try:
            curve = load_curve(path)
        except ValueError as exc:
            self._clear(str(exc))
            return False
        self.show_curve(curve)
        return True

    def show_curve(self, curve) -> None:
        """Plot a `WithinTrialCurve`."""
        self.curve = curve
        plot = self.chart.getPlotItem()
        plot.clear()
        self.legend.clear()
        k = np.arange(1, len(curve.mean) + 1, dtype=float)
        series = [(f"overall ({curve.overall.n_trials} trials)", curve.overall, OVERALL_COLOR, 3)]
        series += [(task, stats, LEVEL_COLORS[i % len(LEVEL_COLORS)], 1.5)
                   for i, (task, stats) in enumerate(curve.per_task.items())]
        offsets = np.linspace(-0.08, 0.08, len(series)) if len(series) > 1 else [0.0]
        for (name, stats, color, width), dx in zip(series, offsets):
            x = k[:len(stats.mean)] + dx  # nudged sideways so error bars of different levels do not overlap
            mean, std = np.asarray(stats.mean, float), np.asarray(stats.std, float)
            plot.addItem(pg.ErrorBarItem(x=x, y=mean, height=2 * std, beam=0.05, pen=pg.mkPen(color, width=1)))
            plot.plot(x, mean, pen=pg.mkPen(color, width=width), symbol="o", symbolSize=6 + width,
                      symbolBrush=color, name=name)
        plot.getAxis("bottom").setTicks([[(float(i), str(i)) for i in k.astype(int)]])
        first, last = curve.mean[0], curve.mean[-1]
        self.message.setText(
            f"Mean return of episode 1..{curve.episodes_per_trial} of a trial ± std, on the {curve.level_list or ''} "
            f"levels, checkpoint {curve.checkpoint or '?'} (step {curve.global_step:,}"
            f"{', greedy' if curve.greedy else ''}). Episode 1 → {len(curve.mean)}: {first:.2f} → {last:.2f}.")

    def _clear(self, text: str) -> None:
        self.curve = None
        self.chart.getPlotItem().clear()
        self.legend.clear()
        self.message.setText(text)

    def plotted_means(self) -> list[float]:
        """The overall means on screen (empty when no curve is shown)."""
        return list(self.curve.mean) if self.curve is not None else []

    # -- background evaluation -------------------------------------------------------------------
    @property
    def evaluating(self) -> bool:
        return self._process is not None

    def evaluate(self) -> bool:
        """Start `workbench rl2-eval` for the shown run; its curve shows up through the file timer."""
        if self.run_dir is None or self.evaluating:
            return False
        process = CliProcess(["rl2-eval", str(self.run_dir), "--trials", str(self.trials.value())], self)
        process.finished.connect(self._evaluated)
        self._process, self._process_run = process, self.run_dir
        self.evaluate_button.setEnabled(False)
        self.evaluate_button.setText("Evaluating…")
        process.start()
        return True

    def _evaluated(self, code: int) -> None:
        run_dir, output = self._process_run, self._process.output.strip()
        self._process, self._ended = None, self._process  # kept until the next: not deleted in its own signal
        self.evaluate_button.setText("Evaluate within-trial")
        self.evaluate_button.setEnabled(self.run_dir is not None)
        if run_dir != self.run_dir:
            return
        if code != 0:  # the CLI's last line names the file and the fix; a curve already shown stays
            self.message.setText(f"Evaluation failed: {output.splitlines()[-1] if output else f'exit code {code}'}")
        else:
            self.refresh(force=True)

    def shutdown(self) -> None:
        """Stop the timer and an evaluation still going (the window is closing)."""
        self._timer.stop()
        if self._process is not None:
            self._process.interrupt()  # Ctrl-C, not SIGKILL: it closes its env workers and shared memory
