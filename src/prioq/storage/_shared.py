"""Stores that live in the application's own database and write inside its transactions
(docs/storage.md#shared-transactions).

:func:`shared` wraps the application's connection -- ``sqlite3.Connection``, a psycopg
``Connection``, or a SQLAlchemy ``Connection`` -- in a store whose every statement runs in
the transaction the caller has open on it (one is begun, as the driver itself would, when
none is): ``commit`` and ``load`` run under a ``SAVEPOINT`` released on success and rolled
back to on failure, and **never** ``COMMIT`` or ``ROLLBACK`` the caller's transaction. The
application's rows and prioq's state therefore commit together, or not at all, when the
caller commits.

If the caller rolls back a transaction that held a scheduler call, the scheduler's memory
is ahead of the database: its next commit finds the commit counter (``meta.commits``)
different from the one it expects and raises :class:`prioq.StoreError`, writing nothing;
build the scheduler anew from the store (``Scheduler(store=store)``) after such a rollback.

For a SQLAlchemy ``AsyncConnection`` use ``await shared_async(conn)``: that store's
``load``/``commit`` are ``await store.load_async()`` / ``await store.commit_async(changes)``
(each runs the synchronous code through ``AsyncConnection.run_sync``, which never blocks the
event loop on I/O); its synchronous ``load``/``commit`` raise :class:`prioq.StoreError`.
Every shared store has the two async methods (on a synchronous connection they simply call
``load``/``commit``), so an async facade calls them whatever the connection.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from prioq._validate import identifier, wrong_type
from prioq.errors import InvalidValue, StoreError
from prioq.storage._migrations import SCHEMA_VERSION, check_not_newer
from prioq.storage._options import seconds, table_prefix
from prioq.storage._rows import Changes, Snapshot
from prioq.storage._sql import DEFAULT_PREFIX, POSTGRESQL, SQLITE, Statements
from prioq.storage._writes import JobTexts, Writes
from prioq.storage.postgres import PostgresStore, _schema_name
from prioq.storage.sqlite import SQLiteStore, _writer_lock

__all__ = ["SharedPostgresStore", "SharedSQLiteStore", "shared", "shared_async"]

T = TypeVar("T")
_SAVEPOINT = "prioq_call"


class _Db:
    """The caller's connection as prioq uses it: ``execute``/``executemany`` returning cursors
    (``fetchone``, ``fetchall``, ``rowcount``), and the transaction it must be inside."""

    dialect: str = "sqlite"
    errors: tuple[type[BaseException], ...] = (sqlite3.Error,)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        raise NotImplementedError

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Any:
        raise NotImplementedError

    def begin(self) -> None:
        """Make sure a transaction is open (the caller commits or rolls it back)."""
        raise NotImplementedError

    def cursor(self) -> _Db:
        return self  # migrations ask a psycopg connection for a cursor


class _Sqlite3(_Db):
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.conn.execute(sql, params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Any:
        return self.conn.executemany(sql, rows)

    def begin(self) -> None:
        # SAVEPOINT outside a transaction would start one that RELEASE commits: begin it first.
        if not self.conn.in_transaction:
            self.conn.execute("BEGIN")


class _Psycopg(_Db):
    dialect = "postgresql"

    def __init__(self, conn: Any) -> None:
        import psycopg

        self.conn = conn
        self.errors = (psycopg.Error,)
        self._pq = psycopg.pq

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.conn.execute(sql, params or None)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Any:
        cur = self.conn.cursor()
        cur.executemany(sql, rows)
        return cur

    def begin(self) -> None:
        status = self.conn.info.transaction_status
        if status == self._pq.TransactionStatus.INERROR:
            raise StoreError("the shared connection's transaction has failed: the caller must roll it back")
        if status == self._pq.TransactionStatus.IDLE and self.conn.autocommit:
            raise StoreError(
                "the shared psycopg connection is in autocommit mode with no transaction open: run the "
                "scheduler call inside `with conn.transaction():` so that it commits with your rows"
            )
        # Not autocommit: psycopg begins a transaction with the first statement, as for the caller's own.


class _SQLAlchemy(_Db):
    """A SQLAlchemy ``Connection`` (or, inside ``run_sync``, an ``AsyncConnection``'s sync side):
    statements go through ``exec_driver_sql`` so that SQLAlchemy knows its transaction began."""

    def __init__(self, conn: Any, dialect: str) -> None:
        import sqlalchemy.exc

        self.conn = conn
        self.dialect = dialect
        self.errors = (sqlalchemy.exc.DBAPIError, sqlite3.Error)

    def _bound(self) -> Any:
        if self.conn is None:
            raise StoreError(
                "this store writes through a SQLAlchemy AsyncConnection: use await store.load_async() "
                "and await store.commit_async(changes)"
            )
        return self.conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._bound().exec_driver_sql(sql, tuple(params))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Any:
        return self._bound().exec_driver_sql(sql, [tuple(r) for r in rows])

    def begin(self) -> None:
        conn = self._bound()
        if not conn.in_transaction():
            conn.begin()  # autobegin, as the caller's own next statement would
        if self.dialect == "sqlite":
            raw = conn.connection.dbapi_connection
            # pysqlite begins lazily (before DML only): SAVEPOINT first would start and then
            # RELEASE would commit a transaction of its own. Begin it where the driver can see it.
            began = getattr(raw, "in_transaction", None)
            if began is None:  # aiosqlite's adapter: the aiosqlite connection it wraps knows
                began = getattr(getattr(raw, "_connection", None), "in_transaction", None)
            if began is None:
                raise StoreError(f"cannot tell whether {type(raw).__name__} is in a transaction: "
                                 "a shared SQLite store needs sqlite3 (pysqlite) or aiosqlite")
            if not began:
                conn.exec_driver_sql("BEGIN")


@contextlib.contextmanager
def _savepoint(db: _Db) -> Iterator[None]:
    """Run the block under a savepoint of the caller's transaction: released on success, rolled
    back to (the caller's own work kept) on failure. Never commits or rolls back the transaction."""
    db.begin()
    db.execute(f"SAVEPOINT {_SAVEPOINT}")
    try:
        yield
    except BaseException:
        with contextlib.suppress(*db.errors, StoreError):
            db.execute(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}")
            db.execute(f"RELEASE SAVEPOINT {_SAVEPOINT}")
        raise
    db.execute(f"RELEASE SAVEPOINT {_SAVEPOINT}")


class _Shared:
    """What both shared stores add: the caller's connection, savepoints instead of transactions,
    and the async entry points."""

    _db: _Db
    _aconn: Any = None

    if TYPE_CHECKING:

        def load(self) -> Snapshot: ...

        def commit(self, changes: Changes) -> None: ...

    @property
    def _where(self) -> str:
        raise NotImplementedError

    def _migrate_on_open(self, what: str) -> None:
        """Refuse a schema newer than this prioq; migrate an older one in a savepoint of the
        caller's transaction (it lands when the caller commits)."""
        with self._use() as conn:
            version, _ = self._detect_version(conn)  # type: ignore[attr-defined]
            check_not_newer(version, what)
            if version != SCHEMA_VERSION:
                with _savepoint(conn):
                    self._migrate_in(conn)  # type: ignore[attr-defined]

    @contextlib.contextmanager
    def _use(self) -> Iterator[Any]:
        """The caller's connection, under this store's lock, its driver errors as StoreError."""
        with self._lock:  # type: ignore[attr-defined]
            if self._closed:  # type: ignore[attr-defined]
                raise StoreError(f"{self._where} is closed")
            with self._guard(self._where) as db:
                yield db

    @contextlib.contextmanager
    def _guard(self, what: str) -> Iterator[_Db]:
        try:
            yield self._db
        except self._db.errors as exc:
            raise StoreError(f"{what}: {type(exc).__name__}: {exc}") from exc
        except OverflowError as exc:
            raise StoreError(f"{what}: {type(exc).__name__}: {exc}") from exc

    async def _on_loop(self, call: Callable[[], T]) -> T:
        if self._aconn is None:
            return call()
        db = self._db
        assert isinstance(db, _SQLAlchemy)

        def bound(sync_conn: Any) -> T:
            db.conn = sync_conn
            try:
                return call()
            finally:
                db.conn = None

        result: Awaitable[T] = self._aconn.run_sync(bound)
        return await result

    @property
    def loop_bound(self) -> bool:
        """Whether this store's I/O belongs to an event loop (made by :func:`shared_async`): call
        ``load_async``/``commit_async``, or let :class:`prioq.aio.AsyncScheduler` do it."""
        return self._aconn is not None

    async def load_async(self) -> Snapshot:
        """:meth:`load` for an async caller: through ``AsyncConnection.run_sync`` for a store made by
        :func:`shared_async` (the loop never waits on I/O); a plain call otherwise."""
        return await self._on_loop(self.load)

    async def commit_async(self, changes: Changes) -> None:
        """:meth:`commit` for an async caller (see :meth:`load_async`); the same contract: applied in
        the caller's transaction, atomically, or :class:`prioq.StoreError` and nothing applied."""
        await self._on_loop(lambda: self.commit(changes))


class SharedSQLiteStore(_Shared, SQLiteStore):
    """A :class:`SQLiteStore` over the application's connection (:func:`shared`). The
    connection's settings (journal mode, ``synchronous``, busy timeout) are the application's;
    the one-writer lock is still taken on the database file."""

    def __init__(self, db: _Db, prefix: str) -> None:
        self._db = db
        self._prefix = prefix
        self._sql = Statements.of(SQLITE, "", prefix)
        self._readonly = False
        self._lock = threading.Lock()
        self._writer_lock = None
        self._commits = None
        self._texts = JobTexts()
        self._synchronous = "(the connection's)"
        self._closed = False
        with self._guard("shared sqlite store"):
            path = next((r[2] for r in db.execute("PRAGMA database_list").fetchall() if r[1] == "main"), "")
        self._memory = not path
        self._path = path or ":memory:"
        self._conn = None
        self._migrate_on_open(f"sqlite store {self._path}")

    is_shared = True

    @property
    def _where(self) -> str:
        return f"sqlite store {self._path}"

    @contextlib.contextmanager
    def _read(self) -> Iterator[Any]:
        with self._use() as db, _savepoint(db):
            yield db

    def _become_writer(self) -> None:
        if self._memory or self._writer_lock is not None:
            return
        self._writer_lock = _writer_lock(self._path)

    def commit(self, changes: Changes) -> None:
        """Apply one call's changes inside the caller's transaction (a savepoint). O(k log n)."""
        writes = Writes.of(changes, self._texts)
        self._become_writer()
        with self._use() as db, _savepoint(db):
            self._apply(db, writes)
        self._committed(writes)

    def close(self) -> None:
        """Give up the writer lock; the connection stays the application's (not closed). Idempotent."""
        with self._lock:
            self._closed = True
            self._release_writer()

    def __repr__(self) -> str:
        return f"SharedSQLiteStore({self._path!r}, prefix={self._prefix!r})"


class SharedPostgresStore(_Shared, PostgresStore):
    """A :class:`PostgresStore` over the application's connection (:func:`shared`). The lease
    works as in any PostgresStore, but its statements too run in the caller's transaction:
    ``try_acquire``, ``renew`` and ``resign`` take effect when the caller commits, and every
    commit's fence holds the lease row locked until then."""

    def __init__(self, db: _Db, *, schema: str, prefix: str, replica: str, lease_seconds: float) -> None:
        self._db = db
        self._aconn = None
        self._url = "(the application's connection)"
        self._replica = replica
        self._lease_seconds = lease_seconds
        self._schema = schema
        self._s = f'"{schema}"'
        self._prefix = prefix
        self._readonly = False
        self._sql = Statements.of(POSTGRESQL, f"{self._s}.", prefix)
        self._commits = None
        self._connect_timeout = 0.0
        self._lock = threading.RLock()
        self._conn = None
        self._closed = False
        self._epoch = None
        self._loaded_epoch = None
        self._texts = JobTexts()
        self._deadline = 0.0
        self._migrate_on_open(f"PostgreSQL schema {schema!r}")

    is_shared = True

    @property
    def _where(self) -> str:
        return f"PostgreSQL store ({self._schema})"

    @contextlib.contextmanager
    def _tx(self, conn: Any) -> Iterator[None]:
        with _savepoint(conn):
            yield

    def try_acquire(self) -> bool:
        """As :meth:`PostgresStore.try_acquire`, in the caller's transaction (commit it to make
        the lease visible to the other replicas). O(1)."""
        import time

        return self._try_acquire(time.monotonic())

    def close(self) -> None:
        """Forget the connection (it stays the application's, not closed). Idempotent."""
        with self._lock:
            self._closed = True

    def __repr__(self) -> str:
        return (f"SharedPostgresStore(schema={self._schema!r}, prefix={self._prefix!r}, "
                f"replica={self._replica!r})")


def _sqlalchemy_dialect(conn: Any) -> str:
    name = conn.dialect.name
    if name == "sqlite":
        return "sqlite"
    if name == "postgresql":
        if conn.dialect.driver not in ("psycopg", "psycopg_async"):
            raise StoreError(
                f"a shared PostgreSQL store needs the psycopg driver (postgresql+psycopg://), not "
                f"{conn.dialect.driver!r}"
            )
        return "postgresql"
    raise StoreError(f"prioq stores live in SQLite or PostgreSQL, not {name!r}")


def _build(db: _Db, options: dict[str, Any]) -> SharedSQLiteStore | SharedPostgresStore:
    prefix = table_prefix(options.pop("prefix", DEFAULT_PREFIX))
    if db.dialect == "sqlite":
        if options:
            raise InvalidValue(f"unknown option(s) for a shared SQLite store: {', '.join(sorted(options))}")
        return SharedSQLiteStore(db, prefix)
    schema = _schema_name(options.pop("schema", "prioq"))
    replica = options.pop("replica", None)
    lease_seconds = options.pop("lease_seconds", 10.0)
    if options:
        raise InvalidValue(f"unknown option(s) for a shared PostgreSQL store: {', '.join(sorted(options))}")
    if replica is None:
        import os
        import secrets
        import socket

        replica = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
    replica = identifier(replica, "replica")
    lease_seconds = seconds(lease_seconds, "lease_seconds", above=0.0, below=86400)
    return SharedPostgresStore(db, schema=schema, prefix=prefix, replica=replica, lease_seconds=lease_seconds)


def shared(conn: Any, **options: Any) -> SharedSQLiteStore | SharedPostgresStore:
    """A store that lives in the application's database and writes through ``conn``, inside the
    caller's transactions; the caller commits (docs/storage.md#shared-transactions).

    ``conn``: a ``sqlite3.Connection``, a psycopg ``Connection`` or a SQLAlchemy ``Connection``
    (sqlite, or postgresql with the psycopg driver). Options: ``prefix`` (``"prioq_"``); on
    PostgreSQL also ``schema`` (``"prioq"``; ``"public"`` puts the prefixed tables beside the
    application's), ``replica`` and ``lease_seconds`` as for :class:`PostgresStore`.

    Creating or migrating prioq's tables happens in the caller's transaction too: commit it.
    Raises :class:`prioq.InvalidValue` for a bad option or connection (``InvalidType`` for a
    wrong type), :class:`prioq.StoreError` for what is found in the database.
    """
    module = type(conn).__module__
    if isinstance(conn, sqlite3.Connection):
        return _build(_Sqlite3(conn), dict(options))
    if module.startswith("psycopg") and hasattr(conn, "info") and hasattr(conn, "transaction"):
        if "Async" in type(conn).__name__:
            raise wrong_type(InvalidValue, "a psycopg AsyncConnection is not supported; wrap it with "
                             "SQLAlchemy's AsyncConnection and use shared_async()")
        return _build(_Psycopg(conn), dict(options))
    if module.startswith("sqlalchemy"):
        from sqlalchemy.engine import Connection

        if type(conn).__name__ == "AsyncConnection":  # importing sqlalchemy.ext.asyncio needs greenlet
            raise wrong_type(InvalidValue, "an AsyncConnection needs `await storage.shared_async(conn)`")
        if isinstance(conn, Connection):
            return _build(_SQLAlchemy(conn, _sqlalchemy_dialect(conn)), dict(options))
    raise wrong_type(
        InvalidValue,
        f"shared store: expected a sqlite3, psycopg or SQLAlchemy connection, got {type(conn).__name__}",
    )


async def shared_async(conn: Any, **options: Any) -> SharedSQLiteStore | SharedPostgresStore:
    """:func:`shared` for a SQLAlchemy ``AsyncConnection`` (needs its ``greenlet`` support). Use the
    store's ``load_async``/``commit_async``; everything runs through ``conn.run_sync``."""
    from sqlalchemy.ext.asyncio import AsyncConnection

    if not isinstance(conn, AsyncConnection):
        raise wrong_type(InvalidValue, f"shared_async takes a SQLAlchemy AsyncConnection, got {conn!r}")

    def build(sync_conn: Any) -> SharedSQLiteStore | SharedPostgresStore:
        db = _SQLAlchemy(sync_conn, _sqlalchemy_dialect(sync_conn))
        store = _build(db, dict(options))
        db.conn = None  # from now on only inside run_sync
        return store

    store: SharedSQLiteStore | SharedPostgresStore = await conn.run_sync(build)
    store._aconn = conn
    return store
