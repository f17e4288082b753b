"""Stateful properties of node selection, cordons, drains and time limits, on top of the reopen
oracle (tests/test_reopen_oracle.py): random clusters of labelled and tainted nodes, jobs with
selectors, tolerations, allowed nodes and time limits, and cordon/uncordon/drain calls.

* **selection is never violated**: every ``Start`` puts a job only on nodes a plain reference
  (written here, independently of ``prioq.selection``) finds eligible: selector met, taints
  tolerated, in ``allowed_nodes``, and **not cordoned or drained**;
* **time limits fire exactly once**: a ``Stop`` comes at or after ``started + time_limit``,
  never twice for one start, and by the first cycle at or after the deadline;
* a drain tells each job once, and only jobs running on the drained node;
* a scheduler reopened from its store shows the same state (cordons included) and decides
  exactly as the live one.
"""

from __future__ import annotations

from typing import Any, ClassVar

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import initialize, invariant, rule

from prioq import Decision, Job, LabelRequirement, Node, Preempt, Scheduler, Start, Stop
from test_reopen_oracle import (
    CAPACITIES,
    OWNERS,
    POLICIES,
    REQUESTS,
    ReopenMachine,
)

LABELS: list[dict[str, str]] = [{"fleet": "a"}, {"fleet": "b"}, {"fleet": "a", "zone": "x"}, {}]
TAINTS: list[tuple[str, ...]] = [(), (), ("gpu:NoSchedule",), ("gpu=a100:NoSchedule",)]
SELECTORS: list[Any] = [
    None, None, {"fleet": "a"}, {"fleet": ["a", "b"]},
    [LabelRequirement(key="zone", operator="DoesNotExist")],
    [LabelRequirement(key="fleet", operator="NotIn", values=("a",))],
    [LabelRequirement(key="zone", operator="Exists")],
]
TOLERATIONS: list[tuple[str, ...]] = [(), (), ("gpu",), ("gpu=t4",)]
ALLOWED: list[tuple[str, ...]] = [(), (), (), ("n0", "n1"), ("n2",)]
LIMITS: list[float | None] = [None, None, 3, 10]


def reference_eligible(job: Job, node: Node, cordoned: set[str]) -> bool:
    """Kubernetes' node filters, spelled out plainly."""
    if node.id in cordoned:
        return False
    if job.allowed_nodes and node.id not in job.allowed_nodes:
        return False
    for r in job.node_selector.requirements:
        value = node.labels.get(r.key)
        ok = {
            "In": value is not None and value in r.values,
            "NotIn": value is None or value not in r.values,
            "Exists": value is not None,
            "DoesNotExist": value is None,
        }[r.operator]
        if not ok:
            return False
    for taint in node.taints:
        tolerated = False
        for t in job.tolerations:
            if t.operator == "Exists":
                tolerated |= t.key in ("", taint.key)
            else:
                tolerated |= t.key == taint.key and t.value == taint.value
        if not tolerated:
            return False
    return True


