#!/usr/bin/env bash
# Drive the real TUI inside tmux, as a user would: type a Chinese query, read a post, come back,
# quit (q, and ctrl+q from the query box); start again and find the query in the history; then
# pick mode in a pipeline (`pick 扩散 | cat > out.txt`), where the UI must draw on the terminal and
# only the chosen URL (or id) may reach the pipe. Checks what a terminal actually shows
# (capture-pane), including that wide characters keep the results | preview divider in one
# column. Exit status 0 = pass; skips without tmux.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v tmux >/dev/null 2>&1; then
  echo "tui_tmux: SKIPPED: tmux is not installed (apt-get install -y tmux)"
  exit 0
fi

export LANG=C.UTF-8 LC_ALL=C.UTF-8
PY=.venv/bin/python
SEARCH=.venv/bin/search
NAME=tui_tmux
# shellcheck source=tests/tmux_lib.sh
source tests/tmux_lib.sh

"$SEARCH" --quiet --data-dir "$work/data" index --no-vectors tests/fixtures/posts.jsonl

if "$SEARCH" tui --help >/dev/null 2>&1; then
  cmd="$SEARCH --data-dir '$work/data' tui"
else
  cmd="$PY -m tui --data-dir '$work/data'"
fi

# start COMMAND: run COMMAND (bash) in a fresh 100x30 terminal; "EXITED <status>" shows after it.
runs=0
start() {
  local old=$session
  runs=$((runs + 1))
  session="kexue-tui-$$-$runs"
  printf '%s\n' "export TERM=xterm-256color COLORTERM=truecolor KEXUE_SEARCH_STATE='$KEXUE_SEARCH_STATE'" \
    "$1" 'echo "EXITED ${PIPESTATUS[0]}"' 'sleep 60' >"$work/run-$runs.sh"
  tmx new-session -d -s "$session" -x 100 -y 30 "bash $work/run-$runs.sh"
  # The previous terminal goes once the new one is up (an empty server would exit meanwhile).
  [ "$runs" -gt 1 ] && tmx kill-session -t "$old" >/dev/null 2>&1 || true
}

started=$(date +%s.%N)
start "$cmd"

wait_for "Search 18 posts" 20
ready=$(date +%s.%N)
echo "tui_tmux: usable after $("$PY" -c "print(f'{$ready - $started:.2f}')")s"

# A Chinese query, typed key by key.
tmx send-keys -t "$session" -l "扩散"
wait_for "2 results"
wait_for "从去噪角度理解扩散模型DDPM"
wait_for "条件扩散：用类别标签控制生成"

# Wide characters must not push the divider between results and preview out of its column.
screen | "$PY" -c '
import sys
from rich.cells import cell_len
rows = [line for line in sys.stdin if "▏" in line and "palette" not in line]  # not the footer
cols = {cell_len(line[: line.index("▏")]) for line in rows}
if len(cols) != 1:
    sys.exit(f"divider in columns {sorted(cols)}")
' || fail "results and preview are misaligned"

# Into the results (the footer then lists the browsing keys), open the first post full screen,
# then back.
tmx send-keys -t "$session" Enter
wait_for "r Related"
tmx send-keys -t "$session" Enter
wait_for "esc Back"
wait_for "https://kexue.fm/archives/1006"
tmx send-keys -t "$session" Escape
wait_gone "esc Back"
wait_for "2 results"

# j moves to the second result; its post shows in the preview.
tmx send-keys -t "$session" j
wait_for "https://kexue.fm/archives/1005"

tmx send-keys -t "$session" q
wait_for "EXITED 0"

# Again: the query is in the history (↑), ctrl+q quits from the query box, where q is typed.
start "$cmd"
wait_for "Search 18 posts" 20
wait_for "^q Quit"
tmx send-keys -t "$session" Up
wait_for "2 results"
screen | grep -q "扩散" || fail "the last run's query is not in the history"
tmx send-keys -t "$session" -l "q"
wait_for "扩散q"  # typed, not quit
tmx send-keys -t "$session" C-q
wait_for "EXITED 0"

# Pick mode in a pipeline: the UI on the terminal, only the URL in the pipe.
pick="$PY -m tui pick --data-dir '$work/data'"
out="$work/out.txt"
start "$pick 扩散 | cat > '$out'"
wait_for "2 results" 20
wait_for "条件扩散：用类别标签控制生成"
tmx send-keys -t "$session" Enter
wait_for "EXITED 0"
[ "$(cat "$out")" = "https://kexue.fm/archives/1006" ] || fail "pick printed '$(cat "$out")'"
[ "$(wc -l <"$out")" = 1 ] || fail "pick printed more than one line"

# The second result, by id, with stderr (where Textual draws) sent away too: /dev/tty it is.
start "$pick 扩散 --id 2>/dev/null | cat > '$out'"
wait_for "2 results" 20
tmx send-keys -t "$session" Down
wait_for "r Related"  # in the results
tmx send-keys -t "$session" j
wait_for "https://kexue.fm/archives/1005"
tmx send-keys -t "$session" Enter
wait_for "EXITED 0"
[ "$(cat "$out")" = "1005" ] || fail "pick --id printed '$(cat "$out")'"

# esc gives up: nothing printed, status 1.
start "$pick 扩散 | cat > '$out'"
wait_for "2 results" 20
tmx send-keys -t "$session" Escape
wait_for "EXITED 1"
[ ! -s "$out" ] || fail "pick printed '$(cat "$out")' after esc"
echo "tui_tmux: passed"
