"""Stateful property test of the Scheduler: prioq.testing's SchedulerStateMachine (the same
one users run on their policies) over prioq's built-in policies, plus the checks only
prioq's own tests make.

The toolkit checks after every step (prioq.testing.check_scheduler: no over-commit, every
job in exactly one state, claims consistent, the pending order), after every cycle
(check_decisions: starts as requested, preemption plans sound, claims respected,
best-effort never passing over a job that fits), liveness (settle, drain, compete) and
restarts from the store. Added here: strict queueing starts nothing behind a blocked
head, and failed calls change nothing. Subclasses run the same machine over other stores
(tests/test_storage.py).
"""

from __future__ import annotations

import contextlib
from typing import ClassVar

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import rule

import prioq
from prioq import Job, Policy, Reason, Start
from prioq.model import Decision
from prioq.storage import MemoryStore, Store
from prioq.testing import InvariantError, SchedulerStateMachine

POLICIES = {
    "best-effort": Policy(),
    "no-reservation": Policy(reservation=False, placement="first-fit"),
    "strict": Policy(queueing="strict", placement="spread"),
    "preempt": Policy(
        preemption=prioq.Preemption(policy="lower-priority", min_runtime=2),
        aging=prioq.LinearAging(rate=1, max_boost=20),
    ),
    "preempt-newer": Policy(
        preemption=prioq.Preemption(policy="lower-or-newer-equal", compare="effective", max_victims=3),
        aging=prioq.StepAging(interval=5, step=10, max_boost=30),
    ),
}


class SchedulerMachine(SchedulerStateMachine):
    policy_name: ClassVar[str] = "best-effort"

    def make_policy(self) -> Policy:
        return POLICIES[self.policy_name]

    def make_store(self) -> Store:
        return MemoryStore()

    def cycle(self) -> list[Decision]:
        before_order = [p.job.id for p in self.s.pending(self.now)]
        decisions = super().cycle()
        if self.s.policy.queueing == "strict":
            # the started jobs are a prefix of the order, skipping only jobs that wait
            # for dependencies or can never run
            pending = {p.job.id: p for p in self.s.pending(self.now)}
            ids = {d.job_id for d in decisions if isinstance(d, Start)}
            skipping = True
            for job_id in before_order:
                if job_id in ids:
                    if not skipping:
                        raise InvariantError(f"strict: {job_id} started behind a blocked head")
                elif job_id in pending and pending[job_id].reason not in (
                    Reason.UNSATISFIABLE, Reason.NO_SELECTED_NODE, Reason.DEPENDENCY, Reason.DEPENDENCY_FAILED
                ):  # jobs that can never run where they may go are skipped, as strict queueing does
                    skipping = False
        return decisions

    @rule(job_id=st.text(min_size=1, max_size=3), priority=st.integers(-5, 200))
    def bad_calls_change_nothing(self, job_id: str, priority: int) -> None:
        before = self.observe()
        for call in (
            lambda: self.s.cancel(job_id + "?", self.now),
            lambda: self.s.schedule((self.s.now or 0) - 1),
            lambda: self.s.submit(Job(id="j1", submitted_at=0), self.now) if "j1" in self.s else None,
            lambda: self.s.set_priority(job_id + "?", 1, self.now),
            lambda: self.s.submit(Job(id="new?", submitted_at=0, priority=priority), self.now)
            if not 0 <= priority <= 100 else None,
        ):
            with contextlib.suppress(prioq.PrioqError):
                call()
        assert self.observe() == before


def _machine(name: str) -> type[SchedulerMachine]:
    return type(f"Machine_{name}", (SchedulerMachine,), {"policy_name": name})


_SETTINGS = settings(max_examples=30, stateful_step_count=35, deadline=None)
TestBestEffort = _SETTINGS(_machine("best-effort")).TestCase
TestNoReservation = _SETTINGS(_machine("no-reservation")).TestCase
TestStrict = _SETTINGS(_machine("strict")).TestCase
TestPreempt = _SETTINGS(_machine("preempt")).TestCase
TestPreemptNewer = _SETTINGS(_machine("preempt-newer")).TestCase
