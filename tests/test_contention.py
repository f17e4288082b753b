"""Contention: nominations claim capacity at once (no livelock), and parking never hides a job.

Regression scenarios exactly as issue 11 reports them, and properties:

* liveness: when victims stop as soon as they are told and nothing new arrives,
  scheduling reaches a fixed point (a cycle with no decision) within a bound,
  so no preemptor and victim can chase each other forever;
* claims: no ``Start`` lands on capacity a higher nominated preemptor needs
  once its victims are gone.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prioq import (
    Job,
    LinearAging,
    Node,
    Policy,
    Preempt,
    Preemption,
    Reason,
    Resources,
    Scheduler,
    Start,
    fit,
)


def kinds(decisions: list[Any]) -> list[tuple[str, str]]:
    return [(type(d).__name__, d.job_id) for d in decisions]


@pytest.mark.parametrize("min_runtime", [0, 600])
@pytest.mark.parametrize("low_duration", [None, 50])
def test_a_nominated_preemptor_is_not_livelocked_by_a_lower_job(min_runtime: int, low_duration: Any) -> None:
    """Issue 11, scenario 1: node gpu=A100:8; victim (10, gpu=6) running; urgent (90, gpu=8)
    and low (5, gpu=2) pending; every victim released as soon as it is told. Before the fix
    cycles alternated [Preempt victim, Start low], [Preempt low, Start victim] forever (and
    with min_runtime=600 the victim was evicted for nothing). A low job with a duration must
    not be spared by the nomination either."""
    policy = Policy(preemption=Preemption(policy="lower-priority", min_runtime=min_runtime))
    s = Scheduler([Node(id="n", capacity="gpu=A100:8")], policy=policy)
    s.submit(Job(id="victim", priority=10, submitted_at=0, request="gpu=6"), 0)
    assert kinds(s.schedule(0)) == [("Start", "victim")]
    s.submit(Job(id="urgent", priority=90, submitted_at=1000, request="gpu=8"), 1000)
    s.submit(Job(id="low", priority=5, submitted_at=1000, request="gpu=2", duration=low_duration), 1000)
    first = s.schedule(1000)
    assert kinds(first) == [("Preempt", "victim")]
    assert {p.job.id: p.reason for p in s.pending(1000)}["low"] is Reason.RESERVED
    s.release("victim", 1000)
    assert kinds(s.schedule(1001)) == [("Start", "urgent")]
    assert s.schedule(1002) == [] and s.schedule(1003) == []


def test_a_parked_job_whose_shape_head_waits_for_a_dependency_still_starts() -> None:
    """Issue 11: a job parked behind a same-shape head that later gains an unmet ``after``
    dependency was never tried again, even with free capacity, and explain() said it waited
    for a dependency it does not have."""
    s = Scheduler([Node(id="n", capacity="gpu=A100:1")])
    s.submit(Job(id="r", submitted_at=0, request="gpu=1"), 0)
    s.schedule(0)
    s.submit(Job(id="x", submitted_at=1, request="gpu=1", after=("d",)), 1)
    s.submit(Job(id="y", submitted_at=2, request="gpu=1"), 2)
    assert s.schedule(3) == []  # both parked: no room at all
    s.submit(Job(id="d", submitted_at=4, request="gpu=A100:4"), 4)  # x now waits for d, forever
    s.release("r", 5)
    assert kinds(s.schedule(5)) == [("Start", "y")]
    assert {p.job.id: p.reason for p in s.pending(5)}["x"] is Reason.DEPENDENCY
    assert "running" in s.explain("y", 5)


def test_a_short_job_behind_a_same_shape_job_without_duration_gets_its_backfill_slot() -> None:
    """Issue 11: parking ignored duration: a short job behind a same-shape job without one
    never got the backfill slot it qualifies for."""
    s = Scheduler([Node(id="n", capacity="gpu=A100:3")])
    s.submit(Job(id="r", submitted_at=0, request="gpu=2", duration=100), 0)
    s.submit(Job(id="f", submitted_at=0, request="gpu=1", duration=5), 0)
    s.schedule(0)
    s.submit(Job(id="long", submitted_at=1, priority=10, request="gpu=1"), 1)  # no duration
    s.submit(Job(id="short", submitted_at=2, priority=10, request="gpu=1", duration=10), 2)  # ends in time
    s.submit(Job(id="big", submitted_at=3, priority=50, request="gpu=3"), 3)
    assert s.schedule(3) == []  # no room at all: everyone parks
    s.release("f", 5)
    decisions = s.schedule(5)
    assert kinds(decisions) == [("Start", "short")]  # backfilled under big's reservation
    reasons = {p.job.id: p.reason for p in s.pending(5)}
    assert reasons == {"big": Reason.RESOURCES, "long": Reason.RESERVED}


# ----------------------------------------------------------------------------- properties


@st.composite
def contended(draw: st.DrawFn) -> tuple[list[Node], list[Job], int, Policy]:
    n_nodes = draw(st.integers(1, 3))
    sizes = [draw(st.sampled_from([2, 4, 8])) for _ in range(n_nodes)]
    nodes = [Node(id=f"n{i}", capacity=f"cpu=8 gpu=A100:{size}") for i, size in enumerate(sizes)]
    jobs = []
    for i in range(draw(st.integers(2, 9))):
        gpus = draw(st.sampled_from(["1", "2", "4", "0.5", "8"]))
        jobs.append(Job(
            id=f"j{i}",
            priority=draw(st.integers(0, 6)) * 10,
            submitted_at=draw(st.integers(0, 4)),
            request=f"gpu={gpus}",
            nodes=draw(st.sampled_from([1, 1, 1, 2])),
            duration=draw(st.sampled_from([None, None, 30, 200])),
            preemptible=draw(st.sampled_from([True, True, False])),
        ))
    policy = Policy(
        preemption=Preemption(
            policy=draw(st.sampled_from(["lower-priority", "lower-or-newer-equal"])),
            min_runtime=draw(st.sampled_from([0, 0, 20])),
            max_victims=draw(st.sampled_from([None, 1, 2])),
        ),
        aging=draw(st.sampled_from([LinearAging(rate=0, max_boost=0), LinearAging(rate=0.5, max_boost=15)])),
        reservation=draw(st.booleans()),
    )
    # the first jobs run before the others arrive: that is where preemption happens
    return nodes, jobs, draw(st.integers(1, len(jobs) - 1)), policy


def claims_respected(s: Scheduler, decisions: list[Any]) -> None:
    """No Start of a lower job leaves a nominated preemptor unable to fit once its victims stop.

    "Lower" by base priority, under ``compare="base"`` (with ``"effective"`` the comparison
    moves with aging); a higher job ahead of the preemptor may take a nominated node, as
    in Kubernetes."""
    if s.policy.preemption.compare != "base":
        return
    started = {d.job_id for d in decisions if isinstance(d, Start)}
    running = {r.job.id: r for r in s.running()}
    terminating = s.terminating()
    for owner, node_ids in s.nominations().items():
        job = s.get(owner)
        lower = {j for j in started if running[j].job.priority < job.priority}
        for nid in node_ids:
            if not any(nid in running[j].node_ids for j in lower):
                continue
            projected: Resources = s.free(nid)
            for victim, (by, _deadline) in terminating.items():
                if by == owner and nid in running[victim].node_ids:
                    held = running[victim].allocation[running[victim].node_ids.index(nid)]
                    projected = projected + held
            assert fit(job.request, projected) is not None, (owner, nid, sorted(started))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=contended())
def test_with_prompt_victims_and_no_arrivals_scheduling_reaches_a_fixed_point(
    case: tuple[list[Node], list[Job], int, Policy],
) -> None:
    nodes, jobs, first, policy = case
    s = Scheduler(nodes, policy=policy)
    s.submit_many(jobs[:first], 5)
    s.schedule(5)
    s.submit_many(jobs[first:], 6)
    t = 6.0
    quiet = 0
    # Every cycle either starts a job, or preempts towards a strictly better assignment;
    # with n jobs the chain is bounded. 4n + 8 cycles is generous; a livelock never ends.
    for _ in range(4 * len(jobs) + 8):
        decisions = s.schedule(t)
        claims_respected(s, decisions)
        s._check()
        for d in decisions:
            if isinstance(d, Preempt):
                s.release(d.job_id, t)
        quiet = quiet + 1 if not decisions else 0
        if quiet >= 2:
            break
        t += 25  # past min_runtime, so protection never hides a thrash
    assert quiet >= 2, f"no fixed point: still deciding at t={t}"
    # at the fixed point a nomination is only ever waiting for victims still terminating
    # (the old check, "every terminating job has a preemptor", could not fail)
    terminating_for = {t.by for t in s.terminating().values()}
    assert all(owner in terminating_for for owner in s.nominations())


def test_a_simulation_with_instant_preemption_and_aging_terminates() -> None:
    """Regression: with min_runtime=0, grace=0 and LinearAging, the simulator never finished
    300 synthetic jobs (preemptor and lower jobs chased each other at one instant, so time
    never advanced). Every job now runs to completion."""
    from prioq.sim import simulate, synthetic_cluster, synthetic_workload

    nodes = synthetic_cluster(10, 1)
    workload = synthetic_workload(300, 1, nodes=nodes)
    policy = Policy(
        aging=LinearAging(rate=0.1, max_boost=50),
        preemption=Preemption(policy="lower-priority", min_runtime=0, grace=0),
    )
    result = simulate(workload, policy)
    assert len(result.records) == len(workload.jobs)
    assert result.cycles < 20 * len(workload.jobs)


def test_a_failed_preemption_says_nothing_of_a_shorter_job_under_a_reservation() -> None:
    """Regression (review): the in-cycle and cross-cycle preemption shortcuts were keyed on
    (request, gang, priority) only. Under a reservation a job that ends before it starts is
    spared (EASY backfill), so a failure for a job without a duration says nothing of an
    equal job with one: it must still evict its victim."""
    from prioq import PriorityClass

    policy = Policy(
        priority_classes=(PriorityClass(name="batch", value=50, preemption="never"),),
        preemption=Preemption(policy="lower-priority"),
    )
    s = Scheduler([Node(id="n1", capacity="gpu=A100:8"), Node(id="n2", capacity="gpu=A100:8")], policy=policy)
    s.submit(Job(id="H", priority=100, submitted_at=0, request="gpu=8", duration=1000), 0)
    s.submit(Job(id="L", priority=1, submitted_at=0, request="gpu=8", duration=500), 0)
    assert len(s.schedule(0)) == 2
    s.submit(Job(id="R1", priority_class="batch", submitted_at=1, request="gpu=8"), 1)
    s.submit(Job(id="X", priority=10, submitted_at=2, request="gpu=8"), 2)
    s.submit(Job(id="Y", priority=10, submitted_at=3, request="gpu=8", duration=100), 3)
    decisions = s.schedule(10)
    assert kinds(decisions) == [("Preempt", "L")] and decisions[0].by == "Y"


@pytest.mark.parametrize("short", [10, 500])
def test_parked_mates_with_durations_get_the_backfill_slot_only_if_the_shortest_fits(short: int) -> None:
    """A parked head with a duration vetoed by a reservation: the shape's shortest member
    is tried; if the reservation spares it, the walk goes on and it starts; if not, no
    member can, and the whole shape stays parked with the head's reason."""
    s = Scheduler([Node(id="n", capacity="gpu=A100:3")])
    s.submit(Job(id="r", submitted_at=0, request="gpu=2", duration=100), 0)
    s.submit(Job(id="f", submitted_at=0, request="gpu=1", duration=5), 0)
    s.schedule(0)
    s.submit(Job(id="long", submitted_at=1, priority=10, request="gpu=1", duration=1000), 1)
    s.submit(Job(id="mid", submitted_at=1.5, priority=10, request="gpu=1", duration=800), 1.5)
    s.submit(Job(id="short", submitted_at=2, priority=10, request="gpu=1", duration=short), 2)
    s.submit(Job(id="big", submitted_at=3, priority=50, request="gpu=3"), 3)
    assert s.schedule(3) == []  # no room at all: everyone parks
    parked = set(s._state.queue.where)
    assert {"long", "mid", "short"} <= parked
    s.release("f", 5)
    decisions = s.schedule(5)
    if short == 10:  # 5 + 10 <= 100, when big's reservation starts: spared
        assert kinds(decisions) == [("Start", "short")]
    else:
        assert decisions == []
        assert {"mid", "short"} <= set(s._state.queue.where)  # still parked: no walk
        reasons = {p.job.id: p.reason for p in s.pending(5)}
        assert reasons["mid"] is reasons["short"] is Reason.RESERVED


