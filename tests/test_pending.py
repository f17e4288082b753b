"""The scheduler's pending set: parking jobs by shape never changes the scheduling order."""

from __future__ import annotations

import hypothesis.strategies as st
from hypothesis import given, settings

from prioq import Job, LinearAging, NoAging, PriorityQueue, StepAging
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
