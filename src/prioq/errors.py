"""The exceptions prioq raises (docs/architecture.md#errors).

Every error is a :class:`PrioqError`, and each also subclasses the builtin a
caller would naturally catch, so code that does not know prioq keeps working:

* a bad value is a ``ValueError`` (:class:`InvalidValue` and its family);
* a value of the wrong type is, in addition, a ``TypeError``: each family has a
  ``...Type`` variant (``Job(priority="high")`` raises :class:`InvalidJobType`,
  caught by ``except InvalidJob``, ``except ValueError`` and ``except TypeError``);
* an unknown id is a ``KeyError`` (:class:`UnknownJob`, :class:`UnknownNode`).

Messages say what was wrong and with which value. Nothing else escapes a
public call: the validation helpers in :mod:`prioq._validate` turn overflowing,
unhashable or wrong-typed input into these.
"""

from __future__ import annotations

__all__ = [
    "DependencyCycle",
    "DuplicateJob",
    "DuplicateNode",
    "InvalidCursor",
    "InvalidCursorType",
    "InvalidJob",
    "InvalidJobType",
    "InvalidNode",
    "InvalidNodeType",
    "InvalidPolicy",
    "InvalidPolicyType",
    "InvalidSpec",
    "InvalidSpecType",
    "InvalidTime",
    "InvalidTimeType",
    "InvalidType",
    "InvalidValue",
    "NotLeader",
    "PolicyMismatch",
    "PrioqError",
    "StoreError",
    "UnknownGroup",
    "UnknownJob",
    "UnknownNode",
]


class PrioqError(Exception):
    """Base class of every error prioq raises on purpose."""


class InvalidValue(PrioqError, ValueError):
    """An argument has a bad value; the message names the argument and the value."""


class InvalidType(InvalidValue, TypeError):
    """An argument has the wrong type (also a ``TypeError``)."""


class InvalidJob(InvalidValue):
    """A :class:`~prioq.Job` field, or a job's fit with the scheduler's policy, is invalid."""


class DependencyCycle(InvalidJob):
    """A submitted job's ``after`` would close a cycle of dependencies (none of them could start)."""


class InvalidNode(InvalidValue):
    """A :class:`~prioq.Node` field is invalid."""


class InvalidPolicy(InvalidValue):
    """A policy parameter (``Policy``, aging, preemption, placement, priority class) is invalid."""


class InvalidTime(InvalidValue):
    """``now`` (or another instant) is not a finite float-exact number, or time went backwards."""


class InvalidSpec(InvalidValue):
    """A resource spec (string or dict) is malformed; the message names the token."""


class InvalidCursor(InvalidValue):
    """A pagination cursor is malformed, tampered with, or made for another order."""


class InvalidJobType(InvalidJob, InvalidType):
    """A job field has the wrong type."""


class InvalidNodeType(InvalidNode, InvalidType):
    """A node field has the wrong type."""


class InvalidPolicyType(InvalidPolicy, InvalidType):
    """A policy parameter has the wrong type."""


class InvalidTimeType(InvalidTime, InvalidType):
    """An instant is not a number."""


class InvalidSpecType(InvalidSpec, InvalidType):
    """A resource spec is neither a string nor a mapping (or holds a value of the wrong type)."""


class InvalidCursorType(InvalidCursor, InvalidType):
    """A cursor is not a string."""


class DuplicateJob(PrioqError, ValueError):
    """A job id is already known."""


class DuplicateNode(DuplicateJob):
    """A node id is already known.

    It subclasses :class:`DuplicateJob` only so that code written when duplicate
    nodes raised ``DuplicateJob`` keeps catching them; catch ``DuplicateNode``.
    """


class _KeyErrorMessage(PrioqError, KeyError):
    # KeyError.__str__ repr()s its argument; show the message as written instead.
    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class UnknownJob(_KeyErrorMessage):
    """No job with that id is known here."""


class UnknownGroup(UnknownJob):
    """No held job belongs to that group (``Job.group``)."""


class UnknownNode(_KeyErrorMessage):
    """No node with that id is known here."""


class StoreError(PrioqError):
    """A store could not be opened, read or committed; the scheduler's memory is unchanged."""


class NotLeader(StoreError):
    """This replica's lease was taken over: its commit was refused (fencing)."""


class PolicyMismatch(StoreError):
    """The store holds state made under another policy (docs/orchestrator.md#resume): pass the
    same policy, or ``policy_change="replace"`` to adopt the new one."""
