"""Start states cut from replays: saved as custom integration files, listed in the catalog, playable as levels,
never overwriting anything; and the Airstriker start states the package ships."""
from __future__ import annotations

import gc
import gzip

import numpy as np
import pytest

from workbench.core.levels import Level, LevelSet
from workbench.core.settings import EnvConfig
from workbench.replay.errors import ReplayError
from workbench.replay.reader import EpisodeReader
from workbench.catalog.integrations import (SHIPPED_INTEGRATIONS, SHIPPED_LEVELS, SHIPPED_STATES, custom_states,
                                            user_integrations_dir)

from replay_recording import GAME, frame_hash


def _first_obs(level: Level) -> tuple[np.ndarray, bytes]:
    from workbench.engine.envs.retro import make_env

    env = make_env([level], EnvConfig(warp_size=0, frame_stack=1), seed=0)
    try:
        obs, _ = env.reset(seed=0)
        return obs, env.unwrapped.retro.initial_state
    finally:
        env.close()
        del env
        gc.collect()


def test_saved_state_round_trips_into_catalog_and_env(recorded):
    from workbench.catalog.catalog import Catalog

    with EpisodeReader(recorded.movie) as reader:
        path = reader.save_start_state(200, "Cut.F200")
        state = reader.state()
        assert frame_hash(reader.screen()) == recorded.frame_hashes[200]
    assert path == user_integrations_dir() / GAME / "Cut.F200.state"
    assert gzip.decompress(path.read_bytes()) == state
    assert "Cut.F200" in custom_states(GAME)
    assert "Cut.F200" in Catalog().find(GAME).states

    levels = LevelSet(train=[Level(GAME, "Level1"), Level.parse(f"{GAME}:Cut.F200")])
    obs, initial = _first_obs(levels.train[1])
    assert initial == state  # the env starts exactly where the replay was
    level1_obs, _ = _first_obs(levels.train[0])
    assert frame_hash(obs) != frame_hash(level1_obs)


def test_existing_names_and_bad_names_are_refused(recorded):
    with EpisodeReader(recorded.movie, sidecar=None) as reader:
        saved = reader.save_start_state(100, "Mine")
        before = saved.read_bytes()
        for name in ("Level1", "Level1.Sec04", "Mine"):  # stable, shipped, saved
            with pytest.raises(ReplayError, match="already has a start state"):
                reader.save_start_state(300, name)
        for name in ("", "../escape", "a/b", "x" * 65, ".hidden"):
            with pytest.raises(ReplayError, match="not a usable start-state name"):
                reader.save_start_state(300, name)
    assert saved.read_bytes() == before
    assert sorted(p.name for p in saved.parent.iterdir()) == ["Mine.state"]


def test_shipped_airstriker_states_are_distinct_playable_levels():
    from workbench.catalog.catalog import Catalog

    shipped = sorted(p.stem for p in (SHIPPED_INTEGRATIONS / GAME).glob("*.state"))
    assert shipped == sorted(SHIPPED_STATES)
    assert set(shipped) <= set(Catalog().find(GAME).states)
    names = SHIPPED_LEVELS["train"] + SHIPPED_LEVELS["test"]
    assert not set(SHIPPED_LEVELS["train"]) & set(SHIPPED_LEVELS["test"])
    hashes = {frame_hash(_first_obs(Level.parse(name))[0]) for name in names}
    assert len(hashes) == len(names)


@pytest.mark.slow
def test_a_level_set_with_a_saved_state_trains_and_records(recorded, tmp_path):
    """The real trainer on Level1 + a start state saved from a replay (one in-process env drawing a level per
    episode); its recorded episodes of the saved level replay from exactly that state."""
    from workbench.engine.hooks import Hooks
    from trainers import make_trainer
    from workbench.replay.episode_index import list_episodes
    from workbench.replay.recorder import EpisodeRecorder
    from workbench.replay.sidecar import read_sidecar

    with EpisodeReader(recorded.movie, sidecar=None) as reader:
        reader.save_start_state(300, "Cut.F300")
        state = reader.state()
    levels = LevelSet(train=[Level(GAME, "Level1"), Level(GAME, "Cut.F300")])
    config = {"env": {"level_sampling": "per_episode", "max_episode_steps": 12},
              "ppo": {"n_envs": 1, "n_steps": 48, "n_minibatches": 2, "n_epochs": 1, "device": "cpu",
                      "precision": "fp32"},
              "run": {"record_episodes": True, "checkpoint_every": 100, "seed": 1}}
    trainer = make_trainer(config, levels=levels.train, run_dir=tmp_path / "run", hooks=Hooks(), in_process=True)
    # record_episodes = true: the launcher adds the recorder that writes sidecars, once
    (recorder,) = [h.__self__ for h in trainer.hooks.on_step if isinstance(h.__self__, EpisodeRecorder)]
    trainer.run(96)
    assert trainer.update == 2
    all_entries = list_episodes(tmp_path / "run")
    assert len(all_entries) == 8 and len(recorder.written) == 8
    assert {e.level for e in all_entries} == {str(lv) for lv in levels.train}
    entry = list_episodes(tmp_path / "run", level=f"{GAME}:Cut.F300", limit=1)[0]
    assert entry.length == 12 and entry.truncated
    side = read_sidecar(entry.sidecar_path)
    assert side.meta.complete and len(side.actions) == 12 and side.meta.action_labels == trainer.action_labels
    gc.collect()  # the trainer's emulator is closed; the reader may start one
    with EpisodeReader(entry.movie_path) as reader:
        assert reader._start_state == state
        assert reader.level == f"{GAME}:Cut.F300"
        assert reader.n_frames - 1 == side.step_end_frames[-1]
