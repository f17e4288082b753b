"""Differential oracle: a scheduler reopened from its store decides exactly as the live one.

The live scheduler carries every shortcut a cycle keeps between calls (jobs
parked by shape, shape reasons, remembered preemption failures, the cached
reservation, capable nodes); a scheduler reopened from a copy of its store has
none of them. At random points of random call sequences both must show the
same state and make the same next decisions, for every combination of policy
features: aging kinds, queueing modes, placements, preemption policies and
compare modes, reservations, max_victims. A cache that holds a stale fact
shows up here as a divergence (issue 11).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable
from typing import Any, ClassVar

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from prioq import (
    DependencyCycle,
    FairShare,
    Job,
    LinearAging,
    NoAging,
    Node,
    Policy,
    Preempt,
    Preemption,
    Quota,
    Quotas,
    Reason,
    Scheduler,
    StepAging,
)
from prioq.model import Decision
from prioq.placement import FragmentationAware
from prioq.resources import ResourceRequest
from prioq.storage import MemoryStore

REQUESTS = ["gpu=1", "gpu=2", "gpu=0.5", "gpu=4", "cpu=4 memory=8GB", "gpu=8"]
CAPACITIES = [
    "cpu=16 memory=64GB gpu=A100:80GB:4",
    "cpu=8 memory=32GB gpu=A100:80GB:2",
    "cpu=32 memory=128GB",
]

QUOTAS = {
    "a": Quota(nominal="gpu=4 cpu=16", cohort="c1", borrowing_limit="gpu=2", reclaim_within_cohort="any"),
    "b": Quota(nominal="gpu=2", cohort="c1", lending_limit="gpu=1", reclaim_within_cohort="lower-priority",
               borrow_within_cohort="lower-priority", max_priority_threshold=45),
    "c": Quota(nominal="gpu=2", cohort="c1", within_owner="never"),
    "d": Quota(nominal="gpu=3"),
}

PolicyFactory = Callable[[], Policy]
# Each scheduler gets its own policy object: placement policies may learn (FGD).
POLICIES: dict[str, PolicyFactory] = {
    "fifo-best-fit": lambda: Policy(),
    "strict-spread-linear": lambda: Policy(
        queueing="strict", placement="spread", aging=LinearAging(rate=0.5, max_boost=20)
    ),
    "first-fit-no-reservation-step": lambda: Policy(
        placement="first-fit", reservation=False, aging=StepAging(interval=5, step=10, max_boost=30)
    ),
    "preempt-base-linear": lambda: Policy(
        aging=LinearAging(rate=1, max_boost=20),
        preemption=Preemption(policy="lower-priority", min_runtime=3),
    ),
    "preempt-newer-effective-step": lambda: Policy(
        aging=StepAging(interval=5, step=10, max_boost=30),
        preemption=Preemption(policy="lower-or-newer-equal", compare="effective", max_victims=2),
    ),
    "preempt-max1-no-reservation": lambda: Policy(
        reservation=False,
        aging=NoAging(),
        preemption=Preemption(policy="lower-priority", max_victims=1),
    ),
    "preempt-strict-effective": lambda: Policy(
        queueing="strict",
        aging=LinearAging(rate=0.25, max_boost=40),
        preemption=Preemption(policy="lower-priority", compare="effective"),
    ),
    # FGD learns from arrivals: its window is state the store must carry (issue 11)
    "fgd-window-preempt": lambda: Policy(
        placement=FragmentationAware(window=4),
        aging=LinearAging(rate=0.5, max_boost=20),
        preemption=Preemption(policy="lower-priority"),
    ),
    "fgd-raw-seeded-every-arrival": lambda: Policy(
        placement=FragmentationAware(
            "raw", window=None, seed=[ResourceRequest.parse(r) for r in ("gpu=1", "gpu=1", "gpu=0.5")]
        ),
        reservation=False,
    ),
    "fgd-random-ties-strict": lambda: Policy(
        queueing="strict", placement=FragmentationAware(tie_seed=7, window=6)
    ),
    # fair share: decayed usage is state the store must carry exactly (issue 17)
    "fair-order-usage": lambda: Policy(
        fair_share=FairShare(half_life=7), weights={"a": 2, "a/x": 3, "c": 0},
        aging=LinearAging(rate=0.5, max_boost=20),
    ),
    "fair-term-usage-preempt": lambda: Policy(
        fair_share=FairShare(mode="term", half_life=5, term_weight=20), weights={"b": 0.5},
        preemption=Preemption(policy="lower-priority", min_runtime=3),
    ),
    "fair-order-noaging-weight0": lambda: Policy(
        fair_share=FairShare(half_life=3), weights={"a": 0, "b": 2, "a/y": 0.5},
    ),
    "fair-term-noaging": lambda: Policy(
        fair_share=FairShare(mode="term", half_life=4, term_weight=30), weights={"c": 0, "a/x": 0.5},
    ),
    "fair-order-allocation-strict": lambda: Policy(
        queueing="strict", fair_share=FairShare(basis="allocation"), weights={"b": 4},
    ),
    # quotas (docs/quotas.md): parking per owner, borrowing marks in the store's extras,
    # reclaiming, fair sharing, the quota a nominated reclaimer holds
    "quota-cohort-no-preemption": lambda: Policy(quotas=QUOTAS),
    "quota-reclaim-preempt-linear": lambda: Policy(
        aging=LinearAging(rate=0.5, max_boost=20),
        preemption=Preemption(policy="lower-priority", min_runtime=3),
        quotas=QUOTAS,
    ),
    "quota-reclaim-effective": lambda: Policy(
        aging=StepAging(interval=5, step=10, max_boost=30),
        preemption=Preemption(policy="lower-or-newer-equal", compare="effective"),
        quotas=QUOTAS,
    ),
    "quota-fair-sharing-strict": lambda: Policy(
        queueing="strict",
        preemption=Preemption(policy="lower-or-newer-equal"),
        quotas=Quotas(owners=QUOTAS, fair_sharing=True),
    ),
    # fair share and quotas together: the two ledgers side by side; groups of owners are
    # visited job by job (owners' quotas differ)
    "fair-quota-cohort": lambda: Policy(fair_share=FairShare(basis="allocation"), quotas=QUOTAS),
    "fair-quota-preempt": lambda: Policy(
        fair_share=FairShare(half_life=6), weights={"b": 3},
        preemption=Preemption(policy="lower-priority"),
        quotas=QUOTAS,
    ),
    # unsatisfiable jobs dropped after a wait (issue 13): outcomes and events persisted
    "drop-unsatisfiable-preempt": lambda: Policy(
        unsatisfiable_after=5, preemption=Preemption(policy="lower-priority"),
        aging=LinearAging(rate=1, max_boost=5),
    ),
}
OWNERS = [None, "a", "b", "a/x", "a/y", "c", "d"]


def observe(s: Scheduler, now: float) -> tuple[Any, ...]:
    return (
        [(p.job, p.effective_priority, p.share, p.inherited_from) for p in s.pending(now)],
        s.outcomes(),
        s.running(),
        s.terminating(),
        s.nominations(),
        {n.id: s.free(n.id) for n in s.nodes},
        s.nodes,
        {r.job.id: s.explain(r.job.id, now) for r in s.running()},  # borrowing marks
        s.events(),  # change events: committed with the changes (issue 13)
        s.cordoned(),
    )


def dependency_reasons(s: Scheduler, now: float) -> dict[str, tuple[Reason, str]]:
    deps = (Reason.DEPENDENCY, Reason.DEPENDENCY_FAILED)
    return {p.job.id: (p.reason, p.message) for p in s.pending(now) if p.reason in deps}


class ReopenMachine(RuleBasedStateMachine):
    policy_name: ClassVar[str] = "fifo-best-fit"

    def __init__(self) -> None:
        super().__init__()
        self.factory = POLICIES[self.policy_name]
        self.store = MemoryStore()
        self.s = Scheduler(store=self.store, policy=self.factory())
        self.now = 0.0
        self.n_jobs = 0
        self.n_nodes = 0

    @initialize(caps=st.lists(st.sampled_from(CAPACITIES), min_size=1, max_size=3))
    def nodes(self, caps: list[str]) -> None:
        for cap in caps:
            self.s.add_node(Node(id=f"n{self.n_nodes}", capacity=cap), self.now)
            self.n_nodes += 1

    def held(self) -> list[str]:
        return sorted([p.job.id for p in self.s.pending(self.now)] + [r.job.id for r in self.s.running()])

    @rule(
        req=st.sampled_from(REQUESTS),
        priority=st.integers(0, 6).map(lambda p: p * 15),
        gang=st.sampled_from([1, 1, 1, 2]),
        duration=st.sampled_from([None, None, 5, 40]),
        after=st.sampled_from([0, 0, 0, 2, 5, -1, -3]),
        preemptible=st.sampled_from([True, True, False]),
        count=st.integers(1, 3),
        mode=st.sampled_from(["afterany", "afterok"]),
        group=st.sampled_from([None, None, "g0", "g1"]),
        owner=st.sampled_from(OWNERS),
    )
    def submit(self, req: str, priority: int, gang: int, duration: int | None, after: int,
               preemptible: bool, count: int, mode: str, group: str | None, owner: str | None) -> None:
        jobs = []
        for _ in range(count):
            # a dependency on a job submitted later (the job gains an unmet dependency then), or
            # on one submitted earlier (it may have failed: afterok, DEPENDENCY_FAILED)
            dep = (f"j{self.n_jobs + after}",) if after and self.n_jobs + after >= 0 else ()
            jobs.append(Job(id=f"j{self.n_jobs}", submitted_at=self.now, priority=priority, request=req,
                            nodes=gang, duration=duration, after=dep, preemptible=preemptible,
                            dependency=mode, group=group, owner=owner))  # type: ignore[arg-type]
            self.n_jobs += 1
        with contextlib.suppress(DependencyCycle):  # refused whole, nothing changed (test_dependencies)
            self.s.submit_many(jobs, self.now)

    @rule(dt=st.sampled_from([0, 1, 2, 5, 20]))
    def advance(self, dt: float) -> None:
        self.now += dt

    @rule(prompt=st.booleans())
    def schedule(self, prompt: bool) -> None:
        for d in self.s.schedule(self.now):
            if prompt and isinstance(d, Preempt):
                self.s.release(d.job_id, self.now)

    @rule(data=st.data(), outcome=st.sampled_from([None, None, "failed", "cancelled"]))
    def release(self, data: st.DataObject, outcome: str | None) -> None:
        running = [r.job.id for r in self.s.running()]
        if running:
            self.s.release(data.draw(st.sampled_from(running)), self.now, outcome=outcome)

    @rule(data=st.data())
    def requeue(self, data: st.DataObject) -> None:
        running = [r.job.id for r in self.s.running()]
        if running:
            self.s.requeue(data.draw(st.sampled_from(running)), self.now)

    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        held = self.held()
        if held:
            self.s.cancel(data.draw(st.sampled_from(held)), self.now)

    @rule(data=st.data(), priority=st.integers(0, 6).map(lambda p: p * 15))
    def set_priority(self, data: st.DataObject, priority: int) -> None:
        held = self.held()
        if held:
            self.s.set_priority(data.draw(st.sampled_from(held)), priority, self.now)

    @rule(group=st.sampled_from(["g0", "g1"]), priority=st.integers(0, 6).map(lambda p: p * 15))
    def set_group_priority(self, group: str, priority: int) -> None:
        if any(self.s.get(j).group == group for j in self.held()):
            self.s.set_group_priority(group, priority, self.now)

    @rule(cap=st.sampled_from(CAPACITIES))
    def add_node(self, cap: str) -> None:
        self.s.add_node(Node(id=f"n{self.n_nodes}", capacity=cap), self.now)
        self.n_nodes += 1

    @rule(data=st.data())
    def remove_node(self, data: st.DataObject) -> None:
        if len(self.s.nodes) > 1:
            self.s.remove_node(data.draw(st.sampled_from([n.id for n in self.s.nodes])), self.now)

    def check(self, decisions: list[Decision], now: float) -> None:
        """What a subclass checks of every cycle's decisions (nothing here)."""

    @rule(steps=st.integers(1, 3), prompt=st.booleans())
    def reopen_and_compare(self, steps: int, prompt: bool) -> None:
        """Reopen a copy of the store; both decide the same for the next cycles."""
        twin_store = copy.deepcopy(self.store)
        twin = Scheduler(store=twin_store, policy=self.factory())
        # Idle ticks do not write: the reopened clock is the one of the last real change,
        # never later than the live one, and the twin must still decide as the live one.
        assert twin.resumed
        assert twin.now is not None and self.s.now is not None and twin.now <= self.s.now
        assert observe(twin, self.now) == observe(self.s, self.now)
        for k in range(steps):
            t = self.now + k
            live, reopened = self.s.schedule(t), twin.schedule(t)
            assert live == reopened, (t, live, reopened)
            self.check(live, t)
            assert observe(twin, t) == observe(self.s, t)
            # jobs waiting on dependencies are visited by every cycle: same reasons, outcomes included
            assert dependency_reasons(twin, t) == dependency_reasons(self.s, t)
            for d in live:
                if prompt and isinstance(d, Preempt):
                    self.s.release(d.job_id, t)
                    twin.release(d.job_id, t)
        self.now += steps - 1

    @invariant()
    def consistent(self) -> None:
        self.s._check()


