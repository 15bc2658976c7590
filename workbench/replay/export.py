"""Export a recorded episode as MP4 (every emulator frame, 60 fps) or GIF (every 3rd frame, 20 fps),
optionally with the policy's action probabilities, value and return drawn in a panel beside the game.

MP4 uses OpenCV's bundled FFmpeg ('mp4v' codec); GIF uses Pillow. Both are written to a temporary file and
renamed into place, so an interrupted export never leaves half a video under the requested name.
"""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from workbench.replay.errors import ReplayError
from workbench.replay.reader import EpisodeReader
from workbench.replay.sidecar import Sidecar

FPS = 60
GIF_EVERY = 3  # 20 fps: a GIF frame lasts a whole number of 1/100 s (50 ms)
PANEL_WIDTH = 200
Progress = Callable[[int, int], None]


def export_video(movie: Path | str, out: Path | str, overlay: bool = False, start: int = 0,
                 end: int | None = None, every: int | None = None, progress: Progress | None = None) -> int:
    """Write frames start..end (inclusive; default: the whole episode) of `movie` to `out` (.mp4 or .gif).

    `every`: keep every n-th frame (default 1 for MP4, 3 for GIF). `overlay` needs the episode's sidecar.
    progress(done, total) is called as frames are written. Returns the number of frames written.
    """
    out = Path(out)
    kind = out.suffix.lower()
    if kind not in (".mp4", ".gif"):
        raise ReplayError(f"{out}: can export only .mp4 or .gif; give the output file one of those endings")
    if not out.parent.is_dir():
        raise ReplayError(f"{out}: the folder {out.parent} does not exist; create it or pick another output path")
    every = max(1, int(every or (GIF_EVERY if kind == ".gif" else 1)))
    with EpisodeReader(movie) as reader:
        if overlay and reader.sidecar is None:
            raise ReplayError(f"{movie}: --overlay needs the episode's sidecar ({Path(movie).with_suffix('.npz')}),"
                              " which is missing; export without --overlay")
        last = reader.n_frames - 1 if end is None else min(int(end), reader.n_frames - 1)
        if not 0 <= start <= last:
            raise ReplayError(f"{movie}: frames {start}..{last} are outside the episode's 0..{reader.n_frames - 1}")
        indices = range(start, last + 1, every)
        frames = _frames(reader, indices, overlay)
        if kind == ".mp4":
            return _write_mp4(out, frames, len(indices), FPS / every, progress)
        return _write_gif(out, frames, len(indices), FPS / every, progress)


def render_overlay(frame: np.ndarray, sidecar: Sidecar, step: int, labels: list[str] | None = None) -> np.ndarray:
    """The frame with a panel on its right: one bar per action (the chosen one highlighted), value, return."""
    h = frame.shape[0]
    panel = np.full((h, PANEL_WIDTH, 3), 24, np.uint8)
    probs = sidecar.probs[step].astype(np.float32) if len(sidecar.probs) else np.zeros(0, np.float32)
    labels = labels or sidecar.meta.action_labels or [str(i) for i in range(len(probs))]
    chosen = int(sidecar.actions[step]) if len(sidecar.actions) else -1
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, 0.33
    row = max(8, min(16, (h - 40) // max(1, len(probs))))
    for i, p in enumerate(probs):
        y = 6 + i * row
        width = int(round(float(p) * (PANEL_WIDTH - 80)))
        color = (255, 190, 60) if i == chosen else (90, 160, 230)
        cv2.rectangle(panel, (76, y), (76 + width, y + row - 3), color, -1)
        cv2.putText(panel, str(labels[i])[:12] if i < len(labels) else str(i), (3, y + row - 4), font, scale,
                    (230, 230, 230), 1, cv2.LINE_AA)
    if len(sidecar.values):
        ret = float(np.sum(sidecar.rewards[: step + 1]))
        cv2.putText(panel, f"step {step}  V {float(sidecar.values[step]):.2f}", (3, h - 20), font, scale,
                    (230, 230, 230), 1, cv2.LINE_AA)
        cv2.putText(panel, f"return {ret:.1f}", (3, h - 7), font, scale, (230, 230, 230), 1, cv2.LINE_AA)
    return np.concatenate([frame, panel], axis=1)


def _frames(reader: EpisodeReader, indices: range, overlay: bool):
    for k in indices:
        frame = reader.frame(k)
        if overlay:
            frame = render_overlay(frame, reader.sidecar, reader.sidecar.step_at_frame(k))
        yield frame


def _tmp_path(out: Path) -> Path:
    # keep the real suffix last: FFmpeg picks the container from it
    return out.with_name(f".{out.stem}.{os.getpid()}.tmp{out.suffix}")


def _write_mp4(out: Path, frames, total: int, fps: float, progress: Progress | None) -> int:
    tmp = _tmp_path(out)
    writer = None
    written = 0
    try:
        for frame in frames:
            if writer is None:
                h, w = frame.shape[:2]
                writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
                if not writer.isOpened():
                    raise ReplayError(f"{out}: OpenCV cannot write MP4 here (no FFmpeg backend); export a .gif")
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
            written += 1
            if progress is not None:
                progress(written, total)
        if writer is not None:
            writer.release()
            writer = None
        os.replace(tmp, out)
    finally:
        if writer is not None:
            writer.release()
        tmp.unlink(missing_ok=True)
    return written


def _write_gif(out: Path, frames, total: int, fps: float, progress: Progress | None) -> int:
    from PIL import Image

    from workbench.core.paths import atomic_write_bytes

    images = []
    for frame in frames:
        images.append(Image.fromarray(frame).quantize(colors=256, method=Image.Quantize.MEDIANCUT))
        if progress is not None:
            progress(len(images), total)
    if not images:
        return 0
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:],
                   duration=max(20, 10 * int(round(100 / fps))), loop=0)
    atomic_write_bytes(out, buf.getvalue())
    return len(images)


def count_video_frames(path: Path | str) -> int:
    """Frames in a video file, counted by decoding it (MP4 via OpenCV, GIF via Pillow)."""
    path = Path(path)
    if path.suffix.lower() == ".gif":
        from PIL import Image

        with Image.open(path) as im:
            return int(getattr(im, "n_frames", 1))
    cap = cv2.VideoCapture(str(path))
    try:
        n = 0
        while cap.read()[0]:
            n += 1
        return n
    finally:
        cap.release()
