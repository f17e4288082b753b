"""What a queue view shows, as plain values: built from a live :class:`~prioq.Scheduler` or from a
store's snapshot (read-only), the same shape either way (docs/visualization.md)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from prioq import _validate
from prioq.errors import InvalidValue
from prioq.fairshare import FairShare
from prioq.model import Job, Node
from prioq.queue.aging import AgingPolicy, LinearAging, NoAging, StepAging
from prioq.resources import MILLI, Resources
from prioq.scheduler import Scheduler, inherited_priorities
from prioq.storage import JobRow, Snapshot

__all__ = [
    "Band",
    "DeviceUse",
    "NodeUse",
    "PendingEntry",
    "QueueView",
    "RunningEntry",
    "build_from_scheduler",
    "build_from_snapshot",
    "class_name",
]

_EPS = 1e-9  # below this a derived part (fair-share term) is float noise, shown as 0


def class_name(job: Job) -> str:
    """The band a job is drawn in: its priority class, else its ``class`` label, else
    ``priority <n>`` (the same rule as :func:`prioq.sim.class_of`)."""
    if job.priority_class is not None:
        return job.priority_class
    label = job.labels.get("class")
    return label if label else f"priority {job.priority}"


@attrs.frozen(slots=True, kw_only=True)
class PendingEntry:
    """One waiting job, at its place in the scheduling order (``position`` 1 = next).

    ``effective = base + aging + fair_share``: ``base`` is the priority it is queued with
    (its own, or the one it inherits from ``inherited_from``), ``aging`` the aging boost of
    its wait, ``fair_share`` the owner's term with ``FairShare(mode="term")`` (else 0).
    ``reason`` / ``message``: the last cycle's pending reason (``None`` when read from a
    store: reasons are not persisted). ``nominated``: the nodes a preemptor will get.
    """

    position: int
    job_id: str
    owner: str | None
    band: str
    priority: int
    base: int
    aging: float
    fair_share: float
    effective: float
    submitted_at: float
    wait: float
    reason: str | None
    message: str | None
    nominated: tuple[str, ...]
    inherited_from: tuple[str, ...]
    request: str


@attrs.frozen(slots=True, kw_only=True)
class RunningEntry:
    """One running job; ``terminating_for``: the preemptor a victim makes room for, and
    ``deadline`` when its grace ends (``None``: not terminating, or not recorded)."""

    job_id: str
    owner: str | None
    band: str
    priority: int
    node_ids: tuple[str, ...]
    started_at: float
    running_for: float
    request: str
    gpu_milli: int
    terminating_for: str | None
    deadline: float | None


@attrs.frozen(slots=True, kw_only=True)
class DeviceUse:
    """One GPU device of a node: its model and who holds which share of it (milli, 1000 = whole)."""

    index: int
    model: str
    holders: tuple[tuple[str, int], ...]
    free_milli: int

    @property
    def fragmented(self) -> bool:
        """Partly used: its free share can serve only fractional requests."""
        return 0 < self.free_milli < MILLI


@attrs.frozen(slots=True, kw_only=True)
class NodeUse:
    """A node: its capacity, its devices and the CPU its jobs hold (milli-cores)."""

    node_id: str
    capacity: str
    devices: tuple[DeviceUse, ...]
    cpu_used_milli: int
    cpu_milli: int
    jobs: tuple[str, ...]


@attrs.frozen(slots=True, kw_only=True)
class Band:
    """A priority class or level: its highest base priority and how many jobs wait and run in it."""

    name: str
    priority: int
    pending: int
    running: int
    colour: int
    """Index into :data:`prioq.view.BAND_COLOURS` (the page draws the band in that colour)."""


@attrs.frozen(slots=True, kw_only=True)
class QueueView:
    """A queue at one instant: what :func:`prioq.view.queue_view` returns.

    ``pending`` holds the first ``limit`` waiting jobs in scheduling order (``pending_total``
    counts them all); ``html()`` renders the self-contained page, ``to_dict()`` / ``json()``
    the same data for an orchestrator's own UI.
    """

    now: float
    clock: str
    source: str
    aging: str
    fair_share: str | None
    pending: tuple[PendingEntry, ...]
    pending_total: int
    running: tuple[RunningEntry, ...]
    nodes: tuple[NodeUse, ...]
    bands: tuple[Band, ...]
    notes: tuple[str, ...] = ()

    @property
    def nominations(self) -> dict[str, tuple[str, ...]]:
        """Preemptors waiting for victims, with the nodes they will get (shown jobs only)."""
        return {p.job_id: p.nominated for p in self.pending if p.nominated}

    @property
    def terminating(self) -> dict[str, str]:
        """Victims told to stop: victim -> the preemptor it makes room for."""
        return {r.job_id: r.terminating_for for r in self.running if r.terminating_for is not None}

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (tuples as lists, infinities as ``None``)."""
        data = attrs.asdict(self)
        data["nominations"] = {k: list(v) for k, v in self.nominations.items()}
        data["terminating"] = self.terminating
        for node, use in zip(data["nodes"], self.nodes, strict=True):
            for device, dev in zip(node["devices"], use.devices, strict=True):
                device["fragmented"] = dev.fragmented
        plain = _plain(data)
        assert isinstance(plain, dict)
        return plain

    def json(self, *, indent: int | None = None) -> str:
        """:meth:`to_dict` as JSON text."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def html(self, *, title: str = "prioq queue", refresh: float | None = None) -> str:
        """The self-contained page (inline CSS and SVG, no script, no network). ``refresh``:
        seconds after which a browser reloads it (``prioq show --watch`` rewrites the file)."""
        from prioq.view._html import render_queue

        _validate.instance(title, str, "QueueView.html: title")
        if refresh is not None:
            _validate.number(refresh, "QueueView.html: refresh", above=0)
        return render_queue(self, title=title, refresh=refresh)


def _plain(value: object) -> object:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# --------------------------------------------------------------------------- building


def _aging_text(aging: AgingPolicy) -> str:
    """``+1 per 90 s, at most +40`` for the built-in policies; others as their repr."""
    if isinstance(aging, NoAging):
        return "none"
    if isinstance(aging, LinearAging) and aging.rate > 0:
        return f"linear, +1 per {1 / aging.rate:.4g} s, at most +{aging.max_boost:g}"
    if isinstance(aging, StepAging):
        return f"+{aging.step:g} every {aging.interval:g} s, at most +{aging.max_boost:g}"
    return repr(aging)


def _fair_text(fair: FairShare) -> str:
    """``FairShare(mode='order')``, naming a user ranking's class when there is one."""
    ranking = "" if fair.ranking is None else f", ranking={type(fair.ranking).__name__}"
    return f"FairShare(mode={fair.mode!r}{ranking})"


