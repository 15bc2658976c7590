"""Is a level set playable here? `level_problems` is the one check `workbench preset check`, `workbench train` /
`transfer` (through the launcher), the GUI's level-set editor and its Start all use: unknown games or start
states, missing ROMs, missing scenarios, levels whose action spaces differ, an empty train list, train/test
overlap.

`check_level` raises for one level (the env factory calls it before opening an emulator); `require_playable`
raises for a preset's train or test list (one line naming the file); `validate_preset` / `check_preset_file`
report a preset's problems with their lines, its settings' too (`core.settings.validate`).
"""
from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.catalog.integrations import integration_file, register_custom_integrations
from workbench.core.levels import LIST_NAMES, Level, LevelSet
from workbench.core.presets import Preset, PresetError, Problem, Severity, _Lines, read_preset_file
from workbench.core.settings import validate

if TYPE_CHECKING:
    from workbench.catalog.catalog import Catalog

IMPORT_HINT = "import your copy with `workbench roms import PATH` (a ROM file, a folder or a zip)"
ATARI_HINT = "run `workbench roms import --atari` (ale-py ships it)"


def check_level(level: Level, scenario: str = "scenario") -> None:
    """Raise ValueError saying what is missing (ROM, state, scenario) and how to fix it."""
    import stable_retro

    register_custom_integrations()
    if integration_file(level.game, "rom.sha") is None and integration_file(level.game, "data.json") is None:
        raise ValueError(f"unknown game {level.game!r}: stable-retro has no integration of that name "
                         "(game ids look like Name-System-v0; `workbench catalog` lists them)")
    try:
        stable_retro.data.get_romfile_path(level.game, stable_retro.data.Integrations.ALL)
    except FileNotFoundError:
        raise ValueError(f"the ROM of {level.game} is not imported; import your copy with `workbench roms import "
                         "PATH` (Atari 2600 ROMs that ship with ale-py: `workbench roms import --atari`)") from None
    if integration_file(level.game, level.state + ".state") is None:
        states = sorted(stable_retro.data.list_states(level.game, stable_retro.data.Integrations.ALL))
        raise ValueError(f"{level.game} has no start state {level.state!r}; its states: {', '.join(states)}")
    if not scenario.endswith(".json") and integration_file(level.game, scenario + ".json") is None:
        raise ValueError(f"{level.game} has no scenario {scenario!r} ({scenario}.json); use 'scenario' "
                         "(the game's default) or a scenario file the game ships")


@dataclass(frozen=True)
class LevelProblem:
    """One thing wrong with a level of a set (keyed by None: with the whole set)."""

    severity: Severity
    message: str
    setting: str | None = None
    """The preset key it is about ('levels.train', 'levels.test', 'env.scenario', 'env.action_set'), where
    `preset check` points; None: the level's own line."""


@functools.lru_cache(maxsize=4096)
def _action_space(game: str, action_set: str, scenario: str) -> tuple[str, tuple[str, ...]] | str:
    """(name, labels) of the action set, or why it cannot be used. Cached: resolving reads the game's data files
    (~0.3 s), and the GUI checks on every edit."""
    from workbench.catalog.actions import resolve_action_set
    from workbench.core.settings import EnvConfig

    try:
        resolved = resolve_action_set(game, EnvConfig(action_set=action_set, scenario=scenario))  # type: ignore
    except ValueError as exc:
        return str(exc)
    return resolved.name, tuple(resolved.labels)


