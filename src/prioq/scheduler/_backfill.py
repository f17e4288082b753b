"""Claims on capacity within a cycle: nominations and EASY reservations with backfill.

Two things protect capacity for a job that cannot start yet (docs/scheduler.md#reservations-and-backfill):

* a **nomination**: a preemptor's nodes while its victims terminate; every job
  behind it, and every job it could evict, must leave it room;
* a **reservation**: the nodes where the first blocked job fits soonest; later
  jobs may use them only if they surely end before the reservation starts, or
  leave room for it (EASY backfill).

Both are :class:`Claim` values kept per node in :class:`Claims`, built afresh by
each cycle; only the reservation's node choice is cached between cycles
(:attr:`Caches.reservation <prioq.scheduler._state.Caches.reservation>`).
A standing nomination's claim on a node is built the first time the cycle
looks at that node (:meth:`Claims.on`), always before any start there, so a
cycle costs nothing for the hundreds of nominations on nodes it never touches.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import attrs

from prioq.model import Job
from prioq.placement import NodeState
from prioq.resources import ResourceRequest, Resources, fit
from prioq.scheduler._pending import OrderKey
from prioq.scheduler._state import INF, Run, State
from prioq.selection import selection

__all__ = ["Claim", "Claims"]


@attrs.define(slots=True, eq=False)
class Claim:
    """Capacity protected for one job on one node: ``request`` must still fit in ``projected``."""

    owner: str
    key: OrderKey
    """The owner's place in the scheduling order: jobs behind it must respect the claim."""
    request: ResourceRequest
    projected: Resources
    until: float = INF
    """Reservation start time: a job that surely ends by then cannot delay it."""
    priority: float | None = None
    """For a nomination, the preemptor's preemption priority: jobs it could evict must
    respect the claim wherever they stand in the queue (else a requeued victim, aged
    ahead of its preemptor, would retake the freed capacity every cycle)."""

    def spares(self, end: float) -> bool:
        """Whether a job ending at ``end`` is surely gone before this claim starts."""
        return end < INF and end <= self.until


