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
from collections.abc import Iterable, Sequence
from typing import Literal

import attrs

from prioq import _validate
from prioq.errors import InvalidValue
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


# Generator arguments are not jobs: bad values raise InvalidValue (wrong types its ...Type variant).


def _check_weight(what: str, weight: object) -> None:
    _validate.number(weight, f"{what}: weight", minimum=0)


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
        _validate.identifier(self.name, "node type: name")
        for field in ("cpus", "memory_gib", "gpus"):
            _validate.integer(getattr(self, field), f"node type {self.name}: {field}", minimum=0)
        if self.gpu is not None:
            _validate.instance(self.gpu, GPU, f"node type {self.name}: gpu")
        if self.gpus and self.gpu is None:
            raise InvalidValue(f"node type {self.name}: {self.gpus} GPUs need a gpu model")
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
        raise InvalidValue(f"{what}: must not be empty")
    for w in weights:
        _check_weight(what, w)
    if not sum(weights) > 0:
        raise InvalidValue(f"{what}: weights must not all be zero")


def _entries(value: object, what: str, size: int, shape: str) -> tuple[tuple[object, ...], ...]:
    """``value`` as a tuple of ``size``-tuples (``shape`` names the fields for messages)."""
    if not isinstance(value, Iterable) or isinstance(value, str | bytes):
        raise _validate.wrong_type(InvalidValue, f"{what}: expected {shape} entries, got {value!r}")
    entries = tuple(value)
    for entry in entries:
        if not isinstance(entry, tuple | list) or len(entry) != size:
            raise _validate.wrong_type(InvalidValue, f"{what}: expected a {shape} entry, got {entry!r}")
    return tuple(tuple(e) for e in entries)


def synthetic_cluster(
    n_nodes: int, seed: int, *, types: Sequence[NodeType] = DEFAULT_NODE_TYPES, prefix: str = "node"
) -> tuple[Node, ...]:
    """``n_nodes`` nodes whose types are drawn by weight from ``types``. O(n).

    Node ids are ``<prefix>-<index>``; each node has labels ``type`` and (with
    GPUs) ``model``.
    """
    _validate.integer(n_nodes, "n_nodes", minimum=0)
    _validate.integer(seed, "seed")
    _validate.identifier(prefix, "prefix")
    if not isinstance(types, Iterable) or isinstance(types, str | bytes):
        raise _validate.wrong_type(InvalidValue, f"types: expected NodeType values, got {types!r}")
    types = tuple(_validate.instance(t, NodeType, "types item") for t in types)
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
    _validate.integer(n_jobs, "n_jobs", minimum=0)
    _validate.integer(seed, "seed")
    for cname, cvalue in (("owners", owners), ("cpu_per_gpu", cpu_per_gpu),
                          ("memory_gib_per_gpu", memory_gib_per_gpu)):
        _validate.integer(cvalue, cname, minimum=1)
    if arrival_rate is not None:
        _validate.number(arrival_rate, "arrival_rate", above=0)
    for pname, pvalue in (("load", load), ("median_duration", median_duration), ("sigma", sigma),
                          ("alpha", alpha), ("max_duration", max_duration)):
        _validate.number(pvalue, pname, above=0)
    _validate.number(owner_skew, "owner_skew", minimum=0, infinite=True)
    for pname, fraction in (("model_constraint", model_constraint), ("gang_fraction", gang_fraction)):
        _validate.number(fraction, pname, minimum=0, maximum=1)
    _validate.choice(durations, ("lognormal", "pareto"), "durations")
    if name is not None:
        _validate.instance(name, str, "name")
    gpus = _gpu_mix(gpu_mix)
    classes = _class_mix(class_mix)
    if not isinstance(nodes, Iterable) or isinstance(nodes, str | bytes):
        raise _validate.wrong_type(InvalidValue, f"nodes: expected Node values, got {nodes!r}")
    nodes = tuple(_validate.instance(n, Node, "nodes item") for n in nodes)
    if arrival_rate is None:
        arrival_rate = _load_rate(load, nodes, gpus, durations, median_duration, sigma, alpha)

    rng = random.Random(seed)
    make = _JobMaker(
        rng, nodes=nodes, gpu_mix=gpus, class_mix=classes, owners=owners, owner_skew=owner_skew,
        durations=durations, median_duration=median_duration, sigma=sigma, alpha=alpha,
        max_duration=max_duration, cpu_per_gpu=cpu_per_gpu, memory_gib_per_gpu=memory_gib_per_gpu,
        model_constraint=model_constraint, gang_fraction=gang_fraction, width=len(str(max(n_jobs - 1, 0))),
    )
    jobs: list[Job] = []
    now = 0.0
    for i in range(n_jobs):
        now += rng.expovariate(arrival_rate)  # first draw of each job: the others follow in make()
        jobs.append(make(i, now))
    return Workload(
        name=name or f"synthetic(n={n_jobs}, seed={seed})",
        jobs=jobs,
        nodes=nodes,
        source=f"synthetic: seed {seed}, {durations} durations, {arrival_rate:.6g} arrivals/s",
    )


