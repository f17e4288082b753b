"""One preemption decision at scale: prioq's plan vs a naive victim-subset search.

The cluster (seeded ``random.Random``): ``--nodes`` 8-GPU nodes, each fully
busy with eight 1-GPU jobs of random priority (0..99) and random start time.
A preemptor of priority 60 asking for 1, 2, 4 or 8 GPUs arrives; the
preemption policy is ``lower-priority``. Each decision is measured side by
side in one run, on the same state:

* ``plan_preemption`` -- :func:`prioq.preemption.plan_preemption` over the
  node index and the running jobs, with the :class:`~prioq.preemption.CandidateIndex`
  a scheduler keeps up to date (built once, outside the timing, as a scheduler
  maintains it incrementally); the exact planner (Kubernetes' per-node remove-all
  / reprieve selection, then the node-choice order);
* ``sampled`` -- the same with ``Preemption(candidates="sampled")``: only
  max(10% of nodes, 100) nodes from a rotating offset (Kubernetes' sampling); its
  choice may differ from the exact one (it is checked for validity only);
* ``Scheduler.schedule`` -- a full cycle of a :class:`prioq.Scheduler` with
  preemption enabled, holding the same running jobs (restored from a store
  snapshot), that returns the ``Preempt`` decisions;
* ``naive subsets`` -- per node, enumerate subsets of the eligible jobs in
  increasing size until the preemptor fits (:func:`prioq.resources.fit`), keep
  the best subset of that size by the node-choice rules, then pick the node by
  the same rule order.

Sanity: all three choose the same node(s) and victims. Decisions per second =
1 / median seconds per decision. Kubernetes' floor: PreemptionAsync, 570
pods/s at 5,000 nodes.

Run: ``python benchmarks/bench_preemption.py --repeat 5`` (5,000 nodes x 8 jobs);
``--toy`` for a tiny run (CI).
"""

from __future__ import annotations

import argparse
import itertools
import math
import random
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import TypeVar

import attrs

from prioq.model import Job, Node, Preempt, Running
from prioq.placement import NodeIndex, NodeState
from prioq.policy import Policy
from prioq.preemption import Candidate, CandidateIndex, Plan, Preemption, may_preempt, plan_preemption
from prioq.resources import Resources, fit
from prioq.scheduler import Scheduler
from prioq.storage import Changes, JobRow, MemoryStore, NodeRow

__all__ = ["main"]

# CPU time of this process by default: the machine is shared, and wall time would
# count the other processes' turns on the CPU. ``--clock wall`` for elapsed time.
CLOCKS: dict[str, Callable[[], float]] = {"cpu": time.process_time, "wall": time.perf_counter}
CLOCK: list[Callable[[], float]] = [time.process_time]

T = TypeVar("T")

K8S_FLOOR = 570.0  # pods/s, Kubernetes scheduler_perf PreemptionAsync at 5,000 nodes
NODE_SPEC = "cpu=64 memory=512GB gpu=A100:80GB:8"
JOB_SPEC = "cpu=4 memory=32GB gpu=1"
PREEMPTOR_PRIORITY = 60
HORIZON = 3600.0  # jobs started at random instants in [0, HORIZON); decisions are made at HORIZON


@attrs.frozen
class Cluster:
    nodes: tuple[Node, ...]
    # (job, node id, allocation, started_at, seq)
    jobs: tuple[tuple[Job, str, Resources, float, int], ...]


def make_cluster(rng: random.Random, n_nodes: int, per_node: int = 8) -> Cluster:
    nodes = tuple(Node(id=f"n{i:05d}", capacity=NODE_SPEC) for i in range(n_nodes))
    jobs = []
    seq = 0
    for node in nodes:
        free = node.capacity
        for _ in range(per_node):
            started = round(rng.uniform(0, HORIZON), 3)
            job = Job(id=f"j{seq:06d}", submitted_at=started, priority=rng.randrange(100), request=JOB_SPEC)
            alloc = fit(job.request, free)
            assert alloc is not None
            free = free - alloc
            jobs.append((job, node.id, alloc, started, seq))
            seq += 1
    return Cluster(nodes, tuple(jobs))


def candidate_index(index: NodeIndex, cands: dict[str, Candidate]) -> CandidateIndex:
    ci = CandidateIndex()
    for c in cands.values():
        ci.add(c, refile=False)
    for ns in index:
        ci.refile(ns)
    return ci


def bare_state(cluster: Cluster) -> tuple[NodeIndex, dict[str, Candidate]]:
    """The node index and the running jobs as ``plan_preemption`` takes them."""
    index = NodeIndex()
    for order, node in enumerate(cluster.nodes):
        index.add(NodeState(node=node, order=order, free=node.capacity))
    cands: dict[str, Candidate] = {}
    for job, node_id, alloc, started, seq in cluster.jobs:
        ns = index.get(node_id)
        index.update(ns, ns.free - alloc)
        ns.jobs.add(job.id)
        running = Running(job=job, node_ids=(node_id,), started_at=started, allocation=(alloc,))
        cands[job.id] = Candidate(running=running, priority=float(job.priority), seq=seq)
    return index, cands


