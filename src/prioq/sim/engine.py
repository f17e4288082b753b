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

from prioq import _validate
from prioq.errors import InvalidJob, InvalidValue
from prioq.model import Job, Node, Preempt, Start
from prioq.policy import Policy
from prioq.resources import MILLI
from prioq.scheduler import Scheduler
from prioq.sim.metrics import JobRecord, Metrics, Sample, Timeline, compute_metrics, fragmented_gpu_milli
from prioq.sim.quotas import trace_quotas
from prioq.sim.workload import Workload, job_gpu_milli
from prioq.storage import Store

__all__ = ["NodeEvent", "SimResult", "Strategy", "compare", "simulate"]

# Event kinds, in the order they apply at one instant.
_RELEASE, _NODE, _ARRIVAL, _TICK = 0, 1, 2, 3


@attrs.frozen(slots=True, kw_only=True)
class NodeEvent:
    """A node joining (``node`` given) or leaving (``node_id`` given) at ``time``.

    Bad fields raise :class:`~prioq.InvalidValue` (wrong types its ``...Type`` variant).
    """

    time: float
    node: Node | None = None
    node_id: str | None = None

    def __attrs_post_init__(self) -> None:
        _validate.number(self.time, "node event: time")
        if self.node is not None:
            _validate.instance(self.node, Node, "node event: node")
        if self.node_id is not None:
            _validate.identifier(self.node_id, "node event: node_id")
        if (self.node is None) == (self.node_id is None):
            raise InvalidValue("node event: give exactly one of node (add) or node_id (remove)")


