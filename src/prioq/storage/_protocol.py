"""What a store is: :class:`Store` (what a scheduler needs) and :class:`QueryStore`
(the read-only queries a server answers without a scheduler in memory)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from prioq.storage._rows import Changes, JobRow, Snapshot

if TYPE_CHECKING:
    from prioq.ordering import Page

__all__ = ["QueryStore", "Store"]


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

    def pending_jobs(
        self, limit: int, cursor: str | None = None, *, secret: bytes | str | None = None
    ) -> Page[JobRow]:
        """One page of pending jobs; pass ``page.next_cursor`` for the next. O(log n + limit).
        ``secret`` signs the cursors (HMAC): without it a cursor's checksum key is public and a
        client can forge one; a server should pass its own secret, the same on every replica."""
        ...

    def running_jobs(self) -> list[JobRow]:
        """Running and terminating jobs, by ``started_at`` then id (``Scheduler.running()``'s order)."""
        ...

    def get_job(self, job_id: str) -> JobRow | None:
        """One job by id, ``None`` if the store does not hold it. O(log n)."""
        ...
