"""The scheduler's event log: numbered change events, journaled and persisted (docs/orchestrator.md#events).

Events live in the store's keyed area (``State.extras``), one key per event,
``event/<seq, 20 digits>``: the zero padding makes the keys sort as the numbers
do, so a SQL reader range-scans the extras table's primary key
(``WHERE id > 'event/…'``) without a table of its own, and a scheduler reopened
on the store loads them with the rest of its extras. Each event is written by
``State.put_extra`` inside the call's transaction, so it commits (or rolls back)
with the change that caused it.

Retention: at most ``retention`` events are kept; recording one more deletes the
oldest in the same commit. ``retention=0`` records nothing.
"""

from __future__ import annotations

import itertools
from collections import deque

from prioq.events import Event, EventKind, EventPage
from prioq.model import Preempt, Start
from prioq.scheduler._state import State

__all__ = ["DEFAULT_RETENTION", "EVENT_PREFIX", "EventLog", "decided", "event_key"]

EVENT_PREFIX = "event/"
DEFAULT_RETENTION = 10_000


def event_key(seq: int) -> str:
    return f"{EVENT_PREFIX}{seq:020d}"


class EventLog:
    """The kept events in seq order (consecutive numbers), and the next number."""

    def __init__(self, state: State, retention: int) -> None:
        self.state = state
        self.retention = retention
        self.items: deque[Event] = deque()
        self.next_seq = 1

    def load(self) -> None:
        """The events a reopened store holds (outside any transaction). O(extras log extras)."""
        extras = self.state.extras
        keys = sorted(k for k in extras if k.startswith(EVENT_PREFIX))
        self.items = deque(Event.from_text(int(k[len(EVENT_PREFIX):]), extras[k]) for k in keys)
        if self.items:
            self.next_seq = self.items[-1].seq + 1

    def record(self, kind: EventKind, *, job_id: str | None = None, node_ids: tuple[str, ...] = (),
               priority: int | None = None, by: str | None = None, outcome: str | None = None,
               reason: str | None = None) -> None:
        """Journaled: append one event at the transaction's clock (and drop the oldest beyond
        retention), both written with the call's commit. O(1) amortized."""
        if self.retention == 0:
            return
        s = self.state
        event = Event(seq=self.next_seq, at=s.now, kind=kind, job_id=job_id, node_ids=node_ids,
                      priority=priority, by=by, outcome=outcome, reason=reason)
        s._do(lambda: self._append(event), self._pop)
        s.put_extra(event_key(event.seq), event.text())
        items = self.items
        while len(items) > self.retention:
            oldest = items[0]
            s._do(items.popleft, lambda oldest=oldest: items.appendleft(oldest))  # type: ignore[misc]
            s.put_extra(event_key(oldest.seq), None)

    def _append(self, event: Event) -> None:
        self.items.append(event)
        self.next_seq = event.seq + 1

    def _pop(self) -> None:
        self.next_seq = self.items.pop().seq

    def page(self, since: int, limit: int | None) -> EventPage:
        """The events after ``since``, oldest first, at most ``limit``. O(skipped + limit)."""
        items = self.items
        first = items[0].seq if items else self.next_seq
        gap = since + 1 < first and since + 1 < self.next_seq
        skip = max(0, since + 1 - first)
        stop = None if limit is None else skip + limit
        got = tuple(itertools.islice(items, skip, stop))
        return EventPage(events=got, cursor=got[-1].seq if got else since, gap=gap)


def decided(log: EventLog, decision: object) -> None:
    """The event of one decision of a cycle: one per decision kind (a decision that stops a
    running job for a reason of its own, such as a drain or a time limit, is ``STOPPED``)."""
    if isinstance(decision, Start):
        log.record(EventKind.STARTED, job_id=decision.job_id, node_ids=decision.node_ids)
    elif isinstance(decision, Preempt):
        log.record(EventKind.PREEMPTED, job_id=decision.job_id, node_ids=decision.node_ids, by=decision.by)
    else:
        reason = getattr(decision, "reason", None)
        log.record(EventKind.STOPPED, job_id=getattr(decision, "job_id", None),
                   node_ids=tuple(getattr(decision, "node_ids", ())),
                   reason=None if reason is None else str(reason))
