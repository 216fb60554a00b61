"""Shared workflows for the workflow-model tests."""

from __future__ import annotations

import pytest

from symphony_actors.domain.workflow import Workflow, field


def build_sample() -> Workflow:
    """A small workflow using every node and edge kind."""
    return (Workflow.build("triage", description="route summaries by score")
            .operator("read", "files.io/read", params={"path": "in.txt"}, outputs={"text": "text"})
            .then("clean", "text.tools/clean", inputs={"raw": "text"}, outputs={"text": "text"})
            .instrument("score", "openai.chat/complete", inputs={"prompt": "text"},
                        outputs={"result": "json"}, params={"temperature": 0.2, "model": "small"},
                        retry=3, timeout=30)
            .connect("clean.text", "score.prompt")
            .branch("route").connect("score", "route")
            .operator("keep", "builtin.identity", inputs={"in": "any"}, outputs={"out": "any"})
            .operator("drop", "builtin.identity", inputs={"in": "any"}, outputs={"out": "any"})
            .connect("score", "keep").connect("score", "drop")
            .when("route", "keep", field("score") >= 0.5)
            .when("route", "drop", ~(field("score") >= 0.5))
            .join("either", "any").connect("keep", "either").connect("drop", "either")
            .map("fan", max_items=10, concurrency=2).connect("either", "fan")
            .build())


@pytest.fixture
def sample() -> Workflow:
    return build_sample()
