"""Topic patterns: '*' is one segment, '#' (last only) any number of trailing segments."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symphony_actors.domain.errors import UsageError
from symphony_actors.domain.topics import check_pattern, matches


def reference(pattern: str, topic: str) -> bool:
    """The obvious recursive definition, for comparison."""
    def go(ps: list[str], ts: list[str]) -> bool:
        if not ps:
            return not ts
        if ps[0] == "#":
            return True
        if not ts:
            return False
        return (ps[0] == "*" or ps[0] == ts[0]) and go(ps[1:], ts[1:])

    return go(pattern.split("."), topic.split("."))


segment = st.sampled_from(["run", "r1", "node", "n1", "succeeded", "failed", "a"])
topics = st.lists(segment, min_size=1, max_size=6).map(".".join)
patterns = st.builds(lambda body, tail: ".".join(body + tail),
                     st.lists(segment | st.just("*"), min_size=0, max_size=6),
                     st.sampled_from([[], ["#"]])).filter(bool)


@settings(max_examples=500)
@given(patterns, topics)
def test_matches_agrees_with_the_reference(pattern: str, topic: str) -> None:
    assert reference(pattern, topic) == matches(check_pattern(pattern), topic)


@pytest.mark.parametrize(("pattern", "topic", "expected"), [
    ("run.*.node.*.succeeded", "run.r1.node.n1.succeeded", True),
    ("run.*.node.*.succeeded", "run.r1.node.n1.failed", False),
    ("run.r1.#", "run.r1", True),
    ("run.r1.#", "run.r1.node.n1.succeeded", True),
    ("run.r1.#", "run.r2.node", False),
    ("#", "anything.at.all", True),
    ("run.*", "run", False),
    ("run.*", "run.r1.node", False),
    ("run", "run.r1", False),
])
def test_examples(pattern: str, topic: str, expected: bool) -> None:
    assert expected == matches(pattern, topic)


@pytest.mark.parametrize("pattern", ["", "run..x", ".run", "run.", "run.#.x", "#.x"])
def test_bad_patterns_say_why(pattern: str) -> None:
    with pytest.raises(UsageError):
        check_pattern(pattern)


def test_good_patterns_are_returned() -> None:
    assert check_pattern("run.*.#") == "run.*.#"
