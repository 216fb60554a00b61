"""Templates: parameterised workflows, and a :class:`TemplateStore` that keeps them by name.

A :class:`Template` is a workflow whose node params and structural fields
(a map's ``max_items``/``concurrency``, a node's ``timeout_s``, a retry count)
may hold :class:`~.params.ParamRef` placeholders (``{"$param": "width"}`` in
JSON), plus a :class:`~.params.ParamSchema` declaring those parameters.
:meth:`Template.instantiate` checks every given value against the schema,
reporting all problems at once, substitutes them and validates the result.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from symphony_actors.domain.errors import NotFoundError, Problem, StorageError, UsageError, ValidationError
from symphony_actors.domain.workflow.catalog import Catalog
from symphony_actors.domain.workflow.frozen import EMPTY, FrozenDict
from symphony_actors.domain.workflow.model import Map, Node, Workflow
from symphony_actors.domain.workflow.params import ParamRef, ParamSchema
from symphony_actors.domain.workflow.validate import ProblemKind, check

__all__ = ["Template", "TemplateInfo", "TemplateStore", "substitute"]

TEMPLATE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


@dataclass(frozen=True, slots=True)
class Template:
    """A parameterised workflow: ``workflow`` may hold :class:`ParamRef` placeholders declared in ``params``."""

    name: str
    workflow: Workflow
    params: ParamSchema = field(default_factory=ParamSchema)
    description: str = ""
    version: str = "1"
    meta: FrozenDict[str, Any] = EMPTY

    def problems(self, catalog: Catalog | None = None) -> list[Problem]:
        """Problems with the template itself: its schema, references to undeclared parameters, and the
        workflow's structure (placeholders aside)."""
        out = self.params.schema_problems("params")
        declared = set(self.params.names)
        for path, ref in _refs(self.workflow):
            if ref.name not in declared:
                out.append(Problem(f"workflow.{path}", f"parameter {ref.name!r} is not declared",
                                   ProblemKind.UNRESOLVED_PARAM))
        structural = check(self.workflow, catalog=catalog).problems
        out.extend(dataclasses.replace(p, path=f"workflow.{p.path}") for p in structural
                   if p.kind not in (ProblemKind.UNRESOLVED_PARAM, ProblemKind.INVALID_PARAM))
        return out

    def instantiate(self, values: Mapping[str, Any] | None = None, *, name: str | None = None,
                    catalog: Catalog | None = None, validate: bool = True, **kw: Any) -> Workflow:
        """A workflow with every placeholder replaced by its value (or default).

        Raises :class:`ValidationError` listing every bad parameter (unknown, missing, wrong type,
        out of range), then, if ``validate``, every problem of the resulting workflow.
        """
        given = {**(values or {}), **kw}
        resolved = self.params.resolve(given, path="params", subject=f"instantiation of template {self.name!r}")
        wf = substitute(self.workflow, resolved)
        if name is not None:
            wf = wf.replace(name=name)
        if validate:
            check(wf, catalog=catalog).raise_if_invalid()
        return wf


def _sub(value: Any, values: Mapping[str, Any]) -> Any:
    if isinstance(value, ParamRef):
        return values[value.name]
    if isinstance(value, FrozenDict):
        return FrozenDict({k: _sub(v, values) for k, v in value.items()})
    if isinstance(value, tuple):
        return tuple(_sub(v, values) for v in value)
    return value


def _has_ref(value: Any) -> bool:
    if isinstance(value, ParamRef):
        return True
    if isinstance(value, FrozenDict):
        return any(_has_ref(v) for v in value.values())
    if isinstance(value, tuple):
        return any(_has_ref(v) for v in value)
    return False


def substitute(wf: Workflow, values: Mapping[str, Any]) -> Workflow:
    """``wf`` with each :class:`ParamRef` replaced by ``values[ref.name]`` (``KeyError`` if absent)."""
    nodes = []
    for node in wf.nodes:
        changes: dict[str, Any] = {}
        if node.params and _has_ref(node.params):
            changes["params"] = _sub(node.params, values)
        if isinstance(node.timeout_s, ParamRef):
            changes["timeout_s"] = values[node.timeout_s.name]
        ctl = node.control
        if isinstance(ctl, Map) and (isinstance(ctl.max_items, ParamRef) or isinstance(ctl.concurrency, ParamRef)):
            changes["control"] = Map(_sub(ctl.max_items, values), _sub(ctl.concurrency, values))
        if node.retry is not None and isinstance(node.retry.retries, ParamRef):
            changes["retry"] = dataclasses.replace(node.retry, retries=values[node.retry.retries.name])
        nodes.append(node.replace(**changes) if changes else node)
    return wf.replace(nodes=tuple(nodes))


