"""The check a loaded state passes before a scheduler sees it: rows that are corrupt, hand-edited
or contradict each other raise :class:`prioq.StoreError` naming the row, at load, instead of a
``KeyError`` or ``AssertionError`` on some later call (docs/storage.md#corrupt-rows).

What is checked, O(n) over the rows: every value of the type the scheduler writes (ints are
ints, instants finite floats, ids strings); the counters ahead of every stored ``seq`` and
node ``ord``, which are unique; a pending row holds no placement, a running or terminating
one a start instant, a frozen priority, and one allocation per node, on distinct stored
nodes, whose sum fits each node's capacity; ``terminating`` exactly when a preemptor is
named; nominations name stored nodes; the sort columns agree with the job's own text.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from prioq.errors import PrioqError, StoreError
from prioq.resources import Resources
from prioq.storage._rows import JobRow, Snapshot

__all__ = ["check_snapshot"]

_MAX = 2**63 - 1


def _count(value: object) -> bool:
    return type(value) is int and 0 <= value <= _MAX


def _instant(value: object) -> bool:
    return type(value) in (int, float) and math.isfinite(value)  # type: ignore[arg-type]


def _ids(value: object) -> bool:
    return type(value) is tuple and all(type(v) is str for v in value)


def _bad(what: str, why: str) -> StoreError:
    return StoreError(f"corrupt store: {what} {why}; the store was not loaded (fix or remove the row)")


def _check_row(row: JobRow, nodes: dict[str, Any]) -> None:
    """One job row's own fields and its references to nodes."""
    what = f"job row {row.job.id!r}"
    if not _ids(row.node_ids) or not _ids(row.nominated):
        raise _bad(what, "holds node ids that are not strings")
    if type(row.allocation) is not tuple or not all(type(a) is Resources for a in row.allocation):
        raise _bad(what, "holds an allocation that is not resources")
    for name in ("preempted_by", "backfill_for"):
        value = getattr(row, name)
        if value is not None and type(value) is not str:
            raise _bad(what, f"holds {name} = {value!r}, not a job id")
    for name in ("started_at", "start_priority"):
        value = getattr(row, name)
        if value is not None and not _instant(value):
            raise _bad(what, f"holds {name} = {value!r}, not a finite number")
    for node_id in (*row.node_ids, *row.nominated):
        if node_id not in nodes:
            raise _bad(what, f"names node {node_id!r}, which the store does not hold")
    if row.state == "pending":
        if row.node_ids or row.allocation or row.started_at is not None or row.preempted_by is not None \
                or row.backfill_for is not None:
            raise _bad(what, "is pending but holds a placement")
        return
    if row.started_at is None or row.start_priority is None:
        raise _bad(what, f"is {row.state} without a start instant and priority")
    if row.nominated:
        raise _bad(what, f"is {row.state} but holds nominations")
    if not row.node_ids or len(row.node_ids) != len(row.allocation) or len(set(row.node_ids)) != len(
            row.node_ids) or len(row.node_ids) != row.job.nodes:
        raise _bad(what, f"runs on {list(row.node_ids)} with {len(row.allocation)} allocations "
                   f"for a job of {row.job.nodes} node(s)")
    if (row.state == "terminating") != (row.preempted_by is not None):
        raise _bad(what, f"is {row.state} with preempted_by = {row.preempted_by!r}")


def check_snapshot(snap: Snapshot, columns: Sequence[tuple[Any, ...]] = ()) -> Snapshot:
    """``snap`` if its rows are consistent (see the module docstring), else :class:`StoreError`
    naming the first bad row. ``columns``: each job row's stored ``(id, seq, state, priority,
    submitted_at, started_at)`` sort columns, checked against the decoded row. O(n)."""
    if snap.now is not None and not _instant(snap.now):
        raise _bad("meta row", f"holds now = {snap.now!r}, not a finite number")
    for name in ("next_seq", "next_order"):
        if not _count(getattr(snap, name)):
            raise _bad("meta row", f"holds {name} = {getattr(snap, name)!r}, not a count")
    nodes: dict[str, Any] = {}
    orders: set[int] = set()
    for nrow in snap.nodes:
        if not _count(nrow.order) or nrow.order >= snap.next_order or nrow.order in orders:
            raise _bad(f"node row {nrow.node.id!r}", f"holds ord = {nrow.order!r} (next_order is "
                       f"{snap.next_order}; each ord below it, once)")
        orders.add(nrow.order)
        nodes[nrow.node.id] = nrow.node
    free = {node_id: node.capacity for node_id, node in nodes.items()}
    seqs: set[int] = set()
    for row in snap.jobs:
        if not _count(row.seq) or row.seq >= snap.next_seq or row.seq in seqs:
            raise _bad(f"job row {row.job.id!r}", f"holds seq = {row.seq!r} (next_seq is {snap.next_seq}; "
                       "each seq below it, once)")
        seqs.add(row.seq)
        _check_row(row, nodes)
        for node_id, alloc in zip(row.node_ids, row.allocation, strict=True):
            try:
                free[node_id] = free[node_id] - alloc
            except (PrioqError, ArithmeticError, TypeError, ValueError) as exc:
                raise _bad(f"job row {row.job.id!r}", f"over-commits node {node_id!r}: {exc}") from None
    for stored, row in zip(columns, snap.jobs, strict=False):
        job = row.job
        expected = (job.id, row.seq, row.state, job.priority, job.submitted_at, row.started_at)
        if tuple(stored) != expected:
            raise _bad(f"job row {job.id!r}", f"has sort columns {tuple(stored)!r} that disagree with its "
                       f"job {expected!r}")
    return snap
