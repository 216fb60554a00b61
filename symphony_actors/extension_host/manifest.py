"""The extension manifest: ``extension.toml`` in the extension's folder.

Parsing checks every field and reports every problem at once (``ValidationError``
with one ``Problem`` per field path), so an author fixes a manifest in one pass.
The format is documented in ``docs/extensions.md``; in short::

    id = "publisher.name"                 # lower case, publisher.name
    version = "1.2.0"                     # PEP 440
    type = "operator"                     # instrument | operator | addon
    name = "Human name"
    description = "One or two sentences."
    keywords = ["text", "chunk"]
    entry = "module.path:Attribute"       # relative to the folder
    symphony = ">=0.1,<1"                 # supported Symphony versions
    permissions = ["artifact.read", "bus.publish:ext.name.#"]

    [dependencies]                        # other extensions with version ranges
    "publisher.other" = ">=1.0,<2"

    [limits]
    memory_mb = 256
    cpu_share = 0.5                       # fraction of one core
    timeout_s = 30

    [[contributes.nodes]]                 # node types for workflows
    name = "chunk"
    inputs = [{ name = "text", type = "string" }]
    outputs = [{ name = "chunks", type = "list" }]
    params = { type = "object", properties = { size = { type = "integer", default = 800 } } }

    [[contributes.commands]]              # editor commands (addons)
    id = "todo.list"
    title = "List TODOs"

    [contributes.configuration]           # JSON-schema subset for the extension's settings
    type = "object"
"""

from __future__ import annotations

import keyword
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from symphony_actors.domain.errors import Problem, UsageError, ValidationError
from symphony_actors.domain.ids import extension_id
from symphony_actors.extension_host.permissions import Permission, parse_permission
from symphony_actors.extension_host.safe_toml import read_toml
from symphony_actors.extension_host.schema import check_schema

__all__ = [
    "EXTENSION_TYPES",
    "MANIFEST_NAME",
    "PORT_TYPES",
    "Command",
    "Contributions",
    "Dependency",
    "Limits",
    "Manifest",
    "NodeType",
    "PortSpec",
    "load_manifest",
    "parse_manifest",
]

MANIFEST_NAME = "extension.toml"
MAX_MANIFEST_BYTES = 256 * 1024
EXTENSION_TYPES = ("instrument", "operator", "addon")
PORT_TYPES = frozenset({"string", "number", "integer", "boolean", "list", "object", "bytes", "any", "artifact"})
ExtensionType = Literal["instrument", "operator", "addon"]

_TOP_FIELDS = frozenset({"id", "version", "type", "name", "description", "keywords", "entry", "symphony",
                         "dependencies", "permissions", "limits", "contributes", "license", "homepage"})
_REQUIRED = ("id", "version", "type", "name", "description", "entry")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
_COMMAND = re.compile(r"^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*){0,5}$")
_KEYWORD = re.compile(r"^[^\x00-\x1f\x7f]{1,40}$")
MAX_NAME, MAX_DESCRIPTION, MAX_KEYWORDS, MAX_DEPENDENCIES, MAX_PERMISSIONS = 100, 2000, 20, 64, 64
MAX_NODES, MAX_PORTS, MAX_COMMANDS = 64, 64, 128


@dataclass(frozen=True, slots=True)
class Dependency:
    """Another extension this one needs, with the versions it accepts."""

    id: str
    spec: SpecifierSet

    def __str__(self) -> str:
        return f"{self.id} {self.spec}" if str(self.spec) else self.id


@dataclass(frozen=True, slots=True)
class Limits:
    """Resource limits the sandbox applies to the extension's worker."""

    memory_mb: int = 512
    cpu_share: float = 1.0
    timeout_s: float = 3600.0  # long work is normal: a model call may take minutes (docs/dag.md)


@dataclass(frozen=True, slots=True)
class PortSpec:
    name: str
    type: str = "any"
    required: bool = True
    description: str = ""


