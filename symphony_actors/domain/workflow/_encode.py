"""Model -> document: the plain data that JSON and binary both encode (see :mod:`.formats`)."""

from __future__ import annotations

from typing import Any

from symphony_actors.domain.workflow.frozen import FrozenDict
from symphony_actors.domain.workflow.model import Control, Edge, EdgeKind, Join, Map, Node, Port, RetryPolicy, Workflow
from symphony_actors.domain.workflow.params import Param, ParamRef


def _out(value: Any) -> Any:
    """Frozen value -> plain JSON data (ParamRef -> {"$param": name})."""
    if isinstance(value, FrozenDict):
        return {k: _out(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_out(v) for v in value]
    if isinstance(value, ParamRef):
        return {"$param": value.name}
    return value


def _port_out(p: Port, is_input: bool) -> Any:
    if p.required == is_input and not p.multi and not p.description:
        return p.type
    d: dict[str, Any] = {"type": p.type}
    if p.required != is_input:
        d["required"] = p.required
    if p.multi:
        d["multi"] = True
    if p.description:
        d["description"] = p.description
    return d


def _control_out(c: Control) -> dict[str, Any]:
    if isinstance(c, Join):
        return {"kind": "join", "mode": str(c.mode)}
    if isinstance(c, Map):
        d: dict[str, Any] = {"kind": "map"}
        if c.max_items is not None:
            d["max_items"] = _out(c.max_items)
        if c.concurrency is not None:
            d["concurrency"] = _out(c.concurrency)
        return d
    return {"kind": "branch"}


def _retry_out(r: RetryPolicy) -> dict[str, Any]:
    d: dict[str, Any] = {"retries": _out(r.retries)}
    default = RetryPolicy()
    if r.backoff_s != default.backoff_s:
        d["backoff_s"] = r.backoff_s
    if r.multiplier != default.multiplier:
        d["multiplier"] = r.multiplier
    if r.max_backoff_s != default.max_backoff_s:
        d["max_backoff_s"] = r.max_backoff_s
    if r.retry_on:
        d["retry_on"] = list(r.retry_on)
    return d


def _node_out(n: Node, ports_memo: dict[int, Any]) -> dict[str, Any]:
    d: dict[str, Any] = {"id": n.id, "kind": str(n.kind), "type": n.type}
    if n.params:
        d["params"] = _out(n.params)
    if n.inputs:
        key = id(n.inputs)
        got = ports_memo.get(key)
        if got is None:
            got = ports_memo[key] = {p.name: _port_out(p, True) for p in n.inputs}
        d["inputs"] = got
    if n.outputs:
        key = id(n.outputs)
        got = ports_memo.get(key)
        if got is None:
            got = ports_memo[key] = {p.name: _port_out(p, False) for p in n.outputs}
        d["outputs"] = got
    if n.control is not None:
        d["control"] = _control_out(n.control)
    if n.retry is not None:
        d["retry"] = _retry_out(n.retry)
    if n.timeout_s is not None:
        d["timeout_s"] = _out(n.timeout_s)
    if n.label:
        d["label"] = n.label
    if n.meta:
        d["meta"] = _out(n.meta)
    return d


def _edge_out(e: Edge) -> dict[str, Any]:
    d: dict[str, Any] = {}
    if e.kind is not EdgeKind.DATA:
        d["kind"] = str(e.kind)
    d["source"] = e.source
    if e.source_port is not None:
        d["source_port"] = e.source_port
    d["target"] = e.target
    if e.target_port is not None:
        d["target_port"] = e.target_port
    if e.when is not None:
        d["when"] = e.when.to_data()
    return d


def _workflow_body(wf: Workflow) -> dict[str, Any]:
    d: dict[str, Any] = {"name": wf.name}
    if wf.description:
        d["description"] = wf.description
    if wf.entries:
        d["entries"] = list(wf.entries)
    if wf.meta:
        d["meta"] = _out(wf.meta)
    memo: dict[int, Any] = {}
    d["nodes"] = [_node_out(n, memo) for n in wf.nodes]
    d["edges"] = [_edge_out(e) for e in wf.edges]
    return d


def _param_out(p: Param) -> dict[str, Any]:
    d: dict[str, Any] = {"name": p.name, "type": str(p.type)}
    if p.required:
        d["required"] = True
    if p.default is not None:
        d["default"] = _out(p.default)
    for key in ("description", "minimum", "maximum", "min_length", "max_length"):
        v = getattr(p, key)
        if v is not None and v != "":
            d[key] = v
    if p.choices is not None:
        d["choices"] = _out(p.choices)
    if p.items is not None:
        d["items"] = str(p.items)
    return d
