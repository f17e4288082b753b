"""A full cluster under contention: what a cycle costs with aging + preemption.

The scenario of issue 11 ("Fast at scale"): ``--nodes`` 8-GPU nodes, every GPU
busy with running jobs of mixed sizes (1, 2 or 4 GPUs) and mixed base
priorities (50..99), and ``--pending`` waiting jobs (1, 2, 4 or 8 GPUs,
priorities 0..55, submitted over the last two hours) under
``LinearAging(rate=1/90, max_boost=40)``. The same scheduler is built twice
(restored from a store snapshot, the restart path), once with
``Preemption(policy="lower-priority")`` and once without preemption, and each
is driven through the same cycles, every one 1 s after the previous:

* ``steady``: a cycle with nothing new to do (the previous cycle saw the same
  state); median of ``--repeat`` such cycles;
* ``after releases``: ``--releases`` running jobs finish, then one cycle (it
  starts jobs on the freed capacity -- aged low-priority jobs among them);
* ``next``: the cycle after that, with nothing new submitted: under preemption
  the jobs it started (aged past higher base priorities) are now candidates, so
  the higher pending jobs preempt them -- the churn that made every cycle plan
  across every node (38 s at this size before issue 11). Its victims are then
  released (requeued), as an orchestrator would, before the next round.

Rounds of (releases, cycle, next cycle) repeat ``--repeat`` times; medians are
shown, in CPU seconds of this process (the machine is shared), with the ratio
of the preemption cycle to the same cycle without preemption. ``--sampled``
adds a third column set with ``Preemption(candidates="sampled")``.

    python benchmarks/bench_contention.py --repeat 3        # 10,000 nodes, 200,000 pending
    python benchmarks/bench_contention.py --toy             # CI
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence

import attrs

import prioq
from prioq import Job, Node, Policy, Preempt, Scheduler, Start
from prioq.resources import Resources, fit
from prioq.storage import Changes, JobRow, MemoryStore, NodeRow

__all__ = ["main"]

CLOCKS: dict[str, Callable[[], float]] = {"cpu": time.process_time, "wall": time.perf_counter}
CLOCK: list[Callable[[], float]] = [time.process_time]

NODE_SPEC = "cpu=64 memory=512GB gpu=A100:80GB:8"
RUN_SPECS = {1: "cpu=4 memory=32GB gpu=1", 2: "cpu=8 memory=64GB gpu=2", 4: "cpu=16 memory=128GB gpu=4"}
PENDING_SPECS = ["cpu=4 memory=32GB gpu=1", "cpu=8 memory=64GB gpu=2", "cpu=16 memory=128GB gpu=4",
                 "cpu=32 memory=256GB gpu=8"]
NOW = 7200.0
AGING = prioq.LinearAging(rate=1 / 90, max_boost=40)


@attrs.frozen
class Scenario:
    nodes: tuple[Node, ...]
    rows: tuple[JobRow, ...]
    next_seq: int


def make_scenario(seed: int, n_nodes: int, n_pending: int) -> Scenario:
    rng = random.Random(seed)
    nodes = tuple(Node(id=f"n{i:05d}", capacity=NODE_SPEC) for i in range(n_nodes))
    rows: list[JobRow] = []
    seq = 0
    for node in nodes:
        free: Resources = node.capacity
        left = 8
        while left:
            gpus = rng.choice([g for g in (1, 2, 4) if g <= left])
            left -= gpus
            started = round(rng.uniform(0, NOW - 1), 3)
            job = Job(id=f"r{seq:07d}", submitted_at=started, priority=rng.randint(50, 99),
                      request=RUN_SPECS[gpus])
            alloc = fit(job.request, free)
            assert alloc is not None
            free = free - alloc
            rows.append(JobRow(job=job, seq=seq, state="running", node_ids=(node.id,), allocation=(alloc,),
                               started_at=started, start_priority=float(job.priority)))
            seq += 1
    for i in range(n_pending):
        submitted = round(rng.uniform(0, NOW - 1), 3)
        job = Job(id=f"p{i:07d}", submitted_at=submitted, priority=rng.randint(0, 55),
                  request=rng.choice(PENDING_SPECS))
        rows.append(JobRow(job=job, seq=seq, state="pending"))
        seq += 1
    return Scenario(nodes, tuple(rows), seq)


def restore(sc: Scenario, policy: Policy) -> Scheduler:
    store = MemoryStore()
    store.commit(Changes(
        jobs={r.job.id: r for r in sc.rows},
        nodes={n.id: NodeRow(node=n, order=i) for i, n in enumerate(sc.nodes)},
        now=NOW, next_seq=sc.next_seq, next_order=len(sc.nodes),
    ))
    return Scheduler(store=store, policy=policy)


@attrs.define
class Result:
    steady: list[float] = attrs.field(factory=list)
    after: list[float] = attrs.field(factory=list)
    nxt: list[float] = attrs.field(factory=list)
    counts: dict[str, list[tuple[int, int]]] = attrs.field(factory=dict)
    setup: float = 0.0


def _timed(fn: Callable[[], list[prioq.Decision]]) -> tuple[float, list[prioq.Decision]]:
    clock = CLOCK[0]
    t0 = clock()
    out = fn()
    return clock() - t0, out


def _count(decisions: Sequence[prioq.Decision]) -> tuple[int, int]:
    return (sum(isinstance(d, Start) for d in decisions), sum(isinstance(d, Preempt) for d in decisions))


def drive(sc: Scenario, policy: Policy, repeat: int, releases: int, seed: int,
          profile: cProfile.Profile | None = None) -> Result:
    """Build the scheduler, settle it, then time steady cycles and rounds of releases."""
    out = Result()
    t0 = CLOCK[0]()
    s = restore(sc, policy)
    now = NOW
    # settle: the first cycle visits every pending job (and parks those that cannot start)
    for _ in range(3):
        now += 1
        s.schedule(now)
    out.setup = CLOCK[0]() - t0
    rng = random.Random(seed + 1)

    def cycle(into: list[float], what: str) -> list[prioq.Decision]:
        nonlocal now
        now += 1
        if profile is not None:
            profile.enable()
        t, decisions = _timed(lambda: s.schedule(now))
        if profile is not None:
            profile.disable()
        into.append(t)
        out.counts.setdefault(what, []).append(_count(decisions))
        return decisions

    for _ in range(repeat):
        cycle(out.steady, "steady")
    for _ in range(repeat):
        stopping = s.terminating()
        running = sorted(r.job.id for r in s.running() if r.job.id not in stopping)
        for job_id in rng.sample(running, min(releases, len(running))):
            now += 0.001
            s.release(job_id, now)
        cycle(out.after, "after releases")
        decisions = cycle(out.nxt, "next")
        for d in decisions:  # the orchestrator stops the victims; they requeue
            if isinstance(d, Preempt):
                now += 0.001
                s.release(d.job_id, now)
        cycle([], "settle")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--nodes", type=int, default=10_000)
    ap.add_argument("--pending", type=int, default=200_000)
    ap.add_argument("--releases", type=int, default=1_000)
    ap.add_argument("--repeat", type=int, default=3, help="steady cycles and release rounds; medians shown")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--sampled", action="store_true", help="also run Preemption(candidates='sampled')")
    ap.add_argument("--profile", action="store_true", help="cProfile the measured cycles with preemption")
    ap.add_argument("--clock", choices=sorted(CLOCKS), default="cpu")
    ap.add_argument("--toy", action="store_true", help="tiny sizes (CI)")
    args = ap.parse_args(argv)
    CLOCK[0] = CLOCKS[args.clock]
    if args.toy:
        args.nodes, args.pending, args.releases, args.repeat = 30, 600, 10, 2
    sc = make_scenario(args.seed, args.nodes, args.pending)
    preempt = prioq.Preemption(policy="lower-priority")
    policies: dict[str, Policy] = {
        "no preemption": Policy(aging=AGING),
        "preemption": Policy(aging=AGING, preemption=preempt),
    }
    if args.sampled:
        policies["sampled"] = Policy(aging=AGING, preemption=attrs.evolve(preempt, candidates="sampled"))
    running = sum(r.state == "running" for r in sc.rows)
    print(f"prioq bench_contention: {args.nodes} full 8-GPU nodes ({running} running jobs, "
          f"priorities 50..99), "
          f"{args.pending} pending (priorities 0..55), LinearAging(1/90, max 40), {args.releases} releases "
          f"per round; medians of {args.repeat}, {args.clock} time, seed {args.seed}")
    results: dict[str, Result] = {}
    prof = cProfile.Profile() if args.profile else None
    for name, pol in policies.items():
        results[name] = drive(sc, pol, args.repeat, args.releases, args.seed,
                              prof if name == "preemption" else None)
        print(f"  {name}: built and settled in {results[name].setup:.1f} s", flush=True)
    print()
    base = results["no preemption"]
    header = f"{'cycle':<16}" + "".join(f"{name + ' (s)':>20}" for name in policies) + "".join(
        f"{name + ' / none':>18}" for name in policies if name != "no preemption")
    print(header)
    print("-" * len(header))
    for label, attr in (("steady", "steady"), ("after releases", "after"), ("next", "nxt")):
        meds = {name: statistics.median(getattr(r, attr)) for name, r in results.items()}
        ratios = "".join(f"{meds[n] / max(meds['no preemption'], 1e-9):>17.1f}x"
                         for n in policies if n != "no preemption")
        print(f"{label:<16}" + "".join(f"{meds[n]:>20.4f}" for n in policies) + ratios)
    print()
    print("decisions per cycle (starts/preempts), per round:")
    for name, r in results.items():
        parts = [f"{what} {' '.join(f'{a}/{b}' for a, b in cs)}" for what, cs in r.counts.items()]
        print(f"  {name}: " + "; ".join(parts))
    del base
    if prof is not None:
        print()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
    return 0


if __name__ == "__main__":
    sys.exit(main())
