"""Dependencies (docs/dependencies.md): afterok/afterany outcomes, cycles, groups, priority inheritance.

* examples for each documented behaviour;
* a stateful machine against a simple reference model: no pending dependency ever has a
  lower effective priority than a waiting dependant that can still start (with aging),
  its queued priority is exactly the max / min over its transitive donors, outcomes are
  the reference's, a job whose afterok dependency failed never starts and says so, cycles
  are refused with every observable unchanged, preemption never uses an inherited priority;
* every new call against a failing store changes nothing (tests/test_rollback.py style);
* a scheduler reopened from SQLite and PostgreSQL keeps inherited priorities and outcomes.
"""

from __future__ import annotations

import copy
from fractions import Fraction
from pathlib import Path
from typing import Any, ClassVar

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

import prioq
from prioq import (
    Job,
    LinearAging,
    NoAging,
    Node,
    Policy,
    Preempt,
    Preemption,
    Reason,
    Scheduler,
    Start,
    StepAging,
)
from prioq.queue.aging import exact_effective_priority
from prioq.scheduler import inherited_priorities
from prioq.sim.cli import main
from prioq.storage import MemoryStore, open_store
from test_rollback import FailingStore, fail_then_agree, observe

ONE_GPU = [Node(id="n0", capacity="gpu=A100:1")]


def reasons(s: Scheduler, now: float) -> dict[str, Reason]:
    return {p.job.id: p.reason for p in s.pending(now)}


# ----------------------------------------------------------------------------- outcomes


def test_afterany_runs_after_a_failure_afterok_never_does() -> None:
    s = Scheduler(ONE_GPU)
    s.submit(Job(id="train", submitted_at=0, request="gpu=1"), 0)
    s.submit(Job(id="eval", submitted_at=0, request="gpu=1", after=["train"], dependency="afterok"), 0)
    s.submit(Job(id="cleanup", submitted_at=0, request="gpu=1", after=["train"]), 0)
    assert [d.job_id for d in s.schedule(0)] == ["train"]
    s.release("train", 1, outcome="failed")
    assert s.outcomes() == {"train": "failed"}
    assert [d.job_id for d in s.schedule(2)] == ["cleanup"]
    s.release("cleanup", 3)
    assert s.schedule(4) == []
    (p,) = s.pending(4)
    assert (p.job.id, p.reason) == ("eval", Reason.DEPENDENCY_FAILED)
    assert "afterok dependency train ended failed" in p.message
    assert "DEPENDENCY_FAILED" in s.explain("eval", 4)
    # a later submit naming the failed job is reported too
    s.submit(Job(id="report", submitted_at=5, after=["train"], dependency="afterok"), 5)
    assert s.schedule(5) == []
    assert reasons(s, 5)["report"] is Reason.DEPENDENCY_FAILED


def test_afterok_runs_after_success_and_the_default_outcome_is_success() -> None:
    s = Scheduler(ONE_GPU)
    s.submit(Job(id="train", submitted_at=0, request="gpu=1"), 0)
    s.submit(Job(id="eval", submitted_at=0, request="gpu=1", after=["train"], dependency="afterok"), 0)
    s.schedule(0)
    s.release("train", 1)
    assert s.outcomes() == {}
    assert [d.job_id for d in s.schedule(1)] == ["eval"]


def test_a_cancelled_dependency_fails_afterok_not_afterany() -> None:
    s = Scheduler(ONE_GPU)
    s.submit(Job(id="a", submitted_at=0, request="gpu=1"), 0)
    s.submit(Job(id="ok", submitted_at=0, after=["a"], dependency="afterok"), 0)
    s.submit(Job(id="any", submitted_at=0, after=["a"]), 0)
    s.cancel("a", 1)
    assert s.outcomes() == {"a": "cancelled"}
    assert [d.job_id for d in s.schedule(1)] == ["any"]
    assert reasons(s, 1) == {"ok": Reason.DEPENDENCY_FAILED}


