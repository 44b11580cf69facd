#!/usr/bin/env bash
# Real hosts launch a stdio MCP server, each in its own way, and must leave no process behind:
#
#   - the TypeScript SDK 1.32 StdioClientTransport and Client (session era);
#   - the TypeScript SDK 2.4 StdioClientTransport and Client pinned to 2026-07-28 (a throwaway
#     sibling process for its server/discover probe, then the server it keeps);
#   - the Python SDK 2.3 Client with StdioServerParameters, mode="legacy", "2026-07-28" and "auto";
#   - the MCP Inspector 2.x CLI: tools/list and tools/call from a command line (session era) and
#     from a --config file whose server says "protocolEra": "modern".
#
# Each lists the tools, calls echo and test_tool_with_progress (a progress notification must
# arrive) and closes; every server it launched carries MCPWIRE_STDIO_CHILD=<marker> in its
# environment, and afterwards no process may carry it (found from /proc). Each host has its own
# deadline, and a wall-clock cap here on top.
#
# Sourced by tests/interop/run, which defines `script` and sets $node and $python: call
#   stdio_hosts COMMAND [ARGS...]          (there: "$server_bin" serve --stdio)
# or run on its own, installing the pinned Node and Python clients first (tests/interop/install.sh):
#   tests/interop/stdio/run_hosts.sh COMMAND [ARGS...]

stdio_hosts_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

stdio_hosts() { # command args...
  local marker="mcpwire-stdio-$$-$RANDOM"
  local cap=(timeout -k 5 300)
  local mode
  script "stdio host: TypeScript SDK 1.32 StdioClientTransport" \
    env MCPWIRE_STDIO_MARKER="$marker-ts1" "${cap[@]}" "$node" "$stdio_hosts_dir/hosts_ts_sdk1.mjs" "$@"
  script "stdio host: TypeScript SDK 2.4 stdio, pinned to 2026-07-28" \
    env MCPWIRE_STDIO_MARKER="$marker-ts2" "${cap[@]}" "$node" "$stdio_hosts_dir/hosts_ts_sdk2.mjs" "$@"
  for mode in legacy 2026-07-28 auto; do
    script "stdio host: Python SDK 2.3 Client, mode=\"$mode\"" \
      env MCPWIRE_STDIO_MARKER="$marker-py-$mode" "${cap[@]}" "$python" "$stdio_hosts_dir/hosts_python.py" "$mode" "$@"
  done
  script "stdio host: MCP Inspector CLI (session era and 2026-07-28)" \
    env MCPWIRE_STDIO_MARKER="$marker-inspector" "${cap[@]}" "$node" "$stdio_hosts_dir/hosts_inspector.mjs" "$@"
}

# Run on its own: the installs, a summary, and the exit status.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  if [ $# -lt 1 ]; then
    echo "usage: $0 COMMAND [ARGS...]   e.g. target/debug/mcpwire serve --stdio" >&2
    exit 2
  fi
  # shellcheck source=../install.sh
  source "$stdio_hosts_dir/../install.sh"
  ln -sfn "$peers_cache/node_modules" "$stdio_hosts_dir/../node_modules"
  log=$(mktemp)
  trap 'rm -f "$log"' EXIT
  total_passed=0
  total_failed=0
  summary=()
  script() { # label command...
    local label=$1 status=0 passed failed
    shift
    echo
    echo "==> $label"
    "$@" > "$log" 2>&1 || status=$?
    cat "$log"
    read -r passed failed < <(awk '/: [0-9]+ passed, [0-9]+ failed$/ { print $(NF-3), $(NF-1) }' "$log" | tail -n 1)
    if [ "$status" -ne 0 ] && [ "${failed:-0}" -eq 0 ]; then failed=1; fi
    total_passed=$((total_passed + ${passed:-0}))
    total_failed=$((total_failed + ${failed:-1}))
    summary+=("$(printf '%-74s %4d passed, %d failed' "$label" "${passed:-0}" "${failed:-1}")")
  }
  stdio_hosts "$@"
  echo
  echo "==> stdio hosts summary"
  printf '%s\n' "${summary[@]}"
  echo "stdio hosts: ${total_passed} passed, ${total_failed} failed"
  [ "$total_failed" -eq 0 ]
fi
