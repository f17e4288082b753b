"""The scheduler facade an orchestrator holds (docs/scheduler.md).

One :class:`Scheduler` owns the waiting queue, the cluster's nodes and what
runs where. The orchestrator tells it what happened (``submit``, ``release``,
``requeue``, node changes) and asks it what to do (``schedule`` returns
:class:`~prioq.model.Start` and :class:`~prioq.model.Preempt` decisions).

Every public call validates its input first, then changes memory through an
undo journal and commits the changed rows to the store before it returns; if
anything fails the journal is replayed backwards, so memory is unchanged --
except the clock: a validated ``now`` stays the latest time seen.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any

import attrs

from prioq.errors import DuplicateJob, InvalidJob, InvalidTime, StoreError, UnknownJob, UnknownNode
from prioq.model import Decision, Job, Node, PendingJob, Preempt, Reason, Running, Start
from prioq.placement import NodeIndex, NodeState
from prioq.policy import Policy
from prioq.preemption import Candidate, plan_preemption
from prioq.resources import ResourceRequest, Resources, check, fit
from prioq.scheduler._pending import OrderKey, Pending
from prioq.storage import Changes, JobRow, MemoryStore, NodeRow, Snapshot, Store

__all__ = ["Scheduler"]

_INF = math.inf
_ReservationKey = tuple[str, ResourceRequest, int, int]


@attrs.define(slots=True, eq=False)
class _Run:
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
        d = self.running.job.duration
        return _INF if d is None else self.running.started_at + d

    def end_order(self) -> tuple[float, float, str]:
        return (self.end, self.running.started_at, self.running.job.id)

    def alloc_on(self, node_id: str) -> Resources:
        """What the job holds on one of its nodes. O(gang size)."""
        return self.running.allocation[self.running.node_ids.index(node_id)]


@attrs.define(slots=True, eq=False)
class _Claim:
    """Capacity protected for one job on one node: ``request`` must still fit in ``projected``.

    Nominations (victims terminating for a preemptor) and reservations (a
    blocked head job) are both claims; another job may use the node only if
    the claimant still fits afterwards.
    """

    owner: str
    key: OrderKey
    """The owner's place in the scheduling order: jobs behind it must respect the claim."""
    request: ResourceRequest
    projected: Resources
    until: float = _INF
    priority: float | None = None
    """For a nomination, the preemptor's preemption priority: jobs it could evict must
    respect the claim wherever they stand in the queue (else a requeued victim, aged
    ahead of its preemptor, would retake the freed capacity every cycle)."""
    """Reservation start time: a job that surely ends by then cannot delay it."""

    def spares(self, end: float) -> bool:
        """Whether a job ending at ``end`` is surely gone before this claim starts."""
        return end < _INF and end <= self.until


