"""The spec grammar (dstack's): documented examples, errors, round trips, fuzzing, and the docs."""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import prioq
from prioq import GPU, Device, GPURequest, InvalidSpec, Range, ResourceRequest, Resources
from prioq.resources import GiB, MiB, TiB
from prioq.resources._spec import (
    brief_bytes,
    format_bytes,
    format_range,
    format_request,
    format_resources,
    parse_request,
    parse_resources,
)
from test_resources import byte_amounts, capacities, ranges, requests

DOCS = Path(__file__).resolve().parent.parent / "docs" / "resources.md"

# --------------------------------------------------------------------------- dstack's documented examples

# From dstack's docs (concepts/tasks.md, "Resources") and its resource model tests.
DSTACK_EXAMPLES: list[tuple[str | dict[str, Any], ResourceRequest]] = [
    ("gpu=H100:1..2", ResourceRequest(gpu=GPURequest(names=("H100",), count=Range(1, 2)))),
    ("gpu=24GB:1..2", ResourceRequest(gpu=GPURequest(memory=Range.exact(24 * GiB), count=Range(1, 2)))),
    (
        "cpu=16.. memory=200GB.. gpu=40GB..80GB:4 shm_size=24GB disk=500GB",
        ResourceRequest(
            cpu=Range(16, None),
            memory=Range(200 * GiB, None),
            gpu=GPURequest(memory=Range(40 * GiB, 80 * GiB), count=Range.exact(4)),
            disk=Range.exact(500 * GiB),
        ),
    ),
    ("cpu=x86:16", ResourceRequest(cpu=Range.exact(16), cpu_arch="x86")),
    ("cpu=arm:8..", ResourceRequest(cpu=Range(8, None), cpu_arch="arm")),
    ("gpu=nvidia", ResourceRequest(gpu=GPURequest(vendor="nvidia"))),
    ("gpu=A100", ResourceRequest(gpu=GPURequest(names=("A100",)))),
    ("gpu=A10G,A100", ResourceRequest(gpu=GPURequest(names=("A10G", "A100")))),
    ("gpu=A100:80GB", ResourceRequest(gpu=GPURequest(names=("A100",), memory=Range.exact(80 * GiB)))),
    ("gpu=A100:2", ResourceRequest(gpu=GPURequest(names=("A100",), count=Range.exact(2)))),
    (
        "gpu=24GB..40GB:2",
        ResourceRequest(gpu=GPURequest(memory=Range(24 * GiB, 40 * GiB), count=Range(2, 2))),
    ),
    (
        "gpu=A100:40GB:2",
        ResourceRequest(gpu=GPURequest(names=("A100",), memory=Range.exact(40 * GiB), count=Range.exact(2))),
    ),
    ("gpu=1", ResourceRequest(gpu=GPURequest())),
    ("gpu=v2-8", ResourceRequest(gpu=GPURequest(names=("V2-8",)))),
    ({"gpu": 1}, ResourceRequest(gpu=GPURequest())),
    (
        {"gpu": "A100:80GB:2"},
        ResourceRequest(gpu=GPURequest(names=("A100",), memory=Range.exact(80 * GiB), count=Range.exact(2))),
    ),
    (
        {
            "cpu": "8..",
            "memory": "64GB..",
            "gpu": {"name": ["A100"], "memory": "80GB", "count": 2},
            "disk": "100GB..",
        },
        ResourceRequest(
            cpu=Range(8, None),
            memory=Range(64 * GiB, None),
            disk=Range(100 * GiB, None),
            gpu=GPURequest(names=("A100",), memory=Range.exact(80 * GiB), count=Range.exact(2)),
        ),
    ),
    ({"cpu": {"min": 8}}, ResourceRequest(cpu=Range(8, None))),
    ({"cpu": {"min": 1, "max": 3}}, ResourceRequest(cpu=Range(1, 3))),
    ({"cpu": {"arch": "arm", "count": "4.."}}, ResourceRequest(cpu=Range(4, None), cpu_arch="arm")),
    ({"disk": {"size": "100GB.."}}, ResourceRequest(disk=Range(100 * GiB, None))),
    ({"disk": 100}, ResourceRequest(disk=Range.exact(100 * GiB))),
    ({"memory": "512MB"}, ResourceRequest(memory=Range.exact(512 * MiB))),
    ({"memory": "16 Gb"}, ResourceRequest(memory=Range.exact(16 * GiB))),
    ({"memory": "1 TB "}, ResourceRequest(memory=Range.exact(TiB))),
    ({"memory": 1.5}, ResourceRequest(memory=Range.exact(3 * GiB // 2))),
    ({"memory": "512..1 TB"}, ResourceRequest(memory=Range(512 * GiB, TiB))),
    ({"memory": {"min": "512MB", "max": "1TB"}}, ResourceRequest(memory=Range(512 * MiB, TiB))),
    ({"gpu": {"count": 1}}, ResourceRequest(gpu=GPURequest())),
    ({"gpu": {"name": "A100"}}, ResourceRequest(gpu=GPURequest(names=("A100",)))),
    ({"gpu": "16GB"}, ResourceRequest(gpu=GPURequest(memory=Range.exact(16 * GiB)))),
    (
        {"gpu": {"name": ["A10", "A10G"], "count": 2}},
        ResourceRequest(gpu=GPURequest(names=("A10", "A10G"), count=Range.exact(2))),
    ),
    (
        {"gpu": {"memory": {"min": 16, "max": 32}}},
        ResourceRequest(gpu=GPURequest(memory=Range(16 * GiB, 32 * GiB))),
    ),
    ({"gpu": "16GB..32"}, ResourceRequest(gpu=GPURequest(memory=Range(16 * GiB, 32 * GiB)))),
    (
        {"gpu": {"vendor": "tpu", "name": "v5e"}},
        ResourceRequest(gpu=GPURequest(vendor="google", names=("V5E",))),
    ),
    # dstack's .dict() writes None for unset fields
    ({"cpu": 4, "gpu": None, "shm_size": None, "disk": None}, ResourceRequest(cpu=Range.exact(4))),
]


@pytest.mark.parametrize(("spec", "expected"), DSTACK_EXAMPLES, ids=[str(s) for s, _ in DSTACK_EXAMPLES])
def test_dstack_examples_parse_as_documented(spec: str | dict[str, Any], expected: ResourceRequest) -> None:
    assert ResourceRequest.parse(spec) == expected


def test_prioq_extensions() -> None:
    assert ResourceRequest.parse("gpu=T4:0.25") == ResourceRequest(
        gpu=GPURequest(names=("T4",), count=Range.exact(0.25))
    )
    assert ResourceRequest.parse("gpu=0.5").gpu == GPURequest(count=Range.exact(0.5))
    assert ResourceRequest.parse("gpu=0.25..0.5").gpu == GPURequest(count=Range(0.25, 0.5))
    assert ResourceRequest.parse("rdma=1 ib=2..").extras == (("ib", Range(2, None)), ("rdma", Range(1, 1)))
    assert ResourceRequest.parse("gpu=24GB..:1..2").gpu == GPURequest(
        memory=Range(24 * GiB, None), count=Range(1, 2)
    )
    assert ResourceRequest.parse("gpu=nvidia:2").gpu == GPURequest(vendor="nvidia", count=Range.exact(2))
    assert ResourceRequest.parse("gpu=2:80GB:A100") == ResourceRequest.parse("gpu=A100:80GB:2")
    assert (
        ResourceRequest.parse("memory=1GiB")
        == ResourceRequest.parse("memory=1GB")
        == ResourceRequest.parse("memory=1024MB")
    )
    assert ResourceRequest.parse("memory=1.5") == ResourceRequest(memory=Range.exact(3 * GiB // 2))
    assert ResourceRequest.parse("cpu=0.5 cpu_x=1") == ResourceRequest(
        cpu=Range.exact(0.5), extras={"cpu_x": Range(1, 1)}
    )
    assert ResourceRequest.parse("cpu=aarch64:4").cpu_arch == "arm"
    assert ResourceRequest.parse("") == ResourceRequest.parse({}) == ResourceRequest()
    assert ResourceRequest.parse("  cpu=1\n\tmemory=2GB  ") == ResourceRequest.parse("cpu=1 memory=2GB")


def test_capacity_examples() -> None:
    r = Resources.parse("cpu=64 memory=256GB gpu=P100:16GB:2 disk=1TB rdma=4")
    p100 = GPU("P100", memory=16 * GiB)
    assert r == Resources(
        cpu_milli=64000,
        memory=256 * GiB,
        disk=TiB,
        extras={"rdma": 4},
        gpus=[Device(0, p100), Device(1, p100)],
    )
    assert p100.vendor == "nvidia"
    assert (
        Resources.parse(
            {
                "cpu": 64,
                "memory": "256GB",
                "gpu": {"name": "P100", "memory": "16GB", "count": 2},
                "disk": {"size": "1TB"},
                "rdma": 4,
            }
        )
        == r
    )
    mixed = Resources.parse("gpu=A100:80GB:4+T4:2")
    assert [(d.index, d.gpu.name) for d in mixed.gpus] == [(i, "A100") for i in range(4)] + [
        (4, "T4"),
        (5, "T4"),
    ]
    free = Resources.parse("cpu=x86:8 gpu=T4@2,3(0.5)")
    assert free.cpu_arch == "x86"
    assert [(d.index, d.milli) for d in free.gpus] == [(2, 1000), (3, 500)]
    assert Resources.parse("gpu=amd:X1").gpus[0].gpu == GPU("X1", vendor="amd")
    assert Resources.parse("") == Resources()


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("cpu=1 cpu=2", "'cpu=2': duplicate key 'cpu'"),
        ("gpus=2", "unknown key 'gpus' (did you mean 'gpu'?)"),
        ("CPU=4", "unknown key 'CPU'"),
        ("Rdma=1", "unknown key 'Rdma'"),
        ("total_memory=1", "not supported"),
        ("cpu", "'cpu': expected key=value"),
        ("cpu=", "empty value"),
        ("=3", "empty key"),
        ("memory=5XB", "bad unit 'XB'"),
        ("memory=1.5xb", "bad unit 'xb'"),
        ("memory=1e3GB", "'1e3' is not a number"),
        ("cpu=3..1", "min 3 is greater than max 1"),
        ("memory=2TB..1TB", "is greater than max"),
        ("cpu=-1", "'-1' is negative"),
        ("memory=-1GB..", "negative"),
        ("cpu=nan", "not a finite number"),
        ("memory=NaN", "not a finite number"),
        ("gpu=A100:-2", "negative"),
        ("cpu=..", "empty range"),
        ("cpu=1...3", "'.3' is not a number"),
        ("cpu=1..2..3", "malformed range"),
        ("gpu=A100:2:3", "two counts in gpu spec 'A100:2:3'"),
        ("gpu=A100:H100", "two name lists"),
        ("gpu=24GB:80GB", "two memory sizes"),
        ("gpu=nvidia:amd", "two vendors"),
        ("gpu=0.5..2", "fractional GPU count"),
        ("gpu=0.5..", "fractional GPU count"),
        ("gpu=1.5", "neither a whole count nor a fraction below one"),
        ("gpu=0.0005", "finer than 1/1000"),
        ("gpu=A100,:2", "empty gpu name"),
        ("gpu=A100:", "empty token"),
        ("gpu=A1@0", "bad gpu name"),
        ("cpu=0.0001", "finer than 1/1000 core"),
        ("cpu=sparc:4", "unknown cpu architecture 'sparc'"),
        ("cpu=x86:arm", "two cpu architectures"),
        ("cpu=1:2", "two cpu counts"),
        ("rdma=1.5", "not a whole rdma count"),
        ("memory=99999999999999999999GB", "too large"),
    ],
)
def test_malformed_request_names_token_and_reason(spec: str, message: str) -> None:
    with pytest.raises(InvalidSpec) as info:
        ResourceRequest.parse(spec)
    assert message in str(info.value)
    assert str(info.value).startswith(repr(spec.split()[-1]) + ": ")  # the offending token comes first


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"cpu": True}, "expected a number or a string"),
        ({"cpu": [1]}, "expected a number or a string"),
        ({"cpu": float("nan")}, "not a finite number"),
        ({"memory": -1}, "negative"),
        ({"cpu": {"min": None, "max": None}}, "empty range"),
        ({"cpu": {"low": 1}}, "unknown range field"),
        ({"gpu": {"name": ["A100"], "total_memory": "80GB"}}, "gpu.total_memory: not supported"),
        ({"gpu": {"colour": "red"}}, "unknown gpu field"),
        ({"gpu": {"vendor": "acme"}}, "unknown vendor 'acme'"),
        ({"gpu": {"name": []}}, "expected a name or a list of names"),
        ({"disk": {"size": "1TB", "type": "ssd"}}, "unknown disk field"),
        ({1: "x"}, "keys must be strings"),
        ({"gpu": 0.3 + 0.6}, "finer than 1/1000"),
    ],
)
def test_malformed_dict_names_field_and_reason(spec: dict[Any, Any], message: str) -> None:
    with pytest.raises(InvalidSpec, match=re.escape(message)):
        ResourceRequest.parse(spec)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("cpu=8..", "exact value, not a range"),
        ("memory=..64GB", "exact value, not a range"),
        ("gpu=T4:0.5", "whole devices"),
        ("gpu=A100:1..2", "exact value"),
        ("gpu=2", "needs exactly one model name"),
        ("gpu=A100,H100:2", "needs exactly one model name"),
        ("gpu=A100:99999", "more than the 4096"),
        ("gpu=A100@0,0", "index 0 appears twice"),
        ("gpu=A100:2+T4@1", "index 1 appears twice"),
        ("gpu=A100:2@0", "count 2 does not match the 1 devices"),
        ("gpu=A100@1(1.5)", "device share '1.5'"),
        ("gpu=A100@x", "bad device 'x'"),
        ("shm_size=1GB", "not of a capacity"),
        (42, "expected a spec string or a mapping"),
    ],
)
def test_malformed_capacity(spec: Any, message: str) -> None:
    with pytest.raises(InvalidSpec, match=re.escape(message)):
        Resources.parse(spec)


