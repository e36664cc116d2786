#!/usr/bin/env bash
# Set up and run the whole test suite: lint, unit and integration tests, the TUI in tmux.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
.venv/bin/ruff check .
.venv/bin/python -m pytest -q "$@"
if [ -f tests/tui_tmux.sh ]; then
  bash tests/tui_tmux.sh
fi
if [ -f tests/tui_tmux_graph.sh ]; then
  bash tests/tui_tmux_graph.sh
fi
