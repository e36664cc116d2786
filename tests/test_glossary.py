"""The glossary mined from the posts' own glosses (index/glossary.py), kept with the index and
used for English queries beside the written one (search/expand.py)."""

from __future__ import annotations

import json
import sqlite3

from click.testing import CliRunner

import search
from index.glossary import MINER_VERSION, normalize_english, pairs_in, vote
from index.paths import DataDir
from index.store import Store
from search import Post, Searcher
from search.cli import cli
from search.expand import Glossary, chinese_for, expansions

# Hand-made posts (the fixture corpus has no glosses of terms the written glossary lacks).
GLOSSING = [
    Post(
        id=5001,
        title="谈谈最速降线",
        body="本文介绍一种叫做最速降线（Brachistochrone Curve）的经典问题。最速降线是摆线。\n\n"
        "用变分法可以求出最速降线。",
        tags=("几何",),
    ),
    Post(
        id=5002,
        title="再谈最速降线",
        body="上一篇我们讨论了最速降线（brachistochrone curve），这次看它的数值解。",
    ),
    Post(
        id=5003,
        title="共形映射入门",
        body="所谓的共形映射（Conformal Map，CM）保持角度不变。共形映射在复分析里很常见。",
    ),
    Post(id=5004, title="无关的文章", body="今天天气很好，我们去公园散步。"),
]


def test_pairs_from_both_orders_with_acronyms_and_boundaries():
    pairs = {(en, zh) for en, zh, _ in pairs_in("一种叫做最速降线（Brachistochrone Curve）的方法")}
    assert ("brachistochrone curve", "最速降线") in pairs
    assert all(not zh.startswith("叫做") for _, zh in pairs)  # the introducer is cut off
    pairs = {(en, zh) for en, zh, _ in pairs_in("所谓的共形映射（Conformal Map，CM）保持角度")}
    assert ("conformal map", "共形映射") in pairs and ("cm", "共形映射") in pairs
    english_first = pairs_in("我们用Layer Norm（层归一化）代替")
    assert ("layer norm", "层归一化", 2) in english_first  # the parentheses give the boundary
    assert pairs_in("没有任何注释的句子（也没有英文）") == []
    assert normalize_english(" Self-Attention  Layer ") == "self attention layer"


def test_vote_takes_the_most_proposed_term_and_filters_by_association():
    proposals = [
        ("brachistochrone curve", "最速降线", 3, 2),
        ("brachistochrone curve", "种最速降线", 1, 1),
        ("token", "某种程度上", 1, 1),
        ("model", "模型", 2, 2),
    ]
    counts = {
        ("brachistochrone curve",): 2,
        ("brachistochrone curve", "最速降线"): 2,
        ("token",): 50,
        ("token", "某种程度上"): 3,  # glossed once beside prose: 6% of the posts using it
        ("model",): 10,
        ("model", "模型"): 9,
        ("模型",): 90,  # in most posts: a common word, not a term
    }

    def count_with(texts):
        return counts.get(tuple(texts), 0)

    assert vote(proposals) == {
        "brachistochrone curve": ("最速降线", 2),
        "token": ("某种程度上", 1),
        "model": ("模型", 2),
    }
    assert vote(proposals, count_with, total=100) == {"brachistochrone curve": ("最速降线", 2)}
    # in a handful of posts any term is in a large share of them: not a sign of a common word
    assert "model" in vote(
        proposals, lambda t: {("模型",): 4}.get(tuple(t), counts.get(tuple(t), 0)), total=5
    )


def test_an_enumeration_is_no_part_of_a_term_and_a_term_belongs_to_its_likeliest_name():
    text = "方法有两种：一是权重衰减，二是梯度惩罚（Gradient Penalty）。"
    pairs = {(en, zh) for en, zh, _ in pairs_in(text)}
    assert ("gradient penalty", "梯度惩罚") in pairs
    assert not any(zh.startswith("二是") for _, zh in pairs)
    rows = [
        ("position encoding", "位置编码", 9, 5),
        ("nope", "位置编码", 3, 2),  # a wrong pair: 位置编码 is position encoding's
        ("nope", "无位置编码", 2, 2),
        ("mixture of experts", "混合专家", 6, 4),
        ("moe", "混合专家", 4, 3),  # an acronym shares its name's term
    ]
    assert vote(rows) == {
        "position encoding": ("位置编码", 5),
        "nope": ("无位置编码", 2),
        "mixture of experts": ("混合专家", 4),
        "moe": ("混合专家", 3),
    }


def test_written_entries_are_found_with_plural_and_hyphenated_words():
    written = {"mixture of experts": ("混合专家",), "self-attention": ("自注意力",)}
    glossary = Glossary(written=written)
    assert chinese_for("mixture of experts", glossary) == ["混合专家"]
    assert chinese_for("mixture-of-experts routing", glossary) == ["混合专家"]
    assert chinese_for("self attention layers", glossary) == ["自注意力"]


