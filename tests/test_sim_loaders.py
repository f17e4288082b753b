"""Trace loaders, bundled traces, workloads and synthetic generators (issue 8, data side)."""

from __future__ import annotations

import csv
import gzip
import math
import random
import shutil
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prioq import (
    GPU,
    InvalidJob,
    InvalidSpec,
    InvalidType,
    InvalidValue,
    Job,
    Node,
    ResourceRequest,
    Resources,
)
from prioq.sim import (
    DEFAULT_QOS_PRIORITIES,
    TraceError,
    Workload,
    bundled_names,
    class_of,
    load_alibaba,
    load_alibaba_nodes,
    load_bundled,
    load_csv,
    load_nodes,
    load_nodes_csv,
    load_swf,
    load_trace,
)
from prioq.sim.synthetic import (
    DEFAULT_GPU_MIX,
    DEFAULT_NODE_TYPES,
    NodeType,
    synthetic_cluster,
    synthetic_workload,
)

DATA = Path(__file__).parent / "data"
SHARED = Path("/work/shared/data")
MIB = 1024 * 1024


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


# --------------------------------------------------------------------------- Alibaba


def test_alibaba_pods_follow_the_documented_mapping() -> None:
    w = load_alibaba(DATA / "alibaba_pods.csv", DATA / "alibaba_nodes.csv")
    rows = {r["name"]: r for r in _rows(DATA / "alibaba_pods.csv")}
    assert len(w.jobs) == len(rows)
    assert [j.submitted_at for j in w.jobs] == sorted(j.submitted_at for j in w.jobs)
    for job in w.jobs:
        r = rows[job.id]
        assert job.submitted_at == float(r["creation_time"])
        assert job.priority == DEFAULT_QOS_PRIORITIES[r["qos"]]
        assert job.labels["qos"] == r["qos"] == class_of(job)
        assert job.labels["phase"] == r["pod_phase"]
        start = r["scheduled_time"] or r["creation_time"]
        assert job.duration == max(1.0, float(r["deletion_time"]) - float(start))
        assert ("never_ran" in job.labels) == (r["scheduled_time"] == "")
        need = job.request.minimum()
        assert need.cpu_milli == int(r["cpu_milli"])
        assert need.memory == int(r["memory_mib"]) * MIB
        num, milli = int(r["num_gpu"]), int(r["gpu_milli"])
        if num == 0:
            assert job.request.gpu is None
        else:
            assert job.request.gpu is not None
            assert job.request.gpu_milli == (milli if milli < 1000 else 1000 * num)
            assert job.request.gpu.fractional == (milli < 1000)
            assert set(job.request.gpu.names) == {n for n in r["gpu_spec"].split("|") if n}
    # The rules in words, on specific rows.
    by_id = {j.id: j for j in w.jobs}
    assert by_id["pod-b"].request.gpu is not None and by_id["pod-b"].request.gpu.count.low == 0.46
    assert by_id["pod-e"].request.gpu is not None
    assert by_id["pod-e"].request.gpu.names == ("V100M16", "V100M32")
    assert by_id["pod-d"].duration == 1.0  # zero-length run floored at one second
    assert [j.id for j in w.jobs][:3] == ["pod-a", "pod-f", "pod-b"]
    assert "Alibaba" in w.source and w.skipped == ()


def test_alibaba_node_list() -> None:
    nodes = load_alibaba_nodes(DATA / "alibaba_nodes.csv")
    rows = _rows(DATA / "alibaba_nodes.csv")
    assert [n.id for n in nodes] == [r["sn"] for r in rows]
    for n, r in zip(nodes, rows, strict=True):
        assert n.capacity.cpu_milli == int(r["cpu_milli"])
        assert n.capacity.memory == int(r["memory_mib"]) * MIB
        assert n.capacity.gpu_count == int(r["gpu"])
        assert {d.gpu.name for d in n.capacity.gpus} == ({r["model"]} if r["model"] else set())
        assert all(d.milli == 1000 for d in n.capacity.gpus)
    assert nodes[1].capacity.gpus[0].gpu == GPU("V100M32")
    assert load_nodes(DATA / "alibaba_nodes.csv") == nodes


