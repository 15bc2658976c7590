"""Settings that cannot run, and the one message every entry point gives for each (`core.settings.validate`):
`workbench preset check`, `workbench train`, the GUI's Start and the run process."""
from __future__ import annotations

BAD_SETTINGS = [
    ({"ppo.n_minibatches": 0}, "ppo.n_minibatches = 0 must be at least 1"),
    ({"ppo.n_envs": 2, "ppo.n_steps": 128, "ppo.n_minibatches": 3},
     "ppo.n_minibatches = 3 must divide the rollout of ppo.n_envs x ppo.n_steps = 256 samples; e.g. 2"),
    ({"ppo.learning_rate": -1e-4}, "ppo.learning_rate = -0.0001 must be a positive number"),
    ({"run.algorithm": "rl2", "ppo.n_steps": 100, "rl2.bptt_steps": 32},
     "ppo.n_steps = 100 must be a multiple of rl2.bptt_steps = 32; change one of them"),
]
IDS = [message.split(" ")[0] for _, message in BAD_SETTINGS]


def apply(preset, edits: dict) -> None:
    """Set `section.key` values on a preset."""
    for key, value in edits.items():
        section, name = key.split(".")
        setattr(getattr(preset, section), name, value)