def test_a_resubmitted_dependency_decides_again_and_its_success_clears_the_record() -> None:
    s = Scheduler(ONE_GPU)
    s.submit(Job(id="a", submitted_at=0, request="gpu=1"), 0)
    s.submit(Job(id="b", submitted_at=0, after=["a"], dependency="afterok"), 0)
    s.schedule(0)
    s.release("a", 1, outcome="failed")
    s.schedule(1)
    assert reasons(s, 1) == {"b": Reason.DEPENDENCY_FAILED}
    s.submit(Job(id="a", submitted_at=2, request="gpu=1"), 2)  # the retry
    assert [d.job_id for d in s.schedule(2)] == ["a"]
    assert reasons(s, 2) == {"b": Reason.DEPENDENCY}
    s.release("a", 3)
    assert s.outcomes() == {}
    assert [d.job_id for d in s.schedule(3)] == ["b"]


def test_a_released_victim_is_requeued_unless_given_an_outcome() -> None:
    pol = Policy(preemption=Preemption(policy="lower-priority"))
    for outcome, requeued, record in [(None, True, {}), ("failed", False, {"low": "failed"}),
                                      ("succeeded", False, {})]:
        s = Scheduler(ONE_GPU, policy=pol)
        s.submit(Job(id="low", submitted_at=0, priority=1, request="gpu=1"), 0)
        s.schedule(0)
        s.submit(Job(id="high", submitted_at=1, priority=9, request="gpu=1"), 1)
        assert any(isinstance(d, Preempt) for d in s.schedule(1))
        s.release("low", 2, outcome=outcome)
        assert ("low" in s) is requeued
        assert s.outcomes() == record
    s = Scheduler(ONE_GPU, policy=Policy(preemption=Preemption(policy="lower-priority", requeue=False)))
    s.submit(Job(id="low", submitted_at=0, priority=1, request="gpu=1"), 0)
    s.schedule(0)
    s.submit(Job(id="high", submitted_at=1, priority=9, request="gpu=1"), 1)
    s.schedule(1)
    s.release("low", 2)
    assert s.outcomes() == {"low": "preempted"}


def test_bad_outcomes_and_modes_are_refused() -> None:
    s = Scheduler(ONE_GPU)
    s.submit(Job(id="a", submitted_at=0), 0)
    s.schedule(0)
    with pytest.raises(prioq.InvalidValue, match="outcome: expected one of"):
        s.release("a", 1, outcome="done")
    with pytest.raises(prioq.InvalidType):
        s.release("a", 1, outcome=1)  # type: ignore[arg-type]
    assert s.now == 0 and [r.job.id for r in s.running()] == ["a"]
    with pytest.raises(prioq.InvalidJob, match="dependency: expected one of"):
        Job(id="x", submitted_at=0, dependency="afterfail")  # type: ignore[arg-type]
    with pytest.raises(prioq.errors.InvalidJobType):
        Job(id="x", submitted_at=0, dependency=None)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- cycles


def test_cycles_are_refused_at_submit_and_change_nothing() -> None:
    s = Scheduler(ONE_GPU)
    s.submit(Job(id="a", submitted_at=0, after=["b"]), 0)  # b is not held yet
    s.submit(Job(id="c", submitted_at=0, request="gpu=1"), 0)
    s.schedule(0)
    before = (s.pending(0), s.running(), s.now, len(s))
    with pytest.raises(prioq.DependencyCycle, match=r"job b: dependency cycle b -> a -> b"):
        s.submit(Job(id="b", submitted_at=1, after=["a"]), 1)
    with pytest.raises(prioq.InvalidJob, match="cycle x -> y -> x"):  # a DependencyCycle is an InvalidJob
        s.submit_many([Job(id="x", submitted_at=1, after=["y"]), Job(id="y", submitted_at=1, after=["x"])], 1)
    with pytest.raises(prioq.DependencyCycle, match="cycle e -> f -> a -> b -> e"):
        s.submit_many([Job(id="e", submitted_at=1, after=["f"]), Job(id="f", submitted_at=1, after=["a"]),
                       Job(id="b", submitted_at=1, after=["e"])], 1)
    assert (s.pending(0), s.running(), s.now, len(s)) == before
    with pytest.raises(prioq.InvalidJob, match="cannot wait for itself"):
        Job(id="z", submitted_at=0, after=["z"])
    s.submit_many([Job(id="b", submitted_at=1), Job(id="d", submitted_at=1, after=["a", "b", "c"])], 1)
    s._check()


