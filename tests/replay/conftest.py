"""Fixtures of the replay tests: one real recorded episode per test module."""
from __future__ import annotations

import pytest

from replay_recording import GAME, Recorded, record_episode


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> Recorded:
    """One 120-step Airstriker episode with its sidecar, recorded once per test module."""
    from workbench.catalog.actions import resolve_action_set
    from workbench.core.settings import EnvConfig
    from workbench.replay.recorder import EpisodeRecorder

    run_dir = tmp_path_factory.mktemp("run")
    labels = resolve_action_set(GAME, EnvConfig()).labels
    recorder = EpisodeRecorder(run_dir, n_envs=1, frame_skip=4, action_labels=labels)
    rec = record_episode(run_dir, steps=120, seed=3, recorder=recorder)
    assert recorder.written, "the recorder wrote no sidecar"
    return rec
