"""The TUI's `search` commands (`search tui`, `search pick`), contributed to the CLI through the
`kexue_search.commands` entry point: the CLI knows no front end above it, it only runs what is
registered. Each command reads the data directory from the CLI's context object (`.data`)."""

from __future__ import annotations

import sys

import click


@click.command()
@click.pass_obj
def tui(obj: object) -> None:
    """Open the terminal UI (search as you type)."""
    from tui.app import run

    sys.exit(run(obj.data.root))  # type: ignore[attr-defined]


@click.command()
@click.argument("words", nargs=-1)
@click.option("--id", "print_id", is_flag=True, help="Print the post's id instead of its URL.")
@click.pass_obj
def pick(obj: object, words: tuple[str, ...], print_id: bool) -> None:
    """Choose a post in the search UI and print its URL (fzf-style: `search pick | xargs …`).

    Exit status 0 with a choice, 1 when given up (esc, q); the UI draws on the terminal, never
    on standard output.
    """
    from tui.app import pick as run_pick

    sys.exit(run_pick(obj.data.root, " ".join(words), print_id=print_id))  # type: ignore[attr-defined]
