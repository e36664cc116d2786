#!/usr/bin/env bash
# Create .venv and install kexue-search: what running it needs, or with `dev` its test tools
# too. Idempotent; offline-safe (torch is pinned to the CPU wheel in pyproject.toml).
#   bash scripts/setup.sh        # to run it (scripts/quickstart.sh)
#   bash scripts/setup.sh dev    # to test it (scripts/test.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
if [ "${1:-}" = dev ]; then
  .venv/bin/python -m pip install --quiet -e '.[dev]'
else
  .venv/bin/python -m pip install --quiet -e .
fi
# The page's assets from the npm registry (package.json, pinned by package-lock.json): KaTeX, the
# reader's TeX engine, and Swagger UI for /docs offline. Without npm the reader falls back to
# latex2mathml and /docs to its CDN page. --ignore-scripts: swagger-ui-dist's only install
# script is a telemetry ping.
if command -v npm >/dev/null 2>&1; then
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null
else
  echo "npm not found: the reader renders math with latex2mathml (install nodejs and npm)" >&2
fi
