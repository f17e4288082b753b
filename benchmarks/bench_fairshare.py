"""What fair share costs per operation: a deep backlog across many owners, fair share on vs off.

A full cluster holds ``--pending`` jobs (default 10**5) of ``--owners`` owners (default 1,000),
five request shapes and thirty priorities, with usage from earlier runs. Each operation is
timed on the same state with ``Policy(fair_share=None)`` and with ``FairShare(...)`` (order
mode on decayed usage, and term mode), side by side in one run:

* ``submit``: one job at a time;
* ``set_priority`` and ``cancel``: random pending jobs;
* ``schedule (full)``: a cycle that starts nothing (parked shapes; with fair share each
  shape is parked per owner, so a cycle visits one head per (shape, owner));
* ``schedule (starts)``: release running jobs, then one cycle that starts as many; per start.

``--toy`` runs a tiny size (CI). Sanity checks (exit 1): the invariants hold, and with fair
share the jobs a cycle starts come out in the order ``pending()`` listed them.

    python benchmarks/bench_fairshare.py --repeat 3
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
from collections.abc import Callable

from prioq import FairShare, Job, Node, Policy, Scheduler, Start

REQUESTS = ["gpu=1", "gpu=2", "gpu=0.5", "gpu=4", "cpu=4 memory=8GB gpu=1"]


def build(policy: Policy, nodes: int, pending: int, owners: int, seed: int) -> Scheduler:
    """A full cluster (each node's 8 GPUs held by earlier jobs of random owners) and a backlog."""
    rng = random.Random(seed)
    cluster = [Node(id=f"n{i}", capacity="cpu=64 memory=256GB gpu=A100:8") for i in range(nodes)]
    s = Scheduler(cluster, policy=policy)
    # history: every owner ran one job for a while (its usage decays from then)
    hist = [Job(id=f"h{i}", submitted_at=0, owner=f"o{i}", request="gpu=1 cpu=1") for i in range(owners)]
    t = 0.0
    for k in range(0, owners, nodes * 8):
        s.submit_many(hist[k:k + nodes * 8], t)
        s.schedule(t)
        running = [r.job.id for r in s.running()]
        rng.shuffle(running)
        for job_id in running:
            t += rng.randrange(1, 60)
            s.release(job_id, t)
    t += 600
    fillers = [Job(id=f"r{i}", submitted_at=t, priority=50, owner=f"o{rng.randrange(owners)}",
                   request="gpu=1 cpu=1") for i in range(nodes * 8)]
    s.submit_many(fillers, t)
    s.schedule(t)
    jobs = [
        Job(id=f"p{i}", submitted_at=t + 1, priority=rng.randrange(30), request=REQUESTS[i % 5],
            owner=f"o{rng.randrange(owners)}")
        for i in range(pending)
    ]
    s.submit_many(jobs, t + 1)
    s.schedule(t + 2)  # the first cycle visits (and parks) everything
    s.schedule(t + 3)
    return s


def timed(fn: Callable[[], object], count: int) -> float:
    gc.collect()  # a collection of the 10**5 jobs built before must not land in one side's timing
    t0 = time.process_time()
    fn()
    return (time.process_time() - t0) / max(count, 1)


def measure(policy: Policy, args: argparse.Namespace, seed: int) -> tuple[dict[str, float], bool]:
    s = build(policy, args.nodes, args.pending, args.owners, seed)
    rng = random.Random(seed + 1)
    now = [s.now or 0.0]
    k = args.ops

    def tick() -> float:
        now[0] += 1
        return now[0]

    out: dict[str, float] = {}
    new = [Job(id=f"x{i}", submitted_at=now[0] + 1, priority=rng.randrange(30), request=REQUESTS[i % 5],
               owner=f"o{rng.randrange(args.owners)}") for i in range(k)]

    def submit() -> None:
        for job in new:
            s.submit(job, tick())

    out["submit"] = timed(submit, k)
    pend = [p.job.id for p in s.pending(now[0])]
    picks = rng.sample(pend, 2 * k)

    def set_priority() -> None:
        for j in picks[:k]:
            s.set_priority(j, rng.randrange(30), tick())

    out["set_priority"] = timed(set_priority, k)

    def cancel() -> None:
        for j in picks[k:]:
            s.cancel(j, tick())

    out["cancel"] = timed(cancel, k)
    out["schedule (full)"] = statistics.median(timed(lambda: s.schedule(tick()), 1) for _ in range(5))
    # free some GPUs: the cycle starts jobs in order
    frees = [r.job.id for r in s.running()][: args.starts]
    t = tick()
    for j in frees:
        s.release(j, t)
    expected = [p.job.id for p in s.pending(t)]
    gc.collect()
    t0 = time.process_time()
    decisions = s.schedule(t)
    started = [d.job_id for d in decisions if isinstance(d, Start)]
    out["schedule (per start)"] = (time.process_time() - t0) / max(len(started), 1)
    s._check()
    # sanity: the starts are a subsequence of pending()'s order
    pos = {j: i for i, j in enumerate(expected)}
    ok = bool(started) and [pos[j] for j in started] == sorted(pos[j] for j in started)
    return out, ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=200)
    ap.add_argument("--pending", type=int, default=100_000)
    ap.add_argument("--owners", type=int, default=1000)
    ap.add_argument("--ops", type=int, default=2000)
    ap.add_argument("--starts", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--toy", action="store_true")
    args = ap.parse_args()
    if args.toy:
        args.nodes, args.pending, args.owners, args.ops, args.starts, args.repeat = 4, 400, 20, 50, 8, 1
    policies = {
        "off": Policy(),
        "order (usage)": Policy(fair_share=FairShare()),
        "term (usage)": Policy(fair_share=FairShare(mode="term")),
    }
    print(f"bench_fairshare: {args.nodes} full nodes, {args.pending} pending jobs of {args.owners} owners, "
          f"{args.ops} ops each, median of {args.repeat} run(s), cpu time per operation")
    results: dict[str, dict[str, float]] = {}
    sane = True
    for name, pol in policies.items():
        runs = []
        for r in range(args.repeat):
            got, ok = measure(pol, args, seed=r)
            runs.append(got)
            sane &= ok or name == "off"
        results[name] = {op: statistics.median(run[op] for run in runs) for op in runs[0]}
    ops = list(results["off"])
    print(f"{'operation':<22}" + "".join(f"{name:>16}" for name in policies) + "   ratio (worst on / off)")
    for op in ops:
        cells = "".join(f"{results[name][op] * 1e6:>13.1f} us" for name in policies)
        worst = max(results[name][op] for name in policies if name != "off") / max(results["off"][op], 1e-12)
        print(f"{op:<22}{cells}   {worst:>6.2f}x")
    if not sane:
        print("SANITY FAILED: a cycle started jobs out of pending() order")
        return 1
    print("sanity: invariants hold; each cycle's starts follow pending() order")
    return 0


if __name__ == "__main__":
    sys.exit(main())