@dataclass(frozen=True, slots=True)
class NodeType:
    """A node type an instrument or operator contributes to workflows."""

    name: str
    title: str = ""
    description: str = ""
    inputs: tuple[PortSpec, ...] = ()
    outputs: tuple[PortSpec, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Command:
    id: str
    title: str


@dataclass(frozen=True, slots=True)
class Contributions:
    nodes: tuple[NodeType, ...] = ()
    commands: tuple[Command, ...] = ()
    configuration: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Manifest:
    """A validated extension manifest."""

    id: str
    version: Version
    type: ExtensionType
    name: str
    description: str
    entry: str
    keywords: tuple[str, ...] = ()
    symphony: SpecifierSet = field(default_factory=SpecifierSet)
    dependencies: tuple[Dependency, ...] = ()
    permissions: tuple[Permission, ...] = ()
    limits: Limits = field(default_factory=Limits)
    contributes: Contributions = field(default_factory=Contributions)
    license: str = ""
    homepage: str = ""

    @property
    def entry_module(self) -> str:
        return self.entry.partition(":")[0]

    @property
    def entry_attribute(self) -> str:
        return self.entry.partition(":")[2]

    @property
    def permission_strings(self) -> list[str]:
        return [str(p) for p in self.permissions]

    def to_dict(self) -> dict[str, Any]:
        """Plain data (the manifest as the TOML would state it), for storage and replies."""
        c = self.contributes
        return {
            "id": self.id, "version": str(self.version), "type": self.type, "name": self.name,
            "description": self.description, "keywords": list(self.keywords), "entry": self.entry,
            "symphony": str(self.symphony),
            "dependencies": {d.id: str(d.spec) for d in self.dependencies},
            "permissions": self.permission_strings,
            "limits": {"memory_mb": self.limits.memory_mb, "cpu_share": self.limits.cpu_share,
                       "timeout_s": self.limits.timeout_s},
            "contributes": {
                "nodes": [{"name": n.name, "title": n.title, "description": n.description,
                           "inputs": [_port_dict(p) for p in n.inputs],
                           "outputs": [_port_dict(p) for p in n.outputs], "params": dict(n.params)}
                          for n in c.nodes],
                "commands": [{"id": k.id, "title": k.title} for k in c.commands],
                "configuration": dict(c.configuration),
            },
            "license": self.license, "homepage": self.homepage,
        }


def _port_dict(p: PortSpec) -> dict[str, Any]:
    return {"name": p.name, "type": p.type, "required": p.required, "description": p.description}


def load_manifest(folder: Path | str) -> Manifest:
    """Read and validate ``extension.toml`` in ``folder``, also checking the entry module exists there."""
    folder = Path(folder)
    path = folder / MANIFEST_NAME
    if not path.is_file():
        raise ValidationError([Problem(MANIFEST_NAME, f"no {MANIFEST_NAME} in {folder}", kind="missing")],
                              subject="manifest")
    data = read_toml(path, MAX_MANIFEST_BYTES)
    manifest = parse_manifest(data)
    module = manifest.entry_module.replace(".", "/")
    if not ((folder / f"{module}.py").is_file() or (folder / module / "__init__.py").is_file()):
        raise ValidationError([Problem("entry", f"module {manifest.entry_module!r} not found in the extension "
                                                f"folder (expected {module}.py or {module}/__init__.py)",
                                       kind="missing")], subject=f"manifest of {manifest.id}")
    return manifest


class _Collector:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, path: str, message: str, kind: str = "invalid") -> None:
        self.problems.append(Problem(path, message, kind))

    def text(self, data: Mapping[str, Any], key: str, path: str, limit: int, *, required: bool = False,
             nonempty: bool = False, oneline: bool = True) -> str:
        value = data.get(key)
        if value is None:
            if required:
                self.add(path, "is required", "missing")
            return ""
        if not isinstance(value, str):
            self.add(path, f"must be a string, not {type(value).__name__}")
            return ""
        if (required or nonempty) and not value.strip():
            self.add(path, "must not be empty")
        if len(value) > limit:
            self.add(path, f"is {len(value)} characters long; at most {limit}")
        bad = "\x00-\x1f\x7f" if oneline else "\x00-\x08\x0b\x0c\x0e-\x1f\x7f"
        if re.search(f"[{bad}]", value):
            self.add(path, "contains control characters")
        return value


