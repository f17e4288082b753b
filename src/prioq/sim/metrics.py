"""Metrics of a simulation run: from per-job records and a usage timeline to one summary.

The simulator produces one :class:`JobRecord` per job and a :class:`Timeline`
of :class:`Sample` s (taken after each instant's events); :func:`compute_metrics`
turns them into :class:`Metrics`, overall and per priority class, and
:func:`format_table` prints several runs side by side.

Definitions (also in ``docs/simulation.md``):

* **wait** = first start - submission. A job that never started counts with
  ``end - submitted_at``, a lower bound, so starvation shows in the tail
  instead of vanishing from it; ``never_started`` says how many there were.
  Percentiles interpolate linearly between order statistics (numpy's default,
  Hyndman-Fan type 7).
* **bounded slowdown** = ``max(1, response / max(runtime, 10 s))`` with
  response = finish - submission (``end`` - submission while unfinished, a
  lower bound); the 10 s threshold keeps very short jobs from dominating the
  mean (Feitelson). Jobs without a known runtime have none.
* **utilization** = integral of used / integral of capacity over the timeline
  (each sample's values hold until the next sample, the last until ``end``):
  the fraction of the GPU- (CPU-) seconds that existed that were in use.
* **GPU fragmentation** = the same time-weighted ratio for the fragmented GPU
  share the samples report (see :func:`fragmented_gpu_milli`). The engine may
  measure it on some samples only: an unmeasured sample carries the last
  measurement forward, and time before the first measurement is left out.
* **fairness** = Jain's index over owners of each owner's mean bounded
  slowdown: ``(sum x)^2 / (n * sum x^2)``, 1 when every owner sees the same
  slowdown, 1/n when one owner gets all the delay. Slowdown rather than
  GPU-seconds received, because owners ask for very different amounts, and
  equal service for unequal demand is not fairness.
* **makespan** = last finish - first submission.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import attrs

from prioq import _validate
from prioq.errors import InvalidTime, InvalidValue
from prioq.model import Job
from prioq.resources import MILLI, Resources
from prioq.sim.workload import class_of, job_gpu_milli

__all__ = [
    "SLOWDOWN_THRESHOLD",
    "JobRecord",
    "JobStats",
    "Metrics",
    "Sample",
    "Timeline",
    "compute_metrics",
    "format_table",
    "fragmented_gpu_milli",
    "jain_index",
    "percentile",
]

SLOWDOWN_THRESHOLD = 10.0
"""Seconds: runtimes below this count as this long in the bounded slowdown."""


# Records, samples and metric arguments are not jobs: bad values raise InvalidValue (wrong types its
# ...Type variant); huge ints are refused by the helpers rather than leaking OverflowError.


def _finite(name: str, value: object) -> None:
    # Fast path for the common case (the engine builds ~one sample per event); the rest, and every
    # error, goes through _validate.
    if type(value) is float and math.isfinite(value):
        return
    _validate.number(value, name)


def _natural(name: str, value: object) -> None:
    if type(value) is int and value >= 0:
        return
    _validate.integer(value, name, minimum=0)


@attrs.frozen(slots=True, kw_only=True)
class JobRecord:
    """What happened to one job in a run.

    ``started_at`` is the *first* start (``None``: never started);
    ``finished_at`` ``None``: not finished by the end. ``gpu_milli`` /
    ``cpu_milli``: what the job holds while running, over all gang members.
    ``lost_gpu_seconds``: GPU-seconds of work thrown away by preemptions
    (a preempted job restarts from scratch). ``runtime``: the job's true
    runtime (``Job.duration``), ``None`` if unknown.
    """

    job_id: str
    priority: int
    priority_class: str
    owner: str | None
    submitted_at: float
    started_at: float | None = None
    finished_at: float | None = None
    preemptions: int = 0
    lost_gpu_seconds: float = 0.0
    gpu_milli: int = 0
    cpu_milli: int = 0
    runtime: float | None = None

    def __attrs_post_init__(self) -> None:
        _validate.identifier(self.job_id, "job record: job_id")
        who = f"job record {self.job_id}"
        _validate.integer(self.priority, f"{who}: priority")
        _validate.identifier(self.priority_class, f"{who}: priority_class")
        if self.owner is not None:
            _validate.instance(self.owner, str, f"{who}: owner")
        _finite(f"{who}: submitted_at", self.submitted_at)
        if self.started_at is not None:
            _finite(f"{who}: started_at", self.started_at)
            if self.started_at < self.submitted_at:
                raise InvalidValue(
                    f"{who}: started_at {self.started_at} is before submitted_at {self.submitted_at}"
                )
        if self.finished_at is not None:
            _finite(f"{who}: finished_at", self.finished_at)
            if self.started_at is None:
                raise InvalidValue(f"{who}: finished_at {self.finished_at} without a start")
            if self.finished_at < self.started_at:
                raise InvalidValue(
                    f"{who}: finished_at {self.finished_at} is before started_at {self.started_at}"
                )
        _natural(f"{who}: preemptions", self.preemptions)
        _natural(f"{who}: gpu_milli", self.gpu_milli)
        _natural(f"{who}: cpu_milli", self.cpu_milli)
        _finite(f"{who}: lost_gpu_seconds", self.lost_gpu_seconds)
        if self.lost_gpu_seconds < 0:
            raise InvalidValue(f"{who}: lost_gpu_seconds must be >= 0, got {self.lost_gpu_seconds}")
        if self.runtime is not None:
            _finite(f"{who}: runtime", self.runtime)
            if self.runtime < 0:
                raise InvalidValue(f"{who}: runtime must be >= 0, got {self.runtime}")

    @classmethod
    def for_job(
        cls,
        job: Job,
        *,
        started_at: float | None = None,
        finished_at: float | None = None,
        preemptions: int = 0,
        lost_gpu_seconds: float = 0.0,
    ) -> JobRecord:
        """A record with the job's own fields filled in (class via :func:`~prioq.sim.workload.class_of`)."""
        return cls(
            job_id=job.id,
            priority=job.priority,
            priority_class=class_of(job),
            owner=job.owner,
            submitted_at=job.submitted_at,
            started_at=started_at,
            finished_at=finished_at,
            preemptions=preemptions,
            lost_gpu_seconds=lost_gpu_seconds,
            gpu_milli=job_gpu_milli(job),
            cpu_milli=job.request.minimum().cpu_milli * job.nodes,
            runtime=job.duration,
        )


