"""``SchedulerStateMachine``: the full stateful test of a scheduler under your policy
(docs/testing.md#the-state-machine).

Subclass it, return your :class:`~prioq.Policy` from :meth:`make_policy`, and expose its
``TestCase``::

    class TestMine(SchedulerStateMachine):
        def make_policy(self) -> Policy:
            return Policy(placement=MyPlacement())

    TestMineCase = TestMine.TestCase

Hypothesis then runs random sequences of submit, cancel, set_priority, schedule,
release, requeue, add/remove node and restart-from-the-store, checking after every step
:func:`~prioq.testing.check_scheduler`, after every cycle
:func:`~prioq.testing.check_decisions`, the aging contract
(:func:`~prioq.testing.check_aging`), that a restarted scheduler decides as the live
one, and liveness: a nominated preemptor starts once its victims stop, every job that
fits an empty node starts when capacity frees, and with aging no job waits forever
behind a stream of newer jobs its aging can outgrow.
"""

from __future__ import annotations

import math
from typing import Any

from prioq.testing._require import hypothesis

hypothesis()

from hypothesis import strategies as st  # noqa: E402
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule  # noqa: E402

from prioq.errors import PrioqError  # noqa: E402
from prioq.model import Decision, Job, Node, Preempt, Reason, Start  # noqa: E402
from prioq.policy import Policy  # noqa: E402
from prioq.resources import fit  # noqa: E402
from prioq.scheduler import Scheduler  # noqa: E402
from prioq.selection import eligible, selection  # noqa: E402
from prioq.storage import MemoryStore, Store  # noqa: E402
from prioq.testing import strategies as pst  # noqa: E402
from prioq.testing.checkers import (  # noqa: E402
    InvariantError,
    check_aging,
    check_decisions,
    check_scheduler,
    view,
)

__all__ = ["SchedulerStateMachine"]

_NEVER = (Reason.UNSATISFIABLE, Reason.NO_SELECTED_NODE, Reason.DEPENDENCY, Reason.DEPENDENCY_FAILED,
          Reason.QUOTA)
"""Reasons a job may keep after capacity frees: it can never fit, or waits for others."""


