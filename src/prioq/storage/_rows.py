"""The values a store holds and exchanges: job and node rows, a whole state, one call's changes.

A scheduler builds them; stores persist them as they are. :func:`check_changes`
is what every store's ``commit`` checks first, so that a hand-built bad value
fails with a :class:`prioq.PrioqError` before anything is written.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, Literal

import attrs

from prioq._validate import instance, instant, integer, lookup_id, wrong_type
from prioq.errors import InvalidValue
from prioq.model import Job, Node
from prioq.resources import Resources

__all__ = ["Changes", "JobRow", "JobState", "NodeRow", "Snapshot", "check_changes"]

JobState = Literal["pending", "running", "terminating"]

_INF = math.inf
_MAX_COUNTER = 2**63 - 1
"""Counters are 64-bit integer columns in the SQL stores."""


@attrs.frozen(slots=True, kw_only=True)
class JobRow:
    """Everything the scheduler keeps about one job."""

    job: Job
    seq: int
    state: JobState
    node_ids: tuple[str, ...] = ()
    allocation: tuple[Resources, ...] = ()
    started_at: float | None = None
    start_priority: float | None = None
    """Effective priority frozen when the job started (``compare="effective"``)."""
    preempted_by: str | None = None
    """For a terminating victim: the preemptor it makes room for."""
    nominated: tuple[str, ...] = ()
    """For a pending preemptor: the nodes its victims are freeing."""
    backfill_for: str | None = None
    """For a running job: the blocked job whose reservation (of unknown start) it backfilled under."""


@attrs.frozen(slots=True, kw_only=True)
class NodeRow:
    node: Node
    order: int


@attrs.frozen(slots=True, kw_only=True)
class Snapshot:
    """A whole scheduler state, as a store loads it."""

    nodes: tuple[NodeRow, ...] = ()
    jobs: tuple[JobRow, ...] = ()
    now: float | None = None
    next_seq: int = 0
    next_order: int = 0
    placement: str | None = None
    """The placement policy's learnt state (FGD's arrival window) as text; ``None``: none stored."""
    extras: Mapping[str, str] = attrs.field(factory=dict)
    """The policies' keyed state (key -> text), e.g. fair-share usage per owner."""

    def is_empty(self) -> bool:
        return not self.nodes and not self.jobs and self.now is None


@attrs.frozen(slots=True, kw_only=True)
class Changes:
    """One public call's changes: rows to upsert (or delete, ``None``) by id, and new metadata."""

    jobs: Mapping[str, JobRow | None] = attrs.field(factory=dict)
    nodes: Mapping[str, NodeRow | None] = attrs.field(factory=dict)
    now: float | None = None
    next_seq: int = 0
    next_order: int = 0
    placement: str | None = None
    """The placement policy's new state text, when the call changed it; ``None``: unchanged."""
    extras: Mapping[str, str | None] = attrs.field(factory=dict)
    """Keyed policy state the call changed: the new text, or ``None`` to delete the key."""


def check_changes(changes: object) -> Changes:
    """``changes`` if it is a :class:`Changes` of well-typed rows and metadata; ``InvalidType`` /
    ``InvalidValue`` otherwise. Every store's ``commit`` calls it before writing anything.
    O(k) for k rows, a few type tests each (the rows' own fields were validated when the
    scheduler built their jobs and nodes)."""
    # This runs on every scheduler call: exact types are tested inline, and anything else
    # takes the slow path, which accepts subclasses and raises for the rest.
    if not isinstance(changes, Changes):
        raise wrong_type(InvalidValue, f"store commit: expected a prioq.storage.Changes, got {changes!r}")
    checked = changes
    jobs, nodes, now = checked.jobs, checked.nodes, checked.now
    if type(jobs) is not dict and not isinstance(jobs, Mapping):
        raise wrong_type(InvalidValue, f"store commit: changes.jobs must be a mapping, got {jobs!r}")
    if type(nodes) is not dict and not isinstance(nodes, Mapping):
        raise wrong_type(InvalidValue, f"store commit: changes.nodes must be a mapping, got {nodes!r}")
    if now is not None and not (type(now) is float and -_INF < now < _INF):
        instant(now, "store commit: changes.now")
    if type(checked.next_seq) is not int or not 0 <= checked.next_seq <= _MAX_COUNTER:
        integer(checked.next_seq, "store commit: changes.next_seq", minimum=0, maximum=_MAX_COUNTER)
    if type(checked.next_order) is not int or not 0 <= checked.next_order <= _MAX_COUNTER:
        integer(checked.next_order, "store commit: changes.next_order", minimum=0, maximum=_MAX_COUNTER)
    if checked.placement is not None and type(checked.placement) is not str:
        instance(checked.placement, str, "store commit: changes.placement")
    extras = checked.extras
    if type(extras) is not dict and not isinstance(extras, Mapping):
        raise wrong_type(InvalidValue, f"store commit: changes.extras must be a mapping, got {extras!r}")
    for key, text in extras.items():
        _check_extra(key, text)
    for job_id, row in jobs.items():
        if row is None:
            if type(job_id) is not str:
                _check_job_row(job_id, row)
        elif type(row) is not JobRow or type(row.job) is not Job or row.job.id != job_id:
            _check_job_row(job_id, row)
    for node_id, nrow in nodes.items():
        if nrow is None:
            if type(node_id) is not str:
                _check_node_row(node_id, nrow)
        elif type(nrow) is not NodeRow or type(nrow.node) is not Node or nrow.node.id != node_id:
            _check_node_row(node_id, nrow)
    return checked


def _check_job_row(job_id: object, row: object) -> None:
    _check_row("job", job_id, row, JobRow, lambda r: r.job, Job)


def _check_node_row(node_id: object, row: object) -> None:
    _check_row("node", node_id, row, NodeRow, lambda r: r.node, Node)


def _check_row(kind: str, key: object, row: object, row_type: type[Any], held: Callable[[Any], Any],
               value_type: type[Any]) -> None:
    """A row filed under ``key`` (or ``None``: deleted) is a ``row_type`` holding a
    ``value_type`` with that id. The slow path of :func:`check_changes`."""
    lookup_id(key, f"store commit: {kind} id")
    if row is None:
        return
    checked = instance(row, row_type, f"store commit: row of {kind} {key!r}")
    value = instance(held(checked), value_type, f"store commit: {kind} of row {key!r}")
    if value.id != key:
        raise InvalidValue(f"store commit: the row under {key!r} holds {kind} {value.id!r}")


def _check_extra(key: object, text: object) -> None:
    _storable_text(key, "extras key")
    if text is not None:
        _storable_text(text, f"extras value of {key!r}")


def _storable_text(value: object, what: str) -> None:
    """Text every store can hold alike: valid UTF-8 (no lone surrogate) without NUL, which
    PostgreSQL's text refuses. O(len)."""
    checked = instance(value, str, f"store commit: {what}")
    try:
        checked.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidValue(f"store commit: {what} is not valid UTF-8 text: {checked!r}") from None
    if "\x00" in checked:
        raise InvalidValue(f"store commit: {what} holds a NUL character: {checked!r}")
