"""Presets: a level set plus every run setting, stored as one TOML file.

    name = "airstriker"
    description = "..."
    [levels]
    train = ["Airstriker-Genesis-v0:Level1"]
    test = []
    [env]  [ppo]  [rl2]  [transfer]  [run]     (fields of workbench.engine.config.SECTIONS)

`load_preset` reads a file strictly (`PresetError`: `file:line: reason`); `check_preset_file` reports every
problem it can find, including the ones that need the catalog (unknown levels, missing ROMs, action spaces that
differ), as `Problem`s. `preset_to_toml` writes a preset so that reading it back gives an equal preset.
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import re
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from workbench.catalog.levels import LIST_NAMES, Level, LevelSet
from workbench.engine.config import SECTIONS, EnvConfig, PPOConfig, RL2Config, RunConfig, TransferConfig
from workbench.paths import PRESETS_DIR, atomic_write_text, user_data_dir

if TYPE_CHECKING:
    from workbench.catalog.catalog import Catalog

Severity = Literal["error", "warning"]
TOP_KEYS = ("name", "description")
TABLES = ("levels", *SECTIONS)
IMPORT_HINT = "import your copy with `workbench roms import PATH` (a ROM file, a folder or a zip)"
ATARI_HINT = "run `workbench roms import --atari` (ale-py ships it)"


@dataclass
class Preset:
    """A level set and the settings of every part of a run."""

    name: str
    description: str = ""
    levels: LevelSet = field(default_factory=LevelSet)
    env: EnvConfig = field(default_factory=EnvConfig)
    ppo: PPOConfig = field(default_factory=PPOConfig)
    rl2: RL2Config = field(default_factory=RL2Config)
    transfer: TransferConfig = field(default_factory=TransferConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def copy(self) -> "Preset":
        sections = {name: dataclasses.replace(getattr(self, name)) for name in SECTIONS}
        sections["transfer"].seeds = list(self.transfer.seeds)
        return dataclasses.replace(self, levels=self.levels.copy(), **sections)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a preset. `line` is 1-based, None when it has no single place in the file."""

    severity: Severity
    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.severity}: {self.message}"


class PresetError(Exception):
    """A preset that cannot be loaded; str() is `file:line: reason`."""

    def __init__(self, file: str, line: int | None, reason: str):
        self.file, self.line, self.reason = str(file), line, reason
        super().__init__(f"{self.file}:{line}: {reason}" if line else f"{self.file}: {reason}")


# -- where things are in the text ------------------------------------------------------------------
_HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")
_KEY = re.compile(r"""^\s*((?:[A-Za-z0-9_\-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_\-]+|"[^"]*"|'[^']*'))*)\s*=""")


class _Lines:
    """Line numbers of tables, keys and level strings, found by scanning the text (tomllib keeps none)."""

    def __init__(self, text: str):
        self.lines = text.splitlines()
        self.keys: dict[tuple[str, ...], int] = {}
        table: tuple[str, ...] = ()
        for number, line in enumerate(self.lines, start=1):
            header = _HEADER.match(line)
            if header:
                table = tuple(_unquote(part) for part in header.group(1).split("."))
                self.keys.setdefault(table, number)
                continue
            key = _KEY.match(line)
            if key:
                path = table + tuple(_unquote(part) for part in key.group(1).split("."))
                for depth in range(len(table) + 1, len(path) + 1):
                    self.keys.setdefault(path[:depth], number)

    def of(self, *path: str) -> int | None:
        while path:
            if path in self.keys:
                return self.keys[path]
            path = path[:-1]
        return None

    def of_string(self, value: str, *path: str) -> int | None:
        """The line of a string element (a level) of the array at `path`."""
        start = self.of(*path) or 1
        for quoted in (f'"{value}"', f"'{value}'"):
            for number in range(start, len(self.lines) + 1):
                if quoted in self.lines[number - 1]:
                    return number
        return self.of(*path)


def _unquote(part: str) -> str:
    part = part.strip()
    return part[1:-1] if len(part) >= 2 and part[0] == part[-1] and part[0] in "\"'" else part


