"""The agent's view of one step, shared by the live view and the replay pane: the game frame at native resolution
scaled crisply (nearest neighbour) and the action probabilities as labelled bars with the sampled action
highlighted, under caption lines (value, action, step).

Plain QWidgets painted with QPainter, not pyqtgraph scenes: measured with py-spy on a live run, a frame or bar
update through a GraphicsLayoutWidget cost about twice the paint itself (scene bookkeeping, view-box auto-range,
axis pictures replayed). Each update repaints only its own widget (the frame: only the image's rectangle), the
frame is converted into one reused 32-bit buffer (no allocation per frame) and nothing re-lays out the window.
"""
from __future__ import annotations

import time

import cv2
import numpy as np
from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter
from PySide6.QtWidgets import QHBoxLayout, QSizePolicy, QWidget

BACKGROUND = QColor("#15171c")
BAR = QColor("#4c8dff")
PICKED = QColor("#ffb020")
TEXT = QColor("#d0d6e0")
DIM = QColor("#aab2c0")
MAX_BARS = 24
"""Up to this many actions every one gets a bar; with more (e.g. 126 Genesis combos) only the top ones."""
TOP_ACTIONS = 16
TOP_SET_SECONDS = 0.5
"""With many actions, how long the set of bars shown stays put (labels that jump every step are unreadable)."""


