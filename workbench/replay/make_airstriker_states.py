"""Build the Airstriker start states shipped in the package (maintainers run this once; the files are committed):

    python -m workbench.replay.make_airstriker_states [--force]

Plays Level1 with a fixed input sequence (fire on every other 4 frames, weave left/right every 20 frames),
records it as a .bk2, and cuts start states from the replay at the frames in `SHIPPED_STATES`, the same way a
user saves one from the replay viewer (`EpisodeReader.save_start_state`). The emulator is deterministic, so the
states are the same on every machine.
"""
from __future__ import annotations

import argparse
import gc
import sys
import tempfile
from pathlib import Path

import numpy as np

from workbench.catalog.integrations import SHIPPED_INTEGRATIONS, SHIPPED_STATES

GAME = "Airstriker-Genesis-v0"


def fixed_inputs(buttons: list[str], frame: int) -> np.ndarray:
    keys = np.zeros(len(buttons), np.uint8)
    if (frame // 4) % 2 == 0:
        keys[buttons.index("B")] = 1  # B fires; holding it fires once, so tap it
    keys[buttons.index("LEFT" if (frame // 20) % 2 == 0 else "RIGHT")] = 1
    return keys


def record_fixed_play(movie: Path, frames: int) -> None:
    import stable_retro as retro

    env = retro.make(GAME, state="Level1", render_mode=None, use_restricted_actions=retro.Actions.ALL)
    try:
        env.reset()
        env.record_movie(str(movie))
        env.movie.step()  # the reset frame, as RetroEnv.reset does when recording
        for f in range(frames):
            env.step(fixed_inputs(env.buttons, f))
        env.stop_record()
    finally:
        env.close()
        del env
        gc.collect()


def main(argv: list[str] | None = None) -> int:
    from workbench.replay.reader import EpisodeReader

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="replace the shipped states that exist")
    args = parser.parse_args(argv)
    folder = SHIPPED_INTEGRATIONS / GAME
    for name in SHIPPED_STATES:
        path = folder / f"{name}.state"
        if path.exists():
            if not args.force:
                print(f"{path} exists; --force replaces it", file=sys.stderr)
                return 2
            path.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        movie = Path(tmp) / "fixed.bk2"
        record_fixed_play(movie, max(SHIPPED_STATES.values()) + 1)
        with EpisodeReader(movie, sidecar=None) as reader:
            for name, frame in SHIPPED_STATES.items():
                path = reader.save_start_state(frame, name, folder=SHIPPED_INTEGRATIONS)
                print(f"{GAME}:{name}  frame {frame}  -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
