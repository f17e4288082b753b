"""Preemption: eligibility rules, Kubernetes-style node choice (one scenario per rule), properties."""

from __future__ import annotations

from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

import prioq
from prioq import Job, Node, Preemption, Running
from prioq.placement import NodeIndex, NodeState
from prioq.preemption import Candidate, may_preempt, plan_preemption
from prioq.resources import ResourceRequest, fit

# node id -> list of (job id, priority, gpus, started_at); every node has 4 GPUs
Layout = dict[str, list[tuple[str, int, int, float]]]


def build(layout: Layout, gpus_per_node: int = 4) -> tuple[NodeIndex, dict[str, Candidate]]:
    index = NodeIndex()
    cands: dict[str, Candidate] = {}
    for order, (node_id, jobs) in enumerate(sorted(layout.items())):
        node = Node(id=node_id, capacity=f"cpu=64 memory=256GB gpu=A100:80GB:{gpus_per_node}")
        ns = NodeState(node=node, order=order, free=node.capacity)
        index.add(ns)
        for seq, (job_id, prio, gpus, started) in enumerate(jobs):
            job = Job(id=job_id, submitted_at=started, priority=prio, request=f"gpu={gpus}")
            alloc = fit(job.request, ns.free)
            assert alloc is not None
            index.update(ns, ns.free - alloc)
            ns.jobs.add(job_id)
            running = Running(job=job, node_ids=(node_id,), started_at=started, allocation=(alloc,))
            cands[job_id] = Candidate(running=running, priority=float(prio), seq=order * 100 + seq)
    return index, cands


def plan(
    layout: Layout, want: str, prio: int = 50, now: float = 100, **pol: Any
) -> prioq.preemption.Plan | None:
    index, cands = build(layout)
    preemptor = Job(id="p", submitted_at=now, priority=prio, request=want)
    policy = Preemption(policy=pol.pop("policy", "lower-priority"), **pol)
    return plan_preemption(preemptor, float(prio), 10**6, index, cands, policy, now, lambda ns, a: True)


NODE_CHOICE = [
    pytest.param(
        {"a": [("a1", 10, 4, 0)], "b": [("b1", 5, 4, 0)]}, "gpu=4", "b", ("b1",),
        id="1-lowest-highest-victim-priority",
    ),
    pytest.param(
        {"a": [("a1", 5, 2, 0), ("a2", 5, 2, 0)], "b": [("b1", 5, 2, 0), ("b2", 1, 2, 0)]}, "gpu=4", "b",
        ("b1", "b2"), id="2-smallest-priority-sum",
    ),
    pytest.param(
        {
            "a": [("a1", 1, 1, 0), ("a2", 1, 1, 0), ("a3", 2, 1, 0), ("a4", 2, 1, 0)],
            "b": [("b1", 2, 2, 0), ("b2", 2, 1, 0), ("b3", 2, 1, 0)],
        },
        "gpu=4", "b", ("b1", "b2", "b3"), id="3-fewest-victims",
    ),
    pytest.param(
        {"a": [("a1", 5, 4, 0)], "b": [("b1", 5, 4, 50)]}, "gpu=4", "b", ("b1",),
        id="4-least-lost-gpu-seconds",
    ),
    pytest.param(
        {"a": [("a1", 5, 2, 50), ("a-keep", 60, 2, 0)], "b": [("b1", 5, 1, 0), ("b-keep", 60, 3, 0)]},
        "gpu=2", "a", ("a1",), id="5-latest-start",
    ),
    pytest.param(
        {"a": [("a1", 5, 4, 0)], "b": [("b1", 5, 4, 0)]}, "gpu=4", "a", ("a1",), id="6-node-id",
    ),
]


@pytest.mark.parametrize(("layout", "want", "node", "victims"), NODE_CHOICE)
def test_node_choice_order(layout: Layout, want: str, node: str, victims: tuple[str, ...]) -> None:
    got = plan(layout, want)
    assert got is not None
    assert got.node_ids == (node,)
    assert sorted(got.victims) == sorted(victims)


def test_reprieve_keeps_the_most_important_jobs() -> None:
    # Needs 2 GPUs: all four 1-GPU jobs are eligible; the two most important are reprieved.
    got = plan({"a": [("v10", 10, 1, 0), ("v20", 20, 1, 0), ("v30", 30, 1, 0), ("v40", 40, 1, 0)]}, "gpu=2")
    assert got is not None and sorted(got.victims) == ["v10", "v20"]


