"""Change events (issue 13): every state change a call causes, numbered, committed with it.

The main property: a mirror that knows nothing but the events (what a server keeps in
its own tables) equals the scheduler's pending, running, terminating and node sets
after every step of the stateful machine, and a scheduler reopened on the store
returns the same events.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule

import prioq
from prioq import Job, Node, Policy, Preemption, Scheduler
from prioq.events import Event, EventKind, EventPage
from prioq.storage import MemoryStore
from test_rollback import CALLS, FailingStore, busy, fail_then_agree
from test_scheduler_stateful import POLICIES, SchedulerMachine

Mirror = tuple[dict[str, int], dict[str, tuple[tuple[str, ...], bool, int]], dict[str, str | None]]


def replay(events: list[Event]) -> Mirror:
    """What a server mirrors from events alone: pending {id: priority}, running
    {id: (nodes, terminating, priority)}, {node id: cordon mode or None}."""
    pending: dict[str, int] = {}
    running: dict[str, tuple[tuple[str, ...], bool, int]] = {}
    nodes: dict[str, str | None] = {}
    for e in events:
        k, j = e.kind, e.job_id
        if k is EventKind.SUBMITTED:
            assert j is not None and e.priority is not None and j not in pending and j not in running
            pending[j] = e.priority
        elif k is EventKind.STARTED:
            assert j is not None
            running[j] = (e.node_ids, False, pending.pop(j))
        elif k in (EventKind.PREEMPTED, EventKind.STOPPED):
            assert j is not None
            where, _, prio = running[j]
            running[j] = (where, True, prio)
        elif k is EventKind.REQUEUED:
            assert j is not None
            pending[j] = running.pop(j)[2]
        elif k in (EventKind.RELEASED, EventKind.CANCELLED, EventKind.DROPPED):
            assert j is not None
            if j in running:
                running.pop(j)
            else:
                pending.pop(j)
        elif k is EventKind.PRIORITY_CHANGED:
            assert j is not None and e.priority is not None
            if j in running:
                where, term, _ = running[j]
                running[j] = (where, term, e.priority)
            else:
                pending[j] = e.priority
        elif k is EventKind.NODE_ADDED:
            nodes[e.node_ids[0]] = None
        elif k is EventKind.NODE_REMOVED:
            del nodes[e.node_ids[0]]
        elif k is EventKind.NODE_CORDONED:
            assert e.reason in ("cordoned", "drained")
            nodes[e.node_ids[0]] = e.reason
        elif k is EventKind.NODE_UNCORDONED:
            assert nodes[e.node_ids[0]] is not None
            nodes[e.node_ids[0]] = None
    return pending, running, nodes


def state_of(s: Scheduler) -> Mirror:
    now = s.now if s.now is not None else 0.0
    terminating = s.terminating()
    return (
        {p.job.id: p.job.priority for p in s.pending(now)},
        {r.job.id: (r.node_ids, r.job.id in terminating, r.job.priority) for r in s.running()},
        {n.id: s.cordoned().get(n.id) for n in s.nodes},
    )


def all_events(s: Scheduler) -> list[Event]:
    page = s.events()
    assert not page.gap
    return list(page.events)


class EventsMachine(SchedulerMachine):
    """The scheduler machine, plus: the events replayed equal the state, numbers are
    consecutive, and a reopened scheduler returns the same events."""

    @invariant()
    def events_mirror_the_state(self) -> None:
        events = all_events(self.s)
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        assert replay(events) == state_of(self.s)
        if len(events) % 7 == 0:  # now and then (a reopen costs a load)
            again = Scheduler(store=self.store, policy=self.s.policy)
            assert all_events(again) == events


    def held(self) -> list[str]:
        return sorted([p.job.id for p in self.s.pending(self.now)] + [r.job.id for r in self.s.running()])

    @precondition(lambda self: len(self.s) > 0)
    @rule(data=st.data(), priority=st.integers(0, 100))
    def set_priority_many(self, data: st.DataObject, priority: int) -> None:
        ids = data.draw(st.lists(st.sampled_from(self.held()), min_size=1, max_size=4, unique=True))
        wanted = {j: priority + i for i, j in enumerate(ids) if priority + i <= 100}
        got = self.s.set_priority_many(wanted, self.now)
        assert all(self.s.get(j.id) == j for j in got)

    @precondition(lambda self: len(self.s) > 0)
    @rule(data=st.data())
    def cancel_many(self, data: st.DataObject) -> None:
        ids = data.draw(st.lists(st.sampled_from(self.held()), min_size=1, max_size=3, unique=True))
        self.s.cancel_many(ids, self.now)
        assert not any(j in self.s for j in ids)


    @precondition(lambda self: len(self.s.nodes) > 0)
    @rule(data=st.data(), mode=st.sampled_from(["cordon", "uncordon", "drain"]))
    def cordon_or_drain(self, data: st.DataObject, mode: str) -> None:
        node = data.draw(st.sampled_from(sorted(n.id for n in self.s.nodes)))
        before = len(all_events(self.s))
        if mode == "cordon":
            self.s.cordon_node(node, self.now)
        elif mode == "uncordon":
            self.s.uncordon_node(node, self.now)
        else:
            told = self.s.drain_node(node, self.now)
            stopped = [e.job_id for e in all_events(self.s)[before:] if e.kind is EventKind.STOPPED]
            assert stopped == [d.job_id for d in told]  # a drain's preempts are STOPPED events


class DropMachine(EventsMachine):
    """With ``Policy(unsatisfiable_after=...)``: dropped jobs are events, mirrors still agree,
    and right after a cycle no pending job has waited that long unsatisfiable."""

    def make_policy(self) -> Policy:  # also what a restart reopens with
        return DROP

    def __init__(self) -> None:
        super().__init__()
        self.checked = 0

    @rule()
    def schedule(self) -> None:
        super().schedule()
        self.checked += 1
        late = [d for d in self.s.unmet_demand(self.now)
                if d.oldest_submitted_at <= self.now - DROP_AFTER]
        assert late == []


DROP_AFTER = 10
DROP = Policy(unsatisfiable_after=DROP_AFTER, preemption=Preemption(policy="lower-priority"))


def _machine(name: str) -> type[EventsMachine]:
    return type(f"Events_{name}", (EventsMachine,), {"policy_name": name})


_SETTINGS = settings(max_examples=25, stateful_step_count=30, deadline=None)
TestEventsBestEffort = _SETTINGS(_machine("best-effort")).TestCase
TestEventsPreempt = _SETTINGS(_machine("preempt")).TestCase
TestEventsStrict = _SETTINGS(_machine("strict")).TestCase
TestEventsDrop = _SETTINGS(DropMachine).TestCase
assert {"best-effort", "preempt", "strict"} <= set(POLICIES)


# ------------------------------------------------------------------ examples


def kinds(page: EventPage) -> list[tuple[str, str | None]]:
    return [(e.kind.value, e.job_id or e.node_ids[0]) for e in page.events]


def test_each_call_records_what_it_changed_in_order() -> None:
    s = Scheduler([Node(id="n", capacity="gpu=A100:1")],
                  policy=Policy(preemption=Preemption(policy="lower-priority")))
    s.submit(Job(id="low", submitted_at=0, priority=1, request="gpu=1"), 0)
    s.schedule(1)
    s.submit(Job(id="high", submitted_at=2, priority=9, request="gpu=1"), 2)
    s.schedule(3)                       # low is told to stop for high
    s.release("low", 4)                 # the victim stopped: requeued
    s.schedule(5)                       # high starts
    s.set_priority("low", 2, 6)
    s.set_priority("low", 2, 6)         # no change: no event
    s.cancel("low", 7)
    s.release("high", 8, outcome="failed")
    page = s.events()
    assert kinds(page) == [
        ("node-added", "n"), ("submitted", "low"), ("started", "low"), ("submitted", "high"),
        ("preempted", "low"), ("requeued", "low"), ("started", "high"), ("priority-changed", "low"),
        ("cancelled", "low"), ("released", "high"),
    ]
    by_seq = {e.seq: e for e in page.events}
    assert by_seq[5].by == "high" and by_seq[5].node_ids == ("n",) and by_seq[5].at == 3.0
    assert by_seq[6].reason == "preempted"
    assert by_seq[10].outcome == "failed"
    assert page.cursor == 10 and not page.gap


def test_cursor_pages_and_limit() -> None:
    s = Scheduler([Node(id="n", capacity="cpu=1")])
    s.submit_many([Job(id=f"j{i}", submitted_at=0) for i in range(5)], 0)
    first = s.events(limit=2)
    assert [e.seq for e in first.events] == [1, 2] and first.cursor == 2
    rest = s.events(since=first.cursor)
    assert [e.seq for e in rest.events] == [3, 4, 5, 6] and rest.cursor == 6
    empty = s.events(since=rest.cursor)
    assert empty.events == () and empty.cursor == 6


def test_node_removal_requeues_then_removes() -> None:
    s = Scheduler([Node(id="a", capacity="cpu=4"), Node(id="b", capacity="cpu=4")])
    s.submit(Job(id="g", submitted_at=0, request="cpu=1", nodes=2), 0)
    s.schedule(1)
    s.remove_node("a", 2)
    tail = s.events(since=4).events
    assert [(e.kind, e.job_id, e.node_ids, e.reason) for e in tail] == [
        (EventKind.REQUEUED, "g", ("a", "b"), "node removed"),
        (EventKind.NODE_REMOVED, None, ("a",), None),
    ]


def test_retention_drops_the_oldest_calls_in_the_same_commit_and_reports_a_gap() -> None:
    store = FailingStore()
    s = Scheduler([Node(id="n", capacity="cpu=1")], store=store, event_retention=3)
    for i in range(5):
        s.submit(Job(id=f"j{i}", submitted_at=0), 0)
    page = s.events()
    assert [e.seq for e in page.events] == [4, 5, 6] and page.gap
    assert not s.events(since=3).gap
    stored = sorted(k for k in store.load().extras if k.startswith("event/"))
    assert stored == [f"event/{n:020d}" for n in (4, 5, 6)]
    row = '[{"kind":"submitted","at":0.0,"job_id":"j4","priority":0}]'
    assert store.seen[-1].extras == {"event/00000000000000000006": row, "event/00000000000000000003": None}
    s.submit_many([Job(id=f"m{i}", submitted_at=1) for i in range(4)], 1)   # one row of four
    assert [e.seq for e in s.events().events] == [7, 8, 9, 10]  # whole calls go while >= 3 stay
    again = Scheduler(store=store, event_retention=3)
    assert again.events() == s.events()
    again.submit(Job(id="x", submitted_at=2), 2)
    assert [e.seq for e in again.events().events] == [7, 8, 9, 10, 11]
    assert len([k for k in store.load().extras if k.startswith("event/")]) == 2


def test_one_row_per_call_however_many_events() -> None:
    store = FailingStore()
    s = Scheduler([Node(id=f"n{i}", capacity="cpu=1") for i in range(50)], store=store)
    s.submit_many([Job(id=f"j{i}", submitted_at=0) for i in range(50)], 0)
    s.schedule(1)
    rows = [k for k, v in store.seen[-1].extras.items() if k.startswith("event/")]
    assert rows == ["event/00000000000000000101"] and len(s.events().events) == 150


def test_retention_zero_records_nothing() -> None:
    s = Scheduler([Node(id="n", capacity="cpu=1")], event_retention=0)
    s.submit(Job(id="a", submitted_at=0), 0)
    assert s.events() == EventPage(events=(), cursor=0)


def test_reconciling_nodes_at_open_is_recorded() -> None:
    store = MemoryStore()
    s = Scheduler([Node(id="a", capacity="cpu=1")], store=store)
    s.submit(Job(id="j", submitted_at=0), 0)
    s.schedule(1)
    s = Scheduler([Node(id="b", capacity="cpu=1")], store=store)
    assert kinds(s.events(since=3)) == [("requeued", "j"), ("node-removed", "a"), ("node-added", "b")]
    assert replay(all_events(s)) == state_of(s)


@pytest.mark.parametrize("bad", [-1, 1.5, "3", True, None])
def test_bad_cursor_or_limit_is_refused(bad: Any) -> None:
    s = Scheduler()
    if bad is not None:
        with pytest.raises(prioq.InvalidValue):
            s.events(since=bad)
    with pytest.raises(prioq.InvalidValue):
        s.events(limit=0 if bad is None else bad)
    with pytest.raises(prioq.InvalidValue):
        Scheduler(event_retention=-1 if bad is None else bad)


def test_event_data_round_trips_and_unreadable_rows_are_refused() -> None:
    e = Event(seq=7, at=1.5, kind=EventKind.PREEMPTED, job_id="v", node_ids=("a", "b"), by="p")
    assert Event.from_data(7, e.data()) == e
    assert Event.trusted(7, 1.5, EventKind.PREEMPTED, "v", ("a", "b"), None, "p", None, None) == e
    for bad in ("{}", "[1]", "[{}]", '[{"kind": "nope", "at": 1}]', "not json"):
        with pytest.raises(prioq.InvalidValue):
            Event.list_from_text(1, bad)


# ------------------------------------------------------------------ rollback and store


@pytest.mark.parametrize("name", sorted(CALLS))
def test_a_failed_call_records_no_event_and_numbers_stay_consecutive(name: str) -> None:
    store, twin_store = FailingStore(), FailingStore()
    s, twin = busy(store), busy(twin_store)
    if name == "schedule":
        for x in (s, twin):
            x.release(next(iter(x.terminating())), 3.5)
    steps = [(4, CALLS[name]), (5, CALLS["schedule"]), (6, CALLS["release victim"]), (7, CALLS["schedule"])]
    fail_then_agree(s, twin, store, CALLS[name], steps,
                    skip=lambda step: step is CALLS["release victim"] and not s.terminating())
    events = all_events(s)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert replay(events) == state_of(s)


def test_events_commit_with_the_change_that_caused_them() -> None:
    store = FailingStore()
    s = Scheduler([Node(id="n", capacity="cpu=1")], store=store)
    s.submit(Job(id="a", submitted_at=0), 0)
    (commit,) = [c for c in store.seen if any(k.startswith("event/") and '"submitted"' in (t or "")
                                              for k, t in c.extras.items())]
    assert "a" in commit.jobs


def test_events_persist_in_sqlite(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path}/e.db"
    s = Scheduler([Node(id="n", capacity="cpu=1")], store=prioq.open_store(url))
    s.submit(Job(id="a", submitted_at=0), 0)
    s.schedule(1)
    before = s.events()
    s._state.store.close()
    again = Scheduler(store=prioq.open_store(url))
    assert again.events() == before
    again.release("a", 2)
    assert again.events(since=before.cursor).events[0].seq == before.cursor + 1


def test_async_scheduler_exposes_status_demand_events_and_bulk_calls() -> None:
    import asyncio
    import inspect

    from prioq.aio import AsyncScheduler

    for name in ("status", "unmet_demand", "events", "set_priority_many", "cancel_many"):
        assert inspect.iscoroutinefunction(getattr(AsyncScheduler, name)), name

    async def main() -> tuple[Any, ...]:
        async with await AsyncScheduler.open([Node(id="n", capacity="gpu=A100:1")], event_retention=50) as s:
            await s.submit_many([Job(id=f"r{i}", submitted_at=0, request="gpu=1") for i in range(3)], 0)
            await s.schedule(1)
            await s.set_priority_many({"r1": 5, "r2": 7}, 2)
            status = await s.status("r2", 2)
            demand = await s.unmet_demand(100, waited_over=50)
            await s.cancel_many(["r1", "r2"], 3)
            page = await s.events(since=5)
            first = await s.pending(3, limit=1)
            return status, demand, page, first

    status, demand, page, first = asyncio.run(main())
    assert (status.state, status.position) == ("pending", 1)
    assert [d.job_ids for d in demand] == [("r1", "r2")]
    assert [(e.kind.value, e.job_id) for e in page.events] == [
        ("priority-changed", "r1"), ("priority-changed", "r2"), ("cancelled", "r1"), ("cancelled", "r2")]
    assert first == []


def test_a_decision_of_another_kind_maps_to_stopped_with_its_reason() -> None:
    """The hook a Stop decision (time limit, drain: another engineer's work) lands on."""
    import attrs

    from prioq.scheduler._events import decided

    @attrs.frozen
    class Stop:
        job_id: str
        node_ids: tuple[str, ...]
        reason: str

    s = Scheduler([Node(id="n", capacity="cpu=1")])
    s.submit(Job(id="a", submitted_at=0), 0)
    s.schedule(1)
    with s._transaction(2):
        decided(s._events, Stop("a", ("n",), "time-limit"))
    (e,) = s.events(since=3).events
    got = (e.kind, e.job_id, e.node_ids, e.reason, e.at)
    assert got == (EventKind.STOPPED, "a", ("n",), "time-limit", 2.0)
    mirror = replay(all_events(s))
    assert mirror[1] == {"a": (("n",), True, 0)}  # terminating, as after a Preempt


def test_a_server_mirrors_events_in_the_shared_transaction_and_sees_exactly_what_committed(
        tmp_path: Any) -> None:
    """docs/orchestrator.md#events with prioq.storage.shared: the server's mirror rows, its
    cursor and prioq's change (with its events) commit together or not at all."""
    import sqlite3

    from prioq.storage import shared

    conn = sqlite3.connect(tmp_path / "app.db")
    conn.execute("CREATE TABLE mirror (id TEXT PRIMARY KEY, state TEXT)")
    conn.execute("CREATE TABLE cursor (seq INTEGER)")
    conn.execute("INSERT INTO cursor VALUES (0)")
    conn.commit()
    store = shared(conn)
    s = Scheduler([Node(id="n", capacity="cpu=1")], store=store)
    conn.commit()

    def mirror(s: Scheduler) -> None:
        (cursor,) = conn.execute("SELECT seq FROM cursor").fetchone()
        page = s.events(since=cursor)
        for e in page.events:
            if e.kind is EventKind.SUBMITTED:
                conn.execute("INSERT INTO mirror VALUES (?, 'pending')", (e.job_id,))
            elif e.kind is EventKind.STARTED:
                conn.execute("UPDATE mirror SET state='running' WHERE id=?", (e.job_id,))
        conn.execute("UPDATE cursor SET seq=?", (page.cursor,))

    s.submit(Job(id="a", submitted_at=0), 0)
    mirror(s)
    conn.commit()
    s.submit(Job(id="b", submitted_at=1), 1)
    mirror(s)
    conn.rollback()  # neither b, nor its event, nor the mirror row, nor the cursor
    s = Scheduler(store=store)  # in step with the database again
    assert [e.job_id for e in s.events().events if e.job_id] == ["a"]
    s.schedule(2)
    mirror(s)
    conn.commit()
    assert conn.execute("SELECT id, state FROM mirror").fetchall() == [("a", "running")]
    assert conn.execute("SELECT seq FROM cursor").fetchone() == (s.events().cursor,)
    store.close()
    conn.close()


def test_a_big_call_writes_rows_of_bounded_size() -> None:
    from prioq.scheduler._events import ROW_EVENTS

    store = FailingStore()
    s = Scheduler([Node(id="n", capacity="cpu=1")], store=store, event_retention=ROW_EVENTS)
    s.submit_many([Job(id=f"j{i}", submitted_at=0) for i in range(2 * ROW_EVENTS + 10)], 0)
    rows = sorted(k for k, v in store.seen[-1].extras.items() if k.startswith("event/") and v is not None)
    # three rows of at most ROW_EVENTS (from seq 2, 2 + ROW_EVENTS, 2 + 2 * ROW_EVENTS); retention
    # drops whole rows while >= ROW_EVENTS events stay, so the first went in the same commit
    assert rows == [f"event/{2 + n:020d}" for n in (ROW_EVENTS, 2 * ROW_EVENTS)]
    assert store.seen[-1].extras[f"event/{2:020d}"] is None
    kept = s.events()
    assert kept.gap and kept.events[0].seq == 2 + ROW_EVENTS
    assert Scheduler(store=store, event_retention=ROW_EVENTS).events() == kept
