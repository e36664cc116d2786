"""Generate judged queries from the archive itself: a tuning set ten times the dev set.

    python bench/make_queries.py [--corpus ../shared/corpus/kexue-posts.jsonl]
                                 [--out bench/out/generated-queries.jsonl] [--per-type 120]

Deterministic (a fixed seed, posts in id order). Each query is a known item: the post it was
made from is relevant (grade 2), and for keyword queries every post carrying the same tags is
too (grade 1). The types follow the dev set's:
- `exact`: a post's title as it is;
- `variant`: the title in traditional characters (OpenCC s2t), when that changes it;
- `english`: two or three English names the post glosses itself (梯度裁剪（Gradient Clipping）),
  kept where the archive's own glossary votes agree (index.glossary);
- `keyword`: two of the post's tags and a word of its title;
- `question`: a sentence of the post's prose with a third of its words left out (inverse-cloze
  style: the words a reader remembers, not the sentence);
- `paraphrase`: a section heading with the post's first tag (the part of a post a reader
  describes, not its title).
Those three reuse the post's own rarest words, so BM25 wins them by construction (generated
lexical 0.896 > hybrid 0.853, while dev has hybrid 0.907 > lexical 0.833): they are written as
`english-own`, `question-own` and `paraphrase-own`. The `english`, `question` and `paraphrase`
types are made without the post's rare words, as a reader who remembers the idea and not the
wording writes (bench/cv_fusion.py --ablations measures how well each type tracks dev's):
- `english`: the English names (written glossary, or a name the archive glosses elsewhere) of
  the post's most distinctive Chinese terms that the post does not write in English itself,
  joined by generic English words;
- `question`: a prose sentence on the post's topic with its rarest quarter of words deleted
  (by idf over the archive; one with an English name written in English instead), as a
  question;
- `paraphrase`: the title's common words and the English of its glossary terms (its rare
  words dropped), with two mid-frequency words of the post's body.
The output holds corpus text: it goes to bench/out/ (ignored by git) and is never committed.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections import defaultdict
from pathlib import Path

from _common import DEFAULT_CORPUS, REPO, require_file

from corpus.latex import math_spans
from corpus.post import Post
from corpus.readers import read_source
from index.glossary import pairs_in, vote
from index.tokenize import QUERY_STOPWORDS, is_word, segment

SEED = 7
_SENTENCE = re.compile(r"[^。！？\n]{24,80}[。！？]")
_HEADING = re.compile(r"^#{2,4}\s*(.{4,30}?)\s*#*$", re.M)
_PROSE = re.compile(r"^[\u4e00-\u9fff，、：；“”（）A-Za-z0-9 ]+$")


def _mined(
    posts: list[Post],
) -> tuple[dict[str, tuple[str, int]], dict[int, list[tuple[str, str]]]]:
    """The archive's mined glossary ({english: (chinese, posts)}) and each post's pairs."""
    proposals: dict[tuple[str, str], list[int]] = defaultdict(list)
    per_post: dict[int, list[tuple[str, str]]] = defaultdict(list)
    votes: dict[tuple[str, str], int] = defaultdict(int)
    for post in posts:
        for en, zh, n in pairs_in(post.body):
            proposals[en, zh].append(post.id)
            votes[en, zh] += n
            per_post[post.id].append((en, zh))
    rows = [(en, zh, votes[en, zh], len(ids)) for (en, zh), ids in proposals.items()]
    return vote(rows), per_post


def _english(posts: list[Post]) -> dict[int, list[str]]:
    """Each post's English names whose Chinese term the archive's vote confirms."""
    glossary, per_post = _mined(posts)
    out: dict[int, list[str]] = {}
    for pid, pairs in per_post.items():
        names = sorted(
            {
                en
                for en, zh in pairs
                if glossary.get(en, ("",))[0] == zh and (" " in en or len(en) > 5)
            }
        )
        if len(names) >= 2:
            out[pid] = names
    return out


def _without_math(text: str) -> str:
    """`text` with its formulas blanked out (sentences with math make poor queries)."""
    chars = list(text)
    for start, end in math_spans(text):
        chars[start:end] = "\n" * (end - start)
    return "".join(chars)


def _words(text: str) -> list[str]:
    return [w for w in segment(text) if is_word(w) and w.strip() and w not in QUERY_STOPWORDS]


# Generic English around the translated terms: what a reader adds, which no post is about.
_EN_FRAMES = (
    "{} and {}",
    "how {} relates to {}",
    "{} with {}",
    "using {} for {}",
    "why {} needs {}",
    "{} in {}",
    "a note on {} and {}",
    "{} for {} explained",
)
_ZH_ASKS = ("为什么", "怎样理解", "如何", "能否解释", "")


def _idf(posts: list[Post]) -> dict[str, float]:
    import math

    df: dict[str, int] = defaultdict(int)
    for post in posts:
        for word in set(_words(post.title + " " + _without_math(post.body))):
            df[word] += 1
    return {w: math.log(len(posts) / n) for w, n in df.items()}


def _english_names(posts: list[Post]) -> dict[str, list[str]]:
    """{chinese term: English names}: the written glossary's, then the archive's mined ones."""
    from search.expand import written_glossary

    names: dict[str, list[str]] = defaultdict(list)
    for en, words in sorted(written_glossary().items()):
        for zh in words:
            if re.search(r"[\u4e00-\u9fff]", zh) and len(zh) >= 2:
                names[zh].append(en)
    for en, (zh, _) in sorted(_mined(posts)[0].items()):
        if len(en) > 3 and en not in names[zh]:
            names[zh].append(en)
    return names


def _rare_free(
    post: Post, idf: dict[str, float], names: dict[str, list[str]], rng: random.Random
) -> dict[str, str]:
    """The three reader-made queries of one post (see the module's docstring), by type."""
    out: dict[str, str] = {}
    body = _without_math(post.body)
    lowered = body.lower() + " " + post.title.lower()
    counts: dict[str, int] = defaultdict(int)
    for w in _words(body):
        counts[w] += 1
    # Distinctive terms: tf x idf over the post, the Chinese ones that have an English name
    # the post does not write itself.
    ranked = sorted(counts, key=lambda w: (-counts[w] * idf.get(w, 0.0), w))
    english = []
    for w in ranked[:60]:
        foreign = [en for en in names.get(w, []) if en not in lowered]
        if foreign and len(w) >= 2:
            english.append(rng.choice(foreign))
        if len(english) == 3:
            break
    if len(english) >= 2:
        frame = rng.choice(_EN_FRAMES)
        query = frame.format(english[0], " ".join(english[1:]))
        out["english"] = query
    # A sentence about the post's topic (it holds one of its 10 most distinctive words), kept
    # as prose (the models read a sentence, not a bag of words), its rarest words deleted.
    top = set(ranked[:10])
    sentences = [
        s for s in _SENTENCE.findall(body) if _PROSE.match(s[:-1]) and top & set(segment(s))
    ]
    if sentences:
        tokens = segment(rng.choice(sentences)[:-1])
        words = [w for w in tokens if w in counts]
        if len(words) >= 6:
            cut = set(sorted(words, key=lambda w: -idf.get(w, 0.0))[: max(2, len(words) // 4)])
            kept = []
            for w in tokens:
                foreign = [en for en in names.get(w, []) if en not in lowered]
                if foreign and w in cut:
                    kept.append(f" {rng.choice(foreign)} ")  # a rare term as its English name
                elif w not in cut:
                    kept.append(w)
            # Quotation marks would make a phrase the deletions broke (no post holds it).
            text = re.sub(r"[“”\"「」‘’]|\s+", " ", "".join(kept)).strip(" ，、：；")
            text = re.sub(r"\s+", " ", text)
            out["question"] = f"{rng.choice(_ZH_ASKS)}{text}？"
    title = [w for w in _words(post.title) if w.strip()]
    if title:
        common = sorted(title, key=lambda w: idf.get(w, 0.0))
        rare = set(common[len(common) // 2 :]) if len(common) > 1 else set()
        kept = []
        for w in title:
            if w in rare:
                foreign = names.get(w, [])
                if foreign:
                    kept.append(rng.choice(foreign))
            else:
                kept.append(w)
        middle = [w for w in ranked[:80] if 1.0 < idf.get(w, 0.0) < 3.0 and len(w) >= 2]
        extra = rng.sample(middle, min(2, len(middle)))
        if kept or extra:
            out["paraphrase"] = " ".join([*kept, *extra])
    return out


def generate(posts: list[Post], per_type: int, rng: random.Random) -> list[dict]:
    import opencc

    s2t = opencc.OpenCC("s2t")
    by_tags: dict[frozenset[str], set[int]] = defaultdict(set)
    for post in posts:
        for i, a in enumerate(post.tags):
            for b in post.tags[i + 1 :]:
                by_tags[frozenset((a, b))].add(post.id)
    english = _english(posts)
    idf, names = _idf(posts), _english_names(posts)
    made: dict[str, list[dict]] = defaultdict(list)

    def add(kind: str, query: str, relevant: dict[int, int]) -> None:
        query = " ".join(query.split())
        if 2 <= len(query) <= 200:
            made[kind].append({"query": query, "type": kind, "relevant": relevant})

    for post in posts:
        # A title's quotation marks are not a user's phrase (and 覆盤 folds to 覆盘, not 复盘).
        title = re.sub(r"[“”\"「」]", " ", post.title).strip()
        add("exact", title, {post.id: 2})
        traditional = s2t.convert(title)
        if traditional != title:
            add("variant", traditional, {post.id: 2})
        if post.id in english:
            own = english[post.id]
            add(
                "english-own",
                " ".join(rng.sample(own, min(len(own), rng.choice((2, 3))))),
                {post.id: 2},
            )
        if len(post.tags) >= 2:
            a, b = rng.sample(list(post.tags), 2)
            title_words = [w for w in _words(title) if len(w) > 1]
            extra = rng.choice(title_words) if title_words else ""
            relevant = dict.fromkeys(sorted(by_tags[frozenset((a, b))]), 1)
            relevant[post.id] = 2
            add("keyword", f"{a} {b} {extra}", relevant)
        prose = _without_math(post.body)
        sentences = [s for s in _SENTENCE.findall(prose) if _PROSE.match(s[:-1])]
        if sentences:
            words = _words(rng.choice(sentences))
            if len(words) >= 6:
                kept = [w for w in words if rng.random() > 1 / 3]
                add("question-own", " ".join(kept), {post.id: 2})
        headings = [h for h in _HEADING.findall(post.body) if not re.search(r"[$\\]", h)]
        generic = {"参考文献", "文章小结", "本文小结", "小结", "总结", "实验结果", "引言", "前言"}
        headings = [h for h in headings if h.strip() not in generic]
        if headings and post.tags:
            add("paraphrase-own", f"{rng.choice(headings)} {post.tags[0]}", {post.id: 2})
        for kind, query in _rare_free(post, idf, names, rng).items():
            add(kind, query, {post.id: 2})
    out = []
    for kind in sorted(made):
        rows = made[kind]
        rng.shuffle(rows)
        out.extend(rows[:per_type])
    for i, row in enumerate(out, 1):
        row["qid"] = f"gen-{i:04d}"
        row["relevant"] = {str(k): v for k, v in row["relevant"].items()}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "generated-queries.jsonl")
    ap.add_argument("--per-type", type=int, default=120)
    args = ap.parse_args()
    posts = sorted(
        (p for p in read_source(require_file(args.corpus, "corpus")) if isinstance(p, Post)),
        key=lambda p: p.id,
    )
    rows = generate(posts, args.per_type, random.Random(SEED))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(
                json.dumps(
                    {"qid": row["qid"], **{k: row[k] for k in ("query", "type", "relevant")}},
                    ensure_ascii=False,
                )
                + "\n"
            )
    counts: dict[str, int] = defaultdict(int)
    for row in rows:
        counts[row["type"]] += 1
    print(
        f"{len(rows)} queries to {args.out}: "
        + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
