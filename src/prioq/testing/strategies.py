"""Hypothesis strategies for prioq's values (docs/testing.md#strategies).

Every strategy shrinks towards a small, readable example: few nodes and jobs, ids
``n1, n2, ...`` and ``j1, j2, ...``, priority 0, one whole GPU, the first model listed,
no aging, best-fit. Extend one by passing your own sub-strategies (``capacities=``,
``requests=``, ...) or with hypothesis' ``.map``/``.flatmap``.

Needs hypothesis (``pip install 'prioq[testing]'``): importing this module without it
raises ``ImportError`` saying so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prioq.testing._require import hypothesis

hypothesis()  # a clear ImportError before the imports below fail obscurely

from hypothesis import strategies as st  # noqa: E402

from prioq.fairshare import FairShare  # noqa: E402
from prioq.model import Job, Node  # noqa: E402
from prioq.policy import Policy  # noqa: E402
from prioq.preemption import Preemption  # noqa: E402
from prioq.queue.aging import AgingPolicy, LinearAging, NoAging, StepAging  # noqa: E402
from prioq.resources import GPU, ResourceRequest, Resources  # noqa: E402
from prioq.sim.workload import Workload  # noqa: E402

__all__ = [
    "GPU_MODELS",
    "aging_policies",
    "capacity_specs",
    "clusters",
    "gpu_models",
    "heterogeneous_clusters",
    "homogeneous_clusters",
    "jobs",
    "nodes",
    "placements",
    "policies",
    "preemptions",
    "request_specs",
    "requests",
    "trace_clusters",
    "workloads",
]

GPU_MODELS: tuple[tuple[str, int], ...] = (("A100", 80), ("T4", 16), ("H100", 80), ("L4", 24))
"""(model, memory in GB) of the GPUs the strategies draw, simplest first."""


def gpu_models() -> st.SearchStrategy[GPU]:
    """GPU device models (name, vendor, memory), shrinking to an A100 80GB."""
    return st.sampled_from(GPU_MODELS).map(lambda m: GPU(name=m[0], vendor="nvidia", memory=m[1] * 2**30))


def capacity_specs(max_gpus: int = 8) -> st.SearchStrategy[str]:
    """Node capacity specs: CPU, memory and 0..``max_gpus`` whole GPUs of one model
    (``"cpu=16 memory=64GB gpu=A100:80GB:4"``), shrinking to ``cpu=8 memory=32GB``."""

    def spec(cpu: int, mem: int, model: tuple[str, int], gpus: int) -> str:
        text = f"cpu={cpu} memory={mem}GB"
        return text + (f" gpu={model[0]}:{model[1]}GB:{gpus}" if gpus else "")

    return st.builds(
        spec, st.sampled_from([8, 16, 32, 64]), st.sampled_from([32, 64, 128, 256]),
        st.sampled_from(GPU_MODELS), st.integers(0, max_gpus),
    )


def request_specs(*, fractional: bool = True, models: bool = True, ranges: bool = True,
                  cpu_only: bool = True) -> st.SearchStrategy[str]:
    """Request specs as users write them, shrinking to ``"gpu=1"``: whole GPUs (``gpu=2``),
    ``fractional`` shares (``gpu=0.5``, ``gpu=T4:0.25``), named ``models``
    (``gpu=A100:1``, ``gpu=A100,H100:2``), memory ``ranges`` (``gpu=24GB..:1``,
    ``gpu=A100:40GB..80GB:1``) and ``cpu_only`` ones (``cpu=4 memory=8GB``)."""
    whole = st.sampled_from([1, 2, 4, 8]).map(lambda n: f"gpu={n}")
    options: list[st.SearchStrategy[str]] = [whole]
    if fractional:
        options.append(st.sampled_from(["gpu=0.5", "gpu=0.25", "gpu=T4:0.5", "gpu=A100:0.125"]))
    if models:
        names = st.sampled_from(["A100", "T4", "A100,H100", "L4"])
        options.append(st.builds(lambda m, n: f"gpu={m}:{n}", names, st.sampled_from([1, 2, 4])))
    if ranges:
        ranged = ["gpu=24GB..:1", "gpu=A100:40GB..80GB:1", "gpu=1..2", "gpu=16GB..24GB:1"]
        options.append(st.sampled_from(ranged))
    if cpu_only:
        options.append(st.builds(lambda c, m: f"cpu={c} memory={m}GB", st.sampled_from([1, 4, 16]),
                                 st.sampled_from([4, 8, 64])))
    return st.one_of(*options)


def requests(**kinds: bool) -> st.SearchStrategy[ResourceRequest]:
    """:func:`request_specs` parsed into :class:`~prioq.resources.ResourceRequest` values."""
    return request_specs(**kinds).map(ResourceRequest.parse)


def nodes(node_id: str = "n1", capacities: st.SearchStrategy[str] | None = None,
          **fields: st.SearchStrategy[Any]) -> st.SearchStrategy[Node]:
    """One :class:`~prioq.Node` with id ``node_id`` and a capacity from ``capacities``
    (default :func:`capacity_specs`); ``fields``: strategies for any other ``Node`` field
    (``labels=...``, or fields added later), left at their defaults otherwise."""
    return st.builds(Node, id=st.just(node_id), capacity=capacities or capacity_specs(), **fields)


def _named(capacities: Sequence[Resources | str]) -> list[Node]:
    return [Node(id=f"n{i + 1}", capacity=c) for i, c in enumerate(capacities)]


def heterogeneous_clusters(min_size: int = 1, max_size: int = 4,
                           capacities: st.SearchStrategy[str] | None = None) -> st.SearchStrategy[list[Node]]:
    """Clusters of ``min_size..max_size`` nodes ``n1, n2, ...``, each its own capacity."""
    return st.lists(capacities or capacity_specs(), min_size=min_size, max_size=max_size).map(_named)


def homogeneous_clusters(min_size: int = 1, max_size: int = 4,
                         capacities: st.SearchStrategy[str] | None = None) -> st.SearchStrategy[list[Node]]:
    """Clusters of ``min_size..max_size`` identical nodes."""
    return st.tuples(capacities or capacity_specs(), st.integers(min_size, max_size)).map(
        lambda t: _named([t[0]] * t[1])
    )


def clusters(min_size: int = 1, max_size: int = 4,
             capacities: st.SearchStrategy[str] | None = None) -> st.SearchStrategy[list[Node]]:
    """Homogeneous or heterogeneous clusters (see both), shrinking to one node."""
    return st.one_of(homogeneous_clusters(min_size, max_size, capacities),
                     heterogeneous_clusters(min_size, max_size, capacities))


def trace_clusters(node_list: Sequence[Node], min_size: int = 1,
                   max_size: int | None = None) -> st.SearchStrategy[list[Node]]:
    """Sub-clusters of a real node list (e.g. :func:`prioq.sim.load_nodes` of a trace):
    distinct nodes kept in the list's order, shrinking towards its first node."""
    top = len(node_list) if max_size is None else min(max_size, len(node_list))
    picks = st.lists(st.integers(0, len(node_list) - 1), min_size=min_size, max_size=top, unique=True)
    return picks.map(lambda ix: [node_list[i] for i in sorted(ix)])


