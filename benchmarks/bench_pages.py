"""Keyset pages at constant cost: the first page of a list against a deep one, SQLite and PostgreSQL.

A ``runs`` table of ``n`` rows (``priority`` 0..9, ``submitted_at`` random, ``id`` unique; all
``NOT NULL``) with the index ``order.index_sql("runs")`` prints, for each order:

* ``RUNS_LIST_NOT_NULL`` -- priority desc, submitted_at desc, id asc, all not_null: the keyset
  condition starts with a row-value bound the index seeks to;
* ``SCHEDULING branches`` -- priority desc, submitted_at asc, id asc (the shape of the stores'
  pending pages) served by ``order.keyset_branches``: the cursor's priority, then the lower
  ones, each one index seek (two queries at most);
* ``SCHEDULING`` with the one ``keyset_sql`` condition (for contrast): it seeks to the cursor's
  priority, then scans that priority's rows before the cursor;
* ``RUNS_LIST branches`` -- the nullable preset through ``keyset_branches``: each field's
  non-NULL values and its NULLs are branches of their own, every one an index seek;
* ``RUNS_LIST`` with the one ``keyset_sql`` condition (for contrast): its NULL rules (``OR
  priority IS NULL``) leave the planner nothing to seek to -- it scans from the first row.

Each figure is the median, over ``--repeat`` rounds, of one page query (``LIMIT 51``, execute
and fetch) -- the first page (no cursor) and the page after the row 90% deep -- with the
ratio deep / first; the target is deep <= 2x first where the query seeks. Every deep page is
checked against ``LIMIT/OFFSET`` (the same rows, in order): the script exits non-zero if not.

    python benchmarks/bench_pages.py                     # 10**5 and 10**6 rows (docs/ordering.md)
    python benchmarks/bench_pages.py --toy               # 2,000 rows, seconds: what CI runs
    python benchmarks/bench_pages.py --postgres URL      # or PRIOQ_TEST_POSTGRES_URL
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from prioq.ordering import RUNS_LIST, RUNS_LIST_NOT_NULL, SCHEDULING, Order

__all__ = ["main"]

LIMIT = 50
ORDERS: list[tuple[str, Order]] = [
    ("RUNS_LIST_NOT_NULL", RUNS_LIST_NOT_NULL), ("SCHEDULING", SCHEDULING), ("RUNS_LIST", RUNS_LIST)
]
CASES: list[tuple[str, Order, bool]] = [
    ("RUNS_LIST_NOT_NULL", RUNS_LIST_NOT_NULL, False),
    ("SCHEDULING branches", SCHEDULING, True),
    ("SCHEDULING", SCHEDULING, False),
    ("RUNS_LIST branches", RUNS_LIST, True),
    ("RUNS_LIST", RUNS_LIST, False),
]


def rows(n: int, seed: int) -> Iterator[tuple[str, int, float]]:
    rng = random.Random(seed)
    for i in range(n):
        yield f"r{i:08d}", rng.randrange(10), round(rng.uniform(0, 1e6), 3)


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Median milliseconds of ``fn()`` over ``repeat`` rounds (after one untimed), and its result."""
    result = fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), result


