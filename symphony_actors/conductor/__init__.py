"""Conductor: which instrument serves a task, a contextual bandit learning from feedback."""

from symphony_actors.conductor.bandit import ALGORITHMS, DEFAULT_POLICY, Arm, Bandit, parse_policy
from symphony_actors.conductor.client import ConductorClient

__all__ = ["ALGORITHMS", "DEFAULT_POLICY", "Arm", "Bandit", "ConductorClient", "parse_policy"]
