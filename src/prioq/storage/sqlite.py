"""The embedded default store: one SQLite file in WAL mode (docs/storage.md#sqlite).

Durability: ``synchronous=FULL`` by default — a commit that returned is on
disk, even after a power cut. ``synchronous=NORMAL`` (``?synchronous=NORMAL``)
skips the fsync per commit: nothing is lost when the *process* dies (kill -9),
but the last commits may be lost on a power cut or kernel crash.

Concurrency: one writer process (the one running the :class:`prioq.Scheduler`)
and any number of readers (a server answering ``pending_jobs`` / ``get_job``).
WAL lets readers read a consistent snapshot while the writer commits; writes
take ``BEGIN IMMEDIATE`` and wait up to ``busy_timeout`` for the write lock. A
second writer is refused: the first ``load()`` or ``commit()`` takes an
exclusive advisory lock on ``<file>-lock`` (released when the store closes or
the process dies), so two schedulers cannot interleave their state.

Schema (version :data:`SCHEMA_VERSION`, kept in ``meta.schema_version``)::

    meta(id = 1, schema_version, now, next_seq, next_order)
    nodes(id PRIMARY KEY, ord UNIQUE, data)              -- data: the Node as JSON
    jobs(id PRIMARY KEY, seq UNIQUE, state, priority, submitted_at, started_at,
         data,                                          -- the Job as JSON
         run)                                           -- where it runs, nominations (JSON)
    index jobs_pending(priority DESC, submitted_at, seq, id) WHERE state = 'pending'
    index jobs_running(started_at, id) WHERE state <> 'pending'

Opening a file with an older ``schema_version`` applies the migrations in
:data:`MIGRATIONS` in one transaction; a newer one is refused untouched.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from prioq.errors import StoreError
from prioq.storage import Changes, JobRow, Snapshot, _check_job_id
from prioq.storage._codec import (
    JobTexts,
    job_params,
    job_row,
    node_params,
    page,
    pending_page_query,
    snapshot,
    split_v1_row,
)

if TYPE_CHECKING:
    from prioq.ordering import Page

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "SQLiteStore"]

SCHEMA_VERSION = 2
"""The schema this library writes; files at a lower version are migrated on open."""

_SYNCHRONOUS = ("NORMAL", "FULL", "EXTRA")


# ----------------------------------------------------------------------------- migrations


def _script(conn: sqlite3.Connection, sql: str) -> None:
    # Not executescript(): it COMMITs a pending transaction first, and a migration must be atomic.
    for statement in sql.split(";"):
        if statement.strip():
            conn.execute(statement)

def _v0_to_v1(conn: sqlite3.Connection) -> None:
    """Version 1: every job row in one JSON object; only a pending index."""
    _script(conn, """
        CREATE TABLE meta (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            schema_version INTEGER NOT NULL,
            now REAL,
            next_seq INTEGER NOT NULL DEFAULT 0,
            next_order INTEGER NOT NULL DEFAULT 0
        );
        INSERT INTO meta (id, schema_version) VALUES (1, 1);
        CREATE TABLE nodes (id TEXT PRIMARY KEY, ord INTEGER NOT NULL, data TEXT NOT NULL);
        CREATE TABLE jobs (
            id TEXT PRIMARY KEY,
            seq INTEGER NOT NULL,
            state TEXT NOT NULL,
            priority INTEGER NOT NULL,
            submitted_at REAL NOT NULL,
            data TEXT NOT NULL
        );
        CREATE INDEX jobs_pending ON jobs (state, priority DESC, submitted_at, seq);
    """)


def _v1_to_v2(conn: sqlite3.Connection) -> None:
    """Version 2: the job and the scheduler's part of a row stored apart (a start rewrites only
    the small part), ``started_at`` as a column, partial indexes for the read-only queries."""
    conn.execute("ALTER TABLE jobs ADD COLUMN started_at REAL")
    conn.execute("ALTER TABLE jobs ADD COLUMN run TEXT")
    rows = conn.execute("SELECT id, data FROM jobs").fetchall()
    conn.executemany(
        "UPDATE jobs SET data = ?, run = ?, started_at = ? WHERE id = ?",
        [(*split_v1_row(data), job_id) for job_id, data in rows],
    )
    _script(conn, """
        DROP INDEX jobs_pending;
        CREATE INDEX jobs_pending ON jobs (priority DESC, submitted_at, seq, id) WHERE state = 'pending';
        CREATE INDEX jobs_running ON jobs (started_at, id) WHERE state <> 'pending';
        CREATE UNIQUE INDEX jobs_seq ON jobs (seq);
        CREATE UNIQUE INDEX nodes_ord ON nodes (ord);
    """)


MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {0: _v0_to_v1, 1: _v1_to_v2}
"""``MIGRATIONS[v]`` turns a version ``v`` database into version ``v + 1`` (inside a transaction).
An empty file is version 0."""

assert sorted(MIGRATIONS) == list(range(SCHEMA_VERSION))


# ----------------------------------------------------------------------------- the store

_JOB_COLUMNS = "id, seq, state, data, run"
_UPSERT_JOB = """
    INSERT INTO jobs (id, seq, state, priority, submitted_at, started_at, data, run)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (id) DO UPDATE SET
        seq = excluded.seq, state = excluded.state, priority = excluded.priority,
        submitted_at = excluded.submitted_at, started_at = excluded.started_at,
        data = excluded.data, run = excluded.run
