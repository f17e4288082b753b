"""Seeded synthetic workloads and heterogeneous clusters.

Everything draws from one ``random.Random(seed)`` per call (never the global
random state), so the same arguments give the same workload on every run and
platform. The defaults aim at something shaped like a shared GPU cluster:
Poisson arrivals, heavy-tailed runtimes, mostly single- or fractional-GPU jobs
with a tail of 2-, 4- and 8-GPU jobs, three priority classes, and a few heavy
users among many light ones.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence
from typing import Literal

import attrs

from prioq.errors import InvalidJob
from prioq.model import Job, Labels, Node
from prioq.resources import GPU, MILLI, Device, GPURequest, Range, ResourceRequest, Resources
from prioq.sim.workload import Workload

__all__ = [
    "DEFAULT_CLASS_MIX",
    "DEFAULT_GPU_MIX",
    "DEFAULT_NODE_TYPES",
    "NodeType",
    "synthetic_cluster",
    "synthetic_workload",
]

GIB = 1024**3


def _check_weight(what: str, weight: object) -> None:
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not (
        math.isfinite(weight) and weight >= 0
    ):
        raise InvalidJob(f"{what}: weight must be a finite number >= 0, got {weight!r}")


@attrs.frozen(slots=True, kw_only=True)
class NodeType:
    """A kind of machine in a synthetic cluster, drawn with relative ``weight``."""

    name: str
    cpus: int
    memory_gib: int
    gpus: int = 0
    gpu: GPU | None = None
    weight: float = 1.0

    def __attrs_post_init__(self) -> None:
        if not self.name:
            raise InvalidJob("node type: name must be non-empty")
        for field in ("cpus", "memory_gib", "gpus"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidJob(f"node type {self.name}: {field} must be an int >= 0, got {value!r}")
        if self.gpus and self.gpu is None:
            raise InvalidJob(f"node type {self.name}: {self.gpus} GPUs need a gpu model")
        _check_weight(f"node type {self.name}", self.weight)

    def capacity(self) -> Resources:
        devices = tuple(Device(i, self.gpu) for i in range(self.gpus)) if self.gpu else ()
        return Resources(cpu_milli=self.cpus * MILLI, memory=self.memory_gib * GIB, gpus=devices)


DEFAULT_NODE_TYPES: tuple[NodeType, ...] = (
    NodeType(name="h100x8", cpus=192, memory_gib=2048, gpus=8, gpu=GPU("H100", memory=80 * GIB), weight=0.10),
    NodeType(name="a100x8", cpus=96, memory_gib=1024, gpus=8, gpu=GPU("A100", memory=80 * GIB), weight=0.25),
    NodeType(name="v100x8", cpus=96, memory_gib=768, gpus=8, gpu=GPU("V100", memory=32 * GIB), weight=0.20),
    NodeType(name="t4x4", cpus=64, memory_gib=256, gpus=4, gpu=GPU("T4", memory=16 * GIB), weight=0.20),
    NodeType(name="a10x2", cpus=32, memory_gib=128, gpus=2, gpu=GPU("A10", memory=24 * GIB), weight=0.15),
    NodeType(name="cpu", cpus=64, memory_gib=256, weight=0.10),
)
"""A heterogeneous mix: 8-GPU training boxes of three generations, small inference nodes, CPU-only."""

DEFAULT_GPU_MIX: tuple[tuple[float, float], ...] = (
    (0, 0.10),
    (0.25, 0.10),
    (0.5, 0.15),
    (1, 0.35),
    (2, 0.12),
    (4, 0.10),
    (8, 0.08),
)
"""(GPUs per job, weight): 0 is CPU-only, below 1 a share of one device."""

DEFAULT_CLASS_MIX: tuple[tuple[str, int, float], ...] = (
    ("high", 80, 0.2),
    ("normal", 50, 0.5),
    ("low", 10, 0.3),
)
"""(class name, priority, weight)."""


def _check_weights(what: str, weights: Sequence[float]) -> None:
    if not weights:
        raise InvalidJob(f"{what}: must not be empty")
    for w in weights:
        _check_weight(what, w)
    if not sum(weights) > 0:
        raise InvalidJob(f"{what}: weights must not all be zero")


def _positive(name: str, value: object, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
        math.isfinite(value) and value > 0
    ):
        raise InvalidJob(f"{name}: must be a finite number > 0, got {value!r}")


def _count(name: str, value: object, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidJob(f"{name}: must be an int >= {minimum}, got {value!r}")
    return value


def synthetic_cluster(
    n_nodes: int, seed: int, *, types: Sequence[NodeType] = DEFAULT_NODE_TYPES, prefix: str = "node"
) -> tuple[Node, ...]:
    """``n_nodes`` nodes whose types are drawn by weight from ``types``. O(n).

    Node ids are ``<prefix>-<index>``; each node has labels ``type`` and (with
    GPUs) ``model``.
    """
    _count("n_nodes", n_nodes)
    types = tuple(types)
    _check_weights("types", [t.weight for t in types])
    rng = random.Random(seed)
    chosen = rng.choices(types, weights=[t.weight for t in types], k=n_nodes)
    width = len(str(max(n_nodes - 1, 0)))
    capacities = {t.name: t.capacity() for t in types}
    return tuple(
        Node(
            id=f"{prefix}-{i:0{width}d}",
            capacity=capacities[t.name],
            labels={"type": t.name, **({"model": t.gpu.name} if t.gpu else {})},
        )
        for i, t in enumerate(chosen)
    )


def _mean_duration(kind: str, median: float, sigma: float, alpha: float) -> float:
    if kind == "lognormal":
        return median * math.exp(sigma * sigma / 2)
    # Pareto with scale x_m has median x_m * 2**(1/alpha) and mean x_m * alpha / (alpha - 1).
    xm = median / 2 ** (1 / alpha)
    return xm * alpha / (alpha - 1) if alpha > 1 else math.inf


def synthetic_workload(
    n_jobs: int,
    seed: int,
    *,
    nodes: Sequence[Node] = (),
    arrival_rate: float | None = None,
    load: float = 0.9,
    durations: Literal["lognormal", "pareto"] = "lognormal",
    median_duration: float = 1800.0,
    sigma: float = 1.5,
    alpha: float = 1.5,
    max_duration: float = 7 * 86400.0,
    gpu_mix: Sequence[tuple[float, float]] = DEFAULT_GPU_MIX,
    class_mix: Sequence[tuple[str, int, float]] = DEFAULT_CLASS_MIX,
    owners: int = 20,
    owner_skew: float = 1.0,
    cpu_per_gpu: int = 8,
    memory_gib_per_gpu: int = 32,
    model_constraint: float = 0.2,
    gang_fraction: float = 0.0,
    name: str | None = None,
) -> Workload:
    """``n_jobs`` jobs from ``seed`` on ``nodes``. O(n).

    * Arrivals: Poisson with ``arrival_rate`` jobs/s; if omitted, the rate that
      makes the offered GPU load ``load`` x the GPU capacity of ``nodes``
      (mean GPUs per job x mean duration, before clipping, so approximate).
    * Durations: ``lognormal`` (``median_duration``, ``sigma``) or ``pareto``
      (same median, shape ``alpha``), clipped to 1 s .. ``max_duration``.
    * GPUs: drawn from ``gpu_mix`` ((count, weight); 0 = CPU-only, < 1 = a share);
      ``cpu_per_gpu`` cores and ``memory_gib_per_gpu`` GiB per GPU (at least 1
      core / 4 GiB; CPU-only jobs take 1-32 cores, 4 GiB each). A fraction
      ``model_constraint`` of GPU jobs is restricted to one GPU model present in
      ``nodes`` with enough GPUs on one node; ``gang_fraction`` of 8-GPU jobs
      become 2-4 node gangs.
    * Priority from ``class_mix`` ((name, priority, weight), label ``class``);
      owners ``user00``.. with Zipf weights ``1 / rank**owner_skew``.
    """
    _count("n_jobs", n_jobs)
    _count("owners", owners, 1)
    _count("cpu_per_gpu", cpu_per_gpu, 1)
    _count("memory_gib_per_gpu", memory_gib_per_gpu, 1)
    _positive("arrival_rate", arrival_rate, allow_none=True)
    for pname, pvalue in (("load", load), ("median_duration", median_duration), ("sigma", sigma),
                          ("alpha", alpha), ("max_duration", max_duration)):
        _positive(pname, pvalue)
    if not isinstance(owner_skew, int | float) or isinstance(owner_skew, bool) or not owner_skew >= 0:
        raise InvalidJob(f"owner_skew: must be a number >= 0, got {owner_skew!r}")
    for pname, fraction in (("model_constraint", model_constraint), ("gang_fraction", gang_fraction)):
        if isinstance(fraction, bool) or not isinstance(fraction, int | float) or not 0 <= fraction <= 1:
            raise InvalidJob(f"{pname}: must be a number in [0, 1], got {fraction!r}")
    if durations not in ("lognormal", "pareto"):
        raise InvalidJob(f"durations: expected 'lognormal' or 'pareto', got {durations!r}")
    gpu_mix = tuple(gpu_mix)
    class_mix = tuple(class_mix)
    _check_weights("gpu_mix", [w for _, w in gpu_mix])
    _check_weights("class_mix", [w for _, _, w in class_mix])
    for count, _ in gpu_mix:
        # Validate each count once through the model type (a whole count or a share finer than 1/1000).
        if count:
            GPURequest(count=Range.exact(count))
    nodes = tuple(nodes)

    gpu_capacity = sum(n.capacity.gpu_count for n in nodes)
    if arrival_rate is None:
        mean_gpus = sum(c * w for c, w in gpu_mix) / sum(w for _, w in gpu_mix)
        mean_duration = _mean_duration(durations, median_duration, sigma, alpha)
        if not gpu_capacity or not mean_gpus or not math.isfinite(mean_duration):
            raise InvalidJob(
                "arrival_rate: give it explicitly (load-based rates need nodes with GPUs, "
                "GPU jobs in gpu_mix and a finite mean duration)"
            )
        arrival_rate = load * gpu_capacity / (mean_gpus * mean_duration)

    # GPU models and the most devices any one node has of each, for satisfiable constraints.
    per_model: dict[str, int] = {}
    model_devices: dict[str, int] = {}
    for node in nodes:
        on_node: dict[str, int] = {}
        for d in node.capacity.gpus:
            on_node[d.gpu.name] = on_node.get(d.gpu.name, 0) + 1
        for model, c in on_node.items():
            per_model[model] = max(per_model.get(model, 0), c)
            model_devices[model] = model_devices.get(model, 0) + c
    models = sorted(model_devices)

    rng = random.Random(seed)
    owner_names = [f"user{i:0{len(str(owners - 1))}d}" for i in range(owners)]
    owner_weights = [1 / (i + 1) ** owner_skew for i in range(owners)]
    counts = [c for c, _ in gpu_mix]
    count_weights = [w for _, w in gpu_mix]
    classes = [(n, p) for n, p, _ in class_mix]
    class_weights = [w for _, _, w in class_mix]
    xm = median_duration / 2 ** (1 / alpha)
    mu = math.log(median_duration)
    width = len(str(max(n_jobs - 1, 0)))

    # Cumulative weights once (random.choices would rebuild them per call; same draws either way),
    # and one shared immutable request / label set per distinct shape.
    count_cum = list(itertools.accumulate(count_weights))
    class_cum = list(itertools.accumulate(class_weights))
    owner_cum = list(itertools.accumulate(owner_weights))
    requests: dict[tuple[float, tuple[str, ...], float, int], ResourceRequest] = {}
    class_labels = {name: Labels({"class": name}) for name, _ in classes}
    jobs: list[Job] = []
    now = 0.0
    for i in range(n_jobs):
        now += rng.expovariate(arrival_rate)
        raw = rng.lognormvariate(mu, sigma) if durations == "lognormal" else xm * rng.paretovariate(alpha)
        duration = min(max(raw, 1.0), max_duration)
        count = rng.choices(counts, cum_weights=count_cum)[0]
        klass, priority = rng.choices(classes, cum_weights=class_cum)[0]
        owner = rng.choices(owner_names, cum_weights=owner_cum)[0]
        gang = 1
        names: tuple[str, ...] = ()
        if count:
            if models and rng.random() < model_constraint:
                fits = [m for m in models if per_model[m] >= math.ceil(count)]
                if fits:
                    names = (rng.choices(fits, weights=[model_devices[m] for m in fits])[0],)
            cpus = max(1.0, round(count * cpu_per_gpu))
            memory = max(4, round(count * memory_gib_per_gpu)) * GIB
            if count == 8 and gang_fraction and rng.random() < gang_fraction:
                gang = rng.randint(2, 4)
        else:
            cpus = float(rng.choice((1, 2, 4, 8, 16, 32)))
            memory = int(cpus) * 4 * GIB
        shape = (count, names, cpus, memory)
        request = requests.get(shape)
        if request is None:
            gpu = GPURequest(count=Range.exact(count), names=names) if count else None
            request = requests[shape] = ResourceRequest(
                cpu=Range.exact(cpus), memory=Range.exact(memory), gpu=gpu
            )
        jobs.append(
            Job(
                id=f"job-{i:0{width}d}",
                submitted_at=now,
                priority=priority,
                request=request,
                nodes=gang,
                owner=owner,
                duration=duration,
                labels=class_labels[klass],
            )
        )
    return Workload(
        name=name or f"synthetic(n={n_jobs}, seed={seed})",
        jobs=jobs,
        nodes=nodes,
        source=f"synthetic: seed {seed}, {durations} durations, {arrival_rate:.6g} arrivals/s",
    )
