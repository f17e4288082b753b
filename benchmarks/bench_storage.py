"""Storage cost: the same scheduler calls over memory, SQLite and PostgreSQL, side by side.

For each backend, in one run, on the same seeded workload:

* ``submit``: jobs per second with one ``Scheduler.submit`` per job (one commit each);
* ``submit_many``: jobs per second with ``Scheduler.submit_many`` batches (one commit per batch);
* ``cycle``: one ``Scheduler.schedule`` over a cluster of 8-GPU nodes with pending jobs of
  1, 2 and 4 GPUs that all fit, so every job is a decision (a start: one row rewritten) and
  the storage share of the cycle is as large as it gets: 100+ decisions committed in one
  transaction. An untimed first cycle of as many jobs fills the cluster's other half, so
  the store's connection is warm, as in a long-running server. Reported in milliseconds
  per cycle, cycles per second, the milliseconds of the cycle spent in ``Store.commit``
  (encoding and writing the rows), and as a multiple of the memory store's cycle.

Backends: ``memory``; ``sqlite`` (one file, WAL, the default ``synchronous=FULL``: an fsync
per commit) and ``sqlite NORMAL`` (no fsync per commit: survives a process crash, not a
power cut); ``postgres`` (a fresh schema on the server given by ``--postgres`` or
``PRIOQ_TEST_POSTGRES_URL``; durability as the server is configured) when one is reachable.

Wall-clock time (``time.perf_counter``: storage time is I/O, not CPU), the median of
``--repeat`` runs after an untimed warm-up, garbage collection paused inside timed
sections; backends are interleaved within each repetition (the order reversed every other
one) so that machine noise hits them alike. Targets: batched SQLite submits >= 5,000 jobs/s; a cycle with 100+
decisions on SQLite at most 2x the memory store's.

    python benchmarks/bench_storage.py --repeat 5      # the figures in docs/storage.md
    python benchmarks/bench_storage.py --toy           # seconds; what the tests run
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import random
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from prioq import Job, Node, Scheduler, Start
from prioq.storage import Changes, MemoryStore, Snapshot, Store, open_store

__all__ = ["main"]

REQUESTS = ["gpu=1", "gpu=1", "gpu=2", "gpu=4", "cpu=4 memory=16GB gpu=1", "gpu=A100:2"]


def make_nodes(n: int) -> list[Node]:
    return [Node(id=f"n{i:05d}", capacity="cpu=64 memory=512GB gpu=A100:80GB:8", labels={"rack": str(i % 8)})
            for i in range(n)]


def make_jobs(prefix: str, n: int, seed: int, t0: float = 0.0) -> list[Job]:
    rng = random.Random(seed)
    return [
        Job(id=f"{prefix}{i:07d}", submitted_at=t0 + i * 1e-3, priority=rng.randint(0, 100),
            request=rng.choice(REQUESTS), owner=rng.choice(["alice", "bob", "carol"]),
            labels={"project": rng.choice(["llm", "vision", "rl"])})
        for i in range(n)
    ]


class Backend:
    """Opens a fresh, empty store of one kind for each measurement."""

    def __init__(self, name: str, url: Callable[[], str | None]) -> None:
        self.name = name
        self._url = url
        self.cleanups: list[Callable[[], None]] = []

    def open(self) -> Store:
        url = self._url()
        return MemoryStore() if url is None else open_store(url)


def sqlite_backend(name: str, directory: str, synchronous: str) -> Backend:
    counter = [0]

    def url() -> str:
        counter[0] += 1
        return f"sqlite:///{directory}/{name.replace(' ', '_')}{counter[0]}.db?synchronous={synchronous}"

    return Backend(name, url)


def postgres_backend(base: str) -> Backend | None:
    try:
        import psycopg

        with psycopg.connect(base, autocommit=True, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # a benchmark reports, it does not fail, without a server
        print(f"(postgres skipped: {type(exc).__name__}: {str(exc).strip()[:100]})", file=sys.stderr)
        return None
    schemas: list[str] = []

    def url() -> str:
        name = f"bench_{secrets.token_hex(5)}"
        schemas.append(name)
        parts = urlsplit(base)
        query = dict(parse_qsl(parts.query)) | {"schema": name, "replica": "bench"}
        return urlunsplit(parts._replace(query=urlencode(query)))

    backend = Backend("postgres", url)

    def drop() -> None:
        with psycopg.connect(base, autocommit=True) as conn:
            for name in schemas:
                conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')

    backend.cleanups.append(drop)
    return backend


@contextlib.contextmanager
def quiet_gc() -> Iterator[None]:
    """No garbage collection pauses inside a timed section (collected before it instead)."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def time_submits(backend: Backend, n: int, seed: int) -> float:
    """Jobs per second, one submit (one commit) per job."""
    store = backend.open()
    s = Scheduler(make_nodes(4), store=store)
    jobs = make_jobs("s", n, seed)
    with quiet_gc():
        start = time.perf_counter()
        for job in jobs:
            s.submit(job, 1.0)
        elapsed = time.perf_counter() - start
    store.close()
    return n / elapsed


