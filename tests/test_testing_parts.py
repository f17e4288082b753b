"""prioq.testing's parts one by one: strategies draw valid values and shrink to small
readable ones, the checkers' messages say what broke, the preemption rule protocol's
built-in rule is exactly the default, and hypothesis is optional."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import attrs
import pytest
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st

import prioq
from prioq import Job, Node, Policy, Preemption, Scheduler
from prioq.preemption import Plan, StandardRule
from prioq.queue import PriorityQueue
from prioq.sim import compare, load_bundled
from prioq.testing import (
    InvariantError,
    check_aging,
    check_preemption_plan,
    check_queue,
    check_scheduler,
    strategies,
    view,
)

# ------------------------------------------------------------------ strategies


@settings(max_examples=40, deadline=None)
@given(strategies.workloads(max_jobs=8))
def test_workloads_are_valid_and_simulate(workload: prioq.sim.Workload) -> None:
    ids = [j.id for j in workload.jobs]
    assert ids == [f"j{i + 1}" for i in range(len(ids))]
    assert all(set(j.after) <= set(ids[: ids.index(j.id)]) for j in workload.jobs)  # only earlier jobs
    assert [j.submitted_at for j in workload.jobs] == sorted(j.submitted_at for j in workload.jobs)
    compare(workload, {"default": Policy()})


@settings(max_examples=40, deadline=None)
@given(strategies.policies(), strategies.clusters(), strategies.requests())
def test_policies_clusters_and_requests_build_a_scheduler(policy: Policy, nodes: list[Node],
                                                          request: prioq.ResourceRequest) -> None:
    s = Scheduler(nodes, policy=policy)
    s.submit(Job(id="j1", submitted_at=0, request=request), 0)
    decisions = s.schedule(0)
    check_scheduler(s)
    assert len(s) == 1  # started or still pending, never lost
    assert [d.job_id for d in decisions] in ([], ["j1"])


def test_strategies_shrink_to_small_readable_examples() -> None:
    quick = settings(max_examples=20, database=None, phases=[Phase.generate, Phase.shrink])
    assert find(strategies.request_specs(), lambda _: True, settings=quick) == "gpu=1"
    assert find(strategies.policies(), lambda _: True, settings=quick) == Policy()
    assert [n.id for n in find(strategies.clusters(), lambda _: True, settings=quick)] == ["n1"]
    gang = find(strategies.jobs(), lambda j: j.nodes > 1, settings=quick)
    assert (gang.id, gang.priority, gang.nodes, str(gang.request)) == ("j1", 0, 2, "gpu=1")
    big = find(strategies.workloads(), lambda w: len(w.jobs) >= 2, settings=quick)
    assert [j.id for j in big.jobs] == ["j1", "j2"] and len(big.nodes) == 1


TRACE_NODES = list(load_bundled("alibaba-openb").nodes)


@settings(max_examples=20, deadline=None)
@given(strategies.trace_clusters(TRACE_NODES, max_size=5))
def test_trace_clusters_are_sub_lists_of_the_trace(nodes: list[Node]) -> None:
    trace = TRACE_NODES
    assert 1 <= len(nodes) <= 5 and [trace.index(n) for n in nodes] == sorted(trace.index(n) for n in nodes)


@settings(max_examples=30, deadline=None)
@given(strategies.aging_policies())
def test_the_built_in_aging_policies_keep_the_contract(aging: prioq.AgingPolicy) -> None:
    check_aging(aging, [0, 0.5, 1, 4.9, 5, 5.1, 10, 19.75, 20, 60, 3600, 1e9])


# ------------------------------------------------------------------ checkers


class _Backwards(PriorityQueue):
    """A queue whose order is reversed: what a broken queue would show."""

    def ordered(self, now: float) -> Iterator[Job]:
        return iter(list(super().ordered(now))[::-1])


def test_check_queue_names_the_first_job_out_of_place() -> None:
    for q in (PriorityQueue(aging=prioq.NoAging()), _Backwards(aging=prioq.NoAging())):
        q.push(Job(id="low", submitted_at=0, priority=1))
        q.push(Job(id="high", submitted_at=0, priority=5))
    check_queue(PriorityQueue(aging=prioq.LinearAging(rate=1, max_boost=3)), 0)
    with pytest.raises(InvariantError, match=r"position 0\): low where the reference has high"):
        check_queue(q, 0)


def test_check_preemption_plan_says_which_victim_outranks_the_preemptor() -> None:
    policy = Policy(preemption=Preemption(policy="lower-priority"))
    s = Scheduler([Node(id="n1", capacity="gpu=A100:2")], policy=policy)
    s.submit_many([Job(id="a", submitted_at=0, priority=10, request="gpu=1"),
                   Job(id="b", submitted_at=0, priority=90, request="gpu=1")], 0)
    s.schedule(0)
    urgent = Job(id="u", submitted_at=1, priority=50, request="gpu=2")
    before = view(s, 1)
    with pytest.raises(InvariantError, match=r"victim b \(priority 90, gpu=1\) does not rank below"):
        check_preemption_plan(urgent, Plan(victims=("a", "b"), node_ids=("n1",)), before)
    with pytest.raises(InvariantError, match="does not fit on node n1 even after its victims stop"):
        check_preemption_plan(urgent, Plan(victims=("a",), node_ids=("n1",)), before)
    small = Job(id="s", submitted_at=1, priority=50, request="gpu=1")
    s.release("b", 1)
    with pytest.raises(InvariantError, match="victim a on n1 is not needed"):
        check_preemption_plan(small, Plan(victims=("a",), node_ids=("n1",)), view(s, 1))


# ------------------------------------------------------------------ the preemption rule protocol


@settings(max_examples=15, deadline=None)
@given(strategies.workloads(max_jobs=12), strategies.preemptions())
def test_the_standard_rule_decides_exactly_as_the_default(workload: prioq.sim.Workload,
                                                          pre: Preemption) -> None:
    """Differential: the built-in rule through the protocol (no caches, no memo) and the
    default fast path take the same decisions on any workload."""
    if not pre.enabled:
        pre = Preemption(policy="lower-priority")
    ruled = attrs.evolve(pre, rule=StandardRule(pre))
    out = compare(workload, {"default": Policy(preemption=pre), "rule": Policy(preemption=ruled)})
    assert out["default"].records == out["rule"].records


def test_a_rule_must_implement_the_protocol() -> None:
    with pytest.raises(prioq.InvalidPolicy, match="does not implement PreemptionRule"):
        Preemption(policy="lower-priority", rule=object())  # type: ignore[arg-type]
    with pytest.raises(prioq.InvalidPolicy):
        Preemption(policy="lower-priority", rule=StandardRule)  # type: ignore[arg-type]  # the class


def test_the_fingerprint_of_a_policy_without_a_rule_is_unchanged() -> None:
    assert "rule" not in repr(Preemption(policy="lower-priority"))


# ------------------------------------------------------------------ hypothesis is optional


def test_without_hypothesis_the_checkers_work_and_the_rest_says_how_to_install() -> None:
    code = (
        "import sys; sys.modules['hypothesis'] = None\n"
        "import prioq.testing as t\n"
        "print(t.check_scheduler.__name__)\n"
        "try:\n    t.strategies\nexcept ImportError as e:\n    print(e)\n"
        "try:\n    t.SchedulerStateMachine\nexcept ImportError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()
    assert lines[0] == "check_scheduler"
    assert all("pip install 'prioq[testing]'" in line for line in lines[1:3]), out


@settings(max_examples=10, deadline=None)
@given(strategies.jobs(group=st.just("g"), labels=st.just({"team": "x"})),
       strategies.nodes(labels=st.just({"zone": "a"})))
def test_jobs_and_nodes_take_strategies_for_other_fields(job: Job, node: Node) -> None:
    assert job.group == "g" and dict(job.labels) == {"team": "x"} and dict(node.labels) == {"zone": "a"}
