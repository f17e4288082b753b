"""Scheduler.status, pending(limit), unmet_demand, Policy(unsatisfiable_after) and explain's
wording (issue 13)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import prioq
from prioq import (
    EventKind,
    FairShare,
    Job,
    LinearAging,
    Node,
    Policy,
    Preemption,
    Reason,
    Scheduler,
    StepAging,
)
from test_rollback import CALLS, FailingStore, busy, fail_then_agree

README_NODES = [
    Node(id="a100-0", capacity="cpu=64 memory=512GB gpu=A100:80GB:8"),
    Node(id="t4-0", capacity="cpu=32 memory=128GB gpu=T4:16GB:4"),
]


def readme() -> Scheduler:
    """The README's example up to the point where train waits again."""
    s = Scheduler(README_NODES, policy=Policy(aging=LinearAging(rate=1 / 90, max_boost=40),
                                             preemption=Preemption(policy="lower-priority", grace=30)))
    s.submit(Job(id="train", priority=20, submitted_at=0, request="gpu=A100:8 cpu=32"), now=0)
    s.submit(Job(id="notebook", priority=50, submitted_at=5, request="gpu=T4:0.5 cpu=2"), now=5)
    s.schedule(10)
    s.submit(Job(id="urgent", priority=90, submitted_at=20, request="gpu=A100:4"), now=20)
    s.schedule(20)
    s.release("train", 50)
    s.schedule(50)
    return s


def test_status_of_a_waiting_job_names_its_parts_and_the_gpu_model() -> None:
    s = readme()
    st_ = s.status("train", 60)
    assert st_.state == "pending" and st_.reason is Reason.PRIORITY
    assert (st_.position, st_.pending) == (1, 1)
    p = st_.priority
    assert p is not None and (p.base, p.inherited, p.fair_share) == (20, 0, None)
    assert p.aging == pytest.approx(60 / 90) and p.total == s.pending(60)[0].effective_priority
    by_node = {c.node_ids: c for c in st_.misfits}
    t4 = by_node[("t4-0",)]
    assert t4.never == "GPU model not in [A100]: need 8 x A100, node has T4" and t4.fit_now == 0
    a100 = by_node[("a100-0",)]
    assert a100.never is None and a100.now == "insufficient GPU: need 8 x A100, 4 free"
    assert "1 GPU model not in [A100]" in s.explain("train", 60)
    assert "insufficient cpu" not in s.explain("train", 60)


def test_status_of_running_terminating_finished_held_and_unknown() -> None:
    s = Scheduler([Node(id="n", capacity="gpu=A100:1")],
                  policy=Policy(preemption=Preemption(policy="lower-priority", grace=5)))
    s.submit(Job(id="low", submitted_at=0, priority=1, request="gpu=1"), 0)
    s.submit(Job(id="next", submitted_at=0, priority=1, request="gpu=1", after=("low",),
                 dependency="afterok"), 0)
    s.schedule(1)
    run = s.status("low", 2)
    assert (run.state, run.node_ids, run.started_at) == ("running", ("n",), 1.0)
    assert s.status("next", 2).state == "held"
    s.submit(Job(id="high", submitted_at=3, priority=9, request="gpu=1"), 3)
    s.schedule(4)
    term = s.status("low", 4)
    assert (term.state, term.preempted_by, term.deadline) == ("terminating", "high", 9.0)
    s.cancel("low", 5)
    gone = s.status("low", 5)
    assert (gone.state, gone.outcome, gone.job) == ("finished", "cancelled", None)
    held = s.status("next", 5)
    assert held.state == "held" and held.reason in (Reason.DEPENDENCY, Reason.NEW)
    with pytest.raises(prioq.UnknownJob):
        s.status("nobody", 5)
    with pytest.raises(prioq.InvalidTime):
        s.status("high", 1)
    with pytest.raises(prioq.InvalidValue):
        s.status(3, 5)  # type: ignore[arg-type]


def test_reservation_and_estimated_start_from_durations() -> None:
    s = Scheduler([Node(id="n", capacity="gpu=A100:2")])
    s.submit(Job(id="run", submitted_at=0, request="gpu=1", duration=100), 0)
    s.submit(Job(id="big", submitted_at=0, request="gpu=2"), 0)
    s.submit(Job(id="small", submitted_at=0, request="gpu=1", duration=500), 0)
    s.schedule(10)
    big = s.status("big", 10)
    assert big.reservation == prioq.Reservation(job_id="big", node_ids=("n",), start=110.0)
    assert big.estimated_start == 110.0
    small = s.status("small", 10)       # waits behind the reservation; it would fit at 110 too
    assert small.reservation is None and small.reason is Reason.RESERVED
    assert small.estimated_start == 110.0


