"""Keep the store's links and series in step with its posts (the write path's part of the graph).

Incremental by content hash, like the other derived data: only posts whose text changed since
their references were read (or that were never read, or read by other rules) are read again;
a rebuild reads every post. Then two cheap whole-archive steps that any change can affect:
title references are resolved again against every title (a post that arrives, or is renamed,
resolves references written before it), and the series are detected again from every title
and the links between them. On the shared corpus (342 posts) reading all references takes
~0.4 s and both whole-archive steps a few milliseconds.
"""

from __future__ import annotations

from index.links import LINKS_VERSION, TitleIndex, references
from index.series import detect
from index.store import SeriesRow, Store


def sync_links(store: Store, *, rebuild: bool = False) -> int:
    """Bring links and series up to date with the posts; returns how many posts were read."""
    if rebuild:
        store.forget_links()
    stale = store.stale_links(LINKS_VERSION)
    if not stale:
        return 0
    meta = store.metadata()
    titles = TitleIndex({post_id: m.title for post_id, m in meta.items()})
    found = {}
    for post in store.iter_posts(stale):
        found[post.id] = [
            (r.kind, r.target if r.kind == "url" else titles.resolve(r.ref), r.ref, r.sentence)
            for r in references(post.body, post.id)
        ]
    store.replace_links(found)
    now = (
        (src, ord_, dst, titles.resolve(title))
        for src, ord_, title, dst in store.title_references()
    )
    store.set_title_targets((src, ord_, new) for src, ord_, old, new in now if new != old)
    dated = {post_id: (m.title, m.date) for post_id, m in meta.items()}
    rows = [
        SeriesRow(post_id, series.name, i, part, series.confirmed)
        for series in detect(dated, store.link_pairs())
        for i, (post_id, part) in enumerate(zip(series.posts, series.parts, strict=True), 1)
    ]
    store.replace_series(rows)
    # Last: a run killed before this line leaves the posts stale, and the next one redoes
    # every step (each is idempotent), so links, title targets and series never disagree.
    store.mark_links_read(LINKS_VERSION, stale)
    return len(stale)
