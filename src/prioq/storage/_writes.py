"""What one commit writes: its rows encoded and batched per statement, before any
transaction begins, and the cache of job texts that lets an unchanged job skip both
encoding and rewriting its ``data`` column."""

from __future__ import annotations

import attrs

from prioq.model import Job
from prioq.storage._codec import encode_job, encode_node, encode_row_run
from prioq.storage._rows import Changes, check_changes

__all__ = ["JobTexts", "Writes"]


class JobTexts:
    """What the database's ``data`` column holds for each job: the :class:`Job` object last
    written and its JSON. A row whose job did not change (a start, a requeue, a nomination)
    is then written without encoding or rewriting the job. O(live jobs) memory.

    Filled by a load (:func:`prioq.storage._reads.snapshot`) and by every commit once it
    committed (:meth:`Writes.committed`); never ahead of the database."""

    __slots__ = ("_by_id",)

    def __init__(self) -> None:
        self._by_id: dict[str, tuple[Job, str]] = {}

    def get(self, job: Job) -> str | None:
        hit = self._by_id.get(job.id)
        return hit[1] if hit is not None and hit[0] is job else None

    def put(self, job: Job, text: str) -> None:
        self._by_id[job.id] = (job, text)

    def drop(self, job_id: str) -> None:
        self._by_id.pop(job_id, None)

    def clear(self) -> None:
        self._by_id.clear()


@attrs.define(slots=True)
class Writes:
    """One commit's statement parameters, in the column order of :mod:`prioq.storage._sql`."""

    job_deletes: list[tuple[str]] = attrs.Factory(list)
    job_upserts: list[tuple[object, ...]] = attrs.Factory(list)
    """``(id, seq, state, priority, submitted_at, started_at, data, run)``."""
    run_updates: list[tuple[object, ...]] = attrs.Factory(list)
    """Rows whose stored job is unchanged: ``(seq, state, priority, submitted_at, started_at, run, id)``."""
    node_deletes: list[tuple[str]] = attrs.Factory(list)
    node_upserts: list[tuple[str, int, str]] = attrs.Factory(list)
    """``(id, ord, data)``."""
    meta: tuple[float | None, int, int] = (None, 0, 0)
    """``(now, next_seq, next_order)``."""
    placement: str | None = None
    """The placement state text to write; ``None``: unchanged (no statement)."""
    extra_deletes: list[tuple[str]] = attrs.Factory(list)
    extra_upserts: list[tuple[str, str]] = attrs.Factory(list)
    """``(id, data)``."""
    _written: list[tuple[Job, str]] = attrs.Factory(list)
    _texts: JobTexts | None = None

    @classmethod
    def of(cls, changes: Changes, texts: JobTexts | None = None) -> Writes:
        """Check and encode one commit's rows. O(k) for k rows; a job unchanged since ``texts``
        saw it written costs no encoding. Raises before anything is written."""
        changes = check_changes(changes)
        out = cls(
            meta=(changes.now, changes.next_seq, changes.next_order), placement=changes.placement, texts=texts
        )
        for job_id, row in changes.jobs.items():
            if row is None:
                out.job_deletes.append((job_id,))
                continue
            job = row.job
            run = encode_row_run(row)
            if texts is not None and texts.get(job) is not None:
                out.run_updates.append(
                    (row.seq, row.state, job.priority, job.submitted_at, row.started_at, run, job.id)
                )
            else:
                data = encode_job(job)
                out.job_upserts.append((job.id, row.seq, row.state, job.priority, job.submitted_at,
                                        row.started_at, data, run))
                out._written.append((job, data))
        for node_id, nrow in changes.nodes.items():
            if nrow is None:
                out.node_deletes.append((node_id,))
            else:
                out.node_upserts.append((nrow.node.id, nrow.order, encode_node(nrow.node)))
        for key, text in changes.extras.items():
            if text is None:
                out.extra_deletes.append((key,))
            else:
                out.extra_upserts.append((key, text))
        return out

    def committed(self) -> None:
        """Record what the database now holds; call only after the transaction committed."""
        if self._texts is None:
            return
        for (job_id,) in self.job_deletes:
            self._texts.drop(job_id)
        for job, text in self._written:
            self._texts.put(job, text)
