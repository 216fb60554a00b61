"""The conductor routes an instrument node between installed instruments, on the production tree.

Two copies of a strict-schema instrument (``additionalProperties = false``: a stray ``params.model`` would
be refused) provide the same node; the conductor's choice decides which extension actor runs the node,
the params reach it untouched, and the feedback carries the node's latency."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from symphony_actors.bootstrap import default_tree
from symphony_actors.domain.errors import NotFoundError, ValidationError
from symphony_actors.domain.workflow import Workflow
from symphony_actors.extension_host.service import ExtensionPortClient
from symphony_actors.testing.waiting import wait_for

from .conftest import running_system

pytestmark = pytest.mark.integration

SLOW = Path(__file__).resolve().parents[1] / "fixtures" / "extensions" / "slow"
IDS = ("test.slow-a", "test.slow-b")


def strict_copy(root: Path, ext_id: str) -> Path:
    folder = root / ext_id
    shutil.copytree(SLOW, folder)
    toml = folder / "extension.toml"
    text = toml.read_text().replace('id = "test.slow"', f'id = "{ext_id}"')
    text = text.replace('[contributes.nodes.params]\ntype = "object"',
                        '[contributes.nodes.params]\ntype = "object"\nadditionalProperties = false')
    assert "additionalProperties = false" in text
    toml.write_text(text)
    return folder


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    root = tmp_path_factory.mktemp("conductor")
    with running_system(default_tree({"dag": {"executors": 1}}), root / "data") as (_system, client):
        port = ExtensionPortClient(client)
        for ext_id in IDS:
            port.install(str(strict_copy(root, ext_id)))
            port.load(ext_id)
        yield client, port


def think(*candidates: str) -> Workflow:
    return (Workflow.build("route")
            .instrument("think", "test.slow-a/think", params={"seconds": 0.2}, outputs={"answer": "any"},
                        meta={"candidates": list(candidates)})
            .build(validate=False))


def test_the_choice_decides_the_extension_and_the_feedback_has_the_latency(env: tuple[Any, Any]) -> None:
    client, _port = env
    run = client.run_workflow(think(*IDS))
    snap = run.wait(120)
    assert snap["status"] == "succeeded", run.status(nodes=True)
    assert run.result("think") == 0.2  # the strict schema took the params as they were written
    wait_for(lambda: client.call("runs", "pending") == [], timeout=30, what="the end of the run processed")
    decision = client.call("conductor", "history", task="test.slow-a/think", limit=10)[-1]
    assert decision["decision_id"] == f"{run.run_id}/think" and decision["instrument"] in IDS
    (attempt,) = run.logs("think")
    assert attempt["worker"] == f"ext:{decision['instrument']}"  # the chosen extension ran it
    assert decision["success"] is True and decision["latency_s"] >= 0.2
    # the user rates the answer afterwards: the decision's sample is replaced with one that has a quality
    rated = run.feedback("think", quality=0.9)
    assert rated["amended"] is True
    assert client.call("conductor", "history", task="test.slow-a/think", limit=10)[-1]["quality"] == 0.9
    with pytest.raises(NotFoundError):
        run.feedback("nothing", quality=1.0)


def test_a_candidate_that_is_not_an_installed_instrument_is_refused_before_the_run(env: tuple[Any, Any]) -> None:
    client, _port = env
    before = len(client.runs(limit=1000))
    with pytest.raises(ValidationError, match=r"'test.nowhere': no installed extension provides"):
        client.run_workflow(think("test.slow-a", "test.nowhere"))
    assert len(client.runs(limit=1000)) == before
