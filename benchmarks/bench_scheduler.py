"""One scheduling cycle at scale: prioq's indexed placement vs a naive scan of every node.

The workload (seeded ``random.Random``): ``--nodes`` heterogeneous nodes (A100,
H100, V100, L4, T4 and A10G nodes of 1..8 GPUs, with CPU and memory sized per
GPU) and ``--jobs`` pending jobs (fractional 0.25/0.5-GPU, 1, 2, 4 and 8-GPU
requests with CPU and memory, some with a GPU model or memory filter), all
submitted before one cycle. Per placement policy, measured side by side in
one run on the same job order (prioq's scheduling order):

* ``Scheduler.schedule`` -- the facade's cycle (``reservation=False``, so it
  must make exactly the naive scan's choices; and the default policy with
  reservations, reported for information);
* ``NodeIndex + policy`` -- the bare placement path the cycle uses
  (``policy.place(request, index)`` then ``index.update``);
* ``naive scan`` -- for each job, call :func:`prioq.resources.fit` on every
  node and take the best node by the same rule (first-fit stops at the first
  fit). The scan is slow (O(jobs x nodes) ``fit`` calls), so by default it is
  timed on an evenly spaced sample of the jobs, each at the exact cluster state
  the indexed path saw (``--naive-sample 0`` scans for every job). Every
  sampled choice must equal the index's choice (node and devices), and with
  every job scanned the placement counts must be equal: the sanity check.

Placements per second = jobs placed / cycle seconds; for the naive scan the
cycle time is the sampled mean seconds per job times the number of jobs.
Peers' published floors: Kubernetes scheduler_perf 680 pods/s at 5,000 nodes,
Slurm 500 jobs/s. Target: indexed >= 20x the naive scan.

Run: ``python benchmarks/bench_scheduler.py --repeat 3`` (full size:
5,000 nodes, 10,000 jobs); ``--toy`` for a tiny run (CI).
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from prioq.model import Job, Node, Start
from prioq.placement import PLACEMENTS, NodeIndex, NodeState, PlacementPolicy
from prioq.policy import Policy
from prioq.resources import MILLI, Device, ResourceRequest, Resources, fit
from prioq.scheduler import Scheduler

__all__ = ["main"]

# CPU time of this process by default: the machine is shared, and wall time would
# count the other processes' turns on the CPU. ``--clock wall`` for elapsed time.
CLOCKS: dict[str, Callable[[], float]] = {"cpu": time.process_time, "wall": time.perf_counter}
CLOCK: list[Callable[[], float]] = [time.process_time]

K8S_FLOOR = 680.0  # pods/s, Kubernetes scheduler_perf at 5,000 nodes
SLURM_FLOOR = 500.0  # jobs/s
TARGET = 20.0

# (weight, model spec, GPU counts to choose from, cpu per GPU choices, memory GB per GPU choices)
NODE_TYPES: tuple[tuple[int, str, tuple[int, ...], tuple[int, ...], tuple[int, ...]], ...] = (
    (3, "A100:80GB", (8,), (12, 16), (128, 256)),
    (2, "H100:80GB", (8,), (16, 24), (256,)),
    (2, "V100:32GB", (4, 8), (8, 12), (64, 96)),
    (2, "L4:24GB", (1, 4, 8), (8, 16), (64, 128)),
    (2, "T4:16GB", (1, 2, 4), (8, 16), (32, 64)),
    (1, "A10G:24GB", (1, 4), (8, 16), (64, 128)),
)
# (weight, gpu count token); fractions are shares of one device
GPU_SIZES: tuple[tuple[int, str], ...] = (
    (12, "0.25"), (13, "0.5"), (35, "1"), (20, "2"), (12, "4"), (8, "8"),
)
# (weight, filter prefix): most jobs take any GPU
FILTERS: tuple[tuple[int, str], ...] = (
    (60, ""), (12, "A100,H100:"), (10, "24GB..:"), (6, "V100:"), (6, "L4:"), (6, "T4:"),
)


def make_nodes(rng: random.Random, n: int) -> list[Node]:
    weights = [t[0] for t in NODE_TYPES]
    out = []
    for i in range(n):
        _, model, counts, cpus, mems = rng.choices(NODE_TYPES, weights)[0]
        c = rng.choice(counts)
        cap = f"cpu={c * rng.choice(cpus)} memory={c * rng.choice(mems)}GB gpu={model}:{c}"
        out.append(Node(id=f"n{i:05d}", capacity=cap))
    return out


def make_jobs(rng: random.Random, n: int) -> list[Job]:
    """Jobs in prioq's scheduling order (priority desc, submitted_at asc), as submitted."""
    jobs = []
    for i in range(n):
        g = rng.choices([s for _, s in GPU_SIZES], [w for w, _ in GPU_SIZES])[0]
        flt = rng.choices([f for _, f in FILTERS], [w for w, _ in FILTERS])[0]
        scale = max(float(g), 0.5)
        cpu = int(scale * rng.choice((2, 4, 8)))
        mem = int(scale * rng.choice((16, 32, 64)))
        jobs.append(Job(
            id=f"j{i:05d}",
            submitted_at=round(rng.uniform(0, 1000), 3),
            priority=rng.randint(0, 100),
            request=f"cpu={cpu} memory={mem}GB gpu={flt}{g}",
        ))
    jobs.sort(key=lambda j: (-j.priority, j.submitted_at, j.id))
    return jobs


