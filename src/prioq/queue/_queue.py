"""The waiting queue: jobs in scheduling order under aging, O(log n) per operation.

Order (docs/architecture.md#the-scheduling-order): effective priority ``priority + boost(wait)``
descending, then ``submitted_at`` ascending, then arrival sequence number
ascending, then id. Sequence numbers of queued jobs are unique, so the id
never decides in practice; it is there to make the order total by definition.

How aging stays O(log n) without re-sorting (see ``docs/queue.md``):

* Every job sits in one of two binary heaps (``heapq``, lazy deletion):
  the *static* heap, keyed by an effective priority that is constant until
  the job's next aging event, and — for :class:`~prioq.LinearAging` only —
  the *growing* heap of jobs whose boost is ``rate * wait`` right now. Their
  effective priority is ``priority - rate * submitted_at + rate * now``; the
  first term is time-invariant, so the heap never needs re-keying while they
  grow. The head is the better of the two heap tops, compared at ``now``.
* A job's key changes only at known instants: when ``now`` reaches its
  ``submitted_at`` (wait starts counting), when a linear boost saturates at
  ``max_boost`` (``submitted_at + max_boost / rate``), or at a step boundary
  (``submitted_at + k * interval``). Event timelines (a FIFO while events
  arrive in time order, the common case, plus a heap for the others) hold
  them; each call that takes ``now`` processes the due ones (lazily, each in
  O(log n)) and moves the job to its new key. A job has at most one pending
  event. An instant event is keyed by the smallest float >= its exact instant,
  so "due" is one exact float comparison (``now`` is a float); saturation
  events are keyed by ``submitted_at`` and checked exactly. A lower bound on
  the next event's instant lets most calls skip all this with one comparison.
* Keys are exact integers. Every float is an integer multiple of a power of
  two, so a static key is ``(priority + boost) * 2**a`` with ``a`` fixed by the
  policy's parameters, and a growing key is ``(priority - rate * submitted_at)
  * dr * 2**e`` (``rate`` = ``nr / dr``) with ``e`` covering every
  ``submitted_at`` seen (raised in steps of
  32 bits when a finer one arrives, shifting existing keys in place, which
  keeps their order). Equal effective priorities compare equal, never
  "almost equal", and the documented tie-breaks decide.

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

Aging events: each job has at most 2 (linear: start, saturation) or
``StepAging.levels`` (step) events over its whole stay, and never more than
the number of calls that advanced ``now``. Raising ``e`` costs O(n) and
happens at most 34 times over a queue's life (float exponents stop at 2**-1074).

Not thread-safe: one owner at a time, like the scheduler.
"""

from __future__ import annotations

import heapq
import itertools
import math
import sys
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeAlias

import attrs

from prioq.errors import DuplicateJob, InvalidJob, InvalidTime, UnknownJob
from prioq.model import Job
from prioq.queue.aging import AgingPolicy, LinearAging, NoAging, StepAging

__all__ = ["PriorityQueue", "QueueLevels", "QueueStatistics"]

_MAX_PRIORITY = 2**53
"""Largest |priority|: beyond it an int is not exactly a float, and effective priorities are floats."""

# A heap entry is a tuple, so heapq compares it in C:
# (key, submitted_at, seq, uid, id, job, kind, event)
#   key:   the negated exact integer key (min-heap, highest first)
#   uid:   unique per entry; stale and live entries of one job may share seq,
#          so uid keeps comparisons from ever reaching the (unorderable) job
#   kind:  linear 0 waiting / 1 growing / 2 capped; step: the level; none: 0
#   event: the job's one pending timer event, or None
_KEY, _S, _SEQ, _UID, _ID, _JOB, _KIND, _EVENT = range(8)
# An aging event: (key, uid, id). In the "due" timeline key is the smallest float
# >= the event's exact instant (so "due" is key <= now, exactly, as now is a float);
# in the linear saturation timeline key is submitted_at (the instant s + max_boost/rate
# is monotone in it; due is checked exactly).
_TKEY, _TUID, _TID = range(3)

_Entry: TypeAlias = tuple[Any, ...]
_Event: TypeAlias = tuple[Any, ...]

_NONE, _LINEAR, _STEP = 0, 1, 2
_WAITING, _GROWING, _CAPPED = 0, 1, 2
_SCALE_STEP = 32  # growing keys' scale 2**e rises in these steps (bounds the rescalings)
_SCALE_START = 64  # covers every submitted_at of magnitude >= 2**-11 without a rescale
_TOL = 1e-14  # relative margin of float pre-checks (their error is ~1e-16); inside it, exact ints decide
_TINY = 1e-300  # absolute margin for underflow


def _log2(power_of_two: int) -> int:
    return power_of_two.bit_length() - 1


