"""Status reads and the cost of change events (issue 13; docs/orchestrator.md#status).

* ``pending(now)`` (the whole list) against ``pending(now, limit=20)``, and ``status`` of the
  head, the middle and the tail job, on a backlog of ``--jobs`` pending jobs (aging on, a full
  cluster: most jobs parked by shape, as in production); ``queue_view`` whole and with
  ``limit=50`` (a dashboard's refresh);
* ``submit_many`` plus the cycle that starts ``--starts`` jobs on SQLite, with events on
  (the default retention) and off (``event_retention=0``).

    PYTHONPATH=src python benchmarks/bench_status.py [--jobs 5000] [--starts 2000]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable

from prioq import Job, LinearAging, Node, Policy, Scheduler
from prioq.storage import open_store
from prioq.view import queue_view


def best(fn: Callable[[], object], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def backlog(jobs: int) -> Scheduler:
    s = Scheduler([Node(id=f"n{i}", capacity="cpu=64 gpu=A100:8") for i in range(8)],
                  policy=Policy(aging=LinearAging(rate=1 / 60, max_boost=50)))
    shapes = ["gpu=1", "gpu=2", "gpu=4", "cpu=4", "gpu=8"]
    s.submit_many([Job(id=f"j{i}", submitted_at=float(i % 300), priority=i % 50, request=shapes[i % 5])
                   for i in range(jobs)], 300)
    s.schedule(300)
    return s


def reads(jobs: int) -> None:
    s = backlog(jobs)
    now = 400.0
    order = [p.job.id for p in s.pending(now)]
    n = len(order)
    print(f"{n} pending jobs (aging, {len(s.running())} running), at a clock ahead of the queue's and at it:")
    for label, t in (("ahead of the clock", now), ("at the clock", s.now)):
        assert t is not None
        full = best(lambda t=t: s.pending(t))
        top = best(lambda t=t: s.pending(t, limit=20))
        head = best(lambda t=t: s.status(order[0], t))
        mid = best(lambda t=t: s.status(order[n // 2], t))
        tail = best(lambda t=t: s.status(order[-1], t))
        print(f"  {label:>20}: pending() {full * 1e3:7.2f} ms, pending(limit=20) {top * 1e3:6.2f} ms, "
              f"status head/middle/tail {head * 1e3:.2f}/{mid * 1e3:.2f}/{tail * 1e3:.2f} ms")
    whole = best(lambda: queue_view(s), repeat=3)
    shown = best(lambda: queue_view(s, limit=50), repeat=3)
    first = [p.job.id for p in s.pending(s.now or 0.0, 50)]
    assert [p.job_id for p in queue_view(s, limit=50).pending] == first
    print(f"  queue_view at the clock: whole {whole * 1e3:7.1f} ms, limit=50 {shown * 1e3:6.1f} ms "
          f"({whole / shown:.1f}x less)")


def events_cost(starts: int) -> None:
    print(f"submit_many of {starts} jobs + the cycle that starts them, SQLite (median of 3):")
    for retention in (0, 10_000):
        subs, cycles = [], []
        for _ in range(3):
            path = tempfile.mkdtemp() + "/e.db"
            store = open_store(f"sqlite:///{path}")
            s = Scheduler([Node(id=f"n{i}", capacity="cpu=64") for i in range(starts // 64 + 1)],
                          store=store, event_retention=retention)
            jobs = [Job(id=f"j{i}", submitted_at=0, request="cpu=1") for i in range(starts)]
            t = time.perf_counter()
            s.submit_many(jobs, 0)
            subs.append(time.perf_counter() - t)
            t = time.perf_counter()
            got = s.schedule(1)
            cycles.append(time.perf_counter() - t)
            assert len(got) == starts
            store.close()
        label = "events off" if retention == 0 else f"events on (retention {retention})"
        print(f"  {label:>28}: submit_many {statistics.median(subs) * 1e3:7.1f} ms, "
              f"cycle {statistics.median(cycles) * 1e3:7.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=5000)
    ap.add_argument("--starts", type=int, default=2000)
    args = ap.parse_args()
    reads(args.jobs)
    events_cost(args.starts)


if __name__ == "__main__":
    main()
