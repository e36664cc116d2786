from search import Searcher
from search.expand import chinese_for


def test_longest_phrase_wins_and_plurals_are_forgiven():
    assert chinese_for("Rotary Position Embeddings") == ["旋转位置编码"]
    assert "最速下降" in chinese_for("steepest descent for weight matrices")
    assert "权重矩阵" in chinese_for("weight matrices")
    assert chinese_for("gradient clipping thresholds") == ["梯度裁剪"]


def test_no_expansion_for_chinese_or_unknown_words():
    assert chinese_for("RoPE 外推") == []
    assert chinese_for("the quick brown fox") == []


def test_english_query_finds_chinese_post_lexically(fixture_data):
    with Searcher.open(fixture_data.root) as s:
        for query, post_id in (
            ("matrix square root iteration", 1012),
            ("moon via telescope", 1016),
        ):
            post = s.get(post_id)
            assert not any(w in post.body.lower() for w in query.split())  # no English in it
            hits = s.search(query, mode="lexical")
            assert hits and hits[0].post_id == post_id
