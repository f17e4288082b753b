"""Seeing a queue: :func:`queue_view` reads a live :class:`~prioq.Scheduler` or a store
(read-only) and returns a :class:`QueueView`, whose ``html()`` is a self-contained page and
``to_dict()`` / ``json()`` the same data for an orchestrator's own UI (docs/visualization.md).
"""

from __future__ import annotations

from prioq import _validate
from prioq.errors import InvalidValue
from prioq.queue.aging import AgingPolicy, NoAging
from prioq.scheduler import Scheduler
from prioq.storage import Snapshot, Store
from prioq.view._data import (
    Band,
    DeviceUse,
    NodeUse,
    PendingEntry,
    QueueView,
    RunningEntry,
    build_from_scheduler,
    build_from_snapshot,
    check_limit,
    class_name,
)
from prioq.view._html import duration, number
from prioq.view._style import BAND_COLOURS, BASE_CSS, PALETTE, PART_COLOURS, colour

__all__ = [
    "BAND_COLOURS",
    "BASE_CSS",
    "PALETTE",
    "PART_COLOURS",
    "Band",
    "DeviceUse",
    "NodeUse",
    "PendingEntry",
    "QueueView",
    "RunningEntry",
    "class_name",
    "colour",
    "duration",
    "number",
    "queue_view",
]


def queue_view(
    source: Scheduler | Store | Snapshot,
    now: float | None = None,
    *,
    aging: AgingPolicy | None = None,
    limit: int | None = None,
) -> QueueView:
    """The queue at ``now``: pending jobs in scheduling order with their effective priority in
    parts, bands, running jobs per node with the GPU shares they hold, nominations and victims.

    ``source``: a live :class:`~prioq.Scheduler` (its policy gives aging, fair share and pending
    reasons; ``now`` defaults to its clock and may not be before it), or a store / a
    :class:`~prioq.storage.Snapshot` read without a scheduler (``aging`` then says how the
    scheduler ages jobs, default none; ``now`` defaults to the store's clock; open a PostgreSQL
    store read-only, ``?mode=ro``, as ``prioq show`` does: a writable one's ``load`` takes the
    leader lease). ``limit``: pending
    jobs to list (``None`` or 0: all). Reads only: nothing changes, no lease is taken.
    O(n log n) in jobs plus O(devices); a live scheduler's view with a ``limit`` sorts only
    what ``Scheduler.pending(now, limit)`` does, plus O(n) to count the bands (10^5 pending,
    ``limit=50``: about 21x less than the whole view; ``benchmarks/bench_status.py``). Bad
    arguments raise :class:`~prioq.InvalidValue` (wrong types its ``...Type`` variant).
    """
    shown = check_limit(limit)
    if now is not None:
        _validate.number(now, "queue_view: now", minimum=0)
    if isinstance(source, Scheduler):
        if aging is not None:
            raise InvalidValue("queue_view: aging comes from the scheduler's policy (pass it for a store)")
        return build_from_scheduler(source, now, shown)
    if aging is None:
        aging = NoAging()
    elif not isinstance(aging, AgingPolicy):
        raise _validate.wrong_type(InvalidValue, f"queue_view: aging must be an AgingPolicy, got {aging!r}")
    if isinstance(source, Snapshot):
        return build_from_snapshot(source, now, aging, shown, "a stored snapshot")
    load = getattr(source, "load", None)
    if not callable(load):
        message = f"queue_view: expected a Scheduler, a Store or a Snapshot, got {source!r}"
        raise _validate.wrong_type(InvalidValue, message)
    return build_from_snapshot(load(), now, aging, shown, f"store {type(source).__name__}")
