"""A polite, resumable crawler for the live site (kexue.fm, or any host serving the same pages).

Resumable without a journal of its own: each post is yielded as soon as its page is parsed (one
request at a time, nothing fetched ahead), and the next run passes the ids the caller has stored
as `known_ids`, so only the rest is fetched again; how many posts a kill loses is up to how often
the caller commits. The state file only keeps HTTP validators (ETag/Last-Modified) for conditional
re-checks; it is saved after every page, so a killed crawl loses at most the page in flight.

It stays on the archive's site (the start host and the archive's own hosts): a redirect elsewhere
is a Problem for that page, as is one too large, too slow, or claiming to be another post.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser

import httpx

from corpus.html import parse_post_html
from corpus.post import Post, Problem, archive_id, parse_post_id

STATE_VERSION = 1
MAX_RETRY_AFTER = 120.0  # seconds; a server asking for longer is treated as a failure
# Bytes kept per response (after decompression). The largest real post page is well under 1 MB
# and the archive page about 1 MB, so 8 MB leaves room for growth yet bounds a runaway body.
MAX_BODY_BYTES = 8 * 2**20
# Real pages redirect at most twice (http → https, www → bare host); 5 is also RFC 9309's minimum
# for robots.txt. More is a loop or a misconfiguration, and a Problem for that page.
MAX_REDIRECTS = 5
# The archive's own hosts as (host, port), None being the scheme's default port. The host a crawl
# starts from is allowed as well; nothing else is ever asked (a redirect elsewhere is a Problem).
SITE_HOSTS = frozenset(
    (host, None) for host in ("kexue.fm", "www.kexue.fm", "spaces.ac.cn", "www.spaces.ac.cn")
)
# The longest Crawl-delay obeyed. A site asking for more (an hour a page) is asked for nothing:
# the crawl stops with a Problem rather than run for weeks or ignore the request.
MAX_CRAWL_DELAY = 60.0
_RETRY_STATUS = {429, 500, 502, 503, 504}
# robots.txt numbers the stdlib parser reads with int() after str.isdigit(), which also takes
# `²` and 5,000 digits (then int() raises): such a line is dropped before parsing.
_ROBOTS_NUMBER_LINE = re.compile(r"^\s*(crawl-delay|request-rate)\s*:(?P<value>[^#]*)", re.I)
_SANE_NUMBERS = re.compile(r"^\s*[0-9]{1,9}(\s*/\s*[0-9]{1,9})?\s*$")
_POST_URL = re.compile(r"^(?P<root>.*?)/archives/(?P<id>[0-9]+)/?(?:[?#].*)?$")


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
    cheap conditional re-check). Each post is yielded as soon as it is parsed, before the next
    page is asked for. `timeout` bounds each request as a whole, body included, not just each read.
    Failures become Problems and the crawl goes on; only an unreachable robots.txt stops it, since
    then nothing may be fetched.
    """
    status = on_status or (lambda _msg: None)
    try:  # urlsplit raises ValueError on a malformed host (`http://[::1`)
        parts = urlsplit(base_url.strip())
    except ValueError as exc:
        yield Problem(base_url, f"not a usable URL ({exc})")
        return
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        yield Problem(base_url, "not an http(s) URL")
        return
    single = _POST_URL.match(base_url.strip())
    single_id = parse_post_id(single.group("id")) if single else None
    if single and single_id is None:
        yield Problem(base_url, "not a post id (a positive 64-bit integer)")
        return
    root = base_url.strip().split("#")[0].rstrip("/").removesuffix("/content.html")
    try:
        start = httpx.URL(root)
    except (httpx.InvalidURL, ValueError) as exc:
        yield Problem(base_url, f"not a usable URL ({exc})")
        return
    origin = _origin(start)

    state = CrawlState.load(state_path, status)
    own_client = client is None
    http = client if client is not None else httpx.Client()  # redirects: followed by _Fetcher
    fetcher = _Fetcher(
        http,
        start=start,
        delay=delay,
        timeout=timeout,
        retries=retries,
        backoff=backoff,
        sleep=sleep,
        status=status,
    )
    try:
        try:
            robots = fetcher.robots(origin)
        except FetchError as exc:
            yield Problem(origin + "/robots.txt", f"robots.txt unreachable, not crawling ({exc})")
            return
        crawl_delay = robots.crawl_delay(fetcher.user_agent)
        if crawl_delay is not None and float(crawl_delay) > MAX_CRAWL_DELAY:
            yield Problem(
                origin + "/robots.txt",
                f"robots.txt asks for {crawl_delay} s between requests (more than "
                f"{MAX_CRAWL_DELAY:g} s): not crawling",
            )
            return
        if crawl_delay is not None and float(crawl_delay) > delay:
            fetcher.delay = float(crawl_delay)
            status(f"robots.txt asks for {crawl_delay} s between requests")

        if single and single_id is not None:
            post_id = single_id
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

    def remember(self, url: str, response: _Page, **extra: Any) -> None:
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


