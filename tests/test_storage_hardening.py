"""Adversarial inputs to the stores: hand-edited or corrupted rows are refused at load with a
StoreError naming the row (never a KeyError, AssertionError or TypeError on a later call, never
a traceback from ``prioq show``); malformed and forged cursors are InvalidCursor; cursors are
signed with the caller's secret wherever a store issues them."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import io
import json
import shutil
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings

import prioq
from prioq import Job, Node, Policy, PrioqError, Scheduler, StoreError
from prioq.errors import InvalidCursor
from prioq.ordering import _core
from prioq.sim.cli import main
from prioq.storage import MemoryStore, SQLiteStore, open_store, pending_order
from test_storage import busy_scheduler

POLICY = Policy(preemption=prioq.Preemption(policy="lower-priority"),
                aging=prioq.LinearAging(rate=0.5, max_boost=10))

_TEMPLATE: dict[str, Path] = {}


def template() -> Path:
    """A store holding every kind of row (pending, running, terminating, nominated, a gang), built once."""
    if "path" not in _TEMPLATE:
        path = Path(tempfile.mkdtemp(prefix="prioq-tamper-")) / "template.db"
        store = SQLiteStore(path)
        busy_scheduler(store)
        store.close()
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        _TEMPLATE["path"] = path
    return _TEMPLATE["path"]


COLUMNS = {
    "prioq_jobs": ["id", "seq", "state", "priority", "submitted_at", "started_at", "data", "run"],
    "prioq_nodes": ["id", "ord", "data"],
    "prioq_meta": ["now", "next_seq", "next_order", "commits"],
}

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.integers().filter(lambda i: abs(i) > 2**63)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)
)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=6)
column_values = (
    st.none()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=12)
    | st.binary(max_size=8)
    | st.sampled_from(["pending", "running", "terminating", "n0", "n1", "low", "high", "gang", "{}", "[]"])
)


def paths(value: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [here]
    if isinstance(value, dict):
        for k, v in value.items():
            out += paths(v, (*here, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += paths(v, (*here, i))
    return out


def mutate_json(data: st.DataObject, text: str) -> str:
    doc = json.loads(text)
    path = data.draw(st.sampled_from(paths(doc)))
    new = data.draw(json_values)
    if not path:
        return json.dumps(new)
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    action = data.draw(st.sampled_from(["replace", "delete", "add"]))
    if action == "delete" and isinstance(parent, dict):
        del parent[path[-1]]
    elif action == "add" and isinstance(parent, dict):
        parent[data.draw(st.sampled_from(["id", "nodes", "node_ids", "allocation", "gpus", "started_at",
                                          "priority", "zzz"]))] = new
    else:
        parent[path[-1]] = new
    return json.dumps(doc)


def exercise(url: str) -> None:
    """Load and drive a scheduler: only PrioqErrors may come out, and a bad row only at load."""
    store = open_store(url)
    try:
        try:
            s = Scheduler(store=store, policy=POLICY)
        except StoreError:
            return
        s._check()
        now = max(s.now or 0.0, 10.0)
        ids = [p.job.id for p in s.pending(now)] + [r.job.id for r in s.running()]
        s.terminating()
        s.nominations()
        for job_id in ids:
            s.explain(job_id, now)
        s.schedule(now)
        for r in s.running():
            s.release(r.job.id, now)
        s.schedule(now + 1)
        s._check()
    finally:
        store.close()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_tampered_rows_are_refused_at_load(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    path = tmp_path_factory.mktemp("tamper") / "t.db"
    shutil.copy(template(), path)
    conn = sqlite3.connect(path)
    table = data.draw(st.sampled_from(sorted(COLUMNS)))
    column = data.draw(st.sampled_from(COLUMNS[table]))
    rows = conn.execute(f"SELECT id, {column} FROM {table}").fetchall()
    row_key, old = data.draw(st.sampled_from(rows))
    if column in ("data", "run") and isinstance(old, str) and data.draw(st.booleans()):
        new: Any = mutate_json(data, old)
    else:
        new = data.draw(column_values)
    try:
        conn.execute(f"UPDATE {table} SET {column} = ? WHERE id = ?", (new, row_key))
        conn.commit()
    except sqlite3.IntegrityError:
        return  # the database itself refused the edit (a NOT NULL, a unique index)
    finally:
        conn.close()
    url = f"sqlite:///{path}"
    # Refused with prioq's own error: fine (a StoreError at load, or a call's own refusal).
    with contextlib.suppress(PrioqError):
        exercise(url)
    # prioq show never shows a traceback either.
    out, err = io.StringIO(), io.StringIO()
    code = main(["show", "--store", url], out=out, err=err)
    assert code in (0, 2), err.getvalue()


def test_a_hand_edited_row_is_named(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    shutil.copy(template(), path)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE prioq_jobs SET run = ? WHERE id = 'low'", (json.dumps({"node_ids": ["n0"]}),))
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="job row 'low'"):
        SQLiteStore(path).load()
    code = main(["show", "--store", f"sqlite:///{path}"], out=io.StringIO(), err=(err := io.StringIO()))
    assert code == 2 and "job row 'low'" in err.getvalue()


# ----------------------------------------------------------------------------- cursors


def forge(values: list[Any], digest: str | None = None, key: bytes = _core._PUBLIC_KEY) -> str:
    """A cursor as anyone can make one without the secret: the checksum key is public."""
    body = bytes([1]) + json.dumps([digest or pending_order().digest, values]).encode()
    tag = hmac.new(key, body, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(body + tag).rstrip(b"=").decode()


def stores(tmp_path: Path) -> list[Any]:
    memory = MemoryStore()
    sqlite = SQLiteStore(tmp_path / "c.db")
    for store in (memory, sqlite):
        s = Scheduler([Node(id="n", capacity="cpu=1")], store=store)
        s.submit_many([Job(id=f"j{i}", submitted_at=i, priority=i % 3) for i in range(5)], 5)
    return [memory, sqlite]


BAD_VALUES = [
    ["high", 1.0, 1, "a"], [1, "x", 1, "a"], [1, 1.0, 1.5, "a"], [1, 1.0, 1, 5], [True, 1.0, 1, "a"],
    [2**64, 1.0, 1, "a"], [1, 1.0, -(2**70), "a"], [None, 1.0, 1, "a"], [1, 1.0, 1, None], [1, 1.0, 1],
    [[1], 1.0, 1, "a"], [{"d": "2020-01-01T00:00:00"}, 1.0, 1, "a"],
]


def test_malformed_cursors_are_invalid_cursor_on_every_store(tmp_path: Path) -> None:
    for store in stores(tmp_path):
        for values in BAD_VALUES:
            with pytest.raises(InvalidCursor):
                store.pending_jobs(2, forge(values))
        for junk in ["", "x", "!!", "a" * 5000, 5, None.__class__.__name__]:
            with pytest.raises(InvalidCursor):
                store.pending_jobs(2, junk)
        store.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(json_values, min_size=0, max_size=5))
def test_any_forged_payload_is_a_page_or_invalid_cursor(tmp_path_factory: pytest.TempPathFactory,
                                                         values: list[Any]) -> None:
    for store in stores(tmp_path_factory.mktemp("c")):
        with contextlib.suppress(InvalidCursor):
            store.pending_jobs(2, forge(values))
        store.close()


def test_cursors_are_signed_with_the_callers_secret(tmp_path: Path) -> None:
    for store in stores(tmp_path):
        page = store.pending_jobs(2, secret=b"server secret")
        assert page.next_cursor is not None
        following = store.pending_jobs(2, page.next_cursor, secret=b"server secret")
        assert following.items
        for other in (None, b"another secret"):
            with pytest.raises(InvalidCursor, match="signed with another secret"):
                store.pending_jobs(2, page.next_cursor, secret=other)
        # Without a secret the key is public: a forged cursor of valid values is accepted...
        assert store.pending_jobs(2, forge([1, {"f": "0.0"}, 0, "j0"])).items is not None
        # ...and with one it is not.
        with pytest.raises(InvalidCursor):
            store.pending_jobs(2, forge([1, {"f": "0.0"}, 0, "j0"]), secret=b"server secret")
        store.close()
    order = pending_order(b"s")
    assert order.secret == b"s" and order.digest == pending_order().digest


def test_declared_kinds_refuse_cursors_of_another_kind() -> None:
    from prioq.ordering import Field, Order

    plain = Order([("priority", "desc", "not_null"), ("id", "asc", "not_null")])
    typed = Order([("priority", "desc", "not_null", "int"), Field("id", kind="str", nullable=False)])
    assert plain.digest == Order([("priority", "desc", "not_null"), ("id", "asc", "not_null")]).digest
    assert typed.digest != plain.digest  # a kind joins the digest; orders without one keep theirs
    good = typed.cursor({"priority": 3, "id": "a"})
    assert typed.parse_cursor(good) == (3, "a")
    for values in ([3.5, "a"], ["3", "a"], [True, "a"], [3, 4], [2**64, "a"]):
        with pytest.raises(InvalidCursor):
            typed.parse_cursor(forge(values, typed.digest))
    with pytest.raises(prioq.InvalidValue):
        typed.cursor({"priority": "high", "id": "a"})
    with pytest.raises(prioq.InvalidValue):
        Order([("priority", "desc", "integer")])
    with pytest.raises(prioq.InvalidValue):
        Field("x", kind="decimal")


def test_a_tampered_postgres_row_is_named(postgres_url: str) -> None:
    import psycopg

    from prioq.storage import PostgresStore

    schema = f"t_{__import__('secrets').token_hex(6)}"
    try:
        store = PostgresStore(postgres_url, schema=schema, replica="a")
        busy_scheduler(store)
        store.resign()
        store.close()
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f'UPDATE "{schema}".prioq_jobs SET priority = priority + 1 WHERE id = %s', ("gang",))
        store = PostgresStore(postgres_url, schema=schema, replica="a")
        with pytest.raises(StoreError, match="job row 'gang' has sort columns"):
            store.load()
        store.close()
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
