"""Validate an extension object against its manifest and the hook specs, once, at registration.

:func:`register` returns a :class:`Registration` with the hooks and commands
resolved to bound methods and the argument names each accepts, so the host
calls them by keyword without introspecting again. Every problem is reported
at once (``ValidationError``), e.g. an unknown hook with the closest valid
name, a hook argument the spec does not offer, a declared command with no
implementation.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from symphony_actors.domain.errors import Problem, ValidationError
from symphony_actors.extension_host.manifest import Manifest, NodeType, PortSpec
from symphony_actors.extension_host.schema import apply_defaults, validate
from symphony_actors.sdk.base import COMMAND_ATTR, Addon, Extension, Instrument, Operator
from symphony_actors.sdk.hookspecs import HOOKSPECS

__all__ = ["HookImpl", "Registration", "check_inputs", "check_outputs", "check_params", "register"]

_BASES: Mapping[str, type[Extension]] = {"instrument": Instrument, "operator": Operator, "addon": Addon}


@dataclass(frozen=True, slots=True)
class HookImpl:
    name: str
    func: Callable[..., Any]
    accepts: tuple[str, ...]

    def call(self, **kwargs: Any) -> Any:
        return self.func(**{k: v for k, v in kwargs.items() if k in self.accepts})


@dataclass(frozen=True, slots=True)
class Registration:
    manifest: Manifest
    instance: Extension
    hooks: Mapping[str, HookImpl] = field(default_factory=dict)
    commands: Mapping[str, Callable[..., Any]] = field(default_factory=dict)

    @property
    def node(self) -> NodeType | None:
        nodes = self.manifest.contributes.nodes
        return nodes[0] if nodes else None


def _overrides(instance: object, name: str, base: type) -> bool:
    return getattr(type(instance), name, None) is not getattr(base, name, None)


def register(instance: object, manifest: Manifest) -> Registration:
    """Check ``instance`` implements what ``manifest`` declares; ``ValidationError`` lists every problem."""
    problems: list[Problem] = []
    base = _BASES[manifest.type]
    if not isinstance(instance, base):
        got = next((k for k, b in _BASES.items() if isinstance(instance, b)), type(instance).__name__)
        raise ValidationError([Problem("entry", f"{manifest.entry} gives a {got}, but the manifest says type "
                                                f"{manifest.type}: subclass symphony_actors.sdk.{base.__name__}")],
                              subject=f"extension {manifest.id}")
    if manifest.type == "operator" and not _overrides(instance, "process", Operator):
        problems.append(Problem("entry", "an Operator must implement process(inputs, params)", "missing"))
    if manifest.type == "instrument" and not _overrides(instance, "infer", Instrument):
        problems.append(Problem("entry", "an Instrument must implement infer(inputs, params)", "missing"))

    hooks: dict[str, HookImpl] = {}
    commands: dict[str, Callable[..., Any]] = {}
    for attr in dir(type(instance)):
        if attr.startswith("__"):
            continue
        raw = inspect.getattr_static(type(instance), attr)
        if not inspect.isfunction(raw):  # properties (such as ctx) are not evaluated
            continue
        member = getattr(instance, attr)
        cmd = getattr(member, COMMAND_ATTR, None)
        if isinstance(cmd, str):
            if manifest.type != "addon":
                problems.append(Problem(f"commands.{cmd}", "only addons implement commands"))
            elif cmd in commands:
                problems.append(Problem(f"commands.{cmd}", "implemented twice"))
            commands[cmd] = member
            continue
        if not attr.startswith("on_"):
            continue
        spec = HOOKSPECS.get(attr)
        if spec is None:
            close = difflib.get_close_matches(attr, list(HOOKSPECS), n=1)
            hint = f" (did you mean {close[0]}?)" if close else f" (known: {', '.join(sorted(HOOKSPECS))})"
            problems.append(Problem(f"hooks.{attr}", f"unknown hook{hint}"))
            continue
        if manifest.type != "addon":
            problems.append(Problem(f"hooks.{attr}", "editor hooks are for addons"))
            continue
        try:
            sig = inspect.signature(member)
        except (TypeError, ValueError):
            problems.append(Problem(f"hooks.{attr}", "has no inspectable signature"))
            continue
        accepts: list[str] = []
        for p in sig.parameters.values():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                problems.append(Problem(f"hooks.{attr}", "name the arguments you use; *args/**kwargs are not "
                                                         "allowed so the spec can grow safely"))
            elif p.name not in spec.params:
                problems.append(Problem(f"hooks.{attr}.{p.name}", f"not an argument of {attr}; it offers: "
                                                                  f"{', '.join(spec.params) or 'none'}"))
            else:
                accepts.append(p.name)
        hooks[attr] = HookImpl(attr, member, tuple(accepts))

    declared = {c.id for c in manifest.contributes.commands}
    for cid in sorted(declared - commands.keys()):
        problems.append(Problem(f"contributes.commands.{cid}", "declared but not implemented "
                                                               "(mark a method with @command)", "missing"))
    for cid in sorted(commands.keys() - declared):
        problems.append(Problem(f"commands.{cid}", "implemented but not declared in contributes.commands"))
    if manifest.type == "addon" and not hooks and not commands:
        problems.append(Problem("entry", "an Addon implements no hook and no command", "missing"))
    if problems:
        raise ValidationError(problems, subject=f"extension {manifest.id}")
    return Registration(manifest, instance, hooks, commands)


_PORT_TYPES: Mapping[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "list": lambda v: isinstance(v, list | tuple),
    "object": lambda v: isinstance(v, Mapping),
    "bytes": lambda v: isinstance(v, bytes | bytearray),
    "artifact": lambda v: isinstance(v, str),
    "any": lambda v: True,
}


def _check_ports(ports: tuple[PortSpec, ...], values: object, where: str, subject: str) -> dict[str, Any]:
    if not isinstance(values, Mapping):
        raise ValidationError([Problem(where, f"must be a dict of port name to value, not {type(values).__name__}")],
                              subject=subject)
    problems: list[Problem] = []
    for port in ports:
        if port.name not in values:
            if port.required:
                problems.append(Problem(f"{where}.{port.name}", f"is required ({port.type})", "missing"))
        elif values[port.name] is not None and not _PORT_TYPES[port.type](values[port.name]):
            problems.append(Problem(f"{where}.{port.name}",
                                    f"expected {port.type}, got {type(values[port.name]).__name__}"))
    if problems:
        raise ValidationError(problems, subject=subject)
    return dict(values)


def check_inputs(node: NodeType | None, inputs: object, subject: str) -> dict[str, Any]:
    """Inputs as a dict after checking required ports and their types (no node: any dict)."""
    return _check_ports(node.inputs if node else (), inputs, "inputs", subject)


def check_outputs(node: NodeType | None, outputs: object, subject: str) -> dict[str, Any]:
    return _check_ports(node.outputs if node else (), outputs, "outputs", subject)


def check_params(node: NodeType | None, params: Mapping[str, Any] | None, subject: str) -> dict[str, Any]:
    """Parameters with schema defaults applied, validated against the node's parameter schema."""
    schema = node.params if node and node.params else {"type": "object"}
    values = apply_defaults(params, schema)
    problems = validate(values, schema, "params")
    if problems:
        raise ValidationError(problems, subject=subject)
    return values
