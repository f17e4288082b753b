"""Whether a request fits free resources, and why not: the placement hot path.

:func:`fit` picks concrete devices and builds no messages; :func:`check` and
:func:`why_not` say why a request does not fit, for explanations.
"""

from __future__ import annotations

from typing import NoReturn

import attrs

from prioq._validate import wrong_type
from prioq.errors import InvalidSpec
from prioq.resources._types import (
    MILLI,
    Device,
    GPURequest,
    ResourceRequest,
    Resources,
    _bytes,
    _device,
    _resources,
)

__all__ = ["Misfit", "check", "fit", "why_not"]


@attrs.frozen(slots=True)
class Misfit:
    """Why a request does not fit: a ``category`` to count nodes by, and a ``detail``."""

    category: str
    detail: str

    def __str__(self) -> str:
        return f"{self.category}: {self.detail}"


def _arguments(request: object, free: object) -> None:
    """Refuse what is not a parsed request and resources (a spec string is not parsed here)."""
    if not isinstance(request, ResourceRequest):
        raise wrong_type(
            InvalidSpec,
            f"request: expected a ResourceRequest (parse a spec once with ResourceRequest.parse), "
            f"got {request!r}",
        )
    if not isinstance(free, Resources):
        raise wrong_type(
            InvalidSpec, f"free: expected a Resources (parse a spec once with Resources.parse), got {free!r}"
        )


def _refuse(request: object, free: object, exc: Exception) -> NoReturn:
    _arguments(request, free)
    raise exc  # right types: a genuine bug, not bad input


def check(request: ResourceRequest, free: Resources) -> Misfit | None:
    """The first reason ``request`` does not fit into ``free``, or ``None`` if it fits.

    O(d) for d devices on the node. Categories (stable, for counting nodes in
    explanations), in the order checked: ``cpu architecture``, ``GPU model not in [...]``
    (the node has no device of a matching model), ``insufficient cpu``, ``insufficient
    memory``, ``insufficient disk``, ``insufficient <extra>``, ``insufficient GPU``.
    Arguments that are not a :class:`ResourceRequest` and a :class:`Resources` (a spec
    string included) raise :class:`~prioq.errors.InvalidSpecType`.
    """
    _arguments(request, free)
    if request.cpu_arch and free.cpu_arch and request.cpu_arch != free.cpu_arch:
        return Misfit("cpu architecture", f"need {request.cpu_arch}, node is {free.cpu_arch}")
    g = request.gpu
    # The GPU model first: a node without the model never fits, whatever else is free, and
    # naming it says more than the cpu or memory that happens to be short there too.
    if g is not None and g.milli != 0 and not any(g.matches(d.gpu) for d in free.gpus):
        return Misfit(f"GPU model not in [{g.describe_filter() or 'any'}]",
                      f"need {_gpu_need(g)}, node has {_models(free)}")
    need = request.minimum()
    if need.cpu_milli > free.cpu_milli:
        return Misfit("insufficient cpu", f"need {need.cpu:g}, {free.cpu:g} free")
    if need.memory > free.memory:
        return Misfit("insufficient memory", f"need {_bytes(need.memory)}, {_bytes(free.memory)} free")
    if need.disk > free.disk:
        return Misfit("insufficient disk", f"need {_bytes(need.disk)}, {_bytes(free.disk)} free")
    for name, amount in need.extras:
        if amount > free.extra(name):
            return Misfit(f"insufficient {name}", f"need {amount}, {free.extra(name)} free")
    if g is None or g.milli == 0:
        return None
    matching = [d for d in free.gpus if g.matches(d.gpu)]
    if g.fractional:
        if not any(d.milli >= g.milli for d in matching):
            best = max(d.milli for d in matching)
            return Misfit(
                "insufficient GPU", f"need {_gpu_need(g)}, largest free share {best / MILLI:g}"
            )
        return None
    whole = sum(1 for d in matching if d.milli == MILLI)
    if whole < g.devices:
        return Misfit("insufficient GPU", f"need {_gpu_need(g)}, {whole} free")
    return None


def _gpu_need(g: GPURequest) -> str:
    what = g.describe_filter()
    count = f"{g.count.low:g}" if g.fractional else f"{g.devices} x"
    return f"{count} {what}".strip() if what else f"{count} GPU"


def _models(r: Resources) -> str:
    names = sorted({d.gpu.name for d in r.gpus})
    return ",".join(names) if names else "no GPU"


def why_not(request: ResourceRequest, free: Resources) -> str:
    """A short reason the request does not fit, e.g. ``"insufficient GPU: need 2 x A100, 1 free"``;
    ``""`` when it fits. O(d)."""
    misfit = check(request, free)
    return "" if misfit is None else str(misfit)


def fit(request: ResourceRequest, free: Resources) -> Resources | None:
    """The allocation of ``request`` on a node with ``free`` resources, or ``None``. O(d).

    Takes each quantity range's minimum. Whole-GPU requests take the matching
    devices that are wholly free, lowest index first; a fractional request takes
    a share of the matching device whose remaining share fits most tightly
    (ties: lowest index), which keeps whole devices free for whole requests.
    The result always satisfies ``allocation.fits_within(free)``. This is the
    placement hot path: it builds no messages (:func:`check` says why not).

    ``request`` and ``free`` are parsed values: a spec string (``fit("gpu=1", free)``)
    raises :class:`~prioq.errors.InvalidSpecType` rather than being parsed on every
    call -- parse it once with :meth:`ResourceRequest.parse`. The types are checked
    only when the body fails, so valid calls pay nothing for the check.
    """
    try:
        return _fit(request, free)
    except (AttributeError, TypeError) as exc:
        _refuse(request, free, exc)


def _fit(request: ResourceRequest, free: Resources) -> Resources | None:
    need = request.minimum()
    if request.cpu_arch and free.cpu_arch and request.cpu_arch != free.cpu_arch:
        return None
    if need.cpu_milli > free.cpu_milli or need.memory > free.memory or need.disk > free.disk:
        return None
    for name, amount in need.extras:
        if amount > free.extra(name):
            return None
    g = request.gpu
    if g is None or g.milli == 0:
        return need
    devices: tuple[Device, ...]
    if g.fractional:
        share = g.milli
        best: Device | None = None
        for d in free.gpus:
            if d.milli >= share and (best is None or d.milli < best.milli) and g.matches(d.gpu):
                best = d
        if best is None:
            return None
        devices = (_device(best.index, best.gpu, share),)
    else:
        want = g.devices
        chosen: list[Device] = []
        for d in free.gpus:
            if d.milli == MILLI and g.matches(d.gpu):
                chosen.append(d)
                if len(chosen) == want:
                    break
        if len(chosen) < want:
            return None
        devices = tuple(chosen)
    return _resources(need.cpu_milli, need.memory, need.disk, devices, need.extras, None)