def test_alibaba_without_times_arrives_at_zero_with_no_duration() -> None:
    w = load_alibaba(DATA / "alibaba_multigpu.csv")
    assert [j.submitted_at for j in w.jobs] == [0.0] * 3
    assert all(j.duration is None and j.priority == 0 for j in w.jobs)
    assert w.jobs[2].request.gpu_milli == 4000
    assert load_alibaba(DATA / "alibaba_multigpu.csv", default_priority=7).jobs[0].priority == 7


def test_alibaba_never_ran_drop_counts_what_it_leaves_out() -> None:
    kept = load_alibaba(DATA / "alibaba_pods.csv")
    dropped = load_alibaba(DATA / "alibaba_pods.csv", never_ran="drop")
    never = [r["name"] for r in _rows(DATA / "alibaba_pods.csv") if not r["scheduled_time"]]
    assert len(dropped.jobs) == len(kept.jobs) - len(never)
    assert dropped.skipped == (("never ran (no scheduled_time)", len(never)),)
    assert not {j.id for j in dropped.jobs} & set(never)


def test_alibaba_qos_table_is_configurable() -> None:
    table = {"LS": 3, "BE": 1, "Burstable": 2, "Guaranteed": 4}
    w = load_alibaba(DATA / "alibaba_pods.csv", qos_priorities=table)
    assert {j.labels["qos"]: j.priority for j in w.jobs} == table
    with pytest.raises(TraceError) as info:
        load_alibaba(DATA / "alibaba_pods.csv", qos_priorities={"LS": 1})
    assert info.value.field == "qos"
    with pytest.raises(InvalidType):
        load_alibaba(DATA / "alibaba_pods.csv", qos_priorities={"LS": 1.5})  # type: ignore[dict-item]
    with pytest.raises(InvalidValue):
        load_alibaba(DATA / "alibaba_pods.csv", never_ran="maybe")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- malformed input


@pytest.mark.parametrize(
    ("name", "line", "field"),
    [
        ("alibaba_bad_missing_column.csv", 1, "memory_mib"),
        ("alibaba_bad_non_numeric.csv", 3, "cpu_milli"),
        ("alibaba_bad_negative_time.csv", 4, "creation_time"),
        ("alibaba_bad_qos.csv", 2, "qos"),
        ("bad_fields.swf", 4, "line"),
        ("bad_negative_submit.swf", 4, "submit time"),
        ("jobs_bad_request.csv", 3, "request"),
        ("jobs_bad_column.csv", 1, "duraton"),
    ],
)
def test_malformed_input_names_file_line_and_field(name: str, line: int, field: str) -> None:
    path = DATA / name
    with pytest.raises(TraceError) as info:
        load_trace(path)
    err = info.value
    assert (err.path, err.line, err.field) == (str(path), line, field)
    assert f"{path}:{line}: {field}: " in str(err)
    assert isinstance(err, InvalidSpec) and isinstance(err, ValueError)


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ("p,1000,10,1,1001,,LS,Running,0,10,0", "gpu_milli"),
        ("p,1000,10,0,500,,LS,Running,0,10,0", "gpu_milli"),
        ("p,1000,10,1,0,,LS,Running,0,10,0", "gpu_milli"),
        ("p,1000,10,2,500,,LS,Running,0,10,0", "gpu_milli"),
        ("p,1000,10,1.5,1000,,LS,Running,0,10,0", "num_gpu"),
        ("p,1000,10,1,1000,,LS,Running,10,5,10", "deletion_time"),
        ("p,1000,10,1,1000,,LS,Running,0,10,11", "scheduled_time"),
        ("p,1000,10,1,1000,,LS,Running,0,inf,0", "deletion_time"),
        ("p,1000,,1,1000,,LS,Running,0,10,0", "memory_mib"),
        (",1000,10,1,1000,,LS,Running,0,10,0", "name"),
        ("p,1000,10,1,1000,,LS,Running,0,10", "row"),
    ],
)
def test_alibaba_bad_rows(tmp_path: Path, row: str, field: str) -> None:
    path = tmp_path / "pods.csv"
    header = (DATA / "alibaba_pods.csv").read_text().splitlines()[0]
    path.write_text(f"{header}\nok,1000,10,1,1000,,LS,Running,0,10,0\n{row}\n")
    with pytest.raises(TraceError) as info:
        load_alibaba(path)
    assert (info.value.line, info.value.field) == (3, field)


