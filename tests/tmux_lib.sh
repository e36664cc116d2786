# Shared by the tmux checks (tests/tui_tmux*.sh): a private tmux server in a temporary folder,
# the screen as text, and waiting for text to show or go. Source it after setting NAME.
work=$(mktemp -d)
export KEXUE_SEARCH_STATE="$work/state"  # the query history: not the user's
session="kexue-$NAME-$$"
socket="$work/tmux.sock"
tmx() { tmux -u -S "$socket" -f /dev/null "$@"; }
cleanup() {
  tmx kill-server >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

screen() { tmx capture-pane -p -t "$session"; }

fail() {
  echo "$NAME: FAILED: $1"
  echo "----- screen -----"
  screen || true
  echo "------------------"
  exit 1
}

# until_screen shows|hides TEXT [SECONDS]: poll the screen until TEXT appears or disappears.
until_screen() {
  local want=$1 text=$2 limit=${3:-15} start=$SECONDS
  while true; do
    if screen | grep -qF -- "$text"; then [ "$want" = shows ] && return; else [ "$want" = hides ] && return; fi
    if ((SECONDS - start >= limit)); then
      fail "waited ${limit}s for the screen to ${want%s} \"$text\""
    fi
    sleep 0.1
  done
}
wait_for() { until_screen shows "$@"; }
wait_gone() { until_screen hides "$@"; }