def test_non_spec_types_are_invalid_spec() -> None:
    for bad in (None, 3, b"cpu=1", ["cpu=1"]):
        with pytest.raises(InvalidSpec):
            parse_request(bad)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- round trips


@given(requests())
def test_request_round_trip(request: ResourceRequest) -> None:
    text = str(request)
    assert ResourceRequest.parse(text) == request
    assert format_request(parse_request(text)) == text  # canonical: printing is a fixed point


@given(capacities())
def test_capacity_round_trip(resources: Resources) -> None:
    text = str(resources)
    assert Resources.parse(text) == resources
    assert format_resources(parse_resources(text)) == text


@given(capacities(partial=False))
def test_whole_capacity_prints_as_counts(resources: Resources) -> None:
    text = str(resources)
    if resources.gpus and [d.index for d in resources.gpus] == list(range(len(resources.gpus))):
        assert "@" not in text


@given(st.integers(0, 2**60))
def test_format_bytes_is_exact_and_short(amount: int) -> None:
    text = format_bytes(amount)
    assert ResourceRequest.parse(f"memory={text}").memory == Range.exact(amount)
    assert re.fullmatch(r"[0-9]+(\.[0-9]+)?(MB|GB|TB)", text)


def test_format_bytes_examples() -> None:
    assert format_bytes(64 * GiB) == "64GB"
    assert format_bytes(512 * MiB) == "512MB"
    assert format_bytes(2 * TiB) == "2TB"
    assert format_bytes(1536 * MiB) == "1536MB"
    assert format_bytes(0) == "0GB"
    assert format_bytes(round(1.3 * GiB)) == "1.3GB"