def _refs(wf: Workflow) -> list[tuple[str, ParamRef]]:
    out: list[tuple[str, ParamRef]] = []

    def walk(v: Any, path: str) -> None:
        if isinstance(v, ParamRef):
            out.append((path, v))
        elif isinstance(v, FrozenDict):
            for k, x in v.items():
                walk(x, f"{path}.{k}")
        elif isinstance(v, tuple):
            for k, x in enumerate(v):
                walk(x, f"{path}[{k}]")

    for i, node in enumerate(wf.nodes):
        _node_refs(node, f"nodes[{i}]", walk)
    return out


def _node_refs(node: Node, p: str, walk: Any) -> None:
    walk(node.params, f"{p}.params")
    walk(node.timeout_s, f"{p}.timeout_s")
    if isinstance(node.control, Map):
        walk(node.control.max_items, f"{p}.control.max_items")
        walk(node.control.concurrency, f"{p}.control.concurrency")
    if node.retry is not None:
        walk(node.retry.retries, f"{p}.retry.retries")


# --------------------------------------------------------------------------- store


@dataclass(frozen=True, slots=True)
class TemplateInfo:
    name: str
    description: str
    version: str
    params: tuple[str, ...]
    path: str
    error: str = ""  # why the file does not load (it is listed anyway, so it can be fixed or deleted)


class TemplateStore:
    """Templates saved as JSON files ``<name>.json`` in one directory (created on first save)."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def _path(self, name: str) -> Path:
        if not isinstance(name, str) or not TEMPLATE_NAME.fullmatch(name):
            raise UsageError(f"bad template name {name!r}: letters, digits, '_', '-', '.', at most 128 characters",
                             name=name)
        return self.directory / f"{name}.json"

    def save(self, template: Template, *, overwrite: bool = True) -> Path:
        """Write ``template`` atomically; :class:`ValidationError` if it has problems."""
        from symphony_actors.domain.errors import ConflictError
        from symphony_actors.domain.workflow.formats import dumps_json

        path = self._path(template.name)
        problems = template.problems()
        if problems:
            raise ValidationError(problems, subject=f"template {template.name!r}")
        if path.exists() and not overwrite:
            raise ConflictError(f"template {template.name!r} exists already", name=template.name)
        data = dumps_json(template, indent=True)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{template.name}.", dir=self.directory)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                Path(tmp).replace(path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise StorageError(f"cannot save template {template.name!r} in {self.directory}: {exc}",
                               path=str(path)) from exc
        return path

    def load(self, name: str) -> Template:
        """The template called ``name``; :class:`NotFoundError` if there is none."""
        from symphony_actors.domain.workflow.formats import loads_json

        path = self._path(name)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"no template {name!r} in {self.directory}", name=name) from None
        except OSError as exc:
            raise StorageError(f"cannot read template {name!r}: {exc}", path=str(path)) from exc
        obj = loads_json(data)
        if not isinstance(obj, Template):
            raise UsageError(f"{path} holds a workflow, not a template", path=str(path))
        return obj

    def delete(self, name: str) -> None:
        path = self._path(name)
        try:
            path.unlink()
        except FileNotFoundError:
            raise NotFoundError(f"no template {name!r} in {self.directory}", name=name) from None

    def names(self) -> list[str]:
        if not self.directory.is_dir():
            return []
        return sorted(p.stem for p in self.directory.glob("*.json")
                      if not p.name.startswith(".") and TEMPLATE_NAME.fullmatch(p.stem))

    def list(self) -> list[TemplateInfo]:
        """Every stored template, by name; a file that does not load is listed with its ``error``."""
        out = []
        for name in self.names():
            try:
                t = self.load(name)
            except NotFoundError:
                continue  # deleted since names() listed it
            except (UsageError, StorageError) as exc:
                out.append(TemplateInfo(name, "", "", (), str(self._path(name)), error=str(exc)))
                continue
            out.append(TemplateInfo(t.name, t.description, t.version, t.params.names, str(self._path(name))))
        return out