@attrs.frozen(slots=True, kw_only=True)
class Sample:
    """The cluster at one instant: queue length and used / total GPU and CPU (milli-units).

    ``gpu_fragmented_milli``: free GPU share the engine counts as fragmented
    (see :func:`fragmented_gpu_milli`), ``None`` if not measured.
    """

    time: float
    queue_length: int
    gpu_used_milli: int
    cpu_used_milli: int
    gpu_capacity_milli: int
    cpu_capacity_milli: int
    gpu_fragmented_milli: int | None = None

    def __attrs_post_init__(self) -> None:
        _finite("sample time", self.time)
        for name in ("queue_length", "gpu_used_milli", "cpu_used_milli", "gpu_capacity_milli",
                     "cpu_capacity_milli"):
            _natural(f"sample at {self.time}: {name}", getattr(self, name))
        if self.gpu_fragmented_milli is not None:
            _natural(f"sample at {self.time}: gpu_fragmented_milli", self.gpu_fragmented_milli)


def _samples(value: Iterable[Sample]) -> tuple[Sample, ...]:
    return tuple(value)


@attrs.frozen(slots=True)
class Timeline:
    """Samples in time order (equal times allowed: the last one at an instant wins). O(n) check."""

    samples: tuple[Sample, ...] = attrs.field(default=(), converter=_samples)

    def __attrs_post_init__(self) -> None:
        for i, s in enumerate(self.samples):
            _validate.instance(s, Sample, "timeline: sample")
            if i and s.time < self.samples[i - 1].time:
                raise InvalidTime(f"timeline: sample time {s.time} is before {self.samples[i - 1].time}")

    def __len__(self) -> int:
        return len(self.samples)


