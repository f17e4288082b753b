"""FGD's learnt workload: a window of recent arrivals, seeded from a trace, persisted (issue 11).

Regression: FGD's workload never forgot released jobs (``release`` did not call
``forget``) and a scheduler reopened from its store re-observed only the jobs the
store still held, so a restart changed decisions. Now the workload is the window
of recent arrivals, which neither a release nor a cancel changes, and it is state
the store persists: a reopened scheduler places exactly as the live one.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from legacy_stores import postgres_to_v4, sqlite_to_v4
from prioq import InvalidPolicy, Job, Node, Policy, Scheduler, StoreError
from prioq.errors import InvalidPolicyType
from prioq.placement.fragmentation import FragmentationAware, TaskType
from prioq.resources import ResourceRequest
from prioq.storage import Changes, MemoryStore, SQLiteStore
from prioq.storage.sqlite import SCHEMA_VERSION

T4_NODES = [Node(id=f"n{i}", capacity="cpu=16 memory=64GB gpu=T4:2") for i in range(2)]


def req(spec: str) -> ResourceRequest:
    return ResourceRequest.parse(spec)


def types(policy: FragmentationAware) -> dict[tuple[int, int], float]:
    return {(t.gpu_milli, t.gpus): round(p, 6) for t, p in policy.workload()}


def fgd_policy(**kwargs: Any) -> Policy:
    return Policy(placement=FragmentationAware(**kwargs))


# ------------------------------------------------------------------------ the bug, as the issue writes it


def test_release_does_not_forget_and_a_restart_decides_as_the_live_scheduler(tmp_path: Path) -> None:
    """FGD's workload never forgot released jobs and a restart changed decisions (issue 11).

    A quarter-GPU job and a whole-GPU job run; the whole-GPU job finishes (release).
    Before the fix the live scheduler still counted it and the one reopened from
    the store did not: the next half-GPU job went to device 0 live and to device 1
    after the restart. Now both learn from the same arrivals, released or not.
    """
    store = SQLiteStore(tmp_path / "fgd.db")
    live = Scheduler(T4_NODES, policy=fgd_policy(), store=store)
    live.submit(Job(id="quarter", submitted_at=0, request="cpu=1 gpu=0.25"), 0)
    live.submit(Job(id="whole", submitted_at=0, request="cpu=1 gpu=1"), 0)
    assert {d.job_id for d in live.schedule(0)} == {"quarter", "whole"}
    live.release("whole", 1)
    placement = live.policy.placement
    assert isinstance(placement, FragmentationAware)
    assert (1000, 1) in types(placement)  # the release did not take the arrival out
    live.submit(Job(id="half", submitted_at=2, request="cpu=1 gpu=0.5"), 2)

    copy_path = tmp_path / "reopened.db"  # the live store's file as it is now (a consistent copy)
    with sqlite3.connect(tmp_path / "fgd.db") as src, sqlite3.connect(copy_path) as dst:
        src.backup(dst)
    reopened_store = SQLiteStore(copy_path)
    reopened = Scheduler(store=reopened_store, policy=fgd_policy())
    assert isinstance(reopened.policy.placement, FragmentationAware)
    assert reopened.policy.placement.state() == placement.state()
    decided = live.schedule(3)
    assert reopened.schedule(3) == decided
    reopened_store.close()
    store.close()
    (start,) = decided
    # The released whole-GPU arrival still counts: the half job completes device 0 next to the
    # quarter (what the live scheduler decided before the fix), keeping device 1 whole.
    assert start.node_ids == ("n0",) and [(d.index, d.milli) for d in start.allocation[0].gpus] == [(0, 500)]


def test_cancel_does_not_take_an_arrival_out() -> None:
    s = Scheduler(T4_NODES, policy=fgd_policy())
    s.submit(Job(id="a", submitted_at=0, request="gpu=0.5"), 0)
    s.cancel("a", 1)
    placement = s.policy.placement
    assert isinstance(placement, FragmentationAware)
    assert types(placement) == {(500, 1): 1.0}


# ----------------------------------------------------------------------------- the window and the seed


def observed(fgd: FragmentationAware, *specs: str) -> FragmentationAware:
    for spec in specs:
        fgd.observe(req(spec))
    return fgd


def test_the_window_slides_and_the_seed_stays() -> None:
    fgd = FragmentationAware(window=2, seed=[req("gpu=1"), TaskType(2000)])
    assert fgd.window == 2
    assert types(fgd) == {(1000, 1): 0.5, (0, 0): 0.5}
    observed(fgd, "gpu=0.5", "gpu=0.5")
    assert types(fgd) == {(500, 1): 0.5, (1000, 1): 0.25, (0, 0): 0.25}
    observed(fgd, "gpu=0.25")  # the first gpu=0.5 slides out; the seed never does
    assert types(fgd) == {(500, 1): 0.25, (250, 1): 0.25, (1000, 1): 0.25, (0, 0): 0.25}


def test_window_zero_is_the_seed_alone() -> None:
    fgd = FragmentationAware(window=0, seed=[req("gpu=1")] * 3)
    text = fgd.state()
    observed(fgd, "gpu=0.5", "cpu=1")
    assert types(fgd) == {(1000, 1): 1.0} and fgd.state() is text  # nothing learnt, nothing to write


def test_window_none_counts_every_arrival() -> None:
    fgd = FragmentationAware(window=None)
    for _ in range(50_000):
        fgd.observe(req("gpu=1"))
    fgd.observe(req("gpu=0.5"))
    assert fgd.workload()[0][0].gpu_milli == 1000 and len(fgd.workload()) == 1  # 0.5 below the 95% cut
    assert '"counts":[50000,1]' in fgd.state()


def test_forget_is_for_direct_use_only() -> None:
    fgd = observed(FragmentationAware(window=4, seed=[req("gpu=0.25")]), "gpu=1", "gpu=0.5", "gpu=1")
    fgd.forget(req("gpu=1"))
    assert types(fgd) == {(1000, 1): round(1 / 3, 6), (500, 1): round(1 / 3, 6), (250, 1): round(1 / 3, 6)}
    fgd.forget(req("gpu=2"))  # never seen: ignored
    fgd.forget(req("gpu=0.25"))  # only in the seed, which forget does not touch
    assert types(fgd) == {(1000, 1): round(1 / 3, 6), (500, 1): round(1 / 3, 6), (250, 1): round(1 / 3, 6)}


@pytest.mark.parametrize("window", [-1, -(10**400)])
def test_bad_window_is_invalid_policy(window: int) -> None:
    with pytest.raises(InvalidPolicy):
        FragmentationAware(window=window)


@pytest.mark.parametrize("window", [1.5, "10", True, [3]])
def test_window_of_a_wrong_type_is_invalid_policy_type(window: Any) -> None:
    with pytest.raises(InvalidPolicyType):
        FragmentationAware(window=window)


@pytest.mark.parametrize("seed", ["gpu=1", 5, [object()], ["gpu=1"], None])
def test_bad_seed_is_invalid_policy_type(seed: Any) -> None:
    with pytest.raises(InvalidPolicyType):
        FragmentationAware(seed=seed)


# ----------------------------------------------------------------------------- state and restore


def test_state_round_trips_and_is_cached() -> None:
    fgd = FragmentationAware(window=5, seed=[req("cpu=2"), req("gpu=A100:80GB:2"), req("gpu=nvidia:0.5")])
    text = fgd.state()
    assert fgd.state() is text  # unchanged: the same text, no work
    other = FragmentationAware(window=5)
    other.restore(text)
    assert other.state() == text and other.workload() == fgd.workload()
    fgd.observe(req("gpu=1"))
    assert fgd.state() is not text


def test_restore_into_another_window_keeps_the_most_recent_arrivals() -> None:
    fgd = observed(FragmentationAware(window=10), *["gpu=1"] * 5, *["gpu=0.5"] * 2)
    small = FragmentationAware(window=2)
    small.restore(fgd.state())
    assert types(small) == {(500, 1): 1.0}
    everything = FragmentationAware(window=None)
    everything.restore(fgd.state())
    assert everything.workload() == fgd.workload()
    back = FragmentationAware(window=3)
    back.restore(everything.state())  # counts only: replayed in type order, the last 3 kept
    assert types(back) == {(500, 1): round(2 / 3, 6), (1000, 1): round(1 / 3, 6)}


def test_many_types_widen_the_ring_and_types_that_slid_out_are_dropped() -> None:
    fgd = FragmentationAware(window=70)
    for cpu in range(1, 400):
        fgd.observe(req(f"cpu={cpu}"))
    data = json.loads(fgd.state())
    assert data["width"] == 2 and len(data["ring"]) == 140
    assert len(data["types"]) <= 2 * 70 + 64 + 1  # compacted: bounded by the window, not history
    again = FragmentationAware(window=70)
    again.restore(fgd.state())
    assert again.state() == fgd.state() and again.workload() == fgd.workload()


@pytest.mark.parametrize("text", [
    "not json", "[]", '{"fgd":2,"types":[]}', '{"fgd":1,"window":3,"types":[[1]],"width":1,"ring":"0"}',
    '{"fgd":1,"window":3,"types":[[0,0,0]],"width":1,"ring":"5"}',
    '{"fgd":1,"window":3,"types":[[0,0,0]],"width":1,"ring":"!"}',
    '{"fgd":1,"window":null,"types":[[0,0,0]],"counts":[-1]}',
    '{"fgd":1,"window":null,"types":[[0,0,0],[0,0,0]],"counts":[1,1]}',
    '{"fgd":1,"window":3,"types":[[0,2000,0]],"width":1,"ring":"0"}',
])
def test_restore_refuses_what_is_not_a_window(text: str) -> None:
    fgd = FragmentationAware(window=3, seed=[req("gpu=1")])
    before = fgd.state()
    with pytest.raises(InvalidPolicy):
        fgd.restore(text)
    assert fgd.state() == before
    with pytest.raises(InvalidPolicyType):
        fgd.restore(5)  # type: ignore[arg-type]


def test_the_seed_is_part_of_the_state() -> None:
    fgd = observed(FragmentationAware(window=1, seed=[req("gpu=1")] * 3), "gpu=0.5", "gpu=0.25")
    other = FragmentationAware(window=1)  # no seed of its own: the stored one is restored
    other.restore(fgd.state())
    assert other.state() == fgd.state() and types(other) == {(1000, 1): 0.75, (250, 1): 0.25}


def test_tie_break_generator_state_is_part_of_the_state() -> None:
    fgd = FragmentationAware(tie_seed=3, window=4, seed=[req("gpu=1")])
    twin = FragmentationAware(tie_seed=99, window=4)
    twin.restore(fgd.state())
    assert twin.state() == fgd.state()


# ----------------------------------------------------------------------------- through the scheduler


class RecordingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.fail = False
        self.placements: list[str | None] = []

    def commit(self, changes: Changes) -> None:
        if self.fail:
            raise OSError("disk full")
        self.placements.append(changes.placement)
        super().commit(changes)


def test_the_window_is_written_only_by_calls_that_changed_it() -> None:
    store = RecordingStore()
    s = Scheduler(T4_NODES, policy=fgd_policy(seed=[req("gpu=1")]), store=store)
    assert store.placements[-1] is not None  # a fresh scheduler writes its (seeded) window once
    s.submit(Job(id="a", submitted_at=0, request="gpu=0.5"), 0)
    assert store.placements[-1] is not None
    store.placements.clear()
    s.schedule(1)
    s.release("a", 2)
    s.submit(Job(id="b", submitted_at=2, request="gpu=0.5", after=("zz",)), 2)
    s.schedule(3)
    s.cancel("b", 4)
    assert [p is not None for p in store.placements] == [False, False, True, False, False]


def test_a_failed_submit_leaves_the_window_unchanged() -> None:
    store = RecordingStore()
    s = Scheduler(T4_NODES, policy=fgd_policy(window=2), store=store)
    s.submit(Job(id="a", submitted_at=0, request="gpu=1"), 0)
    placement = s.policy.placement
    assert isinstance(placement, FragmentationAware)
    before = placement.state()
    store.fail = True
    with pytest.raises(StoreError):
        s.submit_many([Job(id="b", submitted_at=0, request="gpu=0.5"),
                       Job(id="c", submitted_at=0, request="gpu=0.25")], 0)
    assert placement.state() == before
    store.fail = False
    s.submit(Job(id="b", submitted_at=0, request="gpu=0.5"), 0)
    reopened = Scheduler(store=store, policy=fgd_policy(window=2))
    assert isinstance(reopened.policy.placement, FragmentationAware)
    assert reopened.policy.placement.state() == placement.state()


def test_a_corrupt_stored_window_is_a_store_error() -> None:
    store = MemoryStore()
    Scheduler(T4_NODES, policy=fgd_policy(), store=store)
    store._placement = '{"fgd":1,"window":3,"types":[],"width":1,"ring":"0"}'
    with pytest.raises(StoreError, match="placement state"):
        Scheduler(store=store, policy=fgd_policy())


def test_other_policies_ignore_the_stored_window() -> None:
    store = MemoryStore()
    s = Scheduler(T4_NODES, policy=fgd_policy(), store=store)
    s.submit(Job(id="a", submitted_at=0, request="gpu=1"), 0)
    best = Scheduler(store=store, policy=Policy(), policy_change="replace")
    best.submit(Job(id="b", submitted_at=0, request="gpu=1"), 0)
    assert best.schedule(1)


# ----------------------------------------------------------------------------- migration from schema 2


def _downgrade_to_v2(path: Path) -> None:
    """Schema 3 added only the placement table, schema 4 only the extras table: without them
    (and stamped 2) a file is a version 2 store."""
    sqlite_to_v4(path)
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE placement")
    conn.execute("DROP TABLE extras")
    conn.execute("UPDATE meta SET schema_version = 2")
    conn.commit()
    conn.close()


def test_a_version_2_sqlite_store_is_migrated_and_learns_its_window_once(tmp_path: Path) -> None:
    path = tmp_path / "v2.db"
    store = SQLiteStore(path)
    s = Scheduler(T4_NODES, policy=fgd_policy(), store=store)
    s.submit(Job(id="a", submitted_at=0, request="cpu=1 gpu=0.25"), 0)
    s.submit(Job(id="b", submitted_at=0, request="cpu=1 gpu=1"), 0)
    s.schedule(0)
    store.close()
    _downgrade_to_v2(path)

    store = SQLiteStore(path)
    assert store.schema_version == SCHEMA_VERSION == 5
    assert store.load().placement is None
    first = Scheduler(store=store, policy=fgd_policy())  # learns from the held jobs
    fp = first.policy.placement
    assert isinstance(fp, FragmentationAware) and {(250, 1), (1000, 1)} <= set(types(fp))
    first.submit(Job(id="c", submitted_at=1, request="cpu=1 gpu=0.5"), 1)  # writes the window
    store.close()
    store = SQLiteStore(path)
    assert store.load().placement == fp.state()
    again = Scheduler(store=store, policy=fgd_policy())
    assert isinstance(again.policy.placement, FragmentationAware)
    assert again.policy.placement.state() == fp.state()
    store.close()


def test_postgres_version_2_schema_is_migrated(postgres_url: str) -> None:
    import secrets

    import psycopg

    from prioq.storage import PostgresStore

    schema = f"t_{secrets.token_hex(6)}"
    try:
        store = PostgresStore(postgres_url, schema=schema, replica="a")
        s = Scheduler(T4_NODES, policy=fgd_policy(), store=store)
        s.submit(Job(id="a", submitted_at=0, request="cpu=1 gpu=0.25"), 0)
        store.resign()
        store.close()
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            postgres_to_v4(conn, schema)
            conn.execute(f'DROP TABLE "{schema}".placement')
            conn.execute(f'DROP TABLE "{schema}".extras')
            conn.execute(f'UPDATE "{schema}".meta SET schema_version = 2')
        store = PostgresStore(postgres_url, schema=schema, replica="a")
        assert store.schema_version == 5 and store.load().placement is None
        first = Scheduler(store=store, policy=fgd_policy())
        first.submit(Job(id="b", submitted_at=1, request="cpu=1 gpu=0.5"), 1)
        fp = first.policy.placement
        assert isinstance(fp, FragmentationAware)
        assert store.load().placement == fp.state()
        store.resign()
        store.close()
        store = PostgresStore(postgres_url, schema=schema, replica="a")
        again = Scheduler(store=store, policy=fgd_policy())
        assert isinstance(again.policy.placement, FragmentationAware)
        assert again.policy.placement.state() == fp.state()
        store.close()
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_postgres_commit_with_a_new_window_keeps_its_round_trips(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The window's UPDATE rides in the commit's pipeline: still two syncs, then COMMIT (3 round trips)."""
    import secrets

    import psycopg

    from prioq.storage import PostgresStore

    schema = f"t_{secrets.token_hex(6)}"
    syncs: list[int] = []
    real_sync = psycopg.Pipeline.sync

    def counting_sync(self: Any) -> None:
        syncs.append(1)
        real_sync(self)

    try:
        store = PostgresStore(postgres_url, schema=schema, replica="a")
        s = Scheduler(T4_NODES, policy=fgd_policy(), store=store)
        monkeypatch.setattr(psycopg.Pipeline, "sync", counting_sync)
        s.submit(Job(id="a", submitted_at=0, request="cpu=1 gpu=0.25"), 0)  # writes the window
        with_window = len(syncs)
        syncs.clear()
        s.schedule(1)  # writes no window
        assert with_window == len(syncs) == 2
        assert store.load().placement == s.policy.placement.state()  # type: ignore[attr-defined]
        store.close()
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
