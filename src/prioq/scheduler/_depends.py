"""Dependencies between held jobs: outcomes, cycles, groups and priority inheritance (docs/dependencies.md).

* **Waiters.** ``waiters[d]`` holds the pending jobs whose ``after`` names ``d``
  (held or not: a job may name an id submitted later), so every question "who
  waits on d" is O(its waiters), never a scan.
* **Outcomes.** A job that leaves the scheduler (``release``, ``cancel``) has an
  outcome; the non-success ones are kept in the state's keyed area
  (``"outcome/<id>"``, persisted by every store), a success deletes the key:
  memory is bounded by the failures, and an id with no record counts as succeeded.
  An ``afterok`` job one of whose dependencies is not held and has a non-success
  outcome can never start (``Reason.DEPENDENCY_FAILED``).
* **Cycles.** A submit whose ``after`` would close a cycle through held jobs
  (pending or running: a running job may be requeued) or jobs of the same batch is
  refused with :class:`~prioq.errors.DependencyCycle`. O(k + edges reachable).
* **Groups.** ``groups[g]``: the held jobs of ``Job.group`` g (``set_group_priority``).
* **Inheritance.** A pending job is queued with the highest priority and the
  earliest aging start (``submitted_at``) of itself and its *donors* -- the pending
  jobs waiting on it that can still start -- transitively. Aging is monotone in the
  wait, so its effective priority is at least each donor's at every instant: a low
  dependency cannot hold a high job back (priority inversion), and the queue stays
  one ordinary priority queue. A change (submit, start, cancel, release, priority)
  recomputes the affected jobs' :class:`~prioq.scheduler._pending.Lift` and walks on
  to their dependencies only while it changes: O(a log n + e) for the a jobs whose
  lift changes and the e waiter edges they read. Inherited values are derived from
  the pending jobs and the outcomes, so a reopened scheduler recomputes them exactly.

Every change goes through journaled calls on the :class:`State`, so a failed call
undoes it.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from prioq.errors import DependencyCycle
from prioq.model import Job
from prioq.scheduler._pending import Lift

if TYPE_CHECKING:
    from prioq.scheduler._state import State

__all__ = ["OUTCOMES", "Dependencies", "inherited_priorities"]

OUTCOMES = ("succeeded", "failed", "cancelled", "preempted")
"""What ``release`` may report; every one but ``"succeeded"`` fails an ``afterok`` dependant."""
OUTCOME_KEY = "outcome/"
_GRAY, _BLACK = 1, 2
Value = tuple[int, str, float, str]
"""What a donor lends: (priority, from whom, aging start, from whom)."""


def _failed(
    job: Job, held: Container[str], outcome_of: Callable[[str], str | None]
) -> tuple[str, str] | None:
    """The rule of ``afterok``: the first dependency not held whose outcome is on record."""
    if job.dependency != "afterok":
        return None
    for dep in job.after:
        if dep in held:
            continue  # held again (resubmitted): its new run decides
        outcome = outcome_of(dep)
        if outcome is not None:
            return dep, outcome
    return None


def _value(job: Job, lift: Lift | None) -> Value:
    if lift is None:
        return job.priority, job.id, job.submitted_at, job.id
    return lift.priority, lift.priority_from, lift.submitted_at, lift.submitted_from


def _join(job: Job, donors: Iterable[Value]) -> Lift | None:
    """The highest priority and the earliest aging start of ``job`` and what its donors lend.

    Ties keep the job's own value, then the one whose source id is smallest, so the answer
    depends on the jobs only, never on the order of the changes. O(donors)."""
    job_id = job.id
    p, p_from = job.priority, job_id
    t, t_from = job.submitted_at, job_id
    for wp, wp_from, wt, wt_from in donors:
        if wp > p or (wp == p and p_from != job_id and wp_from < p_from):
            p, p_from = wp, wp_from
        if wt < t or (wt == t and t_from != job_id and wt_from < t_from):
            t, t_from = wt, wt_from
    if p_from == job_id and t_from == job_id:
        return None
    return Lift(p, p_from, t, t_from)


def _all_lifts(
    pending: Mapping[str, Job], held: Container[str], outcome_of: Callable[[str], str | None]
) -> dict[str, Lift]:
    """Every pending job's lift from scratch: donors before the jobs they lift (a post-order
    walk of the waiters graph, which is acyclic). O(n + edges)."""
    waiters: dict[str, list[str]] = {}
    for job in pending.values():
        for dep in set(job.after):
            if dep in pending:
                waiters.setdefault(dep, []).append(job.id)
    lifts: dict[str, Lift] = {}
    done: set[str] = set()

    def finish(job_id: str) -> None:
        donors = [
            _value(pending[w], lifts.get(w))
            for w in waiters.get(job_id, ())
            if _failed(pending[w], held, outcome_of) is None
        ]
        lift = _join(pending[job_id], donors)
        if lift is not None:
            lifts[job_id] = lift

    for root in sorted(pending):
        if root in done:
            continue
        done.add(root)
        path = [root]
        stack = [iter(sorted(waiters.get(root, ())))]
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                stack.pop()
                finish(path.pop())
            elif nxt not in done:
                done.add(nxt)
                path.append(nxt)
                stack.append(iter(sorted(waiters.get(nxt, ()))))
    return lifts


def inherited_priorities(
    pending: Iterable[Job], held: Iterable[str] = (), outcomes: Mapping[str, str] | None = None
) -> dict[str, tuple[int, float, tuple[str, ...]]]:
    """Priority inheritance over a list of pending jobs, as a scheduler holding them computes it
    (for readers of a store, such as ``prioq show``): per lifted job, the priority and aging
    start it is queued with and the waiting dependants they come from. ``held``: the other
    held (running) job ids; ``outcomes``: the non-success outcomes on record. O(n + edges)."""
    jobs = {job.id: job for job in pending}
    held_ids = set(held) | set(jobs)
    records = dict(outcomes or {})
    return {
        job_id: (lift.priority, lift.submitted_at,
                 tuple(sorted({lift.priority_from, lift.submitted_from} - {job_id})))
        for job_id, lift in _all_lifts(jobs, held_ids, records.get).items()
    }


class Dependencies:
    """The dependency and group indexes of one :class:`State`, and the rules on them."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.waiters: dict[str, set[str]] = {}
        self.groups: dict[str, set[str]] = {}

    # ------------------------------------------------------------------ reads

    def outcome(self, job_id: str) -> str | None:
        """The non-success outcome on record for a job that left, or ``None``. O(1)."""
        return self.state.extras.get(OUTCOME_KEY + job_id)

    def outcomes(self) -> dict[str, str]:
        """Every non-success outcome on record, by job id. O(extras)."""
        n = len(OUTCOME_KEY)
        return {k[n:]: v for k, v in sorted(self.state.extras.items()) if k.startswith(OUTCOME_KEY)}

    def failed_dependency(self, job: Job) -> tuple[str, str] | None:
        """For an ``afterok`` job, the first dependency that ended without success (not held,
        a non-success outcome on record) and its outcome; else ``None``. O(len(after))."""
        if job.dependency != "afterok":
            return None
        return _failed(job, self, self.outcome)

    def __contains__(self, job_id: object) -> bool:
        """Whether a job is held (pending or running): the ``held`` of the rules above."""
        s = self.state
        return job_id in s.queue or job_id in s.runs

    def inherited_from(self, job_id: str) -> tuple[str, ...]:
        """The waiting dependants a pending job's queued priority and aging start come from."""
        lift = self.state.queue.lift_of(job_id)
        if lift is None:
            return ()
        return tuple(sorted({lift.priority_from, lift.submitted_from} - {job_id}))

    def _pending_after(self, job: Job) -> list[str]:
        q = self.state.queue
        return [d for d in job.after if d in q]

    def _lift(self, job_id: str) -> Lift | None:
        """The lift a pending job should have now, from its own values and what its donors
        lend (their queued values; a waiter that will never start lends nothing). O(waiters)."""
        q = self.state.queue
        donors = []
        for w in self.waiters.get(job_id, ()):
            wjob = q.get(w)
            if self.failed_dependency(wjob) is None:
                donors.append(_value(wjob, q.lift_of(w)))
        return _join(q.get(job_id), donors)

    # ------------------------------------------------------------------ changes (journaled)

    def refresh(self, job_ids: Iterable[str]) -> None:
        """Recompute the lifts of these jobs, and walk on to the dependencies of each job whose
        lift changed while it can still start. O(a log n + e), see the module docstring."""
        s = self.state
        q = s.queue
        work = list(job_ids)
        while work:
            job_id = work.pop()
            if job_id not in q:
                continue
            lift = self._lift(job_id)
            if lift == q.lift_of(job_id):
                continue
            self._set_lift(job_id, lift)
            job = q.get(job_id)
            if self.failed_dependency(job) is None:
                work.extend(self._pending_after(job))

    def _set_lift(self, job_id: str, lift: Lift | None) -> None:
        """Journaled: queue a pending job under ``lift`` (``None``: as itself). Derived state,
        so no row changes. O(log n)."""
        q = self.state.queue
        old = q.lift_of(job_id)
        shape = q.where.get(job_id)
        self.state.touch(shape)  # it leaves its parked queue
        held = q.is_held(job_id)

        def undo() -> None:
            q.set_lift(job_id, old)
            if shape is not None:  # back where it was
                q.park(job_id, shape)
            elif held:
                q.hold(job_id)

        self.state._do(lambda: q.set_lift(job_id, lift), undo)

    def _link(self, dep: str, job_id: str, present: bool) -> None:
        def put(on: bool) -> None:
            if on:
                self.waiters.setdefault(dep, set()).add(job_id)
            else:
                ws = self.waiters[dep]
                ws.discard(job_id)
                if not ws:
                    del self.waiters[dep]

        self.state._do(lambda: put(present), lambda: put(not present))

    def member(self, job: Job, present: bool) -> None:
        """Journaled: ``job`` is held (or no longer) in its group's index. O(1)."""
        group = job.group
        if group is None:
            return
        members = self.groups.get(group)
        if (members is not None and job.id in members) == present:
            return

        def put(on: bool) -> None:
            if on:
                self.groups.setdefault(group, set()).add(job.id)
            else:
                ms = self.groups[group]
                ms.discard(job.id)
                if not ms:
                    del self.groups[group]

        self.state._do(lambda: put(present), lambda: put(not present))

    def pushed(self, job: Job) -> None:
        """``job`` joined the pending set (submit, requeue): index it, lift it, and let it lift
        its dependencies. Ids that waiters of it saw fail are held again, so those may start
        once more and lift their own dependencies."""
        for dep in set(job.after):
            self._link(dep, job.id, True)
        self.refresh([job.id, *self._pending_after(job)])
        if self.outcome(job.id) is not None:
            self._donors_changed(job.id)
        self.wake(job.id)  # its waiters now wait for it (or no longer failed)

    def reprioritized(self, job_id: str) -> None:
        """A pending job's own priority changed: its lift, and what it lifts, follow."""
        self.refresh([job_id, *self._pending_after(self.state.queue.get(job_id))])

    def removed(self, job: Job) -> None:
        """``job`` left the pending set (started or cancelled): it lifts nothing any more."""
        for dep in set(job.after):
            self._link(dep, job.id, False)
        self.refresh(self._pending_after(job))

    def record(self, job_id: str, outcome: str) -> None:
        """A job left the scheduler with ``outcome``: keep it unless it succeeded (then forget
        any older record of the id); its ``afterok`` waiters may now never start. O(1) plus
        the refresh."""
        self.state.put_extra(OUTCOME_KEY + job_id, None if outcome == "succeeded" else outcome)
        self._donors_changed(job_id)
        self.wake(job_id)

    def wake(self, dep: str) -> None:
        """``dep`` left the scheduler or came back: its waiters asleep, or parked under a
        shape whose head speaks for them, are visited again (their reason changes). O(waiters
        of dep)."""
        s = self.state
        where = s.queue.where
        for w in sorted(self.waiters.get(dep, ())):
            if w in where:
                s.unpark(w)

    def _donors_changed(self, dep: str) -> None:
        """Whether ``dep``'s ``afterok`` waiters can start may have changed: refresh what they lift."""
        q = self.state.queue
        targets: list[str] = []
        for w in sorted(self.waiters.get(dep, ())):
            wjob = q.get(w)
            if wjob.dependency == "afterok":
                targets.extend(self._pending_after(wjob))
        self.refresh(targets)

    # ------------------------------------------------------------------ cycles

    def check_acyclic(self, jobs: Sequence[Job]) -> None:
        """Refuse a batch of new jobs whose ``after`` would close a cycle (with each other or
        through held jobs). Depth-first from the new jobs: O(k + edges reachable). Held jobs
        form no cycle (each submit was checked), so any cycle found runs through a new job."""
        s = self.state
        batch = {job.id: job for job in jobs}

        def after_of(job_id: str) -> tuple[str, ...]:
            job = batch.get(job_id)
            if job is None:
                run = s.runs.get(job_id)
                if run is not None:
                    job = run.job
                elif job_id in s.queue:
                    job = s.queue.get(job_id)
                else:
                    return ()
            return job.after

        color: dict[str, int] = {}
        for root in batch:
            if root in color:
                continue
            color[root] = _GRAY
            path = [root]
            stack = [iter(after_of(root))]
            while stack:
                nxt = next(stack[-1], None)
                if nxt is None:
                    color[path.pop()] = _BLACK
                    stack.pop()
                    continue
                seen = color.get(nxt)
                if seen == _GRAY:
                    raise _cycle_error(path[path.index(nxt):], batch)
                if seen is None:
                    color[nxt] = _GRAY
                    path.append(nxt)
                    stack.append(iter(after_of(nxt)))

    # ------------------------------------------------------------------ load

    def rebuild(self) -> None:
        """Fill the indexes and lifts from the loaded pending and running jobs, outside any
        transaction (the state was just loaded). O(n + edges) plus O(log n) per lifted job."""
        s = self.state
        q = s.queue
        pending = [q.get(j) for j in q.ids()]
        for job in pending:
            for dep in set(job.after):
                self.waiters.setdefault(dep, set()).add(job.id)
        for job in [*pending, *(run.job for run in s.runs.values())]:
            if job.group is not None:
                self.groups.setdefault(job.group, set()).add(job.id)
        for job_id, lift in _all_lifts({job.id: job for job in pending}, self, self.outcome).items():
            q.set_lift(job_id, lift)

    # ------------------------------------------------------------------ invariants

    def _check(self) -> None:
        """The indexes and lifts equal a recomputation from scratch. O(n + edges)."""
        s = self.state
        q = s.queue
        waiters: dict[str, set[str]] = {}
        for job_id in q.ids():
            for dep in q.get(job_id).after:
                waiters.setdefault(dep, set()).add(job_id)
        assert waiters == self.waiters, (waiters, self.waiters)
        groups: dict[str, set[str]] = {}
        for job in [*(q.get(j) for j in q.ids()), *(r.job for r in s.runs.values())]:
            if job.group is not None:
                groups.setdefault(job.group, set()).add(job.id)
        assert groups == self.groups, (groups, self.groups)
        for job_id in q.ids():
            assert self._lift(job_id) == q.lift_of(job_id), job_id


def _cycle_error(cycle: list[str], batch: dict[str, Job]) -> DependencyCycle:
    # Start the cycle at a new job (every cycle found runs through one): it is what is refused.
    start = next(i for i, job_id in enumerate(cycle) if job_id in batch)
    ring = cycle[start:] + cycle[:start]
    shown = " -> ".join([*ring, ring[0]])
    return DependencyCycle(
        f"job {ring[0]}: dependency cycle {shown} (each waits for the next in 'after'; none could start)"
    )
