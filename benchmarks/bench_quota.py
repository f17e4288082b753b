"""Quotas on a deep backlog: what a cycle costs with every owner at its quota.

``owners`` owners of 8 GPUs each in one cohort, as many 8-GPU nodes, and
``pending`` one-GPU jobs spread over the owners: the first cycle fills the
cluster and parks the rest (quota-blocked, per owner and shape); then a cycle
with nothing to start, and a cycle after one release. Side by side with the same
backlog without quotas. ``--toy`` runs a tiny size (CI).

    python benchmarks/bench_quota.py --pending 10000 --owners 100
"""

from __future__ import annotations

import argparse
import time

from prioq import Job, Node, Policy, Quota, Scheduler


def one(policy: Policy, owners: int, pending: int) -> tuple[float, float, float]:
    nodes = [Node(id=f"n{i}", capacity="cpu=64 gpu=A100:8") for i in range(owners)]
    s = Scheduler(nodes, policy=policy)
    s.submit_many([Job(id=f"j{i}", submitted_at=0, request="gpu=1", owner=f"o{i % owners}")
                   for i in range(pending)], 0)
    t = time.perf_counter()
    s.schedule(1)
    first = time.perf_counter() - t
    t = time.perf_counter()
    assert s.schedule(2) == []
    idle = time.perf_counter() - t
    s.release(s.running()[0].job.id, 3)
    t = time.perf_counter()
    assert len(s.schedule(3)) == 1
    after = time.perf_counter() - t
    s._check()
    return first, idle, after


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pending", type=int, default=10_000)
    parser.add_argument("--owners", type=int, default=100)
    parser.add_argument("--toy", action="store_true")
    args = parser.parse_args()
    pending, owners = (400, 10) if args.toy else (args.pending, args.owners)
    quotas = {f"o{k}": Quota(nominal="gpu=8", cohort="c") for k in range(owners)}
    print(f"{pending} pending one-GPU jobs, {owners} owners of 8 GPUs in one cohort, "
          f"{owners} nodes of 8 GPUs")
    print(f"{'policy':12s} {'first cycle':>12s} {'idle cycle':>11s} {'after release':>14s}")
    for label, policy in (("no quotas", Policy()), ("quotas", Policy(quotas=quotas))):
        first, idle, after = one(policy, owners, pending)
        print(f"{label:12s} {first * 1e3:10.1f} ms {idle * 1e3:8.2f} ms {after * 1e3:11.2f} ms")


if __name__ == "__main__":
    main()
