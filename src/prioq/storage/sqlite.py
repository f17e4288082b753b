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

The schema, its migrations and every statement are shared with the PostgreSQL
store (:mod:`prioq.storage._sql`, :mod:`prioq.storage._migrations`): opening a file
with an older ``schema_version`` migrates it in one transaction; a newer one is
refused untouched.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, unquote

from prioq._validate import boolean, choice, lookup_id, wrong_type
from prioq.errors import InvalidValue, StoreError
from prioq.storage._migrations import SCHEMA_VERSION, STEPS, check_not_newer, migrate
from prioq.storage._options import seconds, split_url, url_seconds
from prioq.storage._pages import page_from_rows, pending_page_query
from prioq.storage._reads import job_row, snapshot
from prioq.storage._rows import Changes, JobRow, Snapshot
from prioq.storage._sql import SQLITE, Statements
from prioq.storage._writes import JobTexts, Writes

if TYPE_CHECKING:
    from prioq.ordering import Page

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "SQLiteStore"]

_SYNCHRONOUS = ("NORMAL", "FULL", "EXTRA")
_MODES = ("ro", "rw", "rwc")
_SQL = Statements.of(SQLITE)


def _migration(version: int) -> Callable[[sqlite3.Connection], None]:
    return lambda conn: STEPS[version](conn, SQLITE, "")


MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {v: _migration(v) for v in STEPS}
"""``MIGRATIONS[v](conn)`` turns a version ``v`` file into version ``v + 1`` (inside a transaction);
the steps are :data:`prioq.storage._migrations.STEPS`, shared with PostgreSQL."""


def _path(path: object) -> str:
    """``path`` as a str: a str or an ``os.PathLike`` of one (bytes paths are refused)."""
    if isinstance(path, str | os.PathLike):
        as_text = os.fspath(path)
        if isinstance(as_text, str):
            if "\0" in as_text:
                raise InvalidValue(f"sqlite path must not contain a NUL character, got {as_text!r}")
            return as_text
    raise wrong_type(InvalidValue, f"sqlite path must be a str or os.PathLike, got {path!r}")


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
        # Every option is checked before anything is opened or created.
        path = _path(path)
        if not isinstance(synchronous, str):
            raise wrong_type(InvalidValue, f"sqlite synchronous: expected a string, got {synchronous!r}")
        synchronous = choice(synchronous.upper(), _SYNCHRONOUS, "sqlite synchronous")
        busy_timeout = seconds(busy_timeout, "sqlite busy_timeout", below=1e6)
        readonly = boolean(readonly, "sqlite readonly")
        self._memory = path == ":memory:"
        self._path = path if self._memory else os.path.abspath(path)
        self._synchronous = synchronous
        self._readonly = readonly
        self._lock = threading.Lock()
        self._writer_lock: IO[bytes] | None = None
        self._texts = JobTexts()
        self._conn: sqlite3.Connection | None = None
        self._conn = self._open(busy_timeout)

    @classmethod
    def from_url(cls, url: str) -> SQLiteStore:
        """``sqlite:///relative.db``, ``sqlite:////abs/path.db`` or ``sqlite:///:memory:`` with options
        ``synchronous``, ``busy_timeout`` (seconds) and ``mode=ro``. A bad or unknown option raises
        :class:`prioq.InvalidValue`; a URL naming a host or no file, :class:`prioq.StoreError`."""
        parts = split_url(url)
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
                options["busy_timeout"] = url_seconds(value, "sqlite busy_timeout", url)
            elif key == "mode":
                options["readonly"] = choice(value, _MODES, "sqlite mode") == "ro"
            else:
                raise InvalidValue(
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
            return int(conn.execute(_SQL.schema_version).fetchone()[0])

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
            check_not_newer(version, f"sqlite store {self._path}")
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
            row = conn.execute(_SQL.schema_version).fetchone()
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
            check_not_newer(version, f"sqlite store {self._path}")
            migrate(conn, SQLITE, "", version)
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
            except (sqlite3.Error, OverflowError) as exc:
                # OverflowError: an int beyond SQLite's 64 bits in a row (the scheduler never makes one).
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
        """The whole stored state, from one read transaction. O(n) rows decoded."""
        if not self._readonly:
            self._become_writer()
        with self._read() as conn:
            meta = conn.execute(_SQL.load_meta).fetchone()
            nodes = conn.execute(_SQL.load_nodes).fetchall()
            jobs = conn.execute(_SQL.load_jobs).fetchall()
            placement = conn.execute(_SQL.load_placement).fetchone()
            extras = conn.execute(_SQL.load_extras).fetchall()
        return snapshot(meta, nodes, jobs, self._texts, placement, extras)

    def commit(self, changes: Changes) -> None:
        """Apply one call's changes in one transaction. O(k log n) for k changed rows."""
        # Check and encode before the transaction: a value that cannot be stored fails with nothing begun.
        writes = Writes.of(changes, self._texts)
        self._become_writer()
        with self._use() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                self._apply(conn, writes)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        writes.committed()

    def _apply(self, conn: sqlite3.Connection, writes: Writes) -> None:
        """Run one commit's statements, one execution per row, inside its transaction."""
        if writes.job_deletes:
            conn.executemany(_SQL.delete_jobs, writes.job_deletes)
        if writes.node_deletes:
            conn.executemany(_SQL.delete_nodes, writes.node_deletes)
        if writes.node_upserts:
            conn.executemany(_SQL.upsert_nodes, writes.node_upserts)
        if writes.job_upserts:
            conn.executemany(_SQL.upsert_jobs, writes.job_upserts)
        if writes.run_updates:
            cur = conn.executemany(_SQL.update_runs, writes.run_updates)
            if cur.rowcount != len(writes.run_updates):  # the text cache lied: never lose a row
                raise StoreError(f"sqlite store {self._path}: {len(writes.run_updates) - cur.rowcount} "
                                 "job rows to update are missing; reload the scheduler")
        conn.execute(_SQL.update_meta, writes.meta)
        if writes.placement is not None:
            conn.execute(_SQL.update_placement, (writes.placement,))
        if writes.extra_deletes:
            conn.executemany(_SQL.delete_extras, writes.extra_deletes)
        if writes.extra_upserts:
            conn.executemany(_SQL.upsert_extras, writes.extra_upserts)

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
        sql, params = pending_page_query(_SQL.jobs, cursor, limit, SQLITE)
        with self._use() as conn:
            rows = conn.execute(sql, params).fetchall()
        return page_from_rows([job_row(r) for r in rows], limit)

    def running_jobs(self) -> list[JobRow]:
        """Running and terminating jobs by ``started_at`` then id. O(r log n)."""
        with self._use() as conn:
            rows = conn.execute(_SQL.running_jobs).fetchall()
        return [job_row(r) for r in rows]

    def get_job(self, job_id: str) -> JobRow | None:
        """One job by id. O(log n)."""
        job_id = lookup_id(job_id)
        with self._use() as conn:
            row = conn.execute(_SQL.get_job, (job_id,)).fetchone()
        return None if row is None else job_row(row)
