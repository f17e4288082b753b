"""The mapping between the scheduler's state and the store's rows (docs/storage.md).

A call's changes go to the store as one :class:`~prioq.storage.Changes` value:
the rows of the jobs and nodes it touched (``None`` for one that is gone), the
counters, the placement policy's learnt state when the call changed it, and the keys of
the policies' keyed state (``State.extras``) it changed.
:meth:`State.load <prioq.scheduler._state.State.load>` is the other direction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prioq.storage import Changes, JobRow, NodeRow

if TYPE_CHECKING:
    from prioq.scheduler._state import State

__all__ = ["changes", "row"]


def row(state: State, job_id: str) -> JobRow | None:
    """The stored form of a held job, or ``None`` when the scheduler no longer holds it."""
    run = state.runs.get(job_id)
    if run is not None:
        return JobRow(
            job=run.job,
            seq=run.seq,
            state="terminating" if run.preempted_by is not None else "running",
            node_ids=run.running.node_ids,
            allocation=run.running.allocation,
            started_at=run.running.started_at,
            start_priority=state.frozen[job_id],
            preempted_by=run.preempted_by,
            backfill_for=run.backfill_for,
        )
    if job_id in state.queue:
        return JobRow(
            job=state.queue.get(job_id),
            seq=state.queue.seq_of(job_id),
            state="pending",
            start_priority=state.frozen.get(job_id),
            nominated=state.nominated.get(job_id, ()),
        )
    return None


def changes(
    state: State,
    job_ids: set[str],
    node_ids: set[str],
    placement: str | None = None,
    extra_keys: set[str] | frozenset[str] = frozenset(),
) -> Changes:
    """What one call changed, for :meth:`Store.commit <prioq.storage.Store.commit>`;
    ``placement``: the placement policy's new state text (``None``: unchanged); ``extra_keys``:
    the keys of :attr:`State.extras` it set or deleted."""
    nodes: dict[str, NodeRow | None] = {}
    for node_id in node_ids:
        if node_id in state.index:
            ns = state.index.get(node_id)
            nodes[node_id] = NodeRow(node=ns.node, order=ns.order)
        else:
            nodes[node_id] = None
    return Changes(
        jobs={job_id: row(state, job_id) for job_id in job_ids},
        nodes=nodes,
        now=state.now,
        next_seq=state.queue.next_seq,
        next_order=state.next_order,
        placement=placement,
        extras={key: state.extras.get(key) for key in extra_keys},
    )
