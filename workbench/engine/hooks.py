"""The trainer's seam for everything that is not the loop (Stable-Baselines3's callbacks, with typed records
instead of the algorithm's locals): the run store, TensorBoard, checkpoints, the episode recorder and the live
bridge are hooks; the launcher wires them once.

    hooks = Hooks(on_update=[print])          # plain callables per event, or
    hooks.add(store)                          # any object: each of its on_<event> methods is registered

Events, in the order the trainer calls them (all on the trainer's thread: keep them short):
- `on_status(StatusRecord)`: running / paused (and a heartbeat while paused) / the final state;
- `on_step(StepRecord)` after every vector step, then `on_episode(EpisodeRecord)` per episode it finished;
- `on_rollout(RolloutRecord)` when a rollout is collected, `on_update(UpdateRecord)` when its update is done;
- `on_close()` once, when the trainer closes (flush and close files).
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Callable

@dataclass
class Hooks:
    on_status: list[Callable] = field(default_factory=list)
    on_step: list[Callable] = field(default_factory=list)
    on_episode: list[Callable] = field(default_factory=list)
    on_rollout: list[Callable] = field(default_factory=list)
    on_update: list[Callable] = field(default_factory=list)
    on_close: list[Callable] = field(default_factory=list)

    def add(self, hook: Any) -> Any:
        """Register every `on_<event>` method `hook` has; returns `hook`."""
        for f in fields(self):
            method = getattr(hook, f.name, None)
            if callable(method):
                getattr(self, f.name).append(method)
        return hook

    def extend(self, other: "Hooks | None") -> "Hooks":
        """Append every hook of `other` after this one's (per event)."""
        for f in fields(self):
            getattr(self, f.name).extend(getattr(other, f.name) if other is not None else [])
        return self

    def call(self, event: str, *args) -> None:
        for hook in getattr(self, event):
            hook(*args)
