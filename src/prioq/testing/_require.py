"""hypothesis, imported on first use with a clear error when it is missing."""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["hypothesis"]

MESSAGE = (
    "prioq.testing's strategies and state machine need hypothesis, which is not installed: "
    "pip install 'prioq[testing]' (or pip install hypothesis)"
)


def hypothesis() -> ModuleType:
    """The ``hypothesis`` module, or ``ImportError`` saying how to install it."""
    try:
        return importlib.import_module("hypothesis")
    except ImportError as exc:
        raise ImportError(MESSAGE) from exc
