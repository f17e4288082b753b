"""Simulation metrics against independent computations (issue 8, data side)."""

from __future__ import annotations

import math
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prioq import GPU, Device, InvalidJob, InvalidTime, InvalidType, InvalidValue, Job, Resources
from prioq.sim.metrics import (
    SLOWDOWN_THRESHOLD,
    JobRecord,
    Metrics,
    Sample,
    Timeline,
    compute_metrics,
    format_table,
    fragmented_gpu_milli,
    jain_index,
    percentile,
)

# --------------------------------------------------------------------------- helpers


def _rec(job_id: str, klass: str, prio: int, owner: str | None, sub: float, start: float | None,
         fin: float | None, runtime: float | None, *, gpu: int = 1000, preempt: int = 0,
         lost: float = 0.0) -> JobRecord:
    return JobRecord(job_id=job_id, priority=prio, priority_class=klass, owner=owner, submitted_at=sub,
                     started_at=start, finished_at=fin, runtime=runtime, gpu_milli=gpu, cpu_milli=1000,
                     preemptions=preempt, lost_gpu_seconds=lost)


RECORDS = [
    _rec("a", "high", 80, "alice", 0, 0, 100, 100),
    _rec("b", "high", 80, "bob", 10, 30, 230, 200, preempt=1, lost=50.0),
    _rec("c", "low", 10, "alice", 5, 105, 110, 5, gpu=500),
    _rec("d", "low", 10, "carol", 20, 300, None, 1000),  # still running at the end
    _rec("e", "low", 10, "bob", 40, None, None, 60),  # never started
    _rec("f", "mid", 50, None, 50, 60, 400, 340, gpu=0),
]
END = 500.0


def _type7(xs: list[float], q: float) -> float:
    """Reference percentile: statistics.quantiles' inclusive method is Hyndman-Fan type 7."""
    if len(xs) == 1:
        return xs[0]
    if q == 0:
        return min(xs)
    if q == 100:
        return max(xs)
    return statistics.quantiles(xs, n=100, method="inclusive")[int(q) - 1]


# --------------------------------------------------------------------------- building blocks


@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=60), st.integers(0, 100))
def test_percentile_matches_the_reference(xs: list[float], q: int) -> None:
    assert percentile(xs, q) == pytest.approx(_type7(xs, q), rel=1e-9, abs=1e-6)


def test_percentile_validation() -> None:
    with pytest.raises(InvalidValue):
        percentile([], 50)
    with pytest.raises(InvalidValue):
        percentile([1.0], 101)


@given(st.lists(st.floats(0, 1e6), min_size=1, max_size=50))
def test_jain_index_is_between_one_over_n_and_one(xs: list[float]) -> None:
    j = jain_index(xs)
    assert 1 / len(xs) - 1e-12 <= j <= 1.0
    if sum(x * x for x in xs) > 0:
        reference = sum(xs) ** 2 / (len(xs) * sum(x * x for x in xs))
        assert j == pytest.approx(reference, rel=1e-9)


@given(st.floats(1e-3, 1e6), st.integers(1, 30))
def test_jain_index_extremes(x: float, n: int) -> None:
    assert jain_index([x] * n) == pytest.approx(1.0)
    assert jain_index([x] + [0.0] * (n - 1)) == pytest.approx(1 / n)


def test_jain_index_validation() -> None:
    with pytest.raises(InvalidValue):
        jain_index([])
    with pytest.raises(InvalidValue):
        jain_index([1.0, -1.0])
    assert jain_index([0.0, 0.0]) == 1.0


def test_fragmented_gpu_milli_counts_partly_used_devices_only() -> None:
    g = GPU("T4")
    free = [
        Resources(gpus=[Device(0, g, 1000), Device(1, g, 540), Device(2, g, 0)]),
        Resources(gpus=[Device(0, g, 250)]),
        Resources(cpu_milli=4000),
    ]
    assert fragmented_gpu_milli(free) == 540 + 250


