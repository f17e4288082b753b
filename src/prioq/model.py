"""Value types shared by every part of prioq (docs/architecture.md).

All are frozen attrs classes built by keyword and validated on construction,
so a bad value is caught where it is written, not deep inside a scheduling
cycle. ``Job.request`` and ``Node.capacity`` also accept spec strings.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Literal

import attrs

from prioq.errors import InvalidJob, InvalidSpec
from prioq.resources import ResourceRequest, Resources

__all__ = [
    "Decision",
    "Job",
    "Labels",
    "Node",
    "PendingJob",
    "Preempt",
    "PriorityClass",
    "Reason",
    "Running",
    "Start",
]


class Labels(Mapping[str, str]):
    """An immutable, hashable ``str -> str`` mapping (so jobs and nodes stay hashable)."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        data = dict(items.items() if isinstance(items, Mapping) else items)
        for k, v in data.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise InvalidJob(f"labels: keys and values must be strings, got {k!r}: {v!r}")
        self._items = dict(sorted(data.items()))

    def __getitem__(self, key: str) -> str:
        value: str = self._items[key]
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(tuple(self._items.items()))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return self._items == dict(other.items())
        return NotImplemented

    def __repr__(self) -> str:
        return repr(self._items)


def _labels(value: Mapping[str, str] | Iterable[tuple[str, str]] | None) -> Labels:
    return value if isinstance(value, Labels) else Labels(value or ())


def _request(value: str | Mapping[str, Any] | ResourceRequest) -> ResourceRequest:
    return ResourceRequest.parse(value)


def _capacity(value: str | Mapping[str, Any] | Resources) -> Resources:
    return Resources.parse(value)


