"""The workflow model: what users compose in the editor and the DAG tracker executes.

Pure domain code (no actors; I/O only in the file functions of :mod:`.formats`
and the :class:`TemplateStore`). Modules:

* :mod:`.model`: immutable :class:`Workflow`, :class:`Node`, :class:`Port`, :class:`Edge`, control specs
* :mod:`.builder`: :class:`WorkflowBuilder` (``Workflow.build("name")...``)
* :mod:`.predicates`: conditional-edge predicates as data (``field("score") >= 0.5``)
* :mod:`.params` / :mod:`.catalog`: parameter schemas; node types and their schemas
* :mod:`.validate`: :func:`check` / :func:`validate` (every problem at once), :class:`Analysis`
* :mod:`.graph`: Kahn order and levels, cycle paths, :class:`IncrementalDag`
* :mod:`.formats`: JSON and binary (CBOR + zstd) documents, versioned, bounded
* :mod:`.templates`: :class:`Template` and :class:`TemplateStore`
* :mod:`.wfformat`: WfCommons WfFormat 1.5 import
"""

from symphony_actors.domain.workflow.builder import WorkflowBuilder, ports
from symphony_actors.domain.workflow.catalog import BUILTINS, Catalog, NodeType
from symphony_actors.domain.workflow.formats import (
    FORMAT_VERSION,
    Document,
    Limits,
    document_of,
    dumps_binary,
    dumps_json,
    format_for,
    from_document,
    load,
    loads,
    loads_binary,
    loads_json,
    register_migration,
    save,
)
from symphony_actors.domain.workflow.frozen import FrozenDict, freeze, thaw
from symphony_actors.domain.workflow.graph import IncrementalDag, KahnResult, find_cycles, kahn_levels
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
    types_compatible,
)
from symphony_actors.domain.workflow.params import Param, ParamRef, ParamSchema, ParamType
from symphony_actors.domain.workflow.predicates import (
    And,
    Compare,
    Const,
    Field,
    Not,
    Or,
    Predicate,
    field,
    parse_predicate,
)
from symphony_actors.domain.workflow.runnable import to_workflow
from symphony_actors.domain.workflow.templates import Template, TemplateInfo, TemplateStore, substitute
from symphony_actors.domain.workflow.validate import Analysis, ProblemKind, WorkflowGraph, check, validate
from symphony_actors.domain.workflow.wfformat import import_wfformat, is_wfformat, load_wfformat

ref = ParamRef  # ``ref("width")``: a template placeholder, reads well in a builder chain

__all__ = [
    "ANY",
    "BUILTINS",
    "FORMAT_VERSION",
    "Analysis",
    "And",
    "Branch",
    "Catalog",
    "Compare",
    "Const",
    "Control",
    "Document",
    "Edge",
    "EdgeKind",
    "Field",
    "FrozenDict",
    "IncrementalDag",
    "Join",
    "JoinMode",
    "KahnResult",
    "Limits",
    "Map",
    "Node",
    "NodeKind",
    "NodeType",
    "Not",
    "Or",
    "Param",
    "ParamRef",
    "ParamSchema",
    "ParamType",
    "Port",
    "Predicate",
    "ProblemKind",
    "RetryPolicy",
    "Template",
    "TemplateInfo",
    "TemplateStore",
    "Workflow",
    "WorkflowBuilder",
    "WorkflowGraph",
    "check",
    "document_of",
    "dumps_binary",
    "dumps_json",
    "field",
    "find_cycles",
    "format_for",
    "freeze",
    "from_document",
    "import_wfformat",
    "is_wfformat",
    "kahn_levels",
    "load",
    "load_wfformat",
    "loads",
    "loads_binary",
    "loads_json",
    "parse_predicate",
    "ports",
    "ref",
    "register_migration",
    "save",
    "substitute",
    "thaw",
    "to_workflow",
    "types_compatible",
    "validate",
]
