"""Quotas in the scheduler (docs/quotas.md): QUOTA reasons, borrowing, parking, reclaim,
rollback, restart from SQLite and PostgreSQL, and a stateful invariant against a recount."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

import prioq
from prioq import (
    InvalidPolicy,
    Job,
    Node,
    Policy,
    Preempt,
    Preemption,
    Quota,
    Quotas,
    Reason,
    Scheduler,
    Start,
)
from prioq.quota import QuotaShape, usage_of
from prioq.scheduler._cycle import Cycle
from prioq.storage import open_store
from test_rollback import FailingStore

NODES = [Node(id=f"n{i}", capacity="cpu=16 memory=64GB gpu=A100:4") for i in range(4)]


def started(decisions: list[Any]) -> list[str]:
    return [d.job_id for d in decisions if isinstance(d, Start)]


def preempted(decisions: list[Any]) -> list[str]:
    return [d.job_id for d in decisions if isinstance(d, Preempt)]


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Policy(quotas="gpu=1"), "expected a mapping"),
        (lambda: Policy(quotas={"a": 5}), "expected a spec string"),
        (lambda: Policy(quotas={"": "gpu=1"}), "non-empty"),
        (lambda: Policy(quotas={"a": "gpu=lots"}), "quota nominal"),
        (lambda: Policy(quotas={"a": "cpu=2.."}), "not a range"),
        (lambda: Policy(quotas={"a": "gpu=A100:2"}), "any model"),
        (lambda: Policy(quotas={"a": ""}), "names no resource"),
        (lambda: Quota(nominal="gpu=4", borrowing_limit="gpu=1"), "only meaningful with a cohort"),
        (lambda: Quota(nominal="gpu=4", cohort="c", borrowing_limit="cpu=1"), "cpu has no nominal quota"),
        (lambda: Quota(nominal="gpu=4", cohort="c", lending_limit="gpu=5"), "exceeds its nominal"),
        (lambda: Quota(nominal="gpu=4", cohort=""), "cohort"),
        (lambda: Quota(nominal="gpu=4", within_owner="sometimes"), "within_owner"),  # type: ignore[arg-type]
        (lambda: Quota(nominal="gpu=4", reclaim_within_cohort="lower"), "reclaim"),  # type: ignore[arg-type]
        (lambda: Quota(nominal="gpu=4", borrow_within_cohort="any"), "borrow_within_cohort"),  # type: ignore[arg-type]
        (lambda: Quota(nominal="gpu=4", max_priority_threshold=3), "needs borrow_within_cohort"),
        (lambda: Quota(nominal="gpu=4", borrow_within_cohort="lower-priority", max_priority_threshold=1.5),
         "priority must be an int"),
        (lambda: Quotas(owners=[("a", "gpu=1"), ("a", "gpu=2")]), "given twice"),
        (lambda: Quotas(owners={"a": "gpu=1"}, fair_sharing=1), "expected a bool"),  # type: ignore[arg-type]
        (lambda: Quotas(strategies=["Fastest"]), "strategy"),
        (lambda: Quotas(strategies="LessThanInitialShare"), "expected a list"),
        (lambda: Quotas(strategies=["LessThanInitialShare", "LessThanOrEqualToFinalShare"]), "second"),
        (lambda: Quotas(strategies=[]), "one strategy"),
        (lambda: Policy(weights={"a": -1}), "must be >= 0"),
        (lambda: Policy(weights={"a": "heavy"}), "expected a number"),
        (lambda: Policy(weights=[("a", 1)]), "expected a mapping"),
        (lambda: Policy(weights={"": 1}), "non-empty"),
    ],
)
def test_bad_quota_input_is_invalid_policy(make: Callable[[], object], message: str) -> None:
    with pytest.raises(InvalidPolicy, match=message):
        make()


def test_quota_values_are_public_and_hashable() -> None:
    q = Quota(nominal="gpu=16 cpu=256 memory=1TB", cohort="research", borrowing_limit="gpu=4")
    assert prioq.Quota is Quota and prioq.Quotas is Quotas
    assert str(q.nominal) == "gpu=16 cpu=256 memory=1TB"
    assert hash(Policy(quotas={"a": q}, weights={"a": 2})) == hash(Policy(quotas={"a": q}, weights={"a": 2}))
    assert Policy(weights={"a": 2}) == Policy(weights={"a": 2.0}) != Policy()
    assert Policy(quotas={"team-a": "gpu=16 cpu=256"}).quotas.get("team-a") == Quota(nominal="gpu=16 cpu=256")


# ------------------------------------------------------------------ waiting with QUOTA


@pytest.mark.parametrize("queueing", ["best-effort", "strict"])
def test_over_quota_waits_and_never_blocks_other_owners(queueing: str) -> None:
    s = Scheduler(NODES, policy=Policy(queueing=queueing, quotas={"a": "gpu=4"}))  # type: ignore[arg-type]
    s.submit(Job(id="a1", submitted_at=0, priority=9, request="gpu=4", owner="a"), 0)
    s.submit(Job(id="a2", submitted_at=0, priority=9, request="gpu=1", owner="a"), 0)
    s.submit(Job(id="a3", submitted_at=0, priority=8, request="gpu=1", owner="a"), 0)
    s.submit(Job(id="b1", submitted_at=1, priority=1, request="gpu=4", owner="b"), 1)
    assert started(s.schedule(2)) == ["a1", "b1"]
    reasons = {p.job.id: (p.reason, p.message) for p in s.pending(2)}
    assert reasons["a2"] == (Reason.QUOTA, "over quota of a: gpu: 1 requested + 4 in use > nominal 4")
    if queueing == "strict":  # only a's later jobs wait behind it (Kueue's StrictFIFO is per ClusterQueue)
        assert reasons["a3"] == (Reason.BLOCKED, "strict queueing: a2 of owner a ahead of it is over quota")
    else:
        assert reasons["a3"][0] is Reason.QUOTA
    assert "quota of a now: in use gpu=4, nominal gpu=4" in s.explain("a2", 2)


def test_a_job_bigger_than_its_quota_can_ever_give_says_so() -> None:
    pol = Policy(quotas={"a": Quota(nominal="gpu=2", cohort="c"), "b": Quota(nominal="gpu=1", cohort="c")})
    s = Scheduler(NODES, policy=pol)
    s.submit(Job(id="big", submitted_at=0, request="gpu=4", owner="a"), 0)
    s.schedule(0)
    (p,) = s.pending(0)
    assert p.reason is Reason.QUOTA
    assert p.message == (
        "over quota of a even with nothing running: gpu: 4 requested + 0 in use > nominal 2 "
        "+ borrowable 1 from cohort c"
    )


def test_a_job_whose_nominal_quota_is_lent_out_says_so() -> None:
    """Found using quotas as an orchestrator would: the message read "8 requested + 0 in use >
    nominal 8 + borrowable 0", which looks false; its nominal quota is in use by a borrower."""
    pol = Policy(quotas={"a": Quota(nominal="gpu=4", cohort="c"), "b": Quota(nominal="gpu=4", cohort="c")})
    s = Scheduler(NODES, policy=pol)
    s.submit_many([Job(id=f"a{i}", submitted_at=0, request="gpu=4", owner="a") for i in range(2)], 0)
    assert started(s.schedule(0)) == ["a0", "a1"]  # a1 borrows all of b's quota
    s.submit(Job(id="b0", submitted_at=1, request="gpu=2", owner="b"), 1)
    s.schedule(1)
    (p,) = s.pending(1)
    assert (p.job.id, p.reason) == ("b0", Reason.QUOTA)
    assert p.message == (
        "over quota of b: gpu: 2 requested + 0 in use > 0 it may hold now: nominal 4, "
        "4 of it lent within cohort c"
    )


