"""kexue-search's library API: `from search import Searcher`.

Everything a front end (the CLI, the TUI, a server, another program) needs is exported here,
errors and the write path included, so that no front end reaches into `index` or `corpus`.
Every name loads on first use (PEP 562): `import search` costs nothing, and each front end
pays only for what it touches (`search query` through a running server never imports numpy).
"""

from typing import TYPE_CHECKING, Any

# Bound now, not lazily: importing a submodule sets the package's attribute of its name to the
# module, which would hide the function `evaluate` for good (this costs ~2 ms: stdlib only).
from search.evaluate import evaluate

if TYPE_CHECKING:
    from corpus.post import Post, archive_id, parse_post_id, post_ref
    from index.check import CheckReport, check
    from index.errors import (
        CorruptIndexError,
        CorruptStoreError,
        DataError,
        MissingIndexError,
        ModelLoadError,
        ModelMismatchError,
        ModelNotInstalledError,
        NoSuchPostError,
        StaleIndexError,
        WriterBusyError,
    )
    from index.indexer import IndexReport, update
    from index.models import ModelSpec, setup_model
    from index.paths import ENV_VAR as DATA_DIR_ENV
    from index.paths import DataDir
    from search.analysis import AnalyzedQuery
    from search.api import MODELS_LOADING, MODES, SORTS, ModelState, Searcher
    from search.config import DEFAULT_CONFIG, RankingConfig
    from search.evaluate import METRICS as EVAL_METRICS
    from search.evaluate import EvalResult, JudgedQuery, evaluate, load_queries
    from search.expand import Entry as GlossaryEntry
    from search.expand import Glossary
    from search.facets import Facet, FacetSort
    from search.fusion import DEFAULT_FUSION, FusionPolicy, RankedList
    from search.graph import (
        ArchiveGraph,
        LinkedPost,
        PostLinks,
        Series,
        SeriesEntry,
        SeriesPlace,
        graph_of,
        links_of,
    )
    from search.hits import Explanation, Hit, ListPart, SearchResult
    from search.pipeline import Mode, Ranking
    from search.query import (
        Filters,
        ParsedQuery,
        QuerySyntaxError,
        UnknownFilterError,
        parse_query,
        parse_years,
    )
    from search.relevance import DEFAULT_FLOOR, Floor, FloorReport
    from search.request import SearchRequest, Sort
    from search.snippets import Snippet

