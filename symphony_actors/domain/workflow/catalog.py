"""Node types and their parameter schemas.

A :class:`Catalog` maps a node ``type`` (``builtin.identity``,
``publisher.ext/node``) to a :class:`NodeType`: the node kind it must be used
as and the :class:`~.params.ParamSchema` its params must satisfy. Validation
checks every node whose type the catalog knows; with ``strict=True`` an unknown
type is a problem too. The extension host builds a catalog from manifests;
:data:`BUILTINS` holds the built-in types.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from symphony_actors.domain.workflow.model import NodeKind
from symphony_actors.domain.workflow.params import Param, ParamSchema, ParamType

__all__ = ["BUILTINS", "Catalog", "NodeType"]


@dataclass(frozen=True, slots=True)
class NodeType:
    """What a node type accepts: the node kind it is used as and its parameter schema."""

    type: str
    kind: NodeKind
    params: ParamSchema = field(default_factory=ParamSchema)
    description: str = ""


@dataclass(frozen=True, slots=True)
class Catalog:
    """Known node types; ``strict`` makes an unknown type a validation problem."""

    types: Mapping[str, NodeType] = field(default_factory=dict)
    strict: bool = False

    @classmethod
    def of(cls, types: Iterable[NodeType], *, strict: bool = False) -> Catalog:
        return cls({t.type: t for t in types}, strict)

    def get(self, type_name: str) -> NodeType | None:
        return self.types.get(type_name)

    def __contains__(self, type_name: object) -> bool:
        return type_name in self.types

    def merged(self, other: Catalog) -> Catalog:
        """This catalog plus ``other``'s types (``other`` wins on clashes)."""
        return Catalog({**self.types, **other.types}, self.strict or other.strict)


BUILTINS = Catalog.of([
    NodeType("builtin.identity", NodeKind.OPERATOR, ParamSchema(), "passes its input through"),
    NodeType("builtin.const", NodeKind.OPERATOR,
             ParamSchema.of(Param("value", ParamType.ANY, required=True)), "emits a constant value"),
    NodeType("builtin.branch", NodeKind.CONTROL, ParamSchema(), "routes by conditional edges"),
    NodeType("builtin.join", NodeKind.CONTROL, ParamSchema(), "waits for all or any upstream nodes"),
    NodeType("builtin.map", NodeKind.CONTROL, ParamSchema(), "fans out over the items of its input"),
])
