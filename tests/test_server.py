"""The HTTP API over real HTTP: uvicorn on an ephemeral loopback port, httpx as the client.

The contract (shapes, statuses, limits, security) on the lexical fixture index; a commit served
live while requests keep succeeding; hybrid search and /embed with the real model (marked)."""

from __future__ import annotations

import datetime as dt
import io
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import numpy as np
import pytest
import uvicorn

import search
from index.models import Embedder, ModelSpec
from search import DataError, Post, Searcher
from search.server import create_app
from search.server.listen import bind, check_access, is_loopback
from search.server.live import LiveIndex, fingerprint
from search.server.render import render_post
from search.server.service import LOADING, Service
from tests.conftest import build_index

TOKEN = "a-test-token-of-some-length"


@contextmanager
def running(app, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve `app` with uvicorn in a thread on an ephemeral port; yields its base URL."""
    sock = bind(host, 0)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    try:
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture(scope="module")
def url(fixture_data) -> Iterator[str]:
    with running(create_app(fixture_data.root, load_model=False)) as base:
        yield base


@pytest.fixture(scope="module")
def client(url) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=30) as c:
        yield c


def assert_error(response: httpx.Response, status: int, words: str = "") -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error", "detail"}
    assert body["error"] and "\n" not in body["error"] and "Traceback" not in response.text
    assert words.lower() in body["error"].lower()
    return body


# -- search ---------------------------------------------------------------------------------
def test_search_answers_in_the_contract_shape_with_the_cli_hits(client, fixture_data):
    r = client.get("/search", params={"q": "RoPE 外推", "limit": 3})
    assert r.status_code == 200
    body = r.json()
    assert {"hits", "total", "offset", "mode", "took_ms", "warnings"} <= set(body)
    with Searcher.open(fixture_data.root) as searcher:
        expected = searcher.search("RoPE 外推", limit=3)
    for hit in body["hits"]:  # a page's extra: the snippet's short formulas as MathML
        assert isinstance(hit["snippet"].pop("math"), list)
    assert body["hits"] == [h.to_dict() for h in expected]  # what `search query --json` prints
    assert body["total"] == expected.total and body["offset"] == 0
    assert body["mode"] == "lexical" and body["warnings"]  # no vectors here: it says so
    assert body["hits"][0]["post_id"] == 1001


def test_filters_paging_sort_and_explain(client):
    tagged = client.get("/search", params={"q": "位置", "tag": "RoPE", "mode": "lexical"}).json()
    assert tagged["hits"] and all("RoPE" in h["tags"] for h in tagged["hits"])
    cat = client.get("/search", params={"category": "数学研究", "limit": 50}).json()
    assert cat["total"] == 5 and {h["category"] for h in cat["hits"]} == {"数学研究"}
    years = client.get("/search", params={"q": "优化", "since": "2024", "until": "2024"}).json()
    assert years["hits"] and all(h["date"].startswith("2024") for h in years["hits"])
    dated = client.get("/search", params={"category": "信息时代", "sort": "date", "limit": 50})
    dates = [h["date"] for h in dated.json()["hits"]]
    assert dates == sorted(dates, reverse=True)
    whole = client.get("/search", params={"q": "模型", "limit": 6}).json()
    pages = [
        client.get("/search", params={"q": "模型", "limit": 3, "offset": k}).json() for k in (0, 3)
    ]
    assert [h["post_id"] for p in pages for h in p["hits"]] == [h["post_id"] for h in whole["hits"]]
    assert pages[1]["offset"] == 3 and pages[1]["total"] == whole["total"]
    explained = client.get("/search", params={"q": "RoPE", "explain": "true"}).json()
    assert "explain" in explained["hits"][0]


@pytest.mark.parametrize(
    ("params", "status", "words"),
    [
        ({"q": "tag:没有这个标签"}, 400, "no tag"),
        ({"q": "RoPE", "since": "2023-13-01"}, 400, "bad date"),
        ({"q": "x" * 1001}, 400, "limit is 1,000"),
        ({"q": "RoPE", "limit": 101}, 422, "limit"),
        ({"q": "RoPE", "limit": -1}, 422, "limit"),
        ({"q": "RoPE", "offset": 1001}, 422, "offset"),
        ({"q": "RoPE", "mode": "fuzzy"}, 422, "mode"),
        ({"q": "RoPE", "sort": "views"}, 422, "sort"),
        ({"q": "RoPE", "tag": [f"t{i}" for i in range(21)]}, 422, "21 tag filters"),
    ],
)
def test_bad_searches_are_one_line_json_errors(client, params, status, words):
    assert_error(client.get("/search", params=params), status, words)


def test_a_nonsense_query_is_an_empty_answer_not_an_error(client):
    body = client.get("/search", params={"q": "zzqqxxv"}).json()
    assert body["hits"] == [] and body["total"] == 0 and body["unknown"] == ["zzqqxxv"]


# -- posts ----------------------------------------------------------------------------------
def test_post_markdown_and_html(client):
    post = client.get("/posts/1009").json()
    assert post["post_id"] == 1009 and post["url"] == "https://kexue.fm/archives/1009"
    assert "\\sqrt{d}" in post["body"] and "html" not in post
    html = client.get("/posts/1009", params={"format": "html"}).json()["html"]
    assert "<math" in html and "<msqrt>" in html and "$" not in html


def test_similar_and_unknown_posts(client):
    related = client.get("/posts/1005/similar", params={"limit": 2}).json()
    ids = [h["post_id"] for h in related["hits"]]
    assert 1 <= len(ids) <= 2 and 1005 not in ids and ids[0] == 1006
    assert_error(client.get("/posts/4242"), 404, "no post 4242")
    assert_error(client.get("/posts/4242/similar"), 404, "no post")
    assert_error(client.get("/posts/99999999999999999999999"), 404)
    assert_error(client.get("/posts/abc"), 422, "post_id")
    assert_error(client.get("/posts/1005/similar", params={"limit": 0}), 422, "limit")
    assert_error(client.get("/nothing/here"), 404, "no such endpoint")
    assert_error(client.post("/search"), 405)


# -- about the index ------------------------------------------------------------------------
def test_tags_categories_stats_health(client, fixture_data):
    tags = client.get("/tags").json()["tags"]
    with Searcher.open(fixture_data.root) as searcher:
        meta = searcher.meta
    assert {t["value"]: t["count"] for t in tags} == {
        t: sum(t in m.tags for m in meta.values())
        for t in {t for m in meta.values() for t in m.tags}
    }
    assert tags == sorted(tags, key=lambda t: (-t["count"], t["value"]))
    by_name = client.get("/tags", params={"sort": "name"}).json()["tags"]
    assert [t["value"] for t in by_name] == sorted(t["value"] for t in tags)
    assert_error(client.get("/tags", params={"sort": "views"}), 422, "sort")
    cats = {c["value"]: c for c in client.get("/categories").json()["categories"]}
    assert cats["数学研究"]["count"] == 5 and cats["数学研究"]["latest"] == "2025-03-03"
    stats = client.get("/stats").json()
    assert stats["posts"] == 18 and stats["model"] is None and "data_dir" not in stats
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["posts"] == 18 and health["semantic"] is False


def test_openapi_and_docs(client):
    schema = client.get("/openapi.json").json()
    for path in ("/search", "/posts/{post_id}", "/posts/{post_id}/similar", "/embed", "/stats",
                 "/tags", "/categories", "/healthz"):  # fmt: skip
        assert path in schema["paths"], path
    params = {p["name"] for p in schema["paths"]["/search"]["get"]["parameters"]}
    assert params >= {"q", "mode", "limit", "offset", "tag", "category", "since", "until", "sort"}
    assert client.get("/docs").status_code == 200


# -- /embed without a loaded model, and its limits ------------------------------------------
def test_embed_limits_and_loading(client):
    r = client.post("/embed", json={"texts": ["梯度"]})
    assert_error(r, 503, "loading")
    assert r.headers["retry-after"] == "2"
    assert_error(client.post("/embed", json={"texts": ["a"] * 65}), 413, "65 texts")
    assert_error(client.post("/embed", json={"texts": ["长" * 2001]}), 413, "2,001 characters")
    assert_error(client.post("/embed", json={"texts": ["a"], "kind": "doc"}), 422, "kind")
    assert_error(client.post("/embed", json={"text": "a"}), 422, "texts")
    assert_error(client.post("/embed", content=b'{"texts": ["a"]}'), 422, "content-type")
    plain = {"content-type": "text/plain"}  # what a form on another site could send
    assert_error(client.post("/embed", content=b'{"texts": ["a"]}', headers=plain), 422)
    huge = b'{"texts": ["' + b"a" * 1_100_000 + b'"]}'
    headers = {"content-type": "application/json"}
    assert_error(client.post("/embed", content=huge, headers=headers), 413, "over 1,000,000")

    def chunked():
        for _ in range(12):
            yield b"a" * 100_000

    assert_error(client.post("/embed", content=chunked(), headers=headers), 413)


def test_an_internal_error_is_a_json_500_without_a_traceback(fixture_data, monkeypatch):
    app = create_app(fixture_data.root, load_model=False)

    def boom(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(app.state.service, "search", boom)
    with running(app) as base, httpx.Client(base_url=base) as c:
        r = c.get("/search", params={"q": "RoPE"})
        assert_error(r, 500, "internal error")
        assert "secret" not in r.text
        assert c.get("/healthz").status_code == 200  # and it goes on


# -- security -------------------------------------------------------------------------------
def test_loopback_host_header_and_headers(client, url):
    assert_error(client.get("/healthz", headers={"host": "attacker.example"}), 400, "answers")
    assert client.get("/healthz", headers={"host": "localhost:1234"}).status_code == 200
    r = client.get("/")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    assert "'unsafe-inline'" not in csp and "frame-ancestors 'none'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert client.get("/static/app.js").status_code == 200
    assert_error(client.get("/static/../../etc/passwd"), 404)
    no_cors = client.get("/healthz", headers={"origin": "https://evil.example"})
    assert "access-control-allow-origin" not in no_cors.headers


def test_token_and_cors(fixture_data):
    app = create_app(fixture_data.root, token=TOKEN, cors="https://tools.example", load_model=False)
    with running(app) as base, httpx.Client(base_url=base) as c:
        assert_error(c.get("/search", params={"q": "RoPE"}), 401, "bearer token")
        wrong = {"authorization": "Bearer " + TOKEN[:-1] + "x"}
        assert_error(c.get("/search", params={"q": "RoPE"}, headers=wrong), 401)
        good = {"authorization": f"Bearer {TOKEN}"}
        assert c.get("/search", params={"q": "RoPE"}, headers=good).status_code == 200
        assert c.get("/healthz").status_code == 200  # public: says nothing about the posts
        assert c.get("/").status_code == 200
        assert c.get("/openapi.json").json()["security"] == [{"bearer": []}]
        # With a token any Host is answered: the token, not the name, is the guard.
        assert c.get("/healthz", headers={"host": "search.lan"}).status_code == 200
        preflight = c.options(
            "/search",
            headers={
                "origin": "https://tools.example",
                "access-control-request-method": "GET",
                "access-control-request-headers": "authorization",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://tools.example"
        other = c.get("/healthz", headers={"origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_serve_refuses_what_is_unsafe(tmp_path):
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.10")
    with pytest.raises(DataError, match="without a token"):
        check_access("0.0.0.0", None)
    with pytest.raises(DataError, match="at least 16"):
        check_access("0.0.0.0", "short")
    check_access("0.0.0.0", TOKEN)
    check_access("127.0.0.1", None)
    taken = bind("127.0.0.1", 0)
    try:
        with pytest.raises(DataError, match="cannot listen"):
            bind("127.0.0.1", taken.getsockname()[1])
    finally:
        taken.close()
    with pytest.raises(DataError):
        search.server.serve(tmp_path / "empty", port=0, say=lambda _: None)


# -- rendering ------------------------------------------------------------------------------
def test_render_math_markdown_and_sanitising():
    body = (
        "式\\begin{equation}a=b\\label{eq:ab}\\end{equation}  \n由$\\eqref{eq:ab}$与 $x_1 * y_2$，"
        "代码 `$k$`，坏 $\\frac{1}{$ 式。\n\n<script>alert(1)</script> <img src=x onerror=alert(1)>"
        "\n\n[rel](/archives/2) [js](javascript:alert(1)) ![i](/usr/a.png)\n"
    )
    html = render_post(body, "https://kexue.fm/archives/1")
    assert '<span class="equation" id="eq-1"><math display="block">' in html
    assert '<a href="#eq-1"' in html and "(1)</a>" in html  # \eqref links to the number
    # not read as emphasis (KaTeX writes * as ∗, latex2mathml as *)
    assert re.search("<msub><mi>x</mi><mn>1</mn></msub><mo>[*∗]</mo>", html)
    assert "<code>$k$</code>" in html  # code stays code
    assert '<span class="math-error">$\\frac{1}{$</span>' in html  # what fails stays source
    assert "<script" not in html and not re.search(r"<[^>]*\son\w+=", html)
    assert 'href="javascript' not in html
    assert "&lt;script&gt;" in html and "&lt;img src=x" in html  # raw HTML in a post is text
    assert 'href="https://kexue.fm/archives/2"' in html
    assert 'src="https://kexue.fm/usr/a.png"' in html


def test_fingerprint_sees_commits_not_reads(tmp_path):
    data = build_index(tmp_path / "d")
    before = fingerprint(data)
    with Searcher.open(data.root) as searcher:
        searcher.search("RoPE")
        assert fingerprint(data) == before  # opening and reading change nothing
    search.update(data, [Post(id=4001, title="新文章", body="内容")], vectors=False)
    assert fingerprint(data) != before


# -- live index -----------------------------------------------------------------------------
def _poll(client: httpx.Client, query: str, post_id: int, timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        hits = client.get("/search", params={"q": query, "mode": "lexical"}).json()["hits"]
        if post_id in [h["post_id"] for h in hits]:
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"post {post_id} not served after {timeout} s")


def test_commits_are_served_live_without_failed_requests(tmp_path):
    data = build_index(tmp_path / "live")
    stop = threading.Event()
    failures: list[str] = []
    done = [0]
    with running(create_app(data.root, load_model=False)) as base:

        def hammer(query: str) -> None:
            with httpx.Client(base_url=base, timeout=30) as c:
                while not stop.is_set():
                    for path, params in (("/search", {"q": query}), ("/posts/1001", {})):
                        r = c.get(path, params=params)
                        if r.status_code != 200:
                            failures.append(f"{path} {r.status_code} {r.text}")
                        done[0] += 1

        threads = [
            threading.Thread(target=hammer, args=(q,), daemon=True)
            for q in ("RoPE 外推", "量子退火", "梯度")
        ]
        for t in threads:
            t.start()
        with httpx.Client(base_url=base, timeout=30) as c:
            generation = c.get("/healthz").json()["generation"]
            new = Post(
                id=4001,
                title="量子退火与模拟退火",
                body="量子退火借助隧穿效应跳出局部极小。",
                date=dt.date(2025, 6, 1),
                category="物理",
                tags=("退火",),
            )
            search.update(data, [new], vectors=False)
            assert _poll(c, "量子退火", 4001, timeout=5) < 3
            assert c.get("/posts/4001").json()["title"] == new.title
            assert {"value": "退火", "count": 1, "latest": "2025-06-01"} in c.get("/tags").json()[
                "tags"
            ]
            assert c.get("/healthz").json()["generation"] > generation
            # A rebuild swaps the BM25 index by a symlink rename under the running server.
            search.update(data, rebuild=True, vectors=False)
            time.sleep(2)
            assert _poll(c, "量子退火", 4001, timeout=5) < 1
        stop.set()
        for t in threads:
            t.join(10)
    assert not failures, failures[:3]
    assert done[0] > 20


def test_a_swapped_out_generation_closes_when_its_last_request_ends(tmp_path):
    data = build_index(tmp_path / "lease")
    live = LiveIndex(data, load_model=False, check_every=3600)  # refreshed by hand here
    try:
        with live.lease() as old:
            search.update(data, [Post(id=4002, title="租约测试", body="租约")], vectors=False)
            assert not live.refresh()  # the first look sees a change: wait for it to settle
            assert live.refresh()
            assert live.current is not old and old.retired
            assert old.searcher.search("RoPE", mode="lexical")  # still open for this request
        assert old.leases == 0
        with pytest.raises(sqlite3.ProgrammingError):  # closed once its request ended
            old.searcher.get(1001)
        with live.lease() as new:
            assert new.searcher.get(4002) is not None
    finally:
        live.close()


def test_repeated_searches_come_from_the_cache_and_a_commit_is_never_stale(tmp_path):
    data = build_index(tmp_path / "cache")
    live = LiveIndex(data, load_model=False, check_every=3600)  # refreshed by hand here
    service = Service(live)
    try:
        first = service.search("退火", mode="lexical")
        again = service.search("退火", mode="lexical")
        assert service.answers.hits == 1 and service.answers.misses == 1
        assert {k: v for k, v in again.items() if k != "took_ms"} == {
            k: v for k, v in first.items() if k != "took_ms"
        }
        again["hits"].clear()  # a caller's copy: the kept answer is whole
        assert service.search("退火", mode="lexical")["hits"] == first["hits"]
        assert service.search("退火", mode="lexical", limit=3) is not None  # another key
        assert service.answers.misses == 2
        related = service.similar(1001)  # a `similar` list is kept beside the searches
        service.similar(1001)
        kind, request = service.answers.popular(2)[0][1:]  # asked 3 times; `similar` twice
        assert kind == "search" and request.mode == "lexical"
        search.update(data, [Post(id=4004, title="退火算法", body="模拟退火")], vectors=False)
        assert not live.refresh() and live.refresh()
        # Before the swap, the live generation's answers were computed on the new one.
        assert {key[1] for key in service.answers.popular(10) if key[0] == live.current.number} == {
            "search",
            "similar",
        }
        hits = service.answers.hits
        fresh = service.search("退火", mode="lexical")
        assert service.answers.hits == hits + 1  # autowarmed, so a hit, and the new post is in
        assert service.similar(1001)["hits"] and service.answers.hits == hits + 2
        assert related["hits"]
        assert 4004 in [h["post_id"] for h in fresh["hits"]]
        assert fresh["total"] == first["total"] + 1
        html = service.post(1001, html=True)
        assert service.post(1001, html=True) == html and service.renders.hits == 1
        service.renders.largest = 10  # as if every reader were a huge post's
        kept = len(service.renders)
        assert service.post(1002, html=True)["html"] and len(service.renders) == kept
    finally:
        live.close()


def test_no_cache_answers_every_search_afresh(tmp_path):
    data = build_index(tmp_path / "nocache")
    live = LiveIndex(data, load_model=False, check_every=3600)
    try:
        service = Service(live, cache=0)
        service.search("退火", mode="lexical")
        service.search("退火", mode="lexical")
        assert service.answers.hits == 0 and len(service.answers) == 0
    finally:
        live.close()


# -- with the real model (tests/conftest.py's `embedder`, loaded once a session) -------------
@pytest.fixture(scope="module")
def vector_data(tmp_path_factory, embedder):
    from index.indexer import update
    from index.paths import DataDir
    from tests.conftest import FIXTURE_POSTS

    data = DataDir(tmp_path_factory.mktemp("server-vectors"))
    update(data, [FIXTURE_POSTS], embedder=embedder)
    return data


@pytest.mark.model
def test_hybrid_search_and_embed_over_http(vector_data, embedder):
    app = create_app(vector_data.root, embedder=embedder)
    with running(app) as base, httpx.Client(base_url=base, timeout=30) as c:
        health = c.get("/healthz").json()
        assert health["semantic"] is True and health["model_state"] == "ready"
        q = "why divide the attention logits by the square root of the dimension"
        body = c.get("/search", params={"q": q, "limit": 3}).json()
        assert body["mode"] == "hybrid"
        assert not any("lexically" in w for w in body["warnings"])
        assert body["hits"][0]["post_id"] == 1009
        semantic = c.get("/search", params={"q": q, "mode": "semantic"}).json()
        assert semantic["mode"] == "semantic"
        related = c.get("/posts/1005/similar", params={"limit": 1}).json()
        assert related["mode"] == "semantic" and related["hits"][0]["post_id"] == 1006

        texts = ["梯度裁剪", "gradient clipping"]
        found = c.post("/embed", json={"texts": texts, "kind": "query"}).json()
        assert found["model"] == "intfloat/multilingual-e5-small" and found["dimension"] == 384
        vectors = np.array(found["vectors"], dtype=np.float32)
        expected = embedder.encode(texts, "query")
        assert np.allclose(vectors, expected, atol=1e-6)
        npy = c.post(
            "/embed",
            json={"texts": texts, "kind": "passage"},
            headers={"accept": "application/x-npy"},
        )
        assert npy.headers["content-type"] == "application/x-npy"
        assert npy.headers["x-dimension"] == "384"
        matrix = np.load(io.BytesIO(npy.content), allow_pickle=False)
        assert matrix.shape == (2, 384) and matrix.dtype == np.float32
        assert np.allclose(matrix, embedder.encode(texts, "passage"), atol=1e-6)


class GatedEmbedder(Embedder):
    """The real model, whose load waits for the test: a model that loads in half a second
    must not answer before the test has seen the lexical answers of the loading time."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.gate = threading.Event()

    def load(self):
        self.gate.wait(60)
        super().load()


@pytest.mark.model
def test_starts_at_once_and_is_lexical_until_the_model_is_ready(vector_data):
    started = time.monotonic()
    model = GatedEmbedder(ModelSpec())
    app = create_app(vector_data.root, embedder=model)  # not loaded: loads in the background
    with running(app) as base, httpx.Client(base_url=base, timeout=30) as c:
        first = c.get("/search", params={"q": "RoPE 外推"}).json()
        assert time.monotonic() - started < 2
        assert first["mode"] == "lexical" and LOADING in first["warnings"]
        assert first["hits"][0]["post_id"] == 1001
        model.gate.set()
        deadline = time.monotonic() + 60
        while not c.get("/healthz").json()["semantic"]:
            assert time.monotonic() < deadline, "the model never became ready"
            time.sleep(0.2)
        later = c.get("/search", params={"q": "RoPE 外推"}).json()
        assert later["mode"] == "hybrid" and LOADING not in later["warnings"]


@pytest.mark.model
def test_a_commit_with_vectors_is_served_semantically(vector_data, embedder, tmp_path):
    import shutil

    from index.indexer import update

    root = tmp_path / "copy"
    shutil.copytree(vector_data.root, root, ignore=shutil.ignore_patterns("write.lock"))
    data = search.DataDir(root)
    app = create_app(root, embedder=embedder)
    with running(app) as base, httpx.Client(base_url=base, timeout=30) as c:
        post = Post(
            id=4003,
            title="热机效率与卡诺循环",
            body="卡诺循环给出了两个热源之间热机效率的上限：1 减去低温与高温之比。",
        )
        models = app.state.live.current.searcher.embedders
        update(data, [post], embedder=embedder)
        query = "热机在两个热源之间能达到的最高效率"  # its meaning, not its words
        deadline = time.monotonic() + 5
        while True:
            r = c.get("/search", params={"q": query, "mode": "semantic", "limit": 3})
            assert r.status_code == 200 and r.json()["mode"] == "semantic"
            if 4003 in [h["post_id"] for h in r.json()["hits"]]:
                break
            assert time.monotonic() < deadline, "the new post's vectors were not served"
            time.sleep(0.1)
        assert c.get("/posts/4003/similar").json()["mode"] == "semantic"
        # every generation shares the ensemble's models (loading them again costs seconds)
        now = app.state.live.current.searcher.embedders
        assert models and all(now[key] is model for key, model in models.items())


@pytest.mark.model
def test_a_generation_swapped_in_as_the_model_becomes_ready_is_warmed(
    vector_data, embedder, tmp_path
):
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(vector_data.root, root, ignore=shutil.ignore_patterns("write.lock"))
    live = LiveIndex(root, embedder=embedder, check_every=3600)
    try:
        assert live.model == "ready" and live.current.semantic is True
        real = live._prepare

        def prepare(gen, current):  # the loader finishes while the new generation is prepared
            live._models_loaded = lambda: False  # type: ignore[method-assign]
            try:
                return real(gen, current)
            finally:
                del live._models_loaded

        live._prepare = prepare  # type: ignore[method-assign]
        post = Post(id=4005, title="新的一篇", body="正文")
        search.update(search.DataDir(root), [post], vectors=False)
        assert not live.refresh() and live.refresh()
        assert live._loader is not None
        live._loader.join(timeout=60)
        assert live.current.semantic is True  # it stayed None: served lexically, "loading"
        assert live.model == live.current.searcher.model_state == "ready"  # the library's
    finally:
        live.close()


def test_snippets_carry_their_short_formulas_as_mathml(client):
    hits = client.get("/search", params={"q": "RoPE 频率", "mode": "lexical"}).json()["hits"]
    snippet = next(h["snippet"] for h in hits if h["post_id"] == 1001)
    start, end, _ = next(f for f in snippet["formulas"] if "theta" in f[2])
    assert snippet["text"][start:end].startswith("θ_i")  # the text everyone else reads
    mathml = next(m for s, e, m in snippet["math"] if (s, e) == (start, end))
    assert mathml.startswith("<math") and "<mi>θ</mi>" in mathml and "<script" not in mathml
    assert len(snippet["math"]) == len(snippet["formulas"])  # each short one converts


@pytest.mark.model
def test_the_server_shows_the_librarys_model_state(vector_data, monkeypatch):
    """No copy of the models' state: what the library says of the served generation is what
    the server reports and answers by (issue 17 item 6)."""
    live = LiveIndex(vector_data.root, load_model=False, check_every=3600)
    service = Service(live, cache=0)
    try:
        searcher = live.current.searcher
        assert live.model == searcher.model_state == "idle"
        monkeypatch.setattr(searcher.sides[0], "error", "the graph is damaged")
        assert searcher.model_state == "failed"
        assert live.model == "failed" and live.model_error == "the graph is damaged"
        assert service.health()["model_state"] == "failed"
        answer = service.search("RoPE", mode="hybrid")
        assert answer["mode"] == "lexical" and "the graph is damaged" in answer["warnings"][0]
    finally:
        service.close()
        live.close()


def test_embed_without_vectors_reports_the_librarys_model_failure(fixture_data, monkeypatch):
    """An index without vectors: /embed's model is the library's too, and so is why it could
    not load (`Searcher.embed_model_error`); the server keeps no copy of it."""
    import search.api

    class Broken(search.api.Embedder):
        def load(self, say=None):
            raise DataError("no model installed here")

    monkeypatch.setattr(search.api, "Embedder", Broken)
    live = LiveIndex(fixture_data.root, load_model=False, check_every=3600)
    service = Service(live, cache=0)
    try:
        searcher = live.current.searcher
        assert live.model == "idle" and searcher.embed_model_error is None
        live.start_loading()
        assert live._loader is not None
        live._loader.join(timeout=60)
        assert searcher.embed_model_error == "no model installed here"
        assert live.model == "failed" and live.model_error == "no model installed here"
        assert service.health()["model_state"] == "failed"
    finally:
        service.close()
        live.close()
