"""The policies' keyed state (``State.extras``): committed key by key, undone on failure, reloaded."""

from __future__ import annotations

import pytest

from prioq import Policy
from prioq.errors import StoreError
from prioq.scheduler._state import State
from test_rollback import FailingStore


def test_put_extra_commits_only_changed_keys_and_reloads() -> None:
    store = FailingStore()
    state = State(Policy(), store)
    with state.transaction(1.0):
        state.put_extra("usage/a", "1")
        state.put_extra("usage/b", "2")
    assert dict(store.seen[-1].extras) == {"usage/a": "1", "usage/b": "2"}
    with state.transaction(2.0):
        state.put_extra("usage/a", None)
        state.put_extra("usage/b", "2")  # unchanged: not written
    assert dict(store.seen[-1].extras) == {"usage/a": None}
    reloaded = State(Policy(), store)
    reloaded.load(store.load())
    assert reloaded.extras == {"usage/b": "2"} == state.extras


def test_a_failed_commit_undoes_put_extra() -> None:
    store = FailingStore()
    state = State(Policy(), store)
    with state.transaction(1.0):
        state.put_extra("k", "old")
    store.fail = True
    with pytest.raises(StoreError), state.transaction(2.0):
        state.put_extra("k", "new")
        state.put_extra("gone", "x")
    assert state.extras == {"k": "old"} and state.now == 1.0
    store.fail = False
    seen = len(store.seen)
    with state.transaction(3.0):
        pass
    assert len(store.seen) == seen  # nothing changed but the clock: nothing written
    with state.transaction(4.0):
        state.put_extra("other", "1")
    assert dict(store.seen[-1].extras) == {"other": "1"}  # nothing left dirty by the failed call
