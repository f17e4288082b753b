"""Bad input gets a typed error and changes nothing (docs/architecture.md#validation).

For every public entry point and parameter, hostile values -- out of range,
non-finite, huge (``10**400``: beyond a float), bools posing as numbers, wrong
types, unhashable ids -- raise a :class:`prioq.PrioqError` that is also a
``TypeError`` (wrong type) or a ``ValueError`` (bad value), and nothing else
escapes. Scheduler calls must leave every observable unchanged, the clock included.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import prioq
from prioq import (
    Job,
    LinearAging,
    Node,
    Order,
    Policy,
    Preemption,
    PriorityClass,
    PriorityQueue,
    Resources,
    Scheduler,
    StepAging,
)
from prioq.ordering import check_limit

HUGE = 10**400
# (value, kind): "type" values must raise a TypeError too, "value" ones a ValueError
# ("store": a StoreError).
NUMBER_BAD = [
    (HUGE, "value"), (-HUGE, "value"), (math.nan, "value"), (-math.inf, "value"),
    (True, "type"), (False, "type"), ("1", "type"), (None, "type"), ([1], "type"), ({}, "type"),
]
INT_BAD = [(1.5, "type"), (HUGE, "value"), (True, "type"), ("1", "type"), (None, "type"), ([1], "type")]
INT_OR_NONE_BAD = [b for b in INT_BAD if b[0] is not None]  # limits: None means none
ID_BAD = [(5, "type"), (None, "type"), (["a"], "type"), ({}, "type"), (b"a", "type"), (1.5, "type")]
NOW_BAD = [*NUMBER_BAD, (math.inf, "value"), (2**53 + 1, "value"), (-1, "value")]  # -1: went backwards


def expect(kind: str, call: Callable[[], object]) -> prioq.PrioqError:
    with pytest.raises(prioq.PrioqError) as info:
        call()
    err = info.value
    wanted = {"type": TypeError, "value": ValueError, "store": prioq.StoreError}[kind]
    assert isinstance(err, wanted), (kind, type(err), err)
    assert str(err), "an error message must say what was wrong"
    return err


# ----------------------------------------------------------------------------- scheduler calls


def busy() -> Scheduler:
    s = Scheduler(
        [Node(id="n0", capacity="cpu=8 gpu=A100:2"), Node(id="n1", capacity="cpu=8 gpu=A100:2")],
        policy=Policy(aging=LinearAging(rate=1, max_boost=5), preemption=Preemption(policy="lower-priority")),
    )
    s.submit(Job(id="run", submitted_at=0, priority=1, request="gpu=2"), 0)
    s.submit(Job(id="wait", submitted_at=0, priority=2, request="gpu=4"), 0)
    s.schedule(0)
    s.submit(Job(id="queued", submitted_at=0, priority=3, request="gpu=1"), 0)
    return s


def observe(s: Scheduler) -> tuple[Any, ...]:
    return (
        s.now, len(s), [(p.job, p.reason, p.effective_priority) for p in s.pending(0)], s.running(),
        s.terminating(), s.nominations(), {n.id: s.free(n.id) for n in s.nodes},
    )


def job(**kw: Any) -> Job:
    return Job(**{"id": "new", "submitted_at": 0, **kw})


NOW_CALLS: dict[str, Callable[[Scheduler, Any], object]] = {
    "submit": lambda s, t: s.submit(job(), t),
    "submit_many": lambda s, t: s.submit_many([job()], t),
    "cancel": lambda s, t: s.cancel("queued", t),
    "set_priority": lambda s, t: s.set_priority("queued", 7, t),
    "release": lambda s, t: s.release("run", t),
    "requeue": lambda s, t: s.requeue("run", t),
    "add_node": lambda s, t: s.add_node(Node(id="x", capacity="cpu=1"), t),
    "remove_node": lambda s, t: s.remove_node("n1", t),
    "schedule": lambda s, t: s.schedule(t),
    "pending": lambda s, t: s.pending(t),
    "explain": lambda s, t: s.explain("queued", t),
    "cancel_many": lambda s, t: s.cancel_many(["queued"], t),
    "set_priority_many": lambda s, t: s.set_priority_many({"queued": 7}, t),
    "status": lambda s, t: s.status("queued", t),
    "unmet_demand": lambda s, t: s.unmet_demand(t),
}
ID_CALLS: dict[str, Callable[[Scheduler, Any], object]] = {
    "cancel": lambda s, i: s.cancel(i, 1),
    "set_priority": lambda s, i: s.set_priority(i, 5, 1),
    "release": lambda s, i: s.release(i, 1),
    "requeue": lambda s, i: s.requeue(i, 1),
    "get": lambda s, i: s.get(i),
    "explain": lambda s, i: s.explain(i, 1),
    "free": lambda s, i: s.free(i),
    "remove_node": lambda s, i: s.remove_node(i, 1),
    "cancel_many": lambda s, i: s.cancel_many([i], 1),
    "set_priority_many": lambda s, i: s.set_priority_many([(i, 5)], 1),
    "status": lambda s, i: s.status(i, 1),
}
OTHER_CALLS: dict[str, tuple[Callable[[Scheduler, Any], object], list[tuple[Any, str]]]] = {
    "set_priority priority": (
        lambda s, p: s.set_priority("queued", p, 1),
        [*INT_BAD, (101, "value"), (-1, "value"), (2**60, "value")],
    ),
    "submit job": (lambda s, j: s.submit(j, 1), [(5, "type"), (None, "type"), ("job", "type")]),
    "submit priority": (lambda s, p: s.submit(job(priority=p), 1), [(101, "value"), (2**60, "value")]),
    "submit duplicate": (lambda s, i: s.submit(job(id=i), 1), [("queued", "value"), ("run", "value")]),
    "submit_many jobs": (lambda s, js: s.submit_many(js, 1), [(None, "type"), (5, "type"), ([5], "type")]),
    "add_node node": (lambda s, n: s.add_node(n, 1), [(5, "type"), (None, "type")]),
    "add_node duplicate": (lambda s, i: s.add_node(Node(id=i, capacity="cpu=1"), 1), [("n0", "value")]),
    "set_priority_many priority": (
        lambda s, p: s.set_priority_many({"run": 5, "queued": p}, 1),
        [*INT_BAD, (101, "value"), (-1, "value"), (2**60, "value")],
    ),
    "set_priority_many pairs": (lambda s, ps: s.set_priority_many(ps, 1),
                                [(None, "type"), (5, "type"), ("ab", "type"), ([("queued",)], "type"),
                                 ([("queued", 1), ("queued", 2)], "value")]),
    "cancel_many ids": (lambda s, ids: s.cancel_many(ids, 1),
                        [(None, "type"), ("queued", "type"), (["queued", "queued"], "value")]),
    "pending limit": (lambda s, n: s.pending(1, limit=n),
                      [*INT_OR_NONE_BAD, (-1, "value"), (2**64, "value")]),
    "events since": (lambda s, n: s.events(since=n), [*INT_BAD, (-1, "value"), (2**64, "value")]),
    "events limit": (lambda s, n: s.events(limit=n), [*INT_OR_NONE_BAD, (0, "value"), (2**64, "value")]),
    "unmet_demand waited_over": (lambda s, w: s.unmet_demand(1, waited_over=w),
                                 [*(b for b in NUMBER_BAD if b[0] is not None), (-1, "value")]),
    "explain time_format": (lambda s, f: s.explain("run", 1, time_format=f),
                            [("%H", "type"), (5, "type"), (lambda t: 5, "type")]),
}


@pytest.mark.parametrize("name", sorted(NOW_CALLS))
def test_every_call_refuses_a_bad_now_and_changes_nothing(name: str) -> None:
    s = busy()
    s.schedule(0)
    before = observe(s)
    for value, kind in NOW_BAD:
        expect(kind, lambda value=value: NOW_CALLS[name](s, value))  # type: ignore[misc]
        assert observe(s) == before, value


@pytest.mark.parametrize("name", sorted(ID_CALLS))
def test_every_lookup_refuses_a_bad_id_and_changes_nothing(name: str) -> None:
    s = busy()
    before = observe(s)
    for value, kind in ID_BAD:
        expect(kind, lambda value=value: ID_CALLS[name](s, value))  # type: ignore[misc]
        assert observe(s) == before, value
    with pytest.raises((prioq.UnknownJob, prioq.UnknownNode)):
        ID_CALLS[name](s, "nobody")
    assert observe(s) == before


@pytest.mark.parametrize("name", sorted(OTHER_CALLS))
def test_other_arguments_are_refused_and_change_nothing(name: str) -> None:
    call, bad = OTHER_CALLS[name]
    s = busy()
    before = observe(s)
    for value, kind in bad:
        expect(kind, lambda value=value: call(s, value))  # type: ignore[misc]
        assert observe(s) == before, value


def test_the_constructor_refuses_what_is_not_nodes_or_a_policy() -> None:
    for nodes in (5, "n0", [5], [None]):
        expect("type", lambda nodes=nodes: Scheduler(nodes))  # type: ignore[misc]
    expect("type", lambda: Scheduler(policy=5))  # type: ignore[arg-type]
    err = expect("type", lambda: Scheduler(store=5))  # type: ignore[arg-type]
    assert "expected a prioq.Store" in str(err)
    twice = [Node(id="a", capacity="cpu=1"), Node(id="a", capacity="cpu=1")]
    assert isinstance(expect("value", lambda: Scheduler(twice)), prioq.DuplicateNode)


@settings(max_examples=80, deadline=None)
@given(now=st.one_of(
    # ints a float cannot hold exactly
    st.integers(min_value=2**53 + 1, max_value=10**500).filter(lambda x: x >= 2**1024 or float(x) != x),
    st.integers(max_value=-1),
    st.floats(allow_nan=True, allow_infinity=True).filter(lambda x: not (0 <= x < math.inf)),
    st.booleans(), st.none(), st.text(max_size=3), st.lists(st.integers(), max_size=2),
))
def test_property_no_bad_now_gets_through_or_leaks_a_builtin_error(now: Any) -> None:
    s = Scheduler([Node(id="n0", capacity="cpu=1")])
    s.submit(Job(id="a", submitted_at=0), 0)
    kind = "type" if isinstance(now, bool) or not isinstance(now, int | float) else "value"
    for call in NOW_CALLS.values():
        with pytest.raises(prioq.PrioqError) as info:
            call(s, now)
        assert isinstance(info.value, TypeError if kind == "type" else ValueError)
    assert s.now == 0 and [p.job.id for p in s.pending(0)] == ["a"]


# ----------------------------------------------------------------------------- value types and policies


CONSTRUCTORS: dict[str, tuple[Callable[[Any], object], list[tuple[Any, str]]]] = {
    "Job.id": (lambda v: Job(id=v, submitted_at=0), [*ID_BAD, ("", "value")]),
    "Job.priority": (lambda v: Job(id="a", submitted_at=0, priority=v), [*INT_BAD, (2**60, "value")]),
    "Job.submitted_at": (lambda v: Job(id="a", submitted_at=v), [*NUMBER_BAD, (math.inf, "value")]),
    "Job.duration": (lambda v: Job(id="a", submitted_at=0, duration=v),
                     [(HUGE, "value"), (math.nan, "value"), (-1, "value"), (True, "type"), ("1", "type")]),
    "Job.nodes": (lambda v: Job(id="a", submitted_at=0, nodes=v), [*INT_BAD, (0, "value"), (-1, "value")]),
    "Job.after": (
        lambda v: Job(id="a", submitted_at=0, after=v), [("train", "type"), (5, "type"), ([5], "type")]
    ),
    "Job.labels": (lambda v: Job(id="a", submitted_at=0, labels=v), [(5, "type"), ([1], "type")]),
    "Job.request": (lambda v: Job(id="a", submitted_at=0, request=v), [(5, "type"), ("gpu=", "value")]),
    "Node.id": (lambda v: Node(id=v, capacity="cpu=1"), ID_BAD),
    "Node.capacity": (lambda v: Node(id="a", capacity=v), [(5, "type"), ("cpu=x", "value")]),
    "Node.labels": (lambda v: Node(id="a", capacity="cpu=1", labels=v), [(5, "type")]),
    "Policy.priority_range": (lambda v: Policy(priority_range=v),
                              [((5,), "value"), ((0, 2**60), "value"), ((0, HUGE), "value"), (5, "type"),
                               ((0, 1.5), "type"), ((True, 5), "type"), ((10, 0), "value")]),
    "Policy.default_priority": (lambda v: Policy(default_priority=v), [*INT_BAD, (101, "value")]),
    "Policy.aging": (lambda v: Policy(aging=v), [(5, "type"), ("linear", "type")]),
    "Policy.queueing": (lambda v: Policy(queueing=v), [("fifo", "value"), (5, "type")]),
    "Policy.reservation": (lambda v: Policy(reservation=v), [(1, "type"), ("yes", "type")]),
    "Policy.placement": (lambda v: Policy(placement=v), [("worst-fit", "value"), (5, "type")]),
    "Policy.preemption": (lambda v: Policy(preemption=v), [(5, "type"), ("never", "type")]),
    "Policy.priority_classes": (lambda v: Policy(priority_classes=v), [([5], "type"), (5, "type")]),
    "PriorityClass.value": (lambda v: PriorityClass(name="a", value=v), INT_BAD),
    "LinearAging.rate": (lambda v: LinearAging(rate=v, max_boost=1), [*NUMBER_BAD, (-1, "value")]),
    "LinearAging.max_boost": (lambda v: LinearAging(rate=1, max_boost=v), [*NUMBER_BAD, (-1, "value")]),
    "StepAging.interval": (lambda v: StepAging(interval=v, step=1, max_boost=1), [*NUMBER_BAD, (0, "value")]),
    "StepAging.step": (lambda v: StepAging(interval=1, step=v, max_boost=1), [*NUMBER_BAD, (-1, "value")]),
    "Preemption.policy": (lambda v: Preemption(policy=v), [("sometimes", "value"), (5, "type")]),
    "Preemption.min_runtime": (lambda v: Preemption(min_runtime=v), [*NUMBER_BAD, (-1, "value")]),
    "Preemption.grace": (lambda v: Preemption(grace=v), [*NUMBER_BAD, (math.inf, "value")]),
    "Preemption.max_victims": (
        lambda v: Preemption(max_victims=v), [(0, "value"), (1.5, "type"), (True, "type"), (HUGE, "value")]
    ),
    "Preemption.budgets": (
        lambda v: Preemption(policy="lower-priority", budgets=v),
        [({"g": HUGE}, "value"), ({"g": -1}, "value"), ({"g": "150%"}, "value"), ({"g": 1.5}, "type"),
         ("g", "type"), ({5: 1}, "type")],
    ),
    "Preemption.node_order": (lambda v: Preemption(node_order=v), [("random", "value"), (5, "type")]),
    "Preemption.candidates": (lambda v: Preemption(candidates=v), [("some", "value"), (5, "type")]),
    "Preemption.requeue": (lambda v: Preemption(requeue=v), [(1, "type"), ("no", "type")]),
    "Preemption.compare": (lambda v: Preemption(compare=v), [("aged", "value"), (5, "type")]),
    "Resources.parse": (
        lambda v: Resources.parse(v), [(5, "type"), ("gpu=A100:0.5:2", "value"), ("cpu=-1", "value")]
    ),
    "fit request": (lambda v: prioq.fit(v, Resources.parse("cpu=4")), [(5, "type"), ("gpu=1", "type")]),
    "check_limit": (lambda v: check_limit(v), [*INT_BAD, (0, "value"), (10**6, "value")]),
    "Order": (lambda v: Order(v), [(5, "type"), ([("priority", "sideways")], "value")]),
    # a URL naming no store prioq knows is a store that cannot be opened (docs/storage.md)
    "open_store": (
        lambda v: prioq.open_store(v), [(5, "type"), ("ftp://x", "store"), ("sqlite://[x", "value")]
    ),
}


@pytest.mark.parametrize("name", sorted(CONSTRUCTORS))
def test_value_types_and_policies_refuse_bad_values_with_typed_errors(name: str) -> None:
    build, bad = CONSTRUCTORS[name]
    for value, kind in bad:
        expect(kind, lambda value=value: build(value))  # type: ignore[misc]


QUEUE_CALLS: dict[str, tuple[Callable[[PriorityQueue, Any], object], list[tuple[Any, str]]]] = {
    "pop now": (lambda q, t: q.pop(t), NOW_BAD),
    "ordered now": (lambda q, t: list(q.ordered(t)), NOW_BAD),
    "remove id": (lambda q, i: q.remove(i), ID_BAD),
    "get id": (lambda q, i: q.get(i), ID_BAD),
    "update priority": (lambda q, p: q.update("b", p), [*INT_BAD, (2**60, "value")]),
    "push seq": (
        lambda q, n: q.push(Job(id="c", submitted_at=0), seq=n),
        # None means "the next sequence number"
        [(v, k) for v, k in INT_BAD if v is not None] + [(-1, "value"), (2**63, "value")],
    ),
}


@pytest.mark.parametrize("name", sorted(QUEUE_CALLS))
def test_the_queue_refuses_bad_values_and_changes_nothing(name: str) -> None:
    call, bad = QUEUE_CALLS[name]
    q = PriorityQueue(aging=LinearAging(rate=1, max_boost=3))
    q.push(Job(id="a", submitted_at=0, priority=1))
    q.push(Job(id="b", submitted_at=1, priority=2))
    list(q.ordered(0))
    before = ([(j.id, q.effective_priority(j.id, 5)) for j in q.ordered(5)], q.next_seq)
    for value, kind in bad:
        expect(kind, lambda value=value: call(q, value))  # type: ignore[misc]
        assert ([(j.id, q.effective_priority(j.id, 5)) for j in q.ordered(5)], q.next_seq) == before, value
