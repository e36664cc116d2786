"""Readers rendered in a worker process (search/server/renderer.py), and the cache keeping them."""

from __future__ import annotations

import os
import time

import pytest

from search.server.render import render_post
from search.server.renderer import RenderCache, RenderPool, RenderTimeout

BODY = "能量 $E = mc^2$。\n\n$$\\int_0^1 x\\,dx = \\frac{1}{2}$$\n\n[链接](/archives/2)"


# Module-level, so that a spawned worker can import them by name.
def process_id(body: str, url: str) -> str:
    return str(os.getpid())


def slow_when_asked(body: str, url: str) -> str:
    if body == "slow":
        time.sleep(60)
    return f"<p>{body}</p>"


def test_the_cache_keeps_readers_within_its_budget_least_recently_used_first():
    cache = RenderCache(10, largest=6)
    cache.put("a", "aaaa")
    cache.put("b", "bbbb")
    assert cache.get("a") == "aaaa"  # now b is the least recently used
    cache.put("c", "cccc")
    assert cache.get("b") is None and cache.get("a") == "aaaa" and cache.get("c") == "cccc"
    assert cache.chars == 8 and len(cache) == 2
    cache.put("huge", "x" * 7)  # over `largest`: rendered each time, never kept
    assert cache.get("huge") is None and cache.chars == 8
    cache.put("a", "aa")  # replacing an entry counts its new length only
    assert cache.chars == 6
    nothing = RenderCache(0)
    nothing.put("a", "aaaa")
    assert nothing.get("a") is None and len(nothing) == 0


def test_a_worker_renders_what_this_process_would_in_another_process():
    pool = RenderPool(1)
    try:
        assert pool.render(BODY, "https://kexue.fm/archives/1") == render_post(
            BODY, "https://kexue.fm/archives/1"
        )
    finally:
        pool.close()
    other = RenderPool(1, render=process_id)
    try:
        assert other.render("", "") != str(os.getpid())
    finally:
        other.close()
    assert RenderPool(0, render=process_id).render("", "") == str(os.getpid())


def test_a_render_that_never_ends_times_out_and_the_next_one_gets_a_fresh_worker():
    pool = RenderPool(1, timeout=2, render=slow_when_asked)
    try:
        assert pool.render("warm", "") == "<p>warm</p>"  # the worker has started
        started = time.monotonic()
        with pytest.raises(RenderTimeout, match="over 2 s"):
            pool.render("slow", "")
        assert time.monotonic() - started < 10
        assert pool.render("next", "") == "<p>next</p>"
    finally:
        pool.close()


def test_a_reader_that_cannot_be_rendered_in_time_is_a_503_and_the_server_goes_on(tmp_path):
    import search
    from search import Post
    from search.server.live import LiveIndex
    from search.server.service import Service, ServiceError
    from tests.conftest import build_index

    data = build_index(tmp_path / "slow")
    search.update(data, [Post(id=4005, title="慢", body="slow")], vectors=False)
    live = LiveIndex(data, load_model=False, check_every=3600)
    service = Service(live)
    service.renderer = RenderPool(1, timeout=2, render=slow_when_asked)
    try:
        with pytest.raises(ServiceError) as caught:
            service.post(4005, html=True)
        assert caught.value.status == 503 and "post 4005 cannot be shown as HTML" in str(
            caught.value
        )
        assert service.post(4005)["body"] == "slow"  # markdown needs no rendering
        assert service.post(1001, html=True)["html"].startswith("<p>")
    finally:
        service.close()
        live.close()


def test_a_post_past_the_rendering_bound_is_shown_as_written_and_escaped():
    from search.render import LONG_POST_CHARS

    body = "旋转位置编码 外推 <b>x</b> " + "\\begin{a}" * (LONG_POST_CHARS // 9 + 1)
    started = time.perf_counter()
    out = render_post(body, "https://kexue.fm/archives/1")
    assert time.perf_counter() - started < 1  # rendered, the item-1 post took 1.3 s
    assert out.startswith("<pre>") and "&lt;b&gt;x&lt;/b&gt;" in out and "<b>" not in out
    short = render_post("旋转位置编码 **外推**", "https://kexue.fm/archives/1")
    assert "<strong>外推</strong>" in short  # an ordinary post is rendered as before