def test_duplicate_ids_are_reported_on_the_second_line(tmp_path: Path) -> None:
    path = tmp_path / "pods.csv"
    lines = (DATA / "alibaba_pods.csv").read_text().splitlines()
    path.write_text("\n".join([*lines, lines[1]]) + "\n")
    with pytest.raises(TraceError) as info:
        load_alibaba(path)
    assert (info.value.line, info.value.field) == (len(lines) + 1, "name")


def test_gzip_is_detected_by_content_and_corruption_is_reported(tmp_path: Path) -> None:
    plain = load_alibaba(DATA / "alibaba_pods.csv")
    packed = tmp_path / "pods-no-suffix"
    packed.write_bytes(gzip.compress((DATA / "alibaba_pods.csv").read_bytes()))
    assert load_alibaba(packed).jobs == plain.jobs
    with pytest.raises(TraceError) as info:
        load_alibaba(DATA / "truncated.csv.gz")
    assert info.value.field == "gzip" and info.value.line is not None and info.value.line > 1
    bad = tmp_path / "bad.csv.gz"
    bad.write_bytes(b"\x1f\x8b" + b"not really gzip" * 10)
    with pytest.raises(TraceError) as info:
        load_alibaba(bad)
    assert (info.value.field, info.value.line) == ("gzip", 1)
    latin = tmp_path / "latin.csv"
    latin.write_bytes("name,cpu_milli\nsch\xf6n,1\n".encode("latin-1"))
    with pytest.raises(TraceError) as info:
        load_alibaba(latin)
    assert info.value.field == "encoding"


def test_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(TraceError) as info:
        load_alibaba(tmp_path / "nope.csv")
    assert (info.value.line, info.value.field) == (None, "file")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(TraceError) as info:
        load_csv(empty)
    assert (info.value.line, info.value.field) == (1, "header")
    with pytest.raises(TraceError) as info:
        load_trace(empty)
    assert info.value.field == "header"


# --------------------------------------------------------------------------- SWF


