"""Pages of pending jobs in base-priority order, the same for every backend: the
:class:`~prioq.ordering.Order` and its cursors, the page over rows in memory, and the
keyset SQL both SQL stores run (docs/storage.md#read-only-queries)."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from prioq._validate import integer
from prioq.storage._rows import JobRow

if TYPE_CHECKING:
    from prioq.ordering import Order, Page
    from prioq.storage._sql import Dialect

__all__ = [
    "check_limit",
    "page_from_rows",
    "page_in_memory",
    "pending_order",
    "pending_page_rows",
    "pending_values",
]

_PENDING_ORDER: Order | None = None


def pending_order(secret: bytes | str | None = None) -> Order:
    """The :class:`prioq.ordering.Order` of :meth:`QueryStore.pending_jobs` (its cursors belong to it):
    priority desc, submitted_at asc, seq asc, id asc, each of a declared kind (a cursor holding a
    str priority is an :class:`prioq.InvalidCursor`). ``secret`` signs the cursors (HMAC-SHA256):
    without one the checksum key is public, so a client can forge a cursor (of valid values only)."""
    global _PENDING_ORDER
    if _PENDING_ORDER is None:
        # Imported on first use: prioq.ordering stays out of ``import prioq.storage``.
        from prioq.ordering import Order

        _PENDING_ORDER = Order([
            ("priority", "desc", "not_null", "int"),
            ("submitted_at", "asc", "not_null", "number"),
            ("seq", "asc", "not_null", "int"),
            ("id", "asc", "not_null", "text", "str"),
        ])
    return _PENDING_ORDER if secret is None else _PENDING_ORDER.with_secret(secret)


def check_limit(limit: object) -> int:
    """A page size: an int in ``1..DEFAULT_MAX_LIMIT`` (``InvalidValue``, ``InvalidType``)."""
    from prioq.ordering import DEFAULT_MAX_LIMIT

    return integer(limit, "limit", minimum=1, maximum=DEFAULT_MAX_LIMIT)


def pending_values(row: JobRow) -> tuple[int, float, int, str]:
    """``row``'s sort values in :func:`pending_order`."""
    return (row.job.priority, row.job.submitted_at, row.seq, row.job.id)


def _ascending_key(values: tuple[Any, ...]) -> tuple[Any, ...]:
    priority, submitted_at, seq, job_id = values
    return (-priority, submitted_at, seq, job_id)


def page_in_memory(
    rows: Iterable[JobRow], limit: int, cursor: str | None, secret: bytes | str | None = None
) -> Page[JobRow]:
    """:meth:`QueryStore.pending_jobs` over rows in memory: sort, then bisect to the cursor. O(n log n)."""
    from prioq.ordering import Page

    check_limit(limit)
    order = pending_order(secret)
    after = None if cursor is None else _ascending_key(order.parse_cursor(cursor))
    keyed = sorted(((_ascending_key(pending_values(r)), r) for r in rows if r.state == "pending"),
                   key=lambda kr: kr[0])
    start = 0 if after is None else bisect_right([k for k, _ in keyed], after)
    items = tuple(r for _, r in keyed[start : start + limit])
    more = start + limit < len(keyed)
    return Page(items, order.cursor_from_values(pending_values(items[-1])) if more else None)


def pending_page_rows(
    execute: Callable[[str, list[Any]], list[Any]],
    table: str,
    cursor: str | None,
    limit: int,
    dialect: Dialect,
    secret: bytes | str | None = None,
) -> list[Any]:
    """Up to ``limit + 1`` rows of ``(id, seq, state, data, run)`` after ``cursor`` in base-priority
    order, for :func:`page_from_rows`; ``execute(sql, params)`` returns a query's rows (run it in
    one read transaction). The order turns from descending (priority) to ascending: the cursor's
    own priority is one index seek, the lower priorities another (``Order.keyset_branches``),
    so every page costs O(log n + limit) on the ``jobs_pending`` index, however deep."""
    check_limit(limit)
    order = pending_order(secret)
    by = order.order_by_sql(None, dialect.name)
    rows: list[Any] = []
    for where, params in order.keyset_branches(None, cursor, dialect.name):
        sql = (f"SELECT id, seq, state, data, run FROM {table} WHERE state = 'pending' AND {where} "
               f"ORDER BY {by} LIMIT {dialect.mark}")
        rows += execute(sql, [*params, limit + 1 - len(rows)])
        if len(rows) > limit:
            break
    return rows


def page_from_rows(items: list[JobRow], limit: int, secret: bytes | str | None = None) -> Page[JobRow]:
    """A page from up to ``limit + 1`` rows fetched in :func:`pending_order`; the extra row only
    tells that a next page exists."""
    from prioq.ordering import Page

    more = len(items) > limit
    shown = tuple(items[:limit])
    cursor = pending_order(secret).cursor_from_values(pending_values(shown[-1])) if more else None
    return Page(shown, cursor)
