"""Levels (game, start state) and level sets (ordered train and test lists).

A `LevelSet` is a plain, observable Python model: views subscribe with `connect()` and are told
what changed; a Qt item model adapts it, and a drop becomes the set's own `move()` (napari's habit).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Literal

ListName = Literal["train", "test"]
LIST_NAMES: tuple[ListName, ListName] = ("train", "test")


CONTROLS_TAG = "@controls="


@dataclass(frozen=True, order=True)
class Level:
    """One level: a stable-retro game id and one of its start states, optionally with remapped controls."""

    game: str
    state: str
    controls: tuple[int, ...] = ()
    """A permutation of the action set: agent action i plays the action set's action `controls[i]`. Empty: the
    action set as it is. Levels that differ only here look the same on screen, so which action does what has to
    be found out by playing (the RL² game task: `presets/rl2-freeway-controls.toml`)."""

    def __str__(self) -> str:
        text = f"{self.game}:{self.state}"
        return text + CONTROLS_TAG + ",".join(map(str, self.controls)) if self.controls else text

    @classmethod
    def parse(cls, text: str) -> "Level":
        """Parse `Game-System-v0:State` or `Game-System-v0:State@controls=2,0,1,...` (the forms `str()` writes)."""
        game, sep, rest = text.partition(":")
        state, tag, mapping = rest.partition(CONTROLS_TAG)
        if not sep or not game.strip() or not state.strip():
            raise ValueError(f"{text!r} is not a level; write it as GAME:STATE, e.g. Airstriker-Genesis-v0:Level1")
        controls: tuple[int, ...] = ()
        if tag:
            try:
                controls = tuple(int(part) for part in mapping.split(","))
            except ValueError:
                controls = ()
            if not controls or sorted(controls) != list(range(len(controls))):
                raise ValueError(f"{text!r}: the controls must be a permutation of 0..n-1 (n: the action set's "
                                 "size), comma-separated, e.g. @controls=2,0,1,3,4,5")
        return cls(game.strip(), state.strip(), controls)


@dataclass(frozen=True)
class LevelSetEvent:
    """What changed in a level set: `kind` is 'inserted', 'removed' or 'reset'."""

    kind: str
    list_name: ListName | None = None
    index: int = 0
    levels: tuple[Level, ...] = ()


@dataclass
class LevelSet:
    """Ordered train and test lists. A level appears at most once per list.

    A level may sit in both lists; validation warns about it (it leaks test levels into training).
    """

    train: list[Level] = field(default_factory=list)
    test: list[Level] = field(default_factory=list)
    _listeners: list[Callable[[LevelSetEvent], None]] = field(default_factory=list, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in LIST_NAMES:
            seen: set[Level] = set()
            unique = []
            for level in getattr(self, name):
                if level not in seen:
                    seen.add(level)
                    unique.append(level)
            setattr(self, name, unique)

    # -- observation -------------------------------------------------------------------------
    def connect(self, callback: Callable[[LevelSetEvent], None]) -> None:
        self._listeners.append(callback)

    def disconnect(self, callback: Callable[[LevelSetEvent], None]) -> None:
        if callback in self._listeners:
            self._listeners.remove(callback)

    def _emit(self, event: LevelSetEvent) -> None:
        for callback in list(self._listeners):
            callback(event)

    # -- queries -----------------------------------------------------------------------------
    def list(self, name: ListName) -> list[Level]:
        if name not in LIST_NAMES:
            raise KeyError(f"no level list named {name!r}; use 'train' or 'test'")
        return getattr(self, name)

    def overlap(self) -> list[Level]:
        """Levels in both lists, in train order."""
        test = set(self.test)
        return [level for level in self.train if level in test]

    def games(self) -> list[str]:
        seen: dict[str, None] = {}
        for level in self.train + self.test:
            seen.setdefault(level.game, None)
        return list(seen)

    # -- edits -------------------------------------------------------------------------------
    def insert(self, name: ListName, index: int, levels: Iterable[Level]) -> list[Level]:
        """Insert levels not yet in the list at `index`; returns those actually inserted."""
        target = self.list(name)
        index = max(0, min(index, len(target)))
        added = []
        for level in levels:
            if level not in target and level not in added:
                added.append(level)
        if added:
            target[index:index] = added
            self._emit(LevelSetEvent("inserted", name, index, tuple(added)))
        return added

    def append(self, name: ListName, levels: Iterable[Level]) -> list[Level]:
        return self.insert(name, len(self.list(name)), levels)

    def remove(self, name: ListName, indices: Iterable[int]) -> list[Level]:
        """Remove the levels at `indices` (any order); returns them in list order."""
        target = self.list(name)
        removed = []
        for index in sorted(set(indices), reverse=True):
            if 0 <= index < len(target):
                level = target.pop(index)
                removed.insert(0, level)
                self._emit(LevelSetEvent("removed", name, index, (level,)))
        return removed

    def move(self, src: ListName, indices: Iterable[int], dst: ListName, dst_index: int) -> list[Level]:
        """Move the levels at `indices` of `src` to position `dst_index` of `dst` (reorder when src == dst).

        `dst_index` is a position in `dst` as it is before the move, as a drop reports it.
        """
        indices = sorted(set(i for i in indices if 0 <= i < len(self.list(src))))
        if not indices:
            return []
        levels = [self.list(src)[i] for i in indices]
        if src == dst:
            dst_index -= sum(1 for i in indices if i < dst_index)
        self.remove(src, indices)
        if src != dst:
            # a level already in the destination is not duplicated: it just leaves the source
            levels = [lv for lv in levels if lv not in self.list(dst)]
        return self.insert(dst, dst_index, levels)

    def replace(self, train: Iterable[Level], test: Iterable[Level]) -> None:
        fresh = LevelSet(list(train), list(test))
        self.train, self.test = fresh.train, fresh.test
        self._emit(LevelSetEvent("reset"))

    def copy(self) -> "LevelSet":
        return LevelSet(list(self.train), list(self.test))
