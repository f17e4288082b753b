"""Owner paths: ``Job.owner`` values, optionally nested (``"org/team"``)."""

from __future__ import annotations

__all__ = ["levels"]


def levels(owner: str | None) -> tuple[str, ...]:
    """The owner paths a job's usage counts toward, top level first: ``"org/team"`` ->
    ``("org", "org/team")``; no owner -> ``("",)`` (the default owner). O(depth)."""
    if owner is None:
        return ("",)
    if "/" not in owner:
        return (owner,)
    parts = owner.split("/")
    return tuple("/".join(parts[: i + 1]) for i in range(len(parts)))