class SchedulerStateMachine(RuleBasedStateMachine):
    """Random calls on a :class:`~prioq.Scheduler` under :meth:`make_policy`'s policy, with
    every check of :mod:`prioq.testing.checkers` after each step (see the module docstring).

    Override :meth:`make_policy` (a fresh policy per call: a restart builds another),
    and :meth:`make_store` / :meth:`reopen_store` to run over a persistent store. The
    attributes ``s`` (the scheduler), ``now`` and ``store`` are yours to read in rules
    you add."""

    def make_policy(self) -> Policy:
        """The policy under test; called again on every restart. Default: ``Policy()``."""
        return Policy()

    def make_store(self) -> Store:
        """The store the scheduler starts on (default: a :class:`~prioq.storage.MemoryStore`)."""
        return MemoryStore()

    def reopen_store(self) -> Store:
        """The same store, reopened for a restart (a memory store is its own reopening)."""
        return self.store

    def __init__(self) -> None:
        super().__init__()
        self.store = self.make_store()
        self.s = Scheduler(store=self.store, policy=self.make_policy())
        self.now = 0.0
        self.n_jobs = 0
        self.n_nodes = 0
        self.lo, self.hi = self.s.policy.priority_range

    def _priority(self, p: int) -> int:
        return min(max(p, self.lo), self.hi)

    # ---------------------------------------------------------------- rules

    @initialize(caps=st.lists(pst.capacity_specs(), min_size=1, max_size=4))
    def init_nodes(self, caps: list[str]) -> None:
        for cap in caps:
            self.add_node(cap)

    @rule(
        req=pst.request_specs(),
        priority=st.integers(0, 100),
        nodes=st.sampled_from([1, 1, 1, 2]),
        duration=st.one_of(st.none(), st.integers(1, 50)),
        preemptible=st.booleans(),
        back=st.integers(0, 20),
        owner=st.sampled_from(pst.OWNERS),
        after=st.sampled_from([0, 0, 0, 1, 2]),
    )
    def submit(self, req: str, priority: int, nodes: int, duration: int | None, preemptible: bool,
               back: int, owner: str | None = None, after: int = 0) -> None:
        """A new job; ``after=k > 0`` makes it wait for the k-th latest job submitted."""
        self.n_jobs += 1
        deps = (f"j{self.n_jobs - after}",) if 0 < after < self.n_jobs else ()
        job = Job(
            id=f"j{self.n_jobs}", submitted_at=max(0.0, self.now - back), priority=self._priority(priority),
            request=req, nodes=nodes, duration=duration, preemptible=preemptible, owner=owner, after=deps,
        )
        self.s.submit(job, self.now)

    @rule(k=st.integers(1, 4), urgent=st.sampled_from(["gpu=2", "gpu=4", "gpu=A100:1", "gpu=1"]),
          mixed=st.booleans())
    def crowd_then_urgent(self, k: int, urgent: str, mixed: bool = False) -> None:
        """Low-priority work fills GPUs, then an urgent job arrives: this reaches preemption,
        terminating victims and nominations, which random rules rarely do. ``mixed``: the
        crowd alternates low and high priorities and the newcomer is in between, so a
        preemption may only take the low ones."""
        for i in range(k):
            high = mixed and i % 2 == 1
            self.submit(req="gpu=1", priority=self.hi if high else self.lo, nodes=1, duration=None,
                        preemptible=True, back=0)
        self.schedule()
        self.advance(10)
        middle = (self.lo + self.hi) // 2 if mixed else self.hi
        self.submit(req=urgent, priority=middle, nodes=1, duration=None, preemptible=True, back=0)
        self.schedule()

    @rule(dt=st.sampled_from([0, 1, 3, 10, 100]))
    def advance(self, dt: float) -> None:
        self.now += dt

    @rule()
    def schedule(self) -> None:
        """One cycle, checked by :func:`check_decisions`."""
        self.cycle()

    def cycle(self) -> list[Decision]:
        """One checked cycle at ``now``; its decisions."""
        before = view(self.s, self.now)
        decisions = self._cycle()
        check_decisions(before, decisions, view(self.s, self.now))
        return decisions

    def _cycle(self, s: Scheduler | None = None) -> list[Decision]:
        try:
            return (self.s if s is None else s).schedule(self.now)
        except PrioqError as exc:
            raise InvariantError(
                f"schedule(now={self.now}) refused its own cycle: {type(exc).__name__}: {exc}\n  "
                f"a policy answered something the scheduler cannot apply (a placement that does not "
                f"fit the node's free capacity?); policy: {self.s.policy}"
            ) from exc

    @rule()
    def settle(self) -> None:
        """Liveness: victims stop as soon as told and nothing arrives; within a bound the
        cycles reach one with no decision, and no nominated preemptor is left waiting."""
        bound = 4 * len(self.s) + 8
        for _ in range(bound):
            decisions = self.cycle()
            for d in decisions:
                if isinstance(d, Preempt):
                    self.s.release(d.job_id, self.now)
            if not decisions:
                break
            self.now += 100  # past any min_runtime protection, so it cannot hide a chase
        else:
            raise InvariantError(f"liveness: no fixed point within {bound} cycles (a preemption livelock?)")
        terminating = self.s.terminating()
        for owner, node_ids in self.s.nominations().items():
            if not any(t.by == owner for t in terminating.values()):
                raise InvariantError(f"liveness: nominated preemptor {owner} did not start on {node_ids} "
                                     f"although its victims have stopped")

    @precondition(lambda self: len(self.s) > 0)
    @rule()
    def drain(self) -> None:
        """Liveness: nothing arrives and running jobs end as soon as they start; within a
        bound every job that fits an empty node (and does not wait for others) has started."""
        rounds = 2 * len(self.s) + 8
        for _ in range(rounds):
            self.cycle()
            for run in self.s.running():
                self.s.release(run.job.id, self.now)
            self.now += 100
            if not self.s.pending(self.now):
                return
        self.schedule()
        stuck = [p for p in self.s.pending(self.now) if p.reason not in _NEVER and self._fits_empty(p.job)]
        if stuck:
            p = stuck[0]
            raise InvariantError(
                f"starvation: {p.job.id} (priority {p.job.priority}, {p.job.request} x{p.job.nodes}) never "
                f"started in {rounds} cycles with every node freed each time, though it fits an empty "
                f"node; last reason {p.reason.value}: {p.message}; policy: {self.s.policy}"
            )

    def _fits_empty(self, job: Job) -> bool:
        """Whether enough nodes the job may use (not cordoned, selected) could hold it empty."""
        cordoned, sel = self.s.cordoned(), selection(job)
        usable = (n for n in self.s.nodes
                  if n.id not in cordoned and eligible(sel, n.id, n.labels, n.taints))
        return sum(1 for n in usable if fit(job.request, n.capacity) is not None) >= job.nodes

    @precondition(lambda self: len(self.s) > 0 and self.s.policy.aging.max_boost >= 2
                  and not self.s.policy.quotas)
    @rule(data=st.data())
    def compete(self, data: st.DataObject) -> None:
        """Liveness under aging: a stream of newer jobs of priority ``p + d`` (``d`` below
        the cap) keeps arriving for a job of priority ``p``; it must start once its boost
        passes ``d``. Every running job ends each round, the wait doubles each round."""
        ready = [p.job for p in self.s.pending(self.now)
                 if p.reason not in _NEVER and not p.job.after and self._fits_empty(p.job)
                 and p.job.priority < self.hi]
        if not ready:
            return
        job = data.draw(st.sampled_from(sorted(ready, key=lambda j: j.id)))
        aging = self.s.policy.aging
        d = max(1, min(self.hi - job.priority, math.floor(min(aging.max_boost, 2.0**40) / 2)))
        dt = 1.0
        rival: Job | None = None
        for _ in range(60):
            for run in self.s.running():
                self.s.release(run.job.id, self.now)
            if rival is not None and rival.id in self.s:
                self.s.cancel(rival.id, self.now)  # a newer one replaces it: the rival never ages
            self.n_jobs += 1
            rival = Job(id=f"j{self.n_jobs}", submitted_at=self.now, priority=job.priority + d,
                        request=job.request, nodes=job.nodes, owner=job.owner)
            self.s.submit(rival, self.now)
            if any(isinstance(x, Start) and x.job_id == job.id for x in self.cycle()):
                return
            if job.id not in self.s:
                return  # started and released within the cycle's rounds, or cancelled by a rule
            self.now += dt
            dt *= 2
        wait = self.now - job.submitted_at
        raise InvariantError(
            f"starvation: {job.id} (priority {job.priority}, {job.request}) waited {wait:g} s and never "
            f"started while newer jobs of priority {job.priority + d} kept arriving, though its aging "
            f"{aging} promises up to +{aging.max_boost:g} (boost now {aging.boost(wait):g})"
        )

    @rule(waits=st.lists(st.sampled_from([0.0, 0.5, 1.0, 3.0, 10.0, 60.0, 3600.0, 1e6]), min_size=1,
                         max_size=6))
    def probe_aging(self, waits: list[float]) -> None:
        """The aging policy keeps its contract (:func:`check_aging`) at these waits."""
        check_aging(self.s.policy.aging, waits)

    @precondition(lambda self: bool(self.s.running()))
    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        run = data.draw(st.sampled_from(self.s.running()))
        self.s.release(run.job.id, self.now)

    @precondition(lambda self: bool(self.s.running()))
    @rule(data=st.data())
    def requeue(self, data: st.DataObject) -> None:
        run = data.draw(st.sampled_from(self.s.running()))
        self.s.requeue(run.job.id, self.now)
        if self.s.get(run.job.id) != run.job:
            raise InvariantError(f"requeue of {run.job.id} changed the job: {self.s.get(run.job.id)}")

    def _ids(self) -> list[str]:
        return sorted([p.job.id for p in self.s.pending(self.now)] + [r.job.id for r in self.s.running()])

    @precondition(lambda self: len(self.s) > 0)
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        self.s.cancel(data.draw(st.sampled_from(self._ids())), self.now)

    @precondition(lambda self: len(self.s) > 0)
    @rule(data=st.data(), priority=st.integers(0, 100))
    def set_priority(self, data: st.DataObject, priority: int) -> None:
        job_id = data.draw(st.sampled_from(self._ids()))
        self.s.set_priority(job_id, self._priority(priority), self.now)

    @rule(cap=pst.capacity_specs())
    def add_node(self, cap: str) -> None:
        self.n_nodes += 1
        self.s.add_node(Node(id=f"n{self.n_nodes}", capacity=cap), self.now)

    @precondition(lambda self: len(self.s.nodes) > 1)
    @rule(data=st.data())
    def remove_node(self, data: st.DataObject) -> None:
        node = data.draw(st.sampled_from(self.s.nodes))
        on_node = {r.job.id for r in self.s.running() if node.id in r.node_ids}
        requeued = self.s.remove_node(node.id, self.now)
        if set(requeued) != on_node:
            raise InvariantError(f"remove_node {node.id}: requeued {sorted(requeued)}, ran {sorted(on_node)}")

    @precondition(lambda self: len(self.s) > 0)
    @rule()
    def restart(self) -> None:
        """Reopen the scheduler from its store with a fresh policy: it shows the same state
        and takes the same next decisions as the live one would."""
        before = self.observe()
        old = self.s
        self.store = self.reopen_store()
        self.s = Scheduler(store=self.store, policy=self.make_policy())
        after = self.observe()
        if after != before:
            raise InvariantError(
                f"restart: the reopened scheduler differs\n  live:     {before}\n  reopened: {after}"
            )
        old._state.store = MemoryStore()  # a detached twin: the store is the new scheduler's now
        live, reopened = self._cycle(old), self._cycle()
        if live != reopened:
            raise InvariantError(f"restart: the reopened scheduler decides differently\n  live:     {live}\n"
                                 f"  reopened: {reopened}")

    def observe(self) -> tuple[Any, ...]:
        """Everything a caller can see of the scheduler at ``now``."""
        return (
            [(p.job, p.effective_priority) for p in self.s.pending(self.now)],
            self.s.running(),
            {n.id: self.s.free(n.id) for n in self.s.nodes},
            self.s.nominations(),
            self.s.terminating(),
        )

    # ---------------------------------------------------------------- invariants

    @invariant()
    def consistent(self) -> None:
        check_scheduler(self.s, self.now)
