"""A vectorised env with one worker process per env and its arrays in shared memory.

Per step the parent writes the actions into shared memory and sends each worker one byte; the worker steps,
writes observation, reward, terminated and truncated into shared memory and answers with its pickled info
dict (small). No array is pickled per step, except `final_obs` at an episode's end.

Auto-reset is same-step (as in SB3): when env i's episode ends, `step_wait` returns the *first observation of
the next episode* for it, `terminated[i]`/`truncated[i]` tell how the old one ended, and
`infos[i]["final_obs"]` holds the old episode's last observation (bootstrap from it on truncation).
`infos[i]["level"]` names the level env i played that step (for envs that have levels).

Frames: `watch(i)` makes env i (only it) copy its newest full-size RGB frame into its slot of a
`core.frames.FrameSegment` after every step; `frame()` reads it here and `core.frames.FrameReader(frame_shm_name())`
from any other process.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import secrets
import select
import signal
import sys
import traceback
import weakref
from multiprocessing.shared_memory import SharedMemory
from typing import Callable, Sequence

import gymnasium as gym
import numpy as np

from workbench.core import faults
from workbench.core.frames import DEFAULT_SLOT_BYTES, FrameSegment, attach_shm
from workbench.core.paths import SHM_PREFIX

_STEP, _RESET, _CLOSE = b"s", b"r", b"c"
_OK, _ERR = 0x6F, 0x65  # b"o", b"e": first byte of a worker's answer

STARTUP_TIMEOUT_S = 300.0


class WorkerDiedError(RuntimeError):
    """An env worker exited (crash, kill) or its env raised; `error_text` is the worker's traceback if any."""

    def __init__(self, env_index: int, exitcode: int | None, error_text: str = ""):
        self.env_index, self.exitcode, self.error_text = env_index, exitcode, error_text
        if exitcode is not None and exitcode < 0:
            how = f"was killed by signal {-exitcode} ({_signal_name(-exitcode)})"
        elif exitcode is None:
            how = "stopped answering"
        else:
            how = f"exited with code {exitcode}"
        last = error_text.strip().splitlines()[-1] if error_text.strip() else ""
        super().__init__(f"env worker {env_index} {how}" + (f": {last}" if last else ""))


