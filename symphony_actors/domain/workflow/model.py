"""The workflow model: immutable values for nodes, ports, edges and workflows.

A :class:`Workflow` is a name, a tuple of :class:`Node` and a tuple of
:class:`Edge`. Nodes are of three kinds: *instrument* (an AI model call),
*operator* (a data transform) and *control* (routing: :class:`Branch`,
:class:`Join` with all/any semantics, :class:`Map` fan-out with an item cap).
Edges are *data* (an output port to an input port, typed), *control* (ordering
only) or *conditional* (ordering guarded by a :mod:`predicate <.predicates>`
on the source node's result).

Everything is a frozen, slotted dataclass over tuples and
:class:`~.frozen.FrozenDict`: share it, hash it, pickle it. Build one with
:meth:`Workflow.build` (see :mod:`.builder`), check it with
:func:`~.validate.check`, store it with :mod:`.formats`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, TypeAlias

from symphony_actors.domain.errors import NotFoundError
from symphony_actors.domain.workflow.frozen import EMPTY, FrozenDict, freeze
from symphony_actors.domain.workflow.params import ParamRef
from symphony_actors.domain.workflow.predicates import Predicate

if TYPE_CHECKING:
    from symphony_actors.domain.workflow.builder import WorkflowBuilder
    from symphony_actors.domain.workflow.catalog import Catalog
    from symphony_actors.domain.workflow.validate import Analysis

__all__ = [
    "ANY",
    "Branch",
    "Control",
    "Edge",
    "EdgeKind",
    "Join",
    "JoinMode",
    "Map",
    "Node",
    "NodeKind",
    "Port",
    "RetryPolicy",
    "Workflow",
    "types_compatible",
]

ANY = "any"


class NodeKind(StrEnum):
    INSTRUMENT = "instrument"
    OPERATOR = "operator"
    CONTROL = "control"


class EdgeKind(StrEnum):
    DATA = "data"
    CONTROL = "control"
    CONDITIONAL = "conditional"


class JoinMode(StrEnum):
    ALL = "all"  # run when every upstream node finished
    ANY = "any"  # run when the first upstream node finished


def types_compatible(out_type: str, in_type: str) -> bool:
    """Whether data of ``out_type`` may flow into an input of ``in_type``: equal, ``any`` on either side,
    or ``integer`` into ``number``."""
    return out_type in (in_type, ANY) or in_type == ANY or (out_type == "integer" and in_type == "number")


@dataclass(frozen=True, slots=True)
class Port:
    """A typed input or output. An input that is ``required`` needs a data edge; a ``multi`` input accepts many."""

    name: str
    type: str = ANY
    required: bool = True
    multi: bool = False
    description: str = ""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How the DAG tracker retries a failed node.

    ``retries`` extra attempts after the first; attempt ``k`` (1-based retry) waits
    ``min(backoff_s * multiplier ** (k - 1), max_backoff_s)``. ``retry_on`` lists the
    error codes (``SymphonyError.code``) worth retrying; empty means "failures of the
    world" (``SymphonyFailure`` codes such as ``extension_failed``, ``deadline_exceeded``),
    never misuse.
    """

    retries: int | ParamRef = 3
    backoff_s: float = 1.0
    multiplier: float = 2.0
    max_backoff_s: float = 60.0
    retry_on: tuple[str, ...] = ()

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        return float(min(self.backoff_s * self.multiplier ** max(0, retry - 1), self.max_backoff_s))

    def retries_code(self, code: str, is_failure: bool) -> bool:
        """Whether an error with ``code`` is retryable under this policy (``is_failure``: a SymphonyFailure)."""
        return code in self.retry_on if self.retry_on else is_failure


@dataclass(frozen=True, slots=True)
class Branch:
    """Routes by its outgoing conditional edges: each whose predicate holds on the result is taken."""

    kind: ClassVar[str] = "branch"


@dataclass(frozen=True, slots=True)
class Join:
    """Waits for upstream nodes: ``all`` of them, or ``any`` (the first to finish)."""

    mode: JoinMode = JoinMode.ALL
    kind: ClassVar[str] = "join"


@dataclass(frozen=True, slots=True)
class Map:
    """Fans out over the items of its input, at most ``max_items`` of them (a cap is required),
    running at most ``concurrency`` at once (``None``: the tracker's limit)."""

    max_items: int | ParamRef | None = None
    concurrency: int | ParamRef | None = None
    kind: ClassVar[str] = "map"


Control: TypeAlias = Branch | Join | Map


