"""Where the policy and the value look: saliency of the frame stack the agent saw at one step of a recorded
episode, computed in a child process (the GUI never runs the network or the emulator) and cached.

The observation of agent step t is rebuilt from the movie exactly as the env made it: the screens on which the
previous `frame_stack` steps ended (the sidecar's `step_end_frames`; frame 0, the reset screen, fills the slots
before the first step), each warped like `WarpFrame`. The policy is the run's newest good checkpoint (the
policy as trained so far, which is what a researcher asks "what does it look at now" of; the map says which).

Two methods:
- "gradient": |∂ log π(a_t | s) / ∂ s| and |∂ V(s) / ∂ s| (Simonyan et al. 2014), summed over the stack and
  blurred by 1.5 pixels;
- "occlusion": blur a Gaussian patch at each point of a grid and measure how much the logits (½‖Δ‖²) or the
  value (½Δ²) change (Greydanus et al. 2018, "Visualizing and Understanding Atari Agents").
Both maps are at observation resolution (e.g. 84×84), scaled to [0, 1]. No Qt here.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workbench.replay.child_server import ChildServer
from workbench.replay.errors import ReplayError

METHODS = ("gradient", "occlusion")
OCCLUSION_STRIDE = 4
OCCLUSION_SIGMA = 5.0


@dataclass
class SaliencyMap:
    """The maps of one agent step, at observation resolution, each scaled to [0, 1]."""

    step: int
    method: str
    policy: np.ndarray
    """(H, W) float32: where the chosen action's log-probability is sensitive."""
    value: np.ndarray
    """(H, W) float32: where the value estimate is sensitive."""
    action: int
    """The action the agent took at this step (the policy map explains its log-probability)."""
    probs: np.ndarray
    """The checkpoint's action probabilities on the rebuilt observation."""
    value_estimate: float
    """The checkpoint's value estimate on it, in raw reward units (divided by env.reward_scale, like the
    sidecar's values)."""
    checkpoint: str
    seconds: float
    """Time the worker spent on it (frames + network)."""
    pid: int
    """The process that computed it."""


class SaliencyProcess(ChildServer):
    """Saliency for one episode's steps from a child process; cached per (step, method). Close it (or use `with`).

    `request(step)` never blocks (a cached map is ready at once); `poll()` gives what arrived; `compute(step)`
    waits (scripts and tests). `computed` counts the maps the worker made (cache hits make none)."""

    def __init__(self, movie_path: Path | str, checkpoint: Path | str | None = None, start_timeout: float = 120.0,
                 wait: bool = True):
        """`wait`: block until the worker has loaded the policy and the movie (ReplayError if it cannot);
        without it (the GUI) requests queue up and a start-up error comes from `poll`."""
        self.movie = Path(movie_path)
        super().__init__(_serve, (str(movie_path), None if checkpoint is None else str(checkpoint)),
                         f"saliency:{self.movie.name}")
        self.cache: dict[tuple[int, str], SaliencyMap] = {}
        self.computed = 0
        self.errors: dict[tuple[int, str], str] = {}
        self._in_flight: tuple[int, str] | None = None
        self._next: tuple[int, str] | None = None
        """Asked for while another was being computed: only the newest waits (playing never builds a queue)."""
        self._ready: list[SaliencyMap] = []
        self.checkpoint = ""
        self.started = False
        if not wait:
            return
        try:
            deadline = time.monotonic() + start_timeout
            while not self.started:
                if not self._conn.poll(max(0.0, deadline - time.monotonic())):
                    raise ReplayError(f"the saliency process did not start within {start_timeout:.0f} s")
                self._drain()
        except BaseException:
            self.close()
            raise

    def request(self, step: int, method: str = "gradient") -> None:
        key = (int(step), _method(method))
        if key in self.cache:
            self._ready.append(self.cache[key])
        elif self._in_flight is None:
            self._send(key)
        elif key != self._in_flight:
            self._next = key

    def _send(self, key: tuple[int, str]) -> None:
        self._in_flight, self._next = key, None
        self._conn.send(("saliency", key[0], key[1]))

    def _answered(self) -> None:
        self._in_flight = None
        if self._next is not None:
            key, self._next = self._next, None
            self.request(*key)

    def poll(self) -> SaliencyMap | None:
        """The newest map that became ready since the last poll (None: nothing yet). A step the worker could not
        do raises ReplayError with its reason."""
        self._drain()
        if not self._ready:
            return None
        newest = self._ready[-1]
        self._ready.clear()
        return newest

    def compute(self, step: int, method: str = "gradient", timeout: float = 120.0) -> SaliencyMap:
        key = (int(step), _method(method))
        self.request(*key)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._drain()
            if key in self.cache:
                self._ready.clear()
                return self.cache[key]
            if key in self.errors:
                raise ReplayError(self.errors.pop(key))
            self._conn.poll(0.05)
        raise ReplayError(f"the saliency process did not answer for step {step} in {timeout:.0f} s")

    def _drain(self) -> None:
        try:
            while self._conn.poll():
                message = self._conn.recv()
                if message[0] == "ready":
                    self.checkpoint, self.started = message[1], True
                elif message[0] == "error" and len(message) == 2:  # the worker could not start
                    raise ReplayError(message[1])
                elif message[0] == "map":
                    smap = message[1]
                    key = (smap.step, smap.method)
                    self.cache[key] = smap
                    self.computed += 1
                    self._ready.append(smap)
                    self._answered()
                elif message[0] == "error":
                    self.errors[(message[1], message[2])] = message[3]
                    self._answered()
        except (EOFError, OSError):
            raise ReplayError("the saliency process ended unexpectedly; turn the overlay off and on again") from None


