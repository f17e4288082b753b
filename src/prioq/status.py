"""Structured answers for orchestrators: a job's status and the cluster's unmet demand
(docs/orchestrator.md#status). Plain frozen values: nothing here refers back to a scheduler."""

from __future__ import annotations

from typing import Literal

import attrs

from prioq.model import Job, Reason
from prioq.resources import ResourceRequest
from prioq.selection import Selector, Toleration

__all__ = ["Demand", "JobState", "JobStatus", "NodeClassFit", "PriorityParts", "Reservation"]

JobState = Literal["pending", "held", "running", "terminating", "finished"]


@attrs.frozen(slots=True, kw_only=True)
class PriorityParts:
    """A pending job's effective priority and what it is made of (Slurm's ``sprio``):
    ``total == base + inherited + aging + (fair_share or 0)`` (the parts as floats, so the
    sum is exact only up to rounding)."""

    total: float
    base: int
    """The job's own base priority."""
    inherited: int = 0
    """What priority inheritance adds: a waiting dependant's higher priority minus ``base``
    (docs/dependencies.md); ``inherited_from`` names the dependants."""
    aging: float = 0.0
    """The aging boost (from the inherited aging start when a dependant lends an earlier one)."""
    fair_share: float | None = None
    """The owner's fair-share term with ``FairShare(mode="term")``; ``None`` otherwise."""
    inherited_from: tuple[str, ...] = ()


@attrs.frozen(slots=True, kw_only=True)
class NodeClassFit:
    """How a job fits the nodes of one class (nodes with the same capacity).

    ``never``: why no node of the class could hold it even empty (``None``: one could; a
    GPU model mismatch names the models); ``fit_now``: how many of its nodes have room now;
    ``now``: the most common reason among the others (``None`` if all fit)."""

    capacity: str
    node_ids: tuple[str, ...]
    never: str | None
    fit_now: int
    now: str | None


@attrs.frozen(slots=True, kw_only=True)
class Reservation:
    """The capacity the last cycle reserved for a blocked job (EASY backfill): its nodes, and
    when they are expected to free up from running jobs' durations (``None``: some duration
    is unknown). As of the last cycle."""

    job_id: str
    node_ids: tuple[str, ...]
    start: float | None


@attrs.frozen(slots=True, kw_only=True)
class JobStatus:
    """Where a job stands (``Scheduler.status``).

    ``state``: ``"pending"``; ``"held"`` (pending, waiting for its ``after`` dependencies, or
    never to start because one failed); ``"running"``; ``"terminating"`` (told to stop, not
    released yet); ``"finished"`` (left with a recorded non-success ``outcome``: successes are
    not kept, so a finished successful job is unknown). ``position``: 1 + the pending jobs
    ahead of it, of ``pending`` in all. ``estimated_start``: the reservation's start for the
    job holding it; otherwise, for a job every node class of which is busy, the earliest
    instant the running jobs' durations free room for it *ignoring jobs ahead of it* (a lower
    bound, like ``squeue --start``); ``None`` when unknown."""

    job_id: str
    state: JobState
    job: Job | None = None
    reason: Reason | None = None
    message: str = ""
    position: int | None = None
    pending: int = 0
    priority: PriorityParts | None = None
    misfits: tuple[NodeClassFit, ...] = ()
    reservation: Reservation | None = None
    estimated_start: float | None = None
    node_ids: tuple[str, ...] = ()
    started_at: float | None = None
    preempted_by: str | None = None
    deadline: float | None = None
    """A terminating job's grace deadline."""
    outcome: str | None = None


@attrs.frozen(slots=True, kw_only=True)
class Demand:
    """One request shape the cluster does not serve (``Scheduler.unmet_demand``): how many
    pending jobs ask for it, the highest base priority among them, the oldest ``submitted_at``,
    and why: ``"unsatisfiable"`` (no node could ever hold it) or ``"waited"`` (past the
    threshold). Jobs that select nodes (``node_selector``, ``tolerations``,
    ``allowed_nodes``) form shapes of their own, which carry the selection: the nodes an
    autoscaler adds for them must have those labels (and may have those taints)."""

    request: ResourceRequest
    nodes: int
    count: int
    highest_priority: int
    oldest_submitted_at: float
    why: Literal["unsatisfiable", "waited"]
    job_ids: tuple[str, ...] = ()
    node_selector: Selector = attrs.field(factory=Selector)
    tolerations: tuple[Toleration, ...] = ()
    allowed_nodes: tuple[str, ...] = ()
