"""Custom (contest) levels built from a base ROM and a rom.delta, on synthetic files made here.

Fixtures: a random "base ROM" (seeded, so every run makes the same bytes), a target made by editing it, and the
VCDIFF delta between them written by xdelta3 itself through the `pyxdelta` package (a test dependency:
`pyxdelta.run(base, target, delta)` is `xdelta3 -e -s base target delta`, with its Adler-32 window checksums, as
the contest's files have). No real ROM is read or written.
"""
from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import pytest

from workbench.catalog.catalog import Catalog
from workbench.catalog.contest_deltas import base_game_of, build, patched_games
from workbench.catalog.roms import import_roms
from workbench.catalog.systems import retro_data_root
from workbench.catalog.vcdiff import DeltaError, apply_delta, delta_layout

BASE = "SynthSonic-Genesis-v0"
CUSTOM = "SynthSonicCustomKevin-Genesis"
SIZE = 128 * 1024


def _sha(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def _roms(seed: int = 7) -> tuple[bytes, bytes, bytes]:
    """(base A, base B, target made from A): B is the same game in another 'revision' (a few bytes differ)."""
    rng = random.Random(seed)
    base_a = bytearray(rng.randbytes(SIZE))
    base_b = bytearray(base_a)
    for pos in rng.sample(range(SIZE), 64):
        base_b[pos] ^= 0xFF
    target = bytearray(base_a)
    for _ in range(40):  # the level edits: overwritten runs, and a block moved
        pos = rng.randrange(SIZE - 600)
        target[pos:pos + 300] = rng.randbytes(300)
    target[1000:5000] = base_a[60000:64000]
    return bytes(base_a), bytes(base_b), bytes(target)


def encode(base: bytes, target: bytes, folder: Path) -> bytes:
    """An xdelta3 delta from `base` to `target`."""
    import pyxdelta

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "base.bin").write_bytes(base)
    (folder / "target.bin").write_bytes(target)
    assert pyxdelta.run(str(folder / "base.bin"), str(folder / "target.bin"), str(folder / "out.delta"))
    return (folder / "out.delta").read_bytes()


@pytest.fixture
def synth(retro_root, custom_dir, tmp_path):
    """A data root with a base game listing two ROMs (A and B) and a custom game whose delta was made from A."""
    base_a, base_b, target = _roms()
    base_dir = retro_root / "stable" / BASE
    base_dir.mkdir()
    (base_dir / "rom.sha").write_text(f"{_sha(base_b)}\n{_sha(base_a)}\n")
    (base_dir / "Level1.state").write_bytes(b"state")
    custom = retro_root / "contrib" / CUSTOM
    custom.mkdir()
    (custom / "rom.delta").write_bytes(encode(base_a, target, tmp_path / "encode"))
    (custom / "rom.sha").write_text(_sha(target) + "\n")
    (custom / "metadata.json").write_text(json.dumps({"default_state": "ZoneA.Custom"}))
    for state in ("ZoneA.Custom", "ZoneB.Custom"):
        (custom / f"{state}.state").write_bytes(b"state")
    files = tmp_path / "my roms"
    files.mkdir()
    (files / "a-good.md").write_bytes(base_a)
    (files / "b-other-revision.md").write_bytes(base_b)
    return {"root": retro_root, "custom_dirs": [custom_dir], "a": files / "a-good.md",
            "b": files / "b-other-revision.md", "target": target, "folder": custom, "dest": custom / "rom.md"}


def _import(synth, *paths):
    return import_roms(list(paths), data_root=synth["root"], custom_dirs=synth["custom_dirs"])


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") or p.name.startswith("rom.md"))


def test_matching_delta_yields_the_target_sha1(synth):
    results = _import(synth, synth["a"])
    assert [(r.status, r.game) for r in results] == [("imported", BASE), ("patched", CUSTOM)]
    patched = results[1]
    assert patched.path == str(synth["a"]) and patched.destination == str(synth["dest"])
    assert str(synth["folder"] / "rom.delta") in patched.reason
    assert _sha(synth["dest"].read_bytes()) == _sha(synth["target"])
    catalog = Catalog(synth["root"], synth["custom_dirs"])
    assert catalog.is_playable(CUSTOM) and catalog.find(CUSTOM).patch_base == BASE
    again = _import(synth, synth["a"])  # importing again builds nothing new and replaces nothing
    assert [(r.status, r.game) for r in again] == [("present", BASE), ("present", CUSTOM)]