def _gpu_milli(allocation: Sequence[Resources]) -> int:
    return sum(a.gpu_milli for a in allocation)


_Held = Iterable[tuple[str, Sequence[str], Sequence[Resources]]]


def _node_uses(nodes: Sequence[Node], held: _Held) -> tuple[NodeUse, ...]:
    """Per node, who holds which share of each device and how much CPU. O(nodes + allocations)."""
    shares: dict[tuple[str, int], list[tuple[str, int]]] = {}
    cpu: dict[str, int] = {}
    jobs: dict[str, list[str]] = {}
    for job_id, node_ids, allocation in held:
        for node_id, alloc in zip(node_ids, allocation, strict=False):
            jobs.setdefault(node_id, []).append(job_id)
            cpu[node_id] = cpu.get(node_id, 0) + alloc.cpu_milli
            for d in alloc.gpus:
                shares.setdefault((node_id, d.index), []).append((job_id, d.milli))
    out = []
    for node in nodes:
        devices = []
        for d in node.capacity.gpus:
            holders = tuple(shares.get((node.id, d.index), ()))
            devices.append(DeviceUse(index=d.index, model=d.gpu.name, holders=holders,
                                     free_milli=max(0, d.milli - sum(m for _, m in holders))))
        out.append(NodeUse(node_id=node.id, capacity=str(node.capacity), devices=tuple(devices),
                           cpu_used_milli=cpu.get(node.id, 0), cpu_milli=node.capacity.cpu_milli,
                           jobs=tuple(jobs.get(node.id, ()))))
    return tuple(out)


