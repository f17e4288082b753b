"""Quotas within a cycle: who a quota'd job may evict, and the quota half of a plan.

The quota rules (Kueue's) live in :mod:`prioq.quota`; node fit in
:mod:`prioq.preemption`. A plan for a job over its quota is the quota victims
Kueue would choose (:func:`prioq.quota.targets`), plus -- only if the job then
still fits no node -- the node planner's victims among the jobs the quota rules
make eligible. Evicting never raises anyone's usage, so the union stays within
every quota. docs/quotas.md#preemption.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prioq.model import Job
from prioq.placement import NodeState
from prioq.preemption import Candidate, Plan, plan_preemption
from prioq.quota import Contender, Ledger, QuotaShape, eligible, targets, usage_of
from prioq.resources import Resources, fit
from prioq.scheduler._state import State
from prioq.selection import selection

__all__: list[str] = []


def contender(c: Candidate) -> Contender:
    job = c.job
    assert job.owner is not None
    return Contender(
        id=job.id, owner=job.owner, priority=c.priority, usage=usage_of(job.request, job.nodes),
        order=(job.submitted_at, c.seq, job.id), admitted_at=c.running.started_at,
    )


def preemptor(job: Job, priority: float, seq: int) -> Contender:
    assert job.owner is not None
    return Contender(
        id=job.id, owner=job.owner, priority=priority, usage=usage_of(job.request, job.nodes),
        order=(job.submitted_at, seq, job.id),
    )


class Eligible(Mapping[str, Candidate]):
    """The candidates a job may evict under the quota rules (a filtered view; each answer
    is computed once): a quota'd running job only as the quota rules allow, any other
    under the plain rules alone."""

    def __init__(
        self, ledger: Ledger, base: Mapping[str, Candidate], p: Contender | None, fallback: str
    ) -> None:
        self._ledger = ledger
        self._base = base
        self._p = p
        self._fallback = fallback
        self._seen: dict[str, bool] = {}

    def _ok(self, job_id: str) -> bool:
        got = self._seen.get(job_id)
        if got is None:
            c = self._base[job_id]
            if self._ledger.quota(c.job.owner) is None:
                got = True
            else:
                got = self._p is not None and eligible(self._ledger, self._p, contender(c), self._fallback)
            self._seen[job_id] = got
        return got

    def __getitem__(self, job_id: str) -> Candidate:
        if job_id not in self:
            raise KeyError(job_id)
        return self._base[job_id]

    def __contains__(self, job_id: object) -> bool:
        return isinstance(job_id, str) and job_id in self._base and self._ok(job_id)

    def __iter__(self) -> Iterator[str]:
        return (j for j in self._base if self._ok(j))

    def __len__(self) -> int:
        return sum(1 for _ in self)


def eligible_view(
    state: State, job: Job, priority: float, seq: int, base: Mapping[str, Candidate]
) -> Mapping[str, Candidate]:
    ledger = state.ledger
    if ledger is None:
        return base
    p = preemptor(job, priority, seq) if ledger.quota(job.owner) is not None else None
    return Eligible(ledger, base, p, state.policy.preemption.policy)


def quota_plan(
    state: State,
    job: Job,
    priority: float,
    seq: int,
    base: Mapping[str, Candidate],
    now: float,
    allow: Callable[[NodeState, Resources], bool],
) -> Plan | None:
    """Victims that bring ``job`` within its quota and a node, or ``None``. O(c log c) for
    the c running jobs of its owner and cohort, plus a node plan when needed."""
    ledger = state.ledger
    assert ledger is not None and job.owner is not None
    pol = state.policy.preemption
    p = preemptor(job, priority, seq)
    quota = ledger.quota(job.owner)
    assert quota is not None
    owners = [job.owner] if quota.cohort is None else ledger.members[quota.cohort]
    pool = []
    for owner in owners:
        for job_id in sorted(ledger.running[owner]):
            c = base.get(job_id)
            if c is not None and now - c.running.started_at >= pol.min_runtime:
                pool.append(contender(c))
    chosen = targets(ledger, p, pool, pol.policy)
    if chosen is None:
        return None
    victims = tuple(v.id for v in chosen)
    nodes = _fits_after(state, job, victims, allow)
    if nodes is not None:
        return Plan(victims=victims, node_ids=nodes)
    rest = {j: c for j, c in eligible_view(state, job, priority, seq, base).items() if j not in victims}
    plan = plan_preemption(
        job, priority, seq, state.index_for(job), rest, pol, now, allow,
        state.capable_nodes(job.request, selection(job)),
    )
    if plan is None:
        return None
    return Plan(victims=victims + tuple(v for v in plan.victims if v not in victims), node_ids=plan.node_ids)


def _fits_after(
    state: State, job: Job, victims: tuple[str, ...], allow: Callable[[NodeState, Resources], bool]
) -> tuple[str, ...] | None:
    """The first ``job.nodes`` nodes (node order) where the job fits once ``victims`` left."""
    freed: dict[str, Resources] = {}
    for v in victims:
        run = state.runs[v].running
        for nid, alloc in zip(run.node_ids, run.allocation, strict=True):
            freed[nid] = freed.get(nid, Resources()) + alloc
    chosen: list[str] = []
    for ns in state.capable_nodes(job.request, selection(job)):  # eligible nodes only
        free = ns.free + freed[ns.id] if ns.id in freed else ns.free
        got = fit(job.request, free)
        if got is not None and allow(ns, got):
            chosen.append(ns.id)
            if len(chosen) == job.nodes:
                return tuple(sorted(chosen))
    return None


def park(state: State, job: Job, owner: str, preemption: tuple[object, ...]) -> None:
    """Park a pending job blocked by its owner's quota (see :class:`prioq.quota.QuotaShape`);
    only through the state's journaled mutators."""
    if state.queue.is_parked(job.id):
        state.unpark(job.id)
    state.park(job.id, QuotaShape(owner, job.request, job.nodes, preemption))
