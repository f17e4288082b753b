"""Benchmark: prioq.PriorityQueue against pure-Python baselines, side by side in one run.

For each size n (queued jobs) it times, with the same seeded workload:

* ``pop``: ``min(--pops, n)`` pops from a queue holding n + pops jobs at the start (so
  between n and 2n), while ``now`` advances;
* ``mix``: 40% push / 40% pop / 10% remove / 9% contains / 1% first-10 of the order;

for these queues:

* ``prioq linear``: ``PriorityQueue(LinearAging(rate=1/60, max_boost=50))`` (capped: a point
  per minute of waiting, at most 50, reached after 50 minutes), plus ``prioq none`` and
  ``prioq step`` (``StepAging(600, 10, 50)``) for reference;
* ``heapq``: a heap of ``(-priority, seq, job)`` tuples with lazy deletion, no aging: the
  pure-Python floor;
* ``queue.PriorityQueue``: the standard library's locked heap, same tuples, no aging;
* ``naive re-sort``: recomputes every effective priority and sorts on each pop (what a
  periodic recompute costs when done per decision). Too slow to run long: it is timed over
  a few pops only and its rates are extrapolated from those per-op costs (marked ``~``);
* ``rebuild every K``: a heap keyed by effective priority at the last rebuild, recomputed
  and re-heapified every K pops (fast but its order is stale between rebuilds).

Time advances 1 s per operation; prefilled jobs were submitted uniformly over the past
2.5 s per job (the mix's arrival rate: the queue's steady-state history), pushed jobs at
the current ``now`` (passed to ``push``, as a scheduler's ``submit(job, now)`` would);
priorities are uniform in 0..100. Every figure
is the median of ``--repeat`` runs of CPU time (``time.process_time``: the machine is shared,
and CPU time is not inflated by waiting for a core); ratios compare runs made in this same
process, the implementations interleaved within each repetition. At the
largest size it also reports tracemalloc bytes per queued job (queue structures only; the
Job objects are built before tracing starts).

    python benchmarks/bench_queue.py                 # full run (several minutes)
    python benchmarks/bench_queue.py --toy           # seconds; what CI runs
    python benchmarks/bench_queue.py --sizes 1000,100000 --repeat 5
"""

from __future__ import annotations

import argparse
import gc
import heapq
import itertools
import queue
import random
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

from prioq import Job, ResourceRequest
from prioq.queue import PriorityQueue
from prioq.queue.aging import AgingPolicy, LinearAging, NoAging, StepAging

RATE, MAX_BOOST = 1 / 60, 50.0
LINEAR = LinearAging(rate=RATE, max_boost=MAX_BOOST)
STEP = StepAging(interval=600, step=10, max_boost=50)
PUSH, POP, REMOVE, CONTAINS, FIRST = range(5)
MIX = [PUSH] * 40 + [POP] * 40 + [REMOVE] * 10 + [CONTAINS] * 9 + [FIRST]
DT = 1.0


def _boost(now: float, s: float) -> float:
    return min(RATE * max(0.0, now - s), MAX_BOOST)


# ---------------------------------------------------------------------------- queues under test


class Prioq:
    def __init__(self, aging: AgingPolicy) -> None:
        self.q = PriorityQueue(aging=aging)
        self.pop = self.q.pop
        self.remove = self.q.remove
        self.contains = self.q.__contains__

    def push(self, job: Job, now: float) -> None:
        self.q.push(job, now=now)

    def first(self, now: float, k: int = 10) -> list[Job]:
        return list(itertools.islice(self.q.ordered(now), k))

    def warm(self, now: float) -> None:
        self.q.peek(now)  # process the prefill's aging events outside the timed region


def _walk(heap: list[Any], live: dict[str, Any], k: int) -> list[Job]:
    """First k live entries of a lazy-deletion heap, best-first, without popping."""
    out: list[Job] = []
    frontier = [(heap[0], 0)] if heap else []
    n = len(heap)
    while frontier and len(out) < k:
        entry, i = heapq.heappop(frontier)
        for c in (2 * i + 1, 2 * i + 2):
            if c < n:
                heapq.heappush(frontier, (heap[c], c))
        if live.get(entry[-1].id) is entry:
            out.append(entry[-1])
    return out


