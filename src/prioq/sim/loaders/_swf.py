"""The Standard Workload Format of the Parallel Workloads Archive: :func:`load_swf`."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Literal

from prioq import _validate
from prioq.errors import InvalidValue
from prioq.model import Job, Node
from prioq.resources import MILLI, Range, ResourceRequest, Resources
from prioq.sim.loaders._reading import (
    MIN_DURATION,
    PathLike,
    Row,
    TraceError,
    check_path,
    check_priorities,
    lines,
    node_list,
    sorted_jobs,
    unique,
)
from prioq.sim.workload import Workload

__all__ = ["PWA_ATTRIBUTION", "SWF_FIELDS", "load_swf"]

PWA_ATTRIBUTION = (
    "Parallel Workloads Archive (Feitelson, Tsafrir, Krakov, JPDC 2014), "
    "https://www.cs.huji.ac.il/labs/parallel/workload/"
)

SWF_FIELDS = (
    "job number",
    "submit time",
    "wait time",
    "run time",
    "allocated processors",
    "average CPU time",
    "used memory",
    "requested processors",
    "requested time",
    "requested memory",
    "status",
    "user id",
    "group id",
    "executable number",
    "queue number",
    "partition number",
    "preceding job number",
    "think time",
)
"""The 18 fields of a Standard Workload Format line, in order (-1 = unknown)."""


def _swf_header(line: str) -> tuple[str, str] | None:
    body = line.lstrip(";").strip()
    key, sep, value = body.partition(":")
    if not sep or not key.strip() or " " in key.strip():
        return None
    return key.strip(), value.strip()


# Fields that must hold whole numbers (ids, counts): job number, allocated processors, requested
# processors, user, group, queue, partition.
_WHOLE = tuple(SWF_FIELDS[i] for i in (0, 4, 7, 11, 12, 14, 15))

_UNKNOWN_RUN_TIME = "unknown run time"
_UNKNOWN_PROCESSORS = "unknown processor count"


def load_swf(
    path: PathLike,
    *,
    nodes: Iterable[Node] | None = None,
    layout: Literal["nodes", "single"] = "nodes",
    processors: Literal["allocated", "requested"] = "allocated",
    queue_priorities: Mapping[int, int] | None = None,
    group_priorities: Mapping[int, int] | None = None,
    default_priority: int = 0,
    name: str | None = None,
) -> Workload:
    """Load a Parallel Workloads Archive log in the Standard Workload Format. O(n log n).

    ``;`` lines are header comments (``; MaxNodes: 128``); data lines have the
    18 whitespace-separated :data:`SWF_FIELDS`, -1 meaning unknown.

    * Cluster (unless ``nodes`` is given), from the header: ``layout="nodes"``
      gives ``MaxNodes`` nodes of ``MaxProcs / MaxNodes`` cores each (one core
      per node when only one of the two is given); ``layout="single"`` one node
      with ``MaxProcs`` cores. Memory is not modelled.
    * A job's processor count k is the ``processors`` field ("allocated" by
      default: what it held for its run time), the other field if that one is
      unknown. With ``c`` cores per node, k <= c is one node with k cores;
      k > c is a gang of ceil(k / c) whole nodes (machines of the archive
      allocate whole nodes). With ``layout="single"`` or explicit ``nodes``,
      every job is one node with k cores.
    * ``submitted_at`` = submit time, duration = run time (at least
      :data:`MIN_DURATION`). Jobs with unknown run time or processor count are
      skipped and counted in ``Workload.skipped``.
    * priority: ``queue_priorities[queue]``, else ``group_priorities[group]``,
      else ``default_priority``; the matching table sets the ``class`` label
      (``queue 1``, ``group 2``). Owner ``user<id>``; labels ``group``,
      ``queue``, ``partition``, ``requested_time`` when known.
    """
    path = check_path(path, "load_swf: path")
    _validate.choice(layout, ("nodes", "single"), "layout")
    _validate.choice(processors, ("allocated", "requested"), "processors")
    tables = (
        check_priorities(queue_priorities, "queue_priorities", int),
        check_priorities(group_priorities, "group_priorities", int),
    )
    _validate.priority(default_priority, "default_priority", error=InvalidValue)
    given = None if nodes is None else node_list(nodes, "load_swf: nodes", None)
    shown = os.fspath(path)
    header, records = _read(path)
    cluster, per_node = _cluster(shown, header, layout, given)
    primary, fallback = (4, 7) if processors == "allocated" else (7, 4)
    jobs: list[Job] = []
    seen: set[str] = set()
    skipped = {_UNKNOWN_RUN_TIME: 0, _UNKNOWN_PROCESSORS: 0}
    for row, values in records:
        unique(row, "job number", row.text("job number"), seen)
        outcome = _job(row, values, SWF_FIELDS[primary], SWF_FIELDS[fallback], per_node, tables,
                       default_priority)
        if isinstance(outcome, str):
            skipped[outcome] += 1
        else:
            jobs.append(outcome)
    described = ", ".join(header[k][0] for k in ("Computer", "Installation") if k in header)
    return Workload(
        name=name or Path(shown).name,
        jobs=sorted_jobs(jobs),
        nodes=cluster,
        source=f"SWF log {shown}" + (f" ({described})" if described else ""),
        skipped=[(k, v) for k, v in skipped.items() if v],
    )


def _header_line(line: str) -> tuple[str, str] | None:
    """``(key, value)`` of a ``; Key: value`` header comment; ``None`` for other comments."""
    body = line.lstrip(";").strip()
    key, sep, value = body.partition(":")
    if not sep or not key.strip() or " " in key.strip():
        return None
    return key.strip(), value.strip()


def _read(path: PathLike) -> tuple[dict[str, tuple[str, int]], list[tuple[Row, dict[str, float]]]]:
    """The header (key -> (value, line); the first of a repeated key wins) and the data lines,
    each with its 18 fields as numbers. O(n)."""
    shown = os.fspath(path)
    header: dict[str, tuple[str, int]] = {}
    records: list[tuple[Row, dict[str, float]]] = []
    for lineno, line in enumerate(lines(path), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith(";"):
            kv = _header_line(stripped)
            if kv is not None:
                header.setdefault(kv[0], (kv[1], lineno))
            continue
        parts = stripped.split()
        if len(parts) != len(SWF_FIELDS):
            raise TraceError(shown, lineno, "line", f"expected {len(SWF_FIELDS)} fields, got {len(parts)}")
        row = Row(shown, lineno, dict(zip(SWF_FIELDS, parts, strict=True)))
        values = {f: row.number(f, minimum=-1) for f in SWF_FIELDS}
        for f in _WHOLE:
            if not values[f].is_integer():
                raise row.error(f, f"not a whole number: {row.text(f)!r}")
        if values["submit time"] < 0:
            raise row.error("submit time", f"must be >= 0, got {row.text('submit time')}")
        records.append((row, values))
    return header, records


def _header_int(shown: str, header: Mapping[str, tuple[str, int]], key: str) -> int | None:
    if key not in header:
        return None
    text, lineno = header[key]
    try:
        value = int(text.split()[0])
    except (ValueError, IndexError):
        raise TraceError(shown, lineno, key, f"not a whole number: {text!r}") from None
    if value <= 0:
        raise TraceError(shown, lineno, key, f"must be > 0, got {value}")
    return value


def _cluster(
    shown: str, header: Mapping[str, tuple[str, int]], layout: str, given: tuple[Node, ...] | None
) -> tuple[tuple[Node, ...], float]:
    """The nodes (``given``, else those the header describes) and the cores per node (``inf``: one
    node holds any job). The size headers are checked even when nodes are given."""
    max_nodes, max_procs = _header_int(shown, header, "MaxNodes"), _header_int(shown, header, "MaxProcs")
    if given is not None:
        return given, math.inf
    if max_nodes is None and max_procs is None:
        raise TraceError(shown, None, "MaxNodes", "no MaxNodes or MaxProcs header line: pass nodes=")
    procs = max_procs if max_procs is not None else max_nodes
    assert procs is not None
    if layout == "single":
        return (Node(id="node-0", capacity=Resources(cpu_milli=procs * MILLI)),), math.inf
    count = max_nodes if max_nodes is not None else procs
    if procs % count:
        raise TraceError(
            shown, header["MaxProcs"][1], "MaxProcs",
            f"{procs} is not a multiple of MaxNodes {count}: use layout='single' or pass nodes=",
        )
    per_node = procs // count
    width = len(str(count - 1))
    capacity = Resources(cpu_milli=int(per_node) * MILLI)
    return tuple(Node(id=f"node-{i:0{width}d}", capacity=capacity) for i in range(count)), per_node


def _job(
    row: Row,
    values: Mapping[str, float],
    primary: str,
    fallback: str,
    per_node: float,
    tables: tuple[Mapping[object, int], Mapping[object, int]],
    default_priority: int,
) -> Job | str:
    """The line's job, or why it is skipped (unknown run time or processor count)."""
    run = values["run time"]
    if run < 0:
        return _UNKNOWN_RUN_TIME
    k = values[primary]
    if k <= 0:
        k = values[fallback]
    if k <= 0:
        return _UNKNOWN_PROCESSORS
    k_int = int(k)
    if k_int <= per_node:
        gang, cores = 1, k_int
    else:
        gang, cores = math.ceil(k_int / per_node), int(per_node)
    user, group, queue, partition = (
        int(values[f]) for f in ("user id", "group id", "queue number", "partition number")
    )
    labels: dict[str, str] = {}
    priority = default_priority
    queue_priorities, group_priorities = tables
    if queue in queue_priorities:
        priority, labels["class"] = queue_priorities[queue], f"queue {queue}"
    elif group in group_priorities:
        priority, labels["class"] = group_priorities[group], f"group {group}"
    for key, value in (("group", group), ("queue", queue), ("partition", partition)):
        if value >= 0:
            labels[key] = str(value)
    if values["requested time"] >= 0:
        labels["requested_time"] = f"{values['requested time']:g}"
    try:
        return Job(
            id=row.text("job number"),
            submitted_at=values["submit time"],
            priority=priority,
            request=ResourceRequest(cpu=Range.exact(cores)),
            nodes=gang,
            owner=f"user{user}" if user >= 0 else None,
            duration=max(MIN_DURATION, run),
            labels=labels,
        )
    except InvalidValue as exc:  # InvalidJob, InvalidSpec: the line's values
        raise row.error("line", str(exc)) from exc
