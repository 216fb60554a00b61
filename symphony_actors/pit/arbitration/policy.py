"""Arbitration policy as data: read it, validate it, replace it at run time.

A policy is a plain mapping (it travels as JSON and is stored as such)::

    {
      "capacity":  {"executors": 4, "memory_mb": 16384},      # what there is to share
      "weights":   {"users": {"alice": 2}, "workflows": {}},    # fair-share weights (default 1)
      "quotas":    {"users": {"*": {"executors": 2}},           # most a user / workflow may hold at once;
                    "workflows": {"wf-big": {"memory_mb": 8000}}},  # "*" applies to every name
      "aging_s": 60,            # each aging_s queued raises a request's priority by 1 (0: no aging)
      "reserve_after_s": 30,    # queued this long, a request reserves capacity: lower-ranked ones wait
      "max_queue": 10000,       # more queued requests than this: BusyError
      "conflicts": {"artifact": "first_wins", "buffer": "queue"}
    }

Conflict policies: ``first_wins`` (a second writer is rejected), ``queue`` (it waits for the first to
finish), ``priority`` (a strictly higher priority takes over; otherwise rejected), ``last_wins`` (the
newcomer takes over). Whoever loses a claim it held gets a ``preempted`` decision.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from symphony_actors.domain.errors import Problem, ValidationError

__all__ = ["CONFLICT_POLICIES", "DEFAULT_POLICY", "Policy", "parse_policy"]

CONFLICT_POLICIES = frozenset({"first_wins", "queue", "priority", "last_wins"})

DEFAULT_POLICY: dict[str, Any] = {
    "capacity": {"executors": 4.0},
    "weights": {"users": {}, "workflows": {}},
    "quotas": {"users": {}, "workflows": {}},
    "aging_s": 60.0,
    "reserve_after_s": 30.0,
    "max_queue": 10_000,
    "conflicts": {"artifact": "first_wins", "buffer": "queue"},
}

_KEYS = frozenset(DEFAULT_POLICY)


@dataclass(frozen=True, slots=True)
class Policy:
    """A validated policy; ``data`` is its canonical mapping form."""

    capacity: Mapping[str, float]
    user_weights: Mapping[str, float]
    workflow_weights: Mapping[str, float]
    user_quotas: Mapping[str, Mapping[str, float]]
    workflow_quotas: Mapping[str, Mapping[str, float]]
    aging_s: float
    reserve_after_s: float
    max_queue: int
    conflicts: Mapping[str, str]
    data: Mapping[str, Any]

    def quota(self, table: Mapping[str, Mapping[str, float]], name: str) -> Mapping[str, float] | None:
        return table.get(name) or table.get("*")


def _number(problems: list[Problem], path: str, value: Any, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < minimum:
        problems.append(Problem(path, f"must be a finite number >= {minimum:g}, not {value!r}"))
        return minimum
    return float(value)


def _amounts(problems: list[Problem], path: str, value: Any) -> dict[str, float]:
    if not isinstance(value, Mapping):
        problems.append(Problem(path, "must be a mapping of resource names to amounts"))
        return {}
    return {str(k): _number(problems, f"{path}.{k}", v) for k, v in value.items()}


def _table(problems: list[Problem], path: str, value: Any, nested: bool) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        problems.append(Problem(path, "must be a mapping"))
        return {}
    out: dict[str, Any] = {}
    for k, v in value.items():
        out[str(k)] = _amounts(problems, f"{path}.{k}", v) if nested else _number(problems, f"{path}.{k}", v, 1e-9)
    return out


def parse_policy(data: Mapping[str, Any], base: Mapping[str, Any] | None = None) -> Policy:
    """Validate ``data`` (keys missing from it are taken from ``base``, else the defaults); every problem at once."""
    merged: dict[str, Any] = copy.deepcopy(dict(base or DEFAULT_POLICY))
    problems: list[Problem] = []
    if not isinstance(data, Mapping):
        raise ValidationError([Problem("", "a policy must be a mapping")], subject="arbitration policy")
    for key in data:
        if key not in _KEYS:
            problems.append(Problem(str(key), f"unknown policy key (known: {', '.join(sorted(_KEYS))})"))
    merged.update({k: copy.deepcopy(v) for k, v in data.items() if k in _KEYS})
    capacity = _amounts(problems, "capacity", merged["capacity"])
    weights = merged["weights"] if isinstance(merged["weights"], Mapping) else {}
    quotas = merged["quotas"] if isinstance(merged["quotas"], Mapping) else {}
    if not isinstance(merged["weights"], Mapping):
        problems.append(Problem("weights", "must be a mapping with 'users' and 'workflows'"))
    if not isinstance(merged["quotas"], Mapping):
        problems.append(Problem("quotas", "must be a mapping with 'users' and 'workflows'"))
    uw = _table(problems, "weights.users", weights.get("users", {}), nested=False)
    ww = _table(problems, "weights.workflows", weights.get("workflows", {}), nested=False)
    uq = _table(problems, "quotas.users", quotas.get("users", {}), nested=True)
    wq = _table(problems, "quotas.workflows", quotas.get("workflows", {}), nested=True)
    aging = _number(problems, "aging_s", merged["aging_s"])
    reserve = _number(problems, "reserve_after_s", merged["reserve_after_s"])
    max_queue = int(_number(problems, "max_queue", merged["max_queue"], 1))
    conflicts: dict[str, str] = {}
    if not isinstance(merged["conflicts"], Mapping):
        problems.append(Problem("conflicts", "must map a kind (artifact, buffer) to a conflict policy"))
    else:
        for kind, rule in merged["conflicts"].items():
            if rule not in CONFLICT_POLICIES:
                problems.append(Problem(f"conflicts.{kind}", f"{rule!r} is not one of "
                                                             f"{', '.join(sorted(CONFLICT_POLICIES))}"))
            conflicts[str(kind)] = str(rule)
    if problems:
        raise ValidationError(problems, subject="arbitration policy")
    canonical = {"capacity": capacity, "weights": {"users": uw, "workflows": ww},
                 "quotas": {"users": uq, "workflows": wq}, "aging_s": aging, "reserve_after_s": reserve,
                 "max_queue": max_queue, "conflicts": conflicts}
    return Policy(capacity, uw, ww, uq, wq, aging, reserve, max_queue, conflicts, canonical)
