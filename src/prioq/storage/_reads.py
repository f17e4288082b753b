"""Rows read from the SQL tables back into values: one job row, one node row, a whole
:class:`~prioq.storage.Snapshot`. A row whose text names another id is corrupt
(:class:`prioq.StoreError`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prioq.errors import StoreError
from prioq.storage._check import check_snapshot
from prioq.storage._codec import decode_job, decode_node, decode_row
from prioq.storage._rows import JobRow, NodeRow, Snapshot
from prioq.storage._writes import JobTexts

__all__ = ["commits", "job_row", "load_from", "node_row", "snapshot"]


def job_row(r: tuple[Any, ...], texts: JobTexts | None = None) -> JobRow:
    """A row from its ``(id, seq, state, data, run)`` columns; remembers the job's text in ``texts``."""
    job_id, seq, state, data, run = r
    if type(data) is not str or (run is not None and type(run) is not str):
        raise StoreError(f"corrupt stored job: row {job_id!r} holds data or run that is not text")
    job = decode_job(data)
    if job.id != job_id:
        raise StoreError(f"corrupt stored job: row {job_id!r} holds job {job.id!r}")
    if texts is not None:
        texts.put(job, data)
    return decode_row(job, seq, state, run)


def node_row(r: tuple[Any, ...]) -> NodeRow:
    """A node row from its ``(id, ord, data)`` columns."""
    node_id, order, data = r
    if type(data) is not str:
        raise StoreError(f"corrupt stored node: row {node_id!r} holds data that is not text")
    node = decode_node(data)
    if node.id != node_id:
        raise StoreError(f"corrupt stored node: row {node_id!r} holds node {node.id!r}")
    return NodeRow(node=node, order=order)


def snapshot(
    meta: tuple[Any, ...],
    nodes: list[tuple[Any, ...]],
    jobs: list[tuple[Any, ...]],
    texts: JobTexts,
    placement: tuple[Any, ...] | None = None,
    extras: Sequence[tuple[Any, ...]] = (),
) -> Snapshot:
    """A :class:`Snapshot` from the ``meta`` row, the node and job rows (``(id, seq, state, data,
    run)`` and then the sort columns ``priority, submitted_at, started_at``) and the ``placement``
    row, as both SQL stores read them, checked (:func:`prioq.storage._check.check_snapshot`);
    ``texts`` is reset to what the database holds. O(n) rows decoded."""
    texts.clear()
    if meta is None:
        raise StoreError("corrupt store: the meta row is missing")
    snap = Snapshot(
        nodes=tuple(node_row(r) for r in nodes),
        jobs=tuple(job_row(r[:5], texts) for r in jobs),
        now=meta[0],
        next_seq=meta[1],
        next_order=meta[2],
        placement=None if placement is None else _placement_text(placement[0]),
        extras=dict(_extra(r) for r in extras),
    )
    try:
        return check_snapshot(snap, [(r[0], r[1], r[2], *r[5:8]) for r in jobs])
    except StoreError:
        texts.clear()
        raise


def _extra(r: tuple[Any, ...]) -> tuple[str, str]:
    key, text = r
    if not isinstance(key, str) or not isinstance(text, str):
        raise StoreError(f"corrupt stored extras row: expected text, got {r!r}")
    return key, text


def _placement_text(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise StoreError(f"corrupt stored placement state: expected text, got {type(value).__name__}")
    return value


def load_from(conn: Any, sql: Any, texts: JobTexts) -> tuple[Snapshot, int]:
    """The whole state and the commit count, read with ``sql`` (a store's
    :class:`~prioq.storage._sql.Statements`) on ``conn`` inside the caller's read transaction:
    the one load both SQL stores (and their shared variants) run. O(n) rows decoded."""
    meta = conn.execute(sql.load_meta).fetchone()
    nodes = conn.execute(sql.load_nodes).fetchall()
    jobs = conn.execute(sql.load_jobs).fetchall()
    placement = conn.execute(sql.load_placement).fetchone()
    extras = conn.execute(sql.load_extras).fetchall()
    return snapshot(meta, nodes, jobs, texts, placement, extras), commits(meta)


def commits(meta: tuple[Any, ...] | None) -> int:
    """The commit counter of a ``meta`` row (schema 5)."""
    if meta is None:
        raise StoreError("corrupt store: the meta row is missing")
    value = meta[3]
    if type(value) is not int or value < 0:
        raise StoreError(f"corrupt stored meta row: commits = {value!r}, not a count")
    return value
