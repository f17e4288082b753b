"""Owners in the order of their place in line, walked without ranking every one of them.

A scheduling cycle needs, per parked group, the owners with parked jobs from the lowest
rank up, and usually stops after a few. Ranking them all at each ``now`` costs O(owners
log owners) per cycle. :class:`OwnerOrder` keeps, per owner, a **lower bound** of its
order key (:meth:`~prioq.fairshare.Ledger.order_key`) in a heap, and walks owners in
the exact order of their keys at ``now`` by computing the key only of the owners it
pops (lazy re-keying, as the cycle's own heap does within a cycle).

Why a key computed once stays a lower bound (docs/fairness.md#cost): the keys compare
*normalised* shares, ``share(t) * 2**((t - T0)/h)`` for a frame start ``T0``. With
decayed usage an owner's normalised usage of a resource grows at its rate times
``2**((t - T0)/h)``, so it never decreases: an idle owner's key is constant (all idle
owners decay by the same factor, so their relative order never changes) and a running
owner's only grows; a start or stop moves no usage. Each stored bound is the key when
last computed shrunk by a relative ``2**-30``, far above the few ulps of rounding in
computing a key, so it stays below the key at any later ``now`` of the same frame.
Everything else that moves keys invalidates the bounds: a new frame (every
:data:`~prioq.fairshare._ledger.FRAME_HALF_LIVES` half-lives), the cluster's capacity
(``Ledger.forget``), a rollback (``Ledger.forget``), a ``now`` before the latest one a
bound was computed at; and with ``basis="allocation"`` (shares that fall when a job
stops) every start or stop re-keys the owners under the charged owner's top level
(``Ledger.changed``): O(k log n) for those k owners. An invalidated or new owner gets
the floor bound and is keyed at its next visit.

A walk costs O((owners visited + owners invalidated since) log owners).

A user :class:`~prioq.fairshare.OwnerRanking` promises no such bound across instants
(``Ledger.bounded`` is false): each walk at a new ``now`` re-keys every owner held, O(owners
log owners) once per cycle; within one ``now`` a key stays exact until the owner's account
changes (``Ledger.changed`` re-keys the owners under its top level, as with allocation).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prioq.fairshare._owners import levels

if TYPE_CHECKING:
    from prioq.fairshare._ledger import Ledger, Rank

__all__ = ["OwnerOrder"]

FLOOR: Rank = ()
"""At or below every key, a user ranking's empty tuple included (no tuple is below ``()``):
an owner not keyed yet."""
_SHRINK = 1.0 - 2.0**-30
"""A stored bound is the key times this, level by level (shares are >= 0)."""

Owner = str | None


def lower(key: Rank) -> Rank:
    """A bound strictly below ``key`` at every positive number, by far more than rounding
    (the built-in's flags included: a weight-0 level's 1 shrinks too, still a bound)."""
    return tuple(x * _SHRINK for x in key)


def _same(key: Rank) -> Rank:
    return key


class OwnerOrder:
    """Owners (``Job.owner`` values) with a lower bound of their order key each.

    ``add`` / ``discard`` follow the owners with parked jobs (the pending set calls them
    as its parked queues come and go, so they are undone with it); :meth:`walk` yields
    ``(key, owner)`` at ``now`` in ascending key order. O(log n) per change.
    """

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._heap: list[tuple[Rank, int, Owner]] = []
        self._stamp: dict[Owner, int] = {}  # owner -> the stamp of its one valid heap entry
        self._under: dict[str, set[Owner]] = {}  # top-level path -> its owners held here
        self._next = 0
        # Keyed at `_at` since the last change, as (key, stamp, owner): `_done` in the exact
        # order walks yielded them (every key there is at or below every other owner's), and
        # `_side` keyed but not yielded yet. Walks at the same now replay `_done` and go on
        # from there: a cycle walks the owners once per parked group, often several times.
        self._done: list[tuple[Rank, int, Owner]] = []
        self._side: list[tuple[Rank, int, Owner]] = []
        self._at: float | None = None
        self._walk = 0  # the current walk's number: an older, abandoned walk stops
        self._frame: float | None = None
        self._latest = -float("inf")  # the latest now a stored bound was computed at
        ledger.watch(self)

    def __len__(self) -> int:
        return len(self._stamp)

    def __contains__(self, owner: object) -> bool:
        return owner in self._stamp

    def owners(self) -> set[Owner]:
        return set(self._stamp)

    # -- changes

    def add(self, owner: Owner) -> None:
        """Hold ``owner`` (it parked its first job), keyed at its first visit. O(log n)."""
        self._restore()
        assert owner not in self._stamp, owner
        self._push(owner, FLOOR)
        self._under.setdefault(levels(owner)[0], set()).add(owner)

    def discard(self, owner: Owner) -> None:
        """Forget ``owner`` (its last parked job left). O(1) amortized (lazy deletion)."""
        self._restore()
        del self._stamp[owner]
        top = levels(owner)[0]
        peers = self._under[top]
        peers.discard(owner)
        if not peers:
            del self._under[top]
        if len(self._heap) > 2 * len(self._stamp) + 32:  # drop the dead entries
            self._heap = [e for e in self._heap if self._stamp.get(e[2]) == e[1]]
            heapq.heapify(self._heap)

    def moved(self, owner: Owner) -> None:
        """``owner``'s account changed in a way that may lower keys (``basis="allocation"``):
        every owner under its top level is keyed afresh at its next visit. O(k log n)."""
        self._restore()
        for peer in self._under.get(levels(owner)[0], ()):
            self._push(peer, FLOOR)

    def invalidate(self) -> None:
        """Every stored bound may be wrong (capacity changed, a rollback): all owners are
        keyed afresh at their next visit. O(n)."""
        self._done, self._side, self._at = [], [], None
        self._walk += 1
        self._heap = []
        for owner in self._stamp:
            self._next += 1
            self._stamp[owner] = self._next
            self._heap.append((FLOOR, self._next, owner))
        heapq.heapify(self._heap)
        self._frame = None
        self._latest = -float("inf")

    def _push(self, owner: Owner, bound: Rank) -> None:
        self._next += 1
        self._stamp[owner] = self._next
        heapq.heappush(self._heap, (bound, self._next, owner))

    def stale(self) -> None:
        """An owner's account changed (a start or stop): keys computed since may be off by
        the rounding of its rebased account, so the next walk keys the owners it visits
        afresh. O(k log n) for the k owners keyed since the last change."""
        if self._done or self._side:
            self._restore()

    def _restore(self) -> None:
        """The owners keyed since the last change go back, with their keys as bounds; a
        walk in progress, if resumed, stops (every change, and a walk at a new now, calls
        this first)."""
        self._walk += 1
        entries = self._done + self._side
        if entries:
            stamps = self._stamp
            # a user ranking's key is only known to hold at the walk's own now (see walk)
            shrink = lower if self._ledger.bounded else _same
            for key, stamp, owner in entries:
                if stamps.get(owner) == stamp:
                    heapq.heappush(self._heap, (shrink(key), stamp, owner))
        self._done, self._side, self._at = [], [], None

    # -- reads

    def walk(self, now: float) -> Iterator[tuple[Rank, Owner]]:
        """Every owner held, as ``(its order key at now, owner)``, lowest key first (ties in
        any order). O(log n) per owner yielded (and per owner re-keyed since the last change);
        stopping early leaves the rest unkeyed. A walk at the same ``now`` as the last, with
        no change since, replays the owners that one yielded (O(1) each) before going on."""
        if now != self._at:
            self._restore()
        self._walk += 1
        ledger = self._ledger
        frame = ledger.frame(now)
        if frame != self._frame or now < self._latest or (now != self._latest and not ledger.bounded):
            self.invalidate()
            self._frame = frame
        self._latest = self._at = now
        me = self._walk
        heap, stamps, done, side = self._heap, self._stamp, self._done, self._side
        key_of = ledger.order_key
        i = 0
        while me == self._walk:
            if i < len(done):
                key, _, owner = done[i]
                i += 1
                yield key, owner
                continue
            while heap and stamps.get(heap[0][2]) != heap[0][1]:
                heapq.heappop(heap)  # an owner gone or re-keyed
            if side and (not heap or side[0][0] <= heap[0][0]):
                # at or below every remaining bound, hence every remaining key
                entry = heapq.heappop(side)
                done.append(entry)
                i += 1
                yield entry[0], entry[2]
                continue
            if not heap:
                return
            _, stamp, owner = heapq.heappop(heap)
            heapq.heappush(side, (key_of(owner, now), stamp, owner))

    def _check(self, now: float | None = None) -> None:
        """Each owner has one valid entry; at ``now`` (of the current frame, not before the
        latest walk) every bound is at or below the owner's key."""
        self._restore()
        live = [e for e in self._heap if self._stamp.get(e[2]) == e[1]]
        assert sorted(self._stamp.values()) == sorted(e[1] for e in live)
        assert {o for peers in self._under.values() for o in peers} == set(self._stamp)
        bounded = self._ledger.bounded
        if now is not None and self._frame == self._ledger.frame(now) and (
            (now > self._latest and bounded) or now == self._latest
        ):
            for bound, _, owner in live:
                assert bound <= self._ledger.order_key(owner, now), (owner, bound)