def fragmented_gpu_milli(free: Iterable[Resources]) -> int:
    """Free GPU share stranded on partly used devices, summed over nodes' free views. O(devices).

    A device with 0 < free share < 1000 can serve only fractional requests:
    its free share is capacity no whole-GPU job can use. (The FGD paper's
    measure also weighs by the workload's request mix; this one needs no
    workload model.)
    """
    return sum(d.milli for r in free for d in r.gpus if 0 < d.milli < MILLI)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) with linear interpolation (Hyndman-Fan type 7). O(n log n)."""
    if not values:
        raise InvalidValue("percentile: no values")
    _validate.number(q, "percentile: q", minimum=0, maximum=100)
    for v in values:
        _finite("percentile value", v)
    return _sorted_percentile(sorted(values), q)


def _sorted_percentile(xs: Sequence[float], q: float) -> float:
    """:func:`percentile` of values already sorted and checked (several percentiles, one sort)."""
    h = (len(xs) - 1) * q / 100
    lo = math.floor(h)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (h - lo) * (xs[hi] - xs[lo])


def jain_index(values: Sequence[float]) -> float:
    """Jain's fairness index ``(sum x)^2 / (n * sum x^2)`` of non-negative values, in [1/n, 1].

    All zeros count as perfectly fair (1.0). O(n).
    """
    if not values:
        raise InvalidValue("jain_index: no values")
    for v in values:
        _validate.number(v, "jain_index value", minimum=0)
    square_sum = sum(v * v for v in values)
    if square_sum == 0:
        return 1.0
    # Clamp: rounding can leave the ratio a hair outside its mathematical range.
    return min(1.0, max(1 / len(values), sum(values) ** 2 / (len(values) * square_sum)))


@attrs.frozen(slots=True, kw_only=True)
class JobStats:
    """Job-level metrics over a set of jobs (all of them, or one priority class); times in seconds."""

    jobs: int
    started: int
    finished: int
    never_started: int
    wait_mean: float | None
    wait_p50: float | None
    wait_p95: float | None
    wait_p99: float | None
    wait_max: float | None
    slowdown_mean: float | None
    slowdown_max: float | None
    preemptions: int
    gpu_hours_lost: float
    gpu_hours: float
    """GPU-hours of work finished jobs did (held GPUs x runtime), excluding lost work."""


@attrs.frozen(slots=True, kw_only=True)
class Metrics:
    """The summary of one run (see the module docstring for definitions)."""

    overall: JobStats
    by_class: Mapping[str, JobStats]
    """Per priority class, most important class first (highest priority seen in it)."""
    end: float
    makespan: float | None
    fairness: float | None
    owners: int
    gpu_utilization: float | None
    cpu_utilization: float | None
    gpu_fragmentation: float | None
    queue_mean: float | None
    queue_max: int | None
    gpu_utilization_series: tuple[tuple[float, float], ...] = ()
    cpu_utilization_series: tuple[tuple[float, float], ...] = ()
    queue_length_series: tuple[tuple[float, int], ...] = ()
    slowdown_threshold: float = SLOWDOWN_THRESHOLD

    def as_row(self) -> dict[str, float | int | None]:
        """Flat name -> value for tables: overall metrics, then ``<metric>[<class>]`` per class.

        Times in seconds, utilization and fragmentation as fractions of capacity.
        """
        o = self.overall
        row: dict[str, float | int | None] = {
            "jobs": o.jobs,
            "finished": o.finished,
            "never_started": o.never_started,
            "wait_mean": o.wait_mean,
            "wait_p50": o.wait_p50,
            "wait_p95": o.wait_p95,
            "wait_p99": o.wait_p99,
            "wait_max": o.wait_max,
            "slowdown_mean": o.slowdown_mean,
            "slowdown_max": o.slowdown_max,
            "gpu_util": self.gpu_utilization,
            "cpu_util": self.cpu_utilization,
            "gpu_frag": self.gpu_fragmentation,
            "queue_mean": self.queue_mean,
            "preemptions": o.preemptions,
            "gpu_hours_lost": o.gpu_hours_lost,
            "fairness": self.fairness,
            "makespan": self.makespan,
        }
        for name, s in self.by_class.items():
            row[f"jobs[{name}]"] = s.jobs
            row[f"wait_p50[{name}]"] = s.wait_p50
            row[f"wait_p95[{name}]"] = s.wait_p95
            row[f"wait_p99[{name}]"] = s.wait_p99
            row[f"slowdown_mean[{name}]"] = s.slowdown_mean
            row[f"never_started[{name}]"] = s.never_started
            row[f"preemptions[{name}]"] = s.preemptions
            row[f"gpu_hours_lost[{name}]"] = s.gpu_hours_lost
        return row


def _response(r: JobRecord, end: float) -> float:
    return (r.finished_at if r.finished_at is not None else end) - r.submitted_at


def _slowdown(r: JobRecord, end: float, threshold: float) -> float | None:
    if r.runtime is None:
        return None
    return float(max(1.0, _response(r, end) / max(r.runtime, threshold)))


def _wait(r: JobRecord, end: float) -> float:
    # float(): records built from int times must still format as durations, not counts.
    return float(max(0.0, (r.started_at if r.started_at is not None else end) - r.submitted_at))


def _stats(records: Sequence[JobRecord], end: float, threshold: float) -> JobStats:
    waits = [_wait(r, end) for r in records]
    ordered = sorted(waits)
    slowdowns = [s for r in records if (s := _slowdown(r, end, threshold)) is not None]
    finished = [r for r in records if r.finished_at is not None]
    return JobStats(
        jobs=len(records),
        started=sum(1 for r in records if r.started_at is not None),
        finished=len(finished),
        never_started=sum(1 for r in records if r.started_at is None),
        wait_mean=sum(waits) / len(waits) if waits else None,
        wait_p50=_sorted_percentile(ordered, 50) if waits else None,
        wait_p95=_sorted_percentile(ordered, 95) if waits else None,
        wait_p99=_sorted_percentile(ordered, 99) if waits else None,
        wait_max=max(waits) if waits else None,
        slowdown_mean=sum(slowdowns) / len(slowdowns) if slowdowns else None,
        slowdown_max=max(slowdowns) if slowdowns else None,
        preemptions=sum(r.preemptions for r in records),
        gpu_hours_lost=sum(r.lost_gpu_seconds for r in records) / 3600,
        gpu_hours=sum(r.gpu_milli * (r.runtime or 0.0) for r in finished) / MILLI / 3600,
    )


def _integrate(
    samples: Sequence[Sample], end: float, value: str, capacity: str, *, hold: bool = False
) -> float | None:
    """Ratio of time integrals of ``value`` and ``capacity``; ``None`` with no capacity-time. O(n).

    Each sample holds until the next (the last until ``end``). With ``hold``, a
    sample whose ``value`` is ``None`` (not measured) carries the last measured
    value forward, and time before the first measurement is left out.
    """
    used = total = 0.0
    last: float | None = None
    for i, s in enumerate(samples):
        stop = min(samples[i + 1].time if i + 1 < len(samples) else end, end)
        v = getattr(s, value)
        if v is None:
            if not hold:
                return None
            v = last
        else:
            last = v
        width = stop - s.time
        if width <= 0 or v is None:
            continue
        used += v * width
        total += getattr(s, capacity) * width
    return used / total if total > 0 else None


def compute_metrics(
    records: Iterable[JobRecord],
    timeline: Timeline | Iterable[Sample] = (),
    *,
    end: float | None = None,
    slowdown_threshold: float = SLOWDOWN_THRESHOLD,
) -> Metrics:
    """Summarize a run. O(n log n) in records plus O(samples).

    ``end`` is when the run stopped (default: the latest time in the records
    and the timeline); jobs unfinished then are censored at ``end`` (see the
    module docstring). Raises :class:`~prioq.InvalidTime` if ``end`` is before
    a recorded time, :class:`~prioq.InvalidValue` on duplicate job ids or bad arguments.
    """
    recs = _records(records)
    tl = timeline if isinstance(timeline, Timeline) else Timeline(timeline)
    _validate.number(slowdown_threshold, "slowdown_threshold", above=0)
    end = _end_of_run(recs, tl, end)
    samples = tl.samples
    per_owner = _owner_slowdowns(recs, end, slowdown_threshold)
    return Metrics(
        overall=_stats(recs, end, slowdown_threshold),
        by_class=_by_class(recs, end, slowdown_threshold),
        end=float(end),
        makespan=_makespan(recs),
        fairness=jain_index([sum(v) / len(v) for v in per_owner.values()]) if per_owner else None,
        owners=len(per_owner),
        gpu_utilization=_integrate(samples, end, "gpu_used_milli", "gpu_capacity_milli"),
        cpu_utilization=_integrate(samples, end, "cpu_used_milli", "cpu_capacity_milli"),
        gpu_fragmentation=_integrate(
            samples, end, "gpu_fragmented_milli", "gpu_capacity_milli", hold=True
        ),
        queue_mean=_queue_mean(samples, end),
        queue_max=max((s.queue_length for s in samples), default=None),
        gpu_utilization_series=tuple(
            (s.time, s.gpu_used_milli / s.gpu_capacity_milli) for s in samples if s.gpu_capacity_milli
        ),
        cpu_utilization_series=tuple(
            (s.time, s.cpu_used_milli / s.cpu_capacity_milli) for s in samples if s.cpu_capacity_milli
        ),
        queue_length_series=tuple((s.time, s.queue_length) for s in samples),
        slowdown_threshold=slowdown_threshold,
    )


def _records(records: object) -> tuple[JobRecord, ...]:
    """The records as a tuple, each a :class:`JobRecord`, job ids unique. O(n)."""
    if not isinstance(records, Iterable) or isinstance(records, str | bytes):
        message = f"compute_metrics: expected JobRecord values, got {records!r}"
        raise _validate.wrong_type(InvalidValue, message)
    recs = tuple(records)
    ids = set()
    for r in recs:
        _validate.instance(r, JobRecord, "compute_metrics: record")
        if r.job_id in ids:
            raise InvalidValue(f"compute_metrics: job id {r.job_id!r} appears in two records")
        ids.add(r.job_id)
    return recs


def _end_of_run(recs: Sequence[JobRecord], tl: Timeline, end: object) -> float:
    """``end``, checked against the latest recorded time (which it defaults to)."""
    times = [t for r in recs for t in (r.submitted_at, r.started_at, r.finished_at) if t is not None]
    times += [s.time for s in tl.samples]
    latest = max(times, default=0.0)
    if end is None:
        return latest
    _finite("end", end)
    assert isinstance(end, int | float)
    if end < latest:
        raise InvalidTime(f"end {end} is before the latest recorded time {latest}")
    return end


def _by_class(recs: Sequence[JobRecord], end: float, threshold: float) -> dict[str, JobStats]:
    """Stats per priority class, most important class first (highest priority seen in it)."""
    groups: dict[str, list[JobRecord]] = {}
    for r in recs:
        groups.setdefault(r.priority_class, []).append(r)
    order = sorted(groups, key=lambda c: (-max(r.priority for r in groups[c]), c))
    return {c: _stats(groups[c], end, threshold) for c in order}


def _owner_slowdowns(recs: Sequence[JobRecord], end: float, threshold: float) -> dict[str, list[float]]:
    """Each owner's bounded slowdowns (jobs with a known runtime), for the fairness index."""
    per_owner: dict[str, list[float]] = {}
    for r in recs:
        bsld = _slowdown(r, end, threshold)
        if r.owner is not None and bsld is not None:
            per_owner.setdefault(r.owner, []).append(bsld)
    return per_owner


