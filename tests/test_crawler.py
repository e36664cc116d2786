"""The crawler against a real HTTP server on loopback: politeness, failures, re-checks."""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from corpus import crawler
from corpus.crawler import _retry_after, crawl
from corpus.post import Post, Problem
from corpus.readers import read_source

PAGES = Path(__file__).parent / "fixtures" / "html"
SLOW_SECONDS = 1.0
SHORT_TIMEOUT = 0.3


def post_page(post_id: int, title: str, text: str) -> str:
    return f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>{title}</title></head><body>
<div class="Post"><div class="title-wrap">
<h1><a href="https://kexue.fm/archives/{post_id}">{title}</a></h1>
<span class="submitted">By 苏剑林 | 2022-02-02 | 77位读者 | </span>
<span class="cat"><a href="/category/Big-Data">信息时代</a></span>
<span class="cat"><a href="/tag/%E6%B5%8B%E8%AF%95/">测试</a></span></div>
<div id="PostContent"><p>{text}</p>
<p><em>转载到请包括本文地址：</em><a href="/archives/{post_id}">链接</a></p>
<p><em>更详细的转载事宜请参考：</em><a href="/archives/6508">FAQ</a></p>
<div id="pay">打赏</div></div></div></body></html>"""


ARCHIVE = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>文章列表</title></head><body>
<div id="header"><a href="https://kexue.fm/">首页</a></div>
<h3>2025年 (共2篇)</h3><ul><li><span>01月</span><ul>
<li>09日: <a href="https://kexue.fm/archives/10555" target="_blank">矩阵的迹与随机估计</a></li>
<li>05日: <a href="https://spaces.ac.cn/archives/7006" target="_blank">一个坏掉的页面</a></li>
</ul></li></ul>
<h3>2023年 (共1篇)</h3><ul><li><span>11月</span><ul>
<li>20日: <a href="https://kexue.fm/archives/9901" target="_blank">从动量到自适应</a></li>
</ul></li></ul>
<h3>2022年 (共5篇)</h3><ul><li><span>02月</span><ul>
<li>02日: <a href="https://kexue.fm/archives/7005" target="_blank">限流的文章</a></li>
<li>02日: <a href="https://kexue.fm/archives/7004" target="_blank">已删除</a></li>
<li>02日: <a href="https://kexue.fm/archives/7003" target="_blank">不许抓取</a></li>
<li>02日: <a href="https://kexue.fm/archives/7002" target="_blank">很慢的文章</a></li>
<li>01日: <a href="https://kexue.fm/archives/7001" target="_blank">服务器出错</a></li>
</ul></li></ul>
<h3>2011年 (共1篇)</h3><ul><li><span>03月</span><ul>
<li>03日: <a href="https://kexue.fm/archives/1207" target="_blank">黑洞的温度</a></li>
</ul></li></ul>
</body></html>"""
ALL_IDS = [10555, 9901, 7006, 7005, 7004, 7003, 7002, 7001, 1207]
GOOD_IDS = {10555, 9901, 7005, 1207}


def archive_page(*ids: int) -> str:
    links = "".join(f'<li><a href="https://kexue.fm/archives/{i}">{i}</a></li>' for i in ids)
    return f"<html><body><ul>{links}</ul></body></html>"


@dataclass
class Reply:
    """A scripted answer: `parts` are written in order, a float in them is a pause (seconds).

    Content-Length is the real length unless `headers` declares one; `close` sends none and ends
    the body by closing the connection.
    """

    status: int = 200
    parts: list[bytes | float] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    close: bool = False


