"""The scheduler's event log: numbered change events, journaled and persisted (docs/orchestrator.md#events).

Events live in the store's keyed area (``State.extras``), one key per call that
recorded any (per :data:`ROW_EVENTS` of them), ``event/<seq of its first event, 20
digits>``, holding that call's events as a JSON list: a row per commit, not per event. The
zero padding makes the keys sort as the numbers do, so a SQL reader range-scans the
extras table's primary key (``WHERE id > 'event/…'``) without a table of its own,
and a scheduler reopened on the store loads them with the rest of its extras. The
row is written by ``State.put_extra`` inside the call's transaction (:meth:`EventLog.flush`,
at the end of the call's body), so it commits, or rolls back, with the change.

Retention: the oldest rows are deleted, in the same commit, while the events left
still number at least ``retention`` (so at most ``retention`` plus one call's events
are kept). ``retention=0`` records nothing.
"""

from __future__ import annotations

import functools
import itertools
import json
from collections import deque

from prioq.events import Event, EventKind, EventPage
from prioq.model import Preempt, Start
from prioq.scheduler._state import State

__all__ = ["DEFAULT_RETENTION", "EVENT_PREFIX", "ROW_EVENTS", "EventLog", "decided", "event_key"]

EVENT_PREFIX = "event/"
DEFAULT_RETENTION = 10_000
ROW_EVENTS = 512
"""Events per stored row at most: a cycle that starts thousands of jobs writes a few rows,
each encoded by one ``json.dumps`` short enough not to hold the GIL for long (an asyncio
server's loop waits for it: docs/orchestrator.md#the-event-loop)."""


def event_key(seq: int) -> str:
    return f"{EVENT_PREFIX}{seq:020d}"


class EventLog:
    """The kept events in seq order (consecutive numbers), the stored rows they came in,
    and the events of the open call not written yet."""

    def __init__(self, state: State, retention: int) -> None:
        self.state = state
        self.retention = retention
        self.items: deque[Event] = deque()
        self.rows: deque[tuple[int, int]] = deque()  # (first seq, count) per stored row, oldest first
        self.next_seq = 1
        self.unwritten: list[Event] = []

    def load(self) -> None:
        """The events a reopened store holds (outside any transaction). O(events)."""
        extras = self.state.extras
        for key in sorted(k for k in extras if k.startswith(EVENT_PREFIX)):
            first = int(key[len(EVENT_PREFIX):])
            events = Event.list_from_text(first, extras[key])
            self.rows.append((first, len(events)))
            self.items.extend(events)
        if self.items:
            self.next_seq = self.items[-1].seq + 1

    def begin(self) -> None:
        """A call's transaction opens: nothing of an earlier, failed call is left to write."""
        self.unwritten = []

    def record(self, kind: EventKind, *, job_id: str | None = None, node_ids: tuple[str, ...] = (),
               priority: int | None = None, by: str | None = None, outcome: str | None = None,
               reason: str | None = None) -> None:
        """Journaled: one event at the transaction's clock, written by :meth:`flush`. O(1)."""
        if self.retention == 0:
            return
        event = Event.trusted(self.next_seq, self.state.now, kind, job_id, node_ids, priority, by, outcome,
                              reason)
        self.state._do(lambda: self._append(event), self._pop)
        self.unwritten.append(event)

    def flush(self) -> None:
        """Journaled: write the call's events as one row, and delete the oldest rows beyond
        retention, with the call's commit. O(events written + events dropped)."""
        events, self.unwritten = self.unwritten, []
        if not events:
            return
        s = self.state
        rows, items = self.rows, self.items
        for at in range(0, len(events), ROW_EVENTS):
            chunk = events[at:at + ROW_EVENTS]
            first = chunk[0].seq
            s.put_extra(event_key(first), json.dumps([e.data() for e in chunk], separators=(",", ":")))
            s._do(functools.partial(rows.append, (first, len(chunk))), rows.pop)
        while len(rows) > 1 and len(items) - rows[0][1] >= self.retention:
            old_first, count = rows[0]
            gone = [items[i] for i in range(count)]
            s._do(lambda count=count: _drop(rows, items, count),  # type: ignore[misc]
                  lambda old=rows[0], gone=gone: _undrop(rows, items, old, gone))  # type: ignore[misc]
            s.put_extra(event_key(old_first), None)

    def _append(self, event: Event) -> None:
        self.items.append(event)
        self.next_seq = event.seq + 1

    def _pop(self) -> None:
        self.next_seq = self.items.pop().seq

    def page(self, since: int, limit: int | None) -> EventPage:
        """The events after ``since``, oldest first, at most ``limit``. O(skipped + limit)."""
        items = self.items
        first = items[0].seq if items else self.next_seq
        gap = since + 1 < first
        skip = max(0, since + 1 - first)
        stop = None if limit is None else skip + limit
        got = tuple(itertools.islice(items, skip, stop))
        return EventPage(events=got, cursor=got[-1].seq if got else since, gap=gap)


def _drop(rows: deque[tuple[int, int]], items: deque[Event], count: int) -> None:
    rows.popleft()
    for _ in range(count):
        items.popleft()


def _undrop(rows: deque[tuple[int, int]], items: deque[Event], row: tuple[int, int],
            gone: list[Event]) -> None:
    rows.appendleft(row)
    items.extendleft(reversed(gone))


def decided(log: EventLog, decision: object) -> None:
    """The event of one decision of a cycle: one per decision kind (a decision that stops a
    running job for a reason of its own, such as a drain or a time limit, is ``STOPPED``)."""
    if isinstance(decision, Start):
        log.record(EventKind.STARTED, job_id=decision.job_id, node_ids=decision.node_ids)
        return
    reason = getattr(decision, "reason", None)  # a drain's or a time limit's, when decisions carry one
    text = None if reason is None else str(reason)
    if isinstance(decision, Preempt):
        log.record(EventKind.PREEMPTED, job_id=decision.job_id, node_ids=decision.node_ids, by=decision.by,
                   reason=text)
    else:
        log.record(EventKind.STOPPED, job_id=getattr(decision, "job_id", None),
                   node_ids=tuple(getattr(decision, "node_ids", ())), reason=text)