class SelectionMachine(ReopenMachine):
    policy_name: ClassVar[str] = "fifo-best-fit"

    def __init__(self) -> None:
        super().__init__()
        self.told: set[tuple[str, float]] = set()  # (job, started_at) told to stop
        self.last_cycle = -1.0

    def make_node(self, cap: str, labels: int, taints: int) -> Node:
        node = Node(id=f"n{self.n_nodes}", capacity=cap, labels=LABELS[labels], taints=TAINTS[taints])
        self.n_nodes += 1
        return node

    @initialize(nodes=st.lists(st.tuples(st.sampled_from(CAPACITIES), st.integers(0, len(LABELS) - 1),
                                         st.integers(0, len(TAINTS) - 1)), min_size=1, max_size=4))
    def nodes(self, nodes: list[tuple[str, int, int]]) -> None:  # type: ignore[override]
        for cap, labels, taints in nodes:
            self.s.add_node(self.make_node(cap, labels, taints), self.now)

    @rule(cap=st.sampled_from(CAPACITIES), labels=st.integers(0, len(LABELS) - 1),
          taints=st.integers(0, len(TAINTS) - 1))
    def add_node(self, cap: str, labels: int, taints: int) -> None:  # type: ignore[override]
        self.s.add_node(self.make_node(cap, labels, taints), self.now)

    @rule(
        req=st.sampled_from(REQUESTS),
        priority=st.integers(0, 6).map(lambda p: p * 15),
        gang=st.sampled_from([1, 1, 1, 2]),
        duration=st.sampled_from([None, None, 5, 40]),
        count=st.integers(1, 3),
        owner=st.sampled_from(OWNERS),
        selector=st.sampled_from(SELECTORS),
        tolerations=st.sampled_from(TOLERATIONS),
        allowed=st.sampled_from(ALLOWED),
        limit=st.sampled_from(LIMITS),
    )
    def submit(self, req: str, priority: int, gang: int, duration: int | None, count: int,  # type: ignore[override]
               owner: str | None, selector: Any, tolerations: tuple[str, ...], allowed: tuple[str, ...],
               limit: float | None) -> None:
        jobs = []
        for _ in range(count):
            jobs.append(Job(id=f"j{self.n_jobs}", submitted_at=self.now, priority=priority, request=req,
                            nodes=gang, duration=duration, owner=owner, node_selector=selector,
                            tolerations=tolerations, allowed_nodes=allowed, time_limit=limit))
            self.n_jobs += 1
        self.s.submit_many(jobs, self.now)

    def check(self, decisions: list[Decision], now: float) -> None:
        cordoned = set(self.s.cordoned())
        nodes = {n.id: n for n in self.s.nodes}
        for d in decisions:
            if isinstance(d, Start):
                job = self.s.get(d.job_id)
                for nid in d.node_ids:
                    assert reference_eligible(job, nodes[nid], cordoned), (job, nodes[nid], cordoned)
            elif isinstance(d, Stop):
                run = {r.job.id: r for r in self.s.running()}[d.job_id]
                limit = run.job.time_limit
                assert limit is not None and now >= run.started_at + limit
                key = (d.job_id, run.started_at)
                assert key not in self.told, f"time limit of {d.job_id} fired twice"
                self.told.add(key)
        self.last_cycle = now

    def act(self, decisions: list[Decision], prompt: bool, *scheds: Scheduler) -> None:
        for d in decisions:
            if prompt and isinstance(d, Preempt):
                for s in scheds:
                    s.release(d.job_id, self.now)

    @rule(prompt=st.booleans())
    def schedule(self, prompt: bool) -> None:
        decisions = self.s.schedule(self.now)
        self.check(decisions, self.now)
        self.act(decisions, prompt, self.s)

    @rule(data=st.data())
    def cordon(self, data: st.DataObject) -> None:
        self.s.cordon_node(data.draw(st.sampled_from([n.id for n in self.s.nodes])), self.now)

    @rule(data=st.data())
    def uncordon(self, data: st.DataObject) -> None:
        self.s.uncordon_node(data.draw(st.sampled_from([n.id for n in self.s.nodes])), self.now)

    @rule(data=st.data(), prompt=st.booleans())
    def drain(self, data: st.DataObject, prompt: bool) -> None:
        node_id = data.draw(st.sampled_from([n.id for n in self.s.nodes]))
        before = {r.job.id: r for r in self.s.running()}
        already = set(self.s.terminating())
        decisions = self.s.drain_node(node_id, self.now)
        expected = sorted(j for j, r in before.items() if node_id in r.node_ids and j not in already)
        assert sorted(d.job_id for d in decisions) == expected
        assert all(d.reason == "drain" and d.by is None and d.node_ids == before[d.job_id].node_ids
                   for d in decisions)
        assert self.s.cordoned()[node_id] == "drained"
        assert self.s.drain_node(node_id, self.now) == []  # told once
        self.act(list(decisions), prompt, self.s)

    @invariant()
    def time_limits_fire_by_the_first_cycle_after_the_deadline(self) -> None:
        told = self.s.terminating()
        for r in self.s.running():
            limit = r.job.time_limit
            if limit is not None and r.started_at + limit <= self.last_cycle:
                assert r.job.id in told, (r.job.id, r.started_at, limit, self.last_cycle)


def _machine(name: str) -> type[SelectionMachine]:
    return type(f"Selection_{name}", (SelectionMachine,), {"policy_name": name})


SETTINGS = settings(
    max_examples=25, stateful_step_count=35, deadline=None, suppress_health_check=list(HealthCheck)
)
for _name in ("fifo-best-fit", "strict-spread-linear", "first-fit-no-reservation-step", "preempt-base-linear",
              "preempt-newer-effective-step", "fgd-window-preempt", "fair-term-usage-preempt",
              "quota-reclaim-preempt-linear", "fair-quota-preempt"):
    assert _name in POLICIES
    globals()[f"test_selection_{_name.replace('-', '_')}"] = SETTINGS(_machine(_name)).TestCase
