"""Value types shared by every part of prioq (docs/architecture.md).

All are frozen attrs classes built by keyword and validated on construction
(with :mod:`prioq._validate`), so a bad value is caught where it is written,
not deep inside a scheduling cycle. ``Job.request`` and ``Node.capacity`` also
accept spec strings. Errors name what is wrong: job fields raise
:class:`~prioq.errors.InvalidJob`, node fields :class:`~prioq.errors.InvalidNode`,
priority classes :class:`~prioq.errors.InvalidPolicy`, resource specs
:class:`~prioq.errors.InvalidSpec`; a wrong type raises the ``...Type`` variant.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import attrs

from prioq._frozen import FrozenMap
from prioq._validate import (
    MAX_GANG,
    boolean,
    choice,
    identifier,
    identifiers,
    instance,
    instant,
    integer,
    number,
    priority,
    wrong_type,
)
from prioq.errors import InvalidJob, InvalidNode, InvalidPolicy, InvalidSpec, InvalidValue
from prioq.resources import MILLI, ResourceRequest, Resources
from prioq.selection import Selector, Taint, Toleration, taints_of, tolerations_of

__all__ = [
    "DEPENDENCY_MODES",
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
    "Stop",
]


DEPENDENCY_MODES = ("afterany", "afterok")
"""``Job.dependency`` values, as Slurm spells them."""


class Labels(FrozenMap[str]):
    """An immutable, hashable ``str -> str`` mapping (so jobs and nodes stay hashable).

    Built from a mapping or from ``(key, value)`` pairs; anything else raises
    ``error``'s ``...Type`` variant (:class:`~prioq.errors.InvalidJobType` for a
    job's labels, :class:`~prioq.errors.InvalidNodeType` for a node's).
    """

    __slots__ = ()

    def __init__(
        self,
        items: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        *,
        error: type[InvalidValue] = InvalidValue,
    ) -> None:
        data: dict[str, str] = {}
        for k, v in _label_pairs(items, error):
            if not isinstance(k, str) or not isinstance(v, str):
                raise wrong_type(error, f"labels: keys and values must be strings, got {k!r}: {v!r}")
            data[k] = v
        self._items = dict(sorted(data.items()))

    def __repr__(self) -> str:
        return repr(self._items)


def _label_pairs(items: object, error: type[InvalidValue]) -> list[tuple[object, object]]:
    # dict() would take a string "ab" as the pair ("a", "b"), and leak TypeError/ValueError otherwise.
    if isinstance(items, Mapping):
        return list(items.items())
    if isinstance(items, str | bytes) or not isinstance(items, Iterable):
        raise wrong_type(error, f"labels: expected a mapping or (key, value) pairs, got {items!r}")
    out: list[tuple[object, object]] = []
    for pair in items:
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            raise wrong_type(error, f"labels: expected (key, value) pairs, got {pair!r}")
        out.append((pair[0], pair[1]))
    return out


def _labels_of(value: object, error: type[InvalidValue]) -> Labels:
    if isinstance(value, Labels):
        return value
    if value is None:
        return Labels()
    return Labels(value, error=error)  # type: ignore[arg-type]  # checked by Labels


def _job_labels(value: Mapping[str, str] | Iterable[tuple[str, str]] | None) -> Labels:
    return _labels_of(value, InvalidJob)


def _node_labels(value: Mapping[str, str] | Iterable[tuple[str, str]] | None) -> Labels:
    return _labels_of(value, InvalidNode)


def _job_selector(value: object) -> Selector:
    return Selector.of(value, InvalidJob)


def _job_tolerations(value: object) -> tuple[Toleration, ...]:
    return tolerations_of(value, InvalidJob)


def _node_taints(value: object) -> tuple[Taint, ...]:
    return taints_of(value, InvalidNode)


def _allowed_nodes(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(set(identifiers(value, "job allowed_nodes", error=InvalidJob))))


def _request(value: str | Mapping[str, Any] | ResourceRequest) -> ResourceRequest:
    return ResourceRequest.parse(value)


def _capacity(value: str | Mapping[str, Any] | Resources) -> Resources:
    return Resources.parse(value)


# One rule for id tuples (prioq._validate.identifiers): a plain string is refused, not split into letters.
def _job_ids(value: Iterable[str]) -> tuple[str, ...]:
    return identifiers(value, "job after", error=InvalidJob)


def _node_ids(value: Iterable[str]) -> tuple[str, ...]:
    return identifiers(value, "node_ids")


def _resources_tuple(value: Iterable[Resources]) -> tuple[Resources, ...]:
    if type(value) is tuple and all(type(r) is Resources for r in value):
        return value  # the scheduler's own allocations: nothing to copy or check
    if isinstance(value, Resources) or not isinstance(value, Iterable):
        raise wrong_type(InvalidValue, f"allocation: expected a collection of Resources, got {value!r}")
    out = tuple(value)
    for r in out:
        instance(r, Resources, "allocation item")
    return out


def _optional_id(value: object, what: str, error: type[InvalidValue]) -> None:
    if value is not None:
        identifier(value, f"{what} (a non-empty string or None)", error=error)


def _duration(value: object, what: str) -> None:
    # A duration is added to instants: finite, > 0 and exact as a float, like an instant.
    as_float = number(value, what, error=InvalidJob, above=0)
    if as_float != value:
        raise InvalidJob(f"{what}: must be exactly representable as a float, got {value!r}")


@attrs.frozen(slots=True, kw_only=True)
class PriorityClass:
    """A named priority, like Kubernetes' PriorityClass / Kueue's WorkloadPriorityClass.

    ``preemption="never"``: jobs of this class queue by ``value`` but never evict others.
    A priority class is a policy value: bad fields raise :class:`~prioq.errors.InvalidPolicy`.
    """

    name: str
    value: int
    preemption: Literal["lower-priority", "never"] = "lower-priority"

    def __attrs_post_init__(self) -> None:
        identifier(self.name, "priority class name", error=InvalidPolicy)
        priority(self.value, f"priority class {self.name}: value", error=InvalidPolicy)
        choice(self.preemption, ("lower-priority", "never"), f"priority class {self.name}: preemption",
               error=InvalidPolicy)


@attrs.frozen(slots=True, kw_only=True)
class Job:
    """A unit of work waiting to run (docs/scheduler.md).

    ``priority``: higher runs first, an int within ``±MAX_PRIORITY`` (2**53).
    ``submitted_at``: an instant (finite, exact as a float). ``nodes`` > 1
    makes a gang (all members start together on distinct nodes). ``duration``:
    an optional runtime estimate (backfill, simulation), > 0 and exact as a
    float. ``group``: a run whose jobs share a priority
    (``Scheduler.set_group_priority``). ``after``: ids this job waits for (a
    collection of ids, never a plain string); ``dependency``: what it waits
    for, Slurm's ``"afterany"`` (default: each has ended, however) or
    ``"afterok"`` (each has succeeded; a failed or cancelled one means the
    job never starts) -- docs/dependencies.md. ``node_selector`` (a
    :class:`~prioq.selection.Selector` or a mapping like ``{"fleet": "dev"}``),
    ``tolerations`` and ``allowed_nodes`` (ids; empty: any) restrict the nodes it
    may run on (docs/scheduler.md#node-selection). ``time_limit``: seconds it may
    run before the scheduler tells it to stop (a ``Stop`` decision), > 0 and exact
    as a float; it bounds the runtime reservations and backfill plan with
    (:attr:`estimate`). The
    scheduler's range check of ``priority`` (default 0..100) happens at
    submit. Bad fields raise :class:`~prioq.errors.InvalidJob` (wrong types:
    :class:`~prioq.errors.InvalidJobType`); a bad ``request`` spec raises
    :class:`~prioq.errors.InvalidSpec`.
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
    after: tuple[str, ...] = attrs.field(default=(), converter=_job_ids)
    labels: Labels = attrs.field(factory=Labels, converter=_job_labels)
    dependency: Literal["afterany", "afterok"] = "afterany"
    node_selector: Selector = attrs.field(factory=Selector, converter=_job_selector)
    tolerations: tuple[Toleration, ...] = attrs.field(default=(), converter=_job_tolerations)
    allowed_nodes: tuple[str, ...] = attrs.field(default=(), converter=_allowed_nodes)
    time_limit: float | None = None

    def __attrs_post_init__(self) -> None:
        identifier(self.id, "job id", error=InvalidJob)
        what = f"job {self.id}"
        priority(self.priority, what, error=InvalidJob)
        instant(self.submitted_at, f"{what}: submitted_at", error=InvalidJob)
        integer(self.nodes, f"{what}: nodes", error=InvalidJob, minimum=1, maximum=MAX_GANG)
        boolean(self.preemptible, f"{what}: preemptible", error=InvalidJob)
        _optional_id(self.owner, f"{what}: owner", InvalidJob)
        _optional_id(self.group, f"{what}: group", InvalidJob)
        _optional_id(self.priority_class, f"{what}: priority_class", InvalidJob)
        if self.duration is not None:
            _duration(self.duration, f"{what}: duration")
        if self.time_limit is not None:
            _duration(self.time_limit, f"{what}: time_limit")
        if self.dependency != "afterany":  # the common case without a call
            choice(self.dependency, DEPENDENCY_MODES, f"{what}: dependency", error=InvalidJob)
        if self.id in self.after:
            raise InvalidJob(f"job {self.id}: cannot wait for itself")

    @property
    def estimate(self) -> float | None:
        """What the scheduler plans with as the job's runtime (reservations, backfill): the
        smaller of ``duration`` and ``time_limit`` -- a job is told to stop at its limit, so
        the limit bounds its runtime, as Slurm's backfill reads it; ``None`` when neither is
        set. O(1)."""
        d, limit = self.duration, self.time_limit
        if limit is None:
            return d
        return limit if d is None or limit < d else d


@attrs.frozen(slots=True, kw_only=True)
class Node:
    """A machine jobs run on: ``capacity`` is a :class:`Resources` or a spec string.

    Bad fields raise :class:`~prioq.errors.InvalidNode` (wrong types:
    :class:`~prioq.errors.InvalidNodeType`); a bad ``capacity`` raises
    :class:`~prioq.errors.InvalidSpec`, as does a GPU that is not one whole device.
    ``taints``: :class:`~prioq.selection.Taint` values or ``"key[=value]:NoSchedule"``
    strings; only jobs that tolerate them all are placed there.
    """

    id: str
    capacity: Resources = attrs.field(converter=_capacity)
    labels: Labels = attrs.field(factory=Labels, converter=_node_labels)
    taints: tuple[Taint, ...] = attrs.field(default=(), converter=_node_taints)

    def __attrs_post_init__(self) -> None:
        identifier(self.id, "node id", error=InvalidNode)
        for d in self.capacity.gpus:
            if d.milli != MILLI:
                raise InvalidSpec(f"node {self.id}: gpu {d.index} capacity must be one whole device")


@attrs.frozen(slots=True, kw_only=True)
class Running:
    """A started job: where it runs, since when, and what it holds on each node.

    ``allocation[i]`` is what the job holds on ``node_ids[i]``. Bad fields raise
    :class:`~prioq.errors.InvalidValue` (``started_at``: :class:`~prioq.errors.InvalidTime`).
    """

    job: Job
    node_ids: tuple[str, ...] = attrs.field(converter=_node_ids)
    started_at: float
    allocation: tuple[Resources, ...] = attrs.field(converter=_resources_tuple)

    def __attrs_post_init__(self) -> None:
        # built on every start: the common case (a Job, a finite float) costs two type tests
        if type(self.job) is not Job:
            instance(self.job, Job, "running job")
        started = self.started_at
        if type(started) is not float or started - started != 0.0:
            instant(started, f"running job {self.job.id}: started_at")

    def allocation_on(self, node_id: str) -> Resources:
        """What the job holds on one of its nodes. O(gang size)."""
        return self.allocation[self.node_ids.index(node_id)]


@attrs.frozen(slots=True, kw_only=True)
class Start:
    """Decision: start ``job_id`` on ``node_ids`` with ``allocation[i]`` on ``node_ids[i]``."""

    job_id: str
    node_ids: tuple[str, ...] = attrs.field(converter=_node_ids)
    allocation: tuple[Resources, ...] = attrs.field(converter=_resources_tuple)

    def __attrs_post_init__(self) -> None:
        if type(self.job_id) is not str or not self.job_id:
            identifier(self.job_id, "start: job_id")


PREEMPT_REASONS = ("preemption", "drain")


@attrs.frozen(slots=True, kw_only=True, repr=False)
class Preempt:
    """Decision: stop victim ``job_id`` (on ``node_ids``) within ``grace`` seconds so ``by`` can run.

    ``reason="preemption"``: ``by`` is the preemptor. ``reason="drain"``: a node it runs
    on is drained (``Scheduler.drain_node``), ``by`` is ``None``. Either way the victim is
    *terminating* until the orchestrator calls ``release(job_id)``, which requeues it.
    """

    job_id: str
    node_ids: tuple[str, ...] = attrs.field(converter=_node_ids)
    by: str | None = None
    grace: float = 0.0
    reason: Literal["preemption", "drain"] = "preemption"

    def __attrs_post_init__(self) -> None:
        identifier(self.job_id, "preempt: job_id")
        if self.reason != "preemption":
            choice(self.reason, PREEMPT_REASONS, f"preempt {self.job_id}: reason")
            if self.by is not None:
                raise InvalidValue(
                    f"preempt {self.job_id}: a {self.reason} has no preemptor, got by={self.by!r}")
        else:
            identifier(self.by, f"preempt {self.job_id}: by")
        number(self.grace, f"preempt {self.job_id}: grace", minimum=0)

    def __repr__(self) -> str:
        # the reason only when it is not the usual one: preemptions print as they always did
        why = "" if self.reason == "preemption" else f", reason={self.reason!r}"
        return (f"Preempt(job_id={self.job_id!r}, node_ids={self.node_ids!r}, by={self.by!r}, "
                f"grace={self.grace!r}{why})")


@attrs.frozen(slots=True, kw_only=True)
class Stop:
    """Decision: stop ``job_id`` (on ``node_ids``) now; ``reason="time-limit"``: it ran for its
    ``Job.time_limit``. It is *terminating* until ``release(job_id)``, which ends it (outcome
    ``"failed"`` unless given: Slurm's TIMEOUT is no success)."""

    job_id: str
    node_ids: tuple[str, ...] = attrs.field(converter=_node_ids)
    reason: Literal["time-limit"] = "time-limit"

    def __attrs_post_init__(self) -> None:
        identifier(self.job_id, "stop: job_id")
        choice(self.reason, ("time-limit",), f"stop {self.job_id}: reason")


Decision = Start | Preempt | Stop


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
    QUOTA = "QUOTA"
    """Its owner's quota (with what its cohort lends) has no room for it now."""
    DEPENDENCY = "DEPENDENCY"
    """Waiting for the jobs in ``after`` to finish."""
    DEPENDENCY_FAILED = "DEPENDENCY_FAILED"
    """An ``afterok`` dependency ended without success: the job never starts (Slurm's
    DependencyNeverSatisfied)."""
    NO_SELECTED_NODE = "NO_SELECTED_NODE"
    """No node it may use (its ``node_selector``, ``tolerations`` and ``allowed_nodes``;
    cordoned nodes left out) could ever hold it, even empty; other nodes could."""
    NEW = "NEW"
    """Not considered by a scheduling cycle yet."""


@attrs.frozen(slots=True, kw_only=True)
class PendingJob:
    """A waiting job as ``Scheduler.pending`` reports it."""

    job: Job
    effective_priority: float
    """Base priority plus aging (plus, with ``FairShare(mode="term")``, the owner's term)."""
    reason: Reason
    message: str
    inherited_from: tuple[str, ...] = ()
    """The waiting dependants whose priority or aging start it is queued with (priority
    inheritance, docs/dependencies.md); ``effective_priority`` is then theirs, ``job`` keeps
    its own."""
    share: float | None = None
    """With fair share on: the owner's weighted dominant share now (docs/fairness.md)."""