def test_no_reservation_of_unknown_start_and_unsatisfiable() -> None:
    s = Scheduler([Node(id="n", capacity="gpu=A100:1")])
    s.submit(Job(id="run", submitted_at=0, request="gpu=1"), 0)
    s.submit(Job(id="next", submitted_at=0, request="gpu=1"), 0)
    s.submit(Job(id="never", submitted_at=0, request="gpu=H100:1"), 0)
    s.schedule(1)
    nxt = s.status("next", 1)
    assert nxt.reservation is not None and nxt.reservation.start is None and nxt.estimated_start is None
    never = s.status("never", 1)
    assert never.reason is Reason.UNSATISFIABLE and never.estimated_start is None
    assert [c.never for c in never.misfits] == ["GPU model not in [H100]: need 1 x H100, node has A100"]


# ------------------------------------------------------------------ position and pending(limit)

POLICIES = {
    "none": Policy(),
    "aging": Policy(aging=LinearAging(rate=0.5, max_boost=7)),
    "step": Policy(aging=StepAging(interval=3, step=2, max_boost=6)),
    "fair": Policy(fair_share=FairShare(half_life=50), aging=LinearAging(rate=0.25, max_boost=5)),
    "term": Policy(fair_share=FairShare(mode="term", term_weight=3)),
    "preempt": Policy(preemption=Preemption(policy="lower-priority"), aging=LinearAging(rate=1, max_boost=4)),
}