def _swf_records(path: Path) -> list[list[float]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as f:
        return [[float(x) for x in line.split()] for line in f if line.strip() and not line.startswith(";")]


def test_swf_example_follows_the_documented_mapping() -> None:
    w = load_swf(DATA / "small.swf")
    # MaxNodes 4, MaxProcs 16: four nodes of four cores.
    assert [n.capacity.cpu_milli for n in w.nodes] == [4000] * 4
    records = {str(int(r[0])): r for r in _swf_records(DATA / "small.swf")}
    expected_skips: Counter[str] = Counter()
    for r in records.values():
        procs = r[4] if r[4] > 0 else r[7]
        if r[3] < 0:
            expected_skips["unknown run time"] += 1
        elif procs <= 0:
            expected_skips["unknown processor count"] += 1
    assert dict(w.skipped) == dict(expected_skips)
    assert len(w.jobs) == len(records) - sum(expected_skips.values())
    for job in w.jobs:
        r = records[job.id]
        procs = int(r[4] if r[4] > 0 else r[7])
        assert job.submitted_at == r[1]
        assert job.duration == max(1.0, r[3])
        gang = math.ceil(procs / 4)
        assert job.nodes == gang
        assert job.request.minimum().cpu_milli * job.nodes == (procs * 1000 if gang == 1 else gang * 4000)
        assert job.owner == f"user{int(r[11])}"
    assert [j.id for j in w.jobs] == ["1", "7", "2", "3", "5"]
    assert "Test machine" in w.source


def test_swf_options(tmp_path: Path) -> None:
    single = load_swf(DATA / "small.swf", layout="single")
    assert [n.capacity.cpu_milli for n in single.nodes] == [16000]
    assert all(j.nodes == 1 for j in single.jobs)
    assert {j.id: j.request.minimum().cpu_milli for j in single.jobs}["2"] == 8000
    requested = load_swf(DATA / "small.swf", processors="requested")
    # job 2 requested -1 (unknown) so falls back to its 8 allocated processors.
    assert {j.id: j.nodes for j in requested.jobs}["2"] == 2
    prio = load_swf(DATA / "small.swf", queue_priorities={1: 70}, group_priorities={2: 30})
    by_id = {j.id: j for j in prio.jobs}
    assert by_id["1"].priority == 70 and class_of(by_id["1"]) == "queue 1"
    assert by_id["3"].priority == 30 and class_of(by_id["3"]) == "group 2"
    assert by_id["2"].priority == 0 and class_of(by_id["2"]) == "priority 0"
    mine = (Node(id="big", capacity=Resources(cpu_milli=64000)),)
    custom = load_swf(DATA / "small.swf", nodes=mine)
    assert custom.nodes == mine and all(j.nodes == 1 for j in custom.jobs)
    packed = tmp_path / "small.swf.gz"
    packed.write_bytes(gzip.compress((DATA / "small.swf").read_bytes()))
    assert load_swf(packed).jobs == load_swf(DATA / "small.swf").jobs


def test_swf_header_problems(tmp_path: Path) -> None:
    body = [ln for ln in (DATA / "small.swf").read_text().splitlines() if not ln.startswith(";")]
    headerless = tmp_path / "headerless.swf"
    headerless.write_text("\n".join(body) + "\n")
    with pytest.raises(TraceError) as info:
        load_swf(headerless)
    assert info.value.field == "MaxNodes"
    assert len(load_swf(headerless, nodes=()).jobs) == 5
    odd = tmp_path / "odd.swf"
    odd.write_text("; MaxNodes: 3\n; MaxProcs: 16\n" + "\n".join(body) + "\n")
    with pytest.raises(TraceError) as info:
        load_swf(odd)
    assert (info.value.line, info.value.field) == (2, "MaxProcs")
    procs_only = tmp_path / "procs.swf"
    procs_only.write_text("; MaxProcs: 8\n" + "\n".join(body) + "\n")
    assert [n.capacity.cpu_milli for n in load_swf(procs_only).nodes] == [1000] * 8
    bad = tmp_path / "bad.swf"
    bad.write_text("; MaxNodes: many\n" + "\n".join(body) + "\n")
    with pytest.raises(TraceError) as info:
        load_swf(bad)
    assert (info.value.line, info.value.field) == (1, "MaxNodes")


# --------------------------------------------------------------------------- plain CSV


def test_plain_csv_jobs_and_nodes() -> None:
    w = load_csv(DATA / "jobs.csv", DATA / "nodes.csv")
    rows = {r["id"]: r for r in _rows(DATA / "jobs.csv")}
    assert {j.id for j in w.jobs} == set(rows)
    for job in w.jobs:
        r = rows[job.id]
        assert job.submitted_at == float(r["submitted_at"])
        assert job.duration == (float(r["duration"]) if r["duration"] else None)
        assert job.priority == int(r["priority"] or 0)
        assert job.request == ResourceRequest.parse(r["request"])
        assert job.nodes == int(r["nodes"] or 1)
        assert job.owner == (r["owner"] or None)
        assert job.group == (r["group"] or None)
        assert job.preemptible == (r["preemptible"] in ("", "true", "yes"))
        assert job.after == tuple(r["after"].split())
        assert job.labels.get("team") == (r["label.team"] or None)
        assert class_of(job) == (r["class"] or f"priority {job.priority}")
    nodes = load_nodes_csv(DATA / "nodes.csv")
    assert w.nodes == nodes == load_nodes(DATA / "nodes.csv")
    assert nodes[0].capacity == Resources.parse("cpu=96 memory=1024GB gpu=A100:80GB:8")
    assert nodes[0].labels == {"zone": "eu"} and nodes[2].labels == {}


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ("x,-1,10,1,cpu=1", "submitted_at"),
        ("x,1,0,1,cpu=1", "duration"),
        ("x,1,abc,1,cpu=1", "duration"),
        ("x,1,10,1.5,cpu=1", "priority"),
        ("x,1,10,1,cpu=1 gpu=", "request"),
        (",1,10,1,cpu=1", "id"),
    ],
)
def test_plain_csv_bad_rows(tmp_path: Path, row: str, field: str) -> None:
    path = tmp_path / "jobs.csv"
    path.write_text(f"id,submitted_at,duration,priority,request\nok,0,1,1,cpu=1\n{row}\n")
    with pytest.raises(TraceError) as info:
        load_csv(path)
    assert (info.value.line, info.value.field) == (3, field)


