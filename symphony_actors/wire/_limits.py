"""Decoding limits: how large, how deep and how many envelopes a peer may send."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from symphony_actors.domain.errors import UsageError

__all__ = ["DEFAULT_LIMITS", "MAX_DEPTH_CEILING", "Limits"]

# The payload walk recurses once per level; staying far below Python's default
# recursion limit (1000) keeps every decoder free of RecursionError.
MAX_DEPTH_CEILING: Final[int] = 256


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds every decoder enforces (and every encoder, so we never send what a peer refuses).

    * ``max_bytes``: an encoded envelope or batch, before compression and after decompression,
      and a frame as received.
    * ``max_depth``: nesting of containers inside one payload (``{}`` is 1, ``{"a": []}`` is 2).
    * ``max_batch``: envelopes in one batch frame.
    """

    max_bytes: int = 16 * 1024 * 1024
    max_depth: int = 64
    max_batch: int = 10_000

    def __post_init__(self) -> None:
        if not 1 <= self.max_depth <= MAX_DEPTH_CEILING:
            raise UsageError(f"max_depth {self.max_depth} is out of range 1..{MAX_DEPTH_CEILING}")
        if self.max_bytes < 64:
            raise UsageError(f"max_bytes {self.max_bytes} is below the minimum of 64")
        if self.max_batch < 1:
            raise UsageError(f"max_batch {self.max_batch} must be at least 1")


DEFAULT_LIMITS: Final[Limits] = Limits()