def test_borrowing_is_marked_and_explained() -> None:
    pol = Policy(quotas={"a": Quota(nominal="gpu=4", cohort="c", borrowing_limit="gpu=2"),
                         "b": Quota(nominal="gpu=8", cohort="c")})
    s = Scheduler(NODES, policy=pol)
    s.submit_many([Job(id=f"a{i}", submitted_at=0, request="gpu=2", owner="a") for i in range(4)], 0)
    assert started(s.schedule(1)) == ["a0", "a1", "a2"]
    assert s.explain("a0", 1) == "running on n0 since 1"
    assert s.explain("a2", 1) == "running on n1 since 1; borrowing quota from cohort c"
    (p,) = s.pending(1)
    assert p.message == (
        "over quota of a: gpu: 2 requested + 6 in use > nominal 4 + borrowable 2 from cohort c"
    )
    assert "borrowed gpu=2 from cohort c" in s.explain("a3", 1)


def test_lending_limit_keeps_part_of_the_nominal_quota() -> None:
    pol = Policy(quotas={"a": Quota(nominal="gpu=4", cohort="c"),
                         "b": Quota(nominal="gpu=4", cohort="c", lending_limit="gpu=1")})
    s = Scheduler(NODES, policy=pol)
    s.submit_many([Job(id=f"a{i}", submitted_at=0, request="gpu=1", owner="a") for i in range(8)], 0)
    assert len(started(s.schedule(1))) == 5  # its own 4 plus the 1 GPU b lends