def _gpu_mix(value: object) -> tuple[tuple[float, float], ...]:
    """``(GPU count, weight)`` entries, each count valid for a request (checked once, not per job)."""
    entries = _entries(value, "gpu_mix", 2, "(GPUs, weight)")
    _check_weights("gpu_mix", [w for _, w in entries])  # type: ignore[misc]
    for count, _ in entries:
        _validate.number(count, "gpu_mix: GPUs", minimum=0)
        # Validate each count once through the model type (a whole count or a share finer than 1/1000).
        if count:
            GPURequest(count=Range.exact(count))  # type: ignore[arg-type]
    return entries  # type: ignore[return-value]


def _class_mix(value: object) -> tuple[tuple[str, int, float], ...]:
    """``(class name, priority, weight)`` entries."""
    entries = _entries(value, "class_mix", 3, "(name, priority, weight)")
    _check_weights("class_mix", [w for _, _, w in entries])  # type: ignore[misc]
    for cname, prio, _ in entries:
        _validate.identifier(cname, "class_mix: name")
        _validate.priority(prio, f"class_mix {cname}", error=InvalidValue)
    return entries  # type: ignore[return-value]


def _load_rate(
    load: float,
    nodes: Sequence[Node],
    gpu_mix: Sequence[tuple[float, float]],
    durations: str,
    median_duration: float,
    sigma: float,
    alpha: float,
) -> float:
    """The arrival rate that offers ``load`` x the GPU capacity of ``nodes`` (approximately)."""
    gpu_capacity = sum(n.capacity.gpu_count for n in nodes)
    mean_gpus = sum(c * w for c, w in gpu_mix) / sum(w for _, w in gpu_mix)
    mean_duration = _mean_duration(durations, median_duration, sigma, alpha)
    if not gpu_capacity or not mean_gpus or not math.isfinite(mean_duration):
        raise InvalidValue(
            "arrival_rate: give it explicitly (load-based rates need nodes with GPUs, "
            "GPU jobs in gpu_mix and a finite mean duration)"
        )
    return load * gpu_capacity / (mean_gpus * mean_duration)


def _gpu_models(nodes: Sequence[Node]) -> tuple[dict[str, int], dict[str, int]]:
    """Per GPU model: the most devices any one node has (``per_model``) and the devices in all."""
    per_model: dict[str, int] = {}
    model_devices: dict[str, int] = {}
    for node in nodes:
        on_node: dict[str, int] = {}
        for d in node.capacity.gpus:
            on_node[d.gpu.name] = on_node.get(d.gpu.name, 0) + 1
        for model, c in on_node.items():
            per_model[model] = max(per_model.get(model, 0), c)
            model_devices[model] = model_devices.get(model, 0) + c
    return per_model, model_devices