def test_brief_bytes_for_messages() -> None:
    assert brief_bytes(64 * GiB) == "64GB"
    assert brief_bytes(round(1.3 * GiB)) == "1.3GB"
    assert brief_bytes(123456789) == "117.7MB"
    assert brief_bytes(500) == "500B"


@given(st.integers(1, 2**50))
def test_brief_bytes_is_within_four_digits(amount: int) -> None:
    text = brief_bytes(amount)
    if text.endswith("B") and not text[-2].isalpha():
        assert int(text[:-1]) == amount
        return
    approx = ResourceRequest.parse(f"memory={text}").memory.min
    assert approx is not None and abs(approx - amount) <= amount * 5e-4 + 1


@given(ranges(byte_amounts))
def test_format_range_memory_round_trip(rng: Range) -> None:
    assert ResourceRequest.parse(f"memory={format_range(rng, 'memory')}").memory == rng


def _as_dict(request: ResourceRequest) -> dict[str, Any]:
    """The dstack YAML shape of a request, with range dicts and a gpu mapping."""

    def rng(r: Range, kind: str) -> dict[str, Any]:
        out = {}
        for key in ("min", "max"):
            v = getattr(r, key)
            if v is not None:
                out[key] = format_range(Range.exact(v), kind)
        return out

    d: dict[str, Any] = {}
    if request.cpu != Range() or request.cpu_arch:
        d["cpu"] = {"arch": request.cpu_arch, "count": rng(request.cpu, "cpu") or None}
    for key in ("memory", "disk"):
        if getattr(request, key) != Range():
            d[key] = rng(getattr(request, key), key)
    if request.gpu is not None:
        g = request.gpu
        d["gpu"] = {
            "vendor": g.vendor,
            "name": list(g.names) or None,
            "count": rng(g.count, "count"),
            "memory": None if g.memory is None else rng(g.memory, "gpu memory"),
        }
    for name, r in request.extras:
        d[name] = rng(r, "count")
    return d


