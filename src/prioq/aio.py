"""``AsyncScheduler``: the same :class:`~prioq.Scheduler` for an asyncio program (docs/orchestrator.md).

Every call runs whole in the scheduler's own worker thread -- one thread per
scheduler, so a store sees one thread (the one that opened it, with
:meth:`AsyncScheduler.open`), and calls run in the
order they were made -- behind an :class:`asyncio.Lock`: the event loop never waits for a
commit's fsync, a PostgreSQL round trip or a long cycle, and calls from many
tasks are serialized exactly as the synchronous scheduler requires.

**Cancellation.** Cancelling a task that awaits a call never leaves half a call:

* cancelled while waiting for its turn (the lock): the call never started; the
  state is as before;
* cancelled while its thread runs: the call is shielded and runs to its end, the
  lock held until it has; the await then raises :class:`asyncio.CancelledError`
  and the state is **as after** the call (as before if the call itself failed:
  every failed call changes nothing). The call's result is lost to the caller;
  what it did is visible in the state (``running()`` lists the jobs a cancelled
  ``schedule`` started, ``terminating()`` the victims it chose).

Costs are the synchronous ones plus one thread hand-off (tens of microseconds)
per call.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, TypeVar

from prioq import _validate as v
from prioq.events import EventPage
from prioq.model import Decision, Job, Node, PendingJob, Running
from prioq.policy import Policy
from prioq.resources import Resources
from prioq.scheduler import DEFAULT_RETENTION, NodeChanges, Scheduler, Terminating
from prioq.status import Demand, JobStatus
from prioq.storage import Changes, Snapshot, Store

__all__ = ["AsyncScheduler"]

T = TypeVar("T")


class AsyncScheduler:
    """An asyncio facade over one :class:`~prioq.Scheduler` (see the module docstring).

    ``await AsyncScheduler.open(nodes, policy=..., store=...)`` opens the store in the
    worker thread; ``AsyncScheduler(scheduler)`` wraps one already open (which the
    program must then use only through this facade). ``async with`` closes it.
    """

    def __init__(self, scheduler: Scheduler) -> None:
        self._scheduler = v.instance(scheduler, Scheduler, "AsyncScheduler scheduler")
        self._lock = asyncio.Lock()
        self._executor = _worker()
        self._closed = False

    @classmethod
    async def open(
        cls,
        nodes: Iterable[Node] | None = None,
        *,
        policy: Policy | None = None,
        store: Store | None = None,
        policy_change: Literal["refuse", "replace"] = "refuse",
        event_retention: int = DEFAULT_RETENTION,
    ) -> AsyncScheduler:
        """Open (or resume) a scheduler without blocking the loop: the store is loaded in
        the worker thread, which then serves every call of the new facade."""
        executor = _worker()
        if getattr(store, "loop_bound", False):  # shared_async: its I/O runs on this loop
            store = _OnLoop(store, asyncio.get_running_loop())
        make = functools.partial(Scheduler, nodes, policy=policy, store=store, policy_change=policy_change,
                                 event_retention=event_retention)
        try:
            scheduler = await _shielded(asyncio.get_running_loop().run_in_executor(executor, make))
        except BaseException:
            executor.shutdown(wait=False)
            raise
        self = cls(scheduler)
        self._executor.shutdown(wait=False)
        self._executor = executor  # the thread that opened the store goes on serving it
        return self

    # ------------------------------------------------------------------ plumbing

    async def call(self, fn: Callable[[Scheduler], T]) -> T:
        """Run ``fn(scheduler)`` in the worker thread, alone: several calls made in one
        ``fn`` are not interleaved with any other task's (they still commit one by one)."""
        async with self._lock:  # cancelled here: nothing started
            if self._closed:
                raise RuntimeError("AsyncScheduler is closed")
            loop = asyncio.get_running_loop()
            inner = loop.run_in_executor(self._executor, fn, self._scheduler)
            return await _shielded(inner)

    async def close(self) -> None:
        """Wait for the call in flight, close the store (in the worker thread), stop the thread."""
        async with self._lock:
            if self._closed:
                return
            self._closed = True
            store = self._scheduler._state.store
            try:
                await _shielded(asyncio.get_running_loop().run_in_executor(self._executor, store.close))
            finally:
                self._executor.shutdown(wait=False)

    async def __aenter__(self) -> AsyncScheduler:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ properties (no I/O)

    @property
    def scheduler(self) -> Scheduler:
        """The wrapped scheduler (use it only when no call is in flight)."""
        return self._scheduler

    @property
    def now(self) -> float | None:
        """The scheduler's clock (see :attr:`Scheduler.now <prioq.Scheduler.now>`)."""
        return self._scheduler.now

    @property
    def policy(self) -> Policy:
        return self._scheduler.policy

    @property
    def resumed(self) -> bool:
        return self._scheduler.resumed

    @property
    def node_changes(self) -> NodeChanges:
        return self._scheduler.node_changes

    # ------------------------------------------------------------------ what happened

    async def submit(self, job: Job, now: float) -> Job:
        return await self.call(lambda s: s.submit(job, now))

    async def submit_many(self, jobs: Iterable[Job], now: float) -> list[Job]:
        return await self.call(lambda s: s.submit_many(jobs, now))

    async def cancel(self, job_id: str, now: float) -> Job:
        return await self.call(lambda s: s.cancel(job_id, now))

    async def cancel_many(self, job_ids: Iterable[str], now: float) -> list[Job]:
        return await self.call(lambda s: s.cancel_many(job_ids, now))

    async def set_priority_many(self, priorities: Mapping[str, int] | Iterable[tuple[str, int]],
                                now: float) -> list[Job]:
        return await self.call(lambda s: s.set_priority_many(priorities, now))

    async def set_priority(self, job_id: str, priority: int, now: float) -> Job:
        return await self.call(lambda s: s.set_priority(job_id, priority, now))

    async def release(self, job_id: str, now: float, outcome: str | None = None) -> Job:
        return await self.call(lambda s: s.release(job_id, now, outcome))

    async def set_group_priority(self, group: str, priority: int, now: float) -> list[Job]:
        return await self.call(lambda s: s.set_group_priority(group, priority, now))

    async def requeue(self, job_id: str, now: float) -> Job:
        return await self.call(lambda s: s.requeue(job_id, now))

    async def add_node(self, node: Node, now: float) -> None:
        await self.call(lambda s: s.add_node(node, now))

    async def remove_node(self, node_id: str, now: float) -> list[str]:
        return await self.call(lambda s: s.remove_node(node_id, now))

    # ------------------------------------------------------------------ what to do

    async def schedule(self, now: float) -> list[Decision]:
        return await self.call(lambda s: s.schedule(now))

    # ------------------------------------------------------------------ reads (never change state)

    async def pending(self, now: float, limit: int | None = None) -> list[PendingJob]:
        return await self.call(lambda s: s.pending(now, limit))

    async def explain(self, job_id: str, now: float,
                      time_format: Callable[[float], str] | None = None) -> str:
        return await self.call(lambda s: s.explain(job_id, now, time_format))

    async def status(self, job_id: str, now: float) -> JobStatus:
        return await self.call(lambda s: s.status(job_id, now))

    async def unmet_demand(self, now: float, waited_over: float | None = None) -> list[Demand]:
        return await self.call(lambda s: s.unmet_demand(now, waited_over))

    async def events(self, since: int = 0, limit: int | None = None) -> EventPage:
        return await self.call(lambda s: s.events(since, limit))

    async def running(self) -> list[Running]:
        return await self.call(lambda s: s.running())

    async def terminating(self) -> dict[str, Terminating]:
        return await self.call(lambda s: s.terminating())

    async def nominations(self) -> dict[str, tuple[str, ...]]:
        return await self.call(lambda s: s.nominations())

    async def get(self, job_id: str) -> Job:
        return await self.call(lambda s: s.get(job_id))

    async def free(self, node_id: str) -> Resources:
        return await self.call(lambda s: s.free(node_id))

    async def nodes(self) -> list[Node]:
        return await self.call(lambda s: s.nodes)

    async def usage(self, now: float) -> dict[str, dict[str, float]]:
        return await self.call(lambda s: s.usage(now))

    async def outcomes(self) -> dict[str, str]:
        return await self.call(lambda s: s.outcomes())


