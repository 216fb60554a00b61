"""A fluent builder for workflows and templates, meant to read well in a notebook::

    from symphony_actors.domain.workflow import Workflow, field, ref

    wf = (Workflow.build("summarise-news")
          .operator("fetch", "web.http/get", params={"url": "https://example.org"}, outputs={"page": "text"})
          .then("clean", "text.tools/strip_html", inputs={"html": "text"}, outputs={"text": "text"})
          .instrument("summary", "openai.chat/complete", inputs={"prompt": "text"}, outputs={"text": "text"},
                      params={"temperature": 0.2}, retry=3, timeout=30)
          .connect("clean.text", "summary.prompt")
          .build())

Ports are given as ``{"name": "type"}``; a type ending in ``?`` marks an
optional input, ``*`` an input that accepts many edges (``"text*"``), or pass
:class:`~.model.Port` objects. :meth:`WorkflowBuilder.then` adds a node after
the previous one, wiring the previous node's only output to the new node's only
input (or, when the new node has no inputs, a control edge). Misuse that can be
spotted at once (a duplicate id, a typo in :meth:`connect`) raises right there;
everything else is reported, all at once, by :meth:`WorkflowBuilder.build`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Self

from symphony_actors.domain.errors import UsageError
from symphony_actors.domain.workflow.catalog import Catalog
from symphony_actors.domain.workflow.frozen import EMPTY, freeze
from symphony_actors.domain.workflow.model import (
    ANY,
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
from symphony_actors.domain.workflow.params import Param, ParamRef, ParamSchema
from symphony_actors.domain.workflow.predicates import Predicate, parse_predicate
from symphony_actors.domain.workflow.templates import Template
from symphony_actors.domain.workflow.validate import check

__all__ = ["PortsSpec", "WorkflowBuilder", "ports"]

PortsSpec = Mapping[str, "str | Port"] | Iterable[Port] | None


def ports(spec: PortsSpec, *, inputs: bool) -> tuple[Port, ...]:
    """Ports from ``{"name": "type"}`` (``type?`` optional, ``type*`` many) or :class:`Port` objects."""
    if spec is None:
        return ()
    if isinstance(spec, Mapping):
        out = []
        for name, t in spec.items():
            if isinstance(t, Port):
                out.append(t if t.name == name else Port(name, t.type, t.required, t.multi, t.description))
                continue
            if not isinstance(t, str):
                raise UsageError(f"port {name!r}: expected a type name or a Port, got {type(t).__name__}")
            required, multi = inputs, False
            if t.endswith("?"):
                t, required = t[:-1], False
            elif t.endswith("*"):
                t, multi = t[:-1], True
            out.append(Port(name, t or ANY, required, multi))
        return tuple(out)
    return tuple(spec)


def _retry(retry: RetryPolicy | int | ParamRef | None) -> RetryPolicy | None:
    if retry is None or isinstance(retry, RetryPolicy):
        return retry
    return RetryPolicy(retries=retry)


class WorkflowBuilder:
    """Collects nodes and edges; :meth:`build` returns the immutable :class:`Workflow`."""

    def __init__(self, name: str, *, description: str = "", meta: Mapping[str, Any] | None = None) -> None:
        self.name = name
        self.description = description
        self.meta = freeze(meta) if meta else EMPTY
        self._nodes: list[Node] = []
        self._ids: dict[str, int] = {}
        self._edges: list[Edge] = []
        self._entries: list[str] = []
        self._last: str | None = None

    @classmethod
    def from_workflow(cls, wf: Workflow) -> WorkflowBuilder:
        b = cls(wf.name, description=wf.description)
        b.meta = wf.meta
        for n in wf.nodes:
            b._add(n)
        b._edges = list(wf.edges)
        b._entries = list(wf.entries)
        return b

    # ------------------------------------------------------------------ nodes

    def _add(self, node: Node) -> Self:
        if node.id in self._ids:
            raise UsageError(f"node {node.id!r} exists already in workflow {self.name!r}", node=node.id)
        self._ids[node.id] = len(self._nodes)
        self._nodes.append(node)
        self._last = node.id
        return self

    def add(self, node: Node) -> Self:
        """Add a ready-made :class:`Node`."""
        return self._add(node)

    def node(self, id: str, type: str, *, kind: NodeKind | str = NodeKind.OPERATOR,
             params: Mapping[str, Any] | None = None, inputs: PortsSpec = None, outputs: PortsSpec = None,
             control: Control | None = None, retry: RetryPolicy | int | ParamRef | None = None,
             timeout: float | ParamRef | None = None, label: str = "",
             meta: Mapping[str, Any] | None = None) -> Self:
        """Add a node of any kind (the shortcuts below fill ``kind`` and defaults)."""
        return self._add(Node(id, NodeKind(kind), type, freeze(params) if params else EMPTY,
                              ports(inputs, inputs=True), ports(outputs, inputs=False), control, _retry(retry),
                              timeout, label, freeze(meta) if meta else EMPTY))

    def operator(self, id: str, type: str, **kw: Any) -> Self:
        """A data transform."""
        return self.node(id, type, kind=NodeKind.OPERATOR, **kw)

    def instrument(self, id: str, type: str, **kw: Any) -> Self:
        """An AI model call."""
        return self.node(id, type, kind=NodeKind.INSTRUMENT, **kw)

    def branch(self, id: str, *, type: str = "builtin.branch", inputs: PortsSpec = None,
               outputs: PortsSpec = None, **kw: Any) -> Self:
        """A branch: its outgoing :meth:`when` edges route by predicates on its result."""
        return self.node(id, type, kind=NodeKind.CONTROL, control=Branch(),
                         inputs={"in": ANY} if inputs is None else inputs,
                         outputs={"out": ANY} if outputs is None else outputs, **kw)

    def join(self, id: str, mode: JoinMode | str = JoinMode.ALL, *, type: str = "builtin.join",
             inputs: PortsSpec = None, outputs: PortsSpec = None, **kw: Any) -> Self:
        """A join waiting for ``all`` upstream nodes or ``any`` (the first); its ``in`` accepts many edges."""
        return self.node(id, type, kind=NodeKind.CONTROL, control=Join(JoinMode(mode)),
                         inputs={"in": Port("in", ANY, False, True)} if inputs is None else inputs,
                         outputs={"out": ANY} if outputs is None else outputs, **kw)

    def map(self, id: str, *, max_items: int | ParamRef | None, concurrency: int | ParamRef | None = None,
            type: str = "builtin.map", inputs: PortsSpec = None, outputs: PortsSpec = None, **kw: Any) -> Self:
        """A fan-out over the items of ``items``, capped at ``max_items``."""
        return self.node(id, type, kind=NodeKind.CONTROL, control=Map(max_items, concurrency),
                         inputs={"items": ANY} if inputs is None else inputs,
                         outputs={"item": ANY} if outputs is None else outputs, **kw)

    # ------------------------------------------------------------------ edges

    def _get(self, node_id: str, what: str) -> Node:
        i = self._ids.get(node_id)
        if i is None:
            known = ", ".join(list(self._ids)[:10])
            raise UsageError(f"{what}: no node {node_id!r} (known: {known or 'none yet'})", node=node_id)
        return self._nodes[i]

    def _end(self, ref: str | tuple[str, str], outgoing: bool) -> tuple[str, str]:
        if isinstance(ref, tuple):
            node_id, port = ref
            self._get(node_id, "connect")
            return node_id, port
        node_id, dot, port = ref.partition(".")
        node = self._get(node_id, "connect")
        if dot:
            return node_id, port
        candidates = node.outputs if outgoing else node.inputs
        if len(candidates) != 1:
            side = "output" if outgoing else "input"
            raise UsageError(f"connect: node {node_id!r} has {len(candidates)} {side}s; name one as "
                             f"'{node_id}.<port>'", node=node_id)
        return node_id, candidates[0].name

    def connect(self, source: str | tuple[str, str], target: str | tuple[str, str]) -> Self:
        """A data edge ``"node.port" -> "node.port"`` (the port may be left out when the node has just one)."""
        s, sp = self._end(source, True)
        t, tp = self._end(target, False)
        self._edges.append(Edge(s, t, EdgeKind.DATA, sp, tp))
        return self

    def after(self, source: str, target: str) -> Self:
        """A control edge: ``target`` runs after ``source``, no data passes."""
        self._get(source, "after")
        self._get(target, "after")
        self._edges.append(Edge.control(source, target))
        return self

    def when(self, source: str, target: str, predicate: Predicate | Mapping[str, Any]) -> Self:
        """A conditional edge: ``target`` runs if ``predicate`` holds on ``source``'s result."""
        self._get(source, "when")
        self._get(target, "when")
        pred = predicate if not isinstance(predicate, Mapping) else parse_predicate(predicate)
        self._edges.append(Edge.conditional(source, target, pred))
        return self

    def edge(self, edge: Edge) -> Self:
        """Add a ready-made :class:`Edge` (not checked until :meth:`build`)."""
        self._edges.append(edge)
        return self

    def then(self, id: str, type: str, *, kind: NodeKind | str = NodeKind.OPERATOR,
             when: Predicate | Mapping[str, Any] | None = None, **kw: Any) -> Self:
        """Add a node after the previous one: data edge when each side has one port, else a control edge
        (a conditional edge if ``when`` is given)."""
        prev = self._last
        if prev is None:
            raise UsageError("then: there is no previous node; start with node(), operator() or instrument()")
        self.node(id, type, kind=kind, **kw)
        if when is not None:
            return self.when(prev, id, when)
        a, b = self._get(prev, "then"), self._get(id, "then")
        if len(a.outputs) == 1 and len(b.inputs) == 1:
            self._edges.append(Edge(prev, id, EdgeKind.DATA, a.outputs[0].name, b.inputs[0].name))
        elif not b.inputs:
            self._edges.append(Edge.control(prev, id))
        else:
            raise UsageError(f"then: cannot tell how {prev!r} ({len(a.outputs)} outputs) feeds {id!r} "
                             f"({len(b.inputs)} inputs); add the node and use connect()", node=id)
        return self

    def entry(self, *node_ids: str) -> Self:
        """Declare where runs start; then every node must be reachable from these."""
        for n in node_ids:
            self._get(n, "entry")
        self._entries.extend(node_ids)
        return self

    def at(self, node_id: str) -> Self:
        """Make ``node_id`` the node :meth:`then` continues from."""
        self._get(node_id, "at")
        self._last = node_id
        return self

    # ------------------------------------------------------------------ results

    def peek(self) -> Workflow:
        """The workflow so far, not validated."""
        return Workflow(self.name, tuple(self._nodes), tuple(self._edges), self.description, tuple(self._entries),
                        self.meta)

    def build(self, *, validate: bool = True, catalog: Catalog | None = None) -> Workflow:
        """The immutable workflow; with ``validate`` (default) a :class:`ValidationError` lists every problem."""
        wf = self.peek()
        if validate:
            check(wf, catalog=catalog).raise_if_invalid()
        return wf

    def template(self, *params: Param, name: str | None = None, description: str | None = None,
                 version: str = "1", catalog: Catalog | None = None) -> Template:
        """A :class:`Template` over this workflow, with ``params`` declaring its :class:`ParamRef` placeholders.
        Raises :class:`ValidationError` listing every problem of the template."""
        from symphony_actors.domain.errors import ValidationError

        t = Template(name or self.name, self.peek(), ParamSchema(tuple(params)),
                     self.description if description is None else description, version)
        problems = t.problems(catalog)
        if problems:
            raise ValidationError(problems, subject=f"template {t.name!r}")
        return t
