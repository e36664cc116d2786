"""The CLI's start: what it leaves undone for a command that does not need it."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import pytest

from search import cli as cli_module


def _run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    monkeypatch.setattr(sys, "argv", ["search", *args])
    try:
        cli_module.main()
    except SystemExit as done:
        assert done.code in (0, None)
    return capsys.readouterr().out


def test_plugin_commands_are_read_only_when_asked_for(monkeypatch, capsys):
    """A command of the CLI's own never reads the entry points (12 ms of every start); the
    list of commands and a contributed command (the TUI's) still find them."""
    group = cli_module.TopGroup(commands=dict(cli_module.cli.commands))
    monkeypatch.setattr(cli_module, "cli", group)
    read = []
    real = importlib.metadata.entry_points
    monkeypatch.setattr(
        importlib.metadata, "entry_points", lambda **kw: read.append(kw) or real(**kw)
    )
    assert "Search for WORDS" in _run(monkeypatch, capsys, "query", "--help")
    assert read == []
    listed = _run(monkeypatch, capsys, "--help")
    assert len(read) == 1 and " tui " in listed and " pick " in listed
    assert "terminal UI" in _run(monkeypatch, capsys, "tui", "--help")
    assert len(read) == 1  # read once


def test_a_lexical_query_never_imports_numpy(fixture_data):
    """numpy's import (and its BLAS threads spinning up) was ~90 ms of a cold lexical
    `search query`, pulled in by a type the lexical path never uses."""
    code = (
        "import sys\n"
        "from search.cli import main\n"
        "try:\n"
        "    sys.argv[0] = 'search'\n"
        "    main()\n"
        "except SystemExit as done:\n"
        "    assert done.code in (0, None), done.code\n"
        "print('numpy' in sys.modules, file=sys.stderr)\n"
    )
    argv = [
        "--data-dir",
        str(fixture_data.root),
        "query",
        "--mode",
        "lexical",
        "--no-server",
        "梯度",
    ]
    done = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip(), "the query found nothing: the check below would prove little"
    assert done.stderr.strip().splitlines()[-1] == "False"