def test_record_validation() -> None:
    job = Job(id="j", submitted_at=3, priority=7, owner="o", duration=9, request={"gpu": 2, "cpu": 4})
    rec = JobRecord.for_job(job, started_at=5, finished_at=14)
    assert (rec.gpu_milli, rec.cpu_milli, rec.runtime, rec.priority_class) == (2000, 4000, 9, "priority 7")
    for kwargs in ({"started_at": 1}, {"finished_at": 4}, {"started_at": 5, "finished_at": 4},
                   {"preemptions": -1}, {"lost_gpu_seconds": -1.0}, {"started_at": math.nan}):
        with pytest.raises(InvalidValue):
            JobRecord.for_job(job, **kwargs)
    with pytest.raises(InvalidTime):
        Timeline([Sample(time=2, queue_length=0, gpu_used_milli=0, cpu_used_milli=0,
                         gpu_capacity_milli=0, cpu_capacity_milli=0),
                  Sample(time=1, queue_length=0, gpu_used_milli=0, cpu_used_milli=0,
                         gpu_capacity_milli=0, cpu_capacity_milli=0)])
    with pytest.raises(InvalidValue):
        Sample(time=0, queue_length=-1, gpu_used_milli=0, cpu_used_milli=0, gpu_capacity_milli=0,
               cpu_capacity_milli=0)


# --------------------------------------------------------------------------- job metrics


def test_job_metrics_against_hand_computation() -> None:
    m = compute_metrics(RECORDS, end=END)
    # Independent computation, straight from the definitions.
    waits = []
    slowdowns = {}
    for r in RECORDS:
        started = r.started_at if r.started_at is not None else END
        waits.append(started - r.submitted_at)
        response = (r.finished_at if r.finished_at is not None else END) - r.submitted_at
        assert r.runtime is not None
        slowdowns[r.job_id] = max(1.0, response / max(r.runtime, SLOWDOWN_THRESHOLD))
    o = m.overall
    assert (o.jobs, o.started, o.finished, o.never_started) == (6, 5, 4, 1)
    assert o.wait_max == max(waits) == 460
    assert o.wait_mean == pytest.approx(sum(waits) / len(waits))
    for q, got in ((50, o.wait_p50), (95, o.wait_p95), (99, o.wait_p99)):
        assert got == pytest.approx(_type7(waits, q))
    assert o.slowdown_mean == pytest.approx(sum(slowdowns.values()) / len(slowdowns))
    assert o.slowdown_max == pytest.approx(max(slowdowns.values()))
    assert slowdowns["c"] == pytest.approx(105 / 10)  # 5 s runtime counts as the 10 s threshold
    assert o.preemptions == 1 and o.gpu_hours_lost == pytest.approx(50 / 3600)
    assert o.gpu_hours == pytest.approx((1000 * 100 + 1000 * 200 + 500 * 5) / 1000 / 3600)
    # Classes: most important first.
    assert list(m.by_class) == ["high", "mid", "low"]
    low = m.by_class["low"]
    assert (low.jobs, low.never_started, low.finished) == (3, 1, 1)
    assert low.wait_max == 460 and low.wait_p50 == pytest.approx(280)
    # Fairness: Jain over owners' mean slowdowns; the owner-less job is left out.
    per_owner: dict[str, list[float]] = {}
    for r in RECORDS:
        if r.owner is not None:
            per_owner.setdefault(r.owner, []).append(slowdowns[r.job_id])
    means = [sum(v) / len(v) for v in per_owner.values()]
    assert m.owners == 3
    assert m.fairness == pytest.approx(sum(means) ** 2 / (len(means) * sum(x * x for x in means)))
    assert m.makespan == 400 - 0
    assert m.end == END


def test_end_defaults_to_the_latest_time_and_cannot_precede_it() -> None:
    assert compute_metrics(RECORDS).end == 400
    with pytest.raises(InvalidTime):
        compute_metrics(RECORDS, end=399)
    with pytest.raises(InvalidValue):
        compute_metrics([RECORDS[0], RECORDS[0]])
    with pytest.raises(InvalidValue):
        compute_metrics(RECORDS, slowdown_threshold=0)
    empty = compute_metrics([])
    assert empty.overall.jobs == 0 and empty.overall.wait_p50 is None and empty.makespan is None
    assert empty.fairness is None and empty.gpu_utilization is None