def _dyadic(x: float) -> tuple[int, int]:
    """``(num, shift)`` with ``x == num / 2**shift`` exactly and ``shift >= 0`` (not reduced).

    Several times faster than ``float.as_integer_ratio``, which matters on every push.
    """
    m, e = math.frexp(x)
    num = int(m * 9007199254740992.0)  # m * 2**53 is an integer: m has at most 53 bits
    shift = 53 - e
    if shift < 0:
        return num << -shift, 0
    return num, shift


def _ceil_float(num: int, den: int) -> float:
    """The smallest float >= num/den (den > 0); ``math.inf`` beyond the float range."""
    try:
        f = num / den  # int true division is correctly rounded
    except OverflowError:
        return math.inf if num > 0 else -math.inf
    fn, shift = _dyadic(f)
    if fn * den < num << shift:
        f = math.nextafter(f, math.inf)
    return f


class _Timeline:
    """Aging events in key order: a FIFO while keys arrive in order (jobs pushed as they are
    submitted, the common case: O(1)), a heap for the others (O(log n))."""

    __slots__ = ("fifo", "heap")

    def __init__(self) -> None:
        self.fifo: deque[_Event] = deque()
        self.heap: list[_Event] = []

    def __len__(self) -> int:
        return len(self.fifo) + len(self.heap)

    def __iter__(self) -> Iterator[_Event]:
        return itertools.chain(self.fifo, self.heap)

    def add(self, event: _Event) -> None:
        fifo = self.fifo
        if not fifo or fifo[-1] <= event:
            fifo.append(event)
        else:
            heapq.heappush(self.heap, event)

    def first(self) -> _Event | None:
        fifo, heap = self.fifo, self.heap
        if fifo:
            return heap[0] if heap and heap[0] < fifo[0] else fifo[0]
        return heap[0] if heap else None

    def pop(self) -> _Event:
        fifo, heap = self.fifo, self.heap
        if fifo and not (heap and heap[0] < fifo[0]):
            return fifo.popleft()
        return heapq.heappop(heap)

    def keep(self, live: Callable[[_Event], bool]) -> None:
        self.fifo = deque(e for e in self.fifo if live(e))
        self.heap = [e for e in self.heap if live(e)]
        heapq.heapify(self.heap)

    def ordered(self) -> bool:
        fifo, heap = self.fifo, self.heap
        return all(fifo[i - 1] <= fifo[i] for i in range(1, len(fifo))) and all(
            heap[(i - 1) // 2] <= heap[i] for i in range(1, len(heap))
        )


def _to_float(num: int, den: int) -> float:
    try:
        return num / den
    except OverflowError:
        return math.inf if num > 0 else -math.inf


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

    ``PriorityQueue(aging=LinearAging(rate=1/60, max_boost=50))``. Calls that
    take ``now`` require it finite and not earlier than any ``now`` seen
    before (:class:`InvalidTime`). Every call validates first: a failed call
    leaves the queue unchanged.
    """

    __slots__ = (
        "_a",
        "_aging",
        "_by_class",
        "_by_priority",
        "_cap_add",
        "_cap_kind",
        "_capping",
        "_counts",
        "_di",
        "_dm",
        "_dr",
        "_due",
        "_e",
        "_e_r",
        "_g",
        "_interval_f",
        "_last_now",
        "_levels",
        "_live",
        "_mb_f",
        "_mb_hi",
        "_mb_lo",
        "_mode",
        "_n_capped",
        "_n_events",
        "_next_seq",
        "_ni",
        "_nm",
        "_now_terms",
        "_nr",
        "_nst",
        "_rate_f",
        "_s",
        "_sat",
        "_sat_lead",
        "_seqs",
        "_sh_m",
        "_sh_st",
        "_stale_events",
        "_uids",
        "_version",
        "_wake",
    )

    def __init__(self, aging: AgingPolicy | None = None) -> None:
        if aging is None:
            aging = NoAging()
        if not isinstance(aging, NoAging | LinearAging | StepAging):
            raise InvalidJob(f"aging: expected NoAging, LinearAging or StepAging, got {aging!r}")
        self._aging: AgingPolicy = aging
        self._live: dict[str, _Entry] = {}
        self._seqs: set[int] = set()
        self._s: list[_Entry] = []  # static keys: (priority + boost) * 2**a
        self._g: list[_Entry] = []  # growing keys (linear): (priority - rate * s) * dr * 2**e
        self._due = _Timeline()  # events due at an instant: linear start, step boundaries
        self._sat = _Timeline()  # linear saturation events, keyed by submitted_at
        self._n_events = self._n_capped = self._next_seq = self._version = 0
        self._stale_events = 0  # events of jobs that left, still in a timeline
        self._uids = itertools.count()
        self._last_now: float | None = None
        self._by_priority: dict[int, int] = {}
        self._by_class: dict[str | None, int] = {}
        # pushes, pops, removes, updates, events processed, compactions, rescales
        self._counts = [0] * 7
        self._mode = _NONE
        self._capping = False
        self._levels = self._a = self._e = self._e_r = self._sh_m = self._sh_st = 0
        self._nr = self._dr = self._nm = self._dm = self._ni = self._di = self._nst = 1
        self._rate_f = self._mb_f = self._mb_lo = self._mb_hi = self._interval_f = 0.0
        self._cap_kind = -1  # the kind meaning "boost at max_boost" (-1: none)
        self._cap_add = 0  # max_boost * 2**a
        self._now_terms: tuple[float, int, int, int] = (math.nan, 0, 0, 0)  # cache for _growing_first
        # A lower bound on the earliest instant any pending event can fall due: calls with an
        # earlier now skip event processing with one comparison.
        self._wake = math.inf
        self._sat_lead = math.inf  # a little under max_boost / rate
        if isinstance(aging, LinearAging) and aging.rate > 0 and aging.max_boost > 0:
            self._mode = _LINEAR
            self._nr, self._dr = aging.rate.as_integer_ratio()
            self._e_r = _log2(self._dr)
            self._rate_f = float(aging.rate)
            self._e = _SCALE_START
            self._capping = not math.isinf(aging.max_boost)
            if self._capping:
                self._set_cap(aging.max_boost, 0)
                self._cap_kind = _CAPPED
                lead = self._mb_f / self._rate_f
                self._sat_lead = (lead if lead < math.inf else sys.float_info.max) * (1 - 1e-12) - _TINY
        elif isinstance(aging, StepAging) and aging.levels > 0:
            self._mode = _STEP
            self._levels = aging.levels
            self._ni, self._di = aging.interval.as_integer_ratio()
            self._interval_f = float(aging.interval)
            self._nst, dst = aging.step.as_integer_ratio()
            self._set_cap(aging.max_boost, _log2(dst))
            self._sh_st = self._a - _log2(dst)
            self._cap_kind = self._levels

    def _set_cap(self, max_boost: float, e_other: int) -> None:
        self._nm, self._dm = max_boost.as_integer_ratio()
        self._a = max(_log2(self._dm), e_other)  # static keys' scale: 2**a covers every boost
        self._sh_m = self._a - _log2(self._dm)
        self._cap_add = self._nm << self._sh_m
        self._mb_f = float(max_boost)
        self._mb_lo = self._mb_f * (1 - _TOL) - _TINY
        self._mb_hi = self._mb_f * (1 + _TOL) + _TINY

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
        return len(self._live)

    def __contains__(self, job_id: object) -> bool:
        """Whether a job with this id is queued. O(1)."""
        return isinstance(job_id, str) and job_id in self._live

    def __iter__(self) -> Iterator[str]:
        """The queued job ids in arbitrary order (use :meth:`ordered` for scheduling order)."""
        return iter(self._live)

    def __repr__(self) -> str:
        return f"PriorityQueue(aging={self._aging!r}, size={len(self._live)})"

    # ------------------------------------------------------------------ validation

    def _check_now(self, now: object) -> float:
        if type(now) is not float:
            if isinstance(now, bool) or not isinstance(now, int | float):
                raise InvalidTime(f"now must be a number, got {now!r}")
            try:
                as_float = float(now)
            except OverflowError:
                raise InvalidTime(f"now must be finite, got {now!r}") from None
            if as_float != now:
                raise InvalidTime(f"now must be exactly representable as a float, got {now!r}")
            now = as_float
        if not math.isfinite(now):
            raise InvalidTime(f"now must be finite, got {now!r}")
        last = self._last_now
        if last is not None and now < last:
            raise InvalidTime(f"now={now!r} is earlier than {last!r}, the latest now already seen")
        return now

    def _entry(self, job_id: object) -> _Entry:
        entry = self._live.get(job_id) if isinstance(job_id, str) else None
        if entry is None:
            raise UnknownJob(f"no queued job with id {job_id!r}")
        return entry

    @staticmethod
    def _check_priority(what: str, priority: object) -> int:
        if isinstance(priority, bool) or not isinstance(priority, int):
            raise InvalidJob(f"{what}: priority must be an int, got {priority!r}")
        if abs(priority) > _MAX_PRIORITY:
            raise InvalidJob(f"{what}: priority must be within ±2**53, got {priority!r}")
        return priority

    # ------------------------------------------------------------------ phases, keys, events

    def _phase(self, now: float | None, s: float) -> int:
        """The job's kind at ``now``, exactly: linear waiting/growing/capped, or the step level."""
        mode = self._mode
        if mode == _NONE or now is None or now < s:
            return 0
        if mode == _LINEAR:
            return _CAPPED if self._capping and self._capped(now, s) else _GROWING
        return self._step_level(now, s)

    def _capped(self, now: float, s: float) -> bool:
        """Exactly: ``rate * (now - s) >= max_boost``."""
        x = (now - s) * self._rate_f
        if x < self._mb_lo:
            return False
        if self._mb_hi < x < math.inf:
            return True
        nn, dn = now.as_integer_ratio()
        ns, ds = s.as_integer_ratio()
        return self._nr * (nn * ds - ns * dn) * self._dm >= self._nm * self._dr * dn * ds

    def _step_level(self, now: float, s: float) -> int:
        """Exactly: ``min(floor((now - s) / interval), levels)`` for ``now >= s``."""
        q = (now - s) / self._interval_f
        top = self._levels
        margin = q * _TOL + _TINY
        if q - margin >= top:
            return top
        j = math.floor(q)
        if q - j > margin and j + 1 - q > margin:
            return j
        nn, a = _dyadic(now)
        ns, b = _dyadic(s)
        # (now - s) / interval = (nn * 2**b - ns * 2**a) * di / (2**(a + b) * ni)
        return min(((nn << b) - (ns << a)) * self._di // (self._ni << (a + b)), top)

    def _key(self, p: int, s: float, kind: int) -> int:
        """The exact integer key (not negated) of a job in phase ``kind``; may raise the growing scale."""
        mode = self._mode
        if mode == _LINEAR:
            if kind == _GROWING:
                ns, e_s = _dyadic(s)  # s = ns / 2**e_s
                e = self._e
                if e_s > e:
                    self._rescale(e_s)
                    e = self._e
                # (p - rate * s) * dr * 2**e
                return (p * self._dr << e) - (self._nr * ns << (e - e_s))
            if kind == _CAPPED:
                return (p << self._a) + self._cap_add
        elif mode == _STEP and kind > 0:
            return (p << self._a) + min(kind * self._nst << self._sh_st, self._cap_add)
        return p << self._a

    def _rescale(self, e_s: int) -> None:
        """Raise the growing keys' scale to cover a finer ``submitted_at``: O(n), order unchanged."""
        e = -(-e_s // _SCALE_STEP) * _SCALE_STEP
        shift = e - self._e
        live = self._live
        g = self._g
        for i, entry in enumerate(g):
            moved = (entry[_KEY] << shift, *entry[1:])
            g[i] = moved
            if live.get(entry[_ID]) is entry:
                live[entry[_ID]] = moved
        self._e = e
        self._now_terms = (math.nan, 0, 0, 0)
        self._counts[6] += 1
        self._version += 1

    def _event_key(self, s: float, kind: int) -> tuple[_Timeline, float] | None:
        """Where and under which key the job's next aging event goes after entering ``kind``."""
        mode = self._mode
        if mode == _LINEAR:
            if kind == _WAITING:
                return self._due, s
            if kind == _GROWING and self._capping:
                return self._sat, s
        elif mode == _STEP and kind < self._levels:
            # the boundary s + (kind + 1) * interval, rounded up to a float
            ns, e_s = _dyadic(s)
            return self._due, _ceil_float(ns * self._di + ((kind + 1) * self._ni << e_s), self._di << e_s)
        return None

    def _schedule(self, jid: str, s: float, kind: int) -> _Event | None:
        where = self._event_key(s, kind)
        if where is None:
            return None
        timeline, key = where
        event = (key, next(self._uids), jid)
        timeline.add(event)
        self._n_events += 1
        wake = key if timeline is self._due else self._sat_wake(key)
        if wake < self._wake:
            self._wake = wake
        return event

    def _sat_wake(self, s: float) -> float:
        """A float <= s + max_boost / rate (exact), so the saturation check never starts late."""
        return s + self._sat_lead - abs(s) * 1e-12

    def _rewake(self) -> None:
        wake = math.inf
        first = self._due.first()
        if first is not None:
            wake = first[_TKEY]
        first = self._sat.first()
        if first is not None:
            wake = min(wake, self._sat_wake(first[_TKEY]))
        self._wake = wake

    def _place(self, job: Job, s: float, seq: int, kind: int, event: _Event | None) -> None:
        key = self._key(job.priority, s, kind)
        entry = (-key, s, seq, next(self._uids), job.id, job, kind, event)
        heapq.heappush(self._g if self._mode == _LINEAR and kind == _GROWING else self._s, entry)
        self._live[job.id] = entry

    def _refresh(self, old: _Entry, now: float) -> None:
        """Re-key a job whose event fell due (the old event is consumed). O(log n)."""
        s = old[_S]
        kind = self._phase(now, s)
        self._n_events -= 1
        event = self._schedule(old[_ID], s, kind)
        self._n_capped += (kind == self._cap_kind) - (old[_KIND] == self._cap_kind)
        self._place(old[_JOB], s, old[_SEQ], kind, event)
        self._counts[4] += 1
        self._version += 1

    def _advance(self, now: float) -> None:
        """Record ``now`` and process every aging event due at it. O(log n) per event."""
        self._last_now = now
        if now >= self._wake:
            moved = 0
            first = self._due.first()
            if first is not None and first[_TKEY] <= now:
                moved += self._run(now)
            if self._capping:
                moved += self._saturate(now)
            self._rewake()
            if moved:
                self._maybe_compact()

    def _saturate(self, now: float) -> int:
        """Process due saturation events: growing -> capped, O(log n) each (the hot event, inlined)."""
        sat = self._sat
        fifo, heap = sat.fifo, sat.heap
        live, static, uids = self._live, self._s, self._uids
        a, add = self._a, self._cap_add
        moved = 0
        while True:
            if fifo and not (heap and heap[0] < fifo[0]):
                event = fifo[0]
            elif heap:
                event = heap[0]
            else:
                break
            if not self._capped(now, event[_TKEY]):
                break
            if fifo and event is fifo[0]:
                fifo.popleft()
            else:
                heapq.heappop(heap)
            old = live.get(event[_TID])
            if old is None or old[_EVENT] is not event:
                self._stale_events -= 1
                continue
            job = old[_JOB]
            key = (job.priority << a) + add
            entry = (-key, old[_S], old[_SEQ], next(uids), old[_ID], job, _CAPPED, None)
            heapq.heappush(static, entry)
            live[old[_ID]] = entry
            moved += 1
        if moved:
            self._n_events -= moved
            self._n_capped += moved
            self._counts[4] += moved
            self._version += 1
        return moved

    def _run(self, now: float) -> int:
        """Process due events of the instant timeline (linear start, step boundaries)."""
        if self._mode == _STEP:
            return self._run_steps(now)
        live, due = self._live, self._due
        moved = 0
        while True:
            event = due.first()
            if event is None or event[_TKEY] > now:
                break
            due.pop()
            entry = live.get(event[_TID])
            if entry is not None and entry[_EVENT] is event:
                self._refresh(entry, now)
                moved += 1
            else:
                self._stale_events -= 1
        return moved

    def _run_steps(self, now: float) -> int:
        """Step boundaries that fell due: re-key each job at its level now. The hot event, inlined."""
        live, due, static, uids = self._live, self._due, self._s, self._uids
        a, nst, sh_st, cap_add, top = self._a, self._nst, self._sh_st, self._cap_add, self._levels
        ni, di = self._ni, self._di
        moved = capped = 0
        while True:
            event = due.first()
            if event is None or event[_TKEY] > now:
                break
            due.pop()
            old = live.get(event[_TID])
            if old is None or old[_EVENT] is not event:
                self._stale_events -= 1
                continue
            s, jid = old[_S], old[_ID]
            level = self._step_level(now, s)
            if level < top:
                ns, e_s = _dyadic(s)  # next boundary: s + (level + 1) * interval
                following = (_ceil_float(ns * di + ((level + 1) * ni << e_s), di << e_s), next(uids), jid)
                due.add(following)
            else:
                following = None
                capped += 1
            job = old[_JOB]
            key = (job.priority << a) + min(level * nst << sh_st, cap_add)
            entry = (-key, s, old[_SEQ], next(uids), jid, job, level, following)
            heapq.heappush(static, entry)
            live[jid] = entry
            moved += 1
        if moved:
            self._n_events -= capped
            self._n_capped += capped
            self._counts[4] += moved
            self._version += 1
        return moved

    def _maybe_compact(self) -> None:
        """Rebuild heaps once stale entries outnumber live ones: O(n), amortized O(1) per removal."""
        live = self._live
        if len(self._s) + len(self._g) > 2 * len(live) + 64:
            self._s = [e for e in self._s if live.get(e[_ID]) is e]
            self._g = [e for e in self._g if live.get(e[_ID]) is e]
            heapq.heapify(self._s)
            heapq.heapify(self._g)
            self._counts[5] += 1
            self._version += 1
        if self._stale_events > self._n_events + 64:
            self._compact_events()

    def _compact_events(self) -> None:
        """Drop the events of jobs that left: O(n), once they outnumber the live ones."""
        self._due.keep(self._event_live)
        self._sat.keep(self._event_live)
        self._stale_events = 0

    def _event_live(self, event: _Event) -> bool:
        entry = self._live.get(event[_TID])
        return entry is not None and entry[_EVENT] is event

    def _terms(self, now: float) -> tuple[float, int, int, int]:
        """``(now, e_n, rate * now * dr * 2**(e + e_n), e_n + e_r + e)`` with now = nn / 2**e_n."""
        terms = self._now_terms
        if terms[0] != now:
            nn, e_n = _dyadic(now)
            terms = self._now_terms = (now, e_n, self._nr * nn << self._e, e_n + self._e_r + self._e)
        return terms

    def _eff_growing(self, key: int, now: float) -> tuple[int, int]:
        """Exact effective priority of a growing key at ``now`` as ``num / 2**shift``."""
        _, e_n, term, shift = self._terms(now)
        return (key << e_n) + term, shift

    def _growing_first(self, g: _Entry, st: _Entry, now: float) -> bool:
        """Whether growing entry ``g`` precedes static entry ``st`` at ``now``; exact. O(1).

        Compares ``eff_g * 2**(shift + a)`` with ``eff_st * 2**(shift + a)`` on the negated keys.
        """
        terms = self._now_terms
        if terms[0] != now:
            terms = self._terms(now)
        gk: int = g[_KEY]
        sk: int = st[_KEY]
        lhs = ((gk << terms[1]) - terms[2]) << self._a
        rhs = sk << terms[3]
        if lhs != rhs:
            return lhs < rhs
        g_s: float = g[_S]
        st_s: float = st[_S]
        return g_s < st_s or (g_s == st_s and g[_SEQ] < st[_SEQ])

    def _clean_tops(self) -> None:
        live = self._live
        s, g = self._s, self._g
        while s and live.get(s[0][_ID]) is not s[0]:
            heapq.heappop(s)
        while g and live.get(g[0][_ID]) is not g[0]:
            heapq.heappop(g)

    def _head_heap(self, now: float) -> list[_Entry]:
        """The heap whose top is the head at ``now`` (queue non-empty, events processed)."""
        self._clean_tops()
        g = self._g
        if g and (not self._s or self._growing_first(g[0], self._s[0], now)):
            return g
        return self._s

    def _forget(self, entry: _Entry) -> None:
        """Bookkeeping when a job leaves (its heap entry is popped or left stale)."""
        del self._live[entry[_ID]]
        self._seqs.discard(entry[_SEQ])
        job: Job = entry[_JOB]
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
        if entry[_EVENT] is not None:
            self._n_events -= 1
            self._stale_events += 1
            if self._stale_events > self._n_events + 64:
                self._compact_events()
        if entry[_KIND] == self._cap_kind:
            self._n_capped -= 1
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
        :class:`InvalidJob` for a non-Job or a priority beyond ±2**53.
        """
        if not isinstance(job, Job):
            raise InvalidJob(f"push: expected a prioq.Job, got {job!r}")
        jid = job.id
        if jid in self._live:
            raise DuplicateJob(f"job {jid!r} is already queued")
        p = job.priority  # an int: Job checks that
        if not -_MAX_PRIORITY <= p <= _MAX_PRIORITY:
            self._check_priority(f"job {jid}", p)
        s = job.submitted_at
        if type(s) is not float:
            s = float(s)
            if s != job.submitted_at:
                raise InvalidJob(f"job {jid}: submitted_at must be exactly a float, got {job.submitted_at!r}")
        if seq is None:
            seq = self._next_seq
        else:
            if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
                raise InvalidJob(f"job {jid}: seq must be an int >= 0, got {seq!r}")
            if seq in self._seqs:
                raise DuplicateJob(f"job {jid}: sequence number {seq} belongs to a queued job")
        if now is not None:
            last = self._last_now
            if type(now) is not float or now - now != 0.0 or (last is not None and now < last):
                now = self._check_now(now)
            self._advance(now)
        kind = self._phase(self._last_now, s)
        self._place(job, s, seq, kind, self._schedule(jid, s, kind))
        self._seqs.add(seq)
        if seq >= self._next_seq:
            self._next_seq = seq + 1
        by_priority, by_class, cls = self._by_priority, self._by_class, job.priority_class
        by_priority[p] = by_priority.get(p, 0) + 1
        by_class[cls] = by_class.get(cls, 0) + 1
        if kind == self._cap_kind:
            self._n_capped += 1
        self._counts[0] += 1
        self._version += 1
        return seq

    def peek(self, now: float) -> Job:
        """The job that would run next at ``now``. O(log n) amortized (+ due aging events).

        :class:`IndexError` if empty (``now`` is then not recorded).
        """
        now = self._check_now(now)
        if not self._live:
            raise IndexError("peek from an empty PriorityQueue")
        self._advance(now)
        job: Job = self._head_heap(now)[0][_JOB]
        return job

    def pop(self, now: float) -> Job:
        """Remove and return the job that runs next at ``now``. O(log n) amortized (+ due aging events).

        :class:`IndexError` if empty (``now`` is then not recorded).
        """
        last = self._last_now
        # The hot path: a finite float not before last_now (x - x is 0.0 only for finite x).
        if type(now) is not float or now - now != 0.0 or (last is not None and now < last):
            now = self._check_now(now)
        if not self._live:
            raise IndexError("pop from an empty PriorityQueue")
        self._advance(now)
        live, static, growing = self._live, self._s, self._g
        while static and live.get(static[0][_ID]) is not static[0]:
            heapq.heappop(static)
        heap = static
        if growing:
            while growing and live.get(growing[0][_ID]) is not growing[0]:
                heapq.heappop(growing)
            if growing and (not static or self._growing_first(growing[0], static[0], now)):
                heap = growing
        entry = heapq.heappop(heap)
        self._forget(entry)
        self._counts[1] += 1
        job: Job = entry[_JOB]
        return job

    def remove(self, job_id: str) -> Job:
        """Remove a queued job by id and return it; :class:`UnknownJob` if not queued.

        O(1) plus amortized compaction (the heap entry is left stale and purged lazily).
        """
        entry = self._entry(job_id)
        self._forget(entry)
        self._counts[2] += 1
        self._maybe_compact()
        job: Job = entry[_JOB]
        return job

    def update(self, job_id: str, priority: int) -> Job:
        """Change a queued job's base priority now; returns the updated job. O(log n) amortized.

        The job keeps its sequence number and ``submitted_at`` (its place
        among equals). :class:`UnknownJob`; :class:`InvalidJob` for a
        non-int (or bool) priority.
        """
        entry = self._entry(job_id)
        self._check_priority(f"job {job_id}", priority)
        old: Job = entry[_JOB]
        if priority == old.priority:
            return old
        job = attrs.evolve(old, priority=priority)
        self._place(job, entry[_S], entry[_SEQ], entry[_KIND], entry[_EVENT])
        self._count(old.priority, old.priority_class, -1)
        self._count(priority, job.priority_class, 1)
        self._counts[3] += 1
        self._version += 1
        self._maybe_compact()
        return job

    def get(self, job_id: str) -> Job:
        """The queued job with this id. O(1). :class:`UnknownJob`."""
        job: Job = self._entry(job_id)[_JOB]
        return job

    def seq_of(self, job_id: str) -> int:
        """The arrival sequence number of a queued job. O(1). :class:`UnknownJob`."""
        seq: int = self._entry(job_id)[_SEQ]
        return seq

    def restore_counter(self, next_seq: int) -> None:
        """Raise the sequence counter to at least ``next_seq`` (a store resume). O(1).

        Never lowers it: sequence numbers are not reused while jobs hold them.
        """
        if isinstance(next_seq, bool) or not isinstance(next_seq, int) or next_seq < 0:
            raise InvalidJob(f"next_seq must be an int >= 0, got {next_seq!r}")
        self._next_seq = max(self._next_seq, next_seq)

    def effective_priority(self, job_id: str, now: float) -> float:
        """``priority + boost(max(0, now - submitted_at))``, correctly rounded. O(1) + due events."""
        now = self._check_now(now)
        self._entry(job_id)
        self._advance(now)
        entry = self._live[job_id]
        if self._mode == _LINEAR and entry[_KIND] == _GROWING:
            num, shift = self._eff_growing(-entry[_KEY], now)
            return _to_float(num, 1 << shift)
        return _to_float(-entry[_KEY], 1 << self._a)

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
        live = self._live
        a = _heap_walk(self._s, live)
        b = _heap_walk(self._g, live)
        ea = next(a, None)
        eb = next(b, None)
        while ea is not None or eb is not None:
            if eb is None or (ea is not None and not self._growing_first(eb, ea, now)):
                assert ea is not None
                yield ea[_JOB]
                check()
                ea = next(a, None)
            else:
                yield eb[_JOB]
                check()
                eb = next(b, None)

    def levels(self, now: float) -> QueueLevels:
        """How many jobs wait per base priority and per priority class at ``now``. O(p + c) + due events."""
        now = self._check_now(now)
        self._advance(now)
        by_priority = dict(sorted(self._by_priority.items(), reverse=True))
        by_class = dict(sorted(self._by_class.items(), key=lambda kv: (kv[0] is None, kv[0] or "")))
        return QueueLevels(by_priority=by_priority, by_class=by_class, capped=self._n_capped)

    def statistics(self) -> QueueStatistics:
        """Sizes and counters (as of :attr:`last_now`). O(n): scans for the oldest job."""
        live = self._live
        pushes, pops, removes, updates, events, compactions, rescales = self._counts
        return QueueStatistics(
            size=len(live),
            oldest_submitted_at=min((e[_S] for e in live.values()), default=None),
            capped=self._n_capped,
            pending_events=self._n_events,
            stale_entries=len(self._s) + len(self._g) - len(live),
            stale_events=len(self._due) + len(self._sat) - self._n_events,
            next_seq=self._next_seq,
            last_now=self._last_now,
            pushes=pushes,
            pops=pops,
            removes=removes,
            updates=updates,
            events_processed=events,
            compactions=compactions,
            rescales=rescales,
        )

    # ------------------------------------------------------------------ invariants

    def _check(self) -> None:
        """Verify every internal invariant (like sortedcontainers' ``_check``); O(n).

        Raises :class:`AssertionError` naming the first broken invariant.
        """

        def fail(message: str) -> None:
            raise AssertionError(f"PriorityQueue invariant: {message}")

        live = self._live
        now = self._last_now
        for name, heap in (("static", self._s), ("growing", self._g)):
            for i in range(1, len(heap)):
                if heap[i] < heap[(i - 1) // 2]:
                    fail(f"{name} heap order broken at index {i}")
        if not (self._due.ordered() and self._sat.ordered()):
            fail("an event timeline is out of order")
        where: dict[int, str] = {}
        for name, heap in (("static", self._s), ("growing", self._g)):
            for entry in heap:
                if live.get(entry[_ID]) is entry:
                    if id(entry) in where:
                        fail(f"job {entry[_ID]!r} is in the heaps twice")
                    where[id(entry)] = name
        events = {id(e): tl for tl in (self._due, self._sat) for e in tl}
        n_events = n_capped = 0
        by_priority: dict[int, int] = {}
        by_class: dict[str | None, int] = {}
        for jid, entry in live.items():
            job: Job = entry[_JOB]
            s = entry[_S]
            if entry[_ID] != jid or job.id != jid:
                fail(f"job {jid!r} is filed under another id")
            if s != job.submitted_at or type(s) is not float:
                fail(f"job {jid!r}: stored submitted_at {s!r} differs from the job's")
            kind = self._phase(now, s)
            if entry[_KIND] != kind:
                fail(f"job {jid!r}: kind {entry[_KIND]} but {kind} at now={now!r}")
            growing = self._mode == _LINEAR and kind == _GROWING
            if where.get(id(entry)) != ("growing" if growing else "static"):
                fail(f"job {jid!r} is not in the {'growing' if growing else 'static'} heap")
            if growing and _dyadic(s)[1] > self._e:
                fail(f"job {jid!r}: submitted_at {s!r} is finer than the growing scale 2**-{self._e}")
            if -entry[_KEY] != self._key(job.priority, s, kind):
                fail(f"job {jid!r}: key {-entry[_KEY]!r} is not exact")
            expected = self._event_key(s, kind)
            event = entry[_EVENT]
            if expected is None:
                if event is not None:
                    fail(f"job {jid!r} has an aging event but its key is final")
            else:
                timeline, key = expected
                if event is None or event[_TKEY] != key or event[_TID] != jid:
                    fail(f"job {jid!r}: event {event!r}, expected one keyed {key!r}")
                if events.get(id(event)) is not timeline:
                    fail(f"job {jid!r}: its event is not in its timeline")
                if timeline is self._due and now is not None and not key > now:
                    fail(f"job {jid!r}: its event was due at {key!r} <= now {now!r}")
                n_events += 1
            n_capped += kind == self._cap_kind
            by_priority[job.priority] = by_priority.get(job.priority, 0) + 1
            by_class[job.priority_class] = by_class.get(job.priority_class, 0) + 1
        seqs = [e[_SEQ] for e in live.values()]
        if set(seqs) != self._seqs or len(seqs) != len(self._seqs):
            fail("sequence numbers of queued jobs are not unique or not indexed")
        if seqs and max(seqs) >= self._next_seq:
            fail(f"next_seq {self._next_seq} is not above every queued seq")
        stale_events = len(self._due) + len(self._sat) - n_events
        if stale_events != self._stale_events:
            fail(f"{self._stale_events} stale events counted, {stale_events} found")
        if n_events != self._n_events or n_capped != self._n_capped:
            fail(f"counted {self._n_events} events / {self._n_capped} capped, found {n_events} / {n_capped}")
        if by_priority != self._by_priority or by_class != self._by_class:
            fail("level counts are wrong")


def _heap_walk(heap: list[_Entry], live: dict[str, _Entry]) -> Iterator[_Entry]:
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
        if live.get(entry[_ID]) is entry:
            yield entry
