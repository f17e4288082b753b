"""Quota usage, kept incrementally: per owner, per cohort, and what may still be admitted.

:class:`Ledger` holds, per quota'd owner, its usage per named resource, and per
cohort the sum over its members of what they use beyond their guaranteed part
(the cohort's pool in use). Starting or stopping a job changes them in
O(resources); the scheduler's State journals each change, so a rollback restores
them. Availability is Kueue's (``pkg/cache/resource_node.go``, flat cohorts)::

    guaranteed = nominal - lending_limit      (0 without a lending limit)
    pool(c)    = sum over members of (nominal - guaranteed)   -- lendable
    used(c)    = sum over members of max(0, usage - guaranteed)
    available  = max(0, guaranteed - usage) + min(pool(c) - used(c),
                 nominal - guaranteed - max(0, usage - guaranteed) + borrowing_limit)

and without a cohort ``available = nominal - usage``. An owner borrows when its
usage of some resource exceeds its nominal quota.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import attrs

from prioq.quota._config import Amounts, Quota, Quotas, show
from prioq.resources import ResourceRequest

__all__ = ["Ledger", "QuotaShape"]

MAX_SHARE = 2**63 - 1
"""Kueue's share of a borrowing owner of weight 0 (math.MaxInt)."""


@attrs.frozen(slots=True)
class QuotaShape:
    """Where pending jobs blocked by their owner's quota are parked: one queue per owner and
    request shape (plus, under preemption, the priority and whether it may preempt). A
    cycle visits only the head of each (as for any parked shape): if the head does not fit
    its owner's quota, no job behind it does -- same owner, same usage, no more options
    (docs/quotas.md#rules)."""

    owner: str
    request: ResourceRequest
    nodes: int
    preemption: tuple[object, ...] = ()


