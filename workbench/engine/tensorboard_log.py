"""TensorBoard event files of a run (`<run>/tb/`), written by a trainer hook: every update's metrics as
`train/<metric>` and every episode's return and length, against agent steps. Runs open in TensorBoard and W&B
as they are: `tensorboard --logdir runs/`."""
from __future__ import annotations

from pathlib import Path

from workbench.core.records import StatusRecord, UpdateRecord


class TensorBoardLog:
    """`purge_step`: on resume, the step of the checkpoint continued from; events a killed run wrote after it are
    dropped, so the curves have every update once."""

    def __init__(self, folder: Path, purge_step: int | None = None, flush_every: int = 10):
        from torch.utils.tensorboard import SummaryWriter

        self._writer = SummaryWriter(str(folder), purge_step=purge_step or None)
        self.flush_every = max(1, flush_every)
        """Updates between flushes: with run.checkpoint_every, what a checkpoint counts is on disk too."""

    def on_update(self, record: UpdateRecord) -> None:
        for name, value in record.metrics.items():
            self._writer.add_scalar(f"train/{name}", value, record.global_step)
        for episode in record.episodes:
            self._writer.add_scalar("episode/return", episode.episode_return, episode.global_step)
            self._writer.add_scalar("episode/length", episode.length, episode.global_step)
        if record.update % self.flush_every == 0:
            self._writer.flush()

    def on_status(self, record: StatusRecord) -> None:
        if record.state != "running":
            self._writer.flush()

    def on_close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
