"""The artifact store hosted by the real runtime (multiprocTCPBase) as ``artifacts`` under ``pit``."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from symphony_actors.domain.errors import ConflictError, NotFoundError
from symphony_actors.pit.artifacts.client import ArtifactClient
from symphony_actors.ports.artifacts import MAX_PART_BYTES
from symphony_actors.ports.service import ChildSpec, SupervisorSpec
from symphony_actors.testing.trees import flat_tree
from tests.integration.conftest import SystemUnderTest

pytestmark = pytest.mark.integration


def test_artifacts_service_on_a_real_system(make_system: Callable[[SupervisorSpec], SystemUnderTest]) -> None:
    """Streaming above 1 MiB, lineage, search, typed errors and result dataclasses cross real processes."""
    sut = make_system(flat_tree(SupervisorSpec("pit", children=(
        ChildSpec("artifacts", "symphony_actors.pit.artifacts.service:build"),))))
    port = ArtifactClient(sut.client)
    big = os.urandom(3 * MAX_PART_BYTES + 5)
    parent = port.store(b"the osprey dives", name="in.txt", media_type="text/plain", tags=["t"], run_id="r",
                        node_id="a")
    child = port.store(big, name="out.bin", run_id="r", node_id="b", parents=[parent])
    assert big == port.retrieve(child)
    assert (parent,) == port.info(child).parents
    assert [parent] == [e.artifact_id for e in port.lineage(child)]
    assert [parent] == [h.artifact_id for h in port.search("osprey", tag="t")]
    with pytest.raises(ConflictError):
        port.delete(parent)
    port.delete(child)
    assert port.gc().bytes_freed >= len(big) // 2
    with pytest.raises(NotFoundError):
        port.retrieve(child)
    assert port.verify().ok