class Claims:
    """The claims of one cycle, per node, and the one reservation it may make."""

    def __init__(self, state: State, now: float, key_of: dict[str, OrderKey]) -> None:
        self.state = state
        self.now = now
        self.key_of = key_of
        self.by_node: dict[str, list[Claim]] = {}
        self._nodes_of: dict[str, set[str]] = {}  # owner -> nodes it holds claims on
        self.reserved_for: str | None = None
        self._looked: set[str] = set()  # nodes whose standing nominations have their claims
        self._dropped: set[str] = set()  # owners whose claims this cycle dropped

    def __bool__(self) -> bool:
        return bool(self.by_node) or bool(self.state.nominated)

    def on(self, node_id: str) -> list[Claim]:
        """The claims on a node, the standing nominations' built on the first look. O(claims)."""
        if node_id not in self._looked:
            self._looked.add(node_id)
            for owner in self.state.nominated_on.get(node_id, ()):
                if owner not in self._dropped:
                    self._claim(owner, node_id)
        return self.by_node.get(node_id, [])

    def _add(self, node_id: str, claim: Claim) -> None:
        self.by_node.setdefault(node_id, []).append(claim)
        self._nodes_of.setdefault(claim.owner, set()).add(node_id)

    def claim_nomination(self, owner: str) -> None:
        """Hold a nominated preemptor's nodes: what is free there plus what its victims hold.

        Standing nominations are claimed on each node the first time the cycle looks
        at it (:meth:`on`); a nomination made in the cycle is claimed at once, so that
        no job visited after the preemptor -- and no job it could evict -- takes the
        capacity its victims free (without it, a lower job took that capacity in the
        same cycle and the preemptor evicted it back in the next: a livelock).
        """
        self._dropped.discard(owner)
        for nid in self.state.nominated[owner]:
            if owner not in [c.owner for c in self.on(nid)]:
                self._claim(owner, nid)

    def _claim(self, owner: str, nid: str) -> None:
        s = self.state
        job = s.queue.get(owner)
        key = self.key_of.get(owner)
        if key is None:  # a standing nomination the cycle has not visited (yet)
            key = self.key_of[owner] = s.queue.key(job, s.queue.seq_of(owner), self.now)
        projected = s.index.get(nid).free
        for victim in s.victims.get(owner, ()):
            running = s.runs[victim].running
            if nid in running.node_ids:
                projected = projected + running.allocation_on(nid)
        # until=now: the preemptor needs the capacity as soon as its victims are gone,
        # so no job, however short, is spared by this claim
        priority = s.preemption_priority(job, self.now)
        self._add(nid, Claim(owner, key, job.request, projected, until=self.now, priority=priority))

    def binding(self, claim: Claim, job: Job, priority: float | None = None) -> bool:
        """Whether ``claim`` binds ``job``: jobs behind its owner in the order, and for a
        nomination every job of lower or equal preemption priority (as Kubernetes lets
        only higher-priority pods take a nominated node). ``priority``: the job's
        preemption priority, when the caller has it already."""
        if claim.owner == job.id:
            return False
        if claim.key < self.key_of[job.id]:
            return True
        if claim.priority is None:
            return False
        if priority is None:
            priority = self.state.preemption_priority(job, self.now)
        return priority <= claim.priority

    def holders(self, node_ids: Sequence[str], job: Job) -> list[str]:
        """The owners of claims on ``node_ids`` that bind ``job``, sorted."""
        return sorted({c.owner for nid in node_ids for c in self.on(nid) if self.binding(c, job)})

    def allow_for(self, job: Job) -> Callable[[NodeState, Resources], bool]:
        """The placement veto for ``job``: an allocation may not break a claim that binds it."""
        estimate = job.estimate
        end = INF if estimate is None else self.now + estimate
        # computed once per job, not per claim and candidate node (exact aging arithmetic
        # under compare="effective")
        priority = self.state.preemption_priority(job, self.now) if self.by_node else None
        # Whether an owner's claims bind this job is the same on every node (one key, one
        # priority per owner): decided once per owner, not per claim and candidate node.
        binds: dict[str, bool] = {}

        def allow(ns: NodeState, alloc: Resources) -> bool:
            for claim in self.on(ns.id):
                bound = binds.get(claim.owner)
                if bound is None:
                    bound = binds[claim.owner] = self.binding(claim, job, priority)
                if not bound or claim.spares(end):
                    continue
                if claim.projected.shortfall(alloc) or fit(claim.request, claim.projected - alloc) is None:
                    return False
            return True

        return allow

    def charge(self, job: Job, placement: Sequence[tuple[NodeState, Resources]]) -> str | None:
        """Take a starting job's allocation off the claims it could affect; returns the
        reservation holder when the job backfills under a reservation of unknown start."""
        estimate = job.estimate
        end = INF if estimate is None else self.now + estimate
        backfill_for = None
        for ns, alloc in placement:
            for claim in self.on(ns.id):
                if claim.owner != job.id and not claim.spares(end):
                    # also charged by jobs ahead of its owner: the claim tracks what is left
                    claim.projected = claim.projected - alloc
                    if self.reserved_for == claim.owner and claim.until == INF:
                        backfill_for = claim.owner
        return backfill_for

    def drop(self, owner: str) -> None:
        """Drop every claim of ``owner`` (it started, or lost its nomination). O(its claims)."""
        self._dropped.add(owner)
        for node_id in self._nodes_of.pop(owner, ()):
            kept = [c for c in self.by_node.get(node_id, ()) if c.owner != owner]
            if kept:
                self.by_node[node_id] = kept
            else:
                self.by_node.pop(node_id, None)

    # ------------------------------------------------------------------ reservations

    def reserve(self, job: Job) -> None:
        """Reserve the nodes where ``job`` fits soonest (estimated from running jobs' durations).

        O(N * r) for N nodes running r jobs each, so the choice is kept until the
        cluster changes (any start, release or node change): cycles triggered
        only by arrivals reuse it.
        """
        s = self.state
        node_ids, latest_end = self._soonest(job, frozenset())
        # Never reserve what a nomination that binds the job holds: the job could not start
        # there either, and a reservation moving onto capacity a preemptor's victims just
        # freed blocked the preemptor, let lower jobs backfill it, and the preemptor evicted
        # them again in the next cycle (a livelock). Usually no chosen node is nominated.
        held = frozenset(nid for nid in node_ids if self._nominated_against(nid, job))
        while held:
            node_ids, latest_end = self._soonest(job, held)
            more = frozenset(nid for nid in node_ids if self._nominated_against(nid, job))
            held |= more
            if not more:
                break
        # Among equally soon choices, keep off nodes a (lower) preemptor is nominated on: a
        # reservation that cannot start yet and moved onto the capacity a preemptor's
        # victims just freed kept the preemptor out while a job lower than it took that
        # capacity beside the claim; evicted again in the next cycle, the reservation moved
        # back: a livelock. Moving only when it starts no later keeps EASY's guarantee.
        nominated = frozenset(nid for nid in node_ids if nid in s.nominated_on)
        if nominated:
            other, other_end = self._soonest(job, held | nominated)
            if other and other_end <= latest_end:
                node_ids, latest_end = other, other_end
        if not node_ids:
            return
        until = max(self.now, latest_end)
        self.reserved_for = job.id
        for nid in node_ids:
            ns = s.index.get(nid)
            # What is left for the reservation at its start: everything except jobs
            # that outlast it (finite start) or backfilled jobs (unknown start).
            projected = ns.node.capacity
            for j in ns.jobs:
                run = s.runs[j]
                outlasts = run.end > until if until < INF else run.backfill_for == job.id
                if outlasts:
                    projected = projected - run.running.allocation_on(ns.id)
            self._add(ns.id, Claim(job.id, self.key_of[job.id], job.request, projected, until))


    def _soonest(self, job: Job, exclude: frozenset[str]) -> tuple[tuple[str, ...], float]:
        """:func:`soonest`, kept until the state version moves (any start, release, nomination
        or node change): cycles triggered only by arrivals reuse every search they made."""
        s = self.state
        key = (job.id, job.request, job.nodes, s.version, exclude)
        choice = s.caches.reservations.get(key)
        if choice is None:
            choice = soonest(s, job, exclude=exclude)
            s.remember_reservation(key, choice)
        return choice

    def _nominated_against(self, node_id: str, job: Job) -> bool:
        """Whether a nomination that binds ``job`` holds capacity on ``node_id``. O(claims there)."""
        if node_id not in self.state.nominated_on:
            return False
        return any(c.priority is not None and self.binding(c, job) for c in self.on(node_id))


