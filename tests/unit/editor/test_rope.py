"""The flat rope behaves exactly like a str under edits, slices and line lookups."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from symphony_actors.editor.rope import CHUNK, Rope


def line_starts(text: str) -> list[int]:
    return [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]


def check(rope: Rope, text: str) -> None:
    assert text == str(rope)
    assert len(text) == len(rope)
    assert text.count("\n") == rope.newlines
    starts = line_starts(text)
    for line, start in enumerate(starts):
        assert start == rope.line_start(line)
        end = starts[line + 1] - 1 if line + 1 < len(starts) else len(text)
        assert end - start == rope.line_length(line)
    for offset in range(0, len(text) + 1, max(1, len(text) // 50)):
        assert text[:offset].count("\n") == rope.line_of(offset)


def test_empty_rope_has_one_empty_line() -> None:
    """No text: length 0, one line of length 0."""
    rope = Rope()
    check(rope, "")
    assert rope.chunk_count == 0


def test_large_text_is_chunked_and_stays_bounded_under_edits() -> None:
    """A long text splits into chunks no longer than twice the target, also after many inserts."""
    text = ("0123456789abcdef\n" * 2000)
    rope = Rope(text)
    for i in range(300):
        at = (i * 7919) % len(text)
        rope.insert(at, "x" * 50)
        text = text[:at] + "x" * 50 + text[at:]
    check(rope, text)
    assert all(len(c) <= 2 * CHUNK for c in rope._chunks)


def test_delete_across_many_chunks() -> None:
    """A deletion spanning several chunks joins the two ends."""
    text = "".join(chr(97 + i % 26) + ("\n" if i % 40 == 0 else "") for i in range(5 * CHUNK))
    rope = Rope(text)
    rope.delete(100, len(text) - 100)
    check(rope, text[:100] + text[-100:])
    rope.delete(0, len(rope))
    check(rope, "")
    rope.insert(0, "again\n")
    check(rope, "again\n")


def test_slice_matches_str_slice() -> None:
    text = "line\n" * 5000
    rope = Rope(text)
    for a, b in [(0, 0), (0, 10), (4000, 9000), (len(text) - 3, len(text)), (CHUNK - 1, CHUNK + 1)]:
        assert text[a:b] == rope.slice(a, b)


edits = st.lists(st.tuples(st.sampled_from(["ins", "del"]), st.floats(0, 1), st.floats(0, 1),
                           st.text(alphabet="ab\n😀", max_size=3 * CHUNK)), max_size=25)


@settings(max_examples=60, deadline=None)
@given(initial=st.text(alphabet="xy\né", max_size=3 * CHUNK), ops=edits)
def test_rope_equals_str_after_any_edits(initial: str, ops: list[tuple[str, float, float, str]]) -> None:
    """Any sequence of inserts and deletes leaves the rope equal to the same edits on a str."""
    rope, text = Rope(initial), initial
    for kind, fa, fb, piece in ops:
        a = int(fa * len(text))
        if kind == "ins":
            rope.insert(a, piece)
            text = text[:a] + piece + text[a:]
        else:
            b = a + int(fb * (len(text) - a))
            rope.delete(a, b)
            text = text[:a] + text[b:]
    check(rope, text)
