"""The learner process (`ppo.overlap`): it computes exactly the update the in-process learner computes, hands back
its optimizer state for checkpoints, and a dead learner is reported, not waited for."""
from __future__ import annotations

import copy
import functools
import os
import signal

import numpy as np
import pytest
import torch

from workbench.core.settings import PPOConfig
from workbench.engine.device import resolve_compute
from workbench.engine.ppo.learner_process import LearnerDiedError, LearnerProcess
from workbench.engine.policies.registry import make_policy, spec_for
from workbench.engine.ppo.update import PPOLearner
from workbench.engine.ppo.buffer import RolloutBuffer
from toy_envs import corridor
from workbench.engine.run_store import RunStore
from workbench.core.settings import Settings
from workbench.engine.hooks import Hooks
from trainers import make_trainer

CFG = PPOConfig(n_envs=4, n_steps=16, n_minibatches=2, n_epochs=2, learning_rate=1e-2)


def filled_buffer(seed: int) -> RolloutBuffer:
    g = torch.Generator().manual_seed(seed)
    buf = RolloutBuffer(CFG.n_steps, CFG.n_envs, (4,), torch.float32)
    buf.obs.copy_(torch.rand(buf.obs.shape, generator=g))
    buf.actions.copy_(torch.randint(0, 3, buf.actions.shape, generator=g))
    buf.logprobs.copy_(-torch.rand(buf.logprobs.shape, generator=g) - 0.5)
    buf.values.copy_(torch.randn(buf.values.shape, generator=g))
    buf.rewards.copy_(torch.randn(buf.rewards.shape, generator=g))
    buf.compute_returns(0.99, 0.95)
    return buf


def test_the_process_learns_exactly_what_the_in_process_learner_learns():
    torch.manual_seed(0)
    policy = make_policy(spec_for((4,), np.float32, 3))
    here = copy.deepcopy(policy)
    compute = resolve_compute("cpu", "fp32")
    local = PPOLearner(here, CFG, compute, np.random.default_rng(7), decoupled=True)
    bufs = [filled_buffer(1), filled_buffer(2)]
    remote = LearnerProcess(policy, CFG, compute, np.random.default_rng(7).bit_generator.state, bufs, threads=1)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for index, lr in ((0, 1e-2), (1, 3e-3)):
            local.set_learning_rate(lr)
            remote.set_learning_rate(lr)
            expected = local.update(bufs[index])
            metrics, seconds = remote.submit(index).result()
            assert seconds > 0 and metrics.keys() == expected.keys()
            for k in expected:
                assert metrics[k] == pytest.approx(expected[k], rel=1e-6, abs=1e-9, nan_ok=True), k
            remote.pull_weights(policy)
            for (name, a), b in zip(here.state_dict().items(), policy.state_dict().values()):
                assert torch.equal(a, b), name
        optimizer_state, rng_state = remote.state()
        assert rng_state == local.rng.bit_generator.state
        mine = local.optimizer.state_dict()
        assert optimizer_state["param_groups"][0]["lr"] == 3e-3
        for k, st in mine["state"].items():
            for name, value in st.items():
                assert torch.equal(optimizer_state["state"][k][name], value), (k, name)
    finally:
        torch.set_num_threads(threads)
        remote.close()


def test_a_killed_learner_process_is_reported():
    buf = filled_buffer(0)
    remote = LearnerProcess(make_policy(spec_for((4,), np.float32, 3)), CFG, resolve_compute("cpu", "fp32"),
                            np.random.default_rng(0).bit_generator.state, [buf])
    try:
        os.kill(remote._process.pid, signal.SIGKILL)
        remote._process.join(10)
        with pytest.raises(LearnerDiedError, match=r"exited with code -9 .*last checkpoint stays the truth"):
            remote.submit(0).result()
    finally:
        remote.close()
    remote.close()  # idempotent


def test_a_trainer_whose_learner_dies_fails_with_that_message(tmp_path):
    settings = Settings()
    settings.ppo = PPOConfig(n_envs=2, n_steps=8, n_minibatches=1, n_epochs=1, overlap=True)

    def kill_learner(record):
        if record.update == 1:  # update 2 is in flight now
            os.kill(trainer.learner._process.pid, signal.SIGKILL)

    trainer = make_trainer(settings, env_fns=[functools.partial(corridor)] * 2, in_process=True,
                           run_dir=tmp_path / "run", hooks=Hooks(on_update=[kill_learner]))
    with pytest.raises(LearnerDiedError):
        trainer.run(10**6)
    status = RunStore.open(tmp_path / "run").status()
    assert status["state"] == "failed" and "learner process exited with code -9" in status["error"]
    assert trainer.learner._process is None  # closed
