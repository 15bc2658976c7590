"""What a policy over button combos says at a glance: the probability that each button is pressed (the sum of
the probabilities of the combos that hold it) and the entropy of the distribution. Plain numpy, no Qt.

Labels are the action sets' own ('B+LEFT', 'NOOP'; `catalog.actions`): a combo's buttons are its label split on
'+', and NOOP holds none."""
from __future__ import annotations

import numpy as np

NO_BUTTONS = ("NOOP", "")


def combo_buttons(label: str) -> tuple[str, ...]:
    return () if label in NO_BUTTONS else tuple(part for part in label.split("+") if part)


def is_combination_set(labels) -> bool:
    """True when some action holds more than one button (e.g. Genesis' 126 DISCRETE combos)."""
    return any(len(combo_buttons(label)) > 1 for label in labels)


def button_table(labels) -> tuple[list[str], np.ndarray]:
    """(buttons in first-seen order, (n_actions, n_buttons) 0/1 matrix: action i holds button j)."""
    buttons: list[str] = []
    combos = [combo_buttons(label) for label in labels]
    for combo in combos:
        for b in combo:
            if b not in buttons:
                buttons.append(b)
    table = np.zeros((len(combos), len(buttons)), np.float64)
    for i, combo in enumerate(combos):
        for b in combo:
            table[i, buttons.index(b)] = 1.0
    return buttons, table


def button_marginals(labels, probs) -> tuple[list[str], np.ndarray]:
    """(buttons, P(button pressed)) under the action distribution `probs` over the combos `labels`."""
    buttons, table = button_table(labels)
    return buttons, np.asarray(probs, np.float64) @ table


def entropy(probs) -> float:
    """Shannon entropy in nats (0 for a sure action, ln n for a uniform one over n actions)."""
    p = np.asarray(probs, np.float64)
    p = p[p > 0]
    if not len(p):
        return 0.0
    p = p / p.sum()
    return float(-(p * np.log(p)).sum())