def test_plain_node_csv_bad_capacity(tmp_path: Path) -> None:
    path = tmp_path / "nodes.csv"
    path.write_text("id,capacity\nn1,cpu=4\nn2,cpu=lots\n")
    with pytest.raises(TraceError) as info:
        load_nodes(path)
    assert (info.value.line, info.value.field) == (3, "capacity")


# --------------------------------------------------------------------------- format detection


def test_load_trace_detects_each_format(tmp_path: Path) -> None:
    assert load_trace(DATA / "alibaba_pods.csv", DATA / "alibaba_nodes.csv") == load_alibaba(
        DATA / "alibaba_pods.csv", DATA / "alibaba_nodes.csv"
    )
    assert load_trace(DATA / "small.swf").jobs == load_swf(DATA / "small.swf").jobs
    csv_jobs = load_csv(DATA / "jobs.csv", DATA / "nodes.csv")
    assert load_trace(DATA / "jobs.csv", DATA / "nodes.csv") == csv_jobs
    assert load_trace(DATA / "alibaba_pods.csv", never_ran="drop").skipped
    # An SWF file without a ';' header is recognized by its name.
    copy = tmp_path / "x.swf"
    copy.write_text("\n".join(ln for ln in (DATA / "small.swf").read_text().splitlines()
                              if not ln.startswith(";")))
    assert len(load_trace(copy, DATA / "nodes.csv").jobs) == 5
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(TraceError) as info:
        load_trace(other)
    assert (info.value.line, info.value.field) == (1, "header")


# --------------------------------------------------------------------------- bundled


def test_bundled_openb_has_the_documented_counts() -> None:
    w = load_bundled("alibaba-openb")
    assert (len(w.jobs), len(w.nodes), w.gpu_count) == (8152, 1213, 6212)
    assert "Alibaba Group" in w.source and "ATC'23" in w.source
    assert Counter(j.labels["qos"] for j in w.jobs).keys() == {"LS", "BE", "Burstable", "Guaranteed"}
    assert sum(1 for j in w.jobs if "never_ran" in j.labels) == sum(
        1 for j in w.jobs if j.labels["phase"] == "Pending"
    )
    assert load_trace("alibaba-openb") == w


def test_bundled_variants() -> None:
    spec = load_bundled("alibaba-openb-gpuspec33")
    gpu_jobs = [j for j in spec.jobs if j.request.gpu is not None]
    constrained = sum(1 for j in gpu_jobs if j.request.gpu is not None and j.request.gpu.names)
    assert 0.25 < constrained / len(gpu_jobs) < 0.40
    multi = load_bundled("alibaba-openb-multigpu50")
    assert len(multi.jobs) == 9061 and all(j.duration is None for j in multi.jobs)
    nasa = load_bundled("nasa-ipsc")
    assert (len(nasa.jobs), len(nasa.nodes)) == (18239, 128)
    assert "Parallel Workloads Archive" in nasa.source
    assert set(bundled_names()) == {"alibaba-openb", "alibaba-openb-gpuspec33",
                                    "alibaba-openb-multigpu50", "nasa-ipsc"}
    with pytest.raises(InvalidValue):
        load_bundled("nope")


