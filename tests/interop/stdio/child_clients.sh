#!/usr/bin/env bash
# `mcpwire call --stdio` against the SDKs' own stdio servers, run as its children: the
# TypeScript SDK 1.32 (`McpServer` + `StdioServerTransport`, session era), the TypeScript SDK
# 2.4 (`serveStdio`, both eras) and the Python SDK 2.3 (`MCPServer.run("stdio")`, both eras).
# In each era a server speaks: `--list` names `echo`, `echo` answers its message, `progress`
# reports progress on stderr and answers; and once the command has returned, no process of
# the server is left. Then the same of mcpwire's own `serve --stdio`, in each era.
#
# Usage: child_clients.sh MCPWIRE NODE PYTHON   (as tests/interop/run has them: $server_bin,
#        $node, $python; node_modules must resolve from tests/interop/, as run links it)
# Prints `ok - ...` / `not ok - ...` lines, then `stdio children: P passed, F failed`; exits 1
# if any failed.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
mcpwire=$1 node=$2 python=$3
passed=0 failed=0

check() { # label command...
  local label=$1
  shift
  if "$@"; then
    echo "ok - $label"
    passed=$((passed + 1))
  else
    echo "not ok - $label"
    failed=$((failed + 1))
    return 1
  fi
}

# Whether no process runs the script $1 any more (the client reaps its child before it
# returns; a grandchild would be found here too).
gone() {
  local i
  for i in $(seq 50); do
    pgrep -f -- "$1" > /dev/null || return 0
    sleep 0.1
  done
  echo "  left running: $(pgrep -af -- "$1")"
  return 1
}

listed() { grep -q '"echo"' <<< "$1"; }

children() { # label script eras runner...
  local label=$1 script=$2 eras=$3
  shift 3
  local command="$* $here/$script" era out err
  for era in $eras; do
    out=$("$mcpwire" call --stdio "$command" --list --era "$era" --timeout 30 2>&1)
    check "$label --era $era --list" listed "$out" || echo "  $out" | head -5
    out=$("$mcpwire" call --stdio "$command" echo "{\"message\":\"stdio-$era\"}" --era "$era" --timeout 30 2>&1)
    check "$label --era $era echo" grep -q "stdio-$era" <<< "$out" || echo "  $out" | head -5
    err=$("$mcpwire" call --stdio "$command" progress --era "$era" --timeout 30 2>&1 > /dev/null)
    check "$label --era $era progress" grep -q '^progress: .*"progress":2' <<< "$err" || echo "  $err" | head -5
    check "$label --era $era: nothing left running" gone "$here/$script"
  done
}

children "TypeScript SDK 1.32 stdio server" child_ts_server.mjs "sessions auto" "$node"
children "TypeScript SDK 2.4 serveStdio" child_ts2_server.mjs "sessions modern auto" "$node"
children "Python SDK 2.3 stdio server" child_python_server.py "sessions modern auto" "$python"

# mcpwire's own `serve --stdio` (its fixtures: `echo` takes `text`, progress comes from
# `test_tool_with_progress`); `--grace 9` only marks its processes for `gone`.
own="$mcpwire serve --stdio --grace 9"
for era in sessions modern auto; do
  out=$("$mcpwire" call --stdio "$own" --list --era "$era" --timeout 30 2>&1)
  check "mcpwire serve --stdio --era $era --list" listed "$out" || echo "  $out" | head -5
  out=$("$mcpwire" call --stdio "$own" echo "{\"text\":\"stdio-$era\"}" --era "$era" --timeout 30 2>&1)
  check "mcpwire serve --stdio --era $era echo" grep -q "stdio-$era" <<< "$out" || echo "  $out" | head -5
  err=$("$mcpwire" call --stdio "$own" test_tool_with_progress --era "$era" --timeout 30 2>&1 > /dev/null)
  check "mcpwire serve --stdio --era $era progress" grep -q '^progress: .*"progress":100' <<< "$err" || echo "  $err" | head -5
  check "mcpwire serve --stdio --era $era: nothing left running" gone "serve --stdio --grace 9"
done

echo "stdio children: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
