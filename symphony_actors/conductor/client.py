"""``ConductorClient``: the ConductorPort over a :class:`~symphony_actors.ports.service.Caller`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from symphony_actors.ports.service import Caller

__all__ = ["ConductorClient"]


class ConductorClient:
    """Calls the hosted ``conductor`` service by name."""

    def __init__(self, caller: Caller, service: str = "conductor") -> None:
        self.caller, self.service = caller, service

    def _call(self, method: str, **kwargs: Any) -> Any:
        return self.caller.call(self.service, method, **kwargs)

    def start(self) -> dict[str, Any]:
        return self._call("start")  # type: ignore[no-any-return]

    def stop(self) -> dict[str, Any]:
        return self._call("stop")  # type: ignore[no-any-return]

    def status(self) -> dict[str, Any]:
        return self._call("status")  # type: ignore[no-any-return]

    def decide(self, *, task: str, candidates: Sequence[str], context: Mapping[str, Any] | None = None,
               decision_id: str | None = None) -> dict[str, Any]:
        return self._call("decide", task=task, candidates=list(candidates),  # type: ignore[no-any-return]
                          context=None if context is None else dict(context), decision_id=decision_id)

    def feedback(self, *, decision_id: str, quality: float | None = None, cost: float | None = None,
                 latency_s: float | None = None, success: bool = True) -> dict[str, Any]:
        return self._call("feedback", decision_id=decision_id, quality=quality,  # type: ignore[no-any-return]
                          cost=cost, latency_s=latency_s, success=success)

    def rate(self, *, decision_id: str, quality: float | None = None, cost: float | None = None) -> dict[str, Any]:
        return self._call("rate", decision_id=decision_id, quality=quality, cost=cost)  # type: ignore[no-any-return]

    def history(self, *, task: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        return self._call("history", task=task, limit=limit)  # type: ignore[no-any-return]

    def policies(self) -> dict[str, Any]:
        return self._call("policies")  # type: ignore[no-any-return]

    def set_policy(self, *, policy: Mapping[str, Any], merge: bool = False) -> dict[str, Any]:
        return self._call("set_policy", policy=dict(policy), merge=merge)  # type: ignore[no-any-return]

    def metrics(self, *, task: str | None = None) -> dict[str, Any]:
        return self._call("metrics", task=task)  # type: ignore[no-any-return]
