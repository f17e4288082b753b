"""The aging strategy is open: a policy written only against the AgingPolicy protocol orders the
queue exactly like the reference computed from its own exact_boost; Policy and the queue
refuse what is not a policy, and bad Policy fields raise InvalidPolicy without leaking builtins."""

from __future__ import annotations

import math
import random
from fractions import Fraction

import attrs
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from prioq import InvalidPolicy, Job, Policy, PrioqError, PriorityQueue
from prioq.errors import InvalidPolicyType
from prioq.queue.aging import AgingPolicy, LinearAging, dyadic_exponent
from prioq.scheduler._pending import Pending
from reference_aging import reference_eff
from test_queue_stateful import SETTINGS, QueueMachine


@attrs.frozen
class DelayedLinear:
    """No boost for ``delay`` seconds, then ``rate`` points per second, capped at ``max_boost``:
    constant, then growing, then constant. Written only against the protocol."""

    delay: float
    rate: float
    max_boost: float

    @property
    def growth_rate(self) -> float:
        return self.rate

    @property
    def boost_exponent(self) -> int:
        # constant boosts: 0 and max_boost; the growing offset: -rate * delay
        return dyadic_exponent(Fraction(self.rate) * Fraction(self.delay), self.max_boost)

    def exact_boost(self, wait: float | Fraction) -> Fraction:
        grown = Fraction(self.rate) * max(Fraction(0), Fraction(wait) - Fraction(self.delay))
        return min(grown, Fraction(self.max_boost))

    def boost(self, wait: float) -> float:
        return float(self.exact_boost(wait))

    def _saturation(self) -> Fraction:
        return Fraction(self.delay) + Fraction(self.max_boost) / Fraction(self.rate)

    def grows(self, wait: Fraction) -> bool:
        return Fraction(self.delay) <= wait < self._saturation()

    def next_change(self, wait: Fraction) -> Fraction | None:
        if wait < Fraction(self.delay):
            return Fraction(self.delay)
        if wait < self._saturation():
            return self._saturation()
        return None


POLICIES = [
    DelayedLinear(delay=1.0, rate=0.5, max_boost=1.0),
    DelayedLinear(delay=0.3, rate=0.1, max_boost=0.25),  # decimal: not exact binary fractions
]


def test_a_user_policy_is_an_aging_policy() -> None:
    policy = POLICIES[0]
    assert isinstance(policy, AgingPolicy)
    assert Policy(aging=policy).aging is policy
    assert PriorityQueue(aging=policy).aging is policy


@pytest.mark.parametrize("policy", POLICIES, ids=repr)
def test_user_policy_orders_like_its_exact_boost(policy: DelayedLinear) -> None:
    rng = random.Random(5)
    q = PriorityQueue(aging=policy)
    jobs = []
    now = 0.0
    for i in range(300):
        now += rng.choice([0.0, 0.1, 0.25, 0.3, 1.0, 3.0])
        job = Job(id=f"j{i}", submitted_at=now + rng.choice([-2.0, -0.3, 0.0, 0.0, 0.7]),
                  priority=rng.randrange(4))
        jobs.append((job, q.push(job, now=now if rng.random() < 0.5 else None)))
        if rng.random() < 0.3:
            key = {j.id: (-reference_eff(policy, j, now), j.submitted_at, s, j.id) for j, s in jobs}
            expected = min(key, key=key.__getitem__)
            assert q.pop(now).id == expected
            jobs = [(j, s) for j, s in jobs if j.id != expected]
        q._check()
    for later in (now, now + 0.5, now + 2.0, now + 100.0):
        expected = sorted(
            jobs, key=lambda js: (-reference_eff(policy, js[0], later), js[0].submitted_at, js[1])
        )
        assert [j.id for j in q.ordered(later)] == [j.id for j, _ in expected]
        for job, _ in jobs:
            assert q.effective_priority(job.id, later) == float(reference_eff(policy, job, later))
        q._check()


def test_pending_merges_a_user_policy_exactly() -> None:
    policy = POLICIES[1]
    pend, ref = Pending(policy), PriorityQueue(aging=policy)
    for i in range(40):
        job = Job(id=f"j{i}", submitted_at=i * 0.1, priority=i % 3)
        ref.push(job, seq=pend.push(job))
        if i % 3 == 0:
            pend.park(job.id, i % 2)
    for now in (4.0, 4.3, 5.0, 9.0):
        assert [j.id for j in pend.ordered(now)] == [j.id for j in ref.ordered(now)]
    pend._check()


