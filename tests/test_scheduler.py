"""Example tests for the Scheduler facade: documented behaviour, one scenario each."""

from __future__ import annotations

from typing import Any

import pytest

import prioq
from prioq import Job, Node, Policy, Preempt, Reason, Scheduler, Start
from prioq.storage import MemoryStore
from test_rollback import FailingStore


def gpu_nodes(n: int, spec: str = "cpu=32 memory=256GB gpu=A100:80GB:8") -> list[Node]:
    return [Node(id=f"n{i}", capacity=spec) for i in range(n)]


def job(id: str, t: float = 0, **kw: Any) -> Job:
    kw.setdefault("request", "gpu=1")
    return Job(id=id, submitted_at=t, **kw)


def starts(decisions: list[prioq.Decision]) -> list[str]:
    return [d.job_id for d in decisions if isinstance(d, Start)]


def snapshot(s: Scheduler, now: float | None = None) -> tuple[Any, ...]:
    return (
        [(p.job, p.reason) for p in s.pending(now if now is not None else s.now or 0)],
        s.running(),
        {n.id: s.free(n.id) for n in s.nodes},
        s.nominations(),
        s.terminating(),
    )


def test_higher_priority_starts_first_and_allocation_is_reported() -> None:
    s = Scheduler(gpu_nodes(1, "cpu=8 memory=64GB gpu=A100:80GB:2"))
    s.submit(job("low", priority=1, request="gpu=2"), 0)
    s.submit(job("high", priority=90, request="gpu=2"), 1)
    decisions = s.schedule(2)
    assert starts(decisions) == ["high"]
    (start,) = decisions
    assert isinstance(start, Start) and start.node_ids == ("n0",)
    assert [d.index for d in start.allocation[0].gpus] == [0, 1]
    assert s.free("n0").whole_free_gpus() == 0
    assert [p.job.id for p in s.pending(2)] == ["low"]


def test_equal_priority_is_fifo_by_submission_time() -> None:
    s = Scheduler(gpu_nodes(1, "gpu=A100:1"))
    s.submit(job("b", t=5), 5)
    s.submit(job("a", t=1), 6)  # submitted earlier, arrived later
    assert starts(s.schedule(7)) == ["a"]


def test_best_effort_lets_smaller_lower_jobs_start() -> None:
    s = Scheduler(gpu_nodes(1, "gpu=A100:2"), policy=Policy(reservation=False))
    s.submit(job("big", priority=50, request="gpu=4"), 0)
    s.submit(job("small", priority=10, request="gpu=1"), 0)
    assert starts(s.schedule(1)) == ["small"]
    (p,) = s.pending(1)
    assert p.reason is Reason.UNSATISFIABLE


def test_strict_queueing_blocks_everything_behind_the_head() -> None:
    s = Scheduler(gpu_nodes(1, "gpu=A100:2"), policy=Policy(queueing="strict"))
    s.submit(job("running", request="gpu=1"), 0)
    s.schedule(0)
    s.submit(job("head", priority=50, request="gpu=2"), 1)
    s.submit(job("small", priority=10, request="gpu=1"), 1)
    assert s.schedule(2) == []
    reasons = {p.job.id: p.reason for p in s.pending(2)}
    assert reasons == {"head": Reason.RESOURCES, "small": Reason.BLOCKED}
    s.release("running", 3)
    assert starts(s.schedule(3)) == ["head"]


@pytest.mark.parametrize("reservation", [False, True])
def test_gang_starts_on_distinct_nodes_or_not_at_all(reservation: bool) -> None:
    s = Scheduler(gpu_nodes(3, "gpu=A100:4"), policy=Policy(reservation=reservation))
    s.submit(job("filler", request="gpu=4"), 0)
    s.schedule(0)
    s.submit(job("gang3", request="gpu=4", nodes=3), 1)
    s.submit(job("gang2", request="gpu=4", nodes=2, priority=0), 2)
    decisions = s.schedule(3)
    # gang3 needs three whole nodes, only two are free: it does not start partially.
    if reservation:  # ... and it reserves the two free nodes, so gang2 may not take them
        assert decisions == []
        assert {p.job.id: p.reason for p in s.pending(3)}["gang2"] is Reason.RESERVED
        return
    assert starts(decisions) == ["gang2"]
    (start,) = decisions
    assert isinstance(start, Start) and len(set(start.node_ids)) == 2
    assert "filler" not in start.node_ids