class Heapq:
    """(-priority, seq, job) tuples, lazy deletion; no aging (the floor)."""

    def __init__(self) -> None:
        self.heap: list[tuple[int, int, Job]] = []
        self.live: dict[str, tuple[int, int, Job]] = {}
        self.seq = itertools.count()

    def push(self, job: Job, now: float) -> None:
        entry = (-job.priority, next(self.seq), job)
        self.live[job.id] = entry
        heapq.heappush(self.heap, entry)

    def pop(self, now: float) -> Job:
        heap, live = self.heap, self.live
        while True:
            entry = heapq.heappop(heap)
            job = entry[2]
            if live.get(job.id) is entry:
                del live[job.id]
                return job

    def remove(self, job_id: str) -> None:
        del self.live[job_id]

    def contains(self, job_id: str) -> bool:
        return job_id in self.live

    def first(self, now: float, k: int = 10) -> list[Job]:
        return _walk(self.heap, self.live, k)

    def warm(self, now: float) -> None:
        pass


class StdlibQueue(Heapq):
    """queue.PriorityQueue (a lock around heapq) with the same tuples and lazy deletion."""

    def __init__(self) -> None:
        super().__init__()
        self.q: queue.PriorityQueue[tuple[int, int, Job]] = queue.PriorityQueue()

    def push(self, job: Job, now: float) -> None:
        entry = (-job.priority, next(self.seq), job)
        self.live[job.id] = entry
        self.q.put_nowait(entry)

    def pop(self, now: float) -> Job:
        live, get = self.live, self.q.get_nowait
        while True:
            entry = get()
            job = entry[2]
            if live.get(job.id) is entry:
                del live[job.id]
                return job

    def first(self, now: float, k: int = 10) -> list[Job]:
        return _walk(self.q.queue, self.live, k)  # type: ignore[arg-type]


class NaiveResort:
    """Recompute every effective priority and sort, on each pop: O(n log n) per decision."""

    def __init__(self) -> None:
        self.jobs: dict[str, tuple[Job, int]] = {}
        self.seq = itertools.count()

    def push(self, job: Job, now: float) -> None:
        self.jobs[job.id] = (job, next(self.seq))

    def _sorted(self, now: float) -> list[tuple[Job, int]]:
        return sorted(
            self.jobs.values(),
            key=lambda js: (-(js[0].priority + _boost(now, js[0].submitted_at)), js[0].submitted_at, js[1]),
        )

    def pop(self, now: float) -> Job:
        job = self._sorted(now)[0][0]
        del self.jobs[job.id]
        return job

    def remove(self, job_id: str) -> None:
        del self.jobs[job_id]

    def contains(self, job_id: str) -> bool:
        return job_id in self.jobs

    def first(self, now: float, k: int = 10) -> list[Job]:
        return [j for j, _ in self._sorted(now)[:k]]

    def warm(self, now: float) -> None:
        pass


class RebuildEveryK(Heapq):
    """A heap keyed by effective priority when keyed; all keys recomputed every K pops (stale between)."""

    def __init__(self, k: int) -> None:
        super().__init__()
        self.k = k
        self.pops = 0
        self.now = 0.0

    def push(self, job: Job, now: float) -> None:
        self.now = now
        eff = job.priority + _boost(now, job.submitted_at)
        entry = (-eff, job.submitted_at, next(self.seq), job)
        self.live[job.id] = entry  # type: ignore[assignment]
        heapq.heappush(self.heap, entry)  # type: ignore[arg-type]

    def pop(self, now: float) -> Job:
        self.now = now
        self.pops += 1
        if self.pops % self.k == 0:
            self.rebuild(now)
        heap, live = self.heap, self.live
        while True:
            entry = heapq.heappop(heap)
            job = entry[-1]
            if live.get(job.id) is entry:  # type: ignore[union-attr]
                del live[job.id]  # type: ignore[union-attr]
                return job  # type: ignore[return-value]

    def rebuild(self, now: float) -> None:
        self.heap = [
            (-(j.priority + _boost(now, j.submitted_at)), j.submitted_at, seq, j)  # type: ignore[misc]
            for (_, _, seq, j) in self.live.values()  # type: ignore[misc]
        ]
        heapq.heapify(self.heap)
        self.live = {e[-1].id: e for e in self.heap}  # type: ignore[misc, union-attr]

    def warm(self, now: float) -> None:
        self.now = now
        self.rebuild(now)


