"""Placement on a Ray cluster (Ray core: tasks and actors, not RLlib): one more implementation of the engine's
seams, chosen by the launcher when `--cluster` is given.

- `session`: joining the cluster, checking every node can run the workbench (`ClusterError` otherwise);
- `transfer_tasks`: `RayJobRunner`, transfer jobs as Ray tasks (a `engine.transfer.protocol.JobRunner`);
- `vec`: `RayVecEnv`, env workers as Ray actors (an `engine.vec.base.VecEnv`);
- `assets`: the ROMs and start states a run needs, shipped to the nodes and checked by SHA-1.

Only these modules import `ray`, and only when called: local runs never need it.
"""
