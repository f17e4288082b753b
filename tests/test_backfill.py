"""EASY backfill with exact durations never delays the reservation's job.

A blocked high-priority head reserves the nodes where it fits soonest; lower
jobs backfill only if they end before its start or leave it room. So replaying
the same trace with and without the lower jobs, the head starts no later when
they are present. Driven through the simulator (the real Scheduler), with
exact runtimes as estimates.
"""

from __future__ import annotations

import hypothesis.strategies as st
from hypothesis import given, settings

from prioq import Job, Node, Policy
from prioq.sim import Strategy, Workload, simulate

CAPS = ["cpu=16 memory=64GB gpu=A100:4", "cpu=8 memory=32GB gpu=A100:2"]


def head_start(workload: Workload) -> float | None:
    result = simulate(workload, Strategy(name="easy", policy=Policy(reservation=True)))
    (head,) = [r for r in result.records if r.job_id == "head"]
    return head.started_at


@settings(max_examples=150, deadline=None)
@given(
    caps=st.lists(st.sampled_from(CAPS), min_size=1, max_size=3),
    running=st.lists(st.tuples(st.integers(1, 4), st.integers(5, 60)), min_size=1, max_size=6),
    head_gpus=st.integers(2, 4),
    head_duration=st.integers(1, 30),
    lows=st.lists(
        st.tuples(st.integers(2, 40), st.sampled_from(["gpu=1", "gpu=2", "gpu=0.5", "cpu=2"]),
                  st.integers(1, 80)),
        max_size=8,
    ),
)
def test_backfill_never_delays_the_head(
    caps: list[str],
    running: list[tuple[int, int]],
    head_gpus: int,
    head_duration: int,
    lows: list[tuple[int, str, int]],
) -> None:
    nodes = [Node(id=f"n{i}", capacity=cap) for i, cap in enumerate(caps)]
    most = max(4 if "A100:4" in cap else 2 for cap in caps)
    busy = [
        Job(id=f"busy{i}", submitted_at=0, priority=50, request=f"gpu={min(g, most)}", duration=d)
        for i, (g, d) in enumerate(running)
    ]
    head = Job(id="head", submitted_at=1, priority=90, request=f"gpu={min(head_gpus, most)}",
               duration=head_duration)
    low = [
        Job(id=f"low{i}", submitted_at=1 + t, priority=10, request=req, duration=d)
        for i, (t, req, d) in enumerate(lows)
    ]
    without = head_start(Workload(name="without", jobs=[*busy, head], nodes=nodes))
    with_low = head_start(Workload(name="with", jobs=[*busy, head, *low], nodes=nodes))
    assert without is not None and with_low is not None
    assert with_low <= without, f"backfill delayed the head: {with_low} > {without}"