def test_a_cycle_through_a_running_job_is_refused() -> None:
    s = Scheduler(ONE_GPU)
    s.submit(Job(id="run", submitted_at=0, after=["later"], request="gpu=1"), 0)
    s.schedule(0)  # "later" is not held: run starts
    assert [r.job.id for r in s.running()] == ["run"]
    before = (s.pending(0), s.running(), s.now, len(s), s.outcomes())
    with pytest.raises(prioq.DependencyCycle, match="later -> run -> later"):
        s.submit(Job(id="later", submitted_at=1, after=["run"]), 1)
    assert (s.pending(0), s.running(), s.now, len(s), s.outcomes()) == before


# ----------------------------------------------------------------------------- groups


def test_set_group_priority_changes_every_held_job_of_the_group_in_one_commit() -> None:
    store = MemoryStore()
    commits: list[int] = []
    real = store.commit
    store.commit = lambda changes: (commits.append(len(changes.jobs)), real(changes))[1]  # type: ignore[method-assign]
    s = Scheduler(ONE_GPU, store=store, policy=Policy(preemption=Preemption(compare="effective")))
    runs = [Job(id=f"r{i}", submitted_at=0, priority=10, group="run", request="gpu=1") for i in range(3)]
    s.submit_many([*runs, Job(id="other", submitted_at=0, priority=20, request="gpu=1")], 0)
    s.schedule(0)
    s.cancel("other", 1)
    s.schedule(1)
    running = s.running()[0].job.id
    frozen = s._state.frozen[running]
    commits.clear()
    got = s.set_group_priority("run", 50, 2)
    assert [j.id for j in got] == ["r0", "r1", "r2"] and {j.priority for j in got} == {50}
    assert commits == [3]
    assert {p.job.priority for p in s.pending(2)} == {50}
    assert s.running()[0].job.priority == 50
    assert s._state.frozen[running] == frozen + 40  # as set_priority moves a frozen priority
    with pytest.raises(prioq.UnknownGroup, match="no queued or running job belongs to group 'nope'"):
        s.set_group_priority("nope", 1, 3)
    with pytest.raises(prioq.UnknownJob):  # UnknownGroup is an UnknownJob (and a KeyError)
        s.set_group_priority("other", 1, 3)
    with pytest.raises(prioq.InvalidJob):
        s.set_group_priority("run", 1000, 3)
    with pytest.raises(prioq.InvalidType):
        s.set_group_priority(["run"], 1, 3)  # type: ignore[arg-type]
    assert s.now == 2 and {p.job.priority for p in s.pending(2)} == {50}
    for j in ["r0", "r1", "r2"]:
        s.cancel(j, 3)
    with pytest.raises(prioq.UnknownGroup):
        s.set_group_priority("run", 1, 3)
    s._check()


# ----------------------------------------------------------------------------- inheritance


def test_a_low_dependency_runs_at_its_waiting_dependants_priority() -> None:
    s = Scheduler(ONE_GPU, policy=Policy(aging=LinearAging(rate=0.1, max_boost=50)))
    s.submit(Job(id="busy", submitted_at=0, priority=50, request="gpu=1"), 0)
    s.schedule(0)
    s.submit(Job(id="prep", submitted_at=1, priority=1, request="gpu=1"), 1)
    s.submit(Job(id="mid", submitted_at=2, priority=40, request="gpu=1"), 2)
    s.submit(Job(id="urgent", submitted_at=3, priority=90, request="gpu=1", after=["prep"]), 3)
    order = s.pending(5)
    assert [(p.job.id, p.job.priority, p.inherited_from) for p in order] == [
        ("prep", 1, ("urgent",)), ("urgent", 90, ()), ("mid", 40, ())
    ]
    assert order[0].effective_priority == 90 + 0.1 * 4  # urgent's priority, its own earlier aging start
    assert "inherits priority 90 from urgent" in s.explain("prep", 5)
    assert s.get("prep").priority == 1  # the user's job is unchanged
    s.release("busy", 6)
    assert [d.job_id for d in s.schedule(6)] == ["prep"]  # not mid
    assert s.running()[0].job.priority == 1


