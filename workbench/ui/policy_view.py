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
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QSizePolicy, QVBoxLayout, QWidget

from workbench.ui.action_marginals import button_table, combo_buttons, entropy, is_combination_set

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
        self.overlay: np.ndarray | None = None
        """(h, w, 4) RGBA uint8 drawn over the frame, stretched to it (a saliency map), or None."""
        self._overlay_image: QImage | None = None
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
        self.set_overlay(None)
        self.update()

    def set_overlay(self, rgba: np.ndarray | None) -> None:
        """Draw `rgba` ((h, w, 4) uint8, any size: scaled smoothly to the frame) over the frame; None removes it."""
        if rgba is None:
            self.overlay = self._overlay_image = None
        else:
            self.overlay = np.ascontiguousarray(rgba, dtype=np.uint8)
            h, w = self.overlay.shape[:2]
            self._overlay_image = QImage(self.overlay.data, w, h, w * 4, QImage.Format.Format_RGBA8888)
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
            if self._overlay_image is not None:
                painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)  # a heat map, not pixels
                painter.drawImage(target, self._overlay_image)
        painter.end()


class ProbabilityBars(QWidget):
    """Horizontal bars with their labels under the caption (its lines split on newlines). Two views:

    - "actions": one bar per action (the most likely ones when there are many; the sampled action is always
      among them), the sampled one highlighted;
    - "buttons": for combination action sets (e.g. Genesis' 126 combos), the probability that each button is
      pressed (`action_marginals`), the buttons of the sampled combo highlighted. The default for a
      combination set with more actions than fit as bars: sixteen ~1% bars say nothing, eight marginals do.

    Bars are scaled to the largest one shown (so small differences stay visible) and carry their percentage."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.labels: list[str] = []
        self.probs = np.zeros(0)
        self.action = -1
        self.caption = ""
        self.shown: list[int] = []
        self.view = "actions"
        self.entropy = 0.0
        self._buttons: list[str] = []
        self._button_table = np.zeros((0, 0))
        self._user_view: str | None = None
        self._shown_at = 0.0
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._font = QFont(self.font())
        self._font.setPointSizeF(8.5)
        self._metrics = QFontMetrics(self._font)

    def sizeHint(self) -> QSize:
        return QSize(260, 300)

    @property
    def combination_set(self) -> bool:
        return bool(self._buttons) and len(self._buttons) < len(self.labels)

    def default_view(self) -> str:
        return "buttons" if self.combination_set and len(self.labels) > MAX_BARS else "actions"

    def set_view(self, view: str | None) -> None:
        """'actions', 'buttons', or None for the default of the action set; kept across set_labels."""
        self._user_view = view
        self.view = view if view in ("actions", "buttons") and (view != "buttons" or self.combination_set) \
            else self.default_view()
        self._pick(time.monotonic())
        self.update()

    def set_labels(self, labels: list[str]) -> None:
        self.labels = list(labels)
        self._buttons, self._button_table = button_table(self.labels) if is_combination_set(self.labels) \
            else ([], np.zeros((0, 0)))
        self.probs = np.zeros(len(labels))
        self.action, self.shown, self._shown_at = -1, [], 0.0
        self.set_view(self._user_view)

    def set_probs(self, probs, action: int, caption: str | None = None) -> None:
        probs = np.asarray(probs, dtype=float)
        if len(probs) != len(self.labels):
            self.set_labels([str(i) for i in range(len(probs))])
        self.probs, self.action = probs, int(action)
        self.entropy = entropy(probs)
        if caption is not None:
            self.caption = caption
        self._pick(time.monotonic())
        self.update()

    def marginals(self) -> np.ndarray:
        """P(button pressed) for each of `buttons()` under the current probabilities."""
        return self.probs @ self._button_table if self.combination_set else np.zeros(0)

    def buttons(self) -> list[str]:
        return list(self._buttons)

    def rows(self) -> list[tuple[str, float, bool]]:
        """(label, value, highlighted) of each bar on screen, top to bottom."""
        if self.view == "buttons":
            held = set(combo_buttons(self.labels[self.action])) if 0 <= self.action < len(self.labels) else set()
            return [(b, float(v), b in held) for b, v in zip(self._buttons, self.marginals())]
        return [(self._label(i), float(self.probs[i]), i == self.action) for i in self.shown]

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
        if self.view == "buttons":
            return f"P(button pressed) over {n} combos"
        return "action probabilities" if n <= MAX_BARS else f"top {len(self.shown)} of {n} actions"

    def entropy_text(self) -> str:
        n = len(self.probs)
        return f"entropy {self.entropy:.2f} nats (uniform {np.log(n):.2f})" if n > 1 else ""

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
        rows = self.rows()
        if rows:
            label_w = min(self._label_width(rows), self.width() // 2)
            value_w = fm.horizontalAdvance("100%") + 6
            bar_x, bar_w = label_w + 4, max(1, self.width() - label_w - value_w - 12)
            pitch = max(1.0, (self.height() - top - 4) / len(rows))
            height = max(1, int(pitch * 0.75))
            scale = max(max(v for _, v, _ in rows), 1e-9)  # the largest bar spans the width
            for row, (label, value, picked) in enumerate(rows):
                y = int(top + row * pitch)
                painter.setPen(TEXT)
                painter.drawText(QRect(0, y, label_w, height), Qt.AlignmentFlag.AlignRight
                                 | Qt.AlignmentFlag.AlignVCenter, label)
                width = int(bar_w * min(max(value / scale, 0.0), 1.0))
                painter.fillRect(bar_x, y, max(width, 1), height, PICKED if picked else BAR)
                if height >= fm.ascent():
                    painter.setPen(DIM)
                    painter.drawText(QRect(bar_x + width + 4, y, value_w, height), Qt.AlignmentFlag.AlignLeft
                                     | Qt.AlignmentFlag.AlignVCenter, f"{value:.0%}" if value >= 0.01
                                     else f"{value:.1%}")
        painter.end()

    def _label_width(self, rows) -> int:
        key = (self.view, tuple(self.shown), tuple(self.labels))
        if key != getattr(self, "_label_key", None):  # text measuring is the costly part: only on change
            self._label_key = key
            self._label_w = max(self._metrics.horizontalAdvance(label) for label, _, _ in rows) + 8
        return self._label_w

    def _label(self, i: int) -> str:
        return self.labels[i] if i < len(self.labels) else str(i)


class PolicyView(QWidget):
    """Frame on the left, bars on the right (5 : 2); above the bars, the bar view (buttons / top actions) for
    combination action sets."""

    VIEWS = (("buttons", "buttons pressed"), ("actions", "top actions"))

    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        self.frame = FrameWidget()
        self.bars = ProbabilityBars()
        right = QVBoxLayout()
        right.setContentsMargins(0, 0, 0, 0)
        right.setSpacing(2)
        self.view_box = QComboBox()
        for key, text in self.VIEWS:
            self.view_box.addItem(text, key)
        self.view_box.setToolTip("Buttons pressed: P(button) summed over the combos that hold it. Top actions: "
                                 "the most likely combos")
        self.view_box.hide()
        self.view_box.activated.connect(lambda i: self.set_view(self.view_box.itemData(i)))
        right.addWidget(self.view_box)
        right.addWidget(self.bars, 1)
        layout.addWidget(self.frame, 5)
        layout.addLayout(right, 2)

    def set_labels(self, labels: list[str]) -> None:
        self.bars.set_labels(labels)
        self._sync_view_box()

    def set_view(self, view: str | None) -> None:
        self.bars.set_view(view)
        self._sync_view_box()

    def _sync_view_box(self) -> None:
        self.view_box.setVisible(self.bars.combination_set)
        self.view_box.setCurrentIndex(0 if self.bars.view == "buttons" else 1)

    def shown_bars(self) -> list[tuple[str, float]]:
        """(label, value) of the bars on screen, top to bottom (actions or buttons, as the view shows)."""
        return [(label, value) for label, value, _ in self.bars.rows()]

    def bar_heights(self) -> np.ndarray:
        """The latest probabilities of every action (the bars show all, the top ones, or their marginals)."""
        return np.asarray(self.bars.probs, dtype=float)
