"""Pluggable storage for scheduler state (docs/storage.md).

A :class:`Store` persists what a :class:`prioq.Scheduler` must not lose: its
nodes, every job it holds (pending, running, terminating) with the data its
order depends on, and a little metadata (the clock and counters). Free
resources and indexes are derived from these on load, never stored.

The scheduler hands each public call's changes to :meth:`Store.commit` as one
:class:`Changes` value *before* it answers; the store applies them atomically
or raises :class:`prioq.StoreError` (and the scheduler rolls its memory back).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import attrs

from prioq.model import Job, Node
from prioq.resources import Resources

if TYPE_CHECKING:
    from prioq.ordering import Order, Page
    from prioq.storage.postgres import PostgresStore
    from prioq.storage.sqlite import SQLiteStore

__all__ = [
    "Changes",
    "JobRow",
    "MemoryStore",
    "NodeRow",
    "PostgresStore",
    "QueryStore",
    "SQLiteStore",
    "Snapshot",
    "Store",
    "open_store",
    "pending_order",
]


def __getattr__(name: str) -> Any:
    # The backends load on first use: sqlite3 and the PostgreSQL module stay out of ``import prioq``.
    if name == "SQLiteStore":
        from prioq.storage.sqlite import SQLiteStore

        return SQLiteStore
    if name == "PostgresStore":
        from prioq.storage.postgres import PostgresStore

        return PostgresStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

JobState = Literal["pending", "running", "terminating"]


@attrs.frozen(slots=True, kw_only=True)
class JobRow:
    """Everything the scheduler keeps about one job."""

    job: Job
    seq: int
    state: JobState
    node_ids: tuple[str, ...] = ()
    allocation: tuple[Resources, ...] = ()
    started_at: float | None = None
    start_priority: float | None = None
    """Effective priority frozen when the job started (``compare="effective"``)."""
    preempted_by: str | None = None
    """For a terminating victim: the preemptor it makes room for."""
    nominated: tuple[str, ...] = ()
    """For a pending preemptor: the nodes its victims are freeing."""
    backfill_for: str | None = None
    """For a running job: the blocked job whose reservation (of unknown start) it backfilled under."""


@attrs.frozen(slots=True, kw_only=True)
class NodeRow:
    node: Node
    order: int


@attrs.frozen(slots=True, kw_only=True)
class Snapshot:
    """A whole scheduler state, as a store loads it."""

    nodes: tuple[NodeRow, ...] = ()
    jobs: tuple[JobRow, ...] = ()
    now: float | None = None
    next_seq: int = 0
    next_order: int = 0

    def is_empty(self) -> bool:
        return not self.nodes and not self.jobs and self.now is None


@attrs.frozen(slots=True, kw_only=True)
class Changes:
    """One public call's changes: rows to upsert (or delete, ``None``) by id, and new metadata."""

    jobs: Mapping[str, JobRow | None] = attrs.field(factory=dict)
    nodes: Mapping[str, NodeRow | None] = attrs.field(factory=dict)
    now: float | None = None
    next_seq: int = 0
    next_order: int = 0


