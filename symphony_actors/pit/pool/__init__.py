"""Pool Manager: model instances, leases, keep-alive and prewarming, eviction, health checks."""

from symphony_actors.pit.pool.client import PoolClient
from symphony_actors.pit.pool.core import ModelSpec, PoolConfig, PoolCore
from symphony_actors.pit.pool.errors import InstanceFailed, LeaseExpired
from symphony_actors.pit.pool.histogram import HistogramConfig, IdleHistogram, Windows
from symphony_actors.pit.pool.loaders import InstantLoader, LoadRequest, ModelLoader, ScriptedLoader

__all__ = ["HistogramConfig", "IdleHistogram", "InstanceFailed", "InstantLoader", "LeaseExpired", "LoadRequest",
           "ModelLoader", "ModelSpec", "PoolClient", "PoolConfig", "PoolCore", "ScriptedLoader", "Windows"]
