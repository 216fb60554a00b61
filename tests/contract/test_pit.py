"""PitPort composes the five Pit ports by attribute; the all-fake Pit satisfies it."""

from __future__ import annotations

from symphony_actors.ports.artifacts import ArtifactPort
from symphony_actors.ports.dag import DagPort
from symphony_actors.ports.pit import ArbitrationPort, PitPort, PoolPort, StalePort
from symphony_actors.testing.fake_pit import fake_pit


def test_the_fake_pit_is_a_pit_of_five_ports() -> None:
    pit = fake_pit()
    assert isinstance(pit, PitPort)
    for port, proto in ((pit.pool, PoolPort), (pit.dag, DagPort), (pit.artifacts, ArtifactPort),
                        (pit.arbitration, ArbitrationPort), (pit.stale, StalePort)):
        assert isinstance(port, proto)


def test_one_pit_serves_a_whole_use_case() -> None:
    """Admit, lease a model, record the output's lineage, and find the node fresh on a re-run."""
    pit = fake_pit()
    pit.arbitration.set_policy(policy={"capacity": {"executors": 1}}, merge=True)
    assert pit.arbitration.submit(request_id="n1", run="r1", demands={"executors": 1})["verdict"] == "granted"
    pit.pool.register_model(model="acme.llm", size_mb=100)
    lease = pit.pool.allocate(model="acme.llm", holder="r1")
    pit.stale.record(artifact="out-1", node_type="summarize", params={"n": 3}, inputs=["doc-1"], node="n1")
    pit.pool.release(lease_id=lease["lease_id"])
    pit.arbitration.release(request_id="n1")
    again = pit.stale.fresh_nodes(nodes=[{"node": "n1", "type": "summarize", "params": {"n": 3},
                                          "inputs": ["doc-1"]}])
    assert again["fresh"] == {"n1": "out-1"}
