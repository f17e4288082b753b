"""Why a job waits: the pending list with reasons and ``explain``'s text (docs/scheduler.md#pending-reasons).

Reasons are computed by the cycle (:mod:`prioq.scheduler._cycle`) and kept in
the state; this module only reads them, in the style of Kubernetes events and
Slurm's pending reasons.
"""

from __future__ import annotations

import datetime
import heapq
import itertools
import math
from collections.abc import Callable
from fractions import Fraction

from prioq.fairshare import Ledger, levels
from prioq.model import Job, PendingJob, Reason
from prioq.queue import exact_effective_priority
from prioq.queue.aging import LinearAging
from prioq.quota import Amounts
from prioq.resources import check
from prioq.scheduler._pending import Lift
from prioq.scheduler._resume import read_preempt
from prioq.scheduler._selection import read_stop
from prioq.scheduler._state import State
from prioq.selection import selection

__all__ = [
    "TimeFormat", "effective_priority", "epoch_or_plain", "explain", "ordered", "pending", "position",
    "ratio",
]

TimeFormat = Callable[[float], str]
"""How explain prints an instant."""

_NODE_BREAKDOWN = (Reason.RESOURCES, Reason.UNSATISFIABLE, Reason.PRIORITY, Reason.RESERVED, Reason.NEW,
                   Reason.NO_SELECTED_NODE)


def ratio(value: Fraction) -> float:
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


def ordered(state: State, now: float, limit: int | None = None) -> list[tuple[Job, float]]:
    """The first ``limit`` (all: ``None``) pending jobs in scheduling order at ``now`` with their
    effective priorities, changing nothing. At the scheduler's clock without fair share the
    queues are merged lazily: O((limit + shapes) log n); otherwise every job's effective
    priority is bounded cheaply and only the jobs that may be among the first ``limit``
    get exact keys: O(n) float operations plus O(c log limit) for c candidates (``limit``
    plus near-ties). O(n log n) exact for all."""
    queue = state.queue
    if _at_clock(state, now) and (limit is None or queue.fair is None):
        jobs = list(itertools.islice(queue.ordered(now), limit))
    elif limit == 0:
        jobs = []
    else:
        ids = queue.ids()
        if limit is not None and limit < len(ids):
            # Only jobs that may be among the first ``limit`` need exact keys: the limit-th
            # highest lower bound is a floor no job under it can reach (see _bounds).
            bounds = _bounds(state, now)
            boxed = [(bounds(job_id), job_id) for job_id in ids]
            floor = heapq.nlargest(limit, (b[0][0] for b in boxed))[-1]
            floor -= _TIE * (abs(floor) + 1.0)
            ids = [job_id for (_, hi), job_id in boxed if hi >= floor]
        keyed = ((queue.key(job, queue.seq_of(job.id), now), job)
                 for job in (queue.queued(job_id) for job_id in ids))
        if limit is None:
            picked = sorted(keyed, key=lambda kj: kj[0])
        else:
            picked = heapq.nsmallest(limit, keyed, key=lambda kj: kj[0])
        jobs = [queue.user(job) for _, job in picked]
    return [(job, effective_priority(state, job.id, now)) for job in jobs]


def effective_priority(state: State, job_id: str, now: float) -> float:
    """A pending job's effective priority at ``now``, changing nothing. O(1) (+ due aging
    events at the scheduler's clock)."""
    queue = state.queue
    if _at_clock(state, now):
        return queue.effective_priority(job_id, now)
    job = queue.queued(job_id)  # a lifted job's copy: its inherited priority and aging start
    return ratio(exact_effective_priority(queue.aging, job.priority, job.submitted_at, now))


