"""Any query string: the search answers or says, in a QuerySyntaxError, what it cannot read;
it never raises anything else (hypothesis over the fixture corpus, lexical mode; the long run
over the shared corpus, hybrid included, is bench/fuzz_queries.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from search import QuerySyntaxError, Searcher

# Every code point, lone surrogates (what invalid UTF-8 in argv becomes), controls and NUL too.
ANY_CHAR = st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=())
FIELD = st.sampled_from(
    ["tag:", "category:", "cat:", "title:", "year:", "since:", "until:", "-", '"', "“", "”", ":"]
)
DATE = st.one_of(
    st.integers(0, 99999).map(str),
    st.dates().map(dt.date.isoformat),
    st.tuples(st.integers(0, 9999), st.integers(0, 99)).map(lambda t: f"{t[0]:04d}-{t[1]:02d}"),
    st.tuples(st.integers(0, 9999), st.integers(0, 9999)).map(lambda t: f"{t[0]}..{t[1]}"),
)
WORD = st.one_of(
    st.text(ANY_CHAR, max_size=12),
    st.sampled_from(["RoPE", "外推", "梯度", "位置编码", "$x^2$", "\\begin{equation}", "\x1b[2J"]),
    DATE,
)
QUERY = st.lists(st.tuples(st.one_of(st.just(""), FIELD), WORD), max_size=8).map(
    lambda parts: " ".join(f + w for f, w in parts)
)


@pytest.fixture(scope="module")
def searcher(fixture_data):
    s = Searcher.open(fixture_data.root)
    yield s
    s.close()


def _answers(searcher: Searcher, query: str, **kw: object) -> None:
    try:
        result = searcher.search(query, mode="lexical", **kw)  # type: ignore[arg-type]
    except QuerySyntaxError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert result.total >= len(result)
    for hit in result:
        for start, end in hit.snippet.highlights:
            assert 0 <= start < end <= len(hit.snippet.text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(query=st.one_of(QUERY, st.text(ANY_CHAR, max_size=200)))
def test_any_query_text(searcher, query):
    _answers(searcher, query)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    tag=st.text(ANY_CHAR, max_size=10),
    since=DATE,
    until=DATE,
    sort=st.sampled_from(["relevance", "date"]),
)
def test_any_filter_values(searcher, tag, since, until, sort):
    _answers(searcher, "模型", tags=[tag], since=since, until=until, sort=sort)
    _answers(searcher, "", category=tag, since=since, sort=sort)


@pytest.mark.parametrize(
    "query",
    [
        "RoPE since:2262-04-12",
        "RoPE until:1000",
        "RoPE since:9999",
        "year:0000 RoPE",
        "\udcff",
        "tag:\udcff 模型",
        "\x00\x1b]52;c;aGk=\x07",
        "x" * 1000,
    ],
)
def test_queries_that_once_crashed(searcher, query):
    _answers(searcher, query)


def test_too_long_a_query_is_refused_with_a_message(searcher):
    with pytest.raises(QuerySyntaxError, match="limit is 1,000"):
        searcher.search("梯度" * 600)
