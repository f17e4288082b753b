"""Trace loaders: the Alibaba GPU trace v2023, SWF, a plain CSV format, bundled traces.

Every loader returns a :class:`~prioq.sim.workload.Workload` whose jobs are
sorted by submission time (ties keep file order) and whose ``duration`` is the
true runtime. Files may be gzip-compressed (detected by content, not name).
Malformed input raises :class:`TraceError` naming the file, the line (1 is the
header of a CSV file) and the field. The rules each loader applies (QoS to
priority, which times make a duration, how an SWF header becomes a cluster)
are documented on the loader and in ``docs/simulation.md``.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import os
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from importlib import resources as importlib_resources
from pathlib import Path
from typing import IO, Literal, cast

import attrs

from prioq.errors import InvalidJob, InvalidSpec
from prioq.model import Job, Labels, Node
from prioq.resources import GPU, MILLI, Device, GPURequest, Range, ResourceRequest, Resources
from prioq.sim.workload import Workload

__all__ = [
    "ALIBABA_ATTRIBUTION",
    "BUNDLED",
    "DEFAULT_QOS_PRIORITIES",
    "MIN_DURATION",
    "PWA_ATTRIBUTION",
    "TraceError",
    "bundled_names",
    "load_alibaba",
    "load_alibaba_nodes",
    "load_bundled",
    "load_csv",
    "load_nodes",
    "load_nodes_csv",
    "load_swf",
    "load_trace",
]

MIB = 1024 * 1024

MIN_DURATION = 1.0
"""Shortest duration a loader produces, in seconds.