def soonest(state: State, job: Job, exclude: frozenset[str] = frozenset()) -> tuple[tuple[str, ...], float]:
    """The ``job.nodes`` nodes where ``job`` fits soonest (``exclude`` left out), and when the
    last of them frees up.

    A node's key is (time it fits, releases needed, node order), the time
    from running jobs' expected ends (``inf`` when unknown). Nodes are
    examined in order of a cheap lower bound -- their earliest expected end,
    and at least one release -- and the scan stops once no unexamined node
    can beat the chosen ones, so typically only a few nodes cost a fit.
    """
    # Per node, the bound and the answer are pure functions of its free capacity and
    # running jobs: with preemption on, remembered against the node's stamp in the
    # candidate index (changed by every start and stop there, never reused).
    stamps = state.cindex.stamp if state.policy.preemption.enabled else None
    memo = state.caches.soonest
    if len(memo) > 65536:  # bounded: request shapes x nodes
        memo.clear()
    bounded: list[tuple[float, int, NodeState, list[Any]]] = []
    for ns in state.capable_nodes(job.request, selection(job)):  # only nodes the job may use
        if ns.id in exclude:
            continue
        entry = None
        if stamps is not None:
            stamp = stamps.get(ns.id)
            entry = memo.get((job.request, ns.id))
            if entry is None or entry[0] != stamp:
                entry = memo[(job.request, ns.id)] = [stamp, _lowest_end(state, ns), None]
        else:
            entry = [None, _lowest_end(state, ns), None]
        bounded.append((entry[1], ns.order, ns, entry))
    bounded.sort(key=lambda b: (b[0], b[1]))
    best: list[tuple[float, int, int, str]] = []
    for lower, order, ns, entry in bounded:
        if len(best) >= job.nodes and best[job.nodes - 1] < (lower, 1, order, ""):
            break
        if entry[2] is None:
            entry[2] = _frees(state, ns, job.request)
        end, needed, fits = entry[2]
        if fits:
            best.append((end, needed, order, ns.id))
            best.sort()
    if len(best) < job.nodes:
        return (), -INF
    chosen = best[: job.nodes]
    return tuple(c[3] for c in chosen), max(c[0] for c in chosen)


def _lowest_end(state: State, ns: NodeState) -> float:
    """The earliest expected end of a job on ``ns`` (``-inf`` if none runs there). O(r)."""
    return min((state.runs[j].end for j in ns.jobs), default=-INF)


def _frees(state: State, ns: NodeState, request: ResourceRequest) -> tuple[float, int, bool]:
    """When ``request`` fits on ``ns`` as its jobs end (by expected end), how many must end
    first, and whether it fits at all then. O(r log r)."""
    free = ns.free
    end, needed = -INF, 0
    for run in sorted((state.runs[j] for j in ns.jobs), key=Run.end_order):
        if fit(request, free) is not None:
            break
        free = free + run.running.allocation_on(ns.id)
        end, needed = max(end, run.end), needed + 1
    return end, needed, needed == 0 or fit(request, free) is not None