@given(requests())
def test_dict_shape_parses_like_the_string(request: ResourceRequest) -> None:
    assert ResourceRequest.parse(_as_dict(request)) == request


# Numbers as a YAML loader hands them over: ints and floats of every size, around the grammar's bounds.
_dict_numbers = st.one_of(
    st.integers(0, 10**22),
    st.floats(0, 1e22, allow_nan=False, allow_infinity=False),
    st.integers(0, 4096),
    st.sampled_from([10**18 - 1, 10**18, 2**63, 2**64 + 1, 1e18, 1e19, 0.1, 0.001, 1e-7, 5e-324]),
)
_dict_ranges = _dict_numbers | st.fixed_dictionaries(
    {}, optional={"min": _dict_numbers, "max": _dict_numbers}
)
_request_dicts = st.fixed_dictionaries(
    {},
    optional={
        "cpu": _dict_ranges,
        "memory": _dict_ranges,
        "disk": _dict_ranges,
        "rdma": _dict_ranges,
        "gpu": _dict_ranges
        | st.fixed_dictionaries(
            {"name": st.just("A100")}, optional={"count": _dict_ranges, "memory": _dict_ranges}
        ),
    },
)
_capacity_dicts = st.fixed_dictionaries(
    {},
    optional={
        "cpu": _dict_numbers,
        "memory": _dict_numbers,
        "disk": _dict_numbers,
        "rdma": _dict_numbers,
        "gpu": st.fixed_dictionaries({"name": st.just("A100")}, optional={"count": _dict_numbers}),
    },
)


