"""Split text into overlapping chunks on line boundaries (lines longer than the size are cut)."""

from __future__ import annotations

from typing import Any

from symphony_actors.sdk import Operator, UsageError


def _lines(text: str, size: int) -> list[tuple[int, int, int]]:
    """(start offset, end offset, line number) per line piece; over-long lines are cut into size pieces."""
    out: list[tuple[int, int, int]] = []
    pos = 0
    for number, line in enumerate(text.splitlines(keepends=True), 1):
        for cut in range(0, len(line), size):
            out.append((pos + cut, pos + min(cut + size, len(line)), number))
        pos += len(line)
    return out


def chunk(text: str, size: int, overlap: int, source: str) -> list[dict[str, Any]]:
    pieces = _lines(text, size)
    chunks: list[dict[str, Any]] = []
    i = 0
    while i < len(pieces):
        j = i
        while j < len(pieces) and (j == i or pieces[j][1] - pieces[i][0] <= size):
            j += 1
        start, end = pieces[i][0], pieces[j - 1][1]
        chunks.append({"source": source, "index": len(chunks), "text": text[start:end], "start": start,
                       "end": end, "start_line": pieces[i][2], "end_line": pieces[j - 1][2]})
        if j >= len(pieces):
            break
        # Step back over whole pieces that fit in the overlap, but always advance by at least one.
        k = j
        while k - 1 > i and pieces[j - 1][1] - pieces[k - 1][0] <= overlap:
            k -= 1
        i = k
    return chunks


class ChunkText(Operator):
    def process(self, inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        size, overlap = params["size"], params["overlap"]
        if overlap >= size:
            raise UsageError(f"overlap ({overlap}) must be smaller than size ({size})")
        sources: list[tuple[str, str]] = []
        if inputs.get("text") is not None:
            sources.append(("text", inputs["text"]))
        for i, f in enumerate(inputs.get("files") or []):
            if not isinstance(f, dict) or not isinstance(f.get("text"), str):
                raise UsageError(f"files[{i}] must be a dict with a 'text' string")
            sources.append((str(f.get("path", f"files[{i}]")), f["text"]))
        if not sources:
            raise UsageError("give 'text' or 'files'")
        chunks = [c for source, text in sources for c in chunk(text, size, overlap, source)]
        return {"chunks": chunks}
