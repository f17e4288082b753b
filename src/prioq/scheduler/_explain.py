"""Why a job waits: the pending list with reasons and ``explain``'s text (docs/scheduler.md#pending-reasons).

Reasons are computed by the cycle (:mod:`prioq.scheduler._cycle`) and kept in
the state; this module only reads them, in the style of Kubernetes events and
Slurm's pending reasons.
"""

from __future__ import annotations

import math
from fractions import Fraction

from prioq.fairshare import Ledger, levels
from prioq.model import Job, PendingJob, Reason
from prioq.queue import exact_effective_priority
from prioq.quota import Amounts
from prioq.resources import check
from prioq.scheduler._pending import Lift
from prioq.scheduler._resume import read_preempt
from prioq.scheduler._selection import read_stop
from prioq.scheduler._state import State
from prioq.selection import selection

__all__ = ["effective_priority", "explain", "ordered", "pending"]

_NODE_BREAKDOWN = (Reason.RESOURCES, Reason.UNSATISFIABLE, Reason.PRIORITY, Reason.RESERVED, Reason.NEW,
                   Reason.NO_SELECTED_NODE)


def _ratio(value: Fraction) -> float:
    """``value`` correctly rounded to a float (as the queue rounds its exact keys)."""
    try:
        return value.numerator / value.denominator
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _at_clock(state: State, now: float) -> bool:
    """Whether the queue may answer for ``now`` itself: only at the scheduler's own clock.

    The queue processes its aging events up to any ``now`` it is asked about, which
    cannot be undone; the scheduler's clock is never behind the queue's (a transaction
    sets it first, a rollback rebuilds the queue), so asking at ``state.now`` moves
    nothing a later call could see. A read at a later ``now`` computes from the exact
    keys instead and leaves the queue as it was (docs/orchestrator.md#one-clock)."""
    return state.now is not None and now == state.now


def ordered(state: State, now: float) -> list[tuple[Job, float]]:
    """Every pending job in scheduling order at ``now`` with its effective priority,
    changing nothing. O(n log n)."""
    queue = state.queue
    if _at_clock(state, now):
        jobs = list(queue.ordered(now))
    else:
        keyed = sorted(
            ((queue.key(job, queue.seq_of(job.id), now), job)
             for job in (queue.queued(job_id) for job_id in queue.ids())),
            key=lambda kj: kj[0],
        )
        jobs = [queue.user(job) for _, job in keyed]
    return [(job, effective_priority(state, job.id, now)) for job in jobs]


def effective_priority(state: State, job_id: str, now: float) -> float:
    """A pending job's effective priority at ``now``, changing nothing. O(1) (+ due aging
    events at the scheduler's clock)."""
    queue = state.queue
    if _at_clock(state, now):
        return queue.effective_priority(job_id, now)
    job = queue.queued(job_id)  # a lifted job's copy: its inherited priority and aging start
    return _ratio(exact_effective_priority(queue.aging, job.priority, job.submitted_at, now))


def pending(state: State, now: float) -> list[PendingJob]:
    """Waiting jobs in scheduling order, with the reason from the last cycle. O(n log n)."""
    out = []
    fair = state.fair
    inherited_from = state.deps.inherited_from
    for job, eff in ordered(state, now):
        reason, message = state.reason(job.id)
        share = None
        if fair is not None:
            share = fair.weighted(levels(job.owner)[-1], now)
            if fair.fair.mode == "term":
                eff += fair.term(job.owner, now)
        out.append(PendingJob(job=job, effective_priority=eff, reason=reason, message=message, share=share,
                              inherited_from=inherited_from(job.id)))
    return out


