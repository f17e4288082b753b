"""Node selection must not turn a placement into a scan of all nodes (issue 13).

Three measurements on one seeded cluster of ``--nodes`` CPU nodes split into
``--fleets`` fleets (label ``fleet=f<i>``), CPU time:

1. **cycle** -- one ``Scheduler.schedule`` starting ``--jobs`` jobs, without
   selection vs. every job selecting one fleet (``node_selector={"fleet": ...}``)
   vs. every job pinned to 4 nodes (``allowed_nodes``). Ratio = selected / plain:
   selection should cost about what a plain cycle costs.
2. **saturated fleet** -- fleet ``f0`` full, every other fleet empty; ``--jobs``
   placements for ``f0`` jobs, each after freeing one ``f0`` slot. prioq places
   from the fleet's view (its buckets only); the alternative a selection filter
   would be -- the whole index with the selector as the policy's ``allow`` veto --
   walks every free node of the other fleets first. Ratio = filter / view.
3. **view upkeep** -- the same plain cycle with 1 vs. ``--fleets`` selection views
   attached (each allocation re-files its node in its views): the cost of keeping them.

Run: ``python benchmarks/bench_selection.py`` (defaults: 4,000 nodes, 8 fleets,
2,000 jobs); ``--toy`` for a tiny run (CI).
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable

from prioq import Job, Node, Policy, Scheduler
from prioq.placement import BestFit, NodeIndex, NodeState
from prioq.resources import ResourceRequest, Resources
from prioq.selection import selection

__all__ = ["main"]

CLOCK: Callable[[], float] = time.process_time


def cluster(n: int, fleets: int) -> list[Node]:
    return [Node(id=f"n{i}", capacity="cpu=32 memory=128GB", labels={"fleet": f"f{i % fleets}"})
            for i in range(n)]


def jobs(k: int, fleets: int, mode: str, seed: int, n: int) -> list[Job]:
    rng = random.Random(seed)
    out = []
    for i in range(k):
        req = rng.choice(["cpu=2 memory=8GB", "cpu=4 memory=16GB", "cpu=8 memory=32GB"])
        extra: dict[str, object] = {}
        if mode == "selector":
            extra["node_selector"] = {"fleet": f"f{rng.randrange(fleets)}"}
        elif mode == "pinned":
            base = rng.randrange(n)
            extra["allowed_nodes"] = [f"n{(base + j) % n}" for j in range(4)]
        out.append(Job(id=f"j{i}", submitted_at=0, request=req, **extra))  # type: ignore[arg-type]
    return out


def one_cycle(n: int, fleets: int, k: int, mode: str, seed: int, views: int = 0) -> tuple[float, int]:
    s = Scheduler(cluster(n, fleets), policy=Policy(reservation=False))
    state = s._state
    for f in range(views):  # attach selection views without using them (upkeep cost)
        state.placement_index(selection(Job(id="x", submitted_at=0, node_selector={"fleet": f"f{f}"})))
    s.submit_many(jobs(k, fleets, mode, seed, n), 0)
    t0 = CLOCK()
    started = len(s.schedule(1))
    return CLOCK() - t0, started


def saturated(n: int, fleets: int, k: int) -> tuple[float, float, int]:
    """(seconds through the fleet's view, seconds through the whole index with an allow veto,
    nodes the veto was asked about per placement)."""
    nodes = cluster(n, fleets)
    s = Scheduler(nodes, policy=Policy(reservation=False))
    f0 = [nd.id for nd in nodes if nd.labels["fleet"] == "f0"]
    s.submit_many([Job(id=f"fill{i}", submitted_at=0, request="cpu=32", node_selector={"fleet": "f0"})
                   for i in range(len(f0))], 0)
    assert len(s.schedule(0)) == len(f0)
    state = s._state
    sel = selection(Job(id="x", submitted_at=0, node_selector={"fleet": "f0"}))
    view = state.placement_index(sel)
    whole: NodeIndex = state.index
    policy = BestFit()
    req = ResourceRequest.parse("cpu=8")
    asked = [0]

    def veto(ns: NodeState, _alloc: Resources) -> bool:
        asked[0] += 1
        return state.is_eligible(sel, ns)

    t_view = t_filter = 0.0
    for i in range(k):
        ns = view.get(f0[i % len(f0)])
        whole.update(ns, ns.node.capacity)  # one f0 node frees up (its views follow)
        t0 = CLOCK()
        got_view = policy.place(req, view)
        t1 = CLOCK()
        got_filter = policy.place(req, whole, veto)
        t2 = CLOCK()
        assert got_view is not None and got_filter is not None and got_view[0] is got_filter[0]
        t_view += t1 - t0
        t_filter += t2 - t1
        whole.update(ns, ns.node.capacity - ns.node.capacity)  # full again
    return t_view, t_filter, asked[0] // k


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--nodes", type=int, default=4000)
    p.add_argument("--fleets", type=int, default=8)
    p.add_argument("--jobs", type=int, default=2000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--toy", action="store_true", help="a tiny run (CI)")
    args = p.parse_args(argv)
    if args.toy:
        args.nodes, args.fleets, args.jobs = 200, 4, 100
    n, fleets, k = args.nodes, args.fleets, args.jobs
    print(f"node selection: {n} nodes in {fleets} fleets, {k} jobs (CPU seconds)")
    plain, s_plain = one_cycle(n, fleets, k, "plain", args.seed)
    sel, s_sel = one_cycle(n, fleets, k, "selector", args.seed)
    pin, s_pin = one_cycle(n, fleets, k, "pinned", args.seed)
    print("1. one cycle")
    print(f"   no selection        {plain:8.4f} s  {s_plain} started")
    print(f"   node_selector fleet {sel:8.4f} s  {s_sel} started  ratio {sel / plain:5.2f}x")
    print(f"   allowed_nodes (4)   {pin:8.4f} s  {s_pin} started  ratio {pin / plain:5.2f}x")
    t_view, t_filter, asked = saturated(n, fleets, k)
    print("2. saturated fleet f0, others empty: one f0 placement at a time")
    print(f"   fleet view          {t_view:8.4f} s")
    print(f"   whole index + veto  {t_filter:8.4f} s  ({asked} nodes vetoed per placement)  "
          f"ratio {t_filter / t_view:5.1f}x")
    one, _ = one_cycle(n, fleets, k, "plain", args.seed, views=1)
    many, _ = one_cycle(n, fleets, k, "plain", args.seed, views=fleets)
    print("3. view upkeep: the plain cycle with views attached")
    print(f"   1 view              {one:8.4f} s  ratio {one / plain:5.2f}x")
    print(f"   {fleets} views             {many:8.4f} s  ratio {many / plain:5.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
