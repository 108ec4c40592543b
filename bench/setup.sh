#!/usr/bin/env bash
# Install what the benchmark needs on a fresh Debian/Ubuntu machine:
#   wrk (the load generator), the project in .venv (the gateway and the mock's
#   uvloop/httptools), the LiteLLM proxy in its own venv (never a dependency of
#   the project), and py-spy for bench/profile.py.
# Usage: bash bench/setup.sh            (LITELLM_SPEC='litellm[proxy]==1.106.2' to pin)
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq wrk
fi
command -v taskset >/dev/null || { echo "taskset (util-linux) is required" >&2; exit 1; }

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[dev]'
fi

if [ ! -x bench/.venv-litellm/bin/litellm ]; then
  python3 -m venv bench/.venv-litellm
  bench/.venv-litellm/bin/pip install -q --upgrade pip
  bench/.venv-litellm/bin/pip install -q "${LITELLM_SPEC:-litellm[proxy]}"
fi

if [ ! -x bench/.venv-tools/bin/py-spy ]; then
  python3 -m venv bench/.venv-tools
  bench/.venv-tools/bin/pip install -q py-spy
fi

echo "wrk:     $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2)"
echo "litellm: $(bench/.venv-litellm/bin/python -c 'import importlib.metadata as m; print(m.version("litellm"))')"
echo "py-spy:  $(bench/.venv-tools/bin/py-spy --version)"
echo "cores:   $(nproc) ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))"
