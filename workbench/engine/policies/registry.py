"""Policy kinds by name: `PolicySpec` (what a checkpoint stores) -> the network. `make_policy(spec)` builds it
in any process (transfer jobs, the GUI, the learner process)."""
from __future__ import annotations

from workbench.engine.policies.api import ActorCritic, PolicySpec
from workbench.engine.policies.feedforward import MLPActorCritic, NatureCNN


POLICY_KINDS: dict[str, type[ActorCritic]] = {"cnn": NatureCNN, "mlp": MLPActorCritic}
"""Policy kind -> class taking a PolicySpec (RL²'s recurrent ones, 'rl2' and 'rl2-separate', are added on first use, by make_policy)."""


def make_policy(spec: PolicySpec) -> ActorCritic:
    if spec.kind in ("rl2", "rl2-separate") and spec.kind not in POLICY_KINDS:
        from workbench.engine.rl2.policy import ARCHITECTURES, RecurrentActorCritic

        POLICY_KINDS.update({kind: RecurrentActorCritic for kind in ARCHITECTURES.values()})
    try:
        cls = POLICY_KINDS[spec.kind]
    except KeyError:
        raise ValueError(f"unknown policy kind {spec.kind!r}; known: {', '.join(sorted(POLICY_KINDS))}") from None
    return cls(spec)  # type: ignore[call-arg]


def spec_for(obs_shape: tuple[int, ...], obs_dtype, n_actions: int, hidden: int | None = None) -> PolicySpec:
    """The default feed-forward policy for an observation space: CNN for uint8 images, MLP otherwise."""
    import numpy as np

    if np.dtype(obs_dtype) == np.uint8 and len(obs_shape) == 3:
        return PolicySpec("cnn", tuple(obs_shape), n_actions, hidden or 512)
    return PolicySpec("mlp", tuple(obs_shape), n_actions, hidden or 64)