def test_inheritance_is_transitive_and_follows_priority_changes() -> None:
    s = Scheduler(ONE_GPU)
    s.submit_many([
        Job(id="c", submitted_at=0, priority=1),
        Job(id="b", submitted_at=0, priority=2, after=["c"]),
        Job(id="a", submitted_at=0, priority=3, after=["b"]),
    ], 0)
    assert {p.job.id: p.effective_priority for p in s.pending(0)} == {"a": 3, "b": 3, "c": 3}
    s.set_priority("a", 0, 1)
    assert {p.job.id: p.effective_priority for p in s.pending(1)} == {"a": 0, "b": 2, "c": 2}
    s.cancel("b", 2)  # a no longer waits on c through b
    assert {p.job.id: p.effective_priority for p in s.pending(2)} == {"a": 0, "c": 1}
    s._check()


def test_a_dependant_that_can_never_start_lifts_nothing() -> None:
    s = Scheduler(ONE_GPU)
    s.submit(Job(id="f", submitted_at=0, request="gpu=1"), 0)
    s.schedule(0)
    s.submit(Job(id="low", submitted_at=0, priority=1), 0)
    s.submit(Job(id="high", submitted_at=0, priority=9, after=["f", "low"], dependency="afterok"), 0)
    # f still runs: high may start one day, so it lifts low
    assert [(p.job.id, p.effective_priority, p.inherited_from) for p in s.pending(0)] == [
        ("low", 9, ("high",)), ("high", 9, ())
    ]
    s.release("f", 1, outcome="failed")  # now high never starts: nothing to hurry for
    assert [(p.job.id, p.effective_priority, p.inherited_from) for p in s.pending(1)] == [
        ("high", 9, ()), ("low", 1, ())
    ]


def test_inherited_priority_does_not_preempt() -> None:
    pol = Policy(preemption=Preemption(policy="lower-priority"))
    s = Scheduler(ONE_GPU, policy=pol)
    s.submit(Job(id="mid", submitted_at=0, priority=50, request="gpu=1"), 0)
    s.schedule(0)
    s.submit(Job(id="low", submitted_at=1, priority=1, request="gpu=1"), 1)
    s.submit(Job(id="high", submitted_at=1, priority=90, request="gpu=1", after=["low"]), 1)
    assert s.schedule(2) == []  # low queues at 90 but evicts nobody on it
    assert reasons(s, 2) == {"low": Reason.RESOURCES, "high": Reason.DEPENDENCY}


# ----------------------------------------------------------------------------- stateful


OUTCOME_CHOICES = [None, None, "succeeded", "failed", "cancelled", "preempted"]


def eff(aging: Any, priority: int, submitted: float, now: float) -> float:
    return float(exact_effective_priority(aging, priority, submitted, now))