def parse_manifest(data: object) -> Manifest:
    """Validate manifest data (as parsed from TOML or JSON); ``ValidationError`` lists every problem."""
    c = _Collector()
    if not isinstance(data, Mapping):
        raise ValidationError([Problem("", f"a manifest is a table, not {type(data).__name__}")], subject="manifest")
    for key in data:
        if key not in _TOP_FIELDS:
            c.add(str(key), f"unknown field (known: {', '.join(sorted(_TOP_FIELDS))})", "unknown")
    for key in _REQUIRED:
        if data.get(key) is None:
            c.add(key, "is required", "missing")

    ext_id = c.text(data, "id", "id", 129, nonempty=True)
    if ext_id.strip():
        try:
            extension_id(ext_id)
        except UsageError:
            c.add("id", f"{ext_id!r} is not 'publisher.name' (lower case letters, digits, _ and -)")
            ext_id = ""

    version = Version("0")
    raw_version = data.get("version")
    if raw_version is not None:
        if not isinstance(raw_version, str) or len(raw_version) > 64:
            c.add("version", "must be a version string such as '1.2.0'")
        else:
            try:
                version = Version(raw_version)
            except InvalidVersion:
                c.add("version", f"{raw_version!r} is not a valid version (PEP 440, e.g. '1.2.0')")

    ext_type: Any = data.get("type")
    if ext_type is not None and ext_type not in EXTENSION_TYPES:
        c.add("type", f"must be one of {', '.join(EXTENSION_TYPES)}, not {ext_type!r}")

    name = c.text(data, "name", "name", MAX_NAME, nonempty=True)
    description = c.text(data, "description", "description", MAX_DESCRIPTION, nonempty=True, oneline=False)
    keywords = _keywords(c, data.get("keywords"))
    entry = _entry(c, data.get("entry"))
    symphony = _specifier(c, data.get("symphony", ""), "symphony")
    deps = _dependencies(c, data.get("dependencies"), ext_id)
    perms = _permissions(c, data.get("permissions"))
    limits = _limits(c, data.get("limits"))
    contributes = _contributes(c, data.get("contributes"), ext_type)
    lic = c.text(data, "license", "license", 100)
    homepage = c.text(data, "homepage", "homepage", 300)
    if homepage and not homepage.startswith(("https://", "http://")):
        c.add("homepage", "must be an http(s) URL")

    if c.problems:
        raise ValidationError(c.problems, subject=f"manifest of {ext_id}" if ext_id else "manifest")
    return Manifest(id=ext_id, version=version, type=ext_type, name=name, description=description, entry=entry,
                    keywords=keywords, symphony=symphony, dependencies=deps, permissions=perms, limits=limits,
                    contributes=contributes, license=lic, homepage=homepage)


def _keywords(c: _Collector, raw: object) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        c.add("keywords", "must be a list of strings")
        return ()
    if len(raw) > MAX_KEYWORDS:
        c.add("keywords", f"has {len(raw)} entries; at most {MAX_KEYWORDS}")
    out: list[str] = []
    for i, k in enumerate(raw[:MAX_KEYWORDS]):
        if not isinstance(k, str) or not _KEYWORD.match(k):
            c.add(f"keywords[{i}]", "must be a string of 1-40 printable characters")
        elif k.lower() not in out:
            out.append(k.lower())
    return tuple(out)


def _entry(c: _Collector, raw: object) -> str:
    if raw is None:
        return ""
    if not isinstance(raw, str) or len(raw) > 200:
        c.add("entry", "must be a string 'module:Attribute'")
        return ""
    module, sep, attr = raw.partition(":")
    if not sep or not module or not attr:
        c.add("entry", f"{raw!r} must look like 'module:Attribute' (module relative to the extension folder)")
        return ""
    for part in module.split("."):
        if not _IDENT.match(part) or keyword.iskeyword(part):
            c.add("entry", f"module {module!r} must be dotted Python identifiers (no paths, no '..')")
            return ""
    for part in attr.split("."):
        if not _IDENT.match(part) or keyword.iskeyword(part):
            c.add("entry", f"attribute {attr!r} must be a (dotted) Python identifier")
            return ""
    return raw


