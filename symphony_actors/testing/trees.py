"""Small supervision trees of test services, for runtime tests, benchmarks and `symphony start --tree`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from symphony_actors.ports.service import ChildSpec, RestartType, Strategy, SupervisorSpec

__all__ = ["dag_tree", "echo", "extensions_tree", "flat_tree", "small_tree"]

ECHO = "symphony_actors.testing.services:build_echo"


def echo(name: str, restart: RestartType = "permanent", **options: Any) -> ChildSpec:
    return ChildSpec(name, ECHO, restart=restart, options=options, shutdown_timeout=3.0)


def flat_tree(*children: ChildSpec | SupervisorSpec, strategy: Strategy = "one_for_one", max_restarts: int = 5,
              within_seconds: float = 10.0, bus: bool = True) -> SupervisorSpec:
    head = (ChildSpec("bus", "symphony_actors.bus.service:build"),) if bus else ()
    return SupervisorSpec("root", children=(*head, *children), strategy=strategy, max_restarts=max_restarts,
                          within_seconds=within_seconds)


def small_tree(options: Mapping[str, Any] | None = None) -> SupervisorSpec:
    """bus, and a 'pit' supervisor with two echo services: enough to exercise the launcher."""
    return flat_tree(SupervisorSpec("pit", children=(echo("alpha"), echo("beta"))))


def dag_tree(options: Mapping[str, Any] | None = None) -> SupervisorSpec:
    """bus + a pit with the artifact store, executors and the DAG tracker: what runs a workflow."""
    opts = dict(options or {})
    n = int(opts.get("executors", 2))
    return flat_tree(SupervisorSpec("pit", max_restarts=int(opts.get("max_restarts", 20)), within_seconds=10,
                                    children=(
        ChildSpec("artifacts", "symphony_actors.pit.artifacts.service:build"),
        *(ChildSpec(f"exec-{i}", "symphony_actors.pit.dag.executor:build", shutdown_timeout=2.0)
          for i in range(n)),
        ChildSpec("dag", "symphony_actors.pit.dag.service:build", options={"executors": n}),
        ChildSpec("runs", "symphony_actors.pit.dag.runs:build", options={"ports": ["artifacts"]}),
    )), max_restarts=20)


def extensions_tree(options: Mapping[str, Any] | None = None) -> SupervisorSpec:
    """:func:`dag_tree` plus the ``extensions`` supervisor with the extension host: loads extensions.

    Options: ``executors`` (2), ``workspace`` (``${workspace}`` of grants), ``allow_unconfined``,
    ``use_cgroups`` (passed to the extension host).
    """
    opts = dict(options or {})
    pit = dag_tree(opts).children[1]
    host_opts: dict[str, Any] = {k: opts[k] for k in ("workspace", "allow_unconfined", "use_cgroups", "trusted")
                                 if k in opts}
    extensions = SupervisorSpec("extensions", max_restarts=20, within_seconds=10, children=(
        ChildSpec("exthost", "symphony_actors.extension_host.service:build", options=host_opts),))
    return flat_tree(pit, extensions, max_restarts=20)