# --------------------------------------------------------------------------- timeline


def _sample(t: float, used: int, cap: int, queue: int = 0, frag: int | None = None) -> Sample:
    return Sample(time=t, queue_length=queue, gpu_used_milli=used, cpu_used_milli=used // 2,
                  gpu_capacity_milli=cap, cpu_capacity_milli=cap, gpu_fragmented_milli=frag)


def test_utilization_example() -> None:
    tl = Timeline([_sample(0, 0, 4000, 2), _sample(10, 4000, 4000, 1, 0), _sample(30, 1000, 4000, 0, 500)])
    m = compute_metrics([], tl, end=40)
    # GPU: 0 for 10 s, full for 20 s, a quarter for 10 s, of 4000 capacity for 40 s.
    assert m.gpu_utilization == pytest.approx((0 * 10 + 4000 * 20 + 1000 * 10) / (4000 * 40))
    assert m.cpu_utilization == pytest.approx((0 * 10 + 2000 * 20 + 500 * 10) / (4000 * 40))
    # Fragmentation: not measured before t=10, then 0 for 20 s, then (carried forward) 500 for 10 s.
    assert m.gpu_fragmentation == pytest.approx((0 * 20 + 500 * 10) / (4000 * 30))
    assert m.queue_mean == pytest.approx((2 * 10 + 1 * 20 + 0 * 10) / 40) and m.queue_max == 2
    assert m.gpu_utilization_series == ((0, 0.0), (10, 1.0), (30, 0.25))
    assert m.queue_length_series == ((0, 2), (10, 1), (30, 0))
    tl2 = Timeline([_sample(0, 0, 4000, frag=0), _sample(30, 1000, 4000, frag=500)])
    assert compute_metrics([], tl2, end=40).gpu_fragmentation == pytest.approx(500 * 10 / (4000 * 40))


@st.composite
def timelines(draw: st.DrawFn) -> tuple[list[Sample], int]:
    n = draw(st.integers(1, 12))
    times = sorted(draw(st.lists(st.integers(0, 50), min_size=n, max_size=n)))
    samples = []
    for t in times:
        cap = draw(st.integers(0, 8)) * 1000
        used = draw(st.integers(0, cap))
        frag = draw(st.none() | st.integers(0, cap - used))
        samples.append(_sample(t, used, cap, draw(st.integers(0, 5)), frag))
    end = draw(st.integers(times[-1], 60))
    return samples, end


@given(timelines())
def test_utilization_is_a_fraction_and_matches_a_brute_force_integral(data: tuple[list[Sample], int]) -> None:
    samples, end = data
    m = compute_metrics([], Timeline(samples), end=end)
    # Brute force: walk unit time steps; at each step the last sample at or before it holds, and the
    # last measured fragmentation at or before it (none measured yet: the step does not count).
    used = cap = frag = frag_cap = 0
    for t in range(int(samples[0].time), end):
        s = [x for x in samples if x.time <= t][-1]
        used += s.gpu_used_milli
        cap += s.gpu_capacity_milli
        measured = [x.gpu_fragmented_milli for x in samples
                    if x.time <= t and x.gpu_fragmented_milli is not None]
        if measured:
            frag += measured[-1]
            frag_cap += s.gpu_capacity_milli
    if cap == 0:
        assert m.gpu_utilization is None
    else:
        assert m.gpu_utilization == pytest.approx(used / cap)
        assert m.gpu_utilization is not None and 0 <= m.gpu_utilization <= 1
    if frag_cap == 0:
        assert m.gpu_fragmentation is None
    else:
        assert m.gpu_fragmentation == pytest.approx(frag / frag_cap)
    assert all(0 <= u <= 1 for _, u in m.gpu_utilization_series)
    assert all(0 <= u <= 1 for _, u in m.cpu_utilization_series)


@given(st.lists(st.tuples(st.integers(0, 100), st.integers(0, 100), st.integers(0, 100),
                          st.integers(1, 100), st.booleans(), st.booleans(), st.sampled_from("abc")),
                min_size=1, max_size=30))
