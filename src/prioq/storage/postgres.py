"""PostgreSQL store: many orchestrator replicas, one leader at a time (docs/storage.md#postgresql).

The tables are those of the SQLite store (same columns, same JSON, same
migrations, same table prefix -- ``prioq_jobs``...: :mod:`prioq.storage._sql`), in
their own schema (``prioq`` by default), plus one *lease* row::

    prioq_lease(id = 1, holder, epoch, expires_at)

The schema already keeps prioq's tables apart; the prefix applies all the same, so
that a table has one name in every backend and ``schema=public`` (an application's
own schema) is safe. ``readonly=True`` (``?mode=ro``) never creates, migrates or
locks anything: a typo in ``?schema=`` is an error, not a new empty schema.

A replica becomes the leader with :meth:`PostgresStore.try_acquire`, which takes
the lease when it is free, expired (by the *database's* clock, ``now()``) or
already held under this replica's name, and then increments ``epoch``: the
fencing token. The leader keeps it with :meth:`~PostgresStore.renew`. Every
:meth:`~PostgresStore.commit` locks the lease row (``SELECT ... FOR UPDATE``) in
the same transaction as its writes and refuses with :class:`prioq.NotLeader`,
writing nothing, unless the stored epoch is still the one this replica took.
A deposed leader — paused by GC, a stalled VM or a network partition past its
lease — therefore cannot overwrite the state its successor resumed from, even
if it never noticed that its lease expired.

Correctness rests on the epoch, not on clocks: a lease that expired but that
nobody took over is still honoured. The expiry only decides when a standby may
take over. ``psycopg`` (3) is imported when a store is opened.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlunsplit

import attrs

from prioq._validate import boolean, identifier, lookup_id, wrong_type
from prioq.errors import InvalidValue, NotLeader, StoreError
from prioq.storage._codec import dumps
from prioq.storage._migrations import SCHEMA_VERSION, STEPS, Names, check_not_newer, locate, migrate
from prioq.storage._options import redact_url, seconds, split_url, table_prefix, url_seconds
from prioq.storage._pages import page_from_rows, pending_page_rows
from prioq.storage._reads import job_row, load_from
from prioq.storage._rows import Changes, JobRow, Snapshot
from prioq.storage._sql import DEFAULT_PREFIX, POSTGRESQL, Statements
from prioq.storage._writes import JobTexts, Writes

if TYPE_CHECKING:
    from prioq.ordering import Page

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "Lease", "PostgresStore"]

_SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


@attrs.frozen(slots=True, kw_only=True)
class Lease:
    """The lease row as the database sees it now: who holds it, the current fencing
    ``epoch``, and ``expires_in`` seconds by the database clock (negative once expired,
    ``None`` when nobody holds it)."""

    holder: str | None
    epoch: int
    expires_in: float | None


def _migration(version: int) -> Callable[[Any, str], None]:
    return lambda cur, quoted_schema: STEPS[version](
        cur, POSTGRESQL, Names(f"{quoted_schema}.", DEFAULT_PREFIX, DEFAULT_PREFIX)
    )


MIGRATIONS: dict[int, Callable[[Any, str], None]] = {v: _migration(v) for v in STEPS}
"""``MIGRATIONS[v](cursor, quoted_schema)`` turns version ``v`` into ``v + 1`` inside a transaction;
the steps are :data:`prioq.storage._migrations.STEPS`, shared with SQLite."""


def _split_url(url: str) -> tuple[str, dict[str, Any]]:
    """The libpq URL without prioq's own query options, and those options."""
    parts = split_url(url)
    options: dict[str, Any] = {}
    rest = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in ("schema", "replica", "prefix"):
            options[key] = value
        elif key == "mode":
            if value not in ("ro", "rw"):
                shown = redact_url(url)
                raise InvalidValue(f"PostgreSQL mode must be 'ro' or 'rw', got {value!r} in {shown!r}")
            options["readonly"] = value == "ro"
        elif key == "lease_seconds":
            options[key] = url_seconds(value, "lease_seconds", url)
        else:
            rest.append((key, value))
    scheme = "postgresql" if parts.scheme in ("postgresql+psycopg", "postgres") else parts.scheme
    return urlunsplit(parts._replace(scheme=scheme, query=urlencode(rest))), options