class InheritanceMachine(RuleBasedStateMachine):
    """Random calls against a reference model of outcomes and inheritance."""

    policy: ClassVar[Policy] = Policy(aging=LinearAging(rate=0.5, max_boost=20))

    def __init__(self) -> None:
        super().__init__()
        self.s = Scheduler([Node(id=f"n{i}", capacity="gpu=A100:2") for i in range(2)], policy=self.policy)
        self.now = 0.0
        self.n = 0
        self.priority: dict[str, int] = {}  # the user's priority of each held job
        self.outcome: dict[str, str] = {}  # non-success outcomes on record

    # -- reference

    def held(self) -> set[str]:
        return {p.job.id for p in self.s.pending(self.now)} | {r.job.id for r in self.s.running()}

    def doomed(self, job: Job, held: set[str]) -> bool:
        return job.dependency == "afterok" and any(d not in held and d in self.outcome for d in job.after)

    def reference_lifts(self) -> dict[str, tuple[int, float]]:
        """Per pending job, max priority and min submitted_at over it and its transitive donors."""
        pending = {p.job.id: p.job for p in self.s.pending(self.now)}
        held = self.held()
        out: dict[str, tuple[int, float]] = {}

        def donors_closure(x: str) -> set[str]:
            seen, todo = {x}, [x]
            while todo:
                y = todo.pop()
                for d in pending.values():
                    if y in d.after and d.id not in seen and not self.doomed(d, held):
                        seen.add(d.id)
                        todo.append(d.id)
            return seen

        for x in pending:
            group = donors_closure(x)
            out[x] = (max(pending[j].priority for j in group), min(pending[j].submitted_at for j in group))
        return out

    # -- rules

    @rule(
        count=st.integers(1, 3),
        priority=st.integers(0, 10),
        offsets=st.lists(st.integers(-4, 2), max_size=2),
        mode=st.sampled_from(["afterany", "afterok"]),
        group=st.sampled_from([None, "g0", "g1"]),
        gpus=st.sampled_from([1, 1, 2]),
    )
    def submit(self, count: int, priority: int, offsets: list[int], mode: str, group: str | None,
               gpus: int) -> None:
        jobs = []
        for k in range(count):
            i = self.n + k
            after = sorted({f"j{i + o}" for o in offsets if o != 0 and i + o >= 0})
            jobs.append(Job(id=f"j{i}", submitted_at=self.now, priority=priority, after=after,
                            dependency=mode, group=group, request=f"gpu={gpus}"))  # type: ignore[arg-type]
        before = (self.s.pending(self.now), self.s.running(), self.s.now, self.s.outcomes())
        try:
            self.s.submit_many(jobs, self.now)
        except prioq.DependencyCycle:
            assert self.has_cycle(jobs)
            assert (self.s.pending(self.now), self.s.running(), self.s.now, self.s.outcomes()) == before
            return
        assert not self.has_cycle(jobs)
        self.n += count
        for job in jobs:
            self.priority[job.id] = priority

    def has_cycle(self, new: list[Job]) -> bool:
        graph = {j.id: set(j.after) for j in new}
        for p in self.s.pending(self.now):
            graph[p.job.id] = set(p.job.after)
        for r in self.s.running():
            graph[r.job.id] = set(r.job.after)
        # a cycle exists iff some node reaches itself
        for start in graph:
            seen: set[str] = set()
            todo = list(graph[start])
            while todo:
                x = todo.pop()
                if x == start:
                    return True
                if x in seen or x not in graph:
                    continue
                seen.add(x)
                todo.extend(graph[x])
        return False

    @rule(dt=st.sampled_from([0, 1, 3, 10]))
    def advance(self, dt: float) -> None:
        self.now += dt

    @rule()
    def schedule(self) -> None:
        held = self.held()
        pending = {p.job.id: p.job for p in self.s.pending(self.now)}
        doomed = {j for j, job in pending.items() if self.doomed(job, held)}
        decisions = self.s.schedule(self.now)
        for d in decisions:
            if isinstance(d, Start):
                assert d.job_id not in doomed
            elif isinstance(d, Preempt) and self.s.policy.preemption.compare == "base":
                # the preemptor's own priority, never an inherited one
                assert self.s.get(d.by).priority > self.s.get(d.job_id).priority
        now_reasons = reasons(self.s, self.now)
        for j in doomed:
            assert now_reasons[j] is Reason.DEPENDENCY_FAILED

    @rule(data=st.data(), outcome=st.sampled_from(OUTCOME_CHOICES))
    def release(self, data: st.DataObject, outcome: str | None) -> None:
        running = sorted(r.job.id for r in self.s.running())
        if not running:
            return
        job_id = data.draw(st.sampled_from(running))
        victim = job_id in self.s.terminating()
        self.s.release(job_id, self.now, outcome=outcome)
        if victim and outcome is None:
            return  # requeued
        final = outcome or ("preempted" if victim else "succeeded")
        if final == "succeeded":
            self.outcome.pop(job_id, None)
        else:
            self.outcome[job_id] = final

    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        held = sorted(self.held())
        if held:
            job_id = data.draw(st.sampled_from(held))
            self.s.cancel(job_id, self.now)
            self.outcome[job_id] = "cancelled"

    @rule(data=st.data())
    def requeue(self, data: st.DataObject) -> None:
        running = sorted(r.job.id for r in self.s.running())
        if running:
            self.s.requeue(data.draw(st.sampled_from(running)), self.now)

    @rule(data=st.data(), priority=st.integers(0, 10))
    def set_priority(self, data: st.DataObject, priority: int) -> None:
        held = sorted(self.held())
        if held:
            job_id = data.draw(st.sampled_from(held))
            self.s.set_priority(job_id, priority, self.now)
            self.priority[job_id] = priority

    @rule(group=st.sampled_from(["g0", "g1"]), priority=st.integers(0, 10))
    def set_group_priority(self, group: str, priority: int) -> None:
        members = sorted(j for j in self.held() if self.s.get(j).group == group)
        if not members:
            with pytest.raises(prioq.UnknownGroup):
                self.s.set_group_priority(group, priority, self.now)
            return
        got = self.s.set_group_priority(group, priority, self.now)
        assert [j.id for j in got] == members
        for j in members:
            self.priority[j] = priority

    # -- invariants

    @invariant()
    def consistent(self) -> None:
        self.s._check()

    @invariant()
    def no_dependency_is_below_a_waiting_dependant(self) -> None:
        now = self.now
        pending = self.s.pending(now)
        effective = {p.job.id: p.effective_priority for p in pending}
        held = self.held()
        for p in pending:
            assert p.job.priority == self.priority[p.job.id]  # the user's job, unchanged
            if self.doomed(p.job, held):
                continue
            for dep in p.job.after:
                if dep in effective:
                    assert effective[dep] >= p.effective_priority, (dep, p.job.id)
        aging = self.s.policy.aging
        for job_id, (prio, submitted) in self.reference_lifts().items():
            assert effective[job_id] == eff(aging, prio, submitted, now), job_id
        assert self.s.outcomes() == dict(sorted(self.outcome.items()))
        # the pure function readers of a store use (prioq show) agrees with the scheduler
        lifts = inherited_priorities([p.job for p in pending], [r.job.id for r in self.s.running()],
                                     self.s.outcomes())
        for p in pending:
            prio, submitted, sources = lifts.get(p.job.id, (p.job.priority, p.job.submitted_at, ()))
            assert p.effective_priority == eff(aging, prio, submitted, now)
            assert p.inherited_from == sources
        # the queue's order is the order of these effective priorities
        keys = [(-Fraction(p.effective_priority), ) for p in pending]
        assert keys == sorted(keys)


