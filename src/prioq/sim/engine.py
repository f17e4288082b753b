"""The discrete-event simulator: replays a :class:`Workload` through the real :class:`prioq.Scheduler`.

Nothing here re-implements scheduling: the engine only plays the orchestrator.
It submits jobs at their ``submitted_at``, carries out the scheduler's
decisions (a ``Start`` completes ``duration`` seconds later; a ``Preempt``'s
victim stops after the grace period and is released, losing its work), and
calls ``schedule(now)`` after each instant's events (optionally also every
``interval`` seconds). Time is trace time; the run is deterministic.

Events at one instant are applied in this order: releases (completions and
terminated victims), node changes, arrivals; then one scheduling cycle. A
cycle whose decisions create events at the same instant (zero grace) is
followed by another cycle at that instant.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import cast

import attrs

from prioq.errors import InvalidJob
from prioq.model import Job, Node, Preempt, Start
from prioq.policy import Policy
from prioq.resources import MILLI
from prioq.scheduler import Scheduler
from prioq.sim.metrics import JobRecord, Metrics, Sample, Timeline, compute_metrics, fragmented_gpu_milli
from prioq.sim.workload import Workload, job_gpu_milli
from prioq.storage import Store

__all__ = ["NodeEvent", "SimResult", "Strategy", "compare", "simulate"]

# Event kinds, in the order they apply at one instant.
_RELEASE, _NODE, _ARRIVAL, _TICK = 0, 1, 2, 3


@attrs.frozen(slots=True, kw_only=True)
class NodeEvent:
    """A node joining (``node`` given) or leaving (``node_id`` given) at ``time``."""

    time: float
    node: Node | None = None
    node_id: str | None = None

    def __attrs_post_init__(self) -> None:
        if (self.node is None) == (self.node_id is None):
            raise InvalidJob("node event: give exactly one of node (add) or node_id (remove)")


@attrs.frozen(slots=True, kw_only=True)
class Strategy:
    """A named way to run a workload: a scheduler ``policy`` plus how jobs are presented.

    ``use_priority=False`` submits every job at the default priority (FIFO by
    submission). ``estimates=False`` hides durations from the scheduler
    (the simulator still knows the true runtime).
    """

    name: str
    policy: Policy = attrs.field(factory=Policy)
    use_priority: bool = True
    estimates: bool = True

    def present(self, job: Job) -> Job:
        changes: dict[str, object] = {}
        if not self.use_priority:
            changes.update(priority=self.policy.default_priority, priority_class=None)
        if not self.estimates:
            changes["duration"] = None
        return attrs.evolve(job, **changes) if changes else job  # type: ignore[arg-type]


@attrs.frozen(slots=True, kw_only=True)
class SimResult:
    """A finished run: per-job records, the timeline, the summary metrics and counters."""

    strategy: str
    records: tuple[JobRecord, ...]
    timeline: Timeline
    metrics: Metrics
    events: int
    cycles: int
    decisions: int


@attrs.define(slots=True)
class _JobState:
    job: Job
    first_start: float | None = None
    finished: float | None = None
    start: float | None = None
    preemptions: int = 0
    lost_gpu_seconds: float = 0.0
    generation: int = 0


def simulate(
    workload: Workload,
    strategy: Strategy | Policy | None = None,
    *,
    interval: float | None = None,
    until: float | None = None,
    node_events: Iterable[NodeEvent] = (),
    store: Store | None = None,
    fragmentation_every: int = 25,
    progress: Callable[[int, int], None] | None = None,
) -> SimResult:
    """Run ``workload`` under ``strategy`` and measure it.

    ``interval``: also run a cycle every that many seconds. ``until``: stop at
    that time (jobs still pending or running are reported as such; jobs
    submitted after it are left out of the records).
    ``fragmentation_every``: sample GPU fragmentation (an O(nodes) scan) every
    that many samples. ``progress(done, total)`` is called as arrivals are
    replayed. O(E log E) events plus the scheduler's own costs.
    """
    strat = _strategy(strategy)
    jobs = [j for j in workload.jobs if j.duration is not None]
    if len(jobs) != len(workload.jobs):
        missing = next(j.id for j in workload.jobs if j.duration is None)
        raise InvalidJob(f"simulate: job {missing} has no duration (the simulator needs true runtimes)")
    if interval is not None and not interval > 0:
        raise InvalidJob(f"simulate: interval must be > 0, got {interval!r}")
    sched = Scheduler(workload.nodes, policy=strat.policy, store=store)
    states = {j.id: _JobState(job=j) for j in jobs}
    heap: list[tuple[float, int, int, object]] = []
    counter = 0

    def push(time: float, kind: int, payload: object) -> None:
        nonlocal counter
        counter += 1
        heapq.heappush(heap, (time, kind, counter, payload))

    for j in jobs:
        push(j.submitted_at, _ARRIVAL, j.id)
    for ev in node_events:
        push(ev.time, _NODE, ev)
    if interval is not None and jobs:
        push(min(j.submitted_at for j in jobs) + interval, _TICK, None)

    gpu_cap = sum(n.capacity.gpu_milli for n in workload.nodes)
    cpu_cap = sum(n.capacity.cpu_milli for n in workload.nodes)
    gpu_used = cpu_used = 0
    samples: list[Sample] = []
    arrived = events = cycles = n_decisions = 0
    now = 0.0
    holding: dict[str, tuple[int, int]] = {}  # running job -> (GPU, CPU) milli it holds

    def sample(t: float) -> None:
        frag = None
        if fragmentation_every and len(samples) % fragmentation_every == 0:
            frag = fragmented_gpu_milli(sched.free(n.id) for n in sched.nodes)
        samples.append(Sample(
            time=t, queue_length=len(sched) - len(holding), gpu_used_milli=gpu_used,
            cpu_used_milli=cpu_used, gpu_capacity_milli=gpu_cap, cpu_capacity_milli=cpu_cap,
            gpu_fragmented_milli=frag,
        ))

    def stopped(job_id: str, t: float) -> None:
        nonlocal gpu_used, cpu_used
        g, c = holding.pop(job_id)
        gpu_used -= g
        cpu_used -= c

    while heap:
        now = heap[0][0]
        if until is not None and now > until:
            now = until
            break
        while heap and heap[0][0] == now:
            _, kind, _, payload = heapq.heappop(heap)
            events += 1
            if kind == _RELEASE:
                job_id, generation, victim = cast(tuple[str, int, bool], payload)
                st = states[job_id]
                if generation != st.generation or job_id not in holding:
                    continue  # stale: the job was requeued or preempted meanwhile
                stopped(job_id, now)
                sched.release(job_id, now)
                if victim:
                    st.preemptions += 1
                    assert st.start is not None
                    st.lost_gpu_seconds += _lost_gpu_seconds(st, now)
                else:
                    st.finished = now
                st.start = None
                st.generation += 1
            elif kind == _NODE:
                nev = cast(NodeEvent, payload)
                if nev.node is not None:
                    sched.add_node(nev.node, now)
                    gpu_cap += nev.node.capacity.gpu_milli
                    cpu_cap += nev.node.capacity.cpu_milli
                else:
                    assert nev.node_id is not None
                    gone = next(n for n in sched.nodes if n.id == nev.node_id)
                    for job_id in sched.remove_node(nev.node_id, now):
                        stopped(job_id, now)
                        st = states[job_id]
                        st.lost_gpu_seconds += _lost_gpu_seconds(st, now)
                        st.start = None
                        st.generation += 1
                    gpu_cap -= gone.capacity.gpu_milli
                    cpu_cap -= gone.capacity.cpu_milli
            elif kind == _ARRIVAL:
                sched.submit(strat.present(states[cast(str, payload)].job), now)
                arrived += 1
                if progress is not None:
                    progress(arrived, len(jobs))
            elif kind == _TICK and interval is not None and (arrived < len(jobs) or len(sched)):
                push(now + interval, _TICK, None)
        decisions = sched.schedule(now)
        cycles += 1
        n_decisions += len(decisions)
        for d in decisions:
            if isinstance(d, Start):
                st = states[d.job_id]
                st.start = now
                if st.first_start is None:
                    st.first_start = now
                g = sum(a.gpu_milli for a in d.allocation)
                c = sum(a.cpu_milli for a in d.allocation)
                holding[d.job_id] = (g, c)
                gpu_used += g
                cpu_used += c
                assert st.job.duration is not None
                push(now + st.job.duration, _RELEASE, (d.job_id, st.generation, False))
            elif isinstance(d, Preempt):
                st = states[d.job_id]
                st.generation += 1
                push(now + d.grace, _RELEASE, (d.job_id, st.generation, True))
        sample(now)

    records = tuple(
        JobRecord.for_job(
            st.job,
            started_at=st.first_start,
            finished_at=st.finished,
            preemptions=st.preemptions,
            lost_gpu_seconds=st.lost_gpu_seconds,
        )
        for st in states.values()
        if st.job.submitted_at <= now  # stopped by ``until``: jobs that had not arrived are not in the run
    )
    timeline = Timeline(samples)
    metrics = compute_metrics(records, timeline, end=max(now, max((s.time for s in samples), default=now)))
    return SimResult(
        strategy=strat.name, records=records, timeline=timeline, metrics=metrics,
        events=events, cycles=cycles, decisions=n_decisions,
    )


def _lost_gpu_seconds(st: _JobState, now: float) -> float:
    """GPU-seconds of work a stopped, unfinished job loses (it restarts from scratch)."""
    assert st.start is not None
    return job_gpu_milli(st.job) / MILLI * (now - st.start)


def _strategy(value: Strategy | Policy | None) -> Strategy:
    if value is None:
        return Strategy(name="default")
    if isinstance(value, Policy):
        return Strategy(name="custom", policy=value)
    if not isinstance(value, Strategy):
        raise InvalidJob(f"simulate: expected a Strategy or Policy, got {value!r}")
    return value


def compare(
    workload: Workload,
    strategies: Mapping[str, Strategy | Policy] | Sequence[Strategy],
    **options: object,
) -> dict[str, SimResult]:
    """Run each strategy on the same workload; ``format_table`` prints them side by side."""
    items: list[tuple[str, Strategy | Policy]] = (
        list(strategies.items()) if isinstance(strategies, Mapping) else [(s.name, s) for s in strategies]
    )
    out: dict[str, SimResult] = {}
    for name, strat in items:
        s = _strategy(strat)
        out[name] = simulate(workload, attrs.evolve(s, name=name), **options)  # type: ignore[arg-type]
    return out