def test_job_metric_invariants(rows: list[tuple[int, int, int, int, bool, bool, str]]) -> None:
    records = []
    for i, (sub, wait, run, runtime, started, finished, owner) in enumerate(rows):
        start = sub + wait if started else None
        fin = start + run if started and finished and start is not None else None
        records.append(_rec(str(i), owner, i % 3, owner, sub, start, fin, runtime))
    m = compute_metrics(records)
    o = m.overall
    assert o.started + o.never_started == o.jobs == len(rows)
    assert o.finished <= o.started
    assert o.wait_p50 is not None and o.wait_p95 is not None and o.wait_p99 is not None
    assert 0 <= o.wait_p50 <= o.wait_p95 <= o.wait_p99 <= (o.wait_max or 0)
    assert o.slowdown_mean is not None and o.slowdown_mean >= 1
    assert m.fairness is not None and 1 / m.owners - 1e-12 <= m.fairness <= 1
    assert sum(s.jobs for s in m.by_class.values()) == o.jobs
    assert sum(s.never_started for s in m.by_class.values()) == o.never_started


# --------------------------------------------------------------------------- table


def test_as_row_and_format_table() -> None:
    tl = Timeline([_sample(0, 1000, 4000), _sample(100, 2000, 4000)])
    a = compute_metrics(RECORDS, tl, end=END)
    b = compute_metrics(RECORDS[:2], tl, end=END)
    row = a.as_row()
    assert row["jobs"] == 6 and row["wait_max"] == 460 and row["never_started"] == 1
    assert row["wait_p95[low]"] == a.by_class["low"].wait_p95
    assert row["gpu_util"] == a.gpu_utilization
    table = format_table({"fifo": a, "priority": b})
    lines = table.splitlines()
    assert lines[0].split() == ["metric", "fifo", "priority"]
    assert set(lines[1]) <= {"-", " "}
    by_metric = {ln.split()[0]: ln.split()[1:] for ln in lines[2:]}
    assert by_metric["jobs"] == ["6", "2"]
    assert by_metric["wait_max"] == ["7.67m", "20s"]  # 460 s and 20 s
    assert by_metric["wait_p50[low]"][1] == "-"  # run b has no low-priority jobs
    assert by_metric["gpu_util"][0].endswith("%")
    only = format_table({"x": a}, keys=["jobs", "makespan"])
    assert [ln.split()[0] for ln in only.splitlines()[2:]] == ["jobs", "makespan"]
    assert isinstance(a, Metrics)


# --------------------------------------------------------------------------- bad arguments (issue 16)


def test_huge_ints_and_wrong_types_raise_prioq_errors_not_builtins() -> None:
    # Before issue 16, math.isfinite(10**400) leaked OverflowError from every record/sample check.
    job = Job(id="j", submitted_at=3, duration=9, request="cpu=1")
    for call in (
        lambda: JobRecord.for_job(job, started_at=10**400),
        lambda: JobRecord.for_job(job, lost_gpu_seconds=10**400),
        lambda: Sample(time=10**400, queue_length=0, gpu_used_milli=0, cpu_used_milli=0,
                       gpu_capacity_milli=0, cpu_capacity_milli=0),
        lambda: compute_metrics(RECORDS, end=10**400),
        lambda: compute_metrics(RECORDS, slowdown_threshold=10**400),
        lambda: percentile([1.0], 10**400),
        lambda: jain_index([10**400]),
    ):
        with pytest.raises(InvalidValue) as info:
            call()
        assert not isinstance(info.value, InvalidJob)
    for call in (
        lambda: compute_metrics([object()]),  # type: ignore[list-item]
        lambda: compute_metrics(5),  # type: ignore[arg-type]
        lambda: Timeline([5]),  # type: ignore[list-item]
        lambda: JobRecord.for_job(job, preemptions=1.5),  # type: ignore[arg-type]
        lambda: percentile([1.0], "50"),  # type: ignore[arg-type]
    ):
        with pytest.raises(InvalidType):
            call()