def level_problems(level_set: LevelSet, env_config=None, catalog: "Catalog | None" = None,
                   ) -> dict[Level | None, list[LevelProblem]]:
    """Everything that keeps `level_set` from being played here, per level (None: the set as a whole): an empty
    train list, train/test overlap, unknown games or start states, missing ROMs, missing scenarios, action sets
    that cannot be used or that differ between levels (one policy acts in all of them). A problem of a game is
    listed on each of its levels. Without a catalog, only what needs none (overlap, action sets)."""
    found: dict[Level | None, list[LevelProblem]] = {}

    def add(level: Level | None, severity: Severity, message: str, setting: str | None = None) -> None:
        problem = LevelProblem(severity, message, setting)
        if problem not in found.setdefault(level, []):
            found[level].append(problem)

    if not level_set.train:
        add(None, "error", "levels.train is empty; list at least one training level as \"GAME:STATE\"",
            "levels.train")
    for level in level_set.overlap():
        add(level, "warning", f"{level} is both a train and a test level; its test score will not measure transfer",
            "levels.test")

    levels = list(dict.fromkeys(level_set.train + level_set.test))
    known: dict[str, list[Level]] = {}
    for level in levels:
        entry = catalog.find(level.game) if catalog is not None else None
        if catalog is not None and entry is None:
            hint = catalog.suggest_games(level.game)
            add(level, "error", f"unknown game {level.game!r} in {level}" + (
                f"; did you mean {' or '.join(repr(g) for g in hint)}?" if hint else
                "; `workbench catalog --search TEXT` lists the games stable-retro knows"))
            continue
        known.setdefault(level.game, []).append(level)
        if entry is not None and level.state not in entry.states:
            hint = catalog.suggest_states(level.game, level.state)
            have = f"did you mean {' or '.join(repr(s) for s in hint)}?" if hint else (
                f"{level.game} has {', '.join(entry.states)}" if entry.states else f"{level.game} has no start states")
            add(level, "error", f"unknown start state {level.state!r} of {level.game}; {have}")

    scenario = getattr(env_config, "scenario", "scenario") or "scenario"
    if catalog is not None:
        atari = None
        for game, game_levels in known.items():
            entry = catalog.find(game)
            assert entry is not None
            if entry.rom_status != "ok":
                if atari is None:
                    from workbench.catalog.roms import ale_importable_games

                    atari = ale_importable_games()
                hint = ATARI_HINT if game in atari else IMPORT_HINT
                if entry.needs_patch:
                    hint = _patch_hint(entry, catalog, hint)
                count = len(game_levels)
                if entry.rom_status == "missing":
                    message = (f"ROM missing: {game} is not installed ({count} level{'s' if count != 1 else ''} "
                               f"need{'' if count != 1 else 's'} it); {hint}")
                else:
                    message = (f"ROM of {game} at {entry.rom_path} is {entry.rom_status} (wrong SHA-1 or "
                               f"unreadable); delete that file, then {hint}")
                for level in game_levels:
                    add(level, "error", message)
            # a .json or a path is the user's own scenario file
            if not (scenario.endswith(".json") or "/" in scenario) and scenario not in entry.scenarios:
                message = (f"{game} has no scenario {scenario!r} (it has {', '.join(entry.scenarios) or 'none'}); "
                           "set env.scenario to one of them")
                for level in game_levels:
                    add(level, "error", message, "env.scenario")

    # one policy acts in every level: all must resolve to the same action labels (the engine's own rule)
    action_set = getattr(env_config, "action_set", "auto")
    spaces: dict[str, tuple[str, tuple[str, ...]]] = {}
    for game, game_levels in known.items():
        space = _action_space(game, action_set, scenario)
        if isinstance(space, str):
            for level in game_levels:
                add(level, "error", f"{game}: {space}", "env.action_set")
        else:
            spaces[game] = space
            n = len(space[1])
            for level in game_levels:
                if level.controls and len(level.controls) != n:
                    add(level, "error", f"{level} remaps {len(level.controls)} actions, but {game} has {n} with "
                        f"env.action_set = {action_set!r} ({', '.join(space[1])}); list a permutation of "
                        f"0..{n - 1} after @controls=", "env.action_set")
    if len({labels for _, labels in spaces.values()}) > 1:
        counts = Counter(spaces[lv.game][1] for lv in level_set.train if lv.game in spaces) or \
            Counter(spaces[lv.game][1] for lv in levels if lv.game in spaces)
        reference = counts.most_common(1)[0][0]  # flag the levels that differ from most training levels
        groups: dict[tuple[str, ...], tuple[str, int, list[str]]] = {}
        for game, (name, labels) in spaces.items():
            groups.setdefault(labels, (name, len(labels), []))[2].append(game)
        text = "; ".join(f"{_games_text(games)} get{'s' if len(games) == 1 else ''} '{name}' ({n} actions)"
                         for name, n, games in groups.values())
        message = (f"action space differs between levels with env.action_set = {action_set!r}: {text}. One policy "
                   "needs one action space: use games of one system, or an action set they all share ('atari18' "
                   "for Atari 2600 sets, 'sonic' for Genesis sets)")
        for level in levels:
            if level.game in spaces and spaces[level.game][1] != reference:
                add(level, "error", message, "env.action_set")
    return {key: found[key] for key in (None, *levels) if key in found}  # the set's, then in list order