def explain(state: State, job_id: str, now: float) -> str:
    """Where a job runs, or why it waits: reason, position, effective priority, node fit.

    O(n) for the position plus O(N) in nodes for a pending job's node breakdown.
    """
    run = state.runs.get(job_id)
    if run is not None:
        where = ", ".join(run.running.node_ids)
        if run.preempted_by is not None:
            told = read_preempt(state.extras, job_id)
            since = "" if told is None else f" at {told[0]:g}, grace until {told[1]:g}"
            return f"terminating: preempted by {run.preempted_by} on {where}{since}"
        stop = read_stop(state.extras, job_id)
        if stop is not None:  # told to stop by a drain or its time limit
            what = "node drained" if stop[0] == "drain" else "time limit reached"
            return f"terminating: {what}, told at {stop[1]:g} on {where}, grace until {stop[2]:g}"
        text = f"running on {where} since {run.running.started_at:g}"
        cohort = state.ledger.borrowing_jobs.get(job_id) if state.ledger is not None else None
        if cohort is not None:
            text += f"; borrowing quota from cohort {cohort}"
        return text
    job = state.job(job_id)
    eff = effective_priority(state, job_id, now)
    reason, message = state.reason(job_id)
    position = _position(state, job, now)
    fair = state.fair
    term = fair.term(job.owner, now) if fair is not None and fair.fair.mode == "term" else None
    lift = state.queue.lift_of(job_id)
    base = job.priority if lift is None else lift.priority
    parts = f"base {base}" + (f" + aging {eff - base:g}" if eff != base else "")
    if term is not None:
        parts += f" + fair share {term:g}"
        eff += term
    head = (
        f"waiting: {reason.value} — {message}; position {position} of {len(state.queue)}, "
        f"effective priority {eff:g} ({parts})"
    )
    if lift is not None:
        head += "; " + _inheritance(job, lift)
    if fair is not None:
        head += "; " + _owner_shares(fair, job.owner, now)
    if reason in _NODE_BREAKDOWN:
        head += "; " + _node_breakdown(state, job)
    if reason is Reason.QUOTA:
        head += "; " + _quota_now(state, job)
    return head


def _inheritance(job: Job, lift: Lift) -> str:
    """How a lifted job's queued priority and aging start come from its waiting dependants."""
    parts = []
    if lift.priority_from != job.id:
        parts.append(f"priority {lift.priority} from {lift.priority_from}")
    if lift.submitted_from != job.id:
        parts.append(f"aging since {lift.submitted_at:g} from {lift.submitted_from}")
    return (
        f"inherits {' and '.join(parts)} (waiting for it); own priority {job.priority}, "
        f"submitted at {job.submitted_at:g}, which preemption uses"
    )


def _position(state: State, job: Job, now: float) -> int:
    """1 + the number of pending jobs ahead of ``job`` at ``now``, changing nothing. O(n)."""
    queue = state.queue
    if _at_clock(state, now):
        ahead = 0
        for other in queue.ordered(now):
            if other.id == job.id:
                break
            ahead += 1
        return ahead + 1
    mine = queue.key(queue.queued(job.id), queue.seq_of(job.id), now)
    ids = queue.ids()
    return 1 + sum(1 for j in ids if queue.key(queue.queued(j), queue.seq_of(j), now) < mine)


def _quota_now(state: State, job: Job) -> str:
    """The owner's quota as it stands now (the reason is from the last cycle)."""
    ledger = state.ledger
    quota = ledger.quota(job.owner) if ledger is not None else None
    if ledger is None or quota is None or job.owner is None:
        return "its owner has no quota now"
    usage = Amounts.of(ledger.usage[job.owner])
    text = f"quota of {job.owner} now: in use {usage}, nominal {quota.nominal}"
    borrowed = ledger.borrowed(job.owner)
    if borrowed:
        text += f", borrowed {borrowed} from cohort {quota.cohort}"
    return text


def _owner_shares(fair: Ledger, owner: str | None, now: float) -> str:
    """``owner org/team: share 0.25 (weight 2), org: share 0.1 (weight 1)``, the job's own level first."""
    parts = []
    for path in reversed(levels(owner)):
        w = fair.weights.of(path)
        parts.append(f"{path or '(default)'}: share {fair.weighted(path, now):.4g} (weight {w:g})")
    return "owner " + ", ".join(parts)


def _node_breakdown(state: State, job: Job) -> str:
    counts: dict[str, int] = {}
    fits = 0
    sel = selection(job)
    for ns in state.index:
        if not state.is_eligible(sel, ns):  # node selection first, as Kubernetes' filters
            why = state.excluded_because(sel, ns)
            counts[why] = counts.get(why, 0) + 1
            continue
        misfit = check(job.request, ns.free)
        if misfit is None:
            fits += 1
        else:
            counts[misfit.category] = counts.get(misfit.category, 0) + 1
    parts = ", ".join(f"{n} {cat}" for cat, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    need = f" (needs {job.nodes} distinct nodes)" if job.nodes > 1 else ""
    return f"{fits}/{len(state.index)} nodes fit{need}" + (f": {parts}" if parts else "")
