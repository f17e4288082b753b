"""Storage: exact codec round trip, open_store URLs, bad input, migrations, the read-only
queries, resuming a scheduler, and the scheduler's stateful machine with a reopen rule.

The backend-independent parts (:class:`StoreContract`, :class:`ResumeMachine`) are
reused by tests/test_storage_postgres.py against a real PostgreSQL server.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import attrs
import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.stateful import precondition, rule

import prioq
from prioq import Job, Node, Policy, Scheduler
from prioq.errors import InvalidCursor, InvalidType, InvalidValue, StoreError
from prioq.resources import GPU, MILLI, Device, GPURequest, Range, ResourceRequest, Resources
from prioq.storage import Changes, JobRow, MemoryStore, NodeRow, QueryStore, Store, open_store, pending_order
from prioq.storage import _codec as codec
from prioq.storage.sqlite import SCHEMA_VERSION, SQLiteStore
from test_scheduler_stateful import POLICIES, SchedulerMachine

ROOT = Path(__file__).resolve().parent.parent

# ----------------------------------------------------------------------------- strategies

GiB = 1024**3
texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=6)
ids = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
              min_size=1, max_size=6)
cores = st.integers(0, 256 * MILLI).map(lambda m: m // MILLI if m % MILLI == 0 else m / MILLI)
amounts = st.integers(0, 2**50) | st.integers(0, 2**40).map(float)
times = st.integers(0, 10**9) | st.floats(0, 1e9, allow_nan=False, allow_infinity=False)
gpu_names = st.sampled_from(["A100", "T4", "H100", "MI300X", "Mystery9000"])
vendors = st.none() | st.sampled_from(["nvidia", "amd", "Custom"])


@st.composite
def ranges(draw: st.DrawFn, values: st.SearchStrategy[Any], *, empty: bool = False) -> Range:
    kinds = ["exact", "min", "max", "both"] + (["empty"] if empty else [])
    kind = draw(st.sampled_from(kinds))
    a, b = sorted([draw(values), draw(values)])
    return {"exact": Range(a, a), "min": Range(a, None), "max": Range(None, b), "both": Range(a, b),
            "empty": Range()}[kind]


@st.composite
def gpu_requests(draw: st.DrawFn) -> GPURequest:
    if draw(st.booleans()):
        count = draw(ranges(st.integers(1, 16)))
    else:
        a, b = sorted(draw(st.lists(st.integers(1, MILLI - 1), min_size=2, max_size=2)))
        count = draw(st.sampled_from([Range(a / MILLI, a / MILLI), Range(a / MILLI, b / MILLI)]))
    return GPURequest(
        count=count,
        names=tuple(draw(st.lists(gpu_names, max_size=2))),
        vendor=draw(vendors),
        memory=draw(st.none() | ranges(amounts)),
    )


@st.composite
def requests(draw: st.DrawFn) -> ResourceRequest:
    return ResourceRequest(
        cpu=draw(ranges(cores, empty=True)),
        memory=draw(ranges(amounts, empty=True)),
        disk=draw(ranges(amounts, empty=True)),
        gpu=draw(st.none() | gpu_requests()),
        extras=draw(st.dictionaries(st.sampled_from(["rdma", "fpga", "ib"]), ranges(st.integers(0, 64)),
                                    max_size=2)),
        cpu_arch=draw(st.sampled_from([None, "x86", "arm"])),
    )


@st.composite
def resources(draw: st.DrawFn, whole: bool = False) -> Resources:
    models = draw(st.lists(st.builds(GPU, name=gpu_names, vendor=vendors,
                                     memory=st.none() | st.integers(0, 2**40)), min_size=1, max_size=2))
    indices = sorted(draw(st.sets(st.integers(0, 15), max_size=8)))
    share = st.just(MILLI) if whole else st.integers(0, MILLI)
    return Resources(
        cpu_milli=draw(st.integers(0, 10**6)),
        memory=draw(st.integers(0, 2**50)),
        disk=draw(st.integers(0, 2**50)),
        gpus=[Device(i, draw(st.sampled_from(models)), draw(share)) for i in indices],
        extras=draw(st.dictionaries(st.sampled_from(["rdma", "fpga"]), st.integers(0, 99), max_size=2)),
        cpu_arch=draw(st.sampled_from([None, "x86"])),
    )


labels = st.dictionaries(texts, texts, max_size=3)


@st.composite
def jobs(draw: st.DrawFn, job_id: str | None = None) -> Job:
    jid = job_id if job_id is not None else draw(ids)
    return Job(
        id=jid,
        submitted_at=draw(times),
        priority=draw(st.integers(-(2**40), 2**40)),
        request=draw(requests()),
        nodes=draw(st.integers(1, 4)),
        preemptible=draw(st.booleans()),
        owner=draw(st.none() | ids),
        group=draw(st.none() | ids),
        duration=draw(st.none() | st.integers(1, 10**6) | st.floats(0.5, 1e6)),
        priority_class=draw(st.none() | ids),
        after=tuple(d for d in draw(st.lists(ids, max_size=2)) if d != jid),
        labels=draw(labels),
        dependency=draw(st.sampled_from(["afterany", "afterok"])),
    )


nodes_st = st.builds(Node, id=ids, capacity=resources(whole=True), labels=labels)


@st.composite
def job_rows(draw: st.DrawFn, job_id: str | None = None, seq: int | None = None) -> JobRow:
    job = draw(jobs(job_id))
    state = draw(st.sampled_from(["pending", "running", "terminating"]))
    seq = draw(st.integers(0, 2**40)) if seq is None else seq
    if state == "pending":
        return JobRow(job=job, seq=seq, state="pending",
                      start_priority=draw(st.none() | st.floats(-1e6, 1e6)),
                      nominated=tuple(draw(st.lists(ids, max_size=3))))
    k = job.nodes
    return JobRow(
        job=job, seq=seq, state=state,
        node_ids=tuple(draw(st.lists(ids, min_size=k, max_size=k, unique=True))),
        allocation=tuple(draw(st.lists(resources(), min_size=k, max_size=k))),
        started_at=draw(times),
        start_priority=draw(st.floats(-1e6, 1e6) | st.integers(-100, 100).map(float)),
        preempted_by=draw(ids) if state == "terminating" else None,
    )


def as_state(rows: list[JobRow], node_list: list[Node]) -> tuple[dict[str, JobRow], list[Node]]:
    """Arbitrary rows made into a state a scheduler could have written (a store refuses others at
    load): unique seqs, running rows on nodes of their own that hold their allocations, nominations
    of stored nodes."""
    nodes = {n.id: n for n in node_list}
    by_id = {r.job.id: r for r in rows}
    out: dict[str, JobRow] = {}
    for seq, row in enumerate(by_id.values()):
        if row.state == "pending":
            out[row.job.id] = attrs.evolve(row, seq=seq, nominated=tuple(sorted(nodes))[: len(row.nominated)])
            continue
        placed = tuple(f"{row.job.id}#{k}" for k in range(len(row.node_ids)))
        for node_id, alloc in zip(placed, row.allocation, strict=True):
            whole = Resources(cpu_milli=alloc.cpu_milli, memory=alloc.memory, disk=alloc.disk,
                              gpus=[Device(d.index, d.gpu, MILLI) for d in alloc.gpus], extras=alloc.extras,
                              cpu_arch=alloc.cpu_arch)
            nodes.setdefault(node_id, Node(id=node_id, capacity=whole))
        out[row.job.id] = attrs.evolve(row, seq=seq, node_ids=placed)
    return out, list(nodes.values())


def same(a: object, b: object) -> bool:
    """Equal and of the same types throughout (``repr`` tells ``8`` from ``8.0``)."""
    return a == b and repr(a) == repr(b)


# ----------------------------------------------------------------------------- codec


@given(job_rows())
def test_codec_round_trips_rows_exactly(row: JobRow) -> None:
    job = codec.decode_job(codec.encode_job(row.job))
    back = codec.decode_row(job, row.seq, row.state, codec.encode_row_run(row))
    assert same(back, row)


@given(nodes_st)
def test_codec_round_trips_nodes_exactly(node: Node) -> None:
    assert same(codec.decode_node(codec.encode_node(node)), node)


@given(requests(), resources())
def test_codec_round_trips_requests_and_resources(req: ResourceRequest, res: Resources) -> None:
    assert same(codec.decode_request(codec.loads(codec.dumps(codec.encode_request(req)))), req)
    assert same(codec.decode_resources(codec.loads(codec.dumps(codec.encode_resources(res)))), res)


def test_codec_keeps_ints_and_floats_apart_and_spec_strings_survive() -> None:
    job = Job(id="j", submitted_at=5, priority=3, request="cpu=8.. memory=64GB.. gpu=A100:80GB:2 rdma=1",
              labels={"team": "ml", "ünï": "çødé"}, after=("a", "b"), duration=2.5)
    back = codec.decode_job(codec.encode_job(job))
    assert same(back, job)
    assert isinstance(back.submitted_at, int)
    assert str(back.request) == str(job.request)
    as_float = codec.decode_job(codec.encode_job(attrs.evolve(job, submitted_at=5.0)))
    assert isinstance(as_float.submitted_at, float)


def test_codec_leaves_defaults_out() -> None:
    assert codec.encode_job(Job(id="j", submitted_at=0)) == '{"id":"j","submitted_at":0}'


@pytest.mark.parametrize("text", ["", "{", "[]", '{"id": 3, "submitted_at": 0}', '{"id": "x"}',
                                  '{"id": "x", "submitted_at": 0, "priority": true}',
                                  '{"id": "x", "submitted_at": 0, "request": {"cpu": [5, 1]}}'])
def test_codec_rejects_corrupt_job_text_with_store_error(text: str) -> None:
    with pytest.raises(StoreError, match="corrupt stored job"):
        codec.decode_job(text)


# ----------------------------------------------------------------------------- helpers


def nodes(n: int = 2, spec: str = "cpu=32 memory=256GB gpu=A100:80GB:4") -> list[Node]:
    return [Node(id=f"n{i}", capacity=spec, labels={"rack": str(i % 2)}) for i in range(n)]


def observe(s: Scheduler, now: float) -> tuple[Any, ...]:
    return (
        [(p.job, p.effective_priority) for p in s.pending(now)],
        s.running(),
        {n.id: s.free(n.id) for n in s.nodes},
        s.nominations(),
        s.terminating(),
        s.nodes,
        s.now,
    )


def all_pending(store: Any, limit: int) -> list[JobRow]:
    out: list[JobRow] = []
    cursor = None
    while True:
        page = store.pending_jobs(limit, cursor)
        out += page.items
        if page.next_cursor is None:
            return out
        assert len(page.items) == limit
        cursor = page.next_cursor


def base_order(rows: list[JobRow]) -> list[JobRow]:
    return sorted(rows, key=lambda r: (-r.job.priority, r.job.submitted_at, r.seq, r.job.id))


def busy_scheduler(store: Store) -> Scheduler:
    """A scheduler on ``store`` holding every kind of state: pending, running, a terminating victim
    and its nominated preemptor, a gang, labels, fractional GPUs."""
    policy = Policy(preemption=prioq.Preemption(policy="lower-priority"),
                    aging=prioq.LinearAging(rate=0.5, max_boost=10))
    s = Scheduler(nodes(2, "cpu=16 memory=64GB gpu=A100:80GB:2"), policy=policy, store=store)
    s.submit(Job(id="low", submitted_at=0, priority=1, request="gpu=A100:2", labels={"a": "b"}), 0)
    s.submit(Job(id="gang", submitted_at=0, priority=5, request="gpu=1", nodes=2), 0)
    s.submit(Job(id="frac", submitted_at=0.5, priority=2, request="gpu=0.25"), 0.5)
    s.schedule(1)
    s.submit(Job(id="high", submitted_at=2, priority=50, request="gpu=2", owner="alice"), 2)
    s.submit(Job(id="waits", submitted_at=2.25, priority=7, request="cpu=1..4 memory=1GB.."), 2.25)
    s.schedule(3)
    return s


# ----------------------------------------------------------------------------- the store contract


# Each subclass runs the inherited properties against its own backend: the fixture and the
# executor differ on purpose.
SUPPRESS = [HealthCheck.function_scoped_fixture, HealthCheck.differing_executors]


class StoreContract:
    """Tests every backend passes. Subclasses say how to make a fresh store URL."""

    reopens_same_object: ClassVar[bool] = False

    @pytest.fixture(autouse=True)
    def _urls(self, tmp_path: Path) -> Iterator[None]:
        self.tmp = tmp_path
        self.counter = 0
        self.cleanups: list[Callable[[], None]] = []
        self.opened: list[Any] = []
        yield
        for store in self.opened:
            store.close()
        for cleanup in self.cleanups:
            cleanup()

    def fresh_url(self) -> str:
        raise NotImplementedError

    def open(self, url: str) -> Any:
        store = open_store(url)
        self.opened.append(store)
        return store

    def reopen(self, store: Any, url: str) -> Any:
        if self.reopens_same_object:
            return store
        store.close()
        return self.open(url)

    # -- tests

    @settings(max_examples=15, suppress_health_check=SUPPRESS)
    @given(st.lists(job_rows(), max_size=6), st.lists(nodes_st, max_size=3),
           st.none() | times, st.integers(0, 2**40))
    def test_commit_then_load_round_trips_exactly(
        self, rows: list[JobRow], node_list: list[Node], now: float | None, counter: int
    ) -> None:
        url = self.fresh_url()
        store = self.open(url)
        assert store.load().is_empty()
        by_id, node_list = as_state(rows, node_list)
        counter = max(counter, len(by_id))
        nrows = {n.id: NodeRow(node=n, order=i) for i, n in enumerate(node_list)}
        store.commit(Changes(jobs=by_id, nodes=nrows, now=now, next_seq=counter, next_order=len(nrows)))
        store = self.reopen(store, url)
        snap = store.load()
        assert same(sorted(snap.jobs, key=lambda r: r.seq), sorted(by_id.values(), key=lambda r: r.seq))
        assert same(list(snap.nodes), sorted(nrows.values(), key=lambda r: r.order))
        assert (snap.now, snap.next_seq, snap.next_order) == (now, counter, len(nrows))
        for row in by_id.values():
            assert same(store.get_job(row.job.id), row)

    @settings(max_examples=15, suppress_health_check=SUPPRESS)
    @given(st.lists(st.tuples(st.sampled_from(["usage/a", "usage/b", "outcome/x", "k"]),
                              # every store refuses NUL and lone surrogates alike (docs/storage.md)
                              st.none() | st.text(st.characters(exclude_characters="\x00",
                                                                exclude_categories=["Cs"]), max_size=20)),
                    max_size=8))
    def test_extras_upsert_and_delete_by_key(self, ops: list[tuple[str, str | None]]) -> None:
        url = self.fresh_url()
        store = self.open(url)
        store.load()
        model: dict[str, str] = {}
        for i in range(0, len(ops), 3):  # a few commits of a few keys each
            batch = dict(ops[i:i + 3])
            store.commit(Changes(extras=batch, now=float(i)))
            for key, text in batch.items():
                if text is None:
                    model.pop(key, None)
                else:
                    model[key] = text
        store = self.reopen(store, url)
        assert dict(store.load().extras) == model

    @pytest.mark.parametrize("extras", [{5: "x"}, {"k": 5}, {"k": b"x"}, ["k"], {"k": "a\x00b"},
                                        {"k": "\ud800"}, {"\ud800": "x"}, {"k\x00": "x"}])
    def test_extras_of_the_wrong_type_are_refused_before_writing(self, extras: Any) -> None:
        url = self.fresh_url()
        store = self.open(url)
        store.load()
        store.commit(Changes(extras={"keep": "1"}, now=1.0))
        with pytest.raises(InvalidValue):
            store.commit(Changes(extras=extras, now=2.0))
        store = self.reopen(store, url)
        snap = store.load()
        assert dict(snap.extras) == {"keep": "1"} and snap.now == 1.0

    def test_updates_and_deletes_apply_together(self) -> None:
        url = self.fresh_url()
        store = self.open(url)
        store.load()
        a = JobRow(job=Job(id="a", submitted_at=0), seq=0, state="pending")
        b = JobRow(job=Job(id="b", submitted_at=1, priority=3), seq=1, state="pending")
        n0, n1 = (NodeRow(node=n, order=i) for i, n in enumerate(nodes(2)))
        store.commit(Changes(jobs={"a": a, "b": b}, nodes={"n0": n0, "n1": n1}, now=1, next_seq=2,
                             next_order=2))
        a2 = attrs.evolve(a, state="running", node_ids=("n0",), allocation=(Resources(cpu_milli=5),),
                          started_at=2.0, start_priority=0.0)
        store.commit(Changes(jobs={"a": a2, "b": None}, nodes={"n1": None}, now=2, next_seq=2, next_order=2))
        store = self.reopen(store, url)
        snap = store.load()
        assert same(list(snap.jobs), [a2]) and snap.nodes == (n0,) and snap.now == 2
        assert store.get_job("b") is None
        assert same(store.running_jobs(), [a2])
        assert store.pending_jobs(10).items == ()

    @settings(max_examples=15, suppress_health_check=SUPPRESS)
    @given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3), st.sampled_from(["pending", "running"])),
                    max_size=25),
           st.integers(1, 7))
    def test_pending_pages_concatenate_to_the_base_order(
        self, specs: list[tuple[int, int, str]], limit: int
    ) -> None:
        url = self.fresh_url()
        store = self.open(url)
        store.load()
        rows = {}
        for i, (prio, t, state) in enumerate(specs):
            job = Job(id=f"j{(i * 7919) % 101:03d}", submitted_at=t / 2, priority=prio)
            run: dict[str, Any] = {"node_ids": ("n",), "allocation": (Resources(),), "started_at": float(i),
                                   "start_priority": 0.0} if state == "running" else {}
            rows[job.id] = JobRow(job=job, seq=(i * 37) % 97, state=state, **run)  # type: ignore[arg-type]
        rows = {k: v for k, v in rows.items() if v.seq not in {w.seq for w in rows.values() if w is not v}}
        store.commit(Changes(jobs=rows, now=0, next_seq=100))
        expected = base_order([r for r in rows.values() if r.state == "pending"])
        got = all_pending(store, limit)
        assert [r.job.id for r in got] == [r.job.id for r in expected]
        assert same(got, expected)
        running = [r for r in rows.values() if r.state != "pending"]
        assert [r.job.id for r in store.running_jobs()] == [
            r.job.id for r in sorted(running, key=lambda r: (r.started_at, r.job.id))
        ]

    def test_pages_continue_correctly_after_inserts_between_fetches(self) -> None:
        url = self.fresh_url()
        store = self.open(url)
        store.load()
        first = {f"a{i}": JobRow(job=Job(id=f"a{i}", submitted_at=i, priority=10 - i), seq=i, state="pending")
                 for i in range(6)}
        store.commit(Changes(jobs=first, now=0, next_seq=6))
        page1 = store.pending_jobs(3)
        assert [r.job.id for r in page1.items] == ["a0", "a1", "a2"]
        # A more important job arrives between page fetches: it belongs before the cursor, not in page 2.
        late = JobRow(job=Job(id="late", submitted_at=0, priority=99), seq=6, state="pending")
        store.commit(Changes(jobs={"late": late}, now=1, next_seq=7))
        page2 = store.pending_jobs(3, page1.next_cursor)
        assert [r.job.id for r in page2.items] == ["a3", "a4", "a5"] and page2.next_cursor is None

    def test_bad_cursor_and_limit_are_refused(self) -> None:
        store = self.open(self.fresh_url())
        store.load()
        with pytest.raises(InvalidCursor):
            store.pending_jobs(5, "not-a-cursor")
        other = prioq.ordering.RUNS_LIST.cursor_from_values((1, 2.0, "x"))
        with pytest.raises(InvalidCursor, match="different order"):
            store.pending_jobs(5, other)
        for bad in (0, -1, True, 1.5, 10**9):
            with pytest.raises(ValueError, match="limit"):
                store.pending_jobs(bad)
        for bad_id in (5, None, ["a"], {}, {"a"}, b"a"):  # never a TypeError that is not a PrioqError
            with pytest.raises(InvalidType, match="job id"):
                store.get_job(bad_id)
        assert store.get_job("") is None
        for bad_limit in (10**400, None, "5", [5], 1001):
            with pytest.raises(InvalidValue, match="limit"):
                store.pending_jobs(bad_limit)
        for bad_cursor in (5, ["x"], {}, b"abc"):
            with pytest.raises(InvalidCursor):
                store.pending_jobs(5, bad_cursor)

    def test_a_bad_commit_raises_a_prioq_error_and_changes_nothing(self) -> None:
        """``commit`` checks the whole Changes value before it writes anything."""
        store = self.open(self.fresh_url())
        store.load()
        a = JobRow(job=Job(id="a", submitted_at=0), seq=0, state="pending")
        n = NodeRow(node=Node(id="n", capacity="cpu=1"), order=0)
        store.commit(Changes(jobs={"a": a}, nodes={"n": n}, now=1, next_seq=1, next_order=1))
        before = store.load()
        fine = JobRow(job=Job(id="b", submitted_at=0), seq=1, state="pending")
        for bad, error in [
            (None, InvalidType),
            ({"a": None}, InvalidType),
            (Changes(jobs=5), InvalidType),  # type: ignore[arg-type]
            (Changes(nodes=[n]), InvalidType),  # type: ignore[arg-type]
            (Changes(jobs={"b": fine, "c": 5}), InvalidType),  # type: ignore[dict-item]
            (Changes(jobs={"b": fine, 5: None}), InvalidType),  # type: ignore[dict-item]
            (Changes(jobs={"b": fine, ("x",): None}), InvalidType),  # type: ignore[dict-item]
            (Changes(jobs={"c": fine}), InvalidValue),  # the row under "c" holds job "b"
            (Changes(jobs={"b": attrs.evolve(fine, job="b")}), InvalidType),  # type: ignore[arg-type]
            (Changes(nodes={"n": None, "m": n}), InvalidValue),
            (Changes(nodes={"m": "n"}), InvalidType),  # type: ignore[dict-item]
            (Changes(jobs={"b": fine}, now=float("nan")), InvalidValue),
            (Changes(jobs={"b": fine}, now=10**400), InvalidValue),
            (Changes(jobs={"b": fine}, now="1"), InvalidType),  # type: ignore[arg-type]
            (Changes(jobs={"b": fine}, next_seq=-1), InvalidValue),
            (Changes(jobs={"b": fine}, next_seq=10**400), InvalidValue),
            (Changes(jobs={"b": fine}, next_order=2**63), InvalidValue),
            (Changes(jobs={"b": fine}, next_seq=2.0), InvalidType),  # type: ignore[arg-type]
            (Changes(jobs={"b": fine}, next_order=True), InvalidType),
        ]:
            with pytest.raises(error):
                store.commit(bad)
            assert store.load() == before, bad

    def test_scheduler_resumes_exactly_and_refuses_a_different_cluster(self) -> None:
        url = self.fresh_url()
        store = self.open(url)
        s = busy_scheduler(store)
        assert s.terminating() and s.nominations() and s.running() and s.pending(3)
        before = observe(s, 4)
        store = self.reopen(store, url)
        resumed = Scheduler(store=store, policy=s.policy)
        assert observe(resumed, 4) == before
        # Both decide the same next cycle once the victim is gone.
        victim = next(iter(s.terminating()))
        s._state.store = MemoryStore()  # detach the old scheduler: the store now belongs to `resumed`
        s.release(victim, 5)
        resumed.release(victim, 5)
        assert s.schedule(6) == resumed.schedule(6)
        assert observe(resumed, 7) == observe(s, 7)
        if not self.reopens_same_object:
            store = self.reopen(store, url)
            with pytest.raises(prioq.PolicyMismatch, match="aging: stored LinearAging"):
                Scheduler(nodes(3), store=store)
            # another cluster is reconciled as add_node/remove_node calls, and reported
            grown = Scheduler(nodes(3, "cpu=16 memory=64GB gpu=A100:80GB:2"), store=store, policy=s.policy)
            assert grown.resumed and grown.node_changes == prioq.NodeChanges(added=("n2",))
            assert observe(grown, 7)[:2] == observe(s, 7)[:2]

    def test_queries_match_the_scheduler(self) -> None:
        store = self.open(self.fresh_url())
        s = busy_scheduler(store)
        assert isinstance(store, QueryStore)
        assert [r.job.id for r in all_pending(store, 2)] == [
            r.job.id for r in base_order([store.get_job(p.job.id) for p in s.pending(3)])
        ]
        assert [(r.job, r.node_ids, r.allocation, r.started_at) for r in store.running_jobs()] == [
            (r.job, r.node_ids, r.allocation, r.started_at) for r in s.running()
        ]
        high = store.get_job("high")
        assert high is not None and high.state == "pending" and high.nominated == s.nominations()["high"]
        victim = next(iter(s.terminating()))
        row = store.get_job(victim)
        assert row is not None and row.state == "terminating" and row.preempted_by == "high"


class TestMemoryContract(StoreContract):
    reopens_same_object = True

    def fresh_url(self) -> str:
        return "memory://"


class TestSQLiteContract(StoreContract):
    def fresh_url(self) -> str:
        self.counter += 1
        return f"sqlite:///{self.tmp}/store{self.counter}.db?synchronous=NORMAL"

    def test_a_failing_statement_rolls_the_whole_commit_back(self) -> None:
        url = self.fresh_url()
        store = self.open(url)
        store.load()
        a = JobRow(job=Job(id="a", submitted_at=0), seq=0, state="pending")
        store.commit(Changes(jobs={"a": a}, now=1, next_seq=1))
        before = store.load()
        clash = JobRow(job=Job(id="b", submitted_at=0), seq=0, state="pending")  # seq is unique
        new = JobRow(job=Job(id="c", submitted_at=0), seq=5, state="pending")
        with pytest.raises(StoreError, match="UNIQUE"):
            store.commit(Changes(jobs={"c": new, "b": clash}, nodes={"n0": None}, now=9, next_seq=9))
        assert store.load() == before

    def test_a_row_changed_behind_the_stores_back_fails_loudly(self) -> None:
        """Unchanged jobs are written without their JSON (the store remembers it); if the row
        vanished anyway (someone broke the one-writer rule), the commit fails, nothing is lost."""
        url = self.fresh_url()
        store = self.open(url)
        s = Scheduler(nodes(1), store=store)
        s.submit_many([Job(id="a", submitted_at=0, request="gpu=1"), Job(id="b", submitted_at=0)], 0)
        conn = sqlite3.connect(store.path)
        conn.execute("DELETE FROM prioq_jobs WHERE id = 'a'")
        conn.commit()
        conn.close()
        with pytest.raises(StoreError, match="1 job rows to update are missing"):
            s.schedule(1)
        assert store.get_job("b").state == "pending" and s.running() == []

    def test_scheduler_memory_is_unchanged_when_the_commit_fails(self) -> None:
        store = self.open(self.fresh_url())
        s = busy_scheduler(store)
        before = observe(s, 4)
        stored = store.load()
        # A job id SQLite cannot store (a lone surrogate is not UTF-8): the commit fails mid-call.
        with pytest.raises(StoreError):
            s.submit(Job(id="bad\ud800", submitted_at=3), 4)
        # (The clock is not rolled back, by design: a validated ``now`` is a fact, not a change.)
        assert observe(s, 4)[:-1] == before[:-1] and store.load() == stored
        s.submit(Job(id="fine", submitted_at=3), 4)
        assert store.get_job("fine") is not None

    def test_an_int_beyond_64_bits_in_a_row_is_a_store_error(self) -> None:
        store = self.open(self.fresh_url())
        store.load()
        huge = JobRow(job=Job(id="h", submitted_at=0), seq=2**64, state="pending")
        with pytest.raises(StoreError, match="OverflowError"):
            store.commit(Changes(jobs={"h": huge}, now=1, next_seq=1))
        assert store.load().is_empty()


# ----------------------------------------------------------------------------- open_store URLs


def test_open_store_schemes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(open_store("memory://"), MemoryStore)
    monkeypatch.chdir(tmp_path)
    rel = open_store("sqlite:///rel.db")
    assert isinstance(rel, SQLiteStore) and rel.path == str(tmp_path / "rel.db") and rel.synchronous == "FULL"
    rel.close()
    absolute = open_store(f"sqlite:///{tmp_path}/abs.db?synchronous=NORMAL&busy_timeout=0.5")
    assert isinstance(absolute, SQLiteStore) and absolute.path == str(tmp_path / "abs.db")
    assert absolute.synchronous == "NORMAL"
    absolute.close()
    mem = open_store("sqlite:///:memory:")
    s = Scheduler(nodes(1), store=mem)
    s.submit(Job(id="x", submitted_at=0), 0)
    assert mem.get_job("x") is not None and mem.schema_version == SCHEMA_VERSION
    mem.close()
    spaced = open_store(f"sqlite:///{tmp_path}/with%20space.db")
    assert isinstance(spaced, SQLiteStore) and spaced.path.endswith("with space.db")
    spaced.close()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://localhost/db", "unknown store URL scheme 'mysql'"),
        ("redis://u:hunter2@h/0", r"unknown store URL scheme 'redis' in 'redis://u:\*\*\*@h/0'"),
        ("/tmp/x.db", "unknown store URL scheme"),
        ("", "unknown store URL scheme"),
        ("sqlite://host/x.db", "names a host"),
        ("sqlite://", "names no file"),
    ],
)
def test_open_store_refuses_bad_urls(url: str, message: str, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StoreError, match=message):
        open_store(url)
    assert list(tmp_path.iterdir()) == []  # nothing created


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite:///x.db?synchronous=OFF", "synchronous: expected one of 'NORMAL', .* got 'OFF'"),
        ("sqlite:///x.db?journal=delete", "unknown sqlite URL option 'journal'"),
        ("sqlite:///x.db?busy_timeout=soon", "busy_timeout must be seconds"),
        ("sqlite:///x.db?busy_timeout=nan", "busy_timeout: expected a finite number"),
        ("sqlite:///x.db?busy_timeout=-1", "busy_timeout: must be >= 0"),
        ("sqlite:///x.db?busy_timeout=1e400", "busy_timeout: expected a finite number"),
        ("sqlite:///x.db?mode=rwx", "mode: expected one of"),
        ("sqlite://[x/db.db", "malformed store URL"),
        ("postgresql://h/db?lease_seconds=forever", "lease_seconds must be seconds"),
        ("postgresql://h/db?lease_seconds=0", "lease_seconds: must be > 0"),
        ("postgresql://u:hunter2@[::1/db", "malformed store URL '<unparsable URL>'"),
        ("postgresql://h/db?schema=a-b", "plain SQL identifier"),
        ("postgresql://h/db?replica=", "replica: expected a non-empty string"),
    ],
)
def test_open_store_refuses_bad_options_before_opening_anything(
    url: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bad option is a bad argument (InvalidValue), found before any file or connection."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidValue, match=message) as info:
        open_store(url)
    assert not isinstance(info.value, StoreError)
    assert list(tmp_path.iterdir()) == []  # nothing created


@pytest.mark.parametrize("url", [None, 5, b"memory://", ["memory://"], {"url": "memory://"}])
def test_open_store_needs_a_string(url: object) -> None:
    with pytest.raises(InvalidType, match="store URL must be a string"):
        open_store(url)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"path": 5}, InvalidType, "sqlite path"),
        ({"path": None}, InvalidType, "sqlite path"),
        ({"path": b"x.db"}, InvalidType, "sqlite path"),
        ({"path": "x\0.db"}, InvalidValue, "NUL"),
        ({"synchronous": 1}, InvalidType, "synchronous"),
        ({"synchronous": "off"}, InvalidValue, "synchronous"),
        ({"busy_timeout": -0.5}, InvalidValue, "busy_timeout"),
        ({"busy_timeout": 1e6}, InvalidValue, "busy_timeout"),
        ({"busy_timeout": 10**400}, InvalidValue, "busy_timeout"),
        ({"busy_timeout": float("inf")}, InvalidValue, "busy_timeout"),
        ({"busy_timeout": True}, InvalidType, "busy_timeout"),
        ({"busy_timeout": "5"}, InvalidType, "busy_timeout"),
        ({"readonly": 1}, InvalidType, "readonly"),
        ({"readonly": "yes"}, InvalidType, "readonly"),
        ({"readonly": None}, InvalidType, "readonly"),
    ],
)
def test_sqlite_options_are_checked_before_anything_is_created(
    kwargs: dict[str, Any], error: type[Exception], message: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    args = {"path": "x.db", **kwargs}
    with pytest.raises(error, match=message) as info:
        SQLiteStore(**args)
    assert not isinstance(info.value, StoreError)
    assert list(tmp_path.iterdir()) == []  # nothing created


def test_sqlite_options_keep_their_accepted_values(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db", synchronous="normal", busy_timeout=0, readonly=False)
    assert store.synchronous == "NORMAL" and store.path == str(tmp_path / "s.db")
    store.close()
    readonly = SQLiteStore(str(tmp_path / "s.db"), busy_timeout=2, readonly=True)
    assert readonly.load().is_empty()
    readonly.close()


def test_postgres_without_psycopg_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # makes `import psycopg` fail
    with pytest.raises(StoreError, match=r"psycopg 3: pip install 'prioq\[postgres\]'"):
        open_store("postgresql://nobody@127.0.0.1:1/none")


# ----------------------------------------------------------------------------- bad files


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_garbage_file_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "garbage.db"
    path.write_bytes(os.urandom(4096))
    before = digest(path)
    with pytest.raises(StoreError, match="not a SQLite database"):
        open_store(f"sqlite:///{path}")
    assert digest(path) == before and listing(tmp_path) == ["garbage.db"]


def test_truncated_store_is_refused_untouched(tmp_path: Path) -> None:
    good = tmp_path / "good.db"
    s = Scheduler(nodes(1), store=(store := open_store(f"sqlite:///{good}")))
    s.submit_many([Job(id=f"j{i}", submitted_at=0, labels={"pad": "x" * 200}) for i in range(200)], 0)
    store.close()
    bad = tmp_path / "bad.db"
    bad.write_bytes(good.read_bytes()[:1500] + b"\x00" * 700 + good.read_bytes()[2200:6000])
    before = digest(bad)
    with pytest.raises(StoreError):
        broken = open_store(f"sqlite:///{bad}")
        broken.load()
    assert digest(bad) == before


def test_an_application_database_gets_prioq_tables_beside_its_own(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("CREATE TABLE jobs (id INTEGER PRIMARY KEY, what TEXT)")  # the app's own jobs
    conn.execute("CREATE TABLE meta (k TEXT PRIMARY KEY, v TEXT)")
    conn.execute("INSERT INTO users (name) VALUES ('ada')")
    conn.commit()
    conn.close()
    store = open_store(f"sqlite:///{path}")
    Scheduler(nodes(1), store=store).submit(Job(id="x", submitted_at=0), 0)
    store.close()
    conn = sqlite3.connect(path)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == {"users", "jobs", "meta", "prioq_meta", "prioq_nodes", "prioq_jobs", "prioq_placement",
                      "prioq_extras"}
    assert conn.execute("SELECT name FROM users").fetchall() == [("ada",)]
    assert conn.execute("SELECT count(*) FROM jobs").fetchone() == (0,)
    conn.close()
    store = open_store(f"sqlite:///{path}?mode=ro")
    assert [r.job.id for r in store.pending_jobs(10).items] == ["x"]
    store.close()


def test_a_prefixed_table_that_is_not_prioqs_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE app_meta (id INTEGER PRIMARY KEY, name TEXT)")
    conn.commit()
    conn.close()
    before = digest(path)
    with pytest.raises(StoreError, match=r"table 'app_meta' exists but is not a prioq meta table"):
        open_store(f"sqlite:///{path}?prefix=app_")
    assert digest(path) == before and listing(tmp_path) == ["app.db"]
    for prefix in ("Prioq_", "1x", "a-b", "x" * 31, 5):
        with pytest.raises(InvalidValue):
            SQLiteStore(path, prefix=prefix)  # type: ignore[arg-type]
    assert digest(path) == before


def make_newer(path: Path) -> None:
    store = open_store(f"sqlite:///{path}")
    Scheduler(nodes(1), store=store).submit(Job(id="x", submitted_at=0), 0)
    store.close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE prioq_meta SET schema_version = ?", (SCHEMA_VERSION + 1,))
    conn.commit()
    conn.close()


def test_newer_schema_version_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    make_newer(path)
    before, files = digest(path), listing(tmp_path)
    for url in (f"sqlite:///{path}", f"sqlite:///{path}?mode=ro"):
        with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 1}, newer than this prioq"):
            open_store(url)
    assert digest(path) == before
    # A read-only connection to a WAL file may leave SQLite's empty companions behind; nothing else.
    extra = set(listing(tmp_path)) - set(files)
    assert extra <= {"future.db-wal", "future.db-shm"}
    assert not (tmp_path / "future.db-wal").exists() or (tmp_path / "future.db-wal").stat().st_size == 0


def test_missing_directory_and_directories_are_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no directory"):
        open_store(f"sqlite:///{tmp_path}/nope/x.db")
    with pytest.raises(StoreError, match="is a directory"):
        open_store(f"sqlite:///{tmp_path}")
    with pytest.raises(StoreError, match="read-only: no such file"):
        open_store(f"sqlite:///{tmp_path}/absent.db?mode=ro")
    assert listing(tmp_path) == []


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file_is_refused(tmp_path: Path) -> None:  # pragma: no cover - CI runs as root
    path = tmp_path / "locked.db"
    open_store(f"sqlite:///{path}").close()
    path.chmod(0)
    try:
        with pytest.raises(StoreError, match="permission denied"):
            open_store(f"sqlite:///{path}")
    finally:
        path.chmod(0o600)


def test_unreadable_file_is_refused_for_an_unprivileged_user() -> None:
    """Root reads anything, so drop to ``nobody`` in a child process to see the refusal."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("covered by test_unreadable_file_is_refused")
    import pwd

    nobody = pwd.getpwnam("nobody")
    directory = Path(tempfile.mkdtemp(prefix="prioq-unreadable-"))
    directory.chmod(0o755)  # nobody may look in, not read the file
    path = directory / "locked.db"
    open_store(f"sqlite:///{path}").close()
    path.chmod(0o600)
    before = digest(path)
    code = (
        "import os, sys\n"
        "import prioq.storage.sqlite\n"  # import while still root: nobody may not read the venv
        "from prioq.storage import open_store\n"
        "from prioq.errors import StoreError\n"
        f"os.setgid({nobody.pw_gid}); os.setuid({nobody.pw_uid})\n"
        "try:\n"
        f"    open_store('sqlite:///{path}')\n"
        "except StoreError as e:\n"
        "    print('refused:', e)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    try:
        assert "refused:" in out.stdout and "permission denied" in out.stdout, out
        assert digest(path) == before
    finally:
        shutil.rmtree(directory)


# ----------------------------------------------------------------------------- migrations

V1_DDL = """
CREATE TABLE meta (id INTEGER PRIMARY KEY CHECK (id = 1), schema_version INTEGER NOT NULL, now REAL,
                   next_seq INTEGER NOT NULL DEFAULT 0, next_order INTEGER NOT NULL DEFAULT 0);
CREATE TABLE nodes (id TEXT PRIMARY KEY, ord INTEGER NOT NULL, data TEXT NOT NULL);
CREATE TABLE jobs (id TEXT PRIMARY KEY, seq INTEGER NOT NULL, state TEXT NOT NULL, priority INTEGER NOT NULL,
                   submitted_at REAL NOT NULL, data TEXT NOT NULL);
CREATE INDEX jobs_pending ON jobs (state, priority DESC, submitted_at, seq);
"""


def v1_data(row: JobRow) -> str:
    """A row as schema version 1 stored it: the job and its run state in one JSON object."""
    run = codec.encode_row_run(row)
    return codec.dumps({"job": codec.loads(codec.encode_job(row.job)), **(codec.loads(run) if run else {})})


def write_v1_file(path: Path, rows: list[JobRow], node_rows: list[NodeRow], now: float) -> None:
    conn = sqlite3.connect(path)
    conn.executescript(V1_DDL)
    next_seq = 1 + max(r.seq for r in rows)
    conn.execute("INSERT INTO meta VALUES (1, 1, ?, ?, ?)", (now, next_seq, len(node_rows)))
    conn.executemany("INSERT INTO nodes VALUES (?, ?, ?)",
                     [(n.node.id, n.order, codec.encode_node(n.node)) for n in node_rows])
    conn.executemany(
        "INSERT INTO jobs VALUES (?, ?, ?, ?, ?, ?)",
        [(r.job.id, r.seq, r.state, r.job.priority, r.job.submitted_at, v1_data(r)) for r in rows],
    )
    conn.commit()
    conn.close()


def v1_state() -> tuple[list[JobRow], list[NodeRow]]:
    """A realistic state to write in the old shape: taken from a busy scheduler."""
    store = MemoryStore()
    busy_scheduler(store)
    snap = store.load()
    return list(snap.jobs), list(snap.nodes)


def test_version_1_file_is_migrated_on_open(tmp_path: Path) -> None:
    rows, node_rows = v1_state()
    path = tmp_path / "old.db"
    write_v1_file(path, rows, node_rows, now=3.0)
    store = open_store(f"sqlite:///{path}")
    assert isinstance(store, SQLiteStore) and store.schema_version == SCHEMA_VERSION
    snap = store.load()
    assert same(list(snap.jobs), sorted(rows, key=lambda r: r.seq)) and same(list(snap.nodes), node_rows)
    assert [r.job.id for r in all_pending(store, 2)] == [r.job.id for r in base_order(
        [r for r in rows if r.state == "pending"])]
    resumed = Scheduler(store=store, policy=Policy(preemption=prioq.Preemption(policy="lower-priority"),
                                                   aging=prioq.LinearAging(rate=0.5, max_boost=10)))
    assert resumed.terminating() and resumed.nominations()
    store.close()
    conn = sqlite3.connect(path)
    indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"prioq_jobs_pending", "prioq_jobs_running", "prioq_jobs_seq", "prioq_nodes_ord"} <= indexes
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_a_failed_migration_leaves_the_old_file_as_it_was(tmp_path: Path) -> None:
    rows, node_rows = v1_state()
    path = tmp_path / "old.db"
    write_v1_file(path, rows, node_rows, now=3.0)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE jobs SET data = '{\"job\": 5}' WHERE id = 'gang'")  # a corrupt old row
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="corrupt stored version 1 job row"):
        open_store(f"sqlite:///{path}")
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT schema_version FROM meta").fetchone()[0] == 1
    assert [r[1] for r in conn.execute("PRAGMA table_info(jobs)")] == [
        "id", "seq", "state", "priority", "submitted_at", "data"]
    conn.close()


