"""Typed identifiers: fresh ids are unique and sortable; extension ids are validated."""

from __future__ import annotations

import pytest

from symphony_actors.domain.errors import UsageError
from symphony_actors.domain.ids import extension_id, new_id, new_run_id


def test_new_ids_are_unique_and_carry_their_prefix() -> None:
    ids = [new_id("node-") for _ in range(1000)]
    assert len(set(ids)) == 1000
    assert all(i.startswith("node-") for i in ids)
    assert new_run_id().startswith("run-")


def test_new_ids_sort_by_creation_time(monkeypatch: pytest.MonkeyPatch) -> None:
    import symphony_actors.domain.ids as ids

    stamps = iter([1_700_000_000.000, 1_700_000_000.001, 1_800_000_000.0])
    monkeypatch.setattr(ids.time, "time", lambda: next(stamps))
    made = [new_id() for _ in range(3)]
    assert sorted(made) == made
    assert len(made[0]) == 12 + 16


@pytest.mark.parametrize("text", ["acme.formatter", "a.b", "my-org_1.tool.v2", "0x.y-z"])
def test_valid_extension_ids(text: str) -> None:
    assert extension_id(text) == text


@pytest.mark.parametrize("text", ["", "acme", "Acme.tool", ".tool", "acme.", "acme.tool\n", "acme tool.x",
                                  "acme.-x", "a" * 65 + ".x", "acme/tool.x"])
def test_invalid_extension_ids_say_what_is_expected(text: str) -> None:
    with pytest.raises(UsageError) as info:
        extension_id(text)
    assert "publisher.name" in str(info.value)


def test_non_string_extension_id_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        extension_id(12)  # type: ignore[arg-type]
