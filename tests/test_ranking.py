"""Ordering among equal priorities, open to user code: ``FairShare(ranking=...)``
(prioq.fairshare.OwnerRanking; docs/testing.md#ordering-among-equals).

Oracles: the built-in ranking rewritten as a user would (tests/rankings.py) decides exactly
as the built-in over random operations (the user path re-keys every owner where the built-in
keeps lower bounds); a ranking that answers nonsense fails the call with a typed error and
changes nothing; the simulator and the toolkit take a ranking by import path.
"""

from __future__ import annotations

import io
import random

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import prioq
from prioq import DominantShare, FairShare, Job, LinearAging, Node, Policy, Scheduler, Start, Weights
from prioq.fairshare import Ledger, OwnerOrder, OwnerRanking
from prioq.scheduler._cycle import Cycle
from prioq.storage import SQLiteStore
from rankings import DecayedShare, Envious, FlatDominantShare, HeldShare, Shifted, Tiers
from test_fairshare_order import OPS, REQUESTS, _set, reference_expand, reference_walk, run_ops
from test_rollback import observe

GPU_NODES = [Node(id=f"n{i}", capacity="cpu=8 memory=32GB gpu=A100:1") for i in range(4)]


def starts(s: Scheduler, now: float) -> list[str]:
    return [d.job_id for d in s.schedule(now) if isinstance(d, Start)]


def test_a_user_ranking_orders_owners_among_equal_priorities_only() -> None:
    s = Scheduler(GPU_NODES[:3], policy=Policy(fair_share=FairShare(ranking=Tiers())))
    s.submit_many([Job(id="lab", submitted_at=0, owner="lab", request="gpu=1"),
                   Job(id="research", submitted_at=1, owner="research/nlp", request="gpu=1"),
                   Job(id="prod", submitted_at=2, owner="prod", request="gpu=1"),
                   Job(id="urgent-lab", submitted_at=3, owner="lab", priority=5, request="gpu=1")], 3)
    assert [p.job.id for p in s.pending(3)] == ["urgent-lab", "prod", "research", "lab"]
    assert starts(s, 3) == ["urgent-lab", "prod", "research"]
    # lab holds urgent-lab's GPU (1000 milli-GPUs)
    assert "owner lab: share 0 (weight 1); rank (2, 1000) by Tiers" in s.explain("lab", 3)


def test_a_ranking_of_what_owners_hold_takes_turns_within_a_cycle() -> None:
    """Each start raises its owner's rank at once (the owners under its top level are
    re-ranked): FIFO would start u1's four jobs, the ranking alternates."""
    s = Scheduler(GPU_NODES, policy=Policy(fair_share=FairShare(ranking=Tiers())))
    s.submit_many([Job(id=f"u1-{i}", submitted_at=0, owner="u1", request="gpu=1") for i in range(4)], 0)
    s.submit_many([Job(id=f"u2-{i}", submitted_at=1, owner="u2", request="gpu=1") for i in range(4)], 1)
    assert starts(s, 2) == ["u1-0", "u2-0", "u1-1", "u2-1"]
    s.release("u2-0", 3)
    s.release("u2-1", 3)
    assert starts(s, 3) == ["u2-2", "u2-3"]  # u2 holds nothing now: its jobs go first


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(ops=OPS, fair=st.sampled_from([
    FairShare(half_life=5), FairShare(half_life=3600), FairShare(basis="allocation"),
]), aging=st.sampled_from([None, LinearAging(rate=0.5, max_boost=2)]))
def test_the_built_in_rewritten_as_a_user_ranking_decides_exactly_as_the_built_in(
    ops: list[tuple[str, str | None, str, float, int]], fair: FairShare, aging: LinearAging | None
) -> None:
    more = {} if aging is None else {"aging": aging}
    weights = {"a/x": 2, "b": 0, "c": 0.5, "z": 3}
    want = run_ops(ops, Policy(fair_share=fair, weights=weights, **more))
    mine = attrs.evolve(fair, ranking=FlatDominantShare())
    assert run_ops(ops, Policy(fair_share=mine, weights=weights, **more)) == want