@pytest.mark.skipif(not SHARED.exists(), reason="the shared data directory is not on this machine")
def test_bundled_files_are_the_shared_data_unchanged() -> None:
    data = Path(__file__).parent.parent / "src" / "prioq" / "sim" / "data"
    for name in ("openb_pod_list_default", "openb_pod_list_gpuspec33", "openb_pod_list_multigpu50",
                 "openb_node_list_gpu_node"):
        shipped = gzip.decompress((data / f"{name}.csv.gz").read_bytes())
        assert shipped == (SHARED / "alibaba-gpu-v2023" / f"{name}.csv").read_bytes()
    nasa = "NASA-iPSC-1993-3.1-cln.swf.gz"
    assert (data / nasa).read_bytes() == (SHARED / "pwa" / nasa).read_bytes()
    assert len(load_swf(SHARED / "pwa" / nasa).jobs) == len(_swf_records(SHARED / "pwa" / nasa))


def test_bundled_loading_needs_nothing_outside_the_package(tmp_path: Path) -> None:
    # Copy the package somewhere else and load it from there in a fresh interpreter: the data must
    # come from inside the package (importlib.resources), not from the source tree or /work/shared.
    import subprocess
    import sys

    import prioq

    root = Path(prioq.__file__).parent
    shutil.copytree(root, tmp_path / "prioq")
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "import prioq.sim as s; w = s.load_bundled('alibaba-openb');"
        "assert s.__file__.startswith(sys.argv[1]), s.__file__;"
        "print(len(w.jobs), len(w.nodes), w.gpu_count)"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True,
                         check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["8152", "1213", "6212"]


# --------------------------------------------------------------------------- Workload


def test_workload_helpers() -> None:
    w = load_alibaba(DATA / "alibaba_pods.csv", DATA / "alibaba_nodes.csv")
    assert w.head(2).jobs == w.jobs[:2] and w.head(2).nodes == w.nodes
    assert len(w.head(100)) == len(w)
    assert w.gpu_count == 10 and w.gpu_capacity_milli == 10_000
    assert w.cpu_capacity_milli == 192_000
    assert w.gpu_demand_milli == sum(j.request.gpu_milli * j.nodes for j in w.jobs)
    assert w.gpu_seconds == pytest.approx(
        sum(j.request.gpu_milli * j.nodes * (j.duration or 0) for j in w.jobs) / 1000
    )
    fast = w.scaled(arrival=0.5, duration=2)
    t0 = w.jobs[0].submitted_at
    for a, b in zip(w.jobs, fast.jobs, strict=True):
        assert b.submitted_at == pytest.approx(t0 + (a.submitted_at - t0) / 2)
        assert b.duration == max(1.0, (a.duration or 0) * 2)
    assert "6 jobs" in w.summary()
    assert w.with_nodes(()).nodes == ()
    for bad in (0, -1, math.inf, True):
        with pytest.raises(InvalidValue):
            w.scaled(arrival=bad)
    with pytest.raises(InvalidValue):
        w.head(-1)
    job = Job(id="a", submitted_at=0)
    with pytest.raises(InvalidValue, match="'a'"):
        Workload(name="dup", jobs=[job, job])


# --------------------------------------------------------------------------- synthetic


def test_synthetic_is_deterministic_and_leaves_global_random_alone() -> None:
    nodes = synthetic_cluster(50, seed=1)
    state = random.getstate()
    a = synthetic_workload(500, seed=7, nodes=nodes)
    assert random.getstate() == state
    assert a == synthetic_workload(500, seed=7, nodes=nodes)
    assert a.jobs != synthetic_workload(500, seed=8, nodes=nodes).jobs
    assert synthetic_cluster(50, seed=1) == nodes
    assert synthetic_cluster(50, seed=2) != nodes


