"""Lexical ranking, filters and snippets on the fixture corpus (real Tantivy, real jieba)."""

import datetime as dt

import pytest

from search import QuerySyntaxError, Searcher


@pytest.fixture(scope="module")
def searcher(fixture_data):
    s = Searcher.open(fixture_data.root)
    yield s
    s.close()


def ids(hits):
    return [h.post_id for h in hits]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("RoPE 外推", 1001),
        ("NTK-aware 插值", 1002),
        ("adam", 1003),  # inside the dictionary entry Adam优化器 of the title
        ("clip_grad_norm max_norm", 1004),
        ("擴散模型 DDPM 推導", 1005),  # traditional characters
        ("BERT 初始化 0.02", 1007),
        ("鸭子 半圆", 1013),
        ("logsumexp", 1018),
        ("Johnson-Lindenstrauss", 1011),
    ],
)
def test_the_obvious_post_ranks_first(searcher, query, expected):
    hits = searcher.search(query, mode="lexical")
    assert hits and hits[0].post_id == expected


def test_each_post_once_and_scores_descending(searcher):
    hits = searcher.search("扩散 模型 生成", limit=20, mode="lexical")
    assert len(ids(hits)) == len(set(ids(hits)))
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)


def test_title_match_beats_body_mention(searcher):
    # 1009 mentions Softmax in its tags and body; 1018 has it in the title.
    hits = searcher.search("Softmax", mode="lexical")
    assert hits[0].post_id == 1018


def test_phrase_requires_the_exact_sequence(searcher):
    loose = ids(searcher.search("高频 内插", mode="lexical"))
    exact = ids(searcher.search('"高频外推、低频内插"', mode="lexical"))
    assert exact == [1002]
    assert set(exact) <= set(loose)


def test_exclusion_removes_posts(searcher):
    with_it = ids(searcher.search("RoPE", mode="lexical"))
    without = ids(searcher.search("RoPE -插值", mode="lexical"))
    assert 1002 in with_it and 1002 not in without and 1001 in without
    assert list(searcher.search("RoPE -NTK", mode="lexical")) == []  # both mention NTK-aware


def test_filters_in_query_and_as_arguments_agree(searcher):
    a = ids(searcher.search("优化 category:数学研究", mode="lexical"))
    b = ids(searcher.search("优化", category="数学研究", mode="lexical"))
    assert a == b == [1012, 1015]  # 1012 mentions Muon优化器
    tagged = searcher.search("tag:扩散", mode="lexical")
    assert sorted(ids(tagged)) == [1005, 1006]
    assert all("扩散" in h.tags for h in tagged)


def test_date_filters(searcher):
    hits = searcher.search("year:2024", mode="lexical", limit=50)
    assert hits and all(h.date.year == 2024 for h in hits)
    hits = searcher.search("梯度", since="2024-01-01", mode="lexical")
    assert hits and all(h.date >= dt.date(2024, 1, 1) for h in hits)
    hits = searcher.search("梯度 until:2021", mode="lexical")
    assert all(h.date <= dt.date(2021, 12, 31) for h in hits)


def test_filter_only_query_lists_newest_first(searcher):
    hits = searcher.search("category:数学研究", mode="lexical", limit=50)
    dates = [h.date for h in hits]
    assert len(hits) == 5 and dates == sorted(dates, reverse=True)


def test_sort_by_date(searcher):
    hits = searcher.search("模型", mode="lexical", sort="date", limit=20)
    dates = [h.date for h in hits]
    assert dates == sorted(dates, reverse=True)


def test_no_results_and_bad_filters(searcher):
    assert list(searcher.search("量子引力弦论", mode="lexical")) == []
    with pytest.raises(QuerySyntaxError):
        searcher.search("since:2024-02-30", mode="lexical")
    with pytest.raises(ValueError):
        searcher.search("x", mode="fuzzy")  # type: ignore[arg-type]


def test_snippet_highlights_point_at_query_terms(searcher):
    hit = searcher.search("梯度缓存 显存", mode="lexical")[0]
    assert hit.post_id == 1010
    text = hit.snippet.text
    marked = [text[s:e] for s, e in hit.snippet.highlights]
    assert "梯度缓存" in marked and "显存" in marked
    assert len(text) <= 125


