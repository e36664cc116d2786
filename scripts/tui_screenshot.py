"""Take the README's screenshot of the TUI: index a corpus, type a query, save an SVG.

    .venv/bin/python scripts/tui_screenshot.py tests/fixtures/posts.jsonl
    .venv/bin/python scripts/tui_screenshot.py --data-dir DIR --query "扩散模型" --out shot.svg

The app runs headless (Textual's `run_test`) at a fixed size, so the picture does not depend on
the terminal this is run from.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tui.app import SearchApp  # noqa: E402
from tui.history import History  # noqa: E402


def build_index(corpus: Path, root: Path) -> None:
    import search

    report = search.update(root, [corpus], vectors=False)
    print(f"indexed {report.read} posts from {corpus}", file=sys.stderr)


async def shoot(data_dir: Path, query: str, out: Path, size: tuple[int, int]) -> None:
    app = SearchApp(data_dir, history=History(None))  # the user's query history stays as it is
    async with app.run_test(size=size) as pilot:

        async def settle(limit: float = 60.0) -> None:
            waited = 0.0
            quiet = 0
            while quiet < 5:
                await pilot.pause(0.05)
                waited += 0.05
                busy = app.busy() or app.model_state == "loading"
                quiet = 0 if busy else quiet + 1
                if waited > limit:
                    raise SystemExit("the app did not settle; no screenshot taken")

        await settle()
        await pilot.press(*query)
        await settle()
        await pilot.press("enter")  # into the results: the footer then lists the keys
        await settle()
        hits = app.search_screen.hits
        if not hits:
            raise SystemExit(f"no results for {query!r}; no screenshot taken")
        out.parent.mkdir(parents=True, exist_ok=True)
        app.save_screenshot(filename=out.name, path=str(out.parent))
    if app.searcher is not None:
        app.searcher.close()
    print(f"{out}: {len(hits)} results for {query!r}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("corpus", nargs="?", type=Path, help="posts to index (JSON Lines, …)")
    parser.add_argument("--data-dir", type=Path, help="use this index instead of building one")
    parser.add_argument("--query", default="RoPE 外推")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "tui.svg")
    parser.add_argument("--size", default="110x32", help="terminal WIDTHxHEIGHT")
    args = parser.parse_args(argv)
    if (args.corpus is None) == (args.data_dir is None):
        parser.error("give a corpus to index or --data-dir (one of them)")
    width, height = (int(n) for n in args.size.lower().split("x"))
    with tempfile.TemporaryDirectory(prefix="kexue-shot-") as tmp:
        data_dir = args.data_dir
        if data_dir is None:
            data_dir = Path(tmp) / "data"
            build_index(args.corpus, data_dir)
        asyncio.run(shoot(data_dir, args.query, args.out, (width, height)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
