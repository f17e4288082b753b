"""Parsing and printing of resource specs, dstack's grammar (docs/resources.md#spec-grammar).

A spec string is whitespace-separated ``key=value`` pairs::

    cpu=8.. memory=64GB.. gpu=A100,H100:80GB:2 disk=100GB.. rdma=1

Values are an exact value ``N`` or a range ``a..b`` / ``a..`` / ``..b``.
Memory and disk take ``MB``/``GB``/``TB`` (binary, as in dstack: ``GB`` is
1024³ bytes; ``MiB``/``GiB``/``TiB`` are accepted as synonyms) and a bare
number means GB. ``gpu`` is colon-separated tokens in any order: a vendor,
a name list (``A100,H100``), a per-device memory (has a unit) and a count.
The dict shape of a dstack YAML ``resources:`` block is accepted too.

Numbers are parsed exactly (:class:`fractions.Fraction`) before they are
turned into milli-cores, milli-GPUs or bytes, so ``"0.1"`` is exactly one
tenth and printing a request gives back a spec that parses to an equal one.
Every error is :class:`~prioq.errors.InvalidSpec` naming the offending token.
"""

from __future__ import annotations

import difflib
import functools
import math
import re
from collections.abc import Callable, Iterable, Mapping
from fractions import Fraction
from typing import Any

from prioq._validate import wrong_type
from prioq.errors import InvalidSpec
from prioq.resources._types import (
    GPU,
    MILLI,
    VENDORS,
    Device,
    GiB,
    GPURequest,
    MiB,
    Range,
    ResourceRequest,
    Resources,
    TiB,
    vendor_of,
)

__all__ = [
    "brief_bytes",
    "format_bytes",
    "format_range",
    "format_request",
    "format_resources",
    "parse_request",
    "parse_resources",
]

# dstack's Memory treats MB/GB/TB as binary units (GB = 1024**3); the IEC names mean the same.
_UNITS = {"mb": MiB, "mib": MiB, "gb": GiB, "gib": GiB, "tb": TiB, "tib": TiB}
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?", re.ASCII)
# Beyond 10**18 of anything is a typo, and it keeps every value convertible to float.
_MAX_INT_DIGITS = 18
_MAX_NUMBER = 10**_MAX_INT_DIGITS
_MAX_NUMBER_CHARS = 40
# No node has this many GPUs; the cap keeps a typo like gpu=A100:80000000 from allocating a huge list.
_MAX_DEVICES = 4096

_VENDOR_ALIASES = {v: v for v in VENDORS} | {"tpu": "google", "tt": "tenstorrent"}
_ARCH_ALIASES = {
    "x86": "x86", "x86_64": "x86", "x86-64": "x86", "amd64": "x86",
    "arm": "arm", "arm64": "arm", "aarch64": "arm",
}
_GPU_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]*", re.ASCII)
_EXTRA_NAME = re.compile(r"[a-z][a-z0-9_\-]*(?:[./][a-z0-9][a-z0-9_\-]*)*", re.ASCII)
_BUILTIN_KEYS = ("cpu", "memory", "disk", "gpu")
# Keys that look like a built-in one (or are dstack fields prioq does not schedule on):
# taking them as extra counters would silently ignore what the user meant.
_RESERVED_KEYS = {
    **dict.fromkeys(("cpus", "cores", "vcpu", "vcpus"), "did you mean 'cpu'?"),
    **dict.fromkeys(("mem", "ram", "memory_size"), "did you mean 'memory'?"),
    **dict.fromkeys(("gpus", "gpu_count", "accelerator", "accelerators"), "did you mean 'gpu'?"),
    **dict.fromkeys(("disk_size", "storage", "size"), "did you mean 'disk'?"),
    **dict.fromkeys(("arch", "cpu_arch"), "write the architecture in cpu, e.g. cpu=arm:8"),
    **dict.fromkeys(("name", "vendor", "count", "gpu_name", "gpu_memory"),
                    "write it in gpu, e.g. gpu=nvidia:A100:80GB:2"),
    **dict.fromkeys(("total_memory", "compute_capability"), "not supported by prioq"),
}
_UNSUPPORTED_GPU_KEYS = ("total_memory", "compute_capability")


