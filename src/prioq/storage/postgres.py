"""PostgreSQL store: many orchestrator replicas, one leader at a time (docs/storage.md#postgresql).

The tables are those of the SQLite store (same columns, same JSON), in their
own schema (``prioq`` by default), plus one *lease* row::

    lease(id = 1, holder, epoch, expires_at)

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
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import attrs

from prioq.errors import NotLeader, StoreError
from prioq.storage import Changes, JobRow, Snapshot, _check_job_id, _redact_url
from prioq.storage._codec import (
    JobTexts,
    dumps,
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

__all__ = ["SCHEMA_VERSION", "Lease", "PostgresStore"]

SCHEMA_VERSION = 2
"""Same numbering as the SQLite store: version 2 splits the job from its run state."""

_SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


@attrs.frozen(slots=True, kw_only=True)
class Lease:
    """The lease row as the database sees it now: who holds it, the current fencing
    ``epoch``, and ``expires_in`` seconds by the database clock (negative once expired,
    ``None`` when nobody holds it)."""

    holder: str | None
    epoch: int
    expires_in: float | None


def _v0_to_v1(cur: Any, s: str) -> None:
    """Version 1: every job row in one JSON object; the lease row."""
    for statement in (
        f"CREATE SCHEMA IF NOT EXISTS {s}",
        f"""CREATE TABLE {s}.meta (
            id integer PRIMARY KEY CHECK (id = 1),
            schema_version integer NOT NULL,
            now double precision,
            next_seq bigint NOT NULL DEFAULT 0,
            next_order bigint NOT NULL DEFAULT 0)""",
        f"INSERT INTO {s}.meta (id, schema_version) VALUES (1, 1)",
        f'CREATE TABLE {s}.nodes (id text COLLATE "C" PRIMARY KEY, ord bigint NOT NULL, data text NOT NULL)',
        f"""CREATE TABLE {s}.jobs (
            id text COLLATE "C" PRIMARY KEY,
            seq bigint NOT NULL,
            state text NOT NULL,
            priority bigint NOT NULL,
            submitted_at double precision NOT NULL,
            data text NOT NULL)""",
        f"CREATE INDEX jobs_pending ON {s}.jobs (state, priority DESC, submitted_at, seq)",
        f"""CREATE TABLE {s}.lease (
            id integer PRIMARY KEY CHECK (id = 1),
            holder text,
            epoch bigint NOT NULL DEFAULT 0,
            expires_at timestamptz)""",
        f"INSERT INTO {s}.lease (id) VALUES (1)",
    ):
        cur.execute(statement)


def _v1_to_v2(cur: Any, s: str) -> None:
    """Version 2: job and run state apart, ``started_at`` column, partial indexes (as SQLite)."""
    cur.execute(f"ALTER TABLE {s}.jobs ADD COLUMN started_at double precision, ADD COLUMN run text")
    rows = cur.execute(f"SELECT id, data FROM {s}.jobs").fetchall()
    if rows:
        cur.executemany(
            f"UPDATE {s}.jobs SET data = %s, run = %s, started_at = %s WHERE id = %s",
            [(*split_v1_row(data), job_id) for job_id, data in rows],
        )
    for statement in (
        f"DROP INDEX {s}.jobs_pending",
        f"CREATE INDEX jobs_pending ON {s}.jobs (priority DESC, submitted_at, seq, id) "
        "WHERE state = 'pending'",
        f"CREATE INDEX jobs_running ON {s}.jobs (started_at, id) WHERE state <> 'pending'",
        f"CREATE UNIQUE INDEX jobs_seq ON {s}.jobs (seq)",
        f"CREATE UNIQUE INDEX nodes_ord ON {s}.nodes (ord)",
    ):
        cur.execute(statement)


MIGRATIONS = {0: _v0_to_v1, 1: _v1_to_v2}
"""``MIGRATIONS[v](cursor, quoted_schema)`` turns version ``v`` into ``v + 1`` inside a transaction."""

assert sorted(MIGRATIONS) == list(range(SCHEMA_VERSION))


def _split_url(url: str) -> tuple[str, dict[str, Any]]:
    """The libpq URL without prioq's own query options, and those options."""
    parts = urlsplit(url)
    options: dict[str, Any] = {}
    rest = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in ("schema", "replica"):
            options[key] = value
        elif key == "lease_seconds":
            try:
                options[key] = float(value)
            except ValueError:
                raise StoreError(f"lease_seconds must be a number, got {value!r}") from None
        else:
            rest.append((key, value))
    scheme = "postgresql" if parts.scheme in ("postgresql+psycopg", "postgres") else parts.scheme
    return urlunsplit(parts._replace(scheme=scheme, query=urlencode(rest))), options


