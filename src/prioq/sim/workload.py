"""A workload: the jobs a simulation replays and the cluster it replays them on.

Loaders (:mod:`prioq.sim.loaders`) and generators (:mod:`prioq.sim.synthetic`)
return a :class:`Workload`; the simulator runs it. Each job's ``duration`` is
its *true* runtime (what the simulator uses to schedule its completion), not a
user estimate.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import attrs

from prioq import _validate
from prioq.errors import InvalidValue
from prioq.model import Job, Node

__all__ = ["Workload", "class_of", "job_gpu_milli"]


def job_gpu_milli(job: Job) -> int:
    """Milli-GPUs the job holds while running, over all its gang members. O(1)."""
    return job.request.gpu_milli * job.nodes


def class_of(job: Job) -> str:
    """The priority class name metrics group a job under.

    ``job.priority_class`` if set, else the ``class`` label the loaders write
    (the Alibaba QoS, a CSV ``class`` column, a synthetic class name), else
    ``"priority <n>"``.
    """
    if job.priority_class is not None:
        return job.priority_class
    label = job.labels.get("class")
    return label if label else f"priority {job.priority}"


# A workload is a simulator argument, not a job: bad values raise InvalidValue (wrong types its
# ...Type variant), including from the converters below.


def _tuple(value: object, what: str) -> tuple[object, ...]:
    if not isinstance(value, Iterable) or isinstance(value, str | bytes):
        raise _validate.wrong_type(InvalidValue, f"workload: {what} must be a collection, got {value!r}")
    return tuple(value)


def _jobs(value: Iterable[Job]) -> tuple[Job, ...]:
    return tuple(_validate.instance(j, Job, "workload: job") for j in _tuple(value, "jobs"))


def _nodes(value: Iterable[Node]) -> tuple[Node, ...]:
    return tuple(_validate.instance(n, Node, "workload: node") for n in _tuple(value, "nodes"))


def _skipped(value: Iterable[tuple[str, int]]) -> tuple[tuple[str, int], ...]:
    out = []
    for item in _tuple(value, "skipped"):
        if not isinstance(item, tuple | list) or len(item) != 2:
            message = f"workload: skipped: expected (reason, count) pairs, got {item!r}"
            raise _validate.wrong_type(InvalidValue, message)
        reason, count = item
        out.append((str(reason), _validate.integer(count, "workload: skipped count", minimum=0)))
    return tuple(out)


@attrs.frozen(slots=True, kw_only=True)
class Workload:
    """Jobs (in submission order) and the nodes they run on, with where they came from.

    ``source`` is attribution text (which trace, who published it).
    ``skipped`` lists ``(reason, count)`` for input records a loader left out
    (e.g. SWF jobs with an unknown run time), so nothing disappears silently.
    Construction checks that job and node ids are unique: O(n).
    """

    name: str
    jobs: tuple[Job, ...] = attrs.field(converter=_jobs)
    nodes: tuple[Node, ...] = attrs.field(default=(), converter=_nodes)
    source: str = ""
    skipped: tuple[tuple[str, int], ...] = attrs.field(default=(), converter=_skipped)

    def __attrs_post_init__(self) -> None:
        _validate.instance(self.name, str, "workload: name")
        _validate.instance(self.source, str, f"workload {self.name}: source")
        for kind, ids in (("job", [j.id for j in self.jobs]), ("node", [n.id for n in self.nodes])):
            if len(set(ids)) != len(ids):
                dup = next(i for i, c in Counter(ids).items() if c > 1)
                raise InvalidValue(f"workload {self.name}: {kind} id {dup!r} appears more than once")

    def __len__(self) -> int:
        return len(self.jobs)

    def head(self, n: int) -> Workload:
        """The first ``n`` jobs (in submission order), same nodes. O(n)."""
        _validate.integer(n, "head: n", minimum=0)
        return attrs.evolve(self, name=f"{self.name}[:{n}]", jobs=self.jobs[:n])

    def with_nodes(self, nodes: Iterable[Node]) -> Workload:
        """The same jobs on another cluster."""
        return attrs.evolve(self, nodes=_nodes(nodes))

    def owned_by(self, label: str) -> Workload:
        """The same jobs with ``owner`` set from a label (e.g. ``"qos"``: the Alibaba QoS class
        as the owner, for fair share); jobs without the label keep theirs. O(n)."""
        _validate.identifier(label, "owned_by: label")
        jobs = tuple(
            attrs.evolve(j, owner=j.labels[label]) if j.labels.get(label) else j for j in self.jobs
        )
        return attrs.evolve(self, name=f"{self.name}(owner={label})", jobs=jobs)

    def scaled(self, *, arrival: float = 1.0, duration: float = 1.0) -> Workload:
        """Stretch (factor > 1) or compress (< 1) submission times and runtimes.

        ``arrival=0.5`` halves every ``submitted_at`` (measured from the first
        submission), doubling the arrival rate and so the offered load; a scaled
        duration is floored at one second. O(n).
        """
        for name, factor in (("arrival", arrival), ("duration", duration)):
            _validate.number(factor, f"scaled: {name}", above=0)
        if not self.jobs:
            return self
        t0 = min(j.submitted_at for j in self.jobs)
        jobs = tuple(
            attrs.evolve(
                j,
                submitted_at=t0 + (j.submitted_at - t0) * arrival,
                duration=None if j.duration is None else max(1.0, j.duration * duration),
            )
            for j in self.jobs
        )
        return attrs.evolve(self, name=f"{self.name}(arrival*{arrival:g},duration*{duration:g})", jobs=jobs)

    @property
    def gpu_capacity_milli(self) -> int:
        """Milli-GPUs over all nodes (1000 per device). O(devices)."""
        return sum(n.capacity.gpu_milli for n in self.nodes)

    @property
    def gpu_count(self) -> int:
        """GPU devices over all nodes."""
        return sum(n.capacity.gpu_count for n in self.nodes)

    @property
    def cpu_capacity_milli(self) -> int:
        """Milli-cores over all nodes."""
        return sum(n.capacity.cpu_milli for n in self.nodes)

    @property
    def gpu_demand_milli(self) -> int:
        """Milli-GPUs all jobs ask for at once (fractions count their share). O(n)."""
        return sum(job_gpu_milli(j) for j in self.jobs)

    @property
    def gpu_seconds(self) -> float:
        """GPU-seconds of work: sum of GPUs held x duration over jobs with a known duration."""
        return sum(job_gpu_milli(j) * j.duration for j in self.jobs if j.duration is not None) / 1000

    def summary(self) -> str:
        """One line: job and node counts, GPUs, time span."""
        span = (
            max(j.submitted_at for j in self.jobs) - min(j.submitted_at for j in self.jobs)
            if self.jobs
            else 0.0
        )
        skipped = sum(c for _, c in self.skipped)
        extra = f", {skipped} records skipped" if skipped else ""
        return (
            f"{self.name}: {len(self.jobs)} jobs over {span:g} s, {len(self.nodes)} nodes, "
            f"{self.gpu_count} GPUs, {self.cpu_capacity_milli / 1000:g} CPUs{extra}"
        )
