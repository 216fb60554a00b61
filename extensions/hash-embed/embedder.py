"""Hashing TF-IDF text embedder: deterministic, dependency-free vectors for similarity and ranking."""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from collections import Counter
from typing import Any

from symphony_actors.sdk import Instrument, UsageError

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
MAX_TEXTS = 10_000


def features(text: str, bigrams: bool) -> Counter[str]:
    words = _WORD.findall(text.lower())
    feats: Counter[str] = Counter(words)
    if bigrams:
        feats.update(f"{a} {b}" for a, b in itertools.pairwise(words))
    return feats


def _slot(feature: str, dim: int) -> tuple[int, float]:
    digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
    value = int.from_bytes(digest, "little")
    # The top bit chooses the sign so colliding features cancel instead of adding up.
    return value % dim, (1.0 if value >> 63 else -1.0)


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))  # vectors are unit length


class HashEmbedder(Instrument):
    """Embeds texts; ``load`` prepares the slot cache, ``unload`` drops it."""

    def load(self) -> None:
        self._slots: dict[tuple[str, int], tuple[int, float]] = {}

    def unload(self) -> None:
        self._slots = {}

    def _slot(self, feature: str, dim: int) -> tuple[int, float]:
        key = (feature, dim)
        hit = self._slots.get(key)
        if hit is None:
            if len(self._slots) > 200_000:
                self._slots.clear()
            hit = self._slots[key] = _slot(feature, dim)
        return hit

    def embed(self, texts: list[str], dim: int, idf: bool, bigrams: bool,
              extra: list[str] | None = None) -> list[list[float]]:
        """Vectors for ``texts`` then ``extra``; document frequencies come from ``texts`` only, so a query
        (in ``extra``) never changes the vectors of the texts."""
        feats = [features(t, bigrams) for t in texts]
        df: Counter[str] = Counter()
        if idf:
            for f in feats:
                df.update(f.keys())
        n = len(texts)
        vectors = []
        for f in feats + [features(t, bigrams) for t in extra or []]:
            vec = [0.0] * dim
            for feature, count in f.items():
                weight = 1.0 + math.log(count)
                if idf:
                    weight *= math.log((1 + n) / (1 + df[feature])) + 1.0
                slot, sign = self._slot(feature, dim)
                vec[slot] += sign * weight
            norm = math.sqrt(sum(v * v for v in vec))
            vectors.append([round(v / norm, 6) for v in vec] if norm else vec)
        return vectors

    def infer(self, inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        texts = inputs["texts"]
        if len(texts) > MAX_TEXTS or not all(isinstance(t, str) for t in texts):
            raise UsageError(f"texts must be a list of at most {MAX_TEXTS} strings")
        query = inputs.get("query")
        extra = [query] if isinstance(query, str) else []
        vectors = self.embed(list(texts), params["dim"], params["idf"], params["bigrams"], extra)
        out: dict[str, Any] = {"vectors": vectors[:len(texts)], "dim": params["dim"]}
        if isinstance(query, str):
            q = vectors[-1]
            scores = [(cosine(v, q), i) for i, v in enumerate(vectors[:len(texts)])]
            ranked = sorted(scores, key=lambda x: (-x[0], x[1]))
            out["ranking"] = [{"index": i, "score": round(s, 6)} for s, i in ranked]
        return out
