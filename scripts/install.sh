#!/usr/bin/env bash
# Create .venv and install the project with its pinned dependencies (idempotent).
# torch goes first, pinned to the CPU build, so nothing later pulls CUDA packages.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
stamp=.venv/.installed
want=$(cat pyproject.toml scripts/install.sh | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q "torch==2.13.0"  # the CPU build on disk; never the CUDA one
.venv/bin/python -m pip install -q -e ".[test]"
echo "$want" > "$stamp"