# ------------------------------------------------------------------ parking


def test_quota_blocked_jobs_are_parked_and_only_the_head_is_visited(monkeypatch: pytest.MonkeyPatch) -> None:
    s = Scheduler(NODES, policy=Policy(quotas={"a": "gpu=1"}))
    s.submit(Job(id="a0", submitted_at=0, request="gpu=1", owner="a"), 0)
    s.submit_many([Job(id=f"w{i}", submitted_at=0, request="gpu=1", owner="a") for i in range(500)], 0)
    assert started(s.schedule(1)) == ["a0"]
    one_gpu = Job(id="x", submitted_at=0, request="gpu=1").request
    assert set(s._state.queue.where.values()) == {QuotaShape("a", one_gpu, 1)}
    visits: list[str] = []
    consider = Cycle.consider

    def counting(self: Cycle, job: Job) -> Any:
        visits.append(job.id)
        return consider(self, job)

    monkeypatch.setattr(Cycle, "consider", counting)
    s.submit(Job(id="b0", submitted_at=2, request="gpu=1", owner="b"), 2)
    assert started(s.schedule(2)) == ["b0"]
    assert visits == ["w0", "b0"]  # the head of a's parked jobs stands for all 500
    s.release("a0", 3)
    visits.clear()
    assert started(s.schedule(3)) == ["w0"]
    assert visits == ["w0", "w1"]
    assert [p.reason for p in s.pending(3)] == [Reason.QUOTA] * 499
    assert s.pending(3)[-1].message == "over quota of a: gpu: 1 requested + 1 in use > nominal 1"


# ------------------------------------------------------------------ reclaiming


def b_jobs() -> list[Job]:
    return [Job(id=f"b{i}", submitted_at=0, priority=5, request="gpu=4", owner="b") for i in range(4)]


def reclaim_policy(reclaim: str = "any") -> Policy:
    return Policy(
        preemption=Preemption(policy="lower-priority"),
        quotas={"a": Quota(nominal="gpu=8", cohort="c", reclaim_within_cohort=reclaim),  # type: ignore[arg-type]
                "b": Quota(nominal="gpu=8", cohort="c")},
    )


def test_lender_reclaims_borrowed_capacity_by_preemption() -> None:
    s = Scheduler(NODES, policy=reclaim_policy())
    s.submit_many(b_jobs(), 0)
    assert started(s.schedule(1)) == ["b0", "b1", "b2", "b3"]  # b borrows a's idle 8 GPUs
    assert "borrowing" in s.explain("b3", 1)
    s.submit(Job(id="a0", submitted_at=2, priority=1, request="gpu=4", owner="a"), 2)
    d = s.schedule(2)
    # the most recently admitted borrowing job (ties: by id, as Kueue by UID), of any priority
    assert preempted(d) == ["b0"]
    assert {p.job.id: p.reason for p in s.pending(2)} == {"a0": Reason.PREEMPTING}
    s.release("b0", 3)
    assert started(s.schedule(3)) == ["a0"]
    assert {p.job.id: p.reason for p in s.pending(3)} == {"b0": Reason.QUOTA}


