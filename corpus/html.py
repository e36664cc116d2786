"""Saved (or freshly fetched) kexue.fm post pages → `Post`, body as markdown with LaTeX verbatim."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin

from bs4 import BeautifulSoup, NavigableString, Tag, UnicodeDammit
from bs4.element import Comment
from markdownify import ATX, MarkdownConverter

from corpus.files import SourceFileError, read_bounded
from corpus.latex import MATHJAX
from corpus.post import SITE, Post, Problem, archive_id, parse_date, parse_post_id

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_VIEWS = re.compile(r"(\d[\d,]*)\s*位读者")
_LEADING_ID = re.compile(r"^([0-9]+)(?:\D|$)")

# A <br> stands as one character while a run of text is scanned for math: the first
# private-use character the run does not hold (a page may hold any character, U+E000 too).
_BR_STAND_INS = range(0xE000, 0xF900)
# Math stands in the markdown as `KXMATH<n>X`; a page holding that text gets a longer stem.
_PLACEHOLDER_STEM = "KXMATH"
_NO_MATH_IN = ["pre", "code", "script", "style", "textarea"]
_BOILERPLATE_START = ("转载到请包括本文地址", "更详细的转载事宜请参考")
_BOILERPLATE_IDS = ("content_tips", "pay", "how_to_cite", "similar", "entrynavigation", "comments")


def parse_post_html(html: str, source: str = "") -> Post:
    """Parse one post page; raises ValueError with a short reason when it is not a post.

    `source` (a path or URL) is only a fallback for the id, for pages whose title link lacks it.
    """
    try:
        return _parse_post_html(html, source)
    except RecursionError:  # bs4 and markdownify recurse once per level of nesting
        raise ValueError("page nested too deeply to read") from None


def _parse_post_html(html: str, source: str) -> Post:
    soup = BeautifulSoup(html, "lxml")
    scope = soup.select_one(".Post") or soup
    title_link = scope.select_one(".title-wrap h1 > a") or scope.select_one("h1 > a[href]")
    if title_link is None or not title_link.get_text(strip=True):
        raise ValueError("not a kexue.fm post page (no post title)")
    title = " ".join(title_link.get_text().split())
    post_id = _find_id(str(title_link.get("href") or ""), soup, source)
    if post_id is None:
        raise ValueError("post page without an /archives/<id> link")
    content = scope.select_one("#PostContent")
    if content is None:
        raise ValueError("post page without div#PostContent")

    date = views = None
    submitted = scope.select_one("span.submitted")
    if submitted is not None:
        text = submitted.get_text(" ")
        if m := _DATE.search(text):
            try:
                date = parse_date(m.group())
            except ValueError:
                date = None
        if m := _VIEWS.search(text):
            views = int(m.group(1).replace(",", ""))

    category = ""
    tags: list[str] = []
    for link in scope.select("span.cat a[href]"):
        href, name = str(link["href"]), link.get_text(strip=True)
        if "/category/" in href and name and not category:
            category = name
        elif "/tag/" in href and name and name not in tags:
            tags.append(name)

    return Post(
        id=post_id,
        title=title,
        body=html_to_markdown(content),
        date=date,
        category=category,
        tags=tuple(tags),
        views=views,
    )


def read_html_file(path: Path) -> Iterator[Post | Problem]:
    """One saved page → one post; anything unreadable is a Problem so a folder import goes on."""
    try:
        data = read_bounded(path)
    except SourceFileError as exc:
        yield Problem(str(path), str(exc))
        return
    try:
        html = data.decode("utf-8")
    except UnicodeDecodeError:  # an old save in GBK or the like: let bs4 sniff the charset
        try:
            html = UnicodeDammit(data, ["utf-8", "gb18030"]).unicode_markup or ""
        except LookupError:  # a declared charset that is no text codec (rot13, base64)
            html = data.decode("utf-8", errors="replace")
    try:
        yield parse_post_html(html, source=str(path))
    except ValueError as exc:
        yield Problem(str(path), str(exc))


def html_to_markdown(content: Tag) -> str:
    """Convert the post body; math is swapped out first so markdownify cannot touch a byte of it."""
    _drop_boilerplate(content)
    for node in content.find_all(string=lambda s: isinstance(s, Comment)):
        node.extract()
    for heading in content.find_all(re.compile(r"^h[1-6]$")):
        for anchor in heading.find_all("a"):
            if anchor.get_text(strip=True) in {"#", "¶", ""} and not anchor.find("img"):
                anchor.decompose()
    for tag, attr in (("a", "href"), ("img", "src")):
        for el in content.find_all(tag, attrs={attr: True}):
            el[attr] = _absolute(str(el[attr]))
    maths: list[str] = []
    stem = _PLACEHOLDER_STEM
    while stem in content.get_text():
        stem += "Q"  # a stem the page's own text does not hold cannot be confused with it
    _protect_math(content, maths, stem)
    converter = MarkdownConverter(
        heading_style=ATX,
        bullets="-",
        escape_underscores=False,
        escape_asterisks=False,
        escape_misc=False,
        code_language_callback=_code_language,
        keep_inline_images_in=["a"],
    )
    text = converter.convert_soup(content)
    text = re.sub(r"[ \t]+\n(?=\n)", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text).strip("\n")
    placeholder = re.compile(rf"{stem}([0-9]+)X")
    return placeholder.sub(lambda m: maths[int(m.group(1))], text)


def _find_id(href: str, soup: BeautifulSoup, source: str) -> int | None:
    if (found := archive_id(href)) is not None:
        return found
    for sel, attr in (('link[rel="canonical"]', "href"), ('meta[property="og:url"]', "content")):
        el = soup.select_one(sel)
        if el is not None and (found := archive_id(str(el.get(attr) or ""))) is not None:
            return found
    if (found := archive_id(source)) is not None:
        return found
    if source and (m := _LEADING_ID.match(Path(source).name)):
        return parse_post_id(m.group(1))
    return None


def _drop_boilerplate(content: Tag) -> None:
    """Cut from the first reprint notice to the end: everything after it is site furniture."""
    for ident in _BOILERPLATE_IDS:
        for el in content.select(f"#{ident}"):
            el.decompose()
    for p in content.find_all("p"):
        if p.get_text(strip=True).startswith(_BOILERPLATE_START):
            node: Tag = p
            while node.parent is not None and node.parent is not content:
                node = node.parent
            if node.parent is None:
                return
            for sibling in list(node.next_siblings):
                sibling.extract()
            node.extract()
            return


def _absolute(url: str) -> str:
    if url.startswith(("#", "data:", "mailto:", "javascript:")) or re.match(r"^[a-z]+://", url):
        return url
    return urljoin(SITE + "/", url)


def _code_language(el: Tag) -> str:
    for node in (el, el.find("code")):
        if not isinstance(node, Tag):
            continue
        for cls in node.get("class") or []:
            if m := re.match(r"^(?:lang(?:uage)?-)?([A-Za-z0-9_+#-]+)$", cls):
                name = m.group(1).lower()
                if name not in {"prettyprint", "linenums", "code", "hljs", "highlight"}:
                    return name
    return ""


def _protect_math(root: Tag, maths: list[str], stem: str) -> None:
    """Replace each math span with an inert placeholder, storing its exact text in `maths`.

    A span may run across `<br>`s (multi-line equations), so consecutive text and `<br>` siblings
    are scanned together; a `<br>` inside math becomes a plain newline.
    """
    # Elements inside code and the like, found top-down once: asking each element for such an
    # ancestor walks up the tree every time, quadratic in the depth (11 s for 3,000 <div>s).
    code = {id(el) for top in root.find_all(_NO_MATH_IN) for el in (top, *top.descendants)}
    for parent in [root, *root.find_all(True)]:
        if id(parent) in code:
            continue
        run: list[NavigableString | Tag] = []
        for child in [*parent.children, None]:
            is_text = isinstance(child, NavigableString) and not isinstance(child, Comment)
            if is_text or (isinstance(child, Tag) and child.name == "br"):
                run.append(child)
            else:
                if any(isinstance(n, NavigableString) for n in run):
                    _protect_run(run, maths, stem)
                run = []


def _protect_run(run: list[NavigableString | Tag], maths: list[str], stem: str) -> None:
    text = "".join(str(n) for n in run if not isinstance(n, Tag))
    br = next((c for c in map(chr, _BR_STAND_INS) if c not in text), None)
    if br is None:  # a run holding all 6,400 private-use characters: left as it is
        return
    joined = "".join(br if isinstance(n, Tag) else str(n) for n in run)
    if "$" not in joined and "\\" not in joined:
        return
    pieces: list[str | int] = []
    pos = 0
    for m in MATHJAX.finditer(joined):
        pieces.append(joined[pos : m.start()])
        maths.append(re.sub(re.escape(br) + r"\n?", "\n", m.group()))
        pieces.append(len(maths) - 1)
        pos = m.end()
    if pos == 0:
        return
    pieces.append(joined[pos:])
    # The run becomes one string per stretch between the <br>s left outside math (the math
    # as placeholders), put in place in one splice: a node inserted or extracted at a time
    # makes bs4 look its position up each time, quadratic in the nodes (30 s for 40,000 `$$`).
    text_out = "".join(f"{stem}{p}X" if isinstance(p, int) else p for p in pieces)
    brs = iter([n for n in run if isinstance(n, Tag)])  # reused for the breaks outside math
    soup_nodes: list[NavigableString | Tag] = []
    for i, part in enumerate(text_out.split(br)):
        if i:
            soup_nodes.append(next(brs))
        if part:
            soup_nodes.append(NavigableString(part))
    parent = run[0].parent
    assert parent is not None  # a run is made of a parent's children
    at = parent.index(run[0])  # the run's nodes are consecutive children from here
    for _ in run:
        parent.contents[at].extract(_self_index=at)
    parent.insert(at, *soup_nodes)
