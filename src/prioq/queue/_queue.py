"""The waiting queue: jobs in scheduling order under aging, O(log n) per operation.

Order (docs/architecture.md#the-scheduling-order): effective priority ``priority + boost(wait)``
descending, then ``submitted_at`` ascending, then arrival sequence number
ascending, then id. Sequence numbers of queued jobs are unique, so the id
never decides in practice; it is there to make the order total by definition.

How aging stays O(log n) without re-sorting (see ``docs/queue.md``):

* The queue asks the aging policy (the :class:`~prioq.queue.aging.AgingPolicy`
  protocol, through :mod:`prioq.queue._phases`) for the *phase* a job's wait is
  in: its boost is constant there, or grows at the policy's single rate, until
  a wait the policy names. It never computes a boost itself.
* Every job sits in one of two binary heaps (``heapq``, lazy deletion): the
  *static* heap, keyed by an effective priority that is constant until the
  job's phase ends, and the *growing* heap of jobs whose boost is
  ``offset + rate * wait`` right now. Their effective priority is
  ``priority + offset - rate * submitted_at + rate * now``; all but the last term
  are time-invariant, so the heap never needs re-keying while they grow. The
  head is the better of the two heap tops, compared at ``now``.
* A job's key changes only when its phase ends, at ``submitted_at + until``
  (or at ``submitted_at``, when a job submitted ahead of ``now`` starts a
  growing phase). The event timeline (a FIFO while events arrive in time
  order, the common case, plus a heap for the others) holds them, keyed by the
  smallest float >= the exact instant, so "due" is one exact float comparison;
  each call that takes ``now`` processes the due ones (lazily, each in
  O(log n)) and moves the job to its new phase. A job has at most one pending
  event, and the earliest one's instant lets most calls skip all this with one
  comparison.
* Keys are exact integers (:mod:`prioq.queue._exact`). Every float is an integer
  multiple of a power of two, so a static key is ``(priority + boost) * 2**a``
  with ``a`` the policy's ``boost_exponent``, and a growing key is
  ``(priority + offset - rate * submitted_at) * 2**(e + rate_exponent)`` with
  ``e`` covering every ``submitted_at`` seen (raised in steps of 32 bits when a
  finer one arrives, shifting existing keys in place, which keeps their order).
  Equal effective priorities compare equal, never "almost equal", and the
  documented tie-breaks decide.

=================  ==============================================================
operation          cost (n queued jobs)
=================  ==============================================================
push               O(log n)
pop, peek          O(log n) amortized, plus O(log n) per aging event that fell due
remove             O(1) + amortized O(1) (lazy deletion; heaps compacted in O(n)
                   once stale entries outnumber live ones)
update             O(log n) amortized
first k of         O((k + d) log n), d = stale entries met (d is 0 right after a
ordered(now)       compaction and at most n)
len, in, get       O(1)
levels(now)        O(p + c): distinct priorities and classes
statistics()       O(n) (scans for the oldest job)
=================  ==============================================================

Aging events: each job has at most one per phase of the policy over its whole
stay (linear: 2, start and saturation; step: ``StepAging.levels``), and never
more than the number of calls that advanced ``now``. Raising ``e`` costs O(n)
and happens at most 34 times over a queue's life (float exponents stop at 2**-1074).

Not thread-safe: one owner at a time, like the scheduler.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Iterator, Mapping
from fractions import Fraction

import attrs

from prioq._validate import (
    MAX_COUNTER,
    MAX_PRIORITY,
    instance,
    instant,
    integer,
    lookup_id,
    now_after,
    priority,
)
from prioq.errors import DuplicateJob, InvalidJob, InvalidPolicy, UnknownJob
from prioq.model import Job
from prioq.queue._entry import EVENT, JOB, JOB_ID, KEY, PHASE, SEQ, SUBMITTED, Entry
from prioq.queue._exact import ceil_float, dyadic, to_float
from prioq.queue._invariants import check_queue
from prioq.queue._phases import Phase, phases_of
from prioq.queue._timeline import EVENT_AT, EVENT_JOB, Event, Timeline
from prioq.queue.aging import AgingPolicy, NoAging

__all__ = ["PriorityQueue", "QueueLevels", "QueueStatistics"]

_SCALE_STEP = 32  # growing keys' scale 2**e rises in these steps (bounds the rescalings)
_SCALE_START = 64  # covers every submitted_at of magnitude >= 2**-11 without a rescale
_MAX_HOPS = 8  # phases walked one by one after a jump in time before asking the policy directly
_INF = math.inf


@attrs.frozen(slots=True)
class QueueLevels:
    """The multi-level view of a queue: how many jobs wait at each level.

    ``by_priority``: base priority -> count, highest first. ``by_class``:
    priority class name (``None`` for none) -> count. ``capped``: jobs whose
    boost has reached the policy's ``max_boost`` (0 under :class:`NoAging`).
    """

    by_priority: Mapping[int, int]
    by_class: Mapping[str | None, int]
    capped: int


@attrs.frozen(slots=True, kw_only=True)
class QueueStatistics:
    """Counters and sizes of a :class:`PriorityQueue` (diagnostics, not order)."""

    size: int
    oldest_submitted_at: float | None
    capped: int
    pending_events: int
    """Aging events scheduled for queued jobs (at most one per job)."""
    stale_entries: int
    """Heap entries left behind by remove/update/re-keying, purged lazily."""
    stale_events: int
    next_seq: int
    last_now: float | None
    pushes: int
    pops: int
    removes: int
    updates: int
    events_processed: int
    compactions: int
    rescales: int
    """Times the growing keys' scale was raised (a finer ``submitted_at`` arrived)."""