class InheritanceStepPreempt(InheritanceMachine):
    policy = Policy(
        aging=StepAging(interval=2, step=3, max_boost=9), preemption=Preemption(policy="lower-priority")
    )


class InheritanceNoAgingEffective(InheritanceMachine):
    policy = Policy(aging=NoAging(), preemption=Preemption(policy="lower-priority", compare="effective"))


SETTINGS = settings(max_examples=40, stateful_step_count=30, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
TestInheritance = InheritanceMachine.TestCase
TestInheritance.settings = SETTINGS
TestInheritanceStepPreempt = InheritanceStepPreempt.TestCase
TestInheritanceStepPreempt.settings = SETTINGS
TestInheritanceNoAgingEffective = InheritanceNoAgingEffective.TestCase
TestInheritanceNoAgingEffective.settings = SETTINGS


# ----------------------------------------------------------------------------- rollback


def busy(store: MemoryStore) -> Scheduler:
    """Running jobs of a group, a lifted chain, an afterok dependant of a failed job."""
    s = Scheduler([Node(id="n0", capacity="gpu=A100:2")], store=store,
                  policy=Policy(aging=LinearAging(rate=0.5, max_boost=10)))
    s.submit_many([
        Job(id="r1", submitted_at=0, priority=5, group="run", request="gpu=1"),
        Job(id="r2", submitted_at=0, priority=5, group="run", request="gpu=1"),
        Job(id="fails", submitted_at=0, priority=1, request="gpu=1"),
    ], 0)
    s.schedule(0)
    s.submit_many([
        Job(id="low", submitted_at=1, priority=1, request="gpu=1", group="run"),
        Job(id="high", submitted_at=1, priority=60, request="gpu=1", after=["low"]),
        Job(id="ok", submitted_at=1, priority=3, after=["r1"], dependency="afterok"),
    ], 1)
    s.schedule(2)
    return s


NEW_CALLS: dict[str, Any] = {
    "set_group_priority": lambda s, t: s.set_group_priority("run", 70, t),
    "set_priority lifts": lambda s, t: s.set_priority("high", 99, t),
    "release failed": lambda s, t: s.release("r1", t, outcome="failed"),
    "release succeeded": lambda s, t: s.release("r1", t),
    "cancel running dependency": lambda s, t: s.cancel("r1", t),
    "cancel lifted": lambda s, t: s.cancel("low", t),
    "cancel lifter": lambda s, t: s.cancel("high", t),
    "submit lifting": lambda s, t: s.submit(Job(id="new", submitted_at=t, priority=80, after=["ok"]), t),
    "submit_many lifting": lambda s, t: s.submit_many(
        [Job(id="m1", submitted_at=t, priority=90, after=["m2"]),
         Job(id="m2", submitted_at=t, after=["low"])], t
    ),
    "requeue": lambda s, t: s.requeue("r1", t),
    "schedule": lambda s, t: s.schedule(t),
}


@pytest.mark.parametrize("name", sorted(NEW_CALLS))
def test_every_new_call_rolls_back_and_decides_as_a_twin(name: str) -> None:
    store, twin_store = FailingStore(), FailingStore()
    s, twin = busy(store), busy(twin_store)
    if name == "schedule":  # give the cycle something to decide: an idle one writes nothing
        for sched in (s, twin):
            sched.release("r2", 3)
    steps = [(4, NEW_CALLS[name]), (5, NEW_CALLS["schedule"]), (6, NEW_CALLS["release failed"]),
             (7, NEW_CALLS["schedule"])]
    fail_then_agree(s, twin, store, NEW_CALLS[name], steps,
                    skip=lambda step: step is NEW_CALLS["release failed"]
                    and "r1" not in [r.job.id for r in s.running()])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(st.tuples(st.sampled_from(sorted(NEW_CALLS)), st.booleans()), min_size=1, max_size=10))