# -- reading -----------------------------------------------------------------------------------------
def _toml_error(file: str, text: str, exc: tomllib.TOMLDecodeError) -> PresetError:
    message = str(exc)
    match = re.search(r"\s*\(at line (\d+), column (\d+)\)\s*$", message)
    if match:
        return PresetError(file, int(match.group(1)), f"malformed TOML: {message[:match.start()]} "
                                                      f"(column {match.group(2)})")
    match = re.search(r"\s*\(at end of document\)\s*$", message)
    if match:
        return PresetError(file, max(1, len(text.splitlines())), f"malformed TOML: {message[:match.start()]} "
                                                                 "(at the end of the file)")
    return PresetError(file, None, f"malformed TOML: {message}")


def _suggest(word: str, choices: typing.Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=3, cutoff=0.6)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def _typename(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list",
            dict: "a table"}.get(type(value), type(value).__name__)


def _convert(value: Any, hint: Any) -> tuple[Any, str | None]:
    """(value as the field wants it, None) or (None, what it should have been)."""
    origin = typing.get_origin(hint)
    if origin is Literal:
        choices = typing.get_args(hint)
        if isinstance(value, str) and value in choices:
            return value, None
        return None, f"one of {', '.join(repr(c) for c in choices)}" + (
            _suggest(value, choices) if isinstance(value, str) else "")
    if origin is list:
        (item,) = typing.get_args(hint)
        if not isinstance(value, list):
            return None, f"a list of {item.__name__}s"
        converted = []
        for element in value:
            done, want = _convert(element, item)
            if want:
                return None, f"a list of {item.__name__}s"
            converted.append(done)
        return converted, None
    if hint is bool:
        return (value, None) if isinstance(value, bool) else (None, "true or false")
    if hint is int:
        return (value, None) if isinstance(value, int) and not isinstance(value, bool) else (None, "an integer")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                return float(value), None
            except OverflowError:
                return None, "a number a float can hold"
        return None, "a number"
    if hint is str:
        return (value, None) if isinstance(value, str) else (None, "a string")
    return None, f"a {hint}"  # a settings type this reader does not know yet


def _section(name: str, table: Any, file: str, where: _Lines, problems: list[Problem]) -> Any:
    cls = SECTIONS[name]
    hints = typing.get_type_hints(cls)
    if not isinstance(table, dict):
        problems.append(Problem("error", file, where.of(name), f"[{name}] must be a table, not {_typename(table)}"))
        return cls()
    values = {}
    for key, value in table.items():
        if key not in hints:
            problems.append(Problem("error", file, where.of(name, key),
                                    f"unknown setting {name}.{key}" + _suggest(key, hints)))
            continue
        converted, want = _convert(value, hints[key])
        if want:
            problems.append(Problem("error", file, where.of(name, key),
                                    f"{name}.{key} = {value!r} is {_typename(value)}; it must be {want}"))
            continue
        values[key] = converted
    return cls(**values)


def _levels(table: Any, file: str, where: _Lines, problems: list[Problem]) -> LevelSet:
    if not isinstance(table, dict):
        problems.append(Problem("error", file, where.of("levels"),
                                f"[levels] must be a table with train = [...] and test = [...], not {_typename(table)}"))
        return LevelSet()
    lists: dict[str, list[Level]] = {"train": [], "test": []}
    for key, value in table.items():
        if key not in LIST_NAMES:
            problems.append(Problem("error", file, where.of("levels", key),
                                    f"unknown key levels.{key}; [levels] has only train and test" + _suggest(key, LIST_NAMES)))
            continue
        if not isinstance(value, list):
            problems.append(Problem("error", file, where.of("levels", key),
                                    f"levels.{key} must be a list of \"GAME:STATE\" strings, not {_typename(value)}"))
            continue
        for item in value:
            if not isinstance(item, str):
                problems.append(Problem("error", file, where.of("levels", key),
                                        f"levels.{key} holds {item!r} ({_typename(item)}); write levels as "
                                        "\"GAME:STATE\" strings"))
                continue
            try:
                level = Level.parse(item)
            except ValueError as exc:
                problems.append(Problem("error", file, where.of_string(item, "levels", key), str(exc)))
                continue
            if level in lists[key]:
                problems.append(Problem("warning", file, where.of_string(item, "levels", key),
                                        f"{level} is listed twice in levels.{key}; the copy is ignored"))
                continue
            lists[key].append(level)
    return LevelSet(lists["train"], lists["test"])