def time_batches(backend: Backend, batches: int, size: int, seed: int) -> float:
    """Jobs per second with submit_many batches of ``size`` (one commit per batch)."""
    store = backend.open()
    s = Scheduler(make_nodes(4), store=store)
    chunks = [make_jobs(f"b{k}-", size, seed + k) for k in range(batches)]
    with quiet_gc():
        start = time.perf_counter()
        for chunk in chunks:
            s.submit_many(chunk, 1.0)
        elapsed = time.perf_counter() - start
    store.close()
    return batches * size / elapsed


class TimedStore:
    """Delegates to a store and adds up the time spent in ``commit`` (encoding + writing)."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.commit_seconds = 0.0

    def load(self) -> Snapshot:
        return self.inner.load()

    def commit(self, changes: Changes) -> None:
        start = time.perf_counter()
        self.inner.commit(changes)
        self.commit_seconds += time.perf_counter() - start

    def close(self) -> None:
        self.inner.close()


def time_cycle(backend: Backend, nodes: int, pending: int, seed: int) -> tuple[float, float, int]:
    """Seconds for one schedule() that starts many jobs, the part of it spent committing,
    and how many decisions it made."""
    store = TimedStore(backend.open())
    # Twice the nodes: a first, untimed cycle warms the connection (a server's long-lived
    # connection is warm: prepared plans, catalog caches), the timed one fills the other half.
    s = Scheduler(make_nodes(2 * nodes), store=store)
    s.submit_many(make_jobs("w", pending, seed + 1), 1.0)
    s.schedule(1.5)
    s.submit_many(make_jobs("c", pending, seed), 1.75)
    store.commit_seconds = 0.0
    with quiet_gc():
        start = time.perf_counter()
        decisions = s.schedule(2.0)
        elapsed = time.perf_counter() - start
    store.close()
    return elapsed, store.commit_seconds, sum(isinstance(d, Start) for d in decisions)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--toy", action="store_true", help="tiny sizes, for CI")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--singles", type=int, default=300, help="jobs submitted one by one")
    parser.add_argument("--batches", type=int, default=10, help="submit_many batches")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--nodes", type=int, default=64, help="free 8-GPU nodes for the timed cycle")
    parser.add_argument("--pending", type=int, default=250, help="pending jobs before the cycle (all fit)")
    parser.add_argument("--dir", default=None, help="where SQLite files go (default: a temp dir)")
    parser.add_argument("--postgres", default=os.environ.get("PRIOQ_TEST_POSTGRES_URL", ""),
                        help="PostgreSQL URL (default $PRIOQ_TEST_POSTGRES_URL; empty: skip)")
    args = parser.parse_args(argv)
    if args.toy:
        args.repeat, args.singles, args.batches, args.batch_size = 2, 10, 2, 100
        args.nodes, args.pending = 12, 40

    directory = tempfile.mkdtemp(prefix="prioq-bench-", dir=args.dir)
    backends = [
        Backend("memory", lambda: None),
        sqlite_backend("sqlite", directory, "FULL"),
        sqlite_backend("sqlite NORMAL", directory, "NORMAL"),
    ]
    if args.postgres:
        pg = postgres_backend(args.postgres)
        if pg is not None:
            backends.append(pg)

    single: dict[str, list[float]] = {b.name: [] for b in backends}
    batched: dict[str, list[float]] = {b.name: [] for b in backends}
    cycle: dict[str, list[float]] = {b.name: [] for b in backends}
    commit: dict[str, list[float]] = {b.name: [] for b in backends}
    decisions: dict[str, set[int]] = {b.name: set() for b in backends}
    try:
        for b in backends:  # warm-up, untimed: imports, parse caches, first connections
            time_cycle(b, min(args.nodes, 4), min(args.pending, 20), seed=-1)
        for rep in range(args.repeat):
            order = backends if rep % 2 == 0 else backends[::-1]  # interleave against drift
            for b in order:
                single[b.name].append(time_submits(b, args.singles, seed=rep))
                batched[b.name].append(time_batches(b, args.batches, args.batch_size, seed=rep))
                seconds, committing, made = time_cycle(b, args.nodes, args.pending, seed=rep)
                cycle[b.name].append(seconds)
                commit[b.name].append(committing)
                decisions[b.name].add(made)
    finally:
        for b in backends:
            for cleanup in b.cleanups:
                cleanup()
        shutil.rmtree(directory, ignore_errors=True)

    med = statistics.median
    base_cycle = med(cycle["memory"])
    version = sys.version.split()[0]
    print(f"prioq storage benchmark: median of {args.repeat} runs (wall clock), python {version}")
    print(f"submit: {args.singles} jobs one by one; submit_many: {args.batches} x {args.batch_size}; "
          f"cycle: {args.pending} pending jobs onto {args.nodes} free nodes x 8 GPUs "
          f"(of {2 * args.nodes}, half already busy)")
    print()
    header = f"{'backend':<15}{'submit jobs/s':>15}{'submit_many jobs/s':>20}{'cycle ms':>10}" \
             f"{'cycles/s':>10}{'starts':>8}{'commit ms':>11}{'cycle x memory':>16}"
    print(header)
    print("-" * len(header))
    for b in backends:
        c = med(cycle[b.name])
        starts = "/".join(str(d) for d in sorted(decisions[b.name]))
        print(f"{b.name:<15}{med(single[b.name]):>15,.0f}{med(batched[b.name]):>20,.0f}{c * 1e3:>10.1f}"
              f"{1 / c:>10.1f}{starts:>8}{med(commit[b.name]) * 1e3:>11.1f}{c / base_cycle:>16.2f}")
    print()
    if args.toy:
        print("(toy sizes: the targets below are judged on the full run)")
    sqlite_batch = med(batched["sqlite"])
    sqlite_ratio = med(cycle["sqlite"]) / base_cycle
    # The commit share, measured inside the cycle, is steadier than a difference of two noisy cycles.
    sqlite_commit_ratio = 1 + (med(commit["sqlite"]) - med(commit["memory"])) / base_cycle
    print(f"target: batched SQLite submits >= 5,000 jobs/s: {sqlite_batch:,.0f} "
          f"({'met' if sqlite_batch >= 5000 else 'NOT met'})")
    print(f"target: a cycle with 100+ decisions on SQLite <= 2x memory: {sqlite_ratio:.2f}x measured, "
          f"{sqlite_commit_ratio:.2f}x from the commit share "
          f"({'met' if max(sqlite_ratio, sqlite_commit_ratio) <= 2 else 'NOT met'}; "
          f"{min(decisions['sqlite'])} starts)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
