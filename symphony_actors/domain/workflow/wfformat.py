"""Import WfCommons WfFormat (schemas 1.4, 1.5 and 1.6) workflow instances into the model.

WfFormat (https://wfcommons.org/format) records a workflow as tasks with
``parents``/``children`` and input/output *files*, plus an ``execution`` section
with what each task ran (``command``), for how long and where. The import:

* each task becomes an ``operator`` node of type ``wfcommons.task/<kind>``, the
  kind being the task's ``category`` when it has one, else its ``program``
  (a program named ``-``, as Nextflow records some, gives no kind), else its
  ``name`` when that is a short word (Nextflow names tasks by whole shell
  scripts, which are not kinds), else plain ``wfcommons.task``;
  ``params`` hold ``program``, ``arguments`` and the inputs read from outside
  the workflow (``external_inputs``); ``meta`` keeps the task's name and its
  execution record (runtime, cores, memory, machines, ...);
* every file a task writes becomes an output port of type ``file``; a file it
  reads that another task writes becomes a required input port, fed by a data
  edge from the writer; a parent/child pair that shares no file gets a
  control edge;
* ids that do not fit our node id rules are rewritten (``meta.wf_id`` keeps
  the original); file sizes go to the workflow's ``meta.file_sizes``.

Schema 1.6 (what the ``wfcommons`` package writes today) differs from 1.5 only
in fields the import ignores. Schema 1.4 keeps everything under
``workflow.tasks`` (each task with its ``files``, ``command`` and run figures);
it is rewritten into the 1.5 shape first (:func:`_from_v14`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from symphony_actors.domain.errors import Problem, ProtocolError, ValidationError
from symphony_actors.domain.workflow._decode import DEFAULT_LIMITS, Limits
from symphony_actors.domain.workflow.formats import read_bytes
from symphony_actors.domain.workflow.frozen import FrozenDict, freeze
from symphony_actors.domain.workflow.model import Edge, EdgeKind, Node, NodeKind, Port, Workflow

__all__ = ["SUPPORTED_SCHEMAS", "import_wfformat", "is_wfformat", "load_wfformat"]

SUPPORTED_SCHEMAS = ("1.4", "1.5", "1.6")
_BAD_ID = re.compile(r"[^A-Za-z0-9_:@+-]")
_BAD_PROGRAM = re.compile(r"[^A-Za-z0-9_.:+-]")
_BAD_PORT = re.compile(r"[\s\x00-\x1f\x7f]")
_KIND_WORD = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:+-]{0,63}")


def is_wfformat(doc: Any) -> bool:
    """Whether ``doc`` (a parsed JSON object) looks like a WfFormat instance."""
    return (isinstance(doc, Mapping) and "schemaVersion" in doc and isinstance(doc.get("workflow"), Mapping)
            and ("specification" in doc["workflow"] or isinstance(doc["workflow"].get("tasks"), list)))


def load_wfformat(path: str | Path, limits: Limits = DEFAULT_LIMITS) -> Workflow:
    """Read and import a WfFormat JSON file."""
    return import_wfformat(read_bytes(path, limits))


def _node_id(raw: str, used: set[str]) -> str:
    base = _BAD_ID.sub("_", raw)[:240] or "task"
    if not re.match(r"[A-Za-z0-9_]", base):
        base = "t" + base
    nid, k = base, 1
    while nid in used:
        k += 1
        nid = f"{base}-{k}"
    used.add(nid)
    return nid


def _kind(value: Any) -> str | None:
    """``value`` as the ``/<kind>`` part of a node type, or None if nothing meaningful is left."""
    if not isinstance(value, str):
        return None
    kind = _BAD_PROGRAM.sub("_", value.strip())[:128].strip("_.:+-")
    return kind if kind and _KIND_WORD.match(kind) else None


def _node_type(category: Any, program: str | None, name: Any) -> str:
    """The task's category, else its program, else its name if a short word: see the module doc."""
    kind = _kind(category) or _kind(program)
    if kind is None and isinstance(name, str) and _KIND_WORD.fullmatch(name):
        kind = name
    return f"wfcommons.task/{kind}" if kind else "wfcommons.task"


