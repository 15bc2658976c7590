"""Presets: a level set plus every run setting, stored as one TOML file.

    name = "airstriker"
    description = "..."
    [levels]
    train = ["Airstriker-Genesis-v0:Level1"]
    test = []
    [env]  [ppo]  [rl2]  [transfer]  [run]     (fields of workbench.core.settings.SECTIONS)

`load_preset` reads a file strictly (`PresetError`: `file:line: reason`); `parse_preset` leniently, as
`Problem`s (`catalog.level_checks.check_preset_file` adds the ones that need the catalog). `preset_to_toml`
writes a preset so that reading it back gives an equal preset; a preset read from a file keeps that file's text
(`source_text`), and writing it edits that text, so the user's comments and layout survive a save.
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
from typing import Any, Literal

import tomlkit
from tomlkit import items as toml_items

from workbench.core.levels import LIST_NAMES, Level, LevelSet
from workbench.core.settings import SECTIONS, EnvConfig, PPOConfig, RL2Config, RunConfig, TransferConfig
from workbench.core.paths import PRESETS_DIR, atomic_write_text, user_data_dir

Severity = Literal["error", "warning"]
TOP_KEYS = ("name", "description")
TABLES = ("levels", *SECTIONS)


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
    source_text: str = field(default="", compare=False, repr=False)
    """The text it was read from ("" when built in code): saving writes into it, keeping the comments."""

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
    preset = Preset(name=name, description=description, levels=levels, source_text=text,
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
# tomlkit, not a hand-written emitter: it escapes strings and spells floats (1e-05, inf, nan) the way TOML
# readers expect, and it edits a parsed document in place, so a user's comments and layout survive a save.
def _checked(value: Any) -> Any:
    texts = value if isinstance(value, (list, tuple)) else [value]
    for text in texts:
        if isinstance(text, str) and any(0xD800 <= ord(ch) <= 0xDFFF for ch in text):
            raise ValueError(f"{text!r} holds a lone surrogate, which TOML cannot store")
    return list(value) if isinstance(value, tuple) else value


def _level_array(levels: list[str]) -> toml_items.Array:
    array = tomlkit.array()
    array.extend(_checked(levels))
    return array.multiline(bool(levels))


def _fresh_document(preset: Preset) -> tomlkit.TOMLDocument:
    doc = tomlkit.document()
    doc.add("name", _checked(preset.name))
    doc.add("description", _checked(preset.description))
    doc.add(tomlkit.nl())
    levels = tomlkit.table()
    for list_name in LIST_NAMES:
        levels.add(list_name, _level_array([str(level) for level in preset.levels.list(list_name)]))
    doc.add("levels", levels)
    for name in SECTIONS:
        table = tomlkit.table()
        section = getattr(preset, name)
        for f in dataclasses.fields(section):
            table.add(f.name, _checked(getattr(section, f.name)))
        doc.add(name, table)
    return doc


def _same(raw: Any, value: Any, hint: Any) -> bool:
    """Would the value already in the file read back as `value`? (Then it is left as the user wrote it.)"""
    converted, want = _convert(raw, hint)
    if want is not None:
        return False
    if isinstance(value, float) and isinstance(converted, float) and math.isnan(value):
        return math.isnan(converted)
    return converted == value


def _table(doc: tomlkit.TOMLDocument, name: str) -> Any:
    """The document's table `name`, made (in place of a value that is not a table) when it has none."""
    if not isinstance(doc.get(name), (toml_items.Table, toml_items.InlineTable)):
        if name in doc:
            del doc[name]
        doc[name] = tomlkit.table()
    return doc[name]


def _set_item(table: Any, key: str, value: Any) -> None:
    if key in table:
        table[key] = value  # tomlkit keeps the line's indent and trailing comment
        return
    if isinstance(table, toml_items.Table):
        keys = [k for k, _ in table.value.body if k is not None]
        if keys:  # after the last key, not after the comments that lead into the next table
            table.value._insert_after(keys[-1], key, value)
            return
    table[key] = value


def _put(table: Any, key: str, value: Any, hint: Any) -> None:
    """Set `table[key]` unless the file's value already reads back as `value` (then it stays as written)."""
    if key in table:
        raw = table[key]
        if _same(raw.unwrap() if hasattr(raw, "unwrap") else raw, value, hint):
            return
    _set_item(table, key, _checked(value))


def _put_levels(table: Any, key: str, levels: list[str]) -> None:
    """Keep the array's items (and their comments) that stay; drop the removed ones; insert the new ones."""
    array = table.get(key) if key in table else None
    if not isinstance(array, toml_items.Array):
        _set_item(table, key, _level_array(levels))
        return
    old = []
    for item in array:
        try:
            old.append(str(Level.parse(item)) if isinstance(item, str) else None)
        except ValueError:
            old.append(None)
    if old == levels:
        return
    wanted, kept = set(levels), set()
    keep = []
    for index, level in enumerate(old):
        if level in wanted and level not in kept:
            kept.add(level)
            keep.append(index)
    if [old[i] for i in keep] != [lv for lv in levels if lv in kept]:  # reordered: write the list anew
        _set_item(table, key, _level_array(levels))
        return
    for index in reversed(range(len(old))):
        if index not in keep:
            del array[index]
    for index, level in enumerate(levels):
        if level not in kept:
            array.insert(index, _checked(level))
    if levels and not old:
        array.multiline(True)


def _update_document(doc: tomlkit.TOMLDocument, preset: Preset) -> None:
    """Write `preset` into the parsed file: changed values replaced, unknown keys dropped, missing keys added."""
    for key in [k for k in doc if k not in TOP_KEYS + TABLES]:
        del doc[key]
    for key in TOP_KEYS:
        _put(doc, key, getattr(preset, key), str)
    levels = _table(doc, "levels")
    for key in [k for k in levels if k not in LIST_NAMES]:
        del levels[key]
    for list_name in LIST_NAMES:
        _put_levels(levels, list_name, [str(level) for level in preset.levels.list(list_name)])
    for name, cls in SECTIONS.items():
        table, section = _table(doc, name), getattr(preset, name)
        hints = typing.get_type_hints(cls)
        for key in [k for k in table if k not in hints]:
            del table[key]
        for f in dataclasses.fields(cls):
            _put(table, f.name, getattr(section, f.name), hints[f.name])


def _edited_source(preset: Preset) -> str | None:
    """`preset` written into its source text, or None when that text cannot carry it faithfully (dotted keys,
    odd layouts tomlkit cannot edit): the caller then writes a fresh file."""
    try:
        doc = tomlkit.parse(preset.source_text)
        _update_document(doc, preset)
        text = tomlkit.dumps(doc)
        again, problems = parse_preset(text)
    except Exception:  # tomlkit's edit of a layout it cannot handle: fall back to a fresh file
        return None
    return text if not problems and again == preset else None


def preset_to_toml(preset: Preset, header: str = "") -> str:
    """The preset as TOML text; `parse_preset(preset_to_toml(p))` gives back an equal preset. A preset read
    from a file is written into that file's text, keeping its comments and layout."""
    comments = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines())
    text = _edited_source(preset) if preset.source_text else None
    if text is None:
        return comments + tomlkit.dumps(_fresh_document(preset))
    return text if text.startswith(comments) else comments + text


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