class _JobMaker:
    """Draws one job at a time from the generator's distributions, in a fixed order of draws.

    The order (duration, GPU count, class, owner, then model constraint and gang or CPU count)
    is part of the output: changing it changes every seeded workload.
    """

    def __init__(
        self,
        rng: random.Random,
        *,
        nodes: Sequence[Node],
        gpu_mix: Sequence[tuple[float, float]],
        class_mix: Sequence[tuple[str, int, float]],
        owners: int,
        owner_skew: float,
        durations: str,
        median_duration: float,
        sigma: float,
        alpha: float,
        max_duration: float,
        cpu_per_gpu: int,
        memory_gib_per_gpu: int,
        model_constraint: float,
        gang_fraction: float,
        width: int,
    ) -> None:
        self.rng = rng
        # GPU models and the most devices any one node has of each, for satisfiable constraints.
        self.per_model, self.model_devices = _gpu_models(nodes)
        self.models = sorted(self.model_devices)
        self.owner_names = [f"user{i:0{len(str(owners - 1))}d}" for i in range(owners)]
        self.counts = [c for c, _ in gpu_mix]
        self.classes = [(n, p) for n, p, _ in class_mix]
        # Cumulative weights once (random.choices would rebuild them per call; same draws either way).
        self.count_cum = list(itertools.accumulate(w for _, w in gpu_mix))
        self.class_cum = list(itertools.accumulate(w for _, _, w in class_mix))
        self.owner_cum = list(itertools.accumulate(1 / (i + 1) ** owner_skew for i in range(owners)))
        self.lognormal = durations == "lognormal"
        self.xm = median_duration / 2 ** (1 / alpha)
        self.mu = math.log(median_duration)
        self.sigma = sigma
        self.alpha = alpha
        self.max_duration = max_duration
        self.cpu_per_gpu = cpu_per_gpu
        self.memory_gib_per_gpu = memory_gib_per_gpu
        self.model_constraint = model_constraint
        self.gang_fraction = gang_fraction
        self.width = width
        # One shared immutable request / label set per distinct shape.
        self.requests: dict[tuple[float, tuple[str, ...], float, int], ResourceRequest] = {}
        self.class_labels = {name: Labels({"class": name}) for name, _ in self.classes}

    def __call__(self, i: int, now: float) -> Job:
        """Job ``i``, submitted at ``now``. O(1) (O(models) for a model-constrained job)."""
        rng = self.rng
        if self.lognormal:
            raw = rng.lognormvariate(self.mu, self.sigma)
        else:
            raw = self.xm * rng.paretovariate(self.alpha)
        duration = min(max(raw, 1.0), self.max_duration)
        count = rng.choices(self.counts, cum_weights=self.count_cum)[0]
        klass, priority = rng.choices(self.classes, cum_weights=self.class_cum)[0]
        owner = rng.choices(self.owner_names, cum_weights=self.owner_cum)[0]
        gang = 1
        names: tuple[str, ...] = ()
        if count:
            names = self._model_constraint(count)
            cpus = max(1.0, round(count * self.cpu_per_gpu))
            memory = max(4, round(count * self.memory_gib_per_gpu)) * GIB
            if count == 8 and self.gang_fraction and rng.random() < self.gang_fraction:
                gang = rng.randint(2, 4)
        else:
            cpus = float(rng.choice((1, 2, 4, 8, 16, 32)))
            memory = int(cpus) * 4 * GIB
        return Job(
            id=f"job-{i:0{self.width}d}",
            submitted_at=now,
            priority=priority,
            request=self._request(count, names, cpus, memory),
            nodes=gang,
            owner=owner,
            duration=duration,
            labels=self.class_labels[klass],
        )

    def _model_constraint(self, count: float) -> tuple[str, ...]:
        """With probability ``model_constraint``, one GPU model with enough devices on one node."""
        rng = self.rng
        if self.models and rng.random() < self.model_constraint:
            fits = [m for m in self.models if self.per_model[m] >= math.ceil(count)]
            if fits:
                return (rng.choices(fits, weights=[self.model_devices[m] for m in fits])[0],)
        return ()

    def _request(self, count: float, names: tuple[str, ...], cpus: float, memory: int) -> ResourceRequest:
        shape = (count, names, cpus, memory)
        request = self.requests.get(shape)
        if request is None:
            gpu = GPURequest(count=Range.exact(count), names=names) if count else None
            request = self.requests[shape] = ResourceRequest(
                cpu=Range.exact(cpus), memory=Range.exact(memory), gpu=gpu
            )
        return request
