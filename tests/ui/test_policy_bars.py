"""The policy at a glance for combination action sets: button marginals and entropy, on real widgets."""
from __future__ import annotations

import math

import numpy as np
import pytest


def test_button_marginals_of_a_known_distribution_equal_the_hand_computed_ones(qtbot):
    from workbench.ui.action_marginals import button_marginals, entropy
    from workbench.ui.policy_view import PolicyView

    labels = ["NOOP", "B", "LEFT", "B+LEFT", "RIGHT", "B+RIGHT", "A+B+RIGHT"]
    probs = np.array([0.05, 0.10, 0.20, 0.25, 0.15, 0.15, 0.10])
    # by hand: B is held by B, B+LEFT, B+RIGHT, A+B+RIGHT
    hand = {"B": 0.10 + 0.25 + 0.15 + 0.10, "LEFT": 0.20 + 0.25, "RIGHT": 0.15 + 0.15 + 0.10, "A": 0.10}
    buttons, marginals = button_marginals(labels, probs)
    assert dict(zip(buttons, marginals)) == pytest.approx(hand)
    assert entropy(probs) == pytest.approx(-sum(p * math.log(p) for p in probs))
    assert entropy([0.25] * 4) == pytest.approx(math.log(4)) and entropy([0, 1, 0]) == 0

    view = PolicyView()
    qtbot.addWidget(view)
    view.resize(700, 400)
    view.show()
    view.set_labels(labels)
    assert view.bars.view == "actions"  # 7 combos fit as bars: all of them by default
    assert view.view_box.isVisible()  # ... and the buttons view is offered
    view.set_view("buttons")
    view.bars.set_probs(probs, action=3, caption="value +1.00")  # B+LEFT sampled
    shown = dict(view.shown_bars())
    assert shown == pytest.approx(hand)
    assert {b for b, _v, lit in view.bars.rows() if lit} == {"B", "LEFT"}
    assert view.bars.entropy == pytest.approx(entropy(probs))
    view.bars.repaint()


def test_genesis_combos_default_to_button_marginals(qtbot):
    from workbench.catalog.actions import resolve_action_set
    from workbench.core.settings import EnvConfig
    from workbench.ui.policy_view import PolicyView

    labels = list(resolve_action_set("Airstriker-Genesis-v0", EnvConfig()).labels)
    assert len(labels) > 100
    view = PolicyView()
    qtbot.addWidget(view)
    view.show()
    view.set_labels(labels)
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(len(labels)))
    view.bars.set_probs(probs, action=int(np.argmax(probs)))
    assert view.bars.view == "buttons"
    buttons = view.bars.buttons()
    assert len(buttons) < 12
    by_hand = [sum(p for label, p in zip(labels, probs) if b in label.split("+")) for b in buttons]
    np.testing.assert_allclose([v for _l, v in view.shown_bars()], by_hand)
    view.set_view("actions")
    assert len(view.shown_bars()) == 16 and labels[int(np.argmax(probs))] in dict(view.shown_bars())
    view.bars.repaint()
