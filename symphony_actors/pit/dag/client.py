"""The DagPort adapter: calls the DAG tracker service by name through any Caller."""

from __future__ import annotations

from typing import Any

from symphony_actors.ports.service import Caller

__all__ = ["DagClient"]


def _document(workflow: Any) -> Any:
    """Workflows travel as binary documents: compact, versioned, and independent of class layout."""
    from symphony_actors.domain.workflow import Template, Workflow, dumps_binary

    if isinstance(workflow, Workflow | Template):
        return dumps_binary(workflow, level=3)
    return workflow


# A submit is one step of the tracker, linear in the workflow: 100k nodes take tens of seconds of CPU
# (more on a loaded machine). A tracker that really hangs is restarted by its supervisor.
SUBMIT_TIMEOUT_S = 600.0


class DagClient:
    def __init__(self, caller: Caller, service: str = "dag") -> None:
        self._call = caller.call
        self.service = service

    def submit(self, workflow: Any, params: dict[str, Any] | None = None, run_id: str | None = None,
               reuse: dict[str, dict[str, Any]] | None = None, hold: bool = False,
               retry_of: dict[str, Any] | None = None, summary: dict[str, Any] | None = None) -> str:
        extra: dict[str, Any] = {"reuse": reuse} if reuse else {}
        if hold:
            extra["hold"] = True
            if summary:
                extra["summary"] = summary
        if retry_of:
            extra["retry_of"] = retry_of
        result: str = self._call(self.service, "submit", workflow=_document(workflow), params=params or {},
                                 run_id=run_id, timeout=SUBMIT_TIMEOUT_S, **extra)
        return result

    def status(self, run_id: str, nodes: bool = False) -> dict[str, Any]:
        result: dict[str, Any] = self._call(self.service, "status", run_id=run_id, nodes=nodes)
        return result

    def wait(self, run_id: str, timeout: float = 60.0) -> dict[str, Any]:
        result: dict[str, Any] = self._call(self.service, "wait", run_id=run_id, within=timeout,
                                            timeout=timeout + 10.0)
        return result

    def events(self, run_id: str, after: int = 0, limit: int = 1000) -> dict[str, Any]:
        result: dict[str, Any] = self._call(self.service, "events", run_id=run_id, after=after, limit=limit)
        return result

    def result(self, run_id: str, node_id: str) -> Any:
        return self._call(self.service, "result", run_id=run_id, node_id=node_id)

    def cancel(self, run_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call(self.service, "cancel", run_id=run_id)
        return result

    def logs(self, run_id: str, node: str | None = None, output: bool = True) -> dict[str, Any]:
        result: dict[str, Any] = self._call(self.service, "logs", run_id=run_id, node=node, output=output)
        return result

    def list_runs(self, limit: int = 50) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call(self.service, "list_runs", limit=limit)
        return result

    def outcome(self, run_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call(self.service, "outcome", run_id=run_id, timeout=120.0)
        return result
