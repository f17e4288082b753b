"""Quota usage as part of the scheduler's state (docs/quotas.md).

A mixin of :class:`~prioq.scheduler._state.State`: the same object, its quota
mutators in a module of their own. Usage changes on start and stop (journaled);
a start while the owner borrows marks the job as borrowing, persisted under
``quota/borrowing/<job>``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prioq.model import Job
from prioq.quota import Ledger, usage_of
from prioq.scheduler._journal import Journal
from prioq.storage import Snapshot

if TYPE_CHECKING:
    from prioq.scheduler._state import Run

__all__ = ["QuotaState"]


class QuotaState(Journal):
    """Journaled quota accounting for :class:`~prioq.scheduler._state.State`."""

    ledger: Ledger | None
    runs: dict[str, Run]

    def _quota_charge(self, job: Job, sign: int) -> None:
        """Journaled: a job of a quota'd owner starts (1) or stops (-1); a start while the
        owner borrows marks the job as borrowing (persisted under ``quota/borrowing/<job>``)."""
        ledger = self.ledger
        assert ledger is not None
        owner = job.owner
        quota = ledger.quota(owner)
        if quota is None or owner is None:
            return
        usage = usage_of(job.request, job.nodes)
        self._do(lambda: ledger.charge(owner, job.id, usage, sign),
                 lambda: ledger.charge(owner, job.id, usage, -sign))
        if sign > 0 and quota.cohort is not None and ledger.borrowing(owner):
            self._set_item(ledger.borrowing_jobs, job.id, quota.cohort)
            self.put_extra(f"quota/borrowing/{job.id}", quota.cohort)
        elif sign < 0 and job.id in ledger.borrowing_jobs:
            self._del_item(ledger.borrowing_jobs, job.id)
            self.put_extra(f"quota/borrowing/{job.id}", None)

    def hold_quota(self, job: Job, sign: int) -> None:
        """Journaled: count a nominated job's quota as in use (1) or not any more (-1), so that
        nobody takes the quota it evicted for while its victims stop (see Cycle.run)."""
        ledger = self.ledger
        assert ledger is not None and job.owner is not None
        owner, usage = job.owner, usage_of(job.request, job.nodes)
        self._do(lambda: ledger.charge(owner, job.id, usage, sign, False),
                 lambda: ledger.charge(owner, job.id, usage, -sign, False))

    def _load_quota(self, snap: Snapshot) -> None:
        """Usage from the running jobs (terminating ones hold quota until released); the
        borrowing marks from the store."""
        ledger = self.ledger
        if ledger is None:
            return
        for run in self.runs.values():
            owner = run.job.owner
            if owner is not None and ledger.quota(owner) is not None:
                ledger.charge(owner, run.job.id, usage_of(run.job.request, run.job.nodes), 1)
        for key, cohort in snap.extras.items():
            if key.startswith("quota/borrowing/") and key[16:] in self.runs:
                ledger.borrowing_jobs[key[16:]] = cohort
