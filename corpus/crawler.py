"""A polite, resumable crawler for the live site (kexue.fm, or any host serving the same pages).

Resumable without a journal of its own: posts are yielded one by one and the caller stores each as
it arrives, so the next run passes the stored ids as `known_ids` and only the rest is fetched.
The state file only keeps HTTP validators (ETag/Last-Modified) for conditional re-checks.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import json
import os
import re
import tempfile
import time
from collections.abc import Callable, Container, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser

import httpx

from corpus.html import parse_post_html
from corpus.post import Post, Problem, archive_id

STATE_VERSION = 1
MAX_RETRY_AFTER = 120.0  # seconds; a server asking for longer is treated as a failure
_RETRY_STATUS = {429, 500, 502, 503, 504}
_POST_URL = re.compile(r"^(?P<root>.*?)/archives/(?P<id>\d+)/?(?:[?#].*)?$")


def user_agent() -> str:
    """An honest User-Agent: who we are, which version, where to read about it."""
    from importlib.metadata import PackageNotFoundError, metadata

    version, url = "0", ""
    with contextlib.suppress(PackageNotFoundError):
        meta = metadata("kexue-search")
        version = meta.get("Version") or version
        for entry in meta.get_all("Project-URL") or []:
            url = entry.split(",", 1)[-1].strip() or url
            break
    where = f"+{url}; " if url else ""
    return f"kexue-search/{version} ({where}personal archive search)"


class FetchError(Exception):
    """A page that could not be had after the allowed retries; becomes a Problem."""

    def __init__(self, reason: str, status_code: int | None = None) -> None:
        super().__init__(reason)
        self.status_code = status_code


def crawl(
    base_url: str,
    *,
    known_ids: Container[int] = (),
    state_path: Path | None = None,
    on_status: Callable[[str], None] | None = None,
    delay: float = 1.0,
    timeout: float = 20.0,
    retries: int = 3,
    client: httpx.Client | None = None,
    backoff: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[Post | Problem]:
    """Yield every post of the site not in `known_ids` (newest first), or the one post URL given.

    `base_url` is a site root (`https://kexue.fm`), its `/content.html`, or a post URL
    (`…/archives/<id>`, fetched even when known: with validators from `state_path` that becomes a
    cheap conditional re-check). Failures become Problems and the crawl goes on; only an
    unreachable robots.txt stops it, since then nothing may be fetched.
    """
    status = on_status or (lambda _msg: None)
    parts = urlsplit(base_url.strip())
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        yield Problem(base_url, "not an http(s) URL")
        return
    origin = f"{parts.scheme}://{parts.netloc}"
    single = _POST_URL.match(base_url.strip())
    root = base_url.strip().split("#")[0].rstrip("/").removesuffix("/content.html")

    state = CrawlState.load(state_path, status)
    own_client = client is None
    http = client if client is not None else httpx.Client(follow_redirects=True)
    fetcher = _Fetcher(
        http,
        delay=delay,
        timeout=timeout,
        retries=retries,
        backoff=backoff,
        sleep=sleep,
        status=status,
    )
    try:
        robots = _load_robots(fetcher, origin + "/robots.txt", status)
        if isinstance(robots, Problem):
            yield robots
            return
        fetcher.robots = robots
        crawl_delay = robots.crawl_delay(fetcher.user_agent)
        if crawl_delay is not None and float(crawl_delay) > delay:
            fetcher.delay = float(crawl_delay)
            status(f"robots.txt asks for {crawl_delay} s between requests")

        if single:
            post_id = int(single.group("id"))
            url = f"{single.group('root')}/archives/{post_id}"
            yield from _fetch_post(fetcher, state, url, post_id, post_id in known_ids, status)
            return

        ids = _archive_ids(fetcher, state, root + "/content.html", status)
        if isinstance(ids, Problem):
            yield ids
            return
        new = [i for i in ids if i not in known_ids]
        status(f"archive: {len(ids)} posts, {len(new)} new")
        problems = 0
        for n, post_id in enumerate(new, 1):
            for item in _fetch_post(
                fetcher, state, f"{root}/archives/{post_id}", post_id, False, status, (n, len(new))
            ):
                problems += isinstance(item, Problem)
                yield item
            if n % 50 == 0:
                state.save()
        status(f"done: {len(new) - problems} fetched, {problems} problems")
    finally:
        state.save()
        if own_client:
            http.close()


class CrawlState:
    """Validators per URL (and the archive's id list), so re-checks can be conditional."""

    def __init__(self, path: Path | None, urls: dict[str, dict[str, Any]] | None = None) -> None:
        self.path = path
        self.urls: dict[str, dict[str, Any]] = urls or {}
        self.dirty = False

    @classmethod
    def load(cls, path: Path | None, status: Callable[[str], None]) -> CrawlState:
        if path is None or not path.exists():
            return cls(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("version") != STATE_VERSION or not isinstance(data.get("urls"), dict):
                raise ValueError("unknown layout")
            return cls(path, data["urls"])
        except (OSError, ValueError, AttributeError) as exc:
            status(f"ignoring unreadable crawl state {path} ({exc})")
            return cls(path)

    def headers(self, url: str) -> dict[str, str]:
        entry = self.urls.get(url) or {}
        headers = {}
        if entry.get("etag"):
            headers["If-None-Match"] = entry["etag"]
        if entry.get("last_modified"):
            headers["If-Modified-Since"] = entry["last_modified"]
        return headers

    def remember(self, url: str, response: httpx.Response, **extra: Any) -> None:
        entry = {
            "etag": response.headers.get("ETag"),
            "last_modified": response.headers.get("Last-Modified"),
            **extra,
        }
        entry = {k: v for k, v in entry.items() if v is not None}
        if entry.get("etag") or entry.get("last_modified"):
            self.urls[url] = entry
        else:
            self.urls.pop(url, None)
        self.dirty = True

    def save(self) -> None:
        """Write atomically (temp file + os.replace): an interrupted run leaves no half file."""
        if self.path is None or not self.dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = json.dumps({"version": STATE_VERSION, "urls": self.urls}, ensure_ascii=False)
        fd, tmp = tempfile.mkstemp(prefix=self.path.name, suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(payload)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        self.dirty = False


class _Fetcher:
    """GET with spacing between requests, retries with exponential backoff, and robots.txt."""

    def __init__(
        self,
        client: httpx.Client,
        *,
        delay: float,
        timeout: float,
        retries: int,
        backoff: float,
        sleep: Callable[[float], None],
        status: Callable[[str], None],
    ) -> None:
        self.client = client
        self.delay = delay
        self.timeout = timeout
        self.retries = max(0, retries)
        self.backoff = backoff
        self.sleep = sleep
        self.status = status
        self.user_agent = user_agent()
        self.robots: RobotFileParser | None = None
        self._last: float | None = None

    def allowed(self, url: str) -> bool:
        return self.robots is None or self.robots.can_fetch(self.user_agent, url)

    def get(self, url: str, headers: dict[str, str] | None = None) -> httpx.Response:
        """Return a response below 400 (2xx, or 304 for conditional requests), else FetchError."""
        if not self.allowed(url):
            raise FetchError("disallowed by robots.txt")
        request_headers = {"User-Agent": self.user_agent, **(headers or {})}
        attempt = 0
        while True:
            self._wait(self.delay)
            response = self._exchange(url, request_headers)
            wait: float | None = None
            if isinstance(response, str):
                reason, code = response, None
            else:
                code = response.status_code
                if code < 400:
                    return response
                reason = f"HTTP {code}"
                if code not in _RETRY_STATUS:
                    raise FetchError(reason, code)
                wait = _retry_after(response.headers.get("Retry-After"))
                if wait is not None and wait > MAX_RETRY_AFTER:
                    raise FetchError(f"{reason}, Retry-After {wait:g} s is too long", code)
            if attempt >= self.retries:
                suffix = f" (after {attempt + 1} attempts)" if attempt else ""
                raise FetchError(reason + suffix, code)
            pause = max(self.backoff * 2**attempt, wait or 0.0)
            attempt += 1
            self.status(f"{url}: {reason}; retry {attempt}/{self.retries} in {pause:g} s")
            self.sleep(pause)

    def _exchange(self, url: str, headers: dict[str, str]) -> httpx.Response | str:
        """One request: the response, or why there was none (timeouts and the like are retried)."""
        try:
            return self.client.get(
                url, headers=headers, timeout=self.timeout, follow_redirects=True
            )
        except httpx.TimeoutException:
            return f"timed out after {self.timeout:g} s"
        except httpx.TransportError as exc:
            return f"connection error ({type(exc).__name__})"
        finally:
            self._last = time.monotonic()  # spacing counts from the end of the last exchange

    def _wait(self, seconds: float) -> None:
        """Sleep so that at least `seconds` pass between one exchange and the next request."""
        if self._last is not None and seconds > 0:
            remaining = seconds - (time.monotonic() - self._last)
            if remaining > 0:
                self.sleep(remaining)


def _retry_after(value: str | None) -> float | None:
    """Retry-After is either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def _load_robots(
    fetcher: _Fetcher, url: str, status: Callable[[str], None]
) -> RobotFileParser | Problem:
    """RFC 9309: a missing robots.txt (4xx) allows everything, an unreachable one allows nothing."""
    parser = RobotFileParser(url)
    try:
        response = fetcher.get(url)
    except FetchError as exc:
        if exc.status_code is not None and 400 <= exc.status_code < 500 and exc.status_code != 429:
            parser.parse([])
            status(f"no robots.txt (HTTP {exc.status_code}): everything allowed")
            return parser
        return Problem(url, f"robots.txt unreachable, not crawling ({exc})")
    parser.parse(response.text.splitlines())
    status("robots.txt read")
    return parser


def _archive_ids(
    fetcher: _Fetcher, state: CrawlState, url: str, status: Callable[[str], None]
) -> list[int] | Problem:
    """Every post id the archive page lists, newest (highest) first; 304 reuses the cached list."""
    cached = (state.urls.get(url) or {}).get("ids")
    headers = state.headers(url) if isinstance(cached, list) else {}
    try:
        response = fetcher.get(url, headers)
        if response.status_code == 304 and isinstance(cached, list):
            status("archive: not modified, using the cached post list")
            return [int(i) for i in cached]
        if response.status_code == 304:  # no cached list to fall back on: ask plainly
            response = fetcher.get(url)
    except FetchError as exc:
        return Problem(url, f"archive page: {exc}")
    links = (archive_id(href) for href in _hrefs(response.text))
    ids = sorted({i for i in links if i is not None}, reverse=True)
    if not ids:
        return Problem(url, "archive page lists no posts")
    state.remember(url, response, ids=ids)
    state.save()
    return ids


def _hrefs(html: str) -> Iterator[str]:
    """The link targets of a page (a regex is plenty, and cheaper than parsing the 1 MB archive)."""
    return (m.group(1) for m in re.finditer(r"""href\s*=\s*["']([^"']+)["']""", html))


def _fetch_post(
    fetcher: _Fetcher,
    state: CrawlState,
    url: str,
    post_id: int,
    conditional: bool,
    status: Callable[[str], None],
    progress: tuple[int, int] | None = None,
) -> Iterator[Post | Problem]:
    prefix = f"[{progress[0]}/{progress[1]}] " if progress else ""
    try:
        response = fetcher.get(url, state.headers(url) if conditional else None)
    except FetchError as exc:
        status(f"{prefix}{post_id}: {exc}")
        yield Problem(url, str(exc))
        return
    if response.status_code == 304:
        status(f"{prefix}{post_id}: not modified")
        return
    try:
        post = parse_post_html(response.text, source=url)
    except ValueError as exc:
        status(f"{prefix}{post_id}: {exc}")
        yield Problem(url, str(exc))
        return
    state.remember(url, response)
    status(f"{prefix}{post.id} {post.title}")
    yield post