@runtime_checkable
class Store(Protocol):
    """What a scheduler needs from storage."""

    def load(self) -> Snapshot:
        """The stored state (empty for a new store)."""
        ...

    def commit(self, changes: Changes) -> None:
        """Apply ``changes`` atomically, or raise ``StoreError`` and apply nothing."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class QueryStore(Protocol):
    """Read-only queries a server answers from the store, without a scheduler in memory.

    Every backend implements them. Pending jobs come in *base-priority*
    scheduling order (priority desc, submitted_at asc, seq asc, id asc): aging
    is not applied, because the effective order depends on ``now`` and on the
    policy, which only a scheduler knows (``Scheduler.pending(now)`` has it).
    """

    def pending_jobs(self, limit: int, cursor: str | None = None) -> Page[JobRow]:
        """One page of pending jobs; pass ``page.next_cursor`` for the next. O(log n + limit)."""
        ...

    def running_jobs(self) -> list[JobRow]:
        """Running and terminating jobs, by ``started_at`` then id (``Scheduler.running()``'s order)."""
        ...

    def get_job(self, job_id: str) -> JobRow | None:
        """One job by id, ``None`` if the store does not hold it. O(log n)."""
        ...


_PENDING_ORDER: Order | None = None


def pending_order() -> Order:
    """The :class:`prioq.ordering.Order` of :meth:`QueryStore.pending_jobs` (its cursors belong to it):
    priority desc, submitted_at asc, seq asc, id asc."""
    global _PENDING_ORDER
    if _PENDING_ORDER is None:
        from prioq.ordering import Order

        _PENDING_ORDER = Order([
            ("priority", "desc", "not_null"),
            ("submitted_at", "asc", "not_null"),
            ("seq", "asc", "not_null"),
            ("id", "asc", "not_null", "text"),
        ])
    return _PENDING_ORDER


def _pending_values(row: JobRow) -> tuple[int, float, int, str]:
    """``row``'s sort values in :func:`pending_order`."""
    return (row.job.priority, row.job.submitted_at, row.seq, row.job.id)


def _check_job_id(job_id: object) -> str:
    from prioq.errors import InvalidJob

    if not isinstance(job_id, str):
        raise InvalidJob(f"job id must be a string, got {job_id!r}")
    return job_id


def _pending_key(values: tuple[Any, ...]) -> tuple[Any, ...]:
    priority, submitted_at, seq, job_id = values
    return (-priority, submitted_at, seq, job_id)


def _page_pending(rows: Iterable[JobRow], limit: int, cursor: str | None) -> Page[JobRow]:
    """:meth:`QueryStore.pending_jobs` over rows in memory: sort, then bisect to the cursor. O(n log n)."""
    from prioq.ordering import Page, check_limit

    check_limit(limit)
    order = pending_order()
    after = None if cursor is None else _pending_key(order.parse_cursor(cursor))
    keyed = sorted(((_pending_key(_pending_values(r)), r) for r in rows if r.state == "pending"),
                   key=lambda kr: kr[0])
    start = 0 if after is None else bisect_right([k for k, _ in keyed], after)
    items = tuple(r for _, r in keyed[start : start + limit])
    more = start + limit < len(keyed)
    return Page(items, order.cursor_from_values(_pending_values(items[-1])) if more else None)


class MemoryStore:
    """Keeps the state in this process: nothing survives a restart, but a
    scheduler reopened on the same object resumes (useful in tests)."""

    def __init__(self) -> None:
        self._jobs: dict[str, JobRow] = {}
        self._nodes: dict[str, NodeRow] = {}
        self._now: float | None = None
        self._next_seq = 0
        self._next_order = 0

    def load(self) -> Snapshot:
        return Snapshot(
            nodes=tuple(sorted(self._nodes.values(), key=lambda r: r.order)),
            jobs=tuple(sorted(self._jobs.values(), key=lambda r: r.seq)),
            now=self._now,
            next_seq=self._next_seq,
            next_order=self._next_order,
        )

    def commit(self, changes: Changes) -> None:
        for job_id, row in changes.jobs.items():
            if row is None:
                self._jobs.pop(job_id, None)
            else:
                self._jobs[job_id] = row
        for node_id, nrow in changes.nodes.items():
            if nrow is None:
                self._nodes.pop(node_id, None)
            else:
                self._nodes[node_id] = nrow
        self._now = changes.now
        self._next_seq = changes.next_seq
        self._next_order = changes.next_order

    def close(self) -> None:
        return None

    # Read-only queries (QueryStore).

    def pending_jobs(self, limit: int, cursor: str | None = None) -> Page[JobRow]:
        """One page of pending jobs in base-priority order. O(n log n): memory keeps no index."""
        return _page_pending(self._jobs.values(), limit, cursor)

    def running_jobs(self) -> list[JobRow]:
        rows = (r for r in self._jobs.values() if r.state != "pending")
        return sorted(rows, key=lambda r: (r.started_at, r.job.id))

    def get_job(self, job_id: str) -> JobRow | None:
        return self._jobs.get(_check_job_id(job_id))


def open_store(url: str) -> Store:
    """A store by URL. O(1) for a new store; opening an older schema migrates it.

    * ``memory://`` — :class:`MemoryStore`, nothing survives the process.
    * ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db``,
      ``sqlite:///:memory:`` — :class:`prioq.storage.sqlite.SQLiteStore`;
      options ``?synchronous=FULL|NORMAL|EXTRA``, ``busy_timeout=<seconds>``, ``mode=ro``.
    * ``postgresql://user:pass@host:port/db`` — :class:`prioq.storage.postgres.PostgresStore`
      (psycopg 3); options ``?schema=prioq&replica=<name>&lease_seconds=10``, other
      query parameters go to libpq.

    Raises :class:`prioq.StoreError` for an unknown scheme, a bad option, a file
    that is not a prioq store or is unreadable, or a schema newer than this library
    knows; nothing is written in those cases.
    """
    from prioq.errors import StoreError

    if not isinstance(url, str):
        raise StoreError(f"store URL must be a string, got {url!r}")
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if url in ("memory://", "memory:"):
        return MemoryStore()
    if scheme == "sqlite":
        from prioq.storage.sqlite import SQLiteStore

        return SQLiteStore.from_url(url)
    if scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        from prioq.storage.postgres import PostgresStore

        return PostgresStore.from_url(url)
    shown = scheme or url.split(":", 1)[0]
    raise StoreError(
        f"unknown store URL scheme {shown!r} in {_redact_url(url)!r}; "
        "use memory://, sqlite:///path or postgresql://..."
    )


def _redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for error messages)."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        netloc = parts.netloc.replace(":" + parts.password + "@", ":***@", 1)
        return urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        return "<unparsable URL>"
