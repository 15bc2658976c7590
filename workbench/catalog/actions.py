"""Discrete action sets: each agent action is one row of emulator buttons held down.

Resolved from the game id and stable-retro's core/scenario data alone (no emulator and no ROM needed), so the
GUI can check a level set's compatibility before anything starts. Two levels are compatible iff their action
sets have the same labels: one policy head then means the same thing on both.
"""
from __future__ import annotations

import itertools
import json
import os
from dataclasses import dataclass, field

import numpy as np

SONIC_COMBOS = [["LEFT"], ["RIGHT"], ["LEFT", "DOWN"], ["RIGHT", "DOWN"], ["DOWN"], ["DOWN", "B"], ["B"]]
"""The Retro Contest baselines' SonicDiscretizer."""

ATARI18_COMBOS = [
    [], ["BUTTON"], ["UP"], ["RIGHT"], ["LEFT"], ["DOWN"],
    ["UP", "RIGHT"], ["UP", "LEFT"], ["DOWN", "RIGHT"], ["DOWN", "LEFT"],
    ["UP", "BUTTON"], ["RIGHT", "BUTTON"], ["LEFT", "BUTTON"], ["DOWN", "BUTTON"],
    ["UP", "RIGHT", "BUTTON"], ["UP", "LEFT", "BUTTON"], ["DOWN", "RIGHT", "BUTTON"], ["DOWN", "LEFT", "BUTTON"],
]
"""ALE's full joystick in ALE order (NOOP, FIRE, UP, RIGHT, ..., DOWNLEFTFIRE); the fire button is 'BUTTON'."""

ACTION_SET_NAMES = ("auto", "sonic", "atari18", "buttons", "discrete")
_NOT_PLAYER_BUTTONS = {"START", "SELECT", "MODE", "RESET", "PAUSE", "RUN", "C-MODE"}
_SONIC_GAME_PREFIXES = ("SonicTheHedgehog", "SonicAndKnuckles")


@dataclass(frozen=True)
class ActionSet:
    """A named list of button combos; action i holds `buttons[i]` (a 0/1 mask over the system's buttons)."""

    name: str
    labels: tuple[str, ...]
    """One human-readable label per action, e.g. 'RIGHT+DOWN' or 'NOOP' (shown under the probability bars)."""
    buttons: np.ndarray = field(compare=False)
    """(n_actions, n_system_buttons) uint8 masks, in the system's button order."""
    system_buttons: tuple[str | None, ...] = ()
    """The system's button names (stable-retro core order); None marks an unused slot."""

    @property
    def n(self) -> int:
        return len(self.labels)

    def compatible_with(self, other: "ActionSet") -> bool:
        return self.labels == other.labels


def game_system(game: str) -> str:
    """'SonicTheHedgehog-Genesis-v0' -> 'Genesis' (stable-retro game ids end in -System[-vN])."""
    parts = game.split("-")
    if len(parts) >= 2 and parts[-1].startswith("v") and parts[-1][1:].isdigit():
        parts = parts[:-1]
    if len(parts) < 2:
        raise ValueError(f"{game!r} is not a stable-retro game id; they look like Name-System-v0, "
                         "e.g. Airstriker-Genesis-v0")
    return parts[-1]


def system_info(system: str) -> dict:
    import stable_retro

    try:
        return stable_retro.get_system_info(system)
    except KeyError:
        raise ValueError(f"stable-retro has no emulator for system {system!r}") from None


def game_family(game: str) -> str:
    """'sonic', 'atari' or 'other' (what the 'auto' action set keys on)."""
    system = game_system(game)
    if system == "Atari2600":
        return "atari"
    if system == "Genesis" and game.startswith(_SONIC_GAME_PREFIXES):
        return "sonic"
    return "other"


def _label(combo: list[str]) -> str:
    return "+".join(combo) if combo else "NOOP"


def _from_combos(name: str, combos: list[list[str]], system_buttons: list[str | None]) -> ActionSet:
    table = np.zeros((len(combos), len(system_buttons)), np.uint8)
    for row, combo in enumerate(combos):
        for button in combo:
            if button not in system_buttons:
                raise ValueError(f"action set {name!r} needs button {button!r}, which this system lacks "
                                 f"(its buttons: {[b for b in system_buttons if b]}); pick another action set")
            table[row, system_buttons.index(button)] = 1
    return ActionSet(name, tuple(_label(c) for c in combos), table, tuple(system_buttons))


