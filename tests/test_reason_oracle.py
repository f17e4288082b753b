"""Reasons oracle: with preemption on base priorities, a live scheduler's pending reasons
equal a reopened one's after the same cycles.

The live scheduler parks jobs by tier (request, gang, whether it may preempt,
priority) and skips the tiers below a family's head that found no room at all,
which then show that head's reason; a scheduler reopened from a copy of its
store parks nothing and visits every job. Both must show every pending job
with the same reason and message (issue 11: the steady cycle at 10,000 nodes
must not pay for priorities that cannot matter, nor lie about them).
"""

from __future__ import annotations

import copy

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import rule

from prioq import Job, NoAging, Node, Policy, Preempt, Preemption, Reason, Scheduler
from prioq.scheduler._pending import Tier
from test_reopen_oracle import ReopenMachine


class ReasonMachine(ReopenMachine):
    @rule(steps=st.integers(1, 3), prompt=st.booleans())
    def reopen_and_compare(self, steps: int, prompt: bool) -> None:
        twin = Scheduler(store=copy.deepcopy(self.store), policy=self.factory())
        for k in range(steps):
            t = self.now + k
            live, reopened = self.s.schedule(t), twin.schedule(t)
            assert live == reopened, (t, live, reopened)
            # Jobs with dependencies left out: a parked job that gains an unmet dependency
            # (a job submitted later under its id) shows its shape's reason until visited,
            # a reopened scheduler says DEPENDENCY -- known, with or without preemption.
            mine = [(p.job.id, p.reason, p.message) for p in self.s.pending(t) if not p.job.after]
            theirs = [(p.job.id, p.reason, p.message) for p in twin.pending(t) if not p.job.after]
            assert mine == theirs, [(a, b) for a, b in zip(mine, theirs, strict=True) if a != b]
            for d in live:
                if prompt and isinstance(d, Preempt):
                    self.s.release(d.job_id, t)
                    twin.release(d.job_id, t)
        self.now += steps - 1


SETTINGS = settings(
    max_examples=30, stateful_step_count=40, deadline=None, suppress_health_check=list(HealthCheck)
)
for _name in ("preempt-base-linear", "preempt-max1-no-reservation", "fgd-window-preempt"):
    _cls = type(f"Reasons_{_name}", (ReasonMachine,), {"policy_name": _name})
    globals()[f"test_reasons_as_reopened_{_name.replace('-', '_')}"] = SETTINGS(_cls).TestCase


def test_tiers_below_a_family_head_with_no_room_are_skipped_and_share_its_reason() -> None:
    s = Scheduler([Node(id="n", capacity="gpu=A100:8")],
                  policy=Policy(aging=NoAging(), preemption=Preemption(policy="lower-priority")))
    s.submit(Job(id="r", priority=50, submitted_at=0, request="gpu=8"), 0)
    assert [d.job_id for d in s.schedule(0)] == ["r"]
    for i, prio in enumerate((20, 40, 30, 30)):
        s.submit(Job(id=f"p{i}", priority=prio, submitted_at=1, request="gpu=8"), 1)
    s.schedule(1)  # every job visited (active), each parked under its tier
    assert s.schedule(2) == []  # only p1 (priority 40) is visited: the others cannot do better
    st = s._state
    assert {sh.priority for sh in st.queue.parked if isinstance(sh, Tier)} == {20, 30, 40}
    family = next(iter(st.queue.tiers))
    assert st.shape_reasons[family][:2] == (st.cycles, "p1")
    assert {p.job.id: (p.reason, p.message) for p in s.pending(2)} == {
        j: (Reason.RESOURCES, "no node has gpu=8 free") for j in ("p0", "p1", "p2", "p3")
    }
    s.release("r", 3)
    assert [d.job_id for d in s.schedule(3)] == ["p1"]
    assert [d.job_id for d in s.schedule(4)] == []
    s.release("p1", 5)
    assert [d.job_id for d in s.schedule(5)] == ["p2"]
    s._check()
