#!/usr/bin/env bash
# Create .venv and install kexue-search with its test tools. Idempotent; offline-safe
# (torch is pinned to the CPU wheel in pyproject.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[dev]'
