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