# ---------------------------------------------------------------- the naive scan

Key = Callable[[ResourceRequest, NodeState], tuple[Any, ...]]


def _matching(req: ResourceRequest, ns: NodeState) -> list[Device]:
    assert req.gpu is not None
    return [d for d in ns.free.gpus if req.gpu.matches(d.gpu)]


def _best_key(req: ResourceRequest, ns: NodeState) -> tuple[Any, ...]:
    """best-fit: fewest wholly free matching GPUs / tightest sufficient share / least free CPU."""
    g = req.gpu
    if g is None or g.milli == 0:
        return (ns.free.cpu_milli, ns.order)
    m = _matching(req, ns)
    if g.fractional:
        return (min(d.milli for d in m if d.milli >= g.milli), ns.order)
    return (sum(1 for d in m if d.milli == MILLI), ns.order)


def _spread_key(req: ResourceRequest, ns: NodeState) -> tuple[Any, ...]:
    """spread: most wholly free matching GPUs / largest share / most free CPU."""
    g = req.gpu
    if g is None or g.milli == 0:
        return (-ns.free.cpu_milli, ns.order)  # (the workload has no CPU-only jobs)
    m = _matching(req, ns)
    if g.fractional:
        return (-max(d.milli for d in m), ns.order)
    return (-sum(1 for d in m if d.milli == MILLI), ns.order)


def _first_key(req: ResourceRequest, ns: NodeState) -> tuple[Any, ...]:
    return (ns.order,)


KEYS: dict[str, Key] = {"first-fit": _first_key, "best-fit": _best_key, "spread": _spread_key}

Choice = tuple[NodeState, Resources] | None


def naive_place(name: str, req: ResourceRequest, nodes: Sequence[NodeState]) -> Choice:
    """``fit`` on every node (in node order), then the best by the policy's rule. O(N d)."""
    key = KEYS[name]
    best: tuple[tuple[Any, ...], NodeState, Resources] | None = None
    for ns in nodes:
        alloc = fit(req, ns.free)
        if alloc is None:
            continue
        if name == "first-fit":
            return ns, alloc  # a naive first-fit stops at the first fit (the stronger baseline)
        k = key(req, ns)
        if best is None or k < best[0]:
            best = (k, ns, alloc)
    return None if best is None else (best[1], best[2])