def test_reservation_never_takes_what_a_binding_nomination_holds() -> None:
    """Regression (found by the stateful machine's settle rule): a preemptor (j20, 100) evicted
    two jobs from a node; the next cycle a gang ahead of it (j21, 100, unknown start) moved its
    reservation onto the freed node, the preemptor could not start, its nomination lapsed, the
    evicted jobs backfilled under the reservation and were evicted again: forever. A reservation
    now avoids capacity nominated to a job whose claim binds it."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from test_scheduler_stateful import SchedulerMachine

    class M(SchedulerMachine):
        policy_name = "preempt"

    m = M()
    m.init_nodes(["cpu=32 memory=128GB"])
    m.advance(0)
    m.settle()
    m.add_node("cpu=64 memory=256GB gpu=A100:80GB:8")
    m.add_node("cpu=64 memory=256GB gpu=A100:80GB:8")
    m.advance(0)
    m.submit(back=0, duration=None, nodes=1, preemptible=False, priority=70, req="gpu=1")
    m.crowd_then_urgent(2, "gpu=4")
    m.add_node("cpu=8 memory=32GB gpu=T4:16GB:2")
    m.crowd_then_urgent(1, "gpu=2")
    m.s.release("j6", m.now)
    m.settle()
    m.crowd_then_urgent(4, "gpu=4")
    m.submit(back=0, duration=38, nodes=1, preemptible=True, priority=48, req="gpu=T4:0.5")
    m.s.release("j3", m.now)
    m.crowd_then_urgent(4, "gpu=2")
    m.s.release("j4", m.now)
    m.submit(back=0, duration=1, nodes=1, preemptible=False, priority=19, req="gpu=4")
    m.settle()
    m.crowd_then_urgent(1, "gpu=4")
    m.submit(back=9, duration=None, nodes=2, preemptible=False, priority=100, req="gpu=2")
    m.crowd_then_urgent(1, "gpu=2")
    m.add_node("cpu=16 memory=64GB gpu=A100:80GB:4")
    m.s.release("j14", m.now)
    m.settle()  # reaches a fixed point (raised "no fixed point within 88 cycles" before)
    # and it is one: j20 waits behind j21's reservation (ahead of it), nobody is evicted for it
    assert m.s.schedule(m.now) == [] and "j20" not in m.s.nominations()

def test_reservation_of_unknown_start_does_not_move_onto_a_lower_nomination() -> None:
    """Regression (found by the events machine's settle rule): a gang of unknown start (g)
    that can never start yet reserved whichever node freed last. When a lower preemptor (p)
    had freed a node, g's reservation moved there; p could not start, lost its nomination,
    and a still lower job (low) took the capacity beside g's claim; p evicted it again in
    the next cycle, and g's reservation moved back: a livelock. A reservation now avoids
    nodes a preemptor is nominated on whenever that does not make it start later."""
    s = Scheduler(policy=Policy(
        preemption=Preemption(policy="lower-priority", min_runtime=2),
        aging=LinearAging(rate=1, max_boost=20)))
    a100, t4 = "cpu=16 memory=64GB gpu=A100:80GB:4", "cpu=8 memory=32GB gpu=T4:16GB:2"
    for nid, cap in (("n1", a100), ("n2", a100), ("n3", t4)):
        s.add_node(Node(id=nid, capacity=cap), now=0)
    s.submit(Job(id="low", submitted_at=10, priority=0, request="gpu=1", allowed_nodes=("n1",)), now=10)
    s.submit(Job(id="big", submitted_at=20, priority=100, request="gpu=4", allowed_nodes=("n2",)), now=20)
    s.submit(Job(id="low2", submitted_at=20, priority=0, request="gpu=1", allowed_nodes=("n1",)), now=20)
    s.submit(Job(id="low3", submitted_at=20, priority=0, request="gpu=1", allowed_nodes=("n3",)), now=20)
    s.schedule(20)
    s.submit(Job(id="urgent", submitted_at=30, priority=100, request="gpu=4"), now=30)
    s.submit(Job(id="g", submitted_at=30, priority=2, request="gpu=1", nodes=2, preemptible=False), now=30)
    s.submit(Job(id="p", submitted_at=30, priority=1, request="gpu=2", preemptible=False), now=30)
    now = 30.0
    history = []
    for _ in range(20):
        decisions = s.schedule(now)
        history.append([(type(d).__name__, d.job_id) for d in decisions])
        for d in decisions:
            if isinstance(d, Preempt):
                s.release(d.job_id, now)
        if not decisions:
            break
        now += 100
    else:
        raise AssertionError(f"no fixed point: {history}")
    assert "p" in {r.job.id for r in s.running()}, history