class Backend:
    name = ""
    dialect: Any = "sqlite"

    def execute(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class SQLite(Backend):
    name = "sqlite"

    def __init__(self, n: int, seed: int, directory: str) -> None:
        self.conn = sqlite3.connect(Path(directory) / f"pages-{n}.db")
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("CREATE TABLE runs (id TEXT NOT NULL PRIMARY KEY, priority INTEGER NOT NULL, "
                          "submitted_at REAL NOT NULL)")
        self.conn.executemany("INSERT INTO runs VALUES (?, ?, ?)", rows(n, seed))
        for _, order in ORDERS:
            self.conn.execute(order.index_sql("runs", name=f"runs_{order.digest}"))
        self.conn.execute("ANALYZE")
        self.conn.commit()

    def execute(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        return self.conn.execute(sql, params).fetchall()

    def close(self) -> None:
        self.conn.close()


class Postgres(Backend):
    name = "postgres"
    dialect = "postgresql"

    def __init__(self, url: str, n: int, seed: int) -> None:
        import psycopg

        self.conn = psycopg.connect(url, autocommit=True)
        self.schema = f"bench_pages_{secrets.token_hex(4)}"
        self.conn.execute(f'CREATE SCHEMA "{self.schema}"')
        self.conn.execute(f'SET search_path TO "{self.schema}"')
        self.conn.execute('CREATE TABLE runs (id text COLLATE "C" NOT NULL PRIMARY KEY, '
                          "priority integer NOT NULL, submitted_at double precision NOT NULL)")
        with self.conn.cursor() as cur, cur.copy("COPY runs (id, priority, submitted_at) FROM STDIN") as copy:
            for row in rows(n, seed):
                copy.write_row(row)
        for _, order in ORDERS:
            self.conn.execute(order.index_sql("runs", dialect="postgresql", name=f"runs_{order.digest}"))
        self.conn.execute("VACUUM ANALYZE runs")

    def execute(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        return self.conn.execute(sql, params).fetchall()

    def close(self) -> None:
        self.conn.execute(f'DROP SCHEMA "{self.schema}" CASCADE')
        self.conn.close()


def measure(backend: Backend, order: Order, n: int, repeat: int, branches: bool) -> tuple[float, float, bool]:
    """First-page and deep-page milliseconds, and whether the deep page is the OFFSET page."""
    dialect = backend.dialect
    by = order.order_by_sql(None, dialect)
    ph = "?" if dialect == "sqlite" else "%s"
    first_sql = f"SELECT id, priority, submitted_at FROM runs ORDER BY {by} LIMIT {ph}"
    first_ms, _ = timed(lambda: backend.execute(first_sql, [LIMIT + 1]), repeat)
    depth = int(n * 0.9)
    (anchor,) = backend.execute(
        f"SELECT id, priority, submitted_at FROM runs ORDER BY {by} LIMIT 1 OFFSET {ph}", [depth])
    cursor = order.cursor(dict(zip(("id", "priority", "submitted_at"), anchor, strict=True)))
    conditions = order.keyset_branches(None, cursor, dialect) if branches else [
        order.keyset_sql(None, cursor, dialect)]

    def page() -> list[tuple[Any, ...]]:
        got: list[tuple[Any, ...]] = []
        for where, params in conditions:
            got += backend.execute(f"SELECT id, priority, submitted_at FROM runs WHERE {where} ORDER BY {by} "
                                   f"LIMIT {ph}", [*params, LIMIT + 1 - len(got)])
            if len(got) > LIMIT:
                break
        return got

    deep_ms, deep = timed(page, repeat)
    expected = backend.execute(f"SELECT id, priority, submitted_at FROM runs ORDER BY {by} "
                               f"LIMIT {ph} OFFSET {ph}", [LIMIT + 1, depth + 1])
    return first_ms, deep_ms, [r[0] for r in deep] == [r[0] for r in expected]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--toy", action="store_true", help="2,000 rows, a few rounds (CI)")
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--postgres", default=os.environ.get("PRIOQ_TEST_POSTGRES_URL", ""))
    args = parser.parse_args(argv)
    sizes = [2000] if args.toy else [int(s) for s in args.sizes.split(",")]
    repeat = 5 if args.toy else args.repeat
    print(f"{'backend':9} {'order':19} {'rows':>9} {'first ms':>9} {'deep ms':>9} {'deep/first':>10}")
    failed = False
    with tempfile.TemporaryDirectory() as directory:
        for n in sizes:
            backends: list[Backend] = [SQLite(n, args.seed, directory)]
            if args.postgres:
                try:
                    backends.append(Postgres(args.postgres, n, args.seed))
                except Exception as exc:  # no server: SQLite only, and say so
                    print(f"(postgres skipped: {type(exc).__name__}: {exc})")
            for backend in backends:
                try:
                    for label, order, branched in CASES:
                        first, deep, same = measure(backend, order, n, repeat, branched)
                        seeks = order is RUNS_LIST_NOT_NULL or branched
                        target = ("  ok" if deep <= 2 * first else "  over 2x") if seeks else ""
                        print(f"{backend.name:9} {label:19} {n:>9,} {first:>9.3f} {deep:>9.3f} "
                              f"{deep / first:>9.1f}x{target}", flush=True)
                        if not same:
                            print(f"SANITY FAILED: {backend.name} {label}: deep page != OFFSET page")
                            failed = True
                finally:
                    backend.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