# ---------------------------------------------------------------------------- workload


class Workload:
    """Jobs and an op sequence, built once per size from a seed and shared by every queue."""

    def __init__(self, n: int, ops: int, pops: int, seed: int) -> None:
        rng = random.Random(seed)
        request = ResourceRequest()  # one shared request: the bench measures the queue, not jobs
        self.n = n
        prefill = n + pops
        # A steady queue's history: one arrival per 2.5 s, the mix's arrival rate (40% of ops).
        span = 2.5 * DT * prefill
        times = sorted(rng.uniform(-span, 0.0) for _ in range(prefill))
        self.prefill = [
            Job(id=f"p{i}", submitted_at=t, priority=rng.randrange(101), request=request)
            for i, t in enumerate(times)
        ]
        self.pops = pops
        kinds = [rng.choice(MIX) for _ in range(ops)]
        ids = [j.id for j in self.prefill[:n]]
        self.ops: list[tuple[int, Any, float]] = []
        pushed = 0
        for i, kind in enumerate(kinds):
            now = (i + 1) * DT
            if kind == PUSH:
                job = Job(id=f"n{pushed}", submitted_at=now, priority=rng.randrange(101), request=request)
                pushed += 1
                ids.append(job.id)
                self.ops.append((PUSH, job, now))
            elif kind in (REMOVE, CONTAINS):
                self.ops.append((kind, ids[rng.randrange(len(ids))], now))
            else:
                self.ops.append((kind, None, now))


def fill(make: Callable[[], Any], jobs: list[Job]) -> Any:
    impl = make()
    push = impl.push
    for job in jobs:
        push(job, 0.0)
    impl.warm(0.0)
    return impl


def time_pops(impl: Any, count: int) -> float:
    pop = impl.pop
    now = 0.0
    gc.collect()
    start = time.process_time()
    for _ in range(count):
        now += DT
        pop(now)
    return time.process_time() - start


def time_mix(impl: Any, ops: list[tuple[int, Any, float]]) -> float:
    push, pop, remove, contains, first = impl.push, impl.pop, impl.remove, impl.contains, impl.first
    gc.collect()
    start = time.process_time()
    for kind, arg, now in ops:
        if kind == PUSH:
            push(arg, now)
        elif kind == POP:
            pop(now)
        elif kind == REMOVE:
            if contains(arg):
                remove(arg)
        elif kind == CONTAINS:
            contains(arg)
        else:
            first(now)
    return time.process_time() - start


def implementations(k: int) -> dict[str, Callable[[], Any]]:
    return {
        "prioq linear": lambda: Prioq(LINEAR),
        "prioq step": lambda: Prioq(STEP),
        "prioq none": lambda: Prioq(NoAging()),
        "heapq": Heapq,
        "queue.PriorityQueue": StdlibQueue,
        f"rebuild every {k}": lambda: RebuildEveryK(k),
        "naive re-sort": NaiveResort,
    }


def naive_rates(w: Workload, budget: float) -> tuple[float, float, bool]:
    """(pop/s, mix ops/s, extrapolated) of the naive re-sort from a few timed operations.

    Its pops and first-10s each sort the whole queue; it times as many pops as fit the
    budget (at least one) and one first-10, times the cheap ops over a sample, and
    extrapolates the mix rate from these per-kind costs and the mix's op counts.
    """
    impl = fill(NaiveResort, w.prefill[: w.n])
    probe = time_pops(impl, 1)
    count = max(1, min(w.pops, w.n, int(budget / max(probe, 1e-9))))
    impl = fill(NaiveResort, w.prefill[: w.n + count])
    pop_cost = time_pops(impl, count) / count
    impl = fill(NaiveResort, w.prefill[: w.n])
    start = time.process_time()
    impl.first(0.0)
    first_cost = time.process_time() - start
    cheap = [op for op in w.ops if op[0] in (PUSH, REMOVE, CONTAINS)][:2000]
    cheap_cost = time_mix(impl, cheap) / max(1, len(cheap))
    kinds = [op[0] for op in w.ops]
    total = (
        kinds.count(POP) * pop_cost
        + kinds.count(FIRST) * first_cost
        + (len(kinds) - kinds.count(POP) - kinds.count(FIRST)) * cheap_cost
    )
    return 1 / pop_cost, len(kinds) / total, count < min(w.pops, w.n)