OWNERS = (None, "team-a", "team-b", "team-a/alice")


def jobs(job_id: str = "j1", *, submitted_at: st.SearchStrategy[float] | None = None,
         requests: st.SearchStrategy[str] | None = None, priorities: st.SearchStrategy[int] | None = None,
         after: Sequence[str] = (), gangs: bool = True,
         **fields: st.SearchStrategy[Any]) -> st.SearchStrategy[Job]:
    """One :class:`~prioq.Job`: a request (default :func:`request_specs`), priority 0..100,
    an owner, sometimes a gang of 2 (``gangs``), a duration or none, preemptible or not,
    and maybe waiting for some of ``after`` (ids of earlier jobs). ``fields``: strategies
    for any other ``Job`` field (``group=...``, ``labels=...``, fields added later), or
    replacing one of those above."""
    deps = st.lists(st.sampled_from(list(after)), max_size=2, unique=True) if after else st.just([])
    drawn: dict[str, st.SearchStrategy[Any]] = dict(
        id=st.just(job_id),
        submitted_at=submitted_at if submitted_at is not None else st.just(0.0),
        priority=priorities if priorities is not None else st.integers(0, 100),
        request=requests if requests is not None else request_specs(),
        nodes=st.sampled_from([1, 1, 1, 2]) if gangs else st.just(1),
        preemptible=st.booleans().map(lambda b: not b),
        owner=st.sampled_from(OWNERS),
        duration=st.one_of(st.none(), st.integers(1, 3600).map(float)),
        after=deps.map(tuple),
        dependency=st.sampled_from(["afterany", "afterok"]),
    )
    return st.builds(Job, **{**drawn, **fields})


