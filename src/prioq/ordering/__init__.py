"""List ordering and keyset pagination for a server's ``runs/list`` and ``jobs/list``.

* :mod:`prioq.ordering._core` -- :class:`Order`, sort keys and cursors;
* :mod:`prioq.ordering._paginate` -- :func:`paginate` over rows in memory;
* :mod:`prioq.ordering._sql` -- ``ORDER BY`` and keyset ``WHERE`` fragments for SQLite and PostgreSQL;
* :mod:`prioq.ordering._sqlalchemy` -- the same as SQLAlchemy expressions (optional extra).

See ``docs/ordering.md``.
"""

from __future__ import annotations

from prioq.ordering._core import (
    DEFAULT_MAX_LIMIT,
    MAX_CURSOR_CHARS,
    RUNS_LIST,
    RUNS_LIST_NOT_NULL,
    SCHEDULING,
    ColumnName,
    Dialect,
    Direction,
    Field,
    Nulls,
    Order,
    Page,
    Value,
    check_limit,
)
from prioq.ordering._paginate import paginate

__all__ = [
    "DEFAULT_MAX_LIMIT",
    "MAX_CURSOR_CHARS",
    "RUNS_LIST",
    "RUNS_LIST_NOT_NULL",
    "SCHEDULING",
    "ColumnName",
    "Dialect",
    "Direction",
    "Field",
    "Nulls",
    "Order",
    "Page",
    "Value",
    "check_limit",
    "paginate",
]