def test_random_failures_never_change_decisions(ops: list[tuple[str, bool]]) -> None:
    """Differential: new calls, some failing at the store, decide as a twin that saw only the others."""
    store, twin_store = FailingStore(), FailingStore()
    s, twin = busy(store), busy(twin_store)
    t = 4.0
    for name, fail in ops:
        t += 1
        store.fail = fail
        try:
            got: object = NEW_CALLS[name](s, t)
        except prioq.PrioqError as exc:
            got = type(exc)
        store.fail = False
        if fail and got is prioq.StoreError:
            continue
        try:
            want: object = NEW_CALLS[name](twin, t)
        except prioq.PrioqError as exc:
            want = type(exc)
        assert got == want, name
        assert observe(s) == observe(twin)
    s._check()


def test_a_refused_cycle_and_bad_calls_change_nothing() -> None:
    s = busy(MemoryStore())
    before = observe(s)
    with pytest.raises(prioq.DependencyCycle):
        s.submit_many([Job(id="x", submitted_at=3, after=["high"]),
                       Job(id="p", submitted_at=3, after=["q"]), Job(id="q", submitted_at=3, after=["p"])], 3)
    with pytest.raises(prioq.UnknownGroup):
        s.set_group_priority("none", 1, 3)
    with pytest.raises(prioq.InvalidValue):
        s.release("r1", 3, outcome="ok")
    assert observe(s) == before


# ----------------------------------------------------------------------------- reopen


def scenario(s: Scheduler) -> None:
    s.submit_many([
        Job(id="r1", submitted_at=0, priority=5, group="run", request="gpu=1"),
        Job(id="r2", submitted_at=0, priority=5, group="run", request="gpu=1"),
    ], 0)
    s.schedule(0)
    s.submit_many([
        Job(id="low", submitted_at=1, priority=1, request="gpu=1", group="run"),
        Job(id="mid", submitted_at=0.5, priority=30, request="gpu=1"),
        Job(id="high", submitted_at=1, priority=60, request="gpu=1", after=["low"]),
        Job(id="ok", submitted_at=1, priority=99, after=["r1", "low"], dependency="afterok"),
    ], 1)
    s.release("r1", 2, outcome="failed")
    s.set_group_priority("run", 2, 2.5)


def check_reopen(url: str) -> None:
    pol = Policy(aging=LinearAging(rate=0.5, max_boost=10))
    stored = Scheduler([Node(id="n0", capacity="gpu=A100:2")], store=open_store(url), policy=pol)
    scenario(stored)
    stored._state.store.close()  # type: ignore[attr-defined]
    reopened = Scheduler(store=open_store(url), policy=pol)
    # the live one: the same calls, never reopened
    live = Scheduler([Node(id="n0", capacity="gpu=A100:2")], policy=pol)
    scenario(live)
    t = 3.0
    got = [(p.job, p.effective_priority, p.inherited_from) for p in reopened.pending(t)]
    assert got == [(p.job, p.effective_priority, p.inherited_from) for p in live.pending(t)]
    assert [(p.job.id, p.inherited_from) for p in reopened.pending(t)] == [
        ("ok", ()), ("low", ("high",)), ("high", ()), ("mid", ())
    ]
    assert reopened.outcomes() == live.outcomes() == {"r1": "failed"}
    for t in (3.0, 4.0):
        assert reopened.schedule(t) == live.schedule(t)
        assert [(p.job.id, p.reason, p.message) for p in reopened.pending(t)] == [
            (p.job.id, p.reason, p.message) for p in live.pending(t)
        ]
    assert reasons(reopened, 4)["ok"] is Reason.DEPENDENCY_FAILED
    reopened._check()
    reopened._state.store.close()  # type: ignore[attr-defined]