def _specifier(c: _Collector, raw: object, path: str) -> SpecifierSet:
    if not isinstance(raw, str) or len(raw) > 200:
        c.add(path, "must be a version range string such as '>=1.0,<2'")
        return SpecifierSet()
    try:
        return SpecifierSet(raw)
    except InvalidSpecifier:
        c.add(path, f"{raw!r} is not a valid version range (e.g. '>=1.0,<2', '==1.4.*', '~=2.1')")
        return SpecifierSet()


def _dependencies(c: _Collector, raw: object, own_id: str) -> tuple[Dependency, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        c.add("dependencies", "must be a table of 'publisher.name' = 'version range'")
        return ()
    if len(raw) > MAX_DEPENDENCIES:
        c.add("dependencies", f"has {len(raw)} entries; at most {MAX_DEPENDENCIES}")
    out: list[Dependency] = []
    for dep_id, spec in list(raw.items())[:MAX_DEPENDENCIES]:
        path = f"dependencies.{dep_id}"
        try:
            extension_id(str(dep_id))
        except UsageError:
            c.add(path, f"{dep_id!r} is not an extension id 'publisher.name'")
            continue
        if dep_id == own_id:
            c.add(path, "an extension cannot depend on itself")
            continue
        out.append(Dependency(str(dep_id), _specifier(c, spec, path)))
    return tuple(out)


def _permissions(c: _Collector, raw: object) -> tuple[Permission, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        c.add("permissions", "must be a list of permission strings such as 'artifact.read'")
        return ()
    if len(raw) > MAX_PERMISSIONS:
        c.add("permissions", f"has {len(raw)} entries; at most {MAX_PERMISSIONS}")
    out: list[Permission] = []
    for i, item in enumerate(raw[:MAX_PERMISSIONS]):
        try:
            perm = parse_permission(item)
        except UsageError as exc:
            c.add(f"permissions[{i}]", exc.message)
            continue
        if perm in out:
            c.add(f"permissions[{i}]", f"duplicate permission {str(perm)!r}")
        else:
            out.append(perm)
    return tuple(out)


def _number(c: _Collector, table: Mapping[str, Any], key: str, low: float, high: float, default: float,
            *, integer: bool = False) -> float:
    value = table.get(key, default)
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or (integer and not isinstance(value, int)):
        c.add(f"limits.{key}", f"must be {'an integer' if integer else 'a number'}")
        return default
    above_low = value >= low if integer else value > low  # memory_mb includes its low bound, shares do not
    if not (above_low and value <= high):
        c.add(f"limits.{key}", f"must be in {'[' if integer else '('}{low:g}, {high:g}], not {value}")
        return default
    return float(value)


def _limits(c: _Collector, raw: object) -> Limits:
    if raw is None:
        return Limits()
    if not isinstance(raw, Mapping):
        c.add("limits", "must be a table with memory_mb, cpu_share, timeout_s")
        return Limits()
    for key in raw:
        if key not in ("memory_mb", "cpu_share", "timeout_s"):
            c.add(f"limits.{key}", "unknown limit (known: memory_mb, cpu_share, timeout_s)", "unknown")
    d = Limits()
    return Limits(memory_mb=int(_number(c, raw, "memory_mb", 16, 65536, d.memory_mb, integer=True)),
                  cpu_share=_number(c, raw, "cpu_share", 0, 64, d.cpu_share),
                  timeout_s=_number(c, raw, "timeout_s", 0, 86400, d.timeout_s))


def _ports(c: _Collector, raw: object, path: str) -> tuple[PortSpec, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or len(raw) > MAX_PORTS:
        c.add(path, f"must be a list of at most {MAX_PORTS} ports {{ name, type }}")
        return ()
    out: list[PortSpec] = []
    for i, p in enumerate(raw):
        where = f"{path}[{i}]"
        if not isinstance(p, Mapping):
            c.add(where, "must be a table { name, type, required, description }")
            continue
        for key in p:
            if key not in ("name", "type", "required", "description"):
                c.add(f"{where}.{key}", "unknown port field", "unknown")
        name = p.get("name")
        if not isinstance(name, str) or not _IDENT.match(name) or len(name) > 64:
            c.add(f"{where}.name", "must be an identifier")
            continue
        if any(q.name == name for q in out):
            c.add(f"{where}.name", f"duplicate port {name!r}")
        ptype = p.get("type", "any")
        if ptype not in PORT_TYPES:
            c.add(f"{where}.type", f"must be one of {', '.join(sorted(PORT_TYPES))}")
        required = p.get("required", True)
        if not isinstance(required, bool):
            c.add(f"{where}.required", "must be true or false")
        desc = p.get("description", "")
        if not isinstance(desc, str) or len(desc) > 500:
            c.add(f"{where}.description", "must be a string of at most 500 characters")
        out.append(PortSpec(name, str(ptype), bool(required), str(desc)))
    return tuple(out)


def _contributes(c: _Collector, raw: object, ext_type: object) -> Contributions:
    if raw is None:
        return Contributions()
    if not isinstance(raw, Mapping):
        c.add("contributes", "must be a table with nodes, commands, configuration")
        return Contributions()
    for key in raw:
        if key not in ("nodes", "commands", "configuration"):
            c.add(f"contributes.{key}", "unknown contribution (known: nodes, commands, configuration)", "unknown")
    nodes: list[NodeType] = []
    raw_nodes = raw.get("nodes", [])
    if not isinstance(raw_nodes, list) or len(raw_nodes) > MAX_NODES:
        c.add("contributes.nodes", f"must be a list of at most {MAX_NODES} node tables")
        raw_nodes = []
    if raw_nodes and ext_type == "addon":
        c.add("contributes.nodes", "addons contribute commands and hooks, not workflow nodes")
    for i, n in enumerate(raw_nodes):
        where = f"contributes.nodes[{i}]"
        if not isinstance(n, Mapping):
            c.add(where, "must be a table")
            continue
        for key in n:
            if key not in ("name", "title", "description", "inputs", "outputs", "params"):
                c.add(f"{where}.{key}", "unknown node field", "unknown")
        name = n.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            c.add(f"{where}.name", "must be lower case letters, digits, _ or - (at most 64)")
            continue
        if any(x.name == name for x in nodes):
            c.add(f"{where}.name", f"duplicate node type {name!r}")
        title = c.text(n, "title", f"{where}.title", MAX_NAME)
        desc = c.text(n, "description", f"{where}.description", MAX_DESCRIPTION, oneline=False)
        params = n.get("params", {"type": "object"})
        problems = check_schema(params, f"{where}.params")
        c.problems.extend(problems)
        nodes.append(NodeType(name, title, desc, _ports(c, n.get("inputs"), f"{where}.inputs"),
                              _ports(c, n.get("outputs"), f"{where}.outputs"),
                              dict(params) if isinstance(params, Mapping) and not problems else {}))
    commands: list[Command] = []
    raw_cmds = raw.get("commands", [])
    if not isinstance(raw_cmds, list) or len(raw_cmds) > MAX_COMMANDS:
        c.add("contributes.commands", f"must be a list of at most {MAX_COMMANDS} command tables")
        raw_cmds = []
    for i, k in enumerate(raw_cmds):
        where = f"contributes.commands[{i}]"
        if not isinstance(k, Mapping):
            c.add(where, "must be a table { id, title }")
            continue
        for key in k:
            if key not in ("id", "title"):
                c.add(f"{where}.{key}", "unknown command field", "unknown")
        cid = k.get("id")
        if not isinstance(cid, str) or not _COMMAND.match(cid) or len(cid) > 100:
            c.add(f"{where}.id", "must be dotted lower-case words such as 'todo.list'")
            continue
        if any(x.id == cid for x in commands):
            c.add(f"{where}.id", f"duplicate command {cid!r}")
        commands.append(Command(cid, c.text(k, "title", f"{where}.title", MAX_NAME, required=True)))
    config = raw.get("configuration", {})
    problems = check_schema(config, "contributes.configuration")
    c.problems.extend(problems)
    if isinstance(config, Mapping) and not problems and config.get("type", "object") != "object":
        c.add("contributes.configuration.type", "configuration must be an object schema")
    return Contributions(tuple(nodes), tuple(commands),
                         dict(config) if isinstance(config, Mapping) and not problems else {})
