"""Getting posts in: one `Post` shape from JSON Lines, markdown, saved pages and the live site."""

from corpus.post import Post, Problem, post_url
from corpus.readers import read_source

__all__ = ["Post", "Problem", "post_url", "read_source"]
