"""Joining a Ray cluster (`--cluster auto|ADDRESS`) and checking that every node can run the workbench.

`connect(address)` answers within seconds: an ADDRESS where nothing listens, `auto` on a machine that is no node of
a running cluster, Ray missing on the driver, or a node that cannot import the workbench (or runs other versions of
it, torch or stable-retro than the driver) each raise `ClusterError` with one line naming the address or node and
the fix. Ray is imported here, lazily: local runs never import it.
"""
from __future__ import annotations

import socket
from dataclasses import dataclass, field

RAY_PIN = "ray==2.60.0"
PROBE_TIMEOUT_S = 60.0
"""A node's first task starts a worker process (imports torch): generous on a busy machine."""
RAY_INSTALL_HINT = f"pip install '{RAY_PIN}' (or `pip install -e '.[cluster]'` in the checkout)"


class ClusterError(RuntimeError):
    """The cluster cannot run this job; the message names the address or node and the fix."""


@dataclass
class NodeInfo:
    node_id: str
    ip: str
    cpus: float
    gpus: float
    versions: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.ip} ({self.node_id[:8]})"


@dataclass
class ClusterSession:
    """A connection to a Ray cluster; `close()` disconnects when this session made the connection."""

    address: str
    nodes: list[NodeInfo]
    owned: bool = True

    @property
    def cpus(self) -> float:
        return sum(n.cpus for n in self.nodes)

    def describe(self) -> str:
        return f"Ray cluster {self.address} ({len(self.nodes)} nodes, {self.cpus:g} CPUs)"

    def close(self) -> None:
        if self.owned:
            import ray

            ray.shutdown()
            self.owned = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def import_ray():
    try:
        import ray
    except ImportError:
        raise ClusterError(f"--cluster needs Ray on this machine, which is not installed: {RAY_INSTALL_HINT}; "
                           "without --cluster everything runs in local processes") from None
    return ray


def _check_reachable(address: str) -> None:
    """An ADDRESS (host:port of the head's GCS) where nothing answers fails here in seconds, not in Ray's minute
    of retries."""
    text = address.removeprefix("ray://")
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise ClusterError(f"--cluster {address!r} is not HOST:PORT (e.g. 10.0.0.5:6379, what `ray start --head` "
                           "printed) or 'auto'")
    try:
        with socket.create_connection((host, int(port)), timeout=3):
            pass
    except OSError as exc:
        raise ClusterError(f"--cluster {address}: nothing answers at {host}:{port} ({exc.strerror or exc}); start "
                           "the head there with `ray start --head --port=" + port + "`, or run on a node of the "
                           "cluster with --cluster auto") from None


def connect(address: str, *, check_nodes: bool = True) -> ClusterSession:
    """Join the cluster at `address` ('auto': the one this machine is a node of) and check its nodes."""
    ray = import_ray()
    if ray.is_initialized():  # already connected (e.g. a test driving its own cluster): use that connection
        session = ClusterSession(ray.get_runtime_context().gcs_address if address == "auto" else address, [],
                                 owned=False)
    else:
        if address != "auto":
            _check_reachable(address)
        try:
            ray.init(address=address, log_to_driver=False, logging_level="ERROR", include_dashboard=False)
        except ConnectionError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ClusterError(f"--cluster {address}: no running Ray cluster found ({first}); start one with "
                               "`ray start --head` (and `ray start --address=HEAD:6379` on the other machines)"
                               ) from None
        session = ClusterSession(ray.get_runtime_context().gcs_address if address == "auto" else address, [])
    try:
        session.nodes = _alive_nodes(ray)
        if check_nodes:
            session.nodes = check_nodes_can_run(session.nodes)
    except BaseException:
        session.close()
        raise
    return session


def _alive_nodes(ray) -> list[NodeInfo]:
    return [NodeInfo(n["NodeID"], n.get("NodeManagerAddress", "?"), float(n["Resources"].get("CPU", 0)),
                     float(n["Resources"].get("GPU", 0))) for n in ray.nodes() if n.get("Alive")]


# The probe is compiled outside any module of ours, so it reaches a node by value: a node without the workbench
# can run it and say so (a function of ours would fail to unpickle there, with a far less useful message).
_PROBE_SOURCE = '''
def probe():
    import platform, socket, sys
    out = {"host": socket.gethostname(), "python": platform.python_version(), "executable": sys.executable}
    for module, dist in (("workbench", "retro-workbench"), ("torch", "torch"), ("stable_retro", "stable-retro"),
                         ("ray", "ray")):
        try:
            __import__(module)
            from importlib.metadata import PackageNotFoundError, version
            try:
                out[module] = version(dist)
            except PackageNotFoundError:
                out[module] = getattr(sys.modules[module], "__version__", "?")
        except Exception as exc:
            out[module] = None
            out[module + "_error"] = f"{type(exc).__name__}: {exc}"
    return out
'''


def _probe_function():
    namespace: dict = {"__name__": "_workbench_node_probe"}
    exec(compile(_PROBE_SOURCE, "<workbench node probe>", "exec"), namespace)
    return namespace["probe"]


def local_versions() -> dict:
    return _probe_function()()


def check_nodes_can_run(nodes: list[NodeInfo]) -> list[NodeInfo]:
    """Run the probe on every node (pinned to it); `ClusterError` naming the first node that cannot run the
    workbench, and the fix. Returns the nodes still in the cluster: one that left while being probed (listed
    alive, then declared dead, as a node lost just before a run is) is dropped, not an error."""
    ray = import_ray()
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    mine = local_versions()
    probe = ray.remote(num_cpus=0, max_retries=0)(_probe_function())
    refs = {probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n.node_id, soft=False)).remote(): n
            for n in nodes}
    _, waiting = ray.wait(list(refs), num_returns=len(refs), timeout=PROBE_TIMEOUT_S)
    if waiting:  # name only the nodes that did not answer: the others are fine
        slow = [refs[r].name for r in waiting]
        raise ClusterError(f"cluster node{'s' if len(slow) > 1 else ''} {', '.join(slow)} did not answer a probe "
                           f"task within {PROBE_TIMEOUT_S:g} s: check `ray status` there")
    gone = (ray.exceptions.TaskUnschedulableError, ray.exceptions.NodeDiedError)
    alive = []
    for ref, node in refs.items():
        try:
            report = ray.get(ref)
        except gone:
            continue
        alive.append(node)
        node.versions = report
        fix = ("install the project there (`pip install -e .` from this checkout, into the Python that runs "
               f"`ray start`: {report.get('executable')}), then restart `ray start --address=…` on it")
        if report.get("workbench") is None:
            raise ClusterError(f"cluster node {node.name} cannot import the workbench "
                               f"({report.get('workbench_error')}): {fix}")
        for module in ("torch", "stable_retro"):
            if report.get(module) is None:
                raise ClusterError(f"cluster node {node.name} cannot import {module} "
                                   f"({report.get(module + '_error')}): {fix}")
        for module in ("workbench", "torch", "stable_retro", "ray"):
            if report.get(module) != mine.get(module):
                raise ClusterError(f"cluster node {node.name} has {module} {report.get(module)}, this machine "
                                   f"{mine.get(module)}: {fix} (the same versions on every node)")
    if not alive:
        raise ClusterError("every node of the cluster left while being checked: check `ray status` on the head")
    return alive
