"""The ``quota`` strategy modifier's default quotas for a trace (docs/quotas.md#simulation).

A trace names owners but no quotas, so the modifier derives them: every owner
of the trace gets an equal share of the cluster's GPUs and CPUs as its nominal
quota (in milli-units; the remainder of the division goes one milli-unit each to
the first owners by name, so the shares add up to the cluster exactly and a job
as big as the cluster still fits the cohort), all owners form one cohort ``"cluster"``
without borrowing or lending limits, and an owner may reclaim its share from
borrowers of any priority (``reclaim_within_cohort="any"``; effective with the
``preemption`` modifier). Jobs without an owner are not limited. So an owner
alone on the cluster may use all of it, and owners competing each get back at
least their share -- Kueue's usual setup of one ClusterQueue per team in one
cohort. O(jobs + nodes).
"""

from __future__ import annotations

from prioq.quota import Amounts, Quota, Quotas
from prioq.sim.workload import Workload

__all__ = ["COHORT", "trace_quotas"]

COHORT = "cluster"


def trace_quotas(workload: Workload) -> Quotas:
    """Equal nominal shares of the cluster's GPUs and CPUs for the trace's owners, one cohort."""
    owners = sorted({job.owner for job in workload.jobs if job.owner is not None})
    if not owners:
        return Quotas()
    gpu = sum(n.capacity.gpu_milli for n in workload.nodes)
    cpu = sum(n.capacity.cpu_milli for n in workload.nodes)
    totals = {name: total for name, total in (("gpu", gpu), ("cpu", cpu)) if total}
    if not totals:
        return Quotas()
    n = len(owners)
    out = {}
    for i, owner in enumerate(owners):
        nominal = Amounts.of({name: total // n + (i < total % n) for name, total in totals.items()})
        out[owner] = Quota(nominal=nominal, cohort=COHORT, reclaim_within_cohort="any")
    return Quotas(owners=out)
