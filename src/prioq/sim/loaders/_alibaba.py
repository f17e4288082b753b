"""The Alibaba GPU trace v2023 (``openb``) pod list: :func:`load_alibaba`."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Literal

from prioq import _validate
from prioq.errors import InvalidValue
from prioq.model import Job, Labels, Node
from prioq.resources import MILLI, GPURequest, Range, ResourceRequest
from prioq.sim.loaders._nodes import load_alibaba_nodes
from prioq.sim.loaders._reading import (
    MIB,
    MIN_DURATION,
    PathLike,
    Row,
    TraceError,
    check_path,
    check_priorities,
    csv_rows,
    node_list,
    sorted_jobs,
    unique,
)
from prioq.sim.workload import Workload

__all__ = ["ALIBABA_ATTRIBUTION", "DEFAULT_QOS_PRIORITIES", "load_alibaba"]

DEFAULT_QOS_PRIORITIES: Mapping[str, int] = {"Guaranteed": 90, "LS": 80, "Burstable": 50, "BE": 10}
"""Alibaba QoS class -> ``Job.priority`` (0..100, higher runs first).

Guaranteed and LS (latency-sensitive, online services) are high, Burstable in
the middle, BE (best effort, batch) low; the gaps leave room for aging to lift
a long-waiting job one class without reaching the next-but-one.
"""

ALIBABA_ATTRIBUTION = (
    "Alibaba GPU cluster trace v2023 ('openb', cluster-trace-gpu-v2023) by Alibaba Group, "
    "https://github.com/alibaba/clusterdata; used in Weng et al., \"Beware of Fragmentation: "
    "Scheduling GPU-Sharing Workloads with Fragmentation Gradient Descent\", USENIX ATC'23."
)

_POD_COLUMNS = ("name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli")

_NEVER_RAN = "never ran (no scheduled_time)"


def load_alibaba(
    pods: PathLike,
    nodes: PathLike | Iterable[Node] | None = None,
    *,
    qos_priorities: Mapping[str, int] = DEFAULT_QOS_PRIORITIES,
    default_priority: int = 0,
    never_ran: Literal["keep", "drop"] = "keep",
    name: str | None = None,
    source: str | None = None,
) -> Workload:
    """Load an Alibaba GPU trace v2023 pod list (and optionally its node list). O(n log n).

    Columns ``name,cpu_milli,memory_mib,num_gpu,gpu_milli`` are required;
    ``gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time`` are
    used when present. Mapping:

    * request: ``cpu_milli``/1000 cores, ``memory_mib`` MiB; ``num_gpu`` = 1 with
      ``gpu_milli`` < 1000 is a fraction of one GPU (``gpu=0.46``), otherwise
      ``num_gpu`` whole GPUs; ``gpu_spec`` (``V100M16|V100M32``) restricts models.
    * priority: ``qos_priorities[qos]`` (:data:`DEFAULT_QOS_PRIORITIES`);
      an unknown QoS is an error; no ``qos`` column gives ``default_priority``.
      Labels: ``class`` and ``qos`` (the QoS), ``phase`` (``pod_phase``).
    * ``submitted_at`` = ``creation_time``; duration (the true runtime) =
      ``deletion_time - scheduled_time``: the trace's own queueing delay is
      not work, the simulator produces its own.
    * a pod that never ran (empty ``scheduled_time``; the trace's ``Pending``
      pods) is kept by default with duration ``deletion_time - creation_time``
      (how long it asked for resources before it was deleted) and label
      ``never_ran=true``; ``never_ran="drop"`` leaves it out and counts it in
      ``Workload.skipped``.
    * durations are at least :data:`MIN_DURATION`.
    * without ``creation_time`` (the 5-column ``multigpu50`` variant) every pod
      arrives at 0 with no duration: the placement-only experiment of the FGD paper.

    ``nodes``: a node list file (:func:`load_alibaba_nodes`) or nodes.
    """
    pods = check_path(pods, "load_alibaba: pods")
    _validate.choice(never_ran, ("keep", "drop"), "never_ran")
    qos_table = check_priorities(qos_priorities, "qos_priorities", str)
    _validate.priority(default_priority, "default_priority", error=InvalidValue)
    header, rows = csv_rows(pods, _POD_COLUMNS)
    timed = "creation_time" in header
    if timed and "deletion_time" not in header:
        raise TraceError(os.fspath(pods), 1, "deletion_time", "missing column (creation_time needs it)")
    reader = _PodReader(
        qos_table if "qos" in header else None, default_priority, timed=timed, drop=never_ran == "drop"
    )
    jobs: list[Job] = []
    seen: set[str] = set()
    dropped = 0
    for row in rows:
        job = reader.job(row, seen)
        if job is None:
            dropped += 1
        else:
            jobs.append(job)
    return Workload(
        name=name or Path(os.fspath(pods)).name,
        jobs=sorted_jobs(jobs),
        nodes=node_list(nodes, "load_alibaba: nodes", load_alibaba_nodes),
        source=source or f"Alibaba GPU trace v2023 format: {os.fspath(pods)}",
        skipped=[(_NEVER_RAN, dropped)] if dropped else [],
    )


class _PodReader:
    """Turns pod rows into jobs, sharing the few request shapes and label sets a trace repeats."""

    def __init__(
        self, qos_priorities: Mapping[object, int] | None, default_priority: int, *, timed: bool, drop: bool
    ) -> None:
        self.qos_priorities = qos_priorities  # None: the file has no qos column
        self.default_priority = default_priority
        self.timed = timed
        self.drop = drop
        self.requests: dict[tuple[str, ...], ResourceRequest] = {}
        self.label_sets: dict[tuple[tuple[str, str], ...], Labels] = {}

    def job(self, row: Row, seen: set[str]) -> Job | None:
        """The row's job; ``None`` if it never ran and such pods are dropped."""
        pod = row.text("name")
        if not pod:
            raise row.error("name", "missing pod name")
        unique(row, "name", pod, seen)
        request = self.request(row)
        labels: dict[str, str] = {}
        priority = self.priority(row, labels)
        phase = row.optional_text("pod_phase")
        if phase:
            labels["phase"] = phase
        submitted = 0.0
        duration: float | None = None
        if self.timed:
            times = self.times(row, labels)
            if times is None:
                return None
            submitted, duration = times
        try:
            return Job(
                id=pod,
                submitted_at=submitted,
                priority=priority,
                request=request,
                duration=duration,
                labels=self.shared(labels),
            )
        except InvalidValue as exc:  # InvalidJob, InvalidSpec: the row's values
            raise row.error("row", str(exc)) from exc

    def request(self, row: Row) -> ResourceRequest:
        # Traces repeat a few request shapes thousands of times: build (and validate) each once and
        # share the immutable value. Keyed on the raw text, so a bad row still fails on its own line.
        shape = tuple(row.text(f) for f in ("cpu_milli", "memory_mib", "num_gpu", "gpu_milli", "gpu_spec"))
        request = self.requests.get(shape)
        if request is None:
            cpu_milli = row.integer("cpu_milli")
            memory = row.integer("memory_mib") * MIB
            gpu = _alibaba_gpu(row, row.optional_text("gpu_spec"))
            try:
                request = ResourceRequest(
                    cpu=Range.exact(cpu_milli / MILLI), memory=Range.exact(memory), gpu=gpu
                )
            except InvalidValue as exc:  # InvalidSpec: the row's values
                raise row.error("row", str(exc)) from exc
            self.requests[shape] = request
        return request

    def priority(self, row: Row, labels: dict[str, str]) -> int:
        """The QoS class's priority (labels ``qos`` and ``class``), or the default without a qos column."""
        if self.qos_priorities is None:
            return self.default_priority
        qos = row.text("qos")
        if qos not in self.qos_priorities:
            known = ", ".join(sorted(map(str, self.qos_priorities)))
            raise row.error("qos", f"unknown QoS {qos!r} (the priority table has {known})")
        labels["qos"] = labels["class"] = qos
        return self.qos_priorities[qos]

    def times(self, row: Row, labels: dict[str, str]) -> tuple[float, float] | None:
        """``(submitted_at, duration)``; ``None`` for a pod that never ran when those are dropped."""
        submitted = row.number("creation_time")
        deleted = row.number("deletion_time")
        if deleted < submitted:
            raise row.error("deletion_time", f"{deleted:g} is before creation_time {submitted:g}")
        scheduled = row.optional_number("scheduled_time")
        if scheduled is None:
            if self.drop:
                return None
            labels["never_ran"] = "true"
            start = submitted
        else:
            if not submitted <= scheduled <= deleted:
                raise row.error(
                    "scheduled_time",
                    f"{scheduled:g} is outside creation_time..deletion_time {submitted:g}..{deleted:g}",
                )
            start = scheduled
        return submitted, max(MIN_DURATION, deleted - start)

    def shared(self, labels: dict[str, str]) -> Labels:
        key = tuple(labels.items())
        shared = self.label_sets.get(key)
        if shared is None:
            shared = self.label_sets[key] = Labels(labels)
        return shared


def _alibaba_gpu(row: Row, gpu_spec: str | None) -> GPURequest | None:
    num_gpu = row.integer("num_gpu")
    gpu_milli = row.integer("gpu_milli")
    if gpu_milli > MILLI:
        raise row.error("gpu_milli", f"must be <= {MILLI} (one device), got {gpu_milli}")
    if num_gpu == 0:
        if gpu_milli:
            raise row.error("gpu_milli", f"{gpu_milli} with num_gpu 0")
        return None
    if gpu_milli == 0:
        raise row.error("gpu_milli", f"0 with num_gpu {num_gpu}")
    if gpu_milli < MILLI and num_gpu > 1:
        raise row.error("gpu_milli", f"a share ({gpu_milli}) of each of {num_gpu} GPUs is not supported")
    count = gpu_milli / MILLI if gpu_milli < MILLI else float(num_gpu)
    names: tuple[str, ...] = ()
    if gpu_spec:
        # dict.fromkeys: de-duplicate (the trace has 'V100M16|V100M32|V100M32') keeping order.
        names = tuple(dict.fromkeys(n.strip() for n in gpu_spec.split("|") if n.strip()))
    return GPURequest(count=Range.exact(count), names=names)
