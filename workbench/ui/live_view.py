"""The live view of the selected run: the chosen env's game frame at native resolution (scaled crisply), its
action probabilities as labelled bars with the sampled action highlighted, and the value estimate.

On two cores every millisecond drawn here is taken from training, so: one frame item that blits a reused
32-bit image (Qt scales RGB32 about five times faster than RGB888), one BarGraphItem updated with setOpts, the
top-actions set (and with it the axis labels) re-picked at most twice a second (in between only the sampled action
swaps in); nothing is rebuilt per frame."""
from __future__ import annotations

import time

import cv2
import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)

BAR = pg.mkBrush("#4c8dff")
PICKED = pg.mkBrush("#ffb020")
MAX_TICK_LABELS = 24
TOP_ACTIONS = 16
TOP_SET_SECONDS = 0.5
"""With many actions, how long the set of bars shown (and their labels) stays put: relabelling the axis is the
costliest part of a bar update, and labels that jump every step are unreadable anyway."""


class FrameItem(pg.GraphicsObject):
    """The game frame, painted 1:1 in item coordinates (the view box scales it, without smoothing).

    `setImage` converts the RGB frame into a reused BGRX buffer that a QImage (Format_RGB32) wraps: no
    allocation per frame and the cheapest format for Qt to scale. `image` is the last RGB frame given."""

    def __init__(self):
        super().__init__()
        self.image: np.ndarray | None = None
        self._bgrx: np.ndarray | None = None
        self._qimage: QImage | None = None

    def setImage(self, frame: np.ndarray) -> None:
        h, w = frame.shape[:2]
        if self._bgrx is None or self._bgrx.shape[:2] != (h, w):
            self.prepareGeometryChange()
            self._bgrx = np.empty((h, w, 4), np.uint8)
            self._qimage = QImage(self._bgrx.data, w, h, w * 4, QImage.Format.Format_RGB32)
            self.informViewBoundsChanged()
        if frame.ndim == 2 or frame.shape[2] == 1:
            cv2.cvtColor(frame.reshape(h, w), cv2.COLOR_GRAY2BGRA, dst=self._bgrx)
        else:
            cv2.cvtColor(np.ascontiguousarray(frame[:, :, :3]), cv2.COLOR_RGB2BGRA, dst=self._bgrx)
        self.image = frame
        self.update()

    def clear(self) -> None:
        self.prepareGeometryChange()
        self.image = self._bgrx = self._qimage = None
        self.informViewBoundsChanged()
        self.update()

    def boundingRect(self) -> QRectF:
        if self._bgrx is None:
            return QRectF()
        h, w = self._bgrx.shape[:2]
        return QRectF(0, 0, w, h)

    def paint(self, painter, *_args) -> None:
        if self._qimage is not None:
            painter.drawImage(self.boundingRect(), self._qimage)


class LiveView(QWidget):
    watch_requested = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.labels: list[str] = []
        self._probs = np.zeros(1)
        self._shown: list[int] = []
        self._shown_at = 0.0
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
        self.image = FrameItem()
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
        # room for typical text up front, so text that changes 15 times a second rarely moves its neighbours
        self.value_label.setMinimumWidth(160)
        self.step_label.setMinimumWidth(200)
        self.step_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
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
        self._shown = []
        self._shown_at = 0.0
        self.env.blockSignals(True)
        self.env.setRange(0, max(0, n_envs - 1))
        self.env.setValue(watched)
        self.env.blockSignals(False)
        self._draw_bars(self._probs, -1)

    def show_frame(self, frame: np.ndarray) -> None:
        first = self.image.image is None or self.image.image.shape[:2] != frame.shape[:2]
        self.image.setImage(frame)
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
        now = time.monotonic()
        if n <= MAX_TICK_LABELS:
            shown = list(range(n))
        else:
            if len(self._shown) == TOP_ACTIONS and max(self._shown) < n and now - self._shown_at < TOP_SET_SECONDS:
                shown = list(self._shown)  # keep the labels still; at most the sampled action swaps in
            else:
                shown = [int(i) for i in np.argpartition(-probs, TOP_ACTIONS)[:TOP_ACTIONS]]
            if 0 <= action < n and action not in shown:
                shown[int(np.argmin(probs[shown]))] = action
            shown.sort()  # action order: the labels only move when the set of top actions changes
        rows = np.arange(len(shown), dtype=float)
        brushes = [PICKED if i == action else BAR for i in shown]
        self.bars.setOpts(x0=np.zeros(len(shown)), y=rows, width=probs[shown], height=np.full(len(shown), 0.75),
                          brushes=brushes)
        if shown != self._shown:
            if len(set(shown) - set(self._shown)) > 1:  # a re-pick, not just the sampled action swapping in
                self._shown_at = now
            if len(shown) != len(self._shown):
                self.bars_plot.setYRange(-0.6, max(len(shown), 1) - 0.4, padding=0)
            self._shown = shown
            axis = self.bars_plot.getAxis("left")
            axis.setTicks([[(r, self.labels[i] if i < len(self.labels) else str(i)) for r, i in enumerate(shown)]])
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
