"""Node selection: which nodes a job may run on (docs/scheduler.md#node-selection).

Three rules, as Kubernetes spells them, decide whether a node is *eligible* for a job:

* ``Job.node_selector`` (a :class:`Selector`): labels the node must have. Each
  :class:`LabelRequirement` is one of ``In`` (the label's value is one of the values),
  ``NotIn`` (the label is absent or its value is none of them), ``Exists`` and
  ``DoesNotExist``; a node must meet all of them (node affinity's
  ``requiredDuringScheduling`` terms, one term). The mapping form
  ``{"fleet": "dev"}`` means ``fleet In [dev]``; ``{"zone": ["a", "b"]}`` means
  ``zone In [a, b]``.
* ``Node.taints`` and ``Job.tolerations``: a node with a ``NoSchedule`` taint takes
  only jobs that tolerate it (:class:`Taint`, :class:`Toleration`, Kubernetes'
  ``Equal``/``Exists`` operators). ``NoSchedule`` is the only effect supported:
  running jobs are never evicted by a taint (there is no ``NoExecute``), and
  there is no soft ``PreferNoSchedule``.
* ``Job.allowed_nodes``: ids of the only nodes the job may use (empty: any).

A job's three rules together are its :func:`selection` (``None`` when it has none):
jobs with equal selections are interchangeable for placement, so the scheduler keeps
one placement index per selection in use (see ``prioq.scheduler._selection``).
All values are frozen and hashable; a bad value raises ``error`` (``InvalidJob`` for
a job's fields, ``InvalidNode`` for a node's), a wrong type its ``...Type`` variant.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal

import attrs

from prioq._validate import choice, identifier, wrong_type
from prioq.errors import InvalidValue

__all__ = [
    "OPERATORS",
    "LabelRequirement",
    "Selection",
    "Selector",
    "Taint",
    "Toleration",
    "describe",
    "eligible",
    "selection",
    "taints_of",
    "tolerations_of",
]

OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")
"""``LabelRequirement.operator`` values, as Kubernetes' node affinity spells them."""

_EFFECTS = ("NoSchedule",)


def _label_text(value: object, what: str, error: type[InvalidValue]) -> str:
    if type(value) is not str:
        raise wrong_type(error, f"{what}: expected a string, got {value!r}")
    return value


