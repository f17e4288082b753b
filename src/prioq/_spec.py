"""Spec-string and dict parsing for the resource model (placeholder until the parser lands)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prioq.errors import InvalidSpec
from prioq.resources import Range, ResourceRequest, Resources

__all__ = ["format_range", "format_request", "format_resources", "parse_request", "parse_resources"]


def parse_request(spec: str | Mapping[str, Any]) -> ResourceRequest:
    if spec == "" or spec == {}:
        return ResourceRequest()
    raise InvalidSpec("not implemented yet")


def parse_resources(spec: str | Mapping[str, Any]) -> Resources:
    if spec == "" or spec == {}:
        return Resources()
    raise InvalidSpec("not implemented yet")


def format_range(rng: Range, kind: str) -> str:
    return f"{rng.min}..{rng.max}"


def format_request(request: ResourceRequest) -> str:
    return repr(request)


def format_resources(resources: Resources) -> str:
    return repr(resources)