def test_reclaim_never_leaves_the_lender_waiting() -> None:
    s = Scheduler(NODES, policy=reclaim_policy("never"))
    s.submit_many(b_jobs(), 0)
    s.schedule(1)
    s.submit(Job(id="a0", submitted_at=2, priority=9, request="gpu=4", owner="a"), 2)
    assert s.schedule(2) == []
    assert s.pending(2)[0].reason is Reason.QUOTA


def test_within_owner_preemption_frees_quota_not_only_nodes() -> None:
    pol = Policy(preemption=Preemption(policy="lower-priority"), quotas={"a": "gpu=4"})
    s = Scheduler(NODES, policy=pol)
    s.submit(Job(id="low", submitted_at=0, priority=1, request="gpu=4", owner="a"), 0)
    s.schedule(0)
    s.submit(Job(id="high", submitted_at=1, priority=5, request="gpu=2", owner="a"), 1)
    s.submit(Job(id="other", submitted_at=1, priority=1, request="gpu=4", owner="b"), 1)
    d = s.schedule(1)
    assert preempted(d) == ["low"] and started(d) == ["other"]  # free nodes elsewhere: quota was the limit


def test_node_preemption_spares_other_owners_within_quota() -> None:
    one = [Node(id="n0", capacity="gpu=A100:4")]
    pol = Policy(preemption=Preemption(policy="lower-priority"),
                 quotas={"a": Quota(nominal="gpu=4", cohort="c"), "b": Quota(nominal="gpu=4", cohort="c")})
    s = Scheduler(one, policy=pol)
    s.submit(Job(id="b0", submitted_at=0, priority=1, request="gpu=4", owner="b"), 0)
    s.schedule(0)
    s.submit(Job(id="a0", submitted_at=1, priority=9, request="gpu=4", owner="a"), 1)
    s.submit(Job(id="x", submitted_at=1, priority=50, request="gpu=4"), 1)
    assert s.schedule(1) == []  # b is within its nominal quota: neither a nor an unquota'd owner evicts it
    s.release("b0", 2)
    assert started(s.schedule(2)) == ["x"]
    assert preempted(s.schedule(3)) == []  # x has no quota: a job with one evicts it by priority alone...
    s.set_priority("x", 5, 4)
    assert preempted(s.schedule(4)) == ["x"]  # ...once it ranks lower


# ------------------------------------------------------------------ rollback




def test_a_failed_call_leaves_quota_state_unchanged() -> None:
    store = FailingStore()
    s = Scheduler(NODES, policy=reclaim_policy(), store=store)
    s.submit_many(b_jobs(), 0)
    s.schedule(1)
    s.submit(Job(id="a0", submitted_at=2, priority=1, request="gpu=4", owner="a"), 2)
    ledger = s._state.ledger
    assert ledger is not None

    def snap() -> Any:
        return ({o: dict(u) for o, u in ledger.usage.items()}, {c: dict(u) for c, u in ledger.used.items()},
                dict(ledger.borrowing_jobs), dict(s._state.queue.where),
                [(p.job.id, p.reason, p.message) for p in s.pending(2)], s.terminating())

    before = snap()
    store.fail = True
    for call in (lambda: s.schedule(3), lambda: s.release("b0", 3), lambda: s.cancel("b1", 3),
                 lambda: s.requeue("b2", 3)):
        with pytest.raises(prioq.StoreError):
            call()
        assert snap() == before
    store.fail = False
    assert preempted(s.schedule(3)) == ["b0"]


# ------------------------------------------------------------------ restart


def reopened_decides_as_live(url: str) -> None:
    """A scheduler reopened from the store decides as one that never stopped (in memory)."""
    store = open_store(url)
    live = Scheduler(NODES, policy=reclaim_policy(), store=store)
    reference = Scheduler(NODES, policy=reclaim_policy())
    for s in (live, reference):
        s.submit_many(b_jobs(), 0)
        s.schedule(1)
        s.submit(Job(id="a0", submitted_at=2, priority=1, request="gpu=4", owner="a"), 2)
        s.submit(Job(id="a1", submitted_at=2, priority=1, request="gpu=4", nodes=2, owner="a"), 2)
        s.schedule(2)
    store.close()
    store = open_store(url)
    twin = Scheduler(policy=reclaim_policy(), store=store)
    assert [twin.explain(j, 2) for j in ("b0", "b1", "b2", "b3")] == [
        reference.explain(j, 2) for j in ("b0", "b1", "b2", "b3")
    ]
    assert "borrowing quota from cohort c" in twin.explain("b3", 2)
    ledger = twin._state.ledger
    assert ledger is not None and ledger.usage == {"a": {"gpu": 0}, "b": {"gpu": 16000}}
    assert ledger.borrowing_jobs == {"b2": "c", "b3": "c"}
    for t in (3, 4, 5):
        for s in (twin, reference):
            for job_id in sorted(s.terminating()):
                s.release(job_id, t)
        assert twin.schedule(t) == reference.schedule(t), t
        assert [(p.job.id, p.reason, p.message) for p in twin.pending(t)] == [
            (p.job.id, p.reason, p.message) for p in reference.pending(t)
        ]
    store.close()