def _method(method: str) -> str:
    if method not in METHODS:
        raise ValueError(f"unknown saliency method {method!r}; use one of {', '.join(METHODS)}")
    return method


def run_folder_of(movie: Path) -> Path | None:
    """The run folder an episode movie belongs to (the nearest parent with a config.toml)."""
    return next((p for p in Path(movie).resolve().parents if (p / "config.toml").is_file()), None)


class _Saliency:
    """The worker's side: the policy, the movie's reader and the warped screens it already made."""

    def __init__(self, movie: str, checkpoint: str | None):
        import torch

        from workbench.core.presets import PresetError, load_preset
        from workbench.engine import checkpoint as ckpt
        from workbench.engine.policies.api import PolicySpec
        from workbench.engine.policies.registry import make_policy
        from workbench.replay.reader import EpisodeReader

        torch.set_num_threads(1)  # one core's worth: the GUI and the runs share the machine
        run_dir = run_folder_of(Path(movie))
        if checkpoint is None:
            if run_dir is None:
                raise ReplayError(f"{movie}: not inside a run folder, so there is no policy to explain; "
                                  "open an episode of a run (its checkpoints/ hold the policy)")
            path, data = ckpt.load_latest(run_dir / "checkpoints")
        else:
            path, data = Path(checkpoint), ckpt.load(Path(checkpoint))
        self.checkpoint = str(path)
        if not data.get("policy_spec"):
            raise ReplayError(f"{path}: the checkpoint has no policy spec; saliency needs a workbench checkpoint")
        spec = PolicySpec.from_dict(data["policy_spec"])
        if spec.kind != "cnn":
            raise ReplayError(f"{path}: saliency works on image policies without memory (Nature CNN); this one is "
                              f"{spec.kind!r}")
        self.policy = make_policy(spec)
        self.policy.load_state_dict(data["model"])
        self.policy.eval()
        try:
            env = load_preset(run_dir / "config.toml").env if run_dir is not None else None
        except PresetError as exc:
            raise ReplayError(str(exc)) from None
        self.reward_scale = float(env.reward_scale) if env is not None and env.reward_scale else 1.0
        self.size = env.warp_size if env is not None else spec.obs_shape[-1]
        self.grayscale = env.grayscale if env is not None else spec.obs_shape[0] % 3 != 0
        channels = 1 if self.grayscale else 3
        self.stack = spec.obs_shape[0] // channels
        self.reader = EpisodeReader(movie, sidecar="auto")
        if self.reader.sidecar is None:
            self.reader.close()
            raise ReplayError(f"{movie}: no sidecar, so the agent steps' frames are unknown; saliency needs the "
                              "episode's .npz beside its .bk2")
        self._warped: dict[int, np.ndarray] = {}

    def close(self) -> None:
        self.reader.close()

    def observation(self, step: int) -> np.ndarray:
        """The (C*k, H, W) uint8 stack the policy saw when it chose action `step`."""
        from workbench.engine.envs.wrappers import warp_frame

        ends = self.reader.sidecar.step_end_frames
        frames = []
        for j in range(self.stack, 0, -1):  # oldest first
            prev = step - j
            k = int(ends[prev]) if prev >= 0 else 0
            if k not in self._warped:
                self._warped[k] = warp_frame(self.reader.frame(k), self.size, self.grayscale)
            frames.append(self._warped[k])
        return np.concatenate(frames, axis=0)

    def compute(self, step: int, method: str) -> SaliencyMap:
        import torch

        side = self.reader.sidecar
        if not 0 <= step < len(side.actions):
            raise ReplayError(f"step {step} is outside 0..{len(side.actions) - 1} of {self.reader.movie_path}")
        start = time.perf_counter()
        obs = torch.from_numpy(self.observation(step)).unsqueeze(0).float()
        action = int(side.actions[step])
        with torch.no_grad():
            logits, value = self.policy(obs)
        if method == "gradient":
            policy_map, value_map = self._gradient(obs, action)
        else:
            policy_map, value_map = self._occlusion(obs)
        return SaliencyMap(step, method, _unit(policy_map), _unit(value_map), action,
                           torch.softmax(logits[0], -1).numpy(), float(value[0]) / self.reward_scale, self.checkpoint,
                           time.perf_counter() - start, os.getpid())

    def _gradient(self, obs, action: int):
        import torch

        x = obs.clone().requires_grad_(True)
        logits, value = self.policy(x)
        logp = torch.log_softmax(logits, -1)[0, action]
        (g_policy,) = torch.autograd.grad(logp, x, retain_graph=True)
        (g_value,) = torch.autograd.grad(value[0], x)
        import cv2

        # a raw gradient is speckled pixel by pixel; a 1.5-pixel blur shows the regions it picks out
        return tuple(cv2.GaussianBlur(g[0].abs().sum(0).numpy(), (0, 0), 1.5) for g in (g_policy, g_value))

    def _occlusion(self, obs):
        import cv2
        import torch

        _, c, h, w = obs.shape
        base = obs[0].numpy()
        blurred = np.stack([cv2.GaussianBlur(ch, (0, 0), 3) for ch in base])
        ys, xs = np.arange(0, h, OCCLUSION_STRIDE), np.arange(0, w, OCCLUSION_STRIDE)
        yy, xx = np.mgrid[:h, :w]
        batch = np.empty((len(ys) * len(xs), c, h, w), np.float32)
        for n, (y, x) in enumerate((y, x) for y in ys for x in xs):
            mask = np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * OCCLUSION_SIGMA ** 2)).astype(np.float32)
            batch[n] = base * (1 - mask) + blurred * mask
        with torch.no_grad():
            logits0, value0 = self.policy(obs)
            logits, values = [], []
            for chunk in torch.from_numpy(batch).split(128):
                lg, v = self.policy(chunk)
                logits.append(lg)
                values.append(v)
            logits, values = torch.cat(logits), torch.cat(values)
        p = (0.5 * ((logits - logits0) ** 2).sum(-1)).numpy().reshape(len(ys), len(xs))
        v = (0.5 * (values - value0) ** 2).numpy().reshape(len(ys), len(xs))
        return (cv2.resize(p, (w, h), interpolation=cv2.INTER_CUBIC),
                cv2.resize(v, (w, h), interpolation=cv2.INTER_CUBIC))


def _unit(saliency: np.ndarray) -> np.ndarray:
    """Scale to [0, 1] by the 99.5th percentile (one hot pixel must not wash the rest out)."""
    saliency = np.maximum(np.asarray(saliency, np.float32), 0)
    top = float(np.percentile(saliency, 99.5)) if saliency.size else 0.0
    if top <= 0:
        top = float(saliency.max()) or 1.0
    return np.clip(saliency / top, 0, 1).astype(np.float32)


def _serve(conn, movie: str, checkpoint: str | None) -> None:
    from workbench.engine.checkpoint import CheckpointError

    try:
        worker = _Saliency(movie, checkpoint)
    except (ReplayError, CheckpointError) as exc:
        conn.send(("error", str(exc)))
        conn.close()
        return
    try:
        conn.send(("ready", worker.checkpoint))
        while True:
            message = conn.recv()
            if message[0] == "quit":
                return
            if message[0] == "saliency":
                _, step, method = message
                try:
                    conn.send(("map", worker.compute(step, method)))
                except (ReplayError, IndexError, ValueError) as exc:
                    conn.send(("error", step, method, str(exc)))
    except (EOFError, OSError, BrokenPipeError):
        pass  # the GUI went away
    finally:
        worker.close()
        conn.close()