def _decode(file: str, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise PresetError(file, line, "not UTF-8 text; save the preset as UTF-8") from None


def parse_preset(text: str, file: str = "<preset>", default_name: str = "") -> tuple[Preset, list[Problem]]:
    """Read preset text leniently: every setting that is wrong is reported and left at its default.
    Raises PresetError only when the text is not TOML at all."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _toml_error(file, text, exc) from None
    where = _Lines(text)
    problems: list[Problem] = []
    name, description = default_name, ""
    levels = LevelSet()
    sections: dict[str, Any] = {}
    for key, value in data.items():
        if key in TOP_KEYS:
            if isinstance(value, str):
                name, description = (value, description) if key == "name" else (name, value)
            else:
                problems.append(Problem("error", file, where.of(key), f"{key} must be a string, not {_typename(value)}"))
        elif key == "levels":
            levels = _levels(value, file, where, problems)
        elif key in SECTIONS:
            sections[key] = _section(key, value, file, where, problems)
        else:
            kind = "table" if isinstance(value, dict) else "key"
            problems.append(Problem("error", file, where.of(key), f"unknown {kind} {key!r}; a preset has "
                                    f"name, description and tables {', '.join(TABLES)}" + _suggest(key, TOP_KEYS + TABLES)))
    preset = Preset(name=name, description=description, levels=levels,
                    **{key: sections.get(key, cls()) for key, cls in SECTIONS.items()})
    return preset, problems


def read_preset_file(path: str | Path) -> tuple[Preset, list[Problem], _Lines]:
    """Lenient read of a preset file; PresetError when it cannot be read or is not TOML."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise PresetError(str(path), None, "no such preset file") from None
    except IsADirectoryError:
        raise PresetError(str(path), None, "is a folder, not a preset file") from None
    except OSError as exc:
        raise PresetError(str(path), None, f"cannot read it ({exc.strerror or exc})") from None
    text = _decode(str(path), data)
    preset, problems = parse_preset(text, str(path), default_name=path.stem)
    return preset, problems, _Lines(text)


def load_preset(path: str | Path) -> Preset:
    """Read a preset file strictly: PresetError (`file:line: reason`) on the first error in it. Does not look
    at the catalog (use `check_preset_file` for that)."""
    preset, problems, _ = read_preset_file(path)
    for problem in problems:
        if problem.severity == "error":
            raise PresetError(problem.file, problem.line, problem.message)
    return preset


# -- writing -----------------------------------------------------------------------------------------
def _toml_string(text: str) -> str:
    out = ['"']
    for ch in text:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch in "\b\t\n\f\r":
            out.append({"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        elif 0xD800 <= ord(ch) <= 0xDFFF:
            raise ValueError(f"{text!r} holds a lone surrogate, which TOML cannot store")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return repr(value)  # repr round-trips exactly; 'inf'/'-inf' and '1e-05' are valid TOML
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    raise TypeError(f"cannot write {value!r} to TOML")


def preset_to_toml(preset: Preset, header: str = "") -> str:
    """The preset as TOML text; `parse_preset(preset_to_toml(p))` gives back an equal preset."""
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    lines += [f"name = {_toml_string(preset.name)}", f"description = {_toml_string(preset.description)}", "",
              "[levels]"]
    for list_name in LIST_NAMES:
        levels = preset.levels.list(list_name)
        if levels:
            lines.append(f"{list_name} = [")
            lines += [f"    {_toml_string(str(level))}," for level in levels]
            lines.append("]")
        else:
            lines.append(f"{list_name} = []")
    for name in SECTIONS:
        lines += ["", f"[{name}]"]
        section = getattr(preset, name)
        lines += [f"{f.name} = {_toml_value(getattr(section, f.name))}" for f in dataclasses.fields(section)]
    return "\n".join(lines) + "\n"


def user_presets_dir() -> Path:
    return user_data_dir() / "presets"


def save_preset(preset: Preset, path: str | Path, overwrite: bool = False) -> Path:
    """Write atomically. Refuses to replace an existing file unless `overwrite` (nothing saved is lost by
    accident)."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise PresetError(str(path), None, "a preset with this name already exists; choose another name or "
                                           "save with overwrite")
    atomic_write_text(path, preset_to_toml(preset))
    return path


def list_presets() -> list[Path]:
    """Shipped presets, then the user's own."""
    found = sorted(PRESETS_DIR.glob("*.toml"))
    return found + sorted(user_presets_dir().glob("*.toml"))


# -- validation ---------------------------------------------------------------------------------------
_AT_LEAST = {
    ("env", "frame_skip"): 1, ("env", "max_episode_steps"): 1, ("env", "warp_size"): 8, ("env", "frame_stack"): 1,
    ("ppo", "n_envs"): 1, ("ppo", "n_steps"): 1, ("ppo", "n_minibatches"): 1, ("ppo", "n_epochs"): 1,
    ("ppo", "total_steps"): 1, ("rl2", "episodes_per_trial"): 1, ("rl2", "hidden_size"): 1,
    ("rl2", "bptt_steps"): 1, ("rl2", "eval_trials"): 0, ("transfer", "budget_steps"): 0,
    ("transfer", "zero_shot_episodes"): 0,
    ("transfer", "n_envs"): 1, ("transfer", "parallel_jobs"): 0, ("run", "checkpoint_every"): 1,
    ("run", "keep_checkpoints"): 1,
}
_UNIT_INTERVAL = {("env", "sticky_prob"), ("ppo", "gamma"), ("ppo", "gae_lambda")}
_POSITIVE = {("ppo", "learning_rate"), ("ppo", "clip_range")}
_NON_NEGATIVE = {("ppo", "ent_coef"), ("ppo", "vf_coef"), ("ppo", "max_grad_norm")}


def _setting_problems(preset: Preset) -> list[tuple[str, str, str]]:
    found = []
    for (section, key), low in _AT_LEAST.items():
        value = getattr(getattr(preset, section), key)
        if value < low:
            found.append((section, key, f"{section}.{key} = {value} must be at least {low}"))
    for section, key in sorted(_UNIT_INTERVAL | _POSITIVE | _NON_NEGATIVE):
        value = getattr(getattr(preset, section), key)
        if (section, key) in _UNIT_INTERVAL:
            bad, want = not 0 <= value <= 1, "between 0 and 1"
        elif (section, key) in _POSITIVE:
            bad, want = not (value > 0 and math.isfinite(value)), "a positive number"
        else:
            bad, want = not (value >= 0 and math.isfinite(value)), "zero or more"
        if bad:
            found.append((section, key, f"{section}.{key} = {value} must be {want}"))
    if not preset.transfer.seeds:
        found.append(("transfer", "seeds", "transfer.seeds is empty; give at least one seed, e.g. [0]"))
    if preset.ppo.n_envs * preset.ppo.n_steps < preset.ppo.n_minibatches:
        found.append(("ppo", "n_minibatches", "ppo.n_minibatches is larger than the rollout (n_envs * n_steps)"))
    return found


def validate_preset(preset: Preset, catalog: "Catalog", file: str = "<preset>",
                    lines: _Lines | None = None) -> list[Problem]:
    """Problems a preset has against this installation: settings out of range, empty train list, levels in both
    lists, unknown games or states, missing ROMs, missing scenarios, levels whose action spaces differ."""
    from workbench.engine.actions import resolve_action_set

    where = lines or _Lines("")
    problems = [Problem("error", file, where.of(s, k), message) for s, k, message in _setting_problems(preset)]
    levels = preset.levels
    if not levels.train:
        problems.append(Problem("error", file, where.of("levels", "train") or where.of("levels"),
                                "levels.train is empty; list at least one training level as \"GAME:STATE\""))
    for level in levels.overlap():
        problems.append(Problem("warning", file, where.of_string(str(level), "levels", "test"),
                                f"{level} is both a train and a test level; its test score will not measure transfer"))

    def level_line(level: Level) -> int | None:
        for list_name in LIST_NAMES:
            if level in levels.list(list_name):
                return where.of_string(str(level), "levels", list_name)
        return None

    known: dict[str, list[Level]] = {}
    for level in levels.train + [lv for lv in levels.test if lv not in levels.train]:
        entry = catalog.find(level.game)
        if entry is None:
            hint = catalog.suggest_games(level.game)
            problems.append(Problem("error", file, level_line(level), f"unknown game {level.game!r} in {level}" + (
                f"; did you mean {' or '.join(repr(g) for g in hint)}?" if hint else
                "; `workbench catalog --search TEXT` lists the games stable-retro knows")))
            continue
        known.setdefault(level.game, []).append(level)
        if level.state not in entry.states:
            hint = catalog.suggest_states(level.game, level.state)
            have = f"did you mean {' or '.join(repr(s) for s in hint)}?" if hint else (
                f"{level.game} has {', '.join(entry.states)}" if entry.states else f"{level.game} has no start states")
            problems.append(Problem("error", file, level_line(level),
                                    f"unknown start state {level.state!r} of {level.game}; {have}"))

    atari = None
    for game, game_levels in known.items():
        entry = catalog.find(game)
        assert entry is not None
        if entry.rom_status == "ok":
            continue
        if atari is None:
            from workbench.catalog.roms import ale_importable_games

            atari = ale_importable_games()
        hint = ATARI_HINT if game in atari else IMPORT_HINT
        if entry.needs_patch:
            hint = "its ROM is another game's ROM patched with the integration's rom.delta (VCDIFF); " + hint
        count = f"{len(game_levels)} level{'s' if len(game_levels) != 1 else ''}"
        if entry.rom_status == "missing":
            message = f"ROM missing: {game} is not installed ({count} need it); {hint}"
        else:
            message = (f"ROM of {game} at {entry.rom_path} is {entry.rom_status} (wrong SHA-1 or unreadable); "
                       f"delete that file, then {hint}")
        problems.append(Problem("error", file, level_line(game_levels[0]), message))

    scenario = preset.env.scenario
    if not (scenario.endswith(".json") or "/" in scenario):  # a path is the user's own scenario file
        for game, game_levels in known.items():
            entry = catalog.find(game)
            if entry and scenario not in entry.scenarios:
                problems.append(Problem("error", file, where.of("env", "scenario") or level_line(game_levels[0]),
                                        f"{game} has no scenario {scenario!r} (it has {', '.join(entry.scenarios) or 'none'}); "
                                        "set env.scenario to one of them"))

    # one policy acts in every level: all must resolve to the same action labels (the engine's own rule)
    spaces: dict[tuple[str, ...], tuple[str, int, list[str]]] = {}
    action_line = where.of("env", "action_set") or where.of("levels")
    unusable: dict[str, list[str]] = {}
    for game in known:
        try:
            action_set = resolve_action_set(game, preset.env)
        except ValueError as exc:
            unusable.setdefault(str(exc), []).append(game)
            continue
        spaces.setdefault(action_set.labels, (action_set.name, action_set.n, []))[2].append(game)
    for reason, games in unusable.items():
        problems.append(Problem("error", file, action_line, f"{_games_text(games)}: {reason}"))
    if len(spaces) > 1:
        groups = "; ".join(f"{_games_text(games)} get{'s' if len(games) == 1 else ''} '{name}' ({n} actions)"
                           for name, n, games in spaces.values())
        problems.append(Problem(
            "error", file, action_line,
            f"levels need different action spaces with env.action_set = {preset.env.action_set!r}: {groups}. "
            "One policy needs one action space: use games of one system, or an action set they all share "
            "('atari18' for Atari 2600 sets, 'sonic' for Genesis sets)"))
    return problems


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
