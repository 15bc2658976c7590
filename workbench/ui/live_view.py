"""The live view of the selected run: the chosen env's game frame at native resolution (scaled crisply), its
action probabilities as labelled bars with the sampled action highlighted, and the value estimate.

pyqtgraph's habits: one ImageItem fed row-major uint8 with fixed levels, one BarGraphItem updated with setOpts;
nothing is rebuilt per frame."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)

BAR = pg.mkBrush("#4c8dff")
PICKED = pg.mkBrush("#ffb020")
MAX_TICK_LABELS = 24
TOP_ACTIONS = 16


class LiveView(QWidget):
    watch_requested = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.labels: list[str] = []
        self._probs = np.zeros(1)
        self._shown: list[int] = []
        self.frames_shown = 0
        self.steps_shown = 0
        self.last_step = None

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        top = QHBoxLayout()
        title = QLabel("Live")
        title.setObjectName("panelTitle")
        top.addWidget(title)
        self.run_label = QLabel("no run selected")
        self.run_label.setObjectName("dim")
        top.addWidget(self.run_label, 1)
        top.addWidget(QLabel("Env"))
        self.env = QSpinBox()
        self.env.setRange(0, 0)
        self.env.setToolTip("Which environment's frame and policy outputs to show")
        top.addWidget(self.env)
        layout.addLayout(top)

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground("#15171c")
        self.frame_box = self.graphics.addViewBox(row=0, col=0, lockAspect=True, invertY=True, enableMenu=False)
        self.frame_box.setMouseEnabled(False, False)
        self.image = pg.ImageItem(levels=(0, 255))
        self.frame_box.addItem(self.image)
        self.bars_plot = self.graphics.addPlot(row=0, col=1)
        self.bars_plot.setMenuEnabled(False)
        self.bars_plot.setMouseEnabled(False, False)
        self.bars_plot.setXRange(0, 1, padding=0.02)
        self.bars_plot.getViewBox().invertY(True)
        self.bars_plot.hideButtons()
        self.bars = pg.BarGraphItem(x0=np.zeros(1), y=np.zeros(1), width=np.zeros(1), height=0.75, brushes=[BAR])
        self.bars_plot.addItem(self.bars)
        self.graphics.ci.layout.setColumnStretchFactor(0, 5)
        self.graphics.ci.layout.setColumnStretchFactor(1, 2)
        layout.addWidget(self.graphics, 1)

        bottom = QHBoxLayout()
        self.value_label = QLabel("value —")
        self.value_label.setObjectName("bigNumber")
        self.action_label = QLabel("action —")
        self.action_label.setObjectName("bigNumber")
        self.step_label = QLabel("")
        self.step_label.setObjectName("dim")
        bottom.addWidget(self.value_label)
        bottom.addWidget(self.action_label, 1)
        bottom.addWidget(self.step_label)
        layout.addLayout(bottom)
        self.env.valueChanged.connect(self.watch_requested)

    # -- model -> view ---------------------------------------------------------------------------
    def set_run(self, name: str | None) -> None:
        self.run_label.setText(name or "no run selected")
        if name is None:
            self.image.clear()

    def set_actions(self, labels: list[str], n_envs: int, watched: int = 0) -> None:
        self.labels = list(labels)
        self._probs = np.zeros(max(1, len(labels)))
        self._shown: list[int] = []
        self.env.blockSignals(True)
        self.env.setRange(0, max(0, n_envs - 1))
        self.env.setValue(watched)
        self.env.blockSignals(False)
        self._draw_bars(self._probs, -1)

    def show_frame(self, frame: np.ndarray) -> None:
        first = self.image.image is None or self.image.image.shape[:2] != frame.shape[:2]
        self.image.setImage(frame, autoLevels=False, levels=(0, 255))
        if first:
            self.frame_box.autoRange(padding=0)
        self.frames_shown += 1

    def show_step(self, step) -> None:
        probs = np.asarray(step.probs, dtype=float)
        if len(probs) != len(self.labels):
            self.labels = [str(i) for i in range(len(probs))]
        self._probs = probs
        self._draw_bars(probs, step.action)
        n = len(probs)
        label = self.labels[step.action] if 0 <= step.action < n else str(step.action)
        self.value_label.setText(f"value {step.value:+.2f}")
        self.action_label.setText(f"action {label}  ({probs[step.action]:.0%})" if 0 <= step.action < n else "")
        self.step_label.setText(f"env {step.env_index} · step {step.global_step:,}")
        self.last_step = step
        self.steps_shown += 1

    def _draw_bars(self, probs: np.ndarray, action: int) -> None:
        """Horizontal bars, one per action with its label; with many actions (e.g. 126 Genesis combos) only
        the most likely ones, always including the sampled action."""
        n = len(probs)
        if n <= MAX_TICK_LABELS:
            shown = list(range(n))
        else:
            shown = list(np.argpartition(-probs, TOP_ACTIONS)[:TOP_ACTIONS])
            if 0 <= action < n and action not in shown:
                shown[int(np.argmin(probs[shown]))] = action
            shown.sort()  # action order: the labels only move when the set of top actions changes
        rows = np.arange(len(shown), dtype=float)
        brushes = [PICKED if i == action else BAR for i in shown]
        self.bars.setOpts(x0=np.zeros(len(shown)), y=rows, width=probs[shown], height=np.full(len(shown), 0.75),
                          brushes=brushes)
        if shown != self._shown:
            self._shown = shown
            axis = self.bars_plot.getAxis("left")
            axis.setTicks([[(r, self.labels[i] if i < len(self.labels) else str(i)) for r, i in enumerate(shown)]])
            self.bars_plot.setYRange(-0.6, max(len(shown), 1) - 0.4, padding=0)
            title = "action probabilities" if n <= MAX_TICK_LABELS else f"top {len(shown)} of {n} actions"
            if title != getattr(self, "_title", None):  # setTitle re-lays out the plot: only on change
                self._title = title
                self.bars_plot.setTitle(title, size="9pt", color="#aab2c0")

    def shown_bars(self) -> list[tuple[str, float]]:
        """(label, probability) of the bars on screen, top to bottom."""
        return [(self.labels[i], float(self._probs[i])) for i in self._shown]

    def bar_heights(self) -> np.ndarray:
        """The latest probabilities of every action (the bars show all or the top ones)."""
        return np.asarray(self._probs, dtype=float)
