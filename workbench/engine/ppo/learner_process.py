"""PPO updates in their own process, so the trainer collects the next rollout while the update runs (`ppo.overlap`).

    remote = LearnerProcess(policy, cfg, compute, rng_state, [buf_a, buf_b], optimizer_state=..., threads=2)
    pending = remote.submit(0)              # learn from buf_a in the background
    ...collect into buf_b...
    metrics, seconds = pending.result()     # wait; then
    remote.pull_weights(policy)             # the acting policy takes the new weights

It is one of the two placements of the `learners.Learner` interface (`make_learner` picks it for `ppo.overlap`).

Why a process and not a thread: measured on the 2-core EPYC (Airstriker, 8 envs, n_steps 128, one update = 16
Nature-CNN minibatches of 256), a learner *thread* beside the rollout gained nothing: the GIL, and two OpenMP teams
spinning on the same cores. A learner process with one intra-op thread, beside env workers at nice 10, took 4.7 s
per update while the rollout took 4.5 s (alone: 4.4 s on one thread, 2.8 s on two; rollout 3.5 s), so a
rollout+update cycle fell from 6.3 s to about 4.7 s. It uses every thread it has while no rollout runs
(`rollout_running`), one while one does.

What crosses: the rollout buffers and a weights slot live in shared memory, given to the process once at its start;
each update is one small message (buffer index, learning rate, a recurrent policy's start state) and one answer
(metrics). The process owns the optimizer; `state()` fetches it (and the minibatch shuffler's state) for a
checkpoint. If the trainer dies, the process exits at its next read of the pipe.
"""
from __future__ import annotations

import copy
import io
import multiprocessing as mp
import signal
import time
import traceback
from typing import Any, Sequence

import numpy as np
import torch

from workbench.core import faults
from workbench.core.settings import PPOConfig
from workbench.engine.device import Compute, keep_freed_memory
from workbench.engine.policies.api import ActorCritic
from workbench.engine.ppo.buffer import RolloutBuffer

STARTUP_TIMEOUT_S = 300.0
OVERLAP_WORKER_NICE = 10
"""Niceness of the env workers beside a learner process: at 0 the learner's one thread got 1/9 of the CPU beside
8 workers (7.2 s per update instead of 4.4 s); at 10 update and rollout both take about 4.5 s."""


class LearnerDiedError(RuntimeError):
    """The learner process exited or its update raised (the message carries its last error line)."""


def share_buffer(buf: RolloutBuffer) -> None:
    """Move every tensor of `buf` into shared memory (in place: views keep their layout)."""
    for value in vars(buf).values():
        if isinstance(value, torch.Tensor):
            value.share_memory_()


def _to_bytes(obj: Any) -> bytes:
    out = io.BytesIO()
    torch.save(obj, out)
    return out.getvalue()


def _from_bytes(data: bytes) -> Any:
    return torch.load(io.BytesIO(data), weights_only=True)


def _serve(conn, policy: ActorCritic, cfg: PPOConfig, compute: Compute, rng_state: dict, optimizer_state: bytes,
           buffers: Sequence[RolloutBuffer], weights: dict[str, torch.Tensor], busy: torch.Tensor, threads: int,
           bptt_steps: int | None) -> None:
    from workbench.engine.ppo.update import PPOLearner

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C hits the process group: the trainer stops us
    faults.set_role("learner")
    try:
        if compute.device.type == "cpu":
            keep_freed_memory()
        torch.set_num_threads(threads)
        policy.to(compute.device)
        rng = np.random.default_rng()
        rng.bit_generator.state = rng_state
        learner = PPOLearner(policy, cfg, compute, rng, bptt_steps=bptt_steps, decoupled=True)
        if optimizer_state:
            learner.optimizer.load_state_dict(_from_bytes(optimizer_state))
        # One intra-op thread while the trainer's rollout runs (the env workers own the cores), all while it waits.
        learner.before_minibatch = lambda: torch.set_num_threads(1 if int(busy[0]) else threads)
        conn.send(("ready",))
    except BaseException:
        conn.send(("error", traceback.format_exc()))
        return
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):  # the trainer is gone
            return
        kind = message[0]
        try:
            if kind == "update":
                _, index, lr, state0 = message
                buf = buffers[index]
                faults.point("update")
                buf.state0 = state0  # a fresh tensor each rollout (buf.states is shared and written in place)
                learner.set_learning_rate(lr)
                t0 = time.perf_counter()
                metrics = learner.update(buf)
                seconds = time.perf_counter() - t0
                for name, value in policy.state_dict().items():
                    weights[name].copy_(value)
                conn.send(("done", metrics, seconds))
            elif kind == "state":
                conn.send(("state", _to_bytes(learner.optimizer.state_dict()), rng.bit_generator.state))
            elif kind == "close":
                return
        except BaseException:
            conn.send(("error", traceback.format_exc()))


