"""`python -m tui [--data-dir DIR]`: the UI without going through the `search` command;
`python -m tui pick [QUERY] [--id] [--data-dir DIR]`: choose a post, print its URL (or id)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    data_dir = argparse.ArgumentParser(add_help=False)
    data_dir.add_argument("--data-dir", type=Path, help="data directory (default: the user one)")
    if argv[:1] == ["pick"]:
        parser = argparse.ArgumentParser(
            prog="python -m tui pick",
            parents=[data_dir],
            description="Choose a post; its URL goes to stdout (exit 0), nothing on esc (exit 1).",
        )
        parser.add_argument("query", nargs="*", help="searched at once")
        parser.add_argument("--id", action="store_true", help="print the post id, not its URL")
        args = parser.parse_args(argv[1:])
        from tui.app import pick

        return pick(args.data_dir, " ".join(args.query), print_id=args.id)
    parser = argparse.ArgumentParser(prog="python -m tui", parents=[data_dir], description=__doc__)
    args = parser.parse_args(argv)
    from tui.app import run

    return run(args.data_dir)


if __name__ == "__main__":
    sys.exit(main())