@dataclass
class Site:
    """What the test server serves, and a log of what it was asked."""

    robots: tuple[int, str] = (200, "User-agent: *\nDisallow: /archives/7003\n")
    archive: str = ARCHIVE
    replies: dict[str, Reply] = field(default_factory=dict)  # take precedence over the rest
    log: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    hits: dict[str, int] = field(default_factory=dict)
    url: str = ""

    def requested(self, path: str) -> list[dict[str, str]]:
        return [headers for p, headers in self.log if p == path]

    def respond(self, path: str) -> tuple[int, str, dict[str, str], float]:
        n = self.hits[path] = self.hits.get(path, 0) + 1
        if path == "/robots.txt":
            return self.robots[0], self.robots[1], {"Content-Type": "text/plain"}, 0
        if path == "/content.html":
            return 200, self.archive, {"Last-Modified": "Fri, 09 Jan 2025 08:00:00 GMT"}, 0
        if path == "/archives/7001":
            return 500, "oops", {}, 0
        if path == "/archives/7002":
            return 200, post_page(7002, "很慢的文章", "迟到的正文"), {}, SLOW_SECONDS
        if path == "/archives/7005" and n == 1:
            return 429, "slow down", {"Retry-After": "7"}, 0
        if path == "/archives/7005":
            return 200, post_page(7005, "限流的文章", r"限流之后$\lambda_{\max}$仍然可求"), {}, 0
        if path == "/archives/7006":
            return 200, (PAGES / "category-listing.html").read_text(encoding="utf-8"), {}, 0
        if path.startswith("/archives/") and (PAGES / f"{path.rsplit('/', 1)[1]}.html").exists():
            page = PAGES / f"{path.rsplit('/', 1)[1]}.html"
            return 200, page.read_text(encoding="utf-8"), {}, 0
        return 404, "not found", {}, 0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ThreadingHTTPServer

    def do_GET(self) -> None:
        site: Site = self.server.site  # type: ignore[attr-defined]
        headers = {k.lower(): v for k, v in self.headers.items()}
        site.log.append((self.path, headers))
        site.times.append(time.monotonic())
        if self.path in site.replies:
            site.hits[self.path] = site.hits.get(self.path, 0) + 1
            self.reply(site.replies[self.path])
            return
        status, body, extra, pause = site.respond(self.path)
        data = body.encode("utf-8")
        etag = '"' + hashlib.sha1(data).hexdigest()[:16] + '"'
        if status == 200 and headers.get("if-none-match") == etag:
            status, data = 304, b""
        if pause:
            time.sleep(pause)
        try:
            self.send_response(status)
            self.send_header("Content-Type", extra.pop("Content-Type", "text/html; charset=utf-8"))
            if status in (200, 304):
                self.send_header("ETag", etag)
            for key, value in extra.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (the slow page): exactly what is being tested

    def reply(self, reply: Reply) -> None:
        chunks = [p for p in reply.parts if isinstance(p, bytes)]
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            for key, value in reply.headers.items():
                self.send_header(key, value)
            if reply.close or "Content-Length" in reply.headers:
                self.send_header("Connection", "close")
                self.close_connection = True
            else:
                self.send_header("Content-Length", str(sum(map(len, chunks))))
            self.end_headers()
            for part in reply.parts:  # bounded: a finite script of writes and pauses
                if isinstance(part, float):
                    time.sleep(part)
                else:
                    self.wfile.write(part)
                    self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading: what the size and time limits are for

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def serve(host: str) -> Iterator[Site]:
    """A test site on a loopback address only (127.x): no traffic ever leaves the machine."""
    assert host.startswith("127.")
    state = Site()
    server = ThreadingHTTPServer((host, 0), Handler)
    server.daemon_threads = True
    server.site = state  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://{host}:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def site() -> Iterator[Site]:
    with serve("127.0.0.1") as state:
        yield state


@pytest.fixture
def elsewhere() -> Iterator[Site]:
    """Another host (another loopback address and port): off the archive's site."""
    with serve("127.0.0.2") as state:
        yield state


def run(site: Site, base: str | None = None, **kwargs: object) -> tuple[list, list[str], list]:
    """Crawl with test-friendly politeness: no delay, short timeout, one retry, fake sleeps."""
    statuses: list[str] = []
    sleeps: list[float] = []
    options: dict = {"delay": 0, "timeout": SHORT_TIMEOUT, "retries": 1, "backoff": 0.01}
    options.update(kwargs)
    items = list(crawl(base or site.url, on_status=statuses.append, sleep=sleeps.append, **options))
    return items, statuses, sleeps