def _str_tuple(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


def _resources_tuple(value: Iterable[Resources]) -> tuple[Resources, ...]:
    return tuple(value)


def _check_id(kind: str, value: object) -> None:
    if not isinstance(value, str) or not value:
        raise InvalidJob(f"{kind}: expected a non-empty string, got {value!r}")


def _check_time(field: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidJob(f"{field}: expected a finite number, got {value!r}")


def _optional_str(field: str, value: object) -> None:
    if value is not None and (not isinstance(value, str) or not value):
        raise InvalidJob(f"{field}: expected a non-empty string or None, got {value!r}")


@attrs.frozen(slots=True, kw_only=True)
class PriorityClass:
    """A named priority, like Kubernetes' PriorityClass / Kueue's WorkloadPriorityClass.

    ``preemption="never"``: jobs of this class queue by ``value`` but never evict others.
    """

    name: str
    value: int
    preemption: Literal["lower-priority", "never"] = "lower-priority"

    def __attrs_post_init__(self) -> None:
        _check_id("priority class name", self.name)
        if isinstance(self.value, bool) or not isinstance(self.value, int):
            raise InvalidJob(f"priority class {self.name}: value must be an int, got {self.value!r}")
        if self.preemption not in ("lower-priority", "never"):
            raise InvalidJob(
                f"priority class {self.name}: preemption must be 'lower-priority' or 'never', "
                f"got {self.preemption!r}"
            )


@attrs.frozen(slots=True, kw_only=True)
class Job:
    """A unit of work waiting to run (docs/scheduler.md).

    ``priority``: higher runs first. ``nodes`` > 1 makes a gang (all members
    start together on distinct nodes). ``duration``: an optional runtime
    estimate (backfill, simulation). ``group``: a run whose jobs share a
    priority. ``after``: ids this job waits for. The scheduler's range check
    of ``priority`` (default 0..100) happens at submit.
    """

    id: str
    submitted_at: float
    priority: int = 0
    request: ResourceRequest = attrs.field(factory=ResourceRequest, converter=_request)
    nodes: int = 1
    preemptible: bool = True
    owner: str | None = None
    group: str | None = None
    duration: float | None = None
    priority_class: str | None = None
    after: tuple[str, ...] = attrs.field(default=(), converter=_str_tuple)
    labels: Labels = attrs.field(factory=Labels, converter=_labels)

    def __attrs_post_init__(self) -> None:
        _check_id("job id", self.id)
        if isinstance(self.priority, bool) or not isinstance(self.priority, int):
            raise InvalidJob(f"job {self.id}: priority must be an int, got {self.priority!r}")
        _check_time(f"job {self.id}: submitted_at", self.submitted_at)
        if isinstance(self.nodes, bool) or not isinstance(self.nodes, int) or self.nodes < 1:
            raise InvalidJob(f"job {self.id}: nodes must be an int >= 1, got {self.nodes!r}")
        if not isinstance(self.preemptible, bool):
            raise InvalidJob(f"job {self.id}: preemptible must be a bool, got {self.preemptible!r}")
        _optional_str(f"job {self.id}: owner", self.owner)
        _optional_str(f"job {self.id}: group", self.group)
        _optional_str(f"job {self.id}: priority_class", self.priority_class)
        if self.duration is not None:
            _check_time(f"job {self.id}: duration", self.duration)
            if self.duration <= 0:
                raise InvalidJob(f"job {self.id}: duration must be > 0, got {self.duration!r}")
        for dep in self.after:
            _check_id(f"job {self.id}: after", dep)
        if self.id in self.after:
            raise InvalidJob(f"job {self.id}: cannot wait for itself")


@attrs.frozen(slots=True, kw_only=True)
class Node:
    """A machine jobs run on: ``capacity`` is a :class:`Resources` or a spec string."""

    id: str
    capacity: Resources = attrs.field(converter=_capacity)
    labels: Labels = attrs.field(factory=Labels, converter=_labels)

    def __attrs_post_init__(self) -> None:
        _check_id("node id", self.id)
        for d in self.capacity.gpus:
            if d.milli != 1000:
                raise InvalidSpec(f"node {self.id}: gpu {d.index} capacity must be one whole device")


@attrs.frozen(slots=True, kw_only=True)
class Running:
    """A started job: where it runs, since when, and what it holds on each node.

    ``allocation[i]`` is what the job holds on ``node_ids[i]``.
    """

    job: Job
    node_ids: tuple[str, ...] = attrs.field(converter=_str_tuple)
    started_at: float
    allocation: tuple[Resources, ...] = attrs.field(converter=_resources_tuple)

    def allocation_on(self, node_id: str) -> Resources:
        """What the job holds on one of its nodes. O(gang size)."""
        return self.allocation[self.node_ids.index(node_id)]


@attrs.frozen(slots=True, kw_only=True)
class Start:
    """Decision: start ``job_id`` on ``node_ids`` with ``allocation[i]`` on ``node_ids[i]``."""

    job_id: str
    node_ids: tuple[str, ...] = attrs.field(converter=_str_tuple)
    allocation: tuple[Resources, ...] = attrs.field(converter=_resources_tuple)


@attrs.frozen(slots=True, kw_only=True)
class Preempt:
    """Decision: stop victim ``job_id`` (on ``node_ids``) within ``grace`` seconds so ``by`` can run.

    The victim is *terminating* until the orchestrator calls ``release(job_id)``.
    """

    job_id: str
    node_ids: tuple[str, ...] = attrs.field(converter=_str_tuple)
    by: str
    grace: float = 0.0


Decision = Start | Preempt


class Reason(enum.Enum):
    """Why a job is pending (docs/scheduler.md#pending-reasons)."""

    PRIORITY = "PRIORITY"
    """Jobs ahead of it in the queue take what it needs first."""
    RESOURCES = "RESOURCES"
    """No node has the free resources now."""
    UNSATISFIABLE = "UNSATISFIABLE"
    """No node could ever fit it, even empty."""
    RESERVED = "RESERVED"
    """The capacity it could use is reserved for a blocked higher job."""
    BLOCKED = "BLOCKED"
    """Strict queueing: a job ahead of it cannot start."""
    PREEMPTING = "PREEMPTING"
    """Nominated to nodes whose victims are terminating."""
    DEPENDENCY = "DEPENDENCY"
    """Waiting for the jobs in ``after`` to finish."""
    NEW = "NEW"
    """Not considered by a scheduling cycle yet."""


@attrs.frozen(slots=True, kw_only=True)
class PendingJob:
    """A waiting job as ``Scheduler.pending`` reports it."""

    job: Job
    effective_priority: float
    reason: Reason
    message: str