@pytest.mark.parametrize("seed", range(6))
def test_long_random_runs_decide_as_the_built_in(seed: int) -> None:
    """The same oracle on long runs (a few hundred operations), which reach the deep parked
    groups and many-owner walks the short hypothesis examples seldom do."""
    rng = random.Random(seed)
    kinds = ["submit", "submit", "submit", "schedule", "schedule", "release", "cancel", "requeue",
             "wait", "fail", "add_node", "remove_node"]
    ops = [(rng.choice(kinds), None, rng.choice(REQUESTS), rng.choice([0.0, 1.0, 4.0, 30.0, 500.0]),
            rng.randrange(31)) for _ in range(300)]
    weights = {"a/x": 2, "b": 0, "c": 0.5, "z": 3, "u3": 4, "u7": 0.25}
    for fair in (FairShare(half_life=60), FairShare(basis="allocation")):
        want = run_ops(ops, Policy(fair_share=fair, weights=weights))
        mine = attrs.evolve(fair, ranking=FlatDominantShare())
        assert run_ops(ops, Policy(fair_share=mine, weights=weights)) == want
    # a ranking of what runs now on decayed-usage accounts: ranks that fall at a stop and
    # rise at a start within one cycle, which the built-in under "usage" never sees
    # (the accounts themselves, run_ops' last item, differ by the ulps "usage" nudges them by)
    want = run_ops(ops, Policy(fair_share=FairShare(basis="allocation", half_life=60), weights=weights))
    held = FairShare(half_life=60, ranking=HeldShare())
    assert run_ops(ops, Policy(fair_share=held, weights=weights))[:-1] == want[:-1]
    # ranks that fall as time passes (decayed, not normalised, shares: the built-in's order
    # up to rounding, so the reference is the same ranking, every owner ranked and every
    # head pushed at each visit): no bound holds from one now to the next
    decayed = Policy(fair_share=FairShare(half_life=60, ranking=DecayedShare()), weights=weights)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(OwnerOrder, "walk", reference_walk)
        mp.setattr(Cycle, "_expand", reference_expand)
        want = run_ops(ops, decayed)
    assert run_ops(ops, decayed) == want


def test_the_owners_index_ranks_every_owner_afresh_at_each_new_now_for_a_user_ranking() -> None:
    """A user ranking promises no lower bound across instants (DecayedShare's ranks fall as
    usage decays): a key kept from an earlier now would hold an owner back."""
    fair = Ledger(FairShare(half_life=10, ranking=DecayedShare()), Weights(), lambda: (8000, 0, 0))
    order = OwnerOrder(fair)
    assert not fair.bounded
    _set(fair, "idle", 8000, 1, -20)  # the whole cluster for 10 s, long ago
    _set(fair, "idle", 8000, -1, -10)
    _set(fair, "busy", 800, 1, 0)  # a tenth of it, from 0 on
    for owner in ("idle", "busy"):
        order.add(owner)
    assert [o for _, o in order.walk(0)] == ["busy", "idle"]
    assert [o for _, o in order.walk(100)] == ["idle", "busy"]  # idle's usage decayed away
    order._check(100)


def test_rankings_are_validated_and_the_built_in_given_explicitly_is_the_default() -> None:
    assert isinstance(Tiers(), OwnerRanking) and isinstance(DominantShare(), OwnerRanking)
    assert FairShare(ranking=DominantShare()) == FairShare()
    assert repr(FairShare()) == "FairShare(mode='order', basis='usage', half_life=604800.0, term_weight=10.0)"
    assert "ranking=" in repr(FairShare(ranking=Tiers()))
    assert isinstance(FairShare().order, DominantShare)
    with pytest.raises(prioq.InvalidPolicy, match="does not implement OwnerRanking") as caught:
        FairShare(ranking=Tiers)  # type: ignore[arg-type]  # the class, not an instance
    assert isinstance(caught.value, TypeError)
    with pytest.raises(prioq.InvalidPolicy, match="does not implement OwnerRanking"):
        FairShare(ranking=object())  # type: ignore[arg-type]
    with pytest.raises(prioq.InvalidPolicy, match="mode='order' only"):
        FairShare(mode="term", ranking=Tiers())


class Switch:
    """A ranking that answers ``bad`` while it is set, else what Tiers answers."""

    def __init__(self, bad: object) -> None:
        self.bad: object = bad

    def rank(self, owner: str | None, now: float, usage: prioq.fairshare.UsageView) -> tuple[float, ...]:
        if self.bad is not None:
            if isinstance(self.bad, Exception):
                raise self.bad
            return self.bad  # type: ignore[return-value]  # deliberately wrong
        return Tiers().rank(owner, now, usage)