def test_full_crawl(site: Site, tmp_path: Path) -> None:
    items, statuses, sleeps = run(site, state_path=tmp_path / "state.json")
    posts = {i.id: i for i in items if isinstance(i, Post)}
    problems = {i.source.rsplit("/", 1)[1]: i.message for i in items if isinstance(i, Problem)}

    assert set(posts) == GOOD_IDS  # the slow page never arrives in time
    assert posts[9901].title == "从动量到自适应：优化器的一次漫谈"
    assert posts[9901].url == "https://kexue.fm/archives/9901"
    assert r"\left\{\begin{aligned}" in posts[9901].body
    assert posts[7005].body == r"限流之后$\lambda_{\max}$仍然可求"
    assert posts[7005].tags == ("测试",)

    assert "HTTP 500" in problems["7001"]
    assert "timed out" in problems["7002"]
    assert "robots.txt" in problems["7003"]
    assert "HTTP 404" in problems["7004"]
    assert "not a kexue.fm post" in problems["7006"]
    assert set(problems) == {"7001", "7002", "7003", "7004", "7006"}

    assert site.requested("/archives/7003") == []  # disallowed: never asked for
    assert site.hits["/archives/7001"] == 2  # one retry on 5xx
    assert site.hits["/archives/7005"] == 2  # 429, then success
    assert 7.0 in sleeps  # Retry-After was honoured
    assert site.hits["/archives/7004"] == 1  # 404 is final, no retry

    post_paths = [p for p, _ in site.log if p.startswith("/archives/")]
    order = [int(p.rsplit("/", 1)[1]) for p in dict.fromkeys(post_paths)]
    assert order == sorted(order, reverse=True)  # newest first
    assert "archive: 9 posts, 9 new" in statuses

    for _path, headers in site.log:
        assert headers["user-agent"].startswith("kexue-search/")
        assert "personal archive search" in headers["user-agent"]


def test_known_ids_are_skipped(site: Site) -> None:
    known = set(ALL_IDS) - {9901, 1207}
    items, statuses, _ = run(site, known_ids=known)
    assert sorted(i.id for i in items if isinstance(i, Post)) == [1207, 9901]
    assert not [i for i in items if isinstance(i, Problem)]
    assert {p for p, _ in site.log} == {
        "/robots.txt",
        "/content.html",
        "/archives/9901",
        "/archives/1207",
    }
    assert "archive: 9 posts, 2 new" in statuses


def test_second_run_is_conditional(site: Site, tmp_path: Path) -> None:
    state_path = tmp_path / "crawl" / "state.json"
    first, _, _ = run(site, state_path=state_path, known_ids=set(ALL_IDS) - {9901})
    assert [i.id for i in first if isinstance(i, Post)] == [9901]
    saved = json.loads(state_path.read_text(encoding="utf-8"))
    archive = saved["urls"][f"{site.url}/content.html"]
    assert archive["ids"] == ALL_IDS
    assert archive["etag"] and archive["last_modified"]
    assert list(state_path.parent.iterdir()) == [state_path]  # no temp files left behind

    # The archive is unchanged: a 304 answers and the cached list is used.
    items, statuses, _ = run(site, state_path=state_path, known_ids=set(ALL_IDS))
    assert items == []
    second = site.requested("/content.html")[-1]
    assert second["if-none-match"] == archive["etag"]
    assert second["if-modified-since"] == archive["last_modified"]
    assert any("not modified" in s for s in statuses)
    assert "archive: 9 posts, 0 new" in statuses

    # Re-checking one known post by its URL is conditional too.
    items, statuses, _ = run(
        site, f"{site.url}/archives/9901", state_path=state_path, known_ids={9901}
    )
    assert items == []
    assert "if-none-match" in site.requested("/archives/9901")[-1]
    assert any("9901: not modified" in s for s in statuses)


def test_single_post_url(site: Site) -> None:
    items, _, _ = run(site, f"{site.url}/archives/10555")
    assert [(i.id, i.title) for i in items] == [(10555, "矩阵的迹与随机估计")]
    assert [p for p, _ in site.log] == ["/robots.txt", "/archives/10555"]
    (problem,) = run(site, f"{site.url}/archives/7003")[0]
    assert isinstance(problem, Problem) and "robots.txt" in problem.message


def test_unreachable_robots_stops_the_crawl(site: Site) -> None:
    site.robots = (503, "down")
    items, _, _ = run(site, retries=0)
    assert len(items) == 1 and isinstance(items[0], Problem)
    assert "robots.txt unreachable" in items[0].message
    assert [p for p, _ in site.log] == ["/robots.txt"]


def test_missing_robots_allows_everything(site: Site) -> None:
    site.robots = (404, "no such file")
    (problem,) = run(site, f"{site.url}/archives/7003")[0]
    assert isinstance(problem, Problem) and "HTTP 404" in problem.message  # asked, not blocked
    assert [p for p, _ in site.log] == ["/robots.txt", "/archives/7003"]


