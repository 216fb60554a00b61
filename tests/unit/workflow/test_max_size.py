"""--max-size values and the limits they give (files over 64 MiB are refused unless allowed)."""

from __future__ import annotations

import pytest

from symphony_actors.commands.workflow import limits_for, parse_size
from symphony_actors.domain.errors import UsageError
from symphony_actors.domain.workflow._decode import DEFAULT_LIMITS


@pytest.mark.parametrize(("text", "size"), [("4096", 4096), ("4K", 4096), ("300M", 300 * 2**20), ("1.5G", 3 * 2**29),
                                             ("2MiB", 2 * 2**20), ("64mb", 64 * 2**20)])
def test_sizes_in_powers_of_1024(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["lots", "", "-1M", "0", "M"])
def test_bad_sizes_are_usage_errors_naming_the_value(text: str) -> None:
    with pytest.raises(UsageError, match="bad size"):
        parse_size(text)


def test_limits_follow_the_size_and_keep_room_to_decompress() -> None:
    assert limits_for(None) is DEFAULT_LIMITS
    big = limits_for(300 * 2**20)
    assert big.max_bytes == 300 * 2**20 and big.max_decompressed >= 4 * big.max_bytes
    assert limits_for(2**20).max_decompressed == DEFAULT_LIMITS.max_decompressed
