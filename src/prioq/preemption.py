"""Preemption: who may preempt whom, and which victims to evict (docs/preemption.md)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from collections.abc import Set as AbstractSet
from fractions import Fraction
from typing import Literal

import attrs
from sortedcontainers import SortedList

from prioq import _validate as v
from prioq.errors import InvalidPolicy
from prioq.model import Job, Running
from prioq.placement import NodeIndex, NodeState
from prioq.resources import ResourceRequest, Resources, fit

__all__ = [
    "Candidate",
    "CandidateIndex",
    "Disruptions",
    "Plan",
    "Preemption",
    "disruptions_allowed",
    "max_disruptions",
    "may_preempt",
    "plan_preemption",
]

PreemptionPolicy = Literal["never", "lower-priority", "lower-or-newer-equal"]
NodeOrder = Literal["kubernetes", "least-lost-work"]
CandidateNodes = Literal["all", "sampled"]
Budget = int | str
"""A disruption budget: at most this many (an int >= 0) or this share (``"25%"``) of a
group's running jobs disrupted at once (Kubernetes' ``maxUnavailable``)."""

# Kubernetes adds MaxInt32 + 1 to every victim priority before summing them
# (pickOneNodeForPreemption), so that with int32 priorities every term is >= 0.
K8S_PRIORITY_OFFSET = 2**31
_PERCENT = re.compile(r"([0-9]{1,3})%")


def _budget(value: object, what: str) -> Budget:
    if isinstance(value, str):
        m = _PERCENT.fullmatch(value)
        if m is None or int(m.group(1)) > 100:
            raise InvalidPolicy(f"{what}: expected an int >= 0 or a percentage '0%'..'100%', got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, int):
        raise v.wrong_type(
            InvalidPolicy, f"{what}: expected an int >= 0 or a percentage like '25%', got {value!r}"
        )
    return v.integer(value, what, error=InvalidPolicy, minimum=0, maximum=v.MAX_COUNTER)


def _budgets(value: object) -> tuple[tuple[str, Budget], ...]:
    """``{group: budget}`` (or pairs) as a sorted tuple: hashable, so a Preemption stays a value."""
    if isinstance(value, Mapping):
        items = list(value.items())
    elif isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise v.wrong_type(
            InvalidPolicy, f"preemption budgets: expected a mapping group -> budget, got {value!r}"
        )
    else:
        items = []
        for pair in value:
            if not isinstance(pair, tuple) or len(pair) != 2:
                raise v.wrong_type(
                    InvalidPolicy, f"preemption budgets: expected (group, budget) pairs, got {pair!r}"
                )
            items.append(pair)
    out: dict[str, Budget] = {}
    for group, budget in items:
        name = v.identifier(group, "preemption budgets group", error=InvalidPolicy)
        if name in out:
            raise InvalidPolicy(f"preemption budgets: group {name!r} given twice")
        out[name] = _budget(budget, f"preemption budget of group {name!r}")
    return tuple(sorted(out.items()))


@attrs.frozen(slots=True, kw_only=True)
class Preemption:
    """Preemption rules.

    * ``policy``: ``"never"``; ``"lower-priority"`` (victims have strictly lower
      priority); ``"lower-or-newer-equal"`` (also equal priority submitted later,
      Kueue's LowerOrNewerEqualPriority).
    * ``min_runtime``: a job that started less than this many seconds ago is
      protected (Slurm's PreemptExemptTime).
    * ``grace``: seconds a victim gets to stop, reported on each ``Preempt``.
    * ``max_victims``: at most this many victims (gang members count once per gang) per preemptor.
    * ``requeue``: a released victim goes back to the queue (else it is dropped).
    * ``compare``: ``"base"`` priorities (default; aging never licenses eviction)
      or ``"effective"`` (a running job's effective priority is frozen at its start).
    * ``node_order``: how the node to preempt on is chosen: ``"kubernetes"``
      (default; Kubernetes' ``pickOneNodeForPreemption``) or ``"least-lost-work"``
      (the same, with the fewest GPU-seconds lost before the start-time rule).
    * ``budgets``: disruption budgets per ``Job.group`` (``{"group-a": 1,
      "group-b": "25%"}``); ``default_budget`` applies to every other group.
      Plans that violate no budget are preferred (Kubernetes' PodDisruptionBudget).
    * ``candidates``: ``"all"`` (default: the exact planner, the best node of the whole
      cluster) or ``"sampled"`` (Kubernetes' candidate sampling: only
      ``max(10% of nodes, 100)`` nodes, a window of the node order starting at an
      offset that rotates with the preemptor's arrival sequence number; faster, and
      the plan is valid but may not be the cluster's best).
    """

    policy: PreemptionPolicy = "never"
    min_runtime: float = 0.0
    grace: float = 0.0
    max_victims: int | None = None
    requeue: bool = True
    compare: Literal["base", "effective"] = "base"
    node_order: NodeOrder = "kubernetes"
    budgets: tuple[tuple[str, Budget], ...] = attrs.field(default=(), converter=_budgets)
    default_budget: Budget | None = None
    candidates: CandidateNodes = "all"

    def __attrs_post_init__(self) -> None:
        v.choice(self.policy, ("never", "lower-priority", "lower-or-newer-equal"), "preemption policy",
                 error=InvalidPolicy)
        v.number(self.min_runtime, "preemption min_runtime", error=InvalidPolicy, minimum=0)
        v.number(self.grace, "preemption grace", error=InvalidPolicy, minimum=0)
        if self.max_victims is not None:
            v.integer(self.max_victims, "preemption max_victims", error=InvalidPolicy, minimum=1,
                      maximum=v.MAX_COUNTER)
        v.boolean(self.requeue, "preemption requeue", error=InvalidPolicy)
        v.choice(self.compare, ("base", "effective"), "preemption compare", error=InvalidPolicy)
        v.choice(self.node_order, ("kubernetes", "least-lost-work"), "preemption node_order",
                 error=InvalidPolicy)
        if self.default_budget is not None:
            _budget(self.default_budget, "preemption default_budget")
        v.choice(self.candidates, ("all", "sampled"), "preemption candidates", error=InvalidPolicy)

    @property
    def enabled(self) -> bool:
        return self.policy != "never"

    @property
    def has_budgets(self) -> bool:
        return bool(self.budgets) or self.default_budget is not None

    def budget(self, group: str | None) -> Budget | None:
        """The disruption budget of ``group`` (``None``: unlimited). O(groups with a budget)."""
        if group is None:
            return None
        for name, budget in self.budgets:
            if name == group:
                return budget
        return self.default_budget


def max_disruptions(budget: Budget, running: int) -> int:
    """How many of a group's ``running`` jobs its budget lets be disrupted at once: ``budget``
    itself, or the percentage of ``running`` rounded up (as Kubernetes rounds ``maxUnavailable``)."""
    if isinstance(budget, str):
        return -(-int(budget[:-1]) * running // 100)
    return budget


class Disruptions:
    """Per group with a budget: its running jobs and how many of them are disrupted
    (terminating); ``allowed[group]`` is how many more may be disrupted now
    (Kubernetes' ``PodDisruptionBudget.status.disruptionsAllowed``).

    ``running``: every running job with whether it is already terminating (told to
    stop). Groups without a budget are absent (unlimited). Built in O(running);
    :meth:`disrupt` keeps it true as a cycle marks victims, O(1).
    """

    def __init__(self, policy: Preemption, running: Iterable[tuple[Job, bool]]) -> None:
        self._policy = policy
        self._counts: dict[str, list[int]] = {}  # group -> [running, terminating]
        if policy.has_budgets:
            for job, terminating in running:
                group = job.group
                if group is not None and policy.budget(group) is not None:
                    counts = self._counts.setdefault(group, [0, 0])
                    counts[0] += 1
                    counts[1] += terminating
        self.allowed: dict[str, int] = {group: self._left(group) for group in self._counts}

    def _left(self, group: str) -> int:
        budget = self._policy.budget(group)
        assert budget is not None
        running, stopping = self._counts[group]
        return max(0, max_disruptions(budget, running) - stopping)

    def disrupt(self, job: Job) -> None:
        """``job`` was told to stop: it now counts as disrupted for its group. O(1)."""
        group = job.group
        if group is not None and group in self._counts:
            self._counts[group][1] += 1
            self.allowed[group] = self._left(group)


def disruptions_allowed(policy: Preemption, running: Iterable[tuple[Job, bool]]) -> dict[str, int]:
    """Per group with a budget, how many more of its jobs may be disrupted now (see
    :class:`Disruptions`). O(running)."""
    return Disruptions(policy, running).allowed


@attrs.frozen(slots=True, kw_only=True)
class Candidate:
    """A running job as preemption sees it: ``priority`` is what comparisons use
    (base, or the effective priority frozen when it first started)."""

    running: Running
    priority: float
    seq: int

    @property
    def job(self) -> Job:
        return self.running.job


@attrs.frozen(slots=True, kw_only=True)
class Plan:
    """Victims to evict (whole gangs) and the nodes the preemptor is nominated to.

    ``violations``: how many victims violate a disruption budget, summed over the
    chosen nodes (Kubernetes' ``NumPDBViolations``); 0 without budgets."""

    victims: tuple[str, ...]
    node_ids: tuple[str, ...]
    violations: int = 0


def may_preempt(
    policy: Preemption,
    preemptor: Job,
    priority: float,
    seq: int,
    victim: Candidate,
    now: float,
) -> bool:
    """Whether ``preemptor`` (comparing at ``priority``) may evict ``victim`` now. O(1).

    Never a non-preemptible job, never one inside ``min_runtime``, never one of
    equal or higher priority -- except, under ``lower-or-newer-equal``, an equal
    one submitted later. The relation follows a fixed strict order on
    (priority, age), so two jobs can never preempt each other back and forth.
    """
    vjob = victim.job
    if policy.policy == "never" or not vjob.preemptible:
        return False
    if now - victim.running.started_at < policy.min_runtime:
        return False
    if victim.priority < priority:
        return True
    if policy.policy == "lower-or-newer-equal" and victim.priority == priority:
        return (vjob.submitted_at, victim.seq, vjob.id) > (preemptor.submitted_at, seq, preemptor.id)
    return False


# (budget violations, highest victim priority, adjusted priority sum, victims,
#  lost GPU-seconds (0 under the Kubernetes order), -earliest start of the
#  highest-priority victims, node id): smaller is better, compared in order.
Score = tuple[int, float, int | Fraction | float, int, float, float, str]


@attrs.frozen(slots=True)
class _NodePlan:
    score: Score
    node_id: str
    victims: tuple[str, ...]


def _exact(priority: float) -> int | Fraction:
    """A priority as an exact number, so sums of many large priorities lose nothing."""
    p = float(priority)
    return int(p) if p.is_integer() else Fraction(p)


def _importance(c: Candidate) -> tuple[float, float, int, str]:
    # Kubernetes' MoreImportantPod: higher priority first, then the earlier start.
    return (-c.priority, c.running.started_at, c.seq, c.job.id)


def _split_by_budget(
    ordered: list[Candidate], allowed: Mapping[str, int]
) -> tuple[list[Candidate], list[Candidate]]:
    """Kubernetes' filterPodsWithPDBViolation on one node: walking the eligible jobs
    most important first, each one of a budgeted group uses one of the group's
    allowed disruptions; once none is left, the rest of the group violates. Stable."""
    if not allowed:
        return [], ordered
    left: dict[str, int] = {}
    violating: list[Candidate] = []
    fine: list[Candidate] = []
    for c in ordered:
        group = c.job.group
        if group is None or group not in allowed:
            fine.append(c)
            continue
        n = left[group] = left.get(group, allowed[group]) - 1
        (violating if n < 0 else fine).append(c)
    return violating, fine


def _node_plan(
    request: ResourceRequest,
    ns: NodeState,
    eligible: list[Candidate],
    policy: Preemption,
    now: float,
    allow: Callable[[NodeState, Resources], bool],
    allowed: Mapping[str, int],
) -> _NodePlan | None:
    """Kubernetes' per-node victim selection (selectVictimsOnNode): remove every
    eligible job, check the preemptor fits, then reprieve the most important first
    (priority descending, longer-running first) -- those whose eviction would violate
    a disruption budget before the others -- keeping as victims only those that
    cannot come back; the violations are the victims that violate.
    O(v log v + v*d) for v eligible jobs on the node."""
    free = ns.free
    for c in eligible:
        free = free + c.running.allocation_on(ns.id)
    alloc = fit(request, free)
    if alloc is None or not allow(ns, alloc):
        return None
    violating, fine = _split_by_budget(sorted(eligible, key=_importance), allowed)
    victims: list[Candidate] = []
    violations = 0
    for violates, group in ((1, violating), (0, fine)):
        for c in group:
            held = c.running.allocation_on(ns.id)
            back = free - held if held.fits_within(free) else None
            if back is not None and (a := fit(request, back)) is not None and allow(ns, a):
                free = back
            else:
                victims.append(c)
                violations += violates
    if policy.max_victims is not None and len(victims) > policy.max_victims:
        return None
    return _NodePlan(_score(victims, violations, policy, now, ns.id), ns.id, tuple(c.job.id for c in victims))


def _score(victims: list[Candidate], violations: int, policy: Preemption, now: float, node_id: str) -> Score:
    """The node-choice rules for one node's victims (docs/preemption.md#which-victims-on-which-node)."""
    if not victims:
        return (0, -math.inf, 0, 0, 0.0, -math.inf, node_id)
    top = max(c.priority for c in victims)
    # Kubernetes' GetEarliestPodStartTime: the earliest start among the
    # highest-priority victims only; the node where it is latest wins.
    earliest = min(c.running.started_at for c in victims if c.priority == top)
    adjusted = sum((_exact(c.priority) + K8S_PRIORITY_OFFSET for c in victims), start=0)
    lost = 0.0
    if policy.node_order == "least-lost-work":
        lost = sum(
            sum(r.gpu_milli for r in c.running.allocation) / 1000 * (now - c.running.started_at)
            for c in victims
        )
    return (violations, top, adjusted, len(victims), lost, -earliest, node_id)


# Nodes are filed by what one GPU count needs (1..GPU_LEVELS whole GPUs); a request
# for more uses the last level (a weaker but still valid bound), one for less than a
# whole GPU (or none) the lowest candidate priority on the node.
GPU_LEVELS = 8
_NEG = -math.inf
_Key = tuple[float, float, str]


class CandidateIndex:
    """Running jobs preemption may consider, per node, with the nodes filed by a lower
    bound on their preemption score: kept up to date by the scheduler as jobs start,
    stop, or are told to stop, so a decision need not look at every node.

    For each ``k`` in 0..:data:`GPU_LEVELS` the nodes are sorted by ``(t_k,
    -latest start among the candidates of priority t_k, node id)``, where ``t_k`` is
    the lowest priority ``t`` such that the node's free GPUs plus those of its
    candidates of priority <= ``t`` reach ``k`` whole GPUs (``-inf`` when free GPUs
    already do; for ``k = 0`` the lowest candidate priority). A preemptor needing at
    least ``k`` GPUs must evict a victim of priority >= ``t_k`` there, which bounds the
    node's score from below (:meth:`bound`). Updating a node costs
    O(j log j + levels * log N) for its j candidates, paid lazily: a change only marks
    the node, and the first read after it refiles every marked node (most starts and
    releases are never followed by a preemption decision).
    """

    def __init__(self) -> None:
        self.cands: dict[str, Candidate] = {}
        self.on_node: dict[str, dict[str, Candidate]] = {}
        self.nodes: dict[str, NodeState] = {}
        self._keys: dict[str, tuple[_Key | None, ...]] = {}
        self._lists: list[SortedList[_Key]] = [SortedList() for _ in range(GPU_LEVELS + 1)]
        # node id -> a number that changes whenever the node's free capacity or candidates
        # change (never reused), so a node's plan can be remembered while it holds
        self.stamp: dict[str, int] = {}
        self._clock = 0
        self._stale: dict[str, NodeState] = {}  # nodes whose keys must be recomputed before a read

    def __contains__(self, job_id: object) -> bool:
        return job_id in self.cands

    def floor(self) -> float:
        """The lowest priority of any candidate (``inf`` without any). O(log N)."""
        self._flush()
        level = self._lists[0]
        return level[0][0] if level else math.inf

    def add(self, c: Candidate, refile: bool = True) -> None:
        """A running job becomes a candidate (``refile=False``: the caller refiles its nodes)."""
        self.cands[c.job.id] = c
        for nid in c.running.node_ids:
            self.on_node.setdefault(nid, {})[c.job.id] = c
            if refile and nid in self.nodes:
                self.refile(self.nodes[nid])

    def remove(self, job_id: str) -> Candidate | None:
        """A candidate is gone (stopped, or told to stop); returns it."""
        c = self.cands.pop(job_id, None)
        if c is not None:
            for nid in c.running.node_ids:
                jobs = self.on_node.get(nid)
                if jobs is not None:
                    jobs.pop(job_id, None)
                if nid in self.nodes:
                    self.refile(self.nodes[nid])
        return c

    def drop_node(self, node_id: str) -> None:
        self._stale.pop(node_id, None)
        self._unfile(node_id)
        self.nodes.pop(node_id, None)

    def _unfile(self, node_id: str) -> None:
        for level, key in zip(self._lists, self._keys.pop(node_id, ()), strict=False):
            if key is not None:
                level.remove(key)

    def refile(self, ns: NodeState) -> None:
        """A node's free capacity or candidates changed: its keys are recomputed before
        the next read. O(1)."""
        self.nodes[ns.id] = ns
        self._clock += 1
        self.stamp[ns.id] = self._clock
        self._stale[ns.id] = ns

    def _flush(self) -> None:
        if self._stale:
            for ns in self._stale.values():
                self._file(ns)
            self._stale.clear()

    def _file(self, ns: NodeState) -> None:
        jobs = self.on_node.get(ns.id)
        by_prio: dict[float, list[float]] = {}  # priority -> [GPU milli, latest start]
        for c in (jobs or {}).values():
            entry = by_prio.setdefault(c.priority, [0, _NEG])
            entry[0] += c.running.allocation_on(ns.id).gpu_milli
            entry[1] = max(entry[1], c.running.started_at)
        free = ns.free.gpu_milli
        keys: list[_Key | None] = []
        levels = sorted(by_prio.items())
        keys.append((levels[0][0], -levels[0][1][1], ns.id) if levels else None)
        for k in range(1, GPU_LEVELS + 1):
            need = 1000 * k
            if free >= need:
                keys.append((_NEG, _NEG, ns.id))
                continue
            got = free
            key = None
            for prio, (milli, latest) in levels:
                got += int(milli)
                if got >= need:
                    key = (prio, -latest, ns.id)
                    break
            keys.append(key)
        # only the levels whose key changed are touched (a start or a stop moves a few)
        old = self._keys.get(ns.id) or (None,) * (GPU_LEVELS + 1)
        for level, key, prev in zip(self._lists, keys, old, strict=True):
            if key != prev:
                if prev is not None:
                    level.remove(prev)
                if key is not None:
                    level.add(key)
        self._keys[ns.id] = tuple(keys)

    def level(self, request: ResourceRequest) -> int:
        return min(request.gpu_milli // 1000, GPU_LEVELS)

    def ordered(self, level: int) -> Iterable[_Key]:
        self._flush()
        return self._lists[level]

    def key(self, node_id: str, level: int) -> _Key | None:
        self._flush()
        keys = self._keys.get(node_id)
        return None if keys is None else keys[level]

    @staticmethod
    def bound(key: _Key) -> Score:
        """A lower bound on the score of any plan on the node filed under ``key``: its
        victims include one of priority >= t; if exactly t, each victim has priority <= t,
        the adjusted sum is at least one adjusted t (when that is >= 0), and the earliest
        start among the t-priority victims is at most the latest such candidate's."""
        t, neg_latest, node_id = key
        if t == _NEG:
            return (0, _NEG, _NEG, 0, _NEG, _NEG, "")  # fits already: no bound
        adjusted = _exact(t) + K8S_PRIORITY_OFFSET
        if adjusted < 0:
            return (0, t, _NEG, 0, _NEG, _NEG, "")
        return (0, t, adjusted, 1, 0.0, neg_latest, node_id)


def _eligible(
    on_node: Mapping[str, Candidate], candidates: Mapping[str, Candidate], policy: Preemption,
    preemptor: Job, priority: float, seq: int, now: float,
) -> list[Candidate]:
    """The candidates on a node that ``preemptor`` may evict: :func:`may_preempt`, with
    what does not depend on the victim taken out of the loop (the hot loop of a plan)."""
    # in any order: _node_plan sorts them by importance (a total order), sums are exact
    if policy.policy == "never":
        return []
    min_runtime = policy.min_runtime
    if policy.policy != "lower-or-newer-equal":
        return [
            c for j, c in on_node.items()
            if c.priority < priority and j in candidates and c.running.job.preemptible
            and not now - c.running.started_at < min_runtime
        ]
    tie = (preemptor.submitted_at, seq, preemptor.id)
    return [
        c for j, c in on_node.items()
        if j in candidates and c.running.job.preemptible and not now - c.running.started_at < min_runtime
        and (c.priority < priority or (
            c.priority == priority and (c.running.job.submitted_at, c.seq, c.running.job.id) > tie))
    ]


def plan_preemption(
    preemptor: Job,
    priority: float,
    seq: int,
    index: NodeIndex,
    candidates: Mapping[str, Candidate],
    policy: Preemption,
    now: float,
    allow: Callable[[NodeState, Resources], bool],
    nodes: Iterable[NodeState] | None = None,
    allowed: Mapping[str, int] | None = None,
    cindex: CandidateIndex | None = None,
    memo: dict[str, dict[tuple[object, ...], tuple[_NodePlan | None, float]]] | None = None,
    veto_key: Callable[[str], object] | None = None,
    capable_ids: AbstractSet[str] | None = None,
) -> Plan | None:
    """The victims whose eviction lets ``preemptor`` run, or ``None``.

    ``nodes``: the nodes to consider (default: every node of ``index``); the
    scheduler passes those whose capacity could ever hold the preemptor.
    ``allowed``: per group with a disruption budget, the disruptions it still
    allows (:func:`disruptions_allowed`); by default computed from ``candidates``
    as if none were terminating. ``cindex``: a :class:`CandidateIndex` of the same
    running jobs (a superset of ``candidates`` is fine), so that only the nodes
    whose bound could still win are looked at; then ``nodes`` only filters.
    ``memo``: node plans to reuse (with ``cindex``), per node id, for nodes unchanged
    since (:attr:`CandidateIndex.stamp`), keyed also on ``veto_key(node id)``, which
    must capture everything ``allow`` decides on that node, each with the instant
    until which it holds (the next end of a ``min_runtime`` protection there); drop a
    node's entries when ``candidates`` differs from ``cindex`` there (the scheduler's
    jobs started in the cycle).
    (Not used with disruption budgets: ``allowed`` changes as victims are marked.)
    ``capable_ids``: instead of ``nodes``, the ids of the nodes whose capacity could
    hold the preemptor (a caller that keeps them spares a set and a fit per node).

    Per node (see :func:`_node_plan`), then the node is chosen by, in order
    (``policy.node_order="kubernetes"``, Kubernetes' pickOneNodeForPreemption):
    fewest budget violations; lowest highest-victim priority; smallest sum of
    victim priorities each plus 2**31; fewest victims; latest earliest-start among
    the highest-priority victims; node id. ``"least-lost-work"`` inserts the least
    lost work (GPU-seconds since the victims started) before the start-time rule.
    A gang preemptor takes the best ``nodes`` nodes. A gang victim is evicted whole
    (all its members). Deterministic. With ``policy.candidates="sampled"`` only a
    window of ``max(10% of nodes, 100)`` nodes is considered (Kubernetes' sampling).

    Nodes are visited in order of a lower bound on their score
    (:meth:`CandidateIndex.bound`) and the search stops once no unvisited node can
    beat the chosen ones: exact under both orders. Without ``cindex``, O(N * v) to
    bound every node; with it, O(log N) per node visited (usually few) plus a plan
    per node whose bound could still win.
    """
    k = preemptor.nodes
    strict = policy.policy == "lower-priority"

    def ranks_below(t: float) -> bool:
        return t < priority or (t == priority and not strict)

    capacities: dict[int, bool] = {}

    def capable(ns: NodeState) -> bool:
        if capable_ids is not None:
            return True  # only capable nodes get past the filter
        got = capacities.get(id(ns.node.capacity))
        if got is None:
            got = capacities[id(ns.node.capacity)] = fit(preemptor.request, ns.node.capacity) is not None
        return got

    if cindex is None:
        cindex = CandidateIndex()
        for c in candidates.values():
            cindex.add(c, refile=False)
        for ns in index if nodes is None else nodes:
            cindex.refile(ns)
        only: AbstractSet[str] | None = capable_ids
    elif capable_ids is not None:
        only = capable_ids
    else:
        only = None if nodes is None else {ns.id for ns in nodes}
    if allowed is None:
        allowed = disruptions_allowed(policy, ((c.job, False) for c in candidates.values()))
    level = cindex.level(preemptor.request)
    stream: Iterable[_Key] = cindex.ordered(level)
    if policy.candidates == "sampled":
        stream = _sample(cindex, index, level, seq, only)
    # The fallback level (less than one GPU) does not file nodes the preemptor fits
    # already: those come first (bound -inf), from the node index.
    first: list[_Key] = []
    if level == 0:
        for ns in index.candidates(preemptor.request, "first"):
            if fit(preemptor.request, ns.free) is not None:
                first.append((_NEG, _NEG, ns.id))
    if memo is not None and (veto_key is None or allowed):
        memo = None
    tie = (preemptor.submitted_at, seq, preemptor.id) if policy.policy == "lower-or-newer-equal" else None
    lost_at = now if policy.node_order == "least-lost-work" else None  # the score counts lost work
    plans: list[_NodePlan] = []
    seen: set[str] = set()
    for key in (*first, *stream) if first else stream:
        t, _, nid = key
        if t != _NEG and not ranks_below(t):
            break  # no node from here on has enough capacity below the preemptor
        if len(plans) >= k and plans[k - 1].score < cindex.bound(key):
            break
        if nid in seen or (only is not None and nid not in only):
            continue
        seen.add(nid)
        ns = cindex.nodes[nid]
        if not capable(ns):
            continue
        mkey: tuple[object, ...] | None = None
        if memo is not None and veto_key is not None:
            mkey = (cindex.stamp[nid], preemptor.request, priority, tie, veto_key(nid), lost_at)
            got = memo.get(nid, {}).get(mkey)
            if got is not None and now < got[1]:
                if (plan := got[0]) is not None:
                    plans.append(plan)
                    plans.sort(key=lambda p: p.score)
                continue
        on_node = cindex.on_node.get(nid, {})
        eligible = _eligible(on_node, candidates, policy, preemptor, priority, seq, now)
        if not eligible and t != _NEG:
            plan = None  # nothing to evict here (protected by min_runtime, not preemptible)
        else:
            plan = _node_plan(preemptor.request, ns, eligible, policy, now, allow, allowed)
        if mkey is not None and memo is not None:
            memo.setdefault(nid, {})[mkey] = (plan, _protection_ends(on_node, policy, now))
        if plan is not None:
            plans.append(plan)
            plans.sort(key=lambda p: p.score)
    if len(plans) < k:
        return None
    chosen = plans[:k]
    victims: list[str] = []
    for p in chosen:
        for victim in p.victims:
            if victim not in victims:
                victims.append(victim)
    if not victims:
        return None  # it fits without evicting anyone; placement will take it
    if policy.max_victims is not None and len(victims) > policy.max_victims:
        return None
    return Plan(
        victims=tuple(victims),
        node_ids=tuple(sorted(p.node_id for p in chosen)),
        violations=sum(p.score[0] for p in chosen),
    )


def _protection_ends(on_node: Mapping[str, Candidate], policy: Preemption, now: float) -> float:
    """The next instant a ``min_runtime`` protection on the node ends (``inf``: none will):
    until then eligibility there is as at ``now``. A hair early, as ``may_preempt``
    compares a float difference. O(r)."""
    if policy.min_runtime == 0:
        return math.inf
    ends = [e for c in on_node.values() if (e := c.running.started_at + policy.min_runtime) > now]
    if not ends:
        return math.inf
    end = min(ends)
    return end - abs(end) * 2.0**-40 - 2.0**-40


def sample_size(n_nodes: int) -> int:
    """Kubernetes' number of candidate nodes: max(10% of nodes, 100), at most all of them."""
    return min(n_nodes, max(n_nodes // 10, 100))


def _sample(
    cindex: CandidateIndex, index: NodeIndex, level: int, seq: int, only: AbstractSet[str] | None
) -> list[_Key]:
    """Kubernetes' candidate sampling: a window of :func:`sample_size` nodes of the node
    order, starting at an offset derived from the preemptor's sequence number (so it
    rotates from one preemptor to the next, and a reopened scheduler draws the same),
    in bound order. O(m log m) for a window of m nodes."""
    order = [ns for ns in index if only is None or ns.id in only]
    n = len(order)
    if n == 0:
        return []
    m = sample_size(n)
    start = (seq * 2654435761) % n  # Knuth's multiplicative hash: consecutive seqs spread out
    window = [order[(start + i) % n] for i in range(m)]
    keys = [key for ns in window if (key := cindex.key(ns.id, level)) is not None]
    if level == 0:
        keys += [(_NEG, _NEG, ns.id) for ns in window if ns.free.gpu_milli > 0 or ns.free.cpu_milli > 0]
    keys.sort()
    return keys