def _option(name: str, given: Any, options: dict[str, Any]) -> Any:
    if name not in options:
        return given
    if given is not None and given != options[name]:
        raise StoreError(f"{name} given twice, as {given!r} and as {options[name]!r} in the URL")
    return options[name]


# Rows travel as one JSON array of arrays per statement: psycopg binds one string in
# microseconds, where binding hundreds of values (or arrays of them) costs milliseconds, and
# the server unpacks it with json_array_elements. Positions match the tuples of _codec.
_JOB_FIELDS = (
    "e->>0, (e->>1)::bigint, e->>2, (e->>3)::bigint, (e->>4)::float8, (e->>5)::float8, e->>6, e->>7"
)
_RUN_FIELDS = "(e->>0)::bigint, e->>1, (e->>2)::bigint, (e->>3)::float8, (e->>4)::float8, e->>5, e->>6"


class PostgresStore:
    """A :class:`prioq.storage.Store` in a PostgreSQL schema, shared by replicas.

    ``PostgresStore(url, replica=None, lease_seconds=10.0, schema="prioq")``; the three
    options may also come from the URL's query (``?schema=...&replica=...&lease_seconds=...``).
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
    ) -> None:
        try:
            import psycopg
        except ImportError as exc:
            raise StoreError(
                "the PostgreSQL store needs psycopg 3: pip install 'prioq[postgres]' "
                f"(import failed: {exc})"
            ) from exc
        self._psycopg = psycopg
        if not isinstance(url, str) or not url:
            raise StoreError(f"PostgreSQL URL must be a non-empty string, got {url!r}")
        url, options = _split_url(url)
        replica = _option("replica", replica, options)
        lease_seconds = _option("lease_seconds", lease_seconds, options)
        schema = _option("schema", schema, options)
        if replica is None:
            replica = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        if not isinstance(replica, str) or not replica:
            raise StoreError(f"replica must be a non-empty string, got {replica!r}")
        if lease_seconds is None:
            lease_seconds = 10.0
        if isinstance(lease_seconds, bool) or not isinstance(lease_seconds, int | float) or not (
            0 < lease_seconds < 86400
        ):
            raise StoreError(f"lease_seconds must be a number in (0, 86400), got {lease_seconds!r}")
        if schema is None:
            schema = "prioq"
        if not isinstance(schema, str) or not _SCHEMA_NAME.fullmatch(schema):
            raise StoreError(
                f"schema must be a plain SQL identifier ([A-Za-z_][A-Za-z0-9_]*), got {schema!r}"
            )
        self._url = url
        self._replica = replica
        self._lease_seconds = float(lease_seconds)
        self._schema = schema
        self._s = f'"{schema}"'
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
            return int(conn.execute(f"SELECT schema_version FROM {self._s}.meta").fetchone()[0])

    # ------------------------------------------------------------------ connection and schema

    @contextlib.contextmanager
    def _use(self) -> Iterator[Any]:
        psycopg = self._psycopg
        with self._lock:
            if self._closed:
                raise StoreError(f"PostgreSQL store {_redact_url(self._url)} is closed")
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
                    raise StoreError(f"cannot connect to PostgreSQL {_redact_url(self._url)}: {exc}") from exc
            try:
                yield self._conn
            except psycopg.Error as exc:
                if self._conn is not None and (self._conn.broken or self._conn.closed):
                    self._conn = None
                raise StoreError(f"PostgreSQL store ({self._schema}): {type(exc).__name__}: {exc}") from exc

    def _lease_ms(self) -> str:
        return str(max(1, round(self._lease_seconds * 1000)))

    def _detect_version(self, conn: Any) -> int:
        tables = {
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (self._schema,)
            )
        }
        if not tables:
            return 0
        if "meta" not in tables:
            raise StoreError(
                f"PostgreSQL schema {self._schema!r} holds tables ({', '.join(sorted(tables))}) "
                "but is not a prioq store (no meta table); choose another ?schema="
            )
        row = conn.execute(f"SELECT schema_version FROM {self._s}.meta WHERE id = 1").fetchone()
        if row is None or not isinstance(row[0], int) or row[0] < 1:
            raise StoreError(f"PostgreSQL schema {self._schema!r}: meta holds no valid schema_version")
        return int(row[0])

    def _ensure_schema(self, conn: Any) -> None:
        version = self._detect_version(conn)
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"PostgreSQL schema {self._schema!r} has schema version {version}, newer than this "
                f"prioq supports ({SCHEMA_VERSION}); upgrade prioq to open it"
            )
        with conn.transaction():
            # Replicas starting together: one migrates, the others wait here and then see it done.
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"prioq schema {self._schema}",))
            # Rewriting many old rows in Python may leave the transaction idle longer than a lease.
            conn.execute("SELECT set_config('idle_in_transaction_session_timeout', '0', true)")
            version = self._detect_version(conn)
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"PostgreSQL schema {self._schema!r} has schema version {version}, newer than "
                    f"this prioq supports ({SCHEMA_VERSION})"
                )
            cur = conn.cursor()
            while version < SCHEMA_VERSION:
                MIGRATIONS[version](cur, self._s)
                version += 1
                cur.execute(f"UPDATE {self._s}.meta SET schema_version = %s WHERE id = 1", (version,))

    # ------------------------------------------------------------------ the lease

    def try_acquire(self) -> bool:
        """Become (or stay) the leader if the lease is free, expired, or ours. O(1), one round trip.

        Taking the lease over increments the epoch; renewing our own keeps it.
        After a takeover, build the scheduler anew (``Scheduler(store=store)``):
        commits are refused until :meth:`load` ran under the new epoch.
        """
        started = time.monotonic()
        try:
            return self._try_acquire(started)
        except StoreError as exc:
            if isinstance(exc.__cause__, self._psycopg.errors.LockNotAvailable):
                return False  # the lease row stayed locked for a whole lease: not ours to take now
            raise

    def _try_acquire(self, started: float) -> bool:
        with self._use() as conn, conn.transaction():
            # Bounded wait for the lease row, whatever holds it.
            conn.execute("SELECT set_config('lock_timeout', %s, true)", (self._lease_ms(),))
            holder, epoch, expired = conn.execute(
                f"SELECT holder, epoch, coalesce(expires_at <= now(), true) "
                f"FROM {self._s}.lease WHERE id = 1 FOR UPDATE"
            ).fetchone()
            if holder == self._replica and epoch == self._epoch:
                new_epoch = epoch
                conn.execute(
                    f"UPDATE {self._s}.lease SET expires_at = now() + make_interval(secs => %s) WHERE id = 1",
                    (self._lease_seconds,),
                )
            elif holder is None or expired or holder == self._replica:
                new_epoch = epoch + 1
                conn.execute(
                    f"UPDATE {self._s}.lease SET holder = %s, epoch = %s, "
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
                f"UPDATE {self._s}.lease SET expires_at = now() + make_interval(secs => %s) "
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
                f"UPDATE {self._s}.lease SET holder = NULL, expires_at = NULL "
                f"WHERE id = 1 AND holder = %s AND epoch = %s",
                (self._replica, epoch),
            )

    def lease(self) -> Lease:
        """The lease as stored now (any replica may ask)."""
        with self._use() as conn:
            holder, epoch, left = conn.execute(
                "SELECT holder, epoch, extract(epoch FROM expires_at - now()) "
                f"FROM {self._s}.lease WHERE id = 1"
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
        """The stored state, read under our lease (taken here if free). O(n) rows decoded."""
        if self._epoch is None and not self.try_acquire():
            lease = self.lease()
            raise NotLeader(
                f"replica {self._replica!r} cannot load: the lease is held by {lease.holder!r} "
                f"(epoch {lease.epoch}, {lease.expires_in or 0:.1f}s left)"
            )
        s = self._s
        with self._use() as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            holder, epoch = conn.execute(f"SELECT holder, epoch FROM {s}.lease WHERE id = 1").fetchone()
            if epoch != self._epoch or holder != self._replica:
                raise self._deposed(epoch, holder)
            meta = conn.execute(f"SELECT now, next_seq, next_order FROM {s}.meta WHERE id = 1").fetchone()
            nodes = conn.execute(f"SELECT id, ord, data FROM {s}.nodes ORDER BY ord").fetchall()
            jobs = conn.execute(f"SELECT id, seq, state, data, run FROM {s}.jobs ORDER BY seq").fetchall()
        self._loaded_epoch = epoch
        return snapshot(meta, nodes, jobs, self._texts)

    def commit(self, changes: Changes) -> None:
        """Apply one call's changes in one transaction, fenced by our epoch. O(k log n), pipelined.

        Raises :class:`prioq.NotLeader` (writing nothing) when another replica took
        the lease, or when this replica re-took it since the state was loaded.
        """
        if self._epoch is None:
            raise NotLeader(f"replica {self._replica!r} does not hold the lease; try_acquire() first")
        if self._loaded_epoch != self._epoch:
            raise NotLeader(
                f"replica {self._replica!r} took the lease at epoch {self._epoch} but its state was "
                f"loaded under epoch {self._loaded_epoch}; build a new Scheduler(store=store) first"
            )
        jobs = job_params(changes, self._texts)
        del_nodes, put_nodes = node_params(changes)
        s = self._s
        # Pipelined, three round trips whatever the size: BEGIN and the fence (the lease row
        # locked until COMMIT); then, only if the epoch is still ours, every write; then COMMIT.
        with self._use() as conn, conn.pipeline() as pipeline, conn.transaction():
            fence = conn.execute(f"SELECT holder, epoch FROM {s}.lease WHERE id = 1 FOR UPDATE")
            pipeline.sync()
            holder, epoch = fence.fetchone()
            if epoch != self._epoch or holder != self._replica:
                raise self._deposed(epoch, holder)
            if jobs.deletes:
                conn.execute(
                    f"DELETE FROM {s}.jobs WHERE id IN (SELECT json_array_elements_text(%s::json))",
                    (dumps([d for (d,) in jobs.deletes]),),
                )
            if del_nodes:
                conn.execute(
                    f"DELETE FROM {s}.nodes WHERE id IN (SELECT json_array_elements_text(%s::json))",
                    (dumps([d for (d,) in del_nodes]),),
                )
            if put_nodes:
                conn.execute(
                    f"INSERT INTO {s}.nodes (id, ord, data) "
                    "SELECT e->>0, (e->>1)::bigint, e->>2 FROM json_array_elements(%s::json) AS e "
                    "ON CONFLICT (id) DO UPDATE SET ord = excluded.ord, data = excluded.data",
                    (dumps(put_nodes),),
                )
            if jobs.upserts:
                conn.execute(
                    f"INSERT INTO {s}.jobs (id, seq, state, priority, submitted_at, started_at, data, run) "
                    f"SELECT {_JOB_FIELDS} FROM json_array_elements(%s::json) AS e "
                    "ON CONFLICT (id) DO UPDATE SET "
                    "seq = excluded.seq, state = excluded.state, priority = excluded.priority, "
                    "submitted_at = excluded.submitted_at, started_at = excluded.started_at, "
                    "data = excluded.data, run = excluded.run",
                    (dumps(jobs.upserts),),
                )
            updated = None
            if jobs.updates:
                updated = conn.execute(
                    f"UPDATE {s}.jobs AS j SET seq = u.seq, state = u.state, priority = u.priority, "
                    "submitted_at = u.submitted_at, started_at = u.started_at, run = u.run "
                    f"FROM (SELECT {_RUN_FIELDS} FROM json_array_elements(%s::json) AS e) "
                    "AS u(seq, state, priority, submitted_at, started_at, run, id) WHERE j.id = u.id",
                    (dumps(jobs.updates),),
                )
            conn.execute(
                f"UPDATE {s}.meta SET now = %s, next_seq = %s, next_order = %s WHERE id = 1",
                (changes.now, changes.next_seq, changes.next_order),
            )
            pipeline.sync()
            if updated is not None and updated.rowcount != len(jobs.updates):
                # The text cache lied: never lose a row.
                raise StoreError(
                    f"PostgreSQL store ({self._schema}): {len(jobs.updates) - updated.rowcount} job rows "
                    "to update are missing; reload the scheduler"
                )
        jobs.committed()

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
        url = _redact_url(self._url)
        return f"PostgresStore({url!r}, replica={self._replica!r}, schema={self._schema!r})"

    # ------------------------------------------------------------------ read-only queries

    def pending_jobs(self, limit: int, cursor: str | None = None) -> Page[JobRow]:
        """A page of pending jobs in base-priority order via the ``jobs_pending`` index. O(log n + limit)."""
        sql, params = pending_page_query(f"{self._s}.jobs", cursor, limit, "postgresql")
        with self._use() as conn:
            rows = conn.execute(sql, params).fetchall()
        return page([job_row(r) for r in rows], limit)

    def running_jobs(self) -> list[JobRow]:
        """Running and terminating jobs by ``started_at`` then id. O(r log n)."""
        with self._use() as conn:
            rows = conn.execute(
                f"SELECT id, seq, state, data, run FROM {self._s}.jobs WHERE state <> 'pending' "
                "ORDER BY started_at, id"
            ).fetchall()
        return [job_row(r) for r in rows]

    def get_job(self, job_id: str) -> JobRow | None:
        """One job by id. O(log n)."""
        _check_job_id(job_id)
        with self._use() as conn:
            row = conn.execute(
                f"SELECT id, seq, state, data, run FROM {self._s}.jobs WHERE id = %s", (job_id,)
            ).fetchone()
        return None if row is None else job_row(row)