def test_reprieve_prefers_keeping_longer_running_jobs_at_equal_priority() -> None:
    got = plan({"a": [("old", 10, 2, 0), ("new", 10, 2, 90)]}, "gpu=2")
    assert got is not None and got.victims == ("new",)


@pytest.mark.parametrize(
    ("layout", "pol", "reason"),
    [
        ({"a": [("eq", 50, 4, 0)]}, {}, "equal priority is never preempted under lower-priority"),
        ({"a": [("hi", 70, 4, 0)]}, {"policy": "lower-or-newer-equal"}, "higher priority"),
        ({"a": [("young", 10, 4, 95)]}, {"min_runtime": 10}, "inside min_runtime"),
        ({"a": [("x", 10, 4, 0)]}, {"policy": "never"}, "policy never"),
        ({"a": [("v1", 10, 1, 0), ("v2", 10, 1, 0), ("v3", 10, 2, 0)]}, {"max_victims": 2}, "max_victims"),
    ],
)
def test_ineligible_victims_are_never_chosen(layout: Layout, pol: dict[str, Any], reason: str) -> None:
    assert plan(layout, "gpu=4", **pol) is None, reason


def test_lower_or_newer_equal_takes_equal_priority_submitted_later_only() -> None:
    _, cands = build({"a": [("newer", 50, 4, 0)]})
    older = Job(id="p", submitted_at=-10, priority=50, request="gpu=4")
    pol = Preemption(policy="lower-or-newer-equal")
    assert may_preempt(pol, older, 50.0, 1, cands["newer"], now=100)
    younger = Job(id="p", submitted_at=10, priority=50, request="gpu=4")
    assert not may_preempt(pol, younger, 50.0, 10**6, cands["newer"], now=100)
    assert not may_preempt(Preemption(policy="lower-priority"), older, 50.0, 1, cands["newer"], now=100)


def test_non_preemptible_jobs_are_never_victims() -> None:
    _, cands = build({"a": [("x", 1, 4, 0)]})
    c = cands["x"]
    locked = Candidate(
        running=Running(job=prioq.Job(id="x", submitted_at=0, priority=1, request="gpu=4", preemptible=False),
                        node_ids=c.running.node_ids, started_at=0, allocation=c.running.allocation),
        priority=1.0, seq=0,
    )
    pre = Job(id="p", submitted_at=0, priority=90, request="gpu=4")
    assert not may_preempt(Preemption(policy="lower-priority"), pre, 90.0, 1, locked, now=100)


# ------------------------------------------------------------------ properties

job_spec = st.tuples(st.integers(0, 100), st.sampled_from([1, 1, 2, 4]), st.integers(0, 100))


@st.composite
def layouts(draw: st.DrawFn) -> Layout:
    n = draw(st.integers(1, 5))
    out: Layout = {}
    k = 0
    for i in range(n):
        jobs = []
        left = 4
        for prio, gpus, started in draw(st.lists(job_spec, max_size=4)):
            if gpus <= left:
                k += 1
                jobs.append((f"j{k}", prio, gpus, float(started)))
                left -= gpus
        out[f"n{i}"] = jobs
    return out


@settings(max_examples=300)
@given(
    layout=layouts(),
    want=st.sampled_from(["gpu=1", "gpu=2", "gpu=3", "gpu=4"]),
    prio=st.integers(0, 100),
    policy=st.sampled_from(["lower-priority", "lower-or-newer-equal"]),
    min_runtime=st.sampled_from([0, 30]),
)
def test_plans_are_sufficient_eligible_minimal_and_deterministic(
    layout: Layout, want: str, prio: int, policy: str, min_runtime: float
) -> None:
    index, cands = build(layout)
    now = 100.0
    pre = Job(id="p", submitted_at=50, priority=prio, request=want)
    pol = Preemption(policy=policy, min_runtime=min_runtime)  # type: ignore[arg-type]
    got = plan_preemption(pre, float(prio), 10**6, index, cands, pol, now, lambda ns, a: True)
    again = plan_preemption(pre, float(prio), 10**6, index, cands, pol, now, lambda ns, a: True)
    assert got == again
    if got is None:
        # Either it fits somewhere without evicting anyone, or no node could take
        # it even after evicting every eligible job there.
        if any(fit(pre.request, ns.free) is not None for ns in index):
            return
        for ns in index:
            free = ns.free
            for j in ns.jobs:
                if may_preempt(pol, pre, float(prio), 10**6, cands[j], now):
                    free = free + cands[j].running.allocation[0]
            assert fit(pre.request, free) is None, f"{ns.id} could host it after evictions"
        return
    (node_id,) = got.node_ids
    ns = index.get(node_id)
    for v in got.victims:
        c = cands[v]
        assert c.running.node_ids == (node_id,)
        assert may_preempt(pol, pre, float(prio), 10**6, c, now)
        assert c.job.priority < prio or (policy == "lower-or-newer-equal" and c.job.priority == prio)
        assert now - c.running.started_at >= min_runtime
    freed = ns.free
    for v in got.victims:
        freed = freed + cands[v].running.allocation[0]
    assert fit(pre.request, freed) is not None, "preemptor must fit once the victims are gone"
    for v in got.victims:
        back = freed - cands[v].running.allocation[0]
        assert fit(pre.request, back) is None, f"victim {v} was not needed"


