"""`python -m tui [--data-dir DIR]`: the UI without going through the `search` command."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tui", description=__doc__)
    parser.add_argument("--data-dir", type=Path, help="data directory (default: the user one)")
    args = parser.parse_args(argv)
    from tui.app import run

    return run(args.data_dir)


if __name__ == "__main__":
    sys.exit(main())
