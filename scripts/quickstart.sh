#!/usr/bin/env bash
# One command from a fresh clone: install, get the embedding model, index the posts, search.
#   bash scripts/quickstart.sh [SOURCE ...]
# SOURCE defaults to ../shared/corpus/kexue-posts.jsonl; it may be any JSON Lines file,
# folder of markdown/HTML posts, or https://kexue.fm/ (a polite crawl).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ "$#" -eq 0 ]; then
  set -- ../shared/corpus/kexue-posts.jsonl
fi
.venv/bin/search model install
.venv/bin/search index "$@"
.venv/bin/search stats
.venv/bin/search query "RoPE 长度外推" --limit 5
