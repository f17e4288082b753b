"""The scheduler's state and its only writer (docs/architecture.md#the-transaction-contract).

:class:`State` holds everything a :class:`~prioq.Scheduler` knows: the node
index, the pending jobs, the running ones, nominations, the reasons jobs wait,
the clock. Every change goes through one of its mutators, each of which records
its inverse in the undo journal of the open transaction; :meth:`State.transaction`
commits the changed rows to the store, or replays the journal backwards and
resets every cache in :class:`Caches`, so a failed call leaves every
observable -- the clock included -- as it was.

Nothing outside this module assigns to a :class:`State` field or to a
:class:`Run`; readers use the fields directly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from functools import partial
from typing import Any

import attrs

from prioq.errors import StoreError, UnknownJob, UnknownNode
from prioq.fairshare import USAGE_PREFIX, rate_of
from prioq.fairshare import Ledger as UsageLedger
from prioq.model import Job, Node, Reason, Running, Start
from prioq.placement import NodeIndex, NodeState
from prioq.policy import Policy
from prioq.preemption import Candidate, CandidateIndex
from prioq.quota import Ledger
from prioq.resources import ResourceRequest, Resources, fit
from prioq.scheduler._cache_state import CacheState
from prioq.scheduler._caches import Caches
from prioq.scheduler._depends import Dependencies
from prioq.scheduler._pending import Pending
from prioq.scheduler._persist import changes
from prioq.scheduler._placement_state import PlacementState
from prioq.scheduler._quota_state import QuotaState
from prioq.scheduler._resume import preempt_key, preempt_text
from prioq.scheduler._selection import STOP_PREFIX, SelectionState
from prioq.scheduler._settled_state import ReasonText as ReasonText  # re-exported: the cycle reads it here
from prioq.scheduler._settled_state import Settled, SettledState
from prioq.scheduler._settled_state import Stamped as Stamped
from prioq.selection import Selection, selection
from prioq.storage import Snapshot, Store

__all__ = ["Caches", "Run", "State"]

INF = math.inf
NEW_REASON = (Reason.NEW, "not considered by a cycle yet")
_MISSING = object()


@attrs.define(slots=True, eq=False)
class Run:
    """A running (or terminating) job and what the scheduler must remember about it."""

    running: Running
    seq: int
    preempted_by: str | None = None
    backfill_for: str | None = None
    """The blocked job whose reservation (of unknown start) this job backfilled under."""

    @property
    def job(self) -> Job:
        return self.running.job

    @property
    def end(self) -> float:
        """Expected end from the job's duration estimate, ``inf`` when unknown."""
        d = self.running.job.estimate
        return INF if d is None else self.running.started_at + d

    def end_order(self) -> tuple[float, float, str]:
        return (self.end, self.running.started_at, self.running.job.id)


