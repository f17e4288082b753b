"""The resource model: exact arithmetic, fit and its explanations (docs/resources.md).

Fit is checked against a brute-force reference (count what matches, compare
minimums), and every allocation against the free view it came from. The
hypothesis strategies here are also used by ``test_spec.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

import attrs
import pytest
from hypothesis import assume, event, given
from hypothesis import strategies as st

from prioq import (
    GPU,
    Device,
    GPURequest,
    InsufficientResources,
    InvalidSpec,
    PrioqError,
    Range,
    ResourceRequest,
    Resources,
    check,
    fit,
    why_not,
)
from prioq.errors import InvalidSpecType
from prioq.resources import MILLI, VENDORS, GiB, MiB
from prioq.resources._spec import _check_key

# --------------------------------------------------------------------------- strategies

KNOWN_NAMES = ["A100", "H100", "T4", "P100", "MI300X", "V5E", "RTX4090", "L40S", "GAUDI2"]
_VENDOR_WORDS = {*VENDORS, "tpu", "tt"}

gpu_names = st.sampled_from(KNOWN_NAMES) | st.from_regex(
    r"[A-Za-z][A-Za-z0-9_.\-]{0,7}", fullmatch=True
).filter(lambda n: n.lower() not in _VENDOR_WORDS)


def _valid_extra(name: str) -> bool:
    try:
        _check_key(name, name)
    except InvalidSpec:
        return False
    return name not in ("cpu", "memory", "disk", "gpu", "shm_size")


extra_names = st.sampled_from(
    ["rdma", "ib", "fpga", "example.com/fpga", "nvidia.com/mig-1g.5gb"]
) | st.from_regex(r"[a-z][a-z0-9_]{0,6}(/[a-z][a-z0-9]{0,4})?", fullmatch=True).filter(_valid_extra)

byte_amounts = st.one_of(
    st.integers(0, 2048).map(lambda g: g * GiB),
    st.integers(0, 2**22).map(lambda m: m * MiB),
    st.integers(0, 2**50),
)
milli_cores = st.integers(0, 512 * MILLI)


def _cores(milli: int) -> float:
    return milli // MILLI if milli % MILLI == 0 else milli / MILLI


@st.composite
def ranges(draw: st.DrawFn, values: st.SearchStrategy[float], *, empty: bool = False) -> Range:
    """A Range over ``values``: exact, ``a..``, ``..b`` or ``a..b`` (``Range()`` only if ``empty``)."""
    kind = draw(st.sampled_from(["exact", "min", "max", "both"] + (["empty"] if empty else [])))
    if kind == "empty":
        return Range()
    a, b = draw(values), draw(values)
    lo, hi = min(a, b), max(a, b)
    return {"exact": Range(a, a), "min": Range(a, None), "max": Range(None, a), "both": Range(lo, hi)}[kind]


@st.composite
def gpu_requests(draw: st.DrawFn) -> GPURequest:
    if draw(st.booleans()):
        count = draw(ranges(st.integers(0, 16)))
    else:  # a share of one device: min and max both below one
        a, b = sorted(draw(st.lists(st.integers(1, MILLI - 1), min_size=2, max_size=2)))
        count = draw(
            st.sampled_from(
                [Range(a / MILLI, a / MILLI), Range(a / MILLI, b / MILLI), Range(None, b / MILLI)]
            )
        )
    return GPURequest(
        count=count,
        names=tuple(draw(st.lists(gpu_names, max_size=3))),
        vendor=draw(st.none() | st.sampled_from(sorted(VENDORS))),
        memory=draw(st.none() | ranges(byte_amounts)),
    )


@st.composite
def requests(draw: st.DrawFn) -> ResourceRequest:
    return ResourceRequest(
        cpu=draw(ranges(milli_cores.map(_cores), empty=True)),
        memory=draw(ranges(byte_amounts, empty=True)),
        disk=draw(ranges(byte_amounts, empty=True)),
        gpu=draw(st.none() | gpu_requests()),
        extras=draw(st.dictionaries(extra_names, ranges(st.integers(0, 64)), max_size=3)),
        cpu_arch=draw(st.sampled_from([None, "x86", "arm"])),
    )


gpu_models = st.builds(
    GPU,
    name=gpu_names,
    vendor=st.none() | st.sampled_from(sorted(VENDORS)),
    memory=st.none() | st.sampled_from([16 * GiB, 24 * GiB, 40 * GiB, 80 * GiB]) | byte_amounts,
)


@st.composite
def device_sets(draw: st.DrawFn, *, partial: bool = True) -> list[Device]:
    """Devices of one or two models, indices 0..n-1 (or any distinct ones), shares whole or partial."""
    models = draw(st.lists(gpu_models, min_size=1, max_size=2))
    n = draw(st.integers(0, 8))
    if draw(st.booleans()):
        indices = list(range(n))
    else:
        indices = sorted(draw(st.sets(st.integers(0, 31), min_size=n, max_size=n)))
    share = st.integers(0, MILLI) if partial else st.just(MILLI)
    return [Device(i, draw(st.sampled_from(models)), draw(share | st.just(MILLI))) for i in indices]


@st.composite
def capacities(draw: st.DrawFn, *, partial: bool = True) -> Resources:
    return Resources(
        cpu_milli=draw(milli_cores),
        memory=draw(byte_amounts),
        disk=draw(byte_amounts),
        gpus=draw(device_sets(partial=partial)),
        extras=draw(st.dictionaries(extra_names, st.integers(0, 64), max_size=3)),
        cpu_arch=draw(st.sampled_from([None, "x86", "arm"])),
    )


@st.composite
def parts_of(draw: st.DrawFn, whole: Resources) -> Resources:
    """Some amount that fits within ``whole`` (what an allocation could be)."""
    return Resources(
        cpu_milli=draw(st.integers(0, whole.cpu_milli)),
        memory=draw(st.integers(0, whole.memory)),
        disk=draw(st.integers(0, whole.disk)),
        gpus=[
            Device(d.index, d.gpu, draw(st.integers(0, d.milli))) for d in whole.gpus if draw(st.booleans())
        ],
        extras={k: draw(st.integers(0, v)) for k, v in whole.extras},
    )


@st.composite
def request_and_free(draw: st.DrawFn) -> tuple[ResourceRequest, Resources]:
    """A free view and a request aimed at it (names of its models, minimums near what is free),
    so that most pairs fit and the allocation paths get exercised; sometimes a random request."""
    free = draw(capacities())
    if draw(st.integers(0, 4)) == 0:
        return draw(requests()), free
    models = sorted({d.gpu for d in free.gpus}, key=repr)
    gpu = None
    if models and draw(st.integers(0, 3)) > 0:
        model = draw(st.sampled_from(models))
        if draw(st.booleans()):
            count = Range(draw(st.integers(1, len(free.gpus))), None)
        else:
            count = Range.exact(draw(st.integers(1, MILLI - 1)) / MILLI)
        gpu = GPURequest(
            count=count,
            names=draw(st.sampled_from([(), (model.name,), (model.name, "OTHER")])),
            vendor=draw(st.sampled_from([None, model.vendor])),
            memory=draw(st.sampled_from([None, Range(model.memory, None) if model.memory else None])),
        )
    request = ResourceRequest(
        cpu=Range(_cores(draw(st.integers(0, free.cpu_milli))), None),
        memory=Range(draw(st.integers(0, free.memory)), None),
        disk=Range(None, draw(st.integers(0, 2**50))),
        gpu=gpu,
        extras={k: Range.exact(draw(st.integers(0, v + 1))) for k, v in free.extras},
        cpu_arch=draw(st.sampled_from([None, free.cpu_arch])),
    )
    return request, free


# --------------------------------------------------------------------------- reference model


def reference_fits(request: ResourceRequest, free: Resources) -> bool:
    """Brute force: every minimum is there, and enough matching devices (or one big enough share)."""
    if request.cpu_arch and free.cpu_arch and request.cpu_arch != free.cpu_arch:
        return False
    need = request.minimum()
    if need.cpu_milli > free.cpu_milli or need.memory > free.memory or need.disk > free.disk:
        return False
    if any(amount > free.extra(name) for name, amount in need.extras):
        return False
    g = request.gpu
    if g is None or g.count.low == 0:
        return True
    matching = [d for d in free.gpus if g.matches(d.gpu)]
    if 0 < g.count.low < 1:
        return any(d.milli >= Fraction(str(g.count.low)) * MILLI for d in matching)
    return sum(d.milli == MILLI for d in matching) >= g.count.low


# --------------------------------------------------------------------------- fit


@given(request_and_free())
def test_fit_agrees_with_reference_and_check(pair: tuple[ResourceRequest, Resources]) -> None:
    request, free = pair
    alloc = fit(request, free)
    g = request.gpu
    event("fits" if alloc else "does not fit")
    event("fractional" if g and g.fractional else "whole gpus" if g and g.milli else "no gpu")
    assert (alloc is not None) == reference_fits(request, free)
    assert (alloc is not None) == (check(request, free) is None)
    assert (why_not(request, free) == "") == (alloc is not None)


@given(request_and_free())
def test_allocation_takes_minimums_within_free(pair: tuple[ResourceRequest, Resources]) -> None:
    request, free = pair
    alloc = fit(request, free)
    assume(alloc is not None)
    assert alloc is not None
    assert alloc.fits_within(free)
    need = request.minimum()
    assert (alloc.cpu_milli, alloc.memory, alloc.disk, alloc.extras) == (
        need.cpu_milli,
        need.memory,
        need.disk,
        need.extras,
    )
    # each quantity's maximum is a bound the allocation respects
    for rng, got in ((request.cpu, alloc.cpu), (request.memory, alloc.memory), (request.disk, alloc.disk)):
        assert rng.max is None or got <= rng.max
    free_by_index = {d.index: d for d in free.gpus}
    g = request.gpu
    if g is None or g.milli == 0:
        assert alloc.gpus == ()
        return
    for d in alloc.gpus:
        assert g.matches(d.gpu)
        assert d.gpu == free_by_index[d.index].gpu
        assert 0 < d.milli <= free_by_index[d.index].milli <= MILLI
    if g.fractional:
        (d,) = alloc.gpus
        assert d.milli == g.milli < MILLI
        # best fit: no matching device has a smaller remaining share that still fits
        tighter = [
            f for f in free.gpus if g.matches(f.gpu) and g.milli <= f.milli < free_by_index[d.index].milli
        ]
        assert not tighter
    else:
        assert len(alloc.gpus) == g.devices
        assert all(d.milli == MILLI and free_by_index[d.index].milli == MILLI for d in alloc.gpus)
        assert g.count.max is None or len(alloc.gpus) <= g.count.max


@given(st.lists(requests(), max_size=12), capacities(partial=False))
def test_packing_never_oversubscribes_and_releasing_restores(
    reqs: list[ResourceRequest], capacity: Resources
) -> None:
    free = capacity
    taken: list[Resources] = []
    for r in reqs:
        alloc = fit(r, free)
        if alloc is not None:
            free = free - alloc
            taken.append(alloc)
    for d in free.gpus:
        assert 0 <= d.milli <= MILLI
    used: dict[int, int] = {}
    for a in taken:
        for d in a.gpus:
            used[d.index] = used.get(d.index, 0) + d.milli
    assert all(v <= MILLI for v in used.values())  # shares never exceed one device
    for a in reversed(taken):
        free = free + a
    assert free == capacity


def test_fractional_best_fit_prefers_the_tightest_share() -> None:
    free = Resources.parse("gpu=T4@0,1(0.5),2(0.3),3(0.2)")
    alloc = fit(ResourceRequest.parse("gpu=T4:0.25"), free)
    assert alloc is not None and alloc.gpus == (Device(2, GPU("T4"), 250),)
    alloc = fit(ResourceRequest.parse("gpu=0.6"), free)
    assert alloc is not None and [d.index for d in alloc.gpus] == [0]  # only the whole one fits


def test_whole_requests_take_whole_matching_devices_lowest_index_first() -> None:
    free = Resources.parse("gpu=A100:80GB@0(0.5),1,2+T4@3,4")
    alloc = fit(ResourceRequest.parse("gpu=A100:2"), free)
    assert alloc is not None and [d.index for d in alloc.gpus] == [1, 2]
    assert fit(ResourceRequest.parse("gpu=A100:3"), free) is None
    alloc = fit(ResourceRequest.parse("gpu=16GB..:3"), Resources.parse("gpu=T4:16GB:2+A100:80GB:2"))
    assert alloc is not None and [d.index for d in alloc.gpus] == [0, 1, 2]


def test_fit_filters_vendor_name_and_memory() -> None:
    node = Resources.parse("cpu=64 memory=512GB gpu=A100:40GB:8")
    assert fit(ResourceRequest.parse("gpu=A100:80GB"), node) is None
    assert fit(ResourceRequest.parse("gpu=amd:1"), node) is None
    assert fit(ResourceRequest.parse("gpu=nvidia:24GB..40GB:8"), node) is not None
    assert fit(ResourceRequest.parse("gpu=H100,A100:2"), node) is not None
    arm = Resources.parse("cpu=arm:64")
    assert fit(ResourceRequest.parse("cpu=x86:8"), arm) is None
    assert fit(ResourceRequest.parse("cpu=arm:8"), arm) is not None
    assert fit(ResourceRequest.parse("cpu=8"), arm) is not None  # no arch asked: any will do


# --------------------------------------------------------------------------- why_not


@pytest.mark.parametrize(
    ("request_spec", "free_spec", "text"),
    [
        ("gpu=A100:2", "gpu=A100@0(0.5),1+T4:2", "insufficient GPU: need 2 x A100, 1 free"),
        ("gpu=A100:80GB..:2", "gpu=A100:80GB@0,1(0)", "insufficient GPU: need 2 x A100 >=80GB, 1 free"),
        ("gpu=H100:8", "gpu=A100:8", "GPU model not in [H100]: need 8 x H100, node has A100"),
        ("gpu=2", "cpu=8", "GPU model not in [any]: need 2 x GPU, node has no GPU"),
        ("gpu=T4:0.5", "gpu=T4@0(0.25)", "insufficient GPU: need 0.5 T4, largest free share 0.25"),
        ("cpu=16..", "cpu=8", "insufficient cpu: need 16, 8 free"),
        ("memory=64GB..", "memory=32GB", "insufficient memory: need 64GB, 32GB free"),
        ("disk=1TB", "disk=512GB", "insufficient disk: need 1TB, 512GB free"),
        ("rdma=2", "rdma=1", "insufficient rdma: need 2, 1 free"),
        ("cpu=arm:4", "cpu=x86:64", "cpu architecture: need arm, node is x86"),
        ("cpu=4 gpu=A100", "cpu=8 gpu=A100", ""),
    ],
)
def test_why_not_texts(request_spec: str, free_spec: str, text: str) -> None:
    assert why_not(ResourceRequest.parse(request_spec), Resources.parse(free_spec)) == text


# --------------------------------------------------------------------------- arithmetic


@st.composite
def whole_and_part(draw: st.DrawFn) -> tuple[Resources, Resources]:
    whole = draw(capacities())
    return whole, draw(parts_of(whole))


@given(whole_and_part())
def test_subtract_then_add_is_identity(pair: tuple[Resources, Resources]) -> None:
    r, a = pair
    assert a.fits_within(r)
    assert (r - a) + a == r


@given(capacities(), capacities())
def test_add_then_subtract_is_identity(r: Resources, a: Resources) -> None:
    # a is given back onto r's own devices (same index, same model), as a released allocation is
    # (a share that fits: no device goes above one whole device, see the next test).
    mine = {d.index: d for d in r.gpus}
    a = attrs.evolve(
        a,
        cpu_arch=None,
        gpus=[
            attrs.evolve(d, gpu=mine[d.index].gpu, milli=min(d.milli, MILLI - mine[d.index].milli))
            for d in a.gpus
            if d.index in mine
        ],
    )
    assert (r + a) - a == r


@given(capacities())
def test_adding_above_one_whole_device_raises(r: Resources) -> None:
    # Regression (issue 16): T4@0(0.75) + T4@0(0.5) gave gpu=T4@0(1.25), which does not parse back.
    for d in r.gpus:
        over = Resources(gpus=[Device(d.index, d.gpu, MILLI - d.milli + 1)]) if d.milli else None
        if over is not None:
            with pytest.raises(InvalidSpec, match="more than one whole device") as info:
                r + over
            assert isinstance(info.value, PrioqError) and isinstance(info.value, ValueError)
            with pytest.raises(InvalidSpec):
                over + r
    base = Resources.parse("gpu=T4@0(0.75)")
    with pytest.raises(InvalidSpec, match=r"gpu 0: share 750/1000 \+ 500/1000"):
        base + Resources.parse("gpu=T4@0(0.5)")
    assert str(base + Resources.parse("gpu=T4@0(0.25)")) == "gpu=T4"


@given(whole_and_part(), st.sampled_from(["cpu", "memory", "disk", "gpu", "extra"]))
def test_taking_more_than_is_there_raises_and_never_clamps(
    pair: tuple[Resources, Resources], what: str
) -> None:
    r, _ = pair
    if what == "cpu":
        more = Resources(cpu_milli=r.cpu_milli + 1)
    elif what == "memory":
        more = Resources(memory=r.memory + 1)
    elif what == "disk":
        more = Resources(disk=r.disk + 1)
    elif what == "gpu":
        partial = [d for d in r.gpus if d.milli < MILLI]  # a Device holds at most one whole share
        assume(partial)
        d = partial[0]
        more = Resources(gpus=[Device(d.index, d.gpu, d.milli + 1)])
    else:
        more = Resources(extras={"rdma": r.extra("rdma") + 1})
    before = r
    with pytest.raises(InsufficientResources) as info:
        r - more
    assert str(info.value)
    assert not more.fits_within(r)
    assert r == before  # value types: the failed call changed nothing


def test_insufficient_resources_messages_and_type() -> None:
    r = Resources.parse("cpu=4 memory=8GB gpu=T4@0(0.5)")
    with pytest.raises(InsufficientResources, match=r"memory 16GB > 8GB"):
        r - Resources.parse("memory=16GB")
    with pytest.raises(InsufficientResources, match=r"gpu 0 share 600/1000 > 500/1000 free"):
        r - Resources.parse("gpu=T4@0(0.6)")
    with pytest.raises(InsufficientResources, match=r"gpu 3 does not exist"):
        r - Resources.parse("gpu=T4@3")
    assert issubclass(InsufficientResources, InvalidSpec)


def test_unknown_device_model_cannot_be_added() -> None:
    with pytest.raises(InvalidSpec, match="does not match"):
        Resources.parse("gpu=T4") + Resources.parse("gpu=A100")


def test_whole_free_gpus_counts_only_full_devices() -> None:
    r = Resources.parse("gpu=A100@0,1(0.5),2,3(0)")
    assert r.whole_free_gpus() == 2
    assert r.gpu_count == 4
    assert r.gpu_milli == 2500


# --------------------------------------------------------------------------- model validation


@pytest.mark.parametrize(
    "make",
    [
        lambda: Range(3, 1),
        lambda: Range(-1, None),
        lambda: Range(float("nan"), None),
        lambda: Range(True, None),
        lambda: GPURequest(count=Range(1.5, 1.5)),
        lambda: GPURequest(count=Range(0.5, 2)),
        lambda: GPURequest(count=Range(0.5, None)),
        lambda: GPURequest(count=Range(0.0001, 0.5)),
        lambda: GPURequest(count=Range()),
        lambda: GPURequest(names="A100"),  # a str is an Iterable[str]: rejected explicitly
        lambda: ResourceRequest(cpu=8),  # type: ignore[arg-type]
        lambda: ResourceRequest(cpu=Range(0.0001, None)),
        lambda: ResourceRequest(extras={"rdma": Range(1.5, None)}),
        lambda: ResourceRequest(extras=[("rdma", Range(1, 1)), ("rdma", Range(2, 2))]),
        lambda: Resources(cpu_milli=-1),
        lambda: Resources(memory=1.5),  # type: ignore[arg-type]
        lambda: Resources(gpus=[Device(0, GPU("T4")), Device(0, GPU("T4"))]),
        lambda: Device(0, GPU("T4"), -1),
        lambda: GPU(""),
        lambda: GPU("T4", vendor=""),
    ],
)
def test_invalid_values_raise_invalid_spec(make: Callable[[], object]) -> None:
    with pytest.raises(InvalidSpec):
        make()


def test_huge_integers_are_compared_not_converted_to_float() -> None:
    assert Range(10**400, None).min == 10**400  # math.isfinite would overflow here


def test_extras_accept_a_mapping_and_drop_unbounded_ranges() -> None:
    r = ResourceRequest(extras={"rdma": Range(1, 1), "ib": Range()})
    assert r.extras == (("rdma", Range(1, 1)),)
    assert GPURequest(memory=Range()).memory is None
    assert GPU("a100", vendor="NVIDIA") == GPU("a100", vendor="nvidia")


# --------------------------------------------------------------------------- bad input (issue 16)


@pytest.mark.parametrize("args", [("gpu=1", Resources()), (ResourceRequest(), "gpu=T4:2"), (None, None),
                                  ({"gpu": 1}, Resources()), (ResourceRequest(), 5)])
def test_fit_check_and_why_not_refuse_spec_strings(args: tuple[object, object]) -> None:
    # fit is the placement hot path: it takes parsed values, and a spec string is a type error,
    # not an AttributeError (the regression) nor a parse on every call.
    for call in (fit, check, why_not):
        with pytest.raises(InvalidSpecType) as info:
            call(*args)  # type: ignore[arg-type]
        assert isinstance(info.value, PrioqError)
        assert isinstance(info.value, TypeError) and isinstance(info.value, ValueError)


def test_fit_of_a_parsed_spec_still_works_after_a_refused_string() -> None:
    free = Resources.parse("gpu=T4:2")
    assert fit(ResourceRequest.parse("gpu=1"), free) == Resources.parse("gpu=T4")


@pytest.mark.parametrize(
    "make",
    [
        lambda: Resources(gpus=[5]),
        lambda: Resources(gpus=5),
        lambda: Resources(extras=5),
        lambda: Resources(extras=[1]),
        lambda: Resources(extras={1: 2}),
        lambda: Resources(extras={"rdma": 1.5}),
        lambda: Resources(memory=1.5),
        lambda: Resources(cpu_milli="1"),
        lambda: Resources(cpu_arch=5),
        lambda: ResourceRequest(extras=5),
        lambda: ResourceRequest(extras={"rdma": 1}),
        lambda: ResourceRequest(cpu=8),
        lambda: ResourceRequest(gpu="A100"),
        lambda: Range("1", None),
        lambda: Device(0, "T4"),
        lambda: Device(0.5, GPU("T4")),
        lambda: GPU(5),
        lambda: GPU("T4", memory=1.5),
        lambda: GPURequest(names="A100"),
        lambda: GPURequest(names=[5]),
        lambda: GPURequest(count=2),
        lambda: GPURequest(memory=5),
    ],
)
def test_wrong_types_raise_invalid_spec_type(make: Callable[[], object]) -> None:
    with pytest.raises(InvalidSpecType) as info:
        make()
    assert isinstance(info.value, TypeError) and isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    "make",
    [
        lambda: Device(0, GPU("T4"), MILLI + 1),  # a share above one device does not parse back
        lambda: ResourceRequest(cpu=Range(1e308, None)),  # milli-cores beyond float range
        lambda: GPURequest(count=Range(1e308, None)),
        lambda: Range(float("inf"), None),
    ],
)
def test_out_of_range_quantities_raise_invalid_spec_not_overflow(make: Callable[[], object]) -> None:
    with pytest.raises(InvalidSpec) as info:
        make()
    assert not isinstance(info.value, TypeError)