def _machine(name: str) -> type[ReopenMachine]:
    return type(f"Reopen_{name}", (ReopenMachine,), {"policy_name": name})


SETTINGS = settings(
    max_examples=40, stateful_step_count=40, deadline=None, suppress_health_check=list(HealthCheck)
)
for _name in POLICIES:
    _cls = _machine(_name)
    globals()[f"test_reopened_decides_as_live_{_name.replace('-', '_')}"] = SETTINGS(_cls).TestCase



def test_quota_reopen_after_node_removals_regression() -> None:
    """Found by this oracle: the live scheduler had parked owner c's job behind owner a's in one
    shape; a's head must borrow and waits for the second pass, which hid c's job (within its
    nominal quota) from the first. Parked queues now hold one owner each under quotas."""
    store = MemoryStore()
    s = Scheduler(store=store, policy=Policy(quotas=QUOTAS))
    caps = ["cpu=8 memory=32GB gpu=A100:80GB:2"] + ["cpu=16 memory=64GB gpu=A100:80GB:4"] * 4
    s.add_node(Node(id="n0", capacity=caps[0]), 0)
    s.schedule(0)
    s.submit(Job(id="j0", submitted_at=2, request="gpu=2", owner="c"), 2)
    s.add_node(Node(id="n1", capacity=caps[1]), 2)
    s.remove_node("n0", 2)
    s.submit(Job(id="j1", submitted_at=2, request="gpu=1", owner="a"), 2)
    s.add_node(Node(id="n2", capacity=caps[2]), 2)
    s.add_node(Node(id="n3", capacity=caps[3]), 2)
    s.remove_node("n1", 2)
    s.remove_node("n2", 2)
    s.submit(Job(id="j2", submitted_at=2, request="gpu=0.5", owner="a"), 2)
    s.submit_many([Job(id=f"j{i}", submitted_at=2, priority=60, request="gpu=2", owner="a")
                   for i in (3, 4, 5)], 2)
    s.schedule(2)
    s.add_node(Node(id="n4", capacity=caps[4]), 2)
    twin = Scheduler(store=copy.deepcopy(store), policy=Policy(quotas=QUOTAS))
    assert observe(twin, 2) == observe(s, 2)
    assert twin.schedule(2) == s.schedule(2)
