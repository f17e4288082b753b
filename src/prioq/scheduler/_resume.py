"""What a scheduler keeps across restarts besides its jobs and nodes (docs/orchestrator.md#resume).

* **The policy**, as a fingerprint in the store's keyed area (``extras["policy"]``): a
  scheduler opened on a store made under another policy raises
  :class:`~prioq.errors.PolicyMismatch` unless asked to replace it
  (``policy_change="replace"``), because jobs accepted under one priority range or
  aging policy would otherwise resume silently under another.
* **When each victim was told to stop** and its grace deadline
  (``extras["preempt/<victim>"]``), so ``terminating()`` gives the same deadline
  after a restart instead of starting the grace over.
* **The node list**, reconciled with the one the caller passes (:class:`NodeChanges`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import attrs

from prioq.errors import InvalidPolicy, PolicyMismatch, StoreError
from prioq.model import Job, Node
from prioq.policy import Policy

__all__ = ["POLICY_KEY", "NodeChanges", "Terminating", "check_policy", "check_replacement",
           "node_diff", "policy_text", "preempt_key", "preempt_text", "read_preempt"]

POLICY_KEY = "policy"
_PREEMPT = "preempt/"
_ADDRESS = re.compile(r" (?:object )?at 0x[0-9a-fA-F]+>")


class Terminating(NamedTuple):
    """A victim told to stop: the preemptor it makes room for, and when its grace ends
    (``None`` only for a victim told to stop by a prioq that did not record it)."""

    by: str
    deadline: float | None


@attrs.frozen(slots=True, kw_only=True)
class NodeChanges:
    """How a scheduler opened on a stored cluster reconciled it with the nodes it was given.

    ``removed``: stored nodes not given (their jobs requeued, as ``remove_node``);
    ``added``: given nodes not stored (as ``add_node``, in the order given);
    ``replaced``: nodes whose definition changed (removed, then added back);
    ``requeued``: jobs that ran on removed or replaced nodes, back in the queue.
    """

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    replaced: tuple[str, ...] = ()
    requeued: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.replaced)


def policy_text(policy: Policy) -> str:
    """The policy's fingerprint: a JSON object of each field's canonical ``repr`` (attrs
    values print every parameter), with the memory address of an object without a repr
    of its own reduced to its type. Readable on purpose: a mismatch names the fields that
    differ. O(size of the policy)."""
    fields = {f.name: _ADDRESS.sub(">", repr(getattr(policy, f.name))) for f in attrs.fields(Policy)
              if f.name not in _LATER_FIELDS or getattr(policy, f.name) != f.default}
    return json.dumps(fields, sort_keys=True)


_LATER_FIELDS = frozenset({"unsatisfiable_after"})
"""Policy fields added after stores began keeping fingerprints: left out at their default, so
a store written before a field existed still matches a policy that does not use it."""


def check_policy(stored: str | None, text: str, change: str) -> bool:
    """Whether the policy changes (``True``: replace the stored one); raises
    :class:`PolicyMismatch` when it differs and ``change`` is ``"refuse"``. A store
    without a fingerprint (written before prioq recorded one) adopts the given policy."""
    if stored is None or stored == text:
        return False
    if change == "refuse":
        raise PolicyMismatch(
            "the store holds state made under another policy ("
            + _differences(stored, text)
            + "); pass the stored policy to resume, or policy_change='replace' to adopt the new one"
        )
    return True


def _differences(stored: str, given: str) -> str:
    try:
        old = json.loads(stored)
        new = json.loads(given)
        if not isinstance(old, dict):
            raise ValueError(stored)
    except ValueError:
        return f"stored: {stored!r}"
    keys = sorted(set(old) | set(new))
    return "; ".join(
        f"{k}: stored {old.get(k, '(none)')}, given {new.get(k, '(none)')}"
        for k in keys if old.get(k) != new.get(k)
    )


def check_replacement(policy: Policy, jobs: Sequence[Job]) -> None:
    """Every held job must be valid under the new policy (priority range, classes);
    :class:`InvalidPolicy` names the first that is not. O(jobs)."""
    lo, hi = policy.priority_range
    names = {pc.name for pc in policy.priority_classes}
    for job in jobs:
        if not lo <= job.priority <= hi:
            raise InvalidPolicy(
                f"policy_change='replace': held job {job.id!r} has priority {job.priority}, "
                f"outside the new priority_range {lo}..{hi}"
            )
        if job.priority_class is not None and job.priority_class not in names:
            raise InvalidPolicy(
                f"policy_change='replace': held job {job.id!r} uses priority class "
                f"{job.priority_class!r}, which the new policy does not define"
            )


def node_diff(stored: Sequence[Node], given: Sequence[Node]) -> tuple[list[str], list[Node], list[str]]:
    """(ids to remove, nodes to add, ids replaced) turning ``stored`` into ``given``:
    removals in stored order, additions in the given order. O(nodes)."""
    old = {n.id: n for n in stored}
    new = {n.id: n for n in given}
    replaced = [n.id for n in stored if n.id in new and new[n.id] != n]
    remove = [n.id for n in stored if n.id not in new or n.id in replaced]
    add = [n for n in given if n.id not in old or n.id in replaced]
    return remove, add, replaced


def preempt_key(victim: str) -> str:
    return _PREEMPT + victim


def preempt_text(at: float, grace: float) -> str:
    """The stored record of a victim told to stop at ``at`` with ``grace`` seconds."""
    return json.dumps([float(at), float(at) + float(grace)])  # floats round-trip exactly (repr)


def read_preempt(extras: Mapping[str, str], victim: str) -> tuple[float, float] | None:
    """(told at, grace deadline) of a victim, ``None`` when none was recorded. O(1)."""
    text = extras.get(_PREEMPT + victim)
    if text is None:
        return None
    try:
        at, deadline = json.loads(text)
        if not (type(at) is float and type(deadline) is float and math.isfinite(at) and deadline >= at):
            raise ValueError(text)
    except (ValueError, TypeError) as exc:
        raise StoreError(f"stored preemption record of {victim!r} is malformed: {text!r}") from exc
    return at, deadline
