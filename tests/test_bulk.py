"""Bulk calls (issue 13): set_priority_many and cancel_many validate everything first (all or
nothing) and commit once."""

from __future__ import annotations

from typing import Any

import pytest

import prioq
from prioq import Job, Node, Scheduler
from test_rollback import CALLS, FailingStore, busy, fail_then_agree, observe


def small(store: FailingStore | None = None) -> Scheduler:
    s = Scheduler([Node(id="n", capacity="gpu=A100:1")], store=store)
    s.submit_many([Job(id=f"r{i}", submitted_at=0, priority=1, request="gpu=1", group="run")
                   for i in range(4)], 0)
    s.schedule(1)
    return s


def test_set_priority_many_is_one_commit_and_equals_one_by_one() -> None:
    store = FailingStore()
    s, one = small(store), small()
    before = len(store.seen)
    got = s.set_priority_many({"r2": 7, "r0": 9, "r1": 1}, 2)
    assert [j.id for j in got] == ["r2", "r0", "r1"] and [j.priority for j in got] == [7, 9, 1]
    assert len(store.seen) == before + 1
    for job_id, p in (("r2", 7), ("r0", 9), ("r1", 1)):
        one.set_priority(job_id, p, 2)
    assert observe(s) == observe(one)
    assert s.set_priority_many([("r3", 4)], 3)[0].priority == 4


def test_cancel_many_is_one_commit_and_equals_one_by_one() -> None:
    store = FailingStore()
    s, one = small(store), small()
    before = len(store.seen)
    got = s.cancel_many(["r0", "r3"], 2)  # r0 runs, r3 waits
    assert [j.id for j in got] == ["r0", "r3"] and len(store.seen) == before + 1
    one.cancel("r0", 2)
    one.cancel("r3", 2)
    assert observe(s) == observe(one) and s.outcomes() == {"r0": "cancelled", "r3": "cancelled"}


BAD_PRIORITIES: list[tuple[Any, type[Exception]]] = [
    ({"r0": 5, "nope": 1}, prioq.UnknownJob),
    ({"r0": 5, "r1": 1000}, prioq.InvalidJob),
    ({"r0": 5, "r1": "high"}, prioq.InvalidJob),
    ([("r0", 5), ("r0", 6)], prioq.InvalidValue),
    ([("r0", 5, 1)], prioq.InvalidValue),
    ("r0", prioq.InvalidValue),
    (5, TypeError),
    ({"": 1}, prioq.InvalidValue),
]


@pytest.mark.parametrize(("arg", "error"), BAD_PRIORITIES)
def test_set_priority_many_refuses_everything_for_one_bad_item(arg: Any, error: type[Exception]) -> None:
    s = small()
    before = (observe(s), s.events())
    with pytest.raises(error):
        s.set_priority_many(arg, 2)
    assert (observe(s), s.events()) == before


@pytest.mark.parametrize(("arg", "error"), [
    (["r0", "nope"], prioq.UnknownJob), (["r0", "r0"], prioq.InvalidValue), ("r0", prioq.InvalidValue),
    ([1], TypeError), (None, TypeError),
])
def test_cancel_many_refuses_everything_for_one_bad_id(arg: Any, error: type[Exception]) -> None:
    s = small()
    before = (observe(s), s.events())
    with pytest.raises(error):
        s.cancel_many(arg, 2)
    assert (observe(s), s.events()) == before


@pytest.mark.parametrize("name", ["set_priority_many", "cancel_many"])
def test_a_failed_bulk_call_changes_nothing_and_decides_as_a_twin(name: str) -> None:
    calls = {
        "set_priority_many": lambda s, t: s.set_priority_many({"waits2": 99, "frac": 90, "low": 3}, t),
        "cancel_many": lambda s, t: s.cancel_many(["waits", "high", "frac"], t),
    }
    store, twin_store = FailingStore(), FailingStore()
    s, twin = busy(store), busy(twin_store)
    steps = [(4, calls[name]), (5, CALLS["schedule"]), (6, CALLS["release victim"]), (7, CALLS["schedule"])]
    fail_then_agree(s, twin, store, calls[name], steps,
                    skip=lambda step: step is CALLS["release victim"] and not s.terminating())