def test_crawl_delay_from_robots_is_respected(site: Site) -> None:
    site.robots = (200, "User-agent: kexue-search\nCrawl-delay: 5\nDisallow:\n")
    _, statuses, sleeps = run(site, known_ids=set(ALL_IDS) - {1207})
    assert any(4 < s <= 5 for s in sleeps)
    assert any("5 s between requests" in s for s in statuses)


def test_requests_are_spaced_by_delay(site: Site) -> None:
    items = list(crawl(site.url, known_ids=set(ALL_IDS) - {9901, 1207}, delay=0.15))
    assert len(items) == 2
    gaps = [b - a for a, b in zip(site.times, site.times[1:], strict=False)]
    assert len(gaps) == 3 and min(gaps) >= 0.14


def test_read_source_with_a_url(site: Site, tmp_path: Path) -> None:
    """Through the dispatcher, with the crawler's default (polite, 1 s) pacing: two requests."""
    state = tmp_path / "state.json"
    statuses: list[str] = []
    items = list(
        read_source(f"{site.url}/archives/1207", crawl_state=state, on_status=statuses.append)
    )
    assert [(i.id, i.category) for i in items] == [(1207, "天文探索")]
    assert f"{site.url}/archives/1207" in json.loads(state.read_text(encoding="utf-8"))["urls"]
    assert statuses


def test_bad_base_url_is_a_problem() -> None:
    (problem,) = list(crawl("ftp://example.org/"))
    assert isinstance(problem, Problem)


def test_retry_after_forms() -> None:
    assert _retry_after("12") == 12.0
    assert _retry_after(None) is None
    assert _retry_after("not a date") is None
    assert _retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past: go ahead


def page_bytes(post_id: int) -> bytes:
    return (PAGES / f"{post_id}.html").read_bytes()


def problems_by_id(items: list) -> dict[str, str]:
    return {i.source.rsplit("/", 1)[1]: i.message for i in items if isinstance(i, Problem)}


def test_redirect_off_the_site_is_a_problem(site: Site, elsewhere: Site) -> None:
    """Item 15: only the start host (and the archive's own hosts) are ever asked."""
    site.replies["/archives/9901"] = Reply(
        302, headers={"Location": f"{elsewhere.url}/archives/9901"}
    )
    site.replies["/archives/1207"] = Reply(301, headers={"Location": "/archives/1207/"})
    site.replies["/archives/1207/"] = Reply(parts=[page_bytes(1207)])  # same host: followed
    items, _, _ = run(site, known_ids=set(ALL_IDS) - {9901, 1207})
    assert [i.id for i in items if isinstance(i, Post)] == [1207]
    message = problems_by_id(items)["9901"]
    assert "off the site" in message and elsewhere.url in message
    assert elsewhere.log == []

    # A redirect on the same host still answers to its robots.txt.
    site.replies["/archives/7008"] = Reply(302, headers={"Location": "/archives/7003"})
    (problem,) = run(site, f"{site.url}/archives/7008")[0]
    assert isinstance(problem, Problem) and "robots.txt" in problem.message
    assert site.requested("/archives/7003") == []