class FrameWidget(QWidget):
    """The game frame, as large as fits with its aspect kept, nearest-neighbour scaled. `image` is the last RGB
    (or gray) frame given."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.image: np.ndarray | None = None
        self._bgrx: np.ndarray | None = None
        self._qimage: QImage | None = None
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)  # we fill every pixel: no background pass
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(160, 112)

    def set_frame(self, frame: np.ndarray) -> None:
        h, w = frame.shape[:2]
        resized = self._bgrx is None or self._bgrx.shape[:2] != (h, w)
        if resized:
            self._bgrx = np.empty((h, w, 4), np.uint8)
            self._qimage = QImage(self._bgrx.data, w, h, w * 4, QImage.Format.Format_RGB32)
        if frame.ndim == 2 or frame.shape[2] == 1:
            cv2.cvtColor(frame.reshape(h, w), cv2.COLOR_GRAY2BGRA, dst=self._bgrx)
        else:
            cv2.cvtColor(np.ascontiguousarray(frame[:, :, :3]), cv2.COLOR_RGB2BGRA, dst=self._bgrx)
        self.image = frame
        self.update() if resized else self.update(self.target_rect())

    def clear(self) -> None:
        self.image = self._bgrx = self._qimage = None
        self.update()

    def target_rect(self) -> QRect:
        """Where the frame is drawn: centred, aspect kept."""
        if self._bgrx is None:
            return QRect()
        h, w = self._bgrx.shape[:2]
        scale = min(self.width() / w, self.height() / h)
        tw, th = max(1, int(w * scale)), max(1, int(h * scale))
        return QRect((self.width() - tw) // 2, (self.height() - th) // 2, tw, th)

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        target = self.target_rect()
        if self._qimage is None:
            painter.fillRect(self.rect(), BACKGROUND)
        else:
            if not target.contains(event.rect()):  # the letterbox bands, only when they need painting
                for band in (QRect(0, 0, self.width(), target.top()),
                             QRect(0, target.bottom() + 1, self.width(), self.height() - target.bottom() - 1),
                             QRect(0, target.top(), target.left(), target.height()),
                             QRect(target.right() + 1, target.top(), self.width() - target.right() - 1,
                                   target.height())):
                    if band.isValid():
                        painter.fillRect(band, BACKGROUND)
            painter.drawImage(target, self._qimage)  # no SmoothPixmapTransform hint: nearest neighbour
        painter.end()


class ProbabilityBars(QWidget):
    """Horizontal bars, one per action with its label (the most likely ones when there are many; the sampled
    action is always among them and drawn highlighted), under the caption (its lines split on newlines)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.labels: list[str] = []
        self.probs = np.zeros(0)
        self.action = -1
        self.caption = ""
        self.shown: list[int] = []
        self._shown_at = 0.0
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._font = QFont(self.font())
        self._font.setPointSizeF(8.5)
        self._metrics = QFontMetrics(self._font)

    def sizeHint(self) -> QSize:
        return QSize(260, 300)

    def set_labels(self, labels: list[str]) -> None:
        self.labels = list(labels)
        self.probs = np.zeros(len(labels))
        self.action, self.shown, self._shown_at = -1, [], 0.0
        self._pick(time.monotonic())
        self.update()

    def set_probs(self, probs, action: int, caption: str | None = None) -> None:
        probs = np.asarray(probs, dtype=float)
        if len(probs) != len(self.labels):
            self.labels = [str(i) for i in range(len(probs))]
        self.probs, self.action = probs, int(action)
        if caption is not None:
            self.caption = caption
        self._pick(time.monotonic())
        self.update()

    def _pick(self, now: float) -> None:
        n = len(self.probs)
        if n <= MAX_BARS:
            self.shown = list(range(n))
            return
        if len(self.shown) == TOP_ACTIONS and max(self.shown) < n and now - self._shown_at < TOP_SET_SECONDS:
            shown = list(self.shown)  # keep the labels still; at most the sampled action swaps in
        else:
            shown = [int(i) for i in np.argpartition(-self.probs, TOP_ACTIONS)[:TOP_ACTIONS]]
            self._shown_at = now
        if 0 <= self.action < n and self.action not in shown:
            shown[int(np.argmin(self.probs[shown]))] = self.action
        self.shown = sorted(shown)  # action order: labels move only when the set of top actions changes

    def title(self) -> str:
        n = len(self.probs)
        return "action probabilities" if n <= MAX_BARS else f"top {len(self.shown)} of {n} actions"

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), BACKGROUND)
        painter.setFont(self._font)
        fm = self._metrics
        line = fm.height()
        painter.setPen(DIM)
        painter.drawText(QRect(4, 2, self.width() - 8, line), Qt.AlignmentFlag.AlignLeft, self.title())
        painter.setPen(TEXT)
        captions = self.caption.split("\n") if self.caption else []
        for k, text in enumerate(captions, start=1):
            painter.drawText(QRect(4, 2 + k * line, self.width() - 8, line), Qt.AlignmentFlag.AlignLeft, text)
        top = (1 + len(captions)) * line + 8
        rows = len(self.shown)
        if rows:
            label_w = min(self._label_width(), self.width() // 2)
            bar_x, bar_w = label_w + 4, max(1, self.width() - label_w - 12)
            pitch = max(1.0, (self.height() - top - 4) / rows)
            height = max(1, int(pitch * 0.75))
            for row, i in enumerate(self.shown):
                y = int(top + row * pitch)
                painter.setPen(TEXT)
                painter.drawText(QRect(0, y, label_w, height), Qt.AlignmentFlag.AlignRight
                                 | Qt.AlignmentFlag.AlignVCenter, self._label(i))
                width = int(bar_w * min(max(float(self.probs[i]), 0.0), 1.0))
                painter.fillRect(bar_x, y, max(width, 1), height, PICKED if i == self.action else BAR)
        painter.end()

    def _label_width(self) -> int:
        key = (tuple(self.shown), tuple(self.labels))
        if key != getattr(self, "_label_key", None):  # text measuring is the costly part: only on change
            self._label_key = key
            self._label_w = max(self._metrics.horizontalAdvance(self._label(i)) for i in self.shown) + 8
        return self._label_w

    def _label(self, i: int) -> str:
        return self.labels[i] if i < len(self.labels) else str(i)


class PolicyView(QWidget):
    """Frame on the left, bars on the right (5 : 2)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        self.frame = FrameWidget()
        self.bars = ProbabilityBars()
        layout.addWidget(self.frame, 5)
        layout.addWidget(self.bars, 2)

    def shown_bars(self) -> list[tuple[str, float]]:
        """(label, probability) of the bars on screen, top to bottom."""
        return [(self.bars._label(i), float(self.bars.probs[i])) for i in self.bars.shown]

    def bar_heights(self) -> np.ndarray:
        """The latest probabilities of every action (the bars show all or the top ones)."""
        return np.asarray(self.bars.probs, dtype=float)
