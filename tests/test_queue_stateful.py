"""PriorityQueue against a reference model, one state machine per aging policy.

The model is a plain dict of queued jobs, sorted on every step by the documented
key (effective priority descending, submitted_at, seq, id) computed with
exact Fraction arithmetic from the formulas of docs/queue.md#aging — it shares no
code with prioq's aging module or queue.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any, ClassVar

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from prioq import DuplicateJob, InvalidJob, InvalidTime, Job, UnknownJob
from prioq.queue import PriorityQueue
from prioq.queue.aging import AgingPolicy, LinearAging, NoAging, StepAging
from prioq.testing import check_queue
from reference_aging import reference_eff

IDS = [f"j{i}" for i in range(10)]
CLASSES = [None, None, "batch", "prod"]


def characteristic_time(policy: AgingPolicy) -> float:
    """A time scale over which the policy's order changes (caps, steps)."""
    if isinstance(policy, LinearAging):
        return 4.0 if math.isinf(policy.max_boost) else policy.max_boost / policy.rate
    if isinstance(policy, StepAging):
        return policy.interval * max(1, math.ceil(policy.max_boost / policy.step))
    return 2.0


class QueueMachine(RuleBasedStateMachine):
    policy: ClassVar[AgingPolicy] = NoAging()

    def __init__(self) -> None:
        super().__init__()
        self.q = PriorityQueue(aging=self.policy)
        self.jobs: dict[str, tuple[Job, int]] = {}
        self.gone: dict[str, tuple[Job, int]] = {}
        self.now: float | None = None
        self.next_seq = 0
        t = characteristic_time(self.policy)
        # Small steps (some decimal, so not exact binary fractions) and long jumps past caps.
        self.deltas = [0.0, 0.1, 0.25, 0.3, t / 7, t / 3, t / 2, t, 3 * t, 10 * t]
        self.offsets = [-2 * t, -t, -0.3, -0.1, 0.0, 0.0, 0.1, 0.7, t / 2]

    # ------------------------------------------------------------------ helpers

    def order(self, now: float) -> list[str]:
        def key(item: tuple[Job, int]) -> tuple[Any, ...]:
            job, seq = item
            return (-reference_eff(self.policy, job, now), job.submitted_at, seq, job.id)

        return [job.id for job, _ in sorted(self.jobs.values(), key=key)]

    def at(self, delta_index: int) -> float:
        base = 0.0 if self.now is None else self.now
        return base + self.deltas[delta_index]

    def snapshot(self) -> tuple[Any, ...]:
        q = self.q
        return (
            sorted((jid, q.get(jid), q.seq_of(jid)) for jid in q),
            q.last_now,
            q.next_seq,
            len(q),
        )

    def check_unchanged(self, before: tuple[Any, ...]) -> None:
        assert self.snapshot() == before
        self.q._check()

    # ------------------------------------------------------------------ rules

    @rule(
        jid=st.sampled_from(IDS),
        priority=st.integers(0, 4),
        offset=st.integers(0, 8),
        cls=st.sampled_from(CLASSES),
    )
    def push(self, jid: str, priority: int, offset: int, cls: str | None) -> None:
        base = 0.0 if self.now is None else self.now
        job = Job(id=jid, priority=priority, submitted_at=base + self.offsets[offset], priority_class=cls)
        if jid in self.jobs:
            before = self.snapshot()
            with pytest.raises(DuplicateJob):
                self.q.push(job)
            self.check_unchanged(before)
            return
        seq = self.q.push(job)
        assert seq == self.next_seq
        self.next_seq += 1
        self.jobs[jid] = (job, seq)
        self.gone.pop(jid, None)

    @precondition(lambda self: bool(self.gone))
    @rule(data=st.data())
    def requeue(self, data: st.DataObject) -> None:
        """A preempted/requeued job comes back with its original seq and submitted_at."""
        jid = data.draw(st.sampled_from(sorted(self.gone)))
        job, seq = self.gone[jid]
        if jid in self.jobs:
            return
        assert self.q.push(job, seq=seq) == seq
        self.jobs[jid] = self.gone.pop(jid)

    @precondition(lambda self: bool(self.jobs))
    @rule(data=st.data())
    def push_taken_seq(self, data: st.DataObject) -> None:
        taken = data.draw(st.sampled_from(sorted(seq for _, seq in self.jobs.values())))
        free = [i for i in IDS if i not in self.jobs]
        if not free:
            return
        before = self.snapshot()
        with pytest.raises(DuplicateJob):
            self.q.push(Job(id=free[0], submitted_at=0.0), seq=taken)
        self.check_unchanged(before)

    @rule(d=st.integers(0, 9))
    def pop(self, d: int) -> None:
        now = self.at(d)
        if not self.jobs:
            before = self.snapshot()
            with pytest.raises(IndexError):
                self.q.pop(now)
            self.check_unchanged(before)
            return
        expected = self.order(now)[0]
        job = self.q.pop(now)
        self.now = now
        assert job.id == expected
        assert job == self.jobs[expected][0]
        self.gone[job.id] = self.jobs.pop(job.id)

    @rule(d=st.integers(0, 9))
    def peek(self, d: int) -> None:
        now = self.at(d)
        if not self.jobs:
            with pytest.raises(IndexError):
                self.q.peek(now)
            return
        assert self.q.peek(now).id == self.order(now)[0]
        self.now = now

    @rule(jid=st.sampled_from(IDS))
    def remove(self, jid: str) -> None:
        if jid not in self.jobs:
            before = self.snapshot()
            with pytest.raises(UnknownJob):
                self.q.remove(jid)
            self.check_unchanged(before)
            return
        assert self.q.remove(jid) == self.jobs[jid][0]
        self.gone[jid] = self.jobs.pop(jid)

    @rule(jid=st.sampled_from(IDS), priority=st.integers(0, 4))
    def update(self, jid: str, priority: int) -> None:
        if jid not in self.jobs:
            before = self.snapshot()
            with pytest.raises(UnknownJob):
                self.q.update(jid, priority)
            self.check_unchanged(before)
            return
        old, seq = self.jobs[jid]
        job = self.q.update(jid, priority)
        assert job.priority == priority and job.submitted_at == old.submitted_at
        assert self.q.seq_of(jid) == seq
        self.jobs[jid] = (job, seq)

    @precondition(lambda self: bool(self.jobs))
    @rule(jid=st.sampled_from(IDS), bad=st.sampled_from([1.5, True, None, "3"]))
    def update_invalid(self, jid: str, bad: object) -> None:
        if jid not in self.jobs:
            return
        before = self.snapshot()
        with pytest.raises(InvalidJob):
            self.q.update(jid, bad)  # type: ignore[arg-type]
        self.check_unchanged(before)

    @rule(d=st.integers(0, 9))
    def advance(self, d: int) -> None:
        """Time passes: levels and effective priorities at the new now."""
        now = self.at(d)
        levels = self.q.levels(now)
        self.now = now
        by_priority: dict[int, int] = {}
        for job, _ in self.jobs.values():
            by_priority[job.priority] = by_priority.get(job.priority, 0) + 1
        assert dict(levels.by_priority) == by_priority
        assert list(levels.by_priority) == sorted(by_priority, reverse=True)
        assert sum(levels.by_class.values()) == len(self.jobs)
        cap = Fraction(self.policy.max_boost) if not math.isinf(self.policy.max_boost) else None
        capped = 0
        for jid, (job, _) in self.jobs.items():
            exact = reference_eff(self.policy, job, now)
            assert self.q.effective_priority(jid, now) == float(exact)
            if cap is not None and cap > 0 and exact - job.priority == cap:
                capped += 1
        assert levels.capped == capped

    @precondition(lambda self: bool(self.jobs) and not isinstance(self.policy, NoAging))
    @rule(data=st.data(), nudge=st.sampled_from([-1, 0, 1]))
    def jump_to_boundary(self, data: st.DataObject, nudge: int) -> None:
        """Land exactly on (or one float beside) a job's saturation instant or step boundary."""
        jid = data.draw(st.sampled_from(sorted(self.jobs)))
        job = self.jobs[jid][0]
        s = Fraction(job.submitted_at)
        policy = self.policy
        if isinstance(policy, LinearAging):
            if math.isinf(policy.max_boost):
                return
            instant = s + Fraction(policy.max_boost) / Fraction(policy.rate)
        else:
            assert isinstance(policy, StepAging)
            k = data.draw(st.integers(1, max(1, policy.levels)))
            instant = s + k * Fraction(policy.interval)
        t = float(instant)
        if nudge:
            t = math.nextafter(t, math.inf * nudge)
        if self.now is not None and t < self.now:
            return
        self.q.peek(t)
        self.now = t
        assert [j.id for j in self.q.ordered(t)] == self.order(t)

    @rule(k=st.sampled_from([1, 2, 3, None]), d=st.integers(0, 9))
    def ordered(self, k: int | None, d: int) -> None:
        now = self.at(d)
        it = self.q.ordered(now)
        self.now = now
        expected = self.order(now)
        got = []
        for job in it:
            got.append(job.id)
            if k is not None and len(got) == k:
                break
        assert got == expected[: len(got)]
        assert len(got) == (len(expected) if k is None else min(k, len(expected)))

    @precondition(lambda self: self.now is not None)
    @rule(bad=st.sampled_from(["past", math.nan, math.inf, "str", True]))
    def bad_now(self, bad: object) -> None:
        assert self.now is not None
        now: object = math.nextafter(self.now, -math.inf) if bad == "past" else bad
        before = self.snapshot()
        for call in (self.q.pop, self.q.peek, self.q.ordered, self.q.levels):
            with pytest.raises(InvalidTime):
                call(now)  # type: ignore[operator]
        self.check_unchanged(before)

    # ------------------------------------------------------------------ invariants

    @invariant()
    def consistent(self) -> None:
        self.q._check()
        if self.now is not None:  # the toolkit's checker (users' check) agrees with this model
            check_queue(self.q, self.now)
        assert len(self.q) == len(self.jobs)
        assert set(self.q) == set(self.jobs)
        for jid in IDS:
            assert (jid in self.q) == (jid in self.jobs)
        assert self.q.last_now == self.now


