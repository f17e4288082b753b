"""Stateful property test of the Scheduler: random calls, invariants after every step.

Checked after every rule: no node or GPU device over-committed (used + free ==
capacity, exact), every job in exactly one state, every Start satisfies its
request's filters and distinct-node gang rule, best-effort never passes over a
job that fits, strict queueing starts nothing behind a blocked head, preemption
never picks an ineligible victim. Subclasses run the same machine over other
stores (tests/test_storage.py).
"""

from __future__ import annotations

import contextlib
from typing import Any, ClassVar

import hypothesis.strategies as st
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import prioq
from prioq import Job, Node, Policy, Preempt, Reason, Scheduler, Start
from prioq.resources import MILLI, fit
from prioq.storage import MemoryStore, Store
from test_contention import claims_respected

REQUESTS = ["gpu=1", "gpu=2", "gpu=A100:1", "gpu=T4:0.5", "gpu=0.25", "cpu=4 memory=8GB", "gpu=4", "gpu=8"]
CAPACITIES = [
    "cpu=16 memory=64GB gpu=A100:80GB:4",
    "cpu=8 memory=32GB gpu=T4:16GB:2",
    "cpu=32 memory=128GB",
    "cpu=64 memory=256GB gpu=A100:80GB:8",
]
POLICIES = {
    "best-effort": Policy(),
    "no-reservation": Policy(reservation=False, placement="first-fit"),
    "strict": Policy(queueing="strict", placement="spread"),
    "preempt": Policy(
        preemption=prioq.Preemption(policy="lower-priority", min_runtime=2),
        aging=prioq.LinearAging(rate=1, max_boost=20),
    ),
    "preempt-newer": Policy(
        preemption=prioq.Preemption(policy="lower-or-newer-equal", compare="effective", max_victims=3),
        aging=prioq.StepAging(interval=5, step=10, max_boost=30),
    ),
}


