"""Stale Manager: lineage of derivations, transitive and TTL staleness, cleanup, incremental re-runs."""

from symphony_actors.pit.stale.client import StaleClient
from symphony_actors.pit.stale.core import Derivation, Lineage, Reclaimer, derivation_key
from symphony_actors.pit.stale.reclaim import ArtifactStoreReclaimer

__all__ = ["ArtifactStoreReclaimer", "Derivation", "Lineage", "Reclaimer", "StaleClient", "derivation_key"]
