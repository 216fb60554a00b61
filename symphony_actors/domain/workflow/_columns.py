"""The columnar layout inside the binary form (see :mod:`.formats`): a document's nodes and edges as a string
table and integer columns, and back, with every index range-checked."""

from __future__ import annotations

from typing import Any

import orjson

from symphony_actors.domain.errors import ProtocolError
from symphony_actors.domain.workflow._decode import _COMMON_NODE_KEYS, Limits


class _Columns:
    """Columnar encoding of a workflow body (see the module docstring)."""

    def __init__(self) -> None:
        self.table: list[str] = []
        self.index: dict[str, int] = {}

    def s(self, text: str) -> int:
        i = self.index.get(text)
        if i is None:
            i = self.index[text] = len(self.table)
            self.table.append(text)
        return i

    def encode(self, body: dict[str, Any]) -> dict[str, Any]:
        nodes: list[dict[str, Any]] = body.pop("nodes")
        edges: list[dict[str, Any]] = body.pop("edges")
        s = self.s
        node_index: dict[str, int] = {}
        for i, n in enumerate(nodes):
            node_index.setdefault(n["id"], i)
        sigs: list[Any] = []
        sig_index: dict[bytes, int] = {}
        params: list[Any] = []
        param_index: dict[bytes, int] = {}
        ids, kinds, types, sig_col, param_col, rest = [], [], [], [], [], []
        for i, n in enumerate(nodes):
            ids.append(s(n["id"]))
            kinds.append(s(n["kind"]))
            types.append(s(n["type"]))
            sig = [n.get("inputs"), n.get("outputs")]
            key = orjson.dumps(sig)
            k = sig_index.get(key)
            if k is None:
                k = sig_index[key] = len(sigs)
                sigs.append(sig)
            sig_col.append(k)
            p = n.get("params")
            if p is None:
                param_col.append(-1)
            else:
                key = orjson.dumps(p)
                k = param_index.get(key)
                if k is None:
                    k = param_index[key] = len(params)
                    params.append(p)
                param_col.append(k)
            extra = {k2: v for k2, v in n.items() if k2 not in _COMMON_NODE_KEYS}
            if extra:
                rest.append([i, extra])
        kinds_e, src, tgt, sp, tp, whens, names = [], [], [], [], [], [], []
        prev = 0
        for j, e in enumerate(edges):
            kinds_e.append(s(e.get("kind", "data")))
            a = node_index.get(e["source"])
            b = node_index.get(e["target"])
            if a is None or b is None:  # dangling ends travel by name
                names.append([j, None if a is not None else e["source"], None if b is not None else e["target"]])
            ai = prev if a is None else a
            bi = ai if b is None else b
            # Node indices as deltas: edges cluster by source, and targets sit near their sources.
            src.append(ai - prev)
            tgt.append(bi - ai)
            prev = ai
            sp.append(s(e["source_port"]) if "source_port" in e else -1)
            tp.append(s(e["target_port"]) if "target_port" in e else -1)
            if "when" in e:
                whens.append([j, e["when"]])
        return {**body, "strings": self.table,
                "node_cols": {"id": ids, "kind": kinds, "type": types, "sig": sig_col, "params": param_col},
                "sigs": sigs, "params_table": params, "node_rest": rest,
                "edge_cols": {"kind": kinds_e, "source": src, "target": tgt, "source_port": sp, "target_port": tp},
                "edge_when": whens, "edge_names": names}


def _col(cols: Any, key: str, n: int | None, path: str) -> list[int]:
    v = cols.get(key) if isinstance(cols, dict) else None
    if not isinstance(v, list) or not set(map(type, v)) <= {int}:
        raise ProtocolError(f"binary column {path}.{key} is missing or not a list of integers", reason="malformed",
                            path=f"{path}.{key}")
    if n is not None and len(v) != n:
        raise ProtocolError(f"binary column {path}.{key} has {len(v)} entries, expected {n}", reason="malformed",
                            path=f"{path}.{key}")
    return v