class PriorityQueue:
    """Jobs in scheduling order under an aging policy; see the module docstring and ``docs/queue.md``.

    ``PriorityQueue(aging=LinearAging(rate=1/60, max_boost=50))``; any
    :class:`~prioq.queue.aging.AgingPolicy` works. Calls that take ``now``
    require it finite, float-exact and not earlier than any ``now`` seen before
    (:class:`InvalidTime`). Every call validates first: a failed call leaves
    the queue unchanged.
    """

    __slots__ = (
        "_aging",
        "_by_class",
        "_by_priority",
        "_capped_count",
        "_compactions",
        "_entries",
        "_events",
        "_events_processed",
        "_growing",
        "_growing_exp",
        "_last_now",
        "_next_seq",
        "_next_wake",
        "_now_cache",
        "_pending_events",
        "_phases",
        "_pops",
        "_pushes",
        "_rate_exp",
        "_rate_num",
        "_removes",
        "_rescales",
        "_seqs",
        "_stale_events",
        "_static",
        "_static_exp",
        "_uids",
        "_updates",
        "_version",
    )

    def __init__(self, aging: AgingPolicy | None = None) -> None:
        if aging is None:
            aging = NoAging()
        instance(aging, AgingPolicy, "PriorityQueue aging", error=InvalidPolicy)  # type: ignore[type-abstract]
        self._aging: AgingPolicy = aging
        phases = self._phases = phases_of(aging)
        self._entries: dict[str, Entry] = {}  # job id -> its live heap entry
        self._seqs: set[int] = set()  # sequence numbers of queued jobs
        self._static: list[Entry] = []  # keys (priority + boost) * 2**static_exp
        self._growing: list[Entry] = []  # keys (priority + offset - rate * s) * 2**(growing_exp + rate_exp)
        self._events = Timeline()  # one pending aging event per job whose phase ends
        self._pending_events = self._capped_count = self._next_seq = self._version = 0
        self._stale_events = 0  # events of jobs that left or moved on, still in the timeline
        self._uids = itertools.count()
        self._last_now: float | None = None
        self._by_priority: dict[int, int] = {}
        self._by_class: dict[str | None, int] = {}
        self._pushes = self._pops = self._removes = self._updates = 0
        self._events_processed = self._compactions = self._rescales = 0
        self._static_exp = phases.exponent
        self._rate_num = phases.rate_num  # growth rate = rate_num / 2**rate_exp
        self._rate_exp = phases.rate_exponent
        # growing keys' scale 2**growing_exp: covers every submitted_at seen and every offset
        self._growing_exp = max(_SCALE_START, -(-phases.exponent // _SCALE_STEP) * _SCALE_STEP)
        self._now_cache: tuple[float, int, int, int] = (math.nan, 0, 0, 0)  # see _now_terms
        # The earliest pending event's instant: calls with an earlier now skip event processing.
        self._next_wake = _INF

    # ------------------------------------------------------------------ properties

    @property
    def aging(self) -> AgingPolicy:
        """The aging policy (fixed at construction)."""
        return self._aging

    @property
    def last_now(self) -> float | None:
        """The latest ``now`` any call has seen (``None`` before the first); earlier ones are refused."""
        return self._last_now

    @property
    def next_seq(self) -> int:
        """The sequence number the next :meth:`push` without ``seq`` assigns (above every seq seen)."""
        return self._next_seq

    def __len__(self) -> int:
        """Number of queued jobs. O(1)."""
        return len(self._entries)

    def __contains__(self, job_id: object) -> bool:
        """Whether a job with this id is queued. O(1)."""
        return isinstance(job_id, str) and job_id in self._entries

    def __iter__(self) -> Iterator[str]:
        """The queued job ids in arbitrary order (use :meth:`ordered` for scheduling order)."""
        return iter(self._entries)

    def jobs(self) -> Iterator[Job]:
        """The queued jobs in arbitrary order (use :meth:`ordered` for scheduling order). O(n)."""
        return (entry[JOB] for entry in self._entries.values())

    def __repr__(self) -> str:
        return f"PriorityQueue(aging={self._aging!r}, size={len(self._entries)})"

    # ------------------------------------------------------------------ validation

    def _check_now(self, now: object) -> float:
        return now_after(now, self._last_now)

    def _entry(self, job_id: object) -> Entry:
        entry = self._entries.get(job_id) if isinstance(job_id, str) else None
        if entry is None:
            lookup_id(job_id)  # not a string at all: InvalidType, not UnknownJob
            raise UnknownJob(f"no queued job with id {job_id!r}")
        return entry

    # ------------------------------------------------------------------ phases, keys, events

    def _event_at(self, s: float, phase: Phase) -> float:
        """The smallest float >= ``s + phase.until`` (exact): when a job submitted at ``s`` leaves it."""
        ns, shift = dyadic(s)
        den = phase.until_den
        return ceil_float(ns * den + (phase.until_num << shift), den << shift)

    def _settle(self, phase: Phase, s: float, now: float) -> tuple[Phase, float]:
        """The phase at ``now`` of a job submitted at ``s`` whose wait has reached ``phase``'s start,
        and when it ends (``inf``: never). O(1) per phase walked; after a long jump in time the
        policy is asked directly for the phase at the exact wait."""
        hops = 0
        while phase.until is not None:
            if not now - s > phase.until_past:  # else surely past its end: no need to compute when
                at = self._event_at(s, phase)
                if at > now:
                    return phase, at
            hops += 1
            if hops < _MAX_HOPS:
                phase = phase.following or self._phases.after(phase)
            else:
                phase = self._phases.at(Fraction(now) - Fraction(s))
        return phase, _INF

    def _phase_for(self, s: float) -> tuple[Phase, float]:
        """The phase of a job submitted at ``s`` as of ``last_now``, and when it ends."""
        now = self._last_now
        if now is None or now < s:
            phase = self._phases.waiting  # its wait has not started: boost(0), constant
            return phase, (self._event_at(s, phase) if phase.until is not None else _INF)
        return self._settle(self._phases.first, s, now)

    def _key(self, p: int, s: float, phase: Phase) -> int:
        """The exact integer key (not negated) of a job in ``phase``; may raise the growing scale."""
        if phase.grows:
            return self._growing_key(p, s, phase)
        return (p << self._static_exp) + phase.offset

    def _growing_key(self, p: int, s: float, phase: Phase) -> int:
        """``(p + offset - rate * s) * 2**(growing_exp + rate_exp)``, exactly."""
        ns, shift = dyadic(s)  # s = ns / 2**shift
        e = self._growing_exp
        if shift > e:
            self._rescale(shift)
            e = self._growing_exp
        if phase.offset:
            a = self._static_exp
            base = ((p << a) + phase.offset) << (e + self._rate_exp - a)
        else:
            base = p << (e + self._rate_exp)
        return base - (self._rate_num * ns << (e - shift))

    def _rescale(self, shift: int) -> None:
        """Raise the growing keys' scale to cover a finer ``submitted_at``: O(n), order unchanged."""
        e = -(-shift // _SCALE_STEP) * _SCALE_STEP
        by = e - self._growing_exp
        entries = self._entries
        growing = self._growing
        for i, entry in enumerate(growing):
            moved = (entry[KEY] << by, *entry[1:])
            growing[i] = moved
            if entries.get(entry[JOB_ID]) is entry:
                entries[entry[JOB_ID]] = moved
        self._growing_exp = e
        self._now_cache = (math.nan, 0, 0, 0)
        self._rescales += 1
        self._version += 1

    def _schedule(self, job_id: str, at: float) -> Event | None:
        """File the job's next aging event at ``at`` (none if ``inf``: its phase never ends)."""
        if at == _INF:
            return None
        event = (at, next(self._uids), job_id)
        self._events.add(event)
        self._pending_events += 1
        if at < self._next_wake:
            self._next_wake = at
        return event

    def _place(self, job: Job, s: float, seq: int, phase: Phase, event: Event | None) -> None:
        key = self._key(job.priority, s, phase)
        entry = (-key, s, seq, next(self._uids), job.id, job, phase, event)
        heapq.heappush(self._growing if phase.grows else self._static, entry)
        self._entries[job.id] = entry

    def _advance(self, now: float) -> None:
        """Record ``now`` and process every aging event due at it. O(log n) per event."""
        self._last_now = now
        if now >= self._next_wake:
            moved = self._run_events(now)
            first = self._events.first()
            self._next_wake = first[EVENT_AT] if first is not None else _INF
            if moved:
                self._maybe_compact()

    def _run_events(self, now: float) -> int:
        """Move every job whose phase ended by ``now`` to its phase at ``now``. O(log n) each (inlined:
        this is the hot path of aging)."""
        events, entries, static, growing = self._events, self._entries, self._static, self._growing
        after, uids, a = self._phases.after, self._uids, self._static_exp
        moved = capped = ended = 0
        while True:
            event = events.first()
            if event is None or event[EVENT_AT] > now:
                break
            old = entries.get(event[EVENT_JOB])
            if old is None or old[EVENT] is not event:
                events.pop()
                self._stale_events -= 1
                continue
            s, job_id, was = old[SUBMITTED], old[JOB_ID], old[PHASE]
            # Ask first: a policy that breaks its contract raises here, with the event still filed.
            phase, at = self._settle(was.following or after(was), s, now)
            events.pop()
            following: Event | None = None
            if at != _INF:
                following = (at, next(uids), job_id)
                events.add(following)
            else:
                ended += 1
            job = old[JOB]
            if phase.grows:
                key = self._growing_key(job.priority, s, phase)
                heap = growing
            else:
                key = (job.priority << a) + phase.offset
                heap = static
            entry = (-key, s, old[SEQ], next(uids), job_id, job, phase, following)
            heapq.heappush(heap, entry)
            entries[job_id] = entry
            capped += phase.capped - was.capped
            moved += 1
        if moved:
            self._pending_events -= ended
            self._capped_count += capped
            self._events_processed += moved
            self._version += 1
        return moved

    def _maybe_compact(self) -> None:
        """Rebuild heaps once stale entries outnumber live ones: O(n), amortized O(1) per removal."""
        entries = self._entries
        if len(self._static) + len(self._growing) > 2 * len(entries) + 64:
            self._static = [e for e in self._static if entries.get(e[JOB_ID]) is e]
            self._growing = [e for e in self._growing if entries.get(e[JOB_ID]) is e]
            heapq.heapify(self._static)
            heapq.heapify(self._growing)
            self._compactions += 1
            self._version += 1
        if self._stale_events > self._pending_events + 64:
            self._compact_events()

    def _compact_events(self) -> None:
        """Drop the events of jobs that left: O(n), once they outnumber the live ones."""
        self._events.keep(self._event_live)
        self._stale_events = 0

    def _event_live(self, event: Event) -> bool:
        entry = self._entries.get(event[EVENT_JOB])
        return entry is not None and entry[EVENT] is event

    def _now_terms(self, now: float) -> tuple[float, int, int, int]:
        """``(now, now_shift, rate * now * 2**(rate_exp + e + now_shift), now_shift + rate_exp + e)``
        with ``now = num / 2**now_shift`` and ``e`` the growing scale: what ranking a growing
        key at ``now`` needs, cached for the last ``now``."""
        terms = self._now_cache
        if terms[0] != now:
            num, shift = dyadic(now)
            e = self._growing_exp
            terms = self._now_cache = (now, shift, self._rate_num * num << e, shift + self._rate_exp + e)
        return terms

    def _eff_growing(self, key: int, now: float) -> tuple[int, int]:
        """Exact effective priority of a growing key at ``now`` as ``num / 2**shift``."""
        _, now_shift, rate_term, shift = self._now_terms(now)
        return (key << now_shift) + rate_term, shift

    def _growing_first(self, grow: Entry, static: Entry, now: float) -> bool:
        """Whether growing entry ``grow`` precedes static entry ``static`` at ``now``; exact. O(1).

        Compares both effective priorities times ``2**(shift + static_exp)``, on the negated keys.
        """
        terms = self._now_cache
        if terms[0] != now:
            terms = self._now_terms(now)
        grow_key: int = grow[KEY]
        static_key: int = static[KEY]
        lhs = ((grow_key << terms[1]) - terms[2]) << self._static_exp
        rhs = static_key << terms[3]
        if lhs != rhs:
            return lhs < rhs
        grow_s: float = grow[SUBMITTED]
        static_s: float = static[SUBMITTED]
        return grow_s < static_s or (grow_s == static_s and grow[SEQ] < static[SEQ])

    def _clean_tops(self) -> None:
        entries = self._entries
        static, growing = self._static, self._growing
        while static and entries.get(static[0][JOB_ID]) is not static[0]:
            heapq.heappop(static)
        while growing and entries.get(growing[0][JOB_ID]) is not growing[0]:
            heapq.heappop(growing)

    def _head_heap(self, now: float) -> list[Entry]:
        """The heap whose top is the head at ``now`` (queue non-empty, events processed)."""
        self._clean_tops()
        growing = self._growing
        if growing and (not self._static or self._growing_first(growing[0], self._static[0], now)):
            return growing
        return self._static

    def _forget(self, entry: Entry) -> None:
        """Bookkeeping when a job leaves (its heap entry is popped or left stale)."""
        del self._entries[entry[JOB_ID]]
        self._seqs.discard(entry[SEQ])
        job: Job = entry[JOB]
        # self._count(job.priority, job.priority_class, -1), inlined: this is on every pop
        by_priority, by_class = self._by_priority, self._by_class
        p, cls = job.priority, job.priority_class
        n = by_priority[p] - 1
        if n:
            by_priority[p] = n
        else:
            del by_priority[p]
        n = by_class[cls] - 1
        if n:
            by_class[cls] = n
        else:
            del by_class[cls]
        if entry[EVENT] is not None:
            self._pending_events -= 1
            self._stale_events += 1
            if self._stale_events > self._pending_events + 64:
                self._compact_events()
        if entry[PHASE].capped:
            self._capped_count -= 1
        self._version += 1

    def _count(self, priority: int, cls: str | None, delta: int) -> None:
        by_priority, by_class = self._by_priority, self._by_class
        n = by_priority.get(priority, 0) + delta
        if n:
            by_priority[priority] = n
        else:
            del by_priority[priority]
        n = by_class.get(cls, 0) + delta
        if n:
            by_class[cls] = n
        else:
            del by_class[cls]

    # ------------------------------------------------------------------ public operations

    def push(self, job: Job, *, seq: int | None = None, now: float | None = None) -> int:
        """Queue ``job``; returns its arrival sequence number. O(log n) (+ due aging events).

        ``seq`` restores a job's original sequence number (a requeued or
        preempted job, or a store resume, keeps its place); it must not be
        the seq of a queued job. The counter stays above every seq seen.
        ``now`` (optional) is recorded like any call's: a job submitted at or
        before ``now`` then starts aging without an extra aging event.
        :class:`DuplicateJob` if the id (or the given seq) is queued;
        :class:`InvalidJob` for a non-Job or a priority beyond ±2**53;
        :class:`InvalidValue` for a seq that is not an int >= 0.
        """
        if type(job) is not Job:
            instance(job, Job, "push", error=InvalidJob)
        job_id = job.id
        if job_id in self._entries:
            raise DuplicateJob(f"job {job_id!r} is already queued")
        p = job.priority  # an int: Job checks that
        if not -MAX_PRIORITY <= p <= MAX_PRIORITY:
            priority(p, f"job {job_id}")
        s = job.submitted_at
        if type(s) is not float:
            s = instant(s, f"job {job_id}: submitted_at", error=InvalidJob)
        if seq is None:
            seq = self._next_seq
        else:
            if type(seq) is not int or not 0 <= seq <= MAX_COUNTER:
                integer(seq, f"job {job_id}: seq", minimum=0, maximum=MAX_COUNTER)
            if seq in self._seqs:
                raise DuplicateJob(f"job {job_id}: sequence number {seq} belongs to a queued job")
        if now is not None:
            last = self._last_now
            # The hot path: a finite float not before last_now (x - x is 0.0 only for finite x).
            if type(now) is not float or now - now != 0.0 or (last is not None and now < last):
                now = self._check_now(now)
            self._advance(now)
        phase, at = self._phase_for(s)
        self._place(job, s, seq, phase, self._schedule(job_id, at))
        self._seqs.add(seq)
        if seq >= self._next_seq:
            self._next_seq = seq + 1
        by_priority, by_class, cls = self._by_priority, self._by_class, job.priority_class
        by_priority[p] = by_priority.get(p, 0) + 1
        by_class[cls] = by_class.get(cls, 0) + 1
        if phase.capped:
            self._capped_count += 1
        self._pushes += 1
        self._version += 1
        return seq

    def peek(self, now: float) -> Job:
        """The job that would run next at ``now``. O(log n) amortized (+ due aging events).

        :class:`IndexError` if empty (``now`` is then not recorded).
        """
        now = self._check_now(now)
        if not self._entries:
            raise IndexError("peek from an empty PriorityQueue")
        self._advance(now)
        job: Job = self._head_heap(now)[0][JOB]
        return job

    def pop(self, now: float) -> Job:
        """Remove and return the job that runs next at ``now``. O(log n) amortized (+ due aging events).

        :class:`IndexError` if empty (``now`` is then not recorded).
        """
        last = self._last_now
        # The hot path: a finite float not before last_now (x - x is 0.0 only for finite x).
        if type(now) is not float or now - now != 0.0 or (last is not None and now < last):
            now = self._check_now(now)
        if not self._entries:
            raise IndexError("pop from an empty PriorityQueue")
        self._advance(now)
        entries, static, growing = self._entries, self._static, self._growing
        while static and entries.get(static[0][JOB_ID]) is not static[0]:
            heapq.heappop(static)
        heap = static
        if growing:
            while growing and entries.get(growing[0][JOB_ID]) is not growing[0]:
                heapq.heappop(growing)
            if growing and (not static or self._growing_first(growing[0], static[0], now)):
                heap = growing
        entry = heapq.heappop(heap)
        self._forget(entry)
        self._pops += 1
        job: Job = entry[JOB]
        return job

    def remove(self, job_id: str) -> Job:
        """Remove a queued job by id and return it; :class:`UnknownJob` if not queued.

        O(1) plus amortized compaction (the heap entry is left stale and purged lazily).
        """
        entry = self._entry(job_id)
        self._forget(entry)
        self._removes += 1
        self._maybe_compact()
        job: Job = entry[JOB]
        return job

    def update(self, job_id: str, priority: int) -> Job:
        """Change a queued job's base priority now; returns the updated job. O(log n) amortized.

        The job keeps its sequence number and ``submitted_at`` (its place
        among equals). :class:`UnknownJob`; :class:`InvalidJob` for a
        non-int (or bool) priority or one beyond ±2**53.
        """
        entry = self._entry(job_id)
        new = _priority(priority, f"job {job_id}")
        old: Job = entry[JOB]
        if new == old.priority:
            return old
        job = attrs.evolve(old, priority=new)
        self._place(job, entry[SUBMITTED], entry[SEQ], entry[PHASE], entry[EVENT])
        self._count(old.priority, old.priority_class, -1)
        self._count(new, job.priority_class, 1)
        self._updates += 1
        self._version += 1
        self._maybe_compact()
        return job

    def get(self, job_id: str) -> Job:
        """The queued job with this id. O(1). :class:`UnknownJob`."""
        job: Job = self._entry(job_id)[JOB]
        return job

    def seq_of(self, job_id: str) -> int:
        """The arrival sequence number of a queued job. O(1). :class:`UnknownJob`."""
        seq: int = self._entry(job_id)[SEQ]
        return seq

    def restore_counter(self, next_seq: int) -> None:
        """Raise the sequence counter to at least ``next_seq`` (a store resume). O(1).

        Never lowers it: sequence numbers are not reused while jobs hold them.
        :class:`InvalidValue` unless an int >= 0.
        """
        self._next_seq = max(self._next_seq, integer(next_seq, "next_seq", minimum=0, maximum=MAX_COUNTER))

    def effective_priority(self, job_id: str, now: float) -> float:
        """``priority + boost(max(0, now - submitted_at))``, correctly rounded. O(1) + due events."""
        now = self._check_now(now)
        self._entry(job_id)
        self._advance(now)
        return self._effective(self._entries[job_id], now)

    def _effective(self, entry: Entry, now: float) -> float:
        """The entry's effective priority at ``now`` (events processed), from its exact key."""
        if entry[PHASE].grows:
            num, shift = self._eff_growing(-entry[KEY], now)
            return to_float(num, 1 << shift)
        return to_float(-entry[KEY], 1 << self._static_exp)

    def ordered(self, now: float) -> Iterator[Job]:
        """The queued jobs in scheduling order at ``now``, lazily, without removing them.

        The first k jobs cost O((k + d) log n), d = stale entries met (see the
        module docstring). Any mutation of the queue (push, pop, remove,
        update, or a later ``now`` that re-keys jobs) invalidates the iterator:
        its next step raises :class:`RuntimeError`.
        """
        now = self._check_now(now)
        self._advance(now)
        # Peek cleans heap tops; do it now so that a peek during iteration changes nothing.
        self._clean_tops()
        return self._walk(now, self._version)

    def _walk(self, now: float, version: int) -> Iterator[Job]:
        def check() -> None:
            if self._version != version:
                raise RuntimeError("PriorityQueue changed during ordered() iteration")

        check()
        entries = self._entries
        static = _heap_walk(self._static, entries)
        growing = _heap_walk(self._growing, entries)
        next_static = next(static, None)
        next_growing = next(growing, None)
        while next_static is not None or next_growing is not None:
            if next_growing is None or (
                next_static is not None and not self._growing_first(next_growing, next_static, now)
            ):
                assert next_static is not None
                yield next_static[JOB]
                check()
                next_static = next(static, None)
            else:
                yield next_growing[JOB]
                check()
                next_growing = next(growing, None)

    def levels(self, now: float) -> QueueLevels:
        """How many jobs wait per base priority and per priority class at ``now``. O(p + c) + due events."""
        now = self._check_now(now)
        self._advance(now)
        by_priority = dict(sorted(self._by_priority.items(), reverse=True))
        by_class = dict(sorted(self._by_class.items(), key=lambda kv: (kv[0] is None, kv[0] or "")))
        return QueueLevels(by_priority=by_priority, by_class=by_class, capped=self._capped_count)

    def statistics(self) -> QueueStatistics:
        """Sizes and counters (as of :attr:`last_now`). O(n): scans for the oldest job."""
        entries = self._entries
        return QueueStatistics(
            size=len(entries),
            oldest_submitted_at=min((e[SUBMITTED] for e in entries.values()), default=None),
            capped=self._capped_count,
            pending_events=self._pending_events,
            stale_entries=len(self._static) + len(self._growing) - len(entries),
            stale_events=len(self._events) - self._pending_events,
            next_seq=self._next_seq,
            last_now=self._last_now,
            pushes=self._pushes,
            pops=self._pops,
            removes=self._removes,
            updates=self._updates,
            events_processed=self._events_processed,
            compactions=self._compactions,
            rescales=self._rescales,
        )

    # ------------------------------------------------------------------ invariants

    def _check(self) -> None:
        """Verify every internal invariant (like sortedcontainers' ``_check``); O(n).

        Keys are checked against the policy's own ``exact_boost``; see :mod:`prioq.queue._invariants`.
        Raises :class:`AssertionError` naming the first broken invariant.
        """
        check_queue(self)


def _priority(value: object, what: str) -> int:
    if type(value) is int and -MAX_PRIORITY <= value <= MAX_PRIORITY:
        return value
    return priority(value, what)


def _heap_walk(heap: list[Entry], entries: dict[str, Entry]) -> Iterator[Entry]:
    """Live entries of a binary heap in key order without changing it: best-first over indices."""
    if not heap:
        return
    n = len(heap)
    frontier = [(heap[0], 0)]
    pop, push = heapq.heappop, heapq.heappush
    while frontier:
        entry, i = pop(frontier)
        child = 2 * i + 1
        if child < n:
            push(frontier, (heap[child], child))
            if child + 1 < n:
                push(frontier, (heap[child + 1], child + 1))
        if entries.get(entry[JOB_ID]) is entry:
            yield entry