@dataclass(frozen=True, slots=True)
class _Page:
    """A response read within the size cap and the deadline (httpx's `.read()` has neither)."""

    status_code: int
    headers: httpx.Headers
    content: bytes
    encoding: str
    next_request: httpx.Request | None  # set by httpx for a redirect; followed by _Fetcher.get

    @property
    def text(self) -> str:
        try:
            return self.content.decode(self.encoding, errors="replace")
        except LookupError:  # a charset that names no text codec (rot13, base64, hex)
            return self.content.decode("utf-8", errors="replace")


class _Fetcher:
    """GET, politely and within bounds.

    Requests are spaced by the delay, retried with exponential backoff, checked against robots.txt
    per origin; redirects stay on the site; each response has a size cap and a deadline.
    """

    def __init__(
        self,
        client: httpx.Client,
        *,
        start: httpx.URL,
        delay: float,
        timeout: float,
        retries: int,
        backoff: float,
        sleep: Callable[[float], None],
        status: Callable[[str], None],
    ) -> None:
        self.client = client
        self.start = start
        self.delay = delay
        self.timeout = timeout
        self.retries = max(0, retries)
        self.backoff = backoff
        self.sleep = sleep
        self.status = status
        self.user_agent = user_agent()
        self._robots: dict[str, RobotFileParser | str] = {}  # by origin; str: why unreachable
        self._last: float | None = None

    def robots(self, origin: str) -> RobotFileParser:
        """The origin's rules, read once (RFC 9309: missing allows all, unreachable allows none).

        Raises FetchError when robots.txt is unreachable; that answer is kept too, not re-asked.
        """
        if origin not in self._robots:
            self._robots[origin] = self._load_robots(origin)
        rules = self._robots[origin]
        if isinstance(rules, str):
            raise FetchError(rules)
        return rules

    def _load_robots(self, origin: str) -> RobotFileParser | str:
        url = origin + "/robots.txt"
        where = "" if origin == _origin(self.start) else f" at {origin}"
        parser = RobotFileParser(url)
        try:
            page = self.get(url, check_robots=False)
        except FetchError as exc:
            code = exc.status_code
            if code is not None and 400 <= code < 500 and code != 429:
                parser.parse([])
                self.status(f"no robots.txt{where} (HTTP {code}): everything allowed")
                return parser
            return str(exc)
        parser.parse(_robots_lines(page.text))
        self.status(f"robots.txt{where} read")
        return parser

    def get(
        self, url: str, headers: dict[str, str] | None = None, *, check_robots: bool = True
    ) -> _Page:
        """Return a page below 400 (2xx, or 304 for conditional requests), else FetchError.

        Redirects are followed one hop at a time with httpx's `next_request`, so every hop is
        checked before it is sent: on the site, allowed by its origin's robots.txt, spaced by the
        delay, and at most MAX_REDIRECTS of them.
        """
        request_headers = {"User-Agent": self.user_agent, **(headers or {})}
        request = self.client.build_request(
            "GET", url, headers=request_headers, timeout=self.timeout
        )  # httpx copies the timeout (and the headers) to each redirect's next_request
        for hop in range(MAX_REDIRECTS + 1):
            if hop and not _on_site(request.url, self.start):
                raise FetchError(f"redirected off the site, to {request.url} (not followed)")
            if check_robots:
                self._check_robots(request.url)
            page = self._get_once(request)
            if page.next_request is None:
                return page
            request = page.next_request
        raise FetchError(f"too many redirects (more than {MAX_REDIRECTS})")

    def _check_robots(self, url: httpx.URL) -> None:
        origin = _origin(url)
        try:
            rules = self.robots(origin)
        except FetchError as exc:
            raise FetchError(f"robots.txt of {origin} unreachable ({exc})") from None
        if not rules.can_fetch(self.user_agent, str(url)):
            raise FetchError("disallowed by robots.txt")

    def _get_once(self, request: httpx.Request) -> _Page:
        """One hop, retried on timeouts, connection errors, 429 and 5xx; a redirect is returned."""
        attempt = 0
        while True:
            self._wait(self.delay)
            page = self._exchange(request)
            wait: float | None = None
            if isinstance(page, str):
                reason, code = page, None
            else:
                code = page.status_code
                if code < 400:
                    return page
                reason = f"HTTP {code}"
                if code not in _RETRY_STATUS:
                    raise FetchError(reason, code)
                wait = _retry_after(page.headers.get("Retry-After"))
                if wait is not None and wait > MAX_RETRY_AFTER:
                    raise FetchError(f"{reason}, Retry-After {wait:g} s is too long", code)
            if attempt >= self.retries:
                suffix = f" (after {attempt + 1} attempts)" if attempt else ""
                raise FetchError(reason + suffix, code)
            pause = max(self.backoff * 2**attempt, wait or 0.0)
            attempt += 1
            self.status(f"{request.url}: {reason}; retry {attempt}/{self.retries} in {pause:g} s")
            self.sleep(pause)

    def _exchange(self, request: httpx.Request) -> _Page | str:
        """One request: the page, or why there was none (timeouts and the like are retried).

        httpx timeouts are per operation (each set to the whole deadline), so the deadline is also
        checked between body chunks: a dripped body is dropped at the deadline, give or take the
        wait for one chunk. Headers are bounded per read only (httpx has no total timeout): a
        server dripping its headers could hold a request longer. A body over MAX_BODY_BYTES raises
        FetchError (no retry: it would be as large again).
        """
        deadline = time.monotonic() + self.timeout
        timed_out = f"timed out after {self.timeout:g} s"
        try:
            response = self.client.send(request, stream=True, follow_redirects=False)
            try:
                body = _read_capped(response, deadline)
                if body is None:
                    return timed_out
                return _Page(
                    response.status_code,
                    response.headers,
                    body,
                    response.encoding or "utf-8",
                    response.next_request,
                )
            finally:
                response.close()
        except httpx.TimeoutException:
            return timed_out
        except httpx.RequestError as exc:  # transport errors, a bad Location, a broken gzip body
            return f"connection error ({type(exc).__name__})"
        finally:
            self._last = time.monotonic()  # spacing counts from the end of the last exchange

    def _wait(self, seconds: float) -> None:
        """Sleep so that at least `seconds` pass between one exchange and the next request."""
        if self._last is not None and seconds > 0:
            remaining = seconds - (time.monotonic() - self._last)
            if remaining > 0:
                self.sleep(remaining)


