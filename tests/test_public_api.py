"""The public surface: every name in __all__ exists, and the top level re-exports each module's."""

from __future__ import annotations

import importlib

import pytest

import prioq

PUBLIC_MODULES = [
    "prioq.errors", "prioq.resources", "prioq.model", "prioq.queue.aging", "prioq.queue", "prioq.placement",
    "prioq.policy", "prioq.preemption", "prioq.scheduler", "prioq.storage", "prioq.ordering",
]


def test_version_comes_from_metadata() -> None:
    from importlib.metadata import version

    assert prioq.__version__ == version("prioq")


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_module_all_names_exist_and_are_exported(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__all__, name
    for symbol in module.__all__:
        assert hasattr(module, symbol), f"{name}.{symbol} in __all__ but missing"


def test_top_level_all_matches_attributes() -> None:
    assert len(set(prioq.__all__)) == len(prioq.__all__)
    for symbol in prioq.__all__:
        assert hasattr(prioq, symbol), symbol
    public = {n for n in dir(prioq) if not n.startswith("_") and not isinstance(
        getattr(prioq, n), type(prioq))} - {"annotations", "version", "PackageNotFoundError"}
    assert public <= set(prioq.__all__), public - set(prioq.__all__)


def test_errors_subclass_builtins() -> None:
    assert issubclass(prioq.InvalidSpec, ValueError)
    assert issubclass(prioq.UnknownJob, KeyError)
    assert issubclass(prioq.NotLeader, prioq.StoreError)
    assert str(prioq.UnknownJob("no job 'x'")) == "no job 'x'"
