"""`RayVecEnv`: env workers as Ray actors across a cluster's nodes, one more `engine.vec.base.VecEnv` (the trainer,
the live bridge and the evaluations cannot tell it from `ShmVecEnv`).

- Each actor (`EnvActor`, 1 CPU by default, spread over the nodes) owns `envs_per_actor` consecutive envs: one
  env in its own process (one emulator per process), or a few as a `ShmVecEnv` of subprocess emulators with
  shared memory on that node. Before its first env the actor installs the ROMs and start states the driver
  shipped (`assets`).
- Per step the driver sends each actor its slice of the actions and gathers (obs, rewards, terminated,
  truncated, infos) back into one batch for the learner on the driver. Same-step auto-reset with
  `infos[i]["final_obs"]`, as every vec env.
- Seeds: `reset(seed=s)` gives env i the seed s + i, wherever it runs.
- Frames: the actor holding the watched env returns its full-size frame with each step; the driver copies it into
  its own `core.frames` segment, so a `FrameReader` (the window) reads it by name as for local workers.
- A dead actor (its process killed, its node lost) is restarted by Ray (`max_restarts`), its envs rebuilt from
  their thunks and reset; that step ends their episodes as truncated (bootstrap from the last observation,
  `infos[i]["final_obs"]`, `infos[i]["worker_restarted"] = True`). `restarts` counts them;
  `placement_metrics()` reports `worker_restarts` and `workers_up` with every update's metrics.
"""
from __future__ import annotations

import os
import time
from typing import Callable, Sequence

import gymnasium as gym
import numpy as np

from workbench.core.frames import DEFAULT_SLOT_BYTES, FrameSegment
from workbench.engine.cluster.session import import_ray

STARTUP_TIMEOUT_S = 300.0


class EnvActor:
    """Runs in a Ray worker process (created with `ray.remote(EnvActor)`): a few envs behind a local vec env."""

    def __init__(self, thunks: list[bytes], first_index: int, assets=None):
        import cloudpickle

        if assets is not None:
            assets.install()
        fns = [cloudpickle.loads(b) for b in thunks]
        if len(fns) == 1:
            from workbench.engine.vec.in_process import InProcessVecEnv

            self.venv = InProcessVecEnv(fns)
        else:
            from workbench.engine.vec.shm import ShmVecEnv

            self.venv = ShmVecEnv(fns)
        self.first = first_index

    def describe(self) -> dict:
        import ray

        get_frame = None
        envs = getattr(self.venv, "envs", None)
        if envs:
            get_frame = getattr(envs[0].unwrapped, "get_frame", None)
        frame_bytes = int(np.asarray(get_frame()).nbytes) if get_frame is not None else 0
        return {"observation_space": self.venv.observation_space, "action_space": self.venv.action_space,
                "frame_bytes": frame_bytes, "pid": os.getpid(), "node_id": ray.get_runtime_context().get_node_id()}

    def reset(self, seed: int | None):
        obs = self.venv.reset(seed=None if seed is None else seed + self.first)
        return obs, self._frame()

    def step(self, actions: np.ndarray):
        obs, rewards, terminated, truncated, infos = self.venv.step(actions)
        return obs, rewards, terminated, truncated, infos, self._frame()

    def watch(self, index: int | None) -> None:
        self.venv.watch(index)

    def _frame(self):
        return None if self.venv.watched is None else self.venv.frame()

    def close(self) -> None:
        self.venv.close()


class EnvActorLost(RuntimeError):
    """An env actor died and could not be brought back (restarts used up, or its env fails to build)."""