def test_restart_from_sqlite_keeps_quota_state(tmp_path: Any) -> None:
    reopened_decides_as_live(f"sqlite:///{tmp_path}/q.db")


@pytest.mark.postgres
def test_restart_from_postgres_keeps_quota_state(postgres_url: str) -> None:
    from test_storage_postgres import drop_schema, with_query

    schema = f"quota_{secrets.token_hex(4)}"
    try:
        reopened_decides_as_live(with_query(postgres_url, schema=schema, replica="quota"))
    finally:
        drop_schema(postgres_url, schema)


# ------------------------------------------------------------------ stateful invariant

OWNERS = ["a", "b", "c", "d", None]
REQUESTS = ["gpu=1", "gpu=2", "gpu=3", "cpu=4", "gpu=1 cpu=8"]
QUOTAS = {
    "a": Quota(nominal="gpu=4 cpu=16", cohort="c1", borrowing_limit="gpu=2", reclaim_within_cohort="any"),
    "b": Quota(nominal="gpu=2", cohort="c1", lending_limit="gpu=1", reclaim_within_cohort="lower-priority",
               borrow_within_cohort="lower-priority", max_priority_threshold=30),
    "c": Quota(nominal="gpu=2 cpu=8", cohort="c1"),
    "d": Quota(nominal="gpu=3"),
}


class QuotaMachine(RuleBasedStateMachine):
    """No owner ever exceeds its nominal quota plus what it may borrow; what owners borrow
    never exceeds what their cohort lends (so it is always reclaimable); the incremental
    ledger equals a recount of the running jobs."""

    def __init__(self) -> None:
        super().__init__()
        self.policy = Policy(quotas=Quotas(owners=QUOTAS, fair_sharing=self.fair),
                             preemption=Preemption(policy=self.preemption))  # type: ignore[arg-type]
        self.s = Scheduler(NODES[:3], policy=self.policy)
        self.now = 0.0
        self.n = 0

    fair: bool = False
    preemption: str = "lower-priority"

    @initialize()
    def start(self) -> None:
        pass

    @rule(owner=st.sampled_from(OWNERS), req=st.sampled_from(REQUESTS),
          prio=st.integers(0, 4).map(lambda p: p * 15), count=st.integers(1, 3))
    def submit(self, owner: str | None, req: str, prio: int, count: int) -> None:
        jobs = []
        for _ in range(count):
            jobs.append(Job(id=f"j{self.n}", submitted_at=self.now, priority=prio, request=req, owner=owner))
            self.n += 1
        self.s.submit_many(jobs, self.now)

    @rule(prompt=st.booleans())
    def schedule(self, prompt: bool) -> None:
        self.now += 1
        for d in self.s.schedule(self.now):
            if prompt and isinstance(d, Preempt):
                self.s.release(d.job_id, self.now)

    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        running = [r.job.id for r in self.s.running()]
        if running:
            self.s.release(data.draw(st.sampled_from(running)), self.now)

    @rule(data=st.data())
    def requeue_or_cancel(self, data: st.DataObject) -> None:
        held = [r.job.id for r in self.s.running()] + [p.job.id for p in self.s.pending(self.now)]
        if held:
            job = data.draw(st.sampled_from(held))
            if job in {r.job.id for r in self.s.running()} and data.draw(st.booleans()):
                self.s.requeue(job, self.now)
            else:
                self.s.cancel(job, self.now)

    @rule(data=st.data(), prio=st.integers(0, 4).map(lambda p: p * 15))
    def set_priority(self, data: st.DataObject, prio: int) -> None:
        held = [r.job.id for r in self.s.running()] + [p.job.id for p in self.s.pending(self.now)]
        if held:
            self.s.set_priority(data.draw(st.sampled_from(held)), prio, self.now)

    @invariant()
    def within_quota(self) -> None:
        self.s._check()
        usage: dict[str, dict[str, int]] = {}
        for r in self.s.running():
            if r.job.owner in QUOTAS:
                mine = usage.setdefault(r.job.owner, {})
                for name, amount in usage_of(r.job.request, r.job.nodes).items():
                    mine[name] = mine.get(name, 0) + amount
        for cohort in ("c1",):
            for name in ("gpu", "cpu"):
                borrowed = idle = 0
                for owner, q in QUOTAS.items():
                    if q.cohort != cohort or name not in q.nominal:
                        continue
                    used = usage.get(owner, {}).get(name, 0)
                    nominal, keep = q.nominal[name], q.guaranteed(name)
                    if used > nominal:
                        borrowed += used - nominal
                    else:  # what it lends and does not use itself
                        idle += (nominal - keep) - max(0, used - keep)
                assert borrowed <= idle, (cohort, name, borrowed, idle)


