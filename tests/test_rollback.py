"""A failed call changes nothing: every public call, a store that refuses the commit.

Two oracles (docs/architecture.md#the-transaction-contract):

* every observable -- pending jobs with their reasons and effective priorities,
  running, terminating, nominations, free capacity, ``explain`` for every job,
  the clock -- is the same after the failed call as before it;
* differential: a scheduler that saw the failed call goes on to decide exactly
  as a twin that never saw it (caches included: a stale cache shows up here).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import prioq
from prioq import Job, LinearAging, Node, Policy, Preemption, Reason, Scheduler, StepAging
from prioq.storage import Changes, MemoryStore


class FailingStore(MemoryStore):
    """A memory store whose commits fail while ``fail`` is set; ``seen`` lists the commits it took.
    (The one such store of the suite: other test modules import it from here.)"""

    def __init__(self) -> None:
        super().__init__()
        self.fail = False
        self.seen: list[Changes] = []

    def commit(self, changes: Changes) -> None:
        if self.fail:
            raise OSError("disk full")
        super().commit(changes)
        self.seen.append(changes)


def observe(s: Scheduler) -> tuple[Any, ...]:
    """Everything a caller can see, at the scheduler's own clock (the one list, used by every
    module that checks a failed call left the scheduler as it was)."""
    now = s.now if s.now is not None else 0.0
    pending = s.pending(now)
    held = sorted([p.job.id for p in pending] + [r.job.id for r in s.running()])
    return (
        s.now,
        len(s),
        [(p.job, p.effective_priority, p.reason, p.message, p.inherited_from) for p in pending],
        s.running(),
        s.terminating(),
        s.nominations(),
        s.nodes,
        {n.id: s.free(n.id) for n in s.nodes},
        s.cordoned(),
        s.outcomes(),
        s.events(),
        {j: s.explain(j, now) for j in held},
    )


NODES = [Node(id=f"n{i}", capacity="cpu=16 memory=64GB gpu=A100:80GB:2") for i in range(3)]
POLICY = Policy(
    aging=LinearAging(rate=0.5, max_boost=10),
    preemption=Preemption(policy="lower-priority", grace=5),
)


def busy(store: MemoryStore, policy: Policy = POLICY) -> Scheduler:
    """Pending jobs with reasons, a parked shape, running jobs, a victim and its nominated preemptor."""
    s = Scheduler(NODES, policy=policy, store=store)
    s.submit(Job(id="low", submitted_at=0, priority=1, request="gpu=2"), 0)
    s.submit(Job(id="gang", submitted_at=0, priority=5, request="gpu=1", nodes=2), 0)
    s.submit(Job(id="frac", submitted_at=0.5, priority=2, request="gpu=0.25"), 0.5)
    s.submit(Job(id="huge", submitted_at=0.5, priority=3, request="gpu=8"), 0.5)  # UNSATISFIABLE
    s.schedule(1)
    s.submit(Job(id="high", submitted_at=2, priority=50, request="gpu=2"), 2)
    s.submit(Job(id="waits", submitted_at=2, priority=1, request="gpu=2"), 2)
    s.submit(Job(id="waits2", submitted_at=2, priority=1, request="gpu=2"), 2)
    s.schedule(3)
    assert s.terminating() and s.nominations() and s.running()
    assert {p.reason for p in s.pending(3)} >= {Reason.UNSATISFIABLE, Reason.PREEMPTING}
    return s


CALLS: dict[str, Callable[[Scheduler, float], object]] = {
    "schedule": lambda s, t: s.schedule(t),
    "submit": lambda s, t: s.submit(Job(id="new", submitted_at=t, priority=60, request="gpu=1"), t),
    "submit_many": lambda s, t: s.submit_many(
        [Job(id="m1", submitted_at=t, request="gpu=1"), Job(id="m2", submitted_at=t, request="gpu=8")], t
    ),
    "cancel pending": lambda s, t: s.cancel("waits", t),
    "cancel nominated": lambda s, t: s.cancel("high", t),
    "cancel running": lambda s, t: s.cancel("frac", t),
    "set_priority pending": lambda s, t: s.set_priority("waits2", 99, t),
    "set_priority running": lambda s, t: s.set_priority("frac", 90, t),
    "release victim": lambda s, t: s.release(next(iter(s.terminating())), t),
    "release": lambda s, t: s.release("frac", t),
    "requeue": lambda s, t: s.requeue("frac", t),
    "add_node": lambda s, t: s.add_node(Node(id="x", capacity="gpu=A100:8"), t),
    "remove_node": lambda s, t: s.remove_node("n0", t),
    "cordon_node": lambda s, t: s.cordon_node("n1", t),
    "drain_node": lambda s, t: s.drain_node("n0", t),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_every_call_rolls_back_every_observable_and_decides_as_a_twin(name: str) -> None:
    store, twin_store = FailingStore(), FailingStore()
    s, twin = busy(store), busy(twin_store)
    if name == "schedule":  # give the cycle something to decide: an idle one writes nothing
        for x in (s, twin):
            x.release(next(iter(x.terminating())), 3.5)
    steps = [(4, CALLS[name]), (5, CALLS["schedule"]), (6, CALLS["release victim"]),
             (7, CALLS["schedule"]), (8, CALLS["schedule"])]
    fail_then_agree(s, twin, store, CALLS[name], steps,
                    skip=lambda step: step is CALLS["release victim"] and not s.terminating())


Call = Callable[[Scheduler, float], Any]


def fail_then_agree(s: Scheduler, twin: Scheduler, store: FailingStore, call: Call,
                    steps: list[tuple[float, Call]], skip: Callable[[Call], bool]) -> None:
    """The differential rollback oracle: ``call`` at t=4 fails at the store and changes no
    observable of ``s`` (as :func:`observe` sees it); afterwards ``s`` and its ``twin`` (which never
    saw the failure) make the same decisions and show the same state through ``steps`` (those
    ``skip`` allows)."""
    before = observe(s)
    assert observe(twin) == before
    store.fail = True
    with pytest.raises(prioq.StoreError, match="disk full"):
        call(s, 4)
    assert observe(s) == before
    s._check()
    store.fail = False
    for t, step in steps:
        if skip(step):
            continue
        assert step(s, t) == step(twin, t)
        assert observe(s) == observe(twin)
    s._check()


def test_a_failed_cycle_keeps_the_reasons_it_would_have_written() -> None:
    """Regression: a rolled-back schedule() left pending() reporting UNSATISFIABLE where
    it said NEW before (the cycle wrote reasons outside the undo journal)."""
    store = FailingStore()
    s = Scheduler([Node(id="n0", capacity="gpu=A100:1")], store=store)
    s.submit(Job(id="huge", submitted_at=0, request="gpu=4"), 0)
    s.submit(Job(id="fits", submitted_at=0, request="gpu=1"), 0)  # a start: the cycle commits
    assert [p.reason for p in s.pending(0)] == [Reason.NEW, Reason.NEW]
    store.fail = True
    with pytest.raises(prioq.StoreError):
        s.schedule(1)
    assert [p.reason for p in s.pending(1)] == [Reason.NEW, Reason.NEW]
    assert s.now == 0


def test_a_failed_cancel_puts_a_parked_job_back_under_its_shape() -> None:
    """Regression (found by the differential test below): undoing the removal of a parked
    job pushed it back to the active queue, so the next cycles visited a different set of
    jobs than a scheduler that never saw the failed call, and reasons diverged."""
    policy = Policy(aging=LinearAging(rate=0.5, max_boost=10), preemption=Preemption(policy="lower-priority"))
    store, twin_store = FailingStore(), FailingStore()
    s, twin = busy(store, policy), busy(twin_store, policy)
    parked = dict(s._state.queue.where)
    assert "waits" in parked
    store.fail = True
    with pytest.raises(prioq.StoreError):
        s.cancel("waits", 6)
    assert s._state.queue.where == parked
    store.fail = False
    for t, call in [(7, CALLS["schedule"]), (8, CALLS["set_priority pending"]), (9, CALLS["schedule"])]:
        assert call(s, t) == call(twin, t)
        assert observe(s) == observe(twin)


def test_a_failed_call_keeps_the_clock_and_a_later_earlier_now_works() -> None:
    """Regression: schedule(now=2**53+1) raised InvalidTime but moved s.now; and a failed
    call's clock must not refuse a later call at the old clock."""
    s = Scheduler([Node(id="n0", capacity="gpu=A100:1")])
    s.submit(Job(id="a", submitted_at=0), 0)
    with pytest.raises(prioq.InvalidTime):
        s.schedule(2**53 + 1)
    with pytest.raises(prioq.InvalidTime):
        s.schedule(10**400)
    assert s.now == 0
    store = FailingStore()
    s = Scheduler([Node(id="n0", capacity="gpu=A100:1")], store=store)
    s.submit(Job(id="a", submitted_at=0, request="gpu=1"), 0)
    store.fail = True
    with pytest.raises(prioq.StoreError):
        s.schedule(100)
    store.fail = False
    assert s.now == 0
    assert [d.job_id for d in s.schedule(50)] == ["a"]  # the failed call at 100 did not move time
    assert s.now == 50


