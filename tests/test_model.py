"""The value types of prioq.model: each field is checked on construction with the
error family that names it (docs/architecture.md#errors), and nothing else escapes.

Regression tests for issue 16: ``Job(after="train")`` split the id into letters,
``Job(labels=5)`` leaked ``TypeError``, and times beyond float range leaked
``OverflowError``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prioq import (
    InvalidJob,
    InvalidNode,
    InvalidPolicy,
    InvalidSpec,
    InvalidTime,
    InvalidType,
    InvalidValue,
    Job,
    Labels,
    Node,
    Preempt,
    PrioqError,
    PriorityClass,
    Resources,
    Running,
    Start,
)
from prioq.errors import InvalidJobType, InvalidNodeType, InvalidPolicyType


def raises(error: type[PrioqError], make: Callable[[], object], *, wrong_type: bool) -> PrioqError:
    """``make()`` raises ``error``: a PrioqError that is a ValueError, and a TypeError iff ``wrong_type``."""
    with pytest.raises(error) as info:
        make()
    exc = info.value
    assert isinstance(exc, PrioqError) and isinstance(exc, ValueError)
    assert isinstance(exc, TypeError) == wrong_type, (type(exc), exc)
    return exc


def job(**fields: Any) -> Job:
    return Job(**{"id": "j", "submitted_at": 0.0, **fields})


# --------------------------------------------------------------------------- the bugs


def test_after_refuses_a_plain_string_instead_of_splitting_it() -> None:
    exc = raises(InvalidJobType, lambda: job(after="train"), wrong_type=True)
    assert "'train'" in str(exc)
    assert job(after=["train"]).after == ("train",)
    assert job(after=("a", "b")).after == ("a", "b")


@pytest.mark.parametrize("labels", [5, "ab", b"ab", [1], [("a",)], [("a", "b", "c")], [(["k"], "v")], 1.5])
def test_job_labels_of_the_wrong_shape_raise_invalid_job_type(labels: Any) -> None:
    raises(InvalidJobType, lambda: job(labels=labels), wrong_type=True)


@pytest.mark.parametrize("labels", [{"a": 1}, {1: "a"}, [("a", None)]])
def test_label_keys_and_values_are_strings(labels: Any) -> None:
    raises(InvalidJobType, lambda: job(labels=labels), wrong_type=True)
    raises(InvalidNodeType, lambda: Node(id="n", capacity="cpu=1", labels=labels), wrong_type=True)


def test_labels_accept_mappings_and_pairs() -> None:
    assert job(labels={"b": "2", "a": "1"}).labels == {"a": "1", "b": "2"}
    assert job(labels=[("a", "1")]).labels == Labels({"a": "1"})
    assert job(labels=None).labels == {}
    assert Node(id="n", capacity="cpu=1", labels=[["k", "v"]]).labels == {"k": "v"}
    raises(InvalidType, lambda: Labels(5), wrong_type=True)  # type: ignore[arg-type]


@pytest.mark.parametrize("field", ["submitted_at", "duration"])
@pytest.mark.parametrize("value", [10**400, -(10**400), 2**53 + 1, float("inf"), float("nan")])
def test_times_are_finite_and_float_exact(field: str, value: float) -> None:
    raises(InvalidJob, lambda: job(**{field: value}), wrong_type=False)


@pytest.mark.parametrize("field", ["submitted_at", "duration"])
@pytest.mark.parametrize("value", ["1", True, None, [1]])
def test_times_of_the_wrong_type(field: str, value: object) -> None:
    if field == "duration" and value is None:
        return  # no estimate
    raises(InvalidJobType, lambda: job(**{field: value}), wrong_type=True)


def test_time_values_are_kept_as_given() -> None:
    assert job(submitted_at=5).submitted_at == 5
    assert job(submitted_at=2**53).submitted_at == 2**53
    assert job(duration=1).duration == 1
    raises(InvalidJob, lambda: job(duration=0), wrong_type=False)
    raises(InvalidJob, lambda: job(duration=-1.0), wrong_type=False)


# --------------------------------------------------------------------------- families


@pytest.mark.parametrize(
    ("fields", "wrong_type"),
    [
        ({"id": ""}, False),
        ({"id": 5}, True),
        ({"priority": 1.5}, True),
        ({"priority": True}, True),
        ({"priority": 2**60}, False),
        ({"nodes": 0}, False),
        ({"nodes": 1.0}, True),
        ({"preemptible": 1}, True),
        ({"owner": ""}, False),
        ({"group": 5}, True),
        ({"priority_class": [1]}, True),
        ({"after": [""]}, False),
        ({"after": [5]}, True),
        ({"after": 5}, True),
        ({"after": ["j"]}, False),  # waits for itself
    ],
)
def test_job_fields_raise_invalid_job(fields: dict[str, Any], wrong_type: bool) -> None:
    raises(InvalidJobType if wrong_type else InvalidJob, lambda: job(**fields), wrong_type=wrong_type)


def test_job_request_errors_are_spec_errors() -> None:
    raises(InvalidSpec, lambda: job(request="gpus=2"), wrong_type=False)
    raises(InvalidSpec, lambda: job(request=5), wrong_type=True)


@pytest.mark.parametrize(("node_id", "wrong_type"), [("", False), (5, True), (None, True)])
def test_node_fields_raise_invalid_node_not_invalid_job(node_id: object, wrong_type: bool) -> None:
    exc = raises(InvalidNode, lambda: Node(id=node_id, capacity="cpu=1"), wrong_type=wrong_type)  # type: ignore[arg-type]
    assert not isinstance(exc, InvalidJob)
    raises(InvalidSpec, lambda: Node(id="n", capacity="gpu=T4@0(0.5)"), wrong_type=False)
    raises(InvalidSpec, lambda: Node(id="n", capacity=5), wrong_type=True)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "wrong_type"),
    [
        ({"name": ""}, False),
        ({"name": 5}, True),
        ({"value": True}, True),
        ({"value": "90"}, True),
        ({"value": 2**60}, False),
        ({"preemption": "always"}, False),
        ({"preemption": None}, True),
    ],
)
def test_priority_class_fields_raise_invalid_policy(fields: dict[str, Any], wrong_type: bool) -> None:
    make = lambda: PriorityClass(**{"name": "prod", "value": 90, **fields})  # noqa: E731
    exc = raises(InvalidPolicyType if wrong_type else InvalidPolicy, make, wrong_type=wrong_type)
    assert not isinstance(exc, InvalidJob)


def test_running_start_and_preempt_check_their_fields() -> None:
    j = job()
    alloc = (Resources.parse("cpu=1"),)
    ok = Running(job=j, node_ids=["n"], started_at=1, allocation=list(alloc))
    assert ok.node_ids == ("n",) and ok.allocation == alloc
    raises(InvalidType, lambda: Running(job=j, node_ids="n", started_at=1, allocation=alloc), wrong_type=True)
    raises(InvalidType, lambda: Running(job="j", node_ids=["n"], started_at=1, allocation=alloc),  # type: ignore[arg-type]
           wrong_type=True)
    raises(InvalidTime, lambda: Running(job=j, node_ids=["n"], started_at=10**400, allocation=alloc),
           wrong_type=False)
    raises(InvalidType, lambda: Running(job=j, node_ids=["n"], started_at=1, allocation=5),  # type: ignore[arg-type]
           wrong_type=True)
    raises(InvalidType, lambda: Start(job_id="j", node_ids=["n"], allocation=["cpu=1"]),  # type: ignore[list-item]
           wrong_type=True)
    raises(InvalidValue, lambda: Start(job_id="", node_ids=["n"], allocation=alloc), wrong_type=False)
    raises(InvalidType, lambda: Preempt(job_id="v", node_ids="n", by="j"), wrong_type=True)
    raises(InvalidValue, lambda: Preempt(job_id="v", node_ids=["n"], by="j", grace=10**400), wrong_type=False)
    raises(InvalidValue, lambda: Preempt(job_id="v", node_ids=["n"], by="j", grace=-1), wrong_type=False)
    assert Preempt(job_id="v", node_ids=["n"], by="j", grace=30).grace == 30


# --------------------------------------------------------------------------- nothing escapes

_ANYTHING = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([10**400, -(10**400), 2**53 + 1, 2**63]),
    st.floats(),
    st.text(max_size=5),
    st.binary(max_size=3),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
    st.tuples(st.text(max_size=2), st.text(max_size=2)).map(lambda t: [t]),
)


@given(
    st.sampled_from(
        ["id", "submitted_at", "priority", "request", "nodes", "preemptible", "owner", "group", "duration",
         "priority_class", "after", "labels"]
    ),
    _ANYTHING,
)
def test_any_bad_job_field_raises_only_prioq_errors(field: str, value: object) -> None:
    try:
        job(**{field: value})
    except PrioqError as exc:
        assert isinstance(exc, ValueError)


@given(st.sampled_from(["id", "capacity", "labels"]), _ANYTHING)
def test_any_bad_node_field_raises_only_prioq_errors(field: str, value: object) -> None:
    try:
        Node(**{"id": "n", "capacity": "cpu=1", field: value})
    except PrioqError as exc:
        assert isinstance(exc, ValueError)