def test_wrong_base_is_rejected_naming_both_files_and_nothing_is_written(synth):
    results = _import(synth, synth["b"])
    assert [(r.status, r.game) for r in results] == [("imported", BASE), ("rejected", CUSTOM)]
    rejected = results[1]
    assert str(synth["b"]) in rejected.reason and str(synth["folder"] / "rom.delta") in rejected.reason
    assert "nothing written" in rejected.reason
    assert not synth["dest"].exists() and _leftovers(synth["folder"]) == []
    assert not Catalog(synth["root"], synth["custom_dirs"]).is_playable(CUSTOM)


def test_two_possible_bases_the_one_that_matches_wins(synth):
    # rom.sha lists B first, so B is tried first and fails; A (the one the delta was made from) wins
    results = _import(synth, synth["b"].parent)
    assert [(r.status, r.game) for r in results] == [("imported", BASE), ("conflict", BASE), ("patched", CUSTOM)]
    assert results[-1].path == str(synth["a"])
    assert _sha(synth["dest"].read_bytes()) == _sha(synth["target"])

    synth["dest"].unlink()
    game = patched_games(synth["root"], synth["custom_dirs"])[CUSTOM]
    assert set(game.base_shas) == {_sha(synth["a"].read_bytes()), _sha(synth["b"].read_bytes())}
    result = build(game, [("B", synth["b"].read_bytes()), ("A", synth["a"].read_bytes())])
    assert (result.status, result.source) == ("patched", "A")


def test_the_installed_base_is_tried_after_the_files_given(synth):
    installed = synth["root"] / "stable" / BASE / "rom.md"
    installed.write_bytes(synth["a"].read_bytes())  # imported before, the custom level never built
    results = _import(synth, synth["b"])
    assert [(r.status, r.game) for r in results] == [("conflict", BASE), ("patched", CUSTOM)]
    assert results[1].path == str(installed)


def test_a_different_built_file_is_kept(synth):
    synth["dest"].write_bytes(b"mine" * 100)
    results = _import(synth, synth["a"])
    assert results[1].status == "conflict" and str(synth["dest"]) in results[1].reason
    assert synth["dest"].read_bytes() == b"mine" * 100