class _OnLoop:
    """A store whose I/O belongs to the event loop (one from :func:`prioq.storage.shared_async`
    on the application's ``AsyncConnection``): the worker thread hands each load and commit
    to the loop and waits for it. The loop runs the I/O as awaits, the call's CPU work stays
    in the thread, and the call in flight is still shielded (the hand-off is a task of its own)."""

    def __init__(self, store: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._store = store
        self._loop = loop

    def load(self) -> Snapshot:
        snap: Snapshot = asyncio.run_coroutine_threadsafe(self._store.load_async(), self._loop).result()
        return snap

    def commit(self, changes: Changes) -> None:
        asyncio.run_coroutine_threadsafe(self._store.commit_async(changes), self._loop).result()

    def close(self) -> None:
        self._store.close()


def _worker() -> concurrent.futures.ThreadPoolExecutor:
    """One thread: calls run in order, and a store always sees the same thread."""
    return concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="prioq")


async def _shielded(inner: asyncio.Future[T]) -> T:
    """Await ``inner`` (a call running in a thread); if the awaiting task is cancelled,
    let the call finish first -- however often it is cancelled meanwhile -- then raise
    :class:`asyncio.CancelledError`. The call's own error is then not raised (the state
    is as before it, like after any failed call); it is retrieved so none is logged."""
    try:
        return await asyncio.shield(inner)
    except asyncio.CancelledError:
        while not inner.done():
            try:
                await asyncio.wait({inner})
            except asyncio.CancelledError:
                continue
        if not inner.cancelled():
            inner.exception()  # retrieved: the caller sees CancelledError
        raise
