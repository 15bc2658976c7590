"""Random access to the frames of a recorded episode (.bk2 + optional sidecar).

A bk2 holds the start state and the buttons of every frame, so frame k is made by replaying the buttons on an
emulator. `EpisodeReader` keeps a compressed emulator snapshot every `snapshot_every` frames as it goes: a seek
loads the nearest snapshot at or before k and steps forward at most `snapshot_every` frames.

Frame 0 is the screen after reset (the first observation); frame k the screen after k emulator frames, so an
agent step with frame skip 4 ends on frames 4, 8, ... (the sidecar stores each step's end frame).
stable-retro allows one emulator per process: a reader owns it; close the reader before making an env.
"""
from __future__ import annotations

import gc
import zlib
from pathlib import Path
from typing import Callable

import numpy as np

from workbench.replay.errors import ReplayError
from workbench.replay.sidecar import Sidecar, read_sidecar, sidecar_path

DEFAULT_SNAPSHOT_EVERY = 60  # ~17 KB each compressed: 300 snapshots (5 MB) for a 4500-step episode


class EpisodeReader:
    """Open a .bk2 (and its sidecar when there is one) and read any frame.

    `sidecar`: "auto" reads `<movie>.npz` when it exists, None ignores it, a path reads that file.
    """

    def __init__(self, movie_path: Path | str, sidecar: Path | str | None = "auto",
                 snapshot_every: int = DEFAULT_SNAPSHOT_EVERY):
        import stable_retro as retro
        from workbench.catalog.integrations import register_custom_integrations

        self.movie_path = Path(movie_path)
        self.snapshot_every = max(1, int(snapshot_every))
        if not self.movie_path.is_file():
            raise ReplayError(f"{self.movie_path}: no such episode movie; check the path "
                              "(episodes live in the run folder under <level>/wNN-eNNNNNN.bk2)")
        self.sidecar: Sidecar | None = None
        if sidecar == "auto":
            if sidecar_path(self.movie_path).is_file():
                self.sidecar = read_sidecar(sidecar_path(self.movie_path))
        elif sidecar is not None:
            self.sidecar = read_sidecar(sidecar)

        movie, self.game, self.players, self._start_state = _open_movie(self.movie_path)
        register_custom_integrations()
        try:
            rom = retro.data.get_romfile_path(self.game, retro.data.Integrations.ALL)
        except FileNotFoundError:
            raise ReplayError(f"{self.movie_path}: recorded on {self.game}, whose ROM is not imported here; "
                              "import the ROM you own (workbench roms import PATH) and open the episode again"
                              ) from None
        self._n_buttons = len(retro.get_system_info(retro.get_romfile_system(rom))["buttons"])
        self._keys = _read_keys(movie, self.players, self._n_buttons)
        del movie
        self.n_frames = len(self._keys) + 1
        """Frames 0 .. n_frames - 1 (frame 0 = the reset screen)."""
        if self.sidecar is not None and len(self.sidecar.step_end_frames):
            # the last step may have ended early (the game ended mid frame-skip)
            np.minimum(self.sidecar.step_end_frames, self.n_frames - 1, out=self.sidecar.step_end_frames)

        gc.collect()  # a closed reader's emulator must be gone before the next one starts
        try:
            self._em = retro.RetroEmulator(rom)
        except RuntimeError as exc:
            raise ReplayError(f"{self.movie_path}: cannot start the {self.game} emulator ({exc}); "
                              "only one emulator can run per process, close the other reader or env first"
                              ) from None
        self._crop = _crop_info(retro, self.game, self._em)
        self._zero = np.zeros(self._n_buttons, np.uint8)
        self._snapshots: dict[int, bytes] = {}
        self._frame = -1
        self._reset()

    # -- metadata ---------------------------------------------------------------------------------
    @property
    def level(self) -> str:
        """`Game-v0:State` from the sidecar, else the recording folder's name, else the game."""
        if self.sidecar is not None:
            return self.sidecar.meta.level
        parent = self.movie_path.parent.name  # make_env's folder: Game-v0_State
        for sep in (":", "_"):
            if parent.startswith(self.game + sep) and len(parent) > len(self.game) + 1:
                return f"{self.game}:{parent[len(self.game) + 1:]}"
        return self.game

    @property
    def position(self) -> int:
        """The frame the emulator is on."""
        return self._frame

    def step_at_frame(self, frame: int) -> int | None:
        """The agent step on screen at `frame` (None without a sidecar)."""
        return None if self.sidecar is None else self.sidecar.step_at_frame(frame)

    def keys(self, frame: int) -> np.ndarray:
        """The buttons pressed to go from `frame` to `frame + 1`."""
        return self._keys[frame].copy()

    # -- frames -----------------------------------------------------------------------------------
    def frame(self, k: int) -> np.ndarray:
        """The screen (H, W, 3) uint8 at frame k."""
        self.seek(k)
        return self.screen()

    def screen(self) -> np.ndarray:
        img = self._em.get_screen()
        x, y, w, h = self._crop
        if w or h:
            img = img[y: y + h if h else None, x: x + w if w else None]
        return np.ascontiguousarray(img)

    def seek(self, k: int) -> None:
        """Put the emulator on frame k: from the current frame when it is close behind, else from the
        nearest snapshot at or before k."""
        if not 0 <= k < self.n_frames:
            raise IndexError(f"frame {k} is outside 0..{self.n_frames - 1} of {self.movie_path}")
        if k == self._frame:
            return
        if k == 0:
            self._reset()
            return
        # a loaded state shows its screen only after the next emulated frame: start strictly before k
        base = ((k - 1) // self.snapshot_every) * self.snapshot_every
        while base > 0 and base not in self._snapshots:
            base -= self.snapshot_every
        if not (base <= self._frame < k):
            self._em.set_state(zlib.decompress(self._snapshots[base]))
            self._frame = base
        self._advance(k)

    def next_frame(self) -> np.ndarray | None:
        """Step one frame forward and return it (None at the end)."""
        if self._frame + 1 >= self.n_frames:
            return None
        self._advance(self._frame + 1)
        return self.screen()

    def build_snapshots(self, progress: Callable[[int, int], None] | None = None) -> None:
        """Replay the whole movie once so every later seek is short (progress(frame, n_frames))."""
        while self.build_next_snapshot():
            if progress is not None:
                progress(max(self._snapshots), self.n_frames)

    def build_next_snapshot(self) -> bool:
        """Build the first missing snapshot (at most `snapshot_every` frames of work); False when all exist."""
        for target in range(0, self.n_frames, self.snapshot_every):
            if target not in self._snapshots:
                self.seek(target)
                return True
        return False

    def state(self) -> bytes:
        """The emulator state at the current frame (what a start state is made of)."""
        return bytes(self._em.get_state())

    def save_start_state(self, frame: int, name: str, folder: Path | None = None) -> Path:
        """Save the emulator state at `frame` as the new start state `<game>:<name>` (in the user's
        integrations folder unless `folder` is given)."""
        from workbench.replay.start_states import save_start_state

        self.seek(frame)
        return save_start_state(self.game, name, self.state(), folder)

    def close(self) -> None:
        if getattr(self, "_em", None) is not None:
            del self._em
            self._em = None
            gc.collect()

    def __enter__(self) -> "EpisodeReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- internals --------------------------------------------------------------------------------
    def _reset(self) -> None:
        # the same as RetroEnv.reset: start state, one frame with no buttons
        self._em.set_state(self._start_state)
        for p in range(self.players):
            self._em.set_button_mask(self._zero, p)
        self._em.step()
        self._frame = 0
        if 0 not in self._snapshots:
            self._snapshots[0] = zlib.compress(bytes(self._em.get_state()), 1)

    def _advance(self, k: int) -> None:
        em, keys, n, every = self._em, self._keys, self._n_buttons, self.snapshot_every
        for f in range(self._frame, k):
            row = keys[f]
            for p in range(self.players):
                em.set_button_mask(row[p * n:(p + 1) * n], p)
            em.step()
            if (f + 1) % every == 0 and (f + 1) not in self._snapshots:
                self._snapshots[f + 1] = zlib.compress(bytes(em.get_state()), 1)
        self._frame = k


def _open_movie(path: Path):
    """(movie positioned on its first input frame, game, players, start state), or ReplayError."""
    import stable_retro as retro

    fix = "the file is damaged or not a stable-retro movie; re-record the episode or pick another file"
    try:
        movie = retro.Movie(str(path))
        game = movie.get_game()
        players = int(movie.players)
        if not movie.step():  # the first movie frame is the reset frame
            raise ReplayError(f"{path}: the movie has no frames; {fix}")
        start = bytes(movie.get_state())
    except RuntimeError as exc:
        raise ReplayError(f"{path}: cannot read the movie ({exc}); {fix}") from None
    if not start or not game:
        raise ReplayError(f"{path}: the movie has no game or start state; {fix}")
    return movie, game, players, start


def _read_keys(movie, players: int, n_buttons: int) -> np.ndarray:
    """keys[frame, player * n_buttons + button] for every frame after the reset frame."""
    rows = []
    while movie.step():
        rows.append([movie.get_key(i, p) for p in range(players) for i in range(n_buttons)])
    return np.array(rows, dtype=np.uint8).reshape(len(rows), players * n_buttons)


def _crop_info(retro, game: str, em) -> tuple[int, int, int, int]:
    """The game's screen crop from its data.json, as RetroEnv applies it (0s: no crop)."""
    try:
        data = retro.data.GameData()
        info = retro.data.get_file_path(game, "data.json", retro.data.Integrations.ALL)
        scenario = retro.data.get_file_path(game, "scenario.json", retro.data.Integrations.ALL)
        if not info or not scenario or not data.load(info, scenario):
            return (0, 0, 0, 0)
        return tuple(int(v) for v in data.crop_info(0))  # type: ignore[return-value]
    except Exception:  # a game without usable data files just shows the full screen
        return (0, 0, 0, 0)
