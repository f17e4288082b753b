"""Node choice and disruption budgets, rule for rule as Kubernetes' default preemption.

The tables translate kubernetes/pkg/scheduler/framework/plugins/defaultpreemption/
default_preemption_test.go (TestSelectBestCandidate, formerly TestPickOneNodeForPreemption;
TestDryRunPreemption for the PodDisruptionBudget counts) where prioq can express them:
Kubernetes' resources small/medium/large/veryLarge (100/200/300/500 milli-CPU) are 1/2/3/5
CPUs here on 5-CPU nodes; priorities neg/low/mid/high/veryHigh are -100/0/100/1000/10000;
``epochTimeN`` is the instant N. Kubernetes takes "any of" several nodes on a full tie;
prioq breaks it by node id. See docs/preemption.md for the cases not expressible.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

from prioq import Job, Node, Policy, Preempt, Preemption, Running, Scheduler
from prioq.errors import InvalidPolicy, InvalidPolicyType
from prioq.placement import NodeIndex, NodeState
from prioq.preemption import Candidate, Plan, disruptions_allowed, max_disruptions, plan_preemption
from prioq.resources import fit
from prioq.storage.sqlite import SQLiteStore

NEG, LOW, MID, HIGH, VERY_HIGH = -100, 0, 100, 1000, 10000
SMALL, MEDIUM, LARGE, VERY_LARGE = "cpu=1", "cpu=2", "cpu=3", "cpu=5"

# a running job: (id, priority, request, started_at[, group])
Pod = tuple[Any, ...]
Layout = dict[str, list[Pod]]


def build(layout: Layout, capacity: str = "cpu=5 memory=64GB") -> tuple[NodeIndex, dict[str, Candidate]]:
    index = NodeIndex()
    cands: dict[str, Candidate] = {}
    seq = 0
    for order, (node_id, pods) in enumerate(sorted(layout.items())):
        node = Node(id=node_id, capacity=capacity)
        ns = NodeState(node=node, order=order, free=node.capacity)
        index.add(ns)
        for job_id, prio, request, started, *group in pods:
            job = Job(id=job_id, submitted_at=started, priority=prio, request=request,
                      group=group[0] if group else None)
            alloc = fit(job.request, ns.free)
            assert alloc is not None, f"{job_id} does not fit on {node_id}"
            index.update(ns, ns.free - alloc)
            ns.jobs.add(job_id)
            running = Running(job=job, node_ids=(node_id,), started_at=started, allocation=(alloc,))
            cands[job_id] = Candidate(running=running, priority=float(prio), seq=seq)
            seq += 1
    return index, cands


def plan(layout: Layout, want: str, prio: int, capacity: str = "cpu=5 memory=64GB",
         allowed: dict[str, int] | None = None, **pol: Any) -> Plan | None:
    index, cands = build(layout, capacity)
    preemptor = Job(id="p", submitted_at=100, priority=prio, request=want)
    policy = Preemption(policy="lower-priority", **pol)
    return plan_preemption(preemptor, float(prio), 10**6, index, cands, policy, 100.0,
                           lambda ns, a: True, allowed=allowed)


# One case per rule of the default order (node_order="kubernetes"), in rule order.
KUBERNETES_ORDER = [
    # Rule 1, fewest budget violations: node b's victim ranks higher (rule 2 would pick a),
    # but evicting a's victim violates group g's budget (0 disruptions allowed).
    pytest.param({"a": [("a1", LOW, VERY_LARGE, 0, "g")], "b": [("b1", MID, VERY_LARGE, 0)]},
                 VERY_LARGE, HIGH, {"g": 0}, "b", ("b1",), id="1-fewest-budget-violations"),
    # TestPostFilter "pod can be made schedulable on minHighestPriority node": both nodes
    # have one violating victim (a 100%-minAvailable PDB); the tie goes to rule 2.
    pytest.param({"node1": [("p1", HIGH, "cpu=2", 0, "non-violating"), ("p2", LOW, "cpu=3", 0, "violating")],
                  "node2": [("p3", MID, VERY_LARGE, 0, "violating")]},
                 VERY_LARGE, VERY_HIGH, {"violating": 0, "non-violating": 2**31 - 1}, "node2", ("p3",),
                 id="1-tie-then-min-highest-priority (k8s TestPostFilter)"),
    # "node with min highest priority pod is picked"
    pytest.param({"node1": [("p1.1", MID, MEDIUM, 0), ("p1.2", MID, LARGE, 0)],
                  "node2": [("p2.1", MID, MEDIUM, 0), ("p2.2", LOW, MEDIUM, 0)],
                  "node3": [("p3.1", LOW, MEDIUM, 0), ("p3.2", LOW, MEDIUM, 0)]},
                 VERY_LARGE, HIGH, None, "node3", ("p3.1", "p3.2"), id="2-min-highest-priority"),
    # "when highest priorities are the same, minimum sum of priorities is picked"
    pytest.param({"node1": [("p1.1", MID, MEDIUM, 0), ("p1.2", MID, LARGE, 0)],
                  "node2": [("p2.1", MID, LARGE, 0), ("p2.2", LOW, MEDIUM, 0)],
                  "node3": [("p3.1", MID, MEDIUM, 0), ("p3.2", MID, MEDIUM, 0)]},
                 VERY_LARGE, HIGH, None, "node2", ("p2.1", "p2.2"), id="3-min-sum"),
    # "sum of adjusted priorities is considered": node1's raw sum (-100) is the smallest,
    # but adjusted (+2**31 each) its three victims weigh more than node2's two.
    pytest.param({"node1": [("p1.1", MID, SMALL, 0), ("p1.2", NEG, SMALL, 0), ("p1.3", NEG, SMALL, 0)],
                  "node2": [("p2.1", MID, LARGE, 0), ("p2.2", NEG, MEDIUM, 0)],
                  "node3": [("p3.1", MID, MEDIUM, 0), ("p3.2", NEG, SMALL, 0), ("p3.3", LOW, SMALL, 0)]},
                 VERY_LARGE, HIGH, None, "node2", ("p2.1", "p2.2"), id="3-adjusted-sum-negative-priorities"),
    # "non-overlapping lowest high priority, sum priorities, and number of pods"
    pytest.param({"node1": [("p1.1", MID, SMALL, 0), ("p1.2", LOW, SMALL, 0), ("p1.3", LOW, SMALL, 0)],
                  "node2": [("p2.1", HIGH, LARGE, 0)],
                  "node3": [("p3.1", MID, MEDIUM, 0), ("p3.2", LOW, SMALL, 0), ("p3.3", LOW, SMALL, 0),
                            ("p3.4", LOW, SMALL, 0)],
                  "node4": [("p4.1", MID, MEDIUM, 0), ("p4.2", MID, SMALL, 0), ("p4.3", MID, SMALL, 0),
                            ("p4.4", NEG, SMALL, 0)]},
                 VERY_LARGE, VERY_HIGH, None, "node1", ("p1.1", "p1.2", "p1.3"), id="3-non-overlapping"),
    # "when highest priority and sum are the same, minimum number of pods is picked": the raw
    # sums tie at 0; the adjusted sums already prefer node2, as does rule 4.
    pytest.param({"node1": [("p1.1", MID, SMALL, 0), ("p1.2", NEG, SMALL, 0), ("p1.3", MID, SMALL, 0),
                            ("p1.4", NEG, SMALL, 0)],
                  "node2": [("p2.1", MID, LARGE, 0), ("p2.2", NEG, MEDIUM, 0)],
                  "node3": [("p3.1", MID, MEDIUM, 0), ("p3.2", NEG, SMALL, 0), ("p3.3", LOW, SMALL, 0)]},
                 VERY_LARGE, HIGH, None, "node2", ("p2.1", "p2.2"), id="4-fewest-victims"),
    # Rule 4 on its own (adjusted sums equal only when the counts are: 2*LOW+2C == ... is
    # impossible with a different count), so it decides only through rule 3; with equal
    # counts and sums it passes to rule 5 -- covered by the next cases.
    # "same priority, same number of victims, different start time for each node's pod"
    pytest.param({"node1": [("p1.1", MID, MEDIUM, 2), ("p1.2", MID, MEDIUM, 2)],
                  "node2": [("p2.1", MID, MEDIUM, 3), ("p2.2", MID, MEDIUM, 3)],
                  "node3": [("p3.1", MID, MEDIUM, 1), ("p3.2", MID, MEDIUM, 1)]},
                 VERY_LARGE, HIGH, None, "node2", ("p2.1", "p2.2"), id="5-latest-start"),
    # "same priority, same number of victims, different start time for all pods"
    pytest.param({"node1": [("p1.1", MID, MEDIUM, 4), ("p1.2", MID, MEDIUM, 2)],
                  "node2": [("p2.1", MID, MEDIUM, 5), ("p2.2", MID, MEDIUM, 1)],
                  "node3": [("p3.1", MID, MEDIUM, 3), ("p3.2", MID, MEDIUM, 6)]},
                 VERY_LARGE, HIGH, None, "node3", ("p3.1", "p3.2"), id="5-latest-earliest-start"),
    # "different priority, same number of victims, different start time for all pods": only
    # the highest-priority victims' start counts (node2's mid victim started at 6); the
    # earliest start of *all* victims would pick node3.
    pytest.param({"node1": [("p1.1", LOW, MEDIUM, 4), ("p1.2", MID, MEDIUM, 2)],
                  "node2": [("p2.1", MID, MEDIUM, 6), ("p2.2", LOW, MEDIUM, 1)],
                  "node3": [("p3.1", LOW, MEDIUM, 3), ("p3.2", MID, MEDIUM, 5)]},
                 VERY_LARGE, HIGH, None, "node2", ("p2.1", "p2.2"), id="5-start-of-highest-priority-victims"),
    # "a pod that fits on both nodes when lower priority pods are preempted": Kubernetes takes
    # either; prioq the smaller node id.
    pytest.param({"node1": [("p1", MID, LARGE, 0)], "node2": [("p2", MID, LARGE, 0)]},
                 LARGE, HIGH, None, "node1", ("p1",), id="6-node-id"),
]


@pytest.mark.parametrize(("layout", "want", "prio", "budgets", "node", "victims"), KUBERNETES_ORDER)
def test_kubernetes_node_order(layout: Layout, want: str, prio: int, budgets: dict[str, int] | None,
                               node: str, victims: tuple[str, ...]) -> None:
    got = plan(layout, want, prio, allowed=budgets)
    assert got is not None
    assert got.node_ids == (node,)
    assert sorted(got.victims) == sorted(victims)


def test_adjusted_sum_is_exact_for_huge_and_fractional_priorities() -> None:
    # Two victims of -2**40 sum below one of 0 raw and adjusted (2*(2**31 - 2**40) < 2**31):
    # outside Kubernetes' int32 range the adjustment is applied as written, exactly.
    huge: Layout = {"a": [("a1", -(2**40), SMALL, 0), ("a2", -(2**40), "cpu=4", 0)],
                    "b": [("b1", 0, VERY_LARGE, 0)]}
    got = plan(huge, VERY_LARGE, 10)
    assert got is not None and got.node_ids == ("a",)
    # Fractional (effective) priorities are summed exactly too.
    index, cands = build({"a": [("a1", 1, SMALL, 0), ("a2", 1, "cpu=4", 0)], "b": [("b1", 1, VERY_LARGE, 0)]})
    cands = {k: Candidate(running=c.running, priority=c.priority + 0.1, seq=c.seq) for k, c in cands.items()}
    pre = Job(id="p", submitted_at=0, priority=50, request=VERY_LARGE)
    got = plan_preemption(pre, 50.0, 10**6, index, cands, Preemption(policy="lower-priority"), 100.0,
                          lambda ns, a: True)
    assert got is not None and got.node_ids == ("b",)  # one victim beats two of the same priority


# ------------------------------------------------------------------ least-lost-work

GPU_NODE = "cpu=8 memory=64GB gpu=A100:4"


def test_least_lost_work_inserts_the_lost_work_rule_before_the_start_rule() -> None:
    # Equal priorities, sums and counts. a's victims: one started at 90 on 4 GPUs (lost 40
    # GPU-s), b's: one started at 95 on 4 GPUs plus... keep it to one victim each, with
    # different GPU counts so that lost work and start time disagree.
    layout: Layout = {
        "a": [("a1", 5, "gpu=4", 50)],                            # lost 4 * 50 = 200 GPU-s, started 50
        "b": [("b1", 5, "gpu=1", 20), ("b-keep", 60, "gpu=3", 0)],  # lost 1 * 80 = 80 GPU-s, started 20
    }
    k8s = plan(layout, "gpu=1", 50, capacity=GPU_NODE)
    lost = plan(layout, "gpu=1", 50, capacity=GPU_NODE, node_order="least-lost-work")
    assert k8s is not None and k8s.node_ids == ("a",)    # latest start of the highest-priority victims
    assert lost is not None and lost.node_ids == ("b",)  # fewer GPU-seconds lost
    # and rule 1-4 still come first under least-lost-work: a lower victim wins however much it lost
    layout["a"] = [("a1", 4, "gpu=4", 0)]
    lost = plan(layout, "gpu=1", 50, capacity=GPU_NODE, node_order="least-lost-work")
    assert lost is not None and lost.node_ids == ("a",)


def test_early_stop_is_exact_for_both_orders() -> None:
    # Many nodes whose bound (lowest eligible priority) equals the best plan's highest victim:
    # the planner may not stop before them, since a later rule can prefer them.
    layout: Layout = {f"n{i:02d}": [(f"j{i}", 5, "gpu=4", float(i))] for i in range(20)}
    for order in ("kubernetes", "least-lost-work"):
        got = plan(layout, "gpu=4", 50, capacity=GPU_NODE, node_order=order)
        assert got is not None and got.node_ids == ("n19",)  # started last: latest start, least lost


# ------------------------------------------------------------------ disruption budgets


@pytest.mark.parametrize(
    ("layout", "allowed", "violations"),
    [
        # TestDryRunPreemption "preemption with violation of same pdb": two victims of one
        # PDB allowing 1 disruption: the second violates.
        pytest.param({"node1": [("p1.1", MID, MEDIUM, 0, "foo"), ("p1.2", MID, MEDIUM, 0, "foo")]},
                     {"foo": 1}, 1, id="k8s-same-pdb"),
        pytest.param({"node1": [("p1.1", MID, MEDIUM, 0, "foo"), ("p1.2", MID, MEDIUM, 0, "foo")]},
                     {"foo": 2}, 0, id="within-budget"),
        pytest.param({"node1": [("p1.1", MID, MEDIUM, 0, "foo"), ("p1.2", MID, MEDIUM, 0, "bar")]},
                     {"foo": 0, "bar": 0}, 2, id="two-groups"),
        pytest.param({"node1": [("p1.1", MID, MEDIUM, 0, "foo"), ("p1.2", MID, MEDIUM, 0)]},
                     {"foo": 0}, 1, id="ungrouped-never-violates"),
    ],
)
def test_violations_are_counted_as_kubernetes_does(
    layout: Layout, allowed: dict[str, int], violations: int
) -> None:
    got = plan(layout, VERY_LARGE, HIGH, allowed=allowed)
    assert got is not None and got.violations == violations


def test_reprieve_tries_violating_victims_first() -> None:
    # Kubernetes' selectVictimsOnNode reprieves the budget-violating victims before the
    # others: the less important g1 is kept (its eviction would violate) and x goes, where
    # without budgets x (more important) would be kept.
    layout: Layout = {"a": [("g1", 1, "cpu=1", 0, "g"), ("x", 5, "cpu=1", 0)]}
    plain = plan(layout, "cpu=1", 50, capacity="cpu=2 memory=64GB")
    budgeted = plan(layout, "cpu=1", 50, capacity="cpu=2 memory=64GB", allowed={"g": 0})
    assert plain is not None and plain.victims == ("g1",)
    assert budgeted is not None and budgeted.victims == ("x",) and budgeted.violations == 0


def test_filter_walks_victims_by_importance() -> None:
    # filterPodsWithPDBViolation: with 1 disruption allowed, the *most important* eligible
    # member takes it; a less important one violates. Both must go: 1 violation.
    layout: Layout = {"a": [("hi", 20, "cpu=1", 0, "g"), ("lo", 10, "cpu=1", 0, "g")]}
    got = plan(layout, "cpu=2", 50, capacity="cpu=2 memory=64GB", allowed={"g": 1})
    assert got is not None and sorted(got.victims) == ["hi", "lo"] and got.violations == 1


def test_k8s_looks_past_violating_nodes_for_a_non_violating_one() -> None:
    # TestDryRunPreemption "preemption looks past numCandidates until a non-PDB violating
    # node is found" (prioq is exact, so there is no candidate count to look past): p1, p2
    # and p5 belong to a PDB allowing no disruption; the choice is a node without them.
    layout: Layout = {f"node{i}": [(f"p{i}", MID, LARGE, 0, *(("foo",) if i in (1, 2, 5) else ()))]
                      for i in range(1, 6)}
    got = plan(layout, LARGE, HIGH, allowed={"foo": 0})
    assert got is not None and got.node_ids == ("node3",) and got.violations == 0


def test_max_disruptions_rounds_percentages_up() -> None:
    assert max_disruptions(1, 10) == 1
    assert max_disruptions("25%", 4) == 1
    assert max_disruptions("30%", 4) == 2      # ceil(1.2), as Kubernetes rounds maxUnavailable
    assert max_disruptions("0%", 4) == 0
    assert max_disruptions("100%", 3) == 3


def test_disruptions_allowed_counts_terminating_jobs_as_disrupted() -> None:
    pol = Preemption(policy="lower-priority", budgets={"a": 2, "b": "50%"}, default_budget=0)
    jobs = [Job(id=f"a{i}", submitted_at=0, group="a") for i in range(3)]
    jobs += [Job(id=f"b{i}", submitted_at=0, group="b") for i in range(4)]
    jobs += [Job(id="c0", submitted_at=0, group="c"), Job(id="free", submitted_at=0)]
    terminating = {"a0", "b0", "b1", "b2"}
    got = disruptions_allowed(pol, ((j, j.id in terminating) for j in jobs))
    assert got == {"a": 1, "b": 0, "c": 0}  # b: 2 of 4 may be down, 3 are: none left (never < 0)
    assert disruptions_allowed(Preemption(policy="lower-priority"), ((j, False) for j in jobs)) == {}


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"node_order": "random"}, InvalidPolicy),
        ({"node_order": 1}, InvalidPolicyType),
        ({"budgets": {"g": -1}}, InvalidPolicy),
        ({"budgets": {"g": "101%"}}, InvalidPolicy),
        ({"budgets": {"g": "a lot"}}, InvalidPolicy),
        ({"budgets": {"g": 1.5}}, InvalidPolicyType),
        ({"budgets": {"g": True}}, InvalidPolicyType),
        ({"budgets": {"": 1}}, InvalidPolicy),
        ({"budgets": {3: 1}}, InvalidPolicyType),
        ({"budgets": "g=1"}, InvalidPolicyType),
        ({"budgets": [("g", 1), ("g", 2)]}, InvalidPolicy),
        ({"budgets": [("g",)]}, InvalidPolicyType),
        ({"budgets": 5}, InvalidPolicyType),
        ({"default_budget": "50"}, InvalidPolicy),
        ({"default_budget": None, "budgets": {"g": 10**400}}, InvalidPolicy),  # beyond what a store holds
        ({"default_budget": None, "budgets": {"g": 2**40}}, None),
    ],
)
def test_budget_and_order_parameters_are_validated(
    kwargs: dict[str, Any], error: type[Exception] | None
) -> None:
    if error is None:
        Preemption(policy="lower-priority", **kwargs)
        return
    with pytest.raises(error):
        Preemption(policy="lower-priority", **kwargs)


def test_preemption_with_budgets_is_a_hashable_value() -> None:
    a = Preemption(policy="lower-priority", budgets={"x": 1, "y": "25%"})
    b = Preemption(policy="lower-priority", budgets=[("y", "25%"), ("x", 1)])
    assert a == b and hash(a) == hash(b)
    assert a.budget("x") == 1 and a.budget("y") == "25%" and a.budget("z") is None and a.budget(None) is None


# ------------------------------------------------------------------ through the Scheduler


def _budget_cluster(policy: Policy) -> Scheduler:
    """Three 1-GPU nodes: g1, g2 (group g) and y (no group, higher priority)."""
    s = Scheduler([Node(id=f"n{i}", capacity="gpu=A100:1") for i in range(3)], policy=policy)
    s.submit(Job(id="g1", submitted_at=0, priority=1, request="gpu=1", group="g"), 0)
    s.submit(Job(id="g2", submitted_at=0, priority=1, request="gpu=1", group="g"), 0)
    s.submit(Job(id="y", submitted_at=0, priority=10, request="gpu=1"), 0)
    s.schedule(0)
    return s


BUDGET_POLICY = Policy(preemption=Preemption(policy="lower-priority", budgets={"g": 1}))


def test_a_terminating_member_uses_its_groups_budget_within_a_cycle() -> None:
    s = _budget_cluster(BUDGET_POLICY)
    s.submit(Job(id="p1", submitted_at=1, priority=90, request="gpu=1"), 1)
    s.submit(Job(id="p2", submitted_at=1, priority=80, request="gpu=1"), 1)
    preempted = {d.by: d.job_id for d in s.schedule(1) if isinstance(d, Preempt)}
    # p1 takes g's one allowed disruption; for p2 the other member would violate it,
    # so p2 evicts y although y's priority is higher.
    assert preempted == {"p1": "g1", "p2": "y"}


def test_a_terminating_member_uses_its_groups_budget_across_cycles_and_restarts(tmp_path: Path) -> None:
    nodes = [Node(id=f"n{i}", capacity="gpu=A100:1") for i in range(3)]
    s = Scheduler(nodes, policy=BUDGET_POLICY, store=SQLiteStore(tmp_path / "q.db"))
    for job_id, prio, group in (("g1", 1, "g"), ("g2", 1, "g"), ("y", 10, None)):
        s.submit(Job(id=job_id, submitted_at=0, priority=prio, request="gpu=1", group=group), 0)
    s.schedule(0)
    s.submit(Job(id="p1", submitted_at=1, priority=90, request="gpu=1"), 1)
    assert [(d.job_id, d.by) for d in s.schedule(1) if isinstance(d, Preempt)] == [("g1", "p1")]
    s.submit(Job(id="p2", submitted_at=2, priority=80, request="gpu=1"), 2)
    # Budgets persist through the Policy only; what they count (running jobs, the
    # terminating ones) is already in the store: a reopened scheduler decides the same.
    src, dst = sqlite3.connect(tmp_path / "q.db"), sqlite3.connect(tmp_path / "copy.db")
    with closing(src), closing(dst):
        src.backup(dst)
    reopened = Scheduler(policy=BUDGET_POLICY, store=SQLiteStore(tmp_path / "copy.db"))
    # g1 is still terminating: it counts as disrupted, so p2 evicts y rather than g2
    expected = [("y", "p2")]
    assert [(d.job_id, d.by) for d in s.schedule(2) if isinstance(d, Preempt)] == expected
    assert [(d.job_id, d.by) for d in reopened.schedule(2) if isinstance(d, Preempt)] == expected
    # once g1 is gone (released and requeued), g's budget is free again
    s.release("g1", 3)
    s.release("y", 3)
    s.submit(Job(id="p3", submitted_at=3, priority=70, request="gpu=1"), 3)
    assert ("g2", "p3") in [(d.job_id, d.by) for d in s.schedule(3) if isinstance(d, Preempt)]


def test_without_a_budget_the_lower_member_goes() -> None:
    s = _budget_cluster(Policy(preemption=Preemption(policy="lower-priority")))
    s.submit(Job(id="p1", submitted_at=1, priority=90, request="gpu=1"), 1)
    s.submit(Job(id="p2", submitted_at=1, priority=80, request="gpu=1"), 1)
    assert {d.by: d.job_id for d in s.schedule(1) if isinstance(d, Preempt)} == {"p1": "g1", "p2": "g2"}


def test_percentage_budget_through_the_scheduler() -> None:
    # 25% of g's 2 running jobs rounds up to 1, as the int budget above.
    s = _budget_cluster(Policy(preemption=Preemption(policy="lower-priority", default_budget="25%")))
    s.submit(Job(id="p1", submitted_at=1, priority=90, request="gpu=1"), 1)
    s.submit(Job(id="p2", submitted_at=1, priority=80, request="gpu=1"), 1)
    assert {d.by: d.job_id for d in s.schedule(1) if isinstance(d, Preempt)} == {"p1": "g1", "p2": "y"}


# ------------------------------------------------------------------ properties

pod_spec = st.tuples(st.integers(-5, 60), st.sampled_from([1, 1, 2]), st.integers(0, 50),
                     st.sampled_from([None, "g", "h"]))


@st.composite
def grouped_layouts(draw: st.DrawFn) -> Layout:
    out: Layout = {}
    k = 0
    for i in range(draw(st.integers(1, 4))):
        pods: list[Pod] = []
        left = 4
        for prio, gpus, started, group in draw(st.lists(pod_spec, max_size=4)):
            if gpus <= left:
                k += 1
                pods.append((f"j{k}", prio, f"gpu={gpus}", float(started), *((group,) if group else ())))
                left -= gpus
        out[f"n{i}"] = pods
    return out


@settings(max_examples=200, deadline=None)
@given(layout=grouped_layouts(), want=st.sampled_from(["gpu=1", "gpu=2", "gpu=4"]),
       allowed=st.fixed_dictionaries({"g": st.integers(0, 2), "h": st.integers(0, 2)}),
       order=st.sampled_from(["kubernetes", "least-lost-work"]))
def test_budgets_keep_plans_valid_and_prefer_no_violation(
    layout: Layout, want: str, allowed: dict[str, int], order: str
) -> None:
    index, cands = build(layout, GPU_NODE)
    pre = Job(id="p", submitted_at=100, priority=50, request=want)
    pol = Preemption(policy="lower-priority", node_order=order)  # type: ignore[arg-type]

    def run(budget: dict[str, int] | None, nodes: list[NodeState] | None = None) -> Plan | None:
        return plan_preemption(pre, 50.0, 10**6, index, cands, pol, 100.0, lambda ns, a: True,
                               nodes=nodes, allowed=budget)

    got = run(allowed)
    plain = run({})
    assert (got is None) == (plain is None)  # budgets are a preference, never a veto
    if got is None:
        return
    assert got.violations == 0 or all(
        (p := run(allowed, [ns])) is None or p.violations > 0 for ns in index
    ), "a node without violations existed"
    (node_id,) = got.node_ids
    ns = index.get(node_id)
    freed = ns.free
    for v in got.victims:
        assert cands[v].priority < 50 and cands[v].running.node_ids == (node_id,)
        freed = freed + cands[v].running.allocation[0]
    assert fit(pre.request, freed) is not None
    # Kubernetes' count: walk the node's eligible jobs most important first; a budgeted
    # member beyond its group's allowance violates; violations are the victims that do.
    eligible = sorted((cands[j] for j in ns.jobs if cands[j].priority < 50),
                      key=lambda c: (-c.priority, c.running.started_at, c.seq, c.job.id))
    used: dict[str, int] = {}
    violating = set()
    for c in eligible:
        group = c.job.group
        if group is not None:
            used[group] = used.get(group, 0) + 1
            if used[group] > allowed[group]:
                violating.add(c.job.id)
    assert got.violations == len(violating & set(got.victims))
