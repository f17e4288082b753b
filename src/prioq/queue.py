"""The waiting queue: jobs in scheduling order under aging, O(log n) per operation (DESIGN 3, 4).

Order (DESIGN section 3): effective priority ``priority + boost(wait)``
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
  (``submitted_at + k * interval``). Timer heaps hold these events; each call
  that takes ``now`` processes the due ones (lazily, each in O(log n)) and
  moves the job to its new key. A job has at most one pending event.
* Keys are exact. A key is ``(f, r)`` where ``f`` is the exact value
  correctly rounded to a float and ``r`` the exact remainder (``0`` or a
  :class:`~fractions.Fraction`). Rounding is monotone, so different ``f``
  order correctly, and equal ``f`` fall back to ``r``: equal effective
  priorities compare equal, and the documented tie-breaks decide.

=================  ==============================================================
operation          cost (n queued jobs)
=================  ==============================================================
push               O(log n)
pop, peek          O(log n) amortized, plus O(log n) per aging event that fell due
remove, update     O(log n) amortized (lazy deletion; heaps compacted in O(n)
                   once stale entries outnumber live ones)
first k of         O((k + d) log n), d = stale entries met (d is 0 right after a
ordered(now)       compaction and at most n)
len, in, get       O(1)
levels(now)        O(p + c): distinct priorities and classes
statistics()       O(n) (scans for the oldest job)
=================  ==============================================================

Aging events: each job has at most 2 (linear: start, saturation) or
``StepAging.levels`` (step) events over its whole stay, and never more than
the number of calls that advanced ``now``.

Not thread-safe: one owner at a time, like the scheduler.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Iterator, Mapping
from fractions import Fraction
from typing import Any, TypeAlias

import attrs

from prioq.aging import AgingPolicy, LinearAging, NoAging, StepAging
from prioq.errors import DuplicateJob, InvalidJob, InvalidTime, UnknownJob
from prioq.model import Job

__all__ = ["PriorityQueue", "QueueLevels", "QueueStatistics"]

_MAX_PRIORITY = 2**53
"""Largest |priority|: beyond it an int is not exactly a float, and effective priorities are floats."""

# A heap entry is a tuple, so heapq compares it in C:
# (k0, k1, submitted_at, seq, uid, id, job, kind, event)
#   k0, k1: the negated key (min-heap, highest first): -f, -r as described above
#   uid:    unique per entry; stale and live entries of one job may share seq,
#           so uid keeps comparisons from ever reaching the (unorderable) job
#   kind:   linear 0 waiting / 1 growing / 2 capped; step: the level; none: 0
#   event:  the job's one pending timer event (a tuple), or None
_K0, _K1, _S, _SEQ, _UID, _ID, _JOB, _KIND, _EVENT = range(9)
# A timer event: (t0, t1, uid, id): instant t0 + t1 exactly (step), or keyed by
# submitted_at (linear start / saturation, whose instants are monotone in it).
_T0, _T1, _TUID, _TID = range(4)

_Entry: TypeAlias = tuple[Any, ...]
_Event: TypeAlias = tuple[Any, ...]
_Exact: TypeAlias = "int | Fraction"

_NONE, _LINEAR, _STEP = 0, 1, 2
_WAITING, _GROWING, _CAPPED = 0, 1, 2

# Relative tolerance of the float fast paths. Their rounding error is a few
# units of 2**-53 (about 1e-16) relative; inside this margin the exact path decides.
_TOL = 1e-14
_TINY = 1e-300


def _split(num: int, den: int) -> tuple[float, _Exact]:
    """``(f, r)`` with ``f`` = num/den correctly rounded and ``r`` = num/den - f exactly."""
    f = num / den  # int true division is correctly rounded
    fn, fd = f.as_integer_ratio()
    diff = num * fd - fn * den
    if not diff:
        return f, 0
    return f, Fraction(diff, den * fd)


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


class PriorityQueue:
    """Jobs in scheduling order under an aging policy; see the module docstring and ``docs/queue.md``.

    ``PriorityQueue(aging=LinearAging(rate=1/60, max_boost=50))``. Calls that
    take ``now`` require it finite and not earlier than any ``now`` seen
    before (:class:`InvalidTime`). Every call validates first: a failed call
    leaves the queue unchanged.
    """

    __slots__ = (
        "_aging",
        "_by_class",
        "_by_priority",
        "_capping",
        "_counts",
        "_di",
        "_dm",
        "_dr",
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
        "_nr",
        "_q_mb",
        "_q_rate",
        "_rate_f",
        "_s",
        "_seqs",
        "_step_q",
        "_t1",
        "_t2",
        "_uids",
        "_version",
    )

    def __init__(self, aging: AgingPolicy | None = None) -> None:
        if aging is None:
            aging = NoAging()
        if not isinstance(aging, NoAging | LinearAging | StepAging):
            raise InvalidJob(f"aging: expected NoAging, LinearAging or StepAging, got {aging!r}")
        self._aging: AgingPolicy = aging
        self._live: dict[str, _Entry] = {}
        self._seqs: set[int] = set()
        self._s: list[_Entry] = []  # static keys
        self._g: list[_Entry] = []  # growing keys (linear aging)
        self._t1: list[_Event] = []  # linear: start events by submitted_at; step: boundaries
        self._t2: list[_Event] = []  # linear: saturation events by submitted_at
        self._n_events = 0
        self._n_capped = 0
        self._next_seq = 0
        self._uids = itertools.count()
        self._last_now: float | None = None
        self._version = 0
        self._by_priority: dict[int, int] = {}
        self._by_class: dict[str | None, int] = {}
        # pushes, pops, removes, updates, events processed, compactions
        self._counts = [0, 0, 0, 0, 0, 0]
        self._mode = _NONE
        self._capping = False
        self._levels = 0
        self._rate_f = self._mb_f = self._mb_lo = self._mb_hi = self._interval_f = 0.0
        self._nr = self._dr = self._nm = self._dm = self._ni = self._di = 1
        self._q_rate = self._q_mb = self._step_q = Fraction(0)
        if isinstance(aging, LinearAging) and aging.rate > 0 and aging.max_boost > 0:
            self._mode = _LINEAR
            self._q_rate = Fraction(aging.rate)
            self._nr, self._dr = self._q_rate.as_integer_ratio()
            self._rate_f = float(aging.rate)
            self._capping = not math.isinf(aging.max_boost)
            if self._capping:
                self._set_cap(aging.max_boost)
        elif isinstance(aging, StepAging) and aging.levels > 0:
            self._mode = _STEP
            self._levels = aging.levels
            self._ni, self._di = Fraction(aging.interval).as_integer_ratio()
            self._interval_f = float(aging.interval)
            self._step_q = Fraction(aging.step)
            self._set_cap(aging.max_boost)

    def _set_cap(self, max_boost: float) -> None:
        self._q_mb = Fraction(max_boost)
        self._nm, self._dm = self._q_mb.as_integer_ratio()
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

    # ------------------------------------------------------------------ keys, phases, events

    def _phase(self, now: float | None, s: float) -> int:
        """The job's kind at ``now`` (exact): linear waiting/growing/capped, or the step level."""
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
        return (Fraction(now) - Fraction(s)) * self._q_rate >= self._q_mb

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
        ns, ds = s.as_integer_ratio()
        nn, dn = now.as_integer_ratio()
        # (now - s) / interval = (nn*ds - ns*dn) * di / (dn*ds*ni)
        exact = ((nn * ds - ns * dn) * self._di) // (dn * ds * self._ni)
        return min(exact, top)

    def _key(self, p: int, s: float, kind: int) -> tuple[float, _Exact]:
        """The negated exact key ``(-f, -r)`` of a job in phase ``kind``."""
        mode = self._mode
        if mode == _LINEAR:
            if kind == _GROWING:
                # priority - rate * s, time-invariant while the job grows
                ns, ds = s.as_integer_ratio()
                den = self._dr * ds
                f, r = _split(p * den - self._nr * ns, den)
                return -f, -r
            if kind == _CAPPED:
                f, r = _split(p * self._dm + self._nm, self._dm)
                return -f, -r
        elif mode == _STEP and kind > 0:
            bn, bd = (kind * self._step_q).as_integer_ratio()
            if bn * self._dm >= self._nm * bd:
                bn, bd = self._nm, self._dm
            f, r = _split(p * bd + bn, bd)
            return -f, -r
        return -float(p), 0

    def _new_event(self, jid: str, s: float, kind: int) -> tuple[list[_Event], _Event] | None:
        """The job's next aging event after entering ``kind``, and the timer heap it goes to."""
        mode = self._mode
        if mode == _LINEAR:
            if kind == _WAITING:
                return self._t1, (s, 0, next(self._uids), jid)
            if kind == _GROWING and self._capping:
                return self._t2, (s, 0, next(self._uids), jid)
            return None
        if mode == _STEP and kind < self._levels:
            ns, ds = s.as_integer_ratio()
            # boundary s + (kind + 1) * interval, exactly
            f, r = _split(ns * self._di + (kind + 1) * self._ni * ds, ds * self._di)
            return self._t1, (f, r, next(self._uids), jid)
        return None

    def _place(self, job: Job, s: float, seq: int, kind: int, event: _Event | None) -> _Entry:
        k0, k1 = self._key(job.priority, s, kind)
        entry = (k0, k1, s, seq, next(self._uids), job.id, job, kind, event)
        heapq.heappush(self._g if self._mode == _LINEAR and kind == _GROWING else self._s, entry)
        self._live[job.id] = entry
        return entry

    def _is_capped(self, kind: int) -> bool:
        if self._mode == _LINEAR:
            return kind == _CAPPED
        return self._mode == _STEP and kind == self._levels

    def _refresh(self, old: _Entry, now: float) -> None:
        """Re-key a job whose event fell due (its old event is consumed). O(log n)."""
        s = old[_S]
        kind = self._phase(now, s)
        scheduled = self._new_event(old[_ID], s, kind)
        event = None
        if scheduled is not None:
            heap, event = scheduled
            heapq.heappush(heap, event)
        self._n_events += (event is not None) - 1
        self._n_capped += self._is_capped(kind) - self._is_capped(old[_KIND])
        self._place(old[_JOB], s, old[_SEQ], kind, event)
        self._counts[4] += 1
        self._version += 1

    def _advance(self, now: float) -> None:
        """Record ``now`` and process every aging event due at it. O(log n) per event."""
        self._last_now = now
        mode = self._mode
        if mode == _NONE:
            return
        live = self._live
        t1 = self._t1
        if mode == _LINEAR:
            while t1 and t1[0][_T0] <= now:
                event = heapq.heappop(t1)
                entry = live.get(event[_TID])
                if entry is not None and entry[_EVENT] is event:
                    self._refresh(entry, now)
            t2 = self._t2
            if t2:
                rate, lo = self._rate_f, self._mb_lo
                while t2 and ((now - t2[0][_T0]) * rate >= lo and self._capped(now, t2[0][_T0])):
                    event = heapq.heappop(t2)
                    entry = live.get(event[_TID])
                    if entry is not None and entry[_EVENT] is event:
                        self._refresh(entry, now)
        else:
            while t1:
                event = t1[0]
                t0 = event[_T0]
                if t0 > now or (t0 == now and event[_T1] > 0):
                    break
                heapq.heappop(t1)
                entry = live.get(event[_TID])
                if entry is not None and entry[_EVENT] is event:
                    self._refresh(entry, now)
        self._maybe_compact()

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
        if len(self._t1) + len(self._t2) > 2 * self._n_events + 64:
            self._t1 = [e for e in self._t1 if self._event_live(e)]
            self._t2 = [e for e in self._t2 if self._event_live(e)]
            heapq.heapify(self._t1)
            heapq.heapify(self._t2)
            self._counts[5] += 1

    def _event_live(self, event: _Event) -> bool:
        entry = self._live.get(event[_TID])
        return entry is not None and entry[_EVENT] is event

    def _growing_first(self, g: _Entry, st: _Entry, now: float) -> bool:
        """Whether growing-heap entry ``g`` precedes static entry ``st`` at ``now`` (exact)."""
        kf = -g[_K0]
        vf = -st[_K0]
        rn = self._rate_f * now
        d = kf + rn - vf
        tol = _TOL * (abs(kf) + abs(rn) + abs(vf)) + _TINY
        if d > tol:
            return True
        if d < -tol:
            return False
        eff_g = Fraction(kf) - g[_K1] + self._q_rate * Fraction(now)
        eff_s = Fraction(vf) - st[_K1]
        if eff_g != eff_s:
            return bool(eff_g > eff_s)
        return bool((g[_S], g[_SEQ]) < (st[_S], st[_SEQ]))

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
        self._count(job.priority, job.priority_class, -1)
        if entry[_EVENT] is not None:
            self._n_events -= 1
        if self._is_capped(entry[_KIND]):
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

    def push(self, job: Job, *, seq: int | None = None) -> int:
        """Queue ``job``; returns its arrival sequence number. O(log n).

        ``seq`` restores a job's original sequence number (a requeued or
        preempted job, or a store resume, keeps its place); it must not be
        the seq of a queued job. The counter stays above every seq seen.
        :class:`DuplicateJob` if the id (or the given seq) is queued;
        :class:`InvalidJob` for a non-Job or a priority beyond ±2**53.
        """
        if not isinstance(job, Job):
            raise InvalidJob(f"push: expected a prioq.Job, got {job!r}")
        jid = job.id
        if jid in self._live:
            raise DuplicateJob(f"job {jid!r} is already queued")
        self._check_priority(f"job {jid}", job.priority)
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
        kind = self._phase(self._last_now, s)
        scheduled = self._new_event(jid, s, kind)
        event = None
        if scheduled is not None:
            heap, event = scheduled
            heapq.heappush(heap, event)
            self._n_events += 1
        self._place(job, s, seq, kind, event)
        self._seqs.add(seq)
        if seq >= self._next_seq:
            self._next_seq = seq + 1
        self._count(job.priority, job.priority_class, 1)
        if self._is_capped(kind):
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
        now = self._check_now(now)
        if not self._live:
            raise IndexError("pop from an empty PriorityQueue")
        self._advance(now)
        entry = heapq.heappop(self._head_heap(now))
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
        entry = self._entry(job_id)
        self._advance(now)
        entry = self._live[entry[_ID]]
        if self._mode == _LINEAR and entry[_KIND] == _GROWING:
            exact = Fraction(-entry[_K0]) - entry[_K1] + self._q_rate * Fraction(now)
            return float(exact)
        # Static keys: -k0 is the exact value correctly rounded already.
        return float(-entry[_K0])

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
        oldest = min((e[_S] for e in live.values()), default=None)
        heaps = len(self._s) + len(self._g)
        timers = len(self._t1) + len(self._t2)
        pushes, pops, removes, updates, events, compactions = self._counts
        return QueueStatistics(
            size=len(live),
            oldest_submitted_at=oldest,
            capped=self._n_capped,
            pending_events=self._n_events,
            stale_entries=heaps - len(live),
            stale_events=timers - self._n_events,
            next_seq=self._next_seq,
            last_now=self._last_now,
            pushes=pushes,
            pops=pops,
            removes=removes,
            updates=updates,
            events_processed=events,
            compactions=compactions,
        )

    # ------------------------------------------------------------------ invariants

    def _check(self) -> None:
        """Verify every internal invariant (like sortedcontainers' ``_check``); O(n log n).

        Raises :class:`AssertionError` naming the first broken invariant.
        """

        def fail(message: str) -> None:
            raise AssertionError(f"PriorityQueue invariant: {message}")

        live = self._live
        now = self._last_now
        heaps = {"static": self._s, "growing": self._g, "timer1": self._t1, "timer2": self._t2}
        for name, heap in heaps.items():
            for i in range(1, len(heap)):
                if heap[i] < heap[(i - 1) // 2]:
                    fail(f"{name} heap order broken at index {i}")
        where: dict[int, str] = {}
        for name in ("static", "growing"):
            for entry in heaps[name]:
                if live.get(entry[_ID]) is entry:
                    if id(entry) in where:
                        fail(f"job {entry[_ID]!r} is in the heaps twice")
                    where[id(entry)] = name
        events = {id(e): name for name in ("timer1", "timer2") for e in heaps[name]}
        n_events = n_capped = 0
        by_priority: dict[int, int] = {}
        by_class: dict[str | None, int] = {}
        for jid, entry in live.items():
            job: Job = entry[_JOB]
            if entry[_ID] != jid or job.id != jid:
                fail(f"job {jid!r} is filed under another id")
            s = entry[_S]
            if s != job.submitted_at or type(s) is not float:
                fail(f"job {jid!r}: stored submitted_at {s!r} differs from the job's")
            kind = self._phase(now, s)
            if entry[_KIND] != kind:
                fail(f"job {jid!r}: kind {entry[_KIND]} but {kind} at now={now!r}")
            growing = self._mode == _LINEAR and kind == _GROWING
            if where.get(id(entry)) != ("growing" if growing else "static"):
                fail(f"job {jid!r} is not in the {'growing' if growing else 'static'} heap")
            if (entry[_K0], entry[_K1]) != self._key(job.priority, s, kind):
                fail(f"job {jid!r}: key {entry[_K0]!r}, {entry[_K1]!r} is not exact")
            expected = self._new_event(jid, s, kind)
            event = entry[_EVENT]
            if expected is None:
                if event is not None:
                    fail(f"job {jid!r} has an aging event but none is due")
            else:
                heap, want = expected
                if event is None or event[:2] != want[:2] or event[_TID] != jid:
                    fail(f"job {jid!r}: event {event!r}, expected at {want[:2]!r}")
                if events.get(id(event)) != ("timer1" if heap is self._t1 else "timer2"):
                    fail(f"job {jid!r}: its event is not in its timer heap")
                n_events += 1
            n_capped += self._is_capped(kind)
            by_priority[job.priority] = by_priority.get(job.priority, 0) + 1
            by_class[job.priority_class] = by_class.get(job.priority_class, 0) + 1
        seqs = [e[_SEQ] for e in live.values()]
        if set(seqs) != self._seqs or len(seqs) != len(self._seqs):
            fail("sequence numbers of queued jobs are not unique or not indexed")
        if seqs and max(seqs) >= self._next_seq:
            fail(f"next_seq {self._next_seq} is not above every queued seq")
        if n_events != self._n_events:
            fail(f"{self._n_events} events counted, {n_events} found")
        if n_capped != self._n_capped:
            fail(f"{self._n_capped} capped counted, {n_capped} found")
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
