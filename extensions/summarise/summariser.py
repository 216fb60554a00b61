"""Extractive summariser: choose the k most representative sentences, in their original order."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from symphony_actors.sdk import Instrument

EMBEDDER = "symphony.hash-embed"
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])|\n\s*\n")
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_ABBREV = ("e.g.", "i.e.", "etc.", "Dr.", "Mr.", "Mrs.", "Ms.", "vs.", "Fig.", "No.")
STOPWORDS = frozenset([
    "a", "an", "and", "are", "as", "at", "be", "been", "but", "by", "can", "could", "did", "do", "does",
    "for", "from", "had", "has", "have", "he", "her", "his", "how", "i", "if", "in", "into", "is", "it",
    "its", "may", "more", "most", "no", "not", "of", "on", "or", "our", "she", "so", "such", "than", "that",
    "the", "their", "them", "then", "there", "these", "they", "this", "those", "to", "was", "we", "were",
    "what", "when", "where", "which", "while", "who", "will", "with", "would", "you", "your", "also", "only",
    "very",
])


def split_sentences(text: str) -> list[str]:
    parts = [p.strip() for p in _SENTENCE_END.split(text.strip()) if p and p.strip()]
    merged: list[str] = []
    for part in parts:
        if merged and merged[-1].endswith(_ABBREV):
            merged[-1] = f"{merged[-1]} {part}"
        else:
            merged.append(" ".join(part.split()))
    return merged


def frequency_scores(sentences: list[str]) -> list[float]:
    words = [[w for w in _WORD.findall(s.lower()) if w not in STOPWORDS] for s in sentences]
    freq = Counter(w for ws in words for w in ws)
    top = max(freq.values(), default=1)
    return [sum(freq[w] / top for w in ws) / (len(ws) ** 0.5) if ws else 0.0 for ws in words]


class Summariser(Instrument):
    def infer(self, inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        sentences = split_sentences(inputs["text"])
        k = min(params["sentences"], len(sentences))
        if not sentences:
            return {"summary": "", "sentences": [], "indices": [], "scores": []}
        if params["method"] == "centroid" and len(sentences) > 1:
            reply = self.ctx.use_model(EMBEDDER, {"texts": sentences}, {"idf": True})
            vectors = reply["vectors"]
            dim = len(vectors[0])
            centroid = [sum(v[i] for v in vectors) / len(vectors) for i in range(dim)]
            scores = [sum(a * b for a, b in zip(v, centroid, strict=True)) for v in vectors]
        else:
            scores = frequency_scores(sentences)
        # A slight lead bias: opening sentences often state the topic.
        scores = [s * (1.0 + 0.1 / (1 + i)) for i, s in enumerate(scores)]
        chosen = sorted(sorted(range(len(sentences)), key=lambda i: (-scores[i], i))[:k])
        picked = [sentences[i] for i in chosen]
        self.ctx.log("debug", "summarised", sentences=len(sentences), kept=k)
        return {"summary": " ".join(picked), "sentences": picked, "indices": chosen,
                "scores": [round(scores[i], 6) for i in chosen]}
