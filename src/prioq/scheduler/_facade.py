"""The scheduler facade an orchestrator holds (docs/scheduler.md).

One :class:`Scheduler` owns the waiting queue, the cluster's nodes and what
runs where. The orchestrator tells it what happened (``submit``, ``release``,
``requeue``, node changes) and asks it what to do (``schedule`` returns
:class:`~prioq.model.Start` and :class:`~prioq.model.Preempt` decisions).

Each public call validates all of its input first, then opens a transaction
on the state (:mod:`prioq.scheduler._state`, the only writer), delegates, and
commits the changed rows to the store before it returns. A call that fails --
bad input, or a store that refuses the commit -- changes nothing, the clock
included (docs/architecture.md#the-transaction-contract).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Literal

import attrs

from prioq import _validate as v
from prioq.errors import DuplicateJob, DuplicateNode, InvalidJob, InvalidNode, InvalidValue, UnknownGroup
from prioq.events import EventKind, EventPage
from prioq.fairshare import levels, rate_of
from prioq.model import Decision, Job, Node, PendingJob, Running
from prioq.placement import NodeState
from prioq.policy import Policy
from prioq.quota import usage_of
from prioq.resources import MILLI, Resources
from prioq.scheduler import _explain, _status
from prioq.scheduler._cycle import Cycle
from prioq.scheduler._depends import OUTCOMES
from prioq.scheduler._events import DEFAULT_RETENTION, EventLog, decided
from prioq.scheduler._resume import (
    POLICY_KEY,
    NodeChanges,
    Terminating,
    check_policy,
    check_replacement,
    node_diff,
    policy_text,
    read_preempt,
)
from prioq.scheduler._state import State
from prioq.scheduler._status import reservation_of, unsatisfiable_candidates
from prioq.status import Demand, JobStatus, Reservation
from prioq.storage import MemoryStore, Store

__all__ = ["Scheduler"]


class Scheduler:
    """Decides which waiting job runs next, where, and whom to preempt.

    ``Scheduler(nodes, policy=Policy(...), store=None)``; ``store=None`` keeps
    state in memory. With a store that already holds state the scheduler resumes
    where the last one stopped (``resumed`` is then true): the policy must be the
    stored one (:class:`~prioq.errors.PolicyMismatch` otherwise, unless
    ``policy_change="replace"``), and ``nodes``, when given, are reconciled with the
    stored cluster as ``remove_node``/``add_node`` calls, reported in
    ``node_changes`` (docs/orchestrator.md#resume). ``event_retention``: how many change
    events (``events()``) to keep at least, in the store with the changes; ``0`` records none
    (docs/orchestrator.md#events).

    Not thread-safe: one owner at a time (a thread, an asyncio task, or a lock).
    """

    def __init__(
        self,
        nodes: Iterable[Node] | None = None,
        *,
        policy: Policy | None = None,
        store: Store | None = None,
        policy_change: Literal["refuse", "replace"] = "refuse",
        event_retention: int = DEFAULT_RETENTION,
    ) -> None:
        policy = Policy() if policy is None else v.instance(policy, Policy, "policy")
        node_list = None if nodes is None else _node_list(nodes)
        store = MemoryStore() if store is None else v.instance(store, Store, "store")  # type: ignore[type-abstract]
        v.choice(policy_change, ("refuse", "replace"), "policy_change")
        retention = v.integer(event_retention, "event_retention", minimum=0, maximum=v.MAX_COUNTER)
        self._state = state = State(policy, store)
        self._events = EventLog(state, retention)
        self._reservation: Reservation | None = None
        snap = state.store.load()
        text = policy_text(policy)
        replace = check_policy(snap.extras.get(POLICY_KEY), text, policy_change)
        # The fingerprint goes to the store with the first call that writes anything.
        state.with_next_change[POLICY_KEY] = text
        self._resumed = not snap.is_empty()
        self._node_changes = NodeChanges()
        if self._resumed:
            if replace:
                check_replacement(policy, [jrow.job for jrow in snap.jobs])
            state.load(snap)
            self._events.load()
            if replace:
                with self._transaction(None):
                    state.put_extra(POLICY_KEY, text)
            if node_list is not None:
                self._node_changes = self._reconcile(node_list)
        elif node_list:
            with self._transaction(None):
                for node in node_list:
                    self._add_node(node)

    def _reconcile(self, node_list: Sequence[Node]) -> NodeChanges:
        """Apply the differences between the stored cluster and ``node_list`` as
        ``remove_node``/``add_node`` would, in one commit, clock unchanged."""
        s = self._state
        remove, add, replaced = node_diff(list(self.nodes), node_list)
        if not remove and not add:
            return NodeChanges()
        requeued: list[str] = []
        with self._transaction(None):
            for node_id in remove:
                requeued += self._remove_node(s.node(node_id))
            for node in add:
                self._add_node(node)
        return NodeChanges(
            added=tuple(n.id for n in add if n.id not in replaced),
            removed=tuple(n for n in remove if n not in replaced),
            replaced=tuple(replaced),
            requeued=tuple(requeued),
        )

    @contextlib.contextmanager
    def _transaction(self, now: float | None) -> Iterator[None]:
        """The state's transaction for one call, its events written at the end of the body
        (one row, with the call's commit; docs/orchestrator.md#events)."""
        with self._state.transaction(now):
            self._events.begin()
            yield
            self._events.flush()

    # ------------------------------------------------------------------ properties

    @property
    def policy(self) -> Policy:
        return self._state.policy

    @property
    def now(self) -> float | None:
        """The scheduler's clock: the latest ``now`` a successful call that may change
        state was given (``None`` before the first). Reads never move it, failed calls
        leave it as it was (docs/orchestrator.md#one-clock)."""
        return self._state.now

    @property
    def resumed(self) -> bool:
        """Whether this scheduler was opened on a store that already held state."""
        return self._resumed

    @property
    def node_changes(self) -> NodeChanges:
        """What opening on a stored cluster with a different node list changed (empty
        otherwise; docs/orchestrator.md#resume)."""
        return self._node_changes

    @property
    def nodes(self) -> list[Node]:
        """The cluster's nodes, in node order."""
        return [ns.node for ns in self._state.index]

    def free(self, node_id: str) -> Resources:
        """What is free on a node now. O(1)."""
        index = self._state.index
        if type(node_id) is str and node_id in index:  # the hot path (simulators sample it)
            return index.get(node_id).free
        return self._state.node(v.lookup_id(node_id, "node id")).free

    def __contains__(self, job_id: object) -> bool:
        return isinstance(job_id, str) and (job_id in self._state.queue or job_id in self._state.runs)

    def __len__(self) -> int:
        """Jobs held: pending plus running (terminating included)."""
        return len(self._state.queue) + len(self._state.runs)

    # ------------------------------------------------------------------ what happened

    def submit(self, job: Job, now: float) -> Job:
        """Queue a job; returns it as stored (priority class resolved). O(log n)."""
        now = self._now(now)
        stored = self._validate_new(job, set())
        self._state.deps.check_acyclic([stored])
        with self._transaction(now):
            self._state.push(stored, None)
            self._events.record(EventKind.SUBMITTED, job_id=stored.id, priority=stored.priority)
            self._state.arrive([stored.request])  # the placement policy learns from arrivals
        return stored

    def submit_many(self, jobs: Iterable[Job], now: float) -> list[Job]:
        """Queue several jobs in one commit; all or none. O(k log n)."""
        now = self._now(now)
        if not isinstance(jobs, Iterable):
            raise v.wrong_type(InvalidJob, f"submit_many: expected an iterable of prioq.Job, got {jobs!r}")
        seen: set[str] = set()
        stored = []
        for job in list(jobs):
            stored.append(self._validate_new(job, seen))
            seen.add(job.id)
        self._state.deps.check_acyclic(stored)
        with self._transaction(now):
            for job in stored:
                self._state.push(job, None)
                self._events.record(EventKind.SUBMITTED, job_id=job.id, priority=job.priority)
            self._state.arrive([job.request for job in stored])  # the placement policy learns
        return stored

    def cancel(self, job_id: str, now: float) -> Job:
        """Forget a job, pending or running (a running one's resources are freed).

        Its outcome is ``"cancelled"``: its ``afterok`` dependants never start."""
        now = self._now(now)
        s = self._state
        job = s.job(v.lookup_id(job_id))
        with self._transaction(now):
            self._cancel(job_id)
        # The placement policy is not told: FGD learns from arrivals, and a cancel is not one.
        return job

    def cancel_many(self, job_ids: Iterable[str], now: float) -> list[Job]:
        """Cancel several held jobs as ``cancel`` does each, in one commit; all or none (every id
        is checked first: an unknown or repeated one changes nothing). O(k log n)."""
        now = self._now(now)
        s = self._state
        ids = _id_list(job_ids, "cancel_many")
        jobs = [s.job(job_id) for job_id in ids]
        with self._transaction(now):
            for job_id in ids:
                self._cancel(job_id)
        return jobs

    def _cancel(self, job_id: str) -> None:
        s = self._state
        s.drop_frozen(job_id)
        s.clear_reason(job_id)
        if job_id in s.runs:
            s.stop(job_id)
        else:
            s.drop_nomination(job_id)
            s.remove_pending(job_id)
        s.deps.record(job_id, "cancelled")
        self._events.record(EventKind.CANCELLED, job_id=job_id)

    def set_priority(self, job_id: str, priority: int, now: float) -> Job:
        """Change a job's base priority; takes effect at once. O(log n) (plus the jobs whose
        inherited priority it changes, docs/dependencies.md)."""
        now = self._now(now)
        s = self._state
        s.job(v.lookup_id(job_id))
        priority = self._check_priority(job_id, priority)
        with self._transaction(now):
            return self._set_priority(job_id, priority)

    def set_priority_many(self, priorities: Mapping[str, int] | Iterable[tuple[str, int]],
                          now: float) -> list[Job]:
        """Change several jobs' base priorities (``{job_id: priority}`` or pairs) as
        ``set_priority`` does each, in one commit; all or none (every id and priority is
        checked first). Returns the jobs in the order given. O(k log n)."""
        now = self._now(now)
        s = self._state
        pairs = _pairs(priorities)
        ids = _id_list([job_id for job_id, _ in pairs], "set_priority_many")
        checked = []
        for job_id, priority in zip(ids, (p for _, p in pairs), strict=True):
            s.job(job_id)
            checked.append((job_id, self._check_priority(job_id, priority)))
        with self._transaction(now):
            return [self._set_priority(job_id, priority) for job_id, priority in checked]

    def set_group_priority(self, group: str, priority: int, now: float) -> list[Job]:
        """Change the base priority of every held job of ``group`` (``Job.group``), pending and
        running, as ``set_priority`` does each, in one commit; returns them by id.
        O(k log n) for its k jobs. :class:`~prioq.UnknownGroup` if no held job has it."""
        now = self._now(now)
        s = self._state
        members = s.deps.groups.get(v.lookup_id(group, "group"))
        if not members:
            raise UnknownGroup(f"no queued or running job belongs to group {group!r}")
        priority = self._check_priority(f"group {group}", priority)
        with self._transaction(now):
            return [self._set_priority(job_id, priority) for job_id in sorted(members)]

    def _set_priority(self, job_id: str, priority: int) -> Job:
        s = self._state
        old = s.job(job_id).priority
        frozen = s.frozen.get(job_id)
        if frozen is not None:
            # A frozen effective priority moves with the base one: raising a running
            # job's priority must protect it under compare="effective" too.
            s.set_frozen(job_id, frozen + (priority - old))
        if old != priority:
            self._events.record(EventKind.PRIORITY_CHANGED, job_id=job_id, priority=priority)
        if job_id in s.runs:
            return s.set_running_priority(job_id, priority)
        return s.set_pending_priority(job_id, priority)

    def release(self, job_id: str, now: float, outcome: str | None = None) -> Job:
        """The job stopped: free its resources, and remember how it ended.

        ``outcome``: ``"succeeded"`` (the default), ``"failed"``, ``"cancelled"`` or
        ``"preempted"``; any but success means its ``afterok`` dependants never start
        (docs/dependencies.md). A released preemption victim without an outcome is
        requeued with its original priority and ``submitted_at`` (ended ``"preempted"``
        when ``Preemption.requeue`` is false); given an outcome, it ended so and is not
        requeued.
        """
        now = self._now(now)
        s = self._state
        run = s.run_of(v.lookup_id(job_id))
        if outcome is not None:
            v.choice(outcome, OUTCOMES, f"release {job_id}: outcome")
        with self._transaction(now):
            s.stop(job_id)
            if run.preempted_by is not None and outcome is None and self.policy.preemption.requeue:
                s.push(run.job, run.seq)
                self._events.record(EventKind.REQUEUED, job_id=job_id, reason="preempted")
            else:
                s.drop_frozen(job_id)
                if outcome is None:
                    outcome = "succeeded" if run.preempted_by is None else "preempted"
                s.deps.record(job_id, outcome)
                self._events.record(EventKind.RELEASED, job_id=job_id, outcome=outcome)
        return run.job

    def requeue(self, job_id: str, now: float) -> Job:
        """A start failed or the job's node died: back to the queue.

        It keeps its priority, ``submitted_at`` and place in line."""
        now = self._now(now)
        s = self._state
        run = s.run_of(v.lookup_id(job_id))
        with self._transaction(now):
            s.stop(job_id)
            s.push(run.job, run.seq)
            self._events.record(EventKind.REQUEUED, job_id=job_id, reason="requeue")
        return run.job

    def add_node(self, node: Node, now: float) -> None:
        """Add a node to the cluster. O(d log n)."""
        now = self._now(now)
        (node,) = _node_list([node])
        if node.id in self._state.index:
            raise DuplicateNode(f"node {node.id!r} already exists")
        with self._transaction(now):
            self._add_node(node)

    def _add_node(self, node: Node) -> None:
        self._state.add_node(node)
        self._events.record(EventKind.NODE_ADDED, node_ids=(node.id,))

    def remove_node(self, node_id: str, now: float) -> list[str]:
        """Remove a node; jobs running there are requeued (whole gangs). Returns their ids."""
        now = self._now(now)
        s = self._state
        ns = s.node(v.lookup_id(node_id, "node id"))
        with self._transaction(now):
            return self._remove_node(ns)

    def _remove_node(self, ns: NodeState) -> list[str]:
        s = self._state
        requeued = sorted(ns.jobs, key=lambda j: s.runs[j].seq)
        for job_id in requeued:
            run = s.stop(job_id)
            s.push(run.job, run.seq)
            self._events.record(EventKind.REQUEUED, job_id=job_id, node_ids=run.running.node_ids,
                                reason="node removed")
        for owner, nodes in list(s.nominated.items()):
            if ns.id in nodes:
                s.drop_nomination(owner)
        s.remove_node(ns)
        self._events.record(EventKind.NODE_REMOVED, node_ids=(ns.id,))
        return requeued

    # ------------------------------------------------------------------ what to do

    def schedule(self, now: float) -> list[Decision]:
        """One scheduling cycle: the starts and preemptions to carry out now.

        Jobs are considered in scheduling order; each costs O(log n) per
        candidate node visited. Started jobs count as running at once; the
        orchestrator calls ``requeue`` if a start fails.
        """
        now = self._now(now)
        cycle = Cycle(self._state, now)
        with self._transaction(now):
            self._drop_unsatisfiable(now)
            decisions = cycle.run()
            for decision in decisions:
                decided(self._events, decision)
        self._reservation = reservation_of(cycle.claims)  # as of this (committed) cycle
        return decisions

    def _drop_unsatisfiable(self, now: float) -> None:
        """``Policy.unsatisfiable_after``: drop the pending jobs no node could ever hold that
        have waited that long since submission, outcome ``"unsatisfiable"`` (docs/orchestrator.md)."""
        after = self.policy.unsatisfiable_after
        if after is None:
            return
        s = self._state
        doomed = sorted(j.id for j in unsatisfiable_candidates(s) if now - j.submitted_at >= after)
        for job_id in doomed:
            job = s.queue.get(job_id)
            s.drop_frozen(job_id)
            s.clear_reason(job_id)
            s.drop_nomination(job_id)
            s.remove_pending(job_id)
            s.deps.record(job_id, "unsatisfiable")
            self._events.record(EventKind.DROPPED, job_id=job_id, outcome="unsatisfiable",
                                reason=f"no node could ever hold {job.request}"
                                + (f" on {job.nodes} nodes" if job.nodes > 1 else "")
                                + f" after {now - job.submitted_at:g} s")

    # ------------------------------------------------------------------ reads

    def pending(self, now: float, limit: int | None = None) -> list[PendingJob]:
        """Waiting jobs in scheduling order, with the reason from the last cycle; the first
        ``limit`` only when given. O(n log n) for all; with a limit, at the scheduler's clock
        and without fair share O((limit + shapes) log n), else O(n log limit)."""
        now = self._now(now)
        if limit is not None:
            limit = v.integer(limit, "pending limit", minimum=0, maximum=v.MAX_COUNTER)
        return _explain.pending(self._state, now, limit)  # moves nothing (one clock)

    def status(self, job_id: str, now: float) -> JobStatus:
        """Where a job stands, as a value: state, reason, position, effective priority part by
        part, fit per node class, reservation and estimated start (docs/orchestrator.md#status).
        A job that left with a recorded non-success outcome is ``"finished"``; any other id
        raises :class:`~prioq.UnknownJob`. Reads only. O(position log n) for the position at
        the scheduler's clock without fair share (O(n) otherwise) plus O(N) in nodes."""
        now = self._now(now)
        return _status.status(self._state, v.lookup_id(job_id), now, self._reservation)

    def unmet_demand(self, now: float, waited_over: float | None = None) -> list[Demand]:
        """The request shapes the cluster does not serve, for an autoscaler: pending jobs no node
        could ever hold and, with ``waited_over`` (seconds), those waiting at least that long
        since submission; jobs waiting on dependencies are left out. Reads only. O(n) with
        ``waited_over``; without, O(active + shapes) plus the unsatisfiable jobs."""
        now = self._now(now)
        if waited_over is not None:
            waited_over = v.number(waited_over, "unmet_demand waited_over", minimum=0)
        return _status.demand(self._state, now, waited_over)

    def running(self) -> list[Running]:
        """Running jobs (terminating victims included), by start time then id."""
        runs = (r.running for r in self._state.runs.values())
        return sorted(runs, key=lambda r: (r.started_at, r.job.id))

    def terminating(self) -> dict[str, Terminating]:
        """Victims told to stop: ``{victim: (by, deadline)}`` by victim id, the preemptor it makes
        room for and when its grace ends (told-at + ``Preemption.grace``; kept across restarts)."""
        extras = self._state.extras
        out = {}
        runs = self._state.runs
        # by id: the runs' dict order is not an observable (a rolled-back release re-inserts)
        for job_id in sorted(j for j, run in runs.items() if run.preempted_by is not None):
            told = read_preempt(extras, job_id)
            by = runs[job_id].preempted_by
            assert by is not None
            out[job_id] = Terminating(by, None if told is None else told[1])
        return out

    def nominations(self) -> dict[str, tuple[str, ...]]:
        """Preemptors waiting for their victims, with the nodes they will get."""
        return dict(self._state.nominated)

    def usage(self, now: float) -> dict[str, dict[str, float]]:
        """Fair share's decayed usage at ``now`` per owner path (``""``: jobs without an owner):
        GPU-seconds, CPU-seconds and memory byte-seconds (docs/fairness.md). Empty without
        ``Policy.fair_share``. O(owners)."""
        now = self._now(now)
        fair = self._state.fair
        if fair is None:
            return {}
        half_life = fair.fair.half_life
        out = {}
        for path, acc in sorted(fair.accounts.items()):
            gpu, cpu, mem = acc.at_time(now, half_life)
            out[path] = {"gpu": gpu / MILLI, "cpu": cpu / MILLI, "memory": mem}
        return out

    def events(self, since: int = 0, limit: int | None = None) -> EventPage:
        """The change events after sequence number ``since`` (a cursor: the previous page's
        ``cursor``), oldest first, at most ``limit`` (docs/orchestrator.md#events). Reads only.
        O(skipped + limit) over the kept events."""
        since = v.integer(since, "events since", minimum=0, maximum=v.MAX_COUNTER)
        if limit is not None:
            limit = v.integer(limit, "events limit", minimum=1, maximum=v.MAX_COUNTER)
        return self._events.page(since, limit)

    def get(self, job_id: str) -> Job:
        """A held job by id (pending or running). O(1)."""
        return self._state.job(v.lookup_id(job_id))

    def outcomes(self) -> dict[str, str]:
        """The outcome of every job that left without success (failed, cancelled, preempted),
        by id; successes are not kept (docs/dependencies.md). O(records)."""
        return self._state.deps.outcomes()

    def explain(self, job_id: str, now: float, time_format: Callable[[float], str] | None = None) -> str:
        """Why a job waits (or where it runs), in the style of Kubernetes events / Slurm reasons.

        Instants print as ISO-8601 UTC when they look like epoch seconds (>= 1e9), else as
        numbers; ``time_format(t)`` replaces that. O(position log n) for the position (see
        ``status``) plus O(N) in nodes for a pending job: it counts, per reason, the nodes
        that do not fit.
        """
        now = self._now(now)
        if time_format is not None and not callable(time_format):
            raise v.wrong_type(InvalidValue, f"explain time_format: expected a callable, got {time_format!r}")
        fmt = _explain.epoch_or_plain if time_format is None else _checked_format(time_format)
        return _explain.explain(self._state, v.lookup_id(job_id), now, fmt)

    # ------------------------------------------------------------------ validation

    def _now(self, now: object) -> float:
        return v.now_after(now, self._state.now)

    def _check_priority(self, job_id: str, priority: object) -> int:
        lo, hi = self.policy.priority_range
        if type(priority) is int and lo <= priority <= hi:  # the common case, without a message
            return priority
        return v.priority(priority, f"job {job_id}", minimum=lo, maximum=hi)

    def _validate_new(self, job: object, batch: set[str]) -> Job:
        if type(job) is not Job:
            job = v.instance(job, Job, "job", error=InvalidJob)
        if job.id in self or job.id in batch:
            raise DuplicateJob(f"job {job.id!r} is already queued or running")
        if job.priority_class is not None:
            pc = self.policy.priority_class(job.priority_class)
            if job.priority not in (self.policy.default_priority, pc.value):
                raise InvalidJob(
                    f"job {job.id}: priority {job.priority} contradicts priority class "
                    f"{pc.name!r} (value {pc.value}); give one or the other"
                )
            job = attrs.evolve(job, priority=pc.value)
        self._check_priority(job.id, job.priority)
        return job

    # ------------------------------------------------------------------ invariants

    def _check(self) -> None:
        """Invariant check for stress tests (O(everything))."""
        s = self._state
        s.index._check()
        s.queue._check()
        used: dict[str, Resources] = {ns.id: Resources() for ns in s.index}
        for job_id, run in s.runs.items():
            assert job_id not in s.queue, job_id
            assert job_id in s.frozen, job_id
            assert len(set(run.running.node_ids)) == run.job.nodes == len(run.running.node_ids)
            for nid, alloc in zip(run.running.node_ids, run.running.allocation, strict=True):
                assert job_id in s.index.get(nid).jobs
                used[nid] = used[nid] + alloc
        for ns in s.index:
            assert ns.jobs == {j for j, r in s.runs.items() if ns.id in r.running.node_ids}
            assert used[ns.id] + ns.free == ns.node.capacity, ns.id
        for owner, nodes in s.nominated.items():
            assert owner in s.queue and not s.queue.is_parked(owner)
            assert all(n in s.index for n in nodes)
        for job_id in s.queue.held:  # held out of cycles only while nothing can change its answer
            assert s.victims.get(job_id) and job_id in s.nominated and not s.queue.get(job_id).after
        assert s.nominated_on == {
            nid: dict.fromkeys(o for o, ns in s.nominated.items() if nid in ns)
            for nid in {n for ns in s.nominated.values() for n in ns}
        }
        s.deps._check()
        if s.fair is not None:  # every account's rate is what its owners' running jobs hold
            rates: dict[str, tuple[int, ...]] = {}
            for run in s.runs.values():
                for path in levels(run.job.owner):
                    old = rates.get(path, (0, 0, 0))
                    rates[path] = tuple(map(sum, zip(old, rate_of(run.running.allocation), strict=True)))
            assert {p: a.rate for p, a in s.fair.accounts.items() if any(a.rate)} == {
                p: r for p, r in rates.items() if any(r)
            }
        if s.ledger is not None:  # quota usage kept incrementally equals a recount
            recount: dict[str, dict[str, int]] = {}
            for run in s.runs.values():
                if s.ledger.quota(run.job.owner) is not None:
                    mine = recount.setdefault(str(run.job.owner), {})
                    for name, amount in usage_of(run.job.request, run.job.nodes).items():
                        mine[name] = mine.get(name, 0) + amount
            s.ledger._check(recount)


def _node_list(nodes: object) -> Sequence[Node]:
    """Nodes given to the constructor or ``add_node``: prioq.Node values with distinct ids."""
    if isinstance(nodes, str | bytes) or not isinstance(nodes, Iterable):
        raise v.wrong_type(InvalidNode, f"nodes: expected an iterable of prioq.Node, got {nodes!r}")
    out = [v.instance(node, Node, "node", error=InvalidNode) for node in nodes]
    seen: set[str] = set()
    for node in out:
        if node.id in seen:
            raise DuplicateNode(f"node {node.id!r} given twice")
        seen.add(node.id)
    return out


def _id_list(ids: object, what: str) -> list[str]:
    """Distinct job ids, in the order given (a plain string is refused, not split)."""
    out = list(v.identifiers(ids, f"{what}: job ids"))
    seen: set[str] = set()
    for job_id in out:
        if job_id in seen:
            raise InvalidValue(f"{what}: job {job_id!r} given twice")
        seen.add(job_id)
    return out


def _pairs(priorities: object) -> list[tuple[object, object]]:
    """``{job_id: priority}`` or ``(job_id, priority)`` pairs, as a list of pairs."""
    if isinstance(priorities, Mapping):
        return list(priorities.items())
    if isinstance(priorities, str | bytes) or not isinstance(priorities, Iterable):
        message = f"set_priority_many: expected a mapping or pairs, got {priorities!r}"
        raise v.wrong_type(InvalidValue, message)
    out: list[tuple[object, object]] = []
    for pair in priorities:
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            message = f"set_priority_many: expected (job_id, priority) pairs, got {pair!r}"
            raise v.wrong_type(InvalidValue, message)
        out.append((pair[0], pair[1]))
    return out


def _checked_format(time_format: Callable[[float], str]) -> Callable[[float], str]:
    """The caller's time format, its answers checked to be strings."""
    def fmt(t: float) -> str:
        text = time_format(t)
        if not isinstance(text, str):
            raise v.wrong_type(InvalidValue, f"explain time_format: returned {text!r}, not a str")
        return text
    return fmt