def _option(name: str, given: Any, options: dict[str, Any]) -> Any:
    if name not in options:
        return given
    if given is not None and given != options[name]:
        raise InvalidValue(f"{name} given twice, as {given!r} and as {options[name]!r} in the URL")
    return options[name]


def _schema_name(schema: object) -> str:
    if not isinstance(schema, str):
        raise wrong_type(InvalidValue, f"schema must be a string, got {schema!r}")
    if not _SCHEMA_NAME.fullmatch(schema):
        raise InvalidValue(f"schema must be a plain SQL identifier ([A-Za-z_][A-Za-z0-9_]*), got {schema!r}")
    return schema


class PostgresStore:
    """A :class:`prioq.storage.Store` in a PostgreSQL schema, shared by replicas.

    ``PostgresStore(url, replica=None, lease_seconds=10.0, schema="prioq", prefix="prioq_",
    readonly=False)``; the options may also come from the URL's query
    (``?schema=...&replica=...&lease_seconds=...&prefix=...&mode=ro``). A read-only store
    answers the read-only queries and :meth:`load` (no lease needed) and creates nothing.
    ``replica`` names this process (default: host, pid and a random suffix);
    names must be unique among live replicas — a replica restarted under the
    same name takes its lease back at once instead of waiting for it to expire.

    Leader loop::

        store = PostgresStore(url, replica="orchestrator-1")
        while True:
            if store.try_acquire():
                scheduler = Scheduler(store=store)   # resumes from the stored state
                ...  # schedule; call store.renew() well within lease_seconds
            time.sleep(store.lease_seconds / 3)

    :meth:`load` needs the lease (it tries to take it once, and raises
    :class:`prioq.NotLeader` when another replica holds it); the read-only
    queries need none. One connection, reconnected after a failure.
    """

    def __init__(
        self,
        url: str,
        *,
        replica: str | None = None,
        lease_seconds: float | None = None,
        schema: str | None = None,
        connect_timeout: float = 10.0,
        prefix: str | None = None,
        readonly: bool | None = None,
    ) -> None:
        # Every option is checked before psycopg is imported or anything is connected.
        url = identifier(url, "PostgreSQL URL")
        url, options = _split_url(url)
        replica = _option("replica", replica, options)
        lease_seconds = _option("lease_seconds", lease_seconds, options)
        schema = _option("schema", schema, options)
        schema = _schema_name("prioq" if schema is None else schema)
        prefix = _option("prefix", prefix, options)
        prefix = table_prefix(DEFAULT_PREFIX if prefix is None else prefix)
        readonly = boolean(bool(_option("readonly", readonly, options)), "PostgreSQL readonly")
        if replica is None:
            replica = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        replica = identifier(replica, "replica")
        lease_seconds = seconds(10.0 if lease_seconds is None else lease_seconds, "lease_seconds",
                                above=0.0, below=86400)
        connect_timeout = seconds(connect_timeout, "connect_timeout", above=0.0, below=86400)
        try:
            import psycopg
        except ImportError as exc:
            raise StoreError(
                "the PostgreSQL store needs psycopg 3: pip install 'prioq[postgres]' "
                f"(import failed: {exc})"
            ) from exc
        self._psycopg = psycopg
        self._url = url
        self._replica = replica
        self._lease_seconds = lease_seconds
        self._schema = schema
        self._s = f'"{schema}"'
        self._prefix = prefix
        self._readonly = readonly
        self._sql = Statements.of(POSTGRESQL, f"{self._s}.", prefix)
        self._commits: int | None = None
        self._connect_timeout = connect_timeout
        self._lock = threading.RLock()
        self._conn: Any = None
        self._closed = False
        self._epoch: int | None = None
        self._loaded_epoch: int | None = None
        self._texts = JobTexts()
        self._deadline = 0.0
        with self._use() as conn:
            self._ensure_schema(conn)

    @classmethod
    def from_url(cls, url: str) -> PostgresStore:
        """``postgresql://user:pass@host:port/db?schema=prioq&replica=a&lease_seconds=10``; other
        query parameters (``sslmode``, ``application_name`` ...) are passed to libpq. The
        constructor reads the same options from its URL; this is ``PostgresStore(url)``."""
        return cls(url)

    # ------------------------------------------------------------------ properties

    @property
    def replica(self) -> str:
        return self._replica

    @property
    def lease_seconds(self) -> float:
        return self._lease_seconds

    @property
    def schema(self) -> str:
        return self._schema

    @property
    def prefix(self) -> str:
        """What the store's table names start with (``prioq_``: ``"prioq".prioq_jobs``...)."""
        return self._prefix

    is_shared = False
    """Whether the store writes through the application's connection (:meth:`shared`)."""

    @classmethod
    def shared(cls, conn: Any, **options: Any) -> PostgresStore:
        """A store in the application's PostgreSQL database that writes through ``conn`` (a psycopg
        ``Connection`` or a SQLAlchemy ``Connection``), inside the caller's transactions: see
        :func:`prioq.storage.shared` for the options and the contract."""
        from prioq.storage._shared import shared as open_shared

        store = open_shared(conn, **options)
        if not isinstance(store, PostgresStore):
            raise wrong_type(InvalidValue, f"PostgresStore.shared needs a PostgreSQL connection: {conn!r}")
        return store

    @property
    def epoch(self) -> int | None:
        """The fencing token this replica took with its lease (``None`` when not leader)."""
        return self._epoch

    @property
    def is_leader(self) -> bool:
        """Whether this replica holds the lease, by its own conservative reckoning.

        ``False`` once a renewal or commit found the lease taken, and once
        ``lease_seconds`` passed (on this machine's monotonic clock) since the last
        successful acquire or renew began. Advisory: commits are fenced by the epoch
        whatever this says.
        """
        return self._epoch is not None and time.monotonic() < self._deadline

    @property
    def schema_version(self) -> int:
        with self._use() as conn:
            return int(conn.execute(self._sql.schema_version).fetchone()[0])

    # ------------------------------------------------------------------ connection and schema

    @contextlib.contextmanager
    def _use(self) -> Iterator[Any]:
        psycopg = self._psycopg
        with self._lock:
            if self._closed:
                raise StoreError(f"PostgreSQL store {redact_url(self._url)} is closed")
            if self._conn is None or self._conn.closed or self._conn.broken:
                self._conn = None
                try:
                    conn = psycopg.connect(
                        self._url, autocommit=True, connect_timeout=max(1, round(self._connect_timeout))
                    )
                    # A leader frozen inside a transaction (SIGSTOP, a VM pause) would hold the lease
                    # row lock and block every standby; the server ends such a transaction after a
                    # lease, and the frozen leader then finds its connection gone, having written nothing.
                    conn.execute(
                        "SELECT set_config('idle_in_transaction_session_timeout', %s, false)",
                        (self._lease_ms(),),
                    )
                    self._conn = conn
                except psycopg.Error as exc:
                    raise StoreError(f"cannot connect to PostgreSQL {redact_url(self._url)}: {exc}") from exc
            try:
                yield self._conn
            except psycopg.Error as exc:
                if self._conn is not None and (self._conn.broken or self._conn.closed):
                    self._conn = None
                raise StoreError(f"PostgreSQL store ({self._schema}): {type(exc).__name__}: {exc}") from exc

    def _lease_ms(self) -> str:
        return str(max(1, round(self._lease_seconds * 1000)))

    def _detect_version(self, conn: Any) -> tuple[int, str]:
        """``(version, prefix the tables have now)``; see :func:`prioq.storage._migrations.locate`."""
        tables = {
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (self._schema,)
            ).fetchall()
        }

        def columns(table: str) -> set[str]:
            return {
                r[0]
                for r in conn.execute(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = %s AND table_name = %s",
                    (self._schema, table),
                ).fetchall()
            }

        def stamp(table: str) -> object:
            row = conn.execute(f"SELECT schema_version FROM {self._s}.{table} WHERE id = 1").fetchone()
            return None if row is None else row[0]

        return locate(tables, self._prefix, columns, stamp, f"PostgreSQL schema {self._schema!r}")

    def _ensure_schema(self, conn: Any) -> None:
        version, _ = self._detect_version(conn)
        where = f"PostgreSQL schema {self._schema!r}"
        check_not_newer(version, where)
        if self._readonly:
            if version == 0:
                raise StoreError(f"{where} holds no prioq store with table prefix {self._prefix!r} "
                                 "(opened read-only: nothing was created)")
            if version != SCHEMA_VERSION:
                raise StoreError(f"{where} has schema version {version}; open it once for writing to "
                                 f"migrate it to {SCHEMA_VERSION} before reading it read-only")
            return
        if version == SCHEMA_VERSION:
            return
        with conn.transaction():
            # Replicas starting together: one migrates, the others wait here and then see it done.
            # Rewriting many old rows in Python may leave the transaction idle longer than a lease.
            conn.execute("SELECT set_config('idle_in_transaction_session_timeout', '0', true)")
            self._migrate_in(conn.cursor())

    def _migrate_in(self, cur: Any) -> None:
        """Create or migrate inside the caller's transaction, under the schema's advisory lock
        (replicas starting together: one migrates, the others wait, then see it done)."""
        cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"prioq schema {self._schema}",))
        version, old = self._detect_version(cur)
        check_not_newer(version, f"PostgreSQL schema {self._schema!r}")
        if version == 0:
            cur.execute(f"CREATE SCHEMA IF NOT EXISTS {self._s}")
        migrate(cur, POSTGRESQL, Names(f"{self._s}.", self._prefix, old), version)

    # ------------------------------------------------------------------ the lease

    def try_acquire(self) -> bool:
        """Become (or stay) the leader if the lease is free, expired, or ours. O(1), one round trip.

        Taking the lease over increments the epoch; renewing our own keeps it.
        After a takeover, build the scheduler anew (``Scheduler(store=store)``):
        commits are refused until :meth:`load` ran under the new epoch.
        """
        if self._readonly:
            raise StoreError(f"PostgreSQL store ({self._schema}) is open read-only: it takes no lease")
        started = time.monotonic()
        try:
            return self._try_acquire(started)
        except StoreError as exc:
            if isinstance(exc.__cause__, self._psycopg.errors.LockNotAvailable):
                return False  # the lease row stayed locked for a whole lease: not ours to take now
            raise

    @contextlib.contextmanager
    def _tx(self, conn: Any) -> Iterator[None]:
        """One transaction of this store's own (a shared store: a savepoint in the caller's)."""
        with conn.transaction():
            yield

    def _try_acquire(self, started: float) -> bool:
        with self._use() as conn, self._tx(conn):
            # Bounded wait for the lease row, whatever holds it (transaction-local: the caller's
            # own statements in a shared transaction would inherit it, so only our own connection).
            if not self.is_shared:
                conn.execute("SELECT set_config('lock_timeout', %s, true)", (self._lease_ms(),))
            holder, epoch, expired = conn.execute(
                f"SELECT holder, epoch, coalesce(expires_at <= now(), true) "
                f"FROM {self._sql.lease} WHERE id = 1 FOR UPDATE"
            ).fetchone()
            if holder == self._replica and epoch == self._epoch:
                new_epoch = epoch
                conn.execute(
                    f"UPDATE {self._sql.lease} SET expires_at = now() + make_interval(secs => %s) "
                    "WHERE id = 1",
                    (self._lease_seconds,),
                )
            elif holder is None or expired or holder == self._replica:
                new_epoch = epoch + 1
                conn.execute(
                    f"UPDATE {self._sql.lease} SET holder = %s, epoch = %s, "
                    f"expires_at = now() + make_interval(secs => %s) WHERE id = 1",
                    (self._replica, new_epoch, self._lease_seconds),
                )
            else:
                self._epoch = None
                return False
        self._epoch = new_epoch
        self._deadline = started + self._lease_seconds
        return True

    def renew(self) -> bool:
        """Extend our lease by ``lease_seconds`` from the database's ``now()``; ``False`` (and no
        longer leader) if another replica took it over. O(1)."""
        if self._epoch is None:
            return False
        started = time.monotonic()
        with self._use() as conn:
            row = conn.execute(
                f"UPDATE {self._sql.lease} SET expires_at = now() + make_interval(secs => %s) "
                f"WHERE id = 1 AND holder = %s AND epoch = %s RETURNING epoch",
                (self._lease_seconds, self._replica, self._epoch),
            ).fetchone()
        if row is None:
            self._epoch = None
            return False
        self._deadline = started + self._lease_seconds
        return True

    def resign(self) -> None:
        """Give the lease up now (a clean shutdown), so a standby need not wait for it to expire."""
        if self._epoch is None:
            return
        epoch, self._epoch = self._epoch, None
        with self._use() as conn:
            conn.execute(
                f"UPDATE {self._sql.lease} SET holder = NULL, expires_at = NULL "
                f"WHERE id = 1 AND holder = %s AND epoch = %s",
                (self._replica, epoch),
            )

    def lease(self) -> Lease:
        """The lease as stored now (any replica may ask)."""
        with self._use() as conn:
            holder, epoch, left = conn.execute(
                "SELECT holder, epoch, extract(epoch FROM expires_at - now()) "
                f"FROM {self._sql.lease} WHERE id = 1"
            ).fetchone()
        return Lease(holder=holder, epoch=epoch, expires_in=None if left is None else float(left))

    def _deposed(self, stored: int, holder: str | None) -> NotLeader:
        mine = self._epoch
        self._epoch = None
        return NotLeader(
            f"replica {self._replica!r} is no longer the leader: the lease is at epoch {stored} "
            f"held by {holder!r}, ours was {mine}; nothing was written"
        )

    # ------------------------------------------------------------------ Store

    def load(self) -> Snapshot:
        """The stored state, read under our lease (taken here if free; a read-only store reads
        without one). O(n) rows decoded; a row that is corrupt or contradicts the others raises
        :class:`prioq.StoreError` naming it."""
        if not self._readonly:
            self._lease_for_load()
        with self._use() as conn, self._tx(conn):
            if not self.is_shared:  # a shared store reads in the caller's transaction, as it is
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            # The fence and the rows in one snapshot: a state read under our epoch, or nothing.
            epoch = None if self._readonly else self._fence(conn)
            snap, count = self._load_in(conn)
        self._loaded_epoch, self._commits = epoch, count
        return snap

    def _load_in(self, conn: Any) -> tuple[Snapshot, int]:
        return load_from(conn, self._sql, self._texts)

    def _lease_for_load(self) -> None:
        """Take the lease if we do not hold it; :class:`NotLeader` when another replica does."""
        if self._epoch is None and not self.try_acquire():
            lease = self.lease()
            raise NotLeader(
                f"replica {self._replica!r} cannot load: the lease is held by {lease.holder!r} "
                f"(epoch {lease.epoch}, {lease.expires_in or 0:.1f}s left)"
            )

    def commit(self, changes: Changes) -> None:
        """Apply one call's changes in one transaction, fenced by our epoch. O(k log n), pipelined.

        Raises :class:`prioq.NotLeader` (writing nothing) when another replica took
        the lease, or when this replica re-took it since the state was loaded.
        """
        writes = Writes.of(changes, self._texts)  # checked and encoded before any round trip
        self._check_may_commit()
        if self.is_shared:
            # In the caller's transaction, under a savepoint: the fence's row lock is held until the
            # caller commits, so no takeover can commit in between either.
            with self._use() as conn, self._tx(conn):
                self._fence(conn, lock=True)
                self._check_updated(self._apply(conn, writes), writes)
            self._committed(writes)
            return
        # Pipelined, three round trips whatever the size: BEGIN and the fence (the lease row
        # locked until COMMIT); then, only if the epoch is still ours, every write; then COMMIT.
        with self._use() as conn, conn.pipeline() as pipeline, conn.transaction():
            self._fence(conn, lock=True, pipeline=pipeline)  # round trip 1
            checks = self._apply(conn, writes)
            pipeline.sync()  # round trip 2
            self._check_updated(checks, writes)
        self._committed(writes)  # leaving the transaction sent COMMIT: round trip 3

    def _committed(self, writes: Writes) -> None:
        writes.committed()
        if self._commits is not None:
            self._commits += 1

    def _check_may_commit(self) -> None:
        """What this replica knows without asking: it holds the lease, and loaded under it."""
        if self._readonly:
            raise StoreError(f"PostgreSQL store ({self._schema}) is open read-only")
        if self._epoch is None:
            raise NotLeader(f"replica {self._replica!r} does not hold the lease; try_acquire() first")
        if self._loaded_epoch != self._epoch:
            raise NotLeader(
                f"replica {self._replica!r} took the lease at epoch {self._epoch} but its state was "
                f"loaded under epoch {self._loaded_epoch}; build a new Scheduler(store=store) first"
            )

    def _fence(self, conn: Any, *, lock: bool = False, pipeline: Any = None) -> int:
        """The stored epoch, if it is still ours (else :class:`NotLeader`). With ``lock`` the lease
        row stays locked until the transaction ends, so no takeover can commit in between; in a
        ``pipeline`` the query is sent now and everything queued before it rides along."""
        lock_clause = " FOR UPDATE" if lock else ""
        fence = conn.execute(f"SELECT holder, epoch FROM {self._sql.lease} WHERE id = 1{lock_clause}")
        if pipeline is not None:
            pipeline.sync()
        holder, epoch = fence.fetchone()
        if epoch != self._epoch or holder != self._replica:
            raise self._deposed(epoch, holder)
        return int(epoch)

    def _apply(self, conn: Any, writes: Writes) -> Any:
        """Queue one commit's statements, each table's rows as one JSON array (no round trip
        in a pipeline); returns the cursors :meth:`_check_updated` checks: the meta update's
        (the commit counter is the one loaded) and the run-state update's (``None`` if none)."""
        if self._readonly:
            raise StoreError(f"PostgreSQL store ({self._schema}) is open read-only")
        sql = self._sql
        if self._commits is None:
            meta = conn.execute(sql.update_meta_unchecked, writes.meta)
        else:
            meta = conn.execute(sql.update_meta, (*writes.meta, self._commits))
        if writes.job_deletes:
            conn.execute(sql.delete_jobs, (dumps([d for (d,) in writes.job_deletes]),))
        if writes.node_deletes:
            conn.execute(sql.delete_nodes, (dumps([d for (d,) in writes.node_deletes]),))
        if writes.node_upserts:
            conn.execute(sql.upsert_nodes, (dumps(writes.node_upserts),))
        if writes.job_upserts:
            conn.execute(sql.upsert_jobs, (dumps(writes.job_upserts),))
        updated = None
        if writes.run_updates:
            updated = conn.execute(sql.update_runs, (dumps(writes.run_updates),))
        if writes.placement is not None:  # pipelined: no round trip of its own
            conn.execute(sql.update_placement, (writes.placement,))
        if writes.extra_deletes:
            conn.execute(sql.delete_extras, (dumps([d for (d,) in writes.extra_deletes]),))
        if writes.extra_upserts:
            conn.execute(sql.upsert_extras, (dumps(writes.extra_upserts),))
        return meta, updated

    def _check_updated(self, checks: tuple[Any, Any], writes: Writes) -> None:
        """The commit counter was the one loaded (else the rows moved under this store: a rolled-back
        shared transaction); every run-state update found its row (the text cache lied otherwise)."""
        meta, updated = checks
        if meta.rowcount != 1:
            raise StoreError(
                f"PostgreSQL store ({self._schema}): the stored state is not the one this scheduler "
                "loaded (a transaction holding its last commit was rolled back?); nothing was written: "
                "build the scheduler anew from the store"
            )
        if updated is not None and updated.rowcount != len(writes.run_updates):
            raise StoreError(
                f"PostgreSQL store ({self._schema}): {len(writes.run_updates) - updated.rowcount} job rows "
                "to update are missing; reload the scheduler"
            )

    def close(self) -> None:
        """Close the connection (the lease stays until it expires; :meth:`resign` gives it up)."""
        with self._lock:
            self._closed = True
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.close()

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        url = redact_url(self._url)
        return f"PostgresStore({url!r}, replica={self._replica!r}, schema={self._schema!r})"

    # ------------------------------------------------------------------ read-only queries

    def pending_jobs(
        self, limit: int, cursor: str | None = None, *, secret: bytes | str | None = None
    ) -> Page[JobRow]:
        """A page of pending jobs in base-priority order via the ``jobs_pending`` index; cursors
        signed with ``secret`` (see :func:`prioq.storage.pending_order`). O(log n + limit)."""
        with self._use() as conn, self._tx(conn):
            rows = pending_page_rows(lambda sql, params: conn.execute(sql, params).fetchall(),
                                     self._sql.jobs, cursor, limit, POSTGRESQL, secret)
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