class SchedulerMachine(RuleBasedStateMachine):
    policy_name: ClassVar[str] = "best-effort"

    def make_store(self) -> Store:
        return MemoryStore()

    def __init__(self) -> None:
        super().__init__()
        self.store = self.make_store()
        self.s: Scheduler = Scheduler(store=self.store, policy=POLICIES[self.policy_name])
        self.now = 0.0
        self.n_jobs = 0
        self.n_nodes = 0
        self.started_at: dict[str, float] = {}

    @initialize(caps=st.lists(st.sampled_from(CAPACITIES), min_size=1, max_size=4))
    def init_nodes(self, caps: list[str]) -> None:
        for cap in caps:
            self.add_node(cap)

    # ---------------------------------------------------------------- rules

    @rule(
        req=st.sampled_from(REQUESTS),
        priority=st.integers(0, 100),
        nodes=st.sampled_from([1, 1, 1, 2]),
        duration=st.one_of(st.none(), st.integers(1, 50)),
        preemptible=st.booleans(),
        back=st.integers(0, 20),
    )
    def submit(self, req: str, priority: int, nodes: int, duration: int | None, preemptible: bool,
               back: int) -> None:
        self.n_jobs += 1
        job = Job(
            id=f"j{self.n_jobs}", submitted_at=max(0.0, self.now - back), priority=priority,
            request=req, nodes=nodes, duration=duration, preemptible=preemptible,
        )
        self.s.submit(job, self.now)

    @rule(k=st.integers(1, 4), urgent=st.sampled_from(["gpu=2", "gpu=4", "gpu=A100:1"]))
    def crowd_then_urgent(self, k: int, urgent: str) -> None:
        """Low-priority work fills GPUs, then an urgent job arrives: under the preempting
        policies this reaches terminating victims and nominations, which random rules rarely do."""
        for _ in range(k):
            self.submit(req="gpu=1", priority=0, nodes=1, duration=None, preemptible=True, back=0)
        self.schedule()
        self.advance(10)
        self.submit(req=urgent, priority=100, nodes=1, duration=None, preemptible=True, back=0)
        self.schedule()

    @rule(dt=st.sampled_from([0, 1, 3, 10, 100]))
    def advance(self, dt: float) -> None:
        self.now += dt

    @rule()
    def schedule(self) -> None:
        before_order = [p.job.id for p in self.s.pending(self.now)]
        running_before = {r.job.id: r for r in self.s.running()}
        decisions = self.s.schedule(self.now)
        started = [d for d in decisions if isinstance(d, Start)]
        for d in started:
            self.check_start(d)
            self.started_at[d.job_id] = self.now
        for d in decisions:
            if isinstance(d, Preempt):
                self.check_preempt(d, running_before)
        claims_respected(self.s, decisions)
        pending = {p.job.id: p for p in self.s.pending(self.now)}
        started_ids = {d.job_id for d in started}
        if self.s.policy.queueing == "best-effort":
            for p in pending.values():
                fits = sum(1 for n in self.s.nodes if fit(p.job.request, self.s.free(n.id)) is not None)
                if p.reason in (Reason.RESOURCES, Reason.PRIORITY):
                    assert fits < p.job.nodes, f"{p.job.id} fits but was passed over"
                elif p.reason is Reason.RESERVED:
                    # held back only for a job ahead of it that is blocked or preempting
                    owners = p.message.split("held for ")[1].split(", ")
                    for owner in owners:
                        if owner in started_ids:
                            continue  # a nominated preemptor that started later in the cycle
                        assert owner in pending and pending[owner].reason in (
                            Reason.RESOURCES, Reason.PREEMPTING, Reason.PRIORITY, Reason.RESERVED
                        ), (p.job.id, owner)
                        # behind it in the order, only a nomination binds (to jobs the
                        # preemptor may evict)
                        assert (
                            before_order.index(owner) < before_order.index(p.job.id)
                            or self.s.policy.preemption.enabled
                        )
        else:
            # strict: the started jobs are a prefix of the order, skipping only
            # jobs that wait for dependencies or can never run.
            ids = {d.job_id for d in started}
            skipping = True
            for job_id in before_order:
                if job_id in ids:
                    assert skipping, f"{job_id} started behind a blocked head"
                elif pending[job_id].reason not in (Reason.UNSATISFIABLE, Reason.DEPENDENCY):
                    skipping = False

    @rule()
    def settle(self) -> None:
        """Liveness: with victims stopping as soon as they are told and nothing new arriving,
        cycles reach one with no decision within a bound (no livelock): every nominated
        preemptor has started or given up its nomination by then."""
        bound = 4 * len(self.s) + 8
        for _ in range(bound):
            decisions = self.s.schedule(self.now)
            claims_respected(self.s, decisions)
            for d in decisions:
                if isinstance(d, Start):
                    self.started_at[d.job_id] = self.now
                elif isinstance(d, Preempt):
                    self.s.release(d.job_id, self.now)
            if not decisions:
                break
            # past any min_runtime protection, so it cannot hide a chase
            self.now += 100
        else:
            raise AssertionError(f"no fixed point within {bound} cycles")
        for owner in self.s.nominations():
            assert any(t.by == owner for t in self.s.terminating().values()), owner

    @precondition(lambda self: self.s.running())
    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        run = data.draw(st.sampled_from(self.s.running()))
        self.s.release(run.job.id, self.now)

    @precondition(lambda self: self.s.running())
    @rule(data=st.data())
    def requeue(self, data: st.DataObject) -> None:
        run = data.draw(st.sampled_from(self.s.running()))
        seq_job = run.job
        self.s.requeue(run.job.id, self.now)
        assert self.s.get(seq_job.id) == seq_job

    @precondition(lambda self: len(self.s) > 0)
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        ids = sorted([p.job.id for p in self.s.pending(self.now)] + [r.job.id for r in self.s.running()])
        self.s.cancel(data.draw(st.sampled_from(ids)), self.now)

    @precondition(lambda self: len(self.s) > 0)
    @rule(data=st.data(), priority=st.integers(0, 100))
    def set_priority(self, data: st.DataObject, priority: int) -> None:
        ids = sorted([p.job.id for p in self.s.pending(self.now)] + [r.job.id for r in self.s.running()])
        job_id = data.draw(st.sampled_from(ids))
        assert self.s.set_priority(job_id, priority, self.now).priority == priority

    @rule(cap=st.sampled_from(CAPACITIES))
    def add_node(self, cap: str) -> None:
        self.n_nodes += 1
        self.s.add_node(Node(id=f"n{self.n_nodes}", capacity=cap), self.now)

    @precondition(lambda self: len(self.s.nodes) > 1)
    @rule(data=st.data())
    def remove_node(self, data: st.DataObject) -> None:
        node = data.draw(st.sampled_from(self.s.nodes))
        on_node = {r.job.id for r in self.s.running() if node.id in r.node_ids}
        requeued = self.s.remove_node(node.id, self.now)
        assert set(requeued) == on_node
        assert all(j in {p.job.id for p in self.s.pending(self.now)} for j in requeued)

    @rule(job_id=st.text(min_size=1, max_size=3), priority=st.integers(-5, 200))
    def bad_calls_change_nothing(self, job_id: str, priority: int) -> None:
        before = self.observe()
        for call in (
            lambda: self.s.cancel(job_id + "?", self.now),
            lambda: self.s.schedule((self.s.now or 0) - 1),
            lambda: self.s.submit(Job(id="j1", submitted_at=0), self.now) if "j1" in self.s else None,
            lambda: self.s.set_priority(job_id + "?", 1, self.now),
            lambda: self.s.submit(Job(id="new?", submitted_at=0, priority=priority), self.now)
            if not 0 <= priority <= 100 else None,
        ):
            with contextlib.suppress(prioq.PrioqError):
                call()
        assert self.observe() == before

    # ---------------------------------------------------------------- checks

    def observe(self) -> tuple[Any, ...]:
        return (
            [(p.job, p.effective_priority) for p in self.s.pending(self.now)],
            self.s.running(),
            {n.id: self.s.free(n.id) for n in self.s.nodes},
            self.s.nominations(),
            self.s.terminating(),
        )

    def check_start(self, d: Start) -> None:
        job = self.s.get(d.job_id)
        assert len(set(d.node_ids)) == job.nodes == len(d.allocation)
        g = job.request.gpu
        need = job.request.minimum()
        for alloc in d.allocation:
            assert alloc.cpu_milli == need.cpu_milli and alloc.memory == need.memory
            if g is None:
                assert not alloc.gpus
                continue
            assert all(g.matches(dev.gpu) for dev in alloc.gpus)
            if g.fractional:
                assert len(alloc.gpus) == 1 and alloc.gpus[0].milli == g.milli
            else:
                assert len(alloc.gpus) == g.devices and all(dev.milli == MILLI for dev in alloc.gpus)

    def check_preempt(self, d: Preempt, running_before: dict[str, prioq.Running]) -> None:
        victim = running_before[d.job_id]
        preemptor = self.s.get(d.by)
        pol = self.s.policy.preemption
        assert victim.job.preemptible
        assert self.now - victim.started_at >= pol.min_runtime
        if pol.compare == "base":
            assert victim.job.priority < preemptor.priority or (
                pol.policy == "lower-or-newer-equal" and victim.job.priority == preemptor.priority
            )

    @invariant()
    def consistent(self) -> None:
        self.s._check()
        pending = {p.job.id for p in self.s.pending(self.now)}
        running = {r.job.id for r in self.s.running()}
        assert not pending & running
        assert len(pending) + len(running) == len(self.s)


def _machine(name: str) -> type[SchedulerMachine]:
    return type(f"Machine_{name}", (SchedulerMachine,), {"policy_name": name})


_SETTINGS = settings(max_examples=40, stateful_step_count=40, deadline=None)
TestBestEffort = _SETTINGS(_machine("best-effort")).TestCase
TestNoReservation = _SETTINGS(_machine("no-reservation")).TestCase
TestStrict = _SETTINGS(_machine("strict")).TestCase
TestPreempt = _SETTINGS(_machine("preempt")).TestCase
TestPreemptNewer = _SETTINGS(_machine("preempt-newer")).TestCase
