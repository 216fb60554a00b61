"""Property tests: manifests and permissions never crash on arbitrary input; normal forms are stable."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from symphony_actors.domain.errors import UsageError, ValidationError
from symphony_actors.extension_host.manifest import parse_manifest
from symphony_actors.extension_host.permissions import KINDS, parse_permission

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20)

FIELDS = ["id", "version", "type", "name", "description", "entry", "keywords", "symphony", "dependencies",
          "permissions", "limits", "contributes", "license", "homepage"]


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), json_values, max_size=14))
def test_any_manifest_data_parses_or_lists_problems(data: dict[str, Any]) -> None:
    """Arbitrary data never raises anything but ValidationError, and every problem names a field."""
    try:
        parse_manifest(data)
    except ValidationError as exc:
        assert exc.problems and all(isinstance(p.path, str) for p in exc.problems)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(KINDS)), st.text(max_size=40))
def test_any_permission_text_parses_to_a_stable_normal_form_or_is_refused(kind: str, target: str) -> None:
    text = f"{kind}:{target}" if target else kind
    try:
        p = parse_permission(text)
    except UsageError:
        return
    assert parse_permission(str(p)) == p


@settings(max_examples=100, deadline=None)
@given(st.from_regex(r"[a-z]([a-z0-9-]{0,6}[a-z0-9])?(\.[a-z]([a-z0-9-]{0,6}[a-z0-9])?){0,3}", fullmatch=True),
       st.integers(1, 65535), st.integers(0, 100))
def test_net_targets_round_trip(host: str, port: int, span: int) -> None:
    high = min(65535, port + span)
    p = parse_permission(f"net.connect:{host}:{port}-{high}")
    assert p.net.covers(host, port) and p.net.covers(host, high)
    assert not p.net.covers(host + "x", port)