"""
_UPDATE_JOB_RUN = """
    UPDATE jobs SET seq = ?, state = ?, priority = ?, submitted_at = ?, started_at = ?, run = ? WHERE id = ?
"""
_UPSERT_NODE = """
    INSERT INTO nodes (id, ord, data) VALUES (?, ?, ?)
    ON CONFLICT (id) DO UPDATE SET ord = excluded.ord, data = excluded.data
"""


class SQLiteStore:
    """A :class:`prioq.storage.Store` in one SQLite file (or ``":memory:"``).

    ``SQLiteStore(path, synchronous="FULL", busy_timeout=5.0, readonly=False)``.
    Opening validates the file before writing anything: a file that is not a
    SQLite database, a SQLite database that is not a prioq store, or a schema
    newer than :data:`SCHEMA_VERSION` raises :class:`prioq.StoreError` and the
    file is left byte-for-byte as it was. ``readonly=True`` opens for the
    read-only queries (and ``load``) only.

    One connection, used under a lock: safe to share between threads, but a
    scheduler still has one owner at a time.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: str = "FULL",
        busy_timeout: float = 5.0,
        readonly: bool = False,
    ) -> None:
        if not isinstance(synchronous, str) or synchronous.upper() not in _SYNCHRONOUS:
            raise StoreError(
                f"sqlite synchronous must be one of {', '.join(_SYNCHRONOUS)}, got {synchronous!r}"
            )
        if isinstance(busy_timeout, bool) or not isinstance(busy_timeout, int | float) or not (
            0 <= busy_timeout < 1e6
        ):
            raise StoreError(f"sqlite busy_timeout must be seconds >= 0, got {busy_timeout!r}")
        if not isinstance(readonly, bool):
            raise StoreError(f"sqlite readonly must be a bool, got {readonly!r}")
        self._memory = os.fspath(path) == ":memory:"
        self._path = os.fspath(path) if self._memory else os.path.abspath(os.fspath(path))
        self._synchronous = synchronous.upper()
        self._readonly = readonly
        self._lock = threading.Lock()
        self._writer_lock: IO[bytes] | None = None
        self._texts = JobTexts()
        self._conn: sqlite3.Connection | None = None
        self._conn = self._open(busy_timeout)

    @classmethod
    def from_url(cls, url: str) -> SQLiteStore:
        """``sqlite:///relative.db``, ``sqlite:////abs/path.db`` or ``sqlite:///:memory:`` with options
        ``synchronous``, ``busy_timeout`` (seconds) and ``mode=ro``."""
        parts = urlsplit(url)
        if parts.netloc:
            raise StoreError(
                f"sqlite URL {url!r} names a host {parts.netloc!r}; use sqlite:///relative/path "
                "or sqlite:////absolute/path"
            )
        path = unquote(parts.path[1:] if parts.path.startswith("/") else parts.path)
        if not path:
            raise StoreError(f"sqlite URL {url!r} names no file; use sqlite:///path or sqlite:///:memory:")
        options: dict[str, Any] = {}
        for key, value in parse_qsl(parts.query, keep_blank_values=True, strict_parsing=False):
            if key == "synchronous":
                options["synchronous"] = value
            elif key == "busy_timeout":
                try:
                    options["busy_timeout"] = float(value)
                except ValueError:
                    raise StoreError(
                        f"sqlite busy_timeout must be seconds, got {value!r} in {url!r}"
                    ) from None
            elif key == "mode":
                if value not in ("ro", "rw", "rwc"):
                    raise StoreError(f"sqlite mode must be 'ro' or 'rw', got {value!r} in {url!r}")
                options["readonly"] = value == "ro"
            else:
                raise StoreError(
                    f"unknown sqlite URL option {key!r} in {url!r}; known: synchronous, busy_timeout, mode"
                )
        return cls(path, **options)

    # ------------------------------------------------------------------ opening

    @property
    def path(self) -> str:
        return self._path

    @property
    def url(self) -> str:
        return "sqlite:///:memory:" if self._memory else "sqlite:///" + quote(self._path)

    @property
    def synchronous(self) -> str:
        return self._synchronous

    @property
    def schema_version(self) -> int:
        """The file's schema version (always :data:`SCHEMA_VERSION` once open)."""
        with self._use() as conn:
            return int(conn.execute("SELECT schema_version FROM meta").fetchone()[0])

    def _open(self, busy_timeout: float) -> sqlite3.Connection:
        path = Path(self._path)
        if not self._memory:
            if path.is_dir():
                raise StoreError(f"cannot open sqlite store {self._path}: it is a directory")
            if not path.exists():
                if self._readonly:
                    raise StoreError(f"cannot open sqlite store {self._path} read-only: no such file")
                if not path.parent.is_dir():
                    raise StoreError(f"cannot create sqlite store {self._path}: no directory {path.parent}")
            elif not os.access(path, os.R_OK):
                raise StoreError(f"cannot open sqlite store {self._path}: permission denied")
        mode = "ro" if self._readonly else "rwc"
        target = ":memory:" if self._memory else f"file:{quote(self._path)}?mode={mode}"
        try:
            conn = sqlite3.connect(
                target,
                uri=not self._memory,
                timeout=busy_timeout,
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open sqlite store {self._path}: {exc}") from exc
        try:
            # Read before writing anything: journal_mode=WAL rewrites the header of a file
            # that might be somebody else's, or newer than we understand.
            version = self._detect_version(conn)
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"sqlite store {self._path} has schema version {version}, newer than this prioq "
                    f"supports ({SCHEMA_VERSION}); upgrade prioq to open it"
                )
            if self._readonly:
                if version != SCHEMA_VERSION:
                    raise StoreError(
                        f"sqlite store {self._path} has schema version {version}; open it once for "
                        f"writing to migrate it to {SCHEMA_VERSION} before reading it read-only"
                    )
                return conn
            if not self._memory:
                mode_row = conn.execute("PRAGMA journal_mode = WAL").fetchone()
                if mode_row is None or str(mode_row[0]).lower() != "wal":
                    raise StoreError(f"sqlite store {self._path}: cannot switch to WAL mode (got {mode_row})")
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
            if version < SCHEMA_VERSION:
                self._migrate(conn)
            return conn
        except BaseException as exc:
            conn.close()
            if isinstance(exc, sqlite3.Error):
                raise StoreError(f"cannot open sqlite store {self._path}: {exc}") from exc
            raise

    def _detect_version(self, conn: sqlite3.Connection) -> int:
        try:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self._path} is not a SQLite database, or it is corrupt: {exc}") from exc
        if not tables:
            return 0
        if "meta" not in tables:
            raise StoreError(
                f"{self._path} is a SQLite database but not a prioq store "
                f"(tables: {', '.join(sorted(tables))}; no meta table)"
            )
        try:
            row = conn.execute("SELECT schema_version FROM meta WHERE id = 1").fetchone()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self._path}: unreadable prioq meta table: {exc}") from exc
        if row is None or isinstance(row[0], bool) or not isinstance(row[0], int) or row[0] < 1:
            raise StoreError(f"{self._path}: meta table holds no valid schema_version ({row!r})")
        return int(row[0])

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have migrated while we waited for the write lock.
            version = self._detect_version(conn)
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"sqlite store {self._path} has schema version {version}, newer than this prioq "
                    f"supports ({SCHEMA_VERSION})"
                )
            while version < SCHEMA_VERSION:
                MIGRATIONS[version](conn)
                version += 1
                conn.execute("UPDATE meta SET schema_version = ? WHERE id = 1", (version,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    @contextlib.contextmanager
    def _use(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._conn is None:
                raise StoreError(f"sqlite store {self._path} is closed")
            try:
                yield self._conn
            except sqlite3.Error as exc:
                raise StoreError(f"sqlite store {self._path}: {type(exc).__name__}: {exc}") from exc

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: one consistent snapshot across several SELECTs."""
        with self._use() as conn:
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")

    def _become_writer(self) -> None:
        """Take ``<file>-lock`` so that no second process writes this store. O(1)."""
        if self._readonly:
            raise StoreError(f"sqlite store {self._path} is open read-only")
        if self._memory or self._writer_lock is not None:
            return
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: rely on the documented single writer
            return
        try:
            handle = open(self._path + "-lock", "ab")  # noqa: SIM115 - held until close()
        except OSError as exc:
            raise StoreError(f"sqlite store {self._path}: cannot create the writer lock: {exc}") from exc
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise StoreError(
                f"sqlite store {self._path} is already being written by another scheduler "
                f"(lock {self._path}-lock is held); one writer process at a time"
            ) from None
        self._writer_lock = handle

    # ------------------------------------------------------------------ Store

    def load(self) -> Snapshot:
        """The whole stored state. O(n) rows decoded."""
        if not self._readonly:
            self._become_writer()
        with self._read() as conn:
            meta = conn.execute("SELECT now, next_seq, next_order FROM meta WHERE id = 1").fetchone()
            nodes = conn.execute("SELECT id, ord, data FROM nodes ORDER BY ord").fetchall()
            jobs = conn.execute(f"SELECT {_JOB_COLUMNS} FROM jobs ORDER BY seq").fetchall()
        return snapshot(meta, nodes, jobs, self._texts)

    def commit(self, changes: Changes) -> None:
        """Apply one call's changes in one transaction. O(k log n) for k changed rows."""
        self._become_writer()
        # Encode before the transaction: a value that cannot be stored fails with nothing begun.
        jobs = job_params(changes, self._texts)
        del_nodes, put_nodes = node_params(changes)
        meta = (changes.now, changes.next_seq, changes.next_order)
        with self._use() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                if jobs.deletes:
                    conn.executemany("DELETE FROM jobs WHERE id = ?", jobs.deletes)
                if del_nodes:
                    conn.executemany("DELETE FROM nodes WHERE id = ?", del_nodes)
                if put_nodes:
                    conn.executemany(_UPSERT_NODE, put_nodes)
                if jobs.upserts:
                    conn.executemany(_UPSERT_JOB, jobs.upserts)
                if jobs.updates:
                    cur = conn.executemany(_UPDATE_JOB_RUN, jobs.updates)
                    if cur.rowcount != len(jobs.updates):  # the text cache lied: never lose a row
                        raise StoreError(f"sqlite store {self._path}: {len(jobs.updates) - cur.rowcount} "
                                         "job rows to update are missing; reload the scheduler")
                conn.execute("UPDATE meta SET now = ?, next_seq = ?, next_order = ? WHERE id = 1", meta)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        jobs.committed()

    def close(self) -> None:
        """Close the connection and give up the writer lock. Idempotent."""
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.close()
            if self._writer_lock is not None:
                self._writer_lock.close()  # closing the descriptor releases the flock
                self._writer_lock = None

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SQLiteStore({self._path!r}, synchronous={self._synchronous!r})"

    # ------------------------------------------------------------------ read-only queries

    def pending_jobs(self, limit: int, cursor: str | None = None) -> Page[JobRow]:
        """A page of pending jobs in base-priority order, via the ``jobs_pending`` index.
        O(log n + limit)."""
        sql, params = pending_page_query("jobs", cursor, limit, "sqlite")
        with self._use() as conn:
            rows = conn.execute(sql, params).fetchall()
        items = [job_row(r) for r in rows]
        return page(items, limit)

    def running_jobs(self) -> list[JobRow]:
        """Running and terminating jobs by ``started_at`` then id. O(r log n)."""
        with self._use() as conn:
            rows = conn.execute(
                f"SELECT {_JOB_COLUMNS} FROM jobs WHERE state <> 'pending' ORDER BY started_at, id"
            ).fetchall()
        return [job_row(r) for r in rows]

    def get_job(self, job_id: str) -> JobRow | None:
        """One job by id. O(log n)."""
        _check_job_id(job_id)
        with self._use() as conn:
            row = conn.execute(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else job_row(row)
