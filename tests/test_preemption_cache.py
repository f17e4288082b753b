"""Preemption's failure cache: a remembered failure must not outlive what made it fail (issue 11)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from prioq import Job, LinearAging, Node, Policy, Preempt, Preemption, Scheduler, Start
from prioq.storage.sqlite import SQLiteStore

POLICY = Policy(
    aging=LinearAging(rate=1, max_boost=100),
    preemption=Preemption(policy="lower-priority"),
)
NODES = [Node(id="n0", capacity="gpu=A100:2"), Node(id="n1", capacity="gpu=A100:1")]


def _scenario(store: SQLiteStore | None) -> Scheduler:
    """`low` (priority 10) has aged past `high` (50) when the node `high` needs frees up:
    `low` starts there, and in the same cycle `high` finds no victim (a job started in
    this cycle is never evicted by it)."""
    s = Scheduler(NODES, policy=POLICY, store=store)
    s.submit(Job(id="blocker", submitted_at=0, priority=99, request="gpu=2", preemptible=False), 0)
    s.submit(Job(id="x", submitted_at=0, priority=5, request="gpu=1"), 0)  # a candidate, on n1 only
    assert {d.job_id for d in s.schedule(0)} == {"blocker", "x"}
    s.submit(Job(id="low", submitted_at=0, priority=10, request="gpu=2"), 0)
    s.submit(Job(id="high", submitted_at=99, priority=50, request="gpu=2"), 99)
    assert s.schedule(99) == []  # nothing to evict for high: blocker is not preemptible
    s.release("blocker", 100)
    # at 100: low is at 10 + 100 = 110, high at 50 + 1 = 51; low goes first and starts
    decisions = s.schedule(100)
    assert decisions == [Start(job_id="low", node_ids=("n0",), allocation=decisions[0].allocation)]
    return s


def test_failed_plan_is_not_remembered_after_an_eligible_victim_starts(tmp_path: Path) -> None:
    # Regression (issue 11): "a failed preemption plan is remembered after an eligible
    # victim starts (an aged lower job started in the same cycle): the higher job waits
    # forever, a reopened scheduler preempts at once".
    live = _scenario(SQLiteStore(tmp_path / "q.db"))
    # the live scheduler keeps its store (one writer per file): reopen a copy of it
    src, dst = sqlite3.connect(tmp_path / "q.db"), sqlite3.connect(tmp_path / "copy.db")
    with closing(src), closing(dst):
        src.backup(dst)
    reopened = Scheduler(policy=POLICY, store=SQLiteStore(tmp_path / "copy.db"))
    expected = [Preempt(job_id="low", node_ids=("n0",), by="high", grace=0)]
    assert reopened.schedule(101) == expected
    assert live.schedule(101) == expected  # the live one decides the same
    assert live.nominations() == reopened.nominations() == {"high": ("n0",)}
    live.release("low", 102)
    assert [d.job_id for d in live.schedule(102)] == ["high"]


def test_failure_is_still_remembered_when_the_started_job_is_protected() -> None:
    # min_runtime protects the job that just started: the failure holds (and is cached)
    # until the protection ends, then high preempts.
    pol = Policy(aging=POLICY.aging, preemption=Preemption(policy="lower-priority", min_runtime=10))
    s = Scheduler(NODES, policy=pol)
    s.submit(Job(id="blocker", submitted_at=0, priority=99, request="gpu=2", preemptible=False), 0)
    s.submit(Job(id="x", submitted_at=0, priority=5, request="gpu=1"), 0)
    s.schedule(0)
    s.submit(Job(id="low", submitted_at=0, priority=10, request="gpu=2"), 0)
    s.submit(Job(id="high", submitted_at=99, priority=50, request="gpu=2"), 99)
    s.schedule(99)
    s.release("blocker", 100)
    assert [d.job_id for d in s.schedule(100)] == ["low"]
    assert s.schedule(105) == []
    assert s.schedule(110) == [Preempt(job_id="low", node_ids=("n0",), by="high", grace=0)]


def test_a_node_with_only_protected_jobs_is_remembered_only_until_the_protection_ends() -> None:
    # A node whose lower jobs are all inside min_runtime has nothing to evict: its node plan
    # (Caches.node_plans) is remembered as "nothing here" while the node is unchanged --
    # but only until the protection ends, even when the state version moved in between
    # (so the failure cache does not answer first).
    pol = Policy(aging=POLICY.aging, preemption=Preemption(policy="lower-priority", min_runtime=100))
    s = Scheduler([Node(id="a", capacity="gpu=A100:2"), Node(id="b", capacity="gpu=A100:1")], policy=pol)
    s.submit(Job(id="low", submitted_at=0, priority=1, request="gpu=2"), 0)
    s.submit(Job(id="other", submitted_at=0, priority=1, request="gpu=1"), 0)
    assert {d.job_id for d in s.schedule(0)} == {"low", "other"}
    s.submit(Job(id="high", submitted_at=10, priority=100, request="gpu=2"), 10)
    assert s.schedule(10) == []  # low is protected until 100
    memo = s._state.caches.node_plans
    assert any(plan is None and 99 < until <= 100 for plan, until in memo.get("a", {}).values())
    s.release("other", 50)  # the version moves; node a does not change
    assert s.schedule(50) == []
    assert s.schedule(99) == []
    assert s.schedule(100) == [Preempt(job_id="low", node_ids=("a",), by="high", grace=0)]


def test_capable_node_ids_follow_node_changes() -> None:
    # The ids of the nodes that could hold a request are kept across cycles (Caches.capable_ids)
    # only while the list of capable nodes they came from is current: a node added or
    # removed replaces that list, and the ids with it.
    from prioq.scheduler._preempting import Preempting

    s = Scheduler([Node(id="a", capacity="gpu=A100:2")], policy=POLICY)
    request = Job(id="q", submitted_at=0, request="gpu=2").request
    assert Preempting(s._state, 0, set())._capable_ids(request) == {"a"}
    assert Preempting(s._state, 0, set())._capable_ids(request) == {"a"}  # kept
    s.add_node(Node(id="b", capacity="gpu=A100:4"), 1)
    assert Preempting(s._state, 1, set())._capable_ids(request) == {"a", "b"}
    s.remove_node("a", 2)
    assert Preempting(s._state, 2, set())._capable_ids(request) == {"b"}
