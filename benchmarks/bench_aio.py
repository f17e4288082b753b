"""Event-loop stalls while an ``AsyncScheduler`` commits 10,000 jobs (docs/orchestrator.md).

A heartbeat task sleeps 2 ms in a loop and records the longest it went without
running, while the loop awaits ``submit_many`` of 10,000 jobs and then the cycle
that starts 6,400 of them (a 6,400-row commit; 100 nodes of 64 CPUs, one CPU per
job). For comparison, the same calls made synchronously on the loop (what an
application without the facade does). Each is measured with CPython's cyclic GC
on (its full collections stop every thread) and off.

    PYTHONPATH=src python benchmarks/bench_aio.py [--postgres URL] [--jobs 10000] [--toy]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import secrets
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

from prioq import Job, Node, Scheduler
from prioq.aio import AsyncScheduler
from prioq.storage import open_store


async def _heartbeat(stop: asyncio.Event, period: float = 0.002) -> float:
    worst = 0.0
    last = time.perf_counter()
    while not stop.is_set():
        await asyncio.sleep(period)
        t = time.perf_counter()
        worst = max(worst, t - last - period)
        last = t
    return worst


async def _stall(fn: Callable[[], Awaitable[Any]]) -> tuple[float, float]:
    stop = asyncio.Event()
    beat = asyncio.create_task(_heartbeat(stop))
    await asyncio.sleep(0.01)
    t0 = time.perf_counter()
    await fn()
    wall = time.perf_counter() - t0
    stop.set()
    return await beat, wall


def _url(kind: str, pg: str | None) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    assert pg is not None
    sep = "&" if "?" in pg else "?"
    return f"{pg}{sep}schema=bench_{secrets.token_hex(4)}"


async def _run(kind: str, url: str, n: int, facade: bool) -> dict[str, tuple[float, float]]:
    nodes = [Node(id=f"n{i}", capacity="cpu=64 memory=256GB gpu=A100:80GB:8") for i in range(100)]
    jobs = [Job(id=f"j{i}", submitted_at=0, request="cpu=1") for i in range(n)]
    out = {}
    if facade:
        s = await AsyncScheduler.open(nodes, store=open_store(url))
        out["submit_many"] = await _stall(lambda: s.submit_many(jobs, 1))
        out["schedule"] = await _stall(lambda: s.schedule(2))
        await s.close()
    else:
        sync = Scheduler(nodes, store=open_store(url))

        async def submit() -> None:
            sync.submit_many(jobs, 1)

        async def tick() -> None:
            sync.schedule(2)

        out["submit_many"] = await _stall(submit)
        out["schedule"] = await _stall(tick)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--postgres", help="a PostgreSQL URL (a throwaway schema is created)")
    ap.add_argument("--jobs", type=int, default=10_000)
    ap.add_argument("--toy", action="store_true", help="1,000 jobs, SQLite only (a smoke run)")
    args = ap.parse_args(argv)
    if args.toy:
        args.jobs, args.postgres = 1_000, None
    kinds = ["sqlite"] + (["postgres"] if args.postgres else [])
    print(f"{'store':9} {'mode':14} {'gc':4} {'call':12} {'worst stall ms':>15} {'wall ms':>9}")
    for kind in kinds:
        for facade in (True, False):
            for gc_on in (True, False):
                if not gc_on:
                    gc.disable()
                try:
                    got = asyncio.run(_run(kind, _url(kind, args.postgres), args.jobs, facade))
                finally:
                    gc.enable()
                mode = "AsyncScheduler" if facade else "sync on loop"
                for call, (stall, wall) in got.items():
                    print(f"{kind:9} {mode:14} {'on' if gc_on else 'off':4} {call:12} "
                          f"{stall * 1000:15.1f} {wall * 1000:9.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