def _read_capped(response: httpx.Response, deadline: float) -> bytes | None:
    """The body, or None once past the deadline; FetchError once past MAX_BODY_BYTES.

    Decoded bytes are counted, so a compressed page is capped by what it inflates to.
    """
    too_large = FetchError(f"page larger than {MAX_BODY_BYTES / 2**20:g} MB")
    declared = response.headers.get("Content-Length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise too_large
        if time.monotonic() > deadline:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _robots_lines(text: str) -> list[str]:
    """robots.txt's lines without the numbers the stdlib parser would crash on."""
    lines = []
    for line in text.splitlines():
        m = _ROBOTS_NUMBER_LINE.match(line)
        if m is None or _SANE_NUMBERS.match(m.group("value")):
            lines.append(line)
    return lines


def _origin(url: httpx.URL) -> str:
    """scheme://host[:port], the unit robots.txt applies to."""
    host = f"[{url.host}]" if ":" in url.host else url.host
    return f"{url.scheme}://{host}" + (f":{url.port}" if url.port is not None else "")


def _on_site(url: httpx.URL, start: httpx.URL) -> bool:
    """Whether a redirect target is the archive's: the start host (same port), or SITE_HOSTS."""
    if url.scheme not in {"http", "https"}:
        return False
    if (url.host, url.port) == (start.host, start.port):
        return True
    return (url.host, url.port) in SITE_HOSTS


def _retry_after(value: str | None) -> float | None:
    """Retry-After is either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


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
    if post.id != post_id:
        # The id is the one asked for, never the page's word for it. A page claiming another id
        # is skipped, not stored under the requested id: its content may be that other post's
        # (a mix-up or a redirect to it), and a skipped page is simply asked for again next run.
        message = f"page claims to be post {post.id}, not {post_id}: skipped"
        status(f"{prefix}{post_id}: {message}")
        yield Problem(url, message)
        return
    state.remember(url, response)
    state.save()  # before the yield: the caller may be killed while it stores the post
    status(f"{prefix}{post.id} {post.title}")
    yield post