def require_playable(levels, env_config, file, what: str = "train", catalog: "Catalog | None" = None) -> None:
    """Raise ValueError, one line naming `file`, when `levels` (a preset's train or test list) cannot be played
    here: none at all, or an error of `level_problems`. Call it before any process starts."""
    from workbench.catalog.catalog import Catalog

    levels = list(levels)
    if not levels:
        raise ValueError(f"{file}: the preset has no {what} levels; add some under [levels] {what} = [...]")
    found = level_problems(LevelSet(levels, []), env_config, catalog if catalog is not None else Catalog())
    for level, problems in found.items():
        for problem in problems:
            if problem.severity == "error":
                where = f"level {level}: " if level is not None and problem.setting is None else ""
                raise ValueError(f"{file}: {where}{problem.message}")


def validate_preset(preset: Preset, catalog: "Catalog", file: str = "<preset>",
                    lines: _Lines | None = None) -> list[Problem]:
    """Problems a preset has against this installation: settings that cannot run (`core.settings.validate`)
    and every problem of its level set (`level_problems`), each at its line of the file."""
    where = lines or _Lines("")
    problems = [Problem("error", file, where.of(p.section, p.key), p.message) for p in validate(preset)]
    levels = preset.levels

    def level_line(level: Level | None) -> int | None:
        for list_name in LIST_NAMES:
            if level is not None and level in levels.list(list_name):
                return where.of_string(str(level), "levels", list_name)
        return where.of("levels")

    def line(problem: LevelProblem, level: Level | None) -> int | None:
        if problem.setting is None:
            return level_line(level)
        table, key = problem.setting.split(".")
        if table == "levels":
            return where.of_string(str(level), "levels", key) if level is not None else where.of("levels", key)
        return where.of(table, key) or where.of("levels")  # about a setting the file leaves at its default

    reported: set[tuple[str, str]] = set()
    for level, found in level_problems(levels, preset.env, catalog).items():
        for problem in found:
            if (problem.severity, problem.message) not in reported:  # a game's problem: once, at its first level
                reported.add((problem.severity, problem.message))
                problems.append(Problem(problem.severity, file, line(problem, level), problem.message))
    return problems


def _patch_hint(entry, catalog: "Catalog", hint: str) -> str:
    """A custom level's ROM is built at import from its base game's ROM and rom.delta: name that base ROM."""
    base = catalog.find(entry.patch_base) if entry.patch_base else None
    if base is None:
        return "its ROM is another game's ROM patched with the integration's rom.delta (VCDIFF); " + hint
    if base.playable:
        return (f"it is built from the installed base ROM of {base.id} and its rom.delta: run `workbench roms "
                f"import {base.rom_path}`")
    return (f"base ROM {base.id} is missing: import your copy with `workbench roms import PATH` and this one is "
            "built from it with the integration's rom.delta")


def _games_text(games: list[str]) -> str:
    return ", ".join(games[:3]) + (f" and {len(games) - 3} more" if len(games) > 3 else "")


@dataclass
class PresetCheck:
    """The outcome of checking one preset file."""

    file: str
    preset: Preset | None
    problems: list[Problem]
    missing_roms: list[str]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors


def check_preset_file(path: str | Path, catalog: "Catalog | None" = None) -> PresetCheck:
    """Every problem of a preset file, as Problems (never raises for bad content)."""
    try:
        preset, problems, lines = read_preset_file(path)
    except PresetError as exc:
        return PresetCheck(str(path), None, [Problem("error", exc.file, exc.line, exc.reason)], [])
    if catalog is None:
        from workbench.catalog.catalog import Catalog

        catalog = Catalog()
    problems = problems + validate_preset(preset, catalog, str(path), lines)
    problems.sort(key=lambda p: (p.line or 0))
    missing = [game for game in preset.levels.games() if game in catalog and not catalog.is_playable(game)]
    return PresetCheck(str(path), preset, problems, missing)
