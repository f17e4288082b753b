"""The resource model: quantities, GPU devices and requests (docs/resources.md).

All arithmetic is exact: CPU is held in milli-cores, a GPU device's share in
milli-GPUs (1000 = one whole device, the Alibaba trace's ``gpu_milli``), memory
and disk in bytes, extras in whole units. Integers make "add then subtract is
identity" and "a share never exceeds one device" hold without rounding slack.

* :class:`Resources` is a node's capacity, its free view, or an allocation.
* :class:`ResourceRequest` is what a job asks for: ranges and GPU filters.
* :func:`fit` picks concrete devices; :func:`check` / :func:`why_not` say why not.

Spec strings (``"cpu=8.. memory=64GB.. gpu=A100:80GB:2"``) are parsed by
:meth:`ResourceRequest.parse` and :meth:`Resources.parse`; see ``docs/resources.md``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from prioq._validate import identifier, identifiers, instance, integer, number, wrong_type
from prioq.errors import InvalidSpec

__all__ = [
    "GPU",
    "MILLI",
    "VENDORS",
    "Device",
    "GPURequest",
    "GiB",
    "InsufficientResources",
    "MiB",
    "Range",
    "ResourceRequest",
    "Resources",
    "TiB",
    "vendor_of",
]

MILLI = 1000
"""Milli-units per whole CPU core or GPU device."""

MiB = 1024**2
GiB = 1024**3
TiB = 1024**4
"""Byte sizes of the spec units: like dstack, ``MB``/``GB``/``TB`` mean these binary sizes."""


class InsufficientResources(InvalidSpec):
    """Subtracting more than is there: arithmetic never clamps, it raises."""


def _quantity(name: str, value: object) -> None:
    """A non-negative finite number (a wrong type raises :class:`~prioq.errors.InvalidSpecType`).

    Ints of any size are compared exactly, never converted to float (no ``OverflowError``)."""
    if isinstance(value, int) and not isinstance(value, bool):
        integer(value, name, error=InvalidSpec, minimum=0)
    else:
        number(value, name, error=InvalidSpec, minimum=0)


def _whole(name: str, value: object, *, maximum: int | None = None) -> None:
    """A non-negative int (bytes, milli-units, indices, whole counts)."""
    integer(value, name, error=InvalidSpec, minimum=0, maximum=maximum)


def _to_milli(name: str, value: float) -> int:
    """Exact milli-units of ``value``; finer fractions are rejected, not rounded."""
    if isinstance(value, int):
        return value * MILLI
    scaled = value * MILLI
    if not math.isfinite(scaled):  # a finite float near the top of the range: round() would overflow
        raise InvalidSpec(f"{name}: {value!r} is too large")
    milli = round(scaled)
    if abs(milli - value * MILLI) > 1e-6:
        raise InvalidSpec(f"{name}: {value!r} is finer than 1/{MILLI}")
    return milli


@attrs.frozen(slots=True, cache_hash=True)
class Range:
    """A closed interval ``min..max``; ``None`` is an open end.

    A request *allocates* its range's minimum; the maximum is a bound no
    allocation exceeds. ``Range(8, 8)`` is the exact value ``8``.
    """

    min: float | None = None
    max: float | None = None

    def __attrs_post_init__(self) -> None:
        for name in ("min", "max"):
            value = getattr(self, name)
            if value is not None:
                _quantity(f"range {name}", value)
        if self.min is not None and self.max is not None and self.min > self.max:
            raise InvalidSpec(f"range: min {self.min!r} is greater than max {self.max!r}")

    @classmethod
    def exact(cls, value: float) -> Range:
        return cls(value, value)

    @property
    def low(self) -> float:
        """The minimum, 0 for an open lower end: what an allocation takes."""
        return 0 if self.min is None else self.min

    def __contains__(self, value: float) -> bool:
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)


# Known GPU model names by vendor, so ``gpu=A100`` implies ``nvidia`` as in dstack.
_VENDORS: dict[str, str] = {}
for _vendor, _names in {
    "nvidia": "A10 A10G A100 A40 B100 B200 GB200 H100 H200 K80 L4 L40 L40S M60 P100 P4 P40 "
    "RTX3090 RTX4090 RTX6000 T4 V100 V100M16 V100M32 G2 G3",
    "amd": "MI100 MI210 MI250 MI250X MI300A MI300X MI308X MI325X",
    "google": "V2 V3 V4 V5E V5P V6E",
    "intel": "GAUDI GAUDI2 GAUDI3",
    "tenstorrent": "N150 N300 N300S GALAXY",
}.items():
    for _name in _names.split():
        _VENDORS[_name] = _vendor
VENDORS = frozenset({*_VENDORS.values()})


def vendor_of(name: str) -> str | None:
    """The vendor of a known GPU model name (case-insensitive), else ``None``."""
    return _VENDORS.get(name.upper())


@attrs.frozen(slots=True, cache_hash=True)
class GPU:
    """A GPU device model: ``name`` (``"A100"``), ``vendor`` and per-device ``memory`` in bytes."""

    name: str
    vendor: str | None = None
    memory: int | None = None

    def __attrs_post_init__(self) -> None:
        identifier(self.name, "gpu name", error=InvalidSpec)
        if self.vendor is None:
            object.__setattr__(self, "vendor", vendor_of(self.name))
        else:
            vendor = identifier(self.vendor, "gpu vendor (a non-empty string or None)", error=InvalidSpec)
            object.__setattr__(self, "vendor", vendor.lower())
        if self.memory is not None:
            _whole("gpu memory", self.memory)


@attrs.frozen(slots=True)
class Device:
    """One GPU of a node: its ``index`` on the node, its model and a ``milli`` share.

    In a capacity the share is 1000; in a free view, what is left; in an
    allocation, what was taken (1000 for a whole device).
    """

    index: int
    gpu: GPU
    milli: int = MILLI

    def __attrs_post_init__(self) -> None:
        _whole("device index", self.index)
        instance(self.gpu, GPU, f"device {self.index}: gpu", error=InvalidSpec)
        # A share above one device would print as a spec that does not parse back.
        _whole(f"device {self.index}: share", self.milli, maximum=MILLI)


def _pairs(value: object, what: str) -> list[tuple[object, object]]:
    """``(name, amount)`` pairs of a mapping or an iterable of 2-tuples, without leaking TypeError."""
    if isinstance(value, Mapping):
        return list(value.items())
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise wrong_type(InvalidSpec, f"{what}: expected a mapping or (name, amount) pairs, got {value!r}")
    items = list(value)
    for item in items:
        if not isinstance(item, tuple) or len(item) != 2:
            raise wrong_type(InvalidSpec, f"{what}: expected (name, amount) pairs, got {item!r}")
    return items


def _freeze_extras(value: Mapping[str, int] | Iterable[tuple[str, int]]) -> tuple[tuple[str, int], ...]:
    items: dict[str, int] = {}
    for name, amount in _pairs(value, "extras"):
        identifier(name, "extra resource name", error=InvalidSpec)
        _whole(f"extra {name}", amount)
        items[name] = amount  # type: ignore[index,assignment]  # checked just above
    return tuple(sorted((k, v) for k, v in items.items() if v))


def _str_tuple(value: Iterable[str]) -> tuple[str, ...]:
    # The one rule for id tuples (a plain string is refused, not split into letters).
    return identifiers(value, "gpu names", error=InvalidSpec)


def _freeze_extra_ranges(
    value: Mapping[str, Range] | Iterable[tuple[str, Range]],
) -> tuple[tuple[str, Range], ...]:
    out: dict[str, Range] = {}
    for name, rng in _pairs(value, "extras"):
        identifier(name, "extra resource name", error=InvalidSpec)
        assert isinstance(name, str)
        instance(rng, Range, f"extra {name}", error=InvalidSpec)
        assert isinstance(rng, Range)
        for bound in (rng.min, rng.max):
            if bound is not None and bound != int(bound):
                raise InvalidSpec(f"extra {name}: {bound!r} is not a whole count")
        if name in out:
            raise InvalidSpec(f"extra {name} appears twice")
        out[name] = rng
    # An unbounded range asks for nothing; dropping it keeps equal requests equal.
    return tuple(sorted((k, v) for k, v in out.items() if v != Range()))


def _freeze_devices(value: Iterable[Device]) -> tuple[Device, ...]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise wrong_type(InvalidSpec, f"gpus: expected a collection of Device values, got {value!r}")
    listed = tuple(value)
    for d in listed:
        instance(d, Device, "gpus item", error=InvalidSpec)
    devices = tuple(sorted(listed, key=_device_index))
    for a, b in itertools.pairwise(devices):
        if a.index == b.index:
            raise InvalidSpec(f"gpus: device index {a.index} appears twice")
    return devices


def _device_index(d: Device) -> int:
    return d.index


def _device(index: int, gpu: GPU, milli: int) -> Device:
    """A Device from values already known valid (arithmetic on valid devices): skips validation."""
    d: Device = object.__new__(Device)
    object.__setattr__(d, "index", index)
    object.__setattr__(d, "gpu", gpu)
    object.__setattr__(d, "milli", milli)
    return d


def _resources(
    cpu_milli: int,
    memory: int,
    disk: int,
    gpus: tuple[Device, ...],
    extras: tuple[tuple[str, int], ...],
    cpu_arch: str | None,
) -> Resources:
    """Resources from parts already in canonical form (sorted, non-negative, no zero extras).

    Arithmetic on valid values yields valid values; skipping the converters and
    checks makes ``free - alloc`` on the placement hot path several times cheaper.
    """
    r: Resources = object.__new__(Resources)
    object.__setattr__(r, "cpu_milli", cpu_milli)
    object.__setattr__(r, "memory", memory)
    object.__setattr__(r, "disk", disk)
    object.__setattr__(r, "gpus", gpus)
    object.__setattr__(r, "extras", extras)
    object.__setattr__(r, "cpu_arch", cpu_arch)
    return r


@attrs.frozen(slots=True)
class Resources:
    """Exact amounts: a node's capacity, its free view, or one allocation.

    ``cpu_milli`` milli-cores, ``memory``/``disk`` bytes, ``gpus`` devices by
    index (each with a milli share), ``extras`` named whole-unit counters.
    Arithmetic never goes negative: taking more than there is raises
    :class:`InsufficientResources`.
    """

    cpu_milli: int = 0
    memory: int = 0
    disk: int = 0
    gpus: tuple[Device, ...] = attrs.field(default=(), converter=_freeze_devices)
    extras: tuple[tuple[str, int], ...] = attrs.field(default=(), converter=_freeze_extras)
    cpu_arch: str | None = None

    def __attrs_post_init__(self) -> None:
        _whole("cpu_milli", self.cpu_milli)
        _whole("memory", self.memory)
        _whole("disk", self.disk)
        if self.cpu_arch is not None:
            identifier(self.cpu_arch, "cpu_arch (a non-empty string or None)", error=InvalidSpec)

    @classmethod
    def parse(cls, spec: str | Mapping[str, Any] | Resources) -> Resources:
        """Parse a capacity spec with exact values: ``"cpu=64 memory=256GB gpu=P100:16GB:2"``."""
        if isinstance(spec, Resources):
            return spec
        from prioq.resources._spec import parse_resources

        return parse_resources(spec)

    @property
    def cpu(self) -> float:
        """CPU cores (``cpu_milli / 1000``)."""
        return self.cpu_milli / MILLI

    @property
    def gpu_milli(self) -> int:
        """Total GPU share in milli-GPUs over all devices."""
        return sum(d.milli for d in self.gpus)

    @property
    def gpu_count(self) -> int:
        """Number of devices (whatever their share)."""
        return len(self.gpus)

    def extra(self, name: str) -> int:
        for key, amount in self.extras:
            if key == name:
                return amount
        return 0

    def whole_free_gpus(self) -> int:
        """Devices with their whole share: what a whole-GPU request can take."""
        return sum(1 for d in self.gpus if d.milli == MILLI)

    def is_zero(self) -> bool:
        return (
            not self.cpu_milli
            and not self.memory
            and not self.disk
            and not self.extras
            and all(d.milli == 0 for d in self.gpus)
        )

    def __add__(self, other: Resources) -> Resources:
        """Sum; devices are matched by index (an allocation given back to a free view).

        Raises :class:`~prioq.errors.InvalidSpec` if a device's models differ or its
        shares would sum above one whole device (a share is at most 1000 milli-GPUs).
        """
        if not isinstance(other, Resources):
            return NotImplemented
        gpus = self.gpus
        if other.gpus:
            devices = {d.index: d for d in self.gpus}
            for d in other.gpus:
                mine = devices.get(d.index)
                if mine is None:
                    devices[d.index] = d
                else:
                    if mine.gpu != d.gpu:
                        raise InvalidSpec(f"gpu {d.index}: model {d.gpu} does not match {mine.gpu}")
                    total = mine.milli + d.milli
                    if total > MILLI:
                        raise InvalidSpec(
                            f"gpu {d.index}: share {mine.milli}/{MILLI} + {d.milli}/{MILLI} "
                            "is more than one whole device"
                        )
                    devices[d.index] = _device(d.index, d.gpu, total)
            gpus = tuple(sorted(devices.values(), key=_device_index))
        extras = self.extras
        if other.extras:
            merged = dict(self.extras)
            for name, amount in other.extras:
                merged[name] = merged.get(name, 0) + amount
            extras = tuple(sorted((k, v) for k, v in merged.items() if v))
        return _resources(
            self.cpu_milli + other.cpu_milli,
            self.memory + other.memory,
            self.disk + other.disk,
            gpus,
            extras,
            self.cpu_arch or other.cpu_arch,
        )

    def __sub__(self, other: Resources) -> Resources:
        """Difference; raises :class:`InsufficientResources` rather than going negative."""
        if not isinstance(other, Resources):
            return NotImplemented
        short = self.shortfall(other)
        if short:
            raise InsufficientResources(f"cannot take {short}")
        gpus = self.gpus
        if other.gpus:
            taken = {d.index: d.milli for d in other.gpus}
            gpus = tuple(
                _device(d.index, d.gpu, d.milli - taken[d.index]) if d.index in taken else d
                for d in self.gpus
            )
        extras = self.extras
        if other.extras:
            left = dict(self.extras)
            for name, amount in other.extras:
                left[name] -= amount
            extras = tuple(sorted((k, v) for k, v in left.items() if v))
        return _resources(
            self.cpu_milli - other.cpu_milli,
            self.memory - other.memory,
            self.disk - other.disk,
            gpus,
            extras,
            self.cpu_arch,
        )

    def shortfall(self, other: Resources) -> str:
        """Why ``self - other`` would go negative, or ``""`` if it would not."""
        if other.cpu_milli > self.cpu_milli:
            return f"cpu {other.cpu:g} > {self.cpu:g}"
        if other.memory > self.memory:
            return f"memory {_bytes(other.memory)} > {_bytes(self.memory)}"
        if other.disk > self.disk:
            return f"disk {_bytes(other.disk)} > {_bytes(self.disk)}"
        devices = {d.index: d for d in self.gpus}
        for d in other.gpus:
            mine = devices.get(d.index)
            if mine is None:
                return f"gpu {d.index} does not exist"
            if mine.gpu != d.gpu:
                return f"gpu {d.index} is {mine.gpu.name}, not {d.gpu.name}"
            if d.milli > mine.milli:
                return f"gpu {d.index} share {d.milli}/{MILLI} > {mine.milli}/{MILLI} free"
        for name, amount in other.extras:
            if amount > self.extra(name):
                return f"{name} {amount} > {self.extra(name)}"
        return ""

    def fits_within(self, other: Resources) -> bool:
        """True if ``other - self`` would not go negative."""
        return not other.shortfall(self)

    def __str__(self) -> str:
        from prioq.resources._spec import format_resources

        return format_resources(self)


def _bytes(amount: float) -> str:
    from prioq.resources._spec import brief_bytes

    return brief_bytes(amount)


def _describe_range(rng: Range, kind: str) -> str:
    """``>=80GB``, ``<=2``, ``24GB..80GB`` or ``80GB``: a range as a reader would say it."""
    from prioq.resources._spec import format_range

    if rng.max is None and rng.min is not None:
        return ">=" + format_range(Range.exact(rng.min), kind)
    if rng.min is None and rng.max is not None:
        return "<=" + format_range(Range.exact(rng.max), kind)
    return format_range(rng, kind)


@attrs.frozen(slots=True, cache_hash=True)
class GPURequest:
    """The GPU part of a request: filters on the model plus a count range.

    ``names`` (any of), ``vendor`` and per-device ``memory`` (bytes) filter
    device models. ``count`` is a range of devices; a count below one is a
    fraction of a single device (``0.25`` = a quarter of one GPU).
    """

    count: Range = attrs.field(factory=lambda: Range(1, 1))
    names: tuple[str, ...] = attrs.field(default=(), converter=_str_tuple)
    vendor: str | None = None
    memory: Range | None = None
    # The share fit takes, computed once: fit asks for it on every candidate node.
    _milli: int = attrs.field(init=False, default=0, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        instance(self.count, Range, "gpu count", error=InvalidSpec)
        if self.count == Range():
            raise InvalidSpec(f"gpu count: expected a non-empty Range, got {self.count!r}")
        low, high = self.count.low, self.count.max
        for value in (low, high):
            if value is not None and value >= 1 and value != int(value):
                raise InvalidSpec(f"gpu count: {value!r} is neither a whole count nor a fraction below one")
            if value is not None and value < 1:
                _to_milli("gpu count", value)
        # A fraction is a share of one device: a max of a whole device or more would mix the two.
        if 0 < low < 1 and (high is None or high >= 1):
            raise InvalidSpec(f"gpu count: fraction {low!r} needs a range max below one, got {high!r}")
        # the share fit takes: refuse here what it could not compute
        object.__setattr__(self, "_milli", _to_milli("gpu count", low))
        object.__setattr__(self, "names", tuple(n.upper() for n in self.names))
        if self.vendor is not None:
            vendor = identifier(self.vendor, "gpu vendor (a non-empty string or None)", error=InvalidSpec)
            object.__setattr__(self, "vendor", vendor.lower())
        if self.memory is not None:
            instance(self.memory, Range, "gpu memory (a Range or None)", error=InvalidSpec)
        if self.memory == Range():
            object.__setattr__(self, "memory", None)  # no bound at all is no filter

    @property
    def fractional(self) -> bool:
        """True when the allocated count (the range minimum) is a fraction of one device."""
        return 0 < self.count.low < 1

    @property
    def milli(self) -> int:
        """The share taken: 1000 per whole device, or the fraction in milli-GPUs. O(1)."""
        return self._milli

    @property
    def devices(self) -> int:
        """How many devices the allocation touches."""
        low = self.count.low
        return 1 if 0 < low < 1 else int(low)

    def matches(self, gpu: GPU) -> bool:
        """True if a device of model ``gpu`` passes every filter (name, vendor, memory)."""
        if self.names and gpu.name.upper() not in self.names:
            return False
        if self.vendor is not None and (gpu.vendor or "").lower() != self.vendor:
            return False
        return self.memory is None or (gpu.memory is not None and gpu.memory in self.memory)

    def describe_filter(self) -> str:
        parts: list[str] = []
        if self.vendor:
            parts.append(self.vendor)
        if self.names:
            parts.append(",".join(self.names))
        if self.memory is not None:
            parts.append(_describe_range(self.memory, "gpu memory"))
        return " ".join(parts)


@attrs.frozen(slots=True, cache_hash=True)
class ResourceRequest:
    """What a job asks for, per node (docs/resources.md).

    Every quantity is a :class:`Range` (cpu in cores, memory and disk in bytes,
    extras in units); the allocation takes each minimum. ``gpu`` is ``None``
    when no GPU is wanted.
    """

    cpu: Range = Range()
    memory: Range = Range()
    disk: Range = Range()
    gpu: GPURequest | None = None
    extras: tuple[tuple[str, Range], ...] = attrs.field(default=(), converter=_freeze_extra_ranges)
    cpu_arch: str | None = None
    _minimum: Resources | None = attrs.field(default=None, init=False, eq=False, hash=False, repr=False)

    def __attrs_post_init__(self) -> None:
        for name in ("cpu", "memory", "disk"):
            instance(getattr(self, name), Range, name, error=InvalidSpec)
        if self.gpu is not None:
            instance(self.gpu, GPURequest, "gpu (a GPURequest or None)", error=InvalidSpec)
        if self.cpu_arch is not None:
            identifier(self.cpu_arch, "cpu_arch (a non-empty string or None)", error=InvalidSpec)
        for value in (self.cpu.min, self.cpu.max):
            if value is not None:
                _to_milli("cpu", value)

    @classmethod
    def parse(cls, spec: str | Mapping[str, Any] | ResourceRequest) -> ResourceRequest:
        """Parse a dstack-style spec string or dict: ``"cpu=8.. memory=64GB.. gpu=A100:2"``."""
        if isinstance(spec, ResourceRequest):
            return spec
        from prioq.resources._spec import parse_request

        return parse_request(spec)

    def minimum(self) -> Resources:
        """The non-GPU part of the allocation (each range's minimum); GPU devices are chosen by fit.

        Computed once per request (the placement hot path asks for it on every node visited)."""
        if self._minimum is None:
            object.__setattr__(self, "_minimum", Resources(
                cpu_milli=_to_milli("cpu", self.cpu.low),
                memory=int(self.memory.low),
                disk=int(self.disk.low),
                extras={name: int(rng.low) for name, rng in self.extras},
            ))
        assert self._minimum is not None
        return self._minimum

    @property
    def gpu_milli(self) -> int:
        """Total GPU share the allocation takes, in milli-GPUs (0 without a GPU request)."""
        return 0 if self.gpu is None else self.gpu.milli

    def __str__(self) -> str:
        from prioq.resources._spec import format_request

        return format_request(self)
