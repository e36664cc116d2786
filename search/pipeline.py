"""The ranking of one search, stage by stage, in one place.

    1. bm25: BM25 over the analysed query (every mode; its coverage feeds the floor)
    2. one list per model (`e5`, `use`), each embedding the query with its own model
    3. exact matches: the typed words verbatim in a title, or a long query in a few bodies
    4. first fusion -> dense feedback: each model searched again nearer the top post (`e5+fb`)
    5. second fusion -> lexical feedback: BM25 of the terms that mark the top posts (`bm25+fb`)
    (1b. formula: a query holding LaTeX also searches the formulas by structure (`formula`),
    fused in every round, in lexical mode with BM25; search/formula.py)
    6. citations: the candidates ranked by how much the archive cites them (`cited`)
    7. final fusion of the latest list of each side (exact matches first)
    8. the relevance floor: only posts with evidence are hits

Every list is a named `RankedList`; the policy weighs them by name, and the `Ranking` keeps them
all, so `--explain` can say what each did to a hit. bench/tune_fusion.py and
bench/calibrate_floor.py call `Pipeline.run` and `Pipeline.finish`: what is tuned is what ships.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal

from index.lexical import BODY, TITLE
from search.analysis import AnalyzedQuery
from search.config import RankingConfig
from search.formula import FormulaRetriever, fusion_policy
from search.fusion import (
    BM25,
    BM25_FEEDBACK,
    CITED,
    FEEDBACK,
    FORMULA,
    FusionPolicy,
    RankedList,
)
from search.lexical import LexicalRetriever, contains_phrases
from search.relevance import Evidence, FloorReport

if TYPE_CHECKING:  # numpy with them: a lexical search never imports it (cold lexical -90 ms)
    import numpy as np

    from search.dense import ModelSide
    from search.semantic import SemanticHit

Mode = Literal["hybrid", "lexical", "semantic"]


@dataclass(frozen=True, slots=True)
class Ranking:
    """One search's ranking and everything that made it."""

    ranked: list[tuple[int, float]]  # the hits, best first (after the floor)
    total: int  # how many posts matched
    lists: dict[str, RankedList]  # every list made, by name, in the order made
    final: tuple[str, ...] = ()  # the lists of the final fusion (none: one list ranked)
    exact: frozenset[int] = frozenset()
    evidence: Evidence = field(default_factory=Evidence)
    floor: FloorReport | None = None  # None: no floor (lexical mode, or none configured)
    passages: dict[int, tuple[int, int]] = field(default_factory=dict)  # primary's best
    primary: str | None = None  # the primary model's list
    formula: Mapping[str, float] = field(default_factory=dict)  # formula tokens' weights
    policy: FusionPolicy | None = None  # the fusion policy of this query (None: the config's)