def pending(state: State, now: float, limit: int | None = None) -> list[PendingJob]:
    """The first ``limit`` waiting jobs in scheduling order, with the reason from the last cycle.
    O(n log n) for all; see :func:`ordered` for a limit."""
    out = []
    fair = state.fair
    inherited_from = state.deps.inherited_from
    for job, eff in ordered(state, now, limit):
        reason, message = state.reason(job.id)
        share = None
        if fair is not None:
            share = fair.weighted(levels(job.owner)[-1], now)
            if fair.fair.mode == "term":
                eff += fair.term(job.owner, now)
        out.append(PendingJob(job=job, effective_priority=eff, reason=reason, message=message, share=share,
                              inherited_from=inherited_from(job.id)))
    return out


def epoch_or_plain(t: float) -> str:
    """An instant as ISO-8601 UTC when it looks like epoch seconds (at or after 1e9 s, i.e.
    2001-09-09), else as a plain number: the default time format of :func:`explain`."""
    if t >= EPOCH_LIKE and t < MAX_EPOCH:
        stamp = datetime.datetime.fromtimestamp(t, datetime.UTC)
        text = stamp.isoformat(timespec="milliseconds" if stamp.microsecond else "seconds")
        return text.replace("+00:00", "Z")
    return f"{t:g}"


EPOCH_LIKE = 1e9
MAX_EPOCH = 253402300800.0  # 10000-01-01: datetime's range ends there


def explain(state: State, job_id: str, now: float, fmt: TimeFormat = epoch_or_plain) -> str:
    """Where a job runs, or why it waits: reason, position, effective priority, node fit.

    O(n) for the position plus O(N) in nodes for a pending job's node breakdown.
    """
    run = state.runs.get(job_id)
    if run is not None:
        where = ", ".join(run.running.node_ids)
        if run.preempted_by is not None:
            told = read_preempt(state.extras, job_id)
            since = "" if told is None else f" at {fmt(told[0])}, grace until {fmt(told[1])}"
            return f"terminating: preempted by {run.preempted_by} on {where}{since}"
        stop = read_stop(state.extras, job_id)
        if stop is not None:  # told to stop by a drain or its time limit
            what = "node drained" if stop[0] == "drain" else "time limit reached"
            return f"terminating: {what}, told at {fmt(stop[1])} on {where}, grace until {fmt(stop[2])}"
        text = f"running on {where} since {fmt(run.running.started_at)}"
        cohort = state.ledger.borrowing_jobs.get(job_id) if state.ledger is not None else None
        if cohort is not None:
            text += f"; borrowing quota from cohort {cohort}"
        return text
    job = state.job(job_id)
    eff = effective_priority(state, job_id, now)
    reason, message = state.reason(job_id)
    place = position(state, job_id, now)
    fair = state.fair
    term = fair.term(job.owner, now) if fair is not None and fair.fair.mode == "term" else None
    lift = state.queue.lift_of(job_id)
    base = job.priority if lift is None else lift.priority
    parts = f"base {base}" + (f" + aging {eff - base:g}" if eff != base else "")
    if term is not None:
        parts += f" + fair share {term:g}"
        eff += term
    head = (
        f"waiting: {reason.value} — {message}; position {place} of {len(state.queue)}, "
        f"effective priority {eff:g} ({parts})"
    )
    if lift is not None:
        head += "; " + _inheritance(job, lift, fmt)
    if fair is not None:
        head += "; " + _owner_shares(fair, job.owner, now)
    if reason in _NODE_BREAKDOWN:
        head += "; " + _node_breakdown(state, job)
    if reason is Reason.QUOTA:
        head += "; " + _quota_now(state, job)
    return head


def _inheritance(job: Job, lift: Lift, fmt: TimeFormat) -> str:
    """How a lifted job's queued priority and aging start come from its waiting dependants."""
    parts = []
    if lift.priority_from != job.id:
        parts.append(f"priority {lift.priority} from {lift.priority_from}")
    if lift.submitted_from != job.id:
        parts.append(f"aging since {fmt(lift.submitted_at)} from {lift.submitted_from}")
    return (
        f"inherits {' and '.join(parts)} (waiting for it); own priority {job.priority}, "
        f"submitted at {fmt(job.submitted_at)}, which preemption uses"
    )


