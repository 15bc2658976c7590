"""The trainer: hooks with typed records, pause/resume/stop from another thread, truncation bootstrapping in the
stored rollout, checkpoints and resume without duplicated or missing updates."""
from __future__ import annotations

import functools
import threading
import time

import gymnasium as gym
import numpy as np
import pytest
import torch

from workbench.engine import checkpoint as ckpt
from workbench.core.settings import PPOConfig
from workbench.core.records import EpisodeRecord, RolloutRecord, StepRecord, UpdateRecord
from workbench.engine.run_store import RunStore
from toy_envs import corridor
from workbench.core.settings import Settings
from workbench.engine.hooks import Hooks
from trainers import make_trainer

GAMMA = 0.9


class Clock(gym.Env):
    """obs = [t / 5]; reward 1 per step; the episode ends after 5 steps, by termination or truncation."""

    def __init__(self, terminate: bool):
        self.terminate = terminate
        self.observation_space = gym.spaces.Box(0.0, 1.0, (1,), np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.t = 0

    def reset(self, *, seed=None, options=None):
        self.t = 0
        return np.array([0.0], np.float32), {}

    def step(self, action):
        self.t += 1
        end = self.t == 5
        info = {"episode": {"r": 5.0, "l": 5, "level": "clock", "truncated": not self.terminate}} if end else {}
        return np.array([self.t / 5], np.float32), 1.0, end and self.terminate, end and not self.terminate, info


def settings(**ppo) -> Settings:
    """Precision pinned (fp32 unless asked): `auto` picks bf16 on CPUs with native bf16, and a number compared
    across precisions would pass on one CPU kind and fail on the other."""
    s = Settings()
    s.ppo = PPOConfig(**({"n_envs": 2, "n_steps": 8, "n_minibatches": 2, "n_epochs": 1, "gamma": GAMMA,
                          "gae_lambda": 0.95, "precision": "fp32", "device": "cpu"} | ppo))
    s.run.checkpoint_every = 2
    s.run.keep_checkpoints = 2
    return s


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("terminate", [False, True])
def test_stored_rollout_bootstraps_truncation_only(terminate, precision):
    """Under each precision explicitly: the bootstrap value is compared with V(final obs) computed the way the
    trainer computes it (the same autocast), so the verdict does not depend on the CPU kind."""
    checked = []

    def on_rollout(record: RolloutRecord) -> None:
        buf = trainer.learner.buffers[0]
        ends = buf.terminated if terminate else buf.truncated
        assert int(ends.sum()) == 2  # env steps 1..8: each of 2 envs ends once (after its 5th step)
        with torch.no_grad(), trainer.compute.autocast():
            v_final = float(trainer.policy(torch.tensor([[1.0]]))[1].float())
        for t, i in zip(*torch.nonzero(ends, as_tuple=True)):
            if terminate:
                assert float(buf.bootstrap[t, i]) == 0.0
                assert float(buf.returns[t, i]) == pytest.approx(1.0, abs=1e-5)  # r, nothing after a real end
            else:
                assert float(buf.bootstrap[t, i]) == pytest.approx(v_final, abs=1e-5)
                assert float(buf.returns[t, i]) == pytest.approx(1.0 + GAMMA * v_final, abs=1e-5)
        assert bool(buf.episode_start[5].all()) and bool(buf.reset[5].all())  # the new episode's first obs
        checked.append(record.update)

    trainer = make_trainer(settings(precision=precision), env_fns=[functools.partial(Clock, terminate)] * 2,
                           in_process=True, hooks=Hooks(on_rollout=[on_rollout]))
    trainer.run(16)
    assert checked == [1]


def test_hooks_receive_typed_records():
    got: dict[str, list] = {"step": [], "episode": [], "rollout": [], "update": []}
    hooks = Hooks(on_step=[got["step"].append], on_episode=[got["episode"].append],
                  on_rollout=[got["rollout"].append], on_update=[got["update"].append])
    trainer = make_trainer(settings(), env_fns=[functools.partial(Clock, False)] * 2, in_process=True, hooks=hooks)
    assert trainer.action_labels == ["0", "1"]
    trainer.run(32)
    assert [type(x) for x in got["step"]] == [StepRecord] * 16
    assert got["step"][-1].global_step == 32 and got["step"][0].actions.shape == (2,)
    assert all(isinstance(e, EpisodeRecord) and e.episode_return == 5.0 and e.truncated for e in got["episode"])
    assert len(got["episode"]) == 6  # 2 envs x 16 steps / 5
    assert [r.update for r in got["rollout"]] == [1, 2] and isinstance(got["rollout"][0], RolloutRecord)
    assert [u.update for u in got["update"]] == [1, 2] and isinstance(got["update"][0], UpdateRecord)
    assert got["update"][1].metrics["mean_return"] == 5.0


def test_pause_resume_stop_from_another_thread(tmp_path):
    updates: list[int] = []
    trainer = make_trainer(settings(), env_fns=[functools.partial(corridor)] * 2, in_process=True,
                           run_dir=tmp_path / "run", hooks=Hooks(on_update=[lambda r: updates.append(r.update)]))
    thread = threading.Thread(target=trainer.run, args=(10**9,))
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while len(updates) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        trainer.pause()
        time.sleep(0.3)
        step = trainer.global_step
        time.sleep(0.7)
        assert trainer.global_step == step  # paused within one agent step
        assert RunStore.open(tmp_path / "run").status()["state"] == "paused"
        trainer.resume()
        deadline = time.monotonic() + 60
        while trainer.global_step == step and time.monotonic() < deadline:
            time.sleep(0.01)
        assert trainer.global_step > step
    finally:
        trainer.stop()
        thread.join(60)
    assert not thread.is_alive()
    status = RunStore.open(tmp_path / "run").status()
    assert status["state"] == "stopped"
    assert ckpt.numbered(tmp_path / "run" / "checkpoints")[-1].name == f"ckpt_{trainer.update:08d}.pt"


class Boom(Exception):
    pass


@pytest.mark.parametrize("overlap", [False, True])
def test_crash_then_resume_has_each_update_once(tmp_path, overlap):
    """Also with `ppo.overlap` (the update in a learner process, the next rollout already collected at the crash)."""
    run = tmp_path / "run"

    def crash_at_5(record):
        if record.update == 5:
            raise Boom("simulated crash after update 5 (checkpoint at 4)")

    trainer = make_trainer(settings(overlap=overlap), env_fns=[functools.partial(corridor)] * 2, in_process=True,
                           run_dir=run, hooks=Hooks(on_update=[crash_at_5]))
    with pytest.raises(Boom):
        trainer.run(10**6)
    store = RunStore.open(run)
    assert store.status()["state"] == "failed" and "simulated crash" in store.status()["error"]
    assert [u["update"] for u in store.updates()] == [1, 2, 3, 4, 5]
    episodes_before = [e for e in store.episodes() if e["update"] <= 4]

    saved = ckpt.load(run / "checkpoints" / "ckpt_00000004.pt")
    steps = 4 * 2 * 1  # updates x minibatches x epochs: the optimizer state came from wherever the learner ran
    assert {int(st["step"]) for st in saved["optimizer"]["state"].values()} == {steps}
    resumed = make_trainer(settings(overlap=overlap), env_fns=[functools.partial(corridor)] * 2, in_process=True,
                           run_dir=run, resume=True)
    assert (resumed.update, resumed.global_step) == (4, 64)
    resumed.run(128)
    assert [u["update"] for u in store.updates()] == list(range(1, 9))
    assert [u["global_step"] for u in store.updates()] == [16 * k for k in range(1, 9)]
    episodes = store.episodes()
    assert [e["id"] for e in episodes if e["update"] <= 4] == [e["id"] for e in episodes_before]
    assert {e["update"] for e in episodes} <= set(range(1, 9))
    assert [p.name for p in ckpt.numbered(run / "checkpoints")] == ["ckpt_00000006.pt", "ckpt_00000008.pt"]
    assert store.status()["state"] == "finished"


def test_corrupt_checkpoint_falls_back_with_a_message_naming_it(tmp_path):
    run = tmp_path / "run"
    make_trainer(settings(), env_fns=[functools.partial(corridor)] * 2, in_process=True, run_dir=run).run(64)
    newest = ckpt.numbered(run / "checkpoints")[-1]
    newest.write_bytes(b"not a checkpoint")
    with pytest.warns(UserWarning, match=newest.name):
        trainer = make_trainer(settings(), env_fns=[functools.partial(corridor)] * 2, in_process=True, run_dir=run,
                               resume=True)
    trainer.close()
    assert trainer.update == 2
    for path in ckpt.numbered(run / "checkpoints"):
        path.write_bytes(b"")
    with pytest.warns(UserWarning), pytest.raises(ckpt.CheckpointError, match="ckpt_0000000"):
        make_trainer(settings(), env_fns=[functools.partial(corridor)] * 2, in_process=True, run_dir=run, resume=True)
