"""A small hand-written archive whose posts cite each other in every form the index reads, and
form series of every kind it detects (text written for the tests, not taken from any post)."""

from __future__ import annotations

import datetime as dt

from corpus.post import Post

# A title a terminal, Rich, Textual or a browser must show as text, never as markup or codes.
HOSTILE_TITLE = "[bold red]标记[/] <b>粗</b> \x1b]0;pwn\x07 注意力笔记"

POSTS: list[dict] = [
    {"id": 2001, "title": "位置编码之路：1、正弦位置编码", "date": "2021-01-01",
     "body": "正弦位置编码是最早的方案。它把位置写成一组频率不同的三角函数。"},
    {"id": 2002, "title": "位置编码之路：2、旋转位置编码", "date": "2021-02-01",
     "body": "在[《位置编码之路：1、正弦位置编码》](https://kexue.fm/archives/2001)中我们讨论了正弦"
     "编码。本文把位置写成旋转矩阵，于是内积只依赖相对位置。"},
    {"id": 2003, "title": "位置编码之路：3、长度外推", "date": "2021-03-01",
     "body": "旋转编码见[上一篇](http://spaces.ac.cn/archives/2002/)。\n\n"
     "正弦编码的推导见 www.kexue.fm/archives/2001#sec-2 的第二节。\n\n"
     "《旋转位置编码》一文的结论在这里仍然成立。\n\n"
     "另有一篇尚未收录的文章：https://kexue.fm/archives/2999?from=rss 讨论了插值。"},
    {"id": 2004, "title": "扩散杂谈（一）：去噪", "date": "2022-01-01",
     "body": "扩散模型先加噪再去噪。"},
    {"id": 2005, "title": "扩散杂谈（二）：采样", "date": "2022-02-01",
     "body": "接着《扩散杂谈（一）：去噪》继续谈采样。采样可以看成解一个常微分方程。"},
    {"id": 2006, "title": "扩散杂谈（十一）：蒸馏", "date": "2022-11-01",
     "body": "蒸馏把多步采样压成一步，参考 [采样](HTTPS://KEXUE.FM/archives/2005) 一文。"},
    {"id": 2007, "title": "矩阵迭代（上）", "date": "2023-01-01",
     "body": "牛顿迭代可以计算矩阵的平方根。"},
    {"id": 2008, "title": "矩阵迭代（下）", "date": "2023-02-01",
     "body": "上篇见[矩阵迭代（上）](/archives/2007)，这里讨论收敛速度。"},
    {"id": 2009, "title": "厨房随笔（上）", "date": "2023-03-01", "body": "铁锅要先开锅。"},
    {"id": 2010, "title": "厨房随笔（下）", "date": "2023-04-01", "body": "米汤要小火慢煮。"},
    {"id": 2011, "title": HOSTILE_TITLE, "date": "2023-05-01",
     "body": "朴素贝叶斯见《naive bayes is all you need？》。以后还会写《后来才写的文章》。\n\n"
     "位置编码的出发点见 [正弦](https://kexue.fm/archives/2001)。"},
    {"id": 2012, "title": "Naive Bayes is All You Need ?", "date": "2023-06-01",
     "body": "朴素贝叶斯可以扩展上下文长度。本文引用 [一篇笔记](https://kexue.fm/archives/2011)。"},
]  # fmt: skip
LATER = {"id": 2999, "title": "位置插值", "date": "2024-01-01", "body": "位置插值的做法。"}
LATER_BY_TITLE = {"id": 2998, "title": "后来才写的文章", "date": "2024-02-01", "body": "终于写了。"}

# (citing, cited) between posts of POSTS, each once
EXPECTED_LINKS = {
    (2002, 2001), (2003, 2002), (2003, 2001), (2005, 2004), (2006, 2005), (2008, 2007),
    (2011, 2012), (2011, 2001), (2012, 2011),
}  # fmt: skip
EXPECTED_SERIES = {
    "位置编码之路": [2001, 2002, 2003],
    "扩散杂谈": [2004, 2005, 2006],
    "矩阵迭代": [2007, 2008],
}


def post(d: dict, **changes: object) -> Post:
    d = {**d, **changes}
    return Post(
        id=d["id"], title=d["title"], body=d["body"], date=dt.date.fromisoformat(d["date"]),
        category="测试", tags=("图",),
    )  # fmt: skip


def graph_posts() -> list[Post]:
    return [post(d) for d in POSTS]
