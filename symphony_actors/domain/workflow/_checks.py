"""The element-by-element checks of :mod:`.validate`: every node- and edge-local problem, each named by its
path, and the problem kinds."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from symphony_actors.domain.errors import Problem
from symphony_actors.domain.workflow.catalog import Catalog
from symphony_actors.domain.workflow.frozen import FrozenDict
from symphony_actors.domain.workflow.model import (
    Branch,
    EdgeKind,
    Join,
    JoinMode,
    Map,
    Node,
    NodeKind,
    Port,
    Workflow,
    types_compatible,
)
from symphony_actors.domain.workflow.params import ParamRef

NODE_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_:@+-]{0,255}")
NODE_TYPE = re.compile(r"[a-z0-9][a-z0-9_-]*(?:\.[a-z0-9][a-z0-9_-]*)+(?:/[A-Za-z0-9_][A-Za-z0-9_.:+-]{0,127})?")
PORT_NAME = re.compile(r"[^\s\x00-\x1f\x7f]{1,256}")
PORT_TYPE = re.compile(r"[a-z][a-z0-9_./\[\], -]{0,127}")
MAX_RETRIES = 100
_SCAN_TYPES = frozenset({ParamRef, FrozenDict, dict, tuple, list})


class ProblemKind:
    """The ``kind`` of each :class:`Problem` validation reports."""

    CYCLE = "cycle"                           # edges form a cycle; the message shows its path
    DANGLING = "dangling"                     # an edge or entry names a node that does not exist
    DUPLICATE = "duplicate"                   # a node id, port name or edge appears twice
    UNKNOWN_PORT = "unknown_port"             # a data edge names a port the node does not have
    TYPE_MISMATCH = "type_mismatch"           # a data edge joins ports of incompatible types
    PORT_CONFLICT = "port_conflict"           # several data edges into a single-valued input
    UNCONNECTED_INPUT = "unconnected_input"   # a required input has no data edge
    MISSING_PREDICATE = "missing_predicate"   # a conditional edge without a predicate
    INVALID_PREDICATE = "invalid_predicate"   # a predicate that does not parse
    INVALID_PARAM = "invalid_param"           # a parameter breaks its schema
    UNRESOLVED_PARAM = "unresolved_param"     # a template parameter reference left in a workflow
    UNREACHABLE = "unreachable"               # a node no run can reach (behind a cycle or not from an entry)
    UNCAPPED_FANOUT = "uncapped_fanout"       # a map node without max_items
    UNKNOWN_TYPE = "unknown_type"             # a node type the (strict) catalog does not know
    INVALID = "invalid"                       # any other malformed field


_Local = tuple[list[str], dict[str, int], list[list[int]], list[int],
               list[tuple[int, int]] | tuple[list[int], list[int]]]


def _local_slow(wf: Workflow, cat: Catalog, problems: list[Problem]) -> _Local:
    """Every node- and edge-local problem, one element at a time; also builds the adjacency."""
    add = problems.append
    nodes = wf.nodes
    n = len(nodes)
    index: dict[str, int] = {}
    ids: list[str] = []
    in_ports: list[dict[str, Port]] = []
    out_ports: list[dict[str, Port]] = []
    port_cache: dict[int, dict[str, Port]] = {}
    good_types: set[str] = set()
    branches: list[int] = []

    id_match = NODE_ID.fullmatch
    for i, node in enumerate(nodes):
        nid = node.id
        ids.append(nid)
        if nid in index:
            add(Problem(f"nodes[{i}].id", f"duplicate node id {nid!r} (first used by nodes[{index[nid]}])",
                        ProblemKind.DUPLICATE))
        else:
            index[nid] = i
            if not (isinstance(nid, str) and id_match(nid)):
                add(Problem(f"nodes[{i}].id", f"bad node id {nid!r}: use letters, digits, '_', '-', ':' "
                                              "(no dots), at most 256 characters", ProblemKind.INVALID))
        ins = port_cache.get(id(node.inputs))
        if ins is None:
            ins = _ports(node.inputs, f"nodes[{i}].inputs", problems)
            if ins is not None:
                port_cache[id(node.inputs)] = ins
            else:
                ins = {p.name: p for p in node.inputs}
        outs = port_cache.get(id(node.outputs))
        if outs is None:
            outs = _ports(node.outputs, f"nodes[{i}].outputs", problems)
            if outs is not None:
                port_cache[id(node.outputs)] = outs
            else:
                outs = {p.name: p for p in node.outputs}
        in_ports.append(ins)
        out_ports.append(outs)
        typ = node.type
        if typ not in good_types:
            if isinstance(typ, str) and NODE_TYPE.fullmatch(typ):
                good_types.add(typ)
            else:
                add(Problem(f"nodes[{i}].type", f"bad node type {typ!r}: expected 'publisher.ext' or "
                                                "'publisher.ext/node'", ProblemKind.INVALID))
        spec = cat.types.get(typ)
        if spec is None:
            if cat.strict:
                add(Problem(f"nodes[{i}].type", f"unknown node type {typ!r}", ProblemKind.UNKNOWN_TYPE))
        else:
            if spec.kind != node.kind:
                add(Problem(f"nodes[{i}].kind", f"node type {typ!r} is a {spec.kind} node, not {node.kind}",
                            ProblemKind.INVALID))
            if not spec.params.quick_ok(node.params):
                problems.extend(spec.params.check(node.params, f"nodes[{i}].params"))
        params = node.params
        if params:
            for v in params.values():
                if type(v) in _SCAN_TYPES:  # only containers and placeholders can hold a placeholder
                    _scan_refs(params, f"nodes[{i}].params", problems)
                    break
        if node.kind is not NodeKind.OPERATOR or node.control is not None or node.retry is not None \
                or node.timeout_s is not None:
            _node_extras(node, i, problems)
            if isinstance(node.control, Branch):
                branches.append(i)

    edges = wf.edges
    succ: list[list[int]] = [[] for _ in range(n)]
    indeg = [0] * n
    edge_ends: list[tuple[int, int]] = []
    filled: dict[tuple[int, str], int] = {}
    other_pairs: set[tuple[int, int, str]] = set()
    cond_sources: set[int] = set()
    DATA, CONTROL, CONDITIONAL = EdgeKind.DATA, EdgeKind.CONTROL, EdgeKind.CONDITIONAL
    get = index.get
    for j, e in enumerate(edges):
        s = get(e.source)
        t = get(e.target)
        if s is None or t is None:
            if s is None:
                add(Problem(f"edges[{j}].source", f"no node {e.source!r}", ProblemKind.DANGLING))
            if t is None:
                add(Problem(f"edges[{j}].target", f"no node {e.target!r}", ProblemKind.DANGLING))
            edge_ends.append((-1, -1))
            continue
        edge_ends.append((s, t))
        succ[s].append(t)
        indeg[t] += 1
        kind = e.kind
        if kind == DATA:
            if e.when is not None:
                add(Problem(f"edges[{j}].when", "only conditional edges carry a predicate", ProblemKind.INVALID))
            sp = out_ports[s].get(e.source_port)  # type: ignore[arg-type]  # None is simply not found
            tp = in_ports[t].get(e.target_port)  # type: ignore[arg-type]  # as above
            if sp is None:
                add(Problem(f"edges[{j}].source_port", f"node {e.source!r} has no output {e.source_port!r}"
                            + _choices(out_ports[s]), ProblemKind.UNKNOWN_PORT))
            if tp is None:
                add(Problem(f"edges[{j}].target_port", f"node {e.target!r} has no input {e.target_port!r}"
                            + _choices(in_ports[t]), ProblemKind.UNKNOWN_PORT))
                continue
            key = (t, tp.name)
            first = filled.get(key)
            if first is None:
                filled[key] = j
            elif not tp.multi:
                add(Problem(f"edges[{j}].target_port", f"input {e.target}.{tp.name} already fed by "
                                                       f"edges[{first}] and does not accept many",
                            ProblemKind.PORT_CONFLICT))
            if sp is not None and sp.type != tp.type and not types_compatible(sp.type, tp.type):
                add(Problem(f"edges[{j}]", f"type mismatch: {e.source}.{sp.name} is {sp.type!r} but "
                                           f"{e.target}.{tp.name} expects {tp.type!r}", ProblemKind.TYPE_MISMATCH))
        else:
            if e.source_port is not None or e.target_port is not None:
                add(Problem(f"edges[{j}]", f"a {kind} edge has no ports", ProblemKind.INVALID))
            if kind == CONDITIONAL:
                cond_sources.add(s)
                if e.when is None:
                    add(Problem(f"edges[{j}].when", "conditional edge without a predicate",
                                ProblemKind.MISSING_PREDICATE))
            elif kind == CONTROL:
                if e.when is not None:
                    add(Problem(f"edges[{j}].when", "only conditional edges carry a predicate",
                                ProblemKind.INVALID))
            else:
                add(Problem(f"edges[{j}].kind", f"unknown edge kind {kind!r}", ProblemKind.INVALID))
            pair = (s, t, str(kind))
            if pair in other_pairs:
                add(Problem(f"edges[{j}]", f"duplicate {kind} edge {e.source} -> {e.target}", ProblemKind.DUPLICATE))
            other_pairs.add(pair)

    # Required inputs left unconnected.
    for i, ins in enumerate(in_ports):
        for name, port in ins.items():
            if port.required and (i, name) not in filled:
                add(Problem(f"nodes[{i}].inputs.{name}", f"required input {ids[i]}.{name} has no data edge",
                            ProblemKind.UNCONNECTED_INPUT))

    # Branch nodes must route by conditional edges.
    for i in branches:
        if i not in cond_sources:
            add(Problem(f"nodes[{i}]", f"branch node {ids[i]!r} has no outgoing conditional edge",
                        ProblemKind.INVALID))

    return ids, index, succ, indeg, edge_ends


def _choices(ports: Mapping[str, Port]) -> str:
    if not ports:
        return " (it has none)"
    names = list(ports)
    return f" (it has {', '.join(names[:8])}{', ...' if len(names) > 8 else ''})"


def _ports(ports: tuple[Port, ...], path: str, problems: list[Problem]) -> dict[str, Port] | None:
    """Name -> port, or ``None`` (after recording problems) when names repeat or are malformed."""
    out: dict[str, Port] = {}
    ok = True
    for p in ports:
        if not isinstance(p.name, str) or not PORT_NAME.fullmatch(p.name):
            problems.append(Problem(f"{path}", f"bad port name {p.name!r}", ProblemKind.INVALID))
            ok = False
            continue
        if p.name in out:
            problems.append(Problem(f"{path}.{p.name}", f"duplicate port {p.name!r}", ProblemKind.DUPLICATE))
            ok = False
        if not isinstance(p.type, str) or not PORT_TYPE.fullmatch(p.type):
            problems.append(Problem(f"{path}.{p.name}.type", f"bad port type {p.type!r}", ProblemKind.INVALID))
            ok = False
        out.setdefault(p.name, p)
    return out if ok else None


def _scan_refs(value: Any, path: str, problems: list[Problem]) -> None:
    """Report template parameter references left in a workflow's params."""
    if isinstance(value, FrozenDict | dict):
        for k, v in value.items():
            if isinstance(v, ParamRef | FrozenDict | dict | tuple | list):
                _scan_refs(v, f"{path}.{k}", problems)
    elif isinstance(value, tuple | list):
        for k, v in enumerate(value):
            if isinstance(v, ParamRef | FrozenDict | dict | tuple | list):
                _scan_refs(v, f"{path}[{k}]", problems)
    elif isinstance(value, ParamRef):
        problems.append(Problem(path, f"unresolved template parameter {value.name!r}", ProblemKind.UNRESOLVED_PARAM))


