"""Typo and prefix tolerance for Latin words (fixture corpus, real Tantivy)."""

from __future__ import annotations

import pytest

from search import Searcher


@pytest.fixture(scope="module")
def searcher(fixture_data):
    with Searcher.open(fixture_data.root) as s:
        yield s


def top(result) -> list[int]:
    return [h.post_id for h in result]


def test_a_typo_finds_what_the_word_finds(searcher):
    right = searcher.search("attention", mode="lexical")
    typo = searcher.search("atention", mode="lexical")
    assert top(typo) == top(right) and top(right)
    assert typo.warnings == ("searched for attention (no post has atention)",)
    assert any("ttention" in typo[0].snippet.text[s:e] for s, e in typo[0].snippet.highlights)


def test_two_edits_for_long_words_one_for_shorter(searcher):
    assert top(searcher.search("contrastiv learnng", mode="lexical"))  # 1 edit each
    assert top(searcher.search("clasifierr", mode="lexical"))  # 10 letters: 2 edits
    swapped = searcher.search("softamx", mode="lexical")  # a transposition is one edit
    assert swapped.warnings == ("searched for softmax (no post has softamx)",)
    assert list(searcher.search("atxntxon", mode="lexical")) == []  # 2 edits, 8 letters


def test_words_that_exist_short_words_and_chinese_are_left_alone(searcher):
    assert searcher.search("adam", mode="lexical").warnings == ()
    assert searcher.search("rop", mode="lexical").warnings == ()  # under five letters
    assert searcher.search("扩散模形", mode="lexical").warnings == ()


def test_while_typing_the_last_word_is_completed(searcher):
    partial = searcher.search("softm", mode="lexical", typing=True)
    assert partial.warnings == ("searched for softmax (no post has softm)",)
    assert top(partial) == top(searcher.search("softmax", mode="lexical"))
    assert searcher.search("softm", mode="lexical").warnings == ()  # not while not typing
    assert searcher.search("softm 数值", mode="lexical", typing=True).warnings == ()