def _busy(ranking: OwnerRanking) -> Scheduler:
    s = Scheduler(GPU_NODES[:2], policy=Policy(fair_share=FairShare(ranking=ranking)))
    s.submit_many([Job(id=f"{o}-{i}", submitted_at=i, owner=o, request="gpu=1")
                   for o in ("prod", "lab", "u") for i in range(3)], 3)
    return s


@pytest.mark.parametrize(("bad", "error", "message"), [
    ("first", prioq.InvalidPolicy, "expected a tuple of numbers"),
    ((1.0, float("nan")), prioq.InvalidPolicy, "nan is not a number"),
    ((10**400,), prioq.InvalidPolicy, "not a number a float can hold"),
    ((True,), prioq.InvalidPolicy, "True is not a number"),
    (ZeroDivisionError("oops"), ZeroDivisionError, "oops"),
])
def test_a_ranking_that_fails_fails_the_cycle_and_changes_nothing(
    bad: object, error: type[Exception], message: str
) -> None:
    """Every observable (the clock included) is unchanged, and once the ranking answers again
    the scheduler decides exactly as a twin that never saw the failure."""
    ranking = Switch(None)
    s, twin = _busy(ranking), _busy(Switch(None))
    assert starts(s, 4) == starts(twin, 4)
    s.release("prod-0", 5)
    twin.release("prod-0", 5)
    before = observe(s)
    ranking.bad = bad
    with pytest.raises(error, match=message):
        s.schedule(6)
    ranking.bad = None
    assert observe(s) == before
    s._check()
    for t in (6, 7):
        assert s.schedule(t) == twin.schedule(t)
        assert observe(s) == observe(twin)


def test_a_scheduler_with_a_user_ranking_reopens_and_decides_as_the_live_one(tmp_path: object) -> None:
    path = f"{tmp_path}/q.db"

    def run(store: SQLiteStore | None) -> Scheduler:
        s = Scheduler(GPU_NODES[:2], policy=Policy(fair_share=FairShare(ranking=Tiers())), store=store)
        s.submit_many([Job(id=f"{o}-{i}", submitted_at=i, owner=o, request="gpu=1")
                       for o in ("u1", "u2", "prod") for i in range(3)], 3)
        assert starts(s, 4) == ["prod-0", "prod-1"]
        s.release("prod-0", 5)
        s.release("prod-1", 5)
        return s

    live = run(None)
    store = SQLiteStore(path)
    run(store)
    store.close()
    # a new instance of the same class: the stored policy fingerprint still matches
    store = SQLiteStore(path)
    again = Scheduler(GPU_NODES[:2], policy=Policy(fair_share=FairShare(ranking=Tiers())), store=store)
    assert [p.job.id for p in again.pending(6)] == [p.job.id for p in live.pending(6)]
    assert starts(again, 6) == starts(live, 6) == ["prod-2", "u1-0"]
    store.close()


def test_the_simulator_takes_a_ranking_by_import_path() -> None:
    from prioq.sim import strategy
    from prioq.sim.cli import main

    alone = strategy("priority+rankings:Tiers").policy.fair_share
    assert alone is not None and isinstance(alone.ranking, Tiers) and alone.mode == "order"
    for name in ("priority+fair-share+rankings:Tiers", "priority+rankings:Tiers+fair-share"):
        fs = strategy(name).policy.fair_share
        assert fs is not None and isinstance(fs.ranking, Tiers), name
    with pytest.raises(prioq.InvalidPolicy, match="mode='order' only"):
        strategy("priority+fair-share-term+rankings:Tiers")
    out, err = io.StringIO(), io.StringIO()
    code = main(["simulate", "--trace", "nasa-ipsc", "--jobs", "40", "--no-progress",
                 "--policies", "priority+fair-share,priority+rankings:Tiers"], out=out, err=err)
    assert code == 0, err.getvalue()
    assert "priority+rankings:Tiers" in out.getvalue()