jobs_st = st.lists(
    st.tuples(st.integers(0, 4), st.integers(0, 20), st.sampled_from(["gpu=1", "gpu=2", "cpu=2", "gpu=H100"]),
              st.sampled_from([None, "a", "b", "a/x"]), st.booleans()),
    min_size=1, max_size=25,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(jobs=jobs_st, policy=st.sampled_from(sorted(POLICIES)), ahead=st.sampled_from([0, 0, 7]),
       limit=st.integers(0, 30))
def test_position_and_pending_limit_agree_with_the_full_list(jobs: list[Any], policy: str, ahead: int,
                                                             limit: int) -> None:
    s = Scheduler([Node(id=f"n{i}", capacity="cpu=8 gpu=A100:2") for i in range(2)], policy=POLICIES[policy])
    t = 0.0
    ids: list[str] = []
    for i, (dt, prio, req, owner, dep) in enumerate(jobs):
        t += dt
        after = (ids[-1],) if dep and ids else ()
        s.submit(Job(id=f"j{i}", submitted_at=t, priority=prio, request=req, owner=owner, after=after), t)
        ids.append(f"j{i}")
        if i % 5 == 4:
            s.schedule(t)
    now = t + ahead
    full = s.pending(now)
    assert s.pending(now, limit=limit) == full[:limit]
    for i, p in enumerate(full, 1):
        status = s.status(p.job.id, now)
        assert status.position == i and status.pending == len(full)
        assert status.priority is not None
        assert status.priority.total == pytest.approx(p.effective_priority)
        assert status.priority.inherited_from == p.inherited_from
        parts = status.priority
        summed = parts.base + parts.inherited + parts.aging + (parts.fair_share or 0)
        assert summed == pytest.approx(parts.total)
        assert f"position {i} of {len(full)}" in s.explain(p.job.id, now)
    assert s.now == t  # reads moved nothing


def test_pending_limit_is_checked() -> None:
    s = Scheduler()
    for bad in (-1, 1.5, "2", True):
        with pytest.raises(prioq.InvalidValue):
            s.pending(0, limit=bad)  # type: ignore[arg-type]
    assert s.pending(0, limit=0) == []


# ------------------------------------------------------------------ unmet demand


def test_unmet_demand_groups_shapes_unsatisfiable_first() -> None:
    s = Scheduler([Node(id="n", capacity="cpu=8 gpu=A100:1")])
    s.submit_many([
        Job(id="h1", submitted_at=0, priority=5, request="gpu=H100:8"),
        Job(id="h2", submitted_at=3, priority=9, request="gpu=H100:8"),
        Job(id="gang", submitted_at=1, request="gpu=1", nodes=2),
        Job(id="run", submitted_at=0, priority=2, request="gpu=1"),
        Job(id="wait", submitted_at=2, priority=1, request="gpu=1"),
        Job(id="dep", submitted_at=0, request="gpu=H100:8", after=("run",)),
    ], 3)
    s.schedule(4)
    demand = s.unmet_demand(4)
    assert [(str(d.request), d.nodes, d.count, d.highest_priority, d.oldest_submitted_at, d.why, d.job_ids)
            for d in demand] == [
        ("gpu=H100:8", 1, 2, 9, 0.0, "unsatisfiable", ("h1", "h2")),
        ("gpu=1", 2, 1, 0, 1.0, "unsatisfiable", ("gang",)),
    ]
    waited = s.unmet_demand(100, waited_over=50)
    assert [(d.why, d.job_ids) for d in waited] == [
        ("unsatisfiable", ("h1", "h2")), ("unsatisfiable", ("gang",)), ("waited", ("wait",)),
    ]
    assert s.now == 4
    for bad in (-1, float("nan"), "1"):
        with pytest.raises(prioq.InvalidValue):
            s.unmet_demand(5, waited_over=bad)  # type: ignore[arg-type]


def test_unsatisfiable_after_drops_with_outcome_event_and_fails_afterok_dependants() -> None:
    pol = Policy(unsatisfiable_after=60)
    store = FailingStore()
    s = Scheduler([Node(id="n", capacity="gpu=A100:1")], policy=pol, store=store)
    s.submit(Job(id="h", submitted_at=0, request="gpu=H100:1"), 0)
    s.submit(Job(id="k", submitted_at=0, request="gpu=1", after=("h",), dependency="afterok"), 0)
    s.schedule(59)
    assert "h" in s
    s.schedule(60)
    assert "h" not in s and s.outcomes() == {"h": "unsatisfiable"}
    dropped = [e for e in s.events().events if e.kind is EventKind.DROPPED]
    assert [(e.job_id, e.outcome, e.reason, e.at) for e in dropped] == [
        ("h", "unsatisfiable", "no node could ever hold gpu=H100 after 60 s", 60.0)]
    assert s.status("h", 60).state == "finished"
    assert s.status("k", 60).reason is Reason.DEPENDENCY_FAILED
    again = Scheduler(store=store, policy=pol)
    assert again.outcomes() == s.outcomes() and again.events() == s.events()


def test_unsatisfiable_after_is_a_policy_value() -> None:
    with pytest.raises(prioq.InvalidPolicy):
        Policy(unsatisfiable_after=-1)
    with pytest.raises(prioq.errors.InvalidPolicyType):
        Policy(unsatisfiable_after="1h")  # type: ignore[arg-type]
    # a store written without the field matches a policy that leaves it at its default
    store = prioq.MemoryStore()
    Scheduler([Node(id="n", capacity="cpu=1")], store=store).submit(Job(id="a", submitted_at=0), 0)
    Scheduler(store=store)
    with pytest.raises(prioq.PolicyMismatch):
        Scheduler(store=store, policy=Policy(unsatisfiable_after=5))


def test_a_failed_drop_changes_nothing_and_decides_as_a_twin() -> None:
    pol = Policy(aging=LinearAging(rate=0.5, max_boost=10),
                 preemption=Preemption(policy="lower-priority", grace=5), unsatisfiable_after=3)
    store, twin_store = FailingStore(), FailingStore()
    s, twin = busy(store, pol), busy(twin_store, pol)
    assert "huge" in s

    steps = [(4, CALLS["schedule"]), (5, CALLS["release victim"]), (6, CALLS["schedule"])]
    fail_then_agree(s, twin, store, CALLS["schedule"], steps,
                    skip=lambda step: step is CALLS["release victim"] and not s.terminating())
    assert "huge" not in s and s.outcomes()["huge"] == "unsatisfiable"


# ------------------------------------------------------------------ explain wording


def test_explain_prints_epoch_instants_as_iso_utc_or_the_callers_format() -> None:
    t0 = 1_795_940_000.0
    s = Scheduler([Node(id="n", capacity="gpu=A100:1")],
                  policy=Policy(preemption=Preemption(policy="lower-priority", grace=30)))
    s.submit(Job(id="a", submitted_at=t0, priority=1, request="gpu=1"), t0)
    s.schedule(t0 + 1.5)
    assert s.explain("a", t0 + 2) == "running on n since 2026-11-29T08:13:21.500Z"
    s.submit(Job(id="b", submitted_at=t0 + 3, priority=5, request="gpu=1"), t0 + 3)
    s.schedule(t0 + 4)
    assert s.explain("a", t0 + 4) == (
        "terminating: preempted by b on n at 2026-11-29T08:13:24Z, grace until 2026-11-29T08:13:54Z")
    assert s.explain("a", t0 + 4, time_format=lambda t: f"T+{t - t0:g}s") == (
        "terminating: preempted by b on n at T+4s, grace until T+34s")
    small = Scheduler([Node(id="n", capacity="cpu=1")])
    small.submit(Job(id="x", submitted_at=0, request="cpu=1"), 0)
    small.schedule(12.5)
    assert small.explain("x", 13) == "running on n since 12.5"
    with pytest.raises(prioq.InvalidValue):
        small.explain("x", 13, time_format="%H:%M")  # type: ignore[arg-type]
    with pytest.raises(prioq.InvalidValue):
        small.explain("x", 13, time_format=lambda t: 5)  # type: ignore[arg-type,return-value]


def test_explain_at_position_one_does_not_claim_jobs_are_ahead() -> None:
    s = readme()
    text = s.explain("train", 60)
    assert "position 1 of 1" in text
    assert "ahead of it" not in text
    assert "jobs started before it in the last cycle took the capacity it fits" in text