def _uncolumnar(body: dict[str, Any], limits: Limits) -> dict[str, Any]:
    """The inverse of :meth:`_Columns.encode`, checking every index (hostile input)."""
    table = body.pop("strings", None)
    if not isinstance(table, list) or not all(isinstance(x, str) for x in table):
        raise ProtocolError("binary string table is missing or malformed", reason="malformed", path="strings")
    nt = len(table)

    def st(i: int, col: str, k: int) -> str:
        """``table[i]``; the error's path (``col[k]``) is only built when there is one (a 100k-node
        document looks up about a million strings)."""
        if not 0 <= i < nt:
            path = f"{col}[{k}]"
            raise ProtocolError(f"string index {i} out of range at {path}", reason="malformed", path=path)
        return table[i]  # type: ignore[no-any-return]

    ncols = body.pop("node_cols", None)
    ids = _col(ncols, "id", None, "node_cols")
    n = len(ids)
    if n > limits.max_nodes:
        raise ProtocolError(f"{n} nodes: more than the limit of {limits.max_nodes}", reason="oversize", path="nodes")
    kinds = _col(ncols, "kind", n, "node_cols")
    types = _col(ncols, "type", n, "node_cols")
    sig_col = _col(ncols, "sig", n, "node_cols")
    param_col = _col(ncols, "params", n, "node_cols")
    sigs = body.pop("sigs", None)
    params = body.pop("params_table", None)
    rest = body.pop("node_rest", None)
    if not isinstance(sigs, list) or not all(isinstance(x, list) and len(x) == 2 for x in sigs):
        raise ProtocolError("binary port signature table is malformed", reason="malformed", path="sigs")
    if not isinstance(params, list) or not isinstance(rest, list):
        raise ProtocolError("binary params or node table is malformed", reason="malformed", path="params_table")
    nodes: list[dict[str, Any]] = []
    for i in range(n):
        d: dict[str, Any] = {"id": st(ids[i], "node_cols.id", i), "kind": st(kinds[i], "node_cols.kind", i),
                             "type": st(types[i], "node_cols.type", i)}
        pi = param_col[i]
        if pi >= 0:
            if pi >= len(params):
                raise ProtocolError(f"params index {pi} out of range", reason="malformed",
                                    path=f"node_cols.params[{i}]")
            d["params"] = params[pi]
        si = sig_col[i]
        if not 0 <= si < len(sigs):
            raise ProtocolError(f"port signature index {si} out of range", reason="malformed",
                                path=f"node_cols.sig[{i}]")
        ins, outs = sigs[si]
        if ins is not None:
            d["inputs"] = ins
        if outs is not None:
            d["outputs"] = outs
        nodes.append(d)
    for k, item in enumerate(rest):
        if not (isinstance(item, list) and len(item) == 2 and type(item[0]) is int and 0 <= item[0] < n
                and isinstance(item[1], dict)):
            raise ProtocolError("binary node extras are malformed", reason="malformed", path=f"node_rest[{k}]")
        nodes[item[0]].update(item[1])
    ecols = body.pop("edge_cols", None)
    ekinds = _col(ecols, "kind", None, "edge_cols")
    m = len(ekinds)
    if m > limits.max_edges:
        raise ProtocolError(f"{m} edges: more than the limit of {limits.max_edges}", reason="oversize", path="edges")
    src = _col(ecols, "source", m, "edge_cols")
    tgt = _col(ecols, "target", m, "edge_cols")
    sp = _col(ecols, "source_port", m, "edge_cols")
    tp = _col(ecols, "target_port", m, "edge_cols")
    whens = body.pop("edge_when", None)
    names = body.pop("edge_names", None)
    if not isinstance(whens, list) or not isinstance(names, list):
        raise ProtocolError("binary edge tables are malformed", reason="malformed", path="edge_when")
    by_name: dict[int, list[Any]] = {}
    for k, item in enumerate(names):
        if not (isinstance(item, list) and len(item) == 3 and type(item[0]) is int and 0 <= item[0] < m
                and all(x is None or isinstance(x, str) for x in item[1:])):
            raise ProtocolError("binary edge name entry is malformed", reason="malformed", path=f"edge_names[{k}]")
        by_name[item[0]] = item
    edges: list[dict[str, Any]] = []
    prev = 0
    node_ids = [d["id"] for d in nodes]
    for j in range(m):
        e: dict[str, Any] = {}
        kind = st(ekinds[j], "edge_cols", j)
        if kind != "data":
            e["kind"] = kind
        ai = prev + src[j]
        bi = ai + tgt[j]
        prev = ai
        named = by_name.get(j)
        if named is not None and named[1] is not None:
            e["source"] = named[1]
        elif 0 <= ai < n:
            e["source"] = node_ids[ai]
        else:
            raise ProtocolError(f"node index {ai} out of range", reason="malformed", path=f"edge_cols[{j}].source")
        if named is not None and named[2] is not None:
            e["target"] = named[2]
        elif 0 <= bi < n:
            e["target"] = node_ids[bi]
        else:
            raise ProtocolError(f"node index {bi} out of range", reason="malformed", path=f"edge_cols[{j}].target")
        if sp[j] >= 0:
            e["source_port"] = st(sp[j], "edge_cols", j)
        if tp[j] >= 0:
            e["target_port"] = st(tp[j], "edge_cols", j)
        edges.append(e)
    for k, item in enumerate(whens):
        if not (isinstance(item, list) and len(item) == 2 and type(item[0]) is int and 0 <= item[0] < m):
            raise ProtocolError("binary edge predicate entry is malformed", reason="malformed", path=f"edge_when[{k}]")
        edges[item[0]]["when"] = item[1]
    body["nodes"] = nodes
    body["edges"] = edges
    return body