def test_a_ranking_that_reads_another_owner_breaks_the_order_the_checker_sees() -> None:
    """The contract says a rank depends on the owner's own levels only: the scheduler caches
    team-a's rank until team-a's accounts change. Envious reads team-b's, so after team-b
    starts a job the order the scheduler lists is not the ranking's (the toolkit's checker,
    which calls the ranking afresh, says so)."""
    from prioq.testing import InvariantError, check_scheduler

    s = Scheduler(GPU_NODES[:2], policy=Policy(fair_share=FairShare(ranking=Envious())))
    s.submit_many([Job(id="b", submitted_at=0, owner="team-b", priority=9, request="gpu=1"),
                   Job(id="y", submitted_at=0, owner="y", priority=9, request="gpu=1"),
                   Job(id="a", submitted_at=0, owner="team-a", request="gpu=1"),
                   Job(id="x", submitted_at=1, owner="x", request="gpu=1")], 1)
    assert [p.job.id for p in s.pending(2)] == ["b", "y", "a", "x"]  # ranks all 0: FIFO
    check_scheduler(s, 2)
    assert starts(s, 2) == ["b", "y"]  # team-b holds a GPU: Envious now ranks team-a last
    with pytest.raises(InvariantError, match="the lower rank goes first"):
        check_scheduler(s, 2)


def test_the_queue_view_names_a_user_ranking() -> None:
    from prioq.view import queue_view

    s = _busy(Tiers())
    assert queue_view(s, 3).fair_share == "FairShare(mode='order', ranking=Tiers)"
    plain = Scheduler(GPU_NODES[:1], policy=Policy(fair_share=FairShare()))
    assert queue_view(plain, 0).fair_share == "FairShare(mode='order')"


class Constant:
    """Every owner ranked alike: the order among equal priorities is FIFO."""

    def __init__(self, rank: tuple[float, ...]) -> None:
        self.value = rank

    def rank(self, owner: str | None, now: float, usage: prioq.fairshare.UsageView) -> tuple[float, ...]:
        return self.value


@pytest.mark.parametrize("rank", [(), (0,), (-5.0, 1)])
def test_an_empty_rank_keeps_a_parked_job_ahead_of_a_later_one(rank: tuple[float, ...]) -> None:
    """Regression: parked groups enter a cycle at a floor key, whose rank was ``((-1, 0.0),)``,
    above a user ranking's ``()``; B (submitted after the parked A, same rank) was visited
    first and took the GPU A needed, though ``pending()`` listed A first."""
    s = Scheduler([Node(id="n0", capacity="cpu=8 memory=32GB gpu=A100:2")],
                  policy=Policy(fair_share=FairShare(ranking=Constant(rank))))
    s.submit(Job(id="R", submitted_at=0, owner="r", request="gpu=1"), 0)
    assert starts(s, 0) == ["R"]
    s.submit(Job(id="A", submitted_at=1, owner="a", request="gpu=2"), 1)
    assert starts(s, 1) == []  # no room: A parks
    s.submit(Job(id="B", submitted_at=2, owner="b", request="gpu=1"), 2)
    s.release("R", 2)
    assert [p.job.id for p in s.pending(2)] == ["A", "B"]
    assert starts(s, 2) == ["A"]


@pytest.mark.parametrize("seed", range(3))
def test_an_empty_rank_decides_as_any_other_constant_rank(seed: int) -> None:
    """Every owner ranked ``()`` or ranked ``(0,)``: the same FIFO order, the same decisions."""
    rng = random.Random(seed)
    kinds = ["submit", "submit", "submit", "schedule", "schedule", "release", "cancel", "requeue",
             "wait", "fail", "add_node", "remove_node"]
    ops = [(rng.choice(kinds), None, rng.choice(REQUESTS), rng.choice([0.0, 1.0, 4.0, 30.0, 500.0]),
            rng.randrange(31)) for _ in range(200)]
    want = run_ops(ops, Policy(fair_share=FairShare(ranking=Constant((0,)))))
    assert run_ops(ops, Policy(fair_share=FairShare(ranking=Constant(())))) == want


def test_the_checker_compares_ranks_only_at_exactly_equal_effective_priorities() -> None:
    """Regression: the checker took effective priorities as floats; 10 + 2 * 2**-60 and
    10 + 2**-60 print alike, but the exact order puts X (waited longer) first whatever the
    ranks say, and the checker called that a broken order."""
    from prioq.testing import check_scheduler

    s = Scheduler(GPU_NODES[:1], policy=Policy(fair_share=FairShare(ranking=Tiers()),
                                               aging=LinearAging(rate=2.0**-60, max_boost=1)))
    s.submit(Job(id="X", submitted_at=0, owner="lab", priority=10, request="gpu=4"), 0)
    s.submit(Job(id="Y", submitted_at=1, owner="prod", priority=10, request="gpu=4"), 1)
    assert [(p.job.id, p.effective_priority) for p in s.pending(2)] == [("X", 10.0), ("Y", 10.0)]
    check_scheduler(s, 2)


