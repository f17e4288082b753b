"""The scheduler's pending set: an active queue plus parked jobs grouped by request shape.

A scheduling cycle must not cost O(pending) when most jobs cannot run (a deep
backlog on a full cluster). **Parking** has one meaning here: moving a pending
job out of the active queue into the queue of its *shape* (request, gang size,
and -- when preemption compares base priorities -- its priority), because it
found no room even ignoring claims; **unparking** moves it back. Frees only
shrink within a cycle and jobs of one shape are interchangeable, so each cycle
tries only the head of each parked shape (in the global order); if the head
cannot start, nothing behind it in that shape can. A cycle then costs
O((active + shapes + starts) log n). Deciding *whether* to park is the
scheduler's business; this module only keeps the queues.

Under preemption a shape also carries its members' priority (members of other
priorities are not interchangeable: a higher one may evict where a lower one
cannot). Jobs without a duration are parked under a :class:`Tier` -- a
*family* (request, gang size, may preempt) and a priority -- so that a cycle can
visit a family's tiers from the top and skip the tiers below a head that found
no room at all (see :meth:`prioq.scheduler._cycle.Cycle.run`).

With fair share on (:mod:`prioq.fairshare`), the order key carries the owner's rank
(and, in ``mode="term"``, its term inside the effective priority); jobs of one parked
shape then share an owner (the cycle parks by shape and owner), so each parked queue
is still in the global order.

**Holding** is the other way out of the active queue: a nominated preemptor
whose victims are still terminating cannot start, whatever else happens, until
one of them goes or its nomination does; it sits in the ``held`` queue, which
no cycle visits, until the scheduler **wakes** it (see
:meth:`prioq.scheduler._state.State.hold` for the events that do).

Parking and holding are invisible from outside: ``ordered``, ``get``, ``len``... see every
pending job. The global order merges the queues by the exact effective
priority (the aging policy's own exact boost, via
:func:`prioq.queue.exact_effective_priority`), so it equals the single-queue
order, ties included.

**Lifts** (priority inheritance, :mod:`prioq.scheduler._depends`): a pending job
that a higher waiting dependant needs is queued *as* a copy of itself with the
:class:`Lift`'s priority and aging start; ``get``, ``ordered`` and the rest hand
out the user's job, unchanged. Only ``key`` and the queues' own walks see the
lifted copy.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Hashable, Iterator
from fractions import Fraction

import attrs

from prioq._validate import MAX_COUNTER, instance, integer, lookup_id
from prioq.errors import DuplicateJob, InvalidJob, UnknownJob
from prioq.fairshare import Ledger, OwnerOrder, Rank
from prioq.model import Job
from prioq.queue import AgingPolicy, PriorityQueue, exact_effective_priority
from prioq.queue.aging import NoAging
from prioq.scheduler._keys import LinearKeys

__all__: list[str] = []

Shape = Hashable
OrderKey = tuple[Fraction | int | tuple[float, float], Rank, float, int, str]
"""(-effective priority, owner rank, submitted_at, seq, id): the first is an int or a
Fraction, or (fair share term, no aging) the exact sum as a :func:`_two_sum` pair; under
``LinearAging`` (fair share's term mode aside) the exact value times a constant power of
two, an int (:class:`~prioq.scheduler._keys.LinearKeys`); one scheduler's keys all have
the same kind and units."""


_FLOOR_RANK: Rank = ()
"""At or below every owner's rank, a user ranking's empty tuple included (no tuple is below
``()``): a parked group's floor key must not pass a member's (tests/test_ranking.py)."""


def _two_sum(a: float, b: float) -> tuple[float, float]:
    """``a + b`` exactly as ``(sum rounded to nearest, its exact error)`` (Knuth's TwoSum).
    Rounding is monotone, so these pairs compare as the exact sums do."""
    total = a + b
    back = total - a
    return total, (a - (total - back)) + (b - back)


def _fast(value: Fraction) -> Fraction | int:
    """An integral value as an int: the same order, several times cheaper to compare (a cycle
    compares keys in its heap; without aging every effective priority is an int)."""
    return value.numerator if value.denominator == 1 else value


@attrs.frozen(slots=True)
class Tier:
    """The shape of parked jobs of one family (request, gang size, whether it may
    preempt; no duration) and one base priority."""

    family: Hashable
    priority: int


ASLEEP: Shape = "asleep: waiting on dependencies"
"""The shape of jobs waiting on dependencies: no cycle visits them until one of their
dependencies leaves the scheduler or returns to it (:mod:`prioq.scheduler._depends` wakes them)."""


@attrs.frozen(slots=True)
class Lift:
    """What a pending job is queued with instead of its own priority and ``submitted_at``
    (the aging start), and which waiting dependant each comes from (the job itself when
    its own value is the higher priority / the earlier start)."""

    priority: int
    priority_from: str
    submitted_at: float
    submitted_from: str

    def queued(self, job: Job) -> Job:
        """The copy of ``job`` the queue orders. O(fields): copied without re-validating (the
        job was validated when built, the lift's values come from validated jobs), which
        ``attrs.evolve`` would do at several times the cost."""
        copy = object.__new__(Job)
        for name in _JOB_FIELDS:
            object.__setattr__(copy, name, getattr(job, name))
        object.__setattr__(copy, "priority", self.priority)
        object.__setattr__(copy, "submitted_at", self.submitted_at)
        return copy


_JOB_FIELDS = tuple(f.name for f in attrs.fields(Job))


class Pending:
    """Every pending job: the active queue plus one parked queue per shape.

    Offers the :class:`~prioq.PriorityQueue` subset the scheduler uses, over all
    of them. ``active`` holds the jobs each cycle tries; ``parked[shape]`` the
    parked jobs of that shape; ``where[job_id]`` the shape of each parked job;
    ``held`` the jobs no cycle visits until they are woken.
    """

    def __init__(self, aging: AgingPolicy, fair: Ledger | None = None) -> None:
        self.aging = aging
        self.fair = fair
        self.no_aging = type(aging) is NoAging
        # LinearAging's keys in exact ints, except where fair share's term (a float of any
        # exponent) is added to the effective priority
        self.linear = None if fair is not None and fair.fair.mode == "term" else LinearKeys.of(aging)
        self.active = PriorityQueue(aging=aging)
        self.parked: dict[Shape, PriorityQueue] = {}
        # per shape, (duration, seq, id) of members with a duration, a heap cleaned lazily:
        # the member a reservation would spare first (see shortest())
        self._by_duration: dict[Shape, list[tuple[float, int, str]]] = {}
        self.where: dict[str, Shape] = {}
        self.tiers: dict[Hashable, dict[int, Tier]] = {}  # family -> its parked tiers
        self.held = PriorityQueue(aging=aging)
        # job id -> (the user's job, its lift) for the jobs queued as a lifted copy
        self.lifted: dict[str, tuple[Job, Lift]] = {}
        self._next_seq = 0
        # With fair share a parked shape is (base shape..., owner). Per base shape (its group
        # key), every parked member whatever its owner, and the parked shapes of the group: a
        # cycle learns from one look whether any of them can start (see Cycle.run).
        self.groups: dict[Shape, PriorityQueue] = {}
        self.members: dict[Shape, dict[Shape, PriorityQueue]] = {}  # group -> its parked queues
        self.parked_owners: dict[str | None, int] = {}  # owner -> its parked queues
        # the owners of parked_owners, walked by rank without ranking them all (Cycle._first_of)
        self.owners: OwnerOrder | None = None if fair is None else OwnerOrder(fair)
        # parked shapes outside any group (quota parking, sleepers): a cycle lists them
        # without a walk over every (shape, owner) queue
        self.ungrouped: dict[Shape, None] = {}

    # -- membership

    def _queue_of(self, job_id: object) -> PriorityQueue:
        """The queue holding ``job_id`` (active or its parked shape's). :class:`UnknownJob`."""
        shape = self.where.get(lookup_id(job_id))
        if shape is not None:
            return self.parked[shape]
        if job_id in self.active:
            return self.active
        if job_id in self.held:
            return self.held
        raise UnknownJob(f"no pending job {job_id!r}")

    def __contains__(self, job_id: object) -> bool:
        return isinstance(job_id, str) and (
            job_id in self.where or job_id in self.active or job_id in self.held
        )

    def __len__(self) -> int:
        return len(self.active) + len(self.where) + len(self.held)

    def ids(self) -> list[str]:
        """Every pending job's id, wherever it waits (active, parked or held). O(n)."""
        return [*self.active, *self.where, *self.held]

    def jobs(self) -> Iterator[Job]:
        """Every pending job, as the user gave it, in arbitrary order. O(n)."""
        lifted = self.lifted
        for queue in (self.active, self.held, *self.parked.values()):
            for job in queue.jobs():
                hit = lifted.get(job.id) if lifted else None
                yield job if hit is None else hit[0]

    def get(self, job_id: str) -> Job:
        """The pending job with this id, parked or not, as the user gave it. O(1)."""
        if self.lifted and isinstance(job_id, str):
            hit = self.lifted.get(job_id)
            if hit is not None:
                return hit[0]
        return self._queue_of(job_id).get(job_id)

    def queued(self, job_id: str) -> Job:
        """The job as the queues hold it (a lifted job's copy): what :meth:`key` takes. O(1)."""
        return self._queue_of(job_id).get(job_id)

    def user(self, queued: Job) -> Job:
        """The user's job for a job the queues hold (a lifted copy or itself). O(1)."""
        hit = self.lifted.get(queued.id)
        return queued if hit is None else hit[0]

    def lift_of(self, job_id: str) -> Lift | None:
        hit = self.lifted.get(job_id)
        return None if hit is None else hit[1]

    def own_effective_priority(self, job_id: str, now: float) -> float:
        """The job's effective priority from its own priority and ``submitted_at`` (what
        preemption compares: inherited priority does not evict). O(1)."""
        hit = self.lifted.get(job_id)
        if hit is None:
            return self.effective_priority(job_id, now)
        job = hit[0]
        return float(exact_effective_priority(self.aging, job.priority, job.submitted_at, now))

    def seq_of(self, job_id: str) -> int:
        """Its arrival sequence number (kept across parking). O(1)."""
        return self._queue_of(job_id).seq_of(job_id)

    def effective_priority(self, job_id: str, now: float) -> float:
        return self._queue_of(job_id).effective_priority(job_id, now)

    def is_parked(self, job_id: str) -> bool:
        """Whether the job sits in a parked shape's queue (not the active one). O(1)."""
        return isinstance(job_id, str) and job_id in self.where

    def is_held(self, job_id: str) -> bool:
        """Whether the job is held out of cycles (see :meth:`hold`). O(1)."""
        return job_id in self.held

    @property
    def next_seq(self) -> int:
        """Above every sequence number given out or restored. O(1)."""
        return self._next_seq

    def restore_counter(self, next_seq: int) -> None:
        """Raise the sequence counter to at least ``next_seq`` (a store resume). O(1)."""
        self._next_seq = max(self._next_seq, integer(next_seq, "next_seq", minimum=0, maximum=MAX_COUNTER))

    # -- changes

    def push(self, job: Job, *, seq: int | None = None, lift: Lift | None = None) -> int:
        """A new or returning job goes to the active queue (as ``lift``'s copy of it). O(log n)."""
        instance(job, Job, "push", error=InvalidJob)
        if job.id in self.where or job.id in self.held:
            raise DuplicateJob(f"job {job.id!r} is already queued")
        if seq is None:
            seq = self._next_seq
        pushed = self.active.push(job if lift is None else lift.queued(job), seq=seq)
        if lift is not None:
            self.lifted[job.id] = (job, lift)
        self._next_seq = max(self._next_seq, pushed + 1)
        return pushed

    def set_lift(self, job_id: str, lift: Lift | None) -> None:
        """Queue a pending job as ``lift``'s copy of it (``None``: as itself), keeping its seq;
        a parked job is unparked (its place among its shape changes). O(log n)."""
        if self.is_parked(job_id):
            self.unpark(job_id)
        self.wake(job_id)  # a held job too (its claim's priority may change)
        job = self.get(job_id)
        seq = self.active.seq_of(job_id)
        self.active.remove(job_id)
        self.lifted.pop(job_id, None)
        self.push(job, seq=seq, lift=lift)

    def remove(self, job_id: str) -> Job:
        """Remove a pending job, parked or not. O(1) amortized. :class:`UnknownJob`."""
        shape = self.where.pop(lookup_id(job_id), None)
        if shape is None:
            job = self.held.remove(job_id) if job_id in self.held else self.active.remove(job_id)
        else:
            queue = self.parked[shape]
            job = queue.remove(job_id)
            if not queue:
                self._drop_shape(shape)
            self._leave_group(job_id, shape, not queue)
        hit = self.lifted.pop(job_id, None)
        return job if hit is None else hit[0]

    def group_key(self, shape: Shape) -> Shape | None:
        """The group of a parked shape (its base shape, without the owner), ``None`` without
        fair share or for a shape of one owner's own (quota parking). O(1)."""
        if self.fair is None or not isinstance(shape, tuple):
            return None
        return ("fair-share group", shape[:-1])

    def _join_group(self, job: Job, seq: int, shape: Shape) -> None:
        group = self.group_key(shape)
        if group is not None:
            queue = self.groups.get(group)
            if queue is None:
                queue = self.groups[group] = PriorityQueue(aging=self.aging)
            queue.push(job, seq=seq)
            members = self.members.setdefault(group, {})
            if shape not in members:
                members[shape] = self.parked[shape]
                count = self.parked_owners.get(job.owner, 0)
                self.parked_owners[job.owner] = count + 1
                if not count:
                    assert self.owners is not None
                    self.owners.add(job.owner)

    def _leave_group(self, job_id: str, shape: Shape, emptied: bool) -> None:
        group = self.group_key(shape)
        if group is not None:
            queue = self.groups[group]
            queue.remove(job_id)
            if emptied:
                del self.members[group][shape]
                owner = shape[-1]  # type: ignore[index]  # a group's shapes end with the owner
                left = self.parked_owners[owner] - 1
                if left:
                    self.parked_owners[owner] = left
                else:
                    del self.parked_owners[owner]
                    assert self.owners is not None
                    self.owners.discard(owner)
            if not queue:
                del self.groups[group]
                del self.members[group]

    def update(self, job_id: str, priority: int) -> Job:
        """Change a priority; a parked or held job goes back to the active queue first
        (its shape, its claim's rank may change). O(log n).

        A lifted job's own priority changes, not its lift (the caller recomputes that)."""
        if self.is_parked(job_id):
            self.unpark(job_id)
        self.wake(job_id)
        hit = self.lifted.get(job_id)
        if hit is not None:
            job = attrs.evolve(hit[0], priority=priority)
            self.lifted[job_id] = (job, hit[1])
            return job
        return self.active.update(job_id, priority)

    def park(self, job_id: str, shape: Shape) -> None:
        """Park an active job: move it to ``shape``'s queue, keeping its seq. O(log n)."""
        seq = self.active.seq_of(job_id)
        job = self.active.remove(job_id)
        queue = self.parked.get(shape)
        if queue is None:
            queue = self.parked[shape] = PriorityQueue(aging=self.aging)
            if isinstance(shape, Tier):
                self.tiers.setdefault(shape.family, {})[shape.priority] = shape
            if self.group_key(shape) is None:
                self.ungrouped[shape] = None
        self._push_now(queue, job, seq)
        self.where[job_id] = shape
        self._join_group(job, seq, shape)
        estimate = job.estimate
        if estimate is not None:
            heapq.heappush(self._by_duration.setdefault(shape, []), (estimate, seq, job_id))

    def _push_now(self, queue: PriorityQueue, job: Job, seq: int) -> None:
        """Push a job moving out of the active queue at the active queue's clock (the latest
        ``now`` seen), so that it is filed at its aging phase as of then: a queue that no
        cycle peeks for a while (a lower tier) would otherwise replay each of its jobs'
        aging events from the wait's start on its first peek. O(log n)."""
        now, last = self.active.last_now, queue.last_now
        if now is not None and (last is None or last <= now):
            queue.push(job, seq=seq, now=now)
        else:
            queue.push(job, seq=seq)

    def unpark(self, job_id: str) -> None:
        """Unpark a parked job: move it back to the active queue, keeping its seq. O(log n)."""
        shape = self.where.pop(lookup_id(job_id))
        queue = self.parked[shape]
        seq = queue.seq_of(job_id)
        job = queue.remove(job_id)
        if not queue:
            self._drop_shape(shape)
        self._leave_group(job_id, shape, not queue)
        self.active.push(job, seq=seq)

    def _drop_shape(self, shape: Shape) -> None:
        del self.parked[shape]
        self.ungrouped.pop(shape, None)
        self._by_duration.pop(shape, None)
        if isinstance(shape, Tier):
            tiers = self.tiers[shape.family]
            del tiers[shape.priority]
            if not tiers:
                del self.tiers[shape.family]

    def speaks_for(self, head: str, job_id: str, key: Hashable) -> bool:
        """Whether a reason recorded by parked ``head`` under ``key`` (a shape, or a family:
        every tier at or below the head's) still applies to parked ``job_id``. O(1)."""
        if head == job_id or head not in self.where:
            return False
        at, shape = self.where[head], self.where.get(job_id)
        if key == shape:
            return at == shape
        return isinstance(at, Tier) and isinstance(shape, Tier) and at.family == key == shape.family and (
            shape.priority <= at.priority
        )

    def hold(self, job_id: str) -> None:
        """Hold an active job out of cycles, keeping its seq. O(log n)."""
        seq = self.active.seq_of(job_id)
        self._push_now(self.held, self.active.remove(job_id), seq)

    def wake(self, job_id: str) -> bool:
        """Back to the active queue if held, keeping its seq; whether it was held. O(log n)."""
        if job_id not in self.held:
            return False
        seq = self.held.seq_of(job_id)
        self.active.push(self.held.remove(job_id), seq=seq)
        return True

    def shortest(self, shape: Shape) -> Job | None:
        """The member of ``shape`` with the shortest duration (then the lowest seq), or
        ``None`` if none has one. O(log n) amortized (entries of members gone are dropped)."""
        heap = self._by_duration.get(shape)
        queue = self.parked.get(shape)
        while heap:
            _, seq, job_id = heap[0]
            if queue is not None and self.where.get(job_id) == shape and queue.seq_of(job_id) == seq:
                return queue.get(job_id)
            heapq.heappop(heap)
        self._by_duration.pop(shape, None)
        return None

    # -- order

    def key(self, job: Job, seq: int, now: float) -> OrderKey:
        """The scheduling order key, exactly: (-effective priority, owner rank, submitted_at,
        seq, id); the rank is ``()`` without fair share, and ``mode="term"`` adds the owner's
        term to the effective priority (docs/fairness.md). O(1) (O(depth) with fair share).
        ``job`` as the queues hold it: a lifted job's copy (see :class:`Lift`)."""
        fair = self.fair
        # without aging: the int priority (the hot path of a cycle)
        eff = job.priority if self.no_aging else self._eff(job, now)
        if fair is None:
            return (-eff, (), job.submitted_at, seq, job.id)
        rank = fair.rank(job.owner, now)
        if fair.fair.mode == "term":
            term = fair.term(job.owner, now)
            if self.no_aging:
                # the exact sum as a float pair: no Fraction on the hot path
                total, err = _two_sum(float(job.priority), term)
                return ((-total, -err), rank, job.submitted_at, seq, job.id)
            return (_fast(-(eff + Fraction(term))), rank, job.submitted_at, seq, job.id)
        return (-eff, rank, job.submitted_at, seq, job.id)

    def floor_key(self, group: Shape, now: float) -> tuple[OrderKey, Job]:
        """A key at or below every member's of a parked group, and the group's member of
        highest effective priority: the group's place in a cycle is no earlier. O(log n)."""
        queue = self.groups[group]
        job = queue.peek(now)
        fair = self.fair
        assert fair is not None
        eff = job.priority if self.no_aging else self._eff(job, now)
        first: Fraction | int | tuple[float, float] = -eff
        if fair.fair.mode == "term":  # no member's term exceeds term_weight
            if self.no_aging:
                total, err = _two_sum(float(job.priority), fair.fair.term_weight)
                first = (-total, -err)
            else:
                first = _fast(-(eff + Fraction(fair.fair.term_weight)))
        return (first, _FLOOR_RANK, -math.inf, -1, ""), job

    def _eff(self, job: Job, now: float) -> Fraction | int:
        """The effective priority as the keys hold it (exact; see :data:`OrderKey`). O(1)."""
        if self.linear is not None:
            return self.linear.effective(job.priority, job.submitted_at, now)
        return _fast(exact_effective_priority(self.aging, job.priority, job.submitted_at, now))

    def in_key_units(self, value: int | Fraction) -> int | Fraction:
        """An effective-priority value in the units of the keys' first element. O(1)."""
        return value if self.linear is None else self.linear.scaled(value)

    def stale(self, key: OrderKey, job: Job, now: float) -> bool:
        """Whether ``key`` no longer holds for ``job``: its owner's rank moved since (starts in
        this cycle; ranks only grow within one). O(depth)."""
        return self.fair is not None and self.fair.rank(job.owner, now) != key[1]

    def ordered(self, now: float) -> Iterator[Job]:
        """Every pending job in scheduling order (merged exactly), as the users gave them.
        O(n log n) for all."""
        queues = [self.active, self.held, *self.parked.values()]
        if self.fair is not None:
            # the queues' own order leaves owners out: the active queue is sorted whole
            # (parked queues each hold one owner, but one sort is as cheap as a merge here)
            keyed = [(self.key(job, q.seq_of(job.id), now), job) for q in queues for job in q.ordered(now)]
            keyed.sort(key=lambda kj: kj[0])
            yield from (self.user(job) for _, job in keyed)
            return
        streams = [self._keyed(q, now) for q in queues if q]
        lifted = self.lifted
        for _, job in heapq.merge(*streams, key=lambda kj: kj[0]):
            hit = lifted.get(job.id)
            yield job if hit is None else hit[0]

    def _keyed(self, queue: PriorityQueue, now: float) -> Iterator[tuple[OrderKey, Job]]:
        for job in queue.ordered(now):
            yield self.key(job, queue.seq_of(job.id), now), job

    def _check(self) -> None:
        self.active._check()
        self.held._check()
        assert not any(job_id in self.active or job_id in self.where for job_id in self.held)
        assert {t for ts in self.tiers.values() for t in ts.values()} == {
            t for t in self.parked if isinstance(t, Tier)
        }
        for shape, queue in self.parked.items():
            queue._check()
            assert queue, shape
            for job_id in queue:
                assert self.where[job_id] == shape
                assert job_id not in self.active
        assert len(self.where) == sum(len(q) for q in self.parked.values())
        for job_id, (job, lift) in self.lifted.items():
            assert self._queue_of(job_id).get(job_id) == lift.queued(job), job_id
            assert (lift.priority, -lift.submitted_at) != (job.priority, -job.submitted_at), job_id
        if self.fair is not None:
            for group, queue in self.groups.items():
                queue._check()
                assert self.members[group] and set(self.members) == set(self.groups)
                assert len(queue) == sum(len(self.parked[sh]) for sh in self.members[group])
            grouped = [sh for sh in self.parked if self.group_key(sh) is not None]
            assert {self.group_key(sh) for sh in grouped} == set(self.groups)
            owners: dict[object, int] = {}
            for sh in grouped:
                owners[sh[-1]] = owners.get(sh[-1], 0) + 1  # type: ignore[index]
            assert owners == self.parked_owners
            assert self.owners is not None and self.owners.owners() == set(owners)
            self.owners._check()
        assert list(self.ungrouped) == [sh for sh in self.parked if self.group_key(sh) is None]
        seqs = [self.seq_of(j) for j in self.ids()]
        assert len(seqs) == len(set(seqs)), "sequence numbers must be unique"
