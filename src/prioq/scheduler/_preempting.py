"""Preemption within a cycle: whom a blocked job may evict, planned as cheaply as possible.

The rules (who may evict whom, victims per node, the node order) live in
:mod:`prioq.preemption`; this module decides *when* to ask them, because a
plan costs O(nodes x running) and a full cluster asks on every blocked job.
Three shortcuts, each keyed on what can change its answer:

* no plan is tried for a job that ranks no higher than every running candidate;
* within a cycle, a request that found no victims at priority p cannot find any
  at a priority <= p (claims, starts and victims only make it harder);
* across cycles, a failed plan stays failed while the state version is the same
  and no running job's ``min_runtime`` protection has ended
  (:attr:`Caches.preempt_fail <prioq.scheduler._state.Caches.preempt_fail>`) --
  unless a job started earlier in the same cycle could have been a victim: the
  cycle never evicts a job it just started, but the next one may, at the same
  state version, so that failure is not remembered.

Disruption budgets (``Preemption.budgets``) are counted here, once per cycle from
the running jobs, and kept up to date as the cycle marks victims (a terminating
job counts as disrupted).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping

from prioq.model import Decision, Job, Preempt, Reason, Start
from prioq.preemption import Candidate, Disruptions, Plan, plan_preemption
from prioq.resources import ResourceRequest
from prioq.scheduler._backfill import Claim, Claims
from prioq.scheduler._quota import eligible_view, quota_plan
from prioq.scheduler._state import INF, ReasonText, State
from prioq.selection import Selection, selection

__all__ = ["Preempting"]


def _veto_key(claims: Claims, job: Job, now: float) -> Callable[[str], object]:
    """What ``claims.allow_for(job)`` decides on on a node: the claims there that bind
    ``job`` and do not spare it, by what they need and have left (a key for remembering
    node plans, across cycles too: claims are rebuilt every cycle, their values are not)."""
    estimate = job.estimate
    end = INF if estimate is None else now + estimate
    priority = claims.state.preemption_priority(job, now) if claims else None
    binds: dict[str, bool] = {}  # per owner, as in Claims.allow_for

    def bound(c: Claim) -> bool:
        b = binds.get(c.owner)
        if b is None:
            b = binds[c.owner] = claims.binding(c, job, priority)
        return b

    def key(node_id: str) -> object:
        on = claims.on(node_id)
        if not on:
            return ()
        return tuple((c.request, c.projected) for c in on if bound(c) and not c.spares(end))

    return key


class _Candidates(Mapping[str, Candidate]):
    """The cycle's candidates: the state's :class:`~prioq.preemption.CandidateIndex`
    (kept up to date as jobs start, stop and are told to stop) minus the jobs started
    in this very cycle, which the cycle never evicts. O(1) per lookup."""

    def __init__(self, cands: Mapping[str, Candidate], started: set[str]) -> None:
        self._cands = cands
        self._started = started

    def __getitem__(self, job_id: str) -> Candidate:
        if job_id in self._started:
            raise KeyError(job_id)
        return self._cands[job_id]

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._cands and job_id not in self._started

    def __iter__(self) -> Iterator[str]:
        return (j for j in self._cands if j not in self._started)

    def __len__(self) -> int:
        return sum(1 for _ in self)


class Preempting:
    """One cycle's preemption step."""

    def __init__(self, state: State, now: float, started: set[str]) -> None:
        self.state = state
        self.now = now
        self.started = started
        self._candidates = _Candidates(state.cindex.cands, started)
        self._expiry: float | None = None
        # node plans (see plan_preemption's memo), kept across cycles: each holds while its
        # node's stamp does and until a protection there ends; see forget_started()
        self._memo = state.caches.node_plans
        if sum(len(v) for v in self._memo.values()) > 65536:  # bounded
            self._memo.clear()
        # (request, gang size) -> highest priority that found no victims this cycle
        self._failed_at: dict[tuple[ResourceRequest, int, float | None, Selection | None], float] = {}
        # disruption budgets, counted once per cycle on first use
        self._disruptions: Disruptions | None = None
        # jobs started earlier in this cycle that a later plan might have evicted:
        # the lowest preemption priority among them, and how many decisions were read
        self._started_floor = INF
        self._decisions_read = 0
        self._quota_failed: set[tuple[object, ...]] = set()  # see _attempt_quota

    def candidates(self) -> Mapping[str, Candidate]:
        """Running jobs preemption may consider (a view, O(1))."""
        return self._candidates

    def allowed(self) -> dict[str, int]:
        """Per budgeted group, the disruptions it still allows; counted once per cycle. O(running)."""
        if self._disruptions is None:
            runs = self.state.runs.values()
            self._disruptions = Disruptions(
                self.state.policy.preemption, ((r.job, r.preempted_by is not None) for r in runs)
            )
        return self._disruptions.allowed

    def _disrupted(self, victim: Job) -> None:
        """``victim`` now terminates: it counts as disrupted for its group's budget. O(1)."""
        if self._disruptions is not None:
            self._disruptions.disrupt(victim)

    def _started_could_be_victims(self, job: Job, priority: float, decisions: list[Decision]) -> bool:
        """Whether a job started earlier in this cycle (excluded from its candidates) might
        be a victim of ``job`` in the next cycle, at the same state version. Amortized O(1):
        the cycle's decisions are read once, in order."""
        s = self.state
        pol = s.policy.preemption
        for d in decisions[self._decisions_read:]:
            if isinstance(d, Start) and d.job_id in s.runs:
                run = s.runs[d.job_id]
                if run.job.preemptible:
                    self._started_floor = min(self._started_floor, s.candidate(run).priority)
        self._decisions_read = len(decisions)
        # Conservative under lower-or-newer-equal (an equal one may be older): skipping
        # a cache entry only costs a replan. min_runtime > 0 protects them now, and the
        # entry's expiry covers the end of that protection.
        return pol.min_runtime == 0 and self._ranks_above(priority, self._started_floor)

    def _ranks_above(self, priority: float, floor: float) -> bool:
        strict = self.state.policy.preemption.policy == "lower-priority"
        return priority > floor or (priority == floor and not strict)

    def attempt(
        self, job: Job, claims: Claims, decisions: list[Decision], over_quota: bool = False
    ) -> ReasonText | None:
        """Nominate ``job`` and append its ``Preempt`` decisions, or ``None`` if no plan exists.

        ``over_quota``: the job is over its owner's quota; the plan must bring it within
        (:func:`prioq.scheduler._quota.quota_plan`). With quotas, victims are only those
        the quota rules allow (docs/quotas.md#preemption)."""
        s = self.state
        pol = s.policy.preemption
        prio = s.preemption_priority(job, self.now)
        if s.ledger is not None:
            return self._attempt_quota(job, prio, claims, decisions, over_quota)
        # Under a reservation a job that ends before it starts is spared (EASY backfill):
        # jobs of one request but other durations are not interchangeable then.
        spared_by = job.estimate if claims.reserved_for is not None else None
        sel = selection(job)  # victims only on nodes the job may use
        fail_key = (
            job.request, job.nodes, prio, s.class_may_preempt(job), claims.reserved_for, spared_by,
            job.submitted_at if pol.policy == "lower-or-newer-equal" else None, sel,
        )
        if s.plan_failed(fail_key, self.now):
            return None
        candidates = self.candidates()
        # the lowest candidate priority (jobs started in this cycle included: a lower
        # bound, so at worst a plan is tried for nothing)
        if not self._ranks_above(prio, s.cindex.floor()):
            return None  # nobody running ranks below it
        shape = (job.request, job.nodes, spared_by, sel)
        failed_at = self._failed_at.get(shape)
        if failed_at is not None and not self._ranks_above(prio, failed_at):
            return None  # an equal request of higher priority found no victims this cycle
        plan = plan_preemption(
            job,
            prio,
            s.queue.seq_of(job.id),
            s.placement_index(sel),
            candidates,
            pol,
            self.now,
            claims.allow_for(job),
            None,
            self.allowed() if pol.has_budgets else {},
            cindex=s.cindex,
            memo=self._memo,
            veto_key=_veto_key(claims, job, self.now),
            capable_ids=self._capable_ids(job.request, sel),
        )
        if plan is None:
            # a user rule may answer differently later at the same version: no failure kept
            if pol.rule is None and not self._started_could_be_victims(job, prio, decisions):
                # valid until the version moves (starts, releases, nominations, node changes:
                # each bumps it) or a protection window ends
                s.remember_failed_plan(fail_key, self._protection_ends())
            self._failed_at[shape] = max(prio, self._failed_at.get(shape, -INF))
            return None
        return self._carry_out(job, plan, decisions)

    def _attempt_quota(
        self, job: Job, prio: float, claims: Claims, decisions: list[Decision], over_quota: bool
    ) -> ReasonText | None:
        """A plan under quotas: no shortcuts by priority (reclaiming may evict higher jobs),
        no node plan memo (eligibility depends on the owner); failures are still cached,
        keyed on the owner too."""
        s = self.state
        pol = s.policy.preemption
        sel = selection(job)
        fail_key = ("quota", job.request, job.nodes, prio, job.owner, over_quota, job.submitted_at,
                    claims.reserved_for, job.estimate if claims.reserved_for is not None else None, sel)
        # Within a cycle usage only grows and candidates only shrink, and later jobs are newer:
        # an equal job of the same owner that found no plan means this one finds none either.
        cycle_key = fail_key[:6] + fail_key[7:]
        if cycle_key in self._quota_failed or s.plan_failed(fail_key, self.now):
            return None
        seq = s.queue.seq_of(job.id)
        allow = claims.allow_for(job)
        if over_quota:
            plan = quota_plan(s, job, prio, seq, self.candidates(), self.now, allow)
        else:
            plan = plan_preemption(
                job, prio, seq, s.placement_index(sel), eligible_view(s, job, prio, seq, self.candidates()),
                pol, self.now, allow, s.capable_nodes(job.request, sel),
                self.allowed() if pol.has_budgets else {},
            )
        if plan is None:
            self._quota_failed.add(cycle_key)
            if not self.started and pol.rule is None:  # started jobs may be victims next cycle
                s.remember_failed_plan(fail_key, self._protection_ends())
            return None
        return self._carry_out(job, plan, decisions)

    def _carry_out(self, job: Job, plan: Plan, decisions: list[Decision]) -> ReasonText:
        s = self.state
        pol = s.policy.preemption
        for victim in plan.victims:
            vrun = s.runs[victim]
            s.mark_victim(victim, job.id)  # also drops it from the candidates
            self._disrupted(vrun.job)
            node_ids = vrun.running.node_ids
            decisions.append(Preempt(job_id=victim, node_ids=node_ids, by=job.id, grace=pol.grace))
        s.nominate(job.id, plan.node_ids)
        return Reason.PREEMPTING, f"preempting {', '.join(plan.victims)} on {', '.join(plan.node_ids)}"

    def _capable_ids(self, request: ResourceRequest, sel: Selection | None = None) -> frozenset[str]:
        """Ids of the nodes that could ever hold ``request`` among those selection ``sel`` may
        use: built once per list of capable nodes (:meth:`State.capable_nodes`, rebuilt after
        node changes, cordons and uncordons). O(1)."""
        nodes = self.state.capable_nodes(request, sel)
        cache = self.state.caches.capable_ids
        key = request if sel is None else (request, sel)
        got = cache.get(key)
        if got is None or got[0] is not nodes:
            got = cache[key] = (nodes, frozenset(ns.id for ns in nodes))
        return got[1]

    def forget_started(self, node_ids: Iterable[str]) -> None:
        """At the end of a cycle: forget the node plans of the nodes a start touched. A plan
        made there after the start left the new job out (the cycle never evicts a job it
        just started), at a stamp the next cycle would still match. O(nodes)."""
        for nid in node_ids:
            self._memo.pop(nid, None)

    def _protection_ends(self) -> float:
        """When the next ``min_runtime`` protection of a running job ends (``inf``: none
        will). O(running) once per cycle; jobs started in the cycle end theirs at
        ``now + min_runtime``."""
        pol = self.state.policy.preemption
        if pol.min_runtime == 0:
            return INF  # nothing is protected
        if self._expiry is None:
            self._expiry = min(
                (r.running.started_at + pol.min_runtime for r in self.state.runs.values()
                 if r.running.started_at + pol.min_runtime > self.now),
                default=INF,
            )
        if self.started:
            return min(self._expiry, self.now + pol.min_runtime)
        return self._expiry