SETTINGS = settings(
    max_examples=30, stateful_step_count=30, deadline=None, suppress_health_check=list(HealthCheck)
)
test_quota_invariants = SETTINGS(type("PlainQuota", (QuotaMachine,), {})).TestCase
test_quota_invariants_fair_sharing = SETTINGS(type("FairQuota", (QuotaMachine,), {"fair": True})).TestCase


# ------------------------------------------------------------------ simulation


def test_quota_strategy_modifier_derives_equal_shares_and_reclaims() -> None:
    from prioq.sim.engine import Strategy, simulate
    from prioq.sim.quotas import trace_quotas
    from prioq.sim.strategies import strategy
    from prioq.sim.workload import Workload

    nodes = [Node(id=f"n{i}", capacity="cpu=8 gpu=A100:4") for i in range(2)]
    jobs = [Job(id=f"a{i}", submitted_at=0, request="gpu=4", duration=100, owner="a") for i in range(6)]
    jobs.append(Job(id="b0", submitted_at=1, request="gpu=4", duration=100, owner="b"))
    w = Workload(name="flood", jobs=jobs, nodes=nodes)
    q = trace_quotas(w)
    assert [(o, str(x.nominal), x.cohort) for o, x in q.owners] == [
        ("a", "gpu=4 cpu=8", "cluster"), ("b", "gpu=4 cpu=8", "cluster")
    ]
    assert strategy("priority+quota").trace_quotas and not strategy("priority").trace_quotas

    def wait_of_b(name: str | Strategy) -> float:
        strat = strategy(name) if isinstance(name, str) else name
        (rec,) = [r for r in simulate(w, strat).records if r.job_id == "b0"]
        assert rec.started_at is not None
        return rec.started_at - rec.submitted_at

    assert wait_of_b("priority") == 299  # behind all of a's flood
    # within its nominal quota, b goes before a's jobs that would borrow (Kueue's order) as
    # soon as capacity frees; the modifier's preemption protects jobs for 600 s
    assert wait_of_b("priority+quota") == wait_of_b("priority+quota+preemption") == 99
    pol = Policy(preemption=Preemption(policy="lower-priority", grace=30))
    reclaim = Strategy(name="reclaim", policy=pol, trace_quotas=True)
    assert wait_of_b(reclaim) == 30  # reclaims its share at once: the victim's grace