def test_mined_entries_expand_english_queries_after_the_written_ones():
    glossary = Glossary(
        written={"flow": ("流",)},
        mined={"brachistochrone curves": ("最速降线", 2), "flow": ("流动", 1)},
    )
    assert chinese_for("brachistochrone curve", glossary) == ["最速降线"]  # plural forgiven
    assert chinese_for("flow", glossary) == ["流"]  # the written entry wins
    assert expansions("brachistochrone curve", glossary) == [("最速降线", 1.0)]
    assert "最速降线" not in chinese_for("brachistochrone curve")  # the written glossary lacks it
    assert chinese_for("曲率 flow", glossary) == []  # a query with Chinese is not expanded


def test_indexing_mines_the_archive_and_an_english_query_finds_the_chinese_posts(tmp_path):
    data = DataDir(tmp_path)
    search.update(data, GLOSSING, vectors=False)
    with Store.open(data.store) as store:
        mined = store.glossary()
        assert store.meta()["glossary.miner"] == str(MINER_VERSION)
    assert mined["brachistochrone curve"] == ("最速降线", 2)
    assert mined["conformal map"] == ("共形映射", 1)
    with Searcher.open(data.root) as s:
        hits = s.search("brachistochrone curve", mode="lexical")
        assert [h.post_id for h in hits][:2] and {h.post_id for h in hits} == {5001, 5002}
        assert s.stats()["glossary_mined"] == len(mined)
        entry = s.gloss("brachistochrone curve")[0]
        assert (entry.chinese, entry.source, entry.posts) == (("最速降线",), "mined", 2)
        assert [e.phrase for e in s.gloss("共形映射")] == ["cm", "conformal map"]
    without = DataDir(tmp_path / "unmined")  # the same posts, the English name never glossed
    plain = [
        Post(id=p.id, title=p.title, body=p.body.replace("Brachistochrone Curve", ""))
        for p in GLOSSING[:1]
    ]
    search.update(without, plain, vectors=False)
    with Searcher.open(without.root) as s:
        assert not s.search("brachistochrone curve", mode="lexical")


def test_a_changed_post_is_mined_again_and_an_old_index_is_mined_once(tmp_path):
    data = DataDir(tmp_path)
    search.update(data, GLOSSING, vectors=False)
    with Store.open(data.store) as store:  # an entry no post proposes, to see what is voted
        store.set_glossary({"untouched": ("未动", 1)}, {"untouched"})
    changed = Post(id=5003, title="共形映射入门", body="共形映射保持角度不变。")  # gloss removed
    report = search.update(data, [changed], vectors=False)
    assert report.changed == 1
    with Store.open(data.store) as store:
        assert "conformal map" not in store.glossary() and "cm" not in store.glossary()
        assert "brachistochrone curve" in store.glossary()
        assert "untouched" in store.glossary()  # only the changed post's names were voted
    # An index from before the glossary: no tables, no miner version. Searching works, and the
    # next update mines every post.
    conn = sqlite3.connect(data.store)
    conn.executescript(
        "DROP TABLE glossary; DROP TABLE glossary_pairs;"
        "DELETE FROM meta WHERE key='glossary.miner';"
    )
    conn.commit()
    conn.close()
    with Searcher.open(data.root) as s:
        assert s.glossary.sizes()["mined"] == 0 and s.search("最速降线", mode="lexical")
    search.update(data, [], vectors=False)
    with Store.open(data.store) as store:
        assert store.glossary()["brachistochrone curve"] == ("最速降线", 2)
    conn = sqlite3.connect(data.store)  # a garbled row is left out, the rest still serve
    conn.execute("INSERT INTO glossary VALUES (?, ?, ?)", ("broken", b"\xff", "x"))
    conn.commit()
    conn.close()
    with Searcher.open(data.root) as s:
        assert "broken" not in s.glossary.mined and s.gloss("brachistochrone curve")


def test_cli_glossary_shows_what_a_term_expands_to(tmp_path):
    data = DataDir(tmp_path)
    search.update(data, GLOSSING, vectors=False)
    run = CliRunner().invoke
    result = run(cli, ["--data-dir", str(tmp_path), "glossary", "Brachistochrone", "curves"])
    assert result.exit_code == 0 and "最速降线" in result.output and "mined from 2" in result.output
    result = run(cli, ["--data-dir", str(tmp_path), "glossary", "gradient clipping", "--json"])
    assert json.loads(result.output) == [
        {"phrase": "gradient clipping", "chinese": ["梯度裁剪"], "source": "written", "posts": 0}
    ]
    result = run(cli, ["--data-dir", str(tmp_path), "glossary", "zebra\x1b[31m"])
    assert result.exit_code == 1 and "no glossary entry" in result.output
    assert "\x1b" not in result.output
