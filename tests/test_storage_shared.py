"""Shared transactions (docs/storage.md#shared-transactions): prioq's state written through the
application's own connection commits with the application's rows, or not at all; table prefixes;
migrations of version 4 stores to the prefixed names; one writer per file whatever its name."""

from __future__ import annotations

import os
import random
import secrets
import select
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from legacy_stores import postgres_catalog, postgres_to_v4, sqlite_catalog, sqlite_to_v4
from prioq import Job, Node, NotLeader, Scheduler, StoreError
from prioq.errors import InvalidType, InvalidValue
from prioq.storage import PostgresStore, SQLiteStore, open_store, shared

ROOT = Path(__file__).resolve().parent.parent
NODES = [Node(id="n", capacity="cpu=4")]


def app_db(path: Path) -> sqlite3.Connection:
    """An application's database with its own ``jobs`` and ``meta`` tables (names prioq used to take)."""
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, state TEXT NOT NULL)")
    conn.execute("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT)")
    conn.commit()
    return conn


def prioq_ids(path: Path) -> set[str]:
    other = sqlite3.connect(path)
    try:
        return {r[0] for r in other.execute("SELECT id FROM prioq_jobs")}
    finally:
        other.close()


def test_sqlite_rows_commit_together_or_not_at_all(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    conn = app_db(path)
    store = shared(conn)
    assert isinstance(store, SQLiteStore) and store.is_shared
    s = Scheduler(NODES, store=store)
    conn.commit()

    conn.execute("INSERT INTO jobs VALUES ('a', 'pending')")
    s.submit(Job(id="a", submitted_at=0), 0)
    assert conn.in_transaction and prioq_ids(path) == set()  # prioq never commits the caller's transaction
    conn.commit()
    assert prioq_ids(path) == {"a"}

    conn.execute("INSERT INTO jobs VALUES ('b', 'pending')")
    s.submit(Job(id="b", submitted_at=1), 1)
    conn.rollback()  # neither the app's row nor prioq's
    assert prioq_ids(path) == {"a"} and conn.execute("SELECT id FROM jobs").fetchall() == [("a",)]

    # The scheduler's memory is ahead of the database now: its next commit is refused, nothing written,
    # and the application's own statements in that transaction are kept (prioq rolls back its savepoint).
    conn.execute("INSERT INTO jobs VALUES ('c', 'pending')")
    with pytest.raises(StoreError, match="not the one this scheduler loaded"):
        s.submit(Job(id="c", submitted_at=2), 2)
    conn.commit()
    assert prioq_ids(path) == {"a"} and {r[0] for r in conn.execute("SELECT id FROM jobs")} == {"a", "c"}

    s = Scheduler(store=store)  # rebuilt from the store: in step again
    s.submit(Job(id="c", submitted_at=2), 2)
    conn.commit()
    assert prioq_ids(path) == {"a", "c"}
    store.close()
    conn.close()


def test_a_shared_sqlite_store_is_still_the_only_writer(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    conn = app_db(path)
    store = shared(conn)
    Scheduler(NODES, store=store)
    conn.commit()
    with pytest.raises(StoreError, match="already being written by another scheduler"):
        Scheduler(store=open_store(f"sqlite:///{path}"))
    store.close()
    conn.close()


def test_shared_options_are_validated() -> None:
    conn = sqlite3.connect(":memory:")
    with pytest.raises(InvalidType):
        shared(object())
    with pytest.raises(InvalidValue, match="unknown option"):
        shared(conn, schema="x")
    with pytest.raises(InvalidValue, match="table prefix"):
        shared(conn, prefix="Bad-Prefix")
    store = shared(conn, prefix="")  # bare names, as before schema 5
    Scheduler(NODES, store=store).submit(Job(id="a", submitted_at=0), 0)
    conn.commit()
    assert conn.execute("SELECT id FROM jobs").fetchall() == [("a",)]


def test_sqlalchemy_connection_shares_its_transaction(tmp_path: Path) -> None:
    sa = pytest.importorskip("sqlalchemy")
    engine = sa.create_engine(f"sqlite:///{tmp_path}/sa.db")
    with engine.connect() as c:
        c.exec_driver_sql("CREATE TABLE jobs (id TEXT PRIMARY KEY)")
        c.commit()
        store = shared(c)
        s = Scheduler(NODES, store=store)
        c.commit()
        c.exec_driver_sql("INSERT INTO jobs VALUES ('x')")
        s.submit(Job(id="x", submitted_at=0), 0)
        assert prioq_ids(tmp_path / "sa.db") == set()
        c.commit()
        s.submit(Job(id="y", submitted_at=0), 0)
        c.rollback()
        store.close()
    assert prioq_ids(tmp_path / "sa.db") == {"x"}


# ----------------------------------------------------------------------------- PostgreSQL


@pytest.fixture
def pg_schema(postgres_url: str) -> Iterator[str]:
    import psycopg

    schema = f"t_{secrets.token_hex(6)}"
    yield schema
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_psycopg_rows_commit_together_and_the_fence_still_guards(postgres_url: str, pg_schema: str) -> None:
    import psycopg

    conn = psycopg.connect(postgres_url)
    conn.execute(f'CREATE SCHEMA "{pg_schema}"')
    conn.execute(f'CREATE TABLE "{pg_schema}".jobs (id text PRIMARY KEY)')
    conn.commit()
    store = shared(conn, schema=pg_schema, replica="app-1")
    assert isinstance(store, PostgresStore) and store.is_shared
    s = Scheduler(NODES, store=store)
    conn.commit()
    conn.execute(f'INSERT INTO "{pg_schema}".jobs VALUES (%s)', ("a",))
    s.submit(Job(id="a", submitted_at=0), 0)
    conn.commit()
    s.submit(Job(id="b", submitted_at=0), 0)
    conn.rollback()
    with pytest.raises(StoreError, match="not the one this scheduler loaded"):
        s.submit(Job(id="c", submitted_at=0), 0)
    conn.rollback()
    s = Scheduler(store=store)
    assert [p.job.id for p in s.pending(0)] == ["a"]
    conn.commit()
    # Another replica takes the lease over: the shared store's next commit is fenced off.
    other = PostgresStore(postgres_url, schema=pg_schema, replica="app-2", lease_seconds=0.2)
    time.sleep(0.05)
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f'UPDATE "{pg_schema}".prioq_lease SET expires_at = now() - interval \'1 second\'')
    assert other.try_acquire()
    with pytest.raises(NotLeader):
        s.submit(Job(id="d", submitted_at=1), 1)
    conn.rollback()
    other.close()
    # autocommit without a transaction block: refused rather than committed statement by statement.
    conn.autocommit = True
    with pytest.raises(StoreError, match="autocommit"):
        Scheduler(store=shared(conn, schema=pg_schema, replica="app-3"))
    conn.close()


def test_sqlalchemy_psycopg_connection(postgres_url: str, pg_schema: str) -> None:
    sa = pytest.importorskip("sqlalchemy")
    engine = sa.create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as c:
        store = shared(c, schema=pg_schema, replica="sa")
        s = Scheduler(NODES, store=store)
        s.submit(Job(id="z", submitted_at=0), 0)
        c.commit()
        s.submit(Job(id="lost", submitted_at=0), 0)
        c.rollback()
    store = PostgresStore(f"{postgres_url}?schema={pg_schema}&mode=ro")
    assert [r.job.id for r in store.pending_jobs(10).items] == ["z"]
    store.close()


# ----------------------------------------------------------------------------- migrations from schema 4


def busy(store: Any) -> Scheduler:
    s = Scheduler([Node(id=f"n{i}", capacity="cpu=4 gpu=A100:80GB:2") for i in range(2)], store=store)
    s.submit_many([Job(id=f"j{i}", submitted_at=i, priority=i % 3, request="gpu=1") for i in range(6)], 6)
    s.schedule(7)
    return s


def test_a_version_4_sqlite_store_is_renamed_to_the_prefixed_names(tmp_path: Path) -> None:
    fresh, old = tmp_path / "fresh.db", tmp_path / "old.db"
    for path in (fresh, old):
        store = SQLiteStore(path)
        s = busy(store)
        store.close()
    sqlite_to_v4(old)
    conn = sqlite3.connect(old)
    assert conn.execute("SELECT schema_version FROM meta").fetchone() == (4,)
    conn.close()
    store = SQLiteStore(old)
    assert store.schema_version == 5
    resumed = Scheduler(store=store)
    assert resumed.running() == s.running() and [p.job for p in resumed.pending(8)] == [
        p.job for p in s.pending(8)]
    store.close()
    assert sqlite_catalog(old) == sqlite_catalog(fresh)


def test_a_version_4_sqlite_migration_is_atomic(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    store = SQLiteStore(path)
    busy(store)
    store.close()
    sqlite_to_v4(path)
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE prioq_extras (taken INTEGER)")  # the name the migration needs is taken
    conn.commit()
    before = sqlite_catalog(path)
    conn.close()
    with pytest.raises(StoreError):
        SQLiteStore(path)
    assert sqlite_catalog(path) == before


def test_a_version_4_postgres_store_is_renamed(postgres_url: str, pg_schema: str) -> None:
    import psycopg

    fresh = f"t_{secrets.token_hex(6)}"
    try:
        for schema in (fresh, pg_schema):
            store = PostgresStore(postgres_url, schema=schema, replica="m")
            s = busy(store)
            store.resign()
            store.close()
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            postgres_to_v4(conn, pg_schema)
            assert conn.execute(f'SELECT schema_version FROM "{pg_schema}".meta').fetchone() == (4,)
        store = PostgresStore(postgres_url, schema=pg_schema, replica="m")
        assert store.schema_version == 5
        resumed = Scheduler(store=store)
        assert resumed.running() == s.running()
        store.resign()
        store.close()
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            assert _anonymous(postgres_catalog(conn, pg_schema), pg_schema) == _anonymous(
                postgres_catalog(conn, fresh), fresh)
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{fresh}" CASCADE')


def _anonymous(catalog: list[Any], schema: str) -> list[Any]:
    return [tuple(x.replace(schema, "S") if isinstance(x, str) else x for x in row) for row in catalog]


# ----------------------------------------------------------------------------- one writer per file


def test_one_writer_per_file_whatever_name_reaches_it(tmp_path: Path) -> None:
    path = tmp_path / "real.db"
    (tmp_path / "sub").mkdir()
    link = tmp_path / "link.db"
    link.symlink_to(path)
    writer = SQLiteStore(path)
    Scheduler(NODES, store=writer)
    for other in (link, tmp_path / "sub" / ".." / "real.db"):
        second = SQLiteStore(other)
        with pytest.raises(StoreError, match="already being written by another scheduler"):
            Scheduler(store=second)
        second.close()
    writer.close()
    # A child process through the symbolic link: refused by the lock file of the resolved path.
    writer = SQLiteStore(path)
    Scheduler(store=writer)
    code = ("from prioq.storage import open_store\nfrom prioq import Scheduler, StoreError\n"
            f"try:\n    Scheduler(store=open_store('sqlite:///{link}'))\n"
            "except StoreError as e:\n    print('refused', e)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert "refused" in out.stdout, out
    writer.close()


# ----------------------------------------------------------------------------- crash test

CHILD = r"""
import random, sqlite3, sys
from prioq import Job, Node, Scheduler, Start
from prioq.storage import shared

path, run, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
rng = random.Random(seed)
conn = sqlite3.connect(path, timeout=30)
conn.execute("PRAGMA journal_mode = WAL")
conn.execute("CREATE TABLE IF NOT EXISTS runs (id TEXT PRIMARY KEY, state TEXT NOT NULL)")
conn.commit()
store = shared(conn)
nodes = [Node(id=f"n{i}", capacity="cpu=8 gpu=A100:80GB:2") for i in range(2)]
s = Scheduler(nodes, store=store)
conn.commit()
now = s.now or 0.0
print("READY", flush=True)
i = 0
while True:
    now += 1
    op = rng.random()
    running = [r.job.id for r in s.running()]
    if op < 0.45 and len(s) < 40:
        jobs = []
        for _ in range(rng.choice([1, 1, 3])):
            i += 1
            jobs.append(Job(id=f"{run}-{i}", submitted_at=now, priority=rng.randint(0, 5),
                            request=rng.choice(["gpu=1", "gpu=2", "cpu=2"])))
        conn.executemany("INSERT INTO runs VALUES (?, 'pending')", [(j.id,) for j in jobs])
        s.submit_many(jobs, now)
    elif op < 0.75:
        started = [d.job_id for d in s.schedule(now) if isinstance(d, Start)]
        conn.executemany("UPDATE runs SET state = 'running' WHERE id = ?", [(j,) for j in started])
    elif running:
        victim = rng.choice(running)
        conn.execute("DELETE FROM runs WHERE id = ?", (victim,))
        s.release(victim, now)
    else:
        continue
    conn.commit()  # the application's rows and prioq's state: one commit
    print("ACK", flush=True)
"""


def test_sigkill_never_leaves_the_application_and_prioq_disagreeing(tmp_path: Path) -> None:
    rng = random.Random(int(os.environ.get("PRIOQ_CRASH_SEED", "20261129")))
    path = tmp_path / "app.db"
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    acked = kills_mid_work = 0
    deadline = time.monotonic() + 150
    for run in range(50):
        child = subprocess.Popen(
            [sys.executable, str(script), str(path), f"r{run}", str(rng.randrange(2**32))],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        # Sometimes while it opens, mostly while it works (counted from READY: load-independent).
        if rng.random() < 1 / 4:
            time.sleep(rng.uniform(0.0, 0.3))
        else:
            # Wait for its first output (READY) without reading it: communicate() reads the pipe.
            select.select([child.stdout], [], [], 30)
            time.sleep(rng.uniform(0.1, 0.5))
        child.send_signal(signal.SIGKILL)
        out, err = child.communicate(timeout=30)
        assert child.returncode == -signal.SIGKILL, f"child ended on its own ({child.returncode}): {err}"
        acked += out.count("ACK")
        kills_mid_work += "READY" in out
        if not path.exists():
            continue
        conn = sqlite3.connect(path)
        try:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "prioq_jobs" not in tables or "runs" not in tables:
                continue
            store = shared(conn)
            snap = store.load()
            ours = {r.job.id: ("pending" if r.state == "pending" else "running") for r in snap.jobs}
            app = dict(conn.execute("SELECT id, state FROM runs").fetchall())
            assert ours == app, (set(ours.items()) ^ set(app.items()))
            if not snap.is_empty():
                Scheduler(store=store)._check()
            conn.rollback()
            store.close()
        finally:
            conn.close()
        assert time.monotonic() < deadline, "crash test is too slow"
    assert acked > 100, f"only {acked} acknowledged calls: the kills came too early"
    assert kills_mid_work >= 20


# ----------------------------------------------------------------------------- asyncio (AsyncConnection)


def test_async_connection_loads_and_commits_through_run_sync(tmp_path: Path) -> None:
    """``shared_async`` + ``load_async``/``commit_async`` on a SQLAlchemy AsyncConnection (needs
    greenlet and aiosqlite); the synchronous entry points refuse rather than block the loop."""
    pytest.importorskip("greenlet")
    pytest.importorskip("aiosqlite")
    import asyncio

    from sqlalchemy.ext.asyncio import create_async_engine

    from prioq.storage import Changes, JobRow, NodeRow, shared_async

    async def main() -> None:
        engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path}/async.db")
        async with engine.connect() as conn:
            await conn.exec_driver_sql("CREATE TABLE jobs (id TEXT PRIMARY KEY)")
            await conn.commit()
            store = await shared_async(conn)
            await conn.commit()
            assert (await store.load_async()).is_empty()
            with pytest.raises(StoreError, match="load_async"):
                store.load()
            node = NodeRow(node=NODES[0], order=0)
            row = JobRow(job=Job(id="a", submitted_at=0), seq=0, state="pending")
            await conn.exec_driver_sql("INSERT INTO jobs VALUES ('a')")
            await store.commit_async(Changes(jobs={"a": row}, nodes={"n": node}, now=0.0, next_seq=1,
                                             next_order=1))
            assert prioq_ids(tmp_path / "async.db") == set()  # not before the caller commits
            await conn.commit()
            assert prioq_ids(tmp_path / "async.db") == {"a"}
            b = JobRow(job=Job(id="b", submitted_at=1), seq=1, state="pending")
            await store.commit_async(Changes(jobs={"b": b}, now=1.0, next_seq=2, next_order=1))
            await conn.rollback()
            snap = await store.load_async()
            assert [r.job.id for r in snap.jobs] == ["a"]
            await conn.rollback()
            store.close()
        await engine.dispose()

    asyncio.run(main())


def test_async_connection_on_postgresql(postgres_url: str, pg_schema: str) -> None:
    pytest.importorskip("greenlet")
    import asyncio

    from sqlalchemy.ext.asyncio import create_async_engine

    from prioq.storage import Changes, JobRow, NodeRow, shared_async

    async def main() -> None:
        engine = create_async_engine(postgres_url.replace("postgresql://", "postgresql+psycopg_async://"))
        async with engine.connect() as conn:
            store = await shared_async(conn, schema=pg_schema, replica="async-1")
            await conn.commit()
            assert (await store.load_async()).is_empty()  # takes the lease in this transaction
            await conn.commit()
            row = JobRow(job=Job(id="a", submitted_at=0), seq=0, state="pending")
            await store.commit_async(Changes(jobs={"a": row}, nodes={"n": NodeRow(node=NODES[0], order=0)},
                                             now=0.0, next_seq=1, next_order=1))
            await conn.commit()
            assert [r.job.id for r in (await store.load_async()).jobs] == ["a"]
            await conn.rollback()
        await engine.dispose()

    asyncio.run(main())


def test_a_failed_postgres_migration_changes_nothing(postgres_url: str, pg_schema: str) -> None:
    import psycopg

    store = PostgresStore(postgres_url, schema=pg_schema, replica="m")
    busy(store)
    store.resign()
    store.close()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        postgres_to_v4(conn, pg_schema)
        conn.execute(f'CREATE TABLE "{pg_schema}".prioq_extras (taken int)')
        before = postgres_catalog(conn, pg_schema)
    with pytest.raises(StoreError):
        PostgresStore(postgres_url, schema=pg_schema, replica="m")
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        assert postgres_catalog(conn, pg_schema) == before


def test_read_only_postgres_creates_nothing_and_writes_nothing(postgres_url: str, pg_schema: str) -> None:
    import psycopg

    with pytest.raises(StoreError, match="holds no prioq store"):
        PostgresStore(f"{postgres_url}?schema={pg_schema}&mode=ro")
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM information_schema.schemata WHERE schema_name = %s",
                            (pg_schema,)).fetchone() == (0,)
    writer = PostgresStore(postgres_url, schema=pg_schema, replica="w")
    Scheduler(NODES, store=writer).submit(Job(id="a", submitted_at=0), 0)
    reader = PostgresStore(postgres_url, schema=pg_schema, readonly=True)
    assert [r.job.id for r in reader.load().jobs] == ["a"]       # no lease taken
    assert writer.lease().holder == "w"
    with pytest.raises(StoreError, match="read-only"):
        reader.try_acquire()
    with pytest.raises(InvalidValue):
        PostgresStore(f"{postgres_url}?schema={pg_schema}&mode=rx")
    reader.close()
    writer.close()


def test_async_scheduler_writes_through_the_applications_async_connection(tmp_path: Path) -> None:
    """``prioq.aio.AsyncScheduler`` over a ``shared_async`` store: each call's CPU work runs in
    the worker thread, its load and commit on the loop through the application's
    AsyncConnection, inside the application's transaction: its rows and prioq's commit together
    or not at all, and a scheduler reopened the same way resumes exactly."""
    pytest.importorskip("greenlet")
    pytest.importorskip("aiosqlite")
    import asyncio

    from sqlalchemy.ext.asyncio import create_async_engine

    from prioq.aio import AsyncScheduler
    from prioq.storage import shared_async

    url = f"sqlite+aiosqlite:///{tmp_path}/app.db"

    async def main() -> None:
        engine = create_async_engine(url)
        async with engine.connect() as conn:
            await conn.exec_driver_sql("CREATE TABLE runs (id TEXT PRIMARY KEY, state TEXT)")
            store = await shared_async(conn)
            assert store.loop_bound
            s = await AsyncScheduler.open(NODES, store=store)
            await conn.commit()  # the cluster and the app's table, together
            await s.submit(Job(id="a", submitted_at=0, request="cpu=1"), 0)
            await conn.exec_driver_sql("INSERT INTO runs VALUES ('a', 'submitted')")
            decisions = await s.schedule(1)
            assert [d.job_id for d in decisions] == ["a"]
            await conn.exec_driver_sql("UPDATE runs SET state = 'running' WHERE id = 'a'")
            await conn.commit()
            await s.submit(Job(id="b", submitted_at=2, request="cpu=1"), 2)
            await conn.exec_driver_sql("INSERT INTO runs VALUES ('b', 'submitted')")
            await conn.rollback()  # neither the app's row nor prioq's survives
            await s.close()
        async with engine.connect() as conn:
            assert (await conn.exec_driver_sql("SELECT id, state FROM runs")).fetchall() == [("a", "running")]
            again = await AsyncScheduler.open(store=await shared_async(conn))
            assert again.resumed
            assert [r.job.id for r in await again.running()] == ["a"]
            assert await again.pending(2) == []
            await again.close()
        await engine.dispose()

    asyncio.run(main())
    assert prioq_ids(tmp_path / "app.db") == {"a"}
