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