def test_an_idle_cycle_writes_nothing_and_still_moves_the_clock() -> None:
    """A cycle that decides nothing commits nothing (no fsync per idle tick): even a store
    that refuses every commit does not see it. The clock moves in memory and goes to the
    store with the next real change (docs/orchestrator.md#no-write-when-idle)."""
    store = FailingStore()
    s = Scheduler([Node(id="n0", capacity="gpu=A100:1")], store=store)
    s.submit(Job(id="huge", submitted_at=0, request="gpu=4"), 0)
    store.fail = True
    assert s.schedule(5) == [] and s.schedule(9) == []
    assert s.now == 9 and store.load().now == 0
    store.fail = False
    s.submit(Job(id="b", submitted_at=9, request="gpu=1"), 10)
    assert store.load().now == 10


OPS = st.lists(
    st.tuples(
        st.sampled_from(sorted(CALLS)),
        st.booleans(),  # does the store fail on this call?
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ops=OPS,
    aging=st.sampled_from([LinearAging(rate=0.5, max_boost=10), StepAging(interval=2, step=3, max_boost=12)]),
)
def test_random_failures_never_change_decisions(ops: list[tuple[str, bool]], aging: Any) -> None:
    """Differential: any sequence of calls, some failing at the store, decides exactly as a
    twin that only ever saw the calls that succeeded."""
    policy = Policy(aging=aging, preemption=Preemption(policy="lower-priority", grace=5))
    store, twin_store = FailingStore(), FailingStore()
    s, twin = busy(store, policy), busy(twin_store, policy)
    t = 4.0
    for name, fail in ops:
        t += 1
        store.fail = fail
        try:
            got: object = CALLS[name](s, t)
        except (prioq.PrioqError, StopIteration) as exc:
            got = type(exc)
        store.fail = False
        if fail and got is prioq.StoreError:
            continue  # the twin never sees it
        try:
            want: object = CALLS[name](twin, t)
        except (prioq.PrioqError, StopIteration) as exc:
            want = type(exc)
        assert got == want, name
        assert observe(s) == observe(twin)
    s._check()


def test_terminating_is_listed_by_victim_id_whatever_rollbacks_did() -> None:
    """Regression (found by test_random_failures_never_change_decisions): a release that failed
    at the store re-inserted its victim at the end of the running set, so terminating()
    listed victims in another order and "the first victim" differed from a twin's."""
    ops: list[tuple[str, bool]] = [("set_priority pending", False), ("schedule", False),
                                   ("release victim", True), ("release victim", False)]
    test_random_failures_never_change_decisions.hypothesis.inner_test(  # type: ignore[attr-defined]
        ops, LinearAging(rate=0.5, max_boost=10))