def test_request_type_is_reused_not_reparsed() -> None:
    # A plan over a ResourceRequest object equals the plan over its spec string.
    index, cands = build({"a": [("x", 1, 4, 0)]})
    req = ResourceRequest.parse("gpu=4")
    pol = Preemption(policy="lower-priority")
    a = plan_preemption(Job(id="p", submitted_at=0, priority=9, request=req), 9.0, 1, index, cands, pol, 100,
                        lambda ns, al: True)
    b = plan_preemption(Job(id="p", submitted_at=0, priority=9, request="gpu=4"), 9.0, 1, index, cands, pol,
                        100, lambda ns, al: True)
    assert a == b and a is not None and a.victims == ("x",) and a.node_ids == ("a",)


def test_a_cycle_never_starts_and_preempts_the_same_job() -> None:
    # Regression: with compare="effective", a requeued job keeps the low priority
    # frozen at its first start while aging moves it ahead in the queue; it used
    # to start and be preempted by a later job within one cycle.
    from prioq import Policy, Scheduler, StepAging

    pol = Policy(
        preemption=Preemption(policy="lower-or-newer-equal", compare="effective", max_victims=3),
        aging=StepAging(interval=5, step=10, max_boost=30),
    )
    s = Scheduler([Node(id="n", capacity="cpu=8 memory=32GB gpu=A100:80GB:2")], policy=pol)
    s.submit(Job(id="A", submitted_at=0, request="gpu=1"), 0)
    s.schedule(0)
    s.requeue("A", 0)
    s.submit(Job(id="B", submitted_at=30, priority=20, request="gpu=2"), 30)
    decisions = s.schedule(30)
    started = {d.job_id for d in decisions if isinstance(d, prioq.Start)}
    preempted = {d.job_id for d in decisions if isinstance(d, prioq.Preempt)}
    assert started == {"A"} and not preempted & started
    s._check()


@settings(max_examples=150)
@given(
    policy=st.sampled_from(["never", "lower-priority", "lower-or-newer-equal"]),
    min_runtime=st.sampled_from([0.0, 5.0, 30.0]),
    victims=st.lists(
        st.tuples(st.integers(0, 4), st.sampled_from([0.0, 1.0, 2.0]), st.integers(0, 3), st.booleans(),
                  st.sampled_from([0.0, 10.0, 25.0]), st.booleans()),
        max_size=8,
    ),
    priority=st.integers(0, 4),
    seq=st.integers(0, 3),
)
def test_eligible_victims_are_exactly_those_may_preempt_allows(
    policy: Any, min_runtime: float, victims: list[tuple[int, float, int, bool, float, bool]],
    priority: int, seq: int,
) -> None:
    # the planner's hot loop (_eligible) inlines may_preempt: the same answer for every victim
    from prioq.preemption import _eligible

    pol = Preemption(policy=policy, min_runtime=min_runtime)
    preemptor = Job(id="p1", submitted_at=1.0, priority=priority)
    on_node: dict[str, Candidate] = {}
    candidates: dict[str, Candidate] = {}
    for i, (prio, sub, vseq, preemptible, started, listed) in enumerate(victims):
        job = Job(id=f"p{i}", submitted_at=sub, priority=prio, preemptible=preemptible)
        alloc = fit(job.request, Node(id="n", capacity="cpu=64").capacity)
        assert alloc is not None
        running = Running(job=job, node_ids=("n",), started_at=started, allocation=(alloc,))
        c = Candidate(running=running, priority=float(prio), seq=vseq)
        on_node[job.id] = c
        if listed:
            candidates[job.id] = c
    now = 30.0
    got = _eligible(on_node, candidates, pol, preemptor, float(priority), seq, now)
    want = [c for j, c in on_node.items()
            if j in candidates and may_preempt(pol, preemptor, float(priority), seq, c, now)]
    assert got == want
