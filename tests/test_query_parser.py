import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from search.query import QuerySyntaxError, parse_query


def test_words_phrases_exclusions_and_filters():
    q = parse_query('RoPE 外推 "长度外推" -综述 tag:rope category:信息时代 year:2023 title:升级')
    assert q.words == ("RoPE", "外推")
    assert q.phrases == ("长度外推",)
    assert q.excluded == ("综述",)
    assert q.title == ("升级",)
    assert q.filters.tags == ("rope",)
    assert q.filters.categories == ("信息时代",)
    assert q.filters.since == dt.date(2023, 1, 1) and q.filters.until == dt.date(2023, 12, 31)


def test_date_bounds_cover_whole_periods():
    q = parse_query("since:2022-06 until:2024-02")
    assert q.filters.since == dt.date(2022, 6, 1)
    assert q.filters.until == dt.date(2024, 2, 29)
    q = parse_query("year:2020..2022")
    assert (q.filters.since, q.filters.until) == (dt.date(2020, 1, 1), dt.date(2022, 12, 31))


def test_quoted_field_values_and_chinese_quotes():
    q = parse_query('tag:"language model" “熵”是什么')
    assert q.filters.tags == ("language model",)
    assert q.phrases == ("熵",)


def test_unknown_fields_and_urls_stay_text():
    q = parse_query("foo:bar https://kexue.fm/archives/8265 a:b")
    assert q.words == ("foo:bar", "https://kexue.fm/archives/8265", "a:b")
    assert not q.filters


def test_unbalanced_quote_becomes_phrase_to_the_end():
    q = parse_query('梯度 "长度 外推')
    assert q.words == ("梯度",) and q.phrases == ("长度 外推",)


@pytest.mark.parametrize("bad", ["since:2022-13", "until:yesterday", "year:abc", "year:2024..2020"])
def test_meaningless_filters_are_one_line_errors(bad):
    with pytest.raises(QuerySyntaxError) as info:
        parse_query(bad)
    assert "\n" not in str(info.value)


@given(st.text(max_size=120))
def test_arbitrary_strings_never_raise_anything_else(text):
    try:
        q = parse_query(text)
    except QuerySyntaxError:
        return
    assert isinstance(q.text, str)


SOUP = ['"', "-", ":", "tag:", "title:", "year:", "a", "熵", " ", "“", "”"]


@given(st.lists(st.sampled_from(SOUP), max_size=30))
def test_operator_soup_parses_or_gives_a_syntax_error(parts):
    try:
        parse_query("".join(parts))
    except QuerySyntaxError as exc:
        assert "\n" not in str(exc)