@given(_request_dicts, _capacity_dicts)
def test_dict_specs_round_trip_through_their_printed_spec(
    request: dict[str, Any], capacity: dict[str, Any]
) -> None:
    # Regression (issue 16): dicts accepted ints up to 2**64 that the string grammar refuses
    # (more than 18 digits), so their printed spec did not parse back.
    cases: list[tuple[Any, Any, dict[str, Any]]] = [
        (parse_request, format_request, request),
        (parse_resources, format_resources, capacity),
    ]
    for parse, fmt, spec in cases:
        try:
            value = parse(spec)
        except InvalidSpec:
            continue
        assert parse(fmt(value)) == value


@pytest.mark.parametrize("key", ["cpu", "memory", "disk", "gpu", "rdma"])
def test_dict_numbers_have_the_string_grammars_bound(key: str) -> None:
    for big in (10**18, 2**63, 1e18, 1e19):
        with pytest.raises(InvalidSpec, match="too large"):
            parse_request({key: big})
        with pytest.raises(InvalidSpec, match="too large"):
            parse_request(f"{key}={int(big)}")
    largest = 10**18 - 1
    assert parse_request({key: largest}) == parse_request(f"{key}={largest}")


def test_wrong_types_in_specs_are_invalid_spec_type() -> None:
    for bad in ({"cpu": [1]}, {"cpu": {"arch": 5}}, {1: "x"}, {"gpu": {"name": [5]}}, 5, None, b"cpu=1"):
        with pytest.raises(prioq.errors.InvalidSpecType) as info:
            parse_request(bad)  # type: ignore[arg-type]
        assert isinstance(info.value, TypeError) and isinstance(info.value, ValueError)
    with pytest.raises(prioq.errors.InvalidSpecType):
        Resources.parse(42)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- fuzz

