"""One clock (docs/orchestrator.md#one-clock): ``Scheduler.now`` is the only clock.

Property over every public call, with random valid and invalid arguments and random
``now``s (earlier, equal, later, not a number at all):

* the clock moves only on a successful call that may change state, to its ``now``;
* a failed call and every read -- ``pending``/``explain`` at any later ``now`` included --
  change no observable: a twin that saw only the successful changing calls shows the same
  state and makes the same decisions.
"""

from __future__ import annotations

import math
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings

import prioq
from prioq import Job, LinearAging, Node, Policy, Preemption, Scheduler, StepAging
from test_rollback import observe

NODES = [Node(id=f"n{i}", capacity="cpu=16 memory=64GB gpu=A100:80GB:2") for i in range(2)]
POLICIES = [
    Policy(
        aging=LinearAging(rate=0.5, max_boost=10), preemption=Preemption(policy="lower-priority", grace=3)
    ),
    Policy(aging=StepAging(interval=2, step=3, max_boost=12), queueing="strict"),
]
CHANGING = {"submit", "submit_many", "cancel", "set_priority", "release", "requeue", "add_node",
            "remove_node", "schedule"}
READS = ["pending", "explain", "running", "terminating", "nominations", "get", "free", "nodes", "now",
         "len", "contains", "status", "unmet_demand", "pending limit", "events"]


def _nows(s: Scheduler) -> st.SearchStrategy[Any]:
    base = s.now if s.now is not None else 0.0
    good = st.sampled_from([base, base + 0.5, base + 1, base + 7, base + 1000])
    bad = st.sampled_from([base - 1, math.nan, math.inf, "5", None, True, 2**53 + 1, 10**400])
    return st.one_of(good, good, good, bad)


def _ids(s: Scheduler) -> st.SearchStrategy[Any]:
    held = sorted([p.job.id for p in s.pending(s.now or 0.0)] + [r.job.id for r in s.running()])
    known = st.sampled_from(held) if held else st.just("j0")
    return st.one_of(known, known, known, st.sampled_from(["ghost", "", 7, None]))


def _job(data: st.DataObject, n: int, now: Any) -> Any:
    at = now if isinstance(now, float) and math.isfinite(now) else 0.0
    return data.draw(st.one_of(
        st.builds(
            lambda p, r, g: Job(id=f"j{n}", submitted_at=at, priority=p, request=r, nodes=g),
            st.sampled_from([0, 5, 50, 100]), st.sampled_from(["gpu=1", "gpu=2", "gpu=0.5", "gpu=8"]),
            st.sampled_from([1, 1, 2]),
        ),
        st.just(Job(id="j0", submitted_at=0)),  # a duplicate, once j0 exists
        st.just(Job(id=f"j{n}", submitted_at=0, priority=500)),  # outside the policy's range
        st.just("not a job"),
    ))


def call(s: Scheduler, data: st.DataObject, name: str, n: int) -> Any:
    """Draw arguments for ``name`` and make the call."""
    now = data.draw(_nows(s))
    if name == "submit":
        return s.submit(_job(data, n, now), now)
    if name == "submit_many":
        jobs = [_job(data, n * 10 + k, now) for k in range(data.draw(st.integers(0, 3)))]
        return s.submit_many(jobs, now)
    if name in ("cancel", "release", "requeue"):
        return getattr(s, name)(data.draw(_ids(s)), now)
    if name == "set_priority":
        return s.set_priority(data.draw(_ids(s)), data.draw(st.sampled_from([0, 60, 99, 101, -1, "x"])), now)
    if name == "add_node":
        node = data.draw(st.sampled_from([Node(id=f"x{n}", capacity="gpu=A100:4"), NODES[0], "node"]))
        return s.add_node(node, now)
    if name == "remove_node":
        return s.remove_node(data.draw(st.sampled_from([n.id for n in s.nodes] + ["nowhere", 3])), now)
    if name == "schedule":
        return s.schedule(now)
    if name == "pending":
        return s.pending(now)
    if name == "explain":
        return s.explain(data.draw(_ids(s)), now)
    if name == "status":
        return s.status(data.draw(_ids(s)), now)
    if name == "unmet_demand":
        return s.unmet_demand(now, waited_over=data.draw(st.sampled_from([None, 0, 5, -1])))
    if name == "pending limit":
        return s.pending(now, limit=data.draw(st.sampled_from([0, 1, 3, -1])))
    if name == "events":
        return s.events(since=data.draw(st.sampled_from([0, 2, 1000])))
    if name in ("running", "terminating", "nominations"):
        return getattr(s, name)()
    if name == "get":
        return s.get(data.draw(_ids(s)))
    if name == "free":
        return s.free(data.draw(st.sampled_from([n.id for n in s.nodes] + ["nowhere"])))
    if name == "nodes":
        return s.nodes
    if name == "now":
        return s.now
    if name == "len":
        return len(s)
    assert name == "contains"
    return data.draw(_ids(s)) in s


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data(), policy=st.sampled_from(POLICIES))
def test_the_clock_moves_only_on_successful_changing_calls(data: st.DataObject, policy: Policy) -> None:
    s = Scheduler(NODES, policy=policy)
    twin = Scheduler(NODES, policy=policy)  # sees only the successful changing calls
    for n in range(data.draw(st.integers(5, 30))):
        name = data.draw(st.sampled_from(sorted(CHANGING) * 2 + READS))
        before = observe(s)
        replay: list[Any] = []
        recorder = _Recorder(data, replay)
        try:
            got = call(s, recorder, name, n)  # type: ignore[arg-type]
        except prioq.PrioqError:
            assert observe(s) == before, f"failed {name} changed something"
            continue
        if name in CHANGING:
            want = call(twin, _Replayer(replay), name, n)  # type: ignore[arg-type]
            assert got == want, name
            assert s.now == replay[0], f"{name} succeeded at {replay[0]} but now is {s.now}"
        else:
            assert observe(s) == before, f"read {name} changed something"
        assert observe(s) == observe(twin)
    s._check()
    assert s.now is None or s._state.queue.active.last_now is None or s._state.queue.active.last_now <= s.now