def test_redirect_to_another_host_of_the_site_reads_its_robots(
    site: Site, elsewhere: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kexue.fm → spaces.ac.cn is followed, under spaces.ac.cn's own robots.txt (read once)."""
    other = httpx.URL(elsewhere.url)
    monkeypatch.setattr(
        crawler, "SITE_HOSTS", {(other.host, other.port)}, raising=False
    )  # stands for the archive's other hosts: no test may reach the real ones
    elsewhere.robots = (200, "User-agent: *\nDisallow: /archives/9901\n")
    for post_id in (9901, 1207):
        location = f"{elsewhere.url}/archives/{post_id}"
        site.replies[f"/archives/{post_id}"] = Reply(302, headers={"Location": location})
    items, _, _ = run(site, known_ids=set(ALL_IDS) - {9901, 1207})
    assert [i.id for i in items if isinstance(i, Post)] == [1207]
    assert "robots.txt" in problems_by_id(items)["9901"]
    assert [p for p, _ in elsewhere.log] == ["/robots.txt", "/archives/1207"]


def test_on_site_hosts() -> None:
    from corpus.crawler import _on_site

    start = httpx.URL("http://127.0.0.1:8000/")
    assert _on_site(httpx.URL("http://127.0.0.1:8000/archives/1"), start)
    assert not _on_site(httpx.URL("http://127.0.0.1:8001/archives/1"), start)
    assert not _on_site(httpx.URL("http://127.0.0.2:8000/archives/1"), start)
    kexue = httpx.URL("https://kexue.fm/content.html")
    for url in ("http://kexue.fm/a", "https://www.kexue.fm/a", "https://spaces.ac.cn/archives/1"):
        assert _on_site(httpx.URL(url), kexue), url
        assert _on_site(httpx.URL(url), start), url  # a mirror redirecting to the real site
    for url in ("https://kexue.fm.evil.example/a", "https://kexue.fm:8443/a", "ftp://kexue.fm/"):
        assert not _on_site(httpx.URL(url), kexue), url


def test_body_size_is_capped(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    """Item 16: reading stops at the cap, whether the length is declared or not."""
    monkeypatch.setattr(crawler, "MAX_BODY_BYTES", 64 * 1024, raising=False)
    padding = b" " * (100 * 1024)
    # Past the cap the server stalls: reading on would take seconds, stopping is immediate.
    site.replies["/archives/1207"] = Reply(
        parts=[page_bytes(1207), padding, 3.0, padding], close=True
    )
    start = time.monotonic()
    (problem,) = run(site, f"{site.url}/archives/1207", timeout=5.0)[0]
    assert time.monotonic() - start < 1.5
    assert isinstance(problem, Problem) and "page larger than 0.0625 MB" in problem.message
    # A declared length over the cap is refused before reading.
    site.replies["/archives/9901"] = Reply(
        parts=[page_bytes(9901)], headers={"Content-Length": str(50 * 2**20)}
    )
    (problem,) = run(site, f"{site.url}/archives/9901", timeout=5.0)[0]
    assert isinstance(problem, Problem) and "page larger than" in problem.message


def test_timeout_is_a_deadline_for_the_whole_request(site: Site) -> None:
    """Item 17: a page dripped a byte at a time is dropped at the deadline, not after it ends."""
    page = page_bytes(1207)
    drip: list[bytes | float] = [page[:-40]]
    for byte in page[-40:]:
        drip += [0.1, bytes([byte])]  # 4 s in all, each byte well within a per-read timeout
    site.replies["/archives/1207"] = Reply(parts=drip)
    start = time.monotonic()
    (problem,) = run(site, f"{site.url}/archives/1207", timeout=1.0, retries=0)[0]
    assert time.monotonic() - start < 1.5
    assert isinstance(problem, Problem) and "timed out after 1 s" in problem.message


def test_redirect_loop_is_a_problem(site: Site) -> None:
    """Item 18: the loop costs that page only; the crawl goes on."""
    site.replies["/archives/9901"] = Reply(302, headers={"Location": "/archives/9901"})
    items, _, _ = run(site, known_ids=set(ALL_IDS) - {9901, 1207})
    assert [i.id for i in items if isinstance(i, Post)] == [1207]
    assert "too many redirects" in problems_by_id(items)["9901"]
    assert site.hits["/archives/9901"] <= 6  # bounded, and no retries of a loop


def test_post_id_comes_from_the_requested_url(site: Site) -> None:
    """Item 19: /archives/10 claiming to be post 1 must not overwrite post 1."""
    site.archive = archive_page(10, 1)
    site.replies["/archives/10"] = Reply(parts=[post_page(1, "冒名顶替", "假的").encode()])
    site.replies["/archives/1"] = Reply(parts=[post_page(1, "真的第一篇", "正文").encode()])
    items, _, _ = run(site)
    assert [(i.id, i.title) for i in items if isinstance(i, Post)] == [(1, "真的第一篇")]
    assert "claims to be post 1" in problems_by_id(items)["10"]
    (problem,) = run(site, f"{site.url}/archives/10")[0]
    assert isinstance(problem, Problem) and "claims to be post 1" in problem.message


def test_posts_are_yielded_and_saved_one_by_one(site: Site, tmp_path: Path) -> None:
    """Item 20: the first post arrives before the second is asked for, its state already saved."""
    state_path = tmp_path / "state.json"
    items = crawl(
        site.url,
        known_ids=set(ALL_IDS) - {9901, 1207},
        state_path=state_path,
        delay=0,
        timeout=SHORT_TIMEOUT,
    )
    first = next(items)
    assert isinstance(first, Post) and first.id == 9901
    assert site.hits.get("/archives/1207", 0) == 0  # nothing buffered ahead
    saved = json.loads(state_path.read_text(encoding="utf-8"))["urls"]
    assert f"{site.url}/archives/9901" in saved  # a kill now would not lose this page's state
    assert [i.id for i in items] == [1207]
