"""Document -> model, checking every field and collecting every problem with its path (see :mod:`.formats`)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from symphony_actors.domain.errors import Problem, ProtocolError
from symphony_actors.domain.workflow.frozen import EMPTY, FrozenDict
from symphony_actors.domain.workflow.model import (
    Branch,
    Control,
    Edge,
    EdgeKind,
    Join,
    JoinMode,
    Map,
    Node,
    NodeKind,
    Port,
    RetryPolicy,
    Workflow,
)
from symphony_actors.domain.workflow.params import Param, ParamRef, ParamSchema, ParamType
from symphony_actors.domain.workflow.predicates import predicate_problems
from symphony_actors.domain.workflow.templates import Template


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on what a load accepts (hostile files must fail fast, not exhaust memory)."""

    max_bytes: int = 64 * 1024 * 1024          # encoded input (JSON text or binary frame)
    max_decompressed: int = 256 * 1024 * 1024  # binary payload after zstd
    max_depth: int = 64                        # nesting of params/meta values
    max_nodes: int = 200_000
    max_edges: int = 1_000_000
    max_string: int = 1024 * 1024              # one string, in characters


DEFAULT_LIMITS = Limits()


_KINDS = {k.value: k for k in NodeKind}
_DATA = EdgeKind.DATA
_EDGE_KINDS = {k.value: k for k in EdgeKind}
_PARAM_TYPES = {t.value: t for t in ParamType}


