"""The Artifact Store: content-addressed, deduplicated, verified, searchable artifacts with lineage.

``store.ArtifactStore`` works in-process on a data directory; ``service.build`` makes the
service object the runtime hosts as ``artifacts``; ``client.ArtifactClient`` is the port
adapter that calls it (streaming payloads above 1 MiB in parts).
"""

from symphony_actors.pit.artifacts.client import ArtifactClient
from symphony_actors.pit.artifacts.service import ArtifactService, build
from symphony_actors.pit.artifacts.store import ArtifactStore, Upload

__all__ = ["ArtifactClient", "ArtifactService", "ArtifactStore", "Upload", "build"]
