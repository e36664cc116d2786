"""Every tuned constant of the ranking, with the measurement that chose it.

`RankingConfig` is what a `Searcher` ranks with and what bench/tune_fusion.py and
bench/calibrate_floor.py vary, so what is tuned is what ships. Figures are nDCG@10 on the 60
judged dev queries (../shared/eval/dev-queries.jsonl) over the shared corpus unless said
otherwise; "today" is the e5 + USE ensemble with both feedback rounds (hybrid 0.905).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from index.lexical import BODY, TAGS, TITLE
from search.fusion import DEFAULT_FUSION, FusionPolicy
from search.relevance import DEFAULT_FLOOR, Floor


@dataclass(frozen=True, slots=True)
class LexicalConfig:
    """BM25 and its coordination (search/lexical.py)."""

    # Field weights and the whole-phrase bonus: nDCG@10 moved by under 0.01 across title 2-5 and
    # tags 1-2 once coordination was on (lexical); these sit in the flat middle.
    field_boosts: Mapping[str, float] = field(
        default_factory=lambda: MappingProxyType(
            {TITLE: 3.0, TAGS: 1.0, BODY: 1.0, "category": 0.3}
        )
    )
    phrase_boost: float = 2.0
    # A long Chinese query term (5+ characters, index.tokenize.word_parts) also searches the
    # dictionary words that make it up at this weight, and a post holding all of them covers
    # the term: 旋转位置编码 then finds the post that writes 旋转式位置编码 (the index holds each
    # word's inner words). Dev: lexical 0.8275 -> 0.8329 (variant 0.741 -> 0.849), hybrid
    # 0.9055 -> 0.9069; every weight in 0.25..1.0 gains (variant 0.831..0.866 lexical) and no
    # other type moves (3 dev queries hold such a term: a small sample, so the middle of the
    # range). From 4 characters on (位置编码 -> 位置, 编码) question queries lose (lexical 0.723
    # -> 0.705 at 0.75).
    part_weight: float = 0.5
    # BM25 sums per-term scores, so a post that repeats one common term can outrank one that has
    # every term; scores are multiplied by the idf-weighted share of the terms a post holds:
    # lexical 0.744 -> 0.804 (questions 0.66 -> 0.72, paraphrases 0.72 -> 0.84), no loss on
    # keyword or exact queries. This many BM25 candidates are re-ranked so.
    coord_depth: int = 100
    # Lexical feedback weighs a post's terms by their share of its words times their idf, among
    # its 200 most frequent (hybrid 0.9053 with every term, 0.9055 so, at a third of the idf
    # look-ups). A term in under 2 posts marks only the post it came from, one in over 30% of
    # them marks none. Each post keeps its 100 best (a round takes 20 from a few posts).
    feedback_candidates: int = 200
    feedback_min_posts: int = 2
    feedback_max_share: float = 0.3
    feedback_kept: int = 100


@dataclass(frozen=True, slots=True)
class SemanticConfig:
    """How a post scores from its passages (search/semantic.py)."""

    # Passages fetched per post wanted: posts have ~20 passages, and several of the nearest
    # passages usually belong to the same post.
    passages_per_post: int = 8
    # With an approximate index (index/vectors.py: IVF past APPROXIMATE_FROM passages) this
    # many times more are asked of FAISS: at 10x, probing 64 lists, e5 recall@100 of the exact
    # scan's top posts 0.966 -> 0.983 asking twice as many (four times: 0.983).
    approximate_passages: int = 2
    # A post scores by a weighted mean of its best passage (weight 1) and the mean of its next
    # `support_passages` best (weight `support_weight`): a post that treats the topic in
    # several places beats one that mentions it once. e5 alone: semantic 0.775 (best passage
    # only) -> 0.809, hybrid 0.849 -> 0.864; every setting with 2-3 supporting passages and a
    # weight of 0.5-1.0 scored 0.861-0.866 hybrid; 5 passages favour long posts (exact-title
    # queries drop). A short post counts its best passage in place of a missing one.
    support_passages: int = 2
    support_weight: float = 0.75


@dataclass(frozen=True, slots=True)
class FormulaConfig:
    """The formula list (search/formula.py).

    Its tokens (index/formula.py), by bench/tune_formula.py (hybrid nDCG@10 on the 20 judged
    formula queries / on 60 made from the corpus; lexical the same), structure n-grams `s` and
    name n-grams `c`:  s2-4 c1-2 0.874 / 0.917, lexical 0.886 / 0.953 (1.37 M tokens);
    s3-4 c1-2 0.870 / 0.918; s2-3 c1-2 0.888 / 0.870; s2-4 c1 0.867 / 0.927; s3 c1-2 0.879 /
    0.861. The judged set favours short n-grams (formulas from memory), the made one long ones
    (renamed copies): s2-4 c1-2 is never the worst of either. A post's field holding each token
    at most 3 times (TF_CAP) then gave 0.874 / 0.928, lexical 0.887 / 0.967, at 0.39 M tokens;
    without the 2-grams of roles (s3-4 c1-2, shipped) 0.877 / 0.934, lexical 0.885 / 0.966, at
    0.34 M tokens and 15% less scanning.
    """

    # How much a token of the symbols as written (`c:`) weighs against one of their roles
    # (`s:`): the names tell a renamed formula from another with the same shape. 0.25 / 0.5 /
    # 1.0 -> hybrid judged 0.871 / 0.877 / 0.875, generated 0.946 / 0.934 / 0.921: flat, the
    # middle.
    names_weight: float = 0.5
    # BM25 × coverage ** power, coverage the weighted share of the query's tokens a post holds:
    # 0 / 1 / 2 / 3 -> hybrid 0.806 / 0.828 / 0.811 / 0.812 (variant 0.650 / 0.743 / 0.683).
    coverage_power: float = 1.0
    # BM25 candidates re-ranked by coverage.
    candidates: int = 100
    # Chosen by 5-fold cross-validation on 300 formula queries made from the archive
    # (bench/make_formula_queries.py: 100 exact, 100 variant, 100 mixed; a post restating the
    # formula graded 1) with bench/cv_formula.py, the judged 20 as the check; hybrid nDCG@10
    # generated / judged.
    # The list's fusion weight is multiplied by this when the query has words besides its
    # formula (`Lion 优化器 u_t = …`): the words name the post, the formula narrows it. × 0.1 /
    # 0.25 / 0.5 / 1.0 -> generated mixed 0.860 / 0.903 / 0.919 / 0.929 (every fold picks 1.0),
    # judged mixed 0.984 / 0.983 / 0.983 / 0.966 (one query: a Lion update shaped like Adam's,
    # whose Adam posts a whole-weight formula list brings up): 0.5, where the judged set has not
    # yet moved.
    with_words: float = 0.5
    # And the BM25 list, which holds those words, weighs this much more: × 1 / 1.5 / 2 / 3 ->
    # generated mixed 0.932 / 0.937 / 0.934 / 0.930 (folds pick 1.5 four times of five, 2.0
    # once; held-out all types 0.9396 either way: a plateau), judged mixed 0.983 / 0.983 /
    # 0.986 / 0.987. 2.0: on the generated plateau, where the judged kind (words that name the
    # post, a formula shaped like others') gains; its one mover is the Lion query.
    bm25_with_words: float = 2.0
    # A formula alone has no words: the lexical feedback list (the words of the posts its
    # formula finds) is what says what it is about, and finds the posts that write it in other
    # notation. Its weight × 1 / 2 / 3 / 4 / 6 / 8 / 12 (dense 1, with words 0.25) -> generated
    # 0.9243 / 0.9267 / 0.9274 / 0.9278 / 0.9290 / 0.9293 / 0.9295 (exact 0.941 -> 0.952 at 6;
    # folds pick 6-12, held-out 0.9288-0.9290), judged 0.877 / 0.880 / 0.896 / 0.897 / 0.902 /
    # 0.895 / 0.909 (exact 0.888 -> 0.963 at 6): 6, where the plateau starts.
    feedback_alone: float = 6.0
    # And the dense lists, which read LaTeX poorly, weigh this much of theirs (with the above):
    # 0.25 / 0.5 / 0.75 / 1 -> generated 0.9302 / 0.9304 / 0.9302 / 0.9290 (folds pick 0.5 three
    # times of five), judged 0.915 / 0.909 / 0.903 / 0.902: 0.5.
    dense_alone: float = 0.5


# The fusion (search/fusion.py FusionPolicy), chosen with bench/tune_fusion.py:
# - Convex fusion of min-max normalised scores, e5 and BM25 at 0.5 each: with e5 alone (lexical
#   0.826, semantic 0.809 alone) α = 0.4/0.5/0.6 -> 0.854/0.864/0.854; RRF k = 10/30/60 scored
#   0.859..0.865 on an older scorer and cannot tell a clear winner from a near tie; z-score
#   normalisation moved it by under 0.005.
# - USE multilingual as a third list (0.761 alone): w = 0/0.1/0.2/0.3/0.4/0.5/0.7/1.0 ->
#   0.864/0.869/0.878/0.880/0.886/0.881/0.871/0.863; every α in 0.4..0.6 with w in 0.2..0.5
#   scores 0.871..0.886. w = 0.4: english 0.750 -> 0.836, question 0.781 -> 0.810.
# - Dense feedback (each model's query moved towards the first fusion's top post): 0.886
#   without; 2 passages × 0.2..1.0 -> 0.892..0.897, and all 24 cells of 1/2/3/5 passages gain:
#   2 × 0.4 is the middle of the plateau. The mean of the top 2-5 posts drifts off the topic.
# - Lexical feedback (`bm25+fb`): 0.897 without; 2-5 posts × 10/20/40 terms × weight
#   0.15/0.25/0.35: all 36 cells 0.899..0.909; 3 × 20 × 0.3, the middle: 0.905 (paraphrase
#   0.876 -> 0.889, question 0.832 -> 0.845). Each post weighs by its fused score over the
#   first's, so a weak third post cannot outweigh a clear first. Needs the dense round first.
# - A query without Chinese in it (`latin`: an English description, an English title) weighs
#   BM25 at 0.3 instead of 0.5 (bench/cv_fusion.py --knob "latin bm25 weight" over the Latin
#   queries of dev and of the generated set, bench/make_queries.py: 13 dev, 120 english
#   descriptions made without the post's own English, 75 of the post's own glossed names):
#   0.1 / 0.2 / 0.3 / 0.4 / 0.5 / 0.6 / 0.7 -> dev english 0.873 / 0.874 / 0.878 / 0.849 /
#   0.849 / 0.812 / 0.808; generated english 0.365 / 0.350 / 0.325 / 0.310 / 0.289 / 0.278 /
#   0.272, english-own 0.778 / 0.848 / 0.890 / 0.916 / 0.917 / 0.931 / 0.936. Folds over both
#   picked 0.3 / 0.2 / 0.4 / 0.2 / 0.3 (held-out 0.561, 0.509..0.650); over the descriptions
#   alone all five picked 0.1. 0.3: the middle of both, dev's best. The glossary's Chinese words
#   make a poor BM25 query for a description (generated english: BM25 alone 0.130, e5 0.343);
#   a post's own English names are a good one. USE for Latin queries 0.2 / 0.4 / 0.6 / 0.8 /
#   1.0 / 1.2 -> dev english 0.835 / 0.849 / 0.851 / 0.861 / 0.858 / 0.843, generated rising
#   0.279..0.322; with BM25 at 0.1-0.5, USE 0.8 lowered dev english (0.800..0.861): stays 0.4.
#   Needs exact body matches from 3 tokens (RankingConfig.exact_body_min_tokens): else
#   `Transformers without Normalization` loses its post to 8620 (dev exact 1.0 -> 0.926).
# - The global BM25 weight (now Chinese queries only) 0.3 / 0.4 / 0.5 / 0.6 / 0.7 / 0.8 -> dev
#   0.906 / 0.908 / 0.911 / 0.912 / 0.912 / 0.900, generated 0.779 / 0.791 / 0.801 / 0.803 /
#   0.807 / 0.811 (folds all pick 0.8): left at 0.5, as the types that rise with it (keyword,
#   paraphrase, question) are those whose figures track dev's least (Spearman 0.44..0.60 over
#   10 configurations, bench/cv_fusion.py --ablations) and dev drops at 0.8.
# - The formula list (`formula`, only for a query holding LaTeX; bench/tune_formula.py on the 20
#   judged formula queries and 60 made from the corpus: display formulas with every variable
#   renamed, \frac as /, \left/\right and \boldsymbol changed), hybrid judged / generated,
#   with the shipped tokens: weight 0 (no list) 0.728 judged; 1.0 / 1.5 / 2.0 / 3.0 ->
#   0.844 / 0.907, 0.867 / 0.920, 0.877 / 0.934, 0.869 / 0.947: 2.0 is the middle of the
#   1.5-3.0 plateau (the first tokens gave the same shape). Words around the formula: x0.5 and
#   BM25 x2; a formula alone: lexical feedback x6, dense lists x0.5 (FormulaConfig).

# - Citations (`cited`: the candidates by log(1 + in-degree) / log(1 + the largest), from the
#   archive's links, search.graph) are off (weight 0): w = 0.025 / 0.05 / 0.1 / 0.15 -> dev
#   0.9073 / 0.9080 / 0.9079 / 0.9061 (variant 0.889 -> 0.901, RoPE's own post 8265 from #6 to
#   #4 for `RoPE`) but the 675 generated queries 0.8530 -> 0.8522 / 0.8518 / 0.8513 / 0.8509
#   (keyword and paraphrase lower): a gain on 60 queries that a ten times larger set does not
#   show. PageRank did no better (bench/graph_prior.py). Co-citation for `similar` (posts a third
#   post cites together, ArchiveGraph.cocited) fused with the vector neighbours, judged on the
#   100 posts of series of 3+ parts (the other parts relevant): nDCG@10 0.9476 without, 0.9488
#   / 0.9464 / 0.9403 / 0.9190 at 0.1 / 0.2 / 0.3 / 0.5: no gain, so `similar` stays as it is.

# The floor (search/relevance.py Floor), calibrated with bench/calibrate_floor.py on the dev
# queries, the 675 generated in-domain ones (bench/make_queries.py) and the 212 out-of-domain
# ones of bench/data/ood-queries.txt (both scripts; appliances, sports, health, money, travel
# next to cooking and keyboard mashing). e5's best score separates a Chinese query best (USE's
# added did not: out-of-domain top 0.971..0.998 against dev 0.974.. at a quarter of it), and its
# level depends on the script: Chinese queries score higher whatever they ask (out-of-domain up
# to 0.884, dev from 0.880, a post covering all of it; from 0.890 without). For a Latin query
# e5 alone left 0.02 between the out-of-domain queries (up to 0.833) and the dev ones (from
# 0.853), and real English descriptions of posts fell below it (0.811..0.845); e5 plus a quarter
# of USE separates them better: out-of-domain up to 0.898, dev from 0.942 (weights 0.5 and 1:
# gaps of 0.04 and 0.03). Gates of 0.875..0.885 (Chinese) x 0.91..0.93 (pair) empty no in-domain
# query; out-of-domain emptied: 91.5% / 94.8% / 96.7% at lexical 0.5 and 92.9% / 97.2% / 99.5%
# at 0.7, whatever the pair's gate. 5-fold cross-validation of the highest gates that empty no
# in-domain query of four folds: Chinese 0.890..0.894, pair 0.997..1.005 (held out: 0-2 of
# ~150 in-domain queries emptied); the values shipped sit below, on the side of keeping a real
# query: 0.88 and 0.92. With the 1,035 generated queries of the reader-made types (english
# descriptions, questions as prose, paraphrases without the rare words), a lexical gate of 0.5 /
# 0.6 / 0.7 empties 94.8% / 96.2% / 97.2% of the out-of-domain queries and 0 / 0 / 1 of the
# 1,095 in-domain ones (a bag-of-words paraphrase); 0.6. Gates' 5-fold cross-validation now:
# Chinese 0.876..0.883, pair 0.942..0.947 (held out: out-of-domain 92.5..100% emptied).
# A post is a hit when within 0.04 of the best e5 score or covering half the query (dev hybrid
# 0.9055 with them, no floor 0.9051); posts covering a fifth come after those, so that hybrid
# finds what lexical finds (question Recall@100 0.940 -> 0.973, lexical 0.953). A "weak
# matches" answer for queries just under a gate was measured and dropped: within 0.005..0.02
# of the gates with half the query covered, it caught 1..6 out-of-domain queries and no
# in-domain one.


@dataclass(frozen=True, slots=True)
class RankingConfig:
    """Every tuned value of the ranking; see the comments of this module for why each."""

    fusion: FusionPolicy = DEFAULT_FUSION
    floor: Floor | None = DEFAULT_FLOOR  # None: every candidate is a hit
    lexical: LexicalConfig = field(default_factory=LexicalConfig)
    semantic: SemanticConfig = field(default_factory=SemanticConfig)
    formula: FormulaConfig = field(default_factory=FormulaConfig)
    # Candidates taken from each list before fusing (and sorted by date for `sort=date`).
    depth: int = 100
    # Exact matches go first whatever fusion says: the query as a phrase in a title, or a long
    # query (a sentence, a paper title, a formula) verbatim in the bodies of a handful of posts.
    # 3 or 4: dev and the 1,035 generated queries rank the same (hybrid 0.9069 / 0.7907); 3 keeps
    # an English paper title's post first once Latin queries weigh BM25 less (see above).
    exact_body_min_tokens: int = 3
    exact_body_max_posts: int = 3


DEFAULT_CONFIG = RankingConfig()
