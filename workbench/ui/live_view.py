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


class LiveView(QWidget):
    watch_requested = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.labels: list[str] = []
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
        self.bars_plot.setYRange(0, 1, padding=0.02)
        self.bars_plot.setLabel("left", "probability")
        self.bars_plot.hideButtons()
        self.bars = pg.BarGraphItem(x=np.arange(1), height=np.zeros(1), width=0.8, brushes=[BAR])
        self.bars_plot.addItem(self.bars)
        self.graphics.ci.layout.setColumnStretchFactor(0, 3)
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
        n = max(1, len(labels))
        self._brushes = [BAR] * n
        self.bars.setOpts(x=np.arange(n), height=np.zeros(n), width=0.8, brushes=list(self._brushes))
        self.bars_plot.setXRange(-0.6, n - 0.4, padding=0)
        axis = self.bars_plot.getAxis("bottom")
        if n <= MAX_TICK_LABELS:
            axis.setTicks([[(i, label) for i, label in enumerate(labels)]])
            axis.setStyle(tickTextOffset=4)
        else:
            axis.setTicks(None)
        self.env.blockSignals(True)
        self.env.setRange(0, max(0, n_envs - 1))
        self.env.setValue(watched)
        self.env.blockSignals(False)

    def show_frame(self, frame: np.ndarray) -> None:
        first = self.image.image is None or self.image.image.shape[:2] != frame.shape[:2]
        self.image.setImage(frame, autoLevels=False, levels=(0, 255))
        if first:
            self.frame_box.autoRange(padding=0)
        self.frames_shown += 1

    def show_step(self, step) -> None:
        probs = np.asarray(step.probs, dtype=float)
        n = len(probs)
        if n != len(getattr(self, "_brushes", [])):
            self.set_actions(self.labels if len(self.labels) == n else [str(i) for i in range(n)],
                             self.env.maximum() + 1, self.env.value())
        brushes = [BAR] * n
        if 0 <= step.action < n:
            brushes[step.action] = PICKED
        self.bars.setOpts(height=probs, brushes=brushes)
        label = self.labels[step.action] if 0 <= step.action < len(self.labels) else str(step.action)
        self.value_label.setText(f"value {step.value:+.2f}")
        self.action_label.setText(f"action {label}  ({probs[step.action]:.0%})" if 0 <= step.action < n else "")
        self.step_label.setText(f"env {step.env_index} · step {step.global_step:,}")
        self.last_step = step
        self.steps_shown += 1

    def bar_heights(self) -> np.ndarray:
        return np.asarray(self.bars.opts["height"], dtype=float)
