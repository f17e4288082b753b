"""A fair-share group's one reason record (``prioq.scheduler._settled_state``) reads exactly as the
reasons it stands for, written out one per owner's parked queue (the path it replaced, still
taken with aging, and here with ``_cycle._GROUP_RECORDS = False``).

Twins fed the same calls -- cycles whose request shapes fill mid-visit, starts and stops,
pending jobs cancelled, reprioritised, lifted by a dependant and parked anew, failed calls,
node changes -- list the same decisions, and after *every* call the same reason for every
pending job (``pending()``) and the same ``explain()`` text.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prioq import FairShare, Job, Node, Policy, Preemption, Scheduler, Start, Weights
from prioq.scheduler import _cycle
from prioq.scheduler._settled_state import SettledState
from rankings import DecayedShare, Tiers
from test_fairshare_order import cluster_op, failing_cycle
from test_rollback import FailingStore

NODES = [Node(id=f"n{i}", capacity="cpu=16 memory=64GB gpu=A100:80GB:2") for i in range(2)]
OWNERS = ["a", "b", "c", "a/x", "a/y", "z/q", *(f"u{i}" for i in range(12))]
WEIGHTS = Weights({"a/x": 2, "b": 0, "c": 0.5, "z": 3})
# mostly one request: a group of many owners' queues whose shape fills mid-visit
REQUESTS = ["gpu=1", "gpu=1", "gpu=1", "gpu=2", "gpu=0.5", "cpu=8 memory=8GB"]
NAMES = ["submit", "submit", "submit", "schedule", "schedule", "schedule", "release", "release", "cancel",
         "cancel_pending", "resubmit", "set_priority", "after", "group_priority", "wait", "fail", "add_node",
         "remove_node"]
OPS = st.lists(st.tuples(
    st.sampled_from(NAMES),
    st.sampled_from(REQUESTS),
    st.sampled_from([0.0, 1.0, 4.0, 30.0]),
    st.integers(0, 60),
), min_size=25, max_size=80)



def run(ops: list[tuple[str, str, float, int]], policy: Policy) -> list[object]:
    """Drive a scheduler through ``ops``; its decisions, and every reason after every call."""
    store = FailingStore()
    s = Scheduler(NODES, policy=policy, store=store)
    seen: list[object] = []
    now, n = 0.0, 0
    cancelled: list[Job] = []
    # history: owners ran for different times, so their ranks differ (ties would have a group
    # visit every owner's head before any of them: nothing left to record)
    for k in range(0, len(OWNERS), 4):
        s.submit_many([Job(id=f"h{k + i}", submitted_at=now, owner=o, request="gpu=1")
                       for i, o in enumerate(OWNERS[k:k + 4])], now)
        s.schedule(now)
        for i in range(4):
            now += 1 + i + k
            if f"h{k + i}" in {r.job.id for r in s.running()}:
                s.release(f"h{k + i}", now)
    for op, req, dt, pick in ops:
        now += dt if op == "wait" else 0.0
        pending = sorted(p.job.id for p in s.pending(now))
        try:
            if op in ("submit", "after"):
                after = [pending[pick % len(pending)]] if op == "after" and pending else []
                owners = [OWNERS[(pick * 7 + i * 5 + n) % len(OWNERS)] for i in range(1 + pick % 9)]
                priority = pick % 2 + (2 if after else 0)
                jobs = [Job(id=f"j{n + i}", submitted_at=now, owner=owner, request=req, priority=priority,
                            after=after, group=f"g{(pick + i) % 3}") for i, owner in enumerate(owners)]
                n += len(jobs)
                s.submit_many(jobs, now)
            elif op == "schedule":
                seen.append([d.job_id if isinstance(d, Start) else d for d in s.schedule(now)])
            elif op == "fail":
                now = failing_cycle(s, store, now, seen)
            elif op == "cancel_pending" and pending:
                cancelled.append(s.cancel(pending[pick % len(pending)], now))
            elif op == "resubmit" and cancelled:  # the same id again: none of its old reasons
                job = cancelled.pop(pick % len(cancelled))
                s.submit(Job(id=job.id, submitted_at=now, owner=job.owner, request=job.request), now)
            elif op == "set_priority" and pending:
                s.set_priority(pending[pick % len(pending)], pick % 4, now)
            elif op == "group_priority":
                s.set_group_priority(f"g{pick % 3}", pick % 5, now)
            elif op != "requeue":  # this driver's ops do not requeue
                cluster_op(s, op, pick, now)
        except (KeyError, ValueError) as exc:  # unknown group, duplicate node: refused, changes nothing
            seen.append(type(exc).__name__)
        listed = s.pending(now)
        seen.append([(p.job.id, p.reason, p.message) for p in listed])
        seen.append([s.explain(p.job.id, now) for p in listed[::3]])
    s._check()
    return seen


def twins(ops: list[tuple[str, str, float, int]], policy: Policy) -> tuple[list[object], list[object], int]:
    """What a scheduler with group records saw, what one writing every reason out saw, and how
    many records the first made."""
    made = []
    real = SettledState.settle_group

    def settle_group(self: SettledState, *args: object) -> None:
        made.append(args)
        real(self, *args)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_cycle, "_FIRST_BATCH", 1)  # a group comes back at its floor after each owner
        mp.setattr(SettledState, "settle_group", settle_group)
        got = run(ops, policy)
        mp.setattr(_cycle, "_GROUP_RECORDS", False)
        want = run(ops, policy)
    return got, want, len(made)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(ops=OPS, fair=st.sampled_from([
    FairShare(half_life=5),
    FairShare(half_life=3600),
    FairShare(mode="term", half_life=7, term_weight=3),
    FairShare(basis="allocation"),
    FairShare(ranking=Tiers()),  # user rankings: re-keyed at every now
    FairShare(ranking=DecayedShare()),
]), reservation=st.booleans(), preempt=st.booleans())
def test_a_group_record_reads_as_its_reasons_written_out(
    ops: list[tuple[str, str, float, int]], fair: FairShare, reservation: bool, preempt: bool
) -> None:
    preemption = Preemption(policy="lower-priority") if preempt else Preemption()
    got, want, _ = twins(ops, Policy(fair_share=fair, weights=WEIGHTS, reservation=reservation,
                                     preemption=preemption))
    assert got == want


def test_a_record_is_made_and_written_out_as_queues_change() -> None:
    """The property above is not vacuous: a full cluster with a deep backlog of many owners
    settles its groups with records, and cancels, priority changes and new jobs between
    cycles read the same as with every reason written out."""
    ops: list[tuple[str, str, float, int]] = [("submit", "gpu=1", 0.0, 3 * k + 8) for k in range(12)]
    ops += [("schedule", "gpu=1", 0.0, 0), ("release", "gpu=1", 0.0, 0), ("schedule", "gpu=1", 0.0, 0),
            ("release", "gpu=1", 0.0, 1), ("release", "gpu=1", 0.0, 2), ("schedule", "gpu=1", 0.0, 0)]
    ops += [("cancel_pending", "gpu=1", 0.0, 5), ("set_priority", "gpu=1", 0.0, 7),
            ("after", "gpu=1", 0.0, 3),
            ("release", "gpu=1", 0.0, 1), ("schedule", "gpu=1", 0.0, 0), ("fail", "gpu=1", 0.0, 0),
            ("submit", "gpu=1", 0.0, 13), ("cancel_pending", "gpu=1", 0.0, 2), ("schedule", "gpu=1", 0.0, 0),
            ("resubmit", "gpu=1", 0.0, 0)]
    for fair in (FairShare(), FairShare(mode="term")):
        got, want, made = twins(ops, Policy(fair_share=fair, weights=WEIGHTS, reservation=False))
        assert made >= 2, made
        assert got == want