class Ledger:
    """Per owner usage and per cohort pool usage, with Kueue's availability rules."""

    def __init__(self, quotas: Quotas, weights: Mapping[str, float] | None = None) -> None:
        self.quotas = quotas
        self.weights: Mapping[str, float] = {} if weights is None else weights
        self.usage: dict[str, dict[str, int]] = {o: dict.fromkeys(q.nominal, 0) for o, q in quotas.owners}
        self.members = quotas.cohorts()
        self.pool: dict[str, dict[str, int]] = {}
        self.used: dict[str, dict[str, int]] = {}
        for cohort, owners in self.members.items():
            pool = self.pool[cohort] = {}
            for owner in owners:
                q = quotas.get(owner)
                assert q is not None
                for name, amount in q.nominal.items():
                    pool[name] = pool.get(name, 0) + amount - q.guaranteed(name)
            self.used[cohort] = dict.fromkeys(pool, 0)
        self.running: dict[str, set[str]] = {o: set() for o, _ in quotas.owners}
        """Owner -> its running jobs (terminating ones included: they hold quota until released)."""
        self.borrowing_jobs: dict[str, str] = {}
        """Running jobs admitted while their owner borrowed -> their cohort (persisted marks)."""

    # ------------------------------------------------------------------ changes

    def charge(
        self, owner: str, job_id: str, usage: Mapping[str, int], sign: int, track: bool = True
    ) -> None:
        """A job of ``owner`` starts (``sign=1``) or stops (``-1``). O(resources). Not journaled
        here: the caller records the inverse call. ``track=False``: only the amounts change
        (a nominated job's quota held during a cycle), not the running set."""
        q = self.quotas.get(owner)
        assert q is not None
        mine = self.usage[owner]
        pool_used = self.used.get(q.cohort) if q.cohort is not None else None
        for name in mine:
            amount = usage.get(name, 0)
            if not amount:
                continue
            before = mine[name]
            after = mine[name] = before + sign * amount
            if pool_used is not None:
                g = q.guaranteed(name)
                pool_used[name] += max(0, after - g) - max(0, before - g)
        if not track:
            return
        if sign > 0:
            self.running[owner].add(job_id)
        else:
            self.running[owner].discard(job_id)

    # ------------------------------------------------------------------ reads

    def quota(self, owner: str | None) -> Quota | None:
        return self.quotas.get(owner)

    def available(self, owner: str, name: str) -> int:
        """How much more of ``name`` the owner may take now, borrowing included. O(1)."""
        q = self.quotas.get(owner)
        assert q is not None
        u = self.usage[owner][name]
        nominal = q.nominal[name]
        if q.cohort is None:
            return nominal - u
        g = q.guaranteed(name)
        local = max(0, g - u)
        parent = self.pool[q.cohort][name] - self.used[q.cohort][name]
        if q.borrowing_limit is not None and name in q.borrowing_limit:
            parent = min(parent, nominal - g - max(0, u - g) + q.borrowing_limit[name])
        return local + parent

    def fits(self, owner: str, usage: Mapping[str, int], allow_borrowing: bool = True) -> bool:
        """Kueue's workloadFits: within what is available, and (without borrowing) within
        nominal. O(resources)."""
        q = self.quotas.get(owner)
        assert q is not None
        mine = self.usage[owner]
        for name in mine:
            amount = usage.get(name, 0)
            if not amount:
                continue
            if not allow_borrowing and mine[name] + amount > q.nominal[name]:
                return False
            if amount > self.available(owner, name):
                return False
        return True

    def need(self, owner: str, usage: Mapping[str, int]) -> set[str]:
        """The resources the job does not fit in now (those preemption must free)."""
        return {n for n in self.usage[owner] if usage.get(n, 0) > self.available(owner, n)}

    def ever_fits(self, owner: str, usage: Mapping[str, int]) -> bool:
        """Whether the job could fit were nothing else running (else it waits forever)."""
        q = self.quotas.get(owner)
        assert q is not None
        for name in self.usage[owner]:
            amount = usage.get(name, 0)
            if not amount:
                continue
            most = q.nominal[name]
            if q.cohort is not None:
                g = q.guaranteed(name)
                most = g + self.pool[q.cohort][name]
                if q.borrowing_limit is not None and name in q.borrowing_limit:
                    most = min(most, q.nominal[name] + q.borrowing_limit[name])
            if amount > most:
                return False
        return True

    def borrowing(self, owner: str, names: Iterable[str] | None = None) -> bool:
        """Whether the owner uses more than its nominal quota of some resource (of ``names``)."""
        q = self.quotas.get(owner)
        if q is None:
            return False
        mine = self.usage[owner]
        return any(mine.get(n, 0) > q.nominal[n] for n in (mine if names is None else names) if n in mine)

    def may_preempt(self, owner: str, fallback: str) -> bool:
        """Whether the owner's quota lets its jobs evict anyone at all to fit it (``fallback``:
        ``within_owner`` when the quota leaves it ``None``)."""
        q = self.quotas.get(owner)
        assert q is not None
        within = q.within_owner if q.within_owner is not None else fallback
        if within != "never":
            return True
        # other owners' jobs are candidates only through reclaiming (Kueue's findCandidates)
        return q.cohort is not None and q.reclaim_within_cohort != "never"

    def weight_milli(self, owner: str) -> int:
        w = self.weights.get(owner, 1.0)
        return round(float(w) * 1000)

    def share(self, owner: str, delta: Mapping[str, int] | None = None, sign: int = 1) -> int:
        """Kueue's dominant resource share (``DominantResourceShare``): over the resources the
        owner borrows, the largest ``borrowed * 1000 // lendable`` of its cohort, times 1000
        divided by the owner's weight in milli (so weight 1 leaves it as is); 0 when not
        borrowing, the largest int when borrowing with weight 0. ``delta``: as if a job of
        that usage were added (``sign=1``) or removed (``-1``). O(resources)."""
        q = self.quotas.get(owner)
        if q is None or q.cohort is None:
            return 0
        mine = self.usage[owner]
        drs = -1
        for name, used in mine.items():
            if delta is not None:
                used += sign * delta.get(name, 0)
            borrowed = used - q.nominal[name]
            lendable = self.pool[q.cohort].get(name, 0)
            if borrowed > 0 and lendable > 0:
                drs = max(drs, borrowed * 1000 // lendable)
        if drs < 0:
            return 0
        weight = self.weight_milli(owner)
        if weight == 0:
            return MAX_SHARE
        return drs * 1000 // weight

    def describe(self, owner: str, usage: Mapping[str, int]) -> str:
        """What is over: per resource the job does not fit in, requested + in use vs nominal
        (and what the cohort lets it borrow)."""
        q = self.quotas.get(owner)
        assert q is not None
        parts = []
        for name in sorted(self.need(owner, usage), key=lambda n: list(q.nominal).index(n)):
            amount = usage.get(name, 0)
            used = self.usage[owner][name]
            text = f"{name}: {show(name, amount)} requested + {show(name, used)} in use > "
            if q.cohort is None:
                text += f"nominal {show(name, q.nominal[name])}"
            else:
                room = max(0, self.available(owner, name))
                lent = q.nominal[name] - used - room
                if lent > 0:  # its own nominal quota is in use by others: back only by reclaiming
                    text += (
                        f"{show(name, used + room)} it may hold now: nominal {show(name, q.nominal[name])}, "
                        f"{show(name, lent)} of it lent within cohort {q.cohort}"
                    )
                else:
                    text += (
                        f"nominal {show(name, q.nominal[name])} + borrowable "
                        f"{show(name, room + used - q.nominal[name])} from cohort {q.cohort}"
                    )
            parts.append(text)
        return "; ".join(parts)

    def borrowed(self, owner: str) -> Amounts:
        """What the owner uses beyond its nominal quota now."""
        q = self.quotas.get(owner)
        assert q is not None
        return Amounts.of({n: u - q.nominal[n] for n, u in self.usage[owner].items() if u > q.nominal[n]})

    def _check(self, expected: Mapping[str, Mapping[str, int]]) -> None:
        """Invariants against a recount of the running jobs (stress tests)."""
        for owner, q in self.quotas.owners:
            assert self.usage[owner] == {n: expected.get(owner, {}).get(n, 0) for n in q.nominal}, owner
        for cohort, owners in self.members.items():
            for name in self.pool[cohort]:
                total = 0
                for owner in owners:
                    mq = self.quotas.get(owner)
                    assert mq is not None
                    if name in mq.nominal:
                        total += max(0, self.usage[owner][name] - mq.guaranteed(name))
                assert self.used[cohort][name] == total, (cohort, name)
                assert total <= self.pool[cohort][name], (cohort, name)