class Pipeline:
    """The stages over one index's retrievers. Keeps no per-search state."""

    def __init__(
        self,
        lexical: LexicalRetriever,
        sides: Sequence[ModelSide],
        *,
        texts: Callable[[Iterable[int]], list[str]],
        passing: Callable[[AnalyzedQuery], set[int] | None],
        config: RankingConfig,
        cited: Callable[[], Mapping[int, float]] | None = None,
        formula: FormulaRetriever | None = None,
    ) -> None:
        """`sides`: the models that answer, the primary first. `texts(ids)`: posts' title and
        body. `passing(q)`: the posts the query's filters allow (None: all). `cited()`: each
        post's citation prior in [0, 1] (None: no such signal). `formula`: the formula
        retriever over `lexical`'s searcher (kept by the caller: it caches document
        frequencies)."""
        self.lexical = lexical
        self.sides = tuple(sides)
        self.texts = texts
        self.passing = passing
        self.config = config
        self.cited = cited
        self.formula = formula or FormulaRetriever(lexical)

    def run(
        self, q: AnalyzedQuery, mode: Mode, depth: int, config: RankingConfig | None = None
    ) -> Ranking:
        config = config or self.config
        lists: dict[str, RankedList] = {}
        coverage: dict[int, float] = {}
        # 1. BM25 (semantic mode too without text: the newest posts that pass the filters)
        if mode != "semantic" or not q.has_text:
            lists[BM25], coverage = self._bm25(q, depth)
        formula: dict[int, float] = {}
        weights: Mapping[str, float] = {}
        if q.formula is not None and mode != "semantic":
            found = self.formula.search(q.formula, depth, config.formula, self._allowed(q))
            lists[FORMULA], formula, weights = found.ranked, dict(found.coverage), found.weights
        if mode == "lexical" or not q.has_text or not self.sides:
            bm25 = lists[BM25]
            if FORMULA not in lists:
                return Ranking(list(bm25), max(len(bm25), bm25.total), lists)
            fusion = policy(q, config)
            fused = fusion.fuse([bm25, lists[FORMULA]])
            total = max(len(fused), bm25.total)
            return Ranking(
                fused, total, lists, (BM25, FORMULA), formula=weights, policy=fusion
            )  # fmt: skip
        from search.dense import each_side  # here: it imports numpy, which lexical never needs

        # 2. each model's list (semantic mode: the primary's alone)
        primary = self.sides[0]
        allowed = self._allowed(q)
        sides = self.sides if mode == "hybrid" else self.sides[:1]

        def retrieve(side: ModelSide) -> tuple[np.ndarray, list[SemanticHit]]:
            vector = side.embed(q.embed_text)
            return vector, side.retriever.search(vector, depth, allowed=allowed)

        found = each_side(sides, retrieve)  # the sides at once, in order (search/dense.py)
        vectors = {side.name: vector for side, (vector, _) in zip(sides, found, strict=True)}
        first = found[0][1]
        lists[primary.name] = _listed(primary.name, first, primary.retriever.count(allowed))
        for side, (_, hits) in zip(sides[1:], found[1:], strict=True):
            lists[side.name] = _listed(side.name, hits)
        if mode == "semantic":  # the floor weighs lexical evidence in every mode
            coverage = self.lexical.coverage(q, [h.post_id for h in first])
        passages = {h.post_id: h.passage for h in first}
        semantic = {h.post_id: h.score for h in first}
        if mode == "semantic" or not first:
            only = primary.name if mode == "semantic" else BM25
            ranking = Ranking([], 0, lists, (only,), evidence=Evidence(semantic, coverage))
            return self.finish(replace(ranking, passages=passages, primary=primary.name), q)
        # 3. exact matches
        exact = self._exact(q, lists[BM25], config)
        second = lists[sides[1].name].items[:1] if len(sides) > 1 else None
        evidence = Evidence(
            semantic, coverage, exact, second[0][1] if second else None, formula=formula
        )
        final = (primary.name, BM25, *(s.name for s in sides[1:]), *lists.keys() & {FORMULA})
        ranking = Ranking(
            [], 0, lists, final, exact, evidence,
            passages=passages, primary=primary.name, formula=weights, policy=policy(q, config),
        )  # fmt: skip
        # 4. dense feedback: each model's query moved towards the first fusion's top post
        fusion = config.fusion
        if fusion.feedback:
            top = self.finish(ranking, q, config).ranked[:1]
            if top:
                # An approximate index rescores the first round's posts (every list's) instead
                # of searching again: 1x forced IVF, hybrid nDCG@10 0.9070 -> 0.9072, R@100
                # 0.993 -> 0.985; two IVF searches fewer a query.
                pool = dict.fromkeys(d for name in ranking.final for d in lists[name].ids())

                def fed(side: ModelSide) -> list[SemanticHit]:
                    moved = side.retriever.feedback(
                        vectors[side.name], top[0][0], fusion.feedback, fusion.feedback_passages
                    )
                    among = pool if side.retriever.approximate else None
                    return side.retriever.search(moved, depth, allowed=allowed, among=among)

                for side, hits in zip(sides, each_side(sides, fed), strict=True):
                    lists[side.name + FEEDBACK] = _listed(side.name + FEEDBACK, hits)
                ranking = replace(ranking, final=tuple(_latest(n, lists) for n in ranking.final))
        # 5. lexical feedback: BM25 of the terms that mark the top posts as they stand now
        if fusion.lexical_feedback:
            top = self.finish(ranking, q, config).ranked[: fusion.lexical_feedback_posts]
            if top:
                best = max(score for _, score in top)
                # Each post counts by its fused score, as a relevance model weighs its
                # documents: a weak third post must not outweigh a clear first.
                weighted = [(pid, score / best if best > 0 else 1.0) for pid, score in top]
                hits = self.lexical.feedback(
                    weighted,
                    self.texts,
                    exclude=set(q.all_terms),
                    terms=fusion.lexical_feedback_terms,
                    limit=depth,
                    allowed=allowed,
                )
                lists[BM25_FEEDBACK] = RankedList(
                    BM25_FEEDBACK, tuple((h.post_id, h.score) for h in hits)
                )
                ranking = replace(ranking, final=(*ranking.final, BM25_FEEDBACK))
        # 6. citations: the candidates by how often the archive's posts cite them
        if fusion.weight(CITED) and self.cited is not None:
            prior = self.cited()
            pool = dict.fromkeys(d for name in ranking.final for d in lists[name].ids())
            cited = sorted(((d, prior.get(d, 0.0)) for d in pool), key=lambda x: -x[1])
            lists[CITED] = RankedList(CITED, tuple(cited))
            ranking = replace(ranking, final=(*ranking.final, CITED))
        # 7, 8. the final fusion and the floor
        return self.finish(ranking, q, config)

    def finish(
        self, ranking: Ranking, q: AnalyzedQuery, config: RankingConfig | None = None
    ) -> Ranking:
        """Stages 6 and 7 over `ranking`'s final lists: fuse them (one list is taken as it
        is), then keep the posts with evidence. Feedback rounds and the tuning scripts call it
        too, so the tail is written once."""
        config = config or self.config
        lists = [ranking.lists[name] for name in ranking.final]
        if len(lists) == 1:
            fused = list(lists[0])
        else:
            fused = policy(q, config).fuse(lists, ranking.exact, primary=ranking.primary)
        if config.floor is None:
            bm25 = ranking.lists.get(BM25)
            return replace(ranking, ranked=fused, total=max(len(fused), bm25.total if bm25 else 0))
        report = config.floor.report(ranking.evidence, q.cjk)
        ranked = config.floor.apply(fused, ranking.evidence, q.cjk)
        return replace(ranking, ranked=ranked, total=len(ranked), floor=report)

    # -- the stages' parts ----------------------------------------------------------------------
    def _bm25(self, q: AnalyzedQuery, depth: int) -> tuple[RankedList, dict[int, float]]:
        fetch = depth if not q.phrases else max(depth * 4, 100)
        # A series is no field of the index: its posts are named to BM25 instead.
        among = self.passing(q) if q.filters.series else None
        found = self.lexical.search(q, fetch, among=among)
        hits, total = found.hits, found.total
        if q.phrases:
            keep = self._with_phrases(q, [h.post_id for h in hits])
            hits = [h for h in hits if h.post_id in keep]
            # Phrases are verified on the text of the fetched posts only; past those, BM25's
            # count (which requires the phrase's words, not their order) is the best estimate.
            total = len(hits) if total <= fetch else total
        hits = hits[:depth]
        ranked = RankedList(BM25, tuple((h.post_id, h.score) for h in hits), total)
        return ranked, {h.post_id: h.coverage for h in hits}

    def _with_phrases(self, q: AnalyzedQuery, ids: Iterable[int]) -> set[int]:
        """The posts among `ids` whose text holds every quoted phrase verbatim."""
        ids = list(ids)
        texts = self.texts(ids)
        return {pid for pid, text in zip(ids, texts, strict=True) if contains_phrases(text, q)}

    def _allowed(self, q: AnalyzedQuery) -> set[int] | None:
        """The posts semantic lists may hold: those meeting the query's hard parts and filters
        (None: every post)."""
        allowed = self.lexical.constrained(q)
        if allowed is not None and q.phrases:
            allowed = self._with_phrases(q, allowed)
        passing = self.passing(q)
        if passing is not None:
            allowed = passing if allowed is None else allowed & passing
        return allowed

    def _exact(self, q: AnalyzedQuery, bm25: RankedList, config: RankingConfig) -> frozenset[int]:
        """Posts among the BM25 hits that hold the typed words verbatim (in a title; or in a
        body, for long queries)."""
        if not q.positions:
            return frozenset()
        found = set(self.lexical.exact(q.positions, TITLE, limit=5))
        if len(q.positions) >= config.exact_body_min_tokens:
            most = config.exact_body_max_posts
            body = self.lexical.exact(q.positions, BODY, limit=most + 1)
            if len(body) <= most:
                found.update(body)
        return frozenset(d for d in bm25.ids() if d in found)


def policy(q: AnalyzedQuery, config: RankingConfig) -> FusionPolicy:
    """The fusion policy for `q`: the configured one for its script (FusionPolicy.for_script),
    or, for a query holding a formula, reweighed for it (search.formula.fusion_policy; its
    weights were chosen over the script-blind policy, and LaTeX is no English)."""
    if q.formula is None:
        return config.fusion.for_script(q.cjk)
    return fusion_policy(config.fusion, q.formula, config.formula)


def _listed(name: str, hits: Sequence[SemanticHit], total: int = 0) -> RankedList:
    return RankedList(name, tuple((h.post_id, h.score) for h in hits), total or len(hits))


def _latest(name: str, lists: dict[str, RankedList]) -> str:
    """A model's list searched again in the feedback round, if it was."""
    return name + FEEDBACK if name + FEEDBACK in lists else name