# About 5,000 steps per machine (measured), all six machines in ~20 s here.
SETTINGS = settings(max_examples=110, stateful_step_count=50, deadline=None)


class NoAgingMachine(QueueMachine):
    policy = NoAging()


class LinearDyadicMachine(QueueMachine):
    """Exact binary parameters: exact ties between growing and capped jobs are common."""

    policy = LinearAging(rate=0.5, max_boost=3)


class LinearDecimalMachine(QueueMachine):
    """0.1 is not a binary fraction: exactness must not depend on float luck."""

    policy = LinearAging(rate=0.1, max_boost=0.25)


class LinearUncappedMachine(QueueMachine):
    policy = LinearAging(rate=1, max_boost=math.inf)


class StepDyadicMachine(QueueMachine):
    policy = StepAging(interval=2, step=1, max_boost=3)


class StepDecimalMachine(QueueMachine):
    """1.0 / 0.1 is 10.0 in floats but just below 10 exactly: levels must use exact values."""

    policy = StepAging(interval=0.1, step=0.1, max_boost=0.45)


TestNoAging = NoAgingMachine.TestCase
TestLinearDyadic = LinearDyadicMachine.TestCase
TestLinearDecimal = LinearDecimalMachine.TestCase
TestLinearUncapped = LinearUncappedMachine.TestCase
TestStepDyadic = StepDyadicMachine.TestCase
TestStepDecimal = StepDecimalMachine.TestCase
TestNoAging.settings = TestLinearDyadic.settings = TestLinearDecimal.settings = SETTINGS
TestLinearUncapped.settings = TestStepDyadic.settings = TestStepDecimal.settings = SETTINGS