def _corruptions(delta: bytes) -> dict[str, bytes]:
    layout = delta_layout(delta)
    flipped = bytearray(delta)
    flipped[len(delta) * 3 // 4] ^= 0x5A  # inside the last window's data
    return {
        "truncated": delta[: len(delta) // 2],
        "cut header": delta[:3],
        "empty": b"",
        "not vcdiff": b"PATCH" + delta[5:],
        "no windows": delta[: len(delta) - len(layout.body) + 5] if len(layout.body) < len(delta) else delta[:5],
        "flipped byte": bytes(flipped),
        "garbage window": layout.body[:5] + random.Random(3).randbytes(200),
        "garbage sizes": layout.body[:40] + b"\xff" * 60 + layout.body[100:],
    }


@pytest.mark.parametrize("damage", ["truncated", "cut header", "empty", "not vcdiff", "no windows", "flipped byte",
                                    "garbage window", "garbage sizes"])
def test_truncated_or_corrupt_delta_gives_a_clean_error(synth, damage):
    delta_file = synth["folder"] / "rom.delta"
    broken = _corruptions(delta_file.read_bytes())[damage]
    with pytest.raises(DeltaError) as caught:
        apply_delta(synth["a"].read_bytes(), broken)
    assert str(caught.value) and "Traceback" not in str(caught.value)
    delta_file.write_bytes(broken)
    results = _import(synth, synth["a"])
    assert [(r.status, r.game) for r in results] == [("imported", BASE), ("rejected", CUSTOM)]
    assert str(delta_file) in results[1].reason and str(synth["a"]) in results[1].reason
    assert not synth["dest"].exists() and _leftovers(synth["folder"]) == []


def test_random_damage_never_escapes_as_another_error(tmp_path):
    base_a, _, target = _roms()
    body = delta_layout(encode(base_a, target, tmp_path)).body
    rng = random.Random(11)
    for _ in range(40):
        damaged = bytearray(body)
        start = rng.randrange(5, len(body) - 8)
        damaged[start:start + rng.randrange(1, 8)] = rng.randbytes(rng.randrange(1, 8))
        with pytest.raises(DeltaError):
            apply_delta(base_a, bytes(damaged))


def test_delta_layout_reads_sizes_and_drops_the_application_header(tmp_path):
    base_a, _, target = _roms()
    delta = encode(base_a, target, tmp_path)
    layout = delta_layout(delta)
    assert delta[4] & 0x04 and not layout.body[4] & 0x04  # xdelta3 names the files in an app header
    assert layout.target_bytes == len(target) and 0 < layout.source_bytes <= len(base_a)
    assert apply_delta(base_a, delta) == target
    with pytest.raises(DeltaError, match="the base is 100 bytes") as caught:
        apply_delta(base_a[:100], delta)
    assert caught.value.wrong_base


def test_windows_with_and_without_source_as_in_the_contest_files(tmp_path):
    # the contest's deltas are many windows, some copying from the base (flags 0x05), some not (0x04); xdelta3
    # windows are independent, so two of its deltas laid end to end are one delta of the two targets joined
    base_a, _, target = _roms()
    literal = random.Random(8).randbytes(3000) * 4
    first = delta_layout(encode(base_a, target, tmp_path / "1")).body
    second = delta_layout(encode(b"", literal, tmp_path / "2")).body
    assert (first[5], second[5]) == (0x05, 0x04)
    joined = first + second[5:]
    assert delta_layout(joined).windows == 2
    assert apply_delta(base_a, joined) == target + literal


def test_base_game_is_named_by_the_custom_games_id():
    games = {"SonicTheHedgehog-Genesis-v0", "SonicTheHedgehog2-Genesis-v0", "SonicAndKnuckles3-Genesis-v0",
             "Plain-Genesis"}
    assert base_game_of("SonicTheHedgehogCustomKevin-Genesis", games) == "SonicTheHedgehog-Genesis-v0"
    assert base_game_of("SonicTheHedgehog2CustomLeaderboard-Genesis", games) == "SonicTheHedgehog2-Genesis-v0"
    assert base_game_of("SonicAndKnuckles3CustomKevin-Genesis", games) == "SonicAndKnuckles3-Genesis-v0"
    assert base_game_of("PlainCustomX-Genesis", games) == "Plain-Genesis"
    assert base_game_of("SonicTheHedgehog-Genesis-v0", games) is None
    assert base_game_of("NobodyCustomKevin-Genesis", games) is None


CONTRIB_BASES = {  # stable-retro 1.0.1's contrib deltas: base game, bytes of it the delta reads
    "SonicTheHedgehogCustomKevin-Genesis": ("SonicTheHedgehog-Genesis-v0", 0x80000),
    "SonicTheHedgehogCustomCathy-Genesis": ("SonicTheHedgehog-Genesis-v0", 0x80000),
    "SonicTheHedgehogCustomLeaderboard-Genesis": ("SonicTheHedgehog-Genesis-v0", 0x80000),
    "SonicTheHedgehog2CustomKevin-Genesis": ("SonicTheHedgehog2-Genesis-v0", 0x100000),
    "SonicTheHedgehog2CustomLeaderboard-Genesis": ("SonicTheHedgehog2-Genesis-v0", 0x100000),
    "SonicAndKnuckles3CustomKevin-Genesis": ("SonicAndKnuckles3-Genesis-v0", 0x400000),
}


def test_the_shipped_contest_deltas_are_found_and_refuse_a_random_base():
    games = patched_games(custom_dirs=[])
    assert {g: (p.base_game, delta_layout(p.delta.read_bytes()).source_bytes) for g, p in games.items()} == \
        CONTRIB_BASES
    assert len(games["SonicAndKnuckles3CustomKevin-Genesis"].base_shas) == 2  # two possible bases
    states = sum(len(Catalog(custom_dirs=[]).states(g)) for g in games)
    assert states == 16
    for game, (_, source_bytes) in CONTRIB_BASES.items():  # sound deltas: only the base is wrong
        with pytest.raises(DeltaError) as caught:
            apply_delta(random.Random(1).randbytes(source_bytes), games[game].delta.read_bytes())
        assert caught.value.wrong_base, game
        assert games[game].folder.parent == retro_data_root() / "contrib"
