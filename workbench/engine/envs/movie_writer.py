"""`MovieWriter`: records an episode's buttons and writes the same .bk2 stable-retro's own recorder writes.

stable-retro's `Movie` costs a Python call per button per emulator frame (`set_key`) and, at the end, deflates
the ~1 MB start state again for every episode. Here a frame costs one row copy into a preallocated numpy
buffer, and the episode's file is built at the end from:

- a per-game `Bk2Template`: the exact header, input-log header and frame-line layout, learned once per process
  by letting stable-retro's own recorder write a tiny movie (one frame per button) and reading it back, so the
  text matches stable-retro's for every system without hard-coding BizHawk's formats;
- the start state (`Core.bin`), deflated once per state and reused (zip entries are independently compressed).

The result is a plain zip with the entries stable-retro writes (`Input Log.txt`, `Header.txt`, `Core.bin`), so
`stable_retro.Movie(path)` reads it and replays it frame for frame. Nothing is lost: every frame's buttons are
kept, as in stable-retro's recorder.
"""
from __future__ import annotations

import os
import struct
import tempfile
import time
import zlib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workbench.core.paths import atomic_write_bytes

_INPUT_LOG, _HEADER, _STATE = "Input Log.txt", "Header.txt", "Core.bin"


@dataclass(frozen=True)
class Bk2Template:
    """What a .bk2 of one game looks like, as stable-retro writes it."""

    game: str
    n_keys: int          # buttons per player * players (one column per key of the action vector)
    header: bytes        # Header.txt
    log_head: bytes      # Input Log.txt up to the first frame line ("[Input]\n<key names>\n")
    log_tail: bytes      # Input Log.txt after the last frame line ("[/Input]")
    blank_line: bytes    # a frame line with no key pressed, newline included
    logged: np.ndarray   # the keys the log has a column for (stable-retro's log leaves some out, e.g. Atari's
                         # unused button slot and RESET; its own recorder drops those keys too)
    columns: np.ndarray  # where each logged key's character sits in a frame line
    on_chars: np.ndarray  # uint8: the character written when that key is pressed

    def input_log(self, keys: np.ndarray) -> bytes:
        """Input Log.txt for `keys` (frames, n_keys) bool, one frame line per row."""
        lines = np.tile(np.frombuffer(self.blank_line, np.uint8), (len(keys), 1))
        lines[:, self.columns] = np.where(keys[:, self.logged], self.on_chars, lines[:, self.columns])
        return self.log_head + lines.tobytes() + self.log_tail


_templates: dict[tuple[str, int, int], Bk2Template] = {}


def bk2_template(game: str, em, num_buttons: int, players: int = 1) -> Bk2Template:
    """The `Bk2Template` of `game` (cached per process), learned from stable-retro's own recorder driving `em`
    (the game's open emulator; nothing is stepped, the movie only reads the game's system from it)."""
    key = (game, num_buttons, players)
    if key not in _templates:
        _templates[key] = _learn_template(game, em, num_buttons, players)
    return _templates[key]