Traces record whole seconds, so a job can show a zero runtime; ``Job.duration``
must be positive, and a job that ran at all held its resources for a moment.
"""

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
PWA_ATTRIBUTION = (
    "Parallel Workloads Archive (Feitelson, Tsafrir, Krakov, JPDC 2014), "
    "https://www.cs.huji.ac.il/labs/parallel/workload/"
)


class TraceError(InvalidSpec):
    """A trace or node file is malformed: names the ``path``, ``line`` (or ``None``) and ``field``."""

    def __init__(self, path: str, line: int | None, field: str, reason: str) -> None:
        self.path = path
        self.line = line
        self.field = field
        self.reason = reason
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {field}: {reason}")

    def __reduce__(self) -> tuple[type[TraceError], tuple[str, int | None, str, str]]:
        return (TraceError, (self.path, self.line, self.field, self.reason))


PathLike = str | os.PathLike[str]

# --------------------------------------------------------------------------- reading


def _lines(path: PathLike) -> Iterator[str]:
    """Text lines of ``path``, gunzipped if it starts with the gzip magic bytes.

    Decompression and decoding failures surface as :class:`TraceError` naming
    the line that could not be read.
    """
    shown = os.fspath(path)
    lineno = 0
    with ExitStack() as stack:
        try:
            raw = stack.enter_context(open(path, "rb"))
        except OSError as exc:
            raise TraceError(shown, None, "file", f"cannot open: {exc.strerror or exc}") from exc
        binary: IO[bytes] = raw
        if raw.peek(2)[:2] == b"\x1f\x8b":
            gz = gzip.GzipFile(fileobj=raw, mode="rb")
            stack.callback(gz.close)
            binary = cast(IO[bytes], gz)
        text = stack.enter_context(io.TextIOWrapper(binary, encoding="utf-8-sig", newline=""))
        while True:
            try:
                line = text.readline()
            except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
                raise TraceError(shown, lineno + 1, "gzip", f"corrupt compressed data ({exc})") from exc
            except UnicodeDecodeError as exc:
                raise TraceError(shown, lineno + 1, "encoding", f"not UTF-8 text ({exc.reason})") from exc
            except OSError as exc:
                raise TraceError(shown, lineno + 1, "file", f"read failed: {exc}") from exc
            if not line:
                return
            lineno += 1
            yield line


class _Row:
    """Field parsing with errors that name file, line and field."""

    __slots__ = ("line", "path", "values")

    def __init__(self, path: str, line: int, values: Mapping[str, str]) -> None:
        self.path = path
        self.line = line
        self.values = values

    def error(self, field: str, reason: str) -> TraceError:
        return TraceError(self.path, self.line, field, reason)

    def text(self, field: str) -> str:
        return self.values.get(field, "").strip()

    def optional_text(self, field: str) -> str | None:
        value = self.text(field)
        return None if value == "" or value.lower() == "nan" else value

    def number(self, field: str, *, integral: bool = False, minimum: float | None = 0.0) -> float:
        raw = self.text(field)
        if raw == "":
            raise self.error(field, "missing value")
        try:
            value = float(raw)
        except ValueError:
            raise self.error(field, f"not a number: {raw!r}") from None
        if not math.isfinite(value):
            raise self.error(field, f"not a finite number: {raw!r}")
        if integral and not value.is_integer():
            raise self.error(field, f"not a whole number: {raw!r}")
        if minimum is not None and value < minimum:
            raise self.error(field, f"must be >= {minimum:g}, got {raw}")
        return value

    def optional_number(
        self, field: str, *, integral: bool = False, minimum: float | None = 0.0
    ) -> float | None:
        raw = self.text(field)
        if raw == "" or raw.lower() == "nan":
            return None
        return self.number(field, integral=integral, minimum=minimum)

    def integer(self, field: str, *, minimum: int | None = 0) -> int:
        return int(self.number(field, integral=True, minimum=minimum))


def _csv_rows(
    path: PathLike, required: Sequence[str], *, known: Iterable[str] | None = None
) -> tuple[list[str], Iterator[_Row]]:
    """The header and an iterator of rows as :class:`_Row`.

    Missing required columns are reported against line 1; with ``known``,
    columns outside it (other than ``label.*``) are rejected so typos do not
    pass silently. Rows must have exactly as many fields as the header; blank
    lines are skipped.
    """
    shown = os.fspath(path)
    reader = csv.reader(_lines(path))
    try:
        header = next(reader)
    except StopIteration:
        raise TraceError(shown, 1, "header", "empty file, expected a CSV header") from None
    except csv.Error as exc:
        raise TraceError(shown, 1, "header", f"malformed CSV: {exc}") from exc
    header = [h.strip() for h in header]
    for col in required:
        if col not in header:
            raise TraceError(shown, 1, col, f"missing column (header has {', '.join(header)})")
    if known is not None:
        allowed = set(known)
        for col in header:
            if col not in allowed and not col.startswith("label."):
                raise TraceError(shown, 1, col, f"unknown column (known: {', '.join(sorted(allowed))})")
    if len(set(header)) != len(header):
        dup = next(h for h in header if header.count(h) > 1)
        raise TraceError(shown, 1, dup, "column appears twice")

    def rows() -> Iterator[_Row]:
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise TraceError(shown, reader.line_num, "row", f"malformed CSV: {exc}") from exc
            if not fields or all(not f.strip() for f in fields):
                continue
            if len(fields) != len(header):
                raise TraceError(
                    shown, reader.line_num, "row", f"expected {len(header)} fields, got {len(fields)}"
                )
            yield _Row(shown, reader.line_num, dict(zip(header, fields, strict=True)))

    return header, rows()


def _sorted_jobs(jobs: list[Job]) -> tuple[Job, ...]:
    # Stable: equal submission times keep file order.
    return tuple(sorted(jobs, key=lambda j: j.submitted_at))


def _unique(row: _Row, field: str, value: str, seen: set[str]) -> None:
    if value in seen:
        raise row.error(field, f"duplicate id {value!r}")
    seen.add(value)


# --------------------------------------------------------------------------- Alibaba

_ALIBABA_POD_COLUMNS = ("name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli")
_ALIBABA_NODE_COLUMNS = ("sn", "cpu_milli", "memory_mib", "gpu", "model")


def load_alibaba_nodes(path: PathLike) -> tuple[Node, ...]:
    """An Alibaba node list (``sn,cpu_milli,memory_mib,gpu,model``) as nodes. O(n).

    Each node has ``gpu`` devices of ``GPU(model)`` (no per-device memory: the
    trace names models, and ``gpu_spec`` filters by name) and the label
    ``model``. A node with ``gpu`` 0 may leave ``model`` empty.
    """
    _, rows = _csv_rows(path, _ALIBABA_NODE_COLUMNS)
    models: dict[str, GPU] = {}
    nodes: list[Node] = []
    seen: set[str] = set()
    for row in rows:
        sn = row.text("sn")
        if not sn:
            raise row.error("sn", "missing node name")
        _unique(row, "sn", sn, seen)
        cpu_milli = row.integer("cpu_milli")
        memory = row.integer("memory_mib") * MIB
        count = row.integer("gpu")
        model = row.optional_text("model")
        if count and model is None:
            raise row.error("model", f"missing GPU model for {count} GPUs")
        try:
            gpu = models.setdefault(model, GPU(model)) if model else None
            devices = tuple(Device(i, gpu) for i in range(count)) if gpu else ()
            node = Node(
                id=sn,
                capacity=Resources(cpu_milli=cpu_milli, memory=memory, gpus=devices),
                labels={"model": model} if model else {},
            )
        except (InvalidSpec, InvalidJob) as exc:
            raise row.error("row", str(exc)) from exc
        nodes.append(node)
    return tuple(nodes)


def _alibaba_gpu(row: _Row, gpu_spec: str | None) -> GPURequest | None:
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
    if never_ran not in ("keep", "drop"):
        raise InvalidJob(f"never_ran: expected 'keep' or 'drop', got {never_ran!r}")
    for qos, prio in qos_priorities.items():
        if isinstance(prio, bool) or not isinstance(prio, int):
            raise InvalidJob(f"qos_priorities[{qos!r}]: priority must be an int, got {prio!r}")
    if isinstance(default_priority, bool) or not isinstance(default_priority, int):
        raise InvalidJob(f"default_priority: must be an int, got {default_priority!r}")
    header, rows = _csv_rows(pods, _ALIBABA_POD_COLUMNS)
    timed = "creation_time" in header
    if timed and "deletion_time" not in header:
        raise TraceError(os.fspath(pods), 1, "deletion_time", "missing column (creation_time needs it)")
    has_qos = "qos" in header
    requests: dict[tuple[str, ...], ResourceRequest] = {}
    label_sets: dict[tuple[tuple[str, str], ...], Labels] = {}
    jobs: list[Job] = []
    seen: set[str] = set()
    dropped = 0
    for row in rows:
        pod = row.text("name")
        if not pod:
            raise row.error("name", "missing pod name")
        _unique(row, "name", pod, seen)
        # Traces repeat a few request shapes thousands of times: build (and validate) each once and
        # share the immutable value. Keyed on the raw text, so a bad row still fails on its own line.
        shape = tuple(row.text(f) for f in ("cpu_milli", "memory_mib", "num_gpu", "gpu_milli", "gpu_spec"))
        request = requests.get(shape)
        if request is None:
            cpu_milli = row.integer("cpu_milli")
            memory = row.integer("memory_mib") * MIB
            gpu = _alibaba_gpu(row, row.optional_text("gpu_spec"))
            try:
                request = ResourceRequest(
                    cpu=Range.exact(cpu_milli / MILLI), memory=Range.exact(memory), gpu=gpu
                )
            except InvalidSpec as exc:
                raise row.error("row", str(exc)) from exc
            requests[shape] = request
        labels: dict[str, str] = {}
        priority = default_priority
        if has_qos:
            qos = row.text("qos")
            if qos not in qos_priorities:
                known = ", ".join(sorted(qos_priorities))
                raise row.error("qos", f"unknown QoS {qos!r} (the priority table has {known})")
            priority = qos_priorities[qos]
            labels["qos"] = labels["class"] = qos
        phase = row.optional_text("pod_phase")
        if phase:
            labels["phase"] = phase
        submitted = 0.0
        duration: float | None = None
        if timed:
            submitted = row.number("creation_time")
            deleted = row.number("deletion_time")
            if deleted < submitted:
                raise row.error("deletion_time", f"{deleted:g} is before creation_time {submitted:g}")
            scheduled = row.optional_number("scheduled_time")
            if scheduled is None:
                if never_ran == "drop":
                    dropped += 1
                    continue
                labels["never_ran"] = "true"
                start = submitted
            else:
                if not submitted <= scheduled <= deleted:
                    raise row.error(
                        "scheduled_time",
                        f"{scheduled:g} is outside creation_time..deletion_time {submitted:g}..{deleted:g}",
                    )
                start = scheduled
            duration = max(MIN_DURATION, deleted - start)
        key = tuple(labels.items())
        shared = label_sets.get(key)
        if shared is None:
            shared = label_sets[key] = Labels(labels)
        try:
            jobs.append(
                Job(
                    id=pod,
                    submitted_at=submitted,
                    priority=priority,
                    request=request,
                    duration=duration,
                    labels=shared,
                )
            )
        except (InvalidSpec, InvalidJob) as exc:
            raise row.error("row", str(exc)) from exc
    node_list: tuple[Node, ...] = ()
    if isinstance(nodes, str | os.PathLike):
        node_list = load_alibaba_nodes(nodes)
    elif nodes is not None:
        node_list = tuple(nodes)
    return Workload(
        name=name or Path(os.fspath(pods)).name,
        jobs=_sorted_jobs(jobs),
        nodes=node_list,
        source=source or f"Alibaba GPU trace v2023 format: {os.fspath(pods)}",
        skipped=[("never ran (no scheduled_time)", dropped)] if dropped else [],
    )


# --------------------------------------------------------------------------- SWF

SWF_FIELDS = (
    "job number",
    "submit time",
    "wait time",
    "run time",
    "allocated processors",
    "average CPU time",
    "used memory",
    "requested processors",
    "requested time",
    "requested memory",
    "status",
    "user id",
    "group id",
    "executable number",
    "queue number",
    "partition number",
    "preceding job number",
    "think time",
)
"""The 18 fields of a Standard Workload Format line, in order (-1 = unknown)."""


def _swf_header(line: str) -> tuple[str, str] | None:
    body = line.lstrip(";").strip()
    key, sep, value = body.partition(":")
    if not sep or not key.strip() or " " in key.strip():
        return None
    return key.strip(), value.strip()


def load_swf(
    path: PathLike,
    *,
    nodes: Iterable[Node] | None = None,
    layout: Literal["nodes", "single"] = "nodes",
    processors: Literal["allocated", "requested"] = "allocated",
    queue_priorities: Mapping[int, int] | None = None,
    group_priorities: Mapping[int, int] | None = None,
    default_priority: int = 0,
    name: str | None = None,
) -> Workload:
    """Load a Parallel Workloads Archive log in the Standard Workload Format. O(n log n).

    ``;`` lines are header comments (``; MaxNodes: 128``); data lines have the
    18 whitespace-separated :data:`SWF_FIELDS`, -1 meaning unknown.

    * Cluster (unless ``nodes`` is given), from the header: ``layout="nodes"``
      gives ``MaxNodes`` nodes of ``MaxProcs / MaxNodes`` cores each (one core
      per node when only one of the two is given); ``layout="single"`` one node
      with ``MaxProcs`` cores. Memory is not modelled.
    * A job's processor count k is the ``processors`` field ("allocated" by
      default: what it held for its run time), the other field if that one is
      unknown. With ``c`` cores per node, k <= c is one node with k cores;
      k > c is a gang of ceil(k / c) whole nodes (machines of the archive
      allocate whole nodes). With ``layout="single"`` or explicit ``nodes``,
      every job is one node with k cores.
    * ``submitted_at`` = submit time, duration = run time (at least
      :data:`MIN_DURATION`). Jobs with unknown run time or processor count are
      skipped and counted in ``Workload.skipped``.
    * priority: ``queue_priorities[queue]``, else ``group_priorities[group]``,
      else ``default_priority``; the matching table sets the ``class`` label
      (``queue 1``, ``group 2``). Owner ``user<id>``; labels ``group``,
      ``queue``, ``partition``, ``requested_time`` when known.
    """
    if layout not in ("nodes", "single"):
        raise InvalidJob(f"layout: expected 'nodes' or 'single', got {layout!r}")
    if processors not in ("allocated", "requested"):
        raise InvalidJob(f"processors: expected 'allocated' or 'requested', got {processors!r}")
    queue_priorities = dict(queue_priorities or {})
    group_priorities = dict(group_priorities or {})
    for table_name, table in (("queue_priorities", queue_priorities), ("group_priorities", group_priorities)):
        for number, prio in table.items():
            if isinstance(prio, bool) or not isinstance(prio, int):
                raise InvalidJob(f"{table_name}[{number!r}]: priority must be an int, got {prio!r}")
    shown = os.fspath(path)
    header: dict[str, tuple[str, int]] = {}
    jobs: list[Job] = []
    seen: set[str] = set()
    skipped = {"unknown run time": 0, "unknown processor count": 0}
    primary, fallback = (4, 7) if processors == "allocated" else (7, 4)
    pending: list[tuple[_Row, dict[str, float]]] = []
    for lineno, line in enumerate(_lines(path), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith(";"):
            kv = _swf_header(stripped)
            if kv is not None:
                header.setdefault(kv[0], (kv[1], lineno))
            continue
        parts = stripped.split()
        if len(parts) != len(SWF_FIELDS):
            raise TraceError(shown, lineno, "line", f"expected {len(SWF_FIELDS)} fields, got {len(parts)}")
        row = _Row(shown, lineno, dict(zip(SWF_FIELDS, parts, strict=True)))
        values = {f: row.number(f, minimum=-1) for f in SWF_FIELDS}
        for f in (SWF_FIELDS[0], SWF_FIELDS[4], SWF_FIELDS[7], SWF_FIELDS[11], SWF_FIELDS[12],
                  SWF_FIELDS[14], SWF_FIELDS[15]):
            if not values[f].is_integer():
                raise row.error(f, f"not a whole number: {row.text(f)!r}")
        if values["submit time"] < 0:
            raise row.error("submit time", f"must be >= 0, got {row.text('submit time')}")
        pending.append((row, values))

    def header_int(key: str) -> int | None:
        if key not in header:
            return None
        text, lineno = header[key]
        try:
            value = int(text.split()[0])
        except (ValueError, IndexError):
            raise TraceError(shown, lineno, key, f"not a whole number: {text!r}") from None
        if value <= 0:
            raise TraceError(shown, lineno, key, f"must be > 0, got {value}")
        return value

    max_nodes, max_procs = header_int("MaxNodes"), header_int("MaxProcs")
    per_node: float = math.inf
    node_list: tuple[Node, ...]
    if nodes is not None:
        node_list = tuple(nodes)
    else:
        if max_nodes is None and max_procs is None:
            raise TraceError(shown, None, "MaxNodes", "no MaxNodes or MaxProcs header line: pass nodes=")
        procs = max_procs if max_procs is not None else max_nodes
        assert procs is not None
        if layout == "single":
            node_list = (Node(id="node-0", capacity=Resources(cpu_milli=procs * MILLI)),)
        else:
            count = max_nodes if max_nodes is not None else procs
            if procs % count:
                raise TraceError(
                    shown, header["MaxProcs"][1], "MaxProcs",
                    f"{procs} is not a multiple of MaxNodes {count}: use layout='single' or pass nodes=",
                )
            per_node = procs // count
            width = len(str(count - 1))
            capacity = Resources(cpu_milli=int(per_node) * MILLI)
            node_list = tuple(Node(id=f"node-{i:0{width}d}", capacity=capacity) for i in range(count))
    for row, values in pending:
        job_id = row.text("job number")
        _unique(row, "job number", job_id, seen)
        run = values["run time"]
        if run < 0:
            skipped["unknown run time"] += 1
            continue
        k = values[SWF_FIELDS[primary]]
        if k <= 0:
            k = values[SWF_FIELDS[fallback]]
        if k <= 0:
            skipped["unknown processor count"] += 1
            continue
        k_int = int(k)
        if k_int <= per_node:
            gang, cores = 1, k_int
        else:
            gang, cores = math.ceil(k_int / per_node), int(per_node)
        user, group, queue, partition = (
            int(values[f]) for f in ("user id", "group id", "queue number", "partition number")
        )
        labels: dict[str, str] = {}
        priority = default_priority
        if queue in queue_priorities:
            priority, labels["class"] = queue_priorities[queue], f"queue {queue}"
        elif group in group_priorities:
            priority, labels["class"] = group_priorities[group], f"group {group}"
        for key, value in (("group", group), ("queue", queue), ("partition", partition)):
            if value >= 0:
                labels[key] = str(value)
        if values["requested time"] >= 0:
            labels["requested_time"] = f"{values['requested time']:g}"
        try:
            jobs.append(
                Job(
                    id=job_id,
                    submitted_at=values["submit time"],
                    priority=priority,
                    request=ResourceRequest(cpu=Range.exact(cores)),
                    nodes=gang,
                    owner=f"user{user}" if user >= 0 else None,
                    duration=max(MIN_DURATION, run),
                    labels=labels,
                )
            )
        except (InvalidSpec, InvalidJob) as exc:
            raise row.error("line", str(exc)) from exc
    described = ", ".join(header[k][0] for k in ("Computer", "Installation") if k in header)
    return Workload(
        name=name or Path(shown).name,
        jobs=_sorted_jobs(jobs),
        nodes=node_list,
        source=f"SWF log {shown}" + (f" ({described})" if described else ""),
        skipped=[(k, v) for k, v in skipped.items() if v],
    )


# --------------------------------------------------------------------------- plain CSV

CSV_JOB_COLUMNS = (
    "id", "submitted_at", "duration", "priority", "request", "nodes", "owner", "group", "class",
    "preemptible", "after",
)
"""Columns of the plain job CSV; ``id`` and ``submitted_at`` are required, ``label.<key>`` adds labels."""

CSV_NODE_COLUMNS = ("id", "capacity")
"""Columns of the plain node CSV (both required); ``label.<key>`` adds labels."""

_TRUE = {"true", "yes", "1"}
_FALSE = {"false", "no", "0"}


def _labels(row: _Row, header: Sequence[str]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for col in header:
        if col.startswith("label."):
            key = col[len("label."):]
            if not key:
                raise row.error(col, "empty label name")
            value = row.text(col)
            if value:
                labels[key] = value
    return labels


def load_csv(
    path: PathLike,
    nodes: PathLike | Iterable[Node] | None = None,
    *,
    name: str | None = None,
    source: str | None = None,
) -> Workload:
    """Load jobs from the plain CSV format (:data:`CSV_JOB_COLUMNS`). O(n log n).

    ``id`` (unique) and ``submitted_at`` (seconds >= 0) are required; the rest
    are optional and default like :class:`~prioq.Job`: ``duration`` (true
    runtime in seconds, empty = unknown), ``priority`` (int), ``request`` (a
    spec string, ``gpu=A100:2 cpu=8``), ``nodes`` (gang size), ``owner``,
    ``group``, ``class`` (the ``class`` label), ``preemptible``
    (true/false/yes/no/1/0), ``after`` (ids separated by spaces), and any
    ``label.<key>`` column. ``nodes``: a node CSV path (:func:`load_nodes_csv`)
    or nodes.
    """
    header, rows = _csv_rows(path, ("id", "submitted_at"), known=CSV_JOB_COLUMNS)
    jobs: list[Job] = []
    seen: set[str] = set()
    for row in rows:
        job_id = row.text("id")
        if not job_id:
            raise row.error("id", "missing job id")
        _unique(row, "id", job_id, seen)
        submitted = row.number("submitted_at")
        duration = row.optional_number("duration")
        if duration is not None and duration <= 0:
            raise row.error("duration", f"must be > 0, got {row.text('duration')}")
        priority = 0 if row.optional_text("priority") is None else row.integer("priority", minimum=None)
        gang = 1 if row.optional_text("nodes") is None else row.integer("nodes", minimum=1)
        preemptible = True
        flag = row.text("preemptible").lower()
        if flag:
            if flag not in _TRUE | _FALSE:
                raise row.error("preemptible", f"expected true or false, got {row.text('preemptible')!r}")
            preemptible = flag in _TRUE
        try:
            request = ResourceRequest.parse(row.text("request"))
        except InvalidSpec as exc:
            raise row.error("request", str(exc)) from exc
        after: tuple[str, ...] = tuple(row.text("after").split())
        labels = _labels(row, header)
        klass = row.text("class")
        if klass:
            labels["class"] = klass
        try:
            jobs.append(
                Job(
                    id=job_id,
                    submitted_at=submitted,
                    priority=priority,
                    request=request,
                    nodes=gang,
                    preemptible=preemptible,
                    owner=row.text("owner") or None,
                    group=row.text("group") or None,
                    duration=duration,
                    after=after,
                    labels=labels,
                )
            )
        except (InvalidSpec, InvalidJob) as exc:
            raise row.error("row", str(exc)) from exc
    node_list: tuple[Node, ...] = ()
    if isinstance(nodes, str | os.PathLike):
        node_list = load_nodes(nodes)
    elif nodes is not None:
        node_list = tuple(nodes)
    shown = os.fspath(path)
    return Workload(
        name=name or Path(shown).name,
        jobs=_sorted_jobs(jobs),
        nodes=node_list,
        source=source or f"CSV {shown}",
    )


def load_nodes_csv(path: PathLike) -> tuple[Node, ...]:
    """Load nodes from the plain node CSV: ``id,capacity`` (a capacity spec) and ``label.*``. O(n)."""
    header, rows = _csv_rows(path, CSV_NODE_COLUMNS, known=CSV_NODE_COLUMNS)
    nodes: list[Node] = []
    seen: set[str] = set()
    for row in rows:
        node_id = row.text("id")
        if not node_id:
            raise row.error("id", "missing node id")
        _unique(row, "id", node_id, seen)
        try:
            capacity = Resources.parse(row.text("capacity"))
        except InvalidSpec as exc:
            raise row.error("capacity", str(exc)) from exc
        try:
            nodes.append(Node(id=node_id, capacity=capacity, labels=_labels(row, header)))
        except (InvalidSpec, InvalidJob) as exc:
            raise row.error("row", str(exc)) from exc
    return tuple(nodes)


def _first_line(path: PathLike) -> str:
    for line in _lines(path):
        if line.strip():
            return line.strip()
    return ""


def load_nodes(path: PathLike) -> tuple[Node, ...]:
    """Load a node list in either format, told apart by its header (``sn,...`` is Alibaba's)."""
    first = _first_line(path)
    if first.split(",")[0].strip() == "sn":
        return load_alibaba_nodes(path)
    return load_nodes_csv(path)


def load_trace(
    trace: PathLike,
    nodes: PathLike | Iterable[Node] | None = None,
    **options: object,
) -> Workload:
    """Load a bundled trace by name, or a file in any supported format.

    The format is told from content: a ``;`` first line or a ``.swf``/``.swf.gz``
    name is SWF, a CSV header starting with ``name,cpu_milli`` is the Alibaba
    format, a header with ``id`` and ``submitted_at`` is the plain CSV.
    ``options`` go to the loader (e.g. ``never_ran="drop"``).
    """
    text = os.fspath(trace)
    if text in BUNDLED and not Path(text).exists():
        if nodes is not None:
            options["nodes"] = nodes
        return load_bundled(text, **options)
    first = _first_line(trace)
    lowered = text.lower()
    if first.startswith(";") or lowered.endswith((".swf", ".swf.gz")):
        if isinstance(nodes, str | os.PathLike):
            nodes = load_nodes(nodes)
        return load_swf(trace, nodes=nodes, **options)  # type: ignore[arg-type]
    columns = [c.strip() for c in first.split(",")]
    if columns[:2] == ["name", "cpu_milli"]:
        if isinstance(nodes, str | os.PathLike):
            nodes = load_nodes(nodes)
        return load_alibaba(trace, nodes, **options)  # type: ignore[arg-type]
    if "id" in columns and "submitted_at" in columns:
        return load_csv(trace, nodes, **options)  # type: ignore[arg-type]
    raise TraceError(
        text, 1, "header",
        "unknown trace format (expected SWF, an Alibaba pod list, or a CSV with id,submitted_at)",
    )


# --------------------------------------------------------------------------- bundled

BUNDLED: Mapping[str, tuple[str, str | None]] = {
    "alibaba-openb": ("openb_pod_list_default.csv.gz", "openb_node_list_gpu_node.csv.gz"),
    "alibaba-openb-gpuspec33": ("openb_pod_list_gpuspec33.csv.gz", "openb_node_list_gpu_node.csv.gz"),
    "alibaba-openb-multigpu50": ("openb_pod_list_multigpu50.csv.gz", "openb_node_list_gpu_node.csv.gz"),
    "nasa-ipsc": ("NASA-iPSC-1993-3.1-cln.swf.gz", None),
}
"""Traces shipped in ``prioq/sim/data`` (see its ATTRIBUTION.md): name -> (trace file, node file)."""


def bundled_names() -> tuple[str, ...]:
    """Names :func:`load_bundled` accepts."""
    return tuple(BUNDLED)


def load_bundled(name: str, **options: object) -> Workload:
    """Load a trace shipped with prioq by name (offline; no files outside the package).

    ``alibaba-openb`` (8,152 pods on 1,213 nodes with 6,212 GPUs),
    ``alibaba-openb-gpuspec33`` (same pods, ~33% of GPU pods restricted to GPU
    models), ``alibaba-openb-multigpu50`` (9,061 pods, no times), ``nasa-ipsc``
    (NASA Ames iPSC/860, 1993, SWF, 128 nodes). ``options`` go to the loader.
    """
    if name not in BUNDLED:
        raise InvalidJob(f"unknown bundled trace {name!r}; known: {', '.join(BUNDLED)}")
    trace_file, node_file = BUNDLED[name]
    data = importlib_resources.files("prioq.sim").joinpath("data")
    with ExitStack() as stack:
        trace = stack.enter_context(importlib_resources.as_file(data.joinpath(trace_file)))
        if node_file is None:
            workload = load_swf(trace, name=name, **options)  # type: ignore[arg-type]
            return _attributed(workload, f"{PWA_ATTRIBUTION}; NASA Ames iPSC/860 log, 1993 (cleaned)")
        if "nodes" not in options:
            node_path = stack.enter_context(importlib_resources.as_file(data.joinpath(node_file)))
            options["nodes"] = load_alibaba_nodes(node_path)
        workload = load_alibaba(trace, name=name, source=ALIBABA_ATTRIBUTION, **options)  # type: ignore[arg-type]
        return workload


def _attributed(workload: Workload, source: str) -> Workload:
    return attrs.evolve(workload, source=source)
