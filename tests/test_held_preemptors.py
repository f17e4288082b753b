"""Nominated preemptors held out of cycles while their victims terminate (issue 11, steady cycle).

A nominated preemptor whose victims still run can only be told to wait, so the
scheduler holds it out of the cycle's order until an event that can change that
answer wakes it: a victim stops (released, requeued, cancelled, its node
removed), the nomination is dropped, its priority changes. Held or not, it must
keep its reason and place in line, its claim must keep vetoing lower starts, a
failed call must leave it as it was, and a scheduler reopened from the store
(which holds nothing) must decide exactly as the live one.
"""

from __future__ import annotations

import contextlib
import copy
from typing import Any

from prioq import Job, LinearAging, Node, Policy, Preempt, Preemption, Reason, Scheduler
from prioq.errors import StoreError
from prioq.storage import MemoryStore
from test_rollback import FailingStore

POLICY = Policy(aging=LinearAging(rate=1, max_boost=20), preemption=Preemption(policy="lower-priority"))


def kinds(decisions: list[Any]) -> list[tuple[str, str]]:
    return [(type(d).__name__, d.job_id) for d in decisions]


def held(s: Scheduler, job_id: str) -> bool:
    return s._state.queue.is_held(job_id)


def nominated_with_two_victims(
    policy: Policy = POLICY, store: MemoryStore | None = None
) -> Scheduler:
    """n0 gpu=8 runs v1 and v2 (gpu=3 each, priority 10), 2 GPUs free; urgent (90, gpu=8)
    preempts both, then waits for them: held from the second cycle on."""
    s = Scheduler([Node(id="n0", capacity="gpu=A100:8"), Node(id="n1", capacity="gpu=A100:8")],
                  policy=policy, store=store)
    s.submit(Job(id="v1", priority=10, submitted_at=0, request="gpu=3"), 0)
    s.submit(Job(id="v2", priority=10, submitted_at=0, request="gpu=3"), 0)
    s.submit(Job(id="w", priority=50, submitted_at=0, request="gpu=8"), 0)
    assert kinds(s.schedule(0)) == [("Start", "w"), ("Start", "v1"), ("Start", "v2")]
    s.submit(Job(id="urgent", priority=90, submitted_at=10, request="gpu=8"), 10)
    assert kinds(s.schedule(10)) == [("Preempt", "v1"), ("Preempt", "v2")]
    assert s.nominations() == {"urgent": ("n1",)}
    assert not held(s, "urgent")  # the cycle that nominated it does not hold it yet
    assert s.schedule(11) == []
    assert held(s, "urgent")
    s._check()
    return s


def test_a_held_preemptor_keeps_its_reason_and_place_and_starts_after_its_last_victim() -> None:
    s = nominated_with_two_victims()
    s.submit(Job(id="mid", priority=20, submitted_at=12, request="gpu=8"), 12)
    assert s.schedule(12) == []
    pending = s.pending(13)
    assert [p.job.id for p in pending] == ["urgent", "mid"]  # still first in line while held
    by_id = {p.job.id: p for p in pending}
    assert by_id["urgent"].reason is Reason.PREEMPTING
    assert by_id["urgent"].message == "nominated to n1; waiting for v1, v2 to terminate"
    assert s.explain("urgent", 13).startswith(
        "waiting: PREEMPTING — nominated to n1; waiting for v1, v2 to terminate; position 1 of 2"
    )
    assert held(s, "urgent")

    s.release("v1", 14)  # one victim gone: woken, visited, told to wait for the other
    assert not held(s, "urgent")
    assert s.schedule(14) == []
    assert held(s, "urgent")
    assert {p.job.id: p.message for p in s.pending(14)}["urgent"] == (
        "nominated to n1; waiting for v2 to terminate"
    )

    s.release("v2", 15)
    assert kinds(s.schedule(15)) == [("Start", "urgent")]
    assert s.nominations() == {}
    s._check()


def test_a_held_preemptors_claim_still_vetoes_a_lower_job() -> None:
    """The claim of a preemptor no cycle visits is built when a cycle looks at its node."""
    s = nominated_with_two_victims()
    # fits n1's 2 free GPUs, but they are held for urgent (8 = 2 free + 3 + 3 terminating)
    s.submit(Job(id="small", priority=5, submitted_at=20, request="gpu=2"), 20)
    assert s.schedule(20) == []
    reasons = {p.job.id: (p.reason, p.message) for p in s.pending(20)}
    assert reasons["small"] == (Reason.RESERVED, "capacity that fits it is held for urgent")
    assert s.schedule(21) == [] and held(s, "urgent")
    s._check()


def test_events_that_can_change_its_answer_wake_it() -> None:
    s = nominated_with_two_victims()
    s.set_priority("urgent", 95, 12)
    assert not held(s, "urgent")
    assert s.schedule(12) == [] and held(s, "urgent")

    s.requeue("v1", 13)  # a requeued victim counts as gone
    assert not held(s, "urgent")
    assert s.schedule(13) == [] and held(s, "urgent")

    s.cancel("v2", 14)
    assert not held(s, "urgent")
    assert kinds(s.schedule(14)) == [("Start", "urgent")]
    s._check()