def position(state: State, job_id: str, now: float) -> int:
    """1 + the number of pending jobs ahead of ``job_id`` at ``now``, changing nothing.

    At the scheduler's clock without fair share the queues are first merged lazily up to
    the job, for at most ``_WALK`` jobs: O((position + shapes) log n) near the head. Past
    that (and with fair share, or ahead of the clock) every other job's effective priority
    is bounded by floats and compared with the job's; only where the bounds overlap do the
    exact order keys decide: O(n) cheap comparisons, never a sort."""
    queue = state.queue
    if _at_clock(state, now) and queue.fair is None:
        for i, other in enumerate(itertools.islice(queue.ordered(now), _WALK), 1):
            if other.id == job_id:
                return i
    bounds = _bounds(state, now)
    lo_mine, hi_mine = bounds(job_id)
    slack = _TIE * (abs(hi_mine) + 1.0)
    mine_key = None
    ahead = 0
    for other_id in queue.ids():
        lo, hi = bounds(other_id)
        if lo > hi_mine + slack:
            ahead += 1  # surely higher
        elif hi < lo_mine - slack or other_id == job_id:
            continue  # surely lower
        else:
            if mine_key is None:
                mine_key = queue.key(queue.queued(job_id), queue.seq_of(job_id), now)
            ahead += queue.key(queue.queued(other_id), queue.seq_of(other_id), now) < mine_key
    return ahead + 1


_WALK = 64
"""Jobs the lazy merge walks before :func:`position` counts instead (a merge step costs
exact key arithmetic; a count step a few float operations)."""
_TIE = 2.0**-40
"""Relative slack for the roundings in :func:`_bounds` (a few ulps each): closer than this,
the exact keys decide."""


def _bounds(state: State, now: float) -> Callable[[str], tuple[float, float]]:
    """For a pending job, floats ``lo <= hi`` around the first element of its order key (the
    effective priority, plus the owner's fair-share term with ``mode="term"``), up to
    :data:`_TIE`'s slack. O(1) per job: at the scheduler's clock the queue's own correctly
    rounded value; ahead of it under :class:`LinearAging` the boost at the float wait's two
    neighbours (the exact wait lies between them, and the boost is non-decreasing); other
    aging policies ahead of the clock compute exactly (a float wait could cross a step)."""
    fair = state.fair
    queue = state.queue
    at_clock = _at_clock(state, now)
    aging = queue.aging
    rate = cap = math.nan
    if isinstance(aging, LinearAging) and float(aging.rate) == aging.rate and (
        float(aging.max_boost) == aging.max_boost
    ):
        rate, cap = float(aging.rate), float(aging.max_boost)

    def eff(job_id: str) -> tuple[float, float]:
        if queue.no_aging:  # the queued (maybe lifted) priority itself: no arithmetic at all
            p = float(queue.queued(job_id).priority)
            return p, p
        if at_clock:
            e = queue.effective_priority(job_id, now)
            return e, e
        if rate == rate:  # LinearAging with float parameters: min(rate * wait, cap), rounded once
            q = queue.queued(job_id)
            wait = now - q.submitted_at  # its sign is exact
            if wait <= 0:
                p = float(q.priority)
                return p, p
            lo = min(rate * math.nextafter(wait, 0.0), cap)
            hi = min(rate * math.nextafter(wait, math.inf), cap)
            return q.priority + lo, q.priority + hi
        e = effective_priority(state, job_id, now)
        return e, e

    if fair is None or fair.fair.mode != "term":
        return eff
    terms: dict[str | None, float] = {}

    def with_term(job_id: str) -> tuple[float, float]:
        owner = queue.get(job_id).owner
        term = terms.get(owner)
        if term is None:
            term = terms[owner] = fair.term(owner, now)
        lo, hi = eff(job_id)
        return lo + term, hi + term

    return with_term


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
    text = "owner " + ", ".join(parts)
    ranking = fair.fair.ranking
    if ranking is not None:  # a user ranking orders owners, not these shares
        got = ranking.rank(owner, now, fair)
        text += f"; rank {got} by {type(ranking).__name__}"
    return text


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