_FRAGMENTS = [
    "cpu",
    "memory",
    "disk",
    "gpu",
    "rdma",
    "shm_size",
    "gpus",
    "Cpu",
    "=",
    "==",
    " ",
    ":",
    ",",
    "..",
    "...",
    ".",
    "@",
    "(",
    ")",
    "+",
    "-",
    "0",
    "1",
    "2",
    "0.5",
    "0.0001",
    "1.5",
    "16",
    "80",
    "1e3",
    "99999999999999999999",
    "GB",
    "gb",
    "MiB",
    "TB",
    "XB",
    "nan",
    "inf",
    "A100",
    "H100",
    "T4",
    "nvidia",
    "amd",
    "tpu",
    "x86",
    "arm",
    "é",
    "٣",
    "\x00",
    "\n",
    "/",
    "_",
]
token_soup = st.lists(st.sampled_from(_FRAGMENTS), max_size=20).map("".join)


def _only_invalid_spec(spec: Any) -> None:
    for parse in (parse_request, parse_resources):
        with contextlib.suppress(InvalidSpec):
            parse(spec)


@given(st.text())
def test_random_text_raises_only_invalid_spec(text: str) -> None:
    _only_invalid_spec(text)


@given(token_soup)
def test_token_soup_raises_only_invalid_spec(text: str) -> None:
    _only_invalid_spec(text)


@given(st.lists(st.tuples(st.sampled_from(["cpu", "memory", "disk", "gpu", "rdma"]), token_soup), max_size=4))
def test_key_value_soup_raises_only_invalid_spec(pairs: list[tuple[str, str]]) -> None:
    _only_invalid_spec(" ".join(f"{k}={v}" for k, v in pairs))


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**30), 10**30)
    | st.floats()
    | token_soup
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["min", "max", "name", "count", "memory", "vendor", "arch", "size", "x"])
            | st.text(max_size=4),
            inner,
            max_size=3,
        )
    ),
    max_leaves=8,
)


@given(
    st.dictionaries(
        st.sampled_from(["cpu", "memory", "disk", "gpu", "rdma", "shm_size"]) | st.text(max_size=5),
        json_values,
        max_size=4,
    )
)
def test_random_dicts_raise_only_invalid_spec(spec: dict[str, Any]) -> None:
    _only_invalid_spec(spec)


# --------------------------------------------------------------------------- the package and the docs


def test_import_prints_a_nice_spec() -> None:
    code = "import prioq; print(prioq.ResourceRequest.parse('gpu=A100:80GB:2 cpu=8..'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "cpu=8.. gpu=A100:80GB:2"


def test_str_is_the_spec() -> None:
    assert str(prioq.ResourceRequest.parse("gpu=A100:80GB:2 cpu=8..")) == "cpu=8.. gpu=A100:80GB:2"
    assert str(Resources.parse("gpu=T4@1(0.25)")) == "gpu=T4@1(0.25)"


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE)


def test_docs_examples_run() -> None:
    blocks = _python_blocks(DOCS.read_text())
    assert len(blocks) >= 4
    namespace: dict[str, Any] = {}
    for block in blocks:
        exec(compile(block, str(DOCS), "exec"), namespace)