def test_removing_its_node_or_cancelling_it_lets_it_go() -> None:
    s = nominated_with_two_victims()
    assert s.remove_node("n1", 12) == ["v1", "v2"]
    assert not held(s, "urgent") and s.nominations() == {}
    s._check()

    s = nominated_with_two_victims()
    s.cancel("urgent", 12)
    assert "urgent" not in s and not held(s, "urgent")
    s.release("v1", 13)
    s.release("v2", 13)
    s._check()


def test_never_held_under_strict_queueing_or_with_dependencies() -> None:
    strict = Policy(queueing="strict", preemption=Preemption(policy="lower-priority"))
    s = Scheduler([Node(id="n", capacity="gpu=A100:8")], policy=strict)
    s.submit(Job(id="v", priority=10, submitted_at=0, request="gpu=8"), 0)
    s.schedule(0)
    s.submit(Job(id="urgent", priority=90, submitted_at=1, request="gpu=8"), 1)
    s.submit(Job(id="next", priority=80, submitted_at=1, request="cpu=1"), 1)
    assert kinds(s.schedule(1)) == [("Preempt", "v")]
    assert s.schedule(2) == [] and not held(s, "urgent")
    assert {p.job.id: p.reason for p in s.pending(2)}["next"] is Reason.BLOCKED  # it still blocks

    s = Scheduler([Node(id="n", capacity="cpu=8 gpu=A100:8")], policy=POLICY)
    s.submit(Job(id="v", priority=10, submitted_at=0, request="gpu=8"), 0)
    s.submit(Job(id="dep", priority=0, submitted_at=0, request="cpu=1"), 0)
    s.schedule(0)
    s.release("dep", 0)
    s.submit(Job(id="urgent", priority=90, submitted_at=1, request="gpu=8", after=("dep",)), 1)
    assert kinds(s.schedule(1)) == [("Preempt", "v")]
    assert s.schedule(2) == [] and not held(s, "urgent")
    # the dependency reappears (a job submitted later under its id): the next cycle sees it
    s.submit(Job(id="dep", priority=0, submitted_at=3, request="cpu=1"), 3)
    s.release("v", 3)
    assert kinds(s.schedule(3)) == [("Start", "dep")]
    assert {p.job.id: p.reason for p in s.pending(3)}["urgent"] is Reason.DEPENDENCY


def test_a_failed_call_leaves_a_held_preemptor_held() -> None:
    store = FailingStore()
    s = nominated_with_two_victims(store=store)
    before = (s.pending(12), s.nominations(), s.terminating())
    store.fail = True
    for call in (lambda: s.release("v1", 12), lambda: s.set_priority("urgent", 99, 12),
                 lambda: s.cancel("urgent", 12), lambda: s.schedule(12)):
        with contextlib.suppress(StoreError):  # a cycle that changes nothing writes nothing
            call()
        assert held(s, "urgent")
        assert (s.pending(12), s.nominations(), s.terminating()) == before
        s._check()
    store.fail = False
    s.release("v1", 14)
    s.release("v2", 14)
    assert kinds(s.schedule(14)) == [("Start", "urgent")]


def test_a_reopened_scheduler_decides_as_the_live_one_with_a_held_preemptor() -> None:
    store = MemoryStore()
    s = nominated_with_two_victims(store=store)
    s.submit(Job(id="small", priority=5, submitted_at=20, request="gpu=2"), 20)
    twin = Scheduler(store=copy.deepcopy(store), policy=POLICY)
    assert not held(twin, "urgent")
    for t, victim in ((21, None), (22, "v1"), (23, None), (24, "v2"), (25, None)):
        if victim is not None:
            s.release(victim, t)
            twin.release(victim, t)
        live, reopened = s.schedule(t), twin.schedule(t)
        assert live == reopened, (t, live, reopened)
        assert [(p.job.id, p.reason, p.message) for p in s.pending(t)] == [
            (p.job.id, p.reason, p.message) for p in twin.pending(t)
        ]
    assert "urgent" in {r.job.id for r in s.running()}
    assert not any(isinstance(d, Preempt) for d in s.schedule(26))


def test_lowering_a_nominated_preemptors_priority_lets_a_job_it_bound_preempt_at_once() -> None:
    """Regression (found by tests/test_reason_oracle.py): a nominated preemptor's claim binds
    jobs of lower or equal priority; once its priority is lowered, a job it bound may plan
    again, but the failed plan stayed remembered (set_priority did not move the state
    version) while a reopened scheduler preempted at once."""
    policy = Policy(aging=LinearAging(rate=0.5, max_boost=20), preemption=Preemption(policy="lower-priority"))
    store = MemoryStore()
    s = Scheduler([Node(id=f"n{i}", capacity="cpu=16 memory=64GB gpu=A100:80GB:4") for i in range(2)],
                  policy=policy, store=store)
    s.submit_many([Job(id="j0", submitted_at=0, priority=0, request="gpu=1")], 0)
    s.schedule(0)
    s.submit_many([Job(id=f"j{i}", submitted_at=0, priority=0, request="gpu=2") for i in (1, 2, 3)], 0)
    s.schedule(0)
    s.submit_many([Job(id=f"j{i}", submitted_at=0, priority=15, request="gpu=2") for i in (4, 5, 6)], 0)
    s.schedule(0)
    s.set_priority("j4", 0, 0)
    twin = Scheduler(store=copy.deepcopy(store), policy=policy)
    live, reopened = s.schedule(0), twin.schedule(0)
    assert live == reopened
    assert kinds(live) == [("Preempt", "j0")]
