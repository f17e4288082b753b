"""Cost of dependencies, priority inheritance and group priorities per operation.

A backlog of ``--jobs`` pending jobs (no cluster capacity free, so nothing starts)
of which a fraction are dependencies, each waited on by ``--fan`` dependants, in
chains of ``--depth``. Measured, each as the mean of ``--ops`` calls:

* ``submit (no after)``: a plain job into the backlog (the hooks' overhead);
* ``submit lifting``: a job of the highest priority waiting on a chain's tail, which
  lifts the whole chain (depth jobs re-queued);
* ``set_priority lifting``: raising a dependant's priority (its chain follows);
* ``cancel a lifter``: the chain falls back (recomputed from the remaining donors);
* ``set_group_priority``: a group of ``--group`` jobs;
* ``schedule``: the first cycle over the backlog (it visits every waiting dependant once,
  and they sleep), then later cycles (they do not visit them).

Times are the process's CPU time per call (``time.process_time``), so a loaded machine
does not inflate them. Run: ``python benchmarks/bench_dependencies.py`` (10^5 jobs);
``--toy`` for a tiny run.
"""

from __future__ import annotations

import argparse
import time

from prioq import Job, LinearAging, Node, Policy, Scheduler


def build(jobs: int, fan: int, depth: int, group: int) -> tuple[Scheduler, list[list[str]]]:
    s = Scheduler([Node(id="n0", capacity="gpu=A100:1")], policy=Policy(aging=LinearAging(rate=0.01,
                                                                                          max_boost=20)))
    s.submit(Job(id="hog", submitted_at=0, priority=100, request="gpu=1"), 0)
    s.schedule(0)
    batch: list[Job] = []
    chains: list[list[str]] = []
    n = 0
    while n < jobs:
        chain = []
        prev: tuple[str, ...] = ()
        for d in range(depth):
            job_id = f"c{n}"
            batch.append(Job(id=job_id, submitted_at=n * 1e-3, priority=d % 10, request="gpu=1", after=prev,
                             group=f"g{n // group}"))
            chain.append(job_id)
            prev = (job_id,)
            n += 1
        for _ in range(fan):
            batch.append(Job(id=f"w{n}", submitted_at=n * 1e-3, priority=5, request="gpu=1",
                             after=(chain[-1],),
                             group=f"g{n // group}"))
            n += 1
        chains.append(chain)
    for i in range(0, len(batch), 10_000):
        s.submit_many(batch[i:i + 10_000], 1)
    return s, chains


def timed(label: str, ops: int, call: object) -> None:
    # CPU time of this process: the figure stays meaningful on a shared, loaded machine
    t0 = time.process_time()
    for i in range(ops):
        call(i)  # type: ignore[operator]
    per = (time.process_time() - t0) / ops
    print(f"{label:28s} {per * 1e6:10.1f} us/op (CPU)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=100_000)
    ap.add_argument("--fan", type=int, default=4)
    ap.add_argument("--depth", type=int, default=5)
    ap.add_argument("--group", type=int, default=100)
    ap.add_argument("--ops", type=int, default=500)
    ap.add_argument("--toy", action="store_true")
    args = ap.parse_args()
    if args.toy:
        args.jobs, args.ops = 2_000, 20
    t0 = time.perf_counter()
    s, chains = build(args.jobs, args.fan, args.depth, args.group)
    print(f"{len(s)} jobs held, {len(chains)} chains of {args.depth} with {args.fan} dependants each; "
          f"built in {time.perf_counter() - t0:.1f} s")
    now = 2.0
    timed("submit (no after)", args.ops, lambda i: s.submit(Job(id=f"p{i}", submitted_at=now, priority=3,
                                                                 request="gpu=1"), now))
    timed("submit lifting", args.ops, lambda i: s.submit(
        Job(id=f"x{i}", submitted_at=now, priority=99, request="gpu=1", after=(chains[i][-1],)), now))
    timed("set_priority lifting", args.ops, lambda i: s.set_priority(f"x{i}", 98, now))
    timed("cancel a lifter", args.ops, lambda i: s.cancel(f"x{i}", now))
    timed("set_group_priority", args.ops, lambda i: s.set_group_priority(f"g{i}", 7, now))
    timed("schedule, first cycle", 1, lambda i: s.schedule(now))  # visits every dependant once
    timed("schedule, later cycles", 5, lambda i: s.schedule(now))  # the dependants sleep


if __name__ == "__main__":
    main()