def _positive(value: Any, path: str, what: str, problems: list[Problem], *, integer: bool,
              allow_zero: bool = False) -> None:
    if isinstance(value, ParamRef):
        problems.append(Problem(path, f"unresolved template parameter {value.name!r}", ProblemKind.UNRESOLVED_PARAM))
        return
    number = isinstance(value, int) if integer else isinstance(value, int | float)
    if isinstance(value, bool) or not number or not math.isfinite(value) or value < 0 \
            or (value == 0 and not allow_zero):
        need = "an integer" if integer else "a number"
        add = " >= 0" if allow_zero else " > 0"
        problems.append(Problem(path, f"{what} must be {need}{add}, got {value!r}", ProblemKind.INVALID))


def _node_extras(node: Node, i: int, problems: list[Problem]) -> None:
    """Kind/control consistency, retry policy and timeout."""
    p = f"nodes[{i}]"
    kind = node.kind
    if kind not in (NodeKind.INSTRUMENT, NodeKind.OPERATOR, NodeKind.CONTROL):
        problems.append(Problem(f"{p}.kind", f"unknown node kind {kind!r}", ProblemKind.INVALID))
    ctl = node.control
    if kind is NodeKind.CONTROL:
        if ctl is None:
            problems.append(Problem(f"{p}.control", "a control node needs a control spec (branch, join or map)",
                                    ProblemKind.INVALID))
        elif isinstance(ctl, Map):
            if ctl.max_items is None:
                problems.append(Problem(f"{p}.control.max_items", f"map node {node.id!r} fans out without a cap "
                                                                  "(set max_items)", ProblemKind.UNCAPPED_FANOUT))
            else:
                _positive(ctl.max_items, f"{p}.control.max_items", "max_items", problems, integer=True)
            if ctl.concurrency is not None:
                _positive(ctl.concurrency, f"{p}.control.concurrency", "concurrency", problems, integer=True)
        elif isinstance(ctl, Join):
            if ctl.mode not in (JoinMode.ALL, JoinMode.ANY):
                problems.append(Problem(f"{p}.control.mode", f"join mode must be all or any, got {ctl.mode!r}",
                                        ProblemKind.INVALID))
        elif not isinstance(ctl, Branch):
            problems.append(Problem(f"{p}.control", f"unknown control spec {ctl!r}", ProblemKind.INVALID))
    elif ctl is not None:
        problems.append(Problem(f"{p}.control", f"only control nodes have a control spec ({node.id!r} is {kind})",
                                ProblemKind.INVALID))
    r = node.retry
    if r is not None:
        _positive(r.retries, f"{p}.retry.retries", "retries", problems, integer=True, allow_zero=True)
        if isinstance(r.retries, int) and r.retries > MAX_RETRIES:
            problems.append(Problem(f"{p}.retry.retries", f"at most {MAX_RETRIES} retries", ProblemKind.INVALID))
        _positive(r.backoff_s, f"{p}.retry.backoff_s", "backoff_s", problems, integer=False, allow_zero=True)
        _positive(r.max_backoff_s, f"{p}.retry.max_backoff_s", "max_backoff_s", problems, integer=False,
                  allow_zero=True)
        if isinstance(r.multiplier, bool) or not isinstance(r.multiplier, int | float) \
                or not math.isfinite(r.multiplier) or r.multiplier < 1:
            problems.append(Problem(f"{p}.retry.multiplier", f"multiplier must be >= 1, got {r.multiplier!r}",
                                    ProblemKind.INVALID))
        for k, code in enumerate(r.retry_on):
            if not isinstance(code, str) or not code:
                problems.append(Problem(f"{p}.retry.retry_on[{k}]", "error codes are non-empty strings",
                                        ProblemKind.INVALID))
    if node.timeout_s is not None:
        _positive(node.timeout_s, f"{p}.timeout_s", "timeout_s", problems, integer=False)
