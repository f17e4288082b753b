"""The scheduler's pending set: parking jobs by shape never changes the scheduling order."""

from __future__ import annotations

import math
from fractions import Fraction

import hypothesis.strategies as st
from hypothesis import given, settings

from prioq import Job, LinearAging, NoAging, PriorityQueue, StepAging
from prioq.queue import exact_effective_priority
from prioq.scheduler._pending import Pending

AGINGS = [NoAging(), LinearAging(rate=0.3, max_boost=20), StepAging(interval=0.1, step=7, max_boost=30)]


@settings(max_examples=200)
@given(
    aging=st.sampled_from(AGINGS),
    jobs=st.lists(
        st.tuples(st.integers(0, 20), st.sampled_from([0.0, 0.1, 0.3, 1.0, 2.5, 7.0]), st.booleans(),
                  st.sampled_from(["a", "b"])),
        max_size=25,
    ),
    now=st.sampled_from([7.0, 10.0, 33.3, 1000.0]),
)
def test_parked_and_active_jobs_merge_into_the_single_queue_order(
    aging: object, jobs: list[tuple[int, float, bool, str]], now: float
) -> None:
    pend = Pending(aging)  # type: ignore[arg-type]
    ref = PriorityQueue(aging=aging)  # type: ignore[arg-type]
    for i, (prio, sub, parked, shape) in enumerate(jobs):
        job = Job(id=f"j{i}", submitted_at=sub, priority=prio)
        seq = pend.push(job)
        ref.push(job, seq=seq)
        if parked:
            pend.park(job.id, shape)
    assert [j.id for j in pend.ordered(now)] == [j.id for j in ref.ordered(now)]
    assert len(pend) == len(ref)
    pend._check()
    for i, (_, _, parked, _) in enumerate(jobs):
        if parked and i % 2:
            pend.unpark(f"j{i}")
    assert [j.id for j in pend.ordered(now)] == [j.id for j in ref.ordered(now)]
    pend._check()


def test_unhashable_ids_raise_a_prioq_type_error_and_change_nothing() -> None:
    """Issue 16: q.remove(["a"]) / q.get({}) leaked a builtin TypeError from the dict lookup."""
    import pytest

    from prioq import InvalidType, PrioqError

    pend = Pending(LinearAging(rate=0.5, max_boost=4))
    pend.push(Job(id="a", submitted_at=0.0))
    pend.push(Job(id="b", submitted_at=1.0))
    pend.park("b", "shape")
    queue = PriorityQueue()
    queue.push(Job(id="a", submitted_at=0.0))
    calls = [
        lambda: pend.remove(["a"]), lambda: pend.get({}), lambda: pend.seq_of(["b"]),
        lambda: pend.unpark(["b"]), lambda: pend.effective_priority({}, 2.0),
        lambda: queue.remove(["a"]), lambda: queue.get({}), lambda: queue.seq_of(["a"]),
        lambda: queue.update({}, 3),
    ]
    for call in calls:
        with pytest.raises(InvalidType) as info:
            call()  # type: ignore[no-untyped-call]
        assert isinstance(info.value, TypeError) and isinstance(info.value, PrioqError)
    assert ["a"] not in pend and not pend.is_parked({})  # type: ignore[arg-type]
    assert len(pend) == 2 and pend.is_parked("b") and len(queue) == 1
    pend._check()
    queue._check()


_TIMES = st.one_of(
    st.sampled_from([0.0, 0.1, 0.3, 1.0, 2.5, 7.0, 5e-324, 1e-300, 2.0**-1074 * 3, 1.7e9, 1e300]),
    st.floats(min_value=0, max_value=1e12, allow_nan=False, allow_infinity=False),
)


@settings(max_examples=300)
@given(
    rate=st.sampled_from([0.0, 1 / 90, 0.3, 1.0, 2.0**-60, 3.0, 1e-300]),
    max_boost=st.sampled_from([0.0, 40.0, 0.1, 2.0**-1070, 1e300, math.inf]),
    jobs=st.lists(st.tuples(st.integers(-5, 60), _TIMES), min_size=2, max_size=8),
    now=_TIMES,
)
def test_linear_aging_integer_keys_are_the_exact_effective_priorities_scaled(
    rate: float, max_boost: float, jobs: list[tuple[int, float]], now: float
) -> None:
    # The order keys hold LinearAging's effective priority as an int times 2**shift
    # (_keys.LinearKeys): the same order and ties as the exact Fraction values.
    aging = LinearAging(rate=rate, max_boost=max_boost)
    pend = Pending(aging)
    lin = pend.linear
    assert lin is not None
    keys, exact = [], []
    for i, (prio, sub) in enumerate(jobs):
        job = Job(id=f"j{i}", submitted_at=sub, priority=prio)
        key = pend.key(job, i, now)
        value = exact_effective_priority(aging, prio, sub, now)
        assert key[0] == -value * 2**lin.shift
        assert type(key[0]) is int
        keys.append(key)
        exact.append((-value, (), sub, i, job.id))
    assert sorted(range(len(keys)), key=keys.__getitem__) == sorted(range(len(keys)), key=exact.__getitem__)
    # the cycle's bound on a tier (a priority plus the largest boost) is in the same units
    top = Fraction(max_boost) if math.isfinite(max_boost) else Fraction(0)
    assert pend.in_key_units(jobs[0][0] + top) == (jobs[0][0] + top) * 2**lin.shift


def test_keys_of_other_agings_and_of_fair_share_term_mode_stay_unscaled() -> None:
    assert Pending(StepAging(interval=0.1, step=7, max_boost=30)).linear is None
    assert Pending(NoAging()).linear is None
    pend = Pending(StepAging(interval=0.1, step=7, max_boost=30))
    assert pend.in_key_units(Fraction(7, 2)) == Fraction(7, 2)


def test_a_parked_job_is_filed_at_its_phase_as_of_the_latest_now() -> None:
    # Parking (and holding) pushes at the active queue's clock: a saturated job gets no aging
    # event to replay later (a lower tier that no cycle peeks for a while would otherwise
    # replay every member's events from the start of its wait on its first peek).
    pend = Pending(LinearAging(rate=1, max_boost=10))
    for i in range(3):
        pend.push(Job(id=f"j{i}", submitted_at=float(i), priority=i))
    assert [j.id for j in pend.ordered(100.0)] == ["j2", "j1", "j0"]  # the queues' clock: 100
    pend.park("j0", "s")
    pend.hold("j1")
    assert pend.parked["s"].statistics().pending_events == 0
    assert pend.held.statistics().pending_events == 0
    assert pend.parked["s"].statistics().events_processed == 0
    assert [j.id for j in pend.ordered(100.0)] == ["j2", "j1", "j0"]
    pend._check()
