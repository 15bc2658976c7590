"""Inline checks of a level set as the user edits it: the messages of `catalog.level_checks.level_problems`
(what `workbench preset check` and `workbench train` report too), per level, plus a summary line. Plain Python
(no Qt): -> {level: [(severity, message), ...]}."""
from __future__ import annotations

from workbench.catalog.level_checks import level_problems
from workbench.core.levels import Level, LevelSet


def validate_levels(level_set: LevelSet, catalog, env_config) -> dict[Level, list[tuple[str, str]]]:
    """Problems shown on each level. The set-wide one (an empty train list) is in `summary` instead."""
    return {level: [(p.severity, p.message) for p in problems]
            for level, problems in level_problems(level_set, env_config, catalog).items() if level is not None}


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