def naive_fgd(policy: PlacementPolicy, req: ResourceRequest, nodes: Sequence[NodeState]) -> Choice:
    """Fragmentation-aware by brute force: ``fit`` on every node, then the FGD score from the
    public formula (no memo, no index), every device tried for a fractional request.
    Max score, ties to the lowest node order, then the lowest device index."""
    from prioq.placement.fragmentation import fgd_score, node_fragmentation

    workload = policy.workload()  # type: ignore[attr-defined]
    best: tuple[float, int, NodeState, Resources] | None = None
    g = req.gpu
    for ns in nodes:
        alloc = fit(req, ns.free)
        if alloc is None:
            continue
        free = ns.free
        before = node_fragmentation(free, workload)
        if g is not None and g.fractional:
            top: tuple[float, Resources] | None = None
            for d in free.gpus:
                if not g.matches(d.gpu) or d.milli < g.milli:
                    continue
                a = attrs.evolve(alloc, gpus=(Device(d.index, d.gpu, g.milli),))
                s = fgd_score(before - node_fragmentation(free - a, workload))
                if top is None or s > top[0]:
                    top = (s, a)
            assert top is not None
            score, alloc = top
        else:
            score = fgd_score(before - node_fragmentation(free - alloc, workload))
        if best is None or score > best[0]:
            best = (score, ns.order, ns, alloc)
    return None if best is None else (best[2], best[3])


# ---------------------------------------------------------------- one measured run


@attrs.define
class Run:
    indexed_s: float = 0.0
    indexed: dict[str, str] = attrs.field(factory=dict)  # job -> node
    naive_s: float = 0.0
    naive_jobs: int = 0
    mismatches: list[str] = attrs.field(factory=list)
    sched_s: float = 0.0
    sched: dict[str, str] = attrs.field(factory=dict)
    sched_res_s: float = 0.0
    sched_res_placed: int = 0


def _describe(c: Choice) -> str:
    if c is None:
        return "nowhere"
    return f"{c[0].id} {sorted((d.index, d.milli) for d in c[1].gpus)}"


def bare_and_naive(name: str, nodes: list[Node], jobs: list[Job], every: int, run: Run) -> None:
    """The bare NodeIndex + policy path; the naive scan on every ``every``-th job, same state."""
    policy = PLACEMENTS[name]()
    index = NodeIndex()
    for order, node in enumerate(nodes):
        index.add(NodeState(node=node, order=order, free=node.capacity))
    for job in jobs:
        policy.observe(job.request)
    states = list(index)
    clock = CLOCK[0]
    for i, job in enumerate(jobs):
        t0 = clock()
        got = policy.place(job.request, index)
        if got is not None:
            index.update(got[0], got[0].free - got[1])
        run.indexed_s += clock() - t0
        if got is not None:
            run.indexed[job.id] = got[0].id
        if i % every == 0:
            if got is not None:  # the naive scan sees the state before this placement
                index.update(got[0], got[0].free + got[1])
            t0 = clock()
            ref = naive_fgd(policy, job.request, states) if name == "fragmentation-aware" else (
                naive_place(name, job.request, states)
            )
            run.naive_s += clock() - t0
            run.naive_jobs += 1
            if got is not None:
                index.update(got[0], got[0].free - got[1])
            if _describe(ref) != _describe(got):
                run.mismatches.append(
                    f"{job.id} {job.request}: index {_describe(got)}, naive {_describe(ref)}"
                )


def scheduler_cycle(
    name: str, nodes: list[Node], jobs: list[Job], reservation: bool
) -> tuple[float, list[Start]]:
    s = Scheduler(nodes, policy=Policy(placement=name, reservation=reservation))
    s.submit_many(jobs, 1000.0)
    clock = CLOCK[0]
    t0 = clock()
    decisions = s.schedule(1000.0)
    elapsed = clock() - t0
    return elapsed, [d for d in decisions if isinstance(d, Start)]


def measure(name: str, nodes: list[Node], jobs: list[Job], every: int) -> Run:
    run = Run()
    bare_and_naive(name, nodes, jobs, every, run)
    run.sched_s, starts = scheduler_cycle(name, nodes, jobs, reservation=False)
    run.sched = {d.job_id: d.node_ids[0] for d in starts}
    if run.sched != run.indexed:
        diff = sorted(set(run.sched.items()) ^ set(run.indexed.items()))[:5]
        run.mismatches.append(f"Scheduler.schedule placed differently from NodeIndex + policy: {diff}")
    run.sched_res_s, starts = scheduler_cycle(name, nodes, jobs, reservation=True)
    run.sched_res_placed = len(starts)
    return run


