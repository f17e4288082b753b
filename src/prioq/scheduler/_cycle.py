"""One scheduling cycle: visit pending jobs in order, start what fits, preempt, reserve.

Jobs are visited in the scheduling order (docs/architecture.md#the-scheduling-order):
every active job, and of each parked shape only as many as start plus one --
if a shape's head cannot start, nothing behind it can (see
:mod:`prioq.scheduler._pending`). Each visited job gets one of: started; a
reason it waits (kept for ``pending()`` and ``explain()``); a nomination with
``Preempt`` decisions; or the cycle's reservation. A cycle costs
O((active + shapes + starts) log n) plus the placement work per visited job.

The cycle only reads the state directly; every change goes through
:class:`~prioq.scheduler._state.State`'s journaled mutators.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Hashable
from fractions import Fraction

from prioq.errors import InvalidPolicy
from prioq.model import Decision, Job, Reason
from prioq.placement import NodeState, place_with_room, still_no_room
from prioq.quota import QuotaShape, usage_of
from prioq.resources import Resources, fit
from prioq.scheduler import _quota
from prioq.scheduler._backfill import Claims
from prioq.scheduler._pending import ASLEEP, OrderKey, Tier, _two_sum
from prioq.scheduler._preempting import Preempting
from prioq.scheduler._selection import shape_of
from prioq.scheduler._settled_state import Settled
from prioq.scheduler._state import ReasonText, Stamped, State
from prioq.selection import selection

__all__ = ["Cycle"]

Placement = list[tuple[NodeState, Resources]]
_Shape = tuple[object, ...]  # request, gang size (and the job's selection): see shape_of
_ASLEEP_REASONS = (Reason.DEPENDENCY, Reason.DEPENDENCY_FAILED)
# The term of an owner later in a walk (a larger normalised share) exceeds an earlier one's
# by rounding only: a few ulps times ln 2 times the weighted share, below 2**-32 relative
# for every share whose term is not 0.0 (see Cycle._first_of)
_TERM_SLACK = 1.0 + 2.0**-32
# owners whose heads a group's first batch pushes (Cycle._expand; tests set it to 1)
_FIRST_BATCH = 16
# a group whose shape fills mid-visit gets one record for its owners' queues not visited,
# not one reason per queue (Cycle._expand; tests set it to False for the written-out path)
_GROUP_RECORDS = True


class Cycle:
    """One scheduling cycle's working state; :meth:`run` returns its decisions."""

    def __init__(self, state: State, now: float) -> None:
        self.state = state
        self.now = now
        self.decisions: list[Decision] = []
        self.key_of: dict[str, OrderKey] = {}
        self.claims = Claims(state, now, self.key_of)
        self.started: set[str] = set()
        self.preempting = Preempting(state, now, self.started)
        self.blocked: str | None = None
        # Frees only shrink within a cycle, so these facts hold for the rest of it:
        self.no_room: set[_Shape] = set()  # shapes that found no room even ignoring claims
        self.room_on: dict[_Shape, list[str]] = {}  # nodes a shape fits ignoring claims
        # free capacity of every node a start touched, as it was before the cycle
        self.free_before: dict[str, Resources] = {}
        self.touched: list[str] = []
        self.fits_before: dict[_Shape, tuple[int, int]] = {}
        # owner -> its first job this cycle found over quota (strict queueing blocks only
        # that owner's later jobs, as Kueue's StrictFIFO blocks only its ClusterQueue)
        self.over_quota: dict[str, str] = {}
        self.held: set[str] = set()  # nominated jobs whose quota is held (see _hold_nominated_quota)
        # fair share: group -> its queues a job of this cycle's visits joined (or was the
        # group's first member in): their heads may have a reason of this cycle (_expand)
        self.joined: dict[Hashable, set[Hashable]] = {}

    def run(self) -> list[Decision]:
        s = self.state
        pend = s.queue
        now = self.now
        cycle = s.start_cycle()
        heap: list[tuple[OrderKey, int, Job]] = [
            (pend.key(job, pend.active.seq_of(job.id), now), -1, job) for job in pend.active.ordered(now)
        ]
        shapes: list[Hashable] = []

        def head_of(shape: Hashable) -> tuple[OrderKey, int, Job]:
            queue = pend.parked[shape]
            head = queue.peek(now)
            shapes.append(shape)
            return pend.key(head, queue.seq_of(head.id), now), len(shapes) - 1, head

        groups: list[Hashable] = []
        below: dict[Hashable, list[Tier]] = {}
        if s.fair is None:
            heap.extend(head_of(shape) for shape in pend.parked  # sleepers: not visited
                        if not isinstance(shape, Tier) and shape != ASLEEP)
            # A family's tiers from the top priority down, until no tier below can hold a job
            # ahead of its best head (priority + the largest boost): the rest wait in `below`
            # until that head's visit tells whether they need one (see below).
            top = Fraction(pend.aging.max_boost) if math.isfinite(pend.aging.max_boost) else None
            for family, tiers in pend.tiers.items():
                order = sorted(tiers)
                best: Fraction | int | None = None  # the best head's effective priority so far
                while order and (best is None or top is None or pend.in_key_units(order[-1] + top) >= best):
                    entry = head_of(tiers[order.pop()])
                    heap.append(entry)
                    eff = entry[0][0]
                    assert not isinstance(eff, tuple)  # a number without fair share
                    best = -eff if best is None else max(best, -eff)
                below[family] = [tiers[p] for p in order]
            self.key_of.update((job.id, key) for key, _, job in heap)
        else:
            # fair share parks per shape and owner: one entry per group of a shape's owners,
            # at a key no member's is below; expanded into its owners' heads when reached,
            # unless one look shows none of them can start and the visit could decide nothing
            # one owner's own (quota parking): as without; sleepers: not visited
            heap.extend(head_of(shape) for shape in pend.ungrouped if shape != ASLEEP)
            self.key_of.update((job.id, key) for key, _, job in heap)
            groups = list(pend.groups)
            for g, group in enumerate(groups):
                floor, rep = pend.floor_key(group, now)
                heap.append((floor, -2 - g, rep))
            # standing nominations' claims are built lazily (Claims.on) at the owner's key as
            # of now, which fair share changes within a cycle: take it at the cycle's start
            for owner in s.nominated:
                if owner not in self.key_of:
                    self.key_of[owner] = pend.key(pend.get(owner), pend.seq_of(owner), now)
        heapq.heapify(heap)
        self._hold_nominated_quota()
        reasons: dict[str, Stamped] = {}
        shape_reasons: dict[Hashable, tuple[int, str, ReasonText]] = {}
        # fair share parks per (shape, owner); base shape -> the reason its first head found
        # no room at all for, which holds for every owner's jobs of that shape (see below)
        settled: dict[Hashable, ReasonText] = {}
        scanned: dict[Hashable, int] = {}  # group -> starts when its first member was found
        # group -> its shapes whose heads were pushed (or settled) this cycle: a group being
        # visited owner by owner, in batches (see _expand)
        expanding: dict[Hashable, set[Hashable]] = {}
        # Kueue admits jobs within their nominal quota before jobs that must borrow: those
        # wait for a second pass, in order (each job is still considered once per cycle).
        borrowers: list[tuple[OrderKey, int, Job]] | None = [] if s.ledger is not None else None
        while heap or borrowers:
            if not heap:
                assert borrowers is not None
                heap, borrowers = borrowers, None
                heapq.heapify(heap)
            key, stream, job = heapq.heappop(heap)
            if stream <= -2:
                group = groups[-2 - stream]
                if group in expanding:  # back at the floor of its owners not visited yet
                    self._expand(group, stream, job, expanding[group], heap, shapes, reasons, shape_reasons,
                                 settled.get(group[1]), cycle)  # type: ignore[index]  # see Pending.group_key
                    continue
                # with quotas, owners' jobs of one shape differ (quota, borrowing): visit them
                if s.ledger is None:
                    settled_as = self._settle(job)
                    if settled_as is not None:
                        shape_reasons[group] = (cycle, "", settled_as)
                        continue
                if (
                    s.ledger is None
                    and self._reservation_open()
                    and not s.policy.preemption.enabled
                    and self._no_room(job)
                    and scanned.get(group) != len(self.started)
                ):
                    # Nothing of it can start; only whether its first member reserves is open.
                    # Come back at that member's own place (again if starts change ranks).
                    scanned[group] = len(self.started)
                    first_key, first = self._first_of(group)
                    heapq.heappush(heap, (first_key, stream, first))
                    continue
                if s.ledger is None and scanned.get(group) == len(self.started) and job.id not in reasons:
                    # back at its first member's place with the reservation still open: that
                    # member is visited (and reserves); the rest of the group re-enters at its
                    # floor, to settle with one look or be visited in order
                    self.key_of[job.id] = key
                    reason = self.consider(job)
                    reasons[job.id] = (cycle, reason)
                    if pend.where.get(job.id) is not None:
                        if reason[0] is Reason.DEPENDENCY:
                            s.unpark(job.id)  # its own reason: it waits in the active queue
                        else:
                            shape_reasons[pend.where[job.id]] = (cycle, job.id, reason)
                            self.joined.setdefault(group, set()).add(pend.where[job.id])
                    scanned[group] = -1
                    if group in pend.groups:
                        floor, rep = pend.floor_key(group, now)
                        heapq.heappush(heap, (floor, stream, rep))
                    continue
                if pend.fair is not None and (pend.fair.fair.mode == "order" or pend.no_aging):
                    expanding[group] = set()
                    self._expand(group, stream, job, expanding[group], heap, shapes, reasons, shape_reasons,
                                 None, cycle)
                    continue
                for shape, queue in list(pend.members.get(group, {}).items()):
                    head = queue.peek(now)
                    if head.id in reasons:
                        continue  # visited above as the group's first member
                    heapq.heappush(heap, (pend.key(head, queue.seq_of(head.id), now), len(shapes), head))
                    shapes.append(shape)
                continue
            if self.started and pend.stale(key, job, now):
                # fair share: its owner started something since it was keyed; keys only grow
                # within a cycle, so the heap order holds once it is back with the fresh key
                heapq.heappush(heap, (pend.key(job, key[3], now), stream, job))
                continue
            if borrowers is not None and self._would_borrow(job):
                borrowers.append((key, stream, job))
                continue
            self.key_of[job.id] = key
            if stream >= 0 and settled and shape_of(job) in self.no_room:
                done = settled.get(_base(shapes[stream]))
                if done is not None:
                    # jobs of one shape are interchangeable whoever owns them: as for mates
                    # behind a parked head, the other owners' heads wait for the same reason
                    # (a cycle visits one head per shape, not one per shape and owner)
                    reasons[job.id] = (cycle, done)
                    shape_reasons[shapes[stream]] = (cycle, job.id, done)
                    continue
            job = pend.user(job)  # the queues hold a lifted job as a copy (priority inheritance)
            reason = self.consider(job)
            if job.id in pend:
                reasons[job.id] = (cycle, reason)
                if reason[0] in _ASLEEP_REASONS and job.id not in s.nominated:
                    # nothing changes for it until a dependency leaves or returns: it sleeps
                    # (docs/dependencies.md), and its reason stays true while it does
                    if pend.is_parked(job.id):
                        s.unpark(job.id)
                    s.park(job.id, ASLEEP)
            if stream < 0:
                continue
            shape = shapes[stream]
            # the first job of a family this cycle visits is its best: are the tiers below needed?
            family = shape.family if isinstance(shape, Tier) else None
            rest = None if family is None else below.pop(family, None)
            if pend.where.get(job.id) == shape:
                if not self._says_nothing_of_mates(job, reason, shape):
                    # its shape-mates behind it wait for the same reason
                    shape_reasons[shape] = (cycle, job.id, reason)
                    if rest and shape_of(job) in self.no_room:
                        # No room even ignoring claims, and no victims at its priority: the
                        # lower tiers (behind it, same request, no durations) fail alike.
                        shape_reasons[family] = (cycle, job.id, reason)
                    elif rest:
                        for tier in rest:
                            heapq.heappush(heap, head_of(tier))
                    if s.fair is not None and s.ledger is None and shape_of(job) in self.no_room:
                        settled.setdefault(_base(shape), reason)
                    continue
                s.unpark(job.id)  # it waits for reasons of its own, in the active queue
            for tier in rest or ():
                heapq.heappush(heap, head_of(tier))
            if shape in pend.parked:
                # the shape's head started or left: the next one of that shape gets its turn
                queue = pend.parked[shape]
                nxt = queue.peek(now)
                heapq.heappush(heap, (pend.key(nxt, queue.seq_of(nxt.id), now), stream, nxt))
        self.preempting.forget_started(self.touched)
        for job_id in sorted(self.held):
            s.hold_quota(s.queue.get(job_id), -1)
        s.set_reasons(reasons, shape_reasons)
        s.drop_stale_shape_reasons()
        return self.decisions

    def _expand(
        self, group: Hashable, stream: int, rep: Job, done: set[Hashable],
        heap: list[tuple[OrderKey, int, Job]], shapes: list[Hashable], reasons: dict[str, Stamped],
        shape_reasons: dict[Hashable, tuple[int, str, ReasonText]], settled: ReasonText | None, cycle: int,
    ) -> None:
        """Visit a group owner by owner without pushing every owner's head. The heads of the
        next owners in the walk go on the heap -- twice as many each time -- and the group
        comes back at a key no other owner's head is below (keys only grow within a cycle):
        order mode (keys ``(-effective priority, rank, ...)``): ``(-the group's top
        effective priority, the next owner's rank)``; term mode without aging (keys
        ``(-(priority + term), rank, ...)``, the walk by term, highest first): ``(-(the
        group's top priority + the next owner's term, up to rounding), the lowest rank)``
        (with aging, term mode pushes every head at once). Back there, if its shape has found no room
        and ``settled`` (the reason its first no-room head got) is known, every head not
        visited gets that reason at once, as each would have when reached: without aging
        as one record for the group (:mod:`prioq.scheduler._settled_state`), with aging
        one peek per owner's queue; else the next batch. The heap thus sees the group's
        heads in the same order as if all had been pushed at once.
        O((owners pushed) log n), plus O(queues joined this cycle) to settle without
        aging, O(1) per owner's queue with."""
        pend = self.state.queue
        now = self.now
        queues = pend.members.get(group)
        if not queues:
            return
        if settled is not None and (rep.request, rep.nodes) in self.no_room:
            if pend.no_aging and _GROUP_RECORDS:
                # one record for the queues not visited (docs in _settled_state), but those
                # whose head has a reason of this cycle already (joined this cycle)
                skip = set(done)
                for shape in self.joined.get(group, ()):
                    queue = queues.get(shape)
                    if shape not in skip and queue is not None and queue.peek(now).id in reasons:
                        skip.add(shape)
                self.state.settle_group(group, Settled(cycle, settled, skip))
                return
            for shape, queue in queues.items():
                if shape not in done:
                    head = queue.peek(now)
                    if head.id not in reasons:
                        reasons[head.id] = (cycle, settled)
                        shape_reasons[shape] = (cycle, head.id, settled)
            return
        fair = self.state.fair
        assert fair is not None and pend.owners is not None
        term = fair.fair.mode == "term"
        floor, _ = pend.floor_key(group, now)
        top = floor[0]  # order mode: -(the highest effective priority of a member)
        # term mode (no aging): the highest priority of a member, as the float keys add it
        top_priority = float(pend.groups[group].peek(now).priority) if term else 0.0
        base: tuple[object, ...] = group[1]  # type: ignore[index]  # see Pending.group_key
        batch = max(_FIRST_BATCH, len(done))
        pushed = 0
        for rank, owner in pend.owners.walk(now):
            shape = (*base, owner)
            owned = queues.get(shape)
            if owned is None or shape in done:
                continue
            if pushed == batch:
                if term:
                    # the walk is by term, highest first, up to rounding (_TERM_SLACK, as in
                    # _first_of): no later owner's head has a key below this one's bound, at
                    # the lowest rank; terms only fall within a cycle, so it stays a bound
                    total, err = _two_sum(top_priority, fair.term(owner, now) * _TERM_SLACK)
                    heapq.heappush(heap, (((-total, -err), floor[1], -math.inf, -1, ""), stream, rep))
                else:
                    heapq.heappush(heap, ((top, rank, -math.inf, -1, ""), stream, rep))
                return
            done.add(shape)
            head = owned.peek(now)
            if head.id in reasons:
                continue  # visited already (the group's first member, or parked in this cycle)
            heapq.heappush(heap, (pend.key(head, owned.seq_of(head.id), now), len(shapes), head))
            shapes.append(shape)
            pushed += 1

    def _settle(self, job: Job) -> ReasonText | None:
        """With fair share, the reason every member of a parked group (``job``: its member of
        highest effective priority) waits for, if one look shows it: when none of them can
        start in this cycle (no room even ignoring claims, or never any) and visiting them in
        order could decide nothing (no reservation left to make, no preemption). ``None``: the
        group's members are visited in order. O(placement) once per request shape."""
        s = self.state
        if s.unsatisfiable(job):  # never reserves nor preempts
            return _never(s, job)
        if s.policy.preemption.enabled or self._reservation_open() or not self._no_room(job):
            return None
        return self.why(job)

    def _reservation_open(self) -> bool:
        """Whether the cycle's reservation is still to be made (by the first job that waits)."""
        pol = self.state.policy
        return pol.reservation and pol.queueing == "best-effort" and self.claims.reserved_for is None

    def _no_room(self, job: Job) -> bool:
        """No room for ``job``'s request shape even ignoring claims (kept: frees only shrink)."""
        shape = shape_of(job)
        if shape not in self.no_room:
            if self._gang(job, None) is not None:
                return False
            self.no_room.add(shape)
        return True

    def _first_of(self, group: Hashable) -> tuple[OrderKey, Job]:
        """A parked group's first member in the scheduling order and its key: one key per
        owner, no visits. O(owners of the group)."""
        pend = self.state.queue
        now = self.now
        best: tuple[OrderKey, Job] | None = None
        fair = self.state.fair
        assert fair is not None
        queues = pend.members[group]
        if pend.no_aging and fair.fair.mode == "order":
            # Only a head of the group's top priority can be first, and among those the
            # owner's rank decides: walk owners by rank, stop past the best one found
            # (typically after a few owners, not all of them; see OwnerOrder).
            top = pend.groups[group].peek(now).priority
            base: tuple[object, ...] = group[1]  # type: ignore[index]  # see Pending.group_key
            assert pend.owners is not None
            for rank, owner in pend.owners.walk(now):
                if best is not None and rank > best[0][1]:
                    break
                queue = queues.get((*base, owner))
                if queue is None:
                    continue
                head = queue.peek(now)
                if head.priority == top:
                    key = pend.key(head, queue.seq_of(head.id), now)
                    if best is None or key < best[0]:
                        best = (key, head)
        elif pend.no_aging:
            # term mode: walk owners by term, highest first; an owner's best is its head, at
            # most the group's top priority plus its term: stop once that cannot beat the best.
            # The walk's order is the normalised share's; the term is taken from the share
            # itself, so the bound allows for rounding (_TERM_SLACK).
            top = pend.groups[group].peek(now).priority
            base = group[1]  # type: ignore[index]
            assert pend.owners is not None
            for _, owner in pend.owners.walk(now):
                if best is not None:
                    total, err = _two_sum(float(top), fair.term(owner, now) * _TERM_SLACK)
                    if best[0][0] < (-total, -err):  # type: ignore[operator]  # pairs in this mode
                        break
                queue = queues.get((*base, owner))
                if queue is None:
                    continue
                head = queue.peek(now)
                key = pend.key(head, queue.seq_of(head.id), now)
                if best is None or key < best[0]:
                    best = (key, head)
        else:
            for queue in queues.values():
                head = queue.peek(now)
                key = pend.key(head, queue.seq_of(head.id), now)
                if best is None or key < best[0]:
                    best = (key, head)
        assert best is not None
        return best

    def _would_borrow(self, job: Job) -> bool:
        """Whether ``job`` fits its owner's quota now only by borrowing. A job that does not fit
        at all is not deferred: it waits (or preempts) whenever it is considered, and a cycle
        with a deep quota-blocked backlog stays one pass. O(resources)."""
        s = self.state
        ledger = s.ledger
        assert ledger is not None
        quota = ledger.quota(job.owner)
        if quota is None or quota.cohort is None or job.id in s.nominated:
            return False
        assert job.owner is not None
        usage = usage_of(job.request, job.nodes)
        return not ledger.fits(job.owner, usage, allow_borrowing=False) and ledger.fits(job.owner, usage)

    def _hold_nominated_quota(self) -> None:
        """A nominated job's quota counts as in use until it is considered: the quota its
        victims free is its own, as the nodes they free are (Kueue admits a job that does
        not borrow before one that does). O(nominations)."""
        s = self.state
        ledger = s.ledger
        if ledger is None:
            return
        for job_id in sorted(s.nominated):
            job = s.queue.get(job_id)
            if ledger.quota(job.owner) is not None:
                s.hold_quota(job, 1)
                self.held.add(job_id)

    def _says_nothing_of_mates(self, job: Job, reason: ReasonText, shape: Hashable) -> bool:
        """Whether a parked head's failure says nothing of its shape-mates behind it.

        A dependency is the job's own. And a job with an estimate (``Job.estimate``: its
        duration or time limit) that found room ignoring claims but was vetoed by one may
        have mates with shorter estimates that a reservation spares (EASY backfill): the
        mate with the shortest estimate is tried (without starting it); if even it is
        vetoed, so is every mate (every
        claim standing now belongs to a job ahead of the head, so it binds them all
        alike), else the walk goes on in order. Jobs without an estimate form shapes of
        their own, whose members a claim vetoes alike. Parking holds only while a shape
        finds no room at all, or fails for reasons every member shares.
        """
        if reason[0] is Reason.DEPENDENCY or reason[0] is Reason.DEPENDENCY_FAILED:
            return True
        if type(shape) is QuotaShape:
            # mates share the owner and usage: over quota alike; any other reason is its own
            return reason[0] is not Reason.QUOTA
        if job.estimate is None or shape_of(job) in self.no_room:
            return False
        pend = self.state.queue
        shortest = pend.shortest(shape)
        if shortest is None or shortest.id == job.id:
            return False
        queue = pend.parked[shape]
        self.key_of[shortest.id] = pend.key(shortest, queue.seq_of(shortest.id), self.now)
        return self.place(pend.user(shortest)) is not None

    # ------------------------------------------------------------------ per job

    def consider(self, job: Job) -> ReasonText:
        """Start ``job``, or say why it waits (nominating or reserving on the way)."""
        s = self.state
        failed = s.deps.failed_dependency(job)
        if failed is not None:
            dep, outcome = failed
            return Reason.DEPENDENCY_FAILED, (
                f"afterok dependency {dep} ended {outcome}: it will never start (cancel it, or "
                f"resubmit {dep})"
            )
        waiting_on = [d for d in job.after if d in s.runs or d in s.queue]
        if waiting_on:
            return Reason.DEPENDENCY, f"waiting for {', '.join(waiting_on)} to finish"
        if job.id in s.nominated:
            victims = s.victims_of(job.id)
            if victims:
                self._block(job)
                if s.policy.queueing != "strict" and not job.after:
                    s.hold(job.id)  # nothing can change this answer until an event wakes it
                return Reason.PREEMPTING, (
                    f"nominated to {', '.join(s.nominated[job.id])}; waiting for "
                    f"{', '.join(sorted(victims))} to terminate"
                )
        if s.policy.queueing == "strict" and self.blocked is not None:
            return Reason.BLOCKED, f"strict queueing: {self.blocked} ahead of it cannot start"
        if s.unsatisfiable(job):
            self._maybe_park(job)
            return _never(s, job)
        if s.ledger is not None and job.owner is not None and s.ledger.quota(job.owner) is not None:
            over = self._quota(job, job.owner)
            if over is not None:
                return over
        placement = self.place(job)
        if placement is not None:
            self._start(job, placement)
            return Reason.NEW, "started"
        if job.id in s.nominated:
            s.drop_nomination(job.id)
            self.claims.drop(job.id)
        if s.policy.preemption.enabled and s.class_may_preempt(job):
            preempted = self.preempting.attempt(job, self.claims, self.decisions)
            if preempted is not None:
                if s.queue.is_parked(job.id):
                    s.unpark(job.id)  # nominated jobs are visited every cycle
                self.claims.claim_nomination(job.id)
                self._block(job)
                return preempted
        reason = self.why(job)
        self._block(job)
        if shape_of(job) in self.no_room:
            self._maybe_park(job)
        if (
            s.policy.reservation
            and s.policy.queueing == "best-effort"
            and self.claims.reserved_for is None
            and reason[0] is not Reason.RESERVED
        ):
            self.claims.reserve(job)
        return reason

    def _quota(self, job: Job, owner: str) -> ReasonText | None:
        """``None`` if ``job`` fits its owner's quota now; else try quota preemption, or park
        it with its owner's quota-blocked jobs, and say what is over. Never blocks other
        owners (not even in strict queueing)."""
        s = self.state
        ledger = s.ledger
        assert ledger is not None
        strict = s.policy.queueing == "strict"
        if strict and owner in self.over_quota:
            return Reason.BLOCKED, (
                f"strict queueing: {self.over_quota[owner]} of owner {owner} ahead of it is over quota"
            )
        if job.id in self.held:
            self.held.discard(job.id)
            s.hold_quota(job, -1)
        usage = usage_of(job.request, job.nodes)
        if ledger.fits(owner, usage):
            return None
        self.over_quota.setdefault(owner, job.id)
        if job.id in s.nominated:
            s.drop_nomination(job.id)
            self.claims.drop(job.id)
        if not ledger.ever_fits(owner, usage):
            preempt = False
            text = f"over quota of {owner} even with nothing running: {ledger.describe(owner, usage)}"
        else:
            preempt = (s.policy.preemption.enabled and s.class_may_preempt(job)
                       and ledger.may_preempt(owner, s.policy.preemption.policy))
            text = f"over quota of {owner}: {ledger.describe(owner, usage)}"
        if preempt:
            preempted = self.preempting.attempt(job, self.claims, self.decisions, over_quota=True)
            if preempted is not None:
                if s.queue.is_parked(job.id):
                    s.unpark(job.id)
                self.claims.claim_nomination(job.id)
                return preempted
        # Parked with the same owner's jobs of its shape (and, under preemption, priority):
        # cycles visit only the head. Not in strict queueing (as any parking), nor when
        # preemption compares effective priorities (they change with time).
        if not strict and not (preempt and s.policy.preemption.compare == "effective"):
            extra: tuple[object, ...] = (job.priority, s.class_may_preempt(job)) if preempt else ()
            if (sel := selection(job)) is not None:
                extra += (sel,)  # jobs of other selections are not interchangeable
            if s.queue.where.get(job.id) != QuotaShape(owner, job.request, job.nodes, extra):
                _quota.park(s, job, owner, extra)
        return Reason.QUOTA, text

    def _start(self, job: Job, placement: Placement) -> None:
        self.claims.drop(job.id)
        backfill_for = self.claims.charge(job, placement)
        for ns, _ in placement:
            if ns.id not in self.free_before:
                self.free_before[ns.id] = ns.free
                self.touched.append(ns.id)
        self.decisions.append(self.state.start(job, placement, self.now, backfill_for))
        self.started.add(job.id)

    def _block(self, job: Job) -> None:
        if self.blocked is None:
            self.blocked = job.id

    def _maybe_park(self, job: Job) -> None:
        """Park a job that found no room even ignoring claims, unless parking could hide it.

        Not in strict queueing (nothing behind a blocked head is visited anyway), nor when
        preemption compares effective priorities (a job's preemption priority then
        changes with time, so jobs of one shape are not interchangeable)."""
        s = self.state
        pol = s.policy
        if pol.queueing == "strict" or s.queue.is_parked(job.id) or job.id in s.nominated:
            return
        if pol.preemption.enabled and pol.preemption.compare == "effective":
            return
        # Jobs without an estimate are never spared by a reservation, those with one may
        # be: they never share a shape (see _says_nothing_of_mates).
        if pol.preemption.enabled and job.estimate is None and s.ledger is None and s.fair is None:
            # tiers of a family (see run); not under quotas (a job behind a head that found
            # no room may be over its owner's quota instead) nor fair share (owners' groups)
            s.park(job.id, Tier((*shape_of(job), s.class_may_preempt(job)), job.priority))
            return
        shape: tuple[object, ...] = (*shape_of(job), job.estimate is None)
        if pol.preemption.enabled:
            shape += (job.priority, s.class_may_preempt(job))
        if s.fair is not None or s.ledger is not None:
            # One owner per parked queue: with fair share a queue is in the global order only
            # for one owner; with quotas owners' jobs of one shape differ (whom they may evict,
            # and whether they must borrow: a borrowing head waits for the second pass, which
            # must not hide a mate of another owner within its nominal quota).
            shape += (job.owner,)
        s.park(job.id, shape)
        group = s.queue.group_key(shape)
        if group is not None:
            self.joined.setdefault(group, set()).add(shape)

    # ------------------------------------------------------------------ placement

    def place(self, job: Job) -> Placement | None:
        """Place every gang member on a distinct node, respecting claims; or nothing.

        A request that found no room even ignoring claims will not find any later
        in the cycle: such requests are remembered and later identical ones cost O(1).
        """
        shape = shape_of(job)
        if shape in self.no_room:
            return None
        s = self.state
        index = s.index_for(job)  # its eligible nodes only (node selection, cordons)
        seen_full = s.caches.no_room.get(shape) if job.nodes == 1 else None
        if seen_full is not None:
            if still_no_room(s.policy.placement, job.request, s.index, seen_full):
                # no room when last looked (maybe cycles ago), and no node changed since has any
                self.no_room.add(shape)
                s.caches.remember_no_room(shape, s.index.clock)
                return None
            # room again somewhere: the mark is stale, and every later look would re-check
            # the same (growing) list of changed nodes; the walk below tells, and a walk
            # that finds no room sets a fresh mark
            del s.caches.no_room[shape]
        if job.nodes == 1 and self.claims:  # one walk tells both (see place_with_room)
            one, anywhere = place_with_room(
                self.state.policy.placement, job.request, index, self.claims.allow_for(job)
            )
            got, raw = (None if one is None else [one]), (None if anywhere is None else [anywhere])
        else:
            got = self._gang(job, self.claims.allow_for(job) if self.claims else None)
            raw = self._gang(job, None) if got is None and self.claims else None
        if got is None:
            if raw is None:
                self.no_room.add(shape)
                if job.nodes == 1:
                    s.caches.remember_no_room(shape, s.index.clock)
            else:
                self.room_on[shape] = [ns.id for ns, _ in raw]
        return got

    def _gang(self, job: Job, allow: Callable[[NodeState, Resources], bool] | None) -> Placement | None:
        placement = self.state.policy.placement
        index = self.state.index_for(job)
        chosen: Placement = []
        used: set[str] = set()

        def allow_member(ns: NodeState, alloc: Resources) -> bool:
            return ns.id not in used and (allow is None or allow(ns, alloc))

        for _ in range(job.nodes):
            got = placement.place(job.request, index, allow_member)
            if got is None:
                return None
            if got[0].id in used:
                # Refused like an allocation past a node's free capacity (the cycle is undone):
                # two members on one node would break the gang's every invariant.
                raise InvalidPolicy(
                    f"placement policy {placement.name!r} placed two members of gang {job.id} on node "
                    f"{got[0].id}: a gang's members need distinct nodes (place must respect allow)"
                )
            chosen.append(got)
            used.add(got[0].id)
        return chosen

    def why(self, job: Job) -> ReasonText:
        """Why a job that could not start waits. Amortized O(1) per job: results are kept
        per request shape and only nodes touched since the last look are re-checked."""
        s = self.state
        shape = shape_of(job)
        if shape not in self.no_room:
            owners = self.claims.holders(self.room_on.get(shape, ()), job)
            if owners:
                return Reason.RESERVED, f"capacity that fits it is held for {', '.join(owners)}"
            return Reason.RESOURCES, f"placement policy {s.policy.placement.name!r} found no node for it"
        fits_before, checked = self.fits_before.get(shape, (0, 0))
        index = s.index_for(job)
        for nid in self.touched[checked:]:
            if nid in index and fit(job.request, self.free_before[nid]) is not None:
                fits_before += 1
        self.fits_before[shape] = (fits_before, len(self.touched))
        if fits_before >= job.nodes:
            return Reason.PRIORITY, "jobs started before it in the last cycle took the capacity it fits"
        return Reason.RESOURCES, s.resources_message(shape)


def _base(shape: Hashable) -> Hashable:
    """A parked shape without the owner fair share adds to it (see ``Cycle._maybe_park``)."""
    return shape[:-1] if isinstance(shape, tuple) else shape


def _never(s: State, job: Job) -> ReasonText:
    """Why a job that no node it may use could ever hold waits: UNSATISFIABLE if no node at
    all could, else NO_SELECTED_NODE (its selection, taints or cordons leave those out)."""
    if s.never_fits(job):
        return Reason.UNSATISFIABLE, _unsatisfiable_message(job)
    return Reason.NO_SELECTED_NODE, s.no_selected_node(job)


def _unsatisfiable_message(job: Job) -> str:
    if job.nodes > 1:
        return f"no {job.nodes} nodes could ever hold {job.request} (even empty)"
    return f"no node could ever hold {job.request} (even empty)"
