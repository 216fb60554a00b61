"""Built-in node types the executors run (until extensions provide more).

Each operator is ``fn(params, inputs) -> value``; what it returns is the node's
result (a dict maps output ports to values). All of them run inside an executor
actor process.

| type | does |
|---|---|
| ``builtin.noop`` | nothing; returns None (WfCommons tasks run as this) |
| ``builtin.identity`` | returns its input (the single input's value, else the dict of inputs) |
| ``builtin.const`` | returns ``params.value`` |
| ``builtin.sleep`` | sleeps ``params.seconds``, returns its input |
| ``builtin.fail`` | fails with probability ``params.probability`` (default 1), ``params.seed`` optional |
| ``builtin.hash`` | CPU-bound: ``params.rounds`` BLAKE2b rounds over its input; returns the hex digest |
| ``builtin.call`` | calls ``params.callable`` (``module:function``, only if allowed: see ``callables.py``) |
| ``builtin.count`` | appends ``<run> <node> <item>`` to ``params.path`` (exactly-once checks), returns its input |

Operators run on an executor's task thread. :func:`log` keeps a line with the
attempt (``symphony logs RUN NODE``), as does anything they ``print``; long
operators should sleep with :func:`sleep` or check :func:`cancelled`, so that
their time limit stops them (see :mod:`.runner`).
"""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Callable, Mapping
from typing import Any

from symphony_actors.domain import callables
from symphony_actors.domain.errors import ExtensionFailed, NotFoundError, PermissionDenied, UsageError
from symphony_actors.hosting import load_factory
from symphony_actors.pit.dag.runner import cancelled, log
from symphony_actors.pit.dag.runner import sleep as limited_sleep

__all__ = ["CURRENT", "OPERATORS", "cancelled", "idempotency_key", "limited_sleep", "log", "resolve_operator"]

Operator = Callable[[Mapping[str, Any], Mapping[str, Any]], Any]
CURRENT: Any = None  # the Task being run by this executor process (set by the executor)


def idempotency_key() -> str | None:
    """The idempotency key of the task this executor is running (None outside a task): stable across
    attempts of the same node or map item, for operators and callables (``builtin.call``) whose effects
    must happen once even if the task runs again after an executor was killed (see docs/dag.md)."""
    task = CURRENT
    return None if task is None else str(task.idempotency_key)


def _passthrough(inputs: Mapping[str, Any]) -> Any:
    if not inputs:
        return None
    if len(inputs) == 1:
        return next(iter(inputs.values()))
    return dict(inputs)


def noop(params: Mapping[str, Any], inputs: Mapping[str, Any]) -> Any:
    return None


def identity(params: Mapping[str, Any], inputs: Mapping[str, Any]) -> Any:
    return _passthrough(inputs)


def const(params: Mapping[str, Any], inputs: Mapping[str, Any]) -> Any:
    return params.get("value")


def sleep(params: Mapping[str, Any], inputs: Mapping[str, Any]) -> Any:
    seconds = float(params.get("seconds", 0.0))
    if not 0 <= seconds <= 3600:
        raise UsageError(f"builtin.sleep: seconds must be within 0..3600, got {seconds}")
    if params.get("log"):
        log(f"sleeping {seconds:g} s", seconds=seconds)
    limited_sleep(seconds)  # the operator's job is to take time; ends at the task's limit
    return _passthrough(inputs)


def fail(params: Mapping[str, Any], inputs: Mapping[str, Any]) -> Any:
    p = float(params.get("probability", 1.0))
    rng = random.Random(params["seed"]) if "seed" in params else random
    if rng.random() < p:
        raise ExtensionFailed(str(params.get("message", "injected failure")), reason="injected")
    return _passthrough(inputs)


def hash_loop(params: Mapping[str, Any], inputs: Mapping[str, Any]) -> Any:
    rounds = int(params.get("rounds", 10_000))
    if not 0 <= rounds <= 100_000_000:
        raise UsageError(f"builtin.hash: rounds must be within 0..1e8, got {rounds}")
    digest = repr(_passthrough(inputs)).encode()
    for _ in range(rounds):
        digest = hashlib.blake2b(digest, digest_size=32).digest()
    return digest.hex()


def call(params: Mapping[str, Any], inputs: Mapping[str, Any]) -> Any:
    path = params.get("callable")
    if not isinstance(path, str):
        raise UsageError("builtin.call needs params.callable = 'module:function'")
    policy = callables.current()
    if not policy.allows(path):  # checked again here: a run resumed from a checkpoint was never re-validated
        raise PermissionDenied(policy.refusal(path), permission="callable", target=path)
    fn = load_factory(path)
    kwargs = dict(params.get("kwargs") or {})
    return fn(**{**inputs, **kwargs})  # type: ignore[call-arg]


def count(params: Mapping[str, Any], inputs: Mapping[str, Any]) -> Any:
    path = params.get("path")
    if not isinstance(path, str):
        raise UsageError("builtin.count needs params.path")
    task = CURRENT
    line = (f"{task.run_id} {task.node_id} {task.item}\n" if task else "? ? -1\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)  # one write with O_APPEND: atomic across executor processes
    finally:
        os.close(fd)
    return _passthrough(inputs)


OPERATORS: dict[str, Operator] = {
    "builtin.noop": noop,
    "builtin.identity": identity,
    "builtin.const": const,
    "builtin.sleep": sleep,
    "builtin.fail": fail,
    "builtin.hash": hash_loop,
    "builtin.call": call,
    "builtin.count": count,
}


def resolve_operator(node_type: str) -> Operator:
    op = OPERATORS.get(node_type)
    if op is not None:
        return op
    if node_type == "wfcommons.task" or node_type.startswith("wfcommons.task/"):
        return noop  # recorded workflow tasks are replayed as no-ops
    raise NotFoundError(f"no executor knows node type {node_type!r} (built-ins: {', '.join(sorted(OPERATORS))})",
                        node_type=node_type)
