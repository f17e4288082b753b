"""Checkers: invariants of a scheduler, a queue, a preemption plan and a cycle's decisions,
each raising :class:`InvariantError` (an ``AssertionError``) with a readable account of
what broke (docs/testing.md#checkers).

They need no hypothesis: call them from any test. Each is O(state) or worse, for tests
only. The checks are written against the public API and the documented rules, not
against prioq's internals (except :func:`check_scheduler`, which also runs the
scheduler's own internal consistency check).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction

import attrs

from prioq.model import Decision, Job, Node, PendingJob, Preempt, Reason, Running, Start
from prioq.policy import Policy
from prioq.preemption import Plan
from prioq.queue import PriorityQueue
from prioq.queue.aging import AgingPolicy, exact_effective_priority
from prioq.resources import MILLI, Resources, fit
from prioq.scheduler import Scheduler, Terminating
from prioq.selection import describe, eligible, selection

__all__ = [
    "InvariantError",
    "SchedulerView",
    "check_aging",
    "check_decisions",
    "check_preemption_plan",
    "check_queue",
    "check_scheduler",
    "view",
]


class InvariantError(AssertionError):
    """An invariant does not hold; the message says which, for which jobs and nodes."""


def _fail(title: str, *details: str) -> None:
    raise InvariantError("\n  ".join((title, *details)))


def _job(job: Job) -> str:
    gang = f" x{job.nodes} nodes" if job.nodes > 1 else ""
    return f"{job.id} (priority {job.priority}, {job.request}{gang})"


@attrs.frozen(slots=True, kw_only=True)
class SchedulerView:
    """What a scheduler shows at ``now``, through its public API (:func:`view`)."""

    now: float
    policy: Policy
    nodes: Mapping[str, Node]
    free: Mapping[str, Resources]
    pending: Sequence[PendingJob]
    running: Mapping[str, Running]
    terminating: Mapping[str, Terminating]
    nominations: Mapping[str, tuple[str, ...]]
    cordoned: Mapping[str, str] = attrs.field(factory=dict)
    """Cordoned or drained nodes (``Scheduler.cordoned()``): they start nothing new."""
    ranks: Mapping[str | None, tuple[float, ...]] = attrs.field(factory=dict)
    """With fair share in ``mode="order"``: each owner of a pending or running job, ranked at
    ``now`` by ``FairShare.order`` (called afresh on the scheduler's usage accounts)."""

    def may_use(self, job: Job, node_id: str) -> bool:
        """Whether ``job`` may start on ``node_id``: not cordoned, and its node selector,
        tolerations and allowed nodes admit the node (docs/scheduler.md#node-selection)."""
        node = self.nodes[node_id]
        return node_id not in self.cordoned and eligible(selection(job), node_id, node.labels, node.taints)

    def job(self, job_id: str) -> Job:
        """A pending or running job by id (``KeyError`` if neither)."""
        run = self.running.get(job_id)
        if run is not None:
            return run.job
        for p in self.pending:
            if p.job.id == job_id:
                return p.job
        raise KeyError(job_id)


def view(s: Scheduler, now: float) -> SchedulerView:
    """A snapshot of ``s`` at ``now`` (reads only: the clock does not move). O(jobs + nodes)."""
    pending = tuple(s.pending(now))
    running = {r.job.id: r for r in s.running()}
    fs, ledger = s.policy.fair_share, s._state.fair
    ranks = {}
    if fs is not None and fs.mode == "order" and ledger is not None:
        owners = {p.job.owner for p in pending} | {r.job.owner for r in running.values()}
        ranks = {owner: tuple(fs.order.rank(owner, now, ledger)) for owner in owners}
    return SchedulerView(
        now=now,
        policy=s.policy,
        nodes={n.id: n for n in s.nodes},
        free={n.id: s.free(n.id) for n in s.nodes},
        pending=pending,
        running=running,
        terminating=dict(s.terminating()),
        nominations=dict(s.nominations()),
        cordoned=s.cordoned(),
        ranks=ranks,
    )


# --------------------------------------------------------------------------- the scheduler


def check_scheduler(s: Scheduler, now: float | None = None) -> None:
    """Every invariant of a scheduler's state (docs/testing.md#checkers):

    * no over-commit: on every node, what its running jobs hold plus what is free is
      its capacity, exactly, and no GPU device is shared beyond one whole device;
    * every job in exactly one state: pending or running (terminating ones are running);
    * claims are consistent: nominations belong to pending jobs, on existing nodes, and
      every terminating victim is running;
    * the pending order is the documented one: effective priority never increases along
      it, and each job's effective priority is ``priority + boost(wait)`` exactly; with fair
      share in ``mode="order"``, jobs of equal effective priority follow their owners'
      ranks (``FairShare.order.rank``, called afresh on the scheduler's usage accounts);
    * the scheduler's own internal consistency check passes.

    ``now``: the instant to read at (default: the scheduler's clock). O(everything)."""
    at = s.now if now is None else now
    at = 0.0 if at is None else at
    try:
        s._check()
    except AssertionError as exc:
        _fail("scheduler: its internal consistency check failed", repr(exc))
    v = view(s, at)
    _check_capacity(v)
    pending = {p.job.id for p in v.pending}
    both = sorted(pending & set(v.running))
    if both:
        _fail("scheduler: jobs both pending and running", ", ".join(both))
    if len(pending) + len(v.running) != len(s):
        _fail(f"scheduler: holds {len(s)} jobs but {len(pending)} pending + {len(v.running)} running")
    for victim in v.terminating:  # its preemptor may be gone (cancelled): it still stops
        if victim not in v.running:
            _fail(f"scheduler: terminating job {victim} is not running")
    for owner, node_ids in v.nominations.items():
        if owner not in pending:
            _fail(f"scheduler: nominated job {owner} is not pending")
        gone = [n for n in node_ids if n not in v.nodes]
        if gone:
            _fail(f"scheduler: {owner} is nominated to unknown nodes {gone}")
    _check_order(v)
    _check_ranks(s, v)


def _check_ranks(s: Scheduler, v: SchedulerView) -> None:
    """Among equal effective priorities, owners' ranks never decrease along the pending order."""
    if not v.ranks:
        return
    queue = s._state.queue
    previous: tuple[Fraction, tuple[float, ...], PendingJob] | None = None
    for p in v.pending:
        owner = p.job.owner
        rank = v.ranks[owner]
        # exact, as the order compares them: two effective priorities that round to one float
        # are not equal, and the rank does not decide between them
        lift = queue.lift_of(p.job.id)
        base, since = (p.job.priority, p.job.submitted_at) if lift is None else (
            lift.priority, lift.submitted_at)
        eff = exact_effective_priority(v.policy.aging, base, since, v.now)
        if previous is not None and eff == previous[0] and rank < previous[1]:
            q = previous[2]
            _fail(f"order: {p.job.id} (owner {owner!r}, rank {rank}) is listed after {q.job.id} (owner "
                  f"{q.job.owner!r}, rank {previous[1]}) at equal effective priority "
                  f"{p.effective_priority} at now={v.now}: the lower rank goes first")
        previous = (eff, rank, p)


def _check_capacity(v: SchedulerView) -> None:
    used: dict[str, Resources] = {nid: Resources() for nid in v.nodes}
    shares: dict[tuple[str, int], list[str]] = {}
    for run in v.running.values():
        for nid, alloc in zip(run.node_ids, run.allocation, strict=True):
            if nid not in used:
                _fail(f"over-commit: {run.job.id} runs on unknown node {nid}")
            used[nid] = used[nid] + alloc
            for dev in alloc.gpus:
                shares.setdefault((nid, dev.index), []).extend([run.job.id] * dev.milli)
    for nid, node in v.nodes.items():
        if used[nid] + v.free[nid] != node.capacity:
            jobs = sorted(j for j, r in v.running.items() if nid in r.node_ids)
            _fail(
                f"over-commit on node {nid}: used + free != capacity",
                f"capacity {node.capacity}", f"used     {used[nid]} by {', '.join(jobs) or 'nobody'}",
                f"free     {v.free[nid]}",
            )
    for (nid, index), milli in shares.items():
        if len(milli) > MILLI:
            _fail(f"over-commit: GPU {index} of node {nid} shared beyond one device "
                  f"({len(milli)}/1000 by {', '.join(sorted(set(milli)))})")


def _check_order(v: SchedulerView) -> None:
    """Effective priority never increases along the pending order; exact where it can be."""
    aging = v.policy.aging
    term = v.policy.fair_share is not None and v.policy.fair_share.mode == "term"
    previous: tuple[Fraction, PendingJob] | None = None
    for p in v.pending:
        eff = Fraction(p.effective_priority)
        if not p.inherited_from and not term:
            exact = exact_effective_priority(aging, p.job.priority, p.job.submitted_at, v.now)
            if float(exact) != p.effective_priority:
                _fail(f"order: {p.job.id} reports effective priority {p.effective_priority} at now={v.now}, "
                      f"but priority {p.job.priority} + {type(aging).__name__} boost after "
                      f"{v.now - p.job.submitted_at} s waiting is {float(exact)}")
            eff = exact
        if previous is not None and eff > previous[0]:
            _fail(f"order: {p.job.id} (effective {float(eff)}) is listed after "
                  f"{previous[1].job.id} (effective {float(previous[0])}) at now={v.now}")
        previous = (eff, p)


# --------------------------------------------------------------------------- the queue


def check_queue(q: PriorityQueue, now: float) -> None:
    """The queue's order at ``now`` equals a reference sort by the documented key
    (exact effective priority descending, ``submitted_at``, arrival seq, id), computed
    from the aging policy's ``exact_boost``; plus the queue's internal invariants.
    O(n log n)."""
    try:
        q._check()
    except AssertionError as exc:
        _fail("queue: its internal consistency check failed", repr(exc))
    jobs = [q.get(jid) for jid in q]

    def key(job: Job) -> tuple[Fraction, float, int, str]:
        eff = exact_effective_priority(q.aging, job.priority, job.submitted_at, now)
        return (-eff, job.submitted_at, q.seq_of(job.id), job.id)

    want = [j.id for j in sorted(jobs, key=key)]
    got = [j.id for j in q.ordered(now)]
    if got != want:
        first = next(i for i, (a, b) in enumerate(zip(got, want, strict=True)) if a != b)
        a, b = q.get(got[first]), q.get(want[first])
        _fail(
            f"queue: wrong order at now={now} (position {first}): {a.id} where the reference has {b.id}",
            f"{a.id}: priority {a.priority}, submitted {a.submitted_at}, effective {float(-key(a)[0])}",
            f"{b.id}: priority {b.priority}, submitted {b.submitted_at}, effective {float(-key(b)[0])}",
            f"queue order:     {got}", f"reference order: {want}",
        )


def check_aging(policy: AgingPolicy, waits: Iterable[float | Fraction]) -> None:
    """The :class:`~prioq.queue.aging.AgingPolicy` contract at the given waits: the boost
    is exact, ``>= 0``, ``<= max_boost``, never decreases, and each phase is honest
    (``next_change(w) > w``; within a growing phase it grows at ``growth_rate``, within
    a constant one it does not change). O(len(waits) log len(waits))."""
    name = type(policy).__name__
    points = sorted({Fraction(w) for w in waits if w >= 0})
    last: tuple[Fraction, Fraction] | None = None
    for w in points:
        b = policy.exact_boost(w)
        if not isinstance(b, Fraction):
            _fail(f"aging {name}: exact_boost({w}) returned {b!r}, not a Fraction")
        if b < 0 or b > policy.max_boost:
            _fail(f"aging {name}: boost {float(b)} after {float(w)} s is outside "
                  f"0..max_boost={policy.max_boost}")
        if last is not None and b < last[1]:
            _fail(f"aging {name}: the boost decreases, from {float(last[1])} after {float(last[0])} s "
                  f"to {float(b)} after {float(w)} s; a boost must never decrease")
        nxt = policy.next_change(w)
        if nxt is not None and nxt <= w:
            _fail(f"aging {name}: next_change({float(w)}) = {float(nxt)} is not after the wait")
        for u in points:
            if u <= w or (nxt is not None and u >= nxt):
                continue
            rate = Fraction(policy.growth_rate) if policy.grows(w) else Fraction(0)
            if policy.exact_boost(u) != b + rate * (u - w):
                _fail(f"aging {name}: from {float(w)} s to {float(u)} s (one phase, as next_change says) "
                      f"the boost goes {float(b)} -> {float(policy.exact_boost(u))}, "
                      f"not at the phase's rate {float(rate)}")
        last = (w, b)


# --------------------------------------------------------------------------- preemption


def _ranks_below(policy: Policy, victim: Running, v_priority: float, preemptor: Job,
                 p_priority: float) -> bool:
    if v_priority < p_priority:
        return True
    newer = victim.job.submitted_at >= preemptor.submitted_at  # the arrival seq breaks a tie (not shown)
    return policy.preemption.policy == "lower-or-newer-equal" and v_priority == p_priority and newer


def check_preemption_plan(
    preemptor: Job,
    plan: Plan,
    before: SchedulerView,
    *,
    minimal: bool = True,
) -> None:
    """A plan is sound against the state ``before`` it (docs/testing.md#checkers):

    * every victim was running, not already terminating, preemptible, past
      ``min_runtime``, and ranks below the preemptor by base priority (lower; equal and
      newer under ``"lower-or-newer-equal"``) -- unless quotas are on, where Kueue's
      reclaiming may evict higher jobs of a borrowing owner;
    * the preemptor fits on each of ``plan.node_ids`` once the victims (and any of its
      own earlier victims still terminating) have stopped, on distinct nodes, as many as
      its gang needs;
    * ``minimal``: on each node, each victim there is needed: the preemptor would not
      fit if that victim alone stayed (Kubernetes' reprieve makes every plan so).
    O(victims * nodes)."""
    pol = before.policy
    who = _job(preemptor)
    if len(set(plan.node_ids)) != len(plan.node_ids) or len(plan.node_ids) != preemptor.nodes:
        _fail(f"preemption for {who}: nominated to {list(plan.node_ids)}, "
              f"not {preemptor.nodes} distinct nodes")
    for vid in plan.victims:
        run = before.running.get(vid)
        if run is None:
            _fail(f"preemption for {who}: victim {vid} was not running")
            continue
        if vid in before.terminating:
            _fail(f"preemption for {who}: victim {vid} was already terminating "
                  f"(for {before.terminating[vid].by})")
        if not run.job.preemptible:
            _fail(f"preemption for {who}: victim {_job(run.job)} is not preemptible")
        ran = before.now - run.started_at
        if ran < pol.preemption.min_runtime:
            _fail(f"preemption for {who}: victim {vid} ran {ran} s < min_runtime "
                  f"{pol.preemption.min_runtime}")
        base = pol.preemption.compare == "base" and not pol.quotas
        if base and not _ranks_below(pol, run, run.job.priority, preemptor, preemptor.priority):
            _fail(f"preemption for {who}: victim {_job(run.job)} does not rank below its preemptor "
                  f"(policy {pol.preemption.policy!r}): a preemptor may only evict lower priorities")
    mine = set(plan.victims) | {j for j, t in before.terminating.items() if t.by == preemptor.id}
    for nid in plan.node_ids:
        if nid not in before.nodes:
            _fail(f"preemption for {who}: nominated to unknown node {nid}")
        on_node = [before.running[j] for j in sorted(mine)
                   if j in before.running and nid in before.running[j].node_ids]
        freed = before.free[nid]
        for run in on_node:
            freed = freed + run.allocation_on(nid)
        if fit(preemptor.request, freed) is None:
            _fail(f"preemption for {who}: does not fit on node {nid} even after its victims stop",
                  f"free then: {freed}", f"victims there: {[r.job.id for r in on_node] or 'none'}")
            continue
        if not minimal:
            continue
        for run in on_node:
            if run.job.id not in plan.victims or run.job.nodes > 1:
                continue  # a gang victim may be needed on another of its nodes
            if fit(preemptor.request, freed - run.allocation_on(nid)) is not None:
                _fail(f"preemption for {who}: victim {run.job.id} on {nid} is not needed: the preemptor "
                      f"fits there without evicting it (plan {list(plan.victims)})")


# --------------------------------------------------------------------------- decisions


def check_decisions(before: SchedulerView, decisions: Sequence[Decision], after: SchedulerView) -> None:
    """One ``schedule`` call's decisions against the state before and after it
    (docs/testing.md#checkers):

    * each ``Start`` is of a job pending before and running after, exactly where the
      decision says, on distinct nodes, with what its request asks (filters, GPU model,
      whole devices or one share), and the starts on a node fit what was free there;
    * each job preempted was running before and terminates after, for the job named;
      each preemptor's plan passes :func:`check_preemption_plan`;
    * a nominated preemptor is not starved by its claim: no job of lower base priority
      started on its nominated nodes so that it no longer fits once its victims stop;
    * best-effort queueing passes over no job that fits (a ``RESOURCES``/``PRIORITY``
      job fits on fewer nodes than it needs after the cycle);
    * with fair share in ``mode="order"``, no owner's rank is lower after the cycle than
      before it (at one ``now`` a cycle only starts jobs, and a start must never lower a
      rank: the :class:`~prioq.fairshare.OwnerRanking` contract).
    O(decisions * nodes)."""
    pending_before = {p.job.id: p.job for p in before.pending}
    room = dict(before.free)
    started: set[str] = set()
    for d in decisions:
        if not isinstance(d, Start):
            continue
        job = pending_before.get(d.job_id)
        if job is None:
            _fail(f"start {d.job_id}: it was not pending before the cycle")
            continue
        run = after.running.get(d.job_id)
        if run is None or run.node_ids != d.node_ids or run.allocation != d.allocation:
            _fail(f"start {d.job_id}: the scheduler does not show it running as decided", repr(d), repr(run))
        _check_start(job, d)
        for nid in d.node_ids:
            if nid in before.nodes and not before.may_use(job, nid):
                _fail(f"start of {_job(job)} on node {nid}, which it may not use "
                      f"({before.cordoned.get(nid) or 'selection: ' + describe(selection(job))})")
        for nid, alloc in zip(d.node_ids, d.allocation, strict=True):
            if nid not in room or not alloc.fits_within(room[nid]):
                _fail(f"over-commit: start of {_job(job)} takes {alloc} on node {nid}, "
                      f"where only {room.get(nid)} was free")
                continue
            room[nid] = room[nid] - alloc
        started.add(d.job_id)
    plans: dict[str, list[str]] = {}
    for d in decisions:
        if isinstance(d, Preempt) and d.by is not None:  # a drain's has no preemptor
            if d.job_id not in before.running:
                _fail(f"preempt {d.job_id} for {d.by}: the victim was not running")
            t = after.terminating.get(d.job_id)
            if d.job_id in after.running and (t is None or t.by != d.by):
                _fail(f"preempt {d.job_id} for {d.by}: the scheduler does not show it terminating for {d.by}")
            plans.setdefault(d.by, []).append(d.job_id)
    for by, victims in plans.items():
        nodes = after.nominations.get(by)
        if nodes is None:
            continue  # started at once (no grace), or the plan was given up in the cycle
        preemptor = pending_before.get(by)
        if preemptor is None:
            _fail(f"preemption for {by}: the preemptor was not pending")
            continue
        minimal = not before.nominations and not before.policy.reservation and not before.policy.quotas
        plan = Plan(victims=tuple(victims), node_ids=nodes)
        check_preemption_plan(preemptor, plan, before, minimal=minimal)
    _check_claims(after, started)
    if before.now == after.now:
        for owner, rank in before.ranks.items():
            later = after.ranks.get(owner)
            if later is not None and later < rank:
                _fail(f"ranking: owner {owner!r}'s rank fell from {rank} to {later} in the cycle at "
                      f"now={after.now} (it started {sorted(started)}); a start must never lower a "
                      f"rank (OwnerRanking's contract): the cycle's lazy order relies on it")
    if before.policy.queueing == "best-effort":
        for p in after.pending:
            if p.reason not in (Reason.RESOURCES, Reason.PRIORITY):
                continue
            fits = [n for n in after.nodes
                    if after.may_use(p.job, n) and fit(p.job.request, after.free[n]) is not None]
            if len(fits) >= p.job.nodes:
                _fail(f"best-effort: {_job(p.job)} was passed over ({p.reason.value}: {p.message}) "
                      f"although it fits on {fits}")


def _check_start(job: Job, d: Start) -> None:
    if len(set(d.node_ids)) != job.nodes or len(d.allocation) != job.nodes:
        _fail(f"start of {_job(job)}: on {list(d.node_ids)}, not {job.nodes} distinct nodes")
    g = job.request.gpu
    need = job.request.minimum()
    for nid, alloc in zip(d.node_ids, d.allocation, strict=True):
        bad = alloc.cpu_milli != need.cpu_milli or alloc.memory != need.memory
        if g is None:
            bad = bad or bool(alloc.gpus)
        else:
            bad = bad or not all(g.matches(dev.gpu) for dev in alloc.gpus)
            if g.fractional:
                bad = bad or len(alloc.gpus) != 1 or alloc.gpus[0].milli != g.milli
            else:
                bad = bad or len(alloc.gpus) != g.devices or any(dev.milli != MILLI for dev in alloc.gpus)
        if bad:
            _fail(f"start of {_job(job)}: allocation {alloc} on {nid} is not what it asked for")


def _check_claims(after: SchedulerView, started: set[str]) -> None:
    if after.policy.preemption.compare != "base":
        return  # with "effective" the comparison moves with aging
    for owner, node_ids in after.nominations.items():
        job = after.job(owner)
        lower = {j for j in started if j in after.running and after.running[j].job.priority < job.priority}
        for nid in node_ids:
            if not any(nid in after.running[j].node_ids for j in lower):
                continue
            projected = after.free[nid]
            for victim, t in after.terminating.items():
                if t.by == owner and nid in after.running[victim].node_ids:
                    projected = projected + after.running[victim].allocation_on(nid)
            if fit(job.request, projected) is None:
                _fail(f"claims: {', '.join(sorted(lower))} (lower priority) started on {nid}, nominated to "
                      f"{_job(job)}, which no longer fits there once its victims stop")