def _valid_action_groups(game: str, scenario: str, system: str) -> list[list[list[str]]]:
    """stable-retro's button groups: the scenario's "actions" if it defines them, else the core's."""
    from workbench.catalog.integrations import integration_file

    path = scenario if scenario.endswith(".json") else integration_file(game, scenario + ".json")
    if path and os.path.exists(path):
        with open(path) as f:
            groups = json.load(f).get("actions")
        if groups:
            return groups
    return system_info(system)["actions"]


def discrete_combos(groups: list[list[list[str]]], system_buttons: list[str | None]) -> list[list[str]]:
    """All combos in stable-retro's Actions.DISCRETE index order: within a group, combos are ordered by their
    button bitmask (bit i = system button i, duplicates dropped), and the first group varies fastest."""
    def mask(combo: list[str]) -> int:
        return sum(1 << system_buttons.index(b) for b in set(combo))

    ordered_groups = []
    for group in groups:
        by_mask = {mask(combo): combo for combo in group}
        ordered_groups.append([sorted(by_mask[m], key=system_buttons.index) for m in sorted(by_mask)])
    combos = []
    for choice in itertools.product(*reversed(ordered_groups)):
        combo: list[str] = []
        for part in reversed(choice):
            combo.extend(b for b in part if b not in combo)
        combos.append(combo)
    return combos


def _useful_buttons(groups: list[list[list[str]]], system_buttons: list[str | None]) -> list[list[str]]:
    """No-op plus each single player button that stable-retro's combos use, in system button order."""
    used = {b for group in groups for combo in group for b in combo}
    return [[]] + [[b] for b in system_buttons if b and b in used and b not in _NOT_PLAYER_BUTTONS]


def resolve_action_set(game: str, env_config=None, name: str | None = None) -> ActionSet:
    """The action set `env_config.action_set` (or `name`) means for `game`; 'auto' picks by game family."""
    name = name or (env_config.action_set if env_config is not None else "auto")
    scenario = getattr(env_config, "scenario", "scenario") or "scenario"
    if name not in ACTION_SET_NAMES:
        raise ValueError(f"unknown action set {name!r}; use one of {', '.join(ACTION_SET_NAMES)}")
    system = game_system(game)
    system_buttons = list(system_info(system)["buttons"])
    if name == "auto":
        name = {"sonic": "sonic", "atari": "atari18"}.get(game_family(game), "discrete")
    if name == "sonic":
        return _from_combos("sonic", SONIC_COMBOS, system_buttons)
    if name == "atari18":
        return _from_combos("atari18", ATARI18_COMBOS, system_buttons)
    groups = _valid_action_groups(game, scenario, system)
    if name == "buttons":
        return _from_combos("buttons", _useful_buttons(groups, system_buttons), system_buttons)
    return _from_combos("discrete", discrete_combos(groups, system_buttons), system_buttons)


def check_compatible(games: list[str], env_config=None) -> ActionSet:
    """The shared action set of `games`; raises ValueError naming the odd game out when labels differ."""
    if not games:
        raise ValueError("no levels given: add at least one training level")
    first = resolve_action_set(games[0], env_config)
    for game in games[1:]:
        other = resolve_action_set(game, env_config)
        if not first.compatible_with(other):
            raise ValueError(
                f"{game} has a different action space ({other.name}, {other.n} actions) than {games[0]} "
                f"({first.name}, {first.n} actions); train these games in separate runs or pick an action set "
                "both share (e.g. action_set = \"buttons\" for games of one system)")
    return first


def agent_action_labels(levels, env_config=None) -> tuple[str, ...]:
    """What each agent action does on `levels` (one run's labels, e.g. under the Live view's probability bars):
    the action set's labels, remapped when every level shares one `controls` shuffle; when the levels shuffle the
    controls differently, no label holds for all of them, so each reads "#i" and the mapping is the level's own."""
    labels = resolve_action_set(levels[0].game, env_config).labels
    shuffles = {level.controls for level in levels}
    if shuffles == {()}:
        return labels
    if len(shuffles) == 1:
        return tuple(labels[i] for i in levels[0].controls)
    return tuple(f"#{i}" for i in range(len(labels)))