class Scheduler:
    """Decides which waiting job runs next, where, and whom to preempt.

    ``Scheduler(nodes, policy=Policy(...), store=None)``; ``store=None`` keeps
    state in memory. With a store that already holds state and ``nodes``
    omitted, the scheduler resumes exactly where the last one stopped.

    Not thread-safe: one owner at a time (a thread, an asyncio task, or a lock).
    """

    def __init__(
        self,
        nodes: Iterable[Node] | None = None,
        *,
        policy: Policy | None = None,
        store: Store | None = None,
    ) -> None:
        self._policy = policy if policy is not None else Policy()
        if not isinstance(self._policy, Policy):
            raise InvalidJob(f"policy: expected a prioq.Policy, got {self._policy!r}")
        self._store: Store = store if store is not None else MemoryStore()
        self._index = NodeIndex()
        self._queue = Pending(self._policy.aging)
        self._runs: dict[str, _Run] = {}
        self._nominated: dict[str, tuple[str, ...]] = {}
        self._reasons: dict[str, tuple[Reason, str]] = {}
        # parked shape -> (head visited last, its reason): the reason of every job of the shape
        self._shape_reasons: dict[Hashable, tuple[str, tuple[Reason, str]]] = {}
        # Effective priority frozen when a job first started (every running job has one);
        # kept across requeues so compare="effective" cannot thrash (docs/preemption.md).
        self._frozen: dict[str, float] = {}
        # Bumped by every change of free capacity, running set or node set, and by every
        # rollback, so caches keyed on it never outlive the state they were computed from.
        self._version = 0
        # (request, nodes, preemption priority, class may preempt) -> (version, expiry):
        # a preemption plan that failed stays failed until the version changes or a
        # running job's min_runtime protection expires.
        self._preempt_fail: dict[tuple[object, ...], tuple[int, float]] = {}
        self._messages: dict[tuple[ResourceRequest, int], str] = {}
        self._reservation: tuple[_ReservationKey, tuple[tuple[str, ...], float]] | None = None
        # request -> nodes whose capacity could ever hold it (cleared on node changes)
        self._capable: dict[ResourceRequest, list[NodeState]] = {}
        self._now: float | None = None
        self._next_order = 0
        self._undo: list[Callable[[], None]] | None = None
        self._dirty_jobs: set[str] = set()
        self._dirty_nodes: set[str] = set()

        node_list = None if nodes is None else list(nodes)
        if node_list is not None:
            self._validate_nodes(node_list)
        snap = self._store.load()
        if not snap.is_empty():
            if node_list is not None and {n.id: n for n in node_list} != {
                r.node.id: r.node for r in snap.nodes
            }:
                raise StoreError(
                    "the store already holds a cluster that differs from the nodes given; "
                    "omit nodes to resume, or change the cluster with add_node/remove_node"
                )
            self._restore(snap)
        elif node_list:
            with self._txn():
                for node in node_list:
                    self._add_node(node)

    # ------------------------------------------------------------------ properties

    @property
    def policy(self) -> Policy:
        return self._policy

    @property
    def now(self) -> float | None:
        """The latest ``now`` any call was given (``None`` before the first)."""
        return self._now

    @property
    def nodes(self) -> list[Node]:
        """The cluster's nodes, in node order."""
        return [ns.node for ns in self._index]

    def free(self, node_id: str) -> Resources:
        """What is free on a node now."""
        return self._node(node_id).free

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._queue or job_id in self._runs

    def __len__(self) -> int:
        """Jobs held: pending plus running (terminating included)."""
        return len(self._queue) + len(self._runs)

    # ------------------------------------------------------------------ public calls

    def submit(self, job: Job, now: float) -> Job:
        """Queue a job; returns it as stored (priority class resolved). O(log n)."""
        self._check_now(now)
        stored = self._validate_new(job, set())
        with self._txn():
            self._tick(now)
            self._push(stored, None)
        self._policy.placement.observe(stored.request)
        return stored

    def submit_many(self, jobs: Iterable[Job], now: float) -> list[Job]:
        """Queue several jobs in one commit; all or none. O(k log n)."""
        self._check_now(now)
        batch = list(jobs)
        seen: set[str] = set()
        stored = []
        for job in batch:
            stored.append(self._validate_new(job, seen))
            seen.add(job.id)
        with self._txn():
            self._tick(now)
            for job in stored:
                self._push(job, None)
        for job in stored:
            self._policy.placement.observe(job.request)
        return stored

    def cancel(self, job_id: str, now: float) -> Job:
        """Forget a job, pending or running (a running one's resources are freed)."""
        self._check_now(now)
        job = self._job(job_id)
        with self._txn():
            self._tick(now)
            self._del_dict(self._frozen, job_id)
            self._reasons.pop(job_id, None)
            if job_id in self._runs:
                self._free_run(job_id)
            else:
                self._drop_nomination(job_id)
                self._q_remove(job_id)
                self._mark_job(job_id)
        self._policy.placement.forget(job.request)
        return job

    def set_priority(self, job_id: str, priority: int, now: float) -> Job:
        """Change a job's base priority; takes effect at once. O(log n)."""
        self._check_now(now)
        self._job(job_id)
        self._check_priority(job_id, priority)
        with self._txn():
            self._tick(now)
            old_priority = self._job(job_id).priority
            frozen = self._frozen.get(job_id)
            if frozen is not None:
                # A frozen effective priority moves with the base one: raising a running
                # job's priority must protect it under compare="effective" too.
                self._set_dict(self._frozen, job_id, frozen + (priority - old_priority))
            if job_id in self._runs:
                run = self._runs[job_id]
                old = run.running
                new = attrs.evolve(old, job=attrs.evolve(old.job, priority=priority))
                self._do(lambda: setattr(run, "running", new), lambda: setattr(run, "running", old))
                self._bump()
                self._mark_job(job_id)
                return run.job
            updated = self._q_update(job_id, priority)
            self._mark_job(job_id)
            return updated

    def release(self, job_id: str, now: float) -> Job:
        """The job stopped (finished, failed, or preempted): free its resources.

        A released preemption victim is requeued with its original priority and
        ``submitted_at`` (dropped when ``Preemption.requeue`` is false).
        """
        self._check_now(now)
        run = self._running_run(job_id)
        with self._txn():
            self._tick(now)
            victim = run.preempted_by is not None
            self._free_run(job_id)
            if victim and self._policy.preemption.requeue:
                self._push(run.job, run.seq)
            else:
                self._del_dict(self._frozen, job_id)
        return run.job

    def requeue(self, job_id: str, now: float) -> Job:
        """A start failed or the job's node died: back to the queue.

        It keeps its priority, ``submitted_at`` and place in line."""
        self._check_now(now)
        run = self._running_run(job_id)
        with self._txn():
            self._tick(now)
            self._free_run(job_id)
            self._push(run.job, run.seq)
        return run.job

    def add_node(self, node: Node, now: float) -> None:
        """Add a node to the cluster. O(d log n)."""
        self._check_now(now)
        self._validate_nodes([node])
        if node.id in self._index:
            raise DuplicateJob(f"node {node.id!r} already exists")
        with self._txn():
            self._tick(now)
            self._add_node(node)

    def remove_node(self, node_id: str, now: float) -> list[str]:
        """Remove a node; jobs running there are requeued (whole gangs). Returns their ids."""
        self._check_now(now)
        ns = self._node(node_id)
        with self._txn():
            self._tick(now)
            requeued = sorted(ns.jobs, key=lambda j: self._runs[j].seq)
            for job_id in requeued:
                run = self._runs[job_id]
                self._free_run(job_id)
                self._push(run.job, run.seq)
            for owner, nodes in list(self._nominated.items()):
                if node_id in nodes:
                    self._drop_nomination(owner)
            self._index_remove(ns)
        return requeued

    def schedule(self, now: float) -> list[Decision]:
        """One scheduling cycle: the starts and preemptions to carry out now.

        Jobs are considered in scheduling order; each costs O(log n) per
        candidate node visited. Started jobs count as running at once; the
        orchestrator calls ``requeue`` if a start fails.
        """
        self._check_now(now)
        with self._txn():
            self._tick(now)
            return _Cycle(self, now).run()

    def pending(self, now: float) -> list[PendingJob]:
        """Waiting jobs in scheduling order, with the reason from the last cycle. O(n log n)."""
        self._check_now(now)
        out = []
        for job in self._queue.ordered(now):
            reason, message = self._reason(job.id)
            out.append(PendingJob(
                job=job,
                effective_priority=self._queue.effective_priority(job.id, now),
                reason=reason,
                message=message,
            ))
        return out

    def running(self) -> list[Running]:
        """Running jobs (terminating victims included), by start time then id."""
        return sorted((r.running for r in self._runs.values()), key=lambda r: (r.started_at, r.job.id))

    def terminating(self) -> dict[str, str]:
        """Victims told to stop, each with the preemptor it makes room for."""
        return {j: r.preempted_by for j, r in self._runs.items() if r.preempted_by is not None}

    def nominations(self) -> dict[str, tuple[str, ...]]:
        """Preemptors waiting for their victims, with the nodes they will get."""
        return dict(self._nominated)

    def get(self, job_id: str) -> Job:
        """A held job by id (pending or running). O(1)."""
        return self._job(job_id)

    def explain(self, job_id: str, now: float) -> str:
        """Why a job waits (or where it runs), in the style of Kubernetes events / Slurm reasons.

        O(N) in nodes for a pending job: it counts, per reason, the nodes that do not fit.
        """
        self._check_now(now)
        if job_id in self._runs:
            run = self._runs[job_id]
            where = ", ".join(run.running.node_ids)
            if run.preempted_by is not None:
                return f"terminating: preempted by {run.preempted_by} on {where}"
            return f"running on {where} since {run.running.started_at:g}"
        job = self._job(job_id)
        eff = self._queue.effective_priority(job_id, now)
        reason, message = self._reason(job_id)
        position = 1 + sum(1 for _ in self._iter_before(job_id, now))
        head = (
            f"waiting: {reason.value} — {message}; position {position} of {len(self._queue)}, "
            f"effective priority {eff:g} (base {job.priority}"
        )
        head += f" + aging {eff - job.priority:g})" if eff != job.priority else ")"
        if reason in (Reason.RESOURCES, Reason.UNSATISFIABLE, Reason.PRIORITY, Reason.RESERVED, Reason.NEW):
            head += "; " + self._node_breakdown(job)
        return head

    def _check(self) -> None:
        """Invariant check for stress tests (O(everything))."""
        self._index._check()
        self._queue._check()
        used: dict[str, Resources] = {ns.id: Resources() for ns in self._index}
        for job_id, run in self._runs.items():
            assert job_id not in self._queue, job_id
            assert job_id in self._frozen, job_id
            assert len(set(run.running.node_ids)) == run.job.nodes == len(run.running.node_ids)
            for nid, alloc in zip(run.running.node_ids, run.running.allocation, strict=True):
                assert job_id in self._index.get(nid).jobs
                used[nid] = used[nid] + alloc
        for ns in self._index:
            assert ns.jobs == {j for j, r in self._runs.items() if ns.id in r.running.node_ids}
            assert used[ns.id] + ns.free == ns.node.capacity, ns.id
        for owner, nodes in self._nominated.items():
            assert owner in self._queue and not self._queue.is_parked(owner)
            assert all(n in self._index for n in nodes)

    # ------------------------------------------------------------------ validation

    def _check_now(self, now: float) -> None:
        if isinstance(now, bool) or not isinstance(now, int | float) or not math.isfinite(now):
            raise InvalidTime(f"now must be a finite number, got {now!r}")
        if self._now is not None and now < self._now:
            raise InvalidTime(f"now went backwards: {now!r} < {self._now!r}")

    def _check_priority(self, job_id: str, priority: object) -> None:
        lo, hi = self._policy.priority_range
        if isinstance(priority, bool) or not isinstance(priority, int):
            raise InvalidJob(f"job {job_id}: priority must be an int, got {priority!r}")
        if not lo <= priority <= hi:
            raise InvalidJob(f"job {job_id}: priority {priority} outside the allowed range {lo}..{hi}")

    def _validate_new(self, job: Job, batch: set[str]) -> Job:
        if not isinstance(job, Job):
            raise InvalidJob(f"expected a prioq.Job, got {job!r}")
        if job.id in self or job.id in batch:
            raise DuplicateJob(f"job {job.id!r} is already queued or running")
        if job.priority_class is not None:
            pc = self._policy.priority_class(job.priority_class)
            if job.priority not in (self._policy.default_priority, pc.value):
                raise InvalidJob(
                    f"job {job.id}: priority {job.priority} contradicts priority class "
                    f"{pc.name!r} (value {pc.value}); give one or the other"
                )
            job = attrs.evolve(job, priority=pc.value)
        self._check_priority(job.id, job.priority)
        return job

    def _validate_nodes(self, nodes: Sequence[Node]) -> None:
        seen: set[str] = set()
        for node in nodes:
            if not isinstance(node, Node):
                raise InvalidJob(f"expected a prioq.Node, got {node!r}")
            if node.id in seen:
                raise DuplicateJob(f"node {node.id!r} given twice")
            seen.add(node.id)

    def _job(self, job_id: str) -> Job:
        if job_id in self._runs:
            return self._runs[job_id].job
        if isinstance(job_id, str) and job_id in self._queue:
            return self._queue.get(job_id)
        raise UnknownJob(f"no job {job_id!r} is queued or running")

    def _running_run(self, job_id: str) -> _Run:
        run = self._runs.get(job_id)
        if run is None:
            if isinstance(job_id, str) and job_id in self._queue:
                raise UnknownJob(f"job {job_id!r} is pending, not running")
            raise UnknownJob(f"no job {job_id!r} is running")
        return run

    def _node(self, node_id: str) -> NodeState:
        if not isinstance(node_id, str) or node_id not in self._index:
            raise UnknownNode(f"no node {node_id!r}")
        return self._index.get(node_id)

    def _reason(self, job_id: str) -> tuple[Reason, str]:
        """The last cycle's reason; a parked job not visited shares its shape head's."""
        shape = self._queue.where.get(job_id)
        if shape is not None and shape in self._shape_reasons:
            head, reason = self._shape_reasons[shape]
            if head != job_id and head in self._queue and self._queue.where.get(head) == shape:
                # the head is still ahead of it in the same shape
                return reason
        return self._reasons.get(job_id, (Reason.NEW, "not considered by a cycle yet"))

    def _preemption_priority(self, job: Job, now: float) -> float:
        """The priority preemption compares for a pending job: base, or (compare="effective")
        the effective priority, frozen once the job has started."""
        if self._policy.preemption.compare == "base":
            return float(job.priority)
        frozen = self._frozen.get(job.id)
        return frozen if frozen is not None else self._queue.effective_priority(job.id, now)

    def _class_may_preempt(self, job: Job) -> bool:
        if job.priority_class is None:
            return True
        return self._policy.priority_class(job.priority_class).preemption != "never"

    def _iter_before(self, job_id: str, now: float) -> Iterator[Job]:
        for job in self._queue.ordered(now):
            if job.id == job_id:
                return
            yield job

    def _node_breakdown(self, job: Job) -> str:
        counts: dict[str, int] = {}
        fits = 0
        for ns in self._index:
            misfit = check(job.request, ns.free)
            if misfit is None:
                fits += 1
            else:
                counts[misfit.category] = counts.get(misfit.category, 0) + 1
        parts = ", ".join(f"{n} {cat}" for cat, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
        need = f" (needs {job.nodes} distinct nodes)" if job.nodes > 1 else ""
        return f"{fits}/{len(self._index)} nodes fit{need}" + (f": {parts}" if parts else "")

    def _capable_nodes(self, request: ResourceRequest) -> list[NodeState]:
        """Nodes whose capacity could ever hold ``request``, in node order (cached until nodes change)."""
        nodes = self._capable.get(request)
        if nodes is None:
            # one fit per capacity object: nodes parsed from one spec share it (spec cache),
            # and clusters have few node types
            groups: dict[int, bool] = {}
            nodes = []
            for ns in self._index:
                ok = groups.get(id(ns.node.capacity))
                if ok is None:
                    ok = groups[id(ns.node.capacity)] = fit(request, ns.node.capacity) is not None
                if ok:
                    nodes.append(ns)
            self._capable[request] = nodes
        return nodes

    def _unsatisfiable(self, job: Job) -> bool:
        """No node could ever hold it, even empty. O(1) after the first look per request shape."""
        return len(self._capable_nodes(job.request)) < job.nodes

    # ------------------------------------------------------------------ journal

    @contextmanager
    def _txn(self) -> Iterator[None]:
        """Run a call's mutations, then commit them to the store; on any failure undo them all."""
        assert self._undo is None, "scheduler calls must not nest"
        self._undo = []
        self._dirty_jobs = set()
        self._dirty_nodes = set()
        try:
            yield
            try:
                self._store.commit(self._changes())
            except StoreError:
                raise
            except Exception as exc:
                raise StoreError(f"commit failed: {type(exc).__name__}: {exc}") from exc
        except BaseException:
            for undo in reversed(self._undo):
                undo()
            self._bump()
            raise
        finally:
            self._undo = None

    def _do(self, apply: Callable[[], Any], undo: Callable[[], Any]) -> None:
        apply()
        assert self._undo is not None
        self._undo.append(undo)

    def _tick(self, now: float) -> None:
        # The clock is not rolled back: the queue has already processed its aging
        # events up to ``now`` (not reversible), and a validated ``now`` is a fact
        # about the world, not a change the store could lose.
        self._now = now

    def _mark_job(self, job_id: str) -> None:
        self._dirty_jobs.add(job_id)

    def _changes(self) -> Changes:
        jobs: dict[str, JobRow | None] = {}
        for job_id in self._dirty_jobs:
            jobs[job_id] = self._row(job_id)
        nodes: dict[str, NodeRow | None] = {}
        for node_id in self._dirty_nodes:
            nodes[node_id] = (
                NodeRow(node=self._index.get(node_id).node, order=self._index.get(node_id).order)
                if node_id in self._index
                else None
            )
        return Changes(
            jobs=jobs,
            nodes=nodes,
            now=self._now,
            next_seq=self._queue.next_seq,
            next_order=self._next_order,
        )

    def _row(self, job_id: str) -> JobRow | None:
        run = self._runs.get(job_id)
        if run is not None:
            return JobRow(
                job=run.job,
                seq=run.seq,
                state="terminating" if run.preempted_by is not None else "running",
                node_ids=run.running.node_ids,
                allocation=run.running.allocation,
                started_at=run.running.started_at,
                start_priority=self._frozen[job_id],
                preempted_by=run.preempted_by,
                backfill_for=run.backfill_for,
            )
        if job_id in self._queue:
            return JobRow(
                job=self._queue.get(job_id),
                seq=self._queue.seq_of(job_id),
                state="pending",
                start_priority=self._frozen.get(job_id),
                nominated=self._nominated.get(job_id, ()),
            )
        return None

    def _restore(self, snap: Snapshot) -> None:
        for nrow in snap.nodes:
            ns = NodeState(node=nrow.node, order=nrow.order, free=nrow.node.capacity)
            self._index.add(ns)
        for row in snap.jobs:
            if row.start_priority is not None:
                self._frozen[row.job.id] = row.start_priority
            if row.state == "pending":
                self._queue.push(row.job, seq=row.seq)
                if row.nominated:
                    self._nominated[row.job.id] = row.nominated
            else:
                assert row.started_at is not None and row.start_priority is not None
                running = Running(
                    job=row.job, node_ids=row.node_ids, started_at=row.started_at, allocation=row.allocation
                )
                self._runs[row.job.id] = _Run(running, row.seq, row.preempted_by, row.backfill_for)
                for nid, alloc in zip(row.node_ids, row.allocation, strict=True):
                    ns = self._index.get(nid)
                    self._index.update(ns, ns.free - alloc)
                    ns.jobs.add(row.job.id)
            self._policy.placement.observe(row.job.request)
        self._queue.restore_counter(snap.next_seq)
        self._now = snap.now
        self._next_order = snap.next_order

    # ------------------------------------------------------------------ mutations (journaled)

    def _push(self, job: Job, seq: int | None) -> None:
        box: list[int] = []
        self._do(lambda: box.append(self._queue.push(job, seq=seq)), lambda: self._queue.remove(job.id))
        self._mark_job(job.id)

    def _q_remove(self, job_id: str) -> Job:
        seq = self._queue.seq_of(job_id)
        box: list[Job] = []
        self._do(lambda: box.append(self._queue.remove(job_id)), lambda: self._queue.push(box[0], seq=seq))
        return box[0]

    def _park(self, job_id: str, shape: Hashable) -> None:
        self._do(lambda: self._queue.park(job_id, shape), lambda: self._queue.unpark(job_id))

    def _unpark(self, job_id: str) -> None:
        shape = self._queue.where[job_id]
        self._do(lambda: self._queue.unpark(job_id), lambda: self._queue.park(job_id, shape))

    def _q_update(self, job_id: str, priority: int) -> Job:
        old = self._queue.get(job_id).priority
        box: list[Job] = []
        self._do(
            lambda: box.append(self._queue.update(job_id, priority)),
            lambda: self._queue.update(job_id, old),
        )
        return box[0]

    def _bump(self) -> None:
        # Never rolled back (a rollback bumps it once more): a cache entry keyed on a
        # version must never match a state other than the one it was computed from.
        self._version += 1

    def _set_free(self, ns: NodeState, free: Resources) -> None:
        old = ns.free
        self._do(lambda: self._index.update(ns, free), lambda: self._index.update(ns, old))
        self._bump()

    def _add_node(self, node: Node) -> None:
        ns = NodeState(node=node, order=self._next_order, free=node.capacity)
        old_order = self._next_order
        self._do(
            lambda: setattr(self, "_next_order", old_order + 1),
            lambda: setattr(self, "_next_order", old_order),
        )
        self._do(lambda: self._index.add(ns), lambda: self._index.remove(node.id))
        self._do(self._capable.clear, lambda: None)
        self._bump()
        self._dirty_nodes.add(node.id)

    def _index_remove(self, ns: NodeState) -> None:
        self._do(lambda: self._index.remove(ns.id), lambda: self._index.add(ns))
        self._do(self._capable.clear, lambda: None)
        self._bump()
        self._dirty_nodes.add(ns.id)

    def _set_dict(self, d: dict[str, Any], key: str, value: Any) -> None:
        had = key in d
        old = d.get(key)

        def undo() -> None:
            if had:
                d[key] = old
            else:
                d.pop(key, None)

        self._do(lambda: d.__setitem__(key, value), undo)

    def _del_dict(self, d: dict[str, Any], key: str) -> None:
        if key in d:
            old = d[key]
            self._do(lambda: d.pop(key), lambda: d.__setitem__(key, old))

    def _start(
        self,
        job: Job,
        placement: Sequence[tuple[NodeState, Resources]],
        now: float,
        backfill_for: str | None = None,
    ) -> Start:
        seq = self._queue.seq_of(job.id)
        if job.id not in self._frozen:
            self._set_dict(self._frozen, job.id, self._queue.effective_priority(job.id, now))
        self._drop_nomination(job.id)
        self._q_remove(job.id)
        running = Running(
            job=job,
            node_ids=tuple(ns.id for ns, _ in placement),
            started_at=now,
            allocation=tuple(a for _, a in placement),
        )
        self._set_dict(self._runs, job.id, _Run(running, seq, backfill_for=backfill_for))
        for ns, alloc in placement:
            self._set_free(ns, ns.free - alloc)
            self._do(partial(ns.jobs.add, job.id), partial(ns.jobs.discard, job.id))
        self._mark_job(job.id)
        return Start(job_id=job.id, node_ids=running.node_ids, allocation=running.allocation)

    def _free_run(self, job_id: str) -> None:
        run = self._runs[job_id]
        for nid, alloc in zip(run.running.node_ids, run.running.allocation, strict=True):
            ns = self._index.get(nid)
            self._set_free(ns, ns.free + alloc)
            self._do(partial(ns.jobs.discard, job_id), partial(ns.jobs.add, job_id))
        self._del_dict(self._runs, job_id)
        self._mark_job(job_id)

    def _mark_victim(self, victim: str, by: str) -> None:
        self._bump()
        run = self._runs[victim]
        old = run.preempted_by
        self._do(lambda: setattr(run, "preempted_by", by), lambda: setattr(run, "preempted_by", old))
        self._mark_job(victim)

    def _nominate(self, job_id: str, node_ids: tuple[str, ...]) -> None:
        self._bump()
        self._set_dict(self._nominated, job_id, node_ids)
        self._mark_job(job_id)

    def _drop_nomination(self, job_id: str) -> None:
        if job_id in self._nominated:
            self._bump()
            self._del_dict(self._nominated, job_id)
            self._mark_job(job_id)


class _Cycle:
    """One scheduling cycle's working state (docs/scheduler.md).

    Jobs are visited in scheduling order. Claims protect capacity: a
    preemptor's nodes while its victims terminate, and the reservation of the
    first blocked job (EASY backfill: later jobs may use reserved nodes only if
    they surely end before the reservation starts, or leave room for it).
    """

    def __init__(self, s: Scheduler, now: float) -> None:
        self.s = s
        self.now = now
        self.decisions: list[Decision] = []
        self.claims: dict[str, list[_Claim]] = {}
        self.reserved_for: str | None = None
        self.blocked: str | None = None
        self.before: dict[str, Resources] = {}
        self.raw_failed: set[tuple[ResourceRequest, int]] = set()
        self.raw_nodes: dict[tuple[ResourceRequest, int], list[str]] = {}
        self.why_cache: dict[tuple[ResourceRequest, int], tuple[int, int]] = {}
        self.touched: list[str] = []
        self.key_of: dict[str, OrderKey] = {}
        self.started: set[str] = set()
        self.cands: dict[str, Candidate] | None = None
        self.min_candidate_priority = _INF
        self.preempt_failed: dict[tuple[ResourceRequest, int], float] = {}

    def run(self) -> list[Decision]:
        """Visit pending jobs in scheduling order: every active job, and of each parked
        shape only as many as start plus one (the rest could not start either)."""
        s = self.s
        pend = s._queue
        now = self.now
        active = list(pend.active.ordered(now))
        heap: list[tuple[OrderKey, int, Job]] = [
            (pend.key(job, pend.active.seq_of(job.id), now), -1, job) for job in active
        ]
        shapes = list(pend.parked)
        for i, shape in enumerate(shapes):
            head = pend.parked[shape].peek(now)
            heap.append((pend.key(head, pend.parked[shape].seq_of(head.id), now), i, head))
        heapq.heapify(heap)
        self.key_of = {job.id: key for key, _, job in heap}
        self._claim_nominations()
        while heap:
            key, stream, job = heapq.heappop(heap)
            self.key_of[job.id] = key
            reason = self._consider(job)
            if job.id in pend:
                s._reasons[job.id] = reason
                if stream >= 0 and pend.is_parked(job.id):
                    # its shape-mates behind it wait for the same reason
                    s._shape_reasons[shapes[stream]] = (job.id, reason)
            else:
                s._reasons.pop(job.id, None)
                if stream >= 0 and shapes[stream] in pend.parked:
                    # the shape's head started: the next one of that shape gets its turn
                    queue = pend.parked[shapes[stream]]
                    nxt = queue.peek(now)
                    heapq.heappush(heap, (pend.key(nxt, queue.seq_of(nxt.id), now), stream, nxt))
        for shape in [sh for sh in s._shape_reasons if sh not in pend.parked]:
            del s._shape_reasons[shape]
        return self.decisions

    # -- claims

    def _claim_nominations(self) -> None:
        s = self.s
        for owner, node_ids in list(s._nominated.items()):
            if not all(n in s._index for n in node_ids):
                s._drop_nomination(owner)
                continue
            job = s._queue.get(owner)
            for nid in node_ids:
                ns = s._index.get(nid)
                projected = ns.free
                for j in ns.jobs:
                    if s._runs[j].preempted_by == owner:
                        projected = projected + s._runs[j].alloc_on(nid)
                claim = _Claim(owner, self.key_of[owner], job.request, projected,
                               priority=s._preemption_priority(job, self.now))
                self.claims.setdefault(nid, []).append(claim)

    def _binding(self, claim: _Claim, job: Job) -> bool:
        """Whether ``claim`` binds ``job``: jobs behind its owner in the order, and for a
        nomination every job of lower or equal preemption priority (as Kubernetes lets
        only higher-priority pods take a nominated node)."""
        if claim.owner == job.id:
            return False
        if claim.key < self.key_of[job.id]:
            return True
        return claim.priority is not None and self.s._preemption_priority(job, self.now) <= claim.priority

    def _allow_for(self, job: Job) -> Callable[[NodeState, Resources], bool]:
        end = _INF if job.duration is None else self.now + job.duration

        def allow(ns: NodeState, alloc: Resources) -> bool:
            for claim in self.claims.get(ns.id, ()):
                if not self._binding(claim, job) or claim.spares(end):
                    continue
                short = claim.projected.shortfall(alloc)
                if short or fit(claim.request, claim.projected - alloc) is None:
                    return False
            return True

        return allow

    def _charge_claims(self, job: Job, placement: Sequence[tuple[NodeState, Resources]]) -> str | None:
        """Take a starting job's allocation off the claims it could affect; returns the
        reservation holder when the job backfills under a reservation of unknown start."""
        end = _INF if job.duration is None else self.now + job.duration
        backfill_for = None
        for ns, alloc in placement:
            for claim in self.claims.get(ns.id, ()):
                if claim.owner != job.id and not claim.spares(end):
                    # also charged by jobs ahead of its owner: the claim tracks what is left
                    claim.projected = claim.projected - alloc
                    if self.reserved_for == claim.owner and claim.until == _INF:
                        backfill_for = claim.owner
        return backfill_for

    def _unclaim(self, owner: str) -> None:
        for node_id, claims in list(self.claims.items()):
            kept = [c for c in claims if c.owner != owner]
            if kept:
                self.claims[node_id] = kept
            else:
                del self.claims[node_id]

    # -- per job

    def _consider(self, job: Job) -> tuple[Reason, str]:
        s = self.s
        waiting_on = [d for d in job.after if d in s]
        if waiting_on:
            return Reason.DEPENDENCY, f"waiting for {', '.join(waiting_on)} to finish"
        if job.id in s._nominated:
            victims = [v for v, r in s._runs.items() if r.preempted_by == job.id]
            if victims:
                self._block(job)
                return Reason.PREEMPTING, (
                    f"nominated to {', '.join(s._nominated[job.id])}; waiting for "
                    f"{', '.join(sorted(victims))} to terminate"
                )
        if s._policy.queueing == "strict" and self.blocked is not None:
            return Reason.BLOCKED, f"strict queueing: {self.blocked} ahead of it cannot start"
        if s._unsatisfiable(job):
            self._park(job)
            return Reason.UNSATISFIABLE, self._unsat_message(job)
        placement = self._place(job)
        if placement is not None:
            self._unclaim(job.id)
            backfill_for = self._charge_claims(job, placement)
            for ns, _ in placement:
                if ns.id not in self.before:
                    self.before[ns.id] = ns.free
                    self.touched.append(ns.id)
            self.decisions.append(s._start(job, placement, self.now, backfill_for))
            self.started.add(job.id)
            return Reason.NEW, "started"
        if job.id in s._nominated:
            s._drop_nomination(job.id)
            self._unclaim(job.id)
        if s._policy.preemption.enabled and s._class_may_preempt(job):
            preempted = self._preempt(job)
            if preempted is not None:
                if s._queue.is_parked(job.id):
                    s._unpark(job.id)  # nominated jobs are visited every cycle
                self._block(job)
                return preempted
        reason = self._why(job)
        self._block(job)
        if (job.request, job.nodes) in self.raw_failed:
            self._park(job)
        if (
            s._policy.reservation
            and s._policy.queueing == "best-effort"
            and self.reserved_for is None
            and reason[0] is not Reason.RESERVED
        ):
            self._reserve(job)
        return reason

    def _block(self, job: Job) -> None:
        if self.blocked is None:
            self.blocked = job.id

    def _park(self, job: Job) -> None:
        """Park a job that found no room even ignoring claims (see :mod:`prioq.scheduler._pending`).

        Not in strict queueing (nothing behind a blocked head is visited anyway), nor when
        preemption compares effective priorities (a job's preemption priority then
        changes with time, so jobs of one shape are not interchangeable)."""
        s = self.s
        pol = s._policy
        if pol.queueing == "strict" or s._queue.is_parked(job.id) or job.id in s._nominated:
            return
        if pol.preemption.enabled and pol.preemption.compare == "effective":
            return
        shape: tuple[object, ...] = (job.request, job.nodes)
        if pol.preemption.enabled:
            shape += (job.priority, s._class_may_preempt(job))
        s._park(job.id, shape)

    def _unsat_message(self, job: Job) -> str:
        if job.nodes > 1:
            return f"no {job.nodes} nodes could ever hold {job.request} (even empty)"
        return f"no node could ever hold {job.request} (even empty)"

    def _place(self, job: Job) -> list[tuple[NodeState, Resources]] | None:
        """Place every gang member on a distinct node, respecting claims; or nothing.

        Frees only shrink during a cycle, so a request that found no room even
        ignoring claims will not find any later in the cycle: such requests are
        remembered and later identical ones cost O(1).
        """
        key = (job.request, job.nodes)
        if key in self.raw_failed:
            return None
        got = self._gang(job, self._allow_for(job) if self.claims else None)
        if got is None:
            raw = self._gang(job, None) if self.claims else None
            if raw is None:
                self.raw_failed.add(key)
            else:
                self.raw_nodes[key] = [ns.id for ns, _ in raw]
        return got

    def _gang(
        self, job: Job, allow: Callable[[NodeState, Resources], bool] | None
    ) -> list[tuple[NodeState, Resources]] | None:
        s = self.s
        chosen: list[tuple[NodeState, Resources]] = []
        used: set[str] = set()

        def allow_member(ns: NodeState, alloc: Resources) -> bool:
            return ns.id not in used and (allow is None or allow(ns, alloc))

        for _ in range(job.nodes):
            got = s._policy.placement.place(job.request, s._index, allow_member)
            if got is None:
                return None
            chosen.append(got)
            used.add(got[0].id)
        return chosen

    def _why(self, job: Job) -> tuple[Reason, str]:
        """Why a job that could not start waits. Amortized O(1) per job: results are kept
        per request shape and only nodes touched since the last look are re-checked."""
        s = self.s
        key = (job.request, job.nodes)
        if key not in self.raw_failed:
            nodes = self.raw_nodes.get(key, ())
            owners = sorted(
                {c.owner for nid in nodes for c in self.claims.get(nid, ()) if self._binding(c, job)}
            )
            if owners:
                return Reason.RESERVED, f"capacity that fits it is held for {', '.join(owners)}"
            return Reason.RESOURCES, f"placement policy {s._policy.placement.name!r} found no node for it"
        fits_before, checked = self.why_cache.get(key, (0, 0))
        for nid in self.touched[checked:]:
            if fit(job.request, self.before[nid]) is not None:
                fits_before += 1
        self.why_cache[key] = (fits_before, len(self.touched))
        if fits_before >= job.nodes:
            return Reason.PRIORITY, "jobs ahead of it took the capacity it fits in this cycle"
        messages = s._messages
        message = messages.get(key)
        if message is None:
            if len(messages) > 4096:  # bounded: request shapes are few in practice
                messages.clear()
            need = f" on {job.nodes} nodes" if job.nodes > 1 else ""
            message = messages[key] = f"no node has {job.request} free{need}"
        return Reason.RESOURCES, message

    def _reserve(self, job: Job) -> None:
        """Reserve the nodes where ``job`` fits soonest (estimated from running jobs' durations).

        O(N * r) for N nodes running r jobs each, so the choice is kept until the
        cluster changes (any start, release or node change): cycles triggered
        only by arrivals reuse it.
        """
        s = self.s
        key = (job.id, job.request, job.nodes, s._version)
        if s._reservation is not None and s._reservation[0] == key:
            node_ids, latest_end = s._reservation[1]
        else:
            node_ids, latest_end = self._soonest(job)
            s._reservation = (key, (node_ids, latest_end))
        if not node_ids:
            return
        until = max(self.now, latest_end)
        chosen_nodes = [s._index.get(nid) for nid in node_ids]
        self.reserved_for = job.id
        for ns in chosen_nodes:
            # What is left for the reservation at its start: everything except jobs
            # that outlast it (finite start) or backfilled jobs (unknown start).
            projected = ns.node.capacity
            for j in ns.jobs:
                run = s._runs[j]
                outlasts = run.end > until if until < _INF else run.backfill_for == job.id
                if outlasts:
                    projected = projected - run.alloc_on(ns.id)
            self.claims.setdefault(ns.id, []).append(
                _Claim(job.id, self.key_of[job.id], job.request, projected, until)
            )

    def _soonest(self, job: Job) -> tuple[tuple[str, ...], float]:
        """The ``job.nodes`` nodes where ``job`` fits soonest, and when the last of them frees up.

        A node's key is (time it fits, releases needed, node order), the time
        from running jobs' expected ends (``inf`` when unknown). Nodes are
        examined in order of a cheap lower bound -- their earliest expected end,
        and at least one release -- and the scan stops once no unexamined node
        can beat the chosen ones, so typically only a few nodes cost a fit.
        """
        s = self.s
        bounded: list[tuple[float, int, NodeState]] = []
        for ns in s._capable_nodes(job.request):
            ends = [s._runs[j].end for j in ns.jobs]
            bounded.append((min(ends, default=-_INF), ns.order, ns))
        bounded.sort(key=lambda b: (b[0], b[1]))
        best: list[tuple[float, int, int, str]] = []
        for lower, order, ns in bounded:
            if len(best) >= job.nodes and best[job.nodes - 1] < (lower, 1, order, ""):
                break
            free = ns.free
            end, needed = -_INF, 0
            for run in sorted((s._runs[j] for j in ns.jobs), key=_Run.end_order):
                if fit(job.request, free) is not None:
                    break
                free = free + run.alloc_on(ns.id)
                end, needed = max(end, run.end), needed + 1
            if needed == 0 or fit(job.request, free) is not None:
                best.append((end, needed, order, ns.id))
                best.sort()
        if len(best) < job.nodes:
            return (), -_INF
        chosen = best[: job.nodes]
        return tuple(c[3] for c in chosen), max(c[0] for c in chosen)

    def _candidates(self) -> dict[str, Candidate]:
        """Running jobs preemption may consider, built once per cycle. O(running)."""
        if self.cands is None:
            s = self.s
            pol = s._policy.preemption
            self.cands = {}
            for job_id, run in s._runs.items():
                # A job started in this very cycle is never evicted by it: the cycle
                # would contradict itself (possible when aging orders a job ahead
                # whose frozen preemption priority is low).
                if run.preempted_by is not None or job_id in self.started or not run.job.preemptible:
                    continue
                self.cands[job_id] = Candidate(
                    running=run.running,
                    priority=float(run.job.priority) if pol.compare == "base" else s._frozen[job_id],
                    seq=run.seq,
                )
            self.min_candidate_priority = min((c.priority for c in self.cands.values()), default=_INF)
        return self.cands

    def _preempt(self, job: Job) -> tuple[Reason, str] | None:
        s = self.s
        pol = s._policy.preemption
        prio = s._preemption_priority(job, self.now)
        fail_key = (
            job.request, job.nodes, prio, s._class_may_preempt(job), self.reserved_for,
            job.submitted_at if pol.policy == "lower-or-newer-equal" else None,
        )
        failed = s._preempt_fail.get(fail_key)
        if failed is not None and failed[0] == s._version and self.now < failed[1]:
            return None
        candidates = self._candidates()
        floor = self.min_candidate_priority
        if not candidates or prio < floor or (prio == floor and pol.policy == "lower-priority"):
            return None  # nobody running ranks below it
        below = self.preempt_failed.get((job.request, job.nodes))
        if below is not None and (prio < below or (prio == below and pol.policy == "lower-priority")):
            return None  # an equal request of higher priority found no victims this cycle
        plan = plan_preemption(
            job,
            prio,
            s._queue.seq_of(job.id),
            s._index,
            candidates,
            pol,
            self.now,
            self._allow_for(job),
            s._capable_nodes(job.request),
        )
        if plan is None:
            # valid until the version moves (starts, releases, nominations, node changes:
            # each bumps it) or a protection window ends
            expiry = min(
                (r.running.started_at + pol.min_runtime for r in s._runs.values()
                 if r.running.started_at + pol.min_runtime > self.now),
                default=_INF,
            )
            if len(s._preempt_fail) > 4096:
                s._preempt_fail.clear()
            s._preempt_fail[fail_key] = (s._version, expiry)
            # within a cycle claims, starts and victims only ever make it harder
            self.preempt_failed[(job.request, job.nodes)] = max(
                prio, self.preempt_failed.get((job.request, job.nodes), -_INF)
            )
            return None
        for victim in plan.victims:
            vrun = s._runs[victim]
            s._mark_victim(victim, job.id)
            candidates.pop(victim, None)
            self.decisions.append(
                Preempt(job_id=victim, node_ids=vrun.running.node_ids, by=job.id, grace=pol.grace)
            )
        s._nominate(job.id, plan.node_ids)
        return Reason.PREEMPTING, (
            f"preempting {', '.join(plan.victims)} on {', '.join(plan.node_ids)}"
        )
