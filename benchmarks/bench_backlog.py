"""A deep backlog on a full cluster: what one scheduling cycle costs.

The first cycle visits every pending job (as a scheduler without parking would
on every cycle) and parks those that cannot start; later cycles, with nothing
freed, visit only each parked shape's head. Both are measured in one run, as a
ratio. ``--toy`` runs a tiny size (CI).

    python benchmarks/bench_backlog.py --repeat 3
"""

from __future__ import annotations

import argparse
import statistics
import time

import prioq
from prioq import Job, Node, Policy, Scheduler

REQUESTS = ["gpu=1", "gpu=2", "gpu=0.5", "gpu=4", "cpu=4 memory=8GB gpu=1"]


def one(policy: Policy, nodes: int, pending: int) -> tuple[float, float]:
    cluster = [Node(id=f"n{i}", capacity="cpu=64 memory=256GB gpu=A100:8") for i in range(nodes)]
    s = Scheduler(cluster, policy=policy)
    fillers = [Job(id=f"r{i}", submitted_at=0, priority=50, request="gpu=8 cpu=1") for i in range(nodes)]
    s.submit_many(fillers, 0)
    s.schedule(0)
    s.submit_many(
        [Job(id=f"p{i}", submitted_at=i, priority=i % 30, request=REQUESTS[i % 5]) for i in range(pending)],
        pending,
    )
    t0 = time.process_time()
    s.schedule(pending + 1)
    first = time.process_time() - t0
    later = []
    for k in range(5):
        t0 = time.process_time()
        s.schedule(pending + 2 + k)
        later.append(time.process_time() - t0)
    return first, statistics.median(later)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=60)
    ap.add_argument("--pending", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--toy", action="store_true")
    args = ap.parse_args()
    if args.toy:
        args.nodes, args.pending, args.repeat = 4, 200, 1
    policies = {
        "best-effort": Policy(),
        "aging+preemption": Policy(
            aging=prioq.LinearAging(rate=1 / 90, max_boost=40),
            preemption=prioq.Preemption(policy="lower-priority", min_runtime=600),
        ),
    }
    print(f"bench_backlog: {args.nodes} full nodes, {args.pending} pending jobs, "
          f"median of {args.repeat} run(s), cpu time")
    print(f"{'policy':<18} {'first cycle (visits all)':>26} {'later cycles':>14} {'ratio':>8}")
    for name, pol in policies.items():
        runs = [one(pol, args.nodes, args.pending) for _ in range(args.repeat)]
        first = statistics.median(r[0] for r in runs)
        later = statistics.median(r[1] for r in runs)
        ratio = first / max(later, 1e-9)
        print(f"{name:<18} {first * 1000:>23.1f} ms {later * 1000:>11.2f} ms {ratio:>7.0f}x")


if __name__ == "__main__":
    main()
