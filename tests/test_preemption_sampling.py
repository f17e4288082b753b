"""The indexed exact planner and Kubernetes' candidate sampling (issue 11, "Fast at scale").

On random clusters: the exact planner with the scheduler's CandidateIndex chooses exactly
what the planner without it does (every node bounded); a sampled plan is always valid
(victims eligible and of lower priority, the preemptor fits on its nodes once they are
gone), and finds no plan where the exact planner finds none.
"""

from __future__ import annotations

import random

import attrs
import pytest

from prioq import Job, Node
from prioq.model import Running
from prioq.placement import NodeIndex, NodeState
from prioq.preemption import Candidate, CandidateIndex, Plan, Preemption, may_preempt, plan_preemption
from prioq.resources import fit

SIZES = {1: "cpu=2 gpu=1", 2: "cpu=4 gpu=2", 4: "cpu=8 gpu=4"}


def _always(_ns: NodeState, _alloc: object) -> bool:
    return True


Built = tuple[NodeIndex, dict[str, Candidate], CandidateIndex]


def cluster(seed: int, n_nodes: int, full: bool = False) -> Built:
    rng = random.Random(seed)
    index = NodeIndex()
    cands: dict[str, Candidate] = {}
    seq = 0
    for i in range(n_nodes):
        ns = NodeState(node=Node(id=f"n{i:04d}", capacity="cpu=64 gpu=A100:8"), order=i,
                       free=Node(id="x", capacity="cpu=64 gpu=A100:8").capacity)
        index.add(ns)
        left = 8 if full else rng.randint(0, 8)
        while left > 0:
            g = rng.choice([s for s in SIZES if s <= left])
            left -= g
            job = Job(id=f"j{seq:05d}", submitted_at=0, priority=rng.randint(-3, 12), request=SIZES[g],
                      preemptible=rng.random() > 0.1)
            alloc = fit(job.request, ns.free)
            assert alloc is not None
            index.update(ns, ns.free - alloc)
            ns.jobs.add(job.id)
            started = float(rng.randint(0, 100))
            run = Running(job=job, node_ids=(ns.id,), started_at=started, allocation=(alloc,))
            if job.preemptible:
                cands[job.id] = Candidate(running=run, priority=float(job.priority), seq=seq)
            seq += 1
    ci = CandidateIndex()
    for c in cands.values():
        ci.add(c, refile=False)
    for ns in index:
        ci.refile(ns)
    return index, cands, ci


def valid(plan: Plan, pre: Job, prio: float, seq: int, index: NodeIndex, cands: dict[str, Candidate],
          pol: Preemption, now: float) -> bool:
    if not all(may_preempt(pol, pre, prio, seq, cands[v], now) for v in plan.victims):
        return False
    if not all(cands[v].priority < prio for v in plan.victims):
        return False
    for nid in plan.node_ids:
        free = index.get(nid).free
        for v in plan.victims:
            if nid in cands[v].running.node_ids:
                free = free + cands[v].running.allocation_on(nid)
        if fit(pre.request, free) is None:
            return False
    return len(plan.node_ids) == pre.nodes


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("order", ["kubernetes", "least-lost-work"])
def test_indexed_exact_matches_unindexed_and_sampled_is_valid(seed: int, order: str) -> None:
    rng = random.Random(1000 + seed)
    index, cands, ci = cluster(seed, rng.choice([5, 40, 150]))
    pol = Preemption(policy="lower-priority", node_order=order,  # type: ignore[arg-type]
                     min_runtime=rng.choice([0, 30]))
    sampled = attrs.evolve(pol, candidates="sampled")
    for k in range(8):
        gpus = rng.choice(["gpu=1", "gpu=2", "gpu=3", "gpu=4", "gpu=8", "gpu=0.5", "cpu=8"])
        pre = Job(id=f"pre{k}", submitted_at=100, priority=rng.randint(0, 12), request=gpus,
                  nodes=rng.choice([1, 1, 1, 2]))
        prio, seq, now = float(pre.priority), 10_000 + k, 100.0
        exact = plan_preemption(pre, prio, seq, index, cands, pol, now, _always)
        indexed = plan_preemption(pre, prio, seq, index, cands, pol, now, _always, cindex=ci)
        assert indexed == exact
        got = plan_preemption(pre, prio, seq, index, cands, sampled, now, _always, cindex=ci)
        if got is not None:
            assert exact is not None
            assert valid(got, pre, prio, seq, index, cands, pol, now)
        if len(index) <= 100:
            assert got == exact  # the sample is the whole cluster


def test_sampling_window_rotates_and_is_deterministic() -> None:
    index, cands, ci = cluster(3, 400, full=True)
    pol = Preemption(policy="lower-priority", candidates="sampled")
    pre = Job(id="pre", submitted_at=100, priority=12, request="gpu=1")
    a = [plan_preemption(pre, 12.0, s, index, cands, pol, 100.0, _always, cindex=ci) for s in range(20)]
    b = [plan_preemption(pre, 12.0, s, index, cands, pol, 100.0, _always, cindex=ci) for s in range(20)]
    assert a == b
    assert len({p.node_ids for p in a if p is not None}) > 1


@pytest.mark.parametrize("seed", range(4))
def test_candidate_index_refiled_in_place_equals_one_built_afresh(seed: int) -> None:
    # A refile touches only the levels whose key changed: after removals (stops, victims)
    # and refiles the lists hold exactly what an index built from scratch holds.
    index, cands, ci = cluster(seed, 30)
    ci.ordered(0)  # file everything once
    rng = random.Random(seed)
    for job_id in rng.sample(sorted(cands), len(cands) // 2):
        c = cands.pop(job_id)
        ns = index.get(c.running.node_ids[0])
        index.update(ns, ns.free + c.running.allocation_on(ns.id))
        ci.remove(job_id)
        if rng.random() < 0.5:
            ci.ordered(0)  # some refiles happen between changes, some are batched
    fresh = CandidateIndex()
    for c in cands.values():
        fresh.add(c, refile=False)
    for ns in index:
        fresh.refile(ns)
    for level in range(len(ci._lists)):
        assert list(ci.ordered(level)) == list(fresh.ordered(level))
