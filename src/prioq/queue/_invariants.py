"""The invariants of :class:`~prioq.queue.PriorityQueue`, checked (``PriorityQueue._check``, tests).

O(n) and exact: each job's phase is compared with the policy's answer at its
exact wait, and its key with the policy's own ``exact_boost``, so the stateful
tests verify the queue against the policy's definition, not against itself.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

from prioq.model import Job
from prioq.queue._entry import EVENT, JOB, JOB_ID, KEY, PHASE, SEQ, SUBMITTED
from prioq.queue._exact import dyadic
from prioq.queue._phases import Phase
from prioq.queue._timeline import EVENT_AT, EVENT_JOB
from prioq.queue.aging import exact_effective_priority

__all__ = ["check_queue"]


def check_queue(queue: Any) -> None:
    """Verify every internal invariant (like sortedcontainers' ``_check``); O(n).

    Keys are checked against the policy's own ``exact_boost``.
    Raises :class:`AssertionError` naming the first broken invariant.
    """

    def fail(message: str) -> None:
        raise AssertionError(f"PriorityQueue invariant: {message}")

    entries = queue._entries
    now = queue._last_now
    for name, heap in (("static", queue._static), ("growing", queue._growing)):
        for i in range(1, len(heap)):
            if heap[i] < heap[(i - 1) // 2]:
                fail(f"{name} heap order broken at index {i}")
    if not queue._events.ordered():
        fail("the event timeline is out of order")
    where: dict[int, str] = {}
    for name, heap in (("static", queue._static), ("growing", queue._growing)):
        for entry in heap:
            if entries.get(entry[JOB_ID]) is entry:
                if id(entry) in where:
                    fail(f"job {entry[JOB_ID]!r} is in the heaps twice")
                where[id(entry)] = name
    filed = {id(e) for e in queue._events}
    pending_events = capped = 0
    by_priority: dict[int, int] = {}
    by_class: dict[str | None, int] = {}
    for job_id, entry in entries.items():
        job: Job = entry[JOB]
        s = entry[SUBMITTED]
        phase: Phase = entry[PHASE]
        if entry[JOB_ID] != job_id or job.id != job_id:
            fail(f"job {job_id!r} is filed under another id")
        if s != job.submitted_at or type(s) is not float:
            fail(f"job {job_id!r}: stored submitted_at {s!r} differs from the job's")
        _check_phase(queue, job_id, s, phase, fail)
        heap_name = "growing" if phase.grows else "static"
        if where.get(id(entry)) != heap_name:
            fail(f"job {job_id!r} is not in the {heap_name} heap")
        if phase.grows and dyadic(s)[1] > queue._growing_exp:
            fail(f"job {job_id!r}: submitted_at {s!r} is finer than the growing scale")
        if -entry[KEY] != queue._key(job.priority, s, phase):
            fail(f"job {job_id!r}: key {-entry[KEY]!r} is not exact")
        if now is not None:
            exact = exact_effective_priority(queue._aging, job.priority, s, now)
            if queue._effective(entry, now) != float(exact):
                fail(f"job {job_id!r}: effective priority is not {exact} at now={now!r}")
        at = queue._event_at(s, phase) if phase.until is not None else math.inf
        event = entry[EVENT]
        if at == math.inf:
            if event is not None:
                fail(f"job {job_id!r} has an aging event but its phase never ends")
        else:
            if event is None or event[EVENT_AT] != at or event[EVENT_JOB] != job_id:
                fail(f"job {job_id!r}: event {event!r}, expected one at {at!r}")
            if id(event) not in filed:
                fail(f"job {job_id!r}: its event is not in the timeline")
            if now is not None and not at > now:
                fail(f"job {job_id!r}: its event was due at {at!r} <= now {now!r}")
            pending_events += 1
        capped += phase.capped
        by_priority[job.priority] = by_priority.get(job.priority, 0) + 1
        by_class[job.priority_class] = by_class.get(job.priority_class, 0) + 1
    seqs = [e[SEQ] for e in entries.values()]
    if set(seqs) != queue._seqs or len(seqs) != len(queue._seqs):
        fail("sequence numbers of queued jobs are not unique or not indexed")
    if seqs and max(seqs) >= queue._next_seq:
        fail(f"next_seq {queue._next_seq} is not above every queued seq")
    stale_events = len(queue._events) - pending_events
    if stale_events != queue._stale_events:
        fail(f"{queue._stale_events} stale events counted, {stale_events} found")
    if pending_events != queue._pending_events or capped != queue._capped_count:
        fail(f"counted {queue._pending_events} events / {queue._capped_count} capped, "
             f"found {pending_events} / {capped}")
    if by_priority != queue._by_priority or by_class != queue._by_class:
        fail("level counts are wrong")

def _check_phase(queue: Any, job_id: str, s: float, phase: Phase, fail: Any) -> None:
    """The job's phase is the policy's phase at its exact wait (or ``waiting`` before ``s``)."""
    now = queue._last_now
    if now is None or now < s:
        if phase is not queue._phases.waiting:
            fail(f"job {job_id!r}: submitted after now={now!r} but not waiting")
        return
    expected = queue._phases.at(Fraction(now) - Fraction(s))
    got = (phase.grows, phase.offset, phase.until, phase.capped)
    if got != (expected.grows, expected.offset, expected.until, expected.capped):
        fail(f"job {job_id!r}: phase {phase!r} but the policy says {expected!r} at now={now!r}")
