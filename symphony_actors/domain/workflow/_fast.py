"""The bulk fast pass of :mod:`.validate`: proves that a workflow has no node- or edge-local problem with
column-wise builtins (``map``, ``zip``, ``set``, ``Counter``, ``itemgetter`` run in C), or gives up so that
the element-by-element pass can name the problems. Both must agree (``tests/property``)."""

from __future__ import annotations

import re
from collections import Counter, deque
from collections.abc import Mapping
from itertools import chain, compress, repeat
from operator import attrgetter, is_, is_not, itemgetter, methodcaller
from typing import Any, cast

from symphony_actors.domain.errors import Problem
from symphony_actors.domain.workflow._checks import (
    _SCAN_TYPES,
    NODE_TYPE,
    _Local,
    _node_extras,
    _ports,
    _scan_refs,
)
from symphony_actors.domain.workflow.catalog import Catalog
from symphony_actors.domain.workflow.model import (
    Branch,
    EdgeKind,
    NodeKind,
    Port,
    Workflow,
    types_compatible,
)
from symphony_actors.domain.workflow.params import ParamRef


def _local_fast(wf: Workflow, cat: Catalog) -> _Local | None:
    """The local checks of :func:`_local_slow` done in bulk (C-level ``map``/``set``/``zip``), for the common
    case of a workflow without local problems. ``None`` as soon as anything might be wrong."""
    nodes, edges = wf.nodes, wf.edges
    n, m = len(nodes), len(edges)
    ids = list(map(_ID, nodes))
    index = dict(zip(ids, range(n), strict=True))
    if len(index) != n or (n and set(map(type, ids)) != {str}):
        return None
    if n and not _ALL_IDS.fullmatch("\n".join(ids) + "\n"):
        return None
    # Ports: validated once per distinct tuple object (decoders share equal tuples between nodes).
    in_tuples = list(map(_INPUTS, nodes))
    out_tuples = list(map(_OUTPUTS, nodes))
    maps: dict[int, dict[str, Port]] = {}
    type_maps: dict[int, dict[str, str]] = {}
    required: dict[int, int] = {}
    all_required = True
    for tup in {**dict(zip(map(id, in_tuples), in_tuples, strict=True)),
                **dict(zip(map(id, out_tuples), out_tuples, strict=True))}.values():
        pm = _ports(tup, "", [])
        if pm is None:
            return None
        maps[id(tup)] = pm
        type_maps[id(tup)] = {p.name: p.type for p in tup}
        required[id(tup)] = sum(p.required for p in tup)
    for tup in dict(zip(map(id, in_tuples), in_tuples, strict=True)).values():
        all_required = all_required and all(p.required for p in tup)
    # Types, kinds and params (column by column per node type).
    types = list(map(_TYPE, nodes))
    kinds = list(map(_KIND, nodes))
    distinct = set(types)
    for typ in distinct:
        if not (isinstance(typ, str) and NODE_TYPE.fullmatch(typ)):
            return None
        if cat.strict and typ not in cat.types:
            return None
    for typ, kind in set(zip(types, kinds, strict=True)):
        spec = cat.types.get(typ)
        if spec is not None and spec.kind != kind:
            return None
    try:  # every params a FrozenDict (as decoders and the builder make them): their dicts
        params: list[Mapping[str, Any]] = list(map(_D, map(_PARAMS, nodes)))
    except AttributeError:
        return None
    checked = [typ for typ in distinct if typ in cat.types]
    groups: dict[str, list[Mapping[str, Any]]] = {}
    if checked:
        if len(distinct) == 1:
            groups = {checked[0]: params}
        else:
            groups = {typ: [] for typ in checked}
            for typ, p in zip(types, params, strict=True):
                g = groups.get(typ)
                if g is not None:
                    g.append(p)
    seen_types: set[type] = set()
    all_closed = len(checked) == len(distinct)
    if checked:
        for typ, group in groups.items():
            schema = cat.types[typ].params
            got = schema.bulk_types(group)
            if got is None:
                return None
            seen_types |= got
            all_closed = all_closed and schema.closed
    if not all_closed:  # values the schemas did not see: look at their types too
        seen_types = set(map(type, chain.from_iterable(map(methodcaller("values"), params))))
    if ParamRef in seen_types:
        return None
    if not _SCAN_TYPES.isdisjoint(seen_types):  # containers: look inside those params for placeholders
        found: list[Problem] = []
        for p in params:
            if not _SCAN_TYPES.isdisjoint(map(type, p.values())):
                _scan_refs(p, "", found)
                if found:
                    return None
    # Kind, control, retry, timeout: only the nodes that have any.
    branches: list[int] = []
    controls = list(map(_CONTROL, nodes))
    if kinds.count(NodeKind.OPERATOR) != n or controls.count(None) != n \
            or list(map(_RETRY, nodes)).count(None) != n or list(map(_TIMEOUT, nodes)).count(None) != n:
        extra: list[Problem] = []
        for i, node in enumerate(nodes):
            if node.kind != NodeKind.OPERATOR or node.control is not None or node.retry is not None \
                    or node.timeout_s is not None:
                _node_extras(node, i, extra)
                if isinstance(node.control, Branch):
                    branches.append(i)
        if extra:
            return None
    # Edges.
    src_or_none = list(map(index.get, map(_SOURCE, edges)))
    tgt_or_none = list(map(index.get, map(_TARGET, edges)))
    if None in src_or_none or None in tgt_or_none:
        return None
    src, tgt = cast("list[int]", src_or_none), cast("list[int]", tgt_or_none)
    ekinds = list(map(_EKIND, edges))
    if m and not set(map(type, ekinds)) <= {EdgeKind}:
        return None
    whens = list(map(_WHEN, edges))
    sp_names = list(map(_SPORT, edges))
    tp_names = list(map(_TPORT, edges))
    ndata = ekinds.count(EdgeKind.DATA)
    if ndata == m:
        if whens.count(None) != m:
            return None
        d_src, d_tgt, d_sp, d_tp = src, tgt, sp_names, tp_names
    else:
        data = list(compress(range(m), map(is_, ekinds, repeat(EdgeKind.DATA))))
        if ndata > 1:
            pick = itemgetter(*data)
            if pick(whens).count(None) != ndata:
                return None
            d_src, d_tgt, d_sp, d_tp = pick(src), pick(tgt), pick(sp_names), pick(tp_names)
        else:
            if any(whens[j] is not None for j in data):
                return None
            d_src, d_tgt = [src[j] for j in data], [tgt[j] for j in data]
            d_sp, d_tp = [sp_names[j] for j in data], [tp_names[j] for j in data]
        other = set()
        cond_sources = set()
        for j in compress(range(m), map(is_not, ekinds, repeat(EdgeKind.DATA))):
            k = ekinds[j]
            if sp_names[j] is not None or tp_names[j] is not None:
                return None
            if k is EdgeKind.CONDITIONAL:
                if whens[j] is None:
                    return None
                cond_sources.add(src[j])
            elif k is not EdgeKind.CONTROL or whens[j] is not None:
                return None
            pair = (src[j], tgt[j], k)
            if pair in other:
                return None
            other.add(pair)
        if not cond_sources.issuperset(branches):
            return None
    if branches and ndata == m:
        return None  # a branch without conditional edges
    in_ids = list(map(id, in_tuples))
    if ndata:
        # Port names and types by string lookups; a missing port gives None, which no type equals.
        out_types: list[dict[str, str]] = list(map(type_maps.__getitem__, map(id, out_tuples)))
        in_types: list[dict[str, str]] = list(map(type_maps.__getitem__, in_ids))
        # A missing port gives a marker no type equals or is compatible with.
        stypes = list(map(_dict_get, map(out_types.__getitem__, d_src), d_sp, repeat(_NO_OUTPUT)))
        ttypes = list(map(_dict_get, map(in_types.__getitem__, d_tgt), d_tp, repeat(_NO_INPUT)))
        if stypes != ttypes:
            for a, b in set(zip(stypes, ttypes, strict=True)):
                if a is _NO_OUTPUT or b is _NO_INPUT or not types_compatible(a, b):
                    return None
        keys = list(zip(d_tgt, d_tp, strict=True))
        filled = set(keys)
        if len(filled) != len(keys) or not all_required:
            in_ports: list[dict[str, Port]] = list(map(maps.__getitem__, in_ids))
            tports: list[Port] = list(map(_dict_get, map(in_ports.__getitem__, d_tgt), d_tp))  # type: ignore[arg-type]
            if len(filled) != len(keys):
                seen: set[tuple[int, Any]] = set()
                for key, port in zip(keys, tports, strict=True):
                    if key in seen and not port.multi:
                        return None
                    seen.add(key)
        # Required inputs. When every input is required, distinct valid keys as many as there are inputs
        # means each input is fed (pigeonhole); otherwise count the required ones fed per node.
        if all_required:
            if len(filled) != sum(map(required.__getitem__, in_ids)):
                return None
        else:
            fed = Counter(map(_FIRST, set(compress(keys, map(_REQUIRED, tports)))))
            if list(map(fed.get, range(n), repeat(0))) != list(map(required.__getitem__, in_ids)):
                return None
    elif any(map(required.__getitem__, in_ids)):
        return None
    # Adjacency.
    succ: list[list[int]] = list(map(list, repeat((), n)))
    deque(map(list.append, map(succ.__getitem__, src), tgt), maxlen=0)  # appends in C
    into = Counter(tgt)
    indeg = list(map(into.get, range(n), repeat(0)))
    return ids, index, succ, indeg, (src, tgt)


_ID = attrgetter("id")
_INPUTS = attrgetter("inputs")
_OUTPUTS = attrgetter("outputs")
_TYPE = attrgetter("type")
_KIND = attrgetter("kind")
_PARAMS = attrgetter("params")
_CONTROL = attrgetter("control")
_RETRY = attrgetter("retry")
_TIMEOUT = attrgetter("timeout_s")
_SOURCE = attrgetter("source")
_TARGET = attrgetter("target")
_EKIND = attrgetter("kind")
_WHEN = attrgetter("when")
_SPORT = attrgetter("source_port")
_TPORT = attrgetter("target_port")
_PTYPE = attrgetter("type")
_dict_get = dict.get
_D = attrgetter("_d")
_FIRST = itemgetter(0)
_REQUIRED = attrgetter("required")
_NONE_TYPE = type(None)
_NO_OUTPUT = "\x00no such output"
_NO_INPUT = "\x00no such input"
_ALL_IDS = re.compile(r"(?:[A-Za-z0-9_][A-Za-z0-9_:@+-]{0,255}\n)*")