def bench_size(w: Workload, repeat: int, k: int, naive_budget: float) -> dict[str, dict[str, Any]]:
    pop_rates: dict[str, list[float]] = {}
    mix_rates: dict[str, list[float]] = {}
    mark: dict[str, str] = {}
    # Interleave the implementations within each repetition so load swings hit them alike.
    for _ in range(repeat):
        for name, make in implementations(k).items():
            if make is NaiveResort:
                # Always marked: its mix rate is an estimate from per-operation costs.
                pop_rate, mix_rate, _ = naive_rates(w, naive_budget)
                mark[name] = "~"
            else:
                pops, ops = min(w.pops, w.n), w.ops  # pops from about n queued (n + pops .. n)
                if name.startswith("rebuild"):
                    # O(n) every k pops: time 10 rebuilds' worth at most (still whole periods).
                    pops = min(pops, max(10 * k, w.pops * 10_000 // w.n))
                    ops = ops[: round(len(ops) * pops / min(w.pops, w.n))]
                mark[name] = "*" if pops < min(w.pops, w.n) else ""
                impl = fill(make, w.prefill[: w.n + pops])
                pop_rate = pops / time_pops(impl, pops)
                impl = fill(make, w.prefill[: w.n])
                mix_rate = len(ops) / time_mix(impl, ops)
                del impl
            pop_rates.setdefault(name, []).append(pop_rate)
            mix_rates.setdefault(name, []).append(mix_rate)
    return {
        name: {
            "pop": statistics.median(pop_rates[name]),
            "mix": statistics.median(mix_rates[name]),
            "mark": mark[name],
        }
        for name in pop_rates
    }


def exactness_cost(number: int) -> dict[str, tuple[float, float]]:
    """ns per call, exact vs plain float, of the two places exactness costs something.

    * ranking the growing heap's top against the static heap's top at ``now`` (once per pop);
    * building a growing key, ``priority - rate * submitted_at`` (once per push or start event).
    """
    import timeit

    q = PriorityQueue(aging=LINEAR)
    q.push(Job(id="g", submitted_at=-100.25, priority=40), now=0.0)
    q.push(Job(id="s", submitted_at=-9000.5, priority=3), now=0.0)
    g, st = q._growing[0], q._static[0]
    kf, vf, now = 40 - RATE * -100.25, 3 + MAX_BOOST, 0.0
    growing = q._phases.first  # the growing phase of LINEAR

    def exact_cmp() -> bool:
        return q._growing_first(g, st, now)

    def float_cmp() -> bool:
        return kf + RATE * now > vf

    def exact_key() -> int:
        return q._key(40, 1234.5678, growing)

    def float_key() -> float:
        return 40 - RATE * 1234.5678

    def ns(fn: Callable[[], object]) -> float:
        return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e9

    return {
        "rank growing vs static top": (ns(exact_cmp), ns(float_cmp)),
        "build a growing key": (ns(exact_key), ns(float_key)),
    }


def memory_per_job(n: int, seed: int) -> dict[str, float]:
    w = Workload(n, 0, 0, seed)
    out: dict[str, float] = {}
    makers: dict[str, Callable[[], Any]] = {
        "prioq linear": lambda: Prioq(LINEAR),
        "prioq step": lambda: Prioq(STEP),
        "prioq none": lambda: Prioq(NoAging()),
        "heapq": Heapq,
    }
    for name, make in makers.items():
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        impl = fill(make, w.prefill)
        used = tracemalloc.get_traced_memory()[0] - base
        tracemalloc.stop()
        out[name] = used / n
        del impl
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    jobs = [Job(id=f"m{i}", submitted_at=float(i), priority=i % 101) for i in range(min(n, 10_000))]
    out["(one Job, default request)"] = (tracemalloc.get_traced_memory()[0] - base) / len(jobs)
    tracemalloc.stop()
    return out


def fmt_rate(rate: float, mark: str) -> str:
    return mark + (f"{rate:,.0f}" if rate >= 100 else f"{rate:,.2f}")


def report(sizes: list[int], all_results: dict[int, dict[str, dict[str, Any]]]) -> Iterator[str]:
    yield "| n | queue | pop/s | mix ops/s | pop time vs heapq | mix time vs heapq | linear pop speedup |"
    yield "|---|---|---:|---:|---:|---:|---:|"
    for n in sizes:
        res = all_results[n]
        base = res["heapq"]
        linear = res["prioq linear"]
        for name, r in res.items():
            speedup = linear["pop"] / r["pop"]
            yield (
                f"| {n:,} | {name} | {fmt_rate(r['pop'], r['mark'])} | "
                f"{fmt_rate(r['mix'], r['mark'])} | {base['pop'] / r['pop']:.2f}x | "
                f"{base['mix'] / r['mix']:.2f}x | {speedup:,.1f}x |"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--toy", action="store_true", help="tiny sizes, one repetition (CI)")
    parser.add_argument("--sizes", help="comma-separated queue sizes, e.g. 1000,100000")
    parser.add_argument("--ops", type=int, default=20_000, help="mix operations per run")
    parser.add_argument("--pops", type=int, default=20_000, help="pops per pop run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (median)")
    parser.add_argument("--rebuild-k", type=int, default=100, help="K of the rebuild-every-K baseline")
    parser.add_argument("--naive-budget", type=float, default=2.0, help="seconds per naive pop measurement")
    parser.add_argument("--memory-size", type=int, help="n for tracemalloc (default: the largest size)")
    parser.add_argument("--no-memory", action="store_true", help="skip the tracemalloc measurement")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.toy:
        sizes = [300, 2000]
        args.ops, args.pops, args.repeat, args.naive_budget = 2000, 1000, 1, 0.05
    else:
        sizes = [10**3, 10**4, 10**5, 10**6]
    if args.sizes:
        sizes = [int(float(s)) for s in args.sizes.split(",")]
    command = " ".join(["python", "benchmarks/bench_queue.py", *(argv if argv is not None else sys.argv[1:])])
    print(f"# {command}")
    print(
        f"# python {sys.version.split()[0]}, ops={args.ops}, pops=min({args.pops}, n), "
        f"repeat={args.repeat} (median of CPU time)"
    )
    all_results: dict[int, dict[str, dict[str, Any]]] = {}
    for n in sizes:
        w = Workload(n, args.ops, args.pops, args.seed)
        all_results[n] = bench_size(w, args.repeat, args.rebuild_k, args.naive_budget)
        del w
        print(f"# n={n:,} done", file=sys.stderr, flush=True)
    print()
    for line in report(sizes, all_results):
        print(line)
    print()
    print(
        "~ = naive re-sort: timed over a few pops (at least one) and one first-10, its mix rate\n"
        "    extrapolated from those per-operation costs (see naive_rates).\n"
        "* = timed over fewer operations (10 rebuild periods) than the other rows."
    )
    print()
    print("cost of exact keys, ns per call (min of 5 runs), exact vs plain float:")
    for what, (exact, plain) in exactness_cost(20_000 if args.toy else 200_000).items():
        print(f"  {what}: {exact:,.0f} vs {plain:,.0f}")
    if not args.no_memory:
        m = args.memory_size or max(sizes)
        print()
        print(f"tracemalloc bytes per queued job at n={m:,} (queue structures, Jobs excluded):")
        for name, per_job in memory_per_job(m, args.seed).items():
            print(f"  {name}: {per_job:,.0f} B")
    return 0


if __name__ == "__main__":
    sys.exit(main())