class _TooDeep(Exception):
    def __init__(self, path: str) -> None:
        self.path = path


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class _Reader:
    """Turns a document dict into model objects, collecting every problem with its path."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.problems: list[Problem] = []
        self.port_memo: dict[Any, tuple[Port, ...]] = {}
        self.str_memo: dict[str, str] = {}

    def bad(self, path: str, message: str, kind: str = "invalid") -> None:
        self.problems.append(Problem(path, message, kind))

    # ------------------------------------------------------------------ scalars

    def string(self, d: Mapping[str, Any], key: str, path: str, *, required: bool = True,
               default: str = "") -> str:
        if key not in d:
            if required:
                self.bad(_join(path, key), "missing")
            return default
        v = d[key]
        if not isinstance(v, str):
            self.bad(_join(path, key), f"expected a string, got {_kind(v)}")
            return default
        if len(v) > self.limits.max_string:
            self.bad(_join(path, key), f"string longer than {self.limits.max_string} characters")
            return default
        return v

    def number(self, v: Any, path: str, *, integer: bool = False, ref: bool = False) -> Any:
        if ref and isinstance(v, dict) and set(v) == {"$param"}:
            return self.param_ref(v, path)
        ok = isinstance(v, int) if integer else isinstance(v, int | float)
        if isinstance(v, bool) or not ok or (isinstance(v, float) and not math.isfinite(v)):
            self.bad(path, f"expected {'an integer' if integer else 'a finite number'}, got {_kind(v)}")
            return None
        return v

    def param_ref(self, v: dict[str, Any], path: str) -> ParamRef | None:
        name = v["$param"]
        if not isinstance(name, str) or not name.isidentifier() or len(name) > 128:
            self.bad(_join(path, "$param"), "a parameter reference needs a parameter name")
            return None
        return ParamRef(name)

    def value(self, v: Any, path: str, depth: int = 0) -> Any:
        """Free JSON data (params, meta): frozen, bounded, placeholders recognised."""
        if v is None or isinstance(v, bool):
            return v
        if isinstance(v, int):
            if not -(2**63) <= v < 2**64:
                self.bad(path, "integer out of the 64-bit range")
            return v
        if isinstance(v, str):
            if len(v) > self.limits.max_string:
                self.bad(path, f"string longer than {self.limits.max_string} characters")
            return v
        if isinstance(v, float):
            if not math.isfinite(v):
                self.bad(path, "not a finite number")
            return v
        if depth >= self.limits.max_depth:
            raise _TooDeep(path)
        if isinstance(v, list):
            if self.plain(v):  # the common case (file lists, arguments): no per-item path strings
                return tuple(v)
            return tuple([self.value(x, f"{path}[{i}]", depth + 1) for i, x in enumerate(v)])
        if isinstance(v, dict):
            if len(v) == 1 and "$param" in v:
                return self.param_ref(v, path)
            if type(v) is dict and (got := self.flat(v)) is not None:
                return got
            out = {}
            m = self.limits.max_string
            for k, x in v.items():
                if not isinstance(k, str):
                    self.bad(path, f"object keys must be strings, got {_kind(k)}")
                    continue
                t = type(x)
                if (t is str and len(x) <= m) or t is bool or x is None:  # no path string to build
                    out[k] = x
                    continue
                out[k] = self.value(x, f"{path}.{k}", depth + 1)
            return FrozenDict._wrap(out)
        self.bad(path, f"unsupported value of type {_kind(v)}")
        return None

    def plain(self, v: list[Any]) -> bool:
        """Whether every item of ``v`` is a plain scalar within the limits (nothing to name or freeze)."""
        m = self.limits.max_string
        for x in v:
            t = type(x)
            if not ((t is str and len(x) <= m) or (t is int and -(2**63) <= x < 2**64)
                    or (t is float and math.isfinite(x)) or t is bool or x is None):
                return False
        return True

    def flat(self, v: dict[str, Any]) -> FrozenDict[str, Any] | None:
        """A dict of string keys and plain scalars, frozen without recursion; ``None`` if it is not one."""
        m = self.limits.max_string
        for k, x in v.items():
            t = type(x)
            if type(k) is not str or not (
                    (t is str and len(x) <= m) or (t is int and -(2**63) <= x < 2**64)
                    or (t is float and math.isfinite(x)) or t is bool or x is None):
                return None
        return FrozenDict._wrap(dict(v))

    def obj(self, d: Mapping[str, Any], key: str, path: str) -> FrozenDict[str, Any]:
        if key not in d:
            return EMPTY
        v = d[key]
        if type(v) is dict:
            got = self.flat(v)
            if got is not None:
                return got
        p = _join(path, key)
        if not isinstance(v, dict):
            self.bad(p, f"expected an object, got {_kind(v)}")
            return EMPTY
        frozen = self.value(v, p, 0)
        return frozen if isinstance(frozen, FrozenDict) else EMPTY

    def unknown_keys(self, d: Mapping[str, Any], allowed: frozenset[str], path: str) -> None:
        for k in d:
            if k not in allowed:
                self.bad(_join(path, str(k)), "unknown field")

    # ------------------------------------------------------------------ parts

    def ports(self, d: Mapping[str, Any], key: str, path: str, is_input: bool) -> tuple[Port, ...]:
        v = d.get(key)
        if v is None:
            return ()
        p = _join(path, key)
        if not isinstance(v, dict):
            self.bad(p, f"expected an object of name -> type, got {_kind(v)}")
            return ()
        try:
            memo_key: Any = (is_input, tuple(v.items()))
            hash(memo_key)
        except TypeError:
            memo_key = None
        if memo_key is not None:
            got = self.port_memo.get(memo_key)
            if got is not None:
                return got
        out: list[Port] = []
        for name, spec in v.items():
            pp = f"{p}.{name}"
            if isinstance(spec, str):
                out.append(Port(name, spec, is_input))
            elif isinstance(spec, dict):
                self.unknown_keys(spec, _PORT_KEYS, pp)
                typ = self.string(spec, "type", pp, required=False, default="any")
                req = spec.get("required", is_input)
                multi = spec.get("multi", False)
                if not isinstance(req, bool):
                    self.bad(f"{pp}.required", "expected true or false")
                    req = is_input
                if not isinstance(multi, bool):
                    self.bad(f"{pp}.multi", "expected true or false")
                    multi = False
                out.append(Port(name, typ, req, multi, self.string(spec, "description", pp, required=False)))
            else:
                self.bad(pp, f"expected a type name or an object, got {_kind(spec)}")
        result = tuple(out)
        if memo_key is not None:
            self.port_memo[memo_key] = result
        return result

    def control(self, v: Any, path: str) -> Control | None:
        if not isinstance(v, dict):
            self.bad(path, f"expected an object, got {_kind(v)}")
            return None
        kind = v.get("kind")
        if kind == "branch":
            self.unknown_keys(v, frozenset({"kind"}), path)
            return Branch()
        if kind == "join":
            self.unknown_keys(v, frozenset({"kind", "mode"}), path)
            mode = v.get("mode", "all")
            if mode not in ("all", "any"):
                self.bad(f"{path}.mode", f"join mode must be 'all' or 'any', got {_short(mode)}")
                return None
            return Join(JoinMode(mode))
        if kind == "map":
            self.unknown_keys(v, frozenset({"kind", "max_items", "concurrency"}), path)
            cap = v.get("max_items")
            conc = v.get("concurrency")
            return Map(None if cap is None else self.number(cap, f"{path}.max_items", integer=True, ref=True),
                       None if conc is None else self.number(conc, f"{path}.concurrency", integer=True, ref=True))
        self.bad(f"{path}.kind", f"control kind must be branch, join or map, got {_short(kind)}")
        return None

    def retry(self, v: Any, path: str) -> RetryPolicy | None:
        if not isinstance(v, dict):
            self.bad(path, f"expected an object, got {_kind(v)}")
            return None
        self.unknown_keys(v, _RETRY_KEYS, path)
        default = RetryPolicy()
        retries = self.number(v.get("retries", default.retries), f"{path}.retries", integer=True, ref=True)
        backoff = self.number(v.get("backoff_s", default.backoff_s), f"{path}.backoff_s")
        mult = self.number(v.get("multiplier", default.multiplier), f"{path}.multiplier")
        cap = self.number(v.get("max_backoff_s", default.max_backoff_s), f"{path}.max_backoff_s")
        codes = v.get("retry_on", [])
        if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
            self.bad(f"{path}.retry_on", "expected a list of error codes (strings)")
            codes = []
        if retries is None or backoff is None or mult is None or cap is None:
            return None
        return RetryPolicy(retries, backoff, mult, cap, tuple(codes))

    def node(self, d: Any, path: str) -> Node | None:
        # Fast path: the common node (id, kind, type, flat params, ports); anything else takes the full route.
        if type(d) is dict and d.keys() <= _COMMON_NODE_KEYS:
            nid, typ, ks = d.get("id"), d.get("type"), d.get("kind", "operator")
            kind = _KINDS.get(ks) if type(ks) is str else None
            m = self.limits.max_string
            if type(nid) is str and type(typ) is str and kind is not None and len(nid) <= m and len(typ) <= m:
                pv = d.get("params")
                params = EMPTY if "params" not in d else (self.flat(pv) if type(pv) is dict else None)
                if params is not None:
                    before = len(self.problems)
                    inputs = self.ports(d, "inputs", path, True) if "inputs" in d else ()
                    outputs = self.ports(d, "outputs", path, False) if "outputs" in d else ()
                    if len(self.problems) != before:
                        return None
                    return Node(nid, kind, self.str_memo.setdefault(typ, typ), params, inputs, outputs)
        if not isinstance(d, dict):
            self.bad(path, f"expected a node object, got {_kind(d)}")
            return None
        before = len(self.problems)
        if len(d) > 6 or not d.keys() <= _COMMON_NODE_KEYS:
            self.unknown_keys(d, _NODE_KEYS, path)
        nid = self.string(d, "id", path)
        kind_s = d.get("kind", "operator")
        kind = _KINDS.get(kind_s) if isinstance(kind_s, str) else None
        if kind is None:
            self.bad(f"{path}.kind", f"node kind must be instrument, operator or control, got {_short(kind_s)}")
        control = self.control(d["control"], f"{path}.control") if "control" in d else None
        default_type = f"builtin.{control.kind}" if control is not None else ""
        typ = self.string(d, "type", path, required=not default_type, default=default_type)
        if typ:
            typ = self.str_memo.setdefault(typ, typ)
        params = self.obj(d, "params", path) if "params" in d else EMPTY
        inputs = self.ports(d, "inputs", path, True) if "inputs" in d else ()
        outputs = self.ports(d, "outputs", path, False) if "outputs" in d else ()
        retry = self.retry(d["retry"], f"{path}.retry") if "retry" in d else None
        timeout = self.number(d["timeout_s"], f"{path}.timeout_s", ref=True) if "timeout_s" in d else None
        label = self.string(d, "label", path, required=False) if "label" in d else ""
        meta = self.obj(d, "meta", path) if "meta" in d else EMPTY
        if len(self.problems) != before or kind is None:
            return None
        return Node(nid, kind, typ, params, inputs, outputs, control, retry, timeout, label, meta)

    def edge(self, d: Any, path: str) -> Edge | None:
        # Fast path: the common data edge, four short strings (the full checks below give the same verdict).
        if type(d) is dict and len(d) == 4:
            src, sp, tgt, tp = d.get("source"), d.get("source_port"), d.get("target"), d.get("target_port")
            if type(src) is str and type(sp) is str and type(tgt) is str and type(tp) is str:
                m = self.limits.max_string
                if len(src) <= m and len(sp) <= m and len(tgt) <= m and len(tp) <= m:
                    return Edge(src, tgt, _DATA, sp, tp)
        if not isinstance(d, dict):
            self.bad(path, f"expected an edge object, got {_kind(d)}")
            return None
        before = len(self.problems)
        if not d.keys() <= _EDGE_KEYS:
            self.unknown_keys(d, _EDGE_KEYS, path)
        kind_s = d.get("kind", "data")
        kind = _EDGE_KINDS.get(kind_s) if isinstance(kind_s, str) else None
        if kind is None:
            self.bad(f"{path}.kind", f"edge kind must be data, control or conditional, got {_short(kind_s)}")
        src = self.string(d, "source", path)
        tgt = self.string(d, "target", path)
        is_data = kind is EdgeKind.DATA
        sp = self.string(d, "source_port", path, required=is_data) if is_data or "source_port" in d else None
        tp = self.string(d, "target_port", path, required=is_data) if is_data or "target_port" in d else None
        when = None
        if "when" in d:
            when, problems = predicate_problems(d["when"], f"{path}.when")
            self.problems.extend(problems)
        if len(self.problems) != before or kind is None:
            return None
        return Edge(src, tgt, kind, sp, tp, when)

    def workflow(self, d: Any, path: str) -> Workflow | None:
        if not isinstance(d, dict):
            self.bad(path, f"expected a workflow object, got {_kind(d)}")
            return None
        name = self.string(d, "name", path)
        description = self.string(d, "description", path, required=False)
        entries_v = d.get("entries", [])
        entries: tuple[str, ...] = ()
        if not isinstance(entries_v, list) or not all(isinstance(x, str) for x in entries_v):
            self.bad(_join(path, "entries"), "expected a list of node ids")
        else:
            entries = tuple(entries_v)
        meta = self.obj(d, "meta", path)
        nodes_v = d.get("nodes", [])
        edges_v = d.get("edges", [])
        if not isinstance(nodes_v, list):
            self.bad(_join(path, "nodes"), f"expected a list, got {_kind(nodes_v)}")
            nodes_v = []
        if not isinstance(edges_v, list):
            self.bad(_join(path, "edges"), f"expected a list, got {_kind(edges_v)}")
            edges_v = []
        if len(nodes_v) > self.limits.max_nodes:
            raise ProtocolError(f"{len(nodes_v)} nodes: more than the limit of {self.limits.max_nodes}",
                                reason="oversize", path=_join(path, "nodes"))
        if len(edges_v) > self.limits.max_edges:
            raise ProtocolError(f"{len(edges_v)} edges: more than the limit of {self.limits.max_edges}",
                                reason="oversize", path=_join(path, "edges"))
        np_ = _join(path, "nodes")
        ep = _join(path, "edges")
        nodes = [self.node(x, f"{np_}[{i}]") for i, x in enumerate(nodes_v)]
        edges = [self.edge(x, f"{ep}[{i}]") for i, x in enumerate(edges_v)]
        if self.problems:
            return None
        return Workflow(name, tuple(nodes), tuple(edges), description, entries, meta)  # type: ignore[arg-type]

    def param_decl(self, d: Any, path: str) -> Param | None:
        if not isinstance(d, dict):
            self.bad(path, f"expected a parameter object, got {_kind(d)}")
            return None
        before = len(self.problems)
        self.unknown_keys(d, _PARAM_KEYS, path)
        name = self.string(d, "name", path)
        t = d.get("type", "any")
        ptype = _PARAM_TYPES.get(t) if isinstance(t, str) else None
        if ptype is None:
            self.bad(f"{path}.type", f"parameter type must be one of {', '.join(_PARAM_TYPES)}, got {_short(t)}")
        items_v = d.get("items")
        items = _PARAM_TYPES.get(items_v) if isinstance(items_v, str) else None
        if items_v is not None and items is None:
            self.bad(f"{path}.items", f"item type must be one of {', '.join(_PARAM_TYPES)}")
        required = d.get("required", False)
        if not isinstance(required, bool):
            self.bad(f"{path}.required", "expected true or false")
        bounds: dict[str, Any] = {}
        for key, integer in (("minimum", False), ("maximum", False), ("min_length", True), ("max_length", True)):
            if key in d:
                bounds[key] = self.number(d[key], f"{path}.{key}", integer=integer)
        choices = d.get("choices")
        if choices is not None and not isinstance(choices, list):
            self.bad(f"{path}.choices", "expected a list")
        default = self.value(d.get("default"), f"{path}.default")
        description = self.string(d, "description", path, required=False)
        if len(self.problems) != before or ptype is None:
            return None
        return Param(name, ptype, default, bool(required), description, choices=(
            tuple(self.value(c, f"{path}.choices[{i}]") for i, c in enumerate(choices))
            if isinstance(choices, list) else None), items=items, **bounds)

    def template(self, d: dict[str, Any]) -> Template | None:
        self.unknown_keys(d, _TEMPLATE_KEYS, "")
        name = self.string(d, "name", "")
        description = self.string(d, "description", "", required=False)
        version = self.string(d, "template_version", "", required=False, default="1")
        meta = self.obj(d, "meta", "")
        params_v = d.get("params", [])
        if not isinstance(params_v, list):
            self.bad("params", f"expected a list, got {_kind(params_v)}")
            params_v = []
        params = [self.param_decl(p, f"params[{i}]") for i, p in enumerate(params_v)]
        closed = d.get("params_closed", True)
        if not isinstance(closed, bool):
            self.bad("params_closed", "expected true or false")
        body = d.get("workflow")
        wf = self.workflow(body, "workflow") if body is not None else None
        if body is None:
            self.bad("workflow", "missing")
        if self.problems or wf is None:
            return None
        return Template(name, wf, ParamSchema(tuple(params), bool(closed)), description, version,  # type: ignore[arg-type]
                        meta)


_PORT_KEYS = frozenset({"type", "required", "multi", "description"})
_RETRY_KEYS = frozenset({"retries", "backoff_s", "multiplier", "max_backoff_s", "retry_on"})
_COMMON_NODE_KEYS = frozenset({"id", "kind", "type", "params", "inputs", "outputs"})
_NODE_KEYS = _COMMON_NODE_KEYS | {"control", "retry", "timeout_s", "label", "meta"}
_EDGE_KEYS = frozenset({"kind", "source", "source_port", "target", "target_port", "when"})
_WORKFLOW_KEYS = frozenset({"format", "version", "name", "description", "entries", "meta", "nodes", "edges"})
_TEMPLATE_KEYS = frozenset({"format", "version", "name", "description", "template_version", "meta", "params",
                            "params_closed", "workflow"})
_PARAM_KEYS = frozenset({"name", "type", "default", "required", "description", "minimum", "maximum",
                         "min_length", "max_length", "choices", "items"})


def _kind(v: Any) -> str:
    if v is None:
        return "null"
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array",
            dict: "object"}.get(type(v), type(v).__name__)


def _short(v: Any) -> str:
    r = repr(v)
    return r if len(r) <= 40 else r[:37] + "..."