def test_reservation_keeps_lower_jobs_off_the_capacity_the_head_needs() -> None:
    s = Scheduler(gpu_nodes(2, "gpu=A100:4"))
    s.submit(job("a", request="gpu=2"), 0)
    s.submit(job("b", request="gpu=2"), 0)
    s.schedule(0)  # best-fit packs both onto n0
    assert {r.node_ids for r in s.running()} == {("n0",)}
    s.submit(job("c", request="gpu=3"), 1)
    s.schedule(1)  # c fits on n1
    s.submit(job("head", priority=80, request="gpu=4"), 2)
    s.submit(job("low", priority=5, request="gpu=1"), 2)
    assert s.schedule(3) == []  # low would fit on n1's last GPU, but n1 is reserved for head
    reasons = {p.job.id: p.reason for p in s.pending(3)}
    assert reasons == {"head": Reason.RESOURCES, "low": Reason.RESERVED}


def test_easy_backfill_with_durations_lets_short_jobs_through() -> None:
    s = Scheduler(gpu_nodes(1, "gpu=A100:4"))
    s.submit(job("long", request="gpu=3", duration=100), 0)
    s.schedule(0)
    s.submit(job("head", priority=80, request="gpu=4", duration=10), 1)
    s.submit(job("short", priority=5, request="gpu=1", duration=50), 1)  # ends at 52 <= 100
    s.submit(job("too-long", priority=6, request="gpu=1", duration=500), 1)
    assert starts(s.schedule(2)) == ["short"]
    reasons = {p.job.id: p.reason for p in s.pending(2)}
    assert reasons["too-long"] is Reason.RESERVED


def test_unsatisfiable_and_explain_counts_nodes_by_reason() -> None:
    nodes = [
        Node(id="a1", capacity="cpu=8 memory=64GB gpu=A100:80GB:1"),
        Node(id="a2", capacity="cpu=8 memory=64GB gpu=A100:80GB:2"),
        Node(id="t1", capacity="cpu=8 memory=64GB gpu=T4:16GB:4"),
    ]
    s = Scheduler(nodes)
    s.submit(job("want", request="gpu=A100:2"), 0)
    s.submit(job("never", request="gpu=H100:1"), 0)
    s.submit(job("blocked", request="gpu=A100:2", priority=0), 0)
    s.schedule(1)
    assert s.explain("blocked", 1).startswith("waiting: PRIORITY")  # "want" took the capacity
    s.schedule(2)
    text = s.explain("blocked", 2)
    assert text.startswith("waiting: RESOURCES")
    assert "0/3 nodes fit" in text
    assert "2 insufficient GPU" in text and "1 GPU model not in [A100]" in text
    assert s.explain("never", 2).startswith("waiting: UNSATISFIABLE")
    assert s.explain("want", 2).startswith("running on a2")


def test_requeue_keeps_priority_and_place_in_line() -> None:
    s = Scheduler(gpu_nodes(1, "gpu=A100:1"))
    s.submit(job("first", t=0), 0)
    s.submit(job("second", t=1), 1)
    s.schedule(2)
    s.requeue("first", 3)
    assert [p.job.id for p in s.pending(3)] == ["first", "second"]
    assert s.get("first").submitted_at == 0


def test_remove_node_requeues_its_jobs_and_add_node_gives_capacity() -> None:
    s = Scheduler(gpu_nodes(1, "gpu=A100:2"))
    s.submit(job("gang", request="gpu=1", nodes=1), 0)
    s.schedule(0)
    assert s.remove_node("n0", 1) == ["gang"]
    assert s.running() == [] and [p.job.id for p in s.pending(1)] == ["gang"]
    s.add_node(Node(id="n1", capacity="gpu=A100:2"), 2)
    assert starts(s.schedule(2)) == ["gang"]


def test_priority_classes_resolve_to_values() -> None:
    pol = Policy(priority_classes=[prioq.PriorityClass(name="prod", value=90)])
    s = Scheduler(gpu_nodes(1, "gpu=A100:1"), policy=pol)
    s.submit(job("batch", priority=10), 0)
    stored = s.submit(job("svc", priority_class="prod"), 0)
    assert stored.priority == 90
    assert starts(s.schedule(1)) == ["svc"]
    with pytest.raises(prioq.InvalidJob, match="unknown priority class"):
        s.submit(job("x", priority_class="nope"), 1)


