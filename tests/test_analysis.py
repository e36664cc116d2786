"""The query analysed once (search/analysis.py): one folding for every stage, one segmentation
per piece of text, the same corrections for every front end (fixture corpus, real Tantivy)."""

from __future__ import annotations

from collections import Counter

import pytest

from index import tokenize
from search import Searcher, SearchRequest


@pytest.fixture(scope="module")
def searcher(fixture_data):
    with Searcher.open(fixture_data.root) as s:
        yield s


def ids(result) -> list[int]:
    return [h.post_id for h in result]


def test_a_traditional_quoted_phrase_finds_what_the_simplified_one_finds(searcher):
    simplified = searcher.search('"长度外推"', mode="lexical", limit=20)
    assert 1001 in ids(simplified)
    traditional = searcher.search('"長度外推"', mode="lexical", limit=20)
    assert ids(traditional) == ids(simplified)  # it found nothing: the check did not fold
    assert ids(searcher.search("長度外推", mode="lexical", limit=20))[:1] == [1001]


def test_one_search_segments_each_piece_of_the_query_once(searcher, monkeypatch):
    real = tokenize._segmenter()
    seen: Counter[str] = Counter()

    class Counting:
        def __getattr__(self, name):
            method = getattr(real, name)

            def counted(text, *args):
                seen[text] += 1
                return method(text, *args)

            return counted

    monkeypatch.setattr(tokenize, "_segmenter", Counting)
    query = '"长度外推" RoPE 外推 -综述 title:位置 gradient clipping'
    result = searcher.search(query, mode="lexical", explain=True)
    assert result.hits
    pieces = {"rope 外推 gradient clipping", "长度外推", "综述", "位置"}
    assert pieces <= set(seen)  # each piece was segmented (folded: case, width, script) ...
    assert all(n == 1 for n in seen.values()), seen  # ... and nothing twice


def test_the_analysis_is_the_one_every_stage_reads(searcher):
    q = searcher.analyse(SearchRequest('RoPE 長度 "長度外推" -综述 tranformer'))
    assert q.terms == ("rope", "长度", "transformer")  # corrected and folded
    assert [p.folded for p in q.phrases] == ["长度外推"] and q.excluded[0].text == "综述"
    assert q.corrections == ("searched for transformer (no post has tranformer)",)
    assert q.typed.words[-1] == "tranformer"  # the models embed what was typed
    assert q.cjk and not searcher.analyse("gradient clipping").cjk
    assert "梯度裁剪" in searcher.analyse("gradient clipping").embed_text  # the glossary's word


def test_typing_corrects_a_typo_when_no_word_begins_with_it(searcher):
    typed = searcher.search("tranformer", mode="lexical", typing=True)
    assert typed.warnings == ("searched for transformer (no post has tranformer)",)
    assert ids(typed) == ids(searcher.search("transformer", mode="lexical"))
    completed = searcher.search("transfor", mode="lexical", typing=True)
    assert completed.warnings == ("searched for transformer (no post has transfor)",)


def test_year_means_what_year_in_the_text_means(searcher):
    both = searcher.search("RoPE", mode="lexical", year="2023", since="2023-06")
    in_text = searcher.search("RoPE year:2023 since:2023-06", mode="lexical")
    assert ids(both) == ids(in_text) and all(h.date.isoformat() >= "2023-06" for h in both)
    assert both.request is not None and both.request.year == "2023"
    assert searcher.search(SearchRequest("RoPE", mode="lexical", year="2023")).hits


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"limit": 10**9}, "limit must be between 0 and 10,000"),
        ({"offset": 10**10}, "offset must be between 0 and 1,000,000"),
        ({"limit": 2**62}, "limit must be between"),
        ({"limit": -1}, "limit must be between"),
        ({"mode": "fuzzy"}, "unknown mode"),
    ],
)
def test_unbounded_arguments_are_refused(searcher, kwargs, message):
    with pytest.raises(ValueError, match=message):
        searcher.search("RoPE", **kwargs)


def test_a_far_offset_is_an_empty_page_not_a_crash(searcher):
    result = searcher.search("RoPE", mode="lexical", offset=1_000_000)
    assert list(result) == [] and result.total >= 1


def test_similar_to_a_missing_post_is_the_librarys_error(searcher):
    from search import NoSuchPostError

    with pytest.raises(NoSuchPostError, match="no post 4242"):
        searcher.similar(4242)
    with pytest.raises(ValueError, match="limit"):
        searcher.similar(1001, limit=-5)


def test_a_long_compound_finds_a_post_that_writes_it_otherwise(tmp_path):
    import json

    from tests.conftest import build_index

    source = tmp_path / "posts.jsonl"
    posts = [
        {"id": 1, "title": "位置的故事", "body": "本文介绍旋转式位置编码的推导。"},
        {"id": 2, "title": "编码杂谈", "body": "这里只谈哈夫曼编码，与旋转无关。"},
        {"id": 3, "title": "别的", "body": "讨论扩散模型的采样。"},
    ]
    source.write_text("\n".join(json.dumps(p, ensure_ascii=False) for p in posts), "utf-8")
    data = build_index(tmp_path / "data", source)
    with Searcher.open(data.root) as s:
        q = s.analyse("旋转位置编码")
        assert dict(q.parts) == {"旋转位置编码": ("旋转", "位置编码")}
        found = s.search("旋转位置编码", mode="lexical")
        assert ids(found)[:1] == [1]  # it holds both parts; post 2 only one of them
        snippet = found[0].snippet  # and its snippet marks them
        assert {snippet.text[a:b] for a, b in snippet.highlights} >= {"旋转", "位置编码"}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"query": "RoPE since:2024 until:2022"},
        {"query": "RoPE year:2023 since:2024"},
        {"query": "RoPE", "since": "2024", "until": "2022"},
        {"query": "RoPE until:2022", "year": "2023"},
    ],
)
def test_a_reversed_date_range_is_a_syntax_error(searcher, kwargs):
    from search import QuerySyntaxError

    with pytest.raises(QuerySyntaxError, match="the date range is reversed"):
        searcher.search(mode="lexical", **kwargs)
