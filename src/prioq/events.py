"""Change events: every state change a scheduler call causes, numbered (docs/orchestrator.md#events).

A server mirrors the scheduler's jobs and nodes in its own tables by reading
``Scheduler.events(since=cursor)`` after each call instead of diffing lists.
Each :class:`Event` has a sequence number that grows by one per event and is
never reused, so ``since`` is a cursor; events are committed with the change
that caused them, in the same store transaction.
"""

from __future__ import annotations

import enum
import json

import attrs

from prioq._validate import identifier, identifiers, instant, integer, wrong_type
from prioq.errors import InvalidValue

__all__ = ["Event", "EventKind", "EventPage"]


class EventKind(enum.Enum):
    """What changed. Every decision kind has one (``STARTED`` for a start, ``PREEMPTED`` for
    a preemption; a decision that stops a running job for a reason of its own maps to
    ``STOPPED``)."""

    SUBMITTED = "submitted"
    """A new job is pending (``priority``: its base priority)."""
    STARTED = "started"
    """A pending job runs on ``node_ids`` (a ``Start`` decision)."""
    PREEMPTED = "preempted"
    """A running job was told to stop for ``by`` (a ``Preempt`` decision); it is terminating."""
    STOPPED = "stopped"
    """A running job was told to stop for ``reason`` (drain, time limit); it is terminating."""
    REQUEUED = "requeued"
    """A running job is pending again (``reason``: ``"requeue"``, ``"preempted"``,
    ``"node removed"``)."""
    RELEASED = "released"
    """A running job left the scheduler (``outcome``: how it ended)."""
    CANCELLED = "cancelled"
    """A pending or running job was cancelled and left the scheduler."""
    DROPPED = "dropped"
    """A pending job left the scheduler without running (``reason``: why, e.g. unsatisfiable)."""
    PRIORITY_CHANGED = "priority-changed"
    """A held job's base priority is now ``priority``."""
    NODE_ADDED = "node-added"
    """``node_ids[0]`` joined the cluster."""
    NODE_REMOVED = "node-removed"
    """``node_ids[0]`` left the cluster (its jobs' ``REQUEUED`` events precede this)."""


@attrs.frozen(slots=True, kw_only=True)
class Event:
    """One state change. ``seq``: its number (>= 1, one more than the previous event's);
    ``at``: the ``now`` of the call that caused it (``None`` before the scheduler's first
    clock, e.g. the nodes a new scheduler starts with)."""

    seq: int
    at: float | None
    kind: EventKind
    job_id: str | None = None
    node_ids: tuple[str, ...] = ()
    priority: int | None = None
    by: str | None = None
    outcome: str | None = None
    reason: str | None = None

    def __attrs_post_init__(self) -> None:
        integer(self.seq, "event seq", minimum=1)
        if self.at is not None:
            instant(self.at, "event at")
        if not isinstance(self.kind, EventKind):
            raise wrong_type(InvalidValue, f"event kind: expected an EventKind, got {self.kind!r}")
        if self.job_id is not None:
            identifier(self.job_id, "event job_id")
        identifiers(self.node_ids, "event node_ids")

    @classmethod
    def trusted(cls, seq: int, at: float | None, kind: EventKind, job_id: str | None,
                node_ids: tuple[str, ...], priority: int | None, by: str | None, outcome: str | None,
                reason: str | None) -> Event:
        """An event from values the scheduler already validated, without checking them again
        (a cycle records one per start). O(1)."""
        event = object.__new__(cls)
        for name, value in (("seq", seq), ("at", at), ("kind", kind), ("job_id", job_id),
                            ("node_ids", node_ids), ("priority", priority), ("by", by),
                            ("outcome", outcome), ("reason", reason)):
            object.__setattr__(event, name, value)
        return event

    def data(self) -> dict[str, object]:
        """The event as the store keeps it, a JSON object without its seq (the row's key and
        the event's place in the row give it). O(fields)."""
        out: dict[str, object] = {"kind": self.kind.value, "at": self.at}
        for name in ("job_id", "priority", "by", "outcome", "reason"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.node_ids:
            out["node_ids"] = list(self.node_ids)
        return out

    @classmethod
    def from_data(cls, seq: int, data: object) -> Event:
        """The inverse of :meth:`data`. :class:`InvalidValue` for anything it did not write."""
        try:
            if not isinstance(data, dict):
                raise TypeError(f"expected an object, got {data!r}")
            fields = dict(data)
            kind = EventKind(fields.pop("kind"))
            node_ids = tuple(fields.pop("node_ids", ()))
            return cls(seq=seq, kind=kind, node_ids=node_ids, **fields)
        except (ValueError, TypeError, KeyError) as exc:
            raise InvalidValue(f"event {seq}: unreadable stored event {data!r} ({exc})") from exc

    @classmethod
    def list_from_text(cls, first: int, text: str) -> list[Event]:
        """The events of one stored row (a JSON list, the first numbered ``first``)."""
        try:
            items = json.loads(text)
        except ValueError as exc:
            raise InvalidValue(f"events from {first}: unreadable stored text ({exc})") from exc
        if not isinstance(items, list):
            raise InvalidValue(f"events from {first}: expected a JSON list, got {text[:80]!r}")
        return [cls.from_data(first + i, item) for i, item in enumerate(items)]


@attrs.frozen(slots=True, kw_only=True)
class EventPage:
    """What ``Scheduler.events(since=...)`` returns.

    ``events``: oldest first. ``cursor``: pass it as the next ``since`` (the last event's
    seq, or ``since`` itself when there was none). ``gap``: events after ``since`` were
    already dropped by the retention bound (``Scheduler(event_retention=...)``), so a
    mirror built from events alone is incomplete: resynchronise from ``pending()`` and
    ``running()``."""

    events: tuple[Event, ...]
    cursor: int
    gap: bool = False