def _err(where: str, reason: str) -> InvalidSpec:
    return InvalidSpec(f"{where}: {reason}")


def _type_err(where: str, reason: str) -> InvalidSpec:
    # A value of the wrong type (a list where a number goes): InvalidSpecType, also a TypeError.
    error = wrong_type(InvalidSpec, f"{where}: {reason}")
    assert isinstance(error, InvalidSpec)
    return error


# --------------------------------------------------------------------------- scalars


def _number(text: str, where: str) -> Fraction:
    """An exact non-negative decimal (``8``, ``0.25``); no signs, exponents or NaN."""
    if _NUMBER.fullmatch(text):
        if len(text) > _MAX_NUMBER_CHARS or len(text.split(".")[0].lstrip("0")) > _MAX_INT_DIGITS:
            raise _err(where, f"{text!r} is too large")
        return Fraction(text)
    bare = text.lower().lstrip("+-")
    if bare in ("nan", "inf", "infinity"):
        raise _err(where, f"{text!r} is not a finite number")
    if text.startswith("-") and _NUMBER.fullmatch(text[1:]):
        raise _err(where, f"{text!r} is negative")
    if not text:
        raise _err(where, "missing number")
    raise _err(where, f"{text!r} is not a number")


def _from_py_number(value: object, where: str) -> Fraction:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _type_err(where, f"expected a number or a string, got {value!r}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _err(where, f"{value!r} is not a finite number")
        # repr is the shortest decimal that reads back as this float: 0.1 means one tenth.
        return Fraction(repr(value))
    return Fraction(value)


def _check_sign(value: Fraction, where: str) -> Fraction:
    """A number from a dict spec, held to the string grammar's bound (at most
    ``_MAX_INT_DIGITS`` digits before the point), so that its printed spec parses back."""
    if value < 0:
        raise _err(where, f"{_fmt_fraction(value)} is negative")
    if value >= _MAX_NUMBER:
        raise _err(where, f"{_fmt_fraction(value)} is too large")
    return value


def _memory(text: str, where: str) -> Fraction:
    """Bytes (a whole number) of ``64GB`` / ``512MB`` / ``1TiB`` / a bare number of GB."""
    m = re.fullmatch(r"(.*?)([A-Za-z]*)", text, re.ASCII | re.DOTALL)
    assert m is not None  # the pattern matches every string
    digits, unit = m.group(1), m.group(2)
    if not digits and unit.lower().lstrip("+-") in ("nan", "inf", "infinity"):
        raise _err(where, f"{text!r} is not a finite number")
    if unit and unit.lower() not in _UNITS:
        raise _err(where, f"bad unit {unit!r} in {text!r} (use MB, GB, TB or MiB, GiB, TiB)")
    value = _number(digits, where) * _UNITS.get(unit.lower(), GiB)
    return Fraction(round(value))


def _memory_scalar(raw: object, where: str) -> Fraction:
    if isinstance(raw, str):
        return _memory(raw, where)
    return Fraction(round(_check_sign(_from_py_number(raw, where), where) * GiB))


def _plain_scalar(raw: object, where: str) -> Fraction:
    if isinstance(raw, str):
        return _number(raw, where)
    return _check_sign(_from_py_number(raw, where), where)


# --------------------------------------------------------------------------- ranges

_Bounds = tuple[Fraction | None, Fraction | None]


def _bounds(raw: object, where: str, scalar: Callable[[object, str], Fraction]) -> _Bounds:
    """``N`` / ``a..b`` / ``a..`` / ``..b`` or a ``{"min": .., "max": ..}`` dict, exactly."""
    if isinstance(raw, str):
        if ".." in raw:
            parts = raw.split("..")
            if len(parts) != 2:
                raise _err(where, f"malformed range {raw!r}")
            lo, hi = parts
            if not lo and not hi:
                raise _err(where, "empty range '..'")
            low = scalar(lo, where) if lo else None
            high = scalar(hi, where) if hi else None
        else:
            low = high = scalar(raw, where)
    elif isinstance(raw, Mapping):
        extra = set(raw) - {"min", "max"}
        if extra:
            raise _err(where, f"unknown range field(s) {sorted(map(str, extra))} (use min, max)")
        lo_raw, hi_raw = raw.get("min"), raw.get("max")
        if lo_raw is None and hi_raw is None:
            raise _err(where, "empty range (neither min nor max)")
        low = None if lo_raw is None else scalar(_strip(lo_raw), f"{where}.min")
        high = None if hi_raw is None else scalar(_strip(hi_raw), f"{where}.max")
    else:
        low = high = scalar(raw, where)
    if low is not None and high is not None and low > high:
        raise _err(where, f"min {_fmt_fraction(low)} is greater than max {_fmt_fraction(high)}")
    return low, high


def _strip(raw: object) -> object:
    # dstack drops spaces inside YAML values ("16 Gb"); spec strings cannot contain them anyway.
    return raw.replace(" ", "") if isinstance(raw, str) else raw


def _exact(bounds: _Bounds, where: str) -> Fraction:
    low, high = bounds
    if low is None or low != high:
        raise _err(where, "a capacity takes an exact value, not a range")
    return low


def _py(value: Fraction | None) -> int | float | None:
    if value is None:
        return None
    return value.numerator if value.denominator == 1 else float(value)


def _milli_check(bounds: _Bounds, where: str, what: str) -> None:
    for v in bounds:
        if v is not None and (v * MILLI).denominator != 1:
            raise _err(where, f"{_fmt_fraction(v)} is finer than 1/{MILLI} {what}")


def _whole_check(bounds: _Bounds, where: str, what: str) -> None:
    for v in bounds:
        if v is not None and v.denominator != 1:
            raise _err(where, f"{_fmt_fraction(v)} is not a whole {what}")


def _gpu_count_check(bounds: _Bounds, where: str) -> None:
    low, high = bounds
    _milli_check(bounds, where, "GPU")
    for v in bounds:
        if v is not None and v >= 1 and v.denominator != 1:
            raise _err(where, f"count {_fmt_fraction(v)} is neither a whole count nor a fraction below one")
    if low is not None and 0 < low < 1 and (high is None or high >= 1):
        raise _err(where, "a fractional GPU count (below one) needs a range max below one too")


# --------------------------------------------------------------------------- keys


def _items(spec: object) -> list[tuple[str, object, str]]:
    """``(key, raw value, where)`` triples of a spec string or mapping; keys checked, no duplicates."""
    out: list[tuple[str, object, str]] = []
    if isinstance(spec, str):
        seen: set[str] = set()
        for token in spec.split():
            key, eq, value = token.partition("=")
            where = repr(token)
            if not eq:
                raise _err(where, "expected key=value")
            if not value:
                raise _err(where, "empty value")
            _check_key(key, where)
            if key in seen:
                raise _err(where, f"duplicate key {key!r}")
            seen.add(key)
            out.append((key, value, where))
        return out
    if isinstance(spec, Mapping):
        for key, value in spec.items():
            if not isinstance(key, str):
                raise _type_err(repr(key), "keys must be strings")
            _check_key(key, key)
            if value is not None:  # dstack's .dict() writes None for unset fields
                out.append((key, _strip(value), key))
        return out
    raise wrong_type(InvalidSpec, f"expected a spec string or a mapping, got {spec!r}")


def _check_key(key: str, where: str) -> None:
    if key in _BUILTIN_KEYS or key == "shm_size":
        return
    if not key:
        raise _err(where, "empty key")
    hint = _RESERVED_KEYS.get(key.lower())
    if hint is None:
        close = difflib.get_close_matches(key.lower(), _BUILTIN_KEYS, n=1, cutoff=0.8)
        if close:
            hint = f"did you mean {close[0]!r}?"
        elif _EXTRA_NAME.fullmatch(key):
            return  # a named extra counter (rdma, ib, nvidia.com/mig-1g.5gb, ...)
        else:
            hint = "extras are lower-case names like rdma or example.com/fpga"
    raise _err(where, f"unknown key {key!r} ({hint})")


def _cpu(raw: object, where: str) -> tuple[_Bounds | None, str | None]:
    """``16`` / ``8..`` / ``x86:16`` / ``arm:4..`` / ``{"arch": .., "count": ..}`` / ``{"min": ..}``."""
    arch: str | None = None
    count: _Bounds | None = None
    if isinstance(raw, str):
        for token in raw.split(":"):
            if not token:
                raise _err(where, f"empty token in cpu spec {raw!r}")
            if token[0] in "0123456789.-+" or ".." in token or token.lower() in ("nan", "inf", "infinity"):
                if count is not None:
                    raise _err(where, f"two cpu counts in {raw!r}")
                count = _bounds(token, where, _plain_scalar)
            else:
                if arch is not None:
                    raise _err(where, f"two cpu architectures in {raw!r}")
                arch = _arch(token, where)
    elif isinstance(raw, Mapping) and set(raw) <= {"arch", "count"} and raw:
        if raw.get("arch") is not None:
            arch = _arch(raw["arch"], f"{where}.arch")
        if raw.get("count") is not None:
            count = _bounds(_strip(raw["count"]), f"{where}.count", _plain_scalar)
    else:
        count = _bounds(raw, where, _plain_scalar)
    if count is not None:
        _milli_check(count, where, "core")
    return count, arch


def _arch(raw: object, where: str) -> str:
    if not isinstance(raw, str):
        raise _type_err(where, f"unknown cpu architecture {raw!r} (use x86 or arm)")
    arch = _ARCH_ALIASES.get(raw.lower())
    if arch is None:
        raise _err(where, f"unknown cpu architecture {raw!r} (use x86 or arm)")
    return arch


def _disk(raw: object, where: str) -> _Bounds:
    if isinstance(raw, Mapping) and "size" in raw:
        if set(raw) != {"size"}:
            raise _err(where, f"unknown disk field(s) {sorted(map(str, set(raw) - {'size'}))}")
        return _bounds(_strip(raw["size"]), f"{where}.size", _memory_scalar)
    return _bounds(raw, where, _memory_scalar)


def _extra(raw: object, where: str, key: str) -> _Bounds:
    bounds = _bounds(raw, where, _plain_scalar)
    _whole_check(bounds, where, f"{key} count")
    return bounds


class _GPUSpec:
    """The tokens of one ``gpu`` value before they become a request or devices."""

    __slots__ = ("count", "devices", "memory", "names", "vendor")

    def __init__(self) -> None:
        self.vendor: str | None = None
        self.names: list[str] | None = None
        self.memory: _Bounds | None = None
        self.count: _Bounds | None = None
        self.devices: list[tuple[int, int]] | None = None  # (index, milli) from "@0,1,2(0.5)"


def _gpu_tokens(raw: str, where: str) -> _GPUSpec:
    """dstack's GPUSpec.parse: a vendor word, a name list (starts with a letter), a memory
    (has a unit), otherwise a count; each at most once, in any order."""
    spec = _GPUSpec()
    for token in raw.split(":"):
        if not token:
            raise _err(where, f"empty token in gpu spec {raw!r}")
        vendor = _VENDOR_ALIASES.get(token.lower())
        if vendor is not None:
            if spec.vendor is not None:
                raise _err(where, f"two vendors in gpu spec {raw!r}")
            spec.vendor = vendor
        elif token[0].isalpha():
            if spec.names is not None:
                raise _err(where, f"two name lists in gpu spec {raw!r} (join names with a comma)")
            spec.names = _gpu_names(token.split(","), where)
        elif any(c.isalpha() for c in token):
            if spec.memory is not None:
                raise _err(where, f"two memory sizes in gpu spec {raw!r}")
            spec.memory = _bounds(token, where, _memory_scalar)
        else:
            if spec.count is not None:
                raise _err(where, f"two counts in gpu spec {raw!r}")
            spec.count = _bounds(token, where, _plain_scalar)
    return spec


def _gpu_names(names: Iterable[object], where: str) -> list[str]:
    out = []
    for name in names:
        if not isinstance(name, str):
            raise _type_err(where, f"gpu name must be a string, got {name!r}")
        if not name:
            raise _err(where, f"empty gpu name in {list(names)!r}")
        if not _GPU_NAME.fullmatch(name):
            raise _err(where, f"bad gpu name {name!r} (a letter, then letters, digits, '_', '-', '.')")
        out.append(name)
    return out


def _gpu_dict(raw: Mapping[Any, Any], where: str) -> _GPUSpec:
    spec = _GPUSpec()
    unknown = set(raw) - {"vendor", "name", "count", "memory", *_UNSUPPORTED_GPU_KEYS}
    if unknown:
        raise _err(where, f"unknown gpu field(s) {sorted(map(str, unknown))}")
    for key in _UNSUPPORTED_GPU_KEYS:
        if raw.get(key) is not None:
            raise _err(f"{where}.{key}", "not supported by prioq (filter nodes by name and memory)")
    if raw.get("vendor") is not None:
        vendor = raw["vendor"]
        spec.vendor = _VENDOR_ALIASES.get(vendor.lower()) if isinstance(vendor, str) else None
        if spec.vendor is None:
            raise _err(f"{where}.vendor", f"unknown vendor {vendor!r} (one of {sorted(_VENDOR_ALIASES)})")
    name = raw.get("name")
    if name is not None:
        names = name.replace(" ", "").split(",") if isinstance(name, str) else name
        if not isinstance(names, list | tuple) or not names:
            raise _err(f"{where}.name", f"expected a name or a list of names, got {name!r}")
        spec.names = _gpu_names(names, f"{where}.name")
    if raw.get("memory") is not None:
        spec.memory = _bounds(_strip(raw["memory"]), f"{where}.memory", _memory_scalar)
    if raw.get("count") is not None:
        spec.count = _bounds(_strip(raw["count"]), f"{where}.count", _plain_scalar)
    return spec


def _gpu_spec(raw: object, where: str) -> _GPUSpec:
    if isinstance(raw, str):
        return _gpu_tokens(raw, where)
    if isinstance(raw, Mapping):
        return _gpu_dict(raw, where)
    spec = _GPUSpec()
    spec.count = _bounds(raw, where, _plain_scalar)
    return spec


def _gpu_request(raw: object, where: str) -> GPURequest:
    spec = _gpu_spec(raw, where)
    count = spec.count if spec.count is not None else (Fraction(1), Fraction(1))
    _gpu_count_check(count, where)
    memory = None if spec.memory is None else Range(_py(spec.memory[0]), _py(spec.memory[1]))
    return GPURequest(
        count=Range(_py(count[0]), _py(count[1])),
        names=spec.names or (),
        vendor=spec.vendor,
        memory=memory,
    )


def _gpu_devices(raw: object, where: str) -> list[Device]:
    """A capacity's devices: ``P100:16GB:2``, groups joined by ``+``, explicit ``@0,3(0.5)``."""
    groups: list[tuple[_GPUSpec, str]] = []
    if isinstance(raw, str):
        for group in raw.split("+"):
            model, at, devices = group.partition("@")
            spec = _gpu_tokens(model, where)
            if at:
                spec.devices = _device_list(devices, where)
            groups.append((spec, group))
    elif isinstance(raw, Mapping):
        groups.append((_gpu_dict(raw, where), repr(raw)))
    else:
        groups.append((_gpu_spec(raw, where), repr(raw)))
    out: list[Device] = []
    taken: set[int] = set()
    for spec, text in groups:
        if not spec.names or len(spec.names) != 1:
            raise _err(where, f"a capacity's gpu {text!r} needs exactly one model name")
        memory = None if spec.memory is None else _exact(spec.memory, where).numerator
        gpu = GPU(spec.names[0], vendor=spec.vendor, memory=memory)
        count: int | None = None
        if spec.count is not None:
            exact = _exact(spec.count, where)
            if exact.denominator != 1:
                raise _err(where, f"a capacity counts whole devices, got {_fmt_fraction(exact)}")
            count = exact.numerator
            if count > _MAX_DEVICES:
                raise _err(where, f"{count} devices is more than the {_MAX_DEVICES} a node may have")
        listed = spec.devices
        if listed is None:
            start = max(taken, default=-1) + 1
            listed = [(i, MILLI) for i in range(start, start + (1 if count is None else count))]
        elif count is not None and count != len(listed):
            raise _err(where, f"count {count} does not match the {len(listed)} devices listed")
        for index, milli in listed:
            if index in taken:
                raise _err(where, f"gpu device index {index} appears twice")
            taken.add(index)
            out.append(Device(index, gpu, milli))
    return out


def _device_list(text: str, where: str) -> list[tuple[int, int]]:
    out = []
    for item in text.split(","):
        m = re.fullmatch(r"([0-9]+)(?:\(([^()]*)\))?", item, re.ASCII)
        if m is None:
            raise _err(where, f"bad device {item!r} (expected INDEX or INDEX(SHARE), e.g. 3(0.5))")
        index = _number(m.group(1), where)
        milli = MILLI
        if m.group(2) is not None:
            share = _number(m.group(2), where)
            if share > 1 or (share * MILLI).denominator != 1:
                raise _err(where, f"device share {m.group(2)!r} must be 0..1 in steps of 1/{MILLI}")
            milli = int(share * MILLI)
        out.append((index.numerator, milli))
    return out


# --------------------------------------------------------------------------- public


def parse_request(spec: str | Mapping[str, Any]) -> ResourceRequest:
    """Parse a request spec string or dstack-style dict. O(length of the spec); repeated
    strings come from a cache (the results are immutable).

    No dstack defaults are applied: an absent key means "no constraint".
    ``shm_size`` is accepted and ignored (it is carved out of ``memory``).
    """
    if isinstance(spec, str):
        return _parse_request_cached(spec)
    return _parse_request(spec)


def parse_resources(spec: str | Mapping[str, Any]) -> Resources:
    """Parse a capacity (or free view, or allocation) with exact values. O(length + devices);
    repeated strings come from a cache.

    ``gpu=P100:16GB:2`` makes devices 0 and 1 of ``GPU("P100", memory=16GiB)``;
    ``gpu=A100:80GB:4+T4:2`` numbers the T4s 4 and 5; ``gpu=T4@2,3(0.5)`` lists
    device indices, with a share in brackets for a partly used device.
    """
    if isinstance(spec, str):
        return _parse_resources_cached(spec)
    return _parse_resources(spec)


def _parse_request(spec: object) -> ResourceRequest:
    fields: dict[str, Any] = {}
    extras: list[tuple[str, Range]] = []
    for key, raw, where in _items(spec):
        if key == "cpu":
            count, arch = _cpu(raw, where)
            if count is not None:
                fields["cpu"] = Range(_py(count[0]), _py(count[1]))
            fields["cpu_arch"] = arch
        elif key in ("memory", "disk"):
            bounds = _disk(raw, where) if key == "disk" else _bounds(raw, where, _memory_scalar)
            fields[key] = Range(_py(bounds[0]), _py(bounds[1]))
        elif key == "gpu":
            fields["gpu"] = _gpu_request(raw, where)
        elif key == "shm_size":
            _memory_scalar(raw, where)
        else:
            bounds = _extra(raw, where, key)
            extras.append((key, Range(_py(bounds[0]), _py(bounds[1]))))
    try:
        return ResourceRequest(extras=extras, **fields)
    except InvalidSpec as exc:  # pragma: no cover - the checks above come first
        raise InvalidSpec(f"{spec!r}: {exc}") from exc


def _parse_resources(spec: object) -> Resources:
    cpu_milli = memory = disk = 0
    arch: str | None = None
    devices: list[Device] = []
    extras: dict[str, int] = {}
    for key, raw, where in _items(spec):
        if key == "cpu":
            count, arch = _cpu(raw, where)
            if count is not None:
                cpu_milli = int(_exact(count, where) * MILLI)
        elif key == "memory":
            memory = _exact(_bounds(raw, where, _memory_scalar), where).numerator
        elif key == "disk":
            disk = _exact(_disk(raw, where), where).numerator
        elif key == "gpu":
            devices = _gpu_devices(raw, where)
        elif key == "shm_size":
            raise _err(where, "shm_size is part of a request, not of a capacity")
        else:
            extras[key] = _exact(_extra(raw, where, key), where).numerator
    return Resources(cpu_milli=cpu_milli, memory=memory, disk=disk, gpus=devices, extras=extras,
                     cpu_arch=arch)


# Traces repeat a handful of specs over and over: a parse costs ~100 us, a cache hit ~0.1 us.
_parse_request_cached = functools.lru_cache(maxsize=4096)(_parse_request)
_parse_resources_cached = functools.lru_cache(maxsize=4096)(_parse_resources)


def _fmt_fraction(value: Fraction) -> str:
    """Exact decimal text of ``value`` if it has one (it does for every parsed number)."""
    sign = "-" if value < 0 else ""
    value = abs(value)
    whole, rest = divmod(value.numerator, value.denominator)
    if not rest:
        return f"{sign}{whole}"
    digits = []
    for _ in range(40):
        rest *= 10
        digit, rest = divmod(rest, value.denominator)
        digits.append(str(digit))
        if not rest:
            break
    return f"{sign}{whole}." + "".join(digits).rstrip("0")


def _fmt_number(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if value.is_integer():
        return str(int(value))
    return _fmt_fraction(Fraction(repr(value)))


def _whole_units(b: int) -> str | None:
    """``b`` bytes in the largest unit that divides it (``"64GB"``), or ``None``."""
    if b == 0:
        return "0GB"
    for unit, size in (("TB", TiB), ("GB", GiB), ("MB", MiB)):
        if b % size == 0:
            return f"{b // size}{unit}"
    return None


def format_bytes(amount: float) -> str:
    """``68719476736`` -> ``"64GB"``; the shortest MB/GB/TB text that parses back to the same bytes.

    Integer arithmetic only (it is on the explanation path of every misfit): O(digits).
    """
    b = int(amount)
    exact = _whole_units(b)
    if exact is not None:
        return exact
    best = ""
    for unit, size in (("GB", GiB), ("MB", MiB), ("TB", TiB)):
        text = _shortest_decimal(b, size) + unit
        if not best or len(text) < len(best):
            best = text
    return best


def brief_bytes(amount: float) -> str:
    """``"64GB"`` when exact, else four significant digits (``"1.3GB"``, ``"117.7MB"``): for messages,
    where it runs on every misfit, so it is O(1) and need not parse back exactly."""
    b = int(amount)
    exact = _whole_units(b)
    if exact is not None:
        return exact
    for unit, size in (("TB", TiB), ("GB", GiB), ("MB", MiB)):
        if b >= size:
            return f"{b / size:.4g}{unit}"
    return f"{b}B"


def _shortest_decimal(b: int, size: int) -> str:
    """The shortest decimal ``d`` with ``round(d * size) == b`` (half to even, as the parser rounds)."""
    for places in range(1, 41):  # size is 2**k, k <= 40: b / size has at most 40 decimals
        scale = 10**places
        q = (2 * b * scale + size) // (2 * size)  # b / size to ``places`` decimals, half up
        whole, rest = divmod(q * size, scale)
        back = whole + (1 if 2 * rest > scale or (2 * rest == scale and whole % 2) else 0)
        if back == b:
            digits = str(q).rjust(places + 1, "0")
            return f"{digits[:-places]}.{digits[-places:]}".rstrip("0").rstrip(".")
    raise AssertionError(f"no exact decimal for {b} / {size}")  # pragma: no cover


def _fmt_value(value: float, kind: str) -> str:
    return format_bytes(value) if kind in ("memory", "disk", "gpu memory") else _fmt_number(value)


def format_range(rng: Range, kind: str) -> str:
    """``Range(8, None)`` -> ``"8.."``; ``kind`` ``"memory"``/``"disk"``/``"gpu memory"`` prints bytes
    with units, anything else plain numbers. An exact range prints as one value."""
    if rng.min is not None and rng.min == rng.max:
        return _fmt_value(rng.min, kind)
    low = "" if rng.min is None else _fmt_value(rng.min, kind)
    high = "" if rng.max is None else _fmt_value(rng.max, kind)
    return f"{low}..{high}"


def format_request(request: ResourceRequest) -> str:
    """The canonical spec string of ``request``: ``parse_request(format_request(r)) == r``."""
    parts = []
    if request.cpu != Range() or request.cpu_arch:
        tokens = [request.cpu_arch or "", "" if request.cpu == Range() else format_range(request.cpu, "cpu")]
        parts.append("cpu=" + ":".join(t for t in tokens if t))
    for key in ("memory", "disk"):
        rng: Range = getattr(request, key)
        if rng != Range():
            parts.append(f"{key}={format_range(rng, key)}")
    g = request.gpu
    if g is not None:
        tokens = [g.vendor or "", ",".join(g.names)]
        if g.memory is not None:
            tokens.append(format_range(g.memory, "gpu memory"))
        tokens = [t for t in tokens if t]
        if g.count != Range(1, 1) or not tokens:
            tokens.append(format_range(g.count, "count"))
        parts.append("gpu=" + ":".join(tokens))
    for name, rng in request.extras:
        parts.append(f"{name}={format_range(rng, 'count')}")
    return " ".join(parts)


def _fmt_model(gpu: GPU) -> list[str]:
    tokens = [gpu.name]
    if gpu.vendor is not None and gpu.vendor != vendor_of(gpu.name):
        tokens.insert(0, gpu.vendor)
    if gpu.memory is not None:
        tokens.append(format_bytes(gpu.memory))
    return tokens


def _fmt_devices(devices: tuple[Device, ...]) -> str:
    groups: list[list[Device]] = []
    for d in devices:  # sorted by index; consecutive devices of one model form a group
        if groups and groups[-1][0].gpu == d.gpu:
            groups[-1].append(d)
        else:
            groups.append([d])
    out = []
    next_index = 0
    for group in groups:
        tokens = _fmt_model(group[0].gpu)
        indices = [d.index for d in group]
        if indices == list(range(next_index, next_index + len(group))) and all(
            d.milli == MILLI for d in group
        ):
            if len(group) != 1:
                tokens.append(str(len(group)))
            out.append(":".join(tokens))
        else:
            listed = ",".join(
                str(d.index) if d.milli == MILLI else f"{d.index}({_fmt_fraction(Fraction(d.milli, MILLI))})"
                for d in group
            )
            out.append(":".join(tokens) + "@" + listed)
        next_index = indices[-1] + 1
    return "+".join(out)


def format_resources(resources: Resources) -> str:
    """The spec string of a capacity, free view or allocation; parses back to an equal value."""
    r = resources
    parts = []
    if r.cpu_milli or r.cpu_arch:
        cpu = _fmt_fraction(Fraction(r.cpu_milli, MILLI))
        parts.append(f"cpu={r.cpu_arch}:{cpu}" if r.cpu_arch else f"cpu={cpu}")
    if r.memory:
        parts.append(f"memory={format_bytes(r.memory)}")
    if r.disk:
        parts.append(f"disk={format_bytes(r.disk)}")
    if r.gpus:
        parts.append(f"gpu={_fmt_devices(r.gpus)}")
    for name, amount in r.extras:
        parts.append(f"{name}={amount}")
    return " ".join(parts)