def _signal_name(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return "unknown"


# -- worker -------------------------------------------------------------------------------------------
def _worker(index: int, thunk_bytes: bytes, conn, nice: int = 0) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop (Ctrl-C hits the group)
    faults.set_role(f"env{index}")
    if nice and hasattr(os, "nice"):  # POSIX only
        os.nice(nice)
    env = None
    exit_code = 0
    segments: list[SharedMemory] = []
    frames: FrameSegment | None = None
    try:
        import cloudpickle

        faults.point("start")
        env = cloudpickle.loads(thunk_bytes)()
        get_frame = getattr(env.unwrapped, "get_frame", None)
        frame_bytes = int(np.asarray(get_frame()).nbytes) if get_frame is not None else 0
        _reply(conn, (env.observation_space, env.action_space, frame_bytes))
        names, n_envs = conn.recv()
        for name in names[:3]:
            segments.append(attach_shm(name))
        frames = FrameSegment.attach(names[3])
        obs_space, act_space = env.observation_space, env.action_space
        obs = np.ndarray((n_envs,) + obs_space.shape, obs_space.dtype, segments[0].buf)[index]
        act_shape, act_dtype = _action_layout(act_space)
        actions = np.ndarray((n_envs,) + act_shape, act_dtype, segments[1].buf)
        scalars = np.ndarray((3, n_envs), np.float32, segments[2].buf)
        discrete = isinstance(act_space, gym.spaces.Discrete)
        level = None

        def publish(observation):
            obs[...] = observation
            if get_frame is not None and frames.watched == index:
                frames.write(index, np.asarray(get_frame()))

        while True:
            cmd = conn.recv_bytes()
            op = cmd[:1]
            if op == _STEP:
                action = int(actions[index]) if discrete else actions[index].copy()
                observation, reward, terminated, truncated, info = env.step(action)
                if level is not None:
                    info["level"] = level  # the level this step was played on (before any auto-reset)
                if terminated or truncated:
                    info["final_obs"] = observation
                    observation, reset_info = env.reset()
                    level = _level_of(env)
                    if level is not None:
                        reset_info["level"] = level
                    info["reset_info"] = reset_info
                scalars[0, index] = reward
                scalars[1, index] = terminated
                scalars[2, index] = truncated
                publish(observation)
                _reply(conn, info)
            elif op == _RESET:
                seed = int(cmd[1:]) if len(cmd) > 1 else None
                observation, info = env.reset(seed=seed)
                level = _level_of(env)
                if level is not None:
                    info["level"] = level
                publish(observation)
                _reply(conn, info)
            elif op == _CLOSE:
                break
    except (EOFError, ConnectionError, KeyboardInterrupt):
        pass  # the parent went away
    except BaseException:
        try:
            conn.send_bytes(b"e" + traceback.format_exc().encode("utf-8", "replace"))
        except (OSError, ValueError):
            pass
        exit_code = 1
    finally:
        if env is not None:
            try:
                env.close()
            except Exception:
                pass
        obs = actions = scalars = None  # views must go before the mappings close
        if frames is not None:
            frames.close()
        for segment in segments:
            try:
                segment.close()
            except BufferError:
                pass
    if exit_code:
        sys.exit(exit_code)


def _reply(conn, payload) -> None:
    conn.send_bytes(b"o" + pickle.dumps(payload, pickle.HIGHEST_PROTOCOL))


def _level_of(env) -> str | None:
    level = getattr(env.unwrapped, "level", None)
    return None if level is None else str(level)


def _action_layout(space: gym.Space) -> tuple[tuple[int, ...], np.dtype]:
    if isinstance(space, gym.spaces.Discrete):
        return (), np.dtype(np.int64)
    if space.shape is None:
        raise ValueError(f"ShmVecEnv needs an action space with a fixed shape (got {space})")
    return tuple(space.shape), np.dtype(space.dtype)


def _cleanup(processes, conns, segments) -> None:
    """Stop workers (politely, then by force), close pipes and unlink every segment. Safe to call twice."""
    for conn in conns:
        try:
            conn.send_bytes(_CLOSE)
        except (OSError, ValueError):
            pass
    for proc in processes:
        proc.join(timeout=3)
        if proc.is_alive():
            proc.terminate()
            proc.join(timeout=2)
        if proc.is_alive():
            proc.kill()
            proc.join(timeout=5)  # SIGKILL cannot be refused; never wait unbounded on a process
    for conn in conns:
        conn.close()
    for segment in segments:
        if isinstance(segment, FrameSegment):
            segment.close()  # its owner: unlinks it
            continue
        try:
            segment.close()
        except BufferError:
            pass
        try:
            segment.unlink()
        except FileNotFoundError:
            pass
    processes.clear()
    conns.clear()
    segments.clear()


# -- parent -------------------------------------------------------------------------------------------
class ShmVecEnv:
    """`len(env_fns)` envs, each in its own process; see the module docstring for the step protocol.

    - `reset(seed=None) -> obs`: seed s gives env i the seed s + i (a list gives one seed per env).
      `reset_infos[i]` holds env i's newest reset info (also after an auto-reset; it names the level now played).
    - `step(actions) -> (obs, rewards, terminated, truncated, infos)`, or `step_async` + `step_wait`.
      Returned arrays are copies (obs (n, *obs_shape) of the obs dtype, rewards float32, flags bool): they stay
      valid after the next step.
    - A worker that dies or whose env raises makes `step_wait`/`reset` raise `WorkerDiedError` within
      `timeout_s` (immediately when the process is gone); `close()` then still cleans up.
    - `env_fns` are any picklable zero-argument callables returning a Gymnasium env (pickled with cloudpickle,
      so lambdas and closures work too).
    - `nice`: the workers lower their scheduling priority by this much (the trainer's learner process then keeps
      its core while they step; see trainer.OVERLAP_WORKER_NICE).
    """

    def __init__(self, env_fns: Sequence[Callable[[], gym.Env]], context: str = "spawn",
                 frame_shape: tuple[int, ...] | None = None, timeout_s: float = 120.0, nice: int = 0):
        import cloudpickle

        if not env_fns:
            raise ValueError("ShmVecEnv needs at least one env function")
        self.num_envs = len(env_fns)
        self.timeout_s = timeout_s
        self.closed = False
        self._waiting = False
        self._broken: WorkerDiedError | None = None
        self._processes: list = []
        self._conns: list = []
        self._pollers: list = []
        self._segments: list[SharedMemory | FrameSegment] = []
        self._frames: FrameSegment | None = None
        self._finalizer = weakref.finalize(self, _cleanup, self._processes, self._conns, self._segments)
        self.reset_infos: list[dict] = [{} for _ in range(self.num_envs)]
        ctx = mp.get_context(context)
        try:
            for i, fn in enumerate(env_fns):
                parent_conn, child_conn = ctx.Pipe(duplex=True)
                proc = ctx.Process(target=_worker, args=(i, cloudpickle.dumps(fn), child_conn, nice),
                                   name=f"wb-env-{i}", daemon=True)
                proc.start()
                child_conn.close()
                self._processes.append(proc)
                self._conns.append(parent_conn)
                poller = select.poll()
                poller.register(parent_conn.fileno(), select.POLLIN)
                self._pollers.append(poller)
            # start-up (imports, first emulator) may be slow on a busy machine: a generous bound
            spaces = [self._receive(i, max(self.timeout_s, STARTUP_TIMEOUT_S)) for i in range(self.num_envs)]
            self.observation_space, self.action_space, _ = spaces[0]
            if not isinstance(self.observation_space, gym.spaces.Box):
                raise ValueError(f"ShmVecEnv needs Box observations (got {self.observation_space}); flatten "
                                 "other spaces with a gymnasium wrapper first")
            for i, (obs_space, act_space, _) in enumerate(spaces[1:], start=1):
                if obs_space != self.observation_space or act_space != self.action_space:
                    raise ValueError(f"env {i} has spaces {obs_space}, {act_space} but env 0 has "
                                     f"{self.observation_space}, {self.action_space}; all envs of a vec env "
                                     "must share them (levels with different action sets cannot train together)")
            self._allocate(max([s[2] for s in spaces] + [_shape_bytes(frame_shape), DEFAULT_SLOT_BYTES]))
        except BaseException:
            self.close()
            raise

    def _allocate(self, slot_bytes: int) -> None:
        n = self.num_envs
        obs_space = self.observation_space
        act_shape, act_dtype = _action_layout(self.action_space)
        token = f"{SHM_PREFIX}{os.getpid()}_{secrets.token_hex(4)}"
        sizes = [n * int(np.prod(obs_space.shape, dtype=np.int64)) * np.dtype(obs_space.dtype).itemsize,
                 n * int(np.prod(act_shape, dtype=np.int64)) * act_dtype.itemsize,
                 3 * n * 4]
        for part, size in zip(("obs", "act", "rew"), sizes):
            self._segments.append(SharedMemory(name=f"{token}_{part}", create=True, size=max(1, size)))
        self._frames = FrameSegment.create(n, slot_bytes, name=f"{token}_frame")
        self._segments.append(self._frames)
        bufs = [s.buf for s in self._segments[:3]]
        self._obs = np.ndarray((n,) + obs_space.shape, obs_space.dtype, bufs[0])
        self._actions = np.ndarray((n,) + act_shape, act_dtype, bufs[1])
        self._scalars = np.ndarray((3, n), np.float32, bufs[2])
        names = [s.name for s in self._segments]
        for conn in self._conns:
            conn.send((names, n))

    # -- messaging -------------------------------------------------------------------------------
    def _died(self, i: int, error_text: str = "") -> WorkerDiedError:
        proc = self._processes[i]
        proc.join(timeout=2)
        self._broken = WorkerDiedError(i, proc.exitcode, error_text)
        return self._broken

    def _wait_readable(self, i: int, timeout_s: float) -> None:
        poller, proc = self._pollers[i], self._processes[i]
        waited = 0.0
        while not poller.poll(500):  # a kept poll object: Connection.poll builds a selector per call
            waited += 0.5
            if not proc.is_alive():
                raise self._died(i)
            if waited >= timeout_s:
                self._broken = WorkerDiedError(i, None, f"no answer within {timeout_s:g} s")
                raise self._broken

    def _send(self, i: int, message: bytes) -> None:
        try:
            self._conns[i].send_bytes(message)
        except OSError:  # BrokenPipeError: the worker is gone
            raise self._died(i) from None

    def _receive(self, i: int, timeout_s: float | None = None):
        """Worker i's next answer (unpickled), or WorkerDiedError with its traceback."""
        self._wait_readable(i, self.timeout_s if timeout_s is None else timeout_s)
        try:
            message = self._conns[i].recv_bytes()
        except (EOFError, OSError):
            raise self._died(i) from None
        if message[0] == _ERR:
            raise self._died(i, message[1:].decode("utf-8", "replace"))
        return pickle.loads(message[1:])

    def _check_usable(self) -> None:
        if self.closed:
            raise RuntimeError("this ShmVecEnv is closed")
        if self._broken is not None:
            raise self._broken

    # -- API -------------------------------------------------------------------------------------
    def reset(self, seed: int | Sequence[int] | None = None) -> np.ndarray:
        self._check_usable()
        if self._waiting:
            self.step_wait()
        seeds = [None] * self.num_envs if seed is None else (
            [seed + i for i in range(self.num_envs)] if isinstance(seed, (int, np.integer)) else list(seed))
        for i, s in enumerate(seeds):
            self._send(i, _RESET + (b"" if s is None else str(int(s)).encode()))
        self.reset_infos = [self._receive(i) for i in range(self.num_envs)]
        return self._obs.copy()

    def step_async(self, actions) -> None:
        self._check_usable()
        self._actions[...] = np.asarray(actions).reshape(self._actions.shape)
        for i in range(self.num_envs):
            self._send(i, _STEP)
        self._waiting = True

    def step_wait(self):
        self._check_usable()
        try:
            infos = [self._receive(i) for i in range(self.num_envs)]
        finally:
            self._waiting = False
        for i, info in enumerate(infos):
            if "reset_info" in info:
                self.reset_infos[i] = info.pop("reset_info")
        return (self._obs.copy(), self._scalars[0].copy(), self._scalars[1].astype(bool),
                self._scalars[2].astype(bool), infos)

    def step(self, actions):
        self.step_async(actions)
        return self.step_wait()

    # -- frames ----------------------------------------------------------------------------------
    def watch(self, index: int | None) -> None:
        """Make env `index` publish its full-size frame after each step (None: no env does)."""
        if index is not None and not 0 <= index < self.num_envs:
            raise IndexError(f"env index {index} out of range 0..{self.num_envs - 1}")
        if not self.closed:
            self._frames.watch(index)

    @property
    def watched(self) -> int | None:
        return None if self.closed else self._frames.watched

    def frame(self) -> np.ndarray | None:
        """A copy of the watched env's newest full-size frame, or None (nothing watched or stepped yet)."""
        result = None if self.closed else self._frames.latest()
        return None if result is None else result[1]

    def frame_shm_name(self) -> str | None:
        """Name of the frame segment, for `core.frames.FrameReader` in another process."""
        return None if self.closed else self._frames.name

    # -- lifetime --------------------------------------------------------------------------------
    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._obs = self._actions = self._scalars = None
        self._pollers.clear()
        self._finalizer()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __len__(self) -> int:
        return self.num_envs


def _shape_bytes(shape) -> int:
    return int(np.prod(shape)) if shape else 0