class State(PlacementState, QuotaState, CacheState, SelectionState, SettledState):
    """Everything the scheduler knows, changed only through the journaled mutators below."""

    def __init__(self, policy: Policy, store: Store) -> None:
        self.policy = policy
        self.store = store
        self.index = NodeIndex()
        # usage accounting for fair share (prioq.fairshare); its accounts are journaled
        fs = policy.fair_share
        self.fair = None if fs is None else UsageLedger(fs, policy.weights, self._totals)
        self.queue = Pending(policy.aging, self.fair)
        self.runs: dict[str, Run] = {}
        self.nominated: dict[str, tuple[str, ...]] = {}
        self.reasons: dict[str, Stamped] = {}
        # parked shape -> (cycle, the member whose failure ended that cycle's visit of the
        # shape, its reason): the reason of every member the cycle did not visit
        self.shape_reasons: dict[Hashable, tuple[int, str, ReasonText]] = {}
        # fair share: group -> one cycle's reason for its owners' queues (_settled_state)
        self.settled: dict[Hashable, Settled] = {}
        self.cycles = 0
        # Effective priority frozen when a job first started (every running job has one);
        # kept across requeues so compare="effective" cannot thrash (docs/preemption.md).
        self.frozen: dict[str, float] = {}
        self.now: float | None = None
        self.next_order = 0
        # Bumped by every change of free capacity, running set, nominations or node set,
        # and by every rollback, so caches keyed on it never outlive their state.
        self.version = 0
        self.caches = Caches()
        # Read-side indexes for preemption, kept by the mutators below (journaled, so a
        # rollback restores them): the running jobs preemption may consider, filed per
        # node (prioq.preemption.CandidateIndex), and each preemptor's victims.
        self.cindex = CandidateIndex()
        self.victims: dict[str, set[str]] = {}
        # node -> preemptors nominated there (insertion-ordered), kept with ``nominated``:
        # a cycle builds a nomination's claim only on the nodes it looks at
        self.nominated_on: dict[str, dict[str, None]] = {}
        # waiters, groups, outcomes and priority inheritance (journaled through _do)
        self.deps = Dependencies(self)
        # Quota usage per owner and cohort (prioq.quota.Ledger), changed on start and stop
        # (journaled); None without quotas.
        self.ledger: Ledger | None = (
            Ledger(policy.quotas, policy.weights) if policy.quotas else None
        )
        self._undo: list[Callable[[], None]] | None = None
        self._dirty_jobs: set[str] = set()
        self._dirty_nodes: set[str] = set()
        # The policies' keyed state as the store holds it (fair-share usage, outcomes...):
        # written only through put_extra, committed key by key.
        self.extras: dict[str, str] = {}
        self._dirty_extras: set[str] = set()
        # Keys to write with the next commit that writes anything (the policy fingerprint):
        # a call that changed nothing but the clock writes nothing (docs/orchestrator.md).
        self.with_next_change: dict[str, str] = {}
        self._saved_counters = (0, 0)
        self._init_placement_state()
        self._init_selection()

    def load(self, snap: Snapshot) -> None:
        """Fill an empty state from a store's snapshot: the one write outside a transaction
        (there is nothing to undo before the first call). The reverse of
        :func:`prioq.scheduler._persist.row`."""
        for nrow in snap.nodes:
            self.index.add(NodeState(node=nrow.node, order=nrow.order, free=nrow.node.capacity))
        for jrow in snap.jobs:
            job = jrow.job
            if jrow.start_priority is not None:
                self.frozen[job.id] = jrow.start_priority
            if jrow.state == "pending":
                self.queue.push(job, seq=jrow.seq)
                if jrow.nominated:
                    self.nominated[job.id] = jrow.nominated
                    self._nominated_on_set(job.id, jrow.nominated, True)
            else:
                assert jrow.started_at is not None and jrow.start_priority is not None
                running = Running(
                    job=job, node_ids=jrow.node_ids, started_at=jrow.started_at, allocation=jrow.allocation
                )
                self.runs[job.id] = Run(running, jrow.seq, jrow.preempted_by, jrow.backfill_for)
                for nid, alloc in zip(jrow.node_ids, jrow.allocation, strict=True):
                    ns = self.index.get(nid)
                    self.index.update(ns, ns.free - alloc)
                    ns.jobs.add(job.id)
                if jrow.preempted_by is not None:
                    self.victims.setdefault(jrow.preempted_by, set()).add(job.id)
                else:
                    if self.policy.preemption.enabled:
                        self._candidate_add(self.runs[job.id], refile=False)
        for ns in self.index:
            self.cindex.refile(ns)
        self._load_quota(snap)
        self._load_placement_state(snap)
        self.extras.update(snap.extras)
        self._load_selection()
        if self.fair is not None:
            runs = ((r.job.owner, r.running.allocation) for r in self.runs.values())
            self.fair.load(self.extras, runs, snap.now)
        self.queue.restore_counter(snap.next_seq)
        self.deps.rebuild()  # after the extras: outcomes decide who lifts whom
        self.now = snap.now
        self.next_order = snap.next_order
        self._saved_counters = (self.queue.next_seq, self.next_order)

    # ------------------------------------------------------------------ transactions

    def transaction(self, now: float | None) -> _Transaction:
        """Run one public call's mutations at ``now``, then commit them; on any failure undo them all.

        ``with state.transaction(now): ...`` (a small class rather than a generator-based
        context manager: every public call opens one)."""
        return _Transaction(self, now)

    def _open(self, now: float | None) -> float | None:
        assert self._undo is None, "scheduler calls must not nest"
        self._undo = []
        self._dirty_jobs = set()
        self._dirty_nodes = set()
        self._dirty_extras = set()
        before = self.now
        self._begin_placement_state()
        if now is not None:
            self.now = now
        return before

    def _commit(self) -> None:
        placement = self._changed_placement_state()
        counters = (self.queue.next_seq, self.next_order)
        if not (self._dirty_jobs or self._dirty_nodes or self._dirty_extras or placement is not None
                or counters != self._saved_counters):
            # Only the clock moved (an idle tick): no write, no fsync. The clock goes to the
            # store with the next real change; a scheduler reopened before it resumes at an
            # older clock, which decides the same (nothing it holds depends on the clock).
            return
        for key, text in self.with_next_change.items():
            self.put_extra(key, text)  # journaled: undone if the commit fails
        rows = changes(self, self._dirty_jobs, self._dirty_nodes, placement, self._dirty_extras)
        try:
            self.store.commit(rows)
        except StoreError:
            raise
        except Exception as exc:
            raise StoreError(f"commit failed: {type(exc).__name__}: {exc}") from exc
        self._committed_placement_state(placement)
        self._saved_counters = counters
        self.with_next_change = {}

    def _rollback(self, now: float | None, before: float | None) -> None:
        assert self._undo is not None
        self._rollback_placement_state()
        for undo in reversed(self._undo):
            undo()
        self.now = before
        if now is not None and now != before:
            # The queue processed its aging events up to ``now``, which cannot be
            # undone event by event: rebuild it (O(n log n), on failure only).
            self.queue = self._rebuilt_queue()
        self.caches.reset()
        self._reset_selection()
        if self.fair is not None:
            self.fair.forget()
        self.bump()

    def _rebuilt_queue(self) -> Pending:
        """The same pending jobs, seqs and parking in a queue that has seen no ``now``."""
        old = self.queue
        fresh = Pending(self.policy.aging, self.fair)
        for job_id in old.ids():
            fresh.push(old.get(job_id), seq=old.seq_of(job_id), lift=old.lift_of(job_id))
        for job_id, shape in old.where.items():
            fresh.park(job_id, shape)
        for job_id in old.held:
            fresh.hold(job_id)
        fresh.restore_counter(old.next_seq)
        return fresh

    def mark_job(self, job_id: str) -> None:
        self._dirty_jobs.add(job_id)

    # ------------------------------------------------------------------ reads

    def job(self, job_id: str) -> Job:
        """A held job (pending or running). O(1)."""
        run = self.runs.get(job_id)
        if run is not None:
            return run.job
        if job_id in self.queue:
            return self.queue.get(job_id)
        raise UnknownJob(f"no job {job_id!r} is queued or running")

    def run_of(self, job_id: str) -> Run:
        """A running job's record; :class:`UnknownJob` if it is pending or unknown."""
        run = self.runs.get(job_id)
        if run is None:
            if job_id in self.queue:
                raise UnknownJob(f"job {job_id!r} is pending, not running")
            raise UnknownJob(f"no job {job_id!r} is running")
        return run

    def node(self, node_id: str) -> NodeState:
        if node_id not in self.index:
            raise UnknownNode(f"no node {node_id!r}")
        return self.index.get(node_id)

    def reason(self, job_id: str) -> ReasonText:
        """The reason from the last cycle that looked at the job; a parked job that cycle
        did not visit shares the reason of the member of its shape (or family, for the
        tiers below that member's) it stopped at, if that member is still ahead of it."""
        best = self.reasons.get(job_id)
        shape = self.queue.where.get(job_id)
        if shape is not None:
            group = self.queue.group_key(shape)
            best, shape_rec = self.reason_of(job_id, shape, group, best)  # with a group's record
            whole = None if group is None else self.shape_reasons.get(group)
            if whole is not None and (best is None or best[0] < whole[0]):
                best = (whole[0], whole[2])  # fair share: the group as a whole waits (Cycle.run)
            family = getattr(shape, "family", None)
            for key, rec in ((shape, shape_rec), (family, self.shape_reasons.get(family))):
                if rec is not None and (best is None or best[0] < rec[0]) and self.queue.speaks_for(
                    rec[1], job_id, key
                ):
                    best = (rec[0], rec[2])
        return NEW_REASON if best is None else best[1]

    def preemption_priority(self, job: Job, now: float) -> float:
        """The priority preemption compares for a pending job: base, or (compare="effective")
        the effective priority, frozen once the job has started. Always the job's own:
        an inherited priority orders the queue but evicts nobody (docs/dependencies.md)."""
        if self.policy.preemption.compare == "base":
            return float(job.priority)
        frozen = self.frozen.get(job.id)
        return frozen if frozen is not None else self.queue.own_effective_priority(job.id, now)

    def class_may_preempt(self, job: Job) -> bool:
        if job.priority_class is None:
            return True
        return self.policy.priority_class(job.priority_class).preemption != "never"

    def capable_nodes(self, request: ResourceRequest, sel: Selection | None = None) -> list[NodeState]:
        """Nodes whose capacity could ever hold ``request``, in node order, among those a job of
        selection ``sel`` may use (cached until nodes or their eligibility change)."""
        key = request if sel is None else (request, sel)
        nodes = self.caches.capable.get(key)
        if nodes is None:
            # one fit per capacity object: nodes parsed from one spec share it (spec cache),
            # and clusters have few node types
            groups: dict[int, bool] = {}
            nodes = []
            for ns in self.placement_index(sel):
                ok = groups.get(id(ns.node.capacity))
                if ok is None:
                    ok = groups[id(ns.node.capacity)] = fit(request, ns.node.capacity) is not None
                if ok:
                    nodes.append(ns)
            self.caches.capable[key] = nodes
        return nodes

    def unsatisfiable(self, job: Job) -> bool:
        """No node it may use (its selection; tainted and cordoned nodes left out) could ever
        hold it, even empty. O(1) after the first look per request shape."""
        return len(self.capable_nodes(job.request, selection(job))) < job.nodes

    def victims_of(self, preemptor: str) -> list[str]:
        """Running jobs told to stop for ``preemptor``, sorted. O(v log v) for its v victims."""
        return sorted(self.victims.get(preemptor, ()))

    def candidate(self, run: Run) -> Candidate:
        """A running job as preemption sees it (base priority, or frozen effective)."""
        job = run.job
        prio = float(job.priority) if self.policy.preemption.compare == "base" else self.frozen[job.id]
        return Candidate(running=run.running, priority=prio, seq=run.seq)

    def _candidate_add(self, run: Run, refile: bool = True) -> None:
        if run.job.preemptible and run.preempted_by is None:
            self.cindex.add(self.candidate(run), refile=refile)

    def _candidate_drop(self, job_id: str) -> None:
        """Journaled: ``job_id`` is no longer a preemption candidate."""
        c = self.cindex.cands.get(job_id)
        if c is not None:
            self._do(lambda: self.cindex.remove(job_id), lambda: self.cindex.add(c))

    def _victim_set(self, preemptor: str, victim: str, present: bool) -> None:
        def put(on: bool) -> None:
            if on:
                self.victims.setdefault(preemptor, set()).add(victim)
            else:
                vs = self.victims.get(preemptor)
                if vs is not None:
                    vs.discard(victim)
                    if not vs:
                        del self.victims[preemptor]

        self._do(partial(put, present), partial(put, not present))

    # ------------------------------------------------------------------ pending jobs

    def push(self, job: Job, seq: int | None) -> None:
        self._do(lambda: self.queue.push(job, seq=seq), lambda: self.queue.remove(job.id))
        self.mark_job(job.id)
        self.deps.member(job, True)
        self.deps.pushed(job)

    def remove_pending(self, job_id: str) -> Job:
        seq = self.queue.seq_of(job_id)
        job = self.queue.get(job_id)
        shape = self.queue.where.get(job_id)
        self.touch(shape)
        held = self.queue.is_held(job_id)
        lift = self.queue.lift_of(job_id)

        def undo() -> None:
            self.queue.push(job, seq=seq, lift=lift)
            if shape is not None:  # back where it was: parked jobs are not visited alike
                self.queue.park(job_id, shape)
            elif held:
                self.queue.hold(job_id)

        self._do(lambda: self.queue.remove(job_id), undo)
        self.mark_job(job_id)
        self.deps.member(job, False)
        self.deps.removed(job)
        return job

    def set_pending_priority(self, job_id: str, priority: int) -> Job:
        old = self.queue.get(job_id).priority
        shape = self.queue.where.get(job_id)
        self.touch(shape)
        held = self.queue.is_held(job_id)

        def undo() -> None:
            self.queue.update(job_id, old)
            if shape is not None:
                self.queue.park(job_id, shape)
            elif held:
                self.queue.hold(job_id)

        self._do(lambda: self.queue.update(job_id, priority), undo)
        self.bump()  # a nominated job's claim binds by its priority: failed plans may now succeed
        self.mark_job(job_id)
        self.deps.reprioritized(job_id)
        return self.queue.get(job_id)

    def park(self, job_id: str, shape: Hashable) -> None:
        """Move a pending job under its request shape (see :mod:`prioq.scheduler._pending`)."""
        self.touch(shape)
        self._do(lambda: self.queue.park(job_id, shape), lambda: self.queue.unpark(job_id))

    def unpark(self, job_id: str) -> None:
        shape = self.queue.where[job_id]
        self.touch(shape)
        self._do(lambda: self.queue.unpark(job_id), lambda: self.queue.park(job_id, shape))

    def hold(self, job_id: str) -> None:
        """Hold a nominated preemptor whose victims still terminate out of cycles: a visit
        could only say it waits. Woken by what could change that: a victim stopping, its
        nomination dropped, its priority changed (docs/scheduler.md#how-a-cycle-stays-cheap)."""
        self._do(lambda: self.queue.hold(job_id), lambda: self.queue.wake(job_id))

    def wake(self, job_id: str) -> None:
        """A held job goes back to the active queue (no-op if it is not held). O(log n)."""
        if self.queue.is_held(job_id):
            self._do(lambda: self.queue.wake(job_id), lambda: self.queue.hold(job_id))

    def start_cycle(self) -> int:
        """Number the cycle that starts now (its reasons are stamped with it).

        Like the version, never rolled back: stamps only need to grow, and a number
        a failed cycle used is simply never seen again."""
        self.cycles += 1
        return self.cycles

    def set_reasons(
        self, reasons: dict[str, Stamped], shapes: dict[Hashable, tuple[int, str, ReasonText]]
    ) -> None:
        """Record a cycle's reasons (per job, and per parked shape with the head that set it)
        in one journal entry: a cycle sets thousands, and one undo for all keeps it cheap."""
        if self.settled:
            for shape in shapes:  # a group's record says something of it: written out first
                self.touch(shape)
        pairs: tuple[tuple[dict[Any, Any], dict[Any, Any]], ...] = (
            (self.reasons, reasons), (self.shape_reasons, shapes)
        )
        for target, updates in pairs:
            if not updates:
                continue
            old = {key: target.get(key, _MISSING) for key in updates}

            def undo(target: dict[Any, Any] = target, old: dict[Any, Any] = old) -> None:
                for key, value in old.items():
                    if value is _MISSING:
                        target.pop(key, None)
                    else:
                        target[key] = value

            self._do(partial(target.update, updates), undo)

    def clear_reason(self, job_id: str) -> None:
        self.touch(self.queue.where.get(job_id))  # a group's record speaks for it: not after this
        self._del_item(self.reasons, job_id)

    def drop_stale_shape_reasons(self) -> None:
        """Forget the reasons of shapes no job is parked under any more."""
        q = self.queue
        for shape in [sh for sh in self.shape_reasons if sh not in q.parked and sh not in q.groups
                      and sh not in q.tiers]:
            self._del_item(self.shape_reasons, shape)
        self.drop_stale_settled()

    # ------------------------------------------------------------------ running jobs

    def set_frozen(self, job_id: str, priority: float) -> None:
        self._set_item(self.frozen, job_id, priority)

    def drop_frozen(self, job_id: str) -> None:
        self._del_item(self.frozen, job_id)

    def set_running_priority(self, job_id: str, priority: int) -> Job:
        run = self.runs[job_id]
        old = run.running
        new = attrs.evolve(old, job=attrs.evolve(old.job, priority=priority))
        was = job_id in self.cindex
        self._candidate_drop(job_id)
        self._do(lambda: setattr(run, "running", new), lambda: setattr(run, "running", old))
        if was:
            self._do(lambda: self._candidate_add(run), lambda: self.cindex.remove(job_id))
        self.bump()
        self.mark_job(job_id)
        return run.job

    def _place_on(self, job_id: str, frees: list[tuple[NodeState, Resources]], present: bool) -> None:
        """Set these nodes' free capacity and whether ``job_id`` runs there (one journal
        entry for a whole gang: starts and stops are the hottest mutations)."""
        olds = [(ns, ns.free) for ns, _ in frees]
        refile = self.cindex.refile if self.policy.preemption.enabled else None

        def put(values: list[tuple[NodeState, Resources]], on: bool) -> None:
            for ns, free in values:
                self.index.update(ns, free)
                if on:
                    ns.jobs.add(job_id)
                else:
                    ns.jobs.discard(job_id)
                if refile is not None:
                    refile(ns)

        self._do(partial(put, frees, present), partial(put, olds, not present))
        self.bump()

    def start(
        self,
        job: Job,
        placement: Sequence[tuple[NodeState, Resources]],
        now: float,
        backfill_for: str | None = None,
    ) -> Start:
        """Move a pending job to running on ``placement``; returns the decision."""
        seq = self.queue.seq_of(job.id)
        if job.id not in self.frozen:  # its own, not an inherited one (see preemption_priority)
            self.set_frozen(job.id, self.queue.own_effective_priority(job.id, now))
        self.drop_nomination(job.id)
        self.remove_pending(job.id)
        self.clear_reason(job.id)
        running = Running(
            job=job,
            node_ids=tuple(ns.id for ns, _ in placement),
            started_at=now,
            allocation=tuple(a for _, a in placement),
        )
        self._set_item(self.runs, job.id, Run(running, seq, backfill_for=backfill_for))
        self.deps.member(job, True)
        self._place_on(job.id, [(ns, ns.free - alloc) for ns, alloc in placement], True)
        self._charge(job.owner, running.allocation, 1)
        if self.policy.preemption.enabled:  # the candidate index serves preemption only
            run = self.runs[job.id]
            self._do(lambda: self._candidate_add(run), lambda: self.cindex.remove(job.id))
        if self.ledger is not None:
            self._quota_charge(job, 1)
        self.limit_started(job, now)
        self.mark_job(job.id)
        return Start(job_id=job.id, node_ids=running.node_ids, allocation=running.allocation)

    def stop(self, job_id: str) -> Run:
        """A running job leaves its nodes (finished, requeued or cancelled); returns its record."""
        run = self.runs[job_id]
        self._candidate_drop(job_id)
        if run.preempted_by is not None:
            self._victim_set(run.preempted_by, job_id, False)
            self.wake(run.preempted_by)  # its preemptor may start now
        frees = []
        for nid, alloc in zip(run.running.node_ids, run.running.allocation, strict=True):
            ns = self.index.get(nid)
            frees.append((ns, ns.free + alloc))
        self._place_on(job_id, frees, False)
        self._charge(run.job.owner, run.running.allocation, -1)
        if self.ledger is not None:
            self._quota_charge(run.job, -1)
        self._del_item(self.runs, job_id)
        self.deps.member(run.job, False)
        self.mark_job(job_id)
        if run.preempted_by is not None:
            self.put_extra(preempt_key(job_id), None)  # its preemption record goes with it
        self.put_extra(STOP_PREFIX + job_id, None)  # as does a drain's or time limit's
        return run

    def _charge(self, owner: str | None, allocation: Sequence[Resources], sign: int) -> None:
        """Fair share's usage accounting: the owner's rate changes now (docs/fairness.md).
        Journaled, and each changed account is persisted as ``usage/<owner path>``. O(depth)."""
        fair = self.fair
        if fair is None:
            return
        assert self.now is not None
        for path, acc in fair.charges(owner, rate_of(allocation), sign, self.now):
            self._set_item(fair.accounts, path, acc)
            self.put_extra(USAGE_PREFIX + path, acc.text())
        fair.changed(owner)

    def _totals(self) -> tuple[int, int, int]:
        """The cluster's capacity per accounted resource (fair share's denominators). O(nodes)."""
        return rate_of(ns.node.capacity for ns in self.index)

    def mark_victim(self, victim: str, by: str) -> None:
        self.bump()
        run = self.runs[victim]
        old = run.preempted_by
        self._candidate_drop(victim)
        if old is not None:
            self._victim_set(old, victim, False)
            self.wake(old)
        self._do(lambda: setattr(run, "preempted_by", by), lambda: setattr(run, "preempted_by", old))
        self._victim_set(by, victim, True)
        self.mark_job(victim)
        if old is None and self.now is not None:
            # when it was told to stop, and its grace deadline: persisted, so a restart
            # does not start the grace over (terminating())
            self.put_extra(preempt_key(victim), preempt_text(self.now, self.policy.preemption.grace))

    def nominate(self, job_id: str, node_ids: tuple[str, ...]) -> None:
        self.bump()
        old = self.nominated.get(job_id)
        if old is not None:
            self._do(partial(self._nominated_on_set, job_id, old, False),
                     partial(self._nominated_on_set, job_id, old, True))
        self._set_item(self.nominated, job_id, node_ids)
        self._do(partial(self._nominated_on_set, job_id, node_ids, True),
                 partial(self._nominated_on_set, job_id, node_ids, False))
        self.mark_job(job_id)

    def drop_nomination(self, job_id: str) -> None:
        if job_id in self.nominated:
            self.bump()
            self.wake(job_id)
            node_ids = self.nominated[job_id]
            self._del_item(self.nominated, job_id)
            self._do(partial(self._nominated_on_set, job_id, node_ids, False),
                     partial(self._nominated_on_set, job_id, node_ids, True))
            self.mark_job(job_id)

    def _nominated_on_set(self, job_id: str, node_ids: tuple[str, ...], present: bool) -> None:
        for nid in node_ids:
            if present:
                self.nominated_on.setdefault(nid, {})[job_id] = None
            else:
                owners = self.nominated_on.get(nid)
                if owners is not None:
                    owners.pop(job_id, None)
                    if not owners:
                        del self.nominated_on[nid]

    # ------------------------------------------------------------------ nodes

    def add_node(self, node: Node) -> None:
        ns = NodeState(node=node, order=self.next_order, free=node.capacity)
        old_order = self.next_order
        self._do(
            lambda: setattr(self, "next_order", old_order + 1), lambda: setattr(self, "next_order", old_order)
        )
        self._do(lambda: self.index.add(ns), lambda: self.index.remove(node.id))
        self._do(lambda: self.cindex.refile(ns), lambda: self.cindex.drop_node(ns.id))
        self.eligibility_changed()
        if self.fair is not None:
            self.fair.forget()
        self.bump()
        self._dirty_nodes.add(node.id)

    def remove_node(self, ns: NodeState) -> None:
        self._do(lambda: self.index.remove(ns.id), lambda: self.index.add(ns))
        self._do(lambda: self.cindex.drop_node(ns.id), lambda: self.cindex.refile(ns))
        self.eligibility_changed()
        if self.fair is not None:
            self.fair.forget()
        self.bump()
        self._dirty_nodes.add(ns.id)

class _Transaction:
    """One public call's transaction on a :class:`State` (see :meth:`State.transaction`)."""

    __slots__ = ("before", "now", "state")

    def __init__(self, state: State, now: float | None) -> None:
        self.state = state
        self.now = now
        self.before: float | None = None

    def __enter__(self) -> None:
        self.before = self.state._open(self.now)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        state = self.state
        try:
            if exc_type is None:
                try:
                    state._commit()
                except BaseException:
                    state._rollback(self.now, self.before)
                    raise
            else:
                state._rollback(self.now, self.before)
        finally:
            state._undo = None
        if exc_type is None:
            state._after_placement_commit()
        # returning None: an exception raised in the body propagates