class PendingUpdate:
    """An update in flight in the learner process; `result()` waits for (metrics, update seconds)."""

    def __init__(self, remote: "LearnerProcess"):
        self._remote = remote
        self._result: tuple[dict[str, float], float] | None = None

    def result(self) -> tuple[dict[str, float], float]:
        if self._result is None:
            _, metrics, seconds = self._remote._answer("done")
            self._result = (metrics, seconds)
            self._remote._pending = None
        return self._result


class LearnerProcess:
    """`policy`'s learner in a spawned process (see the module docstring). The process starts from a CPU copy of
    `policy`'s weights, `optimizer_state` (an Adam state dict, or None for a fresh one) and the shuffler's
    `rng_state`; it reads the rollouts from `buffers` (moved to shared memory here)."""

    def __init__(self, policy: ActorCritic, cfg: PPOConfig, compute: Compute, rng_state: dict,
                 buffers: Sequence[RolloutBuffer], *, optimizer_state: dict | None = None, threads: int = 1,
                 bptt_steps: int | None = None):
        self.buffers = list(buffers)
        self.threads = threads
        for buf in self.buffers:
            share_buffer(buf)
        self._lr = cfg.learning_rate
        self._pending: PendingUpdate | None = None
        self._weights = {name: value.detach().to("cpu", copy=True).share_memory_()
                         for name, value in policy.state_dict().items()}
        self._busy = torch.zeros(1, dtype=torch.int32).share_memory_()
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        start_copy = copy.deepcopy(policy).to("cpu")
        self._process = ctx.Process(
            target=_serve, name="wb-learner", daemon=True,
            args=(child, start_copy, cfg, compute, rng_state, _to_bytes(optimizer_state) if optimizer_state else b"",
                  list(buffers), self._weights, self._busy, threads, bptt_steps))
        self._process.start()
        child.close()
        try:
            self._answer("ready", STARTUP_TIMEOUT_S)
        except BaseException:
            self.close()
            raise

    # -- the trainer's side ----------------------------------------------------------------------
    def set_learning_rate(self, lr: float) -> None:
        """The learning rate of the next submitted update."""
        self._lr = float(lr)

    def rollout_running(self, running: bool) -> None:
        """Tell the learner whether a rollout is using the cores (it then runs one intra-op thread)."""
        self._busy[0] = int(running)

    def submit(self, index: int) -> PendingUpdate:
        """Start an update on `buffers[index]`; one at a time."""
        assert self._pending is None, "an update is already in flight"
        self._send(("update", index, self._lr, self.buffers[index].state0))
        self._pending = PendingUpdate(self)
        return self._pending

    def pull_weights(self, policy: ActorCritic) -> None:
        """Copy the weights of the newest finished update into `policy`."""
        policy.load_state_dict(self._weights)

    def state(self) -> tuple[dict, dict]:
        """(Adam state dict, shuffler rng state), for a checkpoint; waits for an update in flight first."""
        if self._pending is not None:
            self._pending.result()
        self._send(("state",))
        _, optimizer_state, rng_state = self._answer("state")
        return _from_bytes(optimizer_state), rng_state

    def close(self) -> None:
        """Stop the process (idempotent); an update in flight is abandoned."""
        if self._process is None:
            return
        try:
            self._conn.send(("close",))
        except (OSError, ValueError):
            pass
        self._process.join(5)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(5)
        self._conn.close()
        self._process = None

    def _send(self, message: tuple) -> None:
        try:
            self._conn.send(message)
        except (OSError, ValueError):  # the process is gone (broken pipe)
            self._process.join(1)
            raise self._died() from None

    def _died(self) -> LearnerDiedError:
        return LearnerDiedError(f"the learner process exited with code {self._process.exitcode} (killed, or out of "
                                "memory?); the last checkpoint stays the truth")

    def _answer(self, kind: str, timeout_s: float | None = None) -> tuple:
        """The process's next message, which must be `kind`; raises LearnerDiedError if it failed or exited."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while not self._conn.poll(0.5):
            if not self._process.is_alive():
                raise self._died()
            if deadline is not None and time.monotonic() > deadline:
                raise LearnerDiedError(f"the learner process did not start within {timeout_s:.0f} s")
        try:
            message = self._conn.recv()
        except (EOFError, OSError):  # it exited: its end of the pipe closed
            self._process.join(5)
            raise self._died() from None
        if message[0] == "error":
            last = message[1].strip().splitlines()[-1]
            raise LearnerDiedError(f"the learner process failed: {last}\n{message[1]}")
        assert message[0] == kind, f"learner answered {message[0]!r}, expected {kind!r}"
        return message