def _bands(pending: Iterable[Job], running: Iterable[Job], declared: Mapping[str, int]) -> tuple[Band, ...]:
    """Bands by class, most important first (highest base priority seen), each with its colour."""
    top: dict[str, int] = dict(declared)
    counts: dict[str, list[int]] = {name: [0, 0] for name in declared}
    for k, jobs in enumerate((pending, running)):
        for job in jobs:
            name = class_name(job)
            top[name] = max(top.get(name, job.priority), job.priority)
            counts.setdefault(name, [0, 0])[k] += 1
    order = sorted(top, key=lambda n: (-top[n], n))
    return tuple(Band(name=n, priority=top[n], pending=counts[n][0], running=counts[n][1], colour=i)
                 for i, n in enumerate(order))


def _limit(limit: int | None, total: int) -> int:
    return total if limit is None or limit == 0 else min(limit, total)


def build_from_scheduler(s: Scheduler, now: float | None, limit: int | None) -> QueueView:
    """The view of a live scheduler at ``now`` (default: its clock). Reads only. O(n log n) for
    every pending job; with a ``limit``, what ``Scheduler.pending(now, limit)`` costs (O((limit
    + shapes) log n) at the clock without fair share) plus O(n) to count the bands."""
    when = s.now if now is None else now
    clock = "the scheduler's clock" if now is None else "now"
    if when is None:
        when, clock = 0.0, "the scheduler has not been called yet"
    queue = s._state.queue  # the pending set: its jobs unsorted, and the lifts it queues them with
    # at most every pending job: queue_view takes any int limit, pending() none past 2**63 - 1
    pending = s.pending(when, None if limit is None or limit == 0 else min(limit, len(queue)))
    running = s.running()
    policy = s.policy
    aging = policy.aging
    fair = policy.fair_share
    nominations = s.nominations()
    entries = []
    for pos, p in enumerate(pending, 1):
        job = p.job
        lift = queue.lift_of(job.id)
        base, submitted = (job.priority, job.submitted_at) if lift is None else (
            lift.priority, lift.submitted_at)
        boost = aging.boost(max(0.0, when - submitted))
        term = p.effective_priority - base - boost if fair is not None and fair.mode == "term" else 0.0
        entries.append(PendingEntry(
            position=pos, job_id=job.id, owner=job.owner, band=class_name(job), priority=job.priority,
            base=base, aging=boost, fair_share=term if abs(term) > _EPS else 0.0,
            effective=p.effective_priority, submitted_at=job.submitted_at,
            wait=max(0.0, when - job.submitted_at), reason=p.reason.value, message=p.message,
            nominated=tuple(nominations.get(job.id, ())), inherited_from=p.inherited_from,
            request=str(job.request),
        ))
    terminating = s.terminating()
    runs = tuple(
        RunningEntry(
            job_id=r.job.id, owner=r.job.owner, band=class_name(r.job), priority=r.job.priority,
            node_ids=r.node_ids, started_at=r.started_at, running_for=max(0.0, when - r.started_at),
            request=str(r.job.request), gpu_milli=_gpu_milli(r.allocation),
            terminating_for=terminating[r.job.id].by if r.job.id in terminating else None,
            deadline=terminating[r.job.id].deadline if r.job.id in terminating else None,
        )
        for r in running
    )
    declared = {pc.name: pc.value for pc in policy.priority_classes}
    return QueueView(
        now=float(when), clock=clock, source="a live Scheduler", aging=_aging_text(aging),
        fair_share=None if fair is None else _fair_text(fair),
        pending=tuple(entries), pending_total=len(queue), running=runs,
        nodes=_node_uses(s.nodes, ((r.job.id, r.node_ids, r.allocation) for r in running)),
        bands=_bands(queue.jobs(), (r.job for r in running), declared),
    )


def _deadline(extras: Mapping[str, str], victim: str) -> float | None:
    """The grace deadline a scheduler recorded for a victim (``preempt/<id>``: ``[told, deadline]``)."""
    text = extras.get("preempt/" + victim)
    if text is None:
        return None
    try:
        _, deadline = json.loads(text)
    except (ValueError, TypeError):
        return None
    return float(deadline) if isinstance(deadline, int | float) else None


