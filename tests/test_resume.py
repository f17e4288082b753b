"""What a restart resumes, checks and reconciles (docs/orchestrator.md#resume): the policy
fingerprint, victims' grace deadlines, the node list, ``resumed``."""

from __future__ import annotations

from pathlib import Path

import pytest

import prioq
from prioq import Job, LinearAging, Node, NodeChanges, Policy, Preemption, PriorityClass, Scheduler, StepAging
from prioq.storage import MemoryStore, open_store

PREEMPT = Policy(preemption=Preemption(policy="lower-priority", grace=30))


def _preempted(store: object) -> Scheduler:
    s = Scheduler([Node(id="n0", capacity="gpu=A100:2")], policy=PREEMPT, store=store)  # type: ignore[arg-type]
    s.submit(Job(id="low", submitted_at=0, priority=1, request="gpu=2"), 0)
    s.schedule(1)
    s.submit(Job(id="high", submitted_at=5, priority=50, request="gpu=2"), 5)
    s.schedule(10)
    return s


def test_grace_deadlines_survive_a_restart(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/g.db"
    store = open_store(url)
    s = _preempted(store)
    assert s.terminating() == {"low": ("high", 40.0)}
    assert s.terminating()["low"].deadline == 40.0 and s.terminating()["low"].by == "high"
    assert s.schedule(25) == []  # an idle tick: not written, the deadline is still 40
    store.close()
    store = open_store(url)
    again = Scheduler(store=store, policy=PREEMPT)
    assert again.resumed and again.terminating() == {"low": ("high", 40.0)}
    assert again.explain("low", 30) == "terminating: preempted by high on n0 at 10, grace until 40"
    again.release("low", 41)  # the record goes with the victim
    assert again.terminating() == {} and not any(k.startswith("preempt/") for k in again._state.extras)
    store.close()
    assert not any(k.startswith("preempt/") for k in open_store(url).load().extras)


def test_a_victim_without_a_record_has_no_deadline() -> None:
    store = MemoryStore()
    _preempted(store)
    from prioq.storage import Changes

    store.commit(Changes(extras={"preempt/low": None}, now=10.0, next_seq=2))  # as an older prioq wrote it
    assert Scheduler(store=store, policy=PREEMPT).terminating() == {"low": ("high", None)}


def test_resumed_is_false_on_a_new_store_and_true_after_a_change() -> None:
    store = MemoryStore()
    assert not Scheduler(store=store).resumed
    assert not Scheduler(store=store).resumed  # nothing was ever written
    Scheduler([Node(id="n", capacity="cpu=1")], store=store)
    assert Scheduler(store=store).resumed


@pytest.mark.parametrize("other", [
    Policy(priority_range=(0, 1000)),
    Policy(aging=LinearAging(rate=1, max_boost=10)),
    Policy(aging=StepAging(interval=5, step=1, max_boost=3)),
    Policy(placement="spread"),
    Policy(queueing="strict"),
    Policy(preemption=Preemption(policy="lower-priority")),
    Policy(priority_classes=[PriorityClass(name="x", value=5)]),
])
def test_another_policy_is_refused_with_the_fields_that_differ(other: Policy) -> None:
    store = MemoryStore()
    Scheduler([Node(id="n", capacity="cpu=1")], store=store).submit(Job(id="a", submitted_at=0), 0)
    with pytest.raises(prioq.PolicyMismatch, match=r"stored .*given") as info:
        Scheduler(store=store, policy=other)
    assert isinstance(info.value, prioq.StoreError)
    assert Scheduler(store=store, policy=Policy()).resumed  # the stored one still opens
    replaced = Scheduler(store=store, policy=other, policy_change="replace")
    assert replaced.policy == other and len(replaced) == 1
    Scheduler(store=store, policy=other)  # committed at once: the new one is now the stored one
    with pytest.raises(prioq.PolicyMismatch):
        Scheduler(store=store)


def test_replacing_the_policy_checks_every_held_job() -> None:
    store = MemoryStore()
    wide = Policy(priority_range=(0, 1000), priority_classes=[PriorityClass(name="gold", value=900)])
    s = Scheduler([Node(id="n", capacity="cpu=1")], store=store, policy=wide)
    s.submit(Job(id="big", submitted_at=0, priority=500), 0)
    with pytest.raises(prioq.InvalidPolicy, match=r"'big' has priority 500, outside the new priority_range"):
        Scheduler(store=store, policy=Policy(), policy_change="replace")
    s.cancel("big", 1)
    s.submit(Job(id="g", submitted_at=0, priority_class="gold"), 1)
    narrow_gold = Policy(priority_range=(0, 1000))
    with pytest.raises(prioq.InvalidPolicy, match="priority class 'gold'"):
        Scheduler(store=store, policy=narrow_gold, policy_change="replace")
    assert Scheduler(store=store, policy=wide).get("g").priority == 900  # nothing changed
    with pytest.raises(prioq.InvalidValue):
        Scheduler(store=store, policy=wide, policy_change="maybe")  # type: ignore[arg-type]


def test_a_custom_aging_object_without_a_repr_is_fingerprinted_by_type() -> None:
    from fractions import Fraction

    from prioq.scheduler._resume import policy_text

    class Flat:  # a plain class: its repr holds a memory address
        max_boost = 0.0
        growth_rate = 0.0
        boost_exponent = 0

        def exact_boost(self, wait: object) -> Fraction:
            return Fraction(0)

        def boost(self, wait: object) -> float:
            return 0.0

        def grows(self, wait: object) -> bool:
            return False

        def next_change(self, wait: object) -> None:
            return None

    policy = Policy(aging=Flat())  # type: ignore[arg-type]
    assert "0x" in repr(policy.aging)

    assert policy_text(policy) == policy_text(Policy(aging=Flat()))  # type: ignore[arg-type]
    assert "0x" not in policy_text(policy)


def test_nodes_are_reconciled_and_reported() -> None:
    store = MemoryStore()
    nodes = [Node(id="a", capacity="gpu=A100:1"), Node(id="b", capacity="gpu=A100:1"),
             Node(id="c", capacity="gpu=A100:1")]
    s = Scheduler(nodes, store=store)
    s.submit_many([Job(id=f"j{i}", submitted_at=0, request="gpu=1") for i in range(3)], 0)
    s.schedule(1)
    where = {r.job.id: r.node_ids[0] for r in s.running()}
    same = Scheduler(nodes, store=store)
    assert same.resumed and same.node_changes == NodeChanges() and not same.node_changes
    given = [Node(id="c", capacity="gpu=A100:2"), Node(id="d", capacity="gpu=A100:1"), nodes[1]]
    s = Scheduler(given, store=store)
    on_a = next(j for j, n in where.items() if n == "a")
    on_c = next(j for j, n in where.items() if n == "c")
    assert s.node_changes == NodeChanges(added=("d",), removed=("a",), replaced=("c",),
                                         requeued=(on_a, on_c))
    assert sorted(n.id for n in s.nodes) == ["b", "c", "d"] and s.now == 1.0  # the clock is kept
    assert sorted(p.job.id for p in s.pending(1)) == sorted([on_a, on_c])
    reopened = Scheduler(store=store)
    assert [n.id for n in reopened.nodes] == [n.id for n in s.nodes]  # one commit, all of it
    s._check()


def test_a_failed_reconciliation_changes_nothing() -> None:
    class Refusing(MemoryStore):
        fail = False

        def commit(self, changes: object) -> None:  # type: ignore[override]
            if self.fail:
                raise OSError("disk full")
            super().commit(changes)  # type: ignore[arg-type]

    store = Refusing()
    Scheduler([Node(id="a", capacity="cpu=1")], store=store)
    before = store.load()
    store.fail = True
    with pytest.raises(prioq.StoreError):
        Scheduler([Node(id="b", capacity="cpu=1")], store=store)
    assert store.load() == before
