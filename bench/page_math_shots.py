"""Posts of the shared corpus as the reader shows them, in real Chromium: screenshots and the
rows of their aligned blocks (issue 19: posts 8265, 9119 and 11267 had `aligned` blocks as one
long line of `&` signs, cut at the right edge).

Each post's body goes through render_post (the reader's HTML) into a page with the reader's
own style sheet; for each display formula holding a table (mtable) it counts the rows and
checks they stand one under the other. Screenshots go to bench/out/ (not committed).

    .venv/bin/python bench/page_math_shots.py [--posts 8265,9119,11267,10542,11006]
"""

from __future__ import annotations

import argparse
import html
import json
from pathlib import Path

from _common import DEFAULT_CORPUS, REPO, require_file

from search.server.render import engine_is_katex, render_post

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ROWS = """() => [...document.querySelectorAll('math[display=block]')].filter(m =>
  m.querySelector('mtr')).map(m => {
    const rows = [...m.querySelector('mtable').querySelectorAll(':scope > mtr')];
    const tops = rows.map(r => r.getBoundingClientRect().top);
    return {rows: rows.length, stacked: tops.every((t, i) => i === 0 || t > tops[i - 1]),
            wider: m.getBoundingClientRect().width > document.body.clientWidth};
  })"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--posts", default="8265,9119,11267,10542,11006")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    args = parser.parse_args()
    wanted = {int(x) for x in args.posts.split(",")}
    posts = {}
    for line in require_file(args.corpus, "corpus").open():
        post = json.loads(line)
        if post["id"] in wanted:
            posts[post["id"]] = post
    css = (REPO / "search" / "server" / "page" / "style.css").read_text()
    args.out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    print(f"engine: {'KaTeX' if engine_is_katex() else 'latex2mathml'}")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1000, "height": 1400})
        for pid in sorted(posts):
            post = posts[pid]
            body = render_post(post["body"], post["url"])
            page.set_content(
                f"<!doctype html><meta charset=utf-8><style>{css}</style><main class=reader>"
                f"<h1>{html.escape(post['title'])}</h1><div class=post-body>{body}</div></main>"
            )
            blocks = page.evaluate(ROWS)
            multi = [b for b in blocks if b["rows"] > 1]
            stacked = sum(b["stacked"] for b in multi)
            shot = args.out / f"post-{pid}.png"
            block = page.locator("math[display=block]:has(mtr)").first
            if multi:
                block.scroll_into_view_if_needed()
                box = block.bounding_box()
                clip = {"x": 0, "y": max(0, box["y"] - 60), "width": 1000, "height": 360}
                page.screenshot(path=str(shot), clip=clip, full_page=True)
            else:
                page.screenshot(path=str(shot))
            print(
                f"post {pid}: {len(blocks)} display formulas with rows, {len(multi)} of them on"
                f" several rows ({sum(b['rows'] for b in multi)} rows), {stacked} stacked;"
                f" math-error: {body.count('math-error')}; screenshot {shot.relative_to(REPO)}"
            )
        browser.close()


if __name__ == "__main__":
    main()