def build_from_snapshot(snap: Snapshot, now: float | None, aging: AgingPolicy, limit: int | None,
                        source: str) -> QueueView:
    """The view of a stored state at ``now`` (default: the store's clock, else the latest
    submission or start), with ``aging`` (a store keeps jobs, not the policy). O(n log n)."""
    rows = list(snap.jobs)
    pending_rows = [r for r in rows if r.state == "pending"]
    running_rows = sorted((r for r in rows if r.state != "pending"),
                          key=lambda r: (r.started_at or 0.0, r.job.id))
    clock = "--now" if now is not None else "the scheduler's last call"
    if now is None:
        now = snap.now
    if now is None:
        times = [r.job.submitted_at for r in pending_rows] + [r.started_at or 0.0 for r in running_rows]
        now, clock = max(times, default=0.0), "latest submission or start in the store"
    outcomes = {k[len("outcome/"):]: v for k, v in snap.extras.items() if k.startswith("outcome/")}
    lifts = inherited_priorities([r.job for r in pending_rows], [r.job.id for r in running_rows], outcomes)
    ranked: list[tuple[float, float, int, str, JobRow, int, float]] = []
    for row in pending_rows:
        base, submitted, _ = lifts.get(row.job.id, (row.job.priority, row.job.submitted_at, ()))
        boost = aging.boost(max(0.0, now - submitted))
        ranked.append((-(base + boost), submitted, row.seq, row.job.id, row, base, boost))
    ranked.sort(key=lambda t: t[:4])
    entries = []
    for pos, (neg, _, _, _, row, base, boost) in enumerate(ranked[: _limit(limit, len(ranked))], 1):
        job = row.job
        entries.append(PendingEntry(
            position=pos, job_id=job.id, owner=job.owner, band=class_name(job), priority=job.priority,
            base=base, aging=boost, fair_share=0.0, effective=-neg, submitted_at=job.submitted_at,
            wait=max(0.0, now - job.submitted_at), reason="PREEMPTING" if row.nominated else None,
            message=None, nominated=row.nominated,
            inherited_from=lifts[job.id][2] if job.id in lifts else (), request=str(job.request),
        ))
    runs = tuple(
        RunningEntry(
            job_id=r.job.id, owner=r.job.owner, band=class_name(r.job), priority=r.job.priority,
            node_ids=r.node_ids, started_at=r.started_at if r.started_at is not None else now,
            running_for=max(0.0, now - (r.started_at if r.started_at is not None else now)),
            request=str(r.job.request), gpu_milli=_gpu_milli(r.allocation),
            terminating_for=r.preempted_by,
            deadline=_deadline(snap.extras, r.job.id) if r.preempted_by is not None else None,
        )
        for r in running_rows
    )
    nodes = [n.node for n in sorted(snap.nodes, key=lambda n: n.order)]
    notes: tuple[str, ...] = ("Pending reasons are not stored: they come from a live scheduler "
             "(queue_view(scheduler) or Scheduler.explain).",)
    if any(k.startswith("usage/") for k in snap.extras):
        notes += ("Fair share is on: its term is not included here (a store keeps usage, not the policy).",)
    return QueueView(
        now=float(now), clock=clock, source=source, aging=_aging_text(aging), fair_share=None,
        pending=tuple(entries), pending_total=len(ranked), running=runs,
        nodes=_node_uses(nodes, ((r.job.id, r.node_ids, r.allocation) for r in running_rows)),
        bands=_bands((r.job for r in pending_rows), (r.job for r in running_rows), {}),
        notes=notes,
    )


def check_limit(limit: object) -> int | None:
    """``None`` or an int >= 0 (0: all)."""
    if limit is None:
        return None
    value = _validate.integer(limit, "queue_view: limit", minimum=0)
    if value < 0:  # pragma: no cover - the helper refuses it
        raise InvalidValue(f"queue_view: limit must be >= 0, got {limit!r}")
    return value
