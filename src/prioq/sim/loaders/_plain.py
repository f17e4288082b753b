"""The plain job CSV (``id,submitted_at,...``): :func:`load_csv`."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from prioq.errors import InvalidSpec, InvalidValue
from prioq.model import Job, Node
from prioq.resources import ResourceRequest
from prioq.sim.loaders._nodes import load_nodes
from prioq.sim.loaders._reading import (
    PathLike,
    Row,
    check_path,
    csv_rows,
    labels_of,
    node_list,
    sorted_jobs,
    unique,
)
from prioq.sim.workload import Workload

__all__ = ["CSV_JOB_COLUMNS", "load_csv"]

CSV_JOB_COLUMNS = (
    "id", "submitted_at", "duration", "priority", "request", "nodes", "owner", "group", "class",
    "preemptible", "after",
)
"""Columns of the plain job CSV; ``id`` and ``submitted_at`` are required, ``label.<key>`` adds labels."""

_TRUE = {"true", "yes", "1"}
_FALSE = {"false", "no", "0"}


def load_csv(
    path: PathLike,
    nodes: PathLike | Iterable[Node] | None = None,
    *,
    name: str | None = None,
    source: str | None = None,
) -> Workload:
    """Load jobs from the plain CSV format (:data:`CSV_JOB_COLUMNS`). O(n log n).

    ``id`` (unique) and ``submitted_at`` (seconds >= 0) are required; the rest
    are optional and default like :class:`~prioq.Job`: ``duration`` (true
    runtime in seconds, empty = unknown), ``priority`` (int), ``request`` (a
    spec string, ``gpu=A100:2 cpu=8``), ``nodes`` (gang size), ``owner``,
    ``group``, ``class`` (the ``class`` label), ``preemptible``
    (true/false/yes/no/1/0), ``after`` (ids separated by spaces), and any
    ``label.<key>`` column. ``nodes``: a node CSV path (:func:`load_nodes_csv`)
    or nodes.
    """
    path = check_path(path, "load_csv: path")
    header, rows = csv_rows(path, ("id", "submitted_at"), known=CSV_JOB_COLUMNS)
    jobs: list[Job] = []
    seen: set[str] = set()
    for row in rows:
        jobs.append(_job(row, header, seen))
    shown = os.fspath(path)
    return Workload(
        name=name or Path(shown).name,
        jobs=sorted_jobs(jobs),
        nodes=node_list(nodes, "load_csv: nodes", load_nodes),
        source=source or f"CSV {shown}",
    )


def _job(row: Row, header: Sequence[str], seen: set[str]) -> Job:
    """One row's job; the job id must not be in ``seen`` (it is added)."""
    job_id = row.text("id")
    if not job_id:
        raise row.error("id", "missing job id")
    unique(row, "id", job_id, seen)
    submitted = row.number("submitted_at")
    duration = row.optional_number("duration")
    if duration is not None and duration <= 0:
        raise row.error("duration", f"must be > 0, got {row.text('duration')}")
    priority = 0 if row.optional_text("priority") is None else row.integer("priority", minimum=None)
    gang = 1 if row.optional_text("nodes") is None else row.integer("nodes", minimum=1)
    preemptible = _flag(row, "preemptible", default=True)
    try:
        request = ResourceRequest.parse(row.text("request"))
    except InvalidSpec as exc:
        raise row.error("request", str(exc)) from exc
    after: tuple[str, ...] = tuple(row.text("after").split())
    labels = labels_of(row, header)
    klass = row.text("class")
    if klass:
        labels["class"] = klass
    try:
        return Job(
            id=job_id,
            submitted_at=submitted,
            priority=priority,
            request=request,
            nodes=gang,
            preemptible=preemptible,
            owner=row.text("owner") or None,
            group=row.text("group") or None,
            duration=duration,
            after=after,
            labels=labels,
        )
    except InvalidValue as exc:  # InvalidJob, InvalidSpec: the row's values
        raise row.error("row", str(exc)) from exc


def _flag(row: Row, field: str, *, default: bool) -> bool:
    flag = row.text(field).lower()
    if not flag:
        return default
    if flag not in _TRUE | _FALSE:
        raise row.error(field, f"expected true or false, got {row.text(field)!r}")
    return flag in _TRUE