@settings(max_examples=25)
@given(
    n=st.integers(0, 200),
    seed=st.integers(0, 2**32),
    nodes=st.integers(1, 30),
    durations=st.sampled_from(["lognormal", "pareto"]),
    gangs=st.sampled_from([0.0, 0.5]),
)
def test_synthetic_workload_properties(n: int, seed: int, nodes: int, durations: str, gangs: float) -> None:
    cluster = synthetic_cluster(nodes, seed=seed)
    if not any(node.capacity.gpu_count for node in cluster):
        cluster = (*cluster, Node(id="extra", capacity=DEFAULT_NODE_TYPES[0].capacity()))
    w = synthetic_workload(n, seed=seed, nodes=cluster, durations=durations,  # type: ignore[arg-type]
                           max_duration=86400, gang_fraction=gangs)
    assert len(w.jobs) == n
    times = [j.submitted_at for j in w.jobs]
    assert times == sorted(times) and all(t > 0 for t in times)
    counts = {c for c, _ in DEFAULT_GPU_MIX}
    per_model: dict[str, int] = {}
    for node in cluster:
        for model, c in Counter(d.gpu.name for d in node.capacity.gpus).items():
            per_model[model] = max(per_model.get(model, 0), c)
    for j in w.jobs:
        assert j.duration is not None and 1 <= j.duration <= 86400
        g = j.request.gpu
        assert (g.count.low if g else 0) in counts
        if g is not None and g.names:
            (model,) = g.names
            assert per_model[model] >= g.devices  # a model constraint is always satisfiable
        assert j.nodes == 1 or (g is not None and g.devices == 8)
        assert j.labels["class"] in {"high", "normal", "low"} and j.owner is not None


def test_synthetic_load_targets_the_offered_gpu_load() -> None:
    cluster = synthetic_cluster(200, seed=3)
    w = synthetic_workload(20_000, seed=4, nodes=cluster, load=0.7)
    span = w.jobs[-1].submitted_at
    offered = w.gpu_seconds / (span * w.gpu_count)
    assert offered == pytest.approx(0.7, rel=0.15)


def test_synthetic_validation() -> None:
    with pytest.raises(InvalidValue, match="arrival_rate"):
        synthetic_workload(10, seed=1)
    assert len(synthetic_workload(10, seed=1, arrival_rate=0.1).jobs) == 10
    for kwargs in ({"load": 0}, {"gpu_mix": ()}, {"gpu_mix": ((1.5, 1.0),)}, {"model_constraint": 2},
                   {"owners": 0}, {"class_mix": (("a", 1, -1.0),)}, {"durations": "weibull"}):
        with pytest.raises((InvalidValue, InvalidSpec)):
            synthetic_workload(10, seed=1, arrival_rate=1, **kwargs)
    with pytest.raises(InvalidValue):
        NodeType(name="x", cpus=1, memory_gib=1, gpus=2)
    with pytest.raises(InvalidValue):
        synthetic_cluster(-1, seed=1)


# --------------------------------------------------------------------------- docs




# --------------------------------------------------------------------------- bad arguments (issue 16)


def test_workload_and_generator_arguments_raise_prioq_errors_not_builtins() -> None:
    # Before issue 16: scaled(arrival=10**400) and a weight of 10**400 leaked OverflowError;
    # synthetic_workload(seed=[1]) a TypeError, malformed gpu_mix entries a ValueError (unpacking).
    w = load_alibaba(DATA / "alibaba_pods.csv", DATA / "alibaba_nodes.csv")
    cluster = synthetic_cluster(3, seed=1)
    for call in (
        lambda: w.scaled(arrival=10**400),
        lambda: w.scaled(duration=10**400),
        lambda: synthetic_workload(10, seed=1, arrival_rate=10**400),
        lambda: synthetic_workload(10, seed=1, arrival_rate=1, load=10**400),
        lambda: synthetic_workload(10, seed=1, arrival_rate=1, gpu_mix=((1, 10**400),)),
        lambda: synthetic_workload(10, seed=1, arrival_rate=1, class_mix=(("a", 2**60, 1.0),)),
        lambda: NodeType(name="x", cpus=1, memory_gib=1, weight=10**400),
        lambda: synthetic_cluster(3, seed=1, types=[NodeType(name="x", cpus=1, memory_gib=1, weight=0)]),
    ):
        with pytest.raises(InvalidValue) as info:
            call()
        assert not isinstance(info.value, InvalidJob)
    for call in (
        lambda: synthetic_workload(10, seed=[1], arrival_rate=1),  # type: ignore[arg-type]
        lambda: synthetic_workload(10, seed=1, arrival_rate=1, gpu_mix=((1, 1, 1),)),
        lambda: synthetic_workload(10, seed=1, arrival_rate=1, gpu_mix=5),  # type: ignore[arg-type]
        lambda: synthetic_workload(10, seed=1, arrival_rate=1, class_mix=((1, 1, 1.0),)),
        lambda: synthetic_workload(10, seed=1, arrival_rate=1, nodes=["n"]),  # type: ignore[list-item]
        lambda: synthetic_workload(10, seed=1, arrival_rate="1"),  # type: ignore[arg-type]
        lambda: synthetic_cluster(3, seed=1, types=["x"]),  # type: ignore[list-item]
        lambda: synthetic_cluster(3.0, seed=1),  # type: ignore[arg-type]
        lambda: Workload(name="w", jobs=5),  # type: ignore[arg-type]
        lambda: Workload(name="w", jobs=["a"]),  # type: ignore[list-item]
        lambda: Workload(name="w", jobs=[], skipped=[("r", "many")]),  # type: ignore[list-item]
        lambda: w.with_nodes([object()]),  # type: ignore[list-item]
        lambda: w.head("2"),  # type: ignore[arg-type]
    ):
        with pytest.raises(InvalidType):
            call()
    assert synthetic_workload(5, seed=1, nodes=cluster, owner_skew=math.inf).jobs[0].owner == "user00"