def _from_v14(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A 1.4 document rewritten into the 1.5 shape (specification + execution); unknown fields dropped."""
    wf = doc["workflow"]
    tasks = wf.get("tasks")
    named = {t["name"]: t.get("id") or t["name"] for t in tasks if isinstance(t, Mapping)
             and isinstance(t.get("name"), str)} if isinstance(tasks, list) else {}
    spec: list[Any] = []
    runs: list[dict[str, Any]] = []
    sizes: dict[str, int] = {}
    for t in tasks if isinstance(tasks, list) else ():
        if not isinstance(t, Mapping):
            spec.append(t)  # reported by the shape checks
            continue
        tid = t.get("id") or t.get("name")
        files = [f for f in t.get("files", ()) if isinstance(f, Mapping) and isinstance(f.get("name"), str)] \
            if isinstance(t.get("files", ()), list) else []
        for f in files:
            size = f.get("sizeInBytes", f.get("size"))
            if isinstance(size, int):
                sizes.setdefault(f["name"], size)
        spec.append({"id": tid, "name": t.get("name", tid), "category": t.get("category"),
                     **{k: [named.get(x, x) for x in v] if isinstance(v := t.get(k, []), list) else v
                        for k in ("parents", "children")},
                     "inputFiles": [f["name"] for f in files if f.get("link") == "input"],
                     "outputFiles": [f["name"] for f in files if f.get("link") == "output"]})
        run = {k: v for k, v in t.items() if k not in ("name", "id", "category", "type", "parents", "children",
                                                      "files")}
        runs.append({"id": tid, **run})
    execution = {k: wf[k] for k in ("makespanInSeconds", "executedAt", "machines") if k in wf}
    return {**{k: v for k, v in doc.items() if k != "workflow"},
            "workflow": {"specification": {"tasks": spec, "files": [{"id": f, "sizeInBytes": n}
                                                                    for f, n in sizes.items()]},
                         "execution": {**execution, "tasks": runs}}}


def _port(name: str) -> str:
    return _BAD_PORT.sub("_", name)[:256] or "_"


def import_wfformat(source: Mapping[str, Any] | bytes | str, *, name: str | None = None) -> Workflow:
    """A :class:`Workflow` from a WfFormat 1.4, 1.5 or 1.6 document (parsed or JSON text).

    Raises :class:`ProtocolError` for undecodable JSON or an unsupported schema
    version and :class:`ValidationError` (every problem, with paths such as
    ``workflow.specification.tasks[3].parents``) for a document of the wrong shape.
    The result is not validated; call :meth:`Workflow.check`. Linear in the
    size of the document.
    """
    doc, version = _parse(source)
    spec = doc["workflow"]["specification"]
    tasks = spec.get("tasks") if isinstance(spec, Mapping) else None
    if not isinstance(tasks, list):
        raise ValidationError([Problem("workflow.specification.tasks", "expected a list of tasks")],
                              subject="WfFormat document")
    files = spec.get("files", [])
    execution = doc["workflow"].get("execution") or {}
    exec_tasks = execution.get("tasks", []) if isinstance(execution, Mapping) else []
    runs = {t.get("id"): t for t in exec_tasks if isinstance(t, Mapping)} if isinstance(exec_tasks, list) else {}
    build = _Build(tasks)
    for t in build.clean:
        build.task(t, runs.get(t["id"]) or {})
    build.children()
    sizes = {f["id"]: f["sizeInBytes"] for f in files if isinstance(f, Mapping)
             and isinstance(f.get("id"), str) and isinstance(f.get("sizeInBytes"), int)} if isinstance(files,
                                                                                                      list) else {}
    meta: dict[str, Any] = {"source": "wfformat", "schemaVersion": version}
    for key in ("createdAt", "author", "runtimeSystem", "description"):
        if key in doc:
            meta[key] = doc[key]
    for key in ("makespanInSeconds", "executedAt"):
        if isinstance(execution, Mapping) and key in execution:
            meta[key] = execution[key]
    if sizes:
        meta["file_sizes"] = sizes
    raw_name = doc.get("name")
    wf_name = name or (raw_name if isinstance(raw_name, str) and raw_name else "wfformat")
    return Workflow(wf_name, tuple(build.nodes), tuple(build.edges),
                    description=doc.get("description", "") if isinstance(doc.get("description"), str) else "",
                    meta=freeze(meta))


def _parse(source: Mapping[str, Any] | bytes | str) -> tuple[Mapping[str, Any], str]:
    """The document (1.4 rewritten into the 1.5 shape) and its schema version; ProtocolError if neither fits."""
    if isinstance(source, bytes | str):
        try:
            doc = orjson.loads(source)
        except orjson.JSONDecodeError as exc:
            raise ProtocolError(f"not valid JSON: {exc}", reason="malformed") from None
    else:
        doc = source
    if not is_wfformat(doc):
        raise ProtocolError("not a WfFormat instance (needs schemaVersion and workflow.specification)",
                            reason="unknown_kind")
    version = str(doc["schemaVersion"])
    if version not in SUPPORTED_SCHEMAS:
        raise ProtocolError(f"WfFormat schema {version} is not supported (supported: "
                            f"{', '.join(SUPPORTED_SCHEMAS)})", reason="bad_version", path="schemaVersion")
    return (_from_v14(doc) if version == "1.4" else doc), version


class _Build:
    """Nodes and edges from the tasks, each file's port made once (every step linear in the document)."""

    def __init__(self, tasks: list[Any]) -> None:
        self.ids: dict[str, str] = {}
        self.writer: dict[str, str] = {}
        self.clean: list[dict[str, Any]] = []
        self.nodes: list[Node] = []
        self.edges: list[Edge] = []
        self._names: dict[str, str] = {}
        self._ports: dict[tuple[str, bool], Port] = {}
        self._shape(tasks)

    def _shape(self, tasks: list[Any]) -> None:
        """Check each task's shape (every problem at once) and note which task writes each file."""
        problems: list[Problem] = []
        tp = "workflow.specification.tasks"
        used: set[str] = set()
        for i, t in enumerate(tasks):
            if not isinstance(t, Mapping):
                problems.append(Problem(f"{tp}[{i}]", "expected a task object"))
                continue
            tid = t.get("id")
            if not isinstance(tid, str) or not tid:
                problems.append(Problem(f"{tp}[{i}].id", "expected a non-empty string"))
                continue
            if tid in self.ids:
                problems.append(Problem(f"{tp}[{i}].id", f"duplicate task id {tid!r}", "duplicate"))
                continue
            lists = {}
            for key in ("parents", "children", "inputFiles", "outputFiles"):
                v = t.get(key, [])
                if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                    problems.append(Problem(f"{tp}[{i}].{key}", "expected a list of strings"))
                    v = []
                lists[key] = v
            self.ids[tid] = _node_id(tid, used)
            for f in lists["outputFiles"]:
                self.writer.setdefault(f, tid)
            self.clean.append({"id": tid, "name": t.get("name", tid), "category": t.get("category"), **lists})
        if problems:
            raise ValidationError(problems, subject="WfFormat document")

    def port(self, f: str, required: bool) -> Port:
        got = self._ports.get((f, required))
        if got is None:
            got = self._ports[f, required] = Port(self.name(f), "file", required)
        return got

    def name(self, f: str) -> str:
        got = self._names.get(f)
        if got is None:
            got = self._names[f] = _port(f)
        return got

    def task(self, t: dict[str, Any], run: Mapping[str, Any]) -> None:
        """The task's node, and the edges into it: one data edge per file a parent (or any task) wrote,
        else a control edge."""
        tid, nid = t["id"], self.ids[t["id"]]
        cmd = run.get("command")
        command: Mapping[str, Any] = cmd if isinstance(cmd, Mapping) else {}
        program = command.get("program") if isinstance(command.get("program"), str) else None
        params: dict[str, Any] = {"program": program} if program else {}
        args = command.get("arguments")
        if isinstance(args, list):
            params["arguments"] = tuple(a for a in args if isinstance(a, str | int | float))
        inputs: list[Port] = []
        external: list[str] = []
        fed_by: dict[str, list[str]] = {}
        for f in dict.fromkeys(t["inputFiles"]):
            src = self.writer.get(f)
            if src is None or src == tid:
                external.append(f)
            else:
                inputs.append(self.port(f, True))
                fed_by.setdefault(src, []).append(f)
        if external:
            params["external_inputs"] = tuple(external)
        outputs = tuple(dict.fromkeys(self.port(f, False) for f in t["outputFiles"]))
        meta: dict[str, Any] = {"name": t["name"]}
        if nid != tid:
            meta["wf_id"] = tid
        if run:
            meta["execution"] = freeze({k: v for k, v in run.items() if k not in ("id", "command")})
        # params and meta hold only strings, tuples of scalars and frozen values: wrapped, not deep-frozen
        self.nodes.append(Node(nid, NodeKind.OPERATOR, _node_type(run.get("category") or t["category"], program,
                                                                  t["name"]),
                               FrozenDict._wrap(params), tuple(inputs), outputs, meta=FrozenDict._wrap(meta)))
        for p in dict.fromkeys([*t["parents"], *fed_by]):
            pid = self.ids.get(p, p)  # an unknown parent stays as is: validation reports it as dangling
            shared = fed_by.get(p)
            if shared:
                self.edges.extend(Edge(pid, nid, EdgeKind.DATA, self.name(f), self.name(f)) for f in shared)
            else:
                self.edges.append(Edge.control(pid, nid))

    def children(self) -> None:
        """Control edges for children listed on the parent side only."""
        have = {(e.source, e.target) for e in self.edges}
        for t in self.clean:
            for c in t["children"]:
                pair = (self.ids[t["id"]], self.ids.get(c, c))
                if pair not in have:
                    have.add(pair)
                    self.edges.append(Edge.control(*pair))
