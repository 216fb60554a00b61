"""``ArbitrationClient``: the ArbitrationPort over a :class:`~symphony_actors.ports.service.Caller`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from symphony_actors.ports.service import Caller

__all__ = ["ArbitrationClient"]


class ArbitrationClient:
    """Calls the hosted ``arbitration`` service by name."""

    def __init__(self, caller: Caller, service: str = "arbitration") -> None:
        self.caller, self.service = caller, service

    def _call(self, method: str, **kwargs: Any) -> Any:
        return self.caller.call(self.service, method, **kwargs)

    def submit(self, *, request_id: str, run: str, demands: Mapping[str, float], user: str = "",
               workflow: str = "", priority: int = 0, deadline: float | None = None) -> dict[str, Any]:
        return self._call("submit", request_id=request_id, run=run, demands=dict(demands),  # type: ignore[no-any-return]
                          user=user, workflow=workflow, priority=priority, deadline=deadline)

    def release(self, *, request_id: str) -> dict[str, Any]:
        return self._call("release", request_id=request_id)  # type: ignore[no-any-return]

    def reconcile(self, *, prefix: str, live: list[str]) -> list[str]:
        return self._call("reconcile", prefix=prefix, live=list(live))  # type: ignore[no-any-return]

    def set_capacity(self, *, capacity: Mapping[str, float]) -> dict[str, Any]:
        return self._call("set_capacity", capacity=dict(capacity))  # type: ignore[no-any-return]

    def decision(self, *, request_id: str) -> dict[str, Any]:
        return self._call("decision", request_id=request_id)  # type: ignore[no-any-return]

    def claim(self, *, kind: str, name: str, run: str, priority: int = 0) -> dict[str, Any]:
        return self._call("claim", kind=kind, name=name, run=run, priority=priority)  # type: ignore[no-any-return]

    def unclaim(self, *, kind: str, name: str, run: str) -> dict[str, Any]:
        return self._call("unclaim", kind=kind, name=name, run=run)  # type: ignore[no-any-return]

    def decisions(self, *, request_id: str | None = None, run: str | None = None,
                  limit: int = 100) -> list[dict[str, Any]]:
        return self._call("decisions", request_id=request_id, run=run, limit=limit)  # type: ignore[no-any-return]

    def get_policy(self) -> dict[str, Any]:
        return self._call("get_policy")  # type: ignore[no-any-return]

    def set_policy(self, *, policy: Mapping[str, Any], merge: bool = False) -> dict[str, Any]:
        return self._call("set_policy", policy=dict(policy), merge=merge)  # type: ignore[no-any-return]

    def status(self) -> dict[str, Any]:
        return self._call("status")  # type: ignore[no-any-return]
