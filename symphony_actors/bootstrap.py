"""The composition root: the supervision tree of a Symphony system, declared as data.

``default_tree()`` is DESIGN.md's tree. Each service is named once (services
are found by name) and built in its own actor process by its factory. Tests
and embedders build their own trees with the same specs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any

from symphony_actors.domain.errors import Problem, ValidationError
from symphony_actors.hosting import load_factory
from symphony_actors.ports.service import ChildSpec, SupervisorSpec

__all__ = ["SERVICE_NAMES", "default_tree", "iter_specs", "validate_tree"]

# Names users type in `symphony kill NAME` and `client.ask(NAME, ...)`.
SERVICE_NAMES = ("bus", "pit", "pool", "dag", "runs", "artifacts", "arbitration", "stale", "conductor",
                 "extensions", "exthost", "editor", "gateway")


def default_tree(options: Mapping[str, Any] | None = None) -> SupervisorSpec:
    """The production tree; ``options`` per service name are passed to that service's factory."""
    opts = dict(options or {})

    def svc(name: str, factory: str, **kw: Any) -> ChildSpec:
        return ChildSpec(name, factory, options={**kw.pop("options", {}), **opts.get(name, {})}, **kw)

    executors = int(opts.get("dag", {}).get("executors", os.cpu_count() or 1))
    pit = SupervisorSpec("pit", strategy="one_for_one", max_restarts=10, within_seconds=10, children=(
        svc("pool", "symphony_actors.pit.pool.service:build"),
        svc("artifacts", "symphony_actors.pit.artifacts.service:build"),
        svc("arbitration", "symphony_actors.pit.arbitration.service:build"),
        svc("stale", "symphony_actors.pit.stale.service:build"),
        svc("conductor", "symphony_actors.conductor.service:build"),
        *(svc(f"exec-{i}", "symphony_actors.pit.dag.executor:build", options={"index": i},
              shutdown_timeout=2.0) for i in range(executors)),
        svc("dag", "symphony_actors.pit.dag.service:build", options={"executors": executors}),
        svc("runs", "symphony_actors.pit.dag.runs:build"),
    ))
    extensions = SupervisorSpec("extensions", strategy="one_for_one", max_restarts=20, within_seconds=10,
                                children=(svc("exthost", "symphony_actors.extension_host.service:build"),))
    # The gateway needs the system's admin port, which only the launcher knows: it passes it in.
    gateway = (svc("gateway", "symphony_actors.gateway.service:build"),) \
        if opts.get("gateway", {}).get("system_port") else ()
    return SupervisorSpec("root", strategy="one_for_one", max_restarts=5, within_seconds=10, children=(
        svc("bus", "symphony_actors.bus.service:build"),
        pit,
        extensions,
        svc("editor", "symphony_actors.editor.bridge:build"),
        *gateway,
    ))


def iter_specs(spec: SupervisorSpec) -> Iterator[ChildSpec | SupervisorSpec]:
    yield spec
    for child in spec.children:
        if isinstance(child, SupervisorSpec):
            yield from iter_specs(child)
        else:
            yield child


def validate_tree(spec: SupervisorSpec, *, check_factories: bool = True) -> SupervisorSpec:
    """Every problem at once: duplicate names, bad restart settings, factories that do not import."""
    problems: list[Problem] = []
    seen: dict[str, str] = {}

    def walk(s: ChildSpec | SupervisorSpec, path: str) -> None:
        here = f"{path}/{s.name}" if path else s.name
        if s.name in seen:
            problems.append(Problem(here, f"name {s.name!r} is used twice (also at {seen[s.name]})", "duplicate"))
        seen[s.name] = here
        if isinstance(s, SupervisorSpec):
            if s.max_restarts < 0 or s.within_seconds <= 0:
                problems.append(Problem(here, "restart intensity must be max_restarts >= 0 within > 0 seconds"))
            for c in s.children:
                walk(c, here)
        elif check_factories:
            try:
                load_factory(s.factory)
            except Exception as exc:  # noqa: BLE001 - every failure becomes a reported problem
                problems.append(Problem(here, f"factory {s.factory!r}: {exc}", "factory"))

    walk(spec, "")
    if problems:
        raise ValidationError(problems, subject="supervision tree")
    return spec