class RayVecEnv:
    def __init__(self, env_fns: Sequence[Callable[[], gym.Env]], *, envs_per_actor: int = 1,
                 cpus_per_actor: float = 1.0, max_restarts: int = 5, assets=None, timeout_s: float = 120.0,
                 session=None):
        import cloudpickle

        ray = import_ray()
        if not env_fns:
            raise ValueError("RayVecEnv needs at least one env function")
        if not ray.is_initialized():
            raise RuntimeError("RayVecEnv needs a Ray connection first (engine.cluster.session.connect)")
        self.num_envs = len(env_fns)
        self.session = session
        """The `ClusterSession` this vec env closes with (None: the caller's connection)."""
        self.address = session.address if session is not None else ray.get_runtime_context().gcs_address
        self.timeout_s = timeout_s
        self.restarts = 0
        self.closed = False
        self._frames: FrameSegment | None = None
        self._pending: list | None = None
        k = max(1, int(envs_per_actor))
        self.groups = [list(range(i, min(i + k, self.num_envs))) for i in range(0, self.num_envs, k)]
        need, have = cpus_per_actor * len(self.groups), float(ray.cluster_resources().get("CPU", 0))
        if need > have + 1e-9:  # the actors that do not fit would wait for CPUs forever
            raise ValueError(f"{len(self.groups)} env actors of {cpus_per_actor:g} CPU need {need:g} CPUs, the Ray "
                             f"cluster has {have:g}: add nodes, lower ppo.n_envs, or put more envs on each actor "
                             "(--envs-per-actor) or give each less (--cpus-per-actor)")
        cls = ray.remote(EnvActor).options(num_cpus=cpus_per_actor, max_restarts=max_restarts,
                                           max_task_retries=0, scheduling_strategy="SPREAD")
        self.actors = []
        try:
            # the constructor's arguments stay referenced here: a restart runs __init__ again from them
            self._init_args = [ray.put([cloudpickle.dumps(env_fns[i]) for i in group]) for group in self.groups]
            self._assets_ref = ray.put(assets)
            for group, thunks in zip(self.groups, self._init_args):
                self.actors.append(cls.remote(thunks, group[0], self._assets_ref))
            self.workers = self._get([a.describe.remote() for a in self.actors], STARTUP_TIMEOUT_S, "start")
            first = self.workers[0]
            self.observation_space, self.action_space = first["observation_space"], first["action_space"]
            for g, w in enumerate(self.workers[1:], start=1):
                if w["observation_space"] != self.observation_space or w["action_space"] != self.action_space:
                    raise ValueError(f"env actor {g} has spaces {w['observation_space']}, {w['action_space']} but "
                                     f"actor 0 has {self.observation_space}, {self.action_space}; all envs of a "
                                     "vec env must share them")
            self._slot_bytes = max([w["frame_bytes"] for w in self.workers] + [DEFAULT_SLOT_BYTES])
            self._last_obs = np.zeros((self.num_envs, *self.observation_space.shape), self.observation_space.dtype)
        except BaseException:
            self.close()
            raise

    # -- helpers ---------------------------------------------------------------------------------
    def _get(self, refs, timeout_s: float, what: str):
        ray = import_ray()
        try:
            return ray.get(refs, timeout=timeout_s)
        except ray.exceptions.GetTimeoutError:
            raise EnvActorLost(f"env actors did not {what} within {timeout_s:g} s (a node overloaded or gone?)"
                               ) from None
        except ray.exceptions.RayActorError as exc:
            raise EnvActorLost(f"an env actor failed to {what}: {_first_line(exc)}") from None

    def _where(self, g: int) -> str:
        w = self.workers[g] if g < len(getattr(self, "workers", [])) else {}
        envs = self.groups[g]
        return (f"env actor {g} (envs {envs[0]}..{envs[-1]}) on node {str(w.get('node_id', '?'))[:8]}, "
                f"pid {w.get('pid', '?')}")

    def _recover(self, g: int, cause: Exception) -> None:
        """Wait for Ray to restart actor g (its __init__ rebuilds the envs), then watch and reset it again."""
        ray = import_ray()
        self.restarts += 1
        actor = self.actors[g]
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            try:
                self.workers[g] = ray.get(actor.describe.remote(), timeout=STARTUP_TIMEOUT_S)
                break
            except ray.exceptions.ActorUnavailableError:
                if time.monotonic() > deadline:
                    raise EnvActorLost(f"{self._where(g)} died ({_first_line(cause)}) and did not come back "
                                       f"within {STARTUP_TIMEOUT_S:g} s") from None
                time.sleep(0.2)
            except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError) as exc:
                raise EnvActorLost(f"{self._where(g)} died ({_first_line(cause)}) and could not be restarted "
                                   f"({_first_line(exc)}); raise max_restarts or check the node") from None
        watched = self.watched
        if watched is not None and watched in self.groups[g]:
            actor.watch.remote(watched - self.groups[g][0])
        self._recovered_obs, frame = ray.get(actor.reset.remote(None), timeout=self.timeout_s)
        self._publish(g, frame)

    def _publish(self, g: int, frame) -> None:
        index = self.watched
        if frame is not None and index is not None and index in self.groups[g]:
            self._frames.write(index, np.asarray(frame))

    # -- API -------------------------------------------------------------------------------------
    def reset(self, seed: int | None = None) -> np.ndarray:
        self._check_usable()
        if self._pending is not None:
            self.step_wait()
        obs = np.zeros_like(self._last_obs)
        refs = [a.reset.remote(seed) for a in self.actors]
        ray = import_ray()
        for g, ref in enumerate(refs):
            try:
                got, frame = ray.get(ref, timeout=STARTUP_TIMEOUT_S)
            except (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError) as exc:
                self._recover(g, exc)
                got, frame = self._recovered_obs, None
            obs[self.groups[g][0]:self.groups[g][-1] + 1] = got
            self._publish(g, frame)
        self._last_obs = obs
        return obs.copy()

    def step_async(self, actions: np.ndarray) -> None:
        self._check_usable()
        actions = np.asarray(actions)
        self._pending = [a.step.remote(actions[group[0]:group[-1] + 1]) for a, group in zip(self.actors, self.groups)]

    def step_wait(self):
        ray = import_ray()
        assert self._pending is not None, "step_wait without step_async"
        pending, self._pending = self._pending, None
        n = self.num_envs
        obs = np.zeros_like(self._last_obs)
        rewards = np.zeros(n, np.float32)
        terminated = np.zeros(n, bool)
        truncated = np.zeros(n, bool)
        infos: list[dict] = [{} for _ in range(n)]
        for g, ref in enumerate(pending):
            lo, hi = self.groups[g][0], self.groups[g][-1] + 1
            try:
                o, r, te, tr, inf, frame = ray.get(ref, timeout=self.timeout_s)
            except ray.exceptions.GetTimeoutError:
                raise EnvActorLost(f"{self._where(g)} gave no step within {self.timeout_s:g} s") from None
            except (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError) as exc:
                self._recover(g, exc)  # the episodes it was playing end here, cut short: truncated
                obs[lo:hi] = self._recovered_obs
                truncated[lo:hi] = True
                for i in range(lo, hi):
                    infos[i] = {"final_obs": self._last_obs[i].copy(), "worker_restarted": True}
                continue
            obs[lo:hi], rewards[lo:hi], terminated[lo:hi], truncated[lo:hi] = o, r, te, tr
            infos[lo:hi] = inf
            self._publish(g, frame)
        self._last_obs = obs
        return obs.copy(), rewards, terminated, truncated, infos

    def step(self, actions: np.ndarray):
        self.step_async(actions)
        return self.step_wait()

    def placement_metrics(self) -> dict[str, float]:
        """Merged into every update's metrics (metrics.sqlite, TensorBoard)."""
        return {"worker_restarts": float(self.restarts), "workers_up": float(len(self.actors))}

    def placement_info(self) -> dict:
        """Where the envs run, for status.json (the runs list shows it)."""
        return {"kind": "ray", "address": self.address, "workers": len(self.groups),
                "workers_up": len(self.actors), "restarts": self.restarts,
                "nodes": len({w.get("node_id") for w in getattr(self, "workers", [])})}

    def actor_pids(self) -> list[tuple[str, int]]:
        """(node id, pid) of each env actor's process, as last seen."""
        return [(str(w["node_id"]), int(w["pid"])) for w in self.workers]

    def _check_usable(self) -> None:
        if self.closed:
            raise RuntimeError("this RayVecEnv is closed")

    # -- frames ----------------------------------------------------------------------------------
    def _group_of(self, index: int) -> int:
        return next(g for g, group in enumerate(self.groups) if index in group)

    def watch(self, index: int | None) -> None:
        if index is not None and not 0 <= index < self.num_envs:
            raise IndexError(f"env index {index} out of range 0..{self.num_envs - 1}")
        if self.closed or (index is None and self._frames is None):
            return
        before = self.watched
        self._segment().watch(index)
        if before is not None and (index is None or self._group_of(before) != self._group_of(index)):
            self.actors[self._group_of(before)].watch.remote(None)
        if index is not None:
            g = self._group_of(index)
            self.actors[g].watch.remote(index - self.groups[g][0])

    @property
    def watched(self) -> int | None:
        return None if self._frames is None else self._frames.watched

    def frame(self) -> np.ndarray | None:
        result = None if self._frames is None else self._frames.latest()
        return None if result is None else result[1]

    def frame_shm_name(self) -> str | None:
        return None if self.closed else self._segment().name

    def _segment(self) -> FrameSegment:
        if self._frames is None:
            self._frames = FrameSegment.create(self.num_envs, self._slot_bytes)
        return self._frames

    # -- lifetime --------------------------------------------------------------------------------
    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            ray = import_ray()
            if ray.is_initialized():
                done = [a.close.remote() for a in self.actors]
                for ref in done:  # each on its own: a dead actor's error must not cut another's close short
                    try:
                        ray.get(ref, timeout=10)
                    except Exception:  # noqa: BLE001 - a dead actor has nothing to close
                        pass
                for actor in self.actors:
                    ray.kill(actor, no_restart=True)
        finally:
            self.actors = []
            if self._frames is not None:
                self._frames.close()
            if self.session is not None:
                self.session.close()

    def __len__(self) -> int:
        return self.num_envs


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
