"""Resources: what nodes have and jobs ask for, whether a request fits, and the spec grammar.

* :mod:`prioq.resources._types` -- :class:`Resources`, :class:`ResourceRequest`, GPUs
  and devices, with exact integer arithmetic (milli-CPU, milli-GPU shares, bytes);
* :mod:`prioq.resources._fit` -- :func:`fit` (the placement hot path), :func:`check`
  and :func:`why_not`;
* :mod:`prioq.resources._spec` -- dstack's spec grammar, parsed and printed.

See ``docs/resources.md``.
"""

from __future__ import annotations

from prioq.resources._fit import Misfit, check, fit, why_not
from prioq.resources._spec import (
    brief_bytes,
    format_bytes,
    format_range,
    format_request,
    format_resources,
    parse_request,
    parse_resources,
)
from prioq.resources._types import (
    GPU,
    MILLI,
    VENDORS,
    Device,
    GiB,
    GPURequest,
    InsufficientResources,
    MiB,
    Range,
    ResourceRequest,
    Resources,
    TiB,
    vendor_of,
)

__all__ = [
    "GPU",
    "MILLI",
    "VENDORS",
    "Device",
    "GPURequest",
    "GiB",
    "InsufficientResources",
    "MiB",
    "Misfit",
    "Range",
    "ResourceRequest",
    "Resources",
    "TiB",
    "brief_bytes",
    "check",
    "fit",
    "format_bytes",
    "format_range",
    "format_request",
    "format_resources",
    "parse_request",
    "parse_resources",
    "vendor_of",
    "why_not",
]
