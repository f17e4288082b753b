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
the process dies), so two schedulers cannot interleave their state. The lock is
named after the file's resolved path (symbolic links and ``..`` resolved), so a
second writer is refused whatever name or link reaches the file.

The tables are named with a prefix (``prioq_`` by default: ``prioq_jobs``...), so a
store may live in an application's own database, beside its tables; with
:meth:`SQLiteStore.shared` it writes through the application's connection, inside
its transactions (docs/storage.md#shared-transactions).

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
from prioq.storage._migrations import SCHEMA_VERSION, STEPS, Names, check_not_newer, locate, migrate
from prioq.storage._options import seconds, split_url, table_prefix, url_seconds
from prioq.storage._pages import page_from_rows, pending_page_rows
from prioq.storage._reads import job_row, load_from
from prioq.storage._rows import Changes, JobRow, Snapshot
from prioq.storage._sql import DEFAULT_PREFIX, SQLITE, Statements
from prioq.storage._writes import JobTexts, Writes

if TYPE_CHECKING:
    from prioq.ordering import Page

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "SQLiteStore"]

_SYNCHRONOUS = ("NORMAL", "FULL", "EXTRA")
_MODES = ("ro", "rw", "rwc")

def _migration(version: int) -> Callable[[sqlite3.Connection], None]:
    return lambda conn: STEPS[version](conn, SQLITE, Names("", DEFAULT_PREFIX, DEFAULT_PREFIX))


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

    ``SQLiteStore(path, synchronous="FULL", busy_timeout=5.0, readonly=False, prefix="prioq_")``.
    Opening validates the file before writing anything: a file that is not a
    SQLite database, a ``<prefix>meta`` table that is not prioq's, or a schema
    newer than :data:`SCHEMA_VERSION` raises :class:`prioq.StoreError` and the
    file is left byte-for-byte as it was. Other tables (an application's) are
    left alone. ``readonly=True`` opens for the read-only queries (and ``load``)
    only, and never creates anything.

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
        prefix: str = DEFAULT_PREFIX,
    ) -> None:
        # Every option is checked before anything is opened or created.
        path = _path(path)
        prefix = table_prefix(prefix)
        if not isinstance(synchronous, str):
            raise wrong_type(InvalidValue, f"sqlite synchronous: expected a string, got {synchronous!r}")
        synchronous = choice(synchronous.upper(), _SYNCHRONOUS, "sqlite synchronous")
        busy_timeout = seconds(busy_timeout, "sqlite busy_timeout", below=1e6)
        readonly = boolean(readonly, "sqlite readonly")
        self._memory = path == ":memory:"
        self._path = path if self._memory else os.path.abspath(path)
        self._synchronous = synchronous
        self._readonly = readonly
        self._prefix = prefix
        self._sql = Statements.of(SQLITE, "", prefix)
        self._lock = threading.Lock()
        self._writer_lock: IO[bytes] | None = None
        self._commits: int | None = None
        self._texts = JobTexts()
        self._conn: sqlite3.Connection | None = None
        self._conn = self._open(busy_timeout)

    @classmethod
    def from_url(cls, url: str) -> SQLiteStore:
        """``sqlite:///relative.db``, ``sqlite:////abs/path.db`` or ``sqlite:///:memory:`` with options
        ``synchronous``, ``busy_timeout`` (seconds), ``mode=ro`` and ``prefix`` (the table prefix).
        A bad or unknown option raises :class:`prioq.InvalidValue`; a URL naming a host or no file,
        :class:`prioq.StoreError`."""
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
            elif key == "prefix":
                options["prefix"] = value
            else:
                raise InvalidValue(
                    f"unknown sqlite URL option {key!r} in {url!r}; known: synchronous, busy_timeout, "
                    "mode, prefix"
                )
        return cls(path, **options)

    # ------------------------------------------------------------------ opening

    is_shared = False
    """Whether the store writes through the application's connection (:meth:`shared`)."""

    @classmethod
    def shared(cls, conn: Any, *, prefix: str = DEFAULT_PREFIX) -> SQLiteStore:
        """A store in the application's database that writes through ``conn`` (a ``sqlite3.Connection``
        or a SQLAlchemy ``Connection``) inside the caller's transactions, which the caller commits:
        see :func:`prioq.storage.shared`."""
        from prioq.storage._shared import shared as open_shared

        store = open_shared(conn, prefix=prefix)
        if not isinstance(store, SQLiteStore):
            raise wrong_type(InvalidValue, f"SQLiteStore.shared needs a SQLite connection, got {conn!r}")
        return store

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
    def prefix(self) -> str:
        """What the store's table names start with (``prioq_``: ``prioq_jobs``...)."""
        return self._prefix

    @property
    def schema_version(self) -> int:
        """The file's schema version (always :data:`SCHEMA_VERSION` once open)."""
        with self._use() as conn:
            return int(conn.execute(self._sql.schema_version).fetchone()[0])

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
            version, _ = self._detect_version(conn)
            check_not_newer(version, f"sqlite store {self._path}")
            if self._readonly:
                if version == 0:
                    raise StoreError(
                        f"{self._path} holds no prioq store with table prefix {self._prefix!r} "
                        "(opened read-only: nothing was created)"
                    )
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

    def _detect_version(self, conn: Any) -> tuple[int, str]:
        """``(version, prefix the tables have now)``; see :func:`prioq.storage._migrations.locate`."""
        try:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}

            def columns(table: str) -> set[str]:
                return {r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')}

            def stamp(table: str) -> object:
                row = conn.execute(f'SELECT schema_version FROM "{table}" WHERE id = 1').fetchone()
                return None if row is None else row[0]

            return locate(tables, self._prefix, columns, stamp, f"sqlite store {self._path}")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self._path} is not a SQLite database, or it is corrupt: {exc}") from exc

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have migrated while we waited for the write lock.
            self._migrate_in(conn)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _migrate_in(self, conn: Any) -> None:
        """Migrate inside the transaction the caller holds (re-reading the version in it)."""
        version, old = self._detect_version(conn)
        check_not_newer(version, f"sqlite store {self._path}")
        migrate(conn, SQLITE, Names("", self._prefix, old), version)

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
        """Take ``<resolved file>-lock`` so that no second process writes this store. O(1)."""
        if self._readonly:
            raise StoreError(f"sqlite store {self._path} is open read-only")
        if self._memory or self._writer_lock is not None:
            return
        self._writer_lock = _writer_lock(self._path)

    def _release_writer(self) -> None:
        if self._writer_lock is not None:
            self._writer_lock.close()  # closing the descriptor releases the flock
            self._writer_lock = None

    # ------------------------------------------------------------------ Store

    def load(self) -> Snapshot:
        """The whole stored state, from one read transaction. O(n) rows decoded; a row that is
        corrupt or contradicts the others raises :class:`prioq.StoreError` naming it."""
        if not self._readonly:
            self._become_writer()
        with self._read() as conn:
            snap, self._commits = self._load_in(conn)
        return snap

    def _load_in(self, conn: Any) -> tuple[Snapshot, int]:
        return load_from(conn, self._sql, self._texts)

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
        self._committed(writes)

    def _committed(self, writes: Writes) -> None:
        writes.committed()
        if self._commits is not None:
            self._commits += 1

    def _apply(self, conn: Any, writes: Writes) -> None:
        """Run one commit's statements, one execution per row, inside its transaction."""
        sql = self._sql
        # First, and checked: the commit counter is the one this store loaded (else the rows moved
        # under it -- a rolled-back shared transaction, another writer -- and nothing is written).
        if self._commits is None:
            conn.execute(sql.update_meta_unchecked, writes.meta)
        elif conn.execute(sql.update_meta, (*writes.meta, self._commits)).rowcount != 1:
            raise StoreError(
                f"sqlite store {self._path}: the stored state is not the one this scheduler loaded "
                "(a transaction holding its last commit was rolled back, or another writer committed); "
                "nothing was written: build the scheduler anew from the store"
            )
        if writes.job_deletes:
            conn.executemany(sql.delete_jobs, writes.job_deletes)
        if writes.node_deletes:
            conn.executemany(sql.delete_nodes, writes.node_deletes)
        if writes.node_upserts:
            conn.executemany(sql.upsert_nodes, writes.node_upserts)
        if writes.job_upserts:
            conn.executemany(sql.upsert_jobs, writes.job_upserts)
        if writes.run_updates:
            cur = conn.executemany(sql.update_runs, writes.run_updates)
            if cur.rowcount != len(writes.run_updates):  # the text cache lied: never lose a row
                raise StoreError(f"sqlite store {self._path}: {len(writes.run_updates) - cur.rowcount} "
                                 "job rows to update are missing; reload the scheduler")
        if writes.placement is not None:
            conn.execute(sql.update_placement, (writes.placement,))
        if writes.extra_deletes:
            conn.executemany(sql.delete_extras, writes.extra_deletes)
        if writes.extra_upserts:
            conn.executemany(sql.upsert_extras, writes.extra_upserts)

    def close(self) -> None:
        """Close the connection and give up the writer lock. Idempotent."""
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.close()
            self._release_writer()

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SQLiteStore({self._path!r}, synchronous={self._synchronous!r})"

    # ------------------------------------------------------------------ read-only queries

    def pending_jobs(
        self, limit: int, cursor: str | None = None, *, secret: bytes | str | None = None
    ) -> Page[JobRow]:
        """A page of pending jobs in base-priority order, via the ``jobs_pending`` index; cursors
        signed with ``secret`` (see :func:`prioq.storage.pending_order`). O(log n + limit)."""
        with self._read() as conn:
            rows = pending_page_rows(lambda sql, params: conn.execute(sql, params).fetchall(),
                                     self._sql.jobs, cursor, limit, SQLITE, secret)
        return page_from_rows([job_row(r) for r in rows], limit, secret)

    def running_jobs(self) -> list[JobRow]:
        """Running and terminating jobs by ``started_at`` then id. O(r log n)."""
        with self._use() as conn:
            rows = conn.execute(self._sql.running_jobs).fetchall()
        return [job_row(r) for r in rows]

    def get_job(self, job_id: str) -> JobRow | None:
        """One job by id. O(log n)."""
        job_id = lookup_id(job_id)
        with self._use() as conn:
            row = conn.execute(self._sql.get_job, (job_id,)).fetchone()
        return None if row is None else job_row(row)


def _writer_lock(path: str) -> IO[bytes] | None:
    """An exclusive ``flock`` on ``<resolved path>-lock``: one writer per file whatever name or
    symbolic link reaches it, in this process or another. O(1). (A hard link is another path to
    the same inode: SQLite itself cannot share a WAL file through one, so it is not a supported
    way to open a store.) One writer per *file*, whatever the prefixes of its stores."""
    real = os.path.realpath(path)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: rely on the documented single writer
        return None
    try:
        handle = open(real + "-lock", "ab")  # noqa: SIM115 - held until close()
    except OSError as exc:
        raise StoreError(f"sqlite store {path}: cannot create the writer lock: {exc}") from exc
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise StoreError(
            f"sqlite store {path} is already being written by another scheduler "
            f"(lock {real}-lock is held); one writer process per database file"
        ) from None
    return handle
