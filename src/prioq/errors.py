"""The exceptions prioq raises (DESIGN section 10).

Every error is a :class:`PrioqError`; each also subclasses the builtin a caller
would naturally catch (``ValueError`` for bad values, ``KeyError`` for unknown
ids), so ``except ValueError`` keeps working in code that does not know prioq.
"""

from __future__ import annotations

__all__ = [
    "DuplicateJob",
    "InvalidCursor",
    "InvalidJob",
    "InvalidSpec",
    "InvalidTime",
    "NotLeader",
    "PrioqError",
    "StoreError",
    "UnknownJob",
    "UnknownNode",
]


class PrioqError(Exception):
    """Base class of every error prioq raises on purpose."""


class InvalidSpec(PrioqError, ValueError):
    """A resource spec (string or dict) is malformed; the message names the token."""


class InvalidJob(PrioqError, ValueError):
    """A job, node or policy field has an invalid value; the message names field and value."""


class InvalidTime(PrioqError, ValueError):
    """``now`` is not a finite number, or it went backwards."""


class DuplicateJob(PrioqError, ValueError):
    """A job (or node) id is already known."""


class _KeyErrorMessage(PrioqError, KeyError):
    # KeyError.__str__ repr()s its argument; show the message as written instead.
    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class UnknownJob(_KeyErrorMessage):
    """No job with that id is known here."""


class UnknownNode(_KeyErrorMessage):
    """No node with that id is known here."""


class InvalidCursor(PrioqError, ValueError):
    """A pagination cursor is malformed, tampered with, or made for another order."""


class StoreError(PrioqError):
    """A store could not be opened, read or committed; the scheduler's memory is unchanged."""


class NotLeader(StoreError):
    """This replica's lease was taken over: its commit was refused (fencing)."""
