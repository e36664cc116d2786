"""kexue-search's library API: `from search import Searcher`."""

from search.api import MODES, Searcher
from search.hits import Explanation, Hit
from search.query import Filters, ParsedQuery, QuerySyntaxError, parse_query
from search.snippets import Snippet

__all__ = [
    "MODES",
    "Explanation",
    "Filters",
    "Hit",
    "ParsedQuery",
    "QuerySyntaxError",
    "Searcher",
    "Snippet",
    "parse_query",
]
