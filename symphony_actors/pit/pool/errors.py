"""Errors a lease holder receives from the Pool Manager (registered by code, so they cross processes)."""

from __future__ import annotations

from symphony_actors.domain.errors import ExtensionFailed, SymphonyFailure

__all__ = ["InstanceFailed", "LeaseExpired"]


class InstanceFailed(ExtensionFailed):
    """The model instance behind a lease died or got stuck; re-allocate to get its replacement."""

    code = "pool_instance_failed"


class LeaseExpired(SymphonyFailure):
    """The lease ran past its deadline without a renewal and its instance was taken back."""

    code = "pool_lease_expired"
