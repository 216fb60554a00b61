"""Arbitration Engine: admission among competing runs, conflicts on named things, policies as data."""

from symphony_actors.pit.arbitration.client import ArbitrationClient
from symphony_actors.pit.arbitration.core import Arbiter, Request
from symphony_actors.pit.arbitration.policy import CONFLICT_POLICIES, DEFAULT_POLICY, Policy, parse_policy

__all__ = ["CONFLICT_POLICIES", "DEFAULT_POLICY", "Arbiter", "ArbitrationClient", "Policy", "Request",
           "parse_policy"]