def _job_parts(requests: st.SearchStrategy[str] | None) -> st.SearchStrategy[dict[str, Any]]:
    """Everything of a workload's job but its id, arrival and dependencies' ids."""
    return st.fixed_dictionaries({
        "gap": st.sampled_from([0.0, 1.0, 10.0, 60.0, 600.0]),
        "priority": st.integers(0, 100),
        "request": requests if requests is not None else request_specs(),
        "nodes": st.sampled_from([1, 1, 1, 2]),
        "preemptible": st.booleans().map(lambda b: not b),
        "owner": st.sampled_from(OWNERS),
        "duration": st.integers(1, 3600).map(float),
        "after": st.lists(st.integers(1, 4), max_size=2, unique=True),  # how many jobs back
        "dependency": st.sampled_from(["afterany", "afterok"]),
    })


@st.composite
def workloads(draw: st.DrawFn, *, max_jobs: int = 12, cluster: st.SearchStrategy[list[Node]] | None = None,
              requests: st.SearchStrategy[str] | None = None, name: str = "hypothesis") -> Workload:
    """A :class:`~prioq.sim.Workload` for :func:`prioq.sim.simulate`: a cluster (default
    :func:`clusters`) and up to ``max_jobs`` jobs ``j1, j2, ...`` in submission order, with
    arrival gaps, durations (every job has one: the simulator needs its true runtime),
    priorities, owners, gangs and dependencies on earlier jobs. Drawn as one list, so a
    failing workload shrinks job by job."""
    node_list = draw(cluster if cluster is not None else clusters())
    parts = draw(st.lists(_job_parts(requests), max_size=max_jobs))
    out: list[Job] = []
    t = 0.0
    for i, part in enumerate(parts):
        t += part.pop("gap")
        back = part.pop("after")
        after = tuple(f"j{i + 1 - k}" for k in back if k <= i)
        out.append(Job(id=f"j{i + 1}", submitted_at=t, after=after, **part))
    return Workload(name=name, jobs=tuple(out), nodes=tuple(node_list))


def aging_policies() -> st.SearchStrategy[AgingPolicy]:
    """The built-in aging policies with small dyadic parameters, shrinking to ``NoAging()``."""
    halves = st.integers(0, 8).map(lambda k: k / 2)
    return st.one_of(
        st.just(NoAging()),
        st.builds(LinearAging, rate=st.sampled_from([1.0, 0.5, 2.0, 0.125]),
                  max_boost=st.one_of(halves.map(lambda h: 10 * h), st.just(float("inf")))),
        st.builds(StepAging, interval=st.sampled_from([5.0, 1.0, 60.0]),
                  step=st.sampled_from([10.0, 1.0, 0.5]), max_boost=st.sampled_from([30.0, 0.0, 100.0])),
    )


def placements() -> st.SearchStrategy[str]:
    """Built-in placement names, shrinking to ``"best-fit"``."""
    return st.sampled_from(["best-fit", "first-fit", "spread", "fragmentation-aware"])


def preemptions() -> st.SearchStrategy[Preemption]:
    """Preemption settings, shrinking to ``Preemption()`` (never)."""
    return st.one_of(
        st.just(Preemption()),
        st.builds(
            Preemption,
            policy=st.sampled_from(["lower-priority", "lower-or-newer-equal"]),
            min_runtime=st.sampled_from([0.0, 2.0, 60.0]),
            grace=st.sampled_from([0.0, 30.0]),
            max_victims=st.sampled_from([None, 1, 3]),
            compare=st.sampled_from(["base", "effective"]),
            node_order=st.sampled_from(["kubernetes", "least-lost-work"]),
        ),
    )


def policies(*, aging: st.SearchStrategy[AgingPolicy] | None = None,
             placement: st.SearchStrategy[Any] | None = None,
             preemption: st.SearchStrategy[Preemption] | None = None,
             fair_share: st.SearchStrategy[FairShare | None] | None = None) -> st.SearchStrategy[Policy]:
    """:class:`~prioq.Policy` values over the built-ins (or your ``aging``, ``placement``,
    ``preemption``, ``fair_share`` strategies: e.g. ``st.just(FairShare(ranking=Mine()))``),
    shrinking to ``Policy()``."""
    return st.builds(
        Policy,
        aging=aging if aging is not None else aging_policies(),
        queueing=st.sampled_from(["best-effort", "strict"]),
        placement=placement if placement is not None else placements(),
        preemption=preemption if preemption is not None else preemptions(),
        reservation=st.booleans().map(lambda b: not b),
        fair_share=fair_share if fair_share is not None else st.one_of(
            st.none(), st.just(FairShare()), st.just(FairShare(mode="term"))
        ),
    )
