"""Which running jobs to evict so that a job fits its quota: Kueue's preemption
(``pkg/scheduler/preemption``: ``GetTargets``, ``findCandidates``,
``minimalPreemptions``, ``fairPreemptions``), on flat cohorts.

Only quota is decided here; whether the job then fits on a node is the
scheduler's preemption planner's question (:mod:`prioq.preemption`). The
ledger is changed while a plan is simulated and always restored before
returning. O(c log c + c * resources) for c candidates.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping, Sequence

import attrs

from prioq.quota._config import Quota
from prioq.quota._ledger import Ledger

__all__ = ["Contender", "candidates_for", "eligible", "targets"]


@attrs.frozen(slots=True, kw_only=True)
class Contender:
    """A job as quota preemption sees it (the preemptor, or a running candidate).

    ``order``: (submitted_at, seq, id) -- who is newer; ``admitted_at``: when it started
    (Kueue's quota reservation time), ``None`` for the preemptor."""

    id: str
    owner: str
    priority: float
    usage: Mapping[str, int] = attrs.field(eq=False)
    order: tuple[float, int, str]
    admitted_at: float | None = None


def _within(quota: Quota, fallback: str) -> str:
    return quota.within_owner if quota.within_owner is not None else fallback


def eligible(ledger: Ledger, p: Contender, v: Contender, fallback: str, need: set[str] | None = None) -> bool:
    """Kueue's findCandidates for one candidate: the preemptor's own lower jobs
    (``within_owner``), or a borrowing cohort member's jobs (``reclaim_within_cohort``).
    ``fallback``: ``within_owner`` when the quota leaves it ``None``. ``need``: the
    resources preemption must free (a candidate must use one of them). O(resources)."""
    q = ledger.quota(p.owner)
    if q is None:
        return False
    if need is not None and not any(v.usage.get(n, 0) for n in need):
        return False
    if v.owner == p.owner:
        policy = _within(q, fallback)
        if policy == "never":
            return False
        if v.priority < p.priority:
            return True
        return policy == "lower-or-newer-equal" and v.priority == p.priority and v.order > p.order
    vq = ledger.quota(v.owner)
    if vq is None or q.cohort is None or vq.cohort != q.cohort or q.reclaim_within_cohort == "never":
        return False
    if not ledger.borrowing(v.owner, need):
        return False
    return q.reclaim_within_cohort == "any" or v.priority < p.priority


def candidates_for(
    ledger: Ledger, p: Contender, pool: Sequence[Contender], fallback: str, need: set[str]
) -> list[Contender]:
    """The eligible candidates in Kueue's order (candidatesOrdering): other owners' first,
    then lower priority, then the most recently admitted, then id."""
    found = [v for v in pool if eligible(ledger, p, v, fallback, need)]
    found.sort(key=lambda v: (v.owner == p.owner, v.priority, -(v.admitted_at or 0.0), v.id))
    return found


def _remove(ledger: Ledger, v: Contender) -> None:
    ledger.charge(v.owner, v.id, v.usage, -1)


def _add(ledger: Ledger, v: Contender) -> None:
    ledger.charge(v.owner, v.id, v.usage, 1)


def _restore(ledger: Ledger, removed: list[Contender]) -> None:
    for v in reversed(removed):
        _add(ledger, v)


def _fill_back(
    ledger: Ledger, p: Contender, targets: list[Contender], allow_borrowing: bool
) -> list[Contender]:
    """Kueue's fillBackWorkloads: in reverse order, keep out only the targets still needed."""
    for i in range(len(targets) - 2, -1, -1):
        _add(ledger, targets[i])
        if ledger.fits(p.owner, p.usage, allow_borrowing):
            targets[i] = targets[-1]
            targets.pop()
        else:
            _remove(ledger, targets[i])
    return targets


def _minimal(
    ledger: Ledger, p: Contender, candidates: list[Contender], allow_borrowing: bool,
    threshold: float | None, need: set[str],
) -> list[Contender] | None:
    """Kueue's minimalPreemptions: remove candidates in order until the job fits, then
    fill back."""
    removed: list[Contender] = []
    fits = False
    for v in candidates:
        same = v.owner == p.owner
        if not same and not ledger.borrowing(v.owner, need):
            continue
        if not same and threshold is not None and v.priority >= threshold:
            allow_borrowing = False
        _remove(ledger, v)
        removed.append(v)
        if ledger.fits(p.owner, p.usage, allow_borrowing):
            fits = True
            break
    return _settle(ledger, p, removed, fits, allow_borrowing)


def _settle(ledger: Ledger, p: Contender, removed: list[Contender], fits: bool,
            allow_borrowing: bool) -> list[Contender] | None:
    """End a search: ``None`` (every removal undone) if the job still does not fit, else the
    victims left once those it can spare are put back (the ledger restored either way)."""
    if not fits:
        _restore(ledger, removed)
        return None
    kept = _fill_back(ledger, p, list(removed), allow_borrowing)
    _restore(ledger, kept)
    return kept


Strategy = Callable[[int, int, int], bool]
_STRATEGIES: dict[str, Strategy] = {
    "LessThanOrEqualToFinalShare": lambda new_p, _old_v, new_v: new_p <= new_v,
    "LessThanInitialShare": lambda new_p, old_v, _new_v: new_p < old_v,
}


def _heap(
    ledger: Ledger, cands: list[Contender], first_only: bool
) -> tuple[list[tuple[int, str]], dict[str, list[Contender]]]:
    """Kueue's cqHeapFromCandidates: owners by highest share first, each with its candidates in order."""
    by_owner: dict[str, list[Contender]] = {}
    for v in cands:
        lst = by_owner.setdefault(v.owner, [])
        if not lst or not first_only:
            lst.append(v)
    heap = [(-ledger.share(o), o) for o in by_owner]
    heapq.heapify(heap)
    return heap, by_owner


def _fair(
    ledger: Ledger, p: Contender, cands: list[Contender], strategies: Sequence[str], need: set[str]
) -> list[Contender] | None:
    """Kueue's fairPreemptions: take from the owner with the highest dominant resource
    share while the strategy allows, re-ranking owners after each eviction. As in Kueue,
    ``borrow_within_cohort`` plays no part here: shares alone decide."""
    heap, by_owner = _heap(ledger, cands, False)
    shares = {o: -s for s, o in heap}
    new_p = ledger.share(p.owner, p.usage)
    removed: list[Contender] = []
    retry: list[Contender] = []
    fits = False
    first = _STRATEGIES[strategies[0]]
    while heap and not fits:
        _, owner = heapq.heappop(heap)
        lst = by_owner[owner]
        if owner == p.owner:
            v = lst.pop(0)
            _remove(ledger, v)
            removed.append(v)
            if ledger.fits(p.owner, p.usage, True):
                fits = True
                break
            new_p = ledger.share(p.owner, p.usage)
            if lst:
                shares[owner] = ledger.share(owner)
                heapq.heappush(heap, (-shares[owner], owner))
            continue
        for i, v in enumerate(lst):
            new_v = ledger.share(owner, v.usage, -1)
            if first(new_p, shares[owner], new_v):
                _remove(ledger, v)
                removed.append(v)
                if ledger.fits(p.owner, p.usage, True):
                    fits = True
                    break
                del lst[: i + 1]
                if lst and ledger.borrowing(owner, need):
                    shares[owner] = new_v
                    heapq.heappush(heap, (-new_v, owner))
                break
            retry.append(v)
    if not fits and len(strategies) > 1:
        second = _STRATEGIES[strategies[1]]
        heap, by_owner = _heap(ledger, retry, True)
        shares = {o: -s for s, o in heap}
        while heap and not fits:
            _, owner = heapq.heappop(heap)
            if second(new_p, shares[owner], 0):
                v = by_owner[owner][0]
                _remove(ledger, v)
                removed.append(v)
                if ledger.fits(p.owner, p.usage, True):
                    fits = True
    return _settle(ledger, p, removed, fits, True)


def targets(ledger: Ledger, p: Contender, pool: Sequence[Contender], fallback: str) -> list[Contender] | None:
    """Kueue's GetTargets: the jobs to evict so that ``p`` fits its owner's quota, or
    ``None``. ``pool``: the running jobs that may be evicted at all (preemptible, outside
    ``min_runtime``, not already terminating) of ``p``'s owner and cohort."""
    q = ledger.quota(p.owner)
    assert q is not None
    need = ledger.need(p.owner, p.usage)
    cands = candidates_for(ledger, p, pool, fallback, need)
    if not cands:
        return None
    same = [v for v in cands if v.owner == p.owner]
    if len(same) == len(cands):
        return _minimal(ledger, p, cands, True, None, need)
    threshold: float | None = None
    borrow = q.borrow_within_cohort != "never"
    if borrow:
        threshold = p.priority
        if q.max_priority_threshold is not None and q.max_priority_threshold < threshold:
            threshold = q.max_priority_threshold + 1
    if ledger.quotas.fair_sharing:
        return _fair(ledger, p, cands, ledger.quotas.strategies, need)
    under = all(ledger.usage[p.owner][n] < q.nominal[n] for n in need)
    if borrow:
        if not under:
            assert threshold is not None
            cands = [v for v in cands if v.owner == p.owner or v.priority < threshold]
        return _minimal(ledger, p, cands, True, threshold, need)
    if under:
        got = _minimal(ledger, p, cands, False, None, need)
        if got:
            return got
    return _minimal(ledger, p, same, True, None, need)