def _learn_template(game: str, em, num_buttons: int, players: int) -> Bk2Template:
    import stable_retro

    n_keys = num_buttons * players
    with tempfile.TemporaryDirectory(prefix="workbench-bk2-") as tmp:
        path = os.path.join(tmp, "template.bk2")
        movie = stable_retro.Movie(path, True, players)
        movie.configure(game, em)
        movie.step()  # the blank frame RetroEnv.reset records
        for k in range(n_keys):  # then one frame per key, that key alone pressed
            movie.set_key(k % num_buttons, True, k // num_buttons)
            movie.step()
            movie.set_key(k % num_buttons, False, k // num_buttons)
        movie.close()
        with zipfile.ZipFile(path) as z:
            header, log = z.read(_HEADER), z.read(_INPUT_LOG)
    lines = log.split(b"\n")
    head = b"\n".join(lines[:2]) + b"\n"
    frames = lines[2:3 + n_keys]
    tail = log[len(head) + sum(len(line) + 1 for line in frames):]
    blank = np.frombuffer(frames[0], np.uint8)
    logged, columns, on_chars = [], [], []
    for k, line in enumerate(frames[1:]):
        diff = np.flatnonzero(np.frombuffer(line, np.uint8) != blank)
        if len(line) != len(blank) or len(diff) > 1:
            raise RuntimeError(f"unexpected .bk2 input log from stable-retro for {game}: {log[:300]!r}")
        if len(diff):
            logged.append(k), columns.append(diff[0]), on_chars.append(line[diff[0]])
    template = Bk2Template(game, n_keys, header, head, tail, frames[0] + b"\n", np.array(logged, np.intp),
                           np.array(columns, np.intp), np.array(on_chars, np.uint8))
    check = np.vstack([np.zeros((1, n_keys), bool), np.eye(n_keys, dtype=bool)])
    if template.input_log(check) != log:  # the layout must reproduce stable-retro's text byte for byte
        raise RuntimeError(f"cannot reproduce stable-retro's .bk2 input log for {game}: {log[:300]!r}")
    return template


class _Deflated:
    """One zip entry's data, deflated (raw deflate, as zip's method 8 stores it)."""

    __slots__ = ("crc", "size", "data")

    def __init__(self, raw: bytes, level: int):
        compressor = zlib.compressobj(level, zlib.DEFLATED, -15)
        self.crc, self.size = zlib.crc32(raw), len(raw)
        self.data = compressor.compress(raw) + compressor.flush()


_states: dict[bytes, _Deflated] = {}
_MAX_STATES = 32


def _deflated_state(state: bytes) -> _Deflated:
    """The start state deflated once per process (a level's state is the same bytes object every episode,
    so the lookup is an identity check)."""
    entry = _states.get(state)
    if entry is None:
        if len(_states) >= _MAX_STATES:
            _states.pop(next(iter(_states)))
        entry = _states[state] = _Deflated(state, 6)
    return entry


def bk2_bytes(template: Bk2Template, keys: np.ndarray, state: bytes | None) -> bytes:
    """A whole .bk2 file: the input log of `keys` (frames, n_keys), the header, and the start state."""
    entries = [(_INPUT_LOG, _Deflated(template.input_log(keys), 6)), (_HEADER, _Deflated(template.header, 6))]
    if state is not None:
        entries.append((_STATE, _deflated_state(state)))
    return _zip(entries)


def _zip(entries: list[tuple[str, _Deflated]]) -> bytes:
    t = time.localtime()
    dos_time = (t.tm_hour << 11) | (t.tm_min << 5) | (t.tm_sec // 2)
    dos_date = ((t.tm_year - 1980) << 9) | (t.tm_mon << 5) | t.tm_mday
    body, directory = [], []
    offset = 0
    for name, entry in entries:
        encoded = name.encode("ascii")
        fields = (20, 0, 8, dos_time, dos_date, entry.crc, len(entry.data), entry.size, len(encoded))
        local = struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", *fields, 0) + encoded
        directory.append(struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, *fields, 0, 0, 0, 0, 0, offset)
                         + encoded)
        body += [local, entry.data]
        offset += len(local) + len(entry.data)
    central = b"".join(directory)
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(entries), len(entries), len(central), offset, 0)
    return b"".join(body) + central + end


class MovieWriter:
    """The buttons of one episode, kept in memory frame by frame; `write(path)` saves the .bk2.

    Starts with the blank frame stable-retro records at reset; `add(buttons)` appends one emulator frame's
    action vector (num_buttons * players, player-major, as `RetroEnv.step` takes it)."""

    def __init__(self, template: Bk2Template, state: bytes | None, capacity: int = 4096):
        self.template, self.state = template, state
        self.keys = np.zeros((max(capacity, 2), template.n_keys), bool)
        self.n = 1  # row 0: the reset frame, nothing pressed

    def add(self, buttons) -> None:
        if self.n == len(self.keys):
            self.keys = np.concatenate([self.keys, np.zeros_like(self.keys)])
        self.keys[self.n] = buttons
        self.n += 1

    @property
    def frames(self) -> int:
        """Emulator frames played so far (the reset frame not counted)."""
        return self.n - 1

    def to_bytes(self) -> bytes:
        return bk2_bytes(self.template, self.keys[:self.n], self.state)

    def write(self, path: Path | str) -> None:
        atomic_write_bytes(Path(path), self.to_bytes())