class DelayedMachine(QueueMachine):
    """The stateful machine of test_queue_stateful, against the user policy's exact_boost."""

    policy = POLICIES[0]

    @precondition(lambda self: bool(self.jobs))
    @rule(data=st.data(), nudge=st.sampled_from([-1, 0, 1]), change=st.sampled_from([0, 1]))
    def jump_to_boundary(self, data: st.DataObject, nudge: int, change: int) -> None:
        """Land exactly on (or one float beside) a job's phase change, asked from the protocol."""
        job = self.jobs[data.draw(st.sampled_from(sorted(self.jobs)))][0]
        policy = self.policy
        assert isinstance(policy, DelayedLinear)
        wait = policy.next_change(Fraction(0))
        for _ in range(change):
            following = policy.next_change(wait) if wait is not None else None
            wait = following if following is not None else wait
        if wait is None:
            return
        t = float(Fraction(job.submitted_at) + wait)
        if nudge:
            t = math.nextafter(t, math.inf * nudge)
        if self.now is not None and t < self.now:
            return
        self.q.peek(t)
        self.now = t
        assert [j.id for j in self.q.ordered(t)] == self.order(t)


class DelayedLinearMachine(DelayedMachine):
    policy = POLICIES[0]


class DelayedDecimalMachine(DelayedMachine):
    policy = POLICIES[1]


TestDelayedLinear = DelayedLinearMachine.TestCase
TestDelayedDecimal = DelayedDecimalMachine.TestCase
TestDelayedLinear.settings = TestDelayedDecimal.settings = settings(SETTINGS, max_examples=40)


# ---------------------------------------------------------------------- contract violations


@attrs.frozen
class Thirds(DelayedLinear):
    """Breaks the contract: a boost of 1/3 is not a multiple of any power of two."""

    def exact_boost(self, wait: float | Fraction) -> Fraction:
        return Fraction(1, 3)

    def grows(self, wait: Fraction) -> bool:
        return False

    def next_change(self, wait: Fraction) -> Fraction | None:
        return None


def test_contract_violations_raise_invalid_policy() -> None:
    with pytest.raises(InvalidPolicy, match="multiple of"):
        PriorityQueue(aging=Thirds(delay=1.0, rate=0.5, max_boost=1.0))
    with pytest.raises(InvalidPolicyType):
        PriorityQueue(aging=object())  # type: ignore[arg-type]
    with pytest.raises(InvalidPolicyType) as info:
        Policy(aging="linear")  # type: ignore[arg-type]
    assert isinstance(info.value, TypeError) and isinstance(info.value, PrioqError)


# ---------------------------------------------------------------------- Policy fields (bugs of issue 16)


@pytest.mark.parametrize(
    ("kwargs", "builtin"),
    [
        ({"priority_range": (5,)}, ValueError),  # leaked a bare ValueError from unpacking
        ({"priority_range": (1, 2, 3)}, ValueError),
        ({"priority_range": (0, 2**60)}, ValueError),  # set_priority could store 2**60
        ({"priority_range": (-(2**54), 0)}, ValueError),
        ({"priority_range": 5}, TypeError),
        ({"priority_range": (0, 1.5)}, TypeError),
        ({"priority_range": (5, 1)}, ValueError),
        ({"default_priority": 101}, ValueError),
        ({"default_priority": True}, TypeError),
        ({"queueing": "fifo"}, ValueError),
        ({"queueing": 3}, TypeError),
        ({"reservation": 1}, TypeError),
        ({"preemption": "never"}, TypeError),
        ({"priority_classes": 5}, TypeError),
        ({"priority_classes": ["prod"]}, TypeError),
        ({"aging": LinearAging}, TypeError),
    ],
)
def test_bad_policy_fields_raise_invalid_policy(kwargs: dict[str, object], builtin: type[Exception]) -> None:
    with pytest.raises(InvalidPolicy) as info:
        Policy(**kwargs)  # type: ignore[arg-type]
    assert isinstance(info.value, PrioqError) and isinstance(info.value, builtin)


def test_priority_range_is_bounded_by_max_priority() -> None:
    edge = Policy(priority_range=(-(2**53), 2**53), default_priority=0)
    assert edge.priority_range == (-(2**53), 2**53)
    base = Policy()
    with pytest.raises(InvalidPolicy):
        attrs.evolve(base, priority_range=(0, 2**60))
    assert base.priority_range == (0, 100)  # the failed evolve left the original unchanged


def test_aging_parameters_raise_invalid_policy_not_overflow() -> None:
    for bad in (10**400, math.nan, -1.0):
        with pytest.raises(InvalidPolicy):
            LinearAging(rate=bad, max_boost=1)