class ProdThenShare:
    """Owners under "prod" first, then the built-in's order: a ranking built on DominantShare."""

    def rank(self, owner: str | None, now: float, usage: prioq.fairshare.UsageView) -> tuple[float, ...]:
        return (0 if owner == "prod" else 1, *DominantShare().rank(owner, now, usage))


class SubShare(DominantShare):
    """The built-in, subclassed: a user ranking (not the built-in's fast path)."""


def test_a_ranking_may_build_on_the_built_in() -> None:
    """Regression: DominantShare.rank returned the keys' (flag, share) pairs, not the tuple of
    numbers the protocol promises; a ranking composing it failed every cycle with
    InvalidPolicy ("(0, 0.0) is not a number")."""
    pairs = (0, 0.0) * 4
    ledger = Ledger(FairShare(), Weights(), lambda: (8000, 0, 0))
    assert DominantShare().rank("a/b", 0, ledger) == pairs
    assert all(isinstance(x, int | float) for x in DominantShare().rank("a", 0, ledger))
    s = Scheduler(GPU_NODES[:2], policy=Policy(fair_share=FairShare(ranking=ProdThenShare())))
    s.submit_many([Job(id="u-0", submitted_at=0, owner="u", request="gpu=1"),
                   Job(id="u-1", submitted_at=0, owner="u", request="gpu=1"),
                   Job(id="v-0", submitted_at=1, owner="v", request="gpu=1"),
                   Job(id="prod-0", submitted_at=2, owner="prod", request="gpu=1")], 2)
    assert starts(s, 2) == ["prod-0", "u-0"]
    s.release("u-0", 3)
    assert starts(s, 3) == ["v-0"]  # u has used more than v: the built-in's order
    sub = Scheduler(GPU_NODES[:1], policy=Policy(fair_share=FairShare(ranking=SubShare())))
    sub.submit(Job(id="a", submitted_at=0, owner="a", request="gpu=1"), 0)
    assert starts(sub, 0) == ["a"]


@pytest.mark.parametrize("seed", range(2))
def test_negative_ranks_decide_as_the_built_in(seed: int) -> None:
    """Negative numbers order as any others: the built-in's order shifted below 0 decides
    as the built-in (the index's handling of negative keys has its own test below)."""
    rng = random.Random(seed)
    kinds = ["submit", "submit", "submit", "schedule", "schedule", "release", "cancel", "requeue",
             "wait", "fail", "add_node", "remove_node"]
    ops = [(rng.choice(kinds), None, rng.choice(REQUESTS), rng.choice([0.0, 0.0, 1.0, 30.0]),
            rng.randrange(31)) for _ in range(250)]
    weights = {"a/x": 2, "c": 0.5, "z": 3, "u3": 4, "u7": 0.25}
    fair = FairShare(basis="allocation")
    want = run_ops(ops, Policy(fair_share=fair, weights=weights))
    mine = attrs.evolve(fair, ranking=Shifted())
    assert run_ops(ops, Policy(fair_share=mine, weights=weights)) == want


def test_the_owners_index_keeps_negative_keys_as_they_are_within_one_now() -> None:
    """Between walks at one now the index keeps a user ranking's keys as bounds unchanged.
    The built-in's bounds are its keys shrunk by 2**-30, below a non-negative key but above
    a negative one: c, re-keyed after its start, would then come out before a, whose kept
    bound sits above a's own (lower) key."""
    fair = Ledger(FairShare(basis="allocation", ranking=Shifted()), Weights(), lambda: (8000, 0, 0))
    order = OwnerOrder(fair)
    _set(fair, "a", 2000, 1, 0)
    for o in ("a", "c"):
        order.add(o)
    assert [o for _, o in order.walk(0)] == ["c", "a"]  # c holds nothing, a a quarter
    _set(fair, "c", 4000, 1, 0)  # c starts half the cluster: re-keyed, now after a
    assert [o for _, o in order.walk(0)] == ["a", "c"]
    order._check(0)