def _makespan(recs: Sequence[JobRecord]) -> float | None:
    finishes = [r.finished_at for r in recs if r.finished_at is not None]
    return float(max(finishes) - min(r.submitted_at for r in recs)) if finishes else None


def _queue_mean(samples: Sequence[Sample], end: float) -> float | None:
    """Time-weighted mean queue length from the first sample to ``end``; ``None`` over no time."""
    span = end - samples[0].time if samples else 0.0
    if not span > 0:
        return None
    area = 0.0
    for i, s in enumerate(samples):
        stop = samples[i + 1].time if i + 1 < len(samples) else end
        area += s.queue_length * (stop - s.time)
    return area / span


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("m", 60.0)):
        if abs(seconds) >= size:
            return f"{seconds / size:.3g}{unit}"
    return f"{seconds:.3g}s"


def _format(key: str, value: float | int | None) -> str:
    if value is None:
        return "-"
    base = key.split("[", 1)[0]
    if isinstance(value, int):
        return str(value)
    if base.startswith("wait_") or base == "makespan":
        return _duration(value)
    if base in ("gpu_util", "cpu_util", "gpu_frag"):
        return f"{100 * value:.1f}%"
    return f"{value:.4g}"


def format_table(results: Mapping[str, Metrics], *, keys: Sequence[str] | None = None) -> str:
    """Runs side by side: one row per metric (``keys``, default all of ``as_row``), one column per run.

    Waits and makespan print with units (``12.3m``), utilization as percent;
    a metric a run does not have prints ``-``.
    """
    rows = {name: m.as_row() for name, m in results.items()}
    if keys is None:
        keys = list(dict.fromkeys(k for row in rows.values() for k in row))
    header = ["metric", *rows]
    table = [header] + [[k, *(_format(k, row.get(k)) for row in rows.values())] for k in keys]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    lines = []
    for n, line in enumerate(table):
        cells = [line[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(line[1:], widths[1:], strict=True)]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
