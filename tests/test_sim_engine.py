"""The simulator engine: a cross-check against simpy, conservation, determinism, node events, compare.

The simpy model is an independent reference for preemptive priority on one
node: simpy's ``PreemptiveResource`` grants the unit to the most important
request and interrupts the least important user when a more important request
arrives; an interrupted job asks again and runs its whole duration from scratch.
prioq.sim must produce exactly the same first-start and finish times.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

import attrs
import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from prioq import InvalidJob, InvalidType, InvalidValue, Job, Node, Policy, Preemption
from prioq.sim import (
    DEFAULT_COMPARISON,
    NodeEvent,
    SimResult,
    Strategy,
    Workload,
    compare,
    simulate,
    strategy,
    synthetic_cluster,
    synthetic_workload,
)

ROOT = Path(__file__).parent.parent
DOCS = ROOT / "docs" / "simulation.md"

# (id, arrival, duration, priority): prioq priorities, higher is more important.
Spec = tuple[str, float, float, int]


# --------------------------------------------------------------------------- the simpy reference


def simpy_preemptive(capacity: int, jobs: Sequence[Spec]) -> dict[str, tuple[float, float]]:
    """First start and finish of every job under preemptive priority on ``capacity`` unit slots."""
    env = simpy.Environment()
    resource = simpy.PreemptiveResource(env, capacity=capacity)
    first: dict[str, float] = {}
    finish: dict[str, float] = {}

    def run(job_id: str, arrival: float, duration: float, priority: int) -> simpy.events.ProcessGenerator:
        yield env.timeout(arrival)
        while True:
            # simpy: a lower number is more important; prioq: a higher priority is.
            with resource.request(priority=-priority, preempt=True) as req:
                yield req
                first.setdefault(job_id, env.now)
                try:
                    yield env.timeout(duration)
                except simpy.Interrupt:
                    continue  # preempted: ask again, and run the whole duration again
                finish[job_id] = env.now
                return

    for spec in jobs:
        env.process(run(*spec))
    env.run()
    return {job_id: (first[job_id], finish[job_id]) for job_id, *_ in jobs}


def prioq_preemptive(capacity: int, jobs: Sequence[Spec]) -> dict[str, tuple[float, float]]:
    workload = Workload(
        name="cross-check",
        jobs=sorted(
            (Job(id=i, submitted_at=t, duration=d, priority=p, request="cpu=1") for i, t, d, p in jobs),
            key=lambda j: j.submitted_at,
        ),
        nodes=[Node(id="node", capacity=f"cpu={capacity}")],
    )
    strat = Strategy(
        name="preemptive-priority",
        policy=Policy(preemption=Preemption(policy="lower-priority"), reservation=False),
    )
    result = simulate(workload, strat)
    out = {}
    for r in result.records:
        assert r.started_at is not None and r.finished_at is not None, r
        out[r.job_id] = (r.started_at, r.finished_at)
    return out


@st.composite
def preemptive_workloads(draw: st.DrawFn) -> tuple[int, list[Spec]]:
    """Jobs with distinct arrival times and distinct priorities on 1..4 unit slots.

    Arrival ``i`` is an integer plus ``(i + 1) / 64``. Every start happens at an
    arrival or at a completion, and a completion is a start plus an integer
    duration, so every event time carries the fraction of one arrival: no
    completion ever coincides with an arrival or with another completion, and
    the order of simultaneous events (which the two simulators define
    differently) never matters. Dyadic fractions keep the arithmetic exact.
    """
    n = draw(st.integers(min_value=1, max_value=25))
    capacity = draw(st.integers(min_value=1, max_value=4))
    whole = draw(st.lists(st.integers(min_value=0, max_value=30), min_size=n, max_size=n))
    durations = draw(st.lists(st.integers(min_value=1, max_value=12), min_size=n, max_size=n))
    priorities = draw(st.lists(st.integers(min_value=0, max_value=100), min_size=n, max_size=n, unique=True))
    jobs = [
        (f"j{i}", w + (i + 1) / 64, float(d), p)
        for i, (w, d, p) in enumerate(zip(whole, durations, priorities, strict=True))
    ]
    return capacity, jobs


@settings(max_examples=300)
@given(preemptive_workloads())
def test_preemptive_priority_matches_simpy(case: tuple[int, list[Spec]]) -> None:
    capacity, jobs = case
    assert prioq_preemptive(capacity, jobs) == simpy_preemptive(capacity, jobs)


def test_simpy_cross_check_example_preempts_and_restarts_from_scratch() -> None:
    # One slot: low runs from 0.5; high arrives at 2.25 and evicts it; low restarts when high ends.
    jobs: list[Spec] = [("low", 0.5, 4.0, 10), ("high", 2.25, 3.0, 90)]
    expected = {"low": (0.5, 5.25 + 4.0), "high": (2.25, 5.25)}
    assert simpy_preemptive(1, jobs) == expected
    assert prioq_preemptive(1, jobs) == expected


# --------------------------------------------------------------------------- conservation


STRATEGY_NAMES = [
    *DEFAULT_COMPARISON,
    "fifo+no-reservation",
    "priority+step-aging+strict",
    "priority+preemption+fgd",
    "priority+no-estimates+spread",
]


GPU_NODE = Node(id="gpu-box", capacity="cpu=64 memory=512GB gpu=A100:80GB:8")


@st.composite
def small_runs(draw: st.DrawFn) -> tuple[Workload, str, float | None]:
    seed = draw(st.integers(min_value=0, max_value=10_000))
    # One fixed GPU node: a synthetic cluster may draw CPU-only nodes, and load-based rates need GPUs.
    nodes = [*synthetic_cluster(draw(st.integers(min_value=0, max_value=5)), seed=seed), GPU_NODE]
    workload = synthetic_workload(
        draw(st.integers(min_value=1, max_value=40)), seed=seed + 1, nodes=nodes,
        load=draw(st.sampled_from([0.5, 1.5, 4.0])), median_duration=600,
    )
    name = draw(st.sampled_from(STRATEGY_NAMES))
    last = workload.jobs[-1].submitted_at
    until = draw(st.one_of(st.none(), st.floats(min_value=0, max_value=last * 1.5 + 1)))
    return workload, name, until


def fits_somewhere(job: Job, nodes: Sequence[Node]) -> bool:
    from prioq.resources import fit

    fitting = sum(1 for n in nodes if fit(job.request, n.capacity) is not None)
    return fitting >= job.nodes


def check_conservation(
    workload: Workload, result: SimResult, until: float | None, *, churn: bool = False
) -> None:
    """Every job arrived by the end is finished, still pending/running, or never started, consistently;
    samples never exceed capacity. ``churn``: nodes left, so a job may restart without a preemption."""
    by_id = {j.id: j for j in workload.jobs}
    # A run stopped by ``until`` reports the jobs that had arrived by then.
    arrived = [j.id for j in workload.jobs if until is None or j.submitted_at <= until]
    assert sorted(r.job_id for r in result.records) == sorted(arrived)
    for r in result.records:
        job = by_id[r.job_id]
        assert job.duration is not None
        if r.started_at is None:  # reported never started
            assert r.finished_at is None and r.preemptions == 0
            if until is None:
                # Without a stop time only a job that fits nowhere may never start.
                assert not fits_somewhere(job, workload.nodes), job
            continue
        assert r.started_at >= r.submitted_at
        if until is not None:
            assert r.started_at <= until
        if r.finished_at is None:  # still pending or running at the end
            assert until is not None, f"{r.job_id} started but never finished in a run without a stop"
            continue
        assert r.finished_at >= r.started_at + job.duration
        if until is not None:
            assert r.finished_at <= until
        if r.preemptions == 0 and not churn:
            assert r.finished_at == r.started_at + job.duration  # nothing interrupted it: no gaps
    for s in result.timeline.samples:
        assert 0 <= s.gpu_used_milli <= s.gpu_capacity_milli
        assert 0 <= s.cpu_used_milli <= s.cpu_capacity_milli
        assert s.queue_length >= 0
    for value in (result.metrics.gpu_utilization, result.metrics.cpu_utilization):
        assert value is None or 0 <= value <= 1 + 1e-12


@settings(max_examples=40)
@given(small_runs())
def test_every_job_is_accounted_for_and_utilization_never_exceeds_one(
    run: tuple[Workload, str, float | None],
) -> None:
    workload, name, until = run
    result = simulate(workload, strategy(name), until=until)
    check_conservation(workload, result, until)


@settings(max_examples=25)
@given(small_runs())
def test_timeline_matches_the_records_when_nothing_is_preempted(
    run: tuple[Workload, str, float | None],
) -> None:
    """Without preemption a job holds its resources exactly over [start, finish): the GPU use the
    engine samples must be the sum over the jobs running at each sample time, recomputed from records."""
    workload, name, until = run
    name = name.replace("+preemption", "")
    result = simulate(workload, strategy(name), until=until)
    end = result.metrics.end
    for s in result.timeline.samples:
        running = [
            r for r in result.records
            if r.started_at is not None and r.started_at <= s.time
            and (end if r.finished_at is None else r.finished_at) > s.time
        ]
        assert s.gpu_used_milli == sum(r.gpu_milli for r in running)
        assert s.cpu_used_milli == sum(r.cpu_milli for r in running)


def test_until_leaves_jobs_pending_and_running() -> None:
    nodes = [Node(id="n", capacity="cpu=1")]
    jobs = [Job(id=f"j{i}", submitted_at=i, duration=10, request="cpu=1") for i in range(3)]
    result = simulate(Workload(name="w", jobs=jobs, nodes=nodes), strategy("fifo"), until=15)
    records = {r.job_id: r for r in result.records}
    assert (records["j0"].started_at, records["j0"].finished_at) == (0, 10)
    assert (records["j1"].started_at, records["j1"].finished_at) == (10, None)  # running at the end
    assert records["j2"].started_at is None  # still pending
    assert result.metrics.overall.never_started == 1
    check_conservation(Workload(name="w", jobs=jobs, nodes=nodes), result, 15)


# --------------------------------------------------------------------------- determinism


@settings(max_examples=15)
@given(small_runs())
def test_same_workload_twice_gives_identical_results(run: tuple[Workload, str, float | None]) -> None:
    workload, name, until = run
    a = simulate(workload, strategy(name), until=until)
    b = simulate(workload, strategy(name), until=until)
    assert a.records == b.records
    assert a.timeline == b.timeline
    assert a.metrics == b.metrics
    assert (a.events, a.cycles, a.decisions) == (b.events, b.cycles, b.decisions)


def test_interval_adds_cycles_without_changing_an_idle_outcome() -> None:
    nodes = [Node(id="n", capacity="cpu=4")]
    jobs = [Job(id=f"j{i}", submitted_at=10 * i, duration=5, request="cpu=1") for i in range(4)]
    w = Workload(name="w", jobs=jobs, nodes=nodes)
    plain = simulate(w, strategy("priority"))
    ticking = simulate(w, strategy("priority"), interval=1)
    assert ticking.cycles > plain.cycles
    assert ticking.records == plain.records  # nothing ever waited: extra cycles decide nothing


# --------------------------------------------------------------------------- node events


def test_removing_a_node_requeues_its_job_and_an_added_node_runs_it() -> None:
    nodes = [Node(id="a", capacity="cpu=1"), Node(id="b", capacity="cpu=1")]
    jobs = [Job(id=f"j{i}", submitted_at=0, duration=100, request="cpu=1") for i in range(2)]
    w = Workload(name="w", jobs=jobs, nodes=nodes)
    events = [NodeEvent(time=50, node_id="a"), NodeEvent(time=60, node=Node(id="c", capacity="cpu=1"))]
    result = simulate(w, strategy("fifo"), node_events=events)
    check_conservation(w, result, None, churn=True)
    # The job on b finishes at 100; the one on a is requeued at 50 and restarts on c at 60.
    assert sorted(r.finished_at for r in result.records) == [100, 160]
    assert all(r.started_at == 0 and r.preemptions == 0 for r in result.records)
    assert result.timeline.samples[-1].cpu_capacity_milli == 2000  # a left, c joined


@st.composite
def churn(draw: st.DrawFn) -> tuple[Workload, list[NodeEvent], str]:
    n_nodes = draw(st.integers(min_value=1, max_value=4))
    nodes = [Node(id=f"n{i}", capacity="cpu=4 gpu=T4:2") for i in range(n_nodes)]
    n_jobs = draw(st.integers(min_value=1, max_value=25))
    jobs = [
        Job(
            id=f"j{i}",
            submitted_at=draw(st.integers(min_value=0, max_value=100)),
            duration=draw(st.integers(min_value=1, max_value=60)),
            priority=draw(st.integers(min_value=0, max_value=100)),
            request=draw(st.sampled_from(["cpu=1", "cpu=2 gpu=1", "cpu=1 gpu=0.5", "cpu=4 gpu=2"])),
        )
        for i in range(n_jobs)
    ]
    jobs.sort(key=lambda j: j.submitted_at)
    alive = [n.id for n in nodes]
    events: list[NodeEvent] = []
    t = 0.0
    for k in range(draw(st.integers(min_value=0, max_value=6))):
        t += draw(st.integers(min_value=1, max_value=40))
        if alive and draw(st.booleans()):
            gone = draw(st.sampled_from(alive))
            alive.remove(gone)
            events.append(NodeEvent(time=t, node_id=gone))
        else:
            new = Node(id=f"new{k}", capacity="cpu=4 gpu=T4:2")
            alive.append(new.id)
            events.append(NodeEvent(time=t, node=new))
    if not alive:  # leave a cluster behind, so that every job can finish eventually
        events.append(NodeEvent(time=t + 1, node=Node(id="last", capacity="cpu=4 gpu=T4:2")))
    name = draw(st.sampled_from(["fifo", "priority", "priority+aging+preemption", "priority+fgd"]))
    return Workload(name="churn", jobs=jobs, nodes=nodes), events, name


@settings(max_examples=60)
@given(churn())
def test_node_churn_requeues_and_every_job_still_finishes(
    case: tuple[Workload, list[NodeEvent], str],
) -> None:
    workload, events, name = case
    result = simulate(workload, strategy(name), node_events=events)
    # Every node is identical and every request fits one, and a node is left at the end.
    check_conservation(workload, result, None, churn=True)
    assert all(r.finished_at is not None for r in result.records)


def test_node_event_needs_exactly_one_of_node_and_node_id() -> None:
    with pytest.raises(InvalidValue):
        NodeEvent(time=1)
    with pytest.raises(InvalidValue):
        NodeEvent(time=1, node=Node(id="x", capacity="cpu=1"), node_id="x")


# --------------------------------------------------------------------------- compare and errors


def test_compare_returns_one_result_per_strategy_equal_to_single_runs() -> None:
    nodes = synthetic_cluster(4, seed=3)
    w = synthetic_workload(60, seed=4, nodes=nodes, load=2.0, median_duration=600)
    results = compare(w, [strategy(n) for n in DEFAULT_COMPARISON])
    assert list(results) == list(DEFAULT_COMPARISON)
    for name, r in results.items():
        assert r.strategy == name
        assert r.records == simulate(w, strategy(name)).records
    renamed = compare(w, {"mine": Policy(reservation=False), "yours": strategy("fifo")})
    assert [r.strategy for r in renamed.values()] == ["mine", "yours"]


def test_fifo_ignores_priorities_and_priority_uses_them() -> None:
    nodes = [Node(id="n", capacity="cpu=1")]
    jobs = [
        Job(id="first", submitted_at=0, duration=10, request="cpu=1"),
        Job(id="low", submitted_at=1, duration=10, priority=10, request="cpu=1"),
        Job(id="high", submitted_at=2, duration=10, priority=90, request="cpu=1"),
    ]
    w = Workload(name="w", jobs=jobs, nodes=nodes)
    order = {
        name: [r.job_id for r in sorted(simulate(w, strategy(name)).records, key=lambda r: r.started_at or 0)]
        for name in ("fifo", "priority")
    }
    assert order == {"fifo": ["first", "low", "high"], "priority": ["first", "high", "low"]}


def test_simulate_validates_before_running() -> None:
    nodes = [Node(id="n", capacity="cpu=1")]
    no_duration = Workload(name="w", jobs=[Job(id="x", submitted_at=0, request="cpu=1")], nodes=nodes)
    with pytest.raises(InvalidJob, match="x"):
        simulate(no_duration)
    ok = Workload(name="w", jobs=[Job(id="x", submitted_at=0, duration=1, request="cpu=1")], nodes=nodes)
    for bad in (0, -1, math.nan):
        with pytest.raises(InvalidValue):
            simulate(ok, interval=bad)
    with pytest.raises(InvalidType):
        simulate(ok, "fifo")  # type: ignore[arg-type]
    with pytest.raises(InvalidValue, match="prio"):
        strategy("prio")
    with pytest.raises(InvalidValue, match="agin"):
        strategy("priority+agin")


def test_strategy_names_build_the_documented_policies() -> None:
    s = strategy("priority+aging+preemption")
    assert s.use_priority and s.estimates
    assert s.policy.preemption.policy == "lower-priority"
    assert s.policy.aging.max_boost == 40
    f = strategy("fifo+no-estimates+strict")
    assert not f.use_priority and not f.estimates and f.policy.queueing == "strict"
    job = Job(id="x", submitted_at=0, duration=5, priority=70, request="cpu=1")
    assert f.present(job) == attrs.evolve(job, priority=0, duration=None)
    assert s.present(job) is job


# --------------------------------------------------------------------------- docs/simulation.md


def test_docs_simulation_examples_run() -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), flags=re.S)
    assert len(blocks) >= 5, "docs/simulation.md lost its python examples"
    namespace: dict[str, object] = {"__name__": "docs_simulation"}
    for block in blocks:
        exec(compile(block, str(DOCS), "exec"), namespace)


# --------------------------------------------------------------------------- bad arguments (issue 16)


def _ok_workload() -> Workload:
    nodes = [Node(id="n", capacity="cpu=1")]
    return Workload(name="w", jobs=[Job(id="x", submitted_at=0, duration=1, request="cpu=1")], nodes=nodes)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"interval": 10**400},
        {"interval": True},
        {"interval": "5"},
        {"until": math.nan},
        {"until": 10**400},
        {"until": "5"},
        {"fragmentation_every": -1},
        {"fragmentation_every": 2.5},
        {"fragmentation_every": True},
        {"progress": 5},
        {"node_events": 5},
        {"node_events": ["x"]},
    ],
)
def test_simulator_arguments_raise_invalid_value_never_a_builtin(kwargs: dict[str, object]) -> None:
    # Before issue 16: until="5" leaked TypeError, progress=5 a TypeError mid-run, node_events=["x"]
    # an AttributeError; simulator arguments are not jobs, so InvalidValue (not InvalidJob).
    with pytest.raises(InvalidValue) as info:
        simulate(_ok_workload(), **kwargs)  # type: ignore[arg-type]
    assert not isinstance(info.value, InvalidJob)


def test_simulate_and_compare_refuse_wrong_types_with_a_type_error() -> None:
    for call in (
        lambda: simulate("w"),  # type: ignore[arg-type]
        lambda: compare(_ok_workload(), ["fifo"]),  # type: ignore[list-item]
        lambda: compare(_ok_workload(), "fifo"),  # type: ignore[arg-type]
        lambda: compare(_ok_workload(), [strategy("fifo")], intervall=5),
        lambda: strategy(5),  # type: ignore[arg-type]
        lambda: Strategy(name="s", policy="fifo"),  # type: ignore[arg-type]
        lambda: Strategy(name="s", use_priority=1),  # type: ignore[arg-type]
        lambda: NodeEvent(time="1", node_id="n"),  # type: ignore[arg-type]
        lambda: NodeEvent(time=1, node="n"),  # type: ignore[arg-type]
    ):
        with pytest.raises(InvalidType) as info:
            call()
        assert isinstance(info.value, TypeError) and not isinstance(info.value, InvalidJob)
    with pytest.raises(InvalidValue):
        NodeEvent(time=10**400, node_id="n")  # was accepted, then broke the event heap's float times


def test_until_as_infinity_still_means_never_stop() -> None:
    assert simulate(_ok_workload(), until=math.inf).records[0].finished_at == 1


def test_report_arguments_raise_prioq_errors_before_any_plotting() -> None:
    from prioq.sim import render_report, write_report

    result = simulate(_ok_workload())
    with pytest.raises(InvalidValue):
        render_report({}, title="t")
    for call in (
        lambda: render_report([result], title="t"),  # type: ignore[arg-type]
        lambda: render_report({"a": "b"}, title="t"),  # type: ignore[dict-item]
        lambda: render_report({"a": result}, title=5),  # type: ignore[arg-type]
        lambda: write_report(5, {"a": result}, title="t"),  # type: ignore[arg-type]
    ):
        with pytest.raises(InvalidType):
            call()