def scheduler_state(cluster: Cluster, policy: Policy) -> Scheduler:
    """A Scheduler resumed from a store holding the cluster's running jobs (the restart path)."""
    store = MemoryStore()
    rows: dict[str, JobRow | None] = {
        job.id: JobRow(
            job=job, seq=seq, state="running", node_ids=(node_id,), allocation=(alloc,),
            started_at=started, start_priority=float(job.priority),
        )
        for job, node_id, alloc, started, seq in cluster.jobs
    }
    store.commit(Changes(
        jobs=rows,
        nodes={n.id: NodeRow(node=n, order=i) for i, n in enumerate(cluster.nodes)},
        now=HORIZON,
        next_seq=len(cluster.jobs),
        next_order=len(cluster.nodes),
    ))
    return Scheduler(store=store, policy=policy)


# ---------------------------------------------------------------- the naive baseline

Score = tuple[float, int, int, float]


def _score(victims: Sequence[Candidate], now: float) -> Score:
    """The node-choice rules (Kubernetes' order, no budgets here), in order, for one
    node's victims (node id breaks the last tie): highest victim priority, sum of
    priorities each plus 2**31, victim count, -earliest start of the highest-priority victims."""
    if not victims:
        return (-math.inf, 0, 0, -math.inf)
    top = max(c.priority for c in victims)
    return (
        top,
        sum(int(c.priority) + 2**31 for c in victims),
        len(victims),
        -min(c.running.started_at for c in victims if c.priority == top),
    )


def naive_plan(
    preemptor: Job, priority: float, seq: int, index: NodeIndex, cands: Mapping[str, Candidate],
    policy: Preemption, now: float,
) -> Plan | None:
    """Per node, subsets of the eligible jobs by increasing size until the preemptor fits. O(N 2^v)."""
    per_node: list[tuple[Score, str, tuple[str, ...]]] = []
    for ns in index:
        eligible = [
            cands[j] for j in sorted(ns.jobs) if may_preempt(policy, preemptor, priority, seq, cands[j], now)
        ]
        for size in range(len(eligible) + 1):
            best: tuple[Score, tuple[Candidate, ...]] | None = None
            for subset in itertools.combinations(eligible, size):
                free = ns.free
                for c in subset:
                    free = free + c.running.allocation[0]
                if fit(preemptor.request, free) is not None:
                    s = _score(subset, now)
                    if best is None or s < best[0]:
                        best = (s, subset)
            if best is not None:
                per_node.append((best[0], ns.id, tuple(c.job.id for c in best[1])))
                break
    if len(per_node) < preemptor.nodes:
        return None
    per_node.sort()
    chosen = per_node[: preemptor.nodes]
    victims = tuple(dict.fromkeys(v for _, _, vs in chosen for v in vs))
    if not victims:
        return None
    return Plan(victims=victims, node_ids=tuple(sorted(node for _, node, _ in chosen)))


# ---------------------------------------------------------------- measurement


def _timed(fn: Callable[[], T]) -> tuple[float, T]:
    clock = CLOCK[0]
    t0 = clock()
    out = fn()
    return clock() - t0, out


def _always(_ns: NodeState, _alloc: Resources) -> bool:
    return True


@attrs.define
class Timings:
    plan: list[float] = attrs.field(factory=list)
    sampled: list[float] = attrs.field(factory=list)
    naive: list[float] = attrs.field(factory=list)
    sched: list[float] = attrs.field(factory=list)
    problems: list[str] = attrs.field(factory=list)
    plan_result: Plan | None = None