def test_dependencies_wait_for_their_jobs() -> None:
    s = Scheduler(gpu_nodes(1))
    s.submit(job("train"), 0)
    s.submit(job("eval", after=("train",)), 0)
    assert starts(s.schedule(1)) == ["train"]
    assert s.pending(1)[0].reason is Reason.DEPENDENCY
    s.release("train", 2)
    assert starts(s.schedule(2)) == ["eval"]


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.submit(job("a"), 10),  # duplicate
        lambda s: s.submit(job("z", priority=101), 10),  # out of range
        lambda s: s.submit(job("z", priority=1), 4),  # time went backwards
        lambda s: s.submit("not a job", 10),
        lambda s: s.cancel("nope", 10),
        lambda s: s.release("b", 10),  # pending, not running
        lambda s: s.set_priority("b", -1, 10),
        lambda s: s.set_priority("b", True, 10),
        lambda s: s.remove_node("nope", 10),
        lambda s: s.add_node(Node(id="n0", capacity="cpu=1"), 10),
        lambda s: s.schedule(float("nan")),
        lambda s: s.submit_many([job("y"), job("y")], 10),
    ],
)
def test_bad_input_raises_typed_error_and_changes_nothing(call: Any) -> None:
    s = Scheduler(gpu_nodes(1, "gpu=A100:1"))
    s.submit(job("a"), 0)
    s.submit(job("b"), 1)
    s.schedule(5)
    before = snapshot(s)
    with pytest.raises(prioq.PrioqError):
        call(s)
    assert snapshot(s) == before
    assert s.now == 5
    s._check()


def test_failed_commit_raises_store_error_and_rolls_back_memory() -> None:
    store = FailingStore()
    s = Scheduler(gpu_nodes(2, "gpu=A100:2"), store=store)
    s.submit(job("a", request="gpu=2"), 0)
    s.submit(job("b", request="gpu=1"), 0)
    before = snapshot(s, 1)
    store.fail = True
    for call in (
        lambda: s.schedule(1),
        lambda: s.submit(job("c"), 1),
        lambda: s.cancel("a", 1),
        lambda: s.add_node(Node(id="x", capacity="gpu=A100:1"), 1),
    ):
        with pytest.raises(prioq.StoreError, match="disk full"):
            call()
        assert snapshot(s, 1) == before
        assert s.now == 0  # a failed call changes nothing, the clock included
        s._check()
    store.fail = False
    assert sorted(starts(s.schedule(1))) == ["a", "b"]


def test_resume_from_store_restores_everything() -> None:
    store = MemoryStore()
    s = Scheduler(gpu_nodes(2, "gpu=A100:2"), store=store, policy=Policy(reservation=False))
    for i in range(5):
        s.submit(job(f"j{i}", t=i, priority=i * 10, request="gpu=1"), i)
    s.schedule(5)
    s2 = Scheduler(store=store, policy=Policy(reservation=False))
    assert [p.job for p in s2.pending(5)] == [p.job for p in s.pending(5)]
    assert s2.running() == s.running()
    assert {n.id: s2.free(n.id) for n in s2.nodes} == {n.id: s.free(n.id) for n in s.nodes}
    with pytest.raises(prioq.PolicyMismatch, match="reservation: stored False, given True"):
        Scheduler(gpu_nodes(3), store=store)
    s3 = Scheduler(gpu_nodes(3, "gpu=A100:2"), store=store, policy=Policy(reservation=False))
    assert s3.resumed and s3.node_changes == prioq.NodeChanges(added=("n2",))


def test_preemption_evicts_lower_priority_and_nominates_the_preemptor() -> None:
    pol = Policy(preemption=prioq.Preemption(policy="lower-priority", grace=30))
    s = Scheduler(gpu_nodes(1, "gpu=A100:2"), policy=pol)
    s.submit(job("low1", priority=10), 0)
    s.submit(job("low2", priority=20), 0)
    s.schedule(0)
    s.submit(job("urgent", priority=90, request="gpu=1"), 5)
    decisions = s.schedule(6)
    assert decisions == [Preempt(job_id="low1", node_ids=("n0",), by="urgent", grace=30)]
    assert s.pending(6)[0].reason is Reason.PREEMPTING
    assert "low1" in s.explain("urgent", 6)
    assert s.schedule(7) == []  # victim still terminating: nothing else happens
    s.release("low1", 8)
    assert starts(s.schedule(8)) == ["urgent"]
    assert [p.job.id for p in s.pending(8)] == ["low1"]  # requeued, same submitted_at
