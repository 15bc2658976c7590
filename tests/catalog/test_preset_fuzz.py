"""Fuzzing the preset reader: whatever the text, the answer is a PresetError or a list of Problems, and every
preset the writer can express reads back equal."""
from __future__ import annotations

import math
import typing

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.catalog.catalog import Catalog
from workbench.core.levels import Level, LevelSet
from workbench.catalog.level_checks import validate_preset
from workbench.core.presets import Preset, PresetError, Problem, _Lines, parse_preset, preset_to_toml
from workbench.core.settings import SECTIONS
from workbench.core.paths import PRESETS_DIR

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                        HealthCheck.too_slow])
SHIPPED = [p.read_text() for p in sorted(PRESETS_DIR.glob("*.toml"))]
TOMLISH = st.lists(st.sampled_from(list("[]{}=\"'\n\t .,:#-_+eE0123456789abclnrstuv") + [
    "levels", "train", "test", "env", "ppo", "true", "Airstriker-Genesis-v0:Level1", "frame_skip", '"""']),
    max_size=80).map("".join)


@pytest.fixture(scope="module")
def catalog():
    return Catalog()


def _read_cleanly(text: str, catalog: Catalog) -> None:
    try:
        preset, problems = parse_preset(text, "fuzz.toml")
    except PresetError as exc:
        assert str(exc).startswith("fuzz.toml") and exc.reason
        return
    problems = problems + validate_preset(preset, catalog, "fuzz.toml", _Lines(text))
    for problem in problems:
        assert isinstance(problem, Problem) and problem.severity in ("error", "warning") and problem.message
        assert problem.line is None or 1 <= problem.line <= max(1, len(text.splitlines()) + 1)


@FUZZ
@given(text=st.one_of(st.text(max_size=300), TOMLISH))
def test_random_text(text, catalog):
    _read_cleanly(text, catalog)


@st.composite
def mutated_preset(draw):
    text = draw(st.sampled_from(SHIPPED))
    for _ in range(draw(st.integers(1, 4))):
        lines = text.splitlines(keepends=True)
        op = draw(st.sampled_from(["delete", "insert", "replace_line", "swap", "cut"]))
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        if op == "delete":
            del lines[i]
        elif op == "insert":
            lines.insert(i, draw(st.one_of(TOMLISH, st.sampled_from(
                ["[env]\n", "[levels]\n", "test = 3\n", 'train = ["A:B", 1]\n', "seeds = [true]\n",
                 "frame_skip = -1\n", "action_set = \"sonic\"\n", "name = 5\n", "[ppo.extra]\n", "[[run]]\n"]))))
        elif op == "replace_line":
            key = lines[i].split("=")[0]
            lines[i] = key + "= " + draw(st.sampled_from(["1", "-5", "0.5", "1e400", "nan", "inf", "true", '"x"',
                                                           "[]", "[1, 2]", "{}", '"Pong-Atari2600-v0:Start"'])) + "\n"
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        else:
            text = "".join(lines)
            cut = draw(st.integers(0, len(text)))
            lines = [text[:cut]]
        text = "".join(lines)
    return text


@FUZZ
@given(text=mutated_preset())
def test_mutated_shipped_presets(text, catalog):
    _read_cleanly(text, catalog)


def _value(hint):
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        return st.sampled_from(typing.get_args(hint))
    if origin is list:
        return st.lists(_value(typing.get_args(hint)[0]), max_size=4)
    return {bool: st.booleans(), int: st.integers(), str: st.text(max_size=20),
            float: st.floats(allow_nan=False)}[hint]


def _section(cls):
    return st.builds(cls, **{name: _value(hint) for name, hint in typing.get_type_hints(cls).items()})


_part = st.text(min_size=1, max_size=12).map(str.strip).filter(bool)
levels = st.builds(Level, _part.filter(lambda s: ":" not in s), _part)
presets = st.builds(Preset, name=st.text(max_size=20), description=st.text(max_size=60),
                    levels=st.builds(LevelSet, st.lists(levels, max_size=4), st.lists(levels, max_size=4)),
                    **{name: _section(cls) for name, cls in SECTIONS.items()})


@pytest.mark.slow
@FUZZ
@given(preset=presets)
def test_write_then_read_is_lossless(preset):
    again, problems = parse_preset(preset_to_toml(preset))
    assert problems == []
    assert again == preset
    for name in SECTIONS:  # float fields come back as floats, not ints
        for key, value in vars(getattr(again, name)).items():
            original = getattr(getattr(preset, name), key)
            assert type(value) is type(original) or (isinstance(original, int) and isinstance(value, float)
                                                      and math.isclose(value, original))


@pytest.mark.slow
@FUZZ
@given(preset=presets, source=st.one_of(st.sampled_from(SHIPPED), mutated_preset()))
def test_writing_into_a_source_text_is_lossless(preset, source):
    """A preset that carries the text it was read from is written into that text (or afresh when the text
    cannot carry it): either way it reads back equal."""
    try:
        parse_preset(source)
    except PresetError:
        return
    preset.source_text = source
    again, problems = parse_preset(preset_to_toml(preset))
    assert problems == [] and again == preset