# ---------------------------------------------------------------- report


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--nodes", type=int, default=5000)
    ap.add_argument("--jobs", type=int, default=10000)
    ap.add_argument("--repeat", type=int, default=1, help="runs per policy; the table shows medians")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--naive-sample", type=int, default=200,
                    help="jobs the naive scan is timed on (evenly spaced); 0 = every job")
    ap.add_argument("--fgd-naive-sample", type=int, default=20,
                    help="the same for the fragmentation-aware brute force (far slower per job)")
    ap.add_argument("--policies", default="", help="comma-separated subset (default: all available)")
    ap.add_argument("--clock", choices=sorted(CLOCKS), default="cpu",
                    help="cpu: this process's CPU time (default; robust on a shared machine); wall: elapsed")
    ap.add_argument("--toy", action="store_true", help="tiny sizes, every job scanned (CI)")
    args = ap.parse_args(argv)
    CLOCK[0] = CLOCKS[args.clock]
    if args.toy:
        args.nodes, args.jobs, args.repeat, args.naive_sample, args.fgd_naive_sample = 60, 150, 1, 0, 0
    names = ["first-fit", "best-fit", "spread"]
    if importlib.util.find_spec("prioq.placement.fragmentation") is not None:
        names.append("fragmentation-aware")
    if args.policies:
        names = [n for n in args.policies.split(",") if n in names]

    rng = random.Random(args.seed)
    nodes = make_nodes(rng, args.nodes)
    jobs = make_jobs(rng, args.jobs)
    gpus = sum(len(n.capacity.gpus) for n in nodes)
    demand = sum(j.request.gpu_milli for j in jobs)  # milli-GPUs, whole devices x 1000
    print(f"prioq bench_scheduler: {len(nodes)} nodes ({gpus} GPUs), {len(jobs)} pending jobs "
          f"(GPU demand {demand / MILLI / gpus:.0%} of capacity), seed {args.seed}, "
          f"median of {args.repeat} run(s), {args.clock} time")
    print()
    header = f"{'policy':<20} {'path':<46} {'placed':>7} {'seconds':>9} {'placements/s':>13} {'vs naive':>9}"
    print(header)
    print("-" * len(header))
    failed = False
    for name in names:
        sample = args.fgd_naive_sample if name == "fragmentation-aware" else args.naive_sample
        every = 1 if sample <= 0 else max(1, len(jobs) // sample)
        runs = [measure(name, nodes, jobs, every) for _ in range(args.repeat)]
        placed = len(runs[0].indexed)
        idx_s = statistics.median(r.indexed_s for r in runs)
        sch_s = statistics.median(r.sched_s for r in runs)
        res_s = statistics.median(r.sched_res_s for r in runs)
        naive_s = statistics.median(r.naive_s / r.naive_jobs for r in runs) * len(jobs)
        mismatches = [m for r in runs for m in r.mismatches]
        scanned = runs[0].naive_jobs
        naive_note = "every job" if scanned == len(jobs) else f"{scanned} of {len(jobs)} jobs, extrapolated"
        rows = [
            ("Scheduler.schedule (reservation=False)", placed, sch_s),
            ("Scheduler.schedule (default Policy)", runs[0].sched_res_placed, res_s),
            ("NodeIndex + policy.place", placed, idx_s),
            (f"naive scan ({naive_note})", placed, naive_s),
        ]
        for path, n_placed, secs in rows:
            ratio = naive_s / secs if secs > 0 else float("inf")
            print(f"{name:<20} {path:<46} {n_placed:>7} {secs:>9.3f} {n_placed / secs:>13,.0f} "
                  f"{ratio:>8.1f}x")
        if mismatches:
            failed = True
            print(f"  SANITY FAILED ({len(mismatches)} differences), e.g.:")
            for m in mismatches[:3]:
                print(f"    {m}")
        else:
            print(f"  sanity: the naive scan chose the same node and devices on all {scanned} scanned jobs;"
                  " Scheduler.schedule made exactly the NodeIndex placements")
    print()
    print(f"floors: Kubernetes scheduler_perf {K8S_FLOOR:.0f} pods/s at 5,000 nodes; "
          f"Slurm {SLURM_FLOOR:.0f} jobs/s; target >= {TARGET:.0f}x the naive scan")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