@dataclass(frozen=True, slots=True)
class Node:
    """One step. ``type`` names what runs it: ``builtin.identity`` or ``publisher.ext/node``."""

    id: str
    kind: NodeKind
    type: str
    params: FrozenDict[str, Any] = EMPTY
    inputs: tuple[Port, ...] = ()
    outputs: tuple[Port, ...] = ()
    control: Control | None = None
    retry: RetryPolicy | None = None
    timeout_s: float | ParamRef | None = None
    label: str = ""
    meta: FrozenDict[str, Any] = EMPTY

    @classmethod
    def make(cls, id: str, kind: NodeKind | str, type: str, *, params: Mapping[str, Any] | None = None,
             inputs: Iterable[Port] = (), outputs: Iterable[Port] = (), control: Control | None = None,
             retry: RetryPolicy | None = None, timeout_s: float | ParamRef | None = None, label: str = "",
             meta: Mapping[str, Any] | None = None) -> Node:
        """Build a node from plain values (params and meta are deep-frozen)."""
        return cls(id, NodeKind(kind), type, freeze(params) if params else EMPTY, tuple(inputs), tuple(outputs),
                   control, retry, timeout_s, label, freeze(meta) if meta else EMPTY)

    def input(self, name: str) -> Port | None:
        for p in self.inputs:
            if p.name == name:
                return p
        return None

    def output(self, name: str) -> Port | None:
        for p in self.outputs:
            if p.name == name:
                return p
        return None

    def replace(self, **changes: Any) -> Node:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True, slots=True)
class Edge:
    """A dependency ``source -> target``. Data edges name both ports; conditional edges carry ``when``."""

    source: str
    target: str
    kind: EdgeKind = EdgeKind.DATA
    source_port: str | None = None
    target_port: str | None = None
    when: Predicate | None = None

    @classmethod
    def data(cls, source: str, source_port: str, target: str, target_port: str) -> Edge:
        return cls(source, target, EdgeKind.DATA, source_port, target_port)

    @classmethod
    def control(cls, source: str, target: str) -> Edge:
        return cls(source, target, EdgeKind.CONTROL)

    @classmethod
    def conditional(cls, source: str, target: str, when: Predicate | None) -> Edge:
        return cls(source, target, EdgeKind.CONDITIONAL, when=when)

    def __str__(self) -> str:
        if self.kind is EdgeKind.DATA:
            return f"{self.source}.{self.source_port} -> {self.target}.{self.target_port}"
        return f"{self.source} -> {self.target} ({self.kind})"


@dataclass(frozen=True, slots=True)
class Workflow:
    """An immutable workflow. ``entries`` optionally names the nodes a run starts from; when given,
    every node must be reachable from them."""

    name: str
    nodes: tuple[Node, ...] = ()
    edges: tuple[Edge, ...] = ()
    description: str = ""
    entries: tuple[str, ...] = ()
    meta: FrozenDict[str, Any] = EMPTY
    _index: dict[str, int] | None = field(default=None, init=False, repr=False, compare=False, hash=False)

    @staticmethod
    def build(name: str, *, description: str = "", meta: Mapping[str, Any] | None = None) -> WorkflowBuilder:
        """Start a :class:`~.builder.WorkflowBuilder` (the notebook-friendly way to make a workflow)."""
        from symphony_actors.domain.workflow.builder import WorkflowBuilder

        return WorkflowBuilder(name, description=description, meta=meta)

    def _ids(self) -> dict[str, int]:
        idx = self._index
        if idx is None:
            idx = {}
            for i, n in enumerate(self.nodes):
                idx.setdefault(n.id, i)
            object.__setattr__(self, "_index", idx)
        return idx

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._ids()

    def node(self, node_id: str) -> Node:
        """The node with this id (the first one if ids repeat); :class:`NotFoundError` if none."""
        i = self._ids().get(node_id)
        if i is None:
            raise NotFoundError(f"workflow {self.name!r} has no node {node_id!r}", node=node_id)
        return self.nodes[i]

    def index_of(self, node_id: str) -> int:
        i = self._ids().get(node_id)
        if i is None:
            raise NotFoundError(f"workflow {self.name!r} has no node {node_id!r}", node=node_id)
        return i

    def edges_into(self, node_id: str) -> tuple[Edge, ...]:
        return tuple(e for e in self.edges if e.target == node_id)

    def edges_from(self, node_id: str) -> tuple[Edge, ...]:
        return tuple(e for e in self.edges if e.source == node_id)

    def replace(self, **changes: Any) -> Workflow:
        return dataclasses.replace(self, **changes)

    def with_nodes(self, *nodes: Node) -> Workflow:
        return dataclasses.replace(self, nodes=self.nodes + nodes)

    def with_edges(self, *edges: Edge) -> Workflow:
        return dataclasses.replace(self, edges=self.edges + edges)

    def edit(self) -> WorkflowBuilder:
        """A builder holding this workflow's nodes and edges, to derive a changed copy."""
        from symphony_actors.domain.workflow.builder import WorkflowBuilder

        return WorkflowBuilder.from_workflow(self)

    def check(self, catalog: Catalog | None = None) -> Analysis:
        """Every problem plus topological order and levels (see :func:`~.validate.check`); never raises."""
        from symphony_actors.domain.workflow.validate import check

        return check(self, catalog=catalog)

    def validate(self, catalog: Catalog | None = None) -> Analysis:
        """Like :meth:`check` but raises :class:`ValidationError` listing every problem."""
        from symphony_actors.domain.workflow.validate import validate

        return validate(self, catalog=catalog)

    def __getstate__(self) -> tuple[Any, ...]:
        return (self.name, self.nodes, self.edges, self.description, self.entries, self.meta)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        for name, value in zip(("name", "nodes", "edges", "description", "entries", "meta"), state, strict=True):
            object.__setattr__(self, name, value)
        object.__setattr__(self, "_index", None)