def test_reopen_from_sqlite_keeps_inherited_priorities_and_outcomes(tmp_path: Path) -> None:
    check_reopen(f"sqlite:///{tmp_path}/deps.db")


@pytest.mark.postgres
def test_reopen_from_postgres_keeps_inherited_priorities_and_outcomes(postgres_url: str) -> None:
    from test_storage_postgres import drop_schema, new_schema, with_query

    schema = new_schema()
    try:
        check_reopen(with_query(postgres_url, schema=schema, replica="a", lease_seconds="0.5"))
    finally:
        drop_schema(postgres_url, schema)


def test_reopen_from_a_memory_store_copy() -> None:
    store = MemoryStore()
    live = Scheduler([Node(id="n0", capacity="gpu=A100:2")], store=store)
    scenario(live)
    twin = Scheduler(store=copy.deepcopy(store))
    assert [(p.job, p.effective_priority, p.inherited_from) for p in twin.pending(3)] == [
        (p.job, p.effective_priority, p.inherited_from) for p in live.pending(3)
    ]
    assert twin.outcomes() == live.outcomes()


def test_prioq_show_prints_inherited_priorities(tmp_path: Path) -> None:
    import io

    url = f"sqlite:///{tmp_path}/show.db"
    s = Scheduler([Node(id="n0", capacity="gpu=A100:2")], store=open_store(url),
                  policy=Policy(aging=LinearAging(rate=0.5, max_boost=10)))
    scenario(s)
    want = [(p.job.id, p.effective_priority, p.inherited_from) for p in s.pending(2.5)]
    s._state.store.close()  # type: ignore[attr-defined]
    out, err = io.StringIO(), io.StringIO()
    assert main(["show", "--store", url, "--aging", "linear:0.5:10"], out=out, err=err) == 0, err.getvalue()
    lines = out.getvalue().splitlines()
    assert "inherits from" in lines[3]
    got = []
    for line in lines[4:4 + len(want)]:
        cells = line.split()
        got.append((cells[1], float(cells[4]), () if cells[-1] == "-" else tuple(cells[-1].split(","))))
    assert got == want
    assert got[1] == ("low", 60.75, ("high",))  # base 2 (set_group_priority), high's 60 from t=1


def test_waiting_dependants_sleep_until_a_dependency_leaves_or_returns() -> None:
    s = Scheduler(ONE_GPU)
    s.submit(Job(id="dep", submitted_at=0, request="gpu=1"), 0)
    s.schedule(0)
    s.submit_many([Job(id=f"w{i}", submitted_at=0, after=["dep"]) for i in range(3)]
                  + [Job(id="ok", submitted_at=0, after=["dep", "later"], dependency="afterok")], 0)
    s.schedule(1)
    asleep = {j for j, shape in s._state.queue.where.items() if shape == "asleep: waiting on dependencies"}
    assert asleep == {"w0", "w1", "w2", "ok"}
    assert set(reasons(s, 1).values()) == {Reason.DEPENDENCY}
    s.submit(Job(id="later", submitted_at=2, request="gpu=1"), 2)  # wakes ok: it waits for it too
    s.schedule(2)
    assert {p.job.id: p.message for p in s.pending(2)}["ok"] == "waiting for dep, later to finish"
    s.release("dep", 3)  # wakes its waiters: they start, and later does
    assert sorted(d.job_id for d in s.schedule(3)) == ["later", "w0", "w1", "w2"]
    s.release("later", 4, outcome="failed")
    s.schedule(4)
    assert reasons(s, 4) == {"ok": Reason.DEPENDENCY_FAILED}
    s._check()