def test_empty_file_is_a_new_store(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    store = open_store(f"sqlite:///{path}")
    assert isinstance(store, SQLiteStore) and store.load().is_empty()
    assert store.schema_version == SCHEMA_VERSION
    store.close()


# ----------------------------------------------------------------------------- one writer, many readers


def test_second_writer_is_refused_readers_are_not(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/shared.db"
    writer = open_store(url)
    s = Scheduler(nodes(1), store=writer)
    other = open_store(url)
    with pytest.raises(StoreError, match="already being written by another scheduler"):
        Scheduler(store=other)
    reader = open_store(url + "?mode=ro")
    seen: list[int] = []

    def read() -> None:
        for _ in range(50):
            seen.append(len(all_pending(reader, 7)))

    thread = threading.Thread(target=read)
    thread.start()
    for i in range(30):
        s.submit(Job(id=f"j{i}", submitted_at=i), i)
    thread.join()
    assert seen == sorted(seen)  # each read sees a committed prefix, never a torn commit
    assert len(all_pending(reader, 7)) == 30
    with pytest.raises(StoreError, match="read-only"):
        reader.commit(Changes())
    writer.close()
    resumed = Scheduler(store=other)  # the lock went with the first writer
    assert len(resumed) == 30
    for store in (other, reader):
        store.close()


def test_closed_store_refuses_calls(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/c.db")
    store.close()
    store.close()  # idempotent
    with pytest.raises(StoreError, match="closed"):
        store.load()


# ----------------------------------------------------------------------------- the stateful machine


class ResumeMachine(SchedulerMachine):
    """The scheduler machine over a persistent store, plus a rule that closes the store,
    reopens it, and checks that the resumed scheduler is the old one: same pending order and
    effective priorities, running jobs, free resources, nominations and terminating victims
    — and that it takes the same next decisions. Also checks the read-only queries."""

    def fresh_url(self) -> str:
        raise NotImplementedError

    def make_store(self) -> Store:
        self.url = self.fresh_url()
        return open_store(self.url)

    def reopen_store(self) -> Store:
        self.store.close()
        return open_store(self.url)

    @precondition(lambda self: len(self.s) > 0)
    @rule()
    def reopen(self) -> None:
        before = self.observe()
        old = self.s
        self.store = self.reopen_store()
        self.s = Scheduler(store=self.store, policy=POLICIES[self.policy_name])
        assert self.observe() == before
        assert (self.s.nodes, len(self.s)) == (old.nodes, len(old))
        # idle ticks write nothing: the stored clock is the last real change's, never later
        assert self.s.resumed and self.s.now is not None and old.now is not None and self.s.now <= old.now
        self.check_queries()
        old._state.store = MemoryStore()  # a detached twin: the store belongs to the new scheduler now
        assert old.schedule(self.now) == self.s.schedule(self.now)
        assert self.observe() == observe_machine(old, self.now)

    def check_queries(self) -> None:
        store: Any = self.store
        pending = {p.job.id for p in self.s.pending(self.now)}
        expected = sorted(pending, key=lambda j: (-self.s.get(j).priority, self.s.get(j).submitted_at,
                                                  self.s._state.queue.seq_of(j), j))
        got = all_pending(store, 4)
        assert [r.job.id for r in got] == expected
        live = self.s.pending(self.now)
        if isinstance(self.s.policy.aging, prioq.NoAging) and not any(p.inherited_from for p in live):
            assert expected == [p.job.id for p in live]  # no aging nor inheritance: the real order
        assert [(r.job, r.node_ids, r.started_at, r.allocation) for r in store.running_jobs()] == [
            (r.job, r.node_ids, r.started_at, r.allocation) for r in self.s.running()
        ]
        nominations, terminating = self.s.nominations(), self.s.terminating()
        for row in got:
            assert row.nominated == nominations.get(row.job.id, ())
        for run in self.s.running():
            row = store.get_job(run.job.id)
            told = terminating.get(run.job.id)
            assert row is not None and row.preempted_by == (None if told is None else told.by)

    def teardown(self) -> None:
        self.store.close()


def observe_machine(s: Scheduler, now: float) -> tuple[Any, ...]:
    return (
        [(p.job, p.effective_priority) for p in s.pending(now)],
        s.running(),
        {n.id: s.free(n.id) for n in s.nodes},
        s.nominations(),
        s.terminating(),
    )


class MemoryResumeMachine(ResumeMachine):
    def make_store(self) -> Store:
        return MemoryStore()

    def reopen_store(self) -> Store:
        return self.store


class SQLiteResumeMachine(ResumeMachine):
    def fresh_url(self) -> str:
        self.dir = tempfile.mkdtemp(prefix="prioq-machine-")
        # NORMAL: the machine checks state, not fsync; the crash test uses the FULL default.
        return f"sqlite:///{self.dir}/m.db?synchronous=NORMAL"

    def teardown(self) -> None:
        super().teardown()
        shutil.rmtree(self.dir, ignore_errors=True)


# Machines known to fail, each with an xfail mark (none at present).
KNOWN: dict[str, Any] = {}


def machines(base: type[ResumeMachine], names: list[str], **kw: int) -> dict[str, Any]:
    out = {}
    for name in names:
        machine = type(f"{base.__name__}_{name}", (base,), {"policy_name": name})
        # A known failure is not shrunk (that takes minutes): it only has to fail fast.
        phases = [Phase.explicit, Phase.reuse, Phase.generate] if name in KNOWN else list(Phase)
        s = settings(max_examples=kw.get("examples", 15), stateful_step_count=kw.get("steps", 30),
                     deadline=None, phases=phases)
        case = s(machine).TestCase
        if name in KNOWN:
            case = KNOWN[name](case)
        out[f"Test{base.__name__}_{name.replace('-', '_')}"] = case
    return out


globals().update(machines(MemoryResumeMachine, ["preempt", "strict"], examples=15))
globals().update(machines(SQLiteResumeMachine, list(POLICIES), examples=25))


# ----------------------------------------------------------------------------- docs and benchmark

PY_BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def doc_blocks(name: str) -> list[str]:
    return PY_BLOCK.findall((ROOT / "docs" / name).read_text())


def test_storage_doc_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every ```python block of docs/storage.md that needs no PostgreSQL, in order, in one namespace."""
    monkeypatch.chdir(tmp_path)
    blocks = doc_blocks("storage.md")
    runnable = [b for b in blocks if "postgresql://" not in b]
    assert len(runnable) >= 3
    namespace: dict[str, Any] = {"__name__": "docs_storage"}
    for block in runnable:
        exec(compile(block, "docs/storage.md", "exec"), namespace)


def test_benchmark_runs_at_toy_size(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    env.pop("PRIOQ_TEST_POSTGRES_URL", None)  # the PostgreSQL column is covered by its own test file
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_storage.py"), "--toy", "--dir", str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "submit_many" in out.stdout and "sqlite" in out.stdout and "cycle" in out.stdout


def test_store_protocols_and_pending_order() -> None:
    assert isinstance(MemoryStore(), Store) and isinstance(MemoryStore(), QueryStore)
    assert pending_order().names == ("priority", "submitted_at", "seq", "id")
