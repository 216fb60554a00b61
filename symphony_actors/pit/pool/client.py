"""``PoolClient``: the PoolPort over a :class:`~symphony_actors.ports.service.Caller` (runtime or LocalRuntime)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from symphony_actors.pit.pool import errors as _errors  # registers the pool's error codes for decoding
from symphony_actors.ports.service import Caller

__all__ = ["PoolClient"]
_ = _errors


class PoolClient:
    """Calls the hosted ``pool`` service by name."""

    def __init__(self, caller: Caller, service: str = "pool") -> None:
        self.caller, self.service = caller, service

    def register_model(self, *, model: str, size_mb: float, load_cost_s: float = 1.0, max_instances: int = 1,
                       keep_alive_s: float | None = None) -> dict[str, Any]:
        return self.caller.call(self.service, "register_model", model=model, size_mb=size_mb,  # type: ignore[no-any-return]
                                load_cost_s=load_cost_s, max_instances=max_instances, keep_alive_s=keep_alive_s)

    def allocate(self, *, model: str, holder: str, lease_s: float | None = None) -> dict[str, Any]:
        return self.caller.call(self.service, "allocate", model=model, holder=holder,  # type: ignore[no-any-return]
                                lease_s=lease_s)

    def lease(self, *, lease_id: str) -> dict[str, Any]:
        return self.caller.call(self.service, "lease", lease_id=lease_id)  # type: ignore[no-any-return]

    def renew(self, *, lease_id: str, lease_s: float | None = None) -> dict[str, Any]:
        return self.caller.call(self.service, "renew", lease_id=lease_id, lease_s=lease_s)  # type: ignore[no-any-return]

    def release(self, *, lease_id: str) -> dict[str, Any]:
        return self.caller.call(self.service, "release", lease_id=lease_id)  # type: ignore[no-any-return]

    def heartbeat(self, *, instance: str) -> None:
        self.caller.call(self.service, "heartbeat", instance=instance)

    def loaded(self, *, instance: str) -> None:
        self.caller.call(self.service, "loaded", instance=instance)

    def failed(self, *, instance: str, reason: str) -> None:
        self.caller.call(self.service, "failed", instance=instance, reason=reason)

    def lookahead(self, *, models: Sequence[str], horizon_s: float = 60.0, run: str = "") -> dict[str, Any]:
        return self.caller.call(self.service, "lookahead", models=list(models),  # type: ignore[no-any-return]
                                horizon_s=horizon_s, run=run)

    def drain(self, *, model: str) -> dict[str, Any]:
        return self.caller.call(self.service, "drain", model=model)  # type: ignore[no-any-return]

    def status(self, *, model: str | None = None) -> dict[str, Any]:
        return self.caller.call(self.service, "status", model=model)  # type: ignore[no-any-return]
