"""A job's structured status, the unmet demand, and the jobs ``Policy.unsatisfiable_after`` drops
(docs/orchestrator.md#status). Reads only, except :func:`drop_unsatisfiable` (journaled)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from fractions import Fraction

from prioq.model import Job, Reason
from prioq.queue import exact_effective_priority
from prioq.resources import ResourceRequest, Resources, check
from prioq.scheduler import _explain
from prioq.scheduler._backfill import Claims, soonest
from prioq.scheduler._pending import Tier
from prioq.scheduler._resume import read_preempt
from prioq.scheduler._selection import read_stop
from prioq.scheduler._state import State
from prioq.selection import Selection, Selector, selection
from prioq.status import Demand, JobStatus, NodeClassFit, PriorityParts, Reservation

__all__ = ["demand", "reservation_of", "status", "unsatisfiable_candidates"]

INF = math.inf


def reservation_of(claims: Claims) -> Reservation | None:
    """The reservation a finished cycle made, if any. O(nodes it holds)."""
    owner = claims.reserved_for
    if owner is None:
        return None
    node_ids = sorted(claims._nodes_of.get(owner, ()))
    until = max((c.until for nid in node_ids for c in claims.by_node.get(nid, ()) if c.owner == owner),
                default=INF)
    return Reservation(job_id=owner, node_ids=tuple(node_ids), start=None if until == INF else until)


def status(state: State, job_id: str, now: float, reservation: Reservation | None) -> JobStatus:
    """Where a job stands. O(position log n) for a pending job's place at the scheduler's clock
    without fair share (O(n) otherwise), plus O(N) in nodes for its node classes."""
    run = state.runs.get(job_id)
    if run is not None:
        job = run.job
        parts = PriorityParts(total=float(job.priority), base=job.priority)
        common = {"job_id": job_id, "job": job, "node_ids": run.running.node_ids,
                  "started_at": run.running.started_at, "priority": parts,
                  "pending": len(state.queue)}
        if run.preempted_by is not None:
            told = read_preempt(state.extras, job_id)
            return JobStatus(state="terminating", preempted_by=run.preempted_by,
                             deadline=None if told is None else told[1], **common)  # type: ignore[arg-type]
        stop = read_stop(state.extras, job_id)
        if stop is not None:  # told to stop by a drain or its time limit
            return JobStatus(state="terminating", deadline=stop[2], message=f"told to stop: {stop[0]}",
                             **common)  # type: ignore[arg-type]
        return JobStatus(state="running", **common)  # type: ignore[arg-type]
    if job_id not in state.queue:
        outcome = state.deps.outcome(job_id)
        if outcome is None:
            state.job(job_id)  # raises UnknownJob
        return JobStatus(job_id=job_id, state="finished", outcome=outcome)
    job = state.queue.get(job_id)
    reason, message = state.reason(job_id)
    classes = node_classes(state, job)
    mine = reservation if reservation is not None and reservation.job_id == job_id else None
    if mine is not None:
        start = mine.start
    elif reason is Reason.RESERVED:
        # room now, but held for the reservation: not before it starts (unknown: unknown)
        start = None if reservation is None or reservation.start is None else max(now, reservation.start)
    else:
        start = _earliest(state, job, classes, now)
    return JobStatus(
        job_id=job_id,
        state="held" if _held(state, job) else "pending",
        job=job,
        reason=reason,
        message=message,
        position=_explain.position(state, job_id, now),
        pending=len(state.queue),
        priority=priority_parts(state, job, now),
        misfits=classes,
        reservation=mine,
        estimated_start=start,
    )


def _held(state: State, job: Job) -> bool:
    deps = state.deps
    return any(d in deps for d in job.after) or deps.failed_dependency(job) is not None


def priority_parts(state: State, job: Job, now: float) -> PriorityParts:
    """A pending job's effective priority, part by part. O(1) (O(depth) with fair share)."""
    eff = _explain.effective_priority(state, job.id, now)
    lift = state.queue.lift_of(job.id)
    queued = job.priority if lift is None else lift.priority
    copy = state.queue.queued(job.id)  # the aging start is the lift's, if any
    boost = exact_effective_priority(state.queue.aging, copy.priority, copy.submitted_at, now) - queued
    fair = state.fair
    term = fair.term(job.owner, now) if fair is not None and fair.fair.mode == "term" else None
    return PriorityParts(
        total=eff + (term or 0.0),
        base=job.priority,
        inherited=queued - job.priority,
        aging=_explain.ratio(Fraction(boost)),
        fair_share=term,
        inherited_from=state.deps.inherited_from(job.id),
    )