class _Recorder:
    """Wraps ``st.data()``: records each draw so the twin can replay the same arguments."""

    def __init__(self, data: st.DataObject, log: list[Any]) -> None:
        self.data = data
        self.log = log

    def draw(self, strategy: st.SearchStrategy[Any]) -> Any:
        value = self.data.draw(strategy)
        self.log.append(value)
        return value


class _Replayer:
    def __init__(self, log: list[Any]) -> None:
        self.values = iter(log)

    def draw(self, strategy: st.SearchStrategy[Any]) -> Any:
        return next(self.values)


def test_the_issue_12_sequence() -> None:
    """``pending(200)`` at s.now=100 used to advance the queue's own clock, so a later
    ``schedule(160)`` failed ("earlier than 200.0")."""
    s = Scheduler([Node(id="n", capacity="cpu=4")], policy=Policy(aging=LinearAging(rate=1, max_boost=10)))
    s.submit(Job(id="a", submitted_at=0, request="cpu=8"), 100)
    s.submit(Job(id="b", submitted_at=95, priority=3, request="cpu=8"), 100)
    later = [(p.job.id, p.effective_priority) for p in s.pending(200)]
    assert later == [("b", 13.0), ("a", 10.0)]
    assert "position 1 of 2, effective priority 13" in s.explain("b", 200)
    assert s.now == 100
    assert s.schedule(160) == [] and s.now == 160
    assert [(p.job.id, p.effective_priority) for p in s.pending(160)] == later
    with pytest.raises(prioq.InvalidTime):
        s.pending(150)  # before the clock: the scheduler does not keep its past
    assert s.now == 160


@settings(max_examples=40, deadline=None)
@given(
    subs=st.lists(st.tuples(st.integers(0, 20), st.integers(0, 9)), min_size=1, max_size=12),
    later=st.floats(0, 100, allow_nan=False),
    aging=st.sampled_from([LinearAging(rate=0.5, max_boost=10), StepAging(interval=2, step=3, max_boost=12),
                           LinearAging(rate=1 / 3, max_boost=math.inf)]),
)
def test_a_read_ahead_of_the_clock_equals_the_answer_at_that_clock(
    subs: list[tuple[int, int]], later: float, aging: Any
) -> None:
    """``pending(t)`` computed ahead of the clock (from exact keys, queue untouched) is what
    the scheduler answers once its clock reaches ``t`` (from the queue itself)."""
    s = Scheduler([Node(id="n", capacity="cpu=1")], policy=Policy(aging=aging))
    for i, (at, prio) in enumerate(subs):
        s.submit(Job(id=f"j{i}", submitted_at=at, priority=prio, request="cpu=2"), 20)
    t = 20 + later
    ahead = [(p.job.id, p.effective_priority) for p in s.pending(t)]
    explained = {p.job.id: s.explain(p.job.id, t) for p in s.pending(t)}
    s.schedule(t)
    assert [(p.job.id, p.effective_priority) for p in s.pending(t)] == ahead
    assert {j: s.explain(j, t).split("; ")[1:] for j in explained} == {
        j: e.split("; ")[1:] for j, e in explained.items()
    }
