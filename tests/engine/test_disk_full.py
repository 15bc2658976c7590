"""The disk fills up during a checkpoint: a resumed real run whose files may not grow past half a checkpoint
(RLIMIT_FSIZE, the file-size limit a full disk looks like to a writer) fails with one clear message, the
previous checkpoints stay as they were and load, and no half-written file is left."""
from __future__ import annotations

import hashlib
import resource
import subprocess
import sys

import pytest

from workbench.core.paths import DEFAULT_PRESET, runs_dir
from workbench.core.presets import load_preset, save_preset
from workbench.engine import checkpoint as ckpt
from workbench.engine.run_store import RunStore, lock_holder

pytestmark = pytest.mark.slow
STEPS_PER_UPDATE = 2 * 16


def _train(*args: str, file_limit: int | None = None) -> subprocess.CompletedProcess:
    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_limit, file_limit))

    return subprocess.run([sys.executable, "-m", "workbench", "train", *args], capture_output=True, text=True,
                          timeout=300, preexec_fn=limit if file_limit else None)


def test_a_full_disk_during_a_checkpoint_keeps_the_previous_one_and_fails_clearly(tmp_path):
    preset = load_preset(DEFAULT_PRESET)
    preset.ppo.n_envs, preset.ppo.n_steps, preset.ppo.n_minibatches, preset.ppo.n_epochs = 2, 16, 1, 1
    preset.run.checkpoint_every, preset.run.keep_checkpoints, preset.run.record_episodes = 1, 3, False
    path = save_preset(preset, tmp_path / "tiny.toml")
    first = _train(str(path), "--run-name", "full", "--steps", str(2 * STEPS_PER_UPDATE))
    assert first.returncode == 0, first.stderr
    run = runs_dir() / "full"
    files = ckpt.numbered(run / "checkpoints")
    assert [p.name for p in files] == ["ckpt_00000001.pt", "ckpt_00000002.pt"]
    digests = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}

    resumed = _train("--resume", "full", "--steps", str(4 * STEPS_PER_UPDATE), file_limit=files[-1].stat().st_size // 2)
    assert resumed.returncode == 1, resumed.stderr
    err = resumed.stderr
    assert "could not write checkpoint" in err and "ckpt_00000003.pt" in err, err
    assert "the previous checkpoint ckpt_00000002.pt is kept" in err and "--resume full" in err
    status = RunStore.open(run).status()
    assert status["state"] == "failed" and "could not write checkpoint" in status["error"]
    assert ckpt.numbered(run / "checkpoints") == files  # nothing new, nothing removed
    assert {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in files} == digests
    assert ckpt.load(files[-1])["update"] == 2
    assert not list(run.rglob(".*.tmp"))  # the half-written checkpoint went
    assert lock_holder(run) is None
