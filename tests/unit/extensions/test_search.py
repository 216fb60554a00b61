"""Search quality on the 20,000-package corpus, for both engines: exact, prefix, typo, weights, filters."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from symphony_actors.domain.errors import ConfigError, UsageError
from symphony_actors.extension_host.search import (
    SearchEntry,
    SearchIndex,
    corpus_entries,
    create_index,
    edit_distance,
    tokens,
)

ENGINES = ["tantivy", "sqlite"]
_CACHE: dict[str, SearchIndex] = {}


@pytest.fixture(params=ENGINES)
def corpus_index(request: pytest.FixtureRequest, shared_data: Path) -> SearchIndex:
    """One index per engine over the whole corpus, built once for the module."""
    engine = request.param
    if engine not in _CACHE:
        index = create_index(engine)
        assert index.build(corpus_entries(shared_data / "registry-corpus.tsv")) == 20_000
        _CACHE[engine] = index
    return _CACHE[engine]


def names(index: SearchIndex, query: str, limit: int = 5, **kw: str) -> list[str]:
    return [h.name for h in index.search(query, limit=limit, **kw)]


def test_an_exact_name_ranks_first(corpus_index: SearchIndex) -> None:
    for name in ("pysummarize", "terraclip", "webmesh", "spikingtorch"):
        assert names(corpus_index, name)[0] == name


def test_a_typo_still_finds_the_package(corpus_index: SearchIndex) -> None:
    """One dropped, swapped or replaced letter."""
    assert names(corpus_index, "pysumarize")[0] == "pysummarize"
    assert names(corpus_index, "terraclp")[0] == "terraclip"
    assert names(corpus_index, "webmehs")[0] == "webmesh"


def test_a_prefix_finds_the_package(corpus_index: SearchIndex) -> None:
    assert names(corpus_index, "spikingt")[0] == "spikingtorch"
    assert "terraclip" in names(corpus_index, "terracl")


def test_several_words_combine(corpus_index: SearchIndex) -> None:
    assert names(corpus_index, "morse code")[0] == "morse-code"
    assert "spikingtorch" in names(corpus_index, "spiking neural")


def test_a_name_match_outweighs_a_description_match(corpus_index: SearchIndex) -> None:
    hits = corpus_index.search("summarizer", limit=3)
    assert all("summarizer" in h.name for h in hits)


def test_the_type_filter_keeps_only_that_type(corpus_index: SearchIndex) -> None:
    hits = corpus_index.search("json", type="addon", limit=20)
    assert hits and {h.type for h in hits} == {"addon"}
    assert corpus_index.search("json", type="no-such-type") == []


def test_typo_recall_on_sampled_names(corpus_index: SearchIndex, shared_data: Path) -> None:
    """At least 70% of one-edit typos of name words of 6+ letters find the package in the top 10."""
    rng = random.Random(3)
    entries = [e for e in corpus_entries(shared_data / "registry-corpus.tsv")
               if any(len(t) >= 6 and t.isalpha() for t in tokens(e.name))]
    found = 0
    sample = rng.sample(entries, 60)
    for e in sample:
        word = rng.choice([t for t in tokens(e.name) if len(t) >= 6 and t.isalpha()])
        i = rng.randrange(1, len(word) - 1)
        typo = word[:i] + word[i + 1:]
        found += any(h.id == e.id for h in corpus_index.search(typo, limit=10))
    assert found / len(sample) >= 0.7


def test_nonsense_finds_nothing(corpus_index: SearchIndex) -> None:
    assert corpus_index.search("qqzzxxkkwwvv") == []
    assert corpus_index.search("!!!") == []


@pytest.mark.parametrize("engine", ENGINES)
def test_filters_by_permission_and_lists_on_an_empty_query(engine: str) -> None:
    index = create_index(engine)
    index.build([
        SearchEntry("a.net", "Fetcher", "downloads pages", ("http",), "operator", ("net.connect:example.com:443",)),
        SearchEntry("a.files", "Reader", "reads files", ("fs",), "operator", ("fs.read:${workspace}",)),
        SearchEntry("a.model", "Summary", "summaries", (), "instrument", ()),
    ])
    assert [h.id for h in index.search("", permission="net.connect")] == ["a.net"]
    assert [h.id for h in index.search("", permission="fs.read:${workspace}")] == ["a.files"]
    assert [h.id for h in index.search("")] == ["a.files", "a.model", "a.net"]
    assert [h.id for h in index.search("", type="instrument")] == ["a.model"]
    assert [h.id for h in index.search("reads", permission="net.connect")] == []
    assert [h.id for h in index.search("http")] == ["a.net"]  # keywords are searched
    assert index.search("a.files")[0].id == "a.files"  # the exact id ranks first


@pytest.mark.parametrize("engine", ENGINES)
def test_queries_and_limits_are_bounded(engine: str) -> None:
    index = create_index(engine)
    index.build([])
    with pytest.raises(UsageError):
        index.search("x" * 1000)
    for bad in (0, 10_000, True):
        with pytest.raises(UsageError):
            index.search("x", limit=bad)


def test_an_unknown_engine_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        create_index("elasticsearch")


def test_edit_distance_counts_transpositions_as_one() -> None:
    assert edit_distance("reqeusts", "requests", 2) == 1
    assert edit_distance("kitten", "sitting", 3) == 3
    assert edit_distance("abc", "abcdef", 1) == 2  # stops past the limit