@attrs.frozen(slots=True, kw_only=True, cache_hash=True)  # hashed on every placement (selection keys)
class LabelRequirement:
    """One requirement on a node's labels: ``key`` ``operator`` ``values``.

    ``In``/``NotIn`` need at least one value; ``Exists``/``DoesNotExist`` take none.
    Values are kept sorted and distinct, so equal requirements are equal values. O(1)
    per check (a dict lookup and a set test).
    """

    key: str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"] = "In"
    values: tuple[str, ...] = ()
    error: type[InvalidValue] = attrs.field(default=InvalidValue, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        err = self.error
        identifier(self.key, "node_selector: label key", error=err)
        choice(self.operator, OPERATORS, f"node_selector {self.key}: operator", error=err)
        values = self.values
        if isinstance(values, str) or not isinstance(values, Iterable):
            raise wrong_type(err, f"node_selector {self.key}: values must be a collection of strings, "
                             f"got {values!r}")
        clean = tuple(sorted({_label_text(v, f"node_selector {self.key}: value", err) for v in values}))
        if self.operator in ("In", "NotIn") and not clean:
            raise err(f"node_selector {self.key}: {self.operator} needs at least one value")
        if self.operator in ("Exists", "DoesNotExist") and clean:
            raise err(f"node_selector {self.key}: {self.operator} takes no values, got {list(clean)}")
        object.__setattr__(self, "values", clean)

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether a node with ``labels`` meets this requirement. O(1)."""
        value = labels.get(self.key)
        op = self.operator
        if op == "In":
            return value is not None and value in self.values
        if op == "NotIn":
            return value is None or value not in self.values
        if op == "Exists":
            return value is not None
        return value is None

    def __str__(self) -> str:
        op = self.operator
        if op == "Exists":
            return self.key
        if op == "DoesNotExist":
            return f"!{self.key}"
        if op == "In" and len(self.values) == 1:
            return f"{self.key}={self.values[0]}"
        word = "in" if op == "In" else "notin"
        return f"{self.key} {word} ({','.join(self.values)})"


@attrs.frozen(slots=True, cache_hash=True)
class Selector:
    """Labels a node must have: every requirement holds (an empty selector selects every node).

    ``Selector.of(value)`` builds one from ``None``, a mapping (``{"fleet": "dev"}`` is
    ``fleet In [dev]``, ``{"zone": ["a", "b"]}`` is ``zone In [a, b]``), a
    :class:`LabelRequirement`, or a collection of them. Printed in kubectl's label
    selector syntax: ``fleet=dev,zone in (a,b),!spot``.
    """

    requirements: tuple[LabelRequirement, ...] = ()

    @staticmethod
    def of(value: object, error: type[InvalidValue] = InvalidValue) -> Selector:
        """A selector from any accepted form (see the class docstring). O(requirements)."""
        if isinstance(value, Selector):
            return value
        if value is None:
            return _EMPTY
        reqs: list[LabelRequirement] = []
        if isinstance(value, LabelRequirement):
            reqs.append(value)
        elif isinstance(value, Mapping):
            for key, vals in value.items():
                key = _label_text(key, "node_selector: label key", error)
                if isinstance(vals, str):
                    vals = (vals,)
                elif not isinstance(vals, Iterable):
                    raise wrong_type(error, f"node_selector {key}: expected a value or a collection of "
                                     f"values, got {vals!r}")
                reqs.append(LabelRequirement(key=key, operator="In", values=tuple(vals), error=error))
        elif isinstance(value, Iterable) and not isinstance(value, str | bytes):
            for item in value:
                if not isinstance(item, LabelRequirement):
                    raise wrong_type(error, f"node_selector: expected LabelRequirement items, got {item!r}")
                reqs.append(item)
        else:
            raise wrong_type(error, f"node_selector: expected a mapping, LabelRequirement(s) or None, "
                             f"got {value!r}")
        unique = sorted(set(reqs), key=lambda r: (r.key, r.operator, r.values))
        return Selector(tuple(unique)) if unique else _EMPTY

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether a node with ``labels`` meets every requirement. O(requirements)."""
        return all(r.matches(labels) for r in self.requirements)

    def __bool__(self) -> bool:
        return bool(self.requirements)

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


_EMPTY = Selector()


@attrs.frozen(slots=True, kw_only=True, cache_hash=True)  # hashed on every placement (selection keys)
class Taint:
    """A node's taint: jobs that do not tolerate it are not placed there (``NoSchedule``).

    ``Taint.parse("gpu=a100:NoSchedule")`` reads kubectl's ``key[=value]:effect`` form."""

    key: str
    value: str = ""
    effect: Literal["NoSchedule"] = "NoSchedule"
    error: type[InvalidValue] = attrs.field(default=InvalidValue, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        identifier(self.key, "taint key", error=self.error)
        _label_text(self.value, f"taint {self.key}: value", self.error)
        choice(self.effect, _EFFECTS, f"taint {self.key}: effect", error=self.error)

    @staticmethod
    def parse(text: str, error: type[InvalidValue] = InvalidValue) -> Taint:
        if type(text) is not str:
            raise wrong_type(error, f"taint: expected Taint or 'key[=value]:effect', got {text!r}")
        head, sep, effect = text.rpartition(":")
        if not sep:
            head, effect = text, "NoSchedule"
        key, _, value = head.partition("=")
        return Taint(key=key, value=value, effect=effect, error=error)  # type: ignore[arg-type]

    def __str__(self) -> str:
        return f"{self.key}{'=' + self.value if self.value else ''}:{self.effect}"


@attrs.frozen(slots=True, kw_only=True, cache_hash=True)  # hashed on every placement (selection keys)
class Toleration:
    """A job's toleration of taints (Kubernetes semantics).

    ``operator="Equal"`` tolerates taints with this ``key`` and ``value``;
    ``"Exists"`` any value of ``key`` (an ``Exists`` toleration with an empty key
    tolerates every taint). ``effect=None`` matches every effect.
    ``Toleration.parse("gpu=a100:NoSchedule")``, ``"gpu"`` (Exists) and ``"gpu=a100"`` read
    the short forms."""

    key: str = ""
    operator: Literal["Equal", "Exists"] = "Equal"
    value: str = ""
    effect: Literal["NoSchedule"] | None = None
    error: type[InvalidValue] = attrs.field(default=InvalidValue, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        err = self.error
        choice(self.operator, ("Equal", "Exists"), "toleration: operator", error=err)
        _label_text(self.key, "toleration: key", err)
        _label_text(self.value, "toleration: value", err)
        if self.operator == "Equal" and not self.key:
            raise err("toleration: an Equal toleration needs a key (Exists with no key tolerates all)")
        if self.operator == "Exists" and self.value:
            raise err(f"toleration {self.key}: Exists takes no value, got {self.value!r}")
        if self.effect is not None:
            choice(self.effect, _EFFECTS, f"toleration {self.key}: effect", error=err)

    @staticmethod
    def parse(text: str, error: type[InvalidValue] = InvalidValue) -> Toleration:
        if type(text) is not str:
            raise wrong_type(error, f"toleration: expected Toleration or 'key[=value][:effect]', "
                             f"got {text!r}")
        head, sep, effect = text.rpartition(":")
        if not sep:
            head, effect = text, ""
        key, eq, value = head.partition("=")
        op = "Equal" if eq else "Exists"
        return Toleration(key=key, operator=op, value=value, effect=effect or None,  # type: ignore[arg-type]
                          error=error)

    def tolerates(self, taint: Taint) -> bool:
        """Whether this toleration matches ``taint``. O(1)."""
        if self.effect is not None and self.effect != taint.effect:
            return False
        if self.operator == "Exists":
            return not self.key or self.key == taint.key
        return self.key == taint.key and self.value == taint.value

    def __str__(self) -> str:
        body = self.key if self.operator == "Exists" else f"{self.key}={self.value}"
        return (body or "*") + (f":{self.effect}" if self.effect else "")


def _items_of(value: object, kind: type, what: str, error: type[InvalidValue]) -> list[object]:
    if value is None:
        return []
    if isinstance(value, kind | str):
        return [value]
    if not isinstance(value, Iterable) or isinstance(value, bytes | Mapping):
        raise wrong_type(error, f"{what}: expected {kind.__name__} values or strings, got {value!r}")
    return list(value)


def taints_of(value: object, error: type[InvalidValue] = InvalidValue) -> tuple[Taint, ...]:
    """A node's taints from Taint values or ``key[=value]:effect`` strings, sorted and distinct."""
    out = {t if isinstance(t, Taint) else Taint.parse(t, error)  # type: ignore[arg-type]
           for t in _items_of(value, Taint, "taints", error)}
    return tuple(sorted(out, key=lambda t: (t.key, t.value, t.effect)))


def tolerations_of(value: object, error: type[InvalidValue] = InvalidValue) -> tuple[Toleration, ...]:
    """A job's tolerations from Toleration values or short strings, sorted and distinct."""
    out = {t if isinstance(t, Toleration) else Toleration.parse(t, error)  # type: ignore[arg-type]
           for t in _items_of(value, Toleration, "tolerations", error)}
    return tuple(sorted(out, key=lambda t: (t.key, t.operator, t.value, t.effect or "")))


Selection = tuple[Selector, tuple[Toleration, ...], tuple[str, ...]]
"""A job's selector, tolerations and allowed node ids: equal selections select alike."""


def selection(job: object) -> Selection | None:
    """The selection of a job (``None``: it has none, any untainted node will do). O(1)."""
    sel: Selector = job.node_selector  # type: ignore[attr-defined]
    tol: tuple[Toleration, ...] = job.tolerations  # type: ignore[attr-defined]
    allowed: tuple[str, ...] = job.allowed_nodes  # type: ignore[attr-defined]
    if not sel and not tol and not allowed:
        return None
    return (sel, tol, allowed)


def eligible(
    sel: Selection | None, node_id: str, labels: Mapping[str, str], taints: tuple[Taint, ...]
) -> bool:
    """Whether a node (not cordoned) is eligible for a job of selection ``sel``.
    O(requirements + taints x tolerations)."""
    if sel is None:
        return not taints
    selector, tolerations, allowed = sel
    if allowed and node_id not in allowed:
        return False
    if selector and not selector.matches(labels):
        return False
    return all(any(t.tolerates(taint) for t in tolerations) for taint in taints)


def describe(sel: Selection | None) -> str:
    """The selection in words, for messages: ``selector fleet=dev; tolerates gpu; nodes n1,n2``."""
    if sel is None:
        return "no selection"
    selector, tolerations, allowed = sel
    parts = []
    if selector:
        parts.append(f"selector {selector}")
    if tolerations:
        parts.append(f"tolerates {','.join(str(t) for t in tolerations)}")
    if allowed:
        parts.append(f"nodes {','.join(allowed)}")
    return "; ".join(parts)