def test_snippet_shows_latex_as_readable_text(searcher):
    hit = searcher.search("logsumexp 溢出", mode="lexical")[0]
    assert "log∑_(i=1)^n e^(x_i)" in hit.snippet.text  # \log\sum_{i=1}^n e^{x_i}
    assert "\\" not in hit.snippet.text  # every formula in the window whole, and rendered
    marked = {hit.snippet.text[s:e].lower() for s, e in hit.snippet.highlights}
    assert marked <= {"logsumexp", "溢出"} and marked


def test_similar_without_vectors_uses_words(searcher):
    related = searcher.similar(1005, limit=3)
    assert 1005 not in ids(related)
    assert related[0].post_id == 1006


def test_hybrid_without_vectors_falls_back_and_says_so(searcher):
    result = searcher.search("RoPE", mode="hybrid")
    assert result[0].post_id == 1001
    assert result.mode == "lexical"
    assert any("searching lexically" in w for w in result.warnings)


def test_newest_first_orders_all_good_matches_not_just_the_first_page(searcher):
    everything = searcher.search("模型", mode="lexical", limit=50)
    newest = searcher.search("模型", mode="lexical", sort="date", limit=2)
    expected = sorted(everything, key=lambda h: h.date, reverse=True)[:2]
    assert [h.post_id for h in newest] == [h.post_id for h in expected]


def test_lexical_feedback_searches_the_terms_that_mark_the_given_posts(searcher):
    retriever = searcher._lexical_retriever()
    asked: list[list[int]] = []

    def texts(ids):
        asked.append(list(ids))
        return searcher._texts(ids)

    # RoPE's post is marked by 位置, rope, 内插...: the NTK-aware post shares them, so it comes
    # right after the post itself, far ahead of posts about other things.
    rope = [(1001, 1.0)]
    found = retriever.feedback(rope, texts, exclude=set(), terms=10, limit=10)
    assert [h.post_id for h in found[:2]] == [1001, 1002]
    assert found[1].score > 3 * found[2].score
    assert asked == [[1001]]
    # Each post counts by its weight: the diffusion post (1005), weighed 0.1, barely moves it.
    mixed = retriever.feedback([(1001, 1.0), (1005, 0.1)], texts, exclude=set(), terms=10, limit=10)
    assert [h.post_id for h in mixed[:2]] == [1001, 1002]
    even = retriever.feedback([(1001, 1.0), (1005, 1.0)], texts, exclude=set(), terms=10, limit=10)
    assert 1005 in [h.post_id for h in even[:2]]
    assert asked == [[1001], [1005]]  # each post's terms are kept once made
    among = retriever.feedback(rope, texts, exclude=set(), terms=10, limit=10, allowed={1002})
    assert [h.post_id for h in among] == [1002]
    assert retriever.feedback(rope, texts, exclude=set(), terms=10, limit=10, allowed=set()) == []
    # The query's own terms are left out: with all of them excluded nothing is left to search.
    everything = {t for t, _ in retriever._marking(searcher._texts([1001])[0])}
    assert retriever.feedback(rope, texts, exclude=everything, terms=10, limit=10) == []
    # LaTeX commands are markup: \mathcal or \frac never mark a post.
    assert not {"mathcal", "frac", "text"} & everything


def test_a_posts_term_counts_are_made_once_whatever_searcher_asks(searcher, monkeypatch):
    from search import lexical

    made = []
    real = lexical.segment
    monkeypatch.setattr(lexical, "segment", lambda text: made.append(text) or real(text))
    text = "一段只在这里出现的文字：位置编码与位置插值 $\\mathcal{L}$ 位置"
    total, counts = lexical.term_counts(text, 200)
    assert lexical.term_counts(text, 200) == (total, counts) and len(made) == 1
    assert counts[0] == ("位置", 2) and total == sum(c for _, c in counts)  # most frequent first
    assert "mathcal" not in dict(counts)
    # a later generation's retriever (a commit) finds the counts made
    again = lexical.LexicalRetriever(searcher.reader.lexical)
    assert again._marking(text) is not None and len(made) == 1
