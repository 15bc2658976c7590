"""Inline checks of a level set as the user edits it: missing ROM, unknown state, action-space mismatch,
train/test overlap. Plain Python (no Qt): -> {level: [(severity, message), ...]} plus a summary."""
from __future__ import annotations

import functools
from collections import Counter

from workbench.catalog.levels import Level, LevelSet


def _action_labels(game: str, env_config) -> tuple[str, ...] | None:
    return _cached_labels(game, getattr(env_config, "action_set", "auto"))


@functools.lru_cache(maxsize=4096)
def _cached_labels(game: str, action_set: str) -> tuple[str, ...] | None:
    """Resolving reads the game's data files (~0.3 s): once per (game, action set) per session."""
    try:
        from workbench.engine.actions import resolve_action_set
        from workbench.engine.config import EnvConfig

        return tuple(resolve_action_set(game, EnvConfig(action_set=action_set)).labels)
    except Exception:
        return None


def validate_levels(level_set: LevelSet, catalog, env_config) -> dict[Level, list[tuple[str, str]]]:
    problems: dict[Level, list[tuple[str, str]]] = {}

    def add(level: Level, severity: str, message: str) -> None:
        problems.setdefault(level, []).append((severity, message))

    levels = list(dict.fromkeys(level_set.train + level_set.test))
    known_states: dict[str, list[str] | None] = {}
    for level in levels:
        if catalog is None:
            break
        if level.game not in known_states:
            try:
                known_states[level.game] = list(catalog.states(level.game))
            except Exception:
                known_states[level.game] = None
        states = known_states[level.game]
        if states is None:
            add(level, "error", f"unknown game {level.game}")
            continue
        if level.state not in states:
            add(level, "error", f"{level.game} has no start state {level.state}")
        try:
            playable = catalog.is_playable(level.game)
        except Exception:
            playable = False
        if not playable:
            hint = "--atari" if level.game.endswith("-Atari2600-v0") else "PATH"
            add(level, "error", f"ROM missing: import it with Import ROMs… (workbench roms import {hint})")

    labels = {game: _action_labels(game, env_config) for game in dict.fromkeys(lv.game for lv in levels)}
    counts = Counter(len(labels[lv.game]) for lv in levels if labels.get(lv.game) is not None)
    if len(counts) > 1 or len({labels[g] for g in labels if labels[g] is not None}) > 1:
        majority = Counter(labels[lv.game] for lv in level_set.train or levels if labels.get(lv.game)).most_common(1)
        reference = majority[0][0] if majority else None
        for level in levels:
            mine = labels.get(level.game)
            if mine is not None and mine != reference:
                add(level, "error", f"action space differs ({len(mine)} actions vs {len(reference or ())}); "
                                    "pick a common env.action_set such as 'atari18' or 'buttons'")
    for level in level_set.overlap():
        add(level, "warning", "in both train and test: it leaks a test level into training")
    return problems


def summary(level_set: LevelSet, problems: dict) -> str:
    errors = sum(1 for msgs in problems.values() for sev, _ in msgs if sev == "error")
    warnings = sum(1 for msgs in problems.values() for sev, _ in msgs if sev == "warning")
    text = f"{len(level_set.train)} train · {len(level_set.test)} test"
    if not level_set.train:
        text += " · add at least one training level"
    if errors:
        text += f" · {errors} error(s)"
    if warnings:
        text += f" · {warnings} warning(s)"
    return text
