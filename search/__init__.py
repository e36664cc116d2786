"""kexue-search's library API: `from search import Searcher`.

Everything a front end (the CLI, the TUI, a server, another program) needs is exported here,
errors and the write path included, so that no front end reaches into `index` or `corpus`.
The write path and model installation load on first use: a query never pays for their imports.
"""

from typing import TYPE_CHECKING, Any

from corpus.post import Post, archive_id, parse_post_id, post_ref
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

if TYPE_CHECKING:
    from index.check import CheckReport, check
    from index.indexer import IndexReport, update
    from index.models import ModelSpec, setup_model
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

_LAZY = {
    **dict.fromkeys(
        (
            "ArchiveGraph",
            "LinkedPost",
            "PostLinks",
            "Series",
            "SeriesEntry",
            "SeriesPlace",
            "graph_of",
            "links_of",
        ),
        "search.graph",
    ),
    "check": "index.check",
    "CheckReport": "index.check",
    "update": "index.indexer",
    "IndexReport": "index.indexer",
    "ModelSpec": "index.models",
    "setup_model": "index.models",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'search' has no attribute {name!r}")


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