def test_loader_arguments_raise_invalid_value_never_a_builtin() -> None:
    # Before issue 16: load_swf(path, nodes=5) leaked TypeError, queue_priorities=5 a TypeError,
    # qos_priorities with mixed key types a TypeError (sorting the table for the message),
    # load_bundled(["x"]) a TypeError (unhashable), load_alibaba(5) opened file descriptor 5, and an
    # option the detected format does not take a bare TypeError. Loader arguments are not jobs.
    pods = DATA / "alibaba_pods.csv"
    for call in (
        lambda: load_alibaba(5),  # type: ignore[arg-type]
        lambda: load_alibaba(pods, nodes=5),  # type: ignore[arg-type]
        lambda: load_alibaba(pods, nodes=["n"]),  # type: ignore[list-item]
        lambda: load_alibaba(pods, qos_priorities=5),  # type: ignore[arg-type]
        lambda: load_alibaba(pods, qos_priorities={1: 5}),  # type: ignore[dict-item]
        lambda: load_alibaba(pods, default_priority=True),
        lambda: load_alibaba(pods, never_ran=["drop"]),  # type: ignore[arg-type]
        lambda: load_swf(DATA / "small.swf", nodes=5),  # type: ignore[arg-type]
        lambda: load_swf(DATA / "small.swf", nodes="nodes.csv"),  # type: ignore[arg-type]
        lambda: load_swf(DATA / "small.swf", queue_priorities=5),  # type: ignore[arg-type]
        lambda: load_swf(DATA / "small.swf", group_priorities={"1": 5}),  # type: ignore[dict-item]
        lambda: load_swf(DATA / "small.swf", layout=None),  # type: ignore[arg-type]
        lambda: load_csv(None),  # type: ignore[arg-type]
        lambda: load_nodes(3.5),  # type: ignore[arg-type]
        lambda: load_nodes_csv(b"nodes.csv"),  # type: ignore[arg-type]
        lambda: load_alibaba_nodes([]),  # type: ignore[arg-type]
        lambda: load_bundled(["alibaba-openb"]),  # type: ignore[arg-type]
        lambda: load_bundled("nasa-ipsc", never_ran="drop"),
        lambda: load_trace(DATA / "jobs.csv", never_ran="drop"),
        lambda: load_trace(7),  # type: ignore[arg-type]
    ):
        with pytest.raises(InvalidType) as info:
            call()
        assert not isinstance(info.value, InvalidJob)
    for call in (
        lambda: load_alibaba(pods, default_priority=2**60),
        lambda: load_alibaba(pods, qos_priorities={"LS": 10**400}),
        lambda: load_swf(DATA / "small.swf", queue_priorities={1: -(10**400)}),
        lambda: load_swf(DATA / "small.swf", processors="both"),  # type: ignore[arg-type]
    ):
        with pytest.raises(InvalidValue) as info:
            call()
        assert not isinstance(info.value, (InvalidJob, TraceError))
