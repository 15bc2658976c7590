"""GAE against hand-computed values; truncation bootstraps from V(final obs), termination does not."""
from __future__ import annotations

import numpy as np
import pytest

from workbench.engine.ppo.buffer import compute_gae

GAMMA, LAM = 0.9, 0.8
R = np.array([[1.0], [2.0], [3.0]], np.float32)
V = np.array([[0.5], [1.0], [1.5]], np.float32)
LAST = np.array([2.0], np.float32)
NO = np.zeros((3, 1), bool)


def flags(t: int) -> np.ndarray:
    out = NO.copy()
    out[t] = True
    return out


def test_gae_without_episode_ends_matches_hand_computation():
    # delta2 = 3 + .9*2 - 1.5 = 3.3; delta1 = 2 + .9*1.5 - 1 = 2.35; delta0 = 1 + .9*1 - .5 = 1.4
    adv = compute_gae(R, V, NO, NO, np.zeros_like(R), LAST, GAMMA, LAM)
    expected = [1.4 + 0.72 * (2.35 + 0.72 * 3.3), 2.35 + 0.72 * 3.3, 3.3]
    np.testing.assert_allclose(adv[:, 0], expected, rtol=1e-6)


def test_termination_uses_no_next_value_and_cuts_the_chain():
    adv = compute_gae(R, V, flags(1), NO, np.zeros_like(R), LAST, GAMMA, LAM)
    # delta1 = 2 + 0 - 1 = 1.0 (no bootstrap); A0 = 1.4 + .72 * 1.0
    np.testing.assert_allclose(adv[:, 0], [1.4 + 0.72 * 1.0, 1.0, 3.3], rtol=1e-6)


def test_truncation_bootstraps_from_final_observation_value():
    bootstrap = np.zeros_like(R)
    bootstrap[1] = 4.0  # V(final obs) of the episode cut at t=1
    adv = compute_gae(R, V, NO, flags(1), bootstrap, LAST, GAMMA, LAM)
    # delta1 = 2 + .9*4 - 1 = 4.6, and the chain to t=2 (next episode) is cut
    np.testing.assert_allclose(adv[:, 0], [1.4 + 0.72 * 4.6, 4.6, 3.3], rtol=1e-6)


def test_gae_is_per_env_column():
    r = np.concatenate([R, R * 0], axis=1)
    v = np.concatenate([V, V * 0], axis=1)
    adv = compute_gae(r, v, np.zeros((3, 2), bool), np.zeros((3, 2), bool), np.zeros((3, 2), np.float32),
                      np.array([2.0, 0.0], np.float32), GAMMA, LAM)
    np.testing.assert_allclose(adv[:, 1], 0.0)
    assert adv[0, 0] == pytest.approx(1.4 + 0.72 * (2.35 + 0.72 * 3.3), rel=1e-6)
