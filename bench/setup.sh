#!/usr/bin/env bash
# Install what the benchmark needs on a fresh Debian/Ubuntu machine:
#   wrk (the load generator), the project in .venv with its bench extra (the gateway,
#   the floor's and the mock's uvloop/httptools, matplotlib for the charts), the LiteLLM
#   proxy in its own venv (never a dependency of the project), Portkey's gateway from npm
#   in bench/.portkey (needs Node 20 and npm), and py-spy for bench/profile.py.
# Usage: bash bench/setup.sh            (LITELLM_SPEC='litellm[proxy]==1.106.2' to pin)
set -euo pipefail
cd "$(dirname "$0")/.."

PORTKEY_VERSION=1.15.2
# Portkey's own lockfile builds it with @hono/node-server 1.13.5, but its package asks for
# ^1.3.3, which npm resolves to the newest 1.x; from 1.14.2 on, every streamed request is
# answered with a 500 ("TypeError: immutable": Portkey appends headers to a Response whose
# headers the server adapter has frozen). An npm override holds it at the lockfile's.
HONO_NODE_SERVER_VERSION=1.13.5

if ! command -v wrk >/dev/null; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq wrk
fi
command -v taskset >/dev/null || { echo "taskset (util-linux) is required" >&2; exit 1; }

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[dev,bench]'
elif ! .venv/bin/python -c 'import matplotlib' 2>/dev/null; then
  .venv/bin/pip install -q -e '.[dev,bench]'   # a .venv made before the bench extra
fi

if [ ! -x bench/.venv-litellm/bin/litellm ]; then
  python3 -m venv bench/.venv-litellm
  bench/.venv-litellm/bin/pip install -q --upgrade pip
  bench/.venv-litellm/bin/pip install -q "${LITELLM_SPEC:-litellm[proxy]}"
fi

portkey=bench/.portkey/node_modules/@portkey-ai/gateway
hono_node_server=bench/.portkey/node_modules/@hono/node-server
version_of() { node -p "require('./$1/package.json').version" 2>/dev/null; }
portkey_installed() {
  [ -f "$portkey/build/start-server.js" ] &&
    [ "$(version_of "$portkey")" = "$PORTKEY_VERSION" ] &&
    [ "$(version_of "$hono_node_server")" = "$HONO_NODE_SERVER_VERSION" ]
}
if ! portkey_installed; then
  if command -v npm >/dev/null; then
    mkdir -p bench/.portkey
    # npm reads the override from the prefix's package.json; written afresh every install.
    printf '{"private": true, "overrides": {"@hono/node-server": "%s"}}\n' \
      "$HONO_NODE_SERVER_VERSION" > bench/.portkey/package.json
    npm install --prefix bench/.portkey --save-exact --no-audit --no-fund --loglevel=error \
      "@portkey-ai/gateway@$PORTKEY_VERSION"
  else
    echo "npm not found: Portkey is not installed (leave portkey out of run.py --targets)" >&2
  fi
fi

if [ ! -x bench/.venv-tools/bin/py-spy ]; then
  python3 -m venv bench/.venv-tools
  bench/.venv-tools/bin/pip install -q py-spy
fi

echo "wrk:     $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2)"
echo "litellm: $(bench/.venv-litellm/bin/python -c 'import importlib.metadata as m; print(m.version("litellm"))')"
echo "py-spy:  $(bench/.venv-tools/bin/py-spy --version)"
if portkey_installed; then
  echo "portkey: $PORTKEY_VERSION on node $(node --version)" \
    "(@hono/node-server $(version_of "$hono_node_server"))"
fi
echo "cores:   $(nproc) ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))"