def test_fair_sharing_reads_policy_weights() -> None:
    """Kueue's "CQ with higher weight can preempt more", through the scheduler."""
    owners = {name: Quota(nominal="gpu=3", cohort="all", within_owner="lower-priority",
                          reclaim_within_cohort="any") for name in ("a", "b", "c")}
    nodes = [Node(id="big", capacity="cpu=64 gpu=A100:8"), Node(id="one", capacity="cpu=8 gpu=A100:1")]

    def victims(weights: dict[str, float]) -> list[str]:
        pol = Policy(preemption=Preemption(policy="lower-priority"), weights=weights,
                     quotas=Quotas(owners=owners, fair_sharing=True))
        s = Scheduler(nodes, policy=pol)
        s.submit_many([Job(id=f"a{i}", submitted_at=0, request="gpu=1", owner="a") for i in range(1, 4)]
                      + [Job(id=f"b{i}", submitted_at=0, request="gpu=1", owner="b") for i in range(1, 7)], 0)
        assert len(s.schedule(0)) == 9
        s.submit(Job(id="a_incoming", submitted_at=1, request="gpu=2", owner="a"), 1)
        return sorted(preempted(s.schedule(1)))

    assert victims({"a": 2}) == ["b1", "b2"]
    assert victims({}) == []  # at weight 1, taking two of b's would make a the one above its share


def test_prioq_show_marks_borrowing_jobs(tmp_path: Any) -> None:
    import io

    from prioq.sim.cli import main

    url = f"sqlite:///{tmp_path}/show.db"
    store = open_store(url)
    pol = Policy(quotas={"a": Quota(nominal="gpu=2", cohort="c"), "b": Quota(nominal="gpu=6", cohort="c")})
    s = Scheduler([Node(id="n0", capacity="gpu=A100:8")], policy=pol, store=store)
    s.submit_many([Job(id=f"a{i}", submitted_at=0, request="gpu=2", owner="a") for i in range(2)], 0)
    s.schedule(1)
    store.close()
    out = io.StringIO()
    assert main(["show", "--store", url], out=out, err=io.StringIO()) == 0
    states = {line.split()[0]: line for line in out.getvalue().splitlines() if line.startswith("  a")}
    assert "borrowing" not in states["a0"] and "running (borrowing from c)" in states["a1"]


# ------------------------------------------------------------------ rollback, differential


def observe(s: Scheduler, now: float) -> Any:
    pending = s.pending(now)
    held = [p.job.id for p in pending] + [r.job.id for r in s.running()]
    return ([(p.job, p.reason, p.message) for p in pending], s.running(), s.terminating(), s.nominations(),
            {j: s.explain(j, now) for j in held})


QUOTA_OPS = st.lists(
    st.tuples(st.sampled_from(["submit", "schedule", "release", "requeue", "cancel"]), st.booleans(),
              st.sampled_from(OWNERS), st.sampled_from(REQUESTS), st.integers(0, 4)),
    min_size=1, max_size=25,
)


def _call(x: Scheduler, op: tuple[str, float, int, Job], running: list[str], held: list[str]) -> object:
    name, t, k, job = op
    if name == "submit":
        return x.submit(job, t)
    if name == "schedule":
        return x.schedule(t)
    if name in ("release", "requeue") and running:
        victim = running[k % len(running)]
        return x.release(victim, t) if name == "release" else x.requeue(victim, t)
    if name == "cancel" and held:
        return x.cancel(held[k % len(held)], t)
    return None


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(ops=QUOTA_OPS, fair=st.booleans())
def test_random_failures_never_change_quota_decisions(ops: list[tuple[str, bool, str | None, str, int]],
                                                       fair: bool) -> None:
    """Differential: calls failing at the store leave quota state as it was, and the scheduler
    decides as a twin that only saw the calls that succeeded."""
    policy = Policy(quotas=Quotas(owners=QUOTAS, fair_sharing=fair),
                    preemption=Preemption(policy="lower-priority"))
    store = FailingStore()
    s, twin = Scheduler(NODES[:3], policy=policy, store=store), Scheduler(NODES[:3], policy=policy)
    t, n = 0.0, 0
    for name, fail, owner, req, k in ops:
        t += 1
        running = [r.job.id for r in s.running()]
        held = running + [p.job.id for p in s.pending(t)]
        op = (name, t, k, Job(id=f"j{n}", submitted_at=t, priority=k * 15, request=req, owner=owner))
        store.fail = fail
        try:
            got = _call(s, op, running, held)
        except prioq.StoreError:
            store.fail = False
            assert observe(s, t) == observe(twin, t)
            continue
        store.fail = False
        assert _call(twin, op, running, held) == got, name
        n += 1
        assert observe(s, t) == observe(twin, t)
    s._check()
