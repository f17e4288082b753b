"""JSON encoding of jobs, nodes, resources and job rows for the SQL stores (row <-> text).

Every value round-trips exactly: ``decode_job(encode_job(j)) == j`` field by
field, ints stay ints and floats stay floats (JSON spells ``8`` and ``8.0``
differently and :mod:`json` reads them back as written), labels, ranges with
open ends, GPU filters, devices with their shares and extra counters included.

The encoding is compact: a field at its default value is left out, so a plain
job costs a few dozen bytes. Encoding and decoding are O(size of the value);
decoders validate through the value types' own constructors, so a corrupt row
raises :class:`prioq.StoreError` naming the row instead of building a bad job.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from prioq.errors import PrioqError, StoreError
from prioq.model import Job, Node
from prioq.resources import GPU, Device, GPURequest, Range, ResourceRequest, Resources
from prioq.selection import LabelRequirement, Taint, Toleration
from prioq.storage._rows import JobRow

__all__ = [
    "decode_job",
    "decode_node",
    "decode_request",
    "decode_resources",
    "decode_row",
    "dumps",
    "encode_job",
    "encode_node",
    "encode_request",
    "encode_resources",
    "encode_row_run",
    "loads",
    "split_v1_row",
]

T = TypeVar("T")

# ``allow_nan=False``: every stored number is finite by construction; a NaN would be a bug upstream.
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


def dumps(value: Any) -> str:
    """Compact JSON text of ``value``."""
    return _dumps(value)


def loads(text: str | bytes) -> Any:
    return json.loads(text)


# ----------------------------------------------------------------------------- ranges and resources


def _range(r: Range) -> list[float | None]:
    return [r.min, r.max]


def _unrange(v: Any) -> Range:
    lo, hi = v
    return Range(lo, hi)


_OPEN = Range()


# Jobs share request objects (spec strings are parsed once and cached): encode each once.
# Keyed by identity, holding the object so that its id cannot be reused while cached.
_REQUESTS: dict[int, tuple[ResourceRequest, dict[str, Any]]] = {}
_REQUESTS_MAX = 4096


def encode_request(req: ResourceRequest) -> dict[str, Any]:
    """A request as a JSON object; open ranges and absent filters are left out.
    The result is shared: do not modify it."""
    hit = _REQUESTS.get(id(req))
    if hit is not None and hit[0] is req:
        return hit[1]
    out = _encode_request(req)
    if len(_REQUESTS) >= _REQUESTS_MAX:
        _REQUESTS.clear()
    _REQUESTS[id(req)] = (req, out)
    return out


def _encode_request(req: ResourceRequest) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if req.cpu != _OPEN:
        out["cpu"] = _range(req.cpu)
    if req.memory != _OPEN:
        out["memory"] = _range(req.memory)
    if req.disk != _OPEN:
        out["disk"] = _range(req.disk)
    g = req.gpu
    if g is not None:
        gd: dict[str, Any] = {"count": _range(g.count)}
        if g.names:
            gd["names"] = list(g.names)
        if g.vendor is not None:
            gd["vendor"] = g.vendor
        if g.memory is not None:
            gd["memory"] = _range(g.memory)
        out["gpu"] = gd
    if req.extras:
        out["extras"] = [[name, _range(r)] for name, r in req.extras]
    if req.cpu_arch is not None:
        out["cpu_arch"] = req.cpu_arch
    return out


def decode_request(d: dict[str, Any]) -> ResourceRequest:
    gd = d.get("gpu")
    gpu = None
    if gd is not None:
        mem = gd.get("memory")
        gpu = GPURequest(
            count=_unrange(gd["count"]),
            names=tuple(gd.get("names", ())),
            vendor=gd.get("vendor"),
            memory=None if mem is None else _unrange(mem),
        )
    return ResourceRequest(
        cpu=_unrange(d["cpu"]) if "cpu" in d else _OPEN,
        memory=_unrange(d["memory"]) if "memory" in d else _OPEN,
        disk=_unrange(d["disk"]) if "disk" in d else _OPEN,
        gpu=gpu,
        extras=[(name, _unrange(r)) for name, r in d.get("extras", ())],
        cpu_arch=d.get("cpu_arch"),
    )


def encode_resources(r: Resources) -> dict[str, Any]:
    """Exact amounts as a JSON object: ``{"cpu": milli, "memory": bytes, "gpus": [[index, name,
    vendor, memory, milli], ...], ...}``; zero amounts are left out."""
    out: dict[str, Any] = {}
    if r.cpu_milli:
        out["cpu"] = r.cpu_milli
    if r.memory:
        out["memory"] = r.memory
    if r.disk:
        out["disk"] = r.disk
    if r.gpus:
        out["gpus"] = [[d.index, d.gpu.name, d.gpu.vendor, d.gpu.memory, d.milli] for d in r.gpus]
    if r.extras:
        out["extras"] = [[name, amount] for name, amount in r.extras]
    if r.cpu_arch is not None:
        out["cpu_arch"] = r.cpu_arch
    return out


def decode_resources(d: dict[str, Any]) -> Resources:
    gpus: dict[tuple[str, str | None, int | None], GPU] = {}
    devices = []
    for index, name, vendor, memory, milli in d.get("gpus", ()):
        # One GPU model object per distinct model: a node's eight A100s share it.
        key = (name, vendor, memory)
        model = gpus.get(key)
        if model is None:
            model = gpus[key] = GPU(name, vendor, memory)
        devices.append(Device(index, model, milli))
    return Resources(
        cpu_milli=d.get("cpu", 0),
        memory=d.get("memory", 0),
        disk=d.get("disk", 0),
        gpus=devices,
        extras=[(name, amount) for name, amount in d.get("extras", ())],
        cpu_arch=d.get("cpu_arch"),
    )


# ----------------------------------------------------------------------------- jobs and nodes


def encode_job(job: Job) -> str:
    """A job as JSON text; fields at their defaults are left out. O(size of the job)."""
    out: dict[str, Any] = {"id": job.id, "submitted_at": job.submitted_at}
    if job.priority:
        out["priority"] = job.priority
    req = encode_request(job.request)
    if req:
        out["request"] = req
    if job.nodes != 1:
        out["nodes"] = job.nodes
    if not job.preemptible:
        out["preemptible"] = False
    if job.owner is not None:
        out["owner"] = job.owner
    if job.group is not None:
        out["group"] = job.group
    if job.duration is not None:
        out["duration"] = job.duration
    if job.priority_class is not None:
        out["priority_class"] = job.priority_class
    if job.after:
        out["after"] = list(job.after)
    if job.dependency != "afterany":
        out["dependency"] = job.dependency
    if job.labels:
        out["labels"] = dict(job.labels)
    if job.node_selector:
        out["node_selector"] = [[r.key, r.operator, list(r.values)] for r in job.node_selector.requirements]
    if job.tolerations:
        out["tolerations"] = [[t.key, t.operator, t.value, t.effect] for t in job.tolerations]
    if job.allowed_nodes:
        out["allowed_nodes"] = list(job.allowed_nodes)
    if job.time_limit is not None:
        out["time_limit"] = job.time_limit
    return _dumps(out)


def _job(d: dict[str, Any]) -> Job:
    return Job(
        id=d["id"],
        submitted_at=d["submitted_at"],
        priority=d.get("priority", 0),
        request=decode_request(d["request"]) if "request" in d else ResourceRequest(),
        nodes=d.get("nodes", 1),
        preemptible=d.get("preemptible", True),
        owner=d.get("owner"),
        group=d.get("group"),
        duration=d.get("duration"),
        priority_class=d.get("priority_class"),
        after=tuple(d.get("after", ())),
        labels=d.get("labels", {}),
        dependency=d.get("dependency", "afterany"),
        node_selector=[LabelRequirement(key=k, operator=op, values=tuple(vs))
                       for k, op, vs in d.get("node_selector", ())],
        tolerations=[Toleration(key=k, operator=op, value=v, effect=e)
                     for k, op, v, e in d.get("tolerations", ())],
        allowed_nodes=tuple(d.get("allowed_nodes", ())),
        time_limit=d.get("time_limit"),
    )


def decode_job(text: str | bytes) -> Job:
    """The job encoded by :func:`encode_job`; ``StoreError`` if the text is not one."""
    return _guard("job", text, lambda: _job(json.loads(text)))


def encode_node(node: Node) -> str:
    out: dict[str, Any] = {"id": node.id, "capacity": encode_resources(node.capacity)}
    if node.labels:
        out["labels"] = dict(node.labels)
    if node.taints:
        out["taints"] = [[t.key, t.value, t.effect] for t in node.taints]
    return _dumps(out)


def decode_node(text: str | bytes) -> Node:
    def build() -> Node:
        d = json.loads(text)
        taints = [Taint(key=k, value=v, effect=e) for k, v, e in d.get("taints", ())]
        return Node(id=d["id"], capacity=decode_resources(d["capacity"]), labels=d.get("labels", {}),
                    taints=taints)

    return _guard("node", text, build)


# ----------------------------------------------------------------------------- job rows


def encode_row_run(row: JobRow) -> str | None:
    """The scheduler's part of a row (where it runs, nominations, frozen priority) as JSON text,
    ``None`` when every such field is at its default (a plain pending job)."""
    out: dict[str, Any] = {}
    if row.node_ids:
        out["node_ids"] = list(row.node_ids)
    if row.allocation:
        out["allocation"] = [encode_resources(a) for a in row.allocation]
    if row.started_at is not None:
        out["started_at"] = row.started_at
    if row.start_priority is not None:
        out["start_priority"] = row.start_priority
    if row.preempted_by is not None:
        out["preempted_by"] = row.preempted_by
    if row.nominated:
        out["nominated"] = list(row.nominated)
    if row.backfill_for is not None:
        out["backfill_for"] = row.backfill_for
    return _dumps(out) if out else None


def decode_row(job: Job, seq: int, state: str, run: str | bytes | None) -> JobRow:
    """A :class:`JobRow` from its stored columns (the job already decoded)."""
    if state not in ("pending", "running", "terminating"):
        raise StoreError(f"job {job.id!r}: stored state {state!r} is not pending, running or terminating")

    def build() -> JobRow:
        d: dict[str, Any] = {} if run is None else json.loads(run)
        return JobRow(
            job=job,
            seq=seq,
            state=state,  # type: ignore[arg-type]  # checked above
            node_ids=tuple(d.get("node_ids", ())),
            allocation=tuple(decode_resources(a) for a in d.get("allocation", ())),
            started_at=d.get("started_at"),
            start_priority=d.get("start_priority"),
            preempted_by=d.get("preempted_by"),
            nominated=tuple(d.get("nominated", ())),
            backfill_for=d.get("backfill_for"),
        )

    return _guard(f"job {job.id!r} run state", run, build)


def split_v1_row(text: str | bytes) -> tuple[str, str | None, float | None]:
    """Schema version 1 kept a whole row in one JSON object ``{"job": {...}, "node_ids": ...}``;
    version 2 stores the job and the scheduler's part apart. Returns ``(job, run, started_at)``."""

    def split() -> tuple[str, str | None, float | None]:
        d = json.loads(text)
        job = d.pop("job")
        if not isinstance(job, dict):
            raise TypeError(f"job is {type(job).__name__}, not an object")
        _job(job)  # validate before migrating anything
        return _dumps(job), (_dumps(d) if d else None), d.get("started_at")

    return _guard("version 1 job row", text, split)


def _guard(what: str, text: str | bytes | None, build: Callable[[], T]) -> T:
    try:
        return build()
    except (PrioqError, ValueError, TypeError, KeyError, AttributeError) as exc:
        shown = text if text is None or len(text) <= 200 else text[:200] + "..."  # type: ignore[operator]
        raise StoreError(f"corrupt stored {what}: {type(exc).__name__}: {exc} in {shown!r}") from exc
