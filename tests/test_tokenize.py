from hypothesis import given
from hypothesis import strategies as st

from index.tokenize import index_tokens, normalize, query_terms, to_simplified


def texts(tokens):
    return [t.text for t in tokens]


def test_ascii_inside_dictionary_entry_is_findable():
    toks = index_tokens("我们用Adam优化器训练")
    assert "adam优化器" in texts(toks)
    assert "adam" in texts(toks)
    assert "优化器" in texts(toks)


def test_sub_words_share_parent_position():
    toks = index_tokens("待处理的数据")
    by_text = {t.text: t for t in toks}
    assert by_text["处理"].position == by_text["待处理"].position
    assert by_text["数据"].position == by_text["待处理"].position + 2


def test_long_dictionary_words_inside_a_token():
    toks = texts(index_tokens("旋转位置编码很有用"))
    assert "旋转位置编码" in toks and "位置编码" in toks and "旋转" in toks


def test_identifiers_split_into_parts():
    toks = texts(index_tokens("调用 clip_grad_norm 和 NTK-aware"))
    for word in ("clip_grad_norm", "clip", "grad", "norm", "ntk-aware", "ntk", "aware"):
        assert word in toks


def test_offsets_point_at_original_text():
    text = "ＲｏＰＥ的长度外推，见 $\\theta_i$。"
    for tok in index_tokens(text):
        assert normalize(text[tok.start : tok.end]) == tok.text


def test_punctuation_and_space_dropped_and_lowercased():
    toks = texts(index_tokens("Hello， World！ ... ？"))
    assert toks == ["hello", "world"]


def test_full_width_folds():
    assert normalize("ＲｏＰＥ　ＡＢＣ") == "rope abc"


def test_query_terms_drop_function_words_but_not_everything():
    assert query_terms("为什么BERT的初始化标准差是0.02") == ["bert", "初始化", "标准差", "0.02"]
    assert query_terms("为什么") == ["为什么"]


def test_traditional_query_is_simplified():
    assert to_simplified("擴散模型推導") == "扩散模型推导"
    assert query_terms("旋轉位置編碼") == query_terms("旋转位置编码")


@given(st.text(max_size=200))
def test_tokens_are_well_formed_for_any_text(text):
    toks = index_tokens(text)
    for tok in toks:
        assert tok.text and 0 <= tok.start < tok.end <= len(text)
        assert tok.position >= 0
    query_terms(text)