def node_classes(state: State, job: Job) -> tuple[NodeClassFit, ...]:
    """Per class of nodes (same capacity, in node order of the first), whether the job could
    ever fit one and how many have room now; only the nodes it may use (node selection,
    docs/scheduler.md#node-selection). O(N) fits."""
    by_class: dict[Resources, list[tuple[str, Resources]]] = {}
    sel = selection(job)
    for ns in state.index:
        if not state.is_eligible(sel, ns):
            continue
        by_class.setdefault(ns.node.capacity, []).append((ns.id, ns.free))
    out = []
    for capacity, nodes in by_class.items():
        never = check(job.request, capacity)
        counts: dict[str, int] = {}
        fits = 0
        for _, free in nodes:
            misfit = check(job.request, free) if never is None else never
            if misfit is None:
                fits += 1
            else:
                text = str(misfit)
                counts[text] = counts.get(text, 0) + 1
        now = min(counts, key=lambda t: (-counts[t], t)) if counts else None
        out.append(NodeClassFit(capacity=str(capacity), node_ids=tuple(n for n, _ in nodes),
                                never=None if never is None else str(never), fit_now=fits, now=now))
    return tuple(out)


def _earliest(state: State, job: Job, classes: tuple[NodeClassFit, ...], now: float) -> float | None:
    """A lower bound on when ``job`` could start, ignoring jobs ahead of it: ``now`` if it fits
    now, else when running jobs' durations free room (``None``: unknown or never)."""
    if state.unsatisfiable(job):
        return None
    if sum(c.fit_now for c in classes) >= job.nodes:
        return now
    node_ids, end = soonest(state, job)
    if not node_ids or end == INF:
        return None
    return max(now, end)


def unsatisfiable_candidates(state: State) -> Iterator[Job]:
    """Every pending job no node could ever hold. O(active + held + shapes + members of
    shapes that are unsatisfiable or not keyed by request): a parked shape keyed by request
    is decided by one member."""
    q = state.queue
    for queue in (q.active, q.held):
        for job_id in list(queue):
            job = q.get(job_id)
            if state.unsatisfiable(job):
                yield job
    for shape, queue in list(q.parked.items()):
        by_request = isinstance(shape, Tier) or (isinstance(shape, tuple) and shape
                                                 and isinstance(shape[0], ResourceRequest))
        ids = list(queue)
        if by_request and ids and not state.unsatisfiable(q.get(ids[0])):
            continue
        for job_id in ids:
            job = q.get(job_id)
            if state.unsatisfiable(job):
                yield job


def demand(state: State, now: float, waited_over: float | None) -> list[Demand]:
    """Pending jobs no node could ever hold, and (``waited_over``) those waiting longer, grouped
    by request shape; jobs waiting on dependencies are left out. Unsatisfiable shapes first,
    then by highest priority, oldest. O(n) over pending jobs (O(shapes) without ``waited_over``
    for the unsatisfiable part, as ``unsatisfiable_candidates``)."""
    groups: dict[tuple[str, ResourceRequest, int, Selection | None], list[Job]] = {}
    seen: set[str] = set()
    for job in unsatisfiable_candidates(state):
        if not _held(state, job):
            groups.setdefault(("unsatisfiable", job.request, job.nodes, selection(job)), []).append(job)
        seen.add(job.id)
    if waited_over is not None:
        q = state.queue
        for job_id in q.ids():
            if job_id in seen:
                continue
            job = q.get(job_id)
            if now - job.submitted_at >= waited_over and not _held(state, job):
                groups.setdefault(("waited", job.request, job.nodes, selection(job)), []).append(job)
    out = []
    for (why, request, nodes, sel), jobs in groups.items():
        selector, tolerations, allowed = (Selector(), (), ()) if sel is None else sel
        out.append(Demand(
            request=request, nodes=nodes, count=len(jobs), highest_priority=max(j.priority for j in jobs),
            oldest_submitted_at=min(j.submitted_at for j in jobs), why=why,  # type: ignore[arg-type]
            job_ids=tuple(sorted(j.id for j in jobs)), node_selector=selector, tolerations=tolerations,
            allowed_nodes=allowed,
        ))
    out.sort(key=lambda d: (d.why != "unsatisfiable", -d.highest_priority, d.oldest_submitted_at,
                            str(d.request), d.nodes, str(d.node_selector), str(d.tolerations),
                            d.allowed_nodes))
    return out

