#!/usr/bin/env bash
# The reader's links and series keys in the real TUI inside tmux, as a user would press them, on
# the graph fixture (tests/graph_fixture.py): read a post of a series, `]` to the next part,
# `l` for what it cites (the citing sentences), esc back to that part, esc back to the first.
# Exit status 0 = pass; skips without tmux.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v tmux >/dev/null 2>&1; then
  echo "tui_tmux_graph: SKIPPED: tmux is not installed (apt-get install -y tmux)"
  exit 0
fi

export LANG=C.UTF-8 LC_ALL=C.UTF-8
PY=.venv/bin/python
NAME=tui_tmux_graph
# shellcheck source=tests/tmux_lib.sh
source tests/tmux_lib.sh

PYTHONPATH=. "$PY" -c "
import sys
import index
from index.paths import DataDir
from tests.graph_fixture import graph_posts
index.update(DataDir.resolve(sys.argv[1]), graph_posts(), vectors=False)
" "$work/data"

printf '%s\n' "export TERM=xterm-256color COLORTERM=truecolor KEXUE_SEARCH_STATE='$KEXUE_SEARCH_STATE'" \
  "$PY -m tui --data-dir '$work/data'" 'echo "EXITED ${PIPESTATUS[0]}"' 'sleep 60' >"$work/run.sh"
tmx new-session -d -s "$session" -x 100 -y 30 "bash $work/run.sh"

wait_for "Search 12 posts" 20
tmx send-keys -t "$session" -l "正弦位置编码"
wait_for "位置编码之路：1、正弦位置编码"
tmx send-keys -t "$session" Enter
wait_for "r Related"
tmx send-keys -t "$session" Enter
wait_for "esc Back"
wait_for "https://kexue.fm/archives/2001"
wait_for "] Next part"
tmx send-keys -t "$session" "]"
wait_for "https://kexue.fm/archives/2002"
wait_for "[ Prev part"
tmx send-keys -t "$session" l
wait_for "cited by (1)"
wait_for "在《位置编码之路：1、正弦位置编码》中我们讨论了正弦编码。"
tmx send-keys -t "$session" Escape
wait_gone "cited by (1)"
wait_for "https://kexue.fm/archives/2002"
tmx send-keys -t "$session" Escape
wait_for "https://kexue.fm/archives/2001"
tmx send-keys -t "$session" q  # in the reader, q goes back (as in less)
wait_for "r Related"
tmx send-keys -t "$session" q
wait_for "EXITED 0"
echo "tui_tmux_graph: passed"
