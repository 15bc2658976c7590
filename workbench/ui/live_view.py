"""The live view of the selected run: the chosen env's game frame at native resolution (scaled crisply), its
action probabilities as labelled bars with the sampled action highlighted, and the value estimate (the shared
`PolicyView`; see there why it paints plain widgets). Frames come at most at the controller's poll rate (30 per
second) and summaries throttled by the run process (15 per second); nothing here is rebuilt per frame."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

from workbench.ui.action_marginals import entropy
from workbench.ui.policy_view import PolicyView


class LiveView(QWidget):
    watch_requested = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
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
        self.policy = PolicyView()
        self.image = self.policy.frame
        """The frame widget; `.image` is the last frame drawn."""
        self.bars = self.policy.bars
        layout.addWidget(self.policy, 1)
        self.env.valueChanged.connect(self.watch_requested)

    @property
    def labels(self) -> list[str]:
        return self.bars.labels

    # -- model -> view ---------------------------------------------------------------------------
    def set_run(self, name: str | None) -> None:
        self.run_label.setText(name or "no run selected")
        if name is None:
            self.image.clear()

    def set_actions(self, labels: list[str], n_envs: int, watched: int = 0) -> None:
        self.env.blockSignals(True)
        self.env.setRange(0, max(0, n_envs - 1))
        self.env.setValue(watched)
        self.env.blockSignals(False)
        self.policy.set_labels(labels)

    def show_frame(self, frame: np.ndarray) -> None:
        self.image.set_frame(frame)
        self.frames_shown += 1

    def show_step(self, step) -> None:
        n = len(step.probs)
        labels = self.bars.labels if len(self.bars.labels) == n else [str(i) for i in range(n)]
        label = labels[step.action] if 0 <= step.action < n else str(step.action)
        share = f" ({float(step.probs[step.action]):.0%})" if 0 <= step.action < n else ""
        caption = (f"value {step.value:+.2f} · entropy {entropy(step.probs):.2f} · {label}{share}\n"
                   f"env {step.env_index} · step {step.global_step:,}")
        self.bars.set_probs(step.probs, step.action, caption)
        self.last_step = step
        self.steps_shown += 1

    def shown_bars(self) -> list[tuple[str, float]]:
        """(label, probability) of the bars on screen, top to bottom."""
        return self.policy.shown_bars()

    def bar_heights(self) -> np.ndarray:
        """The latest probabilities of every action (the bars show all or the top ones)."""
        return self.policy.bar_heights()