@attrs.frozen(slots=True, kw_only=True)
class Strategy:
    """A named way to run a workload: a scheduler ``policy`` plus how jobs are presented.

    ``use_priority=False`` submits every job at the default priority (FIFO by
    submission). ``estimates=False`` hides durations from the scheduler
    (the simulator still knows the true runtime). Bad fields raise
    :class:`~prioq.InvalidValue` (wrong types its ``...Type`` variant).
    """

    name: str
    policy: Policy = attrs.field(factory=Policy)
    use_priority: bool = True
    estimates: bool = True
    trace_quotas: bool = False
    """Derive quotas from the trace (the ``quota`` modifier, :func:`prioq.sim.quotas.trace_quotas`)."""

    def __attrs_post_init__(self) -> None:
        _validate.identifier(self.name, "strategy: name")
        _validate.instance(self.policy, Policy, f"strategy {self.name}: policy")
        _validate.boolean(self.use_priority, f"strategy {self.name}: use_priority")
        _validate.boolean(self.estimates, f"strategy {self.name}: estimates")
        _validate.boolean(self.trace_quotas, f"strategy {self.name}: trace_quotas")

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
    policy: Policy | None = None
    """The scheduler's policy in the run (the report reads its aging to draw effective priorities)."""


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
    that many samples (0: never). ``progress(done, total)`` is called as arrivals are
    replayed. O(E log E) events plus the scheduler's own costs. Bad arguments
    raise :class:`~prioq.InvalidValue` (a job without a duration: :class:`~prioq.InvalidJob`).
    """
    _validate.instance(workload, Workload, "simulate: workload")
    strat = _strategy(strategy)
    if interval is not None:
        _validate.number(interval, "simulate: interval", above=0)
    if until is not None:
        _validate.number(until, "simulate: until", infinite=True)
    _validate.integer(fragmentation_every, "simulate: fragmentation_every", minimum=0)
    if progress is not None and not callable(progress):
        raise _validate.wrong_type(InvalidValue, f"simulate: progress must be callable, got {progress!r}")
    events = _node_events(node_events)
    missing = next((j.id for j in workload.jobs if j.duration is None), None)
    if missing is not None:
        raise InvalidJob(f"simulate: job {missing} has no duration (the simulator needs true runtimes)")
    run = _Run(workload, strat, interval=interval, store=store,
               fragmentation_every=fragmentation_every, progress=progress)
    run.start(events)
    run.loop(until)
    return run.result()


def _node_events(value: object) -> tuple[NodeEvent, ...]:
    if not isinstance(value, Iterable) or isinstance(value, str | bytes):
        raise _validate.wrong_type(
            InvalidValue, f"simulate: node_events must be NodeEvent values, got {value!r}"
        )
    return tuple(_validate.instance(ev, NodeEvent, "simulate: node_events item") for ev in value)


class _Run:
    """One replay: the event heap, the scheduler, and what the metrics need; one handler per event kind.

    Events are ``(time, kind, counter, payload)``: at one instant, kinds apply in
    their numeric order (see the module docstring) and, within a kind, in the
    order they were pushed.
    """

    def __init__(
        self,
        workload: Workload,
        strat: Strategy,
        *,
        interval: float | None,
        store: Store | None,
        fragmentation_every: int,
        progress: Callable[[int, int], None] | None,
    ) -> None:
        self.strat = strat
        self.interval = interval
        self.fragmentation_every = fragmentation_every
        self.progress = progress
        self.jobs = list(workload.jobs)
        policy = strat.policy
        if strat.trace_quotas:
            policy = attrs.evolve(policy, quotas=trace_quotas(workload))
        self.sched = Scheduler(workload.nodes, policy=policy, store=store)
        self.states = {j.id: _JobState(job=j) for j in self.jobs}
        self.heap: list[tuple[float, int, int, object]] = []
        self.counter = 0
        self.gpu_cap = sum(n.capacity.gpu_milli for n in workload.nodes)
        self.cpu_cap = sum(n.capacity.cpu_milli for n in workload.nodes)
        self.gpu_used = self.cpu_used = 0
        self.samples: list[Sample] = []
        self.arrived = self.events = self.cycles = self.decisions = 0
        self.now = 0.0
        self.holding: dict[str, tuple[int, int]] = {}  # running job -> (GPU, CPU) milli it holds
        self.handlers: dict[int, Callable[[object], None]] = {
            _RELEASE: self.on_release,
            _NODE: self.on_node_event,
            _ARRIVAL: self.on_arrival,
            _TICK: self.on_tick,
        }

    def push(self, time: float, kind: int, payload: object) -> None:
        self.counter += 1
        heapq.heappush(self.heap, (time, kind, self.counter, payload))

    def start(self, node_events: Iterable[NodeEvent]) -> None:
        """Queue the arrivals, the node events and the first tick."""
        for j in self.jobs:
            self.push(j.submitted_at, _ARRIVAL, j.id)
        for ev in node_events:
            self.push(ev.time, _NODE, ev)
        if self.interval is not None and self.jobs:
            self.push(min(j.submitted_at for j in self.jobs) + self.interval, _TICK, None)

    def loop(self, until: float | None) -> None:
        """Each instant: its events in order, then one scheduling cycle and a sample. Stops at ``until``."""
        heap = self.heap
        handlers = self.handlers
        while heap:
            now = heap[0][0]
            if until is not None and now > until:
                self.now = until
                return
            self.now = now
            while heap and heap[0][0] == now:
                _, kind, _, payload = heapq.heappop(heap)
                self.events += 1
                handlers[kind](payload)
            self.cycle()
            self.sample()

    # ------------------------------------------------------------------ event handlers

    def on_release(self, payload: object) -> None:
        """A job stops: it completed, or a preemption's grace period expired."""
        job_id, generation, victim = cast(tuple[str, int, bool], payload)
        st = self.states[job_id]
        if generation != st.generation or job_id not in self.holding:
            return  # stale: the job was requeued or preempted meanwhile
        self.stopped(job_id)
        self.sched.release(job_id, self.now)
        if victim:
            st.preemptions += 1
            assert st.start is not None
            st.lost_gpu_seconds += _lost_gpu_seconds(st, self.now)
        else:
            st.finished = self.now
        st.start = None
        st.generation += 1

    def on_node_event(self, payload: object) -> None:
        """A node joins or leaves; jobs on a leaving node lose their work and are requeued."""
        nev = cast(NodeEvent, payload)
        if nev.node is not None:
            self.sched.add_node(nev.node, self.now)
            self.gpu_cap += nev.node.capacity.gpu_milli
            self.cpu_cap += nev.node.capacity.cpu_milli
            return
        assert nev.node_id is not None
        gone = next(n for n in self.sched.nodes if n.id == nev.node_id)
        for job_id in self.sched.remove_node(nev.node_id, self.now):
            self.stopped(job_id)
            st = self.states[job_id]
            st.lost_gpu_seconds += _lost_gpu_seconds(st, self.now)
            st.start = None
            st.generation += 1
        self.gpu_cap -= gone.capacity.gpu_milli
        self.cpu_cap -= gone.capacity.cpu_milli

    def on_arrival(self, payload: object) -> None:
        """A job is submitted, as the strategy presents it."""
        self.sched.submit(self.strat.present(self.states[cast(str, payload)].job), self.now)
        self.arrived += 1
        if self.progress is not None:
            self.progress(self.arrived, len(self.jobs))

    def on_tick(self, payload: object) -> None:
        """A periodic cycle: the next tick is queued while there is work left."""
        if self.interval is not None and (self.arrived < len(self.jobs) or len(self.sched)):
            self.push(self.now + self.interval, _TICK, None)

    # ------------------------------------------------------------------ decisions

    def cycle(self) -> None:
        """One ``schedule(now)``; carry out its decisions."""
        decisions = self.sched.schedule(self.now)
        self.cycles += 1
        self.decisions += len(decisions)
        for d in decisions:
            if isinstance(d, Start):
                self.on_start(d)
            elif isinstance(d, Preempt):
                self.on_preempt(d)

    def on_start(self, d: Start) -> None:
        """A job starts: it holds its allocation and completes ``duration`` seconds later."""
        st = self.states[d.job_id]
        st.start = self.now
        if st.first_start is None:
            st.first_start = self.now
        g = sum(a.gpu_milli for a in d.allocation)
        c = sum(a.cpu_milli for a in d.allocation)
        self.holding[d.job_id] = (g, c)
        self.gpu_used += g
        self.cpu_used += c
        assert st.job.duration is not None
        self.push(self.now + st.job.duration, _RELEASE, (d.job_id, st.generation, False))

    def on_preempt(self, d: Preempt) -> None:
        """A victim stops after the grace period; its pending completion becomes stale."""
        st = self.states[d.job_id]
        st.generation += 1
        self.push(self.now + d.grace, _RELEASE, (d.job_id, st.generation, True))

    def stopped(self, job_id: str) -> None:
        g, c = self.holding.pop(job_id)
        self.gpu_used -= g
        self.cpu_used -= c

    # ------------------------------------------------------------------ measurement

    def sample(self) -> None:
        frag = None
        every = self.fragmentation_every
        if every and len(self.samples) % every == 0:
            sched = self.sched  # a local: the scan below is O(nodes)
            frag = fragmented_gpu_milli(sched.free(n.id) for n in sched.nodes)
        self.samples.append(Sample(
            time=self.now, queue_length=len(self.sched) - len(self.holding), gpu_used_milli=self.gpu_used,
            cpu_used_milli=self.cpu_used, gpu_capacity_milli=self.gpu_cap, cpu_capacity_milli=self.cpu_cap,
            gpu_fragmented_milli=frag,
        ))

    def result(self) -> SimResult:
        now = self.now
        records = tuple(
            JobRecord.for_job(
                st.job,
                started_at=st.first_start,
                finished_at=st.finished,
                preemptions=st.preemptions,
                lost_gpu_seconds=st.lost_gpu_seconds,
            )
            for st in self.states.values()
            # stopped by ``until``: jobs that had not arrived are not in the run
            if st.job.submitted_at <= now
        )
        timeline = Timeline(self.samples)
        end = max(now, max((s.time for s in self.samples), default=now))
        metrics = compute_metrics(records, timeline, end=end)
        return SimResult(
            strategy=self.strat.name, records=records, timeline=timeline, metrics=metrics,
            events=self.events, cycles=self.cycles, decisions=self.decisions, policy=self.sched.policy,
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
        raise _validate.wrong_type(InvalidValue, f"simulate: expected a Strategy or Policy, got {value!r}")
    return value


def compare(
    workload: Workload,
    strategies: Mapping[str, Strategy | Policy] | Sequence[Strategy],
    **options: object,
) -> dict[str, SimResult]:
    """Run each strategy on the same workload; ``format_table`` prints them side by side.

    ``options`` are :func:`simulate`'s keyword arguments, the same for every run.
    """
    unknown = sorted(set(options) - _SIMULATE_OPTIONS)
    if unknown:
        known = ", ".join(sorted(_SIMULATE_OPTIONS))
        message = f"compare: unknown options {', '.join(unknown)} (known: {known})"
        raise _validate.wrong_type(InvalidValue, message)
    items: list[tuple[str, Strategy | Policy]]
    if isinstance(strategies, Mapping):
        items = list(strategies.items())
    elif isinstance(strategies, Iterable) and not isinstance(strategies, str | bytes):
        items = [(_validate.instance(s, Strategy, "compare: strategies item").name, s) for s in strategies]
    else:
        message = f"compare: expected Strategy values or a mapping name -> strategy, got {strategies!r}"
        raise _validate.wrong_type(InvalidValue, message)
    out: dict[str, SimResult] = {}
    for name, strat in items:
        s = _strategy(strat)
        out[name] = simulate(workload, attrs.evolve(s, name=name), **options)  # type: ignore[arg-type]
    return out


_SIMULATE_OPTIONS = frozenset(
    {"interval", "until", "node_events", "store", "fragmentation_every", "progress"}
)
