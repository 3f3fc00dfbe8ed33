#!/usr/bin/env bash
# Create .venv and install the project with its pinned dependencies (idempotent).
# torch goes first, pinned to the CPU build, so nothing later pulls CUDA packages.
# The tests also need Debian's chromium (browser tests), redis-server (shared session store)
# and CJK fonts (printable checklist): installed here when missing and apt-get is usable.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
[ -d /usr/share/fonts/opentype/noto ] || need+=(fonts-noto-cjk)
if [ ${#need[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "installing system packages: ${need[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "warning: please install ${need[*]} (apt-get install ${need[*]}); browser and Redis tests need them" >&2
  fi
fi

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
