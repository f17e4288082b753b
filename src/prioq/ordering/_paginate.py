"""Keyset pagination of rows in memory: :func:`paginate` (docs/ordering.md)."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable

from prioq.ordering._core import (
    DEFAULT_MAX_LIMIT,
    Order,
    Page,
    T,
    _incomparable,
    _invalid,
    check_limit,
)

__all__ = ["paginate"]


def paginate(
    rows: Iterable[T],
    order: Order,
    limit: int,
    cursor: str | None = None,
    *,
    max_limit: int = DEFAULT_MAX_LIMIT,
) -> Page[T]:
    """The page of ``rows`` (any order) that follows ``cursor``, up to ``limit`` items.

    O(n·fields + n log limit): one key per row, then the ``limit + 1`` smallest
    keys after the cursor's (a heap, no full sort). Raises
    :class:`~prioq.errors.InvalidValue` (a ``ValueError``) for a limit outside
    ``1..max_limit`` or rows that tie on every field within the page or at its
    end (the order is not total: pages could skip rows),
    :class:`~prioq.errors.InvalidType` for rows whose field mixes kinds, and
    :class:`InvalidCursor` for a bad cursor, including one whose value is of
    another kind than the rows' (a str where they hold ints). ``rows`` is not modified.
    """
    if not isinstance(order, Order):
        _invalid(f"paginate needs an Order, got {order!r}", wrong_type_=True)
    check_limit(limit, max_limit)
    if not isinstance(rows, Iterable):
        _invalid(f"paginate takes an iterable of rows, got {rows!r}", wrong_type_=True)
    values = None if cursor is None else order.parse_cursor(cursor)
    after = None if values is None else order._key(values)
    keyed = [(order.key(r), i, r) for i, r in enumerate(rows)]  # i: stable, never compares rows
    try:
        if after is not None:
            keyed = [entry for entry in keyed if entry[0] > after]
        chosen = heapq.nsmallest(limit + 1, keyed)
    except TypeError:
        # Keys of different kinds do not compare: the rows mix kinds, or the cursor (a client's
        # token) holds a value of another kind than the rows' (a str where they hold ints).
        raise _incomparable(order, [r for _, _, r in keyed], cursor, values) from None
    for (k1, _, _), (k2, _, row) in itertools.pairwise(chosen):
        if k1 == k2:
            _invalid(
                f"rows tie on every field of {list(order.names)}: {order.values(row)!r}; "
                "end the order with a unique field"
            )
    items = tuple(r for _, _, r in chosen[:limit])
    return Page(items, order.cursor(items[-1]) if len(chosen) > limit else None)