_LAZY: dict[str, tuple[str, str]] = {
    "AnalyzedQuery": ("search.analysis", "AnalyzedQuery"),
    "ArchiveGraph": ("search.graph", "ArchiveGraph"),
    "CheckReport": ("index.check", "CheckReport"),
    "CorruptIndexError": ("index.errors", "CorruptIndexError"),
    "CorruptStoreError": ("index.errors", "CorruptStoreError"),
    "DATA_DIR_ENV": ("index.paths", "ENV_VAR"),
    "DEFAULT_CONFIG": ("search.config", "DEFAULT_CONFIG"),
    "DEFAULT_FLOOR": ("search.relevance", "DEFAULT_FLOOR"),
    "DEFAULT_FUSION": ("search.fusion", "DEFAULT_FUSION"),
    "DataDir": ("index.paths", "DataDir"),
    "DataError": ("index.errors", "DataError"),
    "EVAL_METRICS": ("search.evaluate", "METRICS"),
    "EvalResult": ("search.evaluate", "EvalResult"),
    "Explanation": ("search.hits", "Explanation"),
    "Facet": ("search.facets", "Facet"),
    "FacetSort": ("search.facets", "FacetSort"),
    "Filters": ("search.query", "Filters"),
    "Floor": ("search.relevance", "Floor"),
    "FloorReport": ("search.relevance", "FloorReport"),
    "FusionPolicy": ("search.fusion", "FusionPolicy"),
    "Glossary": ("search.expand", "Glossary"),
    "GlossaryEntry": ("search.expand", "Entry"),
    "Hit": ("search.hits", "Hit"),
    "IndexReport": ("index.indexer", "IndexReport"),
    "JudgedQuery": ("search.evaluate", "JudgedQuery"),
    "LinkedPost": ("search.graph", "LinkedPost"),
    "ListPart": ("search.hits", "ListPart"),
    "MODELS_LOADING": ("search.api", "MODELS_LOADING"),
    "MODES": ("search.request", "MODES"),
    "MissingIndexError": ("index.errors", "MissingIndexError"),
    "Mode": ("search.pipeline", "Mode"),
    "ModelLoadError": ("index.errors", "ModelLoadError"),
    "ModelMismatchError": ("index.errors", "ModelMismatchError"),
    "ModelNotInstalledError": ("index.errors", "ModelNotInstalledError"),
    "ModelSpec": ("index.models", "ModelSpec"),
    "ModelState": ("search.api", "ModelState"),
    "NoSuchPostError": ("index.errors", "NoSuchPostError"),
    "ParsedQuery": ("search.query", "ParsedQuery"),
    "Post": ("corpus.post", "Post"),
    "PostLinks": ("search.graph", "PostLinks"),
    "QuerySyntaxError": ("search.query", "QuerySyntaxError"),
    "RankedList": ("search.fusion", "RankedList"),
    "Ranking": ("search.pipeline", "Ranking"),
    "RankingConfig": ("search.config", "RankingConfig"),
    "SORTS": ("search.request", "SORTS"),
    "SearchRequest": ("search.request", "SearchRequest"),
    "SearchResult": ("search.hits", "SearchResult"),
    "Searcher": ("search.api", "Searcher"),
    "Series": ("search.graph", "Series"),
    "SeriesEntry": ("search.graph", "SeriesEntry"),
    "SeriesPlace": ("search.graph", "SeriesPlace"),
    "Snippet": ("search.snippets", "Snippet"),
    "Sort": ("search.request", "Sort"),
    "StaleIndexError": ("index.errors", "StaleIndexError"),
    "UnknownFilterError": ("search.query", "UnknownFilterError"),
    "WriterBusyError": ("index.errors", "WriterBusyError"),
    "archive_id": ("corpus.post", "archive_id"),
    "check": ("index.check", "check"),
    "graph_of": ("search.graph", "graph_of"),
    "links_of": ("search.graph", "links_of"),
    "load_queries": ("search.evaluate", "load_queries"),
    "parse_post_id": ("corpus.post", "parse_post_id"),
    "parse_query": ("search.query", "parse_query"),
    "parse_years": ("search.query", "parse_years"),
    "post_ref": ("corpus.post", "post_ref"),
    "setup_model": ("index.models", "setup_model"),
    "update": ("index.indexer", "update"),
}


def __getattr__(name: str) -> Any:
    found = _LAZY.get(name)
    if found is None:
        raise AttributeError(f"module 'search' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(found[0]), found[1])
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "DATA_DIR_ENV",
    "DEFAULT_CONFIG",
    "DEFAULT_FLOOR",
    "DEFAULT_FUSION",
    "EVAL_METRICS",
    "MODELS_LOADING",
    "MODES",
    "SORTS",
    "AnalyzedQuery",
    "ArchiveGraph",
    "CheckReport",
    "CorruptIndexError",
    "CorruptStoreError",
    "DataDir",
    "DataError",
    "EvalResult",
    "Explanation",
    "Facet",
    "FacetSort",
    "Filters",
    "Floor",
    "FloorReport",
    "FusionPolicy",
    "Glossary",
    "GlossaryEntry",
    "Hit",
    "IndexReport",
    "JudgedQuery",
    "LinkedPost",
    "ListPart",
    "MissingIndexError",
    "Mode",
    "ModelLoadError",
    "ModelMismatchError",
    "ModelNotInstalledError",
    "ModelSpec",
    "ModelState",
    "NoSuchPostError",
    "ParsedQuery",
    "Post",
    "PostLinks",
    "QuerySyntaxError",
    "RankedList",
    "Ranking",
    "RankingConfig",
    "SearchRequest",
    "SearchResult",
    "Searcher",
    "Series",
    "SeriesEntry",
    "SeriesPlace",
    "Snippet",
    "Sort",
    "StaleIndexError",
    "UnknownFilterError",
    "WriterBusyError",
    "archive_id",
    "check",
    "evaluate",
    "graph_of",
    "links_of",
    "load_queries",
    "parse_post_id",
    "parse_query",
    "parse_years",
    "post_ref",
    "setup_model",
    "update",
]