def measure(
    cluster: Cluster, index: NodeIndex, cands: dict[str, Candidate], gpus: int, repeat: int, naive_repeat: int
) -> Timings:
    """One preemptor of ``gpus`` GPUs: each path timed on the same state."""
    now = HORIZON
    pol = Preemption(policy="lower-priority")
    pre = Job(id=f"pre-{gpus}", submitted_at=now, priority=PREEMPTOR_PRIORITY, request=f"cpu=4 gpu={gpus}")
    prio, seq = float(PREEMPTOR_PRIORITY), len(cluster.jobs)
    out = Timings()
    plans = []
    ci = candidate_index(index, cands)
    for _ in range(repeat):
        t, p = _timed(partial(plan_preemption, pre, prio, seq, index, cands, pol, now, _always, cindex=ci))
        out.plan.append(t)
        plans.append(p)
    sampled = attrs.evolve(pol, candidates="sampled")
    for i in range(repeat):
        # a different preemptor sequence number each time: the sample window rotates
        t, p = _timed(partial(plan_preemption, pre, prio, seq + i, index, cands, sampled, now, _always,
                              cindex=ci))
        out.sampled.append(t)
        # sampling may miss every viable node, never find one the exact planner does not
        bad = p is not None and (
            plans[0] is None or not _valid(p, pre, prio, seq + i, index, cands, pol, now))
        if bad:
            out.problems.append(f"sampled plan {p} is not valid")
    ref = out.plan_result = plans[0]
    if any(p != ref for p in plans):
        out.problems.append("plan_preemption is not deterministic")
    for _ in range(naive_repeat):
        t, p = _timed(partial(naive_plan, pre, prio, seq, index, cands, pol, now))
        out.naive.append(t)
        if not _same(p, ref):
            out.problems.append(f"naive chose {p}, plan_preemption {ref}")
    for _ in range(repeat):
        s = scheduler_state(cluster, Policy(preemption=pol))
        s.submit(pre, now)
        t, decisions = _timed(partial(s.schedule, now))
        out.sched.append(t)
        victims = tuple(d.job_id for d in decisions if isinstance(d, Preempt))
        got = Plan(victims=victims, node_ids=s.nominations()[pre.id]) if victims else None
        if not _same(got, ref):
            out.problems.append(f"Scheduler.schedule chose {got}, plan_preemption {ref}")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--nodes", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=3, help="decisions timed per preemptor; medians are shown")
    ap.add_argument("--naive-repeat", type=int, default=1, help="the same for the (slow) naive baseline")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--gpus", default="1,2,4,8", help="preemptor sizes (GPUs), comma-separated")
    ap.add_argument("--clock", choices=sorted(CLOCKS), default="cpu",
                    help="cpu: this process's CPU time (default; robust on a shared machine); wall: elapsed")
    ap.add_argument("--toy", action="store_true", help="tiny sizes (CI)")
    args = ap.parse_args(argv)
    CLOCK[0] = CLOCKS[args.clock]
    if args.toy:
        args.nodes, args.repeat, args.naive_repeat = 40, 1, 1
    sizes = [int(g) for g in args.gpus.split(",")]

    rng = random.Random(args.seed)
    cluster = make_cluster(rng, args.nodes)
    index, cands = bare_state(cluster)
    print(f"prioq bench_preemption: {args.nodes} nodes x 8 running 1-GPU jobs ({len(cluster.jobs)} jobs), "
          f"preemptor priority {PREEMPTOR_PRIORITY}, policy lower-priority, seed {args.seed}; "
          f"medians of {args.repeat} (naive: {args.naive_repeat}) decision(s), {args.clock} time")
    print()
    header = (f"{'preemptor':<10} {'path':<22} {'victims':>7} {'seconds':>9} {'decisions/s':>12} "
              f"{'vs naive':>9}")
    print(header)
    print("-" * len(header))
    failed = False
    for gpus in sizes:
        m = measure(cluster, index, cands, gpus, args.repeat, args.naive_repeat)
        naive_s = statistics.median(m.naive)
        n_victims = 0 if m.plan_result is None else len(m.plan_result.victims)
        for path, times in (("Scheduler.schedule", m.sched), ("plan_preemption", m.plan),
                            ("sampled", m.sampled), ("naive subsets", m.naive)):
            secs = statistics.median(times)
            print(f"{f'gpu={gpus}':<10} {path:<22} {n_victims:>7} {secs:>9.4f} {1 / secs:>12,.1f} "
                  f"{naive_s / secs:>8.1f}x")
        if m.problems:
            failed = True
            for msg in m.problems:
                print(f"  SANITY FAILED: {msg}")
        else:
            where = "no plan" if m.plan_result is None else f"node(s) {', '.join(m.plan_result.node_ids)}"
            print(f"  sanity: all three chose the same victims ({where}); sampled plans valid")
    print()
    print(f"floor: Kubernetes PreemptionAsync {K8S_FLOOR:.0f} pods/s at 5,000 nodes")
    return 1 if failed else 0


def _valid(plan: Plan, pre: Job, prio: float, seq: int, index: NodeIndex, cands: Mapping[str, Candidate],
           pol: Preemption, now: float) -> bool:
    """Victims eligible, and the preemptor fits on its node(s) once they are gone."""
    if not all(may_preempt(pol, pre, prio, seq, cands[v], now) for v in plan.victims):
        return False
    for nid in plan.node_ids:
        ns = index.get(nid)
        free = ns.free
        for v in plan.victims:
            if nid in cands[v].running.node_ids:
                free = free + cands[v].running.allocation_on(nid)
        if fit(pre.request, free) is None:
            return False
    return True


def _same(a: Plan | None, b: Plan | None) -> bool:
    if a is None or b is None:
        return a is b
    return sorted(a.victims) == sorted(b.victims) and sorted(a.node_ids) == sorted(b.node_ids)


if __name__ == "__main__":
    sys.exit(main())
